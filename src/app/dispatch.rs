//! The dispatch pass. Each person's due touchpoints are decided by the pure
//! step ([`crate::dispatch::person`]); the decisions of a group of people are stored
//! in one short transaction (messages are created `sending` under a lease),
//! then the group's sends happen outside any transaction and their outcomes
//! are stored. A message still `sending` when its lease runs out was
//! interrupted: it is held for review, never resent.

use crate::config::Config;
use crate::dispatch::breaker::Admit;
use crate::dispatch::{self as decide, Decided, DispatchReport, HELD_REASON, Rulebook};
use crate::dispatch::{Outcome, Outgoing, Settled, Transports, push_sent_events, settle, tally};
use crate::domain::{Customer, Message, Touchpoint, Vehicle};
use crate::domain::{MessageState, TouchpointState};
use crate::messages::Catalog;
use crate::store::dispatch::{self as writes, Changes, create_messages, store_outcomes};
use crate::store::{self, StoreError};
use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use sea_orm::DatabaseConnection;
use std::collections::{BTreeMap, HashMap};

/// The dispatcher's parts, built once per process.
pub struct Dispatcher<'a> {
    pub db: &'a DatabaseConnection,
    pub config: &'a Config,
    pub transports: &'a Transports,
    pub book: Rulebook<'a>,
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
            book: config.rulebook(catalog),
        }
    }

    /// One pass at `now`: hold interrupted sends, retry what is due for a
    /// retry, then decide and send every person's due touchpoints.
    pub async fn pass(&self, now: DateTime<Utc>) -> Result<DispatchReport, StoreError> {
        let held = writes::hold_interrupted(self.db, now, HELD_REASON).await?;
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
        self.lapse_approvals(now, &mut report).await?;
        self.retry_due(now, &mut report).await?;
        let mut by_customer: BTreeMap<i64, Vec<Touchpoint>> = BTreeMap::new();
        for t in writes::due_touchpoints(self.db, now).await? {
            by_customer.entry(t.customer_id).or_default().push(t);
        }
        // What the rules need of everyone due, loaded in a few queries.
        let people: Vec<(i64, Vec<Touchpoint>)> = by_customer.into_iter().collect();
        let ids: Vec<i64> = people.iter().map(|(id, _)| *id).collect();
        let customers = store::customers_by_id(self.db, &ids).await?;
        let mut vehicle_ids: Vec<i64> = people
            .iter()
            .flat_map(|(_, rows)| rows.iter().map(|t| t.vehicle_id))
            .collect();
        vehicle_ids.sort_unstable();
        vehicle_ids.dedup();
        let vehicles = store::vehicles_by_id(self.db, &vehicle_ids).await?;
        let since = now - self.book.policy.history_window();
        // A group of people is claimed, decided and stored in one short
        // transaction, then its messages are sent outside it. The claim
        // reads their touchpoints again, locked: another dispatcher on the
        // database (a second instance) skips them, and what it took first
        // is not decided twice. Their histories are read inside it too, so
        // that the caps count what another instance just sent.
        for group in people.chunks(PEOPLE_PER_TRANSACTION) {
            let txn = store::begin_writing(self.db, "claiming due touchpoints").await?;
            let ids: Vec<i64> = group
                .iter()
                .flat_map(|(_, rows)| rows.iter().map(|t| t.id))
                .collect();
            let mut claimed: BTreeMap<i64, Vec<Touchpoint>> = BTreeMap::new();
            for t in writes::lock_due(&txn, &ids, now).await? {
                claimed.entry(t.customer_id).or_default().push(t);
            }
            let people_ids: Vec<i64> = claimed.keys().copied().collect();
            let mut histories = writes::histories(&txn, &people_ids, since).await?;
            let mut decided = Decided::default();
            for (customer_id, rows) in &mut claimed {
                let Some(customer) = customers.get(customer_id) else {
                    continue;
                };
                rows.sort_unstable_by_key(|t| t.id);
                let history = histories.remove(customer_id).unwrap_or_default();
                decide::person(
                    &self.book,
                    customer,
                    rows,
                    &vehicles,
                    &history,
                    now,
                    &mut decided,
                    &mut report,
                );
            }
            Changes::from(decided.moves).apply(&txn, now).await?;
            // Another dispatcher may have got to some first: those are left to it.
            let created = create_messages(&txn, decided.drafts, now).await?;
            store::commit(txn, "storing dispatch decisions").await?;
            let mut outgoing = Vec::with_capacity(created.len());
            for draft in created {
                report.merged += draft.carried.len() - 1;
                // A call task is created, nothing to send; a message awaiting
                // approval waits for an administrator.
                let stays = if draft.call.is_some() {
                    *report
                        .sent
                        .entry(draft.message.channel.clone())
                        .or_default() += 1;
                    TouchpointState::Sent
                } else if MessageState::AwaitingApproval.is(&draft.message.state) {
                    report.awaiting_approval += 1;
                    TouchpointState::Held
                } else {
                    outgoing.push((draft.message, draft.carried));
                    continue;
                };
                if let Some(customer) = customers.get(&draft.message.customer_id) {
                    push_sent_events(
                        &draft.message,
                        &draft.carried,
                        &vehicles,
                        customer,
                        stays,
                        draft.message.reason.clone(),
                        now,
                        &mut report,
                    );
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
        let next = writes::next_pending(self.db).await?;
        // UTC+14 is the earliest any day begins.
        let planned = next
            .planned
            .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc() - Duration::hours(14));
        Ok([next.deferred, planned, next.retry, next.lease]
            .into_iter()
            .flatten()
            .min())
    }

    /// Lines for every touchpoint a message carries.
    async fn message_events(
        &self,
        m: &Message,
        outcome: TouchpointState,
        reason: Option<String>,
        now: DateTime<Utc>,
        report: &mut DispatchReport,
    ) -> Result<(), StoreError> {
        let carried = writes::touchpoints_of_message(self.db, m.id).await?;
        let customer = store::customer(self.db, m.customer_id).await?;
        self.carried_events(&carried, customer.as_ref(), outcome, reason, now, report)
            .await
    }

    /// Lines for each of the `carried` touchpoints of `customer`'s message.
    async fn carried_events(
        &self,
        carried: &[Touchpoint],
        customer: Option<&Customer>,
        outcome: TouchpointState,
        reason: Option<String>,
        now: DateTime<Utc>,
        report: &mut DispatchReport,
    ) -> Result<(), StoreError> {
        let Some(customer) = customer else {
            return Ok(());
        };
        let mut ids: Vec<i64> = carried.iter().map(|t| t.vehicle_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let vehicles = store::vehicles_by_id(self.db, &ids).await?;
        for t in carried {
            report.events.push(decide::event(
                t,
                &vehicles,
                customer,
                outcome,
                reason.clone(),
                now,
            ));
        }
        Ok(())
    }

    /// The messages nobody approved by their deadline: expired (discarded,
    /// their touchpoints cancelled), or, with `[approval] on_deadline =
    /// "send"`, let go like an approval (the retry below sends them).
    async fn lapse_approvals(
        &self,
        now: DateTime<Utc>,
        report: &mut DispatchReport,
    ) -> Result<(), StoreError> {
        for m in writes::approvals_past_deadline(self.db, now).await? {
            let customer = store::customer(self.db, m.customer_id).await?;
            match decide::lapse(&self.book.approval, &m, customer.as_ref()) {
                decide::Lapse::Send(reason) => {
                    if store::operator::approve_message(self.db, m.id, &reason, now).await? {
                        report.approval_lapsed_sent += 1;
                    }
                }
                decide::Lapse::Expire(reason) => {
                    if store::operator::discard_message(self.db, m.id, &reason, now).await? {
                        report.approval_expired += 1;
                        self.message_events(
                            &m,
                            TouchpointState::Cancelled,
                            Some(reason),
                            now,
                            report,
                        )
                        .await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn retry_due(
        &self,
        now: DateTime<Utc>,
        report: &mut DispatchReport,
    ) -> Result<(), StoreError> {
        for m in writes::due_retries(self.db, now).await? {
            let carried = writes::touchpoints_of_message(self.db, m.id).await?;
            let customer = store::customer(self.db, m.customer_id).await?;
            let lease = now + self.book.lease;
            if !writes::claim_retry(self.db, &m, lease).await? {
                continue;
            }
            // However long the transport was away, a reminder is never sent
            // after its last day.
            let due = carried.iter().map(|t| t.due_date);
            let settled = match decide::too_late(&self.book, customer.as_ref(), due, now) {
                Some(reason) => {
                    report.skipped += 1;
                    crate::dispatch::skipped_late(&m, reason)
                }
                None => {
                    let m = Message {
                        attempts: m.attempts + 1,
                        state: MessageState::Sending.as_str().into(),
                        lease_until: Some(lease),
                        ..m
                    };
                    let settled = self.send(&m, now).await;
                    tally(&settled, report);
                    settled
                }
            };
            store_outcomes(self.db, std::slice::from_ref(&settled), now).await?;
            self.carried_events(
                &carried,
                customer.as_ref(),
                settled.outcome,
                settled.reason,
                now,
                report,
            )
            .await?;
        }
        Ok(())
    }

    /// Sends a group's new messages (outside any transaction, a few at
    /// once) and stores their outcomes, at least once a second so that a
    /// crash leaves little whose outcome is unknown.
    async fn deliver(
        &self,
        outgoing: Vec<(Message, Vec<Touchpoint>)>,
        vehicles: &HashMap<i64, Vehicle>,
        customers: &HashMap<i64, Customer>,
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

    /// Hands one claimed message to its transport, unless its channel is
    /// paused (the transport out of reach); what came of it. A paused
    /// channel's probe that fails, like a transport out of reach, costs the
    /// message no attempt.
    async fn send(&self, m: &Message, now: DateTime<Utc>) -> Settled {
        let channel = crate::domain::Channel::of_stored(&m.channel);
        let breakers = &self.transports.breakers;
        let outcome = match self.transports.for_channel(channel) {
            None => Outcome::Permanent {
                reason: "no transport for the channel".into(),
            },
            Some(transport) => match breakers.with(channel, |b| b.admit(Utc::now())) {
                Some(Admit::Paused { until, reason }) => Outcome::Unreachable {
                    reason: format!("{} paused: {reason}", channel.as_str()),
                    retry_after: (until - Utc::now()).to_std().unwrap_or_default(),
                },
                admitted => {
                    let outcome = transport
                        .send(&Outgoing {
                            key: m.key.clone(),
                            channel,
                            recipient: m.recipient.clone(),
                            subject: m.subject.clone(),
                            body: m.body.clone(),
                            unsubscribe_url: self
                                .transports
                                .unsubscribe_url(m.customer_id, channel),
                        })
                        .await;
                    let answered = Utc::now();
                    let probe = admitted == Some(Admit::Probe);
                    let paused = breakers
                        .with(channel, |b| {
                            b.record(outcome.answer(), outcome.reason(), answered);
                            b.paused().map(|(until, _)| until)
                        })
                        .flatten();
                    match (outcome, paused) {
                        // The channel is (now) paused: the message waits for
                        // the next probe, its attempt given back.
                        (Outcome::Unreachable { reason, .. }, Some(until)) => {
                            Outcome::Unreachable {
                                reason,
                                retry_after: (until - answered).to_std().unwrap_or_default(),
                            }
                        }
                        (Outcome::Transient { reason, .. }, Some(until)) if probe => {
                            Outcome::Unreachable {
                                reason,
                                retry_after: (until - answered).to_std().unwrap_or_default(),
                            }
                        }
                        (outcome, _) => outcome,
                    }
                }
            },
        };
        settle(m, outcome, self.config.settings.dispatch.max_attempts, now)
    }
}

/// People whose decisions share one transaction: few enough that their
/// sends finish well within a lease even at a low SMS rate limit.
const PEOPLE_PER_TRANSACTION: usize = 50;

/// Send outcomes are stored at least this often during a group's sends.
const STORE_OUTCOMES_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// After the rules changed (a reload with other caps or quiet hours): the
/// deferred touchpoints are decided again by the next pass; how many.
pub async fn reconsider_deferred(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<u64, crate::app::Failure> {
    Ok(writes::reconsider_deferred(db, now).await?)
}
