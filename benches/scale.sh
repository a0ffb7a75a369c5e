#!/usr/bin/env bash
# Scale benchmark: touchpoint's CSV import against sqlite3's own, and with --pass
# the first pass, its peak RSS, the database per vehicle and the daily pass,
# on SQLite or (DATABASE_URL) PostgreSQL.
#
#   benches/scale.sh [--sqlite-only] [--keep] [--check] [--pass] [N]
#
# 1. generates N customers and N vehicles (default 1,000,000 each) with
#    benches/gen_data.py into a temporary directory;
# 2. baseline: times `sqlite3`'s own `.import --csv --skip 1` of
#    customers.csv and vehicles.csv into a fresh database whose tables match
#    the files (one sqlite3 run, both files);
# 3. touchpoint: `touchpoint init DIR`, then times
#    `touchpoint --config DIR/touchpoint.toml import customers FILE` and
#    `... import vehicles FILE`;
# 4. prints both times and their ratio (goal: touchpoint <= 3x sqlite3);
# 5. with --pass: times the first planning and dispatch pass over the base
#    (`touchpoint dispatch`, sending to the outbox folder), its peak RSS
#    (GNU time), and the database's size per vehicle after it; then the
#    daily pass after an import of visits today for one vehicle in 30.
#
# Options:
#   --sqlite-only  steps 1 and 2 only (no touchpoint binary needed)
#   --keep         keep the temporary directory and print its path
#   --check        exit 3 when the ratio misses the goal
#   --pass         also the first pass, its peak RSS and the size per vehicle
#
# Environment:
#   TOUCHPOINT_BIN  the binary [default: $CARGO_TARGET_DIR/release/touchpoint,
#                   else target/release/touchpoint]; build it first with
#                   `cargo build --release`
#   SQLITE3         the sqlite3 shell [default: /usr/bin/sqlite3, else PATH]
#   PYTHON          [default: python3]
#   TMPDIR          where the temporary directory goes (needs ~1 GB for 1M)
#   DATABASE_URL    a fresh, empty PostgreSQL database to measure instead of
#                   SQLite (e.g. `createdb touchpoint_scale` and
#                   postgres://postgres@127.0.0.1/touchpoint_scale); the size
#                   per vehicle is then pg_database_size's growth, and the
#                   peak RSS is touchpoint's alone
set -euo pipefail

GOAL_RATIO=3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

sqlite_only=0 keep=0 check=0 pass=0 n=1000000
for arg in "$@"; do
    case "$arg" in
        --sqlite-only) sqlite_only=1 ;;
        --keep) keep=1 ;;
        --check) check=1 ;;
        --pass) pass=1 ;;
        -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *[!0-9_]* | '') echo "scale.sh: unknown argument '$arg' (see --help)" >&2; exit 64 ;;
        *) n=${arg//_/} ;;
    esac
done

die() { echo "scale.sh: $*" >&2; exit 1; }
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

python=${PYTHON:-python3}
sqlite=${SQLITE3:-/usr/bin/sqlite3}
[[ -x $sqlite ]] || sqlite=$(command -v sqlite3) || die "sqlite3 not found (set SQLITE3)"
bin=${TOUCHPOINT_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/touchpoint}

# The touchpoint part needs `init` and `import` (docs/commands.md). Check before
# spending a minute on generating data.
if ((!sqlite_only)); then
    [[ -x $bin ]] || die "no touchpoint binary at $bin: build it with 'cargo build --release' (or set TOUCHPOINT_BIN), or run with --sqlite-only"
    help=$("$bin" --help 2>&1 || true)
    for cmd in init import; do
        grep -Eq "^[[:space:]]+$cmd([[:space:]]|$)" <<<"$help" ||
            die "$bin has no '$cmd' command (its --help does not list it): build a touchpoint that implements 'init' and 'import' (docs/commands.md), or run with --sqlite-only"
    done
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/touchpoint-scale.XXXXXX")
if ((keep)); then
    echo "keeping $work"
else
    trap 'rm -rf "$work"' EXIT
fi
data=$work/data

echo "== generating $n customers and $n vehicles"
t0=$(now)
"$python" "$here/gen_data.py" --customers "$n" --vehicles "$n" --visits 0 --out "$data"
t1=$(now)
echo "generated in $(elapsed "$t0" "$t1") s: $(du -sh "$data" | cut -f1)"

# ---------------------------------------------------------------------------
# Baseline: sqlite3's own CSV import into tables that match the files.
echo "== sqlite3 .import (baseline)"
cat >"$work/baseline.sql" <<SQL
CREATE TABLE customers (
    customer_id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    timezone TEXT NOT NULL,
    birthday TEXT,
    consent_email_marketing TEXT NOT NULL,
    consent_sms_marketing TEXT NOT NULL,
    locale TEXT
);
CREATE TABLE vehicles (
    vin TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (customer_id),
    make TEXT,
    model TEXT,
    model_year INTEGER,
    purchase_date TEXT NOT NULL,
    purchase_odometer_km INTEGER NOT NULL,
    avg_monthly_km REAL
);
.import --csv --skip 1 $data/customers.csv customers
.import --csv --skip 1 $data/vehicles.csv vehicles
SQL
t0=$(now)
"$sqlite" -bail "$work/baseline.db" <"$work/baseline.sql"
t1=$(now)
sqlite_secs=$(elapsed "$t0" "$t1")
rows=$("$sqlite" "$work/baseline.db" "SELECT (SELECT count(*) FROM customers) || ' customers, ' || (SELECT count(*) FROM vehicles) || ' vehicles'")
echo "sqlite3: $sqlite_secs s ($rows)"
[[ $rows == "$n customers, $n vehicles" ]] || die "sqlite3 imported $rows, expected $n of each"

if ((sqlite_only)); then
    echo "sqlite3 import of $n customers + $n vehicles: $sqlite_secs s"
    exit 0
fi

# ---------------------------------------------------------------------------
# touchpoint: init a fresh instance, then import customers and vehicles.
echo "== touchpoint import"
tp=$work/touchpoint
"$bin" init "$tp" >/dev/null || die "'$bin init $tp' failed"
config=$tp/touchpoint.toml
[[ -f $config ]] || die "'touchpoint init $tp' wrote no $config"
tpcfg=(--config "$config")
pg=${DATABASE_URL:-}
if [[ -n $pg ]]; then
    tpcfg+=(--set "database.url=\"$pg\"")
    "$bin" "${tpcfg[@]}" migrate >/dev/null || die "'touchpoint migrate' on $pg failed"
    [[ $(psql "$pg" -Atc "SELECT count(*) FROM customers") == 0 ]] ||
        die "$pg is not empty: give a fresh database (createdb)"
    pg_empty=$(psql "$pg" -Atc "SELECT pg_database_size(current_database())")
    echo "touchpoint measured on PostgreSQL ($pg)"
fi

run_import() { # kind -> seconds on stdout
    local kind=$1 t0 t1
    t0=$(now)
    if ! "$bin" "${tpcfg[@]}" import "$kind" "$data/$kind.csv" >"$work/import-$kind.log" 2>&1; then
        echo "scale.sh: 'touchpoint import $kind' failed; last lines of its output:" >&2
        tail -n 20 "$work/import-$kind.log" >&2
        exit 1
    fi
    t1=$(now)
    elapsed "$t0" "$t1"
}
customers_secs=$(run_import customers)
echo "touchpoint import customers: $customers_secs s"
vehicles_secs=$(run_import vehicles)
echo "touchpoint import vehicles:  $vehicles_secs s"
tp_secs=$(awk -v a="$customers_secs" -v b="$vehicles_secs" 'BEGIN { printf "%.2f", a + b }')

# A sanity check where the schema uses the obvious table names.
db=$tp/touchpoint.db
if [[ -n $pg ]]; then
    counts=$(psql "$pg" -Atc "SELECT (SELECT count(*) FROM customers) || ' ' || (SELECT count(*) FROM vehicles)")
    [[ $counts == "$n $n" ]] || die "touchpoint's database holds $counts customers/vehicles, expected $n each"
    echo "touchpoint's database holds $n customers and $n vehicles"
elif [[ -f $db ]] && counts=$("$sqlite" "$db" "SELECT (SELECT count(*) FROM customers) || ' ' || (SELECT count(*) FROM vehicles)" 2>/dev/null); then
    [[ $counts == "$n $n" ]] || die "touchpoint's database holds $counts customers/vehicles, expected $n each"
    echo "touchpoint's database holds $n customers and $n vehicles"
else
    echo "(row counts not checked: no customers/vehicles tables in $db)"
fi

# ---------------------------------------------------------------------------
ratio=$(awk -v a="$tp_secs" -v b="$sqlite_secs" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
met=$(awk -v r="$ratio" -v g="$GOAL_RATIO" 'BEGIN { print (r <= g ? "met" : "MISSED") }')
echo
echo "import of $n customers + $n vehicles"
echo "  sqlite3 .import:    $sqlite_secs s"
echo "  touchpoint import:  $tp_secs s (customers $customers_secs s, vehicles $vehicles_secs s)"
echo "  ratio:              ${ratio}x (goal <= ${GOAL_RATIO}x: $met)"

# ---------------------------------------------------------------------------
# The first pass: every vehicle planned, what is due sent to the outbox.
if ((pass)); then
    echo
    echo "== touchpoint dispatch (the first pass)"
    measure=()
    [[ -x /usr/bin/time ]] && measure=(/usr/bin/time -f '%M' -o "$work/rss")
    t0=$(now)
    "${measure[@]}" "$bin" "${tpcfg[@]}" dispatch >"$work/pass.log" 2>&1 ||
        { tail -n 20 "$work/pass.log" >&2; die "the first pass failed"; }
    t1=$(now)
    head -n 2 "$work/pass.log"
    if [[ -n $pg ]]; then
        bytes=$(( $(psql "$pg" -Atc "SELECT pg_database_size(current_database())") - pg_empty ))
    else
        bytes=$(du -cb "$db"* | tail -n 1 | cut -f1)
    fi
    echo "first pass over $n vehicles: $(elapsed "$t0" "$t1") s (goal: $(awk -v n="$n" 'BEGIN { printf "%.1f", n * 60 / 1e6 }') s at this size, 60 s a million)"
    [[ -f $work/rss ]] && echo "peak RSS: $(($(cat "$work/rss") / 1024)) MiB (goal <= 500)"
    echo "database after it: $((bytes / 1024 / 1024)) MiB, $((bytes / n)) bytes per vehicle (goal <= 3072)"

    # The daily pass: a visit today for every 30th vehicle (the day's DMS
    # export), imported, then the pass that re-plans them.
    "$python" - "$data/vehicles.csv" "$work/visits-today.csv" <<'PY'
import csv, datetime, sys
today = datetime.date.today()
with open(sys.argv[1], encoding="utf-8-sig") as f, open(sys.argv[2], "w") as out:
    out.write("vin,date,odometer_km,kind\n")
    for i, row in enumerate(csv.DictReader(f)):
        if i % 30:
            continue
        bought = datetime.date.fromisoformat(row["purchase_date"])
        km = int(row["purchase_odometer_km"] or 0) + max(1, (today - bought).days) * 40
        out.write(f"{row['vin']},{today.isoformat()},{km},service\n")
PY
    "$bin" "${tpcfg[@]}" import visits "$work/visits-today.csv" >"$work/import-visits.log" 2>&1 ||
        { tail -n 20 "$work/import-visits.log" >&2; die "importing the day's visits failed"; }
    t0=$(now)
    "$bin" "${tpcfg[@]}" dispatch >"$work/daily.log" 2>&1 ||
        { tail -n 20 "$work/daily.log" >&2; die "the daily pass failed"; }
    t1=$(now)
    head -n 1 "$work/daily.log"
    echo "daily pass, $((n / 30)) vehicles with a visit today: $(elapsed "$t0" "$t1") s (goal: $(awk -v n="$n" 'BEGIN { printf "%.1f", n * 30 / 1e6 }') s at this size, 30 s a million)"
fi
if ((check)) && [[ $met != met ]]; then
    exit 3
fi
