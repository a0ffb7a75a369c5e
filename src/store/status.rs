//! What `status` reads: counts of what waits, the schema's migrations, and
//! the record of the last pass.

use super::entities::{call_task, message, setting, touchpoint};
use super::{Context, StoreError};
use crate::domain::{CallTaskState, MessageState, TouchpointState};
use chrono::{DateTime, NaiveDate, Utc};
use migration::{Migrator, MigratorTrait};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    TryInsertResult,
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

/// How many wait, by kind: [`depth`] summed over the channels.
pub async fn waiting<C: ConnectionTrait>(db: &C) -> Result<Waiting, StoreError> {
    let mut w = Waiting::default();
    for (_, state, n) in depth(db).await? {
        let state = state.as_str();
        let count = if state == TouchpointState::Deferred.as_str() {
            &mut w.deferred
        } else if state == TouchpointState::OnHold.as_str() {
            &mut w.on_hold
        } else if state == MessageState::Retry.as_str() {
            &mut w.retrying
        } else if state == CallTaskState::Open.as_str() {
            &mut w.open_calls
        } else if MessageState::FOR_REVIEW.iter().any(|m| m.as_str() == state) {
            &mut w.held_messages
        } else {
            continue;
        };
        *count += n;
    }
    Ok(w)
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

/// The setting under which the digest of a local day is recorded.
fn digest_setting(day: NaiveDate) -> String {
    format!("digest:{day}")
}

/// Claims the digest of the local day `day` for this instance at `at`:
/// whether it was still unclaimed. One statement (an insert that does
/// nothing when the row exists), so that of instances that claim the same
/// day at once exactly one gets it.
pub async fn claim_digest<C: ConnectionTrait>(
    db: &C,
    day: NaiveDate,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let inserted = setting::Entity::insert(setting::ActiveModel {
        name: Set(digest_setting(day)),
        value: Set("claimed".into()),
        created_at: Set(at),
    })
    .on_conflict_do_nothing_on([setting::Column::Name])
    .exec_without_returning(db)
    .await
    .context("claiming the day's digest")?;
    Ok(matches!(inserted, TryInsertResult::Inserted(n) if n > 0))
}

/// Records that the digest of `day` went out (to `recipients`, a summary).
pub async fn digest_sent<C: ConnectionTrait>(
    db: &C,
    day: NaiveDate,
    recipients: &str,
) -> Result<(), StoreError> {
    setting::Entity::update_many()
        .col_expr(setting::Column::Value, Expr::value(recipients))
        .filter(setting::Column::Name.eq(digest_setting(day)))
        .exec(db)
        .await
        .context("recording the day's digest")?;
    Ok(())
}

/// Gives up the claim on the digest of `day` (it could not be sent): a
/// later try, by any instance, may claim it again.
pub async fn release_digest<C: ConnectionTrait>(db: &C, day: NaiveDate) -> Result<(), StoreError> {
    setting::Entity::delete_by_id(digest_setting(day))
        .exec(db)
        .await
        .context("giving up the day's digest")?;
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

/// What waits by channel and state (the metrics' queue depth): deferred and
/// held touchpoints, messages waiting for a retry or a review, open calls.
pub async fn depth<C: ConnectionTrait>(db: &C) -> Result<Vec<(String, String, u64)>, StoreError> {
    use sea_orm::{QuerySelect, prelude::*};
    let what = "counting the queue's depth";
    let mut depth = Vec::new();
    let touchpoints: Vec<(String, String, i64)> = touchpoint::Entity::find()
        .select_only()
        .column(touchpoint::Column::Channel)
        .column(touchpoint::Column::State)
        .column_as(touchpoint::Column::Id.count(), "n")
        .filter(touchpoint::Column::State.is_in([
            TouchpointState::Deferred.as_str(),
            TouchpointState::OnHold.as_str(),
        ]))
        .group_by(touchpoint::Column::Channel)
        .group_by(touchpoint::Column::State)
        .into_tuple()
        .all(db)
        .await
        .context(what)?;
    let mut states = vec![MessageState::Retry];
    states.extend(MessageState::FOR_REVIEW);
    let messages: Vec<(String, String, i64)> = message::Entity::find()
        .select_only()
        .column(message::Column::Channel)
        .column(message::Column::State)
        .column_as(message::Column::Id.count(), "n")
        .filter(message::Column::State.is_in(states.iter().map(|s| s.as_str())))
        .group_by(message::Column::Channel)
        .group_by(message::Column::State)
        .into_tuple()
        .all(db)
        .await
        .context(what)?;
    let calls = call_task::Entity::find()
        .filter(call_task::Column::State.eq(CallTaskState::Open.as_str()))
        .count(db)
        .await
        .context(what)?;
    for (channel, state, n) in touchpoints.into_iter().chain(messages) {
        depth.push((channel, state, u64::try_from(n).unwrap_or(0)));
    }
    depth.push(("call".into(), CallTaskState::Open.as_str().into(), calls));
    Ok(depth)
}

/// A daemon's record, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InstanceRecord {
    pub id: String,
    pub host: String,
    pub pid: u32,
    pub version: String,
    pub listen: String,
    pub started_at: DateTime<Utc>,
    pub seen_at: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
}

/// Records that the instance `r` is alive at `r.seen_at` (or stopped, with
/// `stopped_at`); forgets instances not seen since `forget_before`.
pub async fn heartbeat<C: ConnectionTrait>(
    db: &C,
    r: &InstanceRecord,
    forget_before: DateTime<Utc>,
) -> Result<(), StoreError> {
    use super::entities::instance;
    let what = "recording the instance's heartbeat";
    instance::Entity::insert(instance::ActiveModel {
        id: Set(r.id.clone()),
        host: Set(r.host.clone()),
        pid: Set(i32::try_from(r.pid).unwrap_or(i32::MAX)),
        version: Set(r.version.clone()),
        listen: Set(r.listen.clone()),
        started_at: Set(r.started_at),
        seen_at: Set(r.seen_at),
        stopped_at: Set(r.stopped_at),
    })
    .on_conflict(
        OnConflict::column(instance::Column::Id)
            .update_columns([instance::Column::SeenAt, instance::Column::StoppedAt])
            .to_owned(),
    )
    .exec(db)
    .await
    .context(what)?;
    instance::Entity::delete_many()
        .filter(instance::Column::SeenAt.lt(forget_before))
        .exec(db)
        .await
        .context(what)?;
    Ok(())
}

/// The instances seen at or after `since`, the latest first.
pub async fn instances_since<C: ConnectionTrait>(
    db: &C,
    since: DateTime<Utc>,
) -> Result<Vec<InstanceRecord>, StoreError> {
    use super::entities::instance;
    use sea_orm::QueryOrder;
    Ok(instance::Entity::find()
        .filter(instance::Column::SeenAt.gte(since))
        .order_by_desc(instance::Column::SeenAt)
        .all(db)
        .await
        .context("reading the instances")?
        .into_iter()
        .map(|m| InstanceRecord {
            id: m.id,
            host: m.host,
            pid: u32::try_from(m.pid).unwrap_or(0),
            version: m.version,
            listen: m.listen,
            started_at: m.started_at,
            seen_at: m.seen_at,
            stopped_at: m.stopped_at,
        })
        .collect())
}
