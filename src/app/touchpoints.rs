//! `hold`, `release`, `skip`, `send-now`: an administrator stops a planned
//! touchpoint for a while, lets it go again, drops it with a reason, or has
//! it go out as soon as the rules allow.

use super::{Failure, reason};
use crate::domain::Touchpoint;
use crate::domain::TouchpointState;
use crate::store::operator;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::DatabaseConnection;
use serde::Serialize;

/// A touchpoint's move.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Moved {
    pub key: String,
    pub code: String,
    pub channel: String,
    pub due_date: NaiveDate,
    /// The state before.
    pub from: String,
    pub state: TouchpointState,
    pub reason: Option<String>,
    /// The owner's stored id (for the audit log).
    #[serde(skip)]
    pub owner: i64,
}

/// Holds a planned (or deferred) touchpoint: it is not sent and not
/// re-planned until released or skipped.
pub async fn hold(
    db: &DatabaseConnection,
    key: &str,
    by: &str,
    why: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Moved, Failure> {
    let reason = reason("held", by, why)?;
    let to = Target {
        state: TouchpointState::OnHold,
        verb: "held",
        replan: false,
    };
    change(db, key, &TouchpointState::HOLDABLE, to, Some(reason), now).await
}

/// Releases a held touchpoint back to planned, and has the next pass
/// re-plan its vehicle: the plan of the day decides about it again (a
/// reminder whose service a visit fulfilled while it was held is
/// cancelled); then the dispatcher's rules apply as to any planned one
/// (past the grace window it is skipped).
pub async fn release(
    db: &DatabaseConnection,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Moved, Failure> {
    let to = Target {
        state: TouchpointState::Planned,
        verb: "released",
        replan: true,
    };
    change(db, key, &[TouchpointState::OnHold], to, None, now).await
}

/// Skips a planned, deferred or held touchpoint with a reason.
pub async fn skip(
    db: &DatabaseConnection,
    key: &str,
    by: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Moved, Failure> {
    let reason = super::reason("skipped", by, Some(reason))?;
    let to = Target {
        state: TouchpointState::Skipped,
        verb: "skipped",
        replan: false,
    };
    change(db, key, &TouchpointState::SKIPPABLE, to, Some(reason), now).await
}

/// Sends a planned, deferred or held touchpoint as soon as the rules allow:
/// it becomes due now (dated today in the owner's time zone, waiting for
/// the next pass), and that pass decides it as any other: consent,
/// opt-outs, quiet hours and the frequency caps still hold.
pub async fn send_now(
    db: &DatabaseConnection,
    config: &crate::config::Config,
    key: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Moved, Failure> {
    let key = key.trim();
    let t = touchpoint(db, key).await?;
    let from = &TouchpointState::SENDABLE_NOW;
    refuse_unless(&t, from, "sent now")?;
    let tz = match crate::store::customer(db, t.customer_id).await? {
        Some(owner) => super::facts::tz_of(&owner, config),
        None => config.default_timezone(),
    };
    let today = super::facts::today_in(tz, now);
    let reason = reason("sent now", by, None)?;
    if !operator::send_now(db, &t, from, today, reason.clone(), now).await? {
        return Err(changed_meanwhile(key));
    }
    Ok(Moved {
        owner: t.customer_id,
        key: t.dedup_key,
        code: t.code,
        channel: t.channel,
        due_date: today,
        from: t.state,
        state: TouchpointState::Deferred,
        reason: Some(reason),
    })
}

/// Where a move goes: the new state, the verb for refusals, and whether the
/// vehicle is re-planned after it.
struct Target {
    state: TouchpointState,
    verb: &'static str,
    replan: bool,
}

async fn change(
    db: &DatabaseConnection,
    key: &str,
    from: &[TouchpointState],
    to: Target,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<Moved, Failure> {
    let key = key.trim();
    let t = touchpoint(db, key).await?;
    refuse_unless(&t, from, to.verb)?;
    if !operator::move_touchpoint(db, &t, from, to.state, reason.clone(), to.replan, now).await? {
        return Err(changed_meanwhile(key));
    }
    Ok(Moved {
        owner: t.customer_id,
        key: t.dedup_key,
        code: t.code,
        channel: t.channel,
        due_date: t.due_date,
        from: t.state,
        state: to.state,
        reason,
    })
}

/// The touchpoint of a key; bad data when there is none.
async fn touchpoint(db: &DatabaseConnection, key: &str) -> Result<Touchpoint, Failure> {
    operator::touchpoint_by_key(db, key)
        .await?
        .ok_or_else(|| Failure::NotFound(format!("no touchpoint with key {key}")))
}

/// Bad data unless the touchpoint is in one of `from`.
fn refuse_unless(t: &Touchpoint, from: &[TouchpointState], verb: &str) -> Result<(), Failure> {
    if from.iter().any(|s| s.is(&t.state)) {
        return Ok(());
    }
    Err(Failure::Conflict(format!(
        "touchpoint {} is {}: only {} ones can be {verb}",
        t.dedup_key,
        t.state,
        from.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    )))
}

fn changed_meanwhile(key: &str) -> Failure {
    Failure::Conflict(format!(
        "touchpoint {key} changed meanwhile (a pass took it): look at it again"
    ))
}
