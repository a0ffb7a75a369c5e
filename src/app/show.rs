//! The read-only answers: a vehicle's next service, its plan, and the queue.

use super::Failure;
use super::facts::{owner_tz, today_in, vehicle_facts};
use crate::config::Config;
use crate::plan::{self, replan};
use crate::predict::{self, DecidedBy, RateSource};
use crate::store::{self, VehicleRecord};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// The stored vehicle of `vin` (written in any case), or bad input.
async fn find(db: &DatabaseConnection, vin: &str) -> Result<VehicleRecord, Failure> {
    let vin = crate::domain::Vin::parse(vin)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| vin.trim().to_string());
    match store::vehicle_by_vin(db, &vin).await? {
        Some(r) => Ok(r),
        None => Err(Failure::NotFound(format!("no vehicle with VIN {vin}"))),
    }
}

#[derive(Debug, Serialize)]
pub struct NextService {
    pub vin: String,
    pub due_date: NaiveDate,
    pub decided_by: DecidedBy,
    pub due_odometer_km: i64,
    pub avg_monthly_km: f64,
    pub rate_source: RateSource,
    pub last_service_date: Option<NaiveDate>,
    pub service_number: u32,
    pub km_due_date: Option<NaiveDate>,
    pub time_due_date: NaiveDate,
    pub uncertainty_days: f64,
    pub as_of: NaiveDate,
}

#[derive(Debug, Serialize)]
pub struct PlanTouchpoint {
    pub code: String,
    pub channel: &'static str,
    pub category: &'static str,
    pub due_date: NaiveDate,
    pub state: String,
    pub reason: Option<String>,
    pub key: String,
    pub occurrence: u32,
    pub priority: i32,
}

#[derive(Debug, Serialize)]
pub struct Displaced {
    pub code: String,
    pub due_date: NaiveDate,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct Change {
    pub at: String,
    pub cycle: i32,
    pub summary: String,
}

#[derive(Debug, Serialize)]
pub struct PlanAnswer {
    pub vin: String,
    pub cycle: u32,
    pub cycle_start: NaiveDate,
    pub cycle_end: NaiveDate,
    pub touchpoints: Vec<PlanTouchpoint>,
    pub displaced: Vec<Displaced>,
    pub changes: Vec<Change>,
    pub as_of: NaiveDate,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueueItem {
    pub due_date: NaiveDate,
    pub key: String,
    pub vin: String,
    pub customer_id: String,
    pub name: String,
    pub recipient: Option<String>,
    pub channel: String,
    pub code: String,
    pub category: String,
    pub priority: i32,
    /// planned, or on_hold (held by an administrator: not sent until released)
    pub state: String,
    pub reason: Option<String>,
    /// The message as it would go out alone today (queue pages only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<crate::dispatch::Preview>,
    /// Why the message cannot be rendered (it would fail when due).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview_error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct QueueAnswer {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub channels: BTreeMap<String, Vec<QueueItem>>,
}

/// The prediction for the vehicle `vin` as of `as_of` (default: the owner's
/// today at `now`).
pub async fn next_service(
    db: &DatabaseConnection,
    config: &Config,
    vin: &str,
    as_of: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<NextService, Failure> {
    let record = find(db, vin).await?;
    let as_of = as_of.unwrap_or_else(|| today_in(owner_tz(&record, config), now));
    let params = config.settings.plan_params();
    let vf = vehicle_facts(&record, config);
    let p = predict::predict(&vf.facts, &params.predict, as_of);
    let answer = NextService {
        vin: record.vehicle.vin.clone(),
        due_date: p.due_date,
        decided_by: p.decided_by,
        due_odometer_km: p.due_odometer_km,
        avg_monthly_km: (p.rate.km_per_month * 10.0).round() / 10.0,
        rate_source: p.rate.source,
        last_service_date: p.last_service_date,
        service_number: p.service_number,
        km_due_date: p.km_due_date,
        time_due_date: p.time_due_date,
        uncertainty_days: (p.uncertainty_days * 10.0).round() / 10.0,
        as_of,
    };
    Ok(answer)
}

/// The vehicle's current cycle as of `as_of` (default: the owner's today at
/// `now`): today's answer shows what dispatch did, a historic one the plan
/// alone.
pub async fn vehicle_plan(
    db: &DatabaseConnection,
    config: &Config,
    vin: &str,
    as_of: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<PlanAnswer, Failure> {
    let record = find(db, vin).await?;
    let historic = as_of.is_some();
    let as_of = as_of.unwrap_or_else(|| today_in(owner_tz(&record, config), now));
    let template = config.plan_template()?;
    let params = config.settings.plan_params();
    let vf = vehicle_facts(&record, config);
    let cycle = plan::cycle_of(record.vehicle.purchase_date, as_of, params.cycle_months);
    let built = plan::build(&template, &vf, &params, cycle, as_of);
    let vin = record.vehicle.vin.clone();

    // Today's answer shows what dispatch has done; a historic one is the plan alone.
    let stored: HashMap<String, store::StoredTouchpoint> = if historic {
        HashMap::new()
    } else {
        store::stored_plan(db, record.vehicle.id, cycle)
            .await?
            .into_iter()
            .map(|t| (t.dedup_key.clone(), t))
            .collect()
    };
    let touchpoints = built
        .touchpoints
        .iter()
        .map(|t| {
            let key = t.dedup_key(&vin, cycle);
            let mut row = PlanTouchpoint {
                code: t.code().to_string(),
                channel: t.channel().as_str(),
                category: t.category().as_str(),
                due_date: t.date,
                state: t.state.as_str().to_string(),
                reason: t.reason.map(|r| r.to_string()),
                key: key.clone(),
                occurrence: t.occurrence,
                priority: t.entry.priority,
            };
            if let Some(s) = stored.get(&key) {
                let view = replan::Stored {
                    key: &s.dedup_key,
                    due_date: s.due_date,
                    state: &s.state,
                    reason: s.reason.as_deref(),
                    awaits_visit: s.awaits_visit,
                };
                if !replan::replannable(&view) {
                    row.state = s.state.clone();
                    row.reason = s.reason.clone();
                    row.due_date = s.due_date;
                }
            }
            row
        })
        .collect();
    let displaced = built
        .displaced
        .iter()
        .map(|t| Displaced {
            code: t.code().to_string(),
            due_date: t.date,
            reason: t.reason.map(|r| r.to_string()).unwrap_or_default(),
        })
        .collect();
    let changes = if historic {
        Vec::new()
    } else {
        store::plan_changes(db, record.vehicle.id)
            .await?
            .into_iter()
            .map(|c| Change {
                at: c.at.to_rfc3339(),
                cycle: c.cycle,
                summary: c.summary,
            })
            .collect()
    };
    let answer = PlanAnswer {
        vin,
        cycle,
        cycle_start: built.cycle_start,
        cycle_end: built.cycle_end,
        touchpoints,
        displaced,
        changes,
        as_of,
    };
    Ok(answer)
}

/// What is due from the grace window behind `as_of` (default: today in the
/// dealer's zone at `now`) through the next `days` days, per channel.
pub async fn queue(
    db: &DatabaseConnection,
    config: &Config,
    days: u32,
    as_of: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<QueueAnswer, Failure> {
    let today = as_of.unwrap_or_else(|| today_in(config.default_timezone(), now));
    // Still sendable: within the grace window behind today.
    let from = predict::add_days(today, -config.settings.plan.grace_days);
    let to = predict::add_days(today, i64::from(days) - 1);
    let rows = store::due_between(db, from, to).await?;
    let mut channels: BTreeMap<String, Vec<QueueItem>> = BTreeMap::new();
    for item in queue_items(db, rows, None).await? {
        channels.entry(item.channel.clone()).or_default().push(item);
    }
    let answer = QueueAnswer { from, to, channels };
    Ok(answer)
}

/// Which queue items to show; none: all.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub channel: Option<String>,
    pub category: Option<String>,
    pub state: Option<String>,
}

/// The queue of the next `days` days as one list, oldest first (then by
/// key), filtered and cut into pages, each item with its message's preview
/// in `catalog`'s texts.
pub async fn queue_page(
    db: &DatabaseConnection,
    config: &Config,
    catalog: &crate::messages::Catalog,
    days: u32,
    filter: &QueueFilter,
    request: &super::page::PageRequest,
    now: DateTime<Utc>,
) -> Result<super::page::Page<QueueItem>, Failure> {
    if !(1..=366).contains(&days) {
        return Err(Failure::Data(format!(
            "days: {days} is not between 1 and 366"
        )));
    }
    let today = today_in(config.default_timezone(), now);
    let from = predict::add_days(today, -config.settings.plan.grace_days);
    let to = predict::add_days(today, i64::from(days) - 1);
    // The cursor is "DUE_DATE|KEY" of the page's last item.
    let after =
        match request.after.as_deref() {
            None => None,
            Some(a) => {
                let parsed = a
                    .split_once('|')
                    .and_then(|(d, k)| crate::domain::parse_date(d).ok().map(|d| (d, k)));
                Some(parsed.ok_or_else(|| {
                    Failure::Data("cursor: not a cursor this list gave".to_string())
                })?)
            }
        };
    let slice = store::QueueSlice {
        channel: filter.channel.as_deref(),
        category: filter.category.as_deref(),
        state: filter.state.as_deref(),
        after,
    };
    let rows = store::queue_rows(db, from, to, &slice, request.limit as u64 + 1).await?;
    let book = config.rulebook(catalog);
    let items = queue_items(db, rows, Some(&book)).await?;
    Ok(super::page::cut(
        items,
        |i| format!("{}|{}", i.due_date, i.key),
        request,
    ))
}

/// The queue's items of these rows, with their vehicles and owners, and
/// their messages' previews when `book` is given.
async fn queue_items(
    db: &DatabaseConnection,
    rows: Vec<store::StoredTouchpoint>,
    book: Option<&crate::dispatch::Rulebook<'_>>,
) -> Result<Vec<QueueItem>, Failure> {
    let vehicle_ids: Vec<i64> = rows.iter().map(|r| r.vehicle_id).collect();
    let customer_ids: Vec<i64> = rows.iter().map(|r| r.customer_id).collect();
    let vehicles = store::vehicles_by_id(db, &vehicle_ids).await?;
    let customers = store::customers_by_id(db, &customer_ids).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let customer = customers.get(&r.customer_id);
            let recipient = customer.and_then(|c| match r.channel.as_str() {
                "email" => c.email.clone(),
                _ => c.phone.clone(),
            });
            let previewed = match (book, customer) {
                (Some(book), Some(c)) => Some(crate::dispatch::preview(book, c, &r, &vehicles)),
                _ => None,
            };
            let (preview, preview_error) = match previewed {
                Some(Ok(p)) => (Some(p), None),
                Some(Err(e)) => (None, Some(e)),
                None => (None, None),
            };
            QueueItem {
                due_date: r.due_date,
                key: r.dedup_key,
                vin: vehicles
                    .get(&r.vehicle_id)
                    .map(|v| v.vin.clone())
                    .unwrap_or_default(),
                customer_id: customer.map(|c| c.customer_id.clone()).unwrap_or_default(),
                name: customer.map(|c| c.name.clone()).unwrap_or_default(),
                recipient,
                channel: r.channel,
                code: r.code,
                category: r.category,
                priority: r.priority,
                state: r.state,
                reason: r.reason,
                preview,
                preview_error,
            }
        })
        .collect())
}
