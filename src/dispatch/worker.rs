//! The dispatch pass. Each person's due touchpoints are decided by the pure
//! rules; the decisions of a group of people are stored in one short
//! transaction (messages are created `sending` under a lease), then the
//! group's sends happen outside any transaction and their outcomes are
//! stored. A message still `sending` when its lease runs out was
//! interrupted: it is held for review, never resent.

use super::{Outcome, Outgoing, Transports};
use super::{Settled, settle};
use crate::config::Config;
use crate::domain::{CallTaskState, Category, Channel, MessageState, TouchpointState};
use crate::messages::{Catalog, Context, join_cars};
use crate::rules::{self, Candidate, Decision, History, Person, Policy, Wait};
use crate::store::dispatch::{Changes, Draft, IN_CHUNK, create_messages, store_outcomes};
use crate::store::entities::{call_task, customer, message, touchpoint, vehicle};
use crate::store::{Context as _, StoreError, stored_state};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures_util::StreamExt;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QuerySelect, Statement, TransactionTrait,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

pub use crate::rules::NO_VISIT_REASON;
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

fn event(
    t: &touchpoint::Model,
    vehicles: &HashMap<i64, vehicle::Model>,
    customer: &customer::Model,
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
    /// Customers, vehicles and send histories kept between passes (see
    /// [`Dispatcher::keeping_facts`]).
    facts: Option<std::sync::Mutex<Facts>>,
}

/// Customers and vehicles by id, as loaded, and each person's send history
/// as loaded and then kept up to date by the passes.
#[derive(Default)]
struct Facts {
    customers: HashMap<i64, customer::Model>,
    vehicles: HashMap<i64, vehicle::Model>,
    histories: HashMap<i64, History>,
}

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
            policy: config.settings.policy(),
            facts: None,
        }
    }

    /// Keeps each customer and vehicle once loaded, for the life of the
    /// dispatcher, and each person's send history, adding the messages the
    /// passes create: only for a database in which nothing else changes
    /// them while it runs (`simulate`'s private copy). What a pass changes
    /// otherwise (an opt-out reported by the SMS provider, a send that did
    /// not go out at once, a retry) drops the person from what is kept, to
    /// be read again.
    pub fn keeping_facts(mut self) -> Self {
        self.facts = Some(std::sync::Mutex::new(Facts::default()));
        self
    }

    /// Forgets a kept customer and their history (they changed).
    fn forget_customer(&self, id: i64) {
        if let Some(Ok(mut facts)) = self.facts.as_ref().map(|f| f.lock()) {
            facts.customers.remove(&id);
            facts.histories.remove(&id);
        }
    }

    /// Adds a message or call created at `at` to its person's kept history.
    fn remember_send(&self, m: &message::Model, at: DateTime<Utc>) {
        if let Some(Ok(mut facts)) = self.facts.as_ref().map(|f| f.lock())
            && let Some(history) = facts.histories.get_mut(&m.customer_id)
        {
            match channel_of(&m.channel) {
                Channel::Call => history.calls.push(at),
                _ => history.messages.push(at),
            }
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
            self.message_events(
                m,
                TouchpointState::Held,
                Some(HELD_REASON.into()),
                now,
                &mut report,
            )
            .await?;
        }
        self.retry_due(now, &mut report).await?;
        // Planned touchpoints of the widest "today" of any time zone (the
        // rules check each person's own) and deferred ones whose time came:
        // two index ranges in one statement.
        let due = touchpoint::Entity::find()
            .filter(
                Condition::any()
                    .add(
                        Condition::all()
                            .add(touchpoint::Column::State.eq(TouchpointState::Planned.as_str()))
                            .add(
                                touchpoint::Column::DueDate
                                    .lte(crate::predict::add_days(now.date_naive(), 1)),
                            ),
                    )
                    .add(
                        Condition::all()
                            .add(touchpoint::Column::State.eq(TouchpointState::Deferred.as_str()))
                            .add(touchpoint::Column::NextAttemptAt.lte(now)),
                    ),
            )
            .all(self.db)
            .await
            .context("loading due touchpoints")?;
        let mut by_customer: BTreeMap<i64, Vec<touchpoint::Model>> = BTreeMap::new();
        for t in due {
            by_customer.entry(t.customer_id).or_default().push(t);
        }
        for rows in by_customer.values_mut() {
            rows.sort_unstable_by_key(|t| t.id);
        }
        // What the rules need of everyone due, loaded in a few queries.
        let people: Vec<(i64, Vec<touchpoint::Model>)> = by_customer.into_iter().collect();
        let ids: Vec<i64> = people.iter().map(|(id, _)| *id).collect();
        let customers = self.customers(&ids).await?;
        let vehicle_ids: Vec<i64> = people
            .iter()
            .flat_map(|(_, rows)| rows.iter().map(|t| t.vehicle_id))
            .collect();
        let vehicles = self.vehicles(vehicle_ids).await?;
        let mut histories = self.histories(&ids, now).await?;
        // Decisions are stored for a group of people in one short
        // transaction, then that group's messages are sent outside it.
        for group in people.chunks(PEOPLE_PER_TRANSACTION) {
            let txn = self
                .db
                .begin()
                .await
                .context("storing dispatch decisions")?;
            let mut changes = Changes::default();
            let mut drafts = Vec::new();
            for (customer_id, rows) in group {
                let Some(customer) = customers.get(customer_id) else {
                    continue;
                };
                let history = histories.remove(customer_id).unwrap_or_default();
                let mut decided = Decided {
                    changes: &mut changes,
                    drafts: &mut drafts,
                    report: &mut report,
                };
                self.person(customer, rows, &vehicles, &history, now, &mut decided);
            }
            changes.apply(&txn, now).await?;
            // Another dispatcher may have got to some first: those are left to it.
            let created = create_messages(&txn, drafts, now).await?;
            txn.commit().await.context("storing dispatch decisions")?;
            let mut outgoing = Vec::with_capacity(created.len());
            for draft in created {
                self.remember_send(&draft.message, now);
                report.merged += draft.carried.len() - 1;
                if draft.call.is_some() {
                    // A call task: created, nothing to send.
                    *report
                        .sent
                        .entry(draft.message.channel.clone())
                        .or_default() += 1;
                    if let Some(customer) = customers.get(&draft.message.customer_id) {
                        push_sent_events(
                            &draft.message,
                            &draft.carried,
                            &vehicles,
                            customer,
                            TouchpointState::Sent,
                            draft.message.reason.clone(),
                            now,
                            &mut report,
                        );
                    }
                } else {
                    outgoing.push((draft.message, draft.carried));
                }
            }
            self.deliver(outgoing, &vehicles, &customers, now, &mut report)
                .await?;
        }
        Ok(report)
    }

    /// The next instant at which a pass may have something to do: a
    /// deferred touchpoint's or a retry's time, or the earliest local midnight
    /// of the next planned touchpoint's day. `None`: nothing is pending.
    pub async fn next_wake(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        // One statement: the earliest deferral, planned day and retry (or
        // lease end), each from its index.
        let sql = format!(
            "SELECT \
            (SELECT MIN(next_attempt_at) FROM touchpoints WHERE state = '{deferred}') AS deferred, \
            (SELECT MIN(due_date) FROM touchpoints WHERE state = '{planned}') AS planned, \
            (SELECT MIN(next_attempt_at) FROM messages WHERE state = '{retry}') AS retry, \
            (SELECT MIN(lease_until) FROM messages WHERE state = '{sending}') AS lease",
            deferred = TouchpointState::Deferred,
            planned = TouchpointState::Planned,
            retry = MessageState::Retry,
            sending = MessageState::Sending,
        );
        let backend = self.db.get_database_backend();
        let row = self
            .db
            .query_one_raw(Statement::from_string(backend, sql))
            .await
            .context("finding the next thing to do")?;
        let Some(row) = row else { return Ok(None) };
        let at = |column: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
            row.try_get::<Option<DateTime<Utc>>>("", column)
                .context("finding the next thing to do")
        };
        let planned = row
            .try_get::<Option<NaiveDate>>("", "planned")
            .context("finding the next thing to do")?
            // UTC+14 is the earliest any day begins.
            .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc() - Duration::hours(14));
        Ok([at("deferred")?, planned, at("retry")?, at("lease")?]
            .into_iter()
            .flatten()
            .min())
    }

    /// Marks every `sending` message whose lease ran out as held, with its
    /// touchpoints.
    pub async fn hold_interrupted(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<message::Model>, StoreError> {
        let stale = message::Entity::find()
            .filter(message::Column::State.eq(MessageState::Sending.as_str()))
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
                .col_expr(
                    message::Column::State,
                    Expr::value(MessageState::Held.as_str()),
                )
                .col_expr(message::Column::Reason, Expr::value(HELD_REASON))
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
                .col_expr(touchpoint::Column::Reason, Expr::value(HELD_REASON))
                .col_expr(touchpoint::Column::UpdatedAt, Expr::value(now))
                .filter(touchpoint::Column::MessageId.eq(m.id))
                .exec(&txn)
                .await
                .context("holding the message's touchpoints")?;
            txn.commit().await.context("holding an interrupted send")?;
        }
        Ok(stale)
    }

    /// The vehicles of the given ids, by id.
    async fn vehicles(
        &self,
        mut ids: Vec<i64>,
    ) -> Result<HashMap<i64, vehicle::Model>, StoreError> {
        ids.sort_unstable();
        ids.dedup();
        self.kept(
            ids,
            |f| &mut f.vehicles,
            |db, missing| async move { crate::store::vehicles_by_id(db, &missing).await },
        )
        .await
    }

    /// The customers of the given ids, by id.
    async fn customers(&self, ids: &[i64]) -> Result<HashMap<i64, customer::Model>, StoreError> {
        self.kept(
            ids.to_vec(),
            |f| &mut f.customers,
            |db, missing| async move { crate::store::customers_by_id(db, &missing).await },
        )
        .await
    }

    /// The rows of `ids`: those kept (when facts are kept), the rest loaded
    /// by `load` (and then kept).
    async fn kept<M, F>(
        &self,
        ids: Vec<i64>,
        table: impl Fn(&mut Facts) -> &mut HashMap<i64, M>,
        load: impl FnOnce(&'a DatabaseConnection, Vec<i64>) -> F,
    ) -> Result<HashMap<i64, M>, StoreError>
    where
        M: Clone,
        F: std::future::Future<Output = Result<HashMap<i64, M>, StoreError>>,
    {
        let Some(facts) = &self.facts else {
            return load(self.db, ids).await;
        };
        let mut found = HashMap::with_capacity(ids.len());
        let mut missing = Vec::new();
        {
            let mut facts = facts.lock().map_err(|_| poisoned())?;
            let table = table(&mut facts);
            for id in ids {
                match table.get(&id) {
                    Some(row) => {
                        found.insert(id, row.clone());
                    }
                    None => missing.push(id),
                }
            }
        }
        if !missing.is_empty() {
            let loaded = load(self.db, missing).await?;
            let mut facts = facts.lock().map_err(|_| poisoned())?;
            let table = table(&mut facts);
            for (id, row) in loaded {
                table.insert(id, row.clone());
                found.insert(id, row);
            }
        }
        Ok(found)
    }

    /// Events for every touchpoint a message carries.
    async fn message_events(
        &self,
        m: &message::Model,
        outcome: TouchpointState,
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
        let vehicles = self
            .vehicles(carried.iter().map(|t| t.vehicle_id).collect())
            .await?;
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
            .filter(message::Column::State.eq(MessageState::Retry.as_str()))
            .filter(message::Column::NextAttemptAt.lte(now))
            .all(self.db)
            .await
            .context("loading retries")?;
        for m in due {
            let lease = now + Duration::seconds(self.config.settings.dispatch.lease_secs);
            let claimed = message::Entity::update_many()
                .col_expr(
                    message::Column::State,
                    Expr::value(MessageState::Sending.as_str()),
                )
                .col_expr(message::Column::LeaseUntil, Expr::value(lease))
                .col_expr(message::Column::Attempts, Expr::value(m.attempts + 1))
                .filter(message::Column::Id.eq(m.id))
                .filter(message::Column::State.eq(MessageState::Retry.as_str()))
                .exec(self.db)
                .await
                .context("claiming a retry")?;
            if claimed.rows_affected == 1 {
                let m = message::Model {
                    attempts: m.attempts + 1,
                    state: MessageState::Sending.as_str().into(),
                    lease_until: Some(lease),
                    ..m
                };
                let settled = self.send(&m, now).await;
                // Its time in the history is now its send, not its creation.
                self.forget_customer(m.customer_id);
                store_outcomes(self.db, std::slice::from_ref(&settled), now).await?;
                tally(&settled, report);
                self.message_events(&m, settled.outcome, settled.reason, now, report)
                    .await?;
            }
        }
        Ok(())
    }

    /// Decides one person's due touchpoints and stages the result: state
    /// changes into `decided.changes`, the messages to create into
    /// `decided.drafts`.
    fn person(
        &self,
        customer: &customer::Model,
        rows: &[touchpoint::Model],
        vehicles: &HashMap<i64, vehicle::Model>,
        history: &History,
        now: DateTime<Utc>,
        decided: &mut Decided<'_>,
    ) {
        let tz = crate::domain::parse_timezone(&customer.timezone)
            .unwrap_or_else(|_| self.config.default_timezone());
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
        let report = &mut *decided.report;
        let mut open = Vec::with_capacity(rows.len());
        for t in rows {
            if crate::rules::visit_never_came(t.awaits_visit, t.due_date, today) {
                decided.changes.push(
                    t.id,
                    TouchpointState::Cancelled,
                    Some(NO_VISIT_REASON.into()),
                    None,
                );
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
        let decisions = rules::decide(&person, tz, &candidates, history, &self.policy, now);
        let by_key: HashMap<&str, &touchpoint::Model> =
            open.iter().map(|t| (t.dedup_key.as_str(), *t)).collect();
        for (key, decision) in &decisions {
            let Some(row) = by_key.get(key.as_str()).copied() else {
                continue;
            };
            let (state, reason, next): (TouchpointState, String, Option<DateTime<Utc>>) =
                match decision {
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
                        let mut carried: Vec<&touchpoint::Model> = vec![row];
                        carried.extend(with.iter().filter_map(|k| by_key.get(k.as_str()).copied()));
                        match self.draft(customer, &carried, vehicles, now) {
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
                                    decided.changes.push(
                                        t.id,
                                        TouchpointState::Failed,
                                        Some(reason.clone()),
                                        None,
                                    );
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
                decided.changes.push(row.id, state, Some(reason), next);
            }
        }
    }

    /// Sends a group's new messages (outside any transaction, a few at
    /// once) and stores their outcomes, at least once a second so that a
    /// crash leaves little whose outcome is unknown.
    async fn deliver(
        &self,
        outgoing: Vec<(message::Model, Vec<touchpoint::Model>)>,
        vehicles: &HashMap<i64, vehicle::Model>,
        customers: &HashMap<i64, customer::Model>,
        now: DateTime<Utc>,
        report: &mut DispatchReport,
    ) -> Result<(), StoreError> {
        let mut pending: Vec<Settled> = Vec::new();
        let mut last_store = std::time::Instant::now();
        let mut sends =
            futures_util::stream::iter(outgoing.into_iter().map(|(m, carried)| async {
                let settled = self.send(&m, now).await;
                (m, carried, settled)
            }))
            .buffer_unordered(self.config.settings.dispatch.concurrency.max(1));
        while let Some((m, carried, settled)) = sends.next().await {
            tally(&settled, report);
            if settled.opted_out || settled.message_state != MessageState::Sent {
                self.forget_customer(m.customer_id);
            }
            if let Some(customer) = customers.get(&m.customer_id) {
                push_sent_events(
                    &m,
                    &carried,
                    vehicles,
                    customer,
                    settled.outcome,
                    settled.reason.clone(),
                    now,
                    report,
                );
            }
            pending.push(settled);
            if last_store.elapsed() >= STORE_OUTCOMES_EVERY {
                store_outcomes(self.db, &pending, now).await?;
                pending.clear();
                last_store = std::time::Instant::now();
            }
        }
        store_outcomes(self.db, &pending, now).await
    }

    /// The message (and, for a call, the task) that will carry the
    /// touchpoints; `Err` with the reason when it cannot be rendered.
    fn draft(
        &self,
        customer: &customer::Model,
        carried: &[&touchpoint::Model],
        vehicles: &HashMap<i64, vehicle::Model>,
        now: DateTime<Utc>,
    ) -> Result<Draft, String> {
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
        let rendered = self
            .catalog
            .render(&first.message, customer.locale.as_deref(), &ctx)
            .map_err(|e| e.to_string())?;
        let recipient = match channel {
            Channel::Email => customer.email.clone(),
            Channel::Sms | Channel::Call => customer.phone.clone(),
        }
        .unwrap_or_default();
        let is_call = channel == Channel::Call;
        let lease = now + Duration::seconds(self.config.settings.dispatch.lease_secs);
        let call = is_call.then(|| call_task::ActiveModel {
            customer_id: Set(customer.id),
            due_date: Set(first.due_date),
            title: Set(rendered.subject.clone()),
            script: Set(rendered.body.clone()),
            state: Set(CallTaskState::Open.as_str().into()),
            created_at: Set(now),
            ..Default::default()
        });
        Ok(Draft {
            message: message::Model {
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
                } else {
                    MessageState::Sending
                }
                .as_str()
                .into(),
                reason: is_call.then(|| "call task created".to_string()),
                attempts: if is_call { 0 } else { 1 },
                next_attempt_at: None,
                lease_until: (!is_call).then_some(lease),
                provider_ref: None,
                created_at: now,
                sent_at: is_call.then_some(now),
                updated_at: now,
            },
            carried: carried.iter().map(|t| (*t).clone()).collect(),
            call,
        })
    }

    /// Hands one claimed message to its transport; what came of it.
    async fn send(&self, m: &message::Model, now: DateTime<Utc>) -> Settled {
        let channel = channel_of(&m.channel);
        let outcome = match self.transports.for_channel(channel) {
            Some(transport) => {
                transport
                    .send(&Outgoing {
                        key: m.key.clone(),
                        channel,
                        recipient: m.recipient.clone(),
                        subject: m.subject.clone(),
                        body: m.body.clone(),
                        unsubscribe_url: self.transports.unsubscribe_url(m.customer_id, channel),
                    })
                    .await
            }
            None => Outcome::Permanent {
                reason: "no transport for the channel".into(),
            },
        };
        settle(m, outcome, self.config.settings.dispatch.max_attempts, now)
    }

    /// The people's messages and calls of the last 31 days, per person.
    async fn histories(
        &self,
        people: &[i64],
        now: DateTime<Utc>,
    ) -> Result<HashMap<i64, History>, StoreError> {
        let since = now - Duration::days(HISTORY_DAYS);
        let mut histories = self
            .kept(
                people.to_vec(),
                |f| &mut f.histories,
                |db, missing| load_histories(db, missing, now),
            )
            .await?;
        for history in histories.values_mut() {
            history.messages.retain(|at| *at > since);
            history.calls.retain(|at| *at > since);
        }
        Ok(histories)
    }
}

/// How far back a person's send history is read.
const HISTORY_DAYS: i64 = 31;

/// The people's messages and calls of the last 31 days, per person (every
/// one of them, with or without).
async fn load_histories(
    db: &DatabaseConnection,
    people: Vec<i64>,
    now: DateTime<Utc>,
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
            .filter(message::Column::CreatedAt.gt(now - Duration::days(HISTORY_DAYS)))
            .into_tuple()
            .all(db)
            .await
            .context("loading the send history")?;
        for (customer_id, channel, state, sent_at, created_at) in recent {
            if !MessageState::WENT_OUT.contains(&stored_state::<MessageState>(&state)?) {
                continue;
            }
            let history = histories.entry(customer_id).or_default();
            let at = sent_at.unwrap_or(created_at);
            match channel_of(&channel) {
                Channel::Call => history.calls.push(at),
                _ => history.messages.push(at),
            }
        }
    }
    Ok(histories)
}

/// The rows of `ids` (a few statements of `IN` lists), by id.
fn poisoned() -> StoreError {
    StoreError {
        context: "keeping customers, vehicles and histories".into(),
        source: sea_orm::DbErr::Custom("a pass panicked while holding them".into()),
    }
}

/// A message in a person's history: customer, channel, state, sent, created.
type Sent = (i64, String, String, Option<DateTime<Utc>>, DateTime<Utc>);

/// People whose decisions share one transaction: few enough that their
/// sends finish well within a lease even at a low SMS rate limit.
const PEOPLE_PER_TRANSACTION: usize = 50;

/// Send outcomes are stored at least this often during a group's sends.
const STORE_OUTCOMES_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Where one person's decisions go.
struct Decided<'r> {
    changes: &'r mut Changes,
    drafts: &'r mut Vec<Draft>,
    report: &'r mut DispatchReport,
}

pub(super) fn channel_of(s: &str) -> Channel {
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

/// Counts a send outcome in the pass's report.
fn tally(s: &Settled, report: &mut DispatchReport) {
    match s.outcome {
        TouchpointState::Sent => *report.sent.entry(s.channel.as_str().into()).or_default() += 1,
        TouchpointState::Deferred => report.retrying += 1,
        TouchpointState::Suppressed => report.suppressed += 1,
        _ => report.failed += 1,
    }
}

/// One event per touchpoint a message carries: the first with the message's
/// reason, the merged ones "sent together with" it.
#[allow(clippy::too_many_arguments)]
fn push_sent_events(
    m: &message::Model,
    carried: &[touchpoint::Model],
    vehicles: &HashMap<i64, vehicle::Model>,
    customer: &customer::Model,
    outcome: TouchpointState,
    reason: Option<String>,
    now: DateTime<Utc>,
    report: &mut DispatchReport,
) {
    for (i, t) in carried.iter().enumerate() {
        let reason = match (i, outcome) {
            (0, _) | (_, TouchpointState::Deferred) => reason.clone(),
            _ => Some(format!("sent together with {}", m.key)),
        };
        report
            .events
            .push(event(t, vehicles, customer, outcome, reason, now));
    }
}
