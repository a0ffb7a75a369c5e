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
    /// The daemons seen on this database in the last day, the latest first.
    pub instances: Vec<InstanceSeen>,
    pub schema: Schema,
}

/// A daemon's heartbeat comes this often.
pub const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(30);
/// Without a heartbeat for this long a daemon that did not say it stopped
/// counts as silent (killed, or its host gone).
const SILENT_AFTER_SECS: i64 = 90;

/// A daemon as `status` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct InstanceSeen {
    /// Its id (`host-pid-start`), host, pid, version, address, start, last
    /// heartbeat and clean stop.
    #[serde(flatten)]
    pub instance: status::InstanceRecord,
    /// `running` (a heartbeat within 90 s), `stopped` (it said so), or
    /// `silent` (no heartbeat for longer, and it did not say it stopped).
    pub state: &'static str,
}

/// This process as an instance of the daemon.
#[derive(Debug, Clone)]
pub struct Me {
    record: status::InstanceRecord,
}

impl Me {
    /// The daemon started at `started_at`, listening on `listen`.
    pub fn new(listen: &str, started_at: DateTime<Utc>) -> Self {
        let host = hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "unknown".into());
        let pid = std::process::id();
        Self {
            record: status::InstanceRecord {
                id: format!("{host}-{pid}-{}", started_at.timestamp()),
                host,
                pid,
                version: env!("CARGO_PKG_VERSION").into(),
                listen: listen.into(),
                started_at,
                seen_at: started_at,
                stopped_at: None,
            },
        }
    }

    pub fn id(&self) -> &str {
        &self.record.id
    }
}

/// Records that this daemon is alive at `now` (or, with `stopped`, that it
/// stopped); instances not seen for a week are forgotten.
pub async fn heartbeat(
    db: &DatabaseConnection,
    me: &Me,
    now: DateTime<Utc>,
    stopped: bool,
) -> Result<(), Failure> {
    let record = status::InstanceRecord {
        seen_at: now,
        stopped_at: stopped.then_some(now),
        ..me.record.clone()
    };
    Ok(status::heartbeat(db, &record, now - chrono::Duration::days(7)).await?)
}

/// What state a daemon last seen as `r` is in at `now`.
fn instance_state(r: &status::InstanceRecord, now: DateTime<Utc>) -> &'static str {
    if r.stopped_at.is_some() {
        "stopped"
    } else if now - r.seen_at > chrono::Duration::seconds(SILENT_AFTER_SECS) {
        "silent"
    } else {
        "running"
    }
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
    let instances = status::instances_since(db, now - chrono::Duration::days(1))
        .await?
        .into_iter()
        .map(|r| InstanceSeen {
            state: instance_state(&r, now),
            instance: r,
        })
        .collect();
    Ok(Status {
        last_pass,
        due_now,
        deferred: waiting.deferred,
        on_hold: waiting.on_hold,
        held_messages: waiting.held_messages,
        retrying: waiting.retrying,
        open_calls: waiting.open_calls,
        instances,
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
