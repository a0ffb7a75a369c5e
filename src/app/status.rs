//! `status`: what the database says of the installation: the last pass,
//! what waits (the queue, deferred and held touchpoints, held messages,
//! retries, the call list), and the schema.

use super::Failure;
use crate::config::Config;
use crate::store::status;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a pass did, as recorded for `status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PassRecord {
    pub vehicles_planned: usize,
    /// Messages and call tasks that went out, per channel.
    pub sent: BTreeMap<String, usize>,
    pub deferred: usize,
    pub suppressed: usize,
    pub held: usize,
}

/// The last pass: when, and what it did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LastPass {
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub did: PassRecord,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Schema {
    /// Migrations applied.
    pub applied: usize,
    /// The newest applied migration: the schema's version.
    pub latest: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Status {
    /// `None`: no pass has run on this database yet.
    pub last_pass: Option<LastPass>,
    /// Planned touchpoints due today or within the grace window (in the
    /// configured time zone), per channel: the queue's depth.
    pub due_now: BTreeMap<String, usize>,
    pub deferred: u64,
    pub on_hold: u64,
    pub held_messages: u64,
    pub retrying: u64,
    pub open_calls: u64,
    pub schema: Schema,
}

/// Records what a pass did at `now`, for `status`.
pub async fn record_pass(
    db: &DatabaseConnection,
    did: &PassRecord,
    now: DateTime<Utc>,
) -> Result<(), Failure> {
    let json = serde_json::to_string(did).map_err(|e| Failure::Other(e.to_string()))?;
    Ok(status::record_pass(db, &json, now).await?)
}

pub async fn status(
    db: &DatabaseConnection,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<Status, Failure> {
    let applied = status::schema(db).await?;
    let last_pass = status::last_pass(db).await?.map(|(json, at)| LastPass {
        at,
        // A record this version cannot read shows as a pass that did nothing.
        did: serde_json::from_str(&json).unwrap_or_default(),
    });
    let due_now = super::planning::due_now(db, config, now).await?;
    let waiting = status::waiting(db).await?;
    Ok(Status {
        last_pass,
        due_now,
        deferred: waiting.deferred,
        on_hold: waiting.on_hold,
        held_messages: waiting.held_messages,
        retrying: waiting.retrying,
        open_calls: waiting.open_calls,
        schema: Schema {
            applied: applied.len(),
            latest: applied.last().cloned(),
        },
    })
}

/// What waits by channel and state, for the metrics: due touchpoints
/// (`due`, as `status` counts them), deferred and held ones, messages
/// waiting for a retry or a review, open calls.
pub async fn queue_depth(
    db: &DatabaseConnection,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<Vec<(String, String, u64)>, Failure> {
    let mut depth: Vec<(String, String, u64)> = super::planning::due_now(db, config, now)
        .await?
        .into_iter()
        .map(|(channel, n)| (channel, "due".to_string(), u64::try_from(n).unwrap_or(0)))
        .collect();
    depth.extend(status::depth(db).await?);
    Ok(depth)
}
