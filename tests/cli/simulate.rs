//! `touchpoint simulate` through the binary: SPEC §7 line shape, nothing sent
//! twice, caps and quiet hours kept, the real database untouched.

use crate::helpers::{self, Instance};
use crate::support::seed;
use chrono::{DateTime, Duration, Timelike, Utc};
use sea_orm::{EntityTrait, PaginatorTrait};
use std::collections::{HashMap, HashSet};
use touchpoint::store::entities::{message, touchpoint as tp};

#[test]
fn three_years_for_two_cars_keep_every_rule_and_touch_nothing() {
    for site in helpers::instances() {
        helpers::block_on(three_years_for_two_cars(&site));
    }
}

async fn three_years_for_two_cars(site: &Instance) {
    let db = site.db().await;
    seed(
        &db,
        &["WVWZZZ1JZXW000001", "TMBZZZ1ZZXW000002"],
        "2025-11-20",
    )
    .await;
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
    let mut messages: Vec<DateTime<Utc>> = Vec::new();
    let mut calls: Vec<DateTime<Utc>> = Vec::new();
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
        match v["channel"].as_str().unwrap() {
            "call" => {
                if !merged {
                    calls.push(at)
                }
            }
            channel => {
                if !merged {
                    messages.push(at)
                }
                if channel == "sms" {
                    // Quiet hours: 09:00–20:00 in Berlin, which is UTC+1 or UTC+2.
                    let local_hour = (at + Duration::hours(1)).hour();
                    assert!((8..=20).contains(&local_hour), "SMS at {at}");
                }
            }
        }
    }
    assert!(outcomes["sent"] > 40, "{outcomes:?}");
    for (sends, limit, days) in [(&messages, 1, 7), (&messages, 4, 30), (&calls, 1, 14)] {
        for t in sends.iter() {
            let inside = sends
                .iter()
                .filter(|s| **s <= *t && **s > *t - Duration::days(days))
                .count();
            assert!(inside <= limit, "{limit} per {days} days broken at {t}");
        }
    }
    // The real database is untouched: nothing planned, nothing sent.
    let db = site.db().await;
    assert_eq!(tp::Entity::find().count(&db).await.unwrap(), 0);
    assert_eq!(message::Entity::find().count(&db).await.unwrap(), 0);
    assert!(!site.dir.path().join("outbox/email").exists());
}
