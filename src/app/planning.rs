//! The planning pass: every active vehicle whose facts changed, or whose
//! current cycle is not planned yet, gets its plan built and stored.

use super::Failure;
use super::facts::{owner_tz, today_in, vehicle_facts};
use crate::config::Config;
use crate::plan;
use crate::store::{self, VehicleRecord};
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write;

#[derive(Debug, Default, Serialize)]
pub struct PassReport {
    pub vehicles_seen: usize,
    pub vehicles_planned: usize,
    pub touchpoints_added: usize,
    pub touchpoints_moved: usize,
    pub touchpoints_dropped: usize,
    /// Another pass held the planning lock (PostgreSQL): this one stopped
    /// planning and dispatched what was already planned.
    pub planning_busy: bool,
    /// Planned touchpoints due today or within the grace window, per channel.
    pub due_now: HashMap<String, usize>,
}

impl PassReport {
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "planning: {} vehicles, {} (re)planned: {} touchpoints added, {} moved, {} dropped",
            self.vehicles_seen,
            self.vehicles_planned,
            self.touchpoints_added,
            self.touchpoints_moved,
            self.touchpoints_dropped
        );
        if self.planning_busy {
            let _ = writeln!(
                s,
                "planning: another pass is planning; this one dispatches what is planned"
            );
        }
        let mut due: Vec<_> = self.due_now.iter().collect();
        due.sort();
        let list: Vec<String> = due.iter().map(|(c, n)| format!("{n} {c}")).collect();
        let _ = writeln!(
            s,
            "due now: {}",
            if list.is_empty() {
                "nothing".to_string()
            } else {
                list.join(", ")
            }
        );
        s
    }
}

const PAGE: u64 = 500;

pub async fn planning_pass(
    db: &DatabaseConnection,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<PassReport, Failure> {
    let template = config.plan_template()?;
    let params = config.settings.plan_params();
    let mut report = PassReport::default();
    let mut after = 0i64;
    loop {
        // A page is read and stored in one transaction under the planning
        // lock: what another planner stored before is seen, never planned again.
        let Some(txn) = store::begin_planning(db).await? else {
            tracing::info!("another pass is planning; dispatching what is planned");
            report.planning_busy = true;
            break;
        };
        let page = store::planning_page(&txn, now, after, PAGE).await?;
        let Some(last) = page.last_id else {
            store::commit(txn, "ending the plan transaction").await?;
            break;
        };
        after = last;
        let planned_cycles = page.planned_cycles;
        let mut readings = page.readings;
        let mut new_rows = store::NewTouchpoints::default();
        let mut planned: Vec<(i64, i64, chrono::NaiveDate)> = Vec::new();
        for (vehicle, customer) in page.vehicles {
            report.vehicles_seen += 1;
            let Some(customer) = customer else { continue };
            let record = VehicleRecord {
                readings: readings.remove(&vehicle.id).unwrap_or_default(),
                vehicle,
                customer,
            };
            let today = today_in(owner_tz(&record, config), now);
            let cycle = plan::cycle_of(record.vehicle.purchase_date, today, params.cycle_months);
            let stale = record.vehicle.facts_version > record.vehicle.planned_version;
            let replan_on = crate::predict::add_days(
                plan::cycle_bounds(record.vehicle.purchase_date, cycle, params.cycle_months).1,
                1,
            );
            if !stale && planned_cycles.contains(&(record.vehicle.id, cycle as i32)) {
                if record.vehicle.replan_on != Some(replan_on) {
                    planned.push((record.vehicle.id, record.vehicle.facts_version, replan_on));
                }
                continue;
            }
            let built = plan::build(
                &template,
                &vehicle_facts(&record, config),
                &params,
                cycle,
                today,
            );
            let fresh = !planned_cycles.contains(&(record.vehicle.id, cycle as i32));
            let diff = store::save_plan(&txn, &record, &built, now, fresh, &mut new_rows).await?;
            planned.push((record.vehicle.id, record.vehicle.facts_version, replan_on));
            report.vehicles_planned += 1;
            report.touchpoints_added += diff.added;
            report.touchpoints_moved += diff.moved;
            report.touchpoints_dropped += diff.dropped;
        }
        new_rows.insert(&txn).await?;
        store::mark_planned(&txn, &planned).await?;
        store::commit(txn, "committing the plans").await?;
    }
    let today = today_in(config.default_timezone(), now);
    let from = crate::predict::add_days(today, -config.settings.plan.grace_days);
    let due = store::planned_per_channel(db, from, today).await?;
    for (channel, n) in due {
        report
            .due_now
            .insert(channel, usize::try_from(n).unwrap_or(0));
    }
    Ok(report)
}
