#!/usr/bin/env bash
# The main job on the embedded default: a fresh SQLite database and outbox
# folder under DIR (default ./demo), the sample data imported, one planning
# and dispatch pass, the queue and one vehicle's plan, then the daemon
# (`touchpoint run`, on 127.0.0.1:8080; Ctrl-C stops it).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="${1:-$root/demo}"
cd "$root"
cargo build --quiet
tp="${CARGO_TARGET_DIR:-$root/target}/debug/touchpoint"
[ -f "$dir/touchpoint.toml" ] || "$tp" init "$dir"
cfg=(--config "$dir/touchpoint.toml")
for kind in customers vehicles visits; do
  "$tp" "${cfg[@]}" import "$kind" "config/sample/$kind.csv"
done
"$tp" "${cfg[@]}" dispatch
"$tp" "${cfg[@]}" queue --days 30
vin="$(sed -n '2p' config/sample/vehicles.csv | cut -d, -f1)"
"$tp" "${cfg[@]}" next-service "$vin"
"$tp" "${cfg[@]}" plan "$vin"
echo
echo "the daemon: http://127.0.0.1:8080/healthz, a pass every 5 minutes, messages in $dir/outbox; Ctrl-C stops it"
exec "$tp" "${cfg[@]}" run
