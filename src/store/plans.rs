use super::entities::{customer, plan_change, reading, touchpoint, vehicle};
use super::{Context, StoreError};
use crate::domain::TouchpointState;
use crate::plan::replan::{self, Change, Reconciled};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::{HashMap, HashSet};

/// A touchpoint as stored.
pub type StoredTouchpoint = crate::domain::Touchpoint;

/// Stores what a re-plan of one cycle of a vehicle decided
/// ([`replan::reconcile`]): the updates of stored touchpoints, the new ones
/// (added to `new_rows`, inserted with the page), and the change recorded
/// in `plan_changes` when it says so. Run it in a transaction (the planning
/// pass stores a page of vehicles in one).
pub async fn apply_plan<C: ConnectionTrait>(
    txn: &C,
    vehicle: &crate::domain::Vehicle,
    cycle: u32,
    plan: &Reconciled<'_>,
    now: DateTime<Utc>,
    new_rows: &mut NewTouchpoints,
) -> Result<(), StoreError> {
    for update in &plan.updates {
        let mut change = touchpoint::Entity::update_many()
            .col_expr(touchpoint::Column::UpdatedAt, Expr::value(now))
            .filter(touchpoint::Column::Id.eq(update.id));
        change = match &update.change {
            Change::Drop => change
                .col_expr(
                    touchpoint::Column::State,
                    Expr::value(TouchpointState::Cancelled.as_str()),
                )
                .col_expr(
                    touchpoint::Column::Reason,
                    Expr::value(replan::DROPPED_REASON),
                ),
            Change::Update {
                due_date,
                state,
                reason,
                awaits_visit,
            } => change
                .col_expr(touchpoint::Column::AwaitsVisit, Expr::value(*awaits_visit))
                .col_expr(touchpoint::Column::DueDate, Expr::value(*due_date))
                .col_expr(
                    touchpoint::Column::NextAttemptAt,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(
                    touchpoint::Column::ServiceDue,
                    Expr::value(update.service_due),
                )
                .col_expr(touchpoint::Column::State, Expr::value(state.as_str()))
                .col_expr(touchpoint::Column::Reason, Expr::value(reason.clone())),
        };
        change.exec(txn).await.context("updating a touchpoint")?;
    }
    new_rows
        .rows
        .extend(plan.new.iter().map(|r| touchpoint::ActiveModel {
            dedup_key: Set(r.key.clone()),
            vehicle_id: Set(vehicle.id),
            customer_id: Set(vehicle.customer_id),
            cycle: Set(cycle as i32),
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
        }));
    if plan.record_change {
        plan_change::ActiveModel {
            vehicle_id: Set(vehicle.id),
            cycle: Set(cycle as i32),
            at: Set(now),
            summary: Set(plan.diff.summary()),
            ..Default::default()
        }
        .insert(txn)
        .await
        .context("recording the plan change")?;
    }
    Ok(())
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
        .map(super::records)
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
        .map(super::records)
}

/// One page of the planning pass: the vehicles a pass at `now` must look at
/// (after id `after`, in id order), with their owners, readings and the
/// cycles already stored.
pub struct PlanningPage {
    /// Each vehicle with its owner (`None`: the owner is gone).
    pub vehicles: Vec<(crate::domain::Vehicle, Option<crate::domain::Customer>)>,
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
        vehicles: vehicles
            .into_iter()
            .map(|(v, c)| (v.into(), super::record(c)))
            .collect(),
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

/// Deferred touchpoints (quiet hours, caps) whose next attempt comes
/// before `until`, per channel.
pub async fn deferred_per_channel<C: ConnectionTrait>(
    db: &C,
    until: DateTime<Utc>,
) -> Result<Vec<(String, i64)>, StoreError> {
    touchpoint::Entity::find()
        .select_only()
        .column(touchpoint::Column::Channel)
        .column_as(touchpoint::Column::Id.count(), "n")
        .filter(touchpoint::Column::State.eq(TouchpointState::Deferred.as_str()))
        .filter(touchpoint::Column::NextAttemptAt.lt(until))
        .group_by(touchpoint::Column::Channel)
        .into_tuple()
        .all(db)
        .await
        .context("counting deferred touchpoints")
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

/// What one page of the queue asks for: the days, the filters, and where
/// the page starts (after this due date and key).
#[derive(Debug, Clone, Default)]
pub struct QueueSlice<'a> {
    pub channel: Option<&'a str>,
    pub category: Option<&'a str>,
    /// planned or on_hold; none: both.
    pub state: Option<&'a str>,
    pub after: Option<(NaiveDate, &'a str)>,
}

/// Up to `limit` planned or held touchpoints due from `from` through `to`,
/// by due date, then key, after the slice's start.
pub async fn queue_rows<C: ConnectionTrait>(
    db: &C,
    from: NaiveDate,
    to: NaiveDate,
    slice: &QueueSlice<'_>,
    limit: u64,
) -> Result<Vec<StoredTouchpoint>, StoreError> {
    use sea_orm::{Condition, QuerySelect};
    let states: Vec<&str> = [TouchpointState::Planned, TouchpointState::OnHold]
        .map(TouchpointState::as_str)
        .into_iter()
        .filter(|s| slice.state.is_none_or(|want| want == *s))
        .collect();
    // One state at a time: each is read in the index's order, so a page
    // costs its own rows, not the whole window's; the pages are merged.
    let mut rows: Vec<touchpoint::Model> = Vec::new();
    for state in states {
        let mut find = touchpoint::Entity::find()
            .filter(touchpoint::Column::State.eq(state))
            .filter(touchpoint::Column::DueDate.gte(from))
            .filter(touchpoint::Column::DueDate.lte(to));
        if let Some(c) = slice.channel {
            find = find.filter(touchpoint::Column::Channel.eq(c));
        }
        if let Some(c) = slice.category {
            find = find.filter(touchpoint::Column::Category.eq(c));
        }
        if let Some((date, key)) = slice.after {
            find = find.filter(
                Condition::any()
                    .add(touchpoint::Column::DueDate.gt(date))
                    .add(
                        Condition::all()
                            .add(touchpoint::Column::DueDate.eq(date))
                            .add(touchpoint::Column::DedupKey.gt(key)),
                    ),
            );
        }
        rows.extend(
            find.order_by_asc(touchpoint::Column::DueDate)
                .order_by_asc(touchpoint::Column::DedupKey)
                .limit(limit)
                .all(db)
                .await
                .context("loading a page of the queue")?,
        );
    }
    rows.sort_by(|a, b| (a.due_date, &a.dedup_key).cmp(&(b.due_date, &b.dedup_key)));
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(super::records(rows))
}
