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
