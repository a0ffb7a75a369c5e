//! The queries of `touchpoint import`: look rows up by their natural keys in
//! batches, and upsert validated rows with multi-row statements.

use super::entities::{customer, reading, vehicle};
use super::{Context, StoreError};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
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

/// How a connection was before [`begin_bulk_load`].
#[derive(Debug, Clone, Copy)]
pub struct BulkLoad {
    foreign_keys: bool,
}

/// Sets up SQLite for a bulk load: up to `mib` MiB of pages in memory (the
/// default is 2 MiB: key look-ups in a large table would read most pages
/// from the file again); statement journals in memory (each multi-row
/// upsert keeps one, otherwise a temp file written page by page); and no
/// foreign-key checks, which the import makes itself: a vehicle's owner id
/// comes from a join with `customers`, a reading's vehicle id from a lookup,
/// in the same transaction that SQLite lets no other writer into. Must run
/// before the transaction begins (SQLite fixes journals and foreign keys
/// then); [`end_bulk_load`] restores the connection. No-op elsewhere.
pub async fn begin_bulk_load<C: ConnectionTrait>(db: &C, mib: u32) -> Result<BulkLoad, StoreError> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return Ok(BulkLoad { foreign_keys: true });
    }
    let foreign_keys = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA foreign_keys",
        ))
        .await
        .context("reading the connection's settings")?
        .map(|row| row.try_get_by_index::<i32>(0))
        .transpose()
        .context("reading the connection's settings")?
        .is_some_and(|on| on != 0);
    sqlite_pragmas(
        db,
        &[
            &format!("PRAGMA cache_size = -{}", u64::from(mib) * 1024),
            "PRAGMA temp_store = MEMORY",
            "PRAGMA foreign_keys = OFF",
        ],
    )
    .await?;
    Ok(BulkLoad { foreign_keys })
}

/// Restores what [`begin_bulk_load`] changed.
pub async fn end_bulk_load<C: ConnectionTrait>(db: &C, before: BulkLoad) -> Result<(), StoreError> {
    sqlite_pragmas(
        db,
        &[
            &format!("PRAGMA cache_size = -{}", super::SQLITE_CACHE_KIB),
            "PRAGMA temp_store = DEFAULT",
            if before.foreign_keys {
                "PRAGMA foreign_keys = ON"
            } else {
                "PRAGMA foreign_keys = OFF"
            },
        ],
    )
    .await
}

async fn sqlite_pragmas<C: ConnectionTrait>(db: &C, pragmas: &[&str]) -> Result<(), StoreError> {
    if db.get_database_backend() == DbBackend::Sqlite {
        for pragma in pragmas {
            db.execute_unprepared(pragma)
                .await
                .context("setting up the connection for a bulk load")?;
        }
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

/// Inserts new customers and updates changed ones (keyed by customer id),
/// with their search terms (`stale`: the terms of the stored ones, as
/// (customer id, term), which the new ones replace). Opt-outs are never touched by an import; a file without a
/// `locale` column keeps the stored locale.
pub async fn upsert_customers<C: ConnectionTrait>(
    db: &C,
    rows: Vec<CustomerData>,
    stale: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let with_locale = rows.first().is_some_and(|r| r.locale.is_some());
    // Their search terms, as they will be stored (customer id, term).
    let mut terms: Vec<(String, String)> = rows
        .iter()
        .flat_map(|r| {
            migration::terms::customer_terms(&r.name, r.email.as_deref(), r.phone.as_deref())
                .into_iter()
                .map(|t| (r.customer_id.clone(), t))
        })
        .collect();
    // In the index's order: the inserts touch neighbouring pages.
    terms.sort_unstable_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
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
        lookup: None,
        update: &update,
        bump_facts_version: false,
    };
    upsert
        .run_all(db, rows, now, |r, v| {
            v.push(r.customer_id.into());
            v.push(r.name.into());
            v.push(r.email.into());
            v.push(r.phone.into());
            v.push(r.timezone.into());
            v.date(r.birthday);
            v.push(r.consent_email_marketing.into());
            v.push(r.consent_sms_marketing.into());
            v.push(r.locale.flatten().into());
            v.push(false.into());
            v.push(false.into());
            v.now();
        })
        .await
        .context("storing customers")?;
    replace_terms(db, stale, terms, now).await
}

/// Removes the `stale` search terms and adds `terms` (customer id, term).
async fn replace_terms<C: ConnectionTrait>(
    db: &C,
    stale: &[(String, String)],
    terms: Vec<(String, String)>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    use super::entities::customer_term;
    use sea_orm::Condition;
    let what = "storing search terms";
    for chunk in stale.chunks(500) {
        let pairs = chunk.iter().fold(Condition::any(), |any, (key, term)| {
            any.add(
                Condition::all()
                    .add(customer_term::Column::Term.eq(term.as_str()))
                    .add(customer_term::Column::CustomerKey.eq(key.as_str())),
            )
        });
        customer_term::Entity::delete_many()
            .filter(pairs)
            .exec(db)
            .await
            .context(what)?;
    }
    let upsert = Upsert {
        table: "customer_terms",
        columns: &["customer_key", "term"],
        conflict: &["term", "customer_key"],
        lookup: None,
        update: &[],
        bump_facts_version: false,
    };
    upsert
        .run(db, terms, now, |(key, term), v| {
            v.push(key.into());
            v.push(term.into());
        })
        .await
        .context(what)?;
    Ok(())
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
/// resolved in the statement: a row whose owner is not stored is not
/// written. Returns how many rows were written.
pub async fn upsert_vehicles<C: ConnectionTrait>(
    db: &C,
    rows: Vec<&VehicleData>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
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
        lookup: Some(Lookup {
            column: "customer_id",
            table: "customers",
            key: "customer_id",
            id: "id",
        }),
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
        .run(db, rows, now, |r, v| {
            v.push(r.vin.clone().into());
            v.push(r.customer_id.clone().into());
            v.push(r.make.clone().into());
            v.push(r.model.clone().into());
            v.push(r.model_year.into());
            v.date(Some(r.purchase_date));
            v.push(r.purchase_odometer_km.into());
            v.push(r.avg_monthly_km.into());
            v.push(true.into());
            v.push(1i64.into());
            v.push(0i64.into());
            v.now();
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
    rows: Vec<ReadingData>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let upsert = Upsert {
        table: "readings",
        columns: &["vehicle_id", "date", "odometer_km", "kind"],
        conflict: &["vehicle_id", "date", "kind"],
        lookup: None,
        update: &["odometer_km"],
        bump_facts_version: false,
    };
    upsert
        .run_all(db, rows, now, |r, v| {
            v.push(r.vehicle_id.into());
            v.date(Some(r.date));
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

/// A column whose value is the id of a row found by a key in another table
/// (a vehicle's owner by customer id): the rows are joined to that table,
/// so a row whose key is missing is not written (see [`Upsert::run`]).
struct Lookup<'a> {
    /// The column written: the row's value is the key, the stored one the id.
    column: &'a str,
    table: &'a str,
    key: &'a str,
    id: &'a str,
}

/// A multi-row `INSERT … ON CONFLICT (…) DO UPDATE`: the bulk path of an
/// import, without building a query tree per row.
struct Upsert<'a> {
    table: &'a str,
    columns: &'a [&'a str],
    conflict: &'a [&'a str],
    lookup: Option<Lookup<'a>>,
    update: &'a [&'a str],
    /// Also `facts_version = facts_version + 1` on update.
    bump_facts_version: bool,
}

fn quoted(name: &str) -> String {
    format!("\"{name}\"")
}

fn list<'a>(names: impl IntoIterator<Item = &'a str>, each: impl Fn(&str) -> String) -> String {
    names.into_iter().map(each).collect::<Vec<_>>().join(", ")
}

impl Upsert<'_> {
    /// `(?, ?), (?, ?)` or `($1, $2), ($3, $4)` for `rows` rows.
    fn values(&self, backend: DbBackend, rows: usize) -> String {
        let width = self.columns.len();
        let mut sql = String::with_capacity(rows * width * 5);
        for row in 0..rows {
            sql.push_str(if row == 0 { "(" } else { ", (" });
            for col in 0..width {
                if col > 0 {
                    sql.push_str(", ");
                }
                match backend {
                    DbBackend::Postgres => {
                        sql.push('$');
                        sql.push_str(&(row * width + col + 1).to_string());
                    }
                    _ => sql.push('?'),
                }
            }
            sql.push(')');
        }
        sql
    }

    fn sql(&self, backend: DbBackend, rows: usize) -> String {
        let columns = list(self.columns.iter().copied(), quoted);
        let values = self.values(backend, rows);
        let head = match &self.lookup {
            None => format!(
                "INSERT INTO {} ({columns}) VALUES {values}",
                quoted(self.table)
            ),
            // `WHERE true` keeps SQLite from reading ON CONFLICT as part of the join.
            Some(l) => format!(
                "WITH \"v\" ({columns}) AS (VALUES {values}) \
                 INSERT INTO {table} ({columns}) SELECT {select} \
                 FROM \"v\" JOIN {other} \"o\" ON \"o\".{key} = \"v\".{column} WHERE true",
                table = quoted(self.table),
                select = list(self.columns.iter().copied(), |c| if c == l.column {
                    format!("\"o\".{}", quoted(l.id))
                } else {
                    format!("\"v\".{}", quoted(c))
                }),
                other = quoted(l.table),
                key = quoted(l.key),
                column = quoted(l.column),
            ),
        };
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
        if sets.is_empty() {
            return format!(
                "{head} ON CONFLICT ({}) DO NOTHING",
                list(self.conflict.iter().copied(), quoted)
            );
        }
        format!(
            "{head} ON CONFLICT ({}) DO UPDATE SET {}",
            list(self.conflict.iter().copied(), quoted),
            sets.join(", ")
        )
    }

    /// Writes `rows` in as few statements as the bind-parameter limit
    /// allows; returns how many were written (with a lookup, rows whose key
    /// is missing are not).
    async fn run<C: ConnectionTrait, R>(
        &self,
        db: &C,
        rows: Vec<R>,
        now: DateTime<Utc>,
        mut values: impl FnMut(R, &mut Binder),
    ) -> Result<u64, DbErr> {
        let backend = db.get_database_backend();
        let per_statement = (MAX_BIND_PARAMETERS / self.columns.len().max(1)).max(1);
        let mut binder = Binder::new(backend, now);
        let mut written = 0;
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            binder.values = Vec::with_capacity(per_statement.min(rows.len()) * self.columns.len());
            let mut n = 0;
            for row in rows.by_ref().take(per_statement) {
                values(row, &mut binder);
                n += 1;
            }
            // The same text for the same number of rows: the driver reuses
            // its prepared statement.
            let sql = self.sql(backend, n);
            let bound = std::mem::take(&mut binder.values);
            written += db
                .execute_raw(Statement::from_sql_and_values(backend, sql, bound))
                .await?
                .rows_affected();
        }
        Ok(written)
    }

    /// [`Self::run`] where every row must be written.
    async fn run_all<C: ConnectionTrait, R>(
        &self,
        db: &C,
        rows: Vec<R>,
        now: DateTime<Utc>,
        values: impl FnMut(R, &mut Binder),
    ) -> Result<(), DbErr> {
        let expected = rows.len() as u64;
        let written = self.run(db, rows, now, values).await?;
        if written != expected {
            return Err(DbErr::Custom(format!(
                "{written} of {expected} rows were written to {}",
                self.table
            )));
        }
        Ok(())
    }
}

/// Collects the parameters of a statement. SQLite stores dates and times as
/// text: they are written here once rather than formatted by the driver for
/// every row (the same text the driver would write).
struct Binder {
    sqlite: bool,
    now: Value,
    values: Vec<Value>,
}

impl Binder {
    fn new(backend: DbBackend, now: DateTime<Utc>) -> Self {
        let sqlite = backend == DbBackend::Sqlite;
        Self {
            sqlite,
            now: if sqlite {
                now.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
                    .into()
            } else {
                now.into()
            },
            values: Vec::new(),
        }
    }

    fn push(&mut self, value: Value) {
        self.values.push(value);
    }

    fn now(&mut self) {
        self.values.push(self.now.clone());
    }

    fn date(&mut self, date: Option<NaiveDate>) {
        self.values.push(match date {
            Some(d) if self.sqlite && (0..=9999).contains(&d.year()) => {
                format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()).into()
            }
            other => other.into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const READINGS: Upsert<'static> = Upsert {
        table: "readings",
        columns: &["vehicle_id", "date", "odometer_km", "kind"],
        conflict: &["vehicle_id", "date", "kind"],
        lookup: None,
        update: &["odometer_km"],
        bump_facts_version: false,
    };

    #[test]
    fn placeholders_follow_the_backend() {
        assert_eq!(
            READINGS.sql(DbBackend::Sqlite, 2),
            "INSERT INTO \"readings\" (\"vehicle_id\", \"date\", \"odometer_km\", \"kind\") \
             VALUES (?, ?, ?, ?), (?, ?, ?, ?) ON CONFLICT (\"vehicle_id\", \"date\", \"kind\") \
             DO UPDATE SET \"odometer_km\" = \"excluded\".\"odometer_km\""
        );
        assert!(
            READINGS
                .sql(DbBackend::Postgres, 2)
                .contains("VALUES ($1, $2, $3, $4), ($5, $6, $7, $8) ON CONFLICT")
        );
    }

    #[test]
    fn a_lookup_joins_the_rows_to_their_owners_and_bumps_the_facts() {
        let vehicles = Upsert {
            table: "vehicles",
            columns: &["vin", "customer_id"],
            conflict: &["vin"],
            lookup: Some(Lookup {
                column: "customer_id",
                table: "customers",
                key: "customer_id",
                id: "id",
            }),
            update: &["customer_id"],
            bump_facts_version: true,
        };
        assert_eq!(
            vehicles.sql(DbBackend::Sqlite, 1),
            "WITH \"v\" (\"vin\", \"customer_id\") AS (VALUES (?, ?)) \
             INSERT INTO \"vehicles\" (\"vin\", \"customer_id\") SELECT \"v\".\"vin\", \"o\".\"id\" \
             FROM \"v\" JOIN \"customers\" \"o\" ON \"o\".\"customer_id\" = \"v\".\"customer_id\" WHERE true \
             ON CONFLICT (\"vin\") DO UPDATE SET \"customer_id\" = \"excluded\".\"customer_id\", \
             \"facts_version\" = \"vehicles\".\"facts_version\" + 1"
        );
    }

    #[test]
    fn sqlite_dates_are_the_drivers_text() {
        let day = NaiveDate::from_ymd_opt(2024, 3, 5).unwrap();
        let mut b = Binder::new(DbBackend::Sqlite, Utc::now());
        b.date(Some(day));
        b.date(None);
        assert_eq!(b.values[0], Value::from(day.format("%F").to_string()));
        assert_eq!(b.values[1], Value::from(Option::<NaiveDate>::None));
        let mut b = Binder::new(DbBackend::Postgres, Utc::now());
        b.date(Some(day));
        assert_eq!(b.values[0], Value::from(day));
    }
}
