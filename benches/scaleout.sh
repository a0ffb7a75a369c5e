#!/usr/bin/env bash
# Scale-out benchmark: the dispatch rate of one `touchpoint run` against
# three on one PostgreSQL, in the same run, through an SMTP sink that takes
# 20 ms a message (so that the sink is not the limit), with the same
# [dispatch] concurrency per daemon. Goal: three daemons dispatch at least
# 2.5x the rate of one.
#
#   benches/scaleout.sh [OWNERS]      (default 3,000: one welcome email each)
#
# Each round: a fresh database (createdb), OWNERS owners whose cars were
# bought three days ago, the daemons started at once; the rate is the
# emails the sink accepted divided by the time from its first to its last.
#
# Environment: TOUCHPOINT_BIN (default target/release/touchpoint; build it
# with `cargo build --release`), PGURL (default postgres://postgres@127.0.0.1:5432),
# CONCURRENCY (default 4).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
n=${1:-3000}
bin=${TOUCHPOINT_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/touchpoint}
pg=${PGURL:-postgres://postgres@127.0.0.1:5432}
concurrency=${CONCURRENCY:-4}
[[ -x $bin ]] || { echo "no touchpoint binary at $bin: cargo build --release" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The SMTP sink: accepts every message 20 ms after its DATA, and writes the
# time of each acceptance to a file.
cat > "$work/sink.py" <<'PY'
import asyncio, sys, time
out = open(sys.argv[2], "a", buffering=1)
async def session(r, w):
    w.write(b"220 sink\r\n")
    while True:
        await w.drain()
        line = await r.readline()
        if not line:
            break
        cmd = line[:4].upper()
        if cmd == b"EHLO":
            w.write(b"250-sink\r\n250 8BITMIME\r\n")
        elif cmd == b"DATA":
            w.write(b"354 go on\r\n")
            await w.drain()
            while (await r.readline()) not in (b".\r\n", b""):
                pass
            await asyncio.sleep(0.02)
            out.write(f"{time.time()}\n")
            w.write(b"250 accepted\r\n")
        elif cmd == b"QUIT":
            w.write(b"221 bye\r\n")
            await w.drain()
            break
        else:
            w.write(b"250 ok\r\n")
    w.close()
async def main():
    server = await asyncio.start_server(session, "127.0.0.1", int(sys.argv[1]))
    async with server:
        await server.serve_forever()
asyncio.run(main())
PY

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

python3 - "$n" "$work" <<'PY'
import datetime, sys
n, work = int(sys.argv[1]), sys.argv[2]
bought = (datetime.date.today() - datetime.timedelta(days=3)).isoformat()
with open(f"{work}/customers.csv", "w") as c, open(f"{work}/vehicles.csv", "w") as v:
    c.write("customer_id,name,email,phone,timezone,birthday,consent_email_marketing,consent_sms_marketing,locale\n")
    v.write("vin,customer_id,make,model,model_year,purchase_date,purchase_odometer_km,avg_monthly_km\n")
    for i in range(n):
        c.write(f"C{i},Owner {i},owner{i}@example.com,,UTC,,true,false,en\n")
        v.write(f"WVWZZZ1JZXW{i:06d},C{i},Volkswagen,Golf,2026,{bought},0,\n")
PY

# One round with $1 daemons: prints the rate in emails per second.
round() {
    local daemons=$1 db="touchpoint_scaleout_$1"
    psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
    local site="$work/site$daemons" sport
    sport=$(free_port)
    : > "$work/accepted$daemons"
    # Started in the background with stdout elsewhere: the caller reads this
    # function's output through a pipe that must close when it returns.
    python3 "$work/sink.py" "$sport" "$work/accepted$daemons" >/dev/null &
    local sink=$!
    "$bin" init "$site" >/dev/null
    local cfg=(--config "$site/touchpoint.toml" --set "database.url=\"$pg/$db\""
        --set "email.smtp_url=\"smtp://127.0.0.1:$sport\"")
    "$bin" "${cfg[@]}" migrate >/dev/null
    "$bin" "${cfg[@]}" import customers "$work/customers.csv" >/dev/null
    "$bin" "${cfg[@]}" import vehicles "$work/vehicles.csv" >/dev/null
    local started=()
    for i in $(seq 1 "$daemons"); do
        TOUCHPOINT_LOG=warn "$bin" "${cfg[@]}" --set "http.listen=\"127.0.0.1:$(free_port)\"" \
            --set "dispatch.concurrency=$concurrency" --set 'daemon.dispatch_cron="*/2 * * * * *"' \
            run >/dev/null 2>>"$work/log$daemons" &
        started+=($!)
    done
    local deadline=$((SECONDS + 600))
    while (( $(wc -l < "$work/accepted$daemons") < n )); do
        (( SECONDS < deadline )) || {
            echo "round $daemons: only $(wc -l < "$work/accepted$daemons") of $n emails in 10 min" >&2
            kill "${started[@]}" "$sink"; exit 1; }
        sleep 0.5
    done
    kill "${started[@]}" "$sink"; wait "${started[@]}" "$sink" 2>/dev/null || true
    awk 'NR==1{first=$1} {last=$1; n++} END { printf "%.1f", n / (last - first) }' "$work/accepted$daemons"
}

one=$(round 1)
three=$(round 3)
ratio=$(awk -v a="$one" -v b="$three" 'BEGIN { printf "%.2f", b / a }')
echo "owners: $n, concurrency per daemon: $concurrency, sink: 20 ms a message"
echo "one daemon:    $one emails/s"
echo "three daemons: $three emails/s"
echo "ratio: ${ratio}x (goal >= 2.5x)"
