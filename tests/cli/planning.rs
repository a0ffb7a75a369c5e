//! The planning pass on real databases: SQLite always, PostgreSQL when
//! TOUCHPOINT_TEST_POSTGRES_URL is set (each test in a schema of its own).

use crate::support::{d, databases, drop_test_schema, seed};
use chrono::{TimeZone, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use touchpoint::commands::planning_pass;
use touchpoint::store::{self, entities};

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

        // Nothing changed: nothing to do.
        let again = planning_pass(&db, &config, first_day).await.unwrap();
        assert_eq!(again.vehicles_planned, 0, "{url}");

        // A service visit arrives: the plan follows it and the change is recorded.
        entities::reading::ActiveModel {
            vehicle_id: Set(vehicle_id),
            date: Set(d("2026-01-15")),
            odometer_km: Set(9_000),
            kind: Set("service".into()),
            ..Default::default()
        }
        .insert(&db)
        .await
        .unwrap();
        let mut vehicle: entities::vehicle::ActiveModel =
            entities::vehicle::Entity::find_by_id(vehicle_id)
                .one(&db)
                .await
                .unwrap()
                .unwrap()
                .into();
        vehicle.facts_version = Set(2);
        vehicle.update(&db).await.unwrap();
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
