use super::entities::{customer, plan_change, reading, touchpoint, vehicle};
use super::{Context, StoreError, VehicleRecord};
use crate::domain::TouchpointState;
use crate::plan::replan::{self, Change, Diff, Stored, Wanted};
use crate::plan::{Plan, Touchpoint};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::{HashMap, HashSet};

/// A touchpoint as stored.
pub type StoredTouchpoint = touchpoint::Model;

struct Row<'p> {
    key: String,
    tp: &'p Touchpoint<'p>,
    state: TouchpointState,
    reason: Option<String>,
}

fn rows<'p>(vin: &str, plan: &'p Plan<'p>) -> Vec<Row<'p>> {
    let kept = plan.touchpoints.iter().map(|t| (t, t.state.into()));
    let displaced = plan
        .displaced
        .iter()
        .map(|t| (t, TouchpointState::Displaced));
    kept.chain(displaced)
        .map(|(tp, state)| Row {
            key: tp.dedup_key(vin, plan.cycle),
            tp,
            state,
            reason: tp.reason.map(|r| r.to_string()),
        })
        .collect()
}

/// Stores one cycle of a vehicle's plan: new occurrences are inserted,
/// replannable ones follow the new plan, the rest are kept as they are.
/// What changed is recorded in `plan_changes` (not on the first planning).
/// `fresh`: the caller knows that nothing of this cycle is stored yet.
/// Run it in a transaction (the planning pass stores a page of vehicles in
/// one).
pub async fn save_plan<C: ConnectionTrait>(
    txn: &C,
    record: &VehicleRecord,
    plan: &Plan<'_>,
    now: DateTime<Utc>,
    fresh: bool,
    new_rows: &mut NewTouchpoints,
) -> Result<Diff, StoreError> {
    let vehicle = &record.vehicle;
    let existing = if fresh {
        Vec::new()
    } else {
        touchpoint::Entity::find()
            .filter(touchpoint::Column::VehicleId.eq(vehicle.id))
            .filter(touchpoint::Column::Cycle.eq(plan.cycle as i32))
            .all(txn)
            .await
            .context("loading the stored plan")?
    };
    let wanted_rows = rows(&vehicle.vin, plan);
    let wanted: HashMap<&str, Wanted<'_>> = wanted_rows
        .iter()
        .map(|r| {
            (
                r.key.as_str(),
                Wanted {
                    key: &r.key,
                    due_date: r.tp.date,
                    state: r.state,
                    reason: r.reason.as_deref(),
                    awaits_visit: r.tp.awaits_visit,
                },
            )
        })
        .collect();
    let wanted_service_due: HashMap<&str, Option<NaiveDate>> = wanted_rows
        .iter()
        .map(|r| (r.key.as_str(), r.tp.service_due))
        .collect();
    let mut diff = Diff::default();
    for model in &existing {
        let stored = Stored {
            key: &model.dedup_key,
            due_date: model.due_date,
            state: &model.state,
            reason: model.reason.as_deref(),
            awaits_visit: model.awaits_visit,
        };
        let Some(change) = replan::decide(&stored, wanted.get(model.dedup_key.as_str())) else {
            continue;
        };
        diff.note(&stored, &change);
        let mut active: touchpoint::ActiveModel = model.clone().into();
        match change {
            Change::Drop => {
                active.state = Set(TouchpointState::Cancelled.as_str().into());
                active.reason = Set(Some(replan::DROPPED_REASON.into()));
            }
            Change::Update {
                due_date,
                state,
                reason,
                awaits_visit,
            } => {
                active.awaits_visit = Set(awaits_visit);
                active.due_date = Set(due_date);
                active.next_attempt_at = Set(None);
                active.service_due = Set(wanted_service_due
                    .get(model.dedup_key.as_str())
                    .copied()
                    .flatten());
                active.state = Set(state.as_str().into());
                active.reason = Set(reason);
            }
        }
        active.updated_at = Set(now);
        active.update(txn).await.context("updating a touchpoint")?;
    }
    let known: std::collections::HashSet<&str> =
        existing.iter().map(|m| m.dedup_key.as_str()).collect();
    let new: Vec<touchpoint::ActiveModel> = wanted_rows
        .iter()
        .filter(|r| !known.contains(r.key.as_str()))
        .map(|r| touchpoint::ActiveModel {
            dedup_key: Set(r.key.clone()),
            vehicle_id: Set(vehicle.id),
            customer_id: Set(vehicle.customer_id),
            cycle: Set(plan.cycle as i32),
            code: Set(r.tp.code().to_string()),
            occurrence: Set(r.tp.occurrence as i32),
            channel: Set(r.tp.channel().as_str().into()),
            category: Set(r.tp.category().as_str().into()),
            priority: Set(r.tp.entry.priority),
            due_date: Set(r.tp.date),
            service_due: Set(r.tp.service_due),
            awaits_visit: Set(r.tp.awaits_visit),
            state: Set(r.state.as_str().into()),
            reason: Set(r.reason.clone()),
            message: Set(r.tp.entry.message.clone()),
            attempts: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        })
        .collect();
    diff.added = new.len();
    new_rows.rows.extend(new);
    if !existing.is_empty() && !diff.is_empty() {
        plan_change::ActiveModel {
            vehicle_id: Set(vehicle.id),
            cycle: Set(plan.cycle as i32),
            at: Set(now),
            summary: Set(diff.summary()),
            ..Default::default()
        }
        .insert(txn)
        .await
        .context("recording the plan change")?;
    }
    Ok(diff)
}

/// Touchpoints of several plans, inserted together: a page of first plans
/// is a few statements, not one per vehicle.
#[derive(Debug, Default)]
pub struct NewTouchpoints {
    rows: Vec<touchpoint::ActiveModel>,
}

impl NewTouchpoints {
    /// Rows per statement: within SQLite's limit of bound parameters.
    const CHUNK: usize = 1000;

    pub async fn insert<C: ConnectionTrait>(&mut self, txn: &C) -> Result<(), StoreError> {
        for chunk in self.rows.chunks(Self::CHUNK) {
            touchpoint::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(txn)
                .await
                .context("inserting touchpoints")?;
        }
        self.rows.clear();
        Ok(())
    }
}

/// The stored touchpoints of one cycle of a vehicle, by date.
pub async fn stored_plan<C: ConnectionTrait>(
    db: &C,
    vehicle_id: i64,
    cycle: u32,
) -> Result<Vec<StoredTouchpoint>, StoreError> {
    touchpoint::Entity::find()
        .filter(touchpoint::Column::VehicleId.eq(vehicle_id))
        .filter(touchpoint::Column::Cycle.eq(cycle as i32))
        .order_by_asc(touchpoint::Column::DueDate)
        .order_by_asc(touchpoint::Column::Code)
        .all(db)
        .await
        .context("loading the stored plan")
}

/// The recorded re-plans of a vehicle, newest first.
pub async fn plan_changes<C: ConnectionTrait>(
    db: &C,
    vehicle_id: i64,
) -> Result<Vec<plan_change::Model>, StoreError> {
    plan_change::Entity::find()
        .filter(plan_change::Column::VehicleId.eq(vehicle_id))
        .order_by_desc(plan_change::Column::Id)
        .all(db)
        .await
        .context("loading the plan changes")
}

/// Touchpoints planned (or held by an administrator) in `[from, to]`, by
/// date and priority.
pub async fn due_between<C: ConnectionTrait>(
    db: &C,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<StoredTouchpoint>, StoreError> {
    touchpoint::Entity::find()
        .filter(touchpoint::Column::State.is_in(
            [TouchpointState::Planned, TouchpointState::OnHold].map(TouchpointState::as_str),
        ))
        .filter(touchpoint::Column::DueDate.gte(from))
        .filter(touchpoint::Column::DueDate.lte(to))
        .order_by_asc(touchpoint::Column::DueDate)
        .order_by_desc(touchpoint::Column::Priority)
        .order_by_asc(touchpoint::Column::DedupKey)
        .all(db)
        .await
        .context("loading the queue")
}

/// One page of the planning pass: the vehicles a pass at `now` must look at
/// (after id `after`, in id order), with their owners, readings and the
/// cycles already stored.
pub struct PlanningPage {
    /// Each vehicle with its owner (`None`: the owner is gone).
    pub vehicles: Vec<(vehicle::Model, Option<customer::Model>)>,
    pub readings: HashMap<i64, Vec<crate::predict::Reading>>,
    /// (vehicle id, cycle) pairs with touchpoints stored.
    pub planned_cycles: HashSet<(i64, i32)>,
    /// The last vehicle's id; `None`: nothing left to plan.
    pub last_id: Option<i64>,
}

/// Reads a page for the planning pass (run it in the planning transaction).
pub async fn planning_page<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    after: i64,
    size: u64,
) -> Result<PlanningPage, StoreError> {
    let vehicles: Vec<(vehicle::Model, Option<customer::Model>)> = vehicle::Entity::find()
        .filter(vehicle::Column::Active.eq(true))
        .filter(needs_planning(now))
        .filter(vehicle::Column::Id.gt(after))
        .order_by_asc(vehicle::Column::Id)
        .limit(size)
        .find_also_related(customer::Entity)
        .all(db)
        .await
        .context("loading vehicles")?;
    let last_id = vehicles.last().map(|(v, _)| v.id);
    let ids: Vec<i64> = vehicles.iter().map(|(v, _)| v.id).collect();
    let planned_cycles: HashSet<(i64, i32)> = if ids.is_empty() {
        HashSet::new()
    } else {
        touchpoint::Entity::find()
            .select_only()
            .column(touchpoint::Column::VehicleId)
            .column(touchpoint::Column::Cycle)
            .distinct()
            .filter(touchpoint::Column::VehicleId.is_in(ids.clone()))
            .into_tuple::<(i64, i32)>()
            .all(db)
            .await
            .context("loading planned cycles")?
            .into_iter()
            .collect()
    };
    let mut readings: HashMap<i64, Vec<crate::predict::Reading>> = HashMap::new();
    if !ids.is_empty() {
        for r in reading::Entity::find()
            .filter(reading::Column::VehicleId.is_in(ids))
            .order_by_asc(reading::Column::VehicleId)
            .order_by_asc(reading::Column::Date)
            .order_by_asc(reading::Column::OdometerKm)
            .all(db)
            .await
            .context("loading readings")?
        {
            let vid = r.vehicle_id;
            if let Some(reading) = super::to_reading(r) {
                readings.entry(vid).or_default().push(reading);
            }
        }
    }
    Ok(PlanningPage {
        vehicles,
        readings,
        planned_cycles,
        last_id,
    })
}

/// Planned touchpoints per channel dated from `from` to `to`, both included.
pub async fn planned_per_channel<C: ConnectionTrait>(
    db: &C,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(String, i64)>, StoreError> {
    touchpoint::Entity::find()
        .select_only()
        .column(touchpoint::Column::Channel)
        .column_as(touchpoint::Column::Id.count(), "n")
        .filter(touchpoint::Column::State.eq(TouchpointState::Planned.as_str()))
        .filter(touchpoint::Column::DueDate.gte(from))
        .filter(touchpoint::Column::DueDate.lte(to))
        .group_by(touchpoint::Column::Channel)
        .into_tuple()
        .all(db)
        .await
        .context("counting due touchpoints")
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
pub async fn mark_planned<C: ConnectionTrait>(
    db: &C,
    planned: &[(i64, i64, NaiveDate)],
) -> Result<(), StoreError> {
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
