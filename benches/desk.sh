#!/usr/bin/env bash
# The desk's speed at a dealer's scale: N customers and N vehicles (default
# 100,000), imported and planned by a first pass, then the release daemon
# under 20 concurrent clients (wrk, 2 threads, 15 s each) on:
#
#   /healthz                       the baseline: the server's floor
#   GET /api/v1/queue?days=7       the API's queue (goal: p95 <= 100 ms)
#   GET /queue?days=7              the Queue page, signed in (goal: p95 <= 100 ms)
#   GET /api/v1/customers?q=…      customer search by name, VIN start and
#                                  phone digits (goal: p95 <= 50 ms)
#   GET /api/v1/overview           the Overview's figures (16 weeks of
#                                  messages and touchpoints, no goal set)
#   GET /today                     the morning's call list, signed in
#
#   cargo build --release && bash benches/desk.sh [N]
#
# KEEP=DIR keeps the generated base in DIR (made when missing, reused when
# there: the import and first pass are skipped, the latencies measured again).
# DATABASE_URL=postgres://USER@HOST/DB runs it on that PostgreSQL database,
# which must be empty at first (createdb touchpoint_bench).
#
# Prints p50/p95/p99 and requests per second of each, and each p95 as a
# multiple of the baseline's. Needs wrk (Debian: apt-get install wrk),
# python3 and curl.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-100000}"
bin="${TOUCHPOINT_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/touchpoint}"
port="${PORT:-18090}"
dir="${KEEP:-$(mktemp -d)}"
mkdir -p "$dir"
cleanup() { [[ -n "${pid:-}" ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; [[ -n "${KEEP:-}" ]] || rm -rf "$dir"; }
trap cleanup EXIT
cd "$root"
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 2; }

cfg=(--config "$dir/site/touchpoint.toml" --set "http.listen=127.0.0.1:$port")
# DATABASE_URL=postgres://… measures on that (empty) PostgreSQL database instead.
[[ -n "${DATABASE_URL:-}" ]] && cfg+=(--set "database.url=$DATABASE_URL")
if [[ ! -f "$dir/token" ]]; then
  echo "== $n customers and vehicles"
  python3 benches/gen_data.py --customers "$n" --vehicles "$n" --out "$dir/data" --until "$(date -u +%F)"
  "$bin" init "$dir/site" >/dev/null
  "$bin" "${cfg[@]}" migrate >/dev/null
  for kind in customers vehicles; do
    "$bin" "${cfg[@]}" import "$kind" "$dir/data/$kind.csv" | tail -n 1
  done
  start=$(date +%s.%N)
  "$bin" "${cfg[@]}" dispatch >/dev/null
  echo "first pass: $(echo "$(date +%s.%N) - $start" | bc) s"
  printf '%s\n' 'a long enough password' | "$bin" "${cfg[@]}" user add bench@dealer.example --role advisor >/dev/null
  "$bin" "${cfg[@]}" token add bench --role viewer 2>/dev/null >"$dir/token"
fi
"$bin" "${cfg[@]}" migrate >/dev/null
token="$(cat "$dir/token")"
# PostgreSQL: the statistics and visibility autovacuum keeps (the test
# servers here run with it off), so the planner sees the base as it is.
if [[ -n "${DATABASE_URL:-}" ]] && command -v psql >/dev/null; then
  psql -q "$DATABASE_URL" -c 'VACUUM ANALYZE' >/dev/null
fi

TOUCHPOINT_LOG=warn "$bin" "${cfg[@]}" run 2>"$dir/daemon.log" &
pid=$!
for _ in $(seq 1 200); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

# Sign in as a browser does: the form's token, then the session cookie.
jar="$dir/cookies"
csrf="$(curl -fsS -c "$jar" "http://127.0.0.1:$port/signin" | grep -o 'name="csrf" value="[^"]*"' | head -n 1 | sed 's/.*value="//; s/"$//')"
curl -fsS -b "$jar" -c "$jar" -o /dev/null \
  --data-urlencode "email=bench@dealer.example" --data-urlencode "password=a long enough password" \
  --data-urlencode "csrf=$csrf" "http://127.0.0.1:$port/signin"
cookie="$(awk '$6 == "touchpoint_session" { print $6 "=" $7 }' "$jar")"

vin="$(sed -n '2p' "$dir/data/vehicles.csv" | cut -c1-9)"
digits="$(sed -n '5p' "$dir/data/customers.csv" | cut -d, -f4 | tr -dc '0-9' | tail -c 8)"
queue_items="$(curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/queue?days=7&limit=500" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')"
echo "queue, first page: $queue_items items"

cat > "$dir/report.lua" <<'LUA'
local auth = os.getenv("AUTH")
local cookie = os.getenv("COOKIE")
request = function()
  local headers = {}
  if auth ~= "" then headers["Authorization"] = auth end
  if cookie ~= "" then headers["Cookie"] = cookie end
  return wrk.format("GET", nil, headers)
end
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %.1f %.1f %.1f %.0f %d\n", latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, summary.requests / (summary.duration / 1e6), errors))
end
LUA

measure() { # NAME PATH AUTH COOKIE
  local out
  out="$(AUTH="$3" COOKIE="$4" wrk -t2 -c20 -d15s -s "$dir/report.lua" "http://127.0.0.1:$port$2" | grep '^RESULT')"
  read -r _ p50 p95 p99 rps errors <<<"$out"
  printf '%-34s p50 %7s ms  p95 %7s ms  p99 %7s ms  %6s req/s  %s errors\n' "$1" "$p50" "$p95" "$p99" "$rps" "$errors"
  eval "p95_$5=$p95"
}
echo
measure "/healthz (baseline)" "/healthz" "" "" base
measure "API queue, 7 days" "/api/v1/queue?days=7" "Bearer $token" "" queue
measure "Queue page, 7 days" "/queue?days=7" "" "$cookie" page
measure "search by name" "/api/v1/customers?q=Hartmann" "Bearer $token" "" name
measure "search by VIN start" "/api/v1/customers?q=$vin" "Bearer $token" "" vin
measure "search by phone digits" "/api/v1/customers?q=$digits" "Bearer $token" "" phone
measure "API overview" "/api/v1/overview" "Bearer $token" "" overview
measure "Today page (call list)" "/today" "" "$cookie" today
echo
for k in queue page name vin phone overview today; do
  v="p95_$k"
  printf '%-8s p95 %8s ms = %6.1fx the baseline\n' "$k" "${!v}" "$(echo "${!v} / $p95_base" | bc -l)"
done
