//! The morning digest (`[digest]`): once a local day, at `[digest] at`, an
//! email to `[digest] to` through the email transport with the day's
//! calls, what is still to go out and what is held for review. The day is
//! claimed in the database first, so that of several instances on one
//! database, and across restarts, one sends it once.

use super::Failure;
use super::page::PageRequest;
use crate::config::Config;
use crate::digest::{self, CallLine, HeldLine, Summary};
use crate::dispatch::{Outcome, Outgoing, Transports};
use crate::domain::Channel;
use crate::store::{self, status};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::DatabaseConnection;

/// Calls the digest lists; it counts them all.
pub const CALLS_LISTED: usize = 20;
/// Held messages the digest lists, the oldest; it counts them all.
pub const HELD_LISTED: usize = 5;

/// What a call of [`send`] came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// `[digest] to` is empty.
    Off,
    /// The day's time has not come.
    NotYet,
    /// The day's digest was sent already (or is being sent) by this or
    /// another instance.
    Already(NaiveDate),
    /// Sent: the day, and to whom.
    Sent {
        day: NaiveDate,
        to: Vec<String>,
        /// The recipients it could not be sent to, with the transport's
        /// answer.
        failed: Vec<(String, String)>,
    },
}

/// Sends the digest of the local day at `now` if its time has come and no
/// instance has sent it. When it reaches nobody, the day is given up for a
/// later try and the transport's answers are the failure.
pub async fn send(
    db: &DatabaseConnection,
    config: &Config,
    transports: &Transports,
    now: DateTime<Utc>,
) -> Result<Sent, Failure> {
    let to = &config.settings.digest.to;
    if to.is_empty() {
        return Ok(Sent::Off);
    }
    let (at, tz) = config.digest_time();
    let Some(day) = digest::due_day(now, at, tz) else {
        return Ok(Sent::NotYet);
    };
    if !status::claim_digest(db, day, now).await? {
        return Ok(Sent::Already(day));
    }
    let sent = match summary(db, config, day, now).await {
        Ok(s) => deliver(transports, &s, to).await,
        Err(e) => Err(e),
    };
    match sent {
        Ok((to, failed)) if !to.is_empty() => {
            status::digest_sent(db, day, &format!("sent to {}", to.join(", "))).await?;
            Ok(Sent::Sent { day, to, failed })
        }
        other => {
            status::release_digest(db, day).await?;
            Err(match other {
                Err(e) => e,
                Ok((_, failed)) => Failure::Other(format!(
                    "the digest of {day} could not be sent: {}",
                    failed
                        .iter()
                        .map(|(to, why)| format!("{to}: {why}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                )),
            })
        }
    }
}

/// The digests of one daemon: [`send`] on each tick, with the last day it
/// saw sent remembered, so that the rest of that day asks nothing of the
/// database.
#[derive(Debug, Default)]
pub struct Digests {
    last: Option<NaiveDate>,
}

impl Digests {
    /// [`send`] at `now`, unless this day's digest was seen sent already.
    pub async fn tick(
        &mut self,
        db: &DatabaseConnection,
        config: &Config,
        transports: &Transports,
        now: DateTime<Utc>,
    ) -> Result<Sent, Failure> {
        let (at, tz) = config.digest_time();
        if let Some(day) = digest::due_day(now, at, tz).filter(|d| Some(*d) == self.last) {
            return Ok(Sent::Already(day));
        }
        let sent = send(db, config, transports, now).await?;
        match &sent {
            Sent::Sent { day, to, failed } => {
                tracing::info!(day = %day, to = to.len(), "digest sent");
                for (to, why) in failed {
                    tracing::warn!(day = %day, to, why, "the digest did not reach a recipient");
                }
                self.last = Some(*day);
            }
            Sent::Already(day) => {
                tracing::debug!(day = %day, "the day's digest was sent already");
                self.last = Some(*day);
            }
            Sent::Off | Sent::NotYet => {}
        }
        Ok(sent)
    }
}

/// When the next digest is due after `now`; `None` while it is off.
pub fn next(config: &Config, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let (at, tz) = config.digest_time();
    (!config.settings.digest.to.is_empty()).then(|| digest::next_send(now, at, tz))
}

/// What the digest of `day` says at `now`, from the call list, the queue's
/// depth (with what waits for a later hour of the day) and the held
/// messages as the desk shows them.
async fn summary(
    db: &DatabaseConnection,
    config: &Config,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Summary, Failure> {
    let (calls, calls_due) =
        super::calls::call_page(db, config, &PageRequest::first(CALLS_LISTED), now).await?;
    let mut going_out = super::planning::due_now(db, config, now).await?;
    let (_, tz) = config.digest_time();
    for (channel, n) in store::deferred_per_channel(db, digest::day_end(day, tz)).await? {
        *going_out.entry(channel).or_default() += usize::try_from(n).unwrap_or(0);
    }
    let held = super::held::list(db).await?;
    let settings = &config.settings;
    Ok(Summary {
        dealer: settings.dealer.name.clone(),
        day,
        desk: settings.http.public_url.clone(),
        calls_due,
        calls: calls
            .items
            .into_iter()
            .map(|c| CallLine {
                name: c.name,
                phone: c.phone,
                why: c.title,
                due: c.due_date,
            })
            .collect(),
        going_out,
        held_due: held.len(),
        held: held
            .into_iter()
            .take(HELD_LISTED)
            .map(|h| HeldLine {
                id: h.id,
                name: h.name,
                channel: h.channel,
                subject: h.subject,
                state: h.state,
                since: h.created_at,
            })
            .collect(),
    })
}

/// Sends the digest to each of `to`: those it reached, and those it did
/// not with why.
async fn deliver(
    transports: &Transports,
    summary: &Summary,
    to: &[String],
) -> Result<(Vec<String>, Vec<(String, String)>), Failure> {
    let Some(transport) = transports.for_channel(Channel::Email) else {
        return Err(Failure::Other("no email transport".into()));
    };
    let (subject, body) = digest::render(summary);
    let (mut reached, mut failed) = (Vec::new(), Vec::new());
    for recipient in to {
        let message = Outgoing {
            key: format!("digest:{}:{recipient}", summary.day),
            channel: Channel::Email,
            recipient: recipient.clone(),
            subject: subject.clone(),
            body: body.clone(),
            unsubscribe_url: None,
        };
        match transport.send(&message).await {
            Outcome::Sent { .. } => reached.push(recipient.clone()),
            other => failed.push((recipient.clone(), other.reason().to_string())),
        }
    }
    Ok((reached, failed))
}
