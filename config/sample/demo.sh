#!/usr/bin/env bash
# The main job on the embedded default: a fresh SQLite database and outbox
# folder under DIR (default ./demo), the sample data imported, one planning
# and dispatch pass, the queue and one vehicle's plan, then the daemon
# (`touchpoint run`, on 127.0.0.1:8080; Ctrl-C stops it). The desk's first
# administrator, admin@dealer.example, gets a password printed once.
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
if ! "$tp" "${cfg[@]}" user list | grep -q '^admin@dealer.example'; then
  password="$("$tp" "${cfg[@]}" user add admin@dealer.example --role admin </dev/null 2>/dev/null)"
  echo
  echo "the desk's administrator: admin@dealer.example, password $password (shown once)"
fi
echo
echo "the desk: http://127.0.0.1:8080/ (sign in as admin@dealer.example); the API: http://127.0.0.1:8080/api/v1/openapi.json"
echo "the daemon: http://127.0.0.1:8080/healthz, a pass every 5 minutes, messages in $dir/outbox; Ctrl-C stops it"
exec "$tp" "${cfg[@]}" run
