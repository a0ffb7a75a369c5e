//! `simulate` makes the decisions the daemon's passes make: over a mixed
//! base, its lines are exactly those of real planning and dispatch passes
//! stepped hourly on the same virtual clock against SQLite, with capturing
//! transports, visits recorded and opt-outs logged along the way.

use crate::support::{d, sqlite_database};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection};
use std::collections::{BTreeMap, HashMap};
use touchpoint::app;
use touchpoint::dispatch::Transports;
use touchpoint::domain::Channel;
use touchpoint::messages::Catalog;
use touchpoint::store::entities::{customer, reading, vehicle};

/// Owners in zones on both sides of UTC, with and without daylight saving
/// (and half an hour off the hour).
const ZONES: [&str; 5] = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "America/Los_Angeles",
];

const OWNERS: usize = 320;

fn vin(owner: usize, car: usize) -> String {
    format!("WVWZZZ1JZXW{:06}", owner * 10 + car)
}

fn purchase(owner: usize) -> NaiveDate {
    d("2024-01-05") + Duration::days((owner * 37 % 760) as i64)
}

/// The odometer on `day` of a car bought on `bought`, at 40 km a day.
fn odometer(bought: NaiveDate, day: NaiveDate) -> i64 {
    (day - bought).num_days() * 40
}

/// A base of `OWNERS` people, one to three cars each: mixed zones,
/// consents, birthdays, declared mileages, people with no email or no
/// phone, and some services recorded before the period.
async fn seed(db: &DatabaseConnection, start: NaiveDate) {
    let now = Utc::now();
    for i in 0..OWNERS {
        let c = customer::ActiveModel {
            customer_id: Set(format!("C{i:04}")),
            name: Set(format!("Owner {i}")),
            email: Set((i % 11 != 0).then(|| format!("owner{i}@example.com"))),
            phone: Set((i % 13 != 0 || i % 11 == 0).then(|| format!("+4915112{i:06}"))),
            timezone: Set(ZONES[i % ZONES.len()].into()),
            birthday: Set((i % 4 != 0).then(|| d("1970-01-01") + Duration::days((i * 53) as i64))),
            consent_email_marketing: Set(i % 2 == 0),
            consent_sms_marketing: Set(i % 3 == 0),
            locale: Set(None),
            opted_out_email: Set(false),
            opted_out_sms: Set(false),
            opted_out_call: Set(false),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
        let bought = purchase(i);
        for car in 0..1 + i % 3 {
            let v = vehicle::ActiveModel {
                vin: Set(vin(i, car)),
                customer_id: Set(c.id),
                make: Set(["Volkswagen", "Skoda", "BMW"][car].into()),
                model: Set(["Golf", "Octavia", "320d"][car].into()),
                model_year: Set(Some(2024)),
                purchase_date: Set(bought),
                purchase_odometer_km: Set(0),
                avg_monthly_km: Set((i % 2 == 0).then_some(800.0 + (i % 5) as f64 * 300.0)),
                active: Set(true),
                facts_version: Set(1),
                planned_version: Set(0),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(db)
            .await
            .unwrap();
            let serviced = bought + Duration::days(350);
            if i % 4 == 1 && serviced < start {
                reading::ActiveModel {
                    vehicle_id: Set(v.id),
                    date: Set(serviced),
                    odometer_km: Set(odometer(bought, serviced)),
                    kind: Set("service".into()),
                    ..Default::default()
                }
                .insert(db)
                .await
                .unwrap();
            }
        }
    }
}

#[test]
fn simulate_decides_exactly_as_hourly_passes_over_a_mixed_base() {
    crate::helpers::block_on(equivalence());
}

async fn equivalence() {
    let dir = tempfile::tempdir().unwrap();
    // Trade-in offers and first anniversaries wait for an approval that never
    // comes: they go at the deadline (or not, when their owner opted out
    // meanwhile).
    let approval = "[approval]\ncodes = [\"cycle-trade-in\", \"anniversary-1\"]\n\
                    wait_hours = 30\non_deadline = \"send\"\n";
    let (config, db) = sqlite_database(dir.path(), approval).await;
    let (from, to) = (d("2026-03-01"), d("2027-09-01"));
    seed(&db, from).await;
    let at = |y, m, d, h| Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap();

    // Visits recorded along the way (at the start of their day), and
    // opt-outs and an opt-in logged at their hour.
    let mut visits: BTreeMap<DateTime<Utc>, Vec<(String, NaiveDate)>> = BTreeMap::new();
    for i in (0..OWNERS).step_by(9) {
        let day = d("2026-05-01") + Duration::days((i * 7 % 300) as i64);
        visits
            .entry(day.and_hms_opt(0, 0, 0).unwrap().and_utc())
            .or_default()
            .push((vin(i, 0), day));
    }
    let opt_outs: BTreeMap<DateTime<Utc>, (&str, Channel, bool)> = [
        (at(2026, 4, 2, 10), ("C0005", Channel::Sms, true)),
        (at(2026, 5, 3, 0), ("C0006", Channel::Email, true)),
        (at(2026, 8, 1, 9), ("C0007", Channel::Call, true)),
        (at(2026, 11, 20, 14), ("C0006", Channel::Email, false)),
        (at(2027, 1, 10, 7), ("C0012", Channel::Email, true)),
    ]
    .into_iter()
    .collect();

    let catalog = Catalog::builtin().unwrap();
    let transports = Transports::capture();
    let start = from.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let end = to.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let mut passes: Vec<String> = Vec::new();
    let (mut recorded, mut cancelled_by_visits) = (0, 0);
    let mut now = start;
    while now < end {
        for (vin, day) in visits.get(&now).into_iter().flatten() {
            let bought = purchase(vin[11..].parse::<usize>().unwrap() / 10);
            let km = odometer(bought, *day).to_string();
            let added = app::visits::add(
                &db,
                &config,
                app::visits::NewVisit {
                    vin,
                    date: &day.to_string(),
                    odometer: &km,
                    kind: "service",
                },
                now,
            )
            .await
            .unwrap_or_else(|e| panic!("visit {vin} on {day}: {e}"));
            assert!(added.replanned, "{vin}");
            recorded += 1;
            cancelled_by_visits += added.cancelled.len();
        }
        if let Some((customer, channel, out)) = opt_outs.get(&now) {
            app::opt_outs::set(&db, customer, *channel, *out, now)
                .await
                .unwrap();
        }
        let pass = app::pass(&db, &config, &transports, &catalog, now)
            .await
            .unwrap();
        passes.extend(
            pass.dispatch
                .events
                .iter()
                .map(|e| serde_json::to_string(e).unwrap()),
        );
        now += Duration::hours(1);
    }

    // The same period simulated over what is stored now: the facts, with
    // the visits and opt-outs recorded along the way.
    let mut out = Vec::new();
    let summary = app::simulate::simulate(&db, &config, from, to, &mut out)
        .await
        .unwrap();
    let simulated: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(summary.attempts, simulated.len());

    // The simulation writes in time order.
    let instants: Vec<&str> = simulated.iter().map(|l| &l[7..27]).collect();
    assert!(instants.is_sorted(), "simulate's lines are out of order");

    // The scenario reaches every rule: sends on every channel, merges,
    // quiet hours, caps, consent, opt-outs, the missing-visit follow-ups,
    // and visits that ended reminders.
    let mut reasons: HashMap<String, usize> = HashMap::new();
    for line in &passes {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let outcome = v["outcome"].as_str().unwrap();
        let reason = v["reason"].as_str().unwrap_or("");
        let what = match (outcome, reason) {
            ("sent", r) if r.starts_with("sent together") => "merged".to_string(),
            ("sent", _) => format!("sent {}", v["channel"].as_str().unwrap()),
            ("deferred", r) if r.starts_with("quiet hours") => "quiet hours".into(),
            ("deferred", r) if r.starts_with("frequency cap") => "cap".into(),
            ("suppressed", r) if r.contains("opted out") => "opted out".into(),
            ("suppressed", r) if r.contains("consent") => "no consent".into(),
            ("held", r) if r.starts_with("awaiting approval") => "awaiting approval".into(),
            (o, _) => o.to_string(),
        };
        *reasons.entry(what).or_default() += 1;
    }
    for what in [
        "sent email",
        "sent sms",
        "sent call",
        "merged",
        "quiet hours",
        "cap",
        "opted out",
        "no consent",
        "cancelled",
        "awaiting approval",
    ] {
        assert!(
            reasons.get(what).is_some_and(|n| *n > 0),
            "nothing {what} in the passes: {reasons:?}"
        );
    }
    assert!(
        recorded >= 30 && cancelled_by_visits > 0,
        "{recorded} visits, {cancelled_by_visits} ended"
    );
    assert!(passes.len() > 5000, "{} lines", passes.len());

    let (mut passes, mut simulated) = (passes, simulated);
    passes.sort();
    simulated.sort();
    if passes != simulated {
        let only_passes: Vec<&String> = passes
            .iter()
            .filter(|l| simulated.binary_search(l).is_err())
            .take(5)
            .collect();
        let only_simulated: Vec<&String> = simulated
            .iter()
            .filter(|l| passes.binary_search(l).is_err())
            .take(5)
            .collect();
        panic!(
            "{} lines from the passes, {} simulated\nonly in the passes: {only_passes:#?}\nonly simulated: {only_simulated:#?}",
            passes.len(),
            simulated.len()
        );
    }
}
