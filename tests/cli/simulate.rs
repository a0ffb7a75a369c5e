//! `touchpoint simulate` through the binary: the line shape of docs/json.md, nothing sent
//! twice, caps and quiet hours kept (in each recipient's own zone), the real
//! database untouched.

use crate::helpers::{self, Instance};
use crate::support::seed_customer;
use chrono::{DateTime, Datelike, Duration, Offset, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use std::collections::{BTreeSet, HashMap, HashSet};
use touchpoint::store::entities::{customer, message, touchpoint as tp};

/// The simulated owners: id, time zone, purchase date, cars. Europe and
/// North America change the clocks on different Sundays, Sydney the other
/// way round, Kolkata not at all and half an hour off the hour; purchases in
/// each season put sends on both sides of each change.
const OWNERS: [(&str, &str, &str, &[&str]); 7] = [
    (
        "C1",
        "Europe/Berlin",
        "2025-11-20",
        &["WVWZZZ1JZXW000001", "TMBZZZ1ZZXW000002"],
    ),
    ("C2", "Europe/Berlin", "2026-05-12", &["WVWZZZ1JZXW000003"]),
    (
        "C3",
        "America/New_York",
        "2025-12-03",
        &["WVWZZZ1JZXW000004"],
    ),
    (
        "C4",
        "America/New_York",
        "2026-06-17",
        &["WVWZZZ1JZXW000005"],
    ),
    (
        "C5",
        "Australia/Sydney",
        "2025-12-10",
        &["WVWZZZ1JZXW000006"],
    ),
    (
        "C6",
        "Australia/Sydney",
        "2026-07-01",
        &["WVWZZZ1JZXW000007"],
    ),
    ("C7", "Asia/Kolkata", "2026-03-02", &["WVWZZZ1JZXW000008"]),
];

/// SMS and calls only between 09:00 and 20:00 (end excluded) on the
/// recipient's own clock, never on a Sunday (the shipped `[quiet_hours.sms]`
/// and `[quiet_hours.call]`).
fn assert_daytime_on_a_weekday(channel: &str, at: DateTime<Utc>, tz: Tz, line: &str) {
    let local = at.with_timezone(&tz);
    let minute = local.hour() * 60 + local.minute();
    assert!(
        (9 * 60..20 * 60).contains(&minute),
        "{channel} at {local} in {tz}: {line}"
    );
    assert_ne!(
        local.weekday(),
        Weekday::Sun,
        "{channel} on a Sunday in {tz}: {line}"
    );
}

#[test]
fn three_years_for_owners_in_four_zones_keep_every_rule_in_their_own_time_and_touch_nothing() {
    for site in helpers::instances() {
        helpers::block_on(three_years_in_four_zones(&site));
    }
}

async fn three_years_in_four_zones(site: &Instance) {
    let db = site.db().await;
    let mut zones: HashMap<String, Tz> = HashMap::new();
    for (id, zone, purchase, vins) in OWNERS {
        seed_customer(&db, id, &format!("{id}@example.com"), vins, purchase).await;
        customer::Entity::update_many()
            .col_expr(customer::Column::Timezone, Expr::value(zone))
            .filter(customer::Column::CustomerId.eq(id))
            .exec(&db)
            .await
            .unwrap();
        zones.insert(id.to_string(), zone.parse().unwrap());
    }
    drop(db);

    let lines = site.dir.path().join("sim.jsonl");
    let out = site
        .touchpoint()
        .args([
            "simulate",
            "--from",
            "2025-11-20",
            "--to",
            "2028-11-20",
            "--out",
        ])
        .arg(&lines)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        site.backend,
        helpers::stderr(&out)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("touchpoints sent:"), "{summary}");

    let mut sent_keys = HashSet::new();
    // Per person: caps hold across a person's cars, not across people.
    let mut messages: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
    let mut calls: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
    let mut checked_zones: HashMap<&str, BTreeSet<String>> = HashMap::new();
    let mut checked_offsets: BTreeSet<(String, i32)> = BTreeSet::new();
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    for line in std::fs::read_to_string(&lines).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for field in [
            "at",
            "key",
            "vin",
            "customer_id",
            "code",
            "channel",
            "category",
            "recipient",
            "outcome",
        ] {
            assert!(v[field].is_string(), "{field} in {line}");
        }
        assert!(v.get("reason").is_some(), "{line}");
        let outcome = v["outcome"].as_str().unwrap().to_string();
        assert!(
            [
                "sent",
                "deferred",
                "suppressed",
                "cancelled",
                "skipped",
                "failed",
                "held"
            ]
            .contains(&outcome.as_str()),
            "{line}"
        );
        *outcomes.entry(outcome.clone()).or_default() += 1;
        if outcome != "sent" {
            continue;
        }
        let key = v["key"].as_str().unwrap().to_string();
        assert!(sent_keys.insert(key.clone()), "sent twice: {key}");
        let at: DateTime<Utc> = v["at"].as_str().unwrap().parse().unwrap();
        let merged = v["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("sent together"));
        let person = v["customer_id"].as_str().unwrap().to_string();
        let tz = zones[&person];
        let channel = v["channel"].as_str().unwrap();
        if channel != "email" {
            assert_daytime_on_a_weekday(channel, at, tz, line);
            checked_zones
                .entry(if channel == "call" { "call" } else { "sms" })
                .or_default()
                .insert(tz.name().to_string());
            let offset = at.with_timezone(&tz).offset().fix().local_minus_utc();
            checked_offsets.insert((tz.name().to_string(), offset));
        }
        if !merged {
            let sends = if channel == "call" {
                &mut calls
            } else {
                &mut messages
            };
            sends.entry(person).or_default().push(at);
        }
    }
    assert!(outcomes["sent"] > 40, "{outcomes:?}");
    // Every zone's clock was put to the test, for SMS and for calls.
    let all_zones: BTreeSet<String> = OWNERS.iter().map(|o| o.1.to_string()).collect();
    for channel in ["sms", "call"] {
        assert_eq!(
            checked_zones.get(channel),
            Some(&all_zones),
            "{channel}: {checked_zones:?}"
        );
    }
    // ...and on both sides of its clock changes: summer and winter time.
    for zone in ["Europe/Berlin", "America/New_York", "Australia/Sydney"] {
        let offsets = checked_offsets.iter().filter(|(z, _)| z == zone).count();
        assert_eq!(offsets, 2, "{zone}: {checked_offsets:?}");
    }
    for (per_person, limit, days) in [(&messages, 1, 7), (&messages, 4, 30), (&calls, 1, 14)] {
        for (person, sends) in per_person {
            for t in sends.iter() {
                let inside = sends
                    .iter()
                    .filter(|s| **s <= *t && **s > *t - Duration::days(days))
                    .count();
                assert!(
                    inside <= limit,
                    "{person}: {limit} per {days} days broken at {t}"
                );
            }
        }
    }
    // The real database is untouched: nothing planned, nothing sent.
    let db = site.db().await;
    assert_eq!(tp::Entity::find().count(&db).await.unwrap(), 0);
    assert_eq!(message::Entity::find().count(&db).await.unwrap(), 0);
    assert!(!site.dir.path().join("outbox/email").exists());
}
