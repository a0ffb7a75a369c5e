#!/usr/bin/env bash
# Simulation benchmark: `touchpoint simulate` over three years for a
# generated base (several vehicles per person, mixed consents and time
# zones), then checks the lines: no key sent twice, no cap or quiet-hour
# violation, every vehicle reached by its service reminders.
#
#   benches/simulate.sh [VEHICLES]       (default 10,000; goals: 10,000 <= 10 s,
#                                         100,000 <= 90 s, RSS <= 1 GB)
#
# Environment: TOUCHPOINT_BIN (default: $CARGO_TARGET_DIR/release/touchpoint,
# else target/release/touchpoint; build it with `cargo build --release`).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
n=${1:-10000}
bin=${TOUCHPOINT_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/touchpoint}
[[ -x $bin ]] || { echo "no touchpoint binary at $bin: cargo build --release" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$here/gen_data.py" --customers $((n * 7 / 10)) --vehicles "$n" --visits "$((n * 2))" --out "$work/data" --until 2026-11-01 >/dev/null
"$bin" init "$work/site" >/dev/null
cfg=(--config "$work/site/touchpoint.toml")
for kind in customers vehicles visits; do
    "$bin" "${cfg[@]}" import "$kind" "$work/data/$kind.csv" >/dev/null
done
# Peak RSS through GNU time when it is installed (Debian's `time`).
measure=()
[[ -x /usr/bin/time ]] && measure=(/usr/bin/time -f '%M' -o "$work/rss")
start=$(date +%s.%N)
"${measure[@]}" "$bin" "${cfg[@]}" simulate --from 2026-11-23 --to 2029-11-23 --out "$work/lines.jsonl" > "$work/summary.txt"
end=$(date +%s.%N)
cat "$work/summary.txt" | head -4
goal=$(( n <= 10000 ? 10 : 90 ))
printf 'simulate 3 years x %d vehicles: %.1f s (goal <= %d s)\n' "$n" "$(echo "$end - $start" | bc)" "$goal"
[[ -f $work/rss ]] && printf 'peak RSS %d MiB (goal <= 1024)\n' "$(( $(cat "$work/rss") / 1024 ))"
python3 - "$work/lines.jsonl" "$work/data/customers.csv" <<'PY'
import csv, json, sys, collections, datetime as dt
from zoneinfo import ZoneInfo
zones = {r["customer_id"]: r["timezone"] for r in csv.DictReader(open(sys.argv[2], encoding="utf-8-sig"))}
sent, dup, msgs, calls, quiet = set(), 0, collections.defaultdict(list), collections.defaultdict(list), 0
reached = collections.defaultdict(set)
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["outcome"] != "sent":
        continue
    if e["key"] in sent:
        dup += 1
    sent.add(e["key"])
    if e["code"].startswith("service-"):
        reached[e["vin"]].add(e["code"])
    if (e["reason"] or "").startswith("sent together"):
        continue
    at = dt.datetime.fromisoformat(e["at"].replace("Z", "+00:00"))
    (calls if e["channel"] == "call" else msgs)[e["customer_id"]].append(at)
    if e["channel"] in ("sms", "call"):
        local = at.astimezone(ZoneInfo(zones[e["customer_id"]]))
        if not (9 <= local.hour < 20) or local.weekday() == 6:
            quiet += 1
def violations(per, limit, days):
    bad = 0
    for times in per.values():
        times.sort()
        for i, t in enumerate(times):
            if sum(1 for s in times[: i + 1] if s > t - dt.timedelta(days=days)) > limit:
                bad += 1
    return bad
cap = violations(msgs, 1, 7) + violations(msgs, 4, 30) + violations(calls, 1, 14)
print(f"sent keys {len(sent)}, duplicates {dup}, cap violations {cap}, quiet-hour violations {quiet}, "
      f"vehicles reached by service touchpoints {len(reached)}")
PY
