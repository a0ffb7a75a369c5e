//! The call list's tasks and what their outcomes change.

use super::entities::{call_task, customer, touchpoint};
use super::{Context, StoreError};
use crate::domain::{CallTaskState, TouchpointState};
use crate::domain::{Customer, Touchpoint};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};

/// The open call tasks with their owners, oldest date first.
pub async fn open_call_tasks<C: ConnectionTrait>(
    db: &C,
) -> Result<Vec<(call_task::Model, Option<Customer>)>, StoreError> {
    Ok(call_task::Entity::find()
        .filter(call_task::Column::State.eq(CallTaskState::Open.as_str()))
        .order_by_asc(call_task::Column::DueDate)
        .order_by_asc(call_task::Column::Id)
        .find_also_related(customer::Entity)
        .all(db)
        .await
        .context("loading the call list")?
        .into_iter()
        .map(|(task, owner)| (task, super::record(owner)))
        .collect())
}

/// One call task by its number.
pub async fn call_task<C: ConnectionTrait>(
    db: &C,
    id: i64,
) -> Result<Option<call_task::Model>, StoreError> {
    call_task::Entity::find_by_id(id)
        .one(db)
        .await
        .context("loading the call task")
}

/// The touchpoints a message (or call task) carries.
pub async fn touchpoints_of_message<C: ConnectionTrait>(
    db: &C,
    message_id: i64,
) -> Result<Vec<Touchpoint>, StoreError> {
    touchpoint::Entity::find()
        .filter(touchpoint::Column::MessageId.eq(message_id))
        .all(db)
        .await
        .context("loading a message's touchpoints")
        .map(super::records)
}

/// Every stored touchpoint of the vehicles.
pub async fn touchpoints_of_vehicles<C: ConnectionTrait>(
    db: &C,
    vehicle_ids: &[i64],
) -> Result<Vec<Touchpoint>, StoreError> {
    touchpoint::Entity::find()
        .filter(touchpoint::Column::VehicleId.is_in(vehicle_ids.iter().copied()))
        .all(db)
        .await
        .context("loading the vehicles' touchpoints")
        .map(super::records)
}

/// Cancels the touchpoints `ids` with the reason; how many were cancelled.
pub async fn cancel_touchpoints<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let done = touchpoint::Entity::update_many()
        .col_expr(
            touchpoint::Column::State,
            Expr::value(TouchpointState::Cancelled.as_str()),
        )
        .col_expr(touchpoint::Column::Reason, Expr::value(reason))
        .col_expr(touchpoint::Column::UpdatedAt, Expr::value(now))
        .filter(touchpoint::Column::Id.is_in(ids.iter().copied()))
        .exec(db)
        .await
        .context("cancelling touchpoints")?;
    Ok(done.rows_affected)
}

/// A call's recorded outcome.
pub struct CallRecord<'a> {
    pub outcome: &'a str,
    pub note: Option<String>,
    /// The task is done (else it stays open).
    pub done: bool,
    /// The task's new date, if it moves.
    pub due_date: Option<NaiveDate>,
}

/// Stores a call task's outcome.
pub async fn save_call_outcome<C: ConnectionTrait>(
    db: &C,
    task: call_task::Model,
    record: CallRecord<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut active: call_task::ActiveModel = task.into();
    active.outcome = Set(Some(record.outcome.into()));
    active.note = Set(record.note);
    active.outcome_at = Set(Some(now));
    // Whoever worked it is done with it.
    active.claimed_by = Set(None);
    active.claimed_at = Set(None);
    if record.done {
        active.state = Set(CallTaskState::Done.as_str().into());
    }
    if let Some(date) = record.due_date {
        active.due_date = Set(date);
    }
    active
        .update(db)
        .await
        .context("recording a call outcome")?;
    Ok(())
}

/// Claims an open call for `by` at `now`, unless another holds a claim made
/// after `lapsed` (claims older than that have lapsed). `false`: refused.
pub async fn claim_call<C: ConnectionTrait>(
    db: &C,
    id: i64,
    by: &str,
    now: DateTime<Utc>,
    lapsed: DateTime<Utc>,
) -> Result<bool, StoreError> {
    use sea_orm::Condition;
    use sea_orm::sea_query::Expr;
    let n = call_task::Entity::update_many()
        .col_expr(call_task::Column::ClaimedBy, Expr::value(by))
        .col_expr(call_task::Column::ClaimedAt, Expr::value(now))
        .filter(call_task::Column::Id.eq(id))
        .filter(call_task::Column::State.eq(CallTaskState::Open.as_str()))
        .filter(
            Condition::any()
                .add(call_task::Column::ClaimedBy.is_null())
                .add(call_task::Column::ClaimedBy.eq(by))
                .add(call_task::Column::ClaimedAt.lt(lapsed)),
        )
        .exec(db)
        .await
        .context("claiming a call")?
        .rows_affected;
    Ok(n == 1)
}

/// Gives up `by`'s claim on a call; `false` when `by` held none.
pub async fn unclaim_call<C: ConnectionTrait>(
    db: &C,
    id: i64,
    by: &str,
) -> Result<bool, StoreError> {
    use sea_orm::sea_query::Expr;
    let n = call_task::Entity::update_many()
        .col_expr(
            call_task::Column::ClaimedBy,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            call_task::Column::ClaimedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(call_task::Column::Id.eq(id))
        .filter(call_task::Column::ClaimedBy.eq(by))
        .exec(db)
        .await
        .context("giving up a call")?
        .rows_affected;
    Ok(n == 1)
}
