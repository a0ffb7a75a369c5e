//! The dispatch pass. Each person's due touchpoints are decided by the pure
//! rules, the decision is stored in one short transaction (messages are
//! created `sending` under a lease), then the sends happen outside any
//! transaction and their outcomes are stored. A message still `sending` when
//! its lease runs out was interrupted: it is held for review, never resent.

use super::{Outcome, Outgoing, Transports};
use crate::config::Config;
use crate::domain::{Category, Channel};
use crate::messages::{Catalog, Context, join_cars};
use crate::rules::{self, Candidate, Decision, History, Person, Policy, Wait};
use crate::store::entities::{call_task, customer, message, touchpoint, vehicle};
use crate::store::{Context as _, StoreError};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, TransactionTrait,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

pub const NO_VISIT_REASON: &str = "no service visit recorded: nothing to follow up";
pub const HELD_REASON: &str =
    "the send was interrupted and its outcome is unknown; review before resending";

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
    /// One line per decision or send attempt (what `simulate` writes).
    #[serde(skip)]
    pub events: Vec<Event>,
}

/// One decision or send attempt for one touchpoint (SPEC §7 `simulate` lines).
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

fn event(
    t: &touchpoint::Model,
    vehicles: &HashMap<i64, vehicle::Model>,
    customer: &customer::Model,
    outcome: &str,
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
        outcome: outcome.to_string(),
        reason,
    }
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
        )
    }
}

/// The dispatcher's parts, built once per process.
pub struct Dispatcher<'a> {
    pub db: &'a DatabaseConnection,
    pub config: &'a Config,
    pub transports: &'a Transports,
    pub catalog: &'a Catalog,
    pub policy: Policy,
}

const OPEN: [&str; 2] = ["planned", "deferred"];

impl<'a> Dispatcher<'a> {
    pub fn new(
        db: &'a DatabaseConnection,
        config: &'a Config,
        transports: &'a Transports,
        catalog: &'a Catalog,
    ) -> Self {
        Self {
            db,
            config,
            transports,
            catalog,
            policy: Policy::from_settings(&config.settings),
        }
    }

    /// One pass at `now`: hold interrupted sends, retry what is due for a
    /// retry, then decide and send every person's due touchpoints.
    pub async fn pass(&self, now: DateTime<Utc>) -> Result<DispatchReport, StoreError> {
        let held = self.hold_interrupted(now).await?;
        let mut report = DispatchReport {
            held: held.len(),
            ..Default::default()
        };
        for m in &held {
            self.message_events(m, "held", Some(HELD_REASON.into()), now, &mut report)
                .await?;
        }
        self.retry_due(now, &mut report).await?;
        let due = touchpoint::Entity::find()
            .filter(touchpoint::Column::State.is_in(OPEN))
            // The widest "today" of any time zone; the rules check each person's own.
            .filter(touchpoint::Column::DueDate.lte(crate::predict::add_days(now.date_naive(), 1)))
            .filter(
                Condition::any()
                    .add(touchpoint::Column::NextAttemptAt.is_null())
                    .add(touchpoint::Column::NextAttemptAt.lte(now)),
            )
            .order_by_asc(touchpoint::Column::CustomerId)
            .order_by_asc(touchpoint::Column::Id)
            .all(self.db)
            .await
            .context("loading due touchpoints")?;
        let mut by_customer: BTreeMap<i64, Vec<touchpoint::Model>> = BTreeMap::new();
        for t in due {
            by_customer.entry(t.customer_id).or_default().push(t);
        }
        for (customer_id, rows) in by_customer {
            self.person(customer_id, rows, now, &mut report).await?;
        }
        Ok(report)
    }

    /// The next instant at which a pass may have something to do: a
    /// deferred touchpoint's or a retry's time, or the earliest local midnight
    /// of the next planned touchpoint's day. `None`: nothing is pending.
    pub async fn next_wake(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let deferred = touchpoint::Entity::find()
            .filter(touchpoint::Column::State.eq("deferred"))
            .order_by_asc(touchpoint::Column::NextAttemptAt)
            .one(self.db)
            .await
            .context("finding the next deferred touchpoint")?
            .and_then(|t| t.next_attempt_at);
        let planned = touchpoint::Entity::find()
            .filter(touchpoint::Column::State.eq("planned"))
            .order_by_asc(touchpoint::Column::DueDate)
            .one(self.db)
            .await
            .context("finding the next planned touchpoint")?
            // UTC+14 is the earliest any day begins.
            .map(|t| {
                t.due_date
                    .and_hms_opt(0, 0, 0)
                    .unwrap_or_default()
                    .and_utc()
                    - Duration::hours(14)
            });
        let retry = message::Entity::find()
            .filter(message::Column::State.is_in(["retry", "sending"]))
            .order_by_asc(message::Column::NextAttemptAt)
            .one(self.db)
            .await
            .context("finding the next retry")?
            .map(|m| m.next_attempt_at.or(m.lease_until).unwrap_or_default());
        Ok([deferred, planned, retry].into_iter().flatten().min())
    }

    /// Marks every `sending` message whose lease ran out as held, with its
    /// touchpoints.
    pub async fn hold_interrupted(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<message::Model>, StoreError> {
        let stale = message::Entity::find()
            .filter(message::Column::State.eq("sending"))
            .filter(message::Column::LeaseUntil.lt(now))
            .all(self.db)
            .await
            .context("looking for interrupted sends")?;
        for m in &stale {
            let txn = self
                .db
                .begin()
                .await
                .context("holding an interrupted send")?;
            message::Entity::update_many()
                .col_expr(message::Column::State, Expr::value("held"))
                .col_expr(message::Column::Reason, Expr::value(HELD_REASON))
                .col_expr(message::Column::UpdatedAt, Expr::value(now))
                .filter(message::Column::Id.eq(m.id))
                .filter(message::Column::State.eq("sending"))
                .exec(&txn)
                .await
                .context("holding a message")?;
            set_touchpoints(&txn, m.id, "held", Some(HELD_REASON), now).await?;
            txn.commit().await.context("holding an interrupted send")?;
        }
        Ok(stale)
    }

    /// The vehicles of the given ids, by id.
    async fn vehicles(
        &self,
        ids: impl IntoIterator<Item = i64>,
    ) -> Result<HashMap<i64, vehicle::Model>, StoreError> {
        Ok(vehicle::Entity::find()
            .filter(vehicle::Column::Id.is_in(ids.into_iter().collect::<Vec<_>>()))
            .all(self.db)
            .await
            .context("loading vehicles")?
            .into_iter()
            .map(|v| (v.id, v))
            .collect())
    }

    /// Events for every touchpoint a message carries.
    async fn message_events(
        &self,
        m: &message::Model,
        outcome: &str,
        reason: Option<String>,
        now: DateTime<Utc>,
        report: &mut DispatchReport,
    ) -> Result<(), StoreError> {
        let carried = touchpoint::Entity::find()
            .filter(touchpoint::Column::MessageId.eq(m.id))
            .all(self.db)
            .await
            .context("loading a message's touchpoints")?;
        let Some(customer) = customer::Entity::find_by_id(m.customer_id)
            .one(self.db)
            .await
            .context("loading a customer")?
        else {
            return Ok(());
        };
        let vehicles = self.vehicles(carried.iter().map(|t| t.vehicle_id)).await?;
        for t in &carried {
            report
                .events
                .push(event(t, &vehicles, &customer, outcome, reason.clone(), now));
        }
        Ok(())
    }

    async fn retry_due(
        &self,
        now: DateTime<Utc>,
        report: &mut DispatchReport,
    ) -> Result<(), StoreError> {
        let due = message::Entity::find()
            .filter(message::Column::State.eq("retry"))
            .filter(message::Column::NextAttemptAt.lte(now))
            .all(self.db)
            .await
            .context("loading retries")?;
        for m in due {
            let lease = now + Duration::seconds(self.config.settings.dispatch.lease_secs);
            let claimed = message::Entity::update_many()
                .col_expr(message::Column::State, Expr::value("sending"))
                .col_expr(message::Column::LeaseUntil, Expr::value(lease))
                .col_expr(message::Column::Attempts, Expr::value(m.attempts + 1))
                .filter(message::Column::Id.eq(m.id))
                .filter(message::Column::State.eq("retry"))
                .exec(self.db)
                .await
                .context("claiming a retry")?;
            if claimed.rows_affected == 1 {
                let m = message::Model {
                    attempts: m.attempts + 1,
                    state: "sending".into(),
                    lease_until: Some(lease),
                    ..m
                };
                let (outcome, reason) = self.send(&m, now, report).await?;
                self.message_events(&m, outcome, reason, now, report)
                    .await?;
            }
        }
        Ok(())
    }

    async fn person(
        &self,
        customer_id: i64,
        rows: Vec<touchpoint::Model>,
        now: DateTime<Utc>,
        report: &mut DispatchReport,
    ) -> Result<(), StoreError> {
        let Some(customer) = customer::Entity::find_by_id(customer_id)
            .one(self.db)
            .await
            .context("loading a customer")?
        else {
            return Ok(());
        };
        let tz = crate::domain::parse_timezone(&customer.timezone)
            .unwrap_or_else(|_| self.config.default_timezone());
        let person = Person {
            has_email: customer.email.is_some(),
            has_phone: customer.phone.is_some(),
            consent_email_marketing: customer.consent_email_marketing,
            consent_sms_marketing: customer.consent_sms_marketing,
            opted_out_email: customer.opted_out_email,
            opted_out_sms: customer.opted_out_sms,
        };
        let vehicle_ids: Vec<i64> = rows.iter().map(|t| t.vehicle_id).collect();
        let vehicles = self.vehicles(vehicle_ids).await?;
        // A follow-up whose visit never came: nothing to follow up.
        let (unvisited, rows): (Vec<_>, Vec<_>) = rows
            .into_iter()
            .partition(|t| t.awaits_visit && t.due_date <= now.with_timezone(&tz).date_naive());
        for t in &unvisited {
            update_open(self.db, t.id, "cancelled", Some(NO_VISIT_REASON), None, now).await?;
            report.cancelled += 1;
            report.events.push(event(
                t,
                &vehicles,
                &customer,
                "cancelled",
                Some(NO_VISIT_REASON.into()),
                now,
            ));
        }
        let candidates: Vec<Candidate> = rows
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
        let history = self.history(customer_id, now).await?;
        let decisions = rules::decide(&person, tz, &candidates, &history, &self.policy, now);

        let by_key: HashMap<&str, &touchpoint::Model> =
            rows.iter().map(|t| (t.dedup_key.as_str(), t)).collect();

        let txn = self
            .db
            .begin()
            .await
            .context("storing dispatch decisions")?;
        let mut outgoing: Vec<(message::Model, Vec<&touchpoint::Model>)> = Vec::new();
        let mut tally = DispatchReport::default();
        for (key, decision) in &decisions {
            let Some(row) = by_key.get(key.as_str()) else {
                continue;
            };
            let (state, reason, next): (&str, String, Option<DateTime<Utc>>) = match decision {
                Decision::Defer { until, why } => {
                    tally.deferred += 1;
                    let reason = format!(
                        "{} until {}",
                        describe(*why),
                        until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    );
                    tally.events.push(event(
                        row,
                        &vehicles,
                        &customer,
                        "deferred",
                        Some(reason),
                        now,
                    ));
                    ("deferred", describe(*why).to_string(), Some(*until))
                }
                Decision::Suppress { reason } => {
                    tally.suppressed += 1;
                    tally.events.push(event(
                        row,
                        &vehicles,
                        &customer,
                        "suppressed",
                        Some(reason.clone()),
                        now,
                    ));
                    ("suppressed", reason.clone(), None)
                }
                Decision::Skip { reason } => {
                    tally.skipped += 1;
                    tally.events.push(event(
                        row,
                        &vehicles,
                        &customer,
                        "skipped",
                        Some(reason.clone()),
                        now,
                    ));
                    ("skipped", reason.clone(), None)
                }
                Decision::Merged { .. } => continue,
                Decision::Send { with } => {
                    let mut carried: Vec<&touchpoint::Model> = vec![row];
                    carried.extend(with.iter().filter_map(|k| by_key.get(k.as_str()).copied()));
                    match self
                        .compose(&txn, &customer, &carried, &vehicles, now)
                        .await?
                    {
                        Composed::Message(m) => {
                            tally.merged += carried.len() - 1;
                            if m.state == "sending" {
                                outgoing.push((*m, carried));
                            } else {
                                *tally.sent.entry(m.channel.clone()).or_default() += 1;
                                for (i, t) in carried.iter().enumerate() {
                                    let reason = if i == 0 {
                                        m.reason.clone()
                                    } else {
                                        Some(format!("sent together with {}", m.key))
                                    };
                                    tally
                                        .events
                                        .push(event(t, &vehicles, &customer, "sent", reason, now));
                                }
                            }
                        }
                        Composed::Taken => {
                            // Another dispatcher got there first: leave this person to it.
                            txn.rollback()
                                .await
                                .context("yielding to another dispatcher")?;
                            return Ok(());
                        }
                        Composed::Unrenderable(reason) => {
                            tally.failed += carried.len();
                            for t in carried {
                                tally.events.push(event(
                                    t,
                                    &vehicles,
                                    &customer,
                                    "failed",
                                    Some(reason.clone()),
                                    now,
                                ));
                                update_open(&txn, t.id, "failed", Some(&reason), None, now).await?;
                            }
                        }
                    }
                    continue;
                }
            };
            let changed = row.state != state
                || row.reason.as_deref() != Some(reason.as_str())
                || row.next_attempt_at != next;
            if changed {
                update_open(&txn, row.id, state, Some(&reason), next, now).await?;
            }
        }
        txn.commit().await.context("storing dispatch decisions")?;
        merge_report(report, tally);
        for (m, carried) in outgoing {
            let (outcome, reason) = self.send(&m, now, report).await?;
            for (i, t) in carried.into_iter().enumerate() {
                let reason = match (i, outcome) {
                    (0, _) | (_, "deferred") => reason.clone(),
                    _ => Some(format!("sent together with {}", m.key)),
                };
                report
                    .events
                    .push(event(t, &vehicles, &customer, outcome, reason, now));
            }
        }
        Ok(())
    }

    /// Creates the message (and, for calls, the task) that carries the
    /// touchpoints; they become `sending` (calls: `sent`).
    async fn compose(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        customer: &customer::Model,
        carried: &[&touchpoint::Model],
        vehicles: &HashMap<i64, vehicle::Model>,
        now: DateTime<Utc>,
    ) -> Result<Composed, StoreError> {
        let first = carried[0];
        let channel = channel_of(&first.channel);
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
        let dealer = &self.config.settings.dealer;
        let ctx = Context {
            name: customer.name.clone(),
            cars: join_cars(&cars),
            vins: vins.join(", "),
            due_date: due.to_string(),
            dealer_name: dealer.name.clone(),
            dealer_phone: dealer.phone.clone(),
            booking_url: dealer.booking_url.clone(),
        };
        let rendered = match self
            .catalog
            .render(&first.message, customer.locale.as_deref(), &ctx)
        {
            Ok(r) => r,
            Err(e) => return Ok(Composed::Unrenderable(e.to_string())),
        };
        let recipient = match channel {
            Channel::Email => customer.email.clone(),
            Channel::Sms | Channel::Call => customer.phone.clone(),
        }
        .unwrap_or_default();
        let is_call = channel == Channel::Call;
        let lease = now + Duration::seconds(self.config.settings.dispatch.lease_secs);
        let inserted = message::Entity::insert(message::ActiveModel {
            key: Set(first.dedup_key.clone()),
            customer_id: Set(customer.id),
            channel: Set(first.channel.clone()),
            recipient: Set(recipient),
            locale: Set(rendered.locale.clone()),
            segments: Set((channel == Channel::Sms)
                .then(|| super::segments::segments(&rendered.body).1 as i32)),
            subject: Set(rendered.subject.clone()),
            body: Set(rendered.body.clone()),
            state: Set(if is_call { "sent" } else { "sending" }.into()),
            reason: Set(is_call.then(|| "call task created".to_string())),
            attempts: Set(if is_call { 0 } else { 1 }),
            lease_until: Set((!is_call).then_some(lease)),
            sent_at: Set(is_call.then_some(now)),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        })
        .on_conflict_do_nothing_on([message::Column::Key])
        .exec(txn)
        .await
        .context("creating a message")?;
        let id = match inserted {
            sea_orm::TryInsertResult::Inserted(r) => r.last_insert_id,
            _ => return Ok(Composed::Taken),
        };
        let state = if is_call { "sent" } else { "sending" };
        for t in carried {
            let reason =
                (t.id != first.id).then(|| format!("sent together with {}", first.dedup_key));
            let done = touchpoint::Entity::update_many()
                .col_expr(touchpoint::Column::State, Expr::value(state))
                .col_expr(touchpoint::Column::Reason, Expr::value(reason))
                .col_expr(touchpoint::Column::MessageId, Expr::value(id))
                .col_expr(touchpoint::Column::UpdatedAt, Expr::value(now))
                .filter(touchpoint::Column::Id.eq(t.id))
                .filter(touchpoint::Column::State.is_in(OPEN))
                .exec(txn)
                .await
                .context("claiming a touchpoint")?;
            if done.rows_affected != 1 {
                return Ok(Composed::Taken);
            }
        }
        if is_call {
            call_task::ActiveModel {
                message_id: Set(id),
                customer_id: Set(customer.id),
                due_date: Set(first.due_date),
                title: Set(rendered.subject.clone()),
                script: Set(rendered.body.clone()),
                state: Set("open".into()),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(txn)
            .await
            .context("creating a call task")?;
        }
        let model = message::Entity::find_by_id(id)
            .one(txn)
            .await
            .context("reading the new message")?
            .ok_or_else(|| StoreError {
                context: "reading the new message".into(),
                source: sea_orm::DbErr::RecordNotFound(first.dedup_key.clone()),
            })?;
        Ok(Composed::Message(Box::new(model)))
    }

    /// Sends one claimed message and stores the outcome.
    async fn send(
        &self,
        m: &message::Model,
        now: DateTime<Utc>,
        report: &mut DispatchReport,
    ) -> Result<(&'static str, Option<String>), StoreError> {
        let channel = channel_of(&m.channel);
        let Some(transport) = self.transports.for_channel(channel) else {
            return Ok(("failed", Some("no transport for the channel".into())));
        };
        let outgoing = Outgoing {
            key: m.key.clone(),
            channel,
            recipient: m.recipient.clone(),
            subject: m.subject.clone(),
            body: m.body.clone(),
            unsubscribe_url: self.transports.unsubscribe_url(m.customer_id, channel),
        };
        let outcome = transport.send(&outgoing).await;
        let txn = self.db.begin().await.context("storing a send outcome")?;
        let mut active: message::ActiveModel = m.clone().into();
        active.updated_at = Set(now);
        active.lease_until = Set(None);
        let result = match outcome {
            Outcome::Sent { provider_ref } => {
                active.state = Set("sent".into());
                active.sent_at = Set(Some(now));
                active.provider_ref = Set(provider_ref);
                active.reason = Set(None);
                set_touchpoints(&txn, m.id, "sent", None, now).await?;
                *report.sent.entry(m.channel.clone()).or_default() += 1;
                ("sent", None)
            }
            Outcome::Transient {
                reason,
                retry_after,
            } => {
                if m.attempts >= self.config.settings.dispatch.max_attempts {
                    active.state = Set("failed".into());
                    let reason = format!("gave up after {} attempts: {reason}", m.attempts);
                    set_touchpoints(&txn, m.id, "failed", Some(&reason), now).await?;
                    active.reason = Set(Some(reason.clone()));
                    report.failed += 1;
                    ("failed", Some(reason))
                } else {
                    let backoff = retry_after
                        .and_then(|d| Duration::from_std(d).ok())
                        .unwrap_or_else(|| Duration::seconds(60 << (m.attempts.clamp(1, 7) - 1)));
                    active.state = Set("retry".into());
                    active.next_attempt_at = Set(Some(now + backoff));
                    active.reason = Set(Some(reason.clone()));
                    report.retrying += 1;
                    (
                        "deferred",
                        Some(format!("transient failure, retrying: {reason}")),
                    )
                }
            }
            Outcome::Permanent { reason } => {
                active.state = Set("failed".into());
                set_touchpoints(&txn, m.id, "failed", Some(&reason), now).await?;
                active.reason = Set(Some(reason.clone()));
                report.failed += 1;
                ("failed", Some(reason))
            }
            Outcome::OptedOut { reason } => {
                // The person stopped this channel at the provider: record it,
                // so nothing else goes out on it.
                let reason = format!("the recipient opted out ({reason})");
                active.state = Set("failed".into());
                set_touchpoints(&txn, m.id, "suppressed", Some(&reason), now).await?;
                active.reason = Set(Some(reason.clone()));
                crate::store::record_opt_out(&txn, m.customer_id, channel, "provider", true, now)
                    .await?;
                report.suppressed += 1;
                ("suppressed", Some(reason))
            }
        };
        active
            .update(&txn)
            .await
            .context("storing a send outcome")?;
        txn.commit().await.context("storing a send outcome")?;
        Ok(result)
    }

    /// The person's messages and calls of the last 31 days.
    async fn history(&self, customer_id: i64, now: DateTime<Utc>) -> Result<History, StoreError> {
        let recent = message::Entity::find()
            .filter(message::Column::CustomerId.eq(customer_id))
            .filter(message::Column::State.is_in(["sending", "retry", "sent", "delivered", "held"]))
            .filter(message::Column::CreatedAt.gt(now - Duration::days(31)))
            .all(self.db)
            .await
            .context("loading the send history")?;
        let mut history = History::default();
        for m in recent {
            let at = m.sent_at.unwrap_or(m.created_at);
            match channel_of(&m.channel) {
                Channel::Call => history.calls.push(at),
                _ => history.messages.push(at),
            }
        }
        Ok(history)
    }
}

enum Composed {
    Message(Box<message::Model>),
    Taken,
    Unrenderable(String),
}

fn channel_of(s: &str) -> Channel {
    match s {
        "email" => Channel::Email,
        "sms" => Channel::Sms,
        _ => Channel::Call,
    }
}

fn describe(why: Wait) -> &'static str {
    match why {
        Wait::NotDue => "not due yet in the owner's time zone",
        Wait::QuietHours => "quiet hours in the owner's time zone",
        Wait::Cap => "frequency cap: waits for room",
    }
}

fn merge_report(into: &mut DispatchReport, from: DispatchReport) {
    for (c, n) in from.sent {
        *into.sent.entry(c).or_default() += n;
    }
    into.merged += from.merged;
    into.deferred += from.deferred;
    into.suppressed += from.suppressed;
    into.skipped += from.skipped;
    into.failed += from.failed;
    into.events.extend(from.events);
}

/// Moves an open touchpoint (planned or deferred) to `state`.
async fn update_open<C: sea_orm::ConnectionTrait>(
    db: &C,
    id: i64,
    state: &str,
    reason: Option<&str>,
    next: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    touchpoint::Entity::update_many()
        .col_expr(touchpoint::Column::State, Expr::value(state))
        .col_expr(
            touchpoint::Column::Reason,
            Expr::value(reason.map(str::to_string)),
        )
        .col_expr(touchpoint::Column::NextAttemptAt, Expr::value(next))
        .col_expr(touchpoint::Column::UpdatedAt, Expr::value(now))
        .filter(touchpoint::Column::Id.eq(id))
        .filter(touchpoint::Column::State.is_in(OPEN))
        .exec(db)
        .await
        .context("updating a touchpoint")?;
    Ok(())
}

/// Sets the state of every touchpoint a message carries.
async fn set_touchpoints<C: sea_orm::ConnectionTrait>(
    db: &C,
    message_id: i64,
    state: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut update = touchpoint::Entity::update_many()
        .col_expr(touchpoint::Column::State, Expr::value(state))
        .col_expr(touchpoint::Column::UpdatedAt, Expr::value(now));
    if let Some(r) = reason {
        update = update.col_expr(touchpoint::Column::Reason, Expr::value(r));
    }
    update
        .filter(touchpoint::Column::MessageId.eq(message_id))
        .exec(db)
        .await
        .context("updating the message's touchpoints")?;
    Ok(())
}
