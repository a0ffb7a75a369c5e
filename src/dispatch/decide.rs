//! One person's due touchpoints at one instant, decided: which are
//! cancelled, which wait (and until when), which are held back, and the
//! messages and call tasks that carry the rest, rendered. Pure: the facts,
//! the rules' settings and the instant in; state changes, drafts and lines
//! out. The dispatch pass stores what it returns; `simulate` applies it in
//! memory.

use super::Settled;
use crate::domain::{Category, Channel, MessageState, TouchpointState};
use crate::domain::{Customer, Message, Touchpoint, Vehicle};
use crate::messages::{Catalog, Context, join_cars};
use crate::rules::{self, Candidate, Decision, History, Person, Policy, Wait};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

pub use crate::rules::NO_VISIT_REASON;

/// Why an interrupted send is held for review.
pub const HELD_REASON: &str =
    "the send was interrupted and its outcome is unknown; review before resending";

/// What the rules and the message texts need besides the facts (built once
/// by `config::Config::rulebook`).
pub struct Rulebook<'a> {
    pub policy: Policy,
    pub catalog: &'a Catalog,
    pub dealer: Dealer,
    /// How long a message may stay `sending` before it counts as interrupted.
    pub lease: Duration,
    /// The time zone of a person whose own is not known.
    pub default_tz: Tz,
    /// Which messages wait for an administrator's approval.
    pub approval: Approval,
}

/// Which messages wait for an administrator's approval (`[approval]`), and
/// what happens at the deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// Plan codes whose messages wait.
    pub codes: Vec<String>,
    /// Channels whose messages wait.
    pub channels: Vec<Channel>,
    /// How long they wait.
    pub wait: Duration,
    /// At the deadline: sent (else expired).
    pub send_at_deadline: bool,
}

impl Approval {
    /// Whether a message of `code` on `channel` waits (call tasks never do:
    /// whoever calls reviews them).
    pub fn needed(&self, code: &str, channel: Channel) -> bool {
        channel != Channel::Call
            && (self.channels.contains(&channel) || self.codes.iter().any(|c| c == code))
    }
}

/// What becomes of a message nobody approved by its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lapse {
    /// It goes out now, with this reason.
    Send(String),
    /// It is discarded (its touchpoints cancelled), with this reason.
    Expire(String),
}

/// The fate of `m`, awaiting approval, at its deadline: it expires, or goes
/// when `[approval] on_deadline = "send"` says so, but never to a person
/// opted out of its channel meanwhile (`customer` is `None` when gone).
pub fn lapse(approval: &Approval, m: &Message, customer: Option<&Customer>) -> Lapse {
    let deadline = m
        .next_attempt_at
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    let channel = channel_of(&m.channel);
    if customer.is_none_or(|c| c.opted_out_of(channel)) {
        Lapse::Expire(format!(
            "not approved by {deadline}: the owner opted out of {channel} meanwhile"
        ))
    } else if approval.send_at_deadline {
        Lapse::Send(format!(
            "not approved by {deadline}: sent, as [approval] on_deadline says"
        ))
    } else {
        Lapse::Expire(format!("not approved by {deadline}: expired"))
    }
}

/// How the reason of a message awaiting approval starts; the deadline
/// follows.
pub const AWAITING_APPROVAL: &str = "awaiting approval until ";

/// The reason of a message awaiting approval until `deadline`.
pub fn awaiting_approval(deadline: DateTime<Utc>) -> String {
    format!(
        "{AWAITING_APPROVAL}{}",
        deadline.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

/// Why a message that waited (for a retry, or for an approval) may no
/// longer go out at `now`: the last day of its earliest touchpoint, due on
/// one of `due_dates`, is past in its owner's time zone. Reminders are
/// never sent late, however long the wait was.
pub fn too_late(
    book: &Rulebook,
    customer: Option<&Customer>,
    due_dates: impl IntoIterator<Item = NaiveDate>,
    now: DateTime<Utc>,
) -> Option<String> {
    let tz = customer
        .and_then(|c| crate::domain::parse_timezone(&c.timezone).ok())
        .unwrap_or(book.default_tz);
    let today = now.with_timezone(&tz).date_naive();
    rules::too_late_for(due_dates.into_iter().min()?, today, book.policy.grace_days)
}

/// Who the messages come from, as the texts name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dealer {
    pub name: String,
    pub phone: String,
    pub booking_url: String,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct DispatchReport {
    /// Messages (email, sms) and call tasks (call) that went out, per channel.
    pub sent: BTreeMap<String, usize>,
    pub merged: usize,
    pub deferred: usize,
    pub suppressed: usize,
    pub skipped: usize,
    /// Follow-ups of services with no recorded visit.
    pub cancelled: usize,
    pub failed: usize,
    pub retrying: usize,
    /// Interrupted sends found and held for review.
    pub held: usize,
    /// New messages that wait for an administrator's approval.
    pub awaiting_approval: usize,
    /// Messages not approved by their deadline: expired, or sent when
    /// `[approval] on_deadline = "send"`.
    pub approval_expired: usize,
    pub approval_lapsed_sent: usize,
    /// One line per decision or send attempt (what `simulate` writes).
    #[serde(skip)]
    pub events: Vec<Event>,
}

impl DispatchReport {
    pub fn to_text(&self) -> String {
        let sent: Vec<String> = self.sent.iter().map(|(c, n)| format!("{n} {c}")).collect();
        format!(
            "dispatch: sent {}; {} merged, {} deferred, {} suppressed, {} skipped, {} cancelled, {} failed, {} retrying, {} held for review\n",
            if sent.is_empty() {
                "nothing".to_string()
            } else {
                sent.join(", ")
            },
            self.merged,
            self.deferred,
            self.suppressed,
            self.skipped,
            self.cancelled,
            self.failed,
            self.retrying,
            self.held
        ) + &self.approval_text()
    }

    /// The approvals' part of the line, when there is any.
    fn approval_text(&self) -> String {
        if self.awaiting_approval + self.approval_expired + self.approval_lapsed_sent == 0 {
            return String::new();
        }
        format!(
            "dispatch: {} awaiting approval, {} expired unapproved, {} sent unapproved at the deadline\n",
            self.awaiting_approval, self.approval_expired, self.approval_lapsed_sent
        )
    }
}

/// One decision or send attempt for one touchpoint (`simulate` lines, docs/json.md).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Event {
    /// RFC 3339, UTC.
    pub at: String,
    pub key: String,
    pub vin: String,
    pub customer_id: String,
    pub code: String,
    pub channel: String,
    pub category: String,
    pub recipient: String,
    /// sent, deferred, suppressed, cancelled, skipped, failed or held.
    pub outcome: String,
    pub reason: Option<String>,
}

/// The line of one touchpoint's decision or send.
pub fn event(
    t: &Touchpoint,
    vehicles: &HashMap<i64, Vehicle>,
    customer: &Customer,
    outcome: TouchpointState,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Event {
    let recipient = match t.channel.as_str() {
        "email" => customer.email.clone(),
        _ => customer.phone.clone(),
    };
    Event {
        at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        key: t.dedup_key.clone(),
        vin: vehicles
            .get(&t.vehicle_id)
            .map(|v| v.vin.clone())
            .unwrap_or_default(),
        customer_id: customer.customer_id.clone(),
        code: t.code.clone(),
        channel: t.channel.clone(),
        category: t.category.clone(),
        recipient: recipient.unwrap_or_default(),
        outcome: outcome.as_str().to_string(),
        reason,
    }
}

/// A touchpoint's move: id, state, reason, next attempt.
pub type Move = (i64, TouchpointState, Option<String>, Option<DateTime<Utc>>);

/// A message (and, for a call, its task) decided but not yet stored, with
/// the touchpoints it carries (the first one gives it its key).
#[derive(Debug, Clone)]
pub struct Draft {
    pub message: Message,
    pub carried: Vec<Touchpoint>,
    pub call: Option<CallTask>,
}

/// The task a call's message puts on the call list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallTask {
    pub due_date: NaiveDate,
    pub title: String,
    pub script: String,
}

/// One person's decisions: the moves of touchpoints that do not go out
/// now, and the drafts of those that do.
#[derive(Debug, Default)]
pub struct Decided {
    pub moves: Vec<Move>,
    pub drafts: Vec<Draft>,
}

/// Decides one person's due touchpoints (`rows`, in id order) at `now`:
/// what moves goes into `decided.moves`, what goes out into
/// `decided.drafts`; the lines and counts of what was held back into
/// `report`.
#[allow(clippy::too_many_arguments)]
pub fn person(
    book: &Rulebook<'_>,
    customer: &Customer,
    rows: &[Touchpoint],
    vehicles: &HashMap<i64, Vehicle>,
    history: &History,
    now: DateTime<Utc>,
    decided: &mut Decided,
    report: &mut DispatchReport,
) {
    let tz = crate::domain::parse_timezone(&customer.timezone).unwrap_or(book.default_tz);
    let person = Person {
        has_email: customer.email.is_some(),
        has_phone: customer.phone.is_some(),
        consent_email_marketing: customer.consent_email_marketing,
        consent_sms_marketing: customer.consent_sms_marketing,
        opted_out_email: customer.opted_out_email,
        opted_out_sms: customer.opted_out_sms,
        opted_out_call: customer.opted_out_call,
    };
    let today = now.with_timezone(&tz).date_naive();
    let mut open = Vec::with_capacity(rows.len());
    for t in rows {
        if rules::visit_never_came(t.awaits_visit, t.due_date, today) {
            decided.moves.push((
                t.id,
                TouchpointState::Cancelled,
                Some(NO_VISIT_REASON.into()),
                None,
            ));
            report.cancelled += 1;
            report.events.push(event(
                t,
                vehicles,
                customer,
                TouchpointState::Cancelled,
                Some(NO_VISIT_REASON.into()),
                now,
            ));
        } else {
            open.push(t);
        }
    }
    let candidates: Vec<Candidate> = open
        .iter()
        .map(|t| Candidate {
            key: t.dedup_key.clone(),
            channel: channel_of(&t.channel),
            category: if t.category == "marketing" {
                Category::Marketing
            } else {
                Category::Service
            },
            priority: t.priority,
            due_date: t.due_date,
            message: t.message.clone(),
        })
        .collect();
    let decisions = rules::decide(&person, tz, &candidates, history, &book.policy, now);
    let by_key: HashMap<&str, &Touchpoint> =
        open.iter().map(|t| (t.dedup_key.as_str(), *t)).collect();
    for (key, decision) in &decisions {
        let Some(row) = by_key.get(key.as_str()).copied() else {
            continue;
        };
        let (state, reason, next): (TouchpointState, String, Option<DateTime<Utc>>) = match decision
        {
            // Not yet the owner's day: waits for it, without a line of
            // its own (nothing was held back).
            Decision::Defer {
                until,
                why: why @ Wait::NotDue,
            } => (
                TouchpointState::Deferred,
                describe(*why).to_string(),
                Some(*until),
            ),
            Decision::Defer { until, why } => {
                report.deferred += 1;
                let reason = format!(
                    "{} until {}",
                    describe(*why),
                    until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                );
                report.events.push(event(
                    row,
                    vehicles,
                    customer,
                    TouchpointState::Deferred,
                    Some(reason),
                    now,
                ));
                (
                    TouchpointState::Deferred,
                    describe(*why).to_string(),
                    Some(*until),
                )
            }
            Decision::Suppress { reason } => {
                report.suppressed += 1;
                report.events.push(event(
                    row,
                    vehicles,
                    customer,
                    TouchpointState::Suppressed,
                    Some(reason.clone()),
                    now,
                ));
                (TouchpointState::Suppressed, reason.clone(), None)
            }
            Decision::Skip { reason } => {
                report.skipped += 1;
                report.events.push(event(
                    row,
                    vehicles,
                    customer,
                    TouchpointState::Skipped,
                    Some(reason.clone()),
                    now,
                ));
                (TouchpointState::Skipped, reason.clone(), None)
            }
            Decision::Merged { .. } => continue,
            Decision::Send { with } => {
                let mut carried: Vec<&Touchpoint> = vec![row];
                carried.extend(with.iter().filter_map(|k| by_key.get(k.as_str()).copied()));
                match draft(book, customer, &carried, vehicles, now) {
                    Ok(draft) => decided.drafts.push(draft),
                    Err(reason) => {
                        report.failed += carried.len();
                        for t in carried {
                            report.events.push(event(
                                t,
                                vehicles,
                                customer,
                                TouchpointState::Failed,
                                Some(reason.clone()),
                                now,
                            ));
                            decided.moves.push((
                                t.id,
                                TouchpointState::Failed,
                                Some(reason.clone()),
                                None,
                            ));
                        }
                    }
                }
                continue;
            }
        };
        let changed = !state.is(&row.state)
            || row.reason.as_deref() != Some(reason.as_str())
            || row.next_attempt_at != next;
        if changed {
            decided.moves.push((row.id, state, Some(reason), next));
        }
    }
}

/// The message (and, for a call, the task) that will carry the
/// touchpoints; `Err` with the reason when it cannot be rendered.
fn draft(
    book: &Rulebook<'_>,
    customer: &Customer,
    carried: &[&Touchpoint],
    vehicles: &HashMap<i64, Vehicle>,
    now: DateTime<Utc>,
) -> Result<Draft, String> {
    let first = carried[0];
    let channel = channel_of(&first.channel);
    let rendered = render(book, customer, carried, vehicles)?;
    let recipient = match channel {
        Channel::Email => customer.email.clone(),
        Channel::Sms | Channel::Call => customer.phone.clone(),
    }
    .unwrap_or_default();
    let is_call = channel == Channel::Call;
    let lease = now + book.lease;
    let deadline = book
        .approval
        .needed(&first.code, channel)
        .then(|| now + book.approval.wait);
    let call = is_call.then(|| CallTask {
        due_date: first.due_date,
        title: rendered.subject.clone(),
        script: rendered.body.clone(),
    });
    Ok(Draft {
        message: Message {
            id: 0,
            key: first.dedup_key.clone(),
            customer_id: customer.id,
            channel: first.channel.clone(),
            recipient,
            locale: rendered.locale,
            segments: (channel == Channel::Sms)
                .then(|| super::segments::segments(&rendered.body).1 as i32),
            subject: rendered.subject,
            body: rendered.body,
            state: if is_call {
                MessageState::Sent
            } else if deadline.is_some() {
                MessageState::AwaitingApproval
            } else {
                MessageState::Sending
            }
            .as_str()
            .into(),
            reason: if is_call {
                Some(CALL_TASK_CREATED.to_string())
            } else {
                deadline.map(awaiting_approval)
            },
            attempts: if is_call || deadline.is_some() { 0 } else { 1 },
            next_attempt_at: deadline,
            lease_until: (!is_call && deadline.is_none()).then_some(lease),
            provider_ref: None,
            created_at: now,
            sent_at: is_call.then_some(now),
            updated_at: now,
        },
        carried: carried.iter().map(|t| (*t).clone()).collect(),
        call,
    })
}

/// The text of the message that carries `carried` (the first gives the
/// template and the service date), in the customer's language.
fn render(
    book: &Rulebook<'_>,
    customer: &Customer,
    carried: &[&Touchpoint],
    vehicles: &HashMap<i64, Vehicle>,
) -> Result<crate::messages::Rendered, String> {
    let Some(first) = carried.first() else {
        return Err("no touchpoint to render".to_string());
    };
    let cars: Vec<String> = carried
        .iter()
        .filter_map(|t| vehicles.get(&t.vehicle_id))
        .map(|v| format!("{} {}", v.make, v.model))
        .collect();
    let vins: Vec<String> = carried
        .iter()
        .filter_map(|t| vehicles.get(&t.vehicle_id))
        .map(|v| v.vin.clone())
        .collect();
    let due: NaiveDate = first.service_due.unwrap_or(first.due_date);
    let dealer = &book.dealer;
    let ctx = Context {
        name: customer.name.clone(),
        cars: join_cars(&cars),
        vins: vins.join(", "),
        due_date: due.to_string(),
        dealer_name: dealer.name.clone(),
        dealer_phone: dealer.phone.clone(),
        booking_url: dealer.booking_url.clone(),
    };
    book.catalog
        .render(&first.message, customer.locale.as_deref(), &ctx)
        .map_err(|e| e.to_string())
}

/// A touchpoint's message as it would go out alone today, rendered with
/// its customer's data; for SMS with its encoding and segment count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Preview {
    pub locale: String,
    /// The email's subject, the call task's title; empty for SMS.
    pub subject: String,
    pub body: String,
    /// SMS only: gsm-7 or ucs-2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<&'static str>,
    /// SMS only: the parts it is sent (and billed) in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segments: Option<u32>,
}

/// The preview of `t`'s message for `customer`; `Err` with the reason when
/// its text cannot be rendered.
pub fn preview(
    book: &Rulebook<'_>,
    customer: &Customer,
    t: &Touchpoint,
    vehicles: &HashMap<i64, Vehicle>,
) -> Result<Preview, String> {
    let rendered = render(book, customer, &[t], vehicles)?;
    let sms = channel_of(&t.channel) == Channel::Sms;
    let counted = sms.then(|| super::segments::segments(&rendered.body));
    Ok(Preview {
        locale: rendered.locale,
        subject: if sms { String::new() } else { rendered.subject },
        body: rendered.body,
        encoding: counted.map(|(e, _)| match e {
            super::segments::Encoding::Gsm7 => "gsm-7",
            super::segments::Encoding::Ucs2 => "ucs-2",
        }),
        segments: counted.map(|(_, n)| n),
    })
}

/// The reason of a call's message: the task is what goes out.
pub const CALL_TASK_CREATED: &str = "call task created";

/// The reason recorded on a touchpoint merged into another's message.
pub fn sent_together_with(key: &str) -> String {
    format!("sent together with {key}")
}

pub(super) fn channel_of(s: &str) -> Channel {
    Channel::of_stored(s)
}

/// The reasons of touchpoints deferred to their day, and to the end of the
/// quiet hours.
pub const NOT_DUE: &str = "not due yet in the owner's time zone";
pub const QUIET_HOURS: &str = "quiet hours in the owner's time zone";

fn describe(why: Wait) -> &'static str {
    match why {
        Wait::NotDue => NOT_DUE,
        Wait::QuietHours => QUIET_HOURS,
        Wait::Cap => "frequency cap: waits for room",
    }
}

/// Counts a send outcome in the pass's report.
pub fn tally(s: &Settled, report: &mut DispatchReport) {
    match s.outcome {
        TouchpointState::Sent => *report.sent.entry(s.channel.as_str().into()).or_default() += 1,
        TouchpointState::Deferred => report.retrying += 1,
        TouchpointState::Suppressed => report.suppressed += 1,
        _ => report.failed += 1,
    }
}

/// One line per touchpoint a message carries: the first with the message's
/// reason, the merged ones "sent together with" it.
#[allow(clippy::too_many_arguments)]
pub fn push_sent_events(
    m: &Message,
    carried: &[Touchpoint],
    vehicles: &HashMap<i64, Vehicle>,
    customer: &Customer,
    outcome: TouchpointState,
    reason: Option<String>,
    now: DateTime<Utc>,
    report: &mut DispatchReport,
) {
    for (i, t) in carried.iter().enumerate() {
        let reason = match (i, outcome) {
            (0, _) | (_, TouchpointState::Deferred) => reason.clone(),
            _ => Some(sent_together_with(&m.key)),
        };
        report
            .events
            .push(event(t, vehicles, customer, outcome, reason, now));
    }
}
