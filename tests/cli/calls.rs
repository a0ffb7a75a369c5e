//! The call list and call outcomes through the binary.

use crate::helpers::{Instance, block_on, instances, stderr, stdout};
use crate::support::{pass, seed, touchpoint_of};
use assert_cmd::Command;
use chrono::{TimeZone, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
};
use touchpoint::app::Dispatcher;
use touchpoint::app::planning_pass;
use touchpoint::config::Config;
use touchpoint::dispatch::Transports;
use touchpoint::messages::Catalog;
use touchpoint::store::{self, entities};

fn touchpoint(cfg: &std::path::Path) -> Command {
    let mut cmd = Command::cargo_bin("touchpoint").unwrap();
    cmd.env_remove("TOUCHPOINT_CONFIG").arg("--config").arg(cfg);
    cmd
}

#[tokio::test]
async fn booked_call_stops_the_services_reminders_and_wrong_number_stops_the_phone() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    Command::cargo_bin("touchpoint")
        .unwrap()
        .arg("init")
        .arg(&site)
        .assert()
        .success();
    let cfg = site.join("touchpoint.toml");
    let config = Config::load(Some(&cfg)).unwrap();
    let db = store::connect(&config.database_url(), 1).await.unwrap();
    let (customer_id, _) = seed(&db, &["WVWZZZ1JZXW000001"], "2025-05-20").await;
    // Wednesday 6 May 2026, 10:00 in Berlin: the service call, 14 days before the due date.
    let now = Utc.with_ymd_and_hms(2026, 5, 6, 8, 0, 0).unwrap();
    planning_pass(&db, &config, now).await.unwrap();
    let catalog = Catalog::builtin().unwrap();
    let transports = Transports::from_config(&config).unwrap();
    let report = Dispatcher::new(&db, &config, &transports, &catalog)
        .pass(now)
        .await
        .unwrap();
    assert_eq!(report.sent.get("call"), Some(&1), "{report:?}");

    let out = touchpoint(&cfg).args(["calls", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(calls.as_array().unwrap().len(), 1, "{calls}");
    assert_eq!(calls[0]["phone"], "+4915112345678");
    assert!(
        calls[0]["script"].as_str().unwrap().contains("2026-05-20"),
        "{calls}"
    );
    let id = calls[0]["id"].as_i64().unwrap().to_string();

    let out = touchpoint(&cfg)
        .args(["call-outcome", &id, "booked", "--note", "Tuesday 9:00"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("1 pending reminder(s) of the service stopped")
    );
    let sms = entities::touchpoint::Entity::find()
        .filter(entities::touchpoint::Column::DedupKey.eq("WVWZZZ1JZXW000001:service-sms:0:1"))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sms.state, "cancelled");
    assert!(sms.reason.unwrap().contains("booked"));
    let winback = entities::touchpoint::Entity::find()
        .filter(entities::touchpoint::Column::DedupKey.eq("WVWZZZ1JZXW000001:service-winback:0:1"))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        winback.state, "planned",
        "a win-back still follows if the booked visit never comes"
    );

    // Done is done; unknown tasks are invalid input.
    let out = touchpoint(&cfg)
        .args(["call-outcome", &id, "declined"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(65));
    let out = touchpoint(&cfg)
        .args(["call-outcome", "999", "declined"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(65));
    let out = touchpoint(&cfg)
        .args(["call-outcome", &id, "maybe"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));

    // The list is empty now; a wrong number on another task stops the phone.
    let out = touchpoint(&cfg).args(["calls", "--json"]).output().unwrap();
    let calls: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(calls.as_array().unwrap().len(), 0);
    let task = entities::call_task::Entity::find()
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    let mut reopened: entities::call_task::ActiveModel = task.into();
    sea_orm::ActiveModelTrait::update(
        {
            reopened.state = sea_orm::ActiveValue::Set("open".into());
            reopened
        },
        &db,
    )
    .await
    .unwrap();
    touchpoint(&cfg)
        .args(["call-outcome", &id, "wrong-number"])
        .assert()
        .success();
    let customer = entities::customer::Entity::find_by_id(customer_id)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert!(customer.opted_out_sms);
}

const VIN: &str = "WVWZZZ1JZXW000001";

/// An owner in Berlin whose car was bought on 2025-05-20 (first service due
/// 2026-05-20), and the call list after the pass of Wednesday 6 May 2026,
/// 10:00 in Berlin, that made the service call (14 days before).
fn one_service_call(tp: &Instance) -> (Config, serde_json::Value) {
    let config = tp.load_config();
    block_on(async {
        let db = tp.db().await;
        seed(&db, &[VIN], "2025-05-20").await;
        let report = pass(
            &db,
            &config,
            Utc.with_ymd_and_hms(2026, 5, 6, 8, 0, 0).unwrap(),
        )
        .await;
        assert_eq!(
            report.sent.get("call"),
            Some(&1),
            "{}: {report:?}",
            tp.backend
        );
    });
    let calls = tp.json(&["calls"]);
    assert_eq!(
        calls.as_array().unwrap().len(),
        1,
        "{}: {calls}",
        tp.backend
    );
    (config, calls)
}

fn open_calls(tp: &Instance) -> Vec<serde_json::Value> {
    tp.json(&["calls"]).as_array().unwrap().clone()
}

fn call_outcome(tp: &Instance, id: i64, outcome: &str) {
    let out = tp.run(&["call-outcome", &id.to_string(), outcome]);
    assert!(out.status.success(), "{}: {}", tp.backend, stderr(&out));
}

async fn call_task(db: &DatabaseConnection, id: i64) -> entities::call_task::Model {
    entities::call_task::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .unwrap()
}

#[test]
fn no_answer_brings_the_call_back_in_two_days_not_before() {
    for tp in instances() {
        let backend = tp.backend;
        let (_, calls) = one_service_call(&tp);
        let id = calls[0]["id"].as_i64().unwrap();
        call_outcome(&tp, id, "no-answer");

        // The call waits for the day after tomorrow (the owner's days): off the list until then.
        let today = Utc::now()
            .with_timezone(&chrono_tz::Europe::Berlin)
            .date_naive();
        let task = block_on(async { call_task(&tp.db().await, id).await });
        assert_eq!(
            (task.state.as_str(), task.outcome.as_deref(), task.due_date),
            ("open", Some("no_answer"), today + chrono::Days::new(2)),
            "{backend}"
        );
        assert_eq!(
            open_calls(&tp),
            Vec::<serde_json::Value>::new(),
            "{backend}"
        );

        // Time passing, told by moving the task's day nearer to today: a day
        // later it still waits, two days later it is back, last outcome shown.
        let move_to = |days: u64| {
            block_on(async {
                let db = tp.db().await;
                let mut task: entities::call_task::ActiveModel = call_task(&db, id).await.into();
                task.due_date = Set(today + chrono::Days::new(days));
                task.update(&db).await.unwrap();
            })
        };
        move_to(1);
        assert_eq!(open_calls(&tp).len(), 0, "{backend}: back a day early");
        move_to(0);
        let calls = open_calls(&tp);
        assert_eq!(calls.len(), 1, "{backend}: not back after two days");
        assert_eq!(
            (calls[0]["id"].as_i64(), calls[0]["last_outcome"].as_str()),
            (Some(id), Some("no_answer")),
            "{backend}"
        );
        // It can be answered again.
        call_outcome(&tp, id, "booked");
        assert_eq!(open_calls(&tp).len(), 0, "{backend}");
    }
}

/// A wrong number stops the phone for the owner: the open call task still
/// on the list goes, later calls become no task, and SMS are not sent.
#[test]
fn wrong_number_stops_later_calls_and_sms_to_the_number() {
    for tp in instances() {
        let backend = tp.backend;
        let (config, calls) = one_service_call(&tp);
        let first = calls[0]["id"].as_i64().unwrap();
        block_on(async {
            let db = tp.db().await;
            // Wednesday 3 June: no visit came, the win-back call is made too.
            let june = Utc.with_ymd_and_hms(2026, 6, 3, 8, 0, 0).unwrap();
            let report = pass(&db, &config, june).await;
            assert_eq!(report.sent.get("call"), Some(&1), "{backend}: {report:?}");
        });
        let calls = open_calls(&tp);
        assert_eq!(calls.len(), 2, "{backend}: {calls:?}");
        let winback = calls[1]["id"].as_i64().unwrap();
        call_outcome(&tp, winback, "wrong-number");
        assert_eq!(
            open_calls(&tp),
            Vec::<serde_json::Value>::new(),
            "{backend}: the other call to the number is still listed"
        );

        block_on(async {
            let db = tp.db().await;
            assert_eq!(call_task(&db, first).await.state, "cancelled", "{backend}");
            // The second service's call and SMS, each on its day.
            for (code, channel) in [("service-call", "call"), ("service-sms", "sms")] {
                let key = format!("{VIN}:{code}:0:2");
                let due = touchpoint_of(&db, &key).await.due_date;
                let report = pass(&db, &config, due.and_hms_opt(8, 0, 0).unwrap().and_utc()).await;
                assert!(
                    !report.sent.contains_key("call") && !report.sent.contains_key("sms"),
                    "{backend}: {report:?}"
                );
                let t = touchpoint_of(&db, &key).await;
                assert_eq!(
                    (t.state.as_str(), t.reason.unwrap_or_default()),
                    ("suppressed", format!("the owner opted out of {channel}")),
                    "{backend}: {key}"
                );
            }
            let tasks = entities::call_task::Entity::find().all(&db).await.unwrap();
            assert_eq!(tasks.len(), 2, "{backend}: no new call task");
        });
        assert_eq!(open_calls(&tp).len(), 0, "{backend}");
        assert!(
            !tp.dir.path().join("outbox/sms").exists(),
            "{backend}: an SMS was written"
        );
    }
}

/// Left a message and busy come back after their configured days; a call
/// back comes back on its day with the time in the note; do not call stops
/// calls alone. A time that is not one, or a day with another outcome, is
/// refused and changes nothing.
#[test]
fn each_open_outcome_comes_back_when_configured_and_do_not_call_stops_calls() {
    for tp in instances() {
        let backend = tp.backend;
        let (_, calls) = one_service_call(&tp);
        let id = calls[0]["id"].as_i64().unwrap();
        let today = Utc::now()
            .with_timezone(&chrono_tz::Europe::Berlin)
            .date_naive();
        let task = |tp: &Instance| block_on(async { call_task(&tp.db().await, id).await });

        for bad in [
            vec![
                "call-outcome",
                &id.to_string(),
                "call-back",
                "--at",
                "25:99",
            ],
            vec![
                "call-outcome",
                &id.to_string(),
                "declined",
                "--on",
                "2030-01-01",
            ],
        ] {
            let before = tp.snapshot();
            let out = tp.run(&bad.iter().map(|s| s.as_ref()).collect::<Vec<&str>>());
            assert_eq!(out.status.code(), Some(65), "{backend}: {bad:?}");
            assert_eq!(
                tp.snapshot(),
                before,
                "{backend}: {bad:?} changed something"
            );
        }

        let out = tp.run(&[
            "--set",
            "calls.left_message_days=5",
            "call-outcome",
            &id.to_string(),
            "left-message",
        ]);
        assert!(out.status.success(), "{backend}: {}", stderr(&out));
        let back = today + chrono::Days::new(5);
        assert!(
            stdout(&out).contains(&format!("back on the list on {back}")),
            "{backend}: {}",
            stdout(&out)
        );
        assert_eq!(
            (task(&tp).state.as_str(), task(&tp).due_date),
            ("open", back),
            "{backend}"
        );

        call_outcome(&tp, id, "busy");
        assert_eq!(
            task(&tp).due_date,
            today + chrono::Days::new(1),
            "{backend}: busy: tomorrow"
        );

        let day = (today + chrono::Days::new(9)).to_string();
        let out = tp.run(&[
            "call-outcome",
            &id.to_string(),
            "call-back",
            "--on",
            &day,
            "--at",
            "14:30",
            "--note",
            "after work",
        ]);
        assert!(out.status.success(), "{backend}: {}", stderr(&out));
        let t = task(&tp);
        assert_eq!(
            (t.state.as_str(), t.due_date.to_string()),
            ("open", day.clone()),
            "{backend}"
        );
        assert_eq!(
            t.note.as_deref(),
            Some(format!("call back on {day} at 14:30: after work").as_str()),
            "{backend}"
        );
        assert_eq!(t.outcome.as_deref(), Some("call_back"));

        call_outcome(&tp, id, "do-not-call");
        let t = task(&tp);
        assert_eq!(
            (t.state.as_str(), t.outcome.as_deref()),
            ("done", Some("do_not_call")),
            "{backend}"
        );
        let customer = tp.customer("C1");
        assert!(
            customer.opted_out_call && !customer.opted_out_sms,
            "{backend}: calls stop, SMS go on"
        );
    }
}
