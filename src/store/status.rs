//! What `status` reads: counts of what waits, the schema's migrations, and
//! the record of the last pass.

use super::entities::{call_task, message, setting, touchpoint};
use super::{Context, StoreError};
use crate::domain::{CallTaskState, MessageState, TouchpointState};
use chrono::{DateTime, Utc};
use migration::{Migrator, MigratorTrait};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter,
};

/// How many touchpoints, messages and calls wait, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Waiting {
    /// Touchpoints deferred for quiet hours, a cap, or sent now.
    pub deferred: u64,
    /// Touchpoints held by an administrator.
    pub on_hold: u64,
    /// Messages held for review: interrupted sends, and messages awaiting
    /// approval.
    pub held_messages: u64,
    /// Messages waiting for a retry.
    pub retrying: u64,
    /// Call tasks on the call list (due or not).
    pub open_calls: u64,
}

pub async fn waiting<C: ConnectionTrait>(db: &C) -> Result<Waiting, StoreError> {
    let what = "counting what waits";
    let touchpoints = |state: TouchpointState| {
        touchpoint::Entity::find()
            .filter(touchpoint::Column::State.eq(state.as_str()))
            .count(db)
    };
    let messages = |state: MessageState| {
        message::Entity::find()
            .filter(message::Column::State.eq(state.as_str()))
            .count(db)
    };
    Ok(Waiting {
        deferred: touchpoints(TouchpointState::Deferred).await.context(what)?,
        on_hold: touchpoints(TouchpointState::OnHold).await.context(what)?,
        held_messages: message::Entity::find()
            .filter(message::Column::State.is_in(MessageState::FOR_REVIEW.map(|m| m.as_str())))
            .count(db)
            .await
            .context(what)?,
        retrying: messages(MessageState::Retry).await.context(what)?,
        open_calls: call_task::Entity::find()
            .filter(call_task::Column::State.eq(CallTaskState::Open.as_str()))
            .count(db)
            .await
            .context(what)?,
    })
}

/// The schema: the names of the migrations applied, oldest first.
pub async fn schema(db: &DatabaseConnection) -> Result<Vec<String>, StoreError> {
    Ok(Migrator::get_applied_migrations(db)
        .await
        .context("reading the migration status")?
        .iter()
        .map(|m| m.name().to_string())
        .collect())
}

/// The setting under which the last pass is recorded.
const LAST_PASS: &str = "last_pass";

/// Records the last pass: what it did (`summary`, JSON) at `at`.
pub async fn record_pass<C: ConnectionTrait>(
    db: &C,
    summary: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    setting::Entity::insert(setting::ActiveModel {
        name: Set(LAST_PASS.into()),
        value: Set(summary.into()),
        created_at: Set(at),
    })
    .on_conflict(
        OnConflict::column(setting::Column::Name)
            .update_columns([setting::Column::Value, setting::Column::CreatedAt])
            .to_owned(),
    )
    .exec(db)
    .await
    .context("recording the pass")?;
    Ok(())
}

/// The last pass recorded: what it did (JSON) and when.
pub async fn last_pass<C: ConnectionTrait>(
    db: &C,
) -> Result<Option<(String, DateTime<Utc>)>, StoreError> {
    Ok(setting::Entity::find_by_id(LAST_PASS.to_string())
        .one(db)
        .await
        .context("reading the last pass")?
        .map(|s| (s.value, s.created_at)))
}
