//! The planning pass: every active vehicle whose facts changed, or whose
//! current cycle is not planned yet, gets its plan built and stored.

use super::Failure;
use super::facts::{facts_of, today_in, tz_of};
use crate::config::Config;
use crate::domain::{Customer, Touchpoint, Vehicle};
use crate::plan::{self, Plan, PlanParams, Template, replan};
use crate::predict::Reading;
use crate::store;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use std::collections::BTreeMap;
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
    pub due_now: BTreeMap<String, usize>,
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
        let list: Vec<String> = self
            .due_now
            .iter()
            .map(|(c, n)| format!("{n} {c}"))
            .collect();
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
            let readings = readings.remove(&vehicle.id).unwrap_or_default();
            let is_planned = |cycle: u32| planned_cycles.contains(&(vehicle.id, cycle as i32));
            let step = vehicle_step(
                &template, &params, config, &vehicle, &customer, &readings, is_planned, now,
            );
            let (built, fresh, replan_on) = match step {
                VehicleStep::Keep => continue,
                VehicleStep::Mark { replan_on } => {
                    planned.push((vehicle.id, vehicle.facts_version, replan_on));
                    continue;
                }
                VehicleStep::Build {
                    plan,
                    fresh,
                    replan_on,
                } => (plan, fresh, replan_on),
            };
            let stored = if fresh {
                Vec::new()
            } else {
                store::stored_plan(&txn, vehicle.id, built.cycle).await?
            };
            let existing: Vec<(i64, replan::Stored<'_>)> =
                stored.iter().map(|t| (t.id, stored_view(t))).collect();
            let reconciled = replan::reconcile(&vehicle.vin, &built, &existing);
            store::apply_plan(&txn, &vehicle, built.cycle, &reconciled, now, &mut new_rows).await?;
            planned.push((vehicle.id, vehicle.facts_version, replan_on));
            report.vehicles_planned += 1;
            report.touchpoints_added += reconciled.diff.added;
            report.touchpoints_moved += reconciled.diff.moved;
            report.touchpoints_dropped += reconciled.diff.dropped;
        }
        new_rows.insert(&txn).await?;
        store::mark_planned(&txn, &planned).await?;
        store::commit(txn, "committing the plans").await?;
    }
    report.due_now = due_now(db, config, now).await?;
    Ok(report)
}

/// Planned touchpoints due today or within the grace window (in the
/// configured time zone), per channel: the queue's depth.
pub(crate) async fn due_now(
    db: &DatabaseConnection,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, usize>, Failure> {
    let today = today_in(config.default_timezone(), now);
    let from = crate::predict::add_days(today, -config.settings.plan.grace_days);
    Ok(store::planned_per_channel(db, from, today)
        .await?
        .into_iter()
        .map(|(channel, n)| (channel, usize::try_from(n).unwrap_or(0)))
        .collect())
}

/// What a planning pass does with one vehicle at `now`.
pub(crate) enum VehicleStep<'t> {
    /// Its plan stands.
    Keep,
    /// Its plan stands; the day of its next re-plan is recorded.
    Mark { replan_on: NaiveDate },
    /// Its current cycle is built: laid over what is stored of it, or the
    /// first plan of the cycle (`fresh`).
    Build {
        plan: Plan<'t>,
        fresh: bool,
        replan_on: NaiveDate,
    },
}

/// One vehicle of a planning pass at `now` (pure): its current cycle in
/// its owner's time zone is built when its facts changed since it was
/// planned or that cycle is not planned yet (`is_planned`); otherwise its
/// plan stands.
#[allow(clippy::too_many_arguments)]
pub(crate) fn vehicle_step<'t>(
    template: &'t Template,
    params: &PlanParams,
    config: &Config,
    vehicle: &Vehicle,
    owner: &Customer,
    readings: &[Reading],
    is_planned: impl Fn(u32) -> bool,
    now: DateTime<Utc>,
) -> VehicleStep<'t> {
    let today = today_in(tz_of(owner, config), now);
    let cycle = plan::cycle_of(vehicle.purchase_date, today, params.cycle_months);
    let stale = vehicle.facts_version > vehicle.planned_version;
    let replan_on = crate::predict::add_days(
        plan::cycle_bounds(vehicle.purchase_date, cycle, params.cycle_months).1,
        1,
    );
    let planned = is_planned(cycle);
    if !stale && planned {
        return if vehicle.replan_on == Some(replan_on) {
            VehicleStep::Keep
        } else {
            VehicleStep::Mark { replan_on }
        };
    }
    let plan = plan::build(
        template,
        &facts_of(vehicle, owner, readings, config),
        params,
        cycle,
        today,
    );
    VehicleStep::Build {
        plan,
        fresh: !planned,
        replan_on,
    }
}

/// The re-plan's view of a stored touchpoint.
pub(crate) fn stored_view(t: &Touchpoint) -> replan::Stored<'_> {
    replan::Stored {
        key: &t.dedup_key,
        due_date: t.due_date,
        state: &t.state,
        reason: t.reason.as_deref(),
        awaits_visit: t.awaits_visit,
    }
}
