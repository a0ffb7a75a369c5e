//! The read-only commands: next-service, plan, queue.

use super::{Failure, open, print};
use crate::app::facts::{owner_tz, today_in, vehicle_facts};
use crate::config::Config;
use crate::plan::{self, replan};
use crate::predict::{self, DecidedBy, RateSource};
use crate::store::{self, VehicleRecord};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

async fn find(
    config: &Config,
    vin: &str,
) -> Result<(sea_orm::DatabaseConnection, VehicleRecord), Failure> {
    let vin = crate::domain::Vin::parse(vin)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| vin.trim().to_string());
    let db = open(config).await?;
    match store::vehicle_by_vin(&db, &vin).await? {
        Some(r) => Ok((db, r)),
        None => Err(Failure::Data(format!("no vehicle with VIN {vin}"))),
    }
}

#[derive(Serialize)]
struct NextService {
    vin: String,
    due_date: NaiveDate,
    decided_by: DecidedBy,
    due_odometer_km: i64,
    avg_monthly_km: f64,
    rate_source: RateSource,
    last_service_date: Option<NaiveDate>,
    service_number: u32,
    km_due_date: Option<NaiveDate>,
    time_due_date: NaiveDate,
    uncertainty_days: f64,
    as_of: NaiveDate,
}

pub async fn next_service(
    config: &Config,
    vin: &str,
    as_of: Option<NaiveDate>,
    json: bool,
) -> Result<(), Failure> {
    let (_db, record) = find(config, vin).await?;
    let as_of = as_of.unwrap_or_else(|| today_in(owner_tz(&record, config), chrono::Utc::now()));
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
    print(json, &answer, |a| {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{}: service #{} due {} (decided by {})",
            a.vin,
            a.service_number,
            a.due_date,
            match a.decided_by {
                DecidedBy::Km => "mileage",
                DecidedBy::Time => "time",
            }
        );
        let _ = writeln!(s, "  expected odometer   {} km", a.due_odometer_km);
        let _ = writeln!(
            s,
            "  by mileage          {}",
            a.km_due_date
                .map_or("never (not driven)".to_string(), |d| d.to_string())
        );
        let _ = writeln!(s, "  by time             {}", a.time_due_date);
        let _ = writeln!(
            s,
            "  average             {} km/month ({})",
            a.avg_monthly_km,
            match a.rate_source {
                RateSource::Readings => "from readings",
                RateSource::Declared => "declared by the owner",
                RateSource::Default => "configured default",
            }
        );
        let _ = writeln!(
            s,
            "  last service        {}",
            a.last_service_date
                .map_or("none recorded".to_string(), |d| d.to_string())
        );
        let _ = writeln!(s, "  as of               {}", a.as_of);
        s
    })
}

#[derive(Serialize)]
struct PlanTouchpoint {
    code: String,
    channel: &'static str,
    category: &'static str,
    due_date: NaiveDate,
    state: String,
    reason: Option<String>,
    key: String,
    occurrence: u32,
    priority: i32,
}

#[derive(Serialize)]
struct Displaced {
    code: String,
    due_date: NaiveDate,
    reason: String,
}

#[derive(Serialize)]
struct Change {
    at: String,
    cycle: i32,
    summary: String,
}

#[derive(Serialize)]
struct PlanAnswer {
    vin: String,
    cycle: u32,
    cycle_start: NaiveDate,
    cycle_end: NaiveDate,
    touchpoints: Vec<PlanTouchpoint>,
    displaced: Vec<Displaced>,
    changes: Vec<Change>,
    as_of: NaiveDate,
}

pub async fn plan(
    config: &Config,
    vin: &str,
    as_of: Option<NaiveDate>,
    json: bool,
) -> Result<(), Failure> {
    let (db, record) = find(config, vin).await?;
    let historic = as_of.is_some();
    let as_of = as_of.unwrap_or_else(|| today_in(owner_tz(&record, config), chrono::Utc::now()));
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
        store::stored_plan(&db, record.vehicle.id, cycle)
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
        store::plan_changes(&db, record.vehicle.id)
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
    print(json, &answer, |a| {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{}: cycle {} ({} .. {}), {} touchpoints, as of {}",
            a.vin,
            a.cycle,
            a.cycle_start,
            a.cycle_end,
            a.touchpoints.len(),
            a.as_of
        );
        let _ = writeln!(
            s,
            "{:<10}  {:<26} {:<5} {:<9} {:<9} reason",
            "date", "code", "chan", "category", "state"
        );
        for t in &a.touchpoints {
            let _ = writeln!(
                s,
                "{:<10}  {:<26} {:<5} {:<9} {:<9} {}",
                t.due_date,
                format!("{}#{}", t.code, t.occurrence),
                t.channel,
                t.category,
                t.state,
                t.reason.as_deref().unwrap_or("")
            );
        }
        if !a.displaced.is_empty() {
            let _ = writeln!(s, "displaced:");
            for d in &a.displaced {
                let _ = writeln!(s, "  {:<10}  {:<26} {}", d.due_date, d.code, d.reason);
            }
        }
        for c in a.changes.iter().take(5) {
            let _ = writeln!(s, "re-planned {} (cycle {}): {}", c.at, c.cycle, c.summary);
        }
        s
    })
}

#[derive(Serialize)]
struct QueueItem {
    due_date: NaiveDate,
    key: String,
    vin: String,
    customer_id: String,
    name: String,
    recipient: Option<String>,
    code: String,
    category: String,
    priority: i32,
    /// planned, or on_hold (held by an administrator: not sent until released)
    state: String,
    reason: Option<String>,
}

#[derive(Serialize)]
struct QueueAnswer {
    from: NaiveDate,
    to: NaiveDate,
    channels: BTreeMap<String, Vec<QueueItem>>,
}

pub async fn queue(
    config: &Config,
    days: u32,
    as_of: Option<NaiveDate>,
    json: bool,
) -> Result<(), Failure> {
    let db = open(config).await?;
    let today = as_of.unwrap_or_else(|| today_in(config.default_timezone(), chrono::Utc::now()));
    // Still sendable: within the grace window behind today.
    let from = predict::add_days(today, -config.settings.plan.grace_days);
    let to = predict::add_days(today, i64::from(days) - 1);
    let rows = store::due_between(&db, from, to).await?;
    let vehicle_ids: Vec<i64> = rows.iter().map(|r| r.vehicle_id).collect();
    let customer_ids: Vec<i64> = rows.iter().map(|r| r.customer_id).collect();
    let vehicles = store::vehicles_by_id(&db, &vehicle_ids).await?;
    let customers = store::customers_by_id(&db, &customer_ids).await?;
    let mut channels: BTreeMap<String, Vec<QueueItem>> = BTreeMap::new();
    for r in rows {
        let customer = customers.get(&r.customer_id);
        let recipient = customer.and_then(|c| match r.channel.as_str() {
            "email" => c.email.clone(),
            _ => c.phone.clone(),
        });
        channels
            .entry(r.channel.clone())
            .or_default()
            .push(QueueItem {
                due_date: r.due_date,
                key: r.dedup_key,
                vin: vehicles
                    .get(&r.vehicle_id)
                    .map(|v| v.vin.clone())
                    .unwrap_or_default(),
                customer_id: customer.map(|c| c.customer_id.clone()).unwrap_or_default(),
                name: customer.map(|c| c.name.clone()).unwrap_or_default(),
                recipient,
                code: r.code,
                category: r.category,
                priority: r.priority,
                state: r.state,
                reason: r.reason,
            });
    }
    let answer = QueueAnswer { from, to, channels };
    print(json, &answer, |a| {
        let mut s = String::new();
        let total: usize = a.channels.values().map(Vec::len).sum();
        let _ = writeln!(s, "queue {} .. {}: {} touchpoints", a.from, a.to, total);
        for (channel, items) in &a.channels {
            let _ = writeln!(s, "\n{channel} ({})", items.len());
            for i in items {
                let _ = writeln!(
                    s,
                    "  {}  {:<22} {:<17} {:<24} {}{}",
                    i.due_date,
                    i.code,
                    i.vin,
                    i.name,
                    i.recipient.as_deref().unwrap_or("(no contact)"),
                    if i.state == crate::domain::states::touchpoint::ON_HOLD {
                        format!("  [on hold: {}]", i.reason.as_deref().unwrap_or(""))
                    } else {
                        String::new()
                    }
                );
            }
        }
        s
    })
}
