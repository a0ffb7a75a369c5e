//! `held`, `approve`, `discard`: the messages whose send was interrupted and
//! whose outcome is unknown, and those that wait for approval
//! (`[approval]`), wait for an administrator, who lets each go out (once
//! more) or throws it away.

use super::{Failure, reason};
use crate::domain::MessageState;
use crate::store::operator::{self, HeldMessage};
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use serde::Serialize;

/// A message held for review.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Held {
    pub id: i64,
    pub customer_id: String,
    pub name: String,
    pub channel: String,
    pub recipient: String,
    pub subject: String,
    pub reason: Option<String>,
    pub attempts: i32,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// held (an interrupted send), or awaiting_approval (an approval rule).
    pub state: String,
    /// Awaiting approval: when it goes or expires unapproved (RFC 3339, UTC).
    pub deadline: Option<String>,
    /// The message's text, as it goes out.
    pub body: String,
    /// The dedup keys of the touchpoints it carries.
    pub touchpoints: Vec<String>,
}

impl From<HeldMessage> for Held {
    fn from(h: HeldMessage) -> Self {
        let m = h.message;
        let awaiting = MessageState::AwaitingApproval.is(&m.state);
        Held {
            deadline: m
                .next_attempt_at
                .filter(|_| awaiting)
                .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            state: m.state.clone(),
            body: m.body,
            id: m.id,
            customer_id: h
                .customer
                .as_ref()
                .map(|c| c.customer_id.clone())
                .unwrap_or_default(),
            name: h.customer.map(|c| c.name).unwrap_or_default(),
            channel: m.channel,
            recipient: m.recipient,
            subject: m.subject,
            reason: m.reason,
            attempts: m.attempts,
            created_at: m
                .created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            touchpoints: h.touchpoint_keys,
        }
    }
}

/// The messages held for review, oldest first.
pub async fn list(db: &DatabaseConnection) -> Result<Vec<Held>, Failure> {
    Ok(operator::held_messages(db)
        .await?
        .into_iter()
        .map(Held::from)
        .collect())
}

/// What `approve` or `discard` did to a held message.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Reviewed {
    pub id: i64,
    pub state: MessageState,
    pub reason: String,
    pub touchpoints: Vec<String>,
    /// The recipient's stored id (for the audit log).
    #[serde(skip)]
    pub owner: Option<i64>,
}

/// Lets a held message go out on the next pass, once. Refused when the
/// recipient has opted out of its channel since.
pub async fn approve(
    db: &DatabaseConnection,
    id: i64,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Reviewed, Failure> {
    let held = find_held(db, id).await?;
    if let Some(c) = &held.customer
        && c.opted_out_of(crate::domain::Channel::of_stored(&held.message.channel))
    {
        return Err(Failure::Conflict(format!(
            "message {id}: the recipient has opted out of {}; discard it",
            held.message.channel
        )));
    }
    let reason = reason("approved for sending", by, None)?;
    if !operator::approve_message(db, id, &reason, now).await? {
        return Err(not_held(id));
    }
    Ok(reviewed(held, MessageState::Retry, reason))
}

/// Discards a held message: it ends discarded, its touchpoints cancelled.
pub async fn discard(
    db: &DatabaseConnection,
    id: i64,
    by: &str,
    why: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Reviewed, Failure> {
    let reason = reason("discarded", by, why)?;
    let held = find_held(db, id).await?;
    if !operator::discard_message(db, id, &reason, now).await? {
        return Err(not_held(id));
    }
    Ok(reviewed(held, MessageState::Discarded, reason))
}

fn reviewed(held: HeldMessage, state: MessageState, reason: String) -> Reviewed {
    Reviewed {
        id: held.message.id,
        state,
        reason,
        owner: held.customer.as_ref().map(|c| c.id),
        touchpoints: held.touchpoint_keys,
    }
}

async fn find_held(db: &DatabaseConnection, id: i64) -> Result<HeldMessage, Failure> {
    match operator::message_by_id(db, id).await? {
        None => Err(Failure::NotFound(format!("no message number {id}"))),
        Some(h)
            if !MessageState::FOR_REVIEW
                .iter()
                .any(|s| s.is(&h.message.state)) =>
        {
            Err(Failure::Conflict(format!(
                "message {id} is {}, not held for review",
                h.message.state
            )))
        }
        Some(h) => Ok(h),
    }
}

fn not_held(id: i64) -> Failure {
    Failure::Conflict(format!("message {id} is no longer held for review"))
}
