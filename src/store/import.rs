//! The queries of `touchpoint import`: look rows up by their natural keys in
//! batches, and upsert validated rows with multi-row statements.

use super::entities::{customer, reading, vehicle};
use super::{Context, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, Iterable, PaginatorTrait,
    PrimaryKeyToColumn, QueryFilter, QuerySelect, Statement, Value,
};

/// The most bind parameters one statement may carry (SQLite's limit; PostgreSQL allows more).
pub const MAX_BIND_PARAMETERS: usize = 32_766;

/// Keys per `IN (…)` lookup, at most `wanted`.
pub fn keys_per_lookup(wanted: usize) -> usize {
    wanted.clamp(1, MAX_BIND_PARAMETERS)
}

/// A customer as an import file describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerData {
    pub customer_id: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub timezone: String,
    pub birthday: Option<NaiveDate>,
    pub consent_email_marketing: bool,
    pub consent_sms_marketing: bool,
    /// `None` when the file has no `locale` column: the stored one is kept.
    pub locale: Option<Option<String>>,
}

impl CustomerData {
    /// Whether storing this would change `stored` (opt-outs are never imported).
    pub fn differs_from(&self, stored: &customer::Model) -> bool {
        self.name != stored.name
            || self.email != stored.email
            || self.phone != stored.phone
            || self.timezone != stored.timezone
            || self.birthday != stored.birthday
            || self.consent_email_marketing != stored.consent_email_marketing
            || self.consent_sms_marketing != stored.consent_sms_marketing
            || self.locale.as_ref().is_some_and(|l| *l != stored.locale)
    }

    /// Whether the change touches what the plans of the customer's vehicles depend on.
    pub fn changes_plan_facts(&self, stored: &customer::Model) -> bool {
        self.birthday != stored.birthday || self.timezone != stored.timezone
    }
}

/// A vehicle as an import file describes it; its owner by customer id.
#[derive(Debug, Clone, PartialEq)]
pub struct VehicleData {
    pub vin: String,
    pub customer_id: String,
    pub make: String,
    pub model: String,
    pub model_year: Option<i32>,
    pub purchase_date: NaiveDate,
    pub purchase_odometer_km: i64,
    pub avg_monthly_km: Option<f64>,
}

impl VehicleData {
    /// Whether storing this would change `stored`, whose owner is `owner_id`
    /// when this row's owner is.
    pub fn differs_from(&self, stored: &vehicle::Model, owner_id: i64) -> bool {
        owner_id != stored.customer_id
            || self.make != stored.make
            || self.model != stored.model
            || self.model_year != stored.model_year
            || self.purchase_date != stored.purchase_date
            || self.purchase_odometer_km != stored.purchase_odometer_km
            || !same_rate(self.avg_monthly_km, stored.avg_monthly_km)
    }
}

fn same_rate(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(1.0),
        _ => false,
    }
}

/// One odometer reading to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadingData {
    pub vehicle_id: i64,
    pub date: NaiveDate,
    pub odometer_km: i64,
    pub kind: &'static str,
}

/// The stored customers among `keys` (customer ids).
pub async fn customers_by_key<C: ConnectionTrait>(
    db: &C,
    keys: &[&str],
) -> Result<Vec<customer::Model>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    customer::Entity::find()
        .filter(customer::Column::CustomerId.is_in(keys.iter().copied()))
        .all(db)
        .await
        .context("looking up customers")
}

/// `(customer_id, id)` of the stored customers among `keys`.
pub async fn customer_ids_by_key<C: ConnectionTrait>(
    db: &C,
    keys: &[&str],
) -> Result<Vec<(String, i64)>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    customer::Entity::find()
        .select_only()
        .column(customer::Column::CustomerId)
        .column(customer::Column::Id)
        .filter(customer::Column::CustomerId.is_in(keys.iter().copied()))
        .into_tuple()
        .all(db)
        .await
        .context("looking up the owners")
}

/// Lets SQLite keep up to `mib` MiB of pages of this connection in memory
/// (the default is 2 MiB): key look-ups in a large table otherwise read
/// most pages from the file again. No-op elsewhere.
pub async fn set_page_cache<C: ConnectionTrait>(db: &C, mib: u32) -> Result<(), StoreError> {
    if db.get_database_backend() == DbBackend::Sqlite {
        db.execute_unprepared(&format!("PRAGMA cache_size = -{}", u64::from(mib) * 1024))
            .await
            .context("sizing the page cache")?;
    }
    Ok(())
}

/// How many of `keys` (distinct customer ids) are stored customers.
pub async fn count_customers<C: ConnectionTrait>(db: &C, keys: &[&str]) -> Result<u64, StoreError> {
    if keys.is_empty() {
        return Ok(0);
    }
    customer::Entity::find()
        .filter(customer::Column::CustomerId.is_in(keys.iter().copied()))
        .count(db)
        .await
        .context("counting the owners")
}

/// Inserts new customers and updates changed ones (keyed by customer id).
/// Opt-outs are never touched by an import; a file without a `locale`
/// column keeps the stored locale.
pub async fn upsert_customers<C: ConnectionTrait>(
    db: &C,
    rows: &[&CustomerData],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let with_locale = rows.first().is_some_and(|r| r.locale.is_some());
    let mut update = vec![
        "name",
        "email",
        "phone",
        "timezone",
        "birthday",
        "consent_email_marketing",
        "consent_sms_marketing",
        "updated_at",
    ];
    if with_locale {
        update.push("locale");
    }
    let upsert = Upsert {
        table: "customers",
        columns: &[
            "customer_id",
            "name",
            "email",
            "phone",
            "timezone",
            "birthday",
            "consent_email_marketing",
            "consent_sms_marketing",
            "locale",
            "opted_out_email",
            "opted_out_sms",
            "updated_at",
        ],
        conflict: &["customer_id"],
        lookups: &[],
        update: &update,
        bump_facts_version: false,
    };
    upsert
        .run(db, rows, |r, v| {
            v.push(r.customer_id.clone().into());
            v.push(r.name.clone().into());
            v.push(r.email.clone().into());
            v.push(r.phone.clone().into());
            v.push(r.timezone.clone().into());
            v.push(r.birthday.into());
            v.push(r.consent_email_marketing.into());
            v.push(r.consent_sms_marketing.into());
            v.push(r.locale.clone().flatten().into());
            v.push(false.into());
            v.push(false.into());
            v.push(now.into());
        })
        .await
        .context("storing customers")
}

/// Marks the vehicles of these owners as having new facts; returns how many.
pub async fn bump_vehicles_of_owners<C: ConnectionTrait>(
    db: &C,
    owner_ids: &[i64],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut bumped = 0;
    for chunk in owner_ids.chunks(keys_per_lookup(usize::MAX)) {
        bumped += vehicle::Entity::update_many()
            .col_expr(
                vehicle::Column::FactsVersion,
                Expr::col(vehicle::Column::FactsVersion).add(1),
            )
            .col_expr(vehicle::Column::UpdatedAt, Expr::value(now))
            .filter(vehicle::Column::CustomerId.is_in(chunk.iter().copied()))
            .exec(db)
            .await
            .context("marking the owners' vehicles for re-planning")?
            .rows_affected;
    }
    Ok(bumped)
}

/// How many vehicles these owners have.
pub async fn count_vehicles_of_owners<C: ConnectionTrait>(
    db: &C,
    owner_ids: &[i64],
) -> Result<u64, StoreError> {
    let mut count = 0;
    for chunk in owner_ids.chunks(keys_per_lookup(usize::MAX)) {
        count += vehicle::Entity::find()
            .filter(vehicle::Column::CustomerId.is_in(chunk.iter().copied()))
            .count(db)
            .await
            .context("counting the owners' vehicles")?;
    }
    Ok(count)
}

/// The stored vehicles among `vins`.
pub async fn vehicles_by_vin<C: ConnectionTrait>(
    db: &C,
    vins: &[&str],
) -> Result<Vec<vehicle::Model>, StoreError> {
    if vins.is_empty() {
        return Ok(Vec::new());
    }
    vehicle::Entity::find()
        .filter(vehicle::Column::Vin.is_in(vins.iter().copied()))
        .all(db)
        .await
        .context("looking up vehicles")
}

/// Inserts new vehicles and updates changed ones (keyed by VIN). An updated
/// vehicle's facts version goes up, so the planner re-plans it. The owner is
/// resolved in the statement; every owner must be stored.
pub async fn upsert_vehicles<C: ConnectionTrait>(
    db: &C,
    rows: &[&VehicleData],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let upsert = Upsert {
        table: "vehicles",
        columns: &[
            "vin",
            "customer_id",
            "make",
            "model",
            "model_year",
            "purchase_date",
            "purchase_odometer_km",
            "avg_monthly_km",
            "active",
            "facts_version",
            "planned_version",
            "updated_at",
        ],
        conflict: &["vin"],
        lookups: &[(
            "customer_id",
            "(SELECT \"id\" FROM \"customers\" WHERE \"customer_id\" = {})",
        )],
        update: &[
            "customer_id",
            "make",
            "model",
            "model_year",
            "purchase_date",
            "purchase_odometer_km",
            "avg_monthly_km",
            "updated_at",
        ],
        bump_facts_version: true,
    };
    upsert
        .run(db, rows, |r, v| {
            v.push(r.vin.clone().into());
            v.push(r.customer_id.clone().into());
            v.push(r.make.clone().into());
            v.push(r.model.clone().into());
            v.push(r.model_year.into());
            v.push(r.purchase_date.into());
            v.push(r.purchase_odometer_km.into());
            v.push(r.avg_monthly_km.into());
            v.push(true.into());
            v.push(1i64.into());
            v.push(0i64.into());
            v.push(now.into());
        })
        .await
        .context("storing vehicles")
}

/// The stored readings of these vehicles.
pub async fn readings_of<C: ConnectionTrait>(
    db: &C,
    vehicle_ids: &[i64],
) -> Result<Vec<reading::Model>, StoreError> {
    if vehicle_ids.is_empty() {
        return Ok(Vec::new());
    }
    reading::Entity::find()
        .filter(reading::Column::VehicleId.is_in(vehicle_ids.iter().copied()))
        .all(db)
        .await
        .context("loading the readings")
}

/// Inserts new readings and updates changed ones (keyed by vehicle, date and kind).
pub async fn upsert_readings<C: ConnectionTrait>(
    db: &C,
    rows: &[ReadingData],
) -> Result<(), StoreError> {
    let upsert = Upsert {
        table: "readings",
        columns: &["vehicle_id", "date", "odometer_km", "kind"],
        conflict: &["vehicle_id", "date", "kind"],
        lookups: &[],
        update: &["odometer_km"],
        bump_facts_version: false,
    };
    upsert
        .run(db, rows, |r, v| {
            v.push(r.vehicle_id.into());
            v.push(r.date.into());
            v.push(r.odometer_km.into());
            v.push(r.kind.into());
        })
        .await
        .context("storing readings")
}

/// Marks vehicles as having new facts, so the planner re-plans them.
pub async fn bump_vehicles<C: ConnectionTrait>(
    db: &C,
    vehicle_ids: &[i64],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut bumped = 0;
    for chunk in vehicle_ids.chunks(keys_per_lookup(usize::MAX)) {
        bumped += vehicle::Entity::update_many()
            .col_expr(
                vehicle::Column::FactsVersion,
                Expr::col(vehicle::Column::FactsVersion).add(1),
            )
            .col_expr(vehicle::Column::UpdatedAt, Expr::value(now))
            .filter(vehicle::Column::Id.is_in(chunk.iter().copied()))
            .exec(db)
            .await
            .context("marking vehicles for re-planning")?
            .rows_affected;
    }
    Ok(bumped)
}

/// Whether no customer is stored yet (a first load needs no look-ups).
pub async fn no_customers<C: ConnectionTrait>(db: &C) -> Result<bool, StoreError> {
    is_empty::<customer::Entity, C>(db).await
}

/// Whether no vehicle is stored yet.
pub async fn no_vehicles<C: ConnectionTrait>(db: &C) -> Result<bool, StoreError> {
    is_empty::<vehicle::Entity, C>(db).await
}

/// Whether no reading is stored yet.
pub async fn no_readings<C: ConnectionTrait>(db: &C) -> Result<bool, StoreError> {
    is_empty::<reading::Entity, C>(db).await
}

async fn is_empty<E: EntityTrait, C: ConnectionTrait>(db: &C) -> Result<bool, StoreError> {
    let pk = E::PrimaryKey::iter()
        .next()
        .map(|k| k.into_column())
        .ok_or_else(|| StoreError {
            context: "checking for rows".into(),
            source: sea_orm::DbErr::Custom("the table has no primary key".into()),
        })?;
    let any = E::find()
        .select_only()
        .column(pk)
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await
        .context("checking for rows")?;
    Ok(any.is_none())
}

/// A multi-row `INSERT … ON CONFLICT (…) DO UPDATE` written once per batch
/// size: the bulk path of an import, without building a query tree per row.
struct Upsert<'a> {
    table: &'a str,
    columns: &'a [&'a str],
    conflict: &'a [&'a str],
    /// Columns whose value is found by a sub-query: `{}` is the parameter.
    lookups: &'a [(&'a str, &'a str)],
    update: &'a [&'a str],
    /// Also `facts_version = facts_version + 1` on update.
    bump_facts_version: bool,
}

impl Upsert<'_> {
    fn sql(&self, backend: DbBackend, rows: usize) -> String {
        let quoted = |c: &str| format!("\"{c}\"");
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES ",
            quoted(self.table),
            self.columns
                .iter()
                .map(|c| quoted(c))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut n = 0;
        for row in 0..rows {
            sql.push_str(if row == 0 { "(" } else { ", (" });
            for (i, column) in self.columns.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                n += 1;
                let parameter = match backend {
                    DbBackend::Postgres => format!("${n}"),
                    _ => "?".to_string(),
                };
                match self.lookups.iter().find(|(c, _)| c == column) {
                    Some((_, template)) => sql.push_str(&template.replace("{}", &parameter)),
                    None => sql.push_str(&parameter),
                }
            }
            sql.push(')');
        }
        let mut sets: Vec<String> = self
            .update
            .iter()
            .map(|c| format!("{} = \"excluded\".{}", quoted(c), quoted(c)))
            .collect();
        if self.bump_facts_version {
            sets.push(format!(
                "\"facts_version\" = {}.\"facts_version\" + 1",
                quoted(self.table)
            ));
        }
        sql.push_str(&format!(
            " ON CONFLICT ({}) DO UPDATE SET {}",
            self.conflict
                .iter()
                .map(|c| quoted(c))
                .collect::<Vec<_>>()
                .join(", "),
            sets.join(", ")
        ));
        sql
    }

    /// Writes `rows` in as few statements as the bind-parameter limit allows.
    async fn run<C: ConnectionTrait, R>(
        &self,
        db: &C,
        rows: &[R],
        values: impl Fn(&R, &mut Vec<Value>),
    ) -> Result<(), DbErr> {
        let backend = db.get_database_backend();
        let per_statement = (MAX_BIND_PARAMETERS / self.columns.len().max(1)).max(1);
        for chunk in rows.chunks(per_statement) {
            // The same text for the same number of rows: the driver reuses
            // its prepared statement.
            let sql = self.sql(backend, chunk.len());
            let mut bound = Vec::with_capacity(chunk.len() * self.columns.len());
            for row in chunk {
                values(row, &mut bound);
            }
            db.execute_raw(Statement::from_sql_and_values(backend, sql, bound))
                .await?;
        }
        Ok(())
    }
}
