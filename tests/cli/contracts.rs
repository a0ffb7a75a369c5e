//! The JSON answers of `next-service`, `plan` and `queue` through the binary,
//! on every backend under test, with the sample data: their shapes (README,
//! "Commands") and their values for sample vehicles; `queue --days` and
//! `--as-of` by date; and `--as-of` ignoring facts dated after it.

use crate::helpers::{Instance, block_on, instances, stderr, stdout};
use crate::import::load_samples;
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use touchpoint::app::planning_pass;
use touchpoint::config::Config;
use touchpoint::store::entities::touchpoint as stored_tp;

/// The Audi Q4 e-tron of C1004 (Lukas Hofer), bought on 2026-01-15, no
/// visits, no declared rate: the default 1,250 km a month.
const Q4: &str = "WAUZZZGE5NB000114";

/// The contract's fields of an answer, in a map (extra fields may follow).
fn fields(answer: &Value, names: &[&str]) -> BTreeMap<String, Value> {
    names
        .iter()
        .map(|&n| {
            let v = answer
                .get(n)
                .unwrap_or_else(|| panic!("no {n} in {answer}"));
            (n.to_string(), v.clone())
        })
        .collect()
}

const NEXT_SERVICE: [&str; 7] = [
    "vin",
    "due_date",
    "decided_by",
    "due_odometer_km",
    "avg_monthly_km",
    "rate_source",
    "last_service_date",
];

fn next_service(tp: &Instance, vin: &str, as_of: &str) -> BTreeMap<String, Value> {
    fields(
        &tp.json(&["next-service", vin, "--as-of", as_of]),
        &NEXT_SERVICE,
    )
}

fn expected(v: Value) -> BTreeMap<String, Value> {
    serde_json::from_value(v).unwrap()
}

#[test]
fn next_service_answers_due_date_what_decided_it_and_the_rate() {
    for tp in instances() {
        load_samples(&tp);
        let cases = [
            // Bought used at 48,200 km, serviced at 70,400 km 360 days later:
            // 1,877 km a month measured; the next 15,000 km take 243 days,
            // well before the 12 months.
            json!({"vin": "WVWZZZ3CZPE000102", "due_date": "2027-01-26", "decided_by": "km",
                   "due_odometer_km": 85400, "avg_monthly_km": 1877.0,
                   "rate_source": "readings", "last_service_date": "2026-05-28"}),
            // 10,300 km in the 357 days to its first service: 878.2 km a
            // month, so the 12 months come first; the odometer then 10,531 km on.
            json!({"vin": "WDD1770841J000106", "due_date": "2027-02-20", "decided_by": "time",
                   "due_odometer_km": 20831, "avg_monthly_km": 878.2,
                   "rate_source": "readings", "last_service_date": "2026-02-20"}),
            // No visits: the owner's declared 1,200 km a month.
            json!({"vin": "TMBAG7NE1M0000113", "due_date": "2027-07-01", "decided_by": "time",
                   "due_odometer_km": 14395, "avg_monthly_km": 1200.0,
                   "rate_source": "declared", "last_service_date": null}),
            // Nothing declared: the configured default; 15,000 km take
            // exactly the 12 months, and time decides a tie.
            json!({"vin": Q4, "due_date": "2027-01-15", "decided_by": "time",
                   "due_odometer_km": 14990, "avg_monthly_km": 1250.0,
                   "rate_source": "default", "last_service_date": null}),
        ];
        for case in cases {
            let vin = case["vin"].as_str().unwrap();
            assert_eq!(
                next_service(&tp, vin, "2026-12-01"),
                expected(case.clone()),
                "{}",
                tp.backend
            );
        }
    }
}

const CHANNELS: [&str; 3] = ["email", "sms", "call"];
const STATES: [&str; 3] = ["planned", "skipped", "cancelled"];

/// Checks the `plan --json` shape: 36 touchpoints inside the cycle, sorted
/// by date, each with the contract's fields; the displaced apart.
fn assert_plan_shape(plan: &Value, vin: &str) {
    assert_eq!(plan["vin"], vin);
    assert!(plan["cycle"].is_u64(), "{plan}");
    let start = plan["cycle_start"].as_str().unwrap();
    let end = plan["cycle_end"].as_str().unwrap();
    let touchpoints = plan["touchpoints"].as_array().unwrap();
    assert_eq!(touchpoints.len(), 36, "{vin}");
    let mut previous = start.to_string();
    for t in touchpoints {
        let f = fields(
            t,
            &["code", "channel", "category", "due_date", "state", "reason"],
        );
        let due = f["due_date"].as_str().unwrap();
        assert!(
            previous.as_str() <= due && due <= end,
            "{vin}: {t} in {start}..={end}"
        );
        previous = due.to_string();
        assert!(f["code"].is_string(), "{t}");
        assert!(CHANNELS.contains(&f["channel"].as_str().unwrap()), "{t}");
        assert!(
            ["service", "marketing"].contains(&f["category"].as_str().unwrap()),
            "{t}"
        );
        let state = f["state"].as_str().unwrap();
        assert!(STATES.contains(&state), "{t}");
        // A touchpoint not simply planned says why.
        assert_eq!(f["reason"].is_string(), state != "planned", "{t}");
    }
    for d in plan["displaced"].as_array().unwrap() {
        let f = fields(d, &["code", "due_date", "reason"]);
        assert!(f["code"].is_string() && f["due_date"].is_string(), "{d}");
        assert_eq!(
            f["reason"],
            "displaced by higher-priority touchpoints (budget of 36 per cycle)"
        );
    }
}

/// Touchpoint `code` of a `plan --json` answer (occurrence `n`).
fn entry<'a>(plan: &'a Value, code: &str, n: u64) -> &'a Value {
    plan["touchpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["code"] == code && t["occurrence"] == n)
        .unwrap_or_else(|| panic!("no {code}#{n} in {plan}"))
}

#[test]
fn plan_lists_the_cycles_36_touchpoints_and_what_was_displaced() {
    for tp in instances() {
        load_samples(&tp);
        // The Golf, bought 2023-03-15 and serviced on 2024-03-11, as of a
        // day in its first cycle.
        let golf = "WVWZZZ1KZAW000101";
        let plan = tp.json(&["plan", golf, "--as-of", "2025-04-01"]);
        assert_plan_shape(&plan, golf);
        assert_eq!(
            fields(&plan, &["cycle", "cycle_start", "cycle_end"]),
            expected(json!({"cycle": 0, "cycle_start": "2023-03-15", "cycle_end": "2026-03-14"})),
            "{}",
            tp.backend
        );
        let welcome = entry(&plan, "onboarding-welcome", 1);
        assert_eq!(
            fields(
                welcome,
                &["channel", "category", "due_date", "state", "reason"]
            ),
            expected(
                json!({"channel": "email", "category": "service", "due_date": "2023-03-18",
                "state": "skipped",
                "reason": "already more than 7 days past when first planned; not sent late"})
            ),
        );
        // The first service was due by mileage on 2024-03-14: the visit three
        // days before fulfils its SMS and its win-back call.
        for code in ["service-sms", "service-winback"] {
            let t = entry(&plan, code, 1);
            assert_eq!(
                (&t["state"], &t["reason"]),
                (
                    &json!("cancelled"),
                    &json!("fulfilled by the service visit on 2024-03-11")
                ),
                "{}: {code}",
                tp.backend
            );
        }
        assert_eq!(plan["displaced"], json!([]), "{}", tp.backend);

        // The Octavia at 2,500 km a month has more services than a cycle
        // holds: marketing gives way and is listed apart.
        let octavia = "TMBJJ7NE8L0000105";
        let plan = tp.json(&["plan", octavia, "--as-of", "2026-12-01"]);
        assert_plan_shape(&plan, octavia);
        assert!(
            !plan["displaced"].as_array().unwrap().is_empty(),
            "{}: {plan}",
            tp.backend
        );
    }
}

/// `queue --as-of DATE --days N --json`.
fn queue(tp: &Instance, as_of: &str, days: u32) -> Value {
    tp.json(&["queue", "--as-of", as_of, "--days", &days.to_string()])
}

/// The keys a queue answer lists, per channel.
fn queued(answer: &Value) -> BTreeMap<String, BTreeSet<String>> {
    answer["channels"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(channel, items)| {
            let keys = items
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["key"].as_str().unwrap().to_string())
                .collect();
            (channel.clone(), keys)
        })
        .collect()
}

const Q4_EMAIL: &str = "WAUZZZGE5NB000114:service-email:0:1";

#[test]
fn queue_lists_what_is_due_per_channel_within_the_days_and_the_grace() {
    for tp in instances() {
        load_samples(&tp);
        // Every vehicle planned as on 2026-12-01.
        let stored = block_on(async {
            let db = tp.db().await;
            let config = Config::load(Some(&tp.config)).unwrap();
            let now = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
            planning_pass(&db, &config, now).await.unwrap();
            use sea_orm::EntityTrait;
            stored_tp::Entity::find().all(&db).await.unwrap()
        });

        let answer = queue(&tp, "2026-12-10", 7);
        assert_eq!(
            fields(&answer, &["from", "to"]),
            expected(json!({"from": "2026-12-03", "to": "2026-12-16"})),
            "{}",
            tp.backend
        );
        // Exactly the planned touchpoints dated from a grace window back to
        // the last of the days, each under its channel.
        let mut want: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for t in &stored {
            let due = t.due_date.to_string();
            if t.state == "planned" && ("2026-12-03".."2026-12-17").contains(&due.as_str()) {
                want.entry(t.channel.clone())
                    .or_default()
                    .insert(t.dedup_key.clone());
            }
        }
        assert_eq!(queued(&answer), want, "{}", tp.backend);
        assert!(want.len() >= 2, "{}: {want:?}", tp.backend);
        // The Q4's first service reminder, 30 days before its due date.
        let email = answer["channels"]["email"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["key"] == Q4_EMAIL)
            .unwrap();
        assert_eq!(
            fields(
                email,
                &[
                    "due_date",
                    "vin",
                    "customer_id",
                    "name",
                    "recipient",
                    "code",
                    "category"
                ]
            ),
            expected(
                json!({"due_date": "2026-12-16", "vin": Q4, "customer_id": "C1004",
                "name": "Lukas Hofer", "recipient": "lukas.hofer@example.at",
                "code": "service-email", "category": "service"})
            ),
        );
        for item in answer["channels"]["call"].as_array().unwrap() {
            assert!(
                item["recipient"].as_str().unwrap().starts_with('+'),
                "{item}"
            );
        }

        // Its date is the last of the days, or the first of the grace window.
        let has = |as_of: &str, days: u32| {
            queued(&queue(&tp, as_of, days))
                .get("email")
                .is_some_and(|keys| keys.contains(Q4_EMAIL))
        };
        assert!(has("2026-12-10", 7), "{}", tp.backend);
        assert!(!has("2026-12-10", 6), "{}", tp.backend);
        assert!(!has("2026-12-09", 7), "{}", tp.backend);
        assert!(has("2026-12-23", 1), "{}", tp.backend);
        assert!(!has("2026-12-24", 30), "{}", tp.backend);

        // The text answer lists the same, per channel.
        let out = tp
            .touchpoint()
            .args(["queue", "--as-of", "2026-12-10"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        let total: usize = want.values().map(BTreeSet::len).sum();
        assert!(
            text.starts_with(&format!(
                "queue 2026-12-03 .. 2026-12-16: {total} touchpoints\n"
            )),
            "{text}"
        );
        for (channel, keys) in &want {
            let section = text
                .split(&format!("\n{channel} ({})\n", keys.len()))
                .nth(1)
                .unwrap_or_else(|| panic!("no {channel} section in {text}"));
            let section = section.split("\n\n").next().unwrap();
            for key in keys {
                let mut parts = key.split(':');
                let (vin, code) = (parts.next().unwrap(), parts.next().unwrap());
                assert!(
                    section
                        .lines()
                        .any(|l| l.contains(vin) && l.contains(&format!(" {code} "))),
                    "{channel}: {key} in {text}"
                );
            }
        }
        assert!(
            text.contains("2026-12-16  service-email          WAUZZZGE5NB000114 Lukas Hofer"),
            "{text}"
        );
    }
}

#[test]
fn as_of_ignores_a_visit_dated_after_it() {
    for tp in instances() {
        load_samples(&tp);
        let before_visit = |as_of: &str| {
            (
                tp.json(&["next-service", Q4, "--as-of", as_of]),
                tp.json(&["plan", Q4, "--as-of", as_of]),
            )
        };
        let september = before_visit("2026-09-01");
        let november = before_visit("2026-11-01");
        let visit = tp.write(
            "visit.csv",
            format!("vin,date,odometer_km,kind\n{Q4},2026-10-01,12000,service\n"),
        );
        tp.import_json("visits", visit.to_str().unwrap(), &[]);

        // As of 2026-09-01 the visit has not happened: the same answers.
        assert_eq!(before_visit("2026-09-01"), september, "{}", tp.backend);

        // Once it has, it counts: 12,000 km in 259 days is 1,410.2 km a
        // month, so the next 15,000 km come 324 days after it.
        let (next, plan) = before_visit("2026-11-01");
        assert_ne!((&next, &plan), (&november.0, &november.1));
        assert_eq!(
            fields(&next, &NEXT_SERVICE),
            expected(
                json!({"vin": Q4, "due_date": "2027-08-21", "decided_by": "km",
                "due_odometer_km": 27000, "avg_monthly_km": 1410.2,
                "rate_source": "readings", "last_service_date": "2026-10-01"})
            ),
            "{}",
            tp.backend
        );
        let email = entry(&plan, "service-email", 1);
        assert_eq!(
            (&email["state"], &email["reason"]),
            (
                &json!("cancelled"),
                &json!("fulfilled by the service visit on 2026-10-01")
            ),
            "{}",
            tp.backend
        );
    }
}
