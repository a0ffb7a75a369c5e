//! The call list and call outcomes through the binary.

use crate::support::seed;
use assert_cmd::Command;
use chrono::{TimeZone, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use touchpoint::commands::planning_pass;
use touchpoint::config::Config;
use touchpoint::dispatch::{Dispatcher, Transports};
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
