//! The planning pass on real databases: SQLite always, PostgreSQL when
//! TOUCHPOINT_TEST_POSTGRES_URL is set (each test in a schema of its own).

use crate::support::{d, databases, drop_test_schema, record_service, seed};
use chrono::{TimeZone, Utc};
use touchpoint::app::planning_pass;
use touchpoint::store;

/// The reminders of a service that its visit fulfils: all those dated
/// before its due date and the win-back after it.
const FIRST_SERVICE_REMINDERS: [&str; 4] = [
    "service-email",
    "service-call",
    "service-sms",
    "service-winback",
];

/// The stored touchpoint `code` of the test car, occurrence `n` of cycle 0.
fn by_key<'a>(
    stored: &'a [store::StoredTouchpoint],
    code: &str,
    n: u32,
) -> &'a store::StoredTouchpoint {
    let key = format!("WVWZZZ1JZXW000001:{code}:0:{n}");
    stored
        .iter()
        .find(|t| t.dedup_key == key)
        .unwrap_or_else(|| panic!("no {key}"))
}

#[tokio::test]
async fn planning_pass_stores_36_replans_on_new_facts_and_records_the_change() {
    let dir = tempfile::tempdir().unwrap();
    for (url, db, config) in databases(dir.path()).await {
        let vehicle_id = seed(&db, &["WVWZZZ1JZXW000001"], "2025-05-20").await.1[0];
        let first_day = Utc.with_ymd_and_hms(2025, 5, 20, 8, 0, 0).unwrap();
        let report = planning_pass(&db, &config, first_day).await.unwrap();
        assert_eq!(
            (report.vehicles_planned, report.touchpoints_added),
            (1, 36),
            "{url}"
        );
        let stored = store::stored_plan(&db, vehicle_id, 0).await.unwrap();
        assert_eq!(stored.len(), 36, "{url}");
        assert!(stored.iter().all(|t| t.state == "planned"), "{url}");
        // The first service, predicted at 12 months: its reminders are pending.
        for code in FIRST_SERVICE_REMINDERS {
            let t = by_key(&stored, code, 1);
            assert_eq!(t.service_due, Some(d("2026-05-20")), "{url}: {code}");
        }

        // Nothing changed: nothing to do.
        let again = planning_pass(&db, &config, first_day).await.unwrap();
        assert_eq!(again.vehicles_planned, 0, "{url}");

        // A service visit arrives: the plan follows it and the change is recorded.
        record_service(&db, vehicle_id, "2026-01-15", 9_000).await;
        let later = Utc.with_ymd_and_hms(2026, 1, 16, 8, 0, 0).unwrap();
        let report = planning_pass(&db, &config, later).await.unwrap();
        assert_eq!(report.vehicles_planned, 1, "{url}");
        assert!(report.touchpoints_moved > 0, "{url}: {report:?}");
        let stored = store::stored_plan(&db, vehicle_id, 0).await.unwrap();
        let winback = stored
            .iter()
            .find(|t| t.dedup_key == "WVWZZZ1JZXW000001:service-winback:0:1")
            .unwrap();
        assert_eq!(winback.state, "cancelled", "{url}");
        assert_eq!(
            winback.reason.as_deref(),
            Some("fulfilled by the service visit on 2026-01-15"),
            "{url}"
        );
        // Every pending reminder of the fulfilled service is cancelled, with the reason.
        for code in FIRST_SERVICE_REMINDERS {
            let t = by_key(&stored, code, 1);
            assert_eq!(
                (t.state.as_str(), t.reason.as_deref()),
                (
                    "cancelled",
                    Some("fulfilled by the service visit on 2026-01-15")
                ),
                "{url}: {code}"
            );
        }
        // The thank-you follows the real visit, which is recorded.
        let thanks = by_key(&stored, "service-thanks", 1);
        assert_eq!(
            (thanks.state.as_str(), thanks.due_date, thanks.awaits_visit),
            ("planned", d("2026-01-17"), false),
            "{url}"
        );
        // The next service is predicted from the visit: 12 months after it
        // (the 15,000 km at its pace would take longer), its reminders the
        // template's lead before that, the adaptive ones 30 days more (the
        // rate is measured from one reading, so it is uncertain).
        for (code, due) in [
            ("service-email", "2026-11-16"),
            ("service-call", "2026-12-02"),
            ("service-sms", "2027-01-12"),
            ("service-winback", "2027-01-29"),
        ] {
            let t = by_key(&stored, code, 2);
            assert_eq!(
                (t.state.as_str(), t.service_due, t.due_date),
                ("planned", Some(d("2027-01-15")), d(due)),
                "{url}: {code}"
            );
        }
        let changes = store::plan_changes(&db, vehicle_id).await.unwrap();
        assert_eq!(changes.len(), 1, "{url}");
        assert!(
            changes[0].summary.contains("moved"),
            "{url}: {}",
            changes[0].summary
        );
        // Every key stays unique: re-planning never duplicates an occurrence.
        let mut keys: Vec<_> = stored.iter().map(|t| t.dedup_key.clone()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), stored.len(), "{url}");
        drop_test_schema(&db, &url).await;
    }
}

/// A car bought more than a cycle (36 months) ago: `plan` shows cycle 1,
/// exactly 36 touchpoints inside it with the warranty end skipped; the
/// 36-month service's reminders stay in cycle 0 and its follow-ups open
/// cycle 1; a pass plans cycle 1 and dispatch sends what falls due in it.
#[test]
fn a_car_older_than_a_cycle_gets_and_is_sent_its_cycle_1_plan() {
    use crate::helpers::{block_on, instances};
    use crate::support::{pass, touchpoint_of};
    const VIN: &str = "WVWZZZ1JZXW000001";
    for tp in instances() {
        let backend = tp.backend;
        let config = tp.load_config();
        let car = block_on(async { seed(&tp.db().await, &[VIN], "2023-05-20").await.1[0] });
        let plan = tp.json(&["plan", VIN, "--as-of", "2026-05-21"]);
        assert_eq!(
            (&plan["cycle"], &plan["cycle_start"], &plan["cycle_end"]),
            (&1.into(), &"2026-05-20".into(), &"2029-05-19".into()),
            "{backend}"
        );
        let touchpoints = plan["touchpoints"].as_array().unwrap();
        assert_eq!(touchpoints.len(), 36, "{backend}");
        for t in touchpoints {
            let (key, date) = (t["key"].as_str().unwrap(), t["due_date"].as_str().unwrap());
            assert_eq!(key.split(':').nth(2), Some("1"), "{backend}: {t}");
            assert!(
                ("2026-05-20"..="2029-05-19").contains(&date),
                "{backend}: {t}"
            );
        }
        let warranty: Vec<_> = touchpoints
            .iter()
            .filter(|t| t["code"] == "warranty-end")
            .map(|t| (t["state"].as_str(), t["reason"].as_str()))
            .collect();
        assert_eq!(
            warranty,
            [(
                Some("skipped"),
                Some("the warranty does not end in this cycle")
            )],
            "{backend}"
        );

        // The service at 36 months: reminders before the boundary, follow-ups after it.
        let codes_of_third_service = |plan: &serde_json::Value| -> Vec<String> {
            let mut codes: Vec<String> = plan["touchpoints"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| {
                    t["code"].as_str().unwrap().starts_with("service-") && t["occurrence"] == 3
                })
                .map(|t| t["code"].as_str().unwrap().to_string())
                .collect();
            codes.sort();
            codes
        };
        let cycle_0 = tp.json(&["plan", VIN, "--as-of", "2026-05-01"]);
        assert_eq!(cycle_0["cycle"], 0, "{backend}");
        assert_eq!(
            codes_of_third_service(&cycle_0),
            ["service-call", "service-email", "service-sms"],
            "{backend}"
        );
        assert_eq!(
            codes_of_third_service(&plan),
            ["service-thanks", "service-winback"],
            "{backend}"
        );

        block_on(async {
            let db = tp.db().await;
            // Thursday 21 May 2026, 10:00 in Berlin: cycle 1's first call.
            let thursday = Utc.with_ymd_and_hms(2026, 5, 21, 8, 0, 0).unwrap();
            let report = pass(&db, &config, thursday).await;
            assert_eq!(report.sent.get("call"), Some(&1), "{backend}: {report:?}");
            assert_eq!(
                store::stored_plan(&db, car, 1).await.unwrap().len(),
                36,
                "{backend}"
            );
            let call = touchpoint_of(&db, &format!("{VIN}:onboarding-call:1:1")).await;
            assert_eq!(call.state, "sent", "{backend}");
            // Saturday 23 May: the cycle's welcome email.
            let saturday = Utc.with_ymd_and_hms(2026, 5, 23, 8, 0, 0).unwrap();
            let report = pass(&db, &config, saturday).await;
            assert_eq!(report.sent.get("email"), Some(&1), "{backend}: {report:?}");
            let welcome = touchpoint_of(&db, &format!("{VIN}:onboarding-welcome:1:1")).await;
            assert_eq!(welcome.state, "sent", "{backend}");
        });
        assert!(
            tp.dir
                .path()
                .join(format!("outbox/email/{VIN}_onboarding-welcome_1_1.eml"))
                .exists(),
            "{backend}"
        );
    }
}
