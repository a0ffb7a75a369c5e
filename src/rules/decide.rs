//! One person's due touchpoints at one instant: which go out now, which wait,
//! which are held back and why. Pure: facts and a clock in, decisions out.

use super::caps::{Limit, next_allowed};
use super::consent::{Person, permitted};
use super::quiet::{Window, first_instant, next_open};
use crate::domain::{Category, Channel};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;

/// A touchpoint that is due (or about to be) for this person.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub key: String,
    pub channel: Channel,
    pub category: Category,
    pub priority: i32,
    pub due_date: NaiveDate,
    /// The message template; equal content for one person on one day merges.
    pub message: String,
}

/// The rules' settings (built by `config::Settings::policy`).
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Emails and SMS together.
    pub message_limits: Vec<Limit>,
    pub call_limits: Vec<Limit>,
    pub email_hours: Window,
    pub sms_hours: Window,
    pub call_hours: Window,
    /// Days after its due date a touchpoint may still go out.
    pub grace_days: i64,
}

impl Default for Policy {
    /// The shipped rules: one message in 7 days and four in 30, one call in
    /// 14; email at any hour, SMS and calls 09:00–20:00 but not on Sundays;
    /// seven days of grace.
    fn default() -> Self {
        let daytime = Window {
            start: 9 * 60,
            end: 20 * 60,
            sundays: false,
        };
        Self {
            message_limits: vec![Limit::days(1, 7), Limit::days(4, 30)],
            call_limits: vec![Limit::days(1, 14)],
            email_hours: Window {
                start: 0,
                end: 24 * 60,
                sundays: true,
            },
            sms_hours: daytime,
            call_hours: daytime,
            grace_days: 7,
        }
    }
}

impl Policy {
    /// How far back a person's sends count toward a cap: the longest
    /// window of any limit (a day at least).
    pub fn history_window(&self) -> chrono::Duration {
        self.message_limits
            .iter()
            .chain(&self.call_limits)
            .map(|l| l.window)
            .max()
            .unwrap_or_default()
            .max(chrono::Duration::days(1))
    }

    fn hours(&self, channel: Channel) -> &Window {
        match channel {
            Channel::Email => &self.email_hours,
            Channel::Sms => &self.sms_hours,
            Channel::Call => &self.call_hours,
        }
    }

    fn limits(&self, channel: Channel) -> &[Limit] {
        match channel {
            Channel::Call => &self.call_limits,
            _ => &self.message_limits,
        }
    }
}

/// What happens to one candidate now.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Goes out now; `with` are the keys merged into this one message.
    Send { with: Vec<String> },
    /// Goes out in the same message as `into`.
    Merged { into: String },
    /// Waits until the instant (quiet hours, a cap, or not yet due).
    Defer { until: DateTime<Utc>, why: Wait },
    /// Never goes out; the reason is recorded.
    Suppress { reason: String },
    /// Already past its window: never sent late.
    Skip { reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    NotDue,
    QuietHours,
    Cap,
}

/// Sends already made to the person, by channel class.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub messages: Vec<DateTime<Utc>>,
    pub calls: Vec<DateTime<Utc>>,
}

impl History {
    fn of(&self, channel: Channel) -> &Vec<DateTime<Utc>> {
        match channel {
            Channel::Call => &self.calls,
            _ => &self.messages,
        }
    }
    /// Adds a send on `channel` at `at`.
    pub fn push(&mut self, channel: Channel, at: DateTime<Utc>) {
        match channel {
            Channel::Call => self.calls.push(at),
            _ => self.messages.push(at),
        }
    }
}

/// Decides every candidate of one person at `now`, highest priority first:
/// consent and opt-out, the grace window, identical content merged, quiet
/// hours in the person's zone, and the frequency caps over `history` and
/// what this call already lets out.
/// Why a touchpoint due on `due` may no longer go out `today`: its last
/// day, `grace_days` after, is past. Reminders are never sent late.
pub fn too_late_for(due: NaiveDate, today: NaiveDate, grace_days: i64) -> Option<String> {
    (today > crate::predict::add_days(due, grace_days))
        .then(|| format!("not sent within {grace_days} days of its date; never sent late"))
}

pub fn decide(
    person: &Person,
    tz: Tz,
    candidates: &[Candidate],
    history: &History,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Vec<(String, Decision)> {
    let today = now.with_timezone(&tz).date_naive();
    let mut order: Vec<&Candidate> = candidates.iter().collect();
    order.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(a.due_date.cmp(&b.due_date))
            .then(a.key.cmp(&b.key))
    });
    let mut history = history.clone();
    let mut out: Vec<(String, Decision)> = Vec::with_capacity(order.len());
    let mut sent_now: Vec<(usize, &Candidate)> = Vec::new();
    for c in order {
        let last_day = crate::predict::add_days(c.due_date, policy.grace_days);
        if let Err(refusal) = permitted(person, c.category, c.channel) {
            out.push((
                c.key.clone(),
                Decision::Suppress {
                    reason: refusal.to_string(),
                },
            ));
            continue;
        }
        if let Some(reason) = too_late_for(c.due_date, today, policy.grace_days) {
            out.push((c.key.clone(), Decision::Skip { reason }));
            continue;
        }
        if c.due_date > today {
            let until = local_midnight(tz, c.due_date);
            out.push((
                c.key.clone(),
                Decision::Defer {
                    until,
                    why: Wait::NotDue,
                },
            ));
            continue;
        }
        if let Some(&(i, first)) = sent_now.iter().find(|(_, s)| {
            s.channel == c.channel && s.message == c.message && s.due_date == c.due_date
        }) {
            if let Decision::Send { with } = &mut out[i].1 {
                with.push(c.key.clone());
            }
            out.push((
                c.key.clone(),
                Decision::Merged {
                    into: first.key.clone(),
                },
            ));
            continue;
        }
        let open = next_open(now, tz, policy.hours(c.channel));
        if open > now {
            out.push((
                c.key.clone(),
                Decision::Defer {
                    until: open,
                    why: Wait::QuietHours,
                },
            ));
            continue;
        }
        match next_allowed(history.of(c.channel), policy.limits(c.channel), now) {
            Some(t) if t == now => {
                history.push(c.channel, now);
                sent_now.push((out.len(), c));
                out.push((c.key.clone(), Decision::Send { with: Vec::new() }));
            }
            Some(t) if t < local_midnight(tz, crate::predict::add_days(last_day, 1)) => {
                out.push((
                    c.key.clone(),
                    Decision::Defer {
                        until: t,
                        why: Wait::Cap,
                    },
                ));
            }
            _ => out.push((
                c.key.clone(),
                Decision::Suppress {
                    reason: format!(
                        "frequency cap: no room for the {} within {} days of its date",
                        c.channel, policy.grace_days
                    ),
                },
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests;

/// The first instant of a local day.
fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    first_instant(tz, date.and_time(NaiveTime::MIN))
}
