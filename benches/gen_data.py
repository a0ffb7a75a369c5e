#!/usr/bin/env python3
"""Deterministic generator of touchpoint import CSVs (docs/csv.md) for benchmarks.

    python3 benches/gen_data.py --customers N --vehicles M --visits K --out DIR

writes DIR/customers.csv, DIR/vehicles.csv and DIR/visits.csv. The same
arguments (and --seed) always give byte-identical files. Every row is valid:

- VINs are 17 characters from A-Z without I, O, Q and 0-9, unique;
- emails are plain ASCII addresses; phones are E.164 numbers that
  libphonenumber accepts (German mobiles +4915x/+4917x, US numbers with real
  area codes and exchanges 2xx-9xx); a customer has an email, a phone or
  both, never neither;
- time zones are IANA names; birthdays are real past dates (some empty);
- dates are ISO and none is after --until (default 2026-11-01); purchases
  fall in 2015..--until; visits fall after the purchase with distinct dates
  per vehicle and odometers that never go backwards;
- some customers own several vehicles (and so some own none).

Only the standard library is used; 1M rows take a few seconds.
"""

import argparse
import datetime as dt
import os
import random
import sys

VIN_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"  # no I, O, Q
assert len(VIN_ALPHABET) == 33
# World manufacturer identifiers of real makes, so VINs look plausible.
MAKES = [
    ("Volkswagen", "WVW", ["Golf", "Passat", "Tiguan", "Polo", "ID.4"]),
    ("BMW", "WBA", ["320d", "520d", "X3", "118i"]),
    ("Audi", "WAU", ["A3", "A4", "A6", "Q5"]),
    ("Mercedes-Benz", "WDD", ["A 180", "C 200", "E 220 d", "GLC 300"]),
    ("Ford", "WF0", ["Focus", "Fiesta", "Kuga"]),
    ("Opel", "W0L", ["Astra", "Corsa", "Insignia"]),
    ("Skoda", "TMB", ["Octavia", "Fabia", "Superb"]),
    ("Toyota", "JTD", ["Corolla", "Yaris", "RAV4"]),
    ("Tesla", "5YJ", ["Model 3", "Model Y"]),
]
FIRST = [
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannah",
    "Jonas", "Julia", "Lena", "Lukas", "Marie", "Max", "Mia", "Noah", "Paul",
    "Sophie", "Tim", "Zoe", "Jörg", "Jürgen", "Sören", "Amélie", "James",
    "Mary", "Robert", "Linda", "Michael", "Sarah", "José", "Chloé",
]
LAST = [
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner",
    "Becker", "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf",
    "Schröder", "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger",
    "Hartmann", "Lange", "Smith", "Johnson", "Williams", "Brown", "Jones",
    "Garcia", "Miller", "Davis", "O'Brien", "Nguyen",
]
ASCII = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "é": "e", "'": ""})
EMAIL_DOMAINS = ["example.com", "example.de", "mail.example.org", "example.net"]
# German mobile prefixes that take eight more digits (15[0-25-9], 17x).
DE_MOBILE = ["151", "152", "157", "159", "170", "171", "172", "173", "174", "175", "176", "177", "178", "179"]
# Real US area codes.
US_AREA = ["212", "415", "312", "617", "206", "303", "512", "646", "718", "213", "305", "404", "713", "602"]
# (twentieths, region, time zones, locale): 55% DE, 10% AT, 5% CH, 30% US.
REGIONS = [
    (11, "DE", ["Europe/Berlin"], "de-DE"),
    (2, "AT", ["Europe/Vienna"], "de-AT"),
    (1, "CH", ["Europe/Zurich"], "de-CH"),
    (6, "US", ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"], "en-US"),
]
REGION_TABLE = [r for share, *r in REGIONS for _ in range(share)]
KINDS = ["service"] * 12 + ["repair"] * 3 + ["inspection"] * 2 + ["reading"] * 3


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=int, required=True)
    p.add_argument("--vehicles", type=int, required=True)
    p.add_argument("--visits", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=20261101)
    p.add_argument("--until", default="2026-11-01", help="latest date written (ISO)")
    a = p.parse_args(argv)
    if a.customers < 1 and a.vehicles > 0:
        p.error("vehicles need at least one customer")
    if min(a.customers, a.vehicles, a.visits) < 0:
        p.error("counts must not be negative")
    if a.visits > 0 and a.vehicles == 0:
        p.error("visits need at least one vehicle")
    return a


class Dates:
    """ISO strings of ordinals, cached: formatting dates is most of the cost."""

    def __init__(self):
        self.cache = {}

    def __call__(self, ordinal):
        s = self.cache.get(ordinal)
        if s is None:
            s = dt.date.fromordinal(ordinal).isoformat()
            self.cache[ordinal] = s
        return s


def phone(rng, region):
    if region == "US":
        area = rng.choice(US_AREA)
        while True:
            exchange = rng.randrange(200, 1000)
            if exchange % 100 != 11 and exchange != 555:  # N11 codes and 555 are special
                break
        return f"+1{area}{exchange}{rng.randrange(10000):04d}"
    return f"+49{rng.choice(DE_MOBILE)}{rng.randrange(100_000_000):08d}"


def write_customers(path, n, rng, iso, until):
    born_lo = dt.date(1940, 1, 1).toordinal()
    born_hi = min(dt.date(2006, 12, 31), until).toordinal()
    with open(path, "w", encoding="utf-8", newline="\n", buffering=1 << 20) as f:
        f.write("customer_id,name,email,phone,timezone,birthday,"
                "consent_email_marketing,consent_sms_marketing,locale\n")
        rows = []
        for i in range(n):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            region, zones, locale = rng.choice(REGION_TABLE)
            contact = rng.random()
            email = phone_no = ""
            if contact < 0.90:  # email, alone (10%) or with a phone (80%)
                local = f"{first}.{last}".lower().translate(ASCII)
                email = f"{local}.{i}@{EMAIL_DOMAINS[i % len(EMAIL_DOMAINS)]}"
            if contact >= 0.10:  # phone, alone (10%) or with an email
                phone_no = phone(rng, region)
            birthday = iso(rng.randint(born_lo, born_hi)) if rng.random() < 0.85 else ""
            rows.append(
                f"C{i:08d},{first} {last},{email},{phone_no},{rng.choice(zones)},{birthday},"
                f"{'true' if rng.random() < 0.6 else 'false'},"
                f"{'true' if rng.random() < 0.4 else 'false'},"
                f"{locale if rng.random() < 0.9 else ''}\n"
            )
            if len(rows) >= 10_000:
                f.write("".join(rows))
                rows.clear()
        f.write("".join(rows))


def vin_of(i, rng, wmi):
    """WMI + 6 random characters + the index scrambled into the last 8.

    `i * 2_654_435_761 mod 33**8` is a bijection (the factor shares no prime
    with 33), so the last eight characters alone make every VIN unique.
    """
    x = (i * 2_654_435_761 + 1_000_000_000_007) % 33**8
    tail = []
    for _ in range(8):
        x, r = divmod(x, 33)
        tail.append(VIN_ALPHABET[r])
    return wmi + "".join(rng.choices(VIN_ALPHABET, k=6)) + "".join(tail)


def write_vehicles(path, m, n_customers, rng, iso, until):
    """Writes the vehicles; returns (purchase ordinal, odometer, km/day) of each."""
    lo = dt.date(2015, 1, 1).toordinal()
    hi = until.toordinal()
    purchase, odo0, per_day = [0] * m, [0] * m, [0.0] * m
    with open(path, "w", encoding="utf-8", newline="\n", buffering=1 << 20) as f:
        f.write("vin,customer_id,make,model,model_year,purchase_date,purchase_odometer_km,avg_monthly_km\n")
        rows = []
        for i in range(m):
            make, wmi, models = rng.choice(MAKES)
            # Most vehicles go to "their" customer; some to a random one, so
            # that some customers own several.
            owner = i % n_customers if rng.random() < 0.85 else rng.randrange(n_customers)
            p = rng.randint(lo, hi)
            year = dt.date.fromordinal(p).year
            used = rng.random() < 0.2
            odo = rng.randrange(5_000, 150_000) if used else 0
            model_year = year - rng.randint(1, 8) if used else year - (1 if rng.random() < 0.3 else 0)
            monthly = min(6000.0, max(150.0, rng.lognormvariate(7.05, 0.45)))  # median ~1150
            declared = f"{round(monthly * rng.uniform(0.8, 1.2))}" if rng.random() < 0.7 else ""
            purchase[i], odo0[i], per_day[i] = p, odo, monthly / (365.25 / 12)
            rows.append(
                f"{vin_of(i, rng, wmi)},C{owner:08d},{make},{rng.choice(models)},{model_year},"
                f"{iso(p)},{odo},{declared}\n"
            )
            if len(rows) >= 10_000:
                f.write("".join(rows))
                rows.clear()
        f.write("".join(rows))
    return purchase, odo0, per_day


def write_visits(path, k, vins, purchase, odo0, per_day, rng, iso, until):
    hi = until.toordinal()
    m = len(purchase)
    counts = [0] * m
    room = [hi - p for p in purchase]  # days after the purchase up to `until`
    if k > sum(room):
        sys.exit(f"gen_data: cannot fit {k} visits with distinct dates into the vehicles' history")
    placed = 0
    while placed < k:
        v = rng.randrange(m)
        if counts[v] < room[v]:
            counts[v] += 1
            placed += 1
    with open(path, "w", encoding="utf-8", newline="\n", buffering=1 << 20) as f:
        f.write("vin,date,odometer_km,kind\n")
        rows = []
        for v in range(m):
            c = counts[v]
            if c == 0:
                continue
            p = purchase[v]
            days = sorted(rng.sample(range(1, room[v] + 1), c))
            prev = odo0[v]
            vin = vins[v]
            for d in days:
                odo = max(prev, odo0[v] + round(per_day[v] * d * rng.uniform(0.9, 1.1)))
                prev = odo
                rows.append(f"{vin},{iso(p + d)},{odo},{rng.choice(KINDS)}\n")
            if len(rows) >= 10_000:
                f.write("".join(rows))
                rows.clear()
        f.write("".join(rows))


def read_vins(path):
    with open(path, encoding="utf-8") as f:
        next(f)
        return [line.split(",", 1)[0] for line in f]


def main(argv):
    a = parse_args(argv)
    until = dt.date.fromisoformat(a.until)
    os.makedirs(a.out, exist_ok=True)
    iso = Dates()
    # One stream per file, so that e.g. more visits do not change the vehicles.
    write_customers(os.path.join(a.out, "customers.csv"), a.customers, random.Random(a.seed * 3 + 1), iso, until)
    vehicles = os.path.join(a.out, "vehicles.csv")
    purchase, odo0, per_day = write_vehicles(vehicles, a.vehicles, a.customers, random.Random(a.seed * 3 + 2), iso, until)
    write_visits(
        os.path.join(a.out, "visits.csv"), a.visits, read_vins(vehicles) if a.visits else [],
        purchase, odo0, per_day, random.Random(a.seed * 3 + 3), iso, until,
    )
    print(f"gen_data: {a.customers} customers, {a.vehicles} vehicles, {a.visits} visits in {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
