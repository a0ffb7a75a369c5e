//! How the dispatch pass's decisions and the transports' answers are stored and what the transports
//! said: state changes grouped into one statement per distinct change, and
//! send outcomes stored together. A pass over thousands of people makes a
//! few dozen statements, not several per touchpoint.

use super::entities::{call_task, message, touchpoint};
use super::{Context as _, StoreError};
use crate::dispatch::Settled;
use crate::domain::TouchpointState;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait, Func, SimpleExpr};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QuerySelect, TransactionTrait, TryInsertResult,
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

/// A touchpoint's move: id, state, reason, next attempt.
type Move = (i64, TouchpointState, Option<String>, Option<DateTime<Utc>>);

/// Moves of open touchpoints to a new state (with its reason and next
/// attempt), stored in one statement per few hundred. A touchpoint that is
/// no longer open when they are applied (another dispatcher took it) is left
/// alone.
#[derive(Debug, Default)]
pub struct Changes {
    moves: Vec<Move>,
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

/// A message (and, for a call, its task) decided but not yet stored, with
/// the touchpoints it carries (the first one gives it its key).
#[derive(Debug, Clone)]
pub struct Draft {
    pub message: message::Model,
    pub carried: Vec<touchpoint::Model>,
    pub call: Option<call_task::ActiveModel>,
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
        let mut active: message::ActiveModel = d.message.clone().into();
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
    for d in &created {
        for (i, t) in d.carried.iter().enumerate() {
            let is_t = || Expr::col(touchpoint::Column::Id).eq(t.id);
            message_of = message_of.case(is_t(), Expr::val(d.message.id));
            state_of = state_of.case(is_t(), Expr::val(d.message.state.clone()));
            if i > 0 {
                reason_of = reason_of.case(
                    is_t(),
                    Expr::val(format!("sent together with {}", d.message.key)),
                );
            }
            claimed_ids.push(t.id);
        }
    }
    let no_reason = Expr::val(Option::<String>::None);
    let reason = if created.iter().any(|d| d.carried.len() > 1) {
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
            let mut task = d.call.clone()?;
            task.message_id = Set(d.message.id);
            Some(task)
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
    for ((state, reason, next, sent_at, provider_ref), ids) in messages {
        for chunk in ids.chunks(IN_CHUNK) {
            message::Entity::update_many()
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
