//! The queries of `touchpoint import`: look rows up by their natural keys in
//! batches, and upsert validated rows with multi-row statements.

use super::entities::{customer, reading, vehicle};
use super::{Context, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, Iterable, PaginatorTrait, QueryFilter, QuerySelect,
};

/// The most bind parameters one statement may carry (SQLite's limit; PostgreSQL allows more).
pub const MAX_BIND_PARAMETERS: usize = 32_766;

/// Rows of an entity that fit in one statement, at most `wanted`.
pub fn rows_per_statement<E: EntityTrait>(wanted: usize) -> usize {
    let columns = E::Column::iter().count().max(1);
    wanted.clamp(1, MAX_BIND_PARAMETERS / columns)
}

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

/// A vehicle as an import file describes it, its owner resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct VehicleData {
    pub vin: String,
    pub customer_id: i64,
    pub make: String,
    pub model: String,
    pub model_year: Option<i32>,
    pub purchase_date: NaiveDate,
    pub purchase_odometer_km: i64,
    pub avg_monthly_km: Option<f64>,
}

impl VehicleData {
    pub fn differs_from(&self, stored: &vehicle::Model) -> bool {
        self.customer_id != stored.customer_id
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

/// Inserts new customers and updates changed ones (keyed by customer id).
/// Opt-outs are never touched by an import; a file without a `locale`
/// column keeps the stored locale.
pub async fn upsert_customers<C: ConnectionTrait>(
    db: &C,
    rows: &[&CustomerData],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    use customer::Column as C;
    let per_statement = rows_per_statement::<customer::Entity>(usize::MAX);
    for chunk in rows.chunks(per_statement) {
        let with_locale = chunk.first().is_some_and(|r| r.locale.is_some());
        let models = chunk.iter().map(|r| customer::ActiveModel {
            id: NotSet,
            customer_id: Set(r.customer_id.clone()),
            name: Set(r.name.clone()),
            email: Set(r.email.clone()),
            phone: Set(r.phone.clone()),
            timezone: Set(r.timezone.clone()),
            birthday: Set(r.birthday),
            consent_email_marketing: Set(r.consent_email_marketing),
            consent_sms_marketing: Set(r.consent_sms_marketing),
            locale: Set(r.locale.clone().flatten()),
            opted_out_email: Set(false),
            opted_out_sms: Set(false),
            updated_at: Set(now),
        });
        let mut update = vec![
            C::Name,
            C::Email,
            C::Phone,
            C::Timezone,
            C::Birthday,
            C::ConsentEmailMarketing,
            C::ConsentSmsMarketing,
            C::UpdatedAt,
        ];
        if with_locale {
            update.push(C::Locale);
        }
        customer::Entity::insert_many(models)
            .on_conflict(
                OnConflict::column(C::CustomerId)
                    .update_columns(update)
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await
            .context("storing customers")?;
    }
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
/// vehicle's facts version goes up, so the planner re-plans it.
pub async fn upsert_vehicles<C: ConnectionTrait>(
    db: &C,
    rows: &[VehicleData],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    use vehicle::Column as V;
    let per_statement = rows_per_statement::<vehicle::Entity>(usize::MAX);
    for chunk in rows.chunks(per_statement) {
        let models = chunk.iter().map(|r| vehicle::ActiveModel {
            id: NotSet,
            vin: Set(r.vin.clone()),
            customer_id: Set(r.customer_id),
            make: Set(r.make.clone()),
            model: Set(r.model.clone()),
            model_year: Set(r.model_year),
            purchase_date: Set(r.purchase_date),
            purchase_odometer_km: Set(r.purchase_odometer_km),
            avg_monthly_km: Set(r.avg_monthly_km),
            active: Set(true),
            facts_version: Set(1),
            planned_version: Set(0),
            updated_at: Set(now),
        });
        vehicle::Entity::insert_many(models)
            .on_conflict(
                OnConflict::column(V::Vin)
                    .update_columns([
                        V::CustomerId,
                        V::Make,
                        V::Model,
                        V::ModelYear,
                        V::PurchaseDate,
                        V::PurchaseOdometerKm,
                        V::AvgMonthlyKm,
                        V::UpdatedAt,
                    ])
                    .value(
                        V::FactsVersion,
                        Expr::col((vehicle::Entity, V::FactsVersion)).add(1),
                    )
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await
            .context("storing vehicles")?;
    }
    Ok(())
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
    use reading::Column as R;
    let per_statement = rows_per_statement::<reading::Entity>(usize::MAX);
    for chunk in rows.chunks(per_statement) {
        let models = chunk.iter().map(|r| reading::ActiveModel {
            id: NotSet,
            vehicle_id: Set(r.vehicle_id),
            date: Set(r.date),
            odometer_km: Set(r.odometer_km),
            kind: Set(r.kind.to_string()),
        });
        reading::Entity::insert_many(models)
            .on_conflict(
                OnConflict::columns([R::VehicleId, R::Date, R::Kind])
                    .update_column(R::OdometerKm)
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await
            .context("storing readings")?;
    }
    Ok(())
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
