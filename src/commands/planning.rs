//! The planning pass: every active vehicle whose facts changed, or whose
//! current cycle is not planned yet, gets its plan built and stored.

use super::Failure;
use super::show::{owner_tz, today_in, vehicle_facts};
use crate::config::Config;
use crate::plan;
use crate::store::{self, Context, VehicleRecord, entities};
use chrono::{DateTime, Utc};
use entities::{customer, reading, touchpoint, vehicle};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
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
        let page: Vec<(vehicle::Model, Option<customer::Model>)> = vehicle::Entity::find()
            .filter(vehicle::Column::Active.eq(true))
            .filter(needs_planning(now))
            .filter(vehicle::Column::Id.gt(after))
            .order_by_asc(vehicle::Column::Id)
            .limit(PAGE)
            .find_also_related(customer::Entity)
            .all(&txn)
            .await
            .context("loading vehicles")?;
        let Some(last) = page.last() else {
            txn.commit().await.context("ending the plan transaction")?;
            break;
        };
        after = last.0.id;
        let ids: Vec<i64> = page.iter().map(|(v, _)| v.id).collect();
        let planned_cycles: HashSet<(i64, i32)> = touchpoint::Entity::find()
            .select_only()
            .column(touchpoint::Column::VehicleId)
            .column(touchpoint::Column::Cycle)
            .distinct()
            .filter(touchpoint::Column::VehicleId.is_in(ids.clone()))
            .into_tuple::<(i64, i32)>()
            .all(&txn)
            .await
            .context("loading planned cycles")?
            .into_iter()
            .collect();
        let mut readings: HashMap<i64, Vec<crate::predict::Reading>> = HashMap::new();
        for r in reading::Entity::find()
            .filter(reading::Column::VehicleId.is_in(ids))
            .order_by_asc(reading::Column::VehicleId)
            .order_by_asc(reading::Column::Date)
            .order_by_asc(reading::Column::OdometerKm)
            .all(&txn)
            .await
            .context("loading readings")?
        {
            let vid = r.vehicle_id;
            if let Some(reading) = store::to_reading(r) {
                readings.entry(vid).or_default().push(reading);
            }
        }
        let mut new_rows = store::NewTouchpoints::default();
        let mut planned: Vec<(i64, i64, chrono::NaiveDate)> = Vec::new();
        for (vehicle, customer) in page {
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
        mark_planned(&txn, &planned).await?;
        txn.commit().await.context("committing the plans")?;
    }
    let today = today_in(config.default_timezone(), now);
    let from = crate::predict::add_days(today, -config.settings.plan.grace_days);
    let due: Vec<(String, i64)> = touchpoint::Entity::find()
        .select_only()
        .column(touchpoint::Column::Channel)
        .column_as(touchpoint::Column::Id.count(), "n")
        .filter(touchpoint::Column::State.eq("planned"))
        .filter(touchpoint::Column::DueDate.gte(from))
        .filter(touchpoint::Column::DueDate.lte(today))
        .group_by(touchpoint::Column::Channel)
        .into_tuple()
        .all(db)
        .await
        .context("counting due touchpoints")?;
    for (channel, n) in due {
        report
            .due_now
            .insert(channel, usize::try_from(n).unwrap_or(0));
    }
    Ok(report)
}

/// The vehicles a pass at `now` must look at: facts changed since their plan,
/// never planned, or their planned cycle ends (on the earliest "today" of
/// any time zone; each vehicle's own is checked in the pass).
fn needs_planning(now: DateTime<Utc>) -> Condition {
    let earliest_today = crate::predict::add_days(now.date_naive(), 1);
    Condition::any()
        .add(
            Expr::col(vehicle::Column::FactsVersion).gt(Expr::col(vehicle::Column::PlannedVersion)),
        )
        .add(vehicle::Column::ReplanOn.is_null())
        .add(vehicle::Column::ReplanOn.lte(earliest_today))
}

/// Records that the vehicles' facts (id, facts version, replan date) are
/// planned: one statement for a page.
async fn mark_planned<C: ConnectionTrait>(
    db: &C,
    planned: &[(i64, i64, chrono::NaiveDate)],
) -> Result<(), Failure> {
    if planned.is_empty() {
        return Ok(());
    }
    let mut version = CaseStatement::new();
    let mut replan_on = CaseStatement::new();
    for &(id, facts_version, on) in planned {
        version = version.case(
            Expr::col(vehicle::Column::Id).eq(id),
            Expr::val(facts_version),
        );
        replan_on = replan_on.case(Expr::col(vehicle::Column::Id).eq(id), Expr::val(on));
    }
    vehicle::Entity::update_many()
        .col_expr(vehicle::Column::PlannedVersion, version.into())
        .col_expr(vehicle::Column::ReplanOn, replan_on.into())
        .filter(vehicle::Column::Id.is_in(planned.iter().map(|p| p.0)))
        .exec(db)
        .await
        .context("marking the vehicles planned")?;
    Ok(())
}
