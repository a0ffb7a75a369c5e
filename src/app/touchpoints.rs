//! `hold`, `release`, `skip`: an administrator stops a planned touchpoint
//! for a while, lets it go again, or drops it with a reason.

use super::{Error, reason};
use crate::domain::states::touchpoint::{HOLDABLE, ON_HOLD, PLANNED, SKIPPABLE, SKIPPED};
use crate::store::operator;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::DatabaseConnection;
use serde::Serialize;

/// A touchpoint's move.
#[derive(Debug, Clone, Serialize)]
pub struct Moved {
    pub key: String,
    pub code: String,
    pub channel: String,
    pub due_date: NaiveDate,
    /// The state before.
    pub from: String,
    pub state: &'static str,
    pub reason: Option<String>,
}

/// Holds a planned (or deferred) touchpoint: it is not sent and not
/// re-planned until released or skipped.
pub async fn hold(
    db: &DatabaseConnection,
    key: &str,
    by: &str,
    why: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Moved, Error> {
    let reason = reason("held", by, why)?;
    change(db, key, &HOLDABLE, ON_HOLD, "held", Some(reason), now).await
}

/// Releases a held touchpoint back to planned; the dispatcher's rules then
/// apply as to any planned one (past the grace window it is skipped).
pub async fn release(
    db: &DatabaseConnection,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Moved, Error> {
    change(db, key, &[ON_HOLD], PLANNED, "released", None, now).await
}

/// Skips a planned, deferred or held touchpoint with a reason.
pub async fn skip(
    db: &DatabaseConnection,
    key: &str,
    by: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Moved, Error> {
    let reason = super::reason("skipped", by, Some(reason))?;
    change(db, key, &SKIPPABLE, SKIPPED, "skipped", Some(reason), now).await
}

async fn change(
    db: &DatabaseConnection,
    key: &str,
    from: &[&str],
    to: &'static str,
    verb: &str,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<Moved, Error> {
    let key = key.trim();
    let Some(t) = operator::touchpoint_by_key(db, key).await? else {
        return Err(Error::Unknown(format!("no touchpoint with key {key}")));
    };
    if !from.contains(&t.state.as_str()) {
        return Err(Error::Invalid(format!(
            "touchpoint {key} is {}: only {} ones can be {verb}",
            t.state,
            from.join(", ")
        )));
    }
    if !operator::move_touchpoint(db, t.id, from, to, reason.clone(), now).await? {
        return Err(Error::Invalid(format!(
            "touchpoint {key} changed meanwhile (a pass took it): look at it again"
        )));
    }
    Ok(Moved {
        key: t.dedup_key,
        code: t.code,
        channel: t.channel,
        due_date: t.due_date,
        from: t.state,
        state: to,
        reason,
    })
}
