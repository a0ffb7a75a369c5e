//! The planning pass on real databases: SQLite always, PostgreSQL when
//! TOUCHPOINT_TEST_POSTGRES_URL is set (each test in a schema of its own).

use chrono::{NaiveDate, TimeZone, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait,
};
use touchpoint::commands::planning_pass;
use touchpoint::config::Config;
use touchpoint::store::{self, entities};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A migrated database for each backend under test, with its config.
async fn databases(dir: &std::path::Path) -> Vec<(String, DatabaseConnection, Config)> {
    let mut out = Vec::new();
    let mut urls = vec![format!("sqlite://{}/plan.db", dir.display())];
    if let Ok(base) = std::env::var("TOUCHPOINT_TEST_POSTGRES_URL") {
        let admin = store::connect(&base, 1).await.unwrap();
        let schema = format!("t_{}", std::process::id()) + &format!("_{}", rand_suffix());
        admin
            .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
            .await
            .unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        urls.push(format!("{base}{sep}options=-c%20search_path%3D{schema}"));
    }
    for url in urls {
        let path = dir.join(format!("tp-{}.toml", out.len()));
        std::fs::write(&path, format!("[database]\nurl = \"{url}\"\n")).unwrap();
        let config = Config::load(Some(&path)).unwrap();
        let db = store::connect(&config.database_url(), 2).await.unwrap();
        store::migrate(&db).await.unwrap();
        out.push((url, db, config));
    }
    out
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000
}

async fn seed(db: &DatabaseConnection) -> i64 {
    let now = Utc::now();
    let customer = entities::customer::ActiveModel {
        customer_id: Set("C1".into()),
        name: Set("Anna Berg".into()),
        email: Set(Some("anna@example.com".into())),
        phone: Set(Some("+4915112345678".into())),
        timezone: Set("Europe/Berlin".into()),
        birthday: Set(Some(d("1980-07-04"))),
        consent_email_marketing: Set(true),
        consent_sms_marketing: Set(false),
        locale: Set(None),
        opted_out_email: Set(false),
        opted_out_sms: Set(false),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    entities::vehicle::ActiveModel {
        vin: Set("WVWZZZ1JZXW000001".into()),
        customer_id: Set(customer.id),
        make: Set("VW".into()),
        model: Set("Golf".into()),
        model_year: Set(Some(2025)),
        purchase_date: Set(d("2025-05-20")),
        purchase_odometer_km: Set(0),
        avg_monthly_km: Set(None),
        active: Set(true),
        facts_version: Set(1),
        planned_version: Set(0),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap()
    .id
}

#[tokio::test]
async fn planning_pass_stores_36_replans_on_new_facts_and_records_the_change() {
    let dir = tempfile::tempdir().unwrap();
    for (url, db, config) in databases(dir.path()).await {
        let vehicle_id = seed(&db).await;
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

/// Removes a PostgreSQL test schema (named in the URL's search_path).
async fn drop_test_schema(db: &DatabaseConnection, url: &str) {
    if let Some(schema) = url.split("search_path%3D").nth(1) {
        db.execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .unwrap();
    }
}
