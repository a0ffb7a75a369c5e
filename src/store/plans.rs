use super::entities::{plan_change, touchpoint};
use super::{Context, StoreError, VehicleRecord};
use crate::plan::replan::{self, Change, Diff, Stored, Wanted};
use crate::plan::{Plan, Touchpoint};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};
use std::collections::HashMap;

/// A touchpoint as stored.
pub type StoredTouchpoint = touchpoint::Model;

struct Row<'p> {
    key: String,
    tp: &'p Touchpoint<'p>,
    state: &'static str,
    reason: Option<String>,
}

fn rows<'p>(vin: &str, plan: &'p Plan<'p>) -> Vec<Row<'p>> {
    let kept = plan.touchpoints.iter().map(|t| (t, t.state.as_str()));
    let displaced = plan.displaced.iter().map(|t| (t, "displaced"));
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
                active.state = Set("cancelled".into());
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
                active.state = Set(state);
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
            state: Set(r.state.into()),
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
    use crate::domain::states::touchpoint::{ON_HOLD, PLANNED};
    touchpoint::Entity::find()
        .filter(touchpoint::Column::State.is_in([PLANNED, ON_HOLD]))
        .filter(touchpoint::Column::DueDate.gte(from))
        .filter(touchpoint::Column::DueDate.lte(to))
        .order_by_asc(touchpoint::Column::DueDate)
        .order_by_desc(touchpoint::Column::Priority)
        .order_by_asc(touchpoint::Column::DedupKey)
        .all(db)
        .await
        .context("loading the queue")
}
