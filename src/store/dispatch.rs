//! How the dispatch pass's decisions and the transports' answers are stored and what the transports
//! said: state changes grouped into one statement per distinct change, and
//! send outcomes stored together. A pass over thousands of people makes a
//! few dozen statements, not several per touchpoint.

use super::entities::{call_task, message, touchpoint};
use super::{Context as _, StoreError};
use crate::dispatch::{Draft, Move, Settled, sent_together_with};
use crate::domain::{CallTaskState, Channel, Message, MessageState, Touchpoint, TouchpointState};
use crate::rules::History;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait, Func, SimpleExpr};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait, TryInsertResult,
};
use std::collections::{BTreeMap, HashMap};

/// Ids per `IN (...)` list: well within SQLite's and PostgreSQL's limits on
/// bound parameters.
pub const IN_CHUNK: usize = 2000;

/// The guard "the touchpoint is still open" for statements that pick
/// touchpoints by id. Written over an expression rather than the bare column
/// so that SQLite does not trade the id lookup for a walk of the state index
/// (every planned touchpoint).
pub fn still_open() -> SimpleExpr {
    let parts: [SimpleExpr; 2] = [Expr::col(touchpoint::Column::State), Expr::val("")];
    Expr::expr(Func::coalesce(parts)).is_in(TouchpointState::OPEN.map(TouchpointState::as_str))
}

/// Moves of open touchpoints to a new state (with its reason and next
/// attempt), stored in one statement per few hundred. A touchpoint that is
/// no longer open when they are applied (another dispatcher took it) is left
/// alone.
#[derive(Debug, Default)]
pub struct Changes {
    moves: Vec<Move>,
}

impl From<Vec<Move>> for Changes {
    fn from(moves: Vec<Move>) -> Self {
        Self { moves }
    }
}

impl Changes {
    /// Touchpoints per statement (three parameters each, and the id list).
    const CHUNK: usize = 500;

    pub fn push(
        &mut self,
        id: i64,
        state: TouchpointState,
        reason: Option<String>,
        next: Option<DateTime<Utc>>,
    ) {
        self.moves.push((id, state, reason, next));
    }

    pub async fn apply<C: ConnectionTrait>(
        self,
        db: &C,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for chunk in self.moves.chunks(Self::CHUNK) {
            let mut state = CaseStatement::new();
            let mut reason = CaseStatement::new();
            let mut next = CaseStatement::new();
            for (id, s, r, n) in chunk {
                let is = || Expr::col(touchpoint::Column::Id).eq(*id);
                state = state.case(is(), Expr::val(s.as_str()));
                reason = reason.case(is(), Expr::val(r.clone()));
                next = next.case(is(), Expr::val(*n));
            }
            touchpoint::Entity::update_many()
                .col_expr(touchpoint::Column::State, state.into())
                .col_expr(touchpoint::Column::Reason, reason.into())
                .col_expr(touchpoint::Column::NextAttemptAt, next.into())
                .col_expr(touchpoint::Column::UpdatedAt, Expr::value(now))
                .filter(touchpoint::Column::Id.is_in(chunk.iter().map(|m| m.0)))
                .filter(still_open())
                .exec(db)
                .await
                .context("updating touchpoints")?;
        }
        Ok(())
    }
}

/// Stores a group's drafts in `txn`: their messages, the claims of their
/// touchpoints (`sending`, calls `sent`) and the call tasks, in a few
/// statements. A draft whose key or touchpoints another dispatcher took
/// first is withdrawn. Returns the drafts stored, with their ids.
pub async fn create_messages(
    txn: &DatabaseTransaction,
    drafts: Vec<Draft>,
    now: DateTime<Utc>,
) -> Result<Vec<Draft>, StoreError> {
    if drafts.is_empty() {
        return Ok(drafts);
    }
    let rows = drafts.iter().map(|d| {
        let mut active: message::ActiveModel = message::Model::from(d.message.clone()).into();
        active.id = NotSet;
        active
    });
    let inserted = match message::Entity::insert_many(rows)
        .on_conflict_do_nothing_on([message::Column::Key])
        .exec_with_returning_many(txn)
        .await
        .context("creating messages")?
    {
        TryInsertResult::Inserted(models) => models,
        TryInsertResult::Empty | TryInsertResult::Conflicted => Vec::new(),
    };
    let ids: HashMap<String, i64> = inserted.into_iter().map(|m| (m.key, m.id)).collect();
    let mut created: Vec<Draft> = drafts
        .into_iter()
        .filter_map(|mut d| {
            d.message.id = *ids.get(&d.message.key)?;
            Some(d)
        })
        .collect();
    if created.is_empty() {
        return Ok(created);
    }
    // One statement claims every carried touchpoint for its message.
    let mut message_of = CaseStatement::new();
    let mut reason_of = CaseStatement::new();
    let mut state_of = CaseStatement::new();
    let mut claimed_ids = Vec::new();
    let mut any_reason = false;
    for d in &created {
        // A message awaiting approval holds its touchpoints, with its reason.
        let awaiting = MessageState::AwaitingApproval.is(&d.message.state);
        let state = if awaiting {
            TouchpointState::Held.as_str().to_string()
        } else {
            d.message.state.clone()
        };
        for (i, t) in d.carried.iter().enumerate() {
            let is_t = || Expr::col(touchpoint::Column::Id).eq(t.id);
            message_of = message_of.case(is_t(), Expr::val(d.message.id));
            state_of = state_of.case(is_t(), Expr::val(state.clone()));
            let reason = if i > 0 {
                Some(sent_together_with(&d.message.key))
            } else if awaiting {
                d.message.reason.clone()
            } else {
                None
            };
            if let Some(r) = reason {
                reason_of = reason_of.case(is_t(), Expr::val(r));
                any_reason = true;
            }
            claimed_ids.push(t.id);
        }
    }
    let no_reason = Expr::val(Option::<String>::None);
    let reason = if any_reason {
        reason_of.finally(no_reason).into()
    } else {
        no_reason
    };
    let claimed = touchpoint::Entity::update_many()
        .col_expr(touchpoint::Column::MessageId, message_of.into())
        .col_expr(touchpoint::Column::State, state_of.into())
        .col_expr(touchpoint::Column::Reason, reason)
        .col_expr(touchpoint::Column::UpdatedAt, Expr::value(now))
        .filter(touchpoint::Column::Id.is_in(claimed_ids.iter().copied()))
        .filter(still_open())
        .exec(txn)
        .await
        .context("claiming touchpoints")?;
    if claimed.rows_affected != claimed_ids.len() as u64 {
        created = withdraw_taken(txn, created, &claimed_ids).await?;
    }
    let calls: Vec<call_task::ActiveModel> = created
        .iter()
        .filter_map(|d| {
            let task = d.call.as_ref()?;
            Some(call_task::ActiveModel {
                message_id: Set(d.message.id),
                customer_id: Set(d.message.customer_id),
                due_date: Set(task.due_date),
                title: Set(task.title.clone()),
                script: Set(task.script.clone()),
                state: Set(CallTaskState::Open.as_str().into()),
                created_at: Set(d.message.created_at),
                ..Default::default()
            })
        })
        .collect();
    if !calls.is_empty() {
        call_task::Entity::insert_many(calls)
            .exec_without_returning(txn)
            .await
            .context("creating call tasks")?;
    }
    Ok(created)
}

/// Some touchpoints were taken by another dispatcher between the pass's
/// read and its claim: the drafts that did not get all of theirs give back
/// what they got and their messages are withdrawn.
async fn withdraw_taken(
    txn: &DatabaseTransaction,
    created: Vec<Draft>,
    claimed_ids: &[i64],
) -> Result<Vec<Draft>, StoreError> {
    let owners: HashMap<i64, Option<i64>> = touchpoint::Entity::find()
        .select_only()
        .column(touchpoint::Column::Id)
        .column(touchpoint::Column::MessageId)
        .filter(touchpoint::Column::Id.is_in(claimed_ids.iter().copied()))
        .into_tuple::<(i64, Option<i64>)>()
        .all(txn)
        .await
        .context("checking claims")?
        .into_iter()
        .collect();
    let mut kept = Vec::with_capacity(created.len());
    for d in created {
        let whole = d
            .carried
            .iter()
            .all(|t| owners.get(&t.id).copied().flatten() == Some(d.message.id));
        if whole {
            kept.push(d);
            continue;
        }
        for t in &d.carried {
            touchpoint::Entity::update_many()
                .col_expr(touchpoint::Column::State, Expr::value(t.state.clone()))
                .col_expr(touchpoint::Column::Reason, Expr::value(t.reason.clone()))
                .col_expr(
                    touchpoint::Column::MessageId,
                    Expr::value(Option::<i64>::None),
                )
                .filter(touchpoint::Column::Id.eq(t.id))
                .filter(touchpoint::Column::MessageId.eq(d.message.id))
                .exec(txn)
                .await
                .context("giving back touchpoints")?;
        }
        message::Entity::delete_by_id(d.message.id)
            .exec(txn)
            .await
            .context("withdrawing a message")?;
    }
    Ok(kept)
}

type MessageKey = (
    &'static str,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<String>,
    bool,
);

/// Stores send outcomes in one transaction: one statement per distinct
/// message change and per distinct touchpoint change.
pub async fn store_outcomes(
    db: &DatabaseConnection,
    settled: &[Settled],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if settled.is_empty() {
        return Ok(());
    }
    let mut messages: BTreeMap<MessageKey, Vec<i64>> = BTreeMap::new();
    let mut touchpoints: BTreeMap<(&'static str, Option<String>), Vec<i64>> = BTreeMap::new();
    for s in settled {
        messages
            .entry((
                s.message_state.as_str(),
                s.message_reason.clone(),
                s.next_attempt_at,
                s.sent_at,
                s.provider_ref.clone(),
                s.attempt_counted,
            ))
            .or_default()
            .push(s.message_id);
        if let Some(change) = &s.touchpoints {
            touchpoints
                .entry((change.0.as_str(), change.1.clone()))
                .or_default()
                .push(s.message_id);
        }
    }
    let txn = db.begin().await.context("storing send outcomes")?;
    for ((state, reason, next, sent_at, provider_ref, counted), ids) in messages {
        // An attempt that did not count is given back.
        let attempts = if counted {
            Expr::col(message::Column::Attempts)
        } else {
            Expr::col(message::Column::Attempts).sub(1)
        };
        for chunk in ids.chunks(IN_CHUNK) {
            message::Entity::update_many()
                .col_expr(message::Column::Attempts, attempts.clone())
                .col_expr(message::Column::State, Expr::value(state))
                .col_expr(message::Column::Reason, Expr::value(reason.clone()))
                .col_expr(message::Column::NextAttemptAt, Expr::value(next))
                .col_expr(message::Column::SentAt, Expr::value(sent_at))
                .col_expr(
                    message::Column::ProviderRef,
                    Expr::value(provider_ref.clone()),
                )
                .col_expr(
                    message::Column::LeaseUntil,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(message::Column::UpdatedAt, Expr::value(now))
                .filter(message::Column::Id.is_in(chunk.iter().copied()))
                .exec(&txn)
                .await
                .context("storing a send outcome")?;
        }
    }
    for ((state, reason), ids) in touchpoints {
        for chunk in ids.chunks(IN_CHUNK) {
            let mut update = touchpoint::Entity::update_many()
                .col_expr(touchpoint::Column::State, Expr::value(state))
                .col_expr(touchpoint::Column::UpdatedAt, Expr::value(now));
            if let Some(r) = &reason {
                update = update.col_expr(touchpoint::Column::Reason, Expr::value(r.clone()));
            }
            update
                .filter(touchpoint::Column::MessageId.is_in(chunk.iter().copied()))
                .exec(&txn)
                .await
                .context("updating the messages' touchpoints")?;
        }
    }
    for s in settled.iter().filter(|s| s.opted_out) {
        crate::store::record_opt_out(&txn, s.customer_id, s.channel, "provider", true, now).await?;
    }
    txn.commit().await.context("storing send outcomes")?;
    Ok(())
}

/// Planned touchpoints of the widest "today" of any time zone (the rules
/// check each person's own) and deferred ones whose time came: two index
/// ranges in one statement.
pub async fn due_touchpoints(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<Vec<Touchpoint>, StoreError> {
    touchpoint::Entity::find()
        .filter(due(now))
        .all(db)
        .await
        .context("loading due touchpoints")
        .map(super::records)
}

/// Planned touchpoints whose day has come (UTC+14 is the earliest any day
/// begins), and deferred ones whose time has come.
fn due(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(
            Condition::all()
                .add(touchpoint::Column::State.eq(TouchpointState::Planned.as_str()))
                .add(
                    touchpoint::Column::DueDate.lte(crate::predict::add_days(now.date_naive(), 1)),
                ),
        )
        .add(
            Condition::all()
                .add(touchpoint::Column::State.eq(TouchpointState::Deferred.as_str()))
                .add(touchpoint::Column::NextAttemptAt.lte(now)),
        )
}

/// Of the touchpoints `ids`, those still due, as they are now, locked for
/// this transaction. On PostgreSQL rows another dispatcher has locked are
/// skipped (`FOR UPDATE SKIP LOCKED`): instances on one database split the
/// work instead of waiting for each other. (SQLite's write lock serialises
/// dispatchers anyway.)
pub async fn lock_due(
    txn: &DatabaseTransaction,
    ids: &[i64],
    now: DateTime<Utc>,
) -> Result<Vec<Touchpoint>, StoreError> {
    use sea_orm::sea_query::{LockBehavior, LockType};
    let mut locked = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IN_CHUNK) {
        locked.extend(
            touchpoint::Entity::find()
                .filter(touchpoint::Column::Id.is_in(chunk.iter().copied()))
                .filter(due(now))
                .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
                .all(txn)
                .await
                .context("claiming due touchpoints")?,
        );
    }
    Ok(super::records(locked))
}

/// The earliest of what is pending, each from its index.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NextPending {
    /// A deferred touchpoint's next attempt.
    pub deferred: Option<DateTime<Utc>>,
    /// A planned touchpoint's due date.
    pub planned: Option<NaiveDate>,
    /// A message's retry.
    pub retry: Option<DateTime<Utc>>,
    /// The end of a sending message's lease.
    pub lease: Option<DateTime<Utc>>,
}

/// What is pending next, in one statement.
pub async fn next_pending(db: &DatabaseConnection) -> Result<NextPending, StoreError> {
    let sql = format!(
        "SELECT \
        (SELECT MIN(next_attempt_at) FROM touchpoints WHERE state = '{deferred}') AS deferred, \
        (SELECT MIN(due_date) FROM touchpoints WHERE state = '{planned}') AS planned, \
        (SELECT MIN(next_attempt_at) FROM messages WHERE state IN ('{retry}', '{awaiting}')) AS retry, \
        (SELECT MIN(lease_until) FROM messages WHERE state = '{sending}') AS lease",
        deferred = TouchpointState::Deferred,
        planned = TouchpointState::Planned,
        retry = MessageState::Retry,
        awaiting = MessageState::AwaitingApproval,
        sending = MessageState::Sending,
    );
    let what = "finding the next thing to do";
    let backend = db.get_database_backend();
    let Some(row) = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await
        .context(what)?
    else {
        return Ok(NextPending::default());
    };
    let at = |column: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        row.try_get::<Option<DateTime<Utc>>>("", column)
            .context(what)
    };
    Ok(NextPending {
        deferred: at("deferred")?,
        planned: row
            .try_get::<Option<NaiveDate>>("", "planned")
            .context(what)?,
        retry: at("retry")?,
        lease: at("lease")?,
    })
}

/// The messages awaiting approval whose deadline has come, oldest first.
pub async fn approvals_past_deadline(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<Vec<Message>, StoreError> {
    let rows = message::Entity::find()
        .filter(message::Column::State.eq(MessageState::AwaitingApproval.as_str()))
        .filter(message::Column::NextAttemptAt.lte(now))
        .order_by_asc(message::Column::Id)
        .all(db)
        .await
        .context("looking for approvals past their deadline")?;
    Ok(super::records(rows))
}

/// Marks every `sending` message whose lease ran out as held (with its
/// touchpoints) for `reason`; the messages held.
pub async fn hold_interrupted(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    reason: &str,
) -> Result<Vec<Message>, StoreError> {
    let stale = message::Entity::find()
        .filter(message::Column::State.eq(MessageState::Sending.as_str()))
        .filter(message::Column::LeaseUntil.lt(now))
        .all(db)
        .await
        .context("looking for interrupted sends")?;
    for m in &stale {
        let txn = db.begin().await.context("holding an interrupted send")?;
        message::Entity::update_many()
            .col_expr(
                message::Column::State,
                Expr::value(MessageState::Held.as_str()),
            )
            .col_expr(message::Column::Reason, Expr::value(reason))
            .col_expr(message::Column::UpdatedAt, Expr::value(now))
            .filter(message::Column::Id.eq(m.id))
            .filter(message::Column::State.eq(MessageState::Sending.as_str()))
            .exec(&txn)
            .await
            .context("holding a message")?;
        touchpoint::Entity::update_many()
            .col_expr(
                touchpoint::Column::State,
                Expr::value(TouchpointState::Held.as_str()),
            )
            .col_expr(touchpoint::Column::Reason, Expr::value(reason))
            .col_expr(touchpoint::Column::UpdatedAt, Expr::value(now))
            .filter(touchpoint::Column::MessageId.eq(m.id))
            .exec(&txn)
            .await
            .context("holding the message's touchpoints")?;
        txn.commit().await.context("holding an interrupted send")?;
    }
    Ok(super::records(stale))
}

pub use super::calls::touchpoints_of_message;

/// Messages waiting for a retry whose time came.
pub async fn due_retries(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<Vec<Message>, StoreError> {
    message::Entity::find()
        .filter(message::Column::State.eq(MessageState::Retry.as_str()))
        .filter(message::Column::NextAttemptAt.lte(now))
        .all(db)
        .await
        .context("loading retries")
        .map(super::records)
}

/// Claims a retry for this pass (`sending` under a lease, one attempt
/// more); `false`: another pass claimed it first.
pub async fn claim_retry(
    db: &DatabaseConnection,
    m: &Message,
    lease_until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let claimed = message::Entity::update_many()
        .col_expr(
            message::Column::State,
            Expr::value(MessageState::Sending.as_str()),
        )
        .col_expr(message::Column::LeaseUntil, Expr::value(lease_until))
        .col_expr(message::Column::Attempts, Expr::value(m.attempts + 1))
        .filter(message::Column::Id.eq(m.id))
        .filter(message::Column::State.eq(MessageState::Retry.as_str()))
        .exec(db)
        .await
        .context("claiming a retry")?;
    Ok(claimed.rows_affected == 1)
}

/// A message in a person's history: customer, channel, state, sent, created.
type Sent = (i64, String, String, Option<DateTime<Utc>>, DateTime<Utc>);

/// The people's messages and calls that went out since `since`, per person
/// (every one of them, with or without).
pub async fn histories<C: ConnectionTrait>(
    db: &C,
    people: &[i64],
    since: DateTime<Utc>,
) -> Result<HashMap<i64, History>, StoreError> {
    let mut histories: HashMap<i64, History> =
        people.iter().map(|id| (*id, History::default())).collect();
    for chunk in people.chunks(IN_CHUNK) {
        // The states are filtered here: in SQL they would steer the
        // planner to the state index, a scan of every message ever sent.
        let recent: Vec<Sent> = message::Entity::find()
            .select_only()
            .column(message::Column::CustomerId)
            .column(message::Column::Channel)
            .column(message::Column::State)
            .column(message::Column::SentAt)
            .column(message::Column::CreatedAt)
            .filter(message::Column::CustomerId.is_in(chunk.iter().copied()))
            .filter(message::Column::CreatedAt.gt(since))
            .into_tuple()
            .all(db)
            .await
            .context("loading the send history")?;
        for (customer_id, channel, state, sent_at, created_at) in recent {
            if !MessageState::WENT_OUT.contains(&super::stored_state::<MessageState>(&state)?) {
                continue;
            }
            let at = sent_at.unwrap_or(created_at);
            if at <= since {
                continue;
            }
            let channel = Channel::of_stored(&channel);
            histories.entry(customer_id).or_default().push(channel, at);
        }
    }
    Ok(histories)
}

/// Makes every deferred touchpoint due again at `now`, so that the next
/// pass decides it under the rules in force (after a reload changed caps
/// or quiet hours); how many.
pub async fn reconsider_deferred(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(touchpoint::Entity::update_many()
        .col_expr(touchpoint::Column::NextAttemptAt, Expr::value(now))
        .filter(touchpoint::Column::State.eq(TouchpointState::Deferred.as_str()))
        .filter(touchpoint::Column::NextAttemptAt.gt(now))
        .exec(db)
        .await
        .context("making deferred touchpoints due")?
        .rows_affected)
}
