//! Shared setup of the library-level tests: migrated databases on every
//! backend under test, and a small seeded customer base.

use chrono::{NaiveDate, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DatabaseConnection};
use touchpoint::config::Config;
use touchpoint::store::{self, entities};

pub fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A migrated database for each backend under test, with its config.
pub async fn databases(dir: &std::path::Path) -> Vec<(String, DatabaseConnection, Config)> {
    let mut out = Vec::new();
    let mut urls = vec![format!("sqlite://{}/plan.db", dir.display())];
    if let Some(base) = postgres_url() {
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
        let outbox = format!("outbox-{}", out.len());
        std::fs::write(
            &path,
            format!("[database]\nurl = \"{url}\"\n[outbox]\ndir = \"{outbox}\"\n"),
        )
        .unwrap();
        let config = Config::load(Some(&path)).unwrap();
        let db = store::connect(&config.database_url(), 2).await.unwrap();
        store::migrate(&db).await.unwrap();
        out.push((url, db, config));
    }
    out
}

/// The PostgreSQL server the tests may use (`TOUCHPOINT_TEST_POSTGRES_URL`).
/// Without one the calling test says on the terminal (past the test
/// harness's capture) that its PostgreSQL part was skipped.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("TOUCHPOINT_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        use std::io::Write;
        let test = std::thread::current()
            .name()
            .unwrap_or("a test")
            .to_string();
        let _ = writeln!(
            std::io::stderr(),
            "{test}: PostgreSQL skipped (TOUCHPOINT_TEST_POSTGRES_URL is not set)"
        );
    }
    url
}

pub fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000
}

/// One customer (Berlin, marketing consent for email only) owning a car per
/// VIN, bought on `purchase`; returns the customer's and the vehicles' ids.
pub async fn seed(db: &DatabaseConnection, vins: &[&str], purchase: &str) -> (i64, Vec<i64>) {
    seed_customer(db, "C1", "anna@example.com", vins, purchase).await
}

/// Like [`seed`], for a customer of the given id and email address.
pub async fn seed_customer(
    db: &DatabaseConnection,
    customer_id: &str,
    email: &str,
    vins: &[&str],
    purchase: &str,
) -> (i64, Vec<i64>) {
    let now = Utc::now();
    let customer = entities::customer::ActiveModel {
        customer_id: Set(customer_id.into()),
        name: Set("Anna Berg".into()),
        email: Set(Some(email.into())),
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
    let mut ids = Vec::new();
    for (i, vin) in vins.iter().enumerate() {
        let v = entities::vehicle::ActiveModel {
            vin: Set(vin.to_string()),
            customer_id: Set(customer.id),
            make: Set(["VW", "Skoda"][i % 2].into()),
            model: Set(["Golf", "Octavia"][i % 2].into()),
            model_year: Set(Some(2025)),
            purchase_date: Set(d(purchase)),
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
        .unwrap();
        ids.push(v.id);
    }
    (customer.id, ids)
}

/// Removes a PostgreSQL test schema (named in the URL's search_path).
pub async fn drop_test_schema(db: &DatabaseConnection, url: &str) {
    if let Some(schema) = url.split("search_path%3D").nth(1) {
        db.execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .unwrap();
    }
}

/// Writes `dir/touchpoint.toml` for a SQLite database `dir/t.db`, with
/// `extra` (more TOML sections) after it; returns its path.
pub fn sqlite_config(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("touchpoint.toml");
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = \"sqlite://{}/t.db\"\n{extra}",
            dir.display()
        ),
    )
    .unwrap();
    path
}

/// [`sqlite_config`] loaded, with its database migrated.
pub async fn sqlite_database(dir: &std::path::Path, extra: &str) -> (Config, DatabaseConnection) {
    let config = Config::load(Some(&sqlite_config(dir, extra))).unwrap();
    let db = store::connect(&config.database_url(), 1).await.unwrap();
    store::migrate(&db).await.unwrap();
    (config, db)
}

/// One planning and dispatch pass at `now` (what `dispatch` and each of the
/// daemon's ticks do), with the configured transports.
pub async fn pass(
    db: &DatabaseConnection,
    config: &Config,
    now: chrono::DateTime<Utc>,
) -> touchpoint::dispatch::DispatchReport {
    let catalog = touchpoint::messages::Catalog::builtin().unwrap();
    let transports = touchpoint::dispatch::Transports::from_config(config).unwrap();
    touchpoint::app::pass(db, config, &transports, &catalog, now)
        .await
        .unwrap()
        .dispatch
}

/// Imports customers and then vehicles from CSV texts at `now`, as an
/// upload of the desk does; each must load.
pub async fn load_csv(
    db: &DatabaseConnection,
    config: &Config,
    customers: &str,
    vehicles: &str,
    now: chrono::DateTime<Utc>,
) {
    for (kind, body) in [
        (touchpoint::import::Kind::Customers, customers),
        (touchpoint::import::Kind::Vehicles, vehicles),
    ] {
        touchpoint::app::import_upload(db, config, kind, "dms.csv", body.as_bytes(), false, now)
            .await
            .unwrap();
    }
}

/// The stored touchpoint of a dedup key.
pub async fn touchpoint_of(db: &DatabaseConnection, key: &str) -> entities::touchpoint::Model {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    entities::touchpoint::Entity::find()
        .filter(entities::touchpoint::Column::DedupKey.eq(key))
        .one(db)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no touchpoint {key}"))
}

/// Records a service visit of a vehicle, as an import does: the reading,
/// and a new facts version so that the next pass re-plans the vehicle.
pub async fn record_service(db: &DatabaseConnection, vehicle_id: i64, date: &str, km: i64) {
    use sea_orm::EntityTrait;
    entities::reading::ActiveModel {
        vehicle_id: Set(vehicle_id),
        date: Set(d(date)),
        odometer_km: Set(km),
        kind: Set("service".into()),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    let vehicle = entities::vehicle::Entity::find_by_id(vehicle_id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let version = vehicle.facts_version + 1;
    let mut vehicle: entities::vehicle::ActiveModel = vehicle.into();
    vehicle.facts_version = Set(version);
    vehicle.update(db).await.unwrap();
}
