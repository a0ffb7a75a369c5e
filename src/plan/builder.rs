use super::template::{Anchor, Entry, Season, Template};
use crate::domain::{Category, Channel, TouchpointState};
use crate::predict::{self, Facts, Prediction, add_days, add_months};
use chrono::{Datelike, Months, NaiveDate};
use serde::Serialize;
use std::fmt;

/// Tuning of the plan (the configuration's `[plan]` and `[prediction]`,
/// built by `config::Settings::plan_params`). The default is the shipped one.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanParams {
    pub predict: predict::Params,
    pub touchpoints_per_cycle: usize,
    pub cycle_months: u32,
    pub grace_days: i64,
    pub warranty_months: u32,
    pub spring: (u32, u32),
    pub autumn: (u32, u32),
    pub lead_per_uncertainty_day: f64,
    pub uncertainty_covered_days: f64,
    pub max_extra_lead_days: i64,
}

impl Default for PlanParams {
    fn default() -> Self {
        Self {
            predict: predict::Params::default(),
            touchpoints_per_cycle: 36,
            cycle_months: 36,
            grace_days: 7,
            warranty_months: 36,
            spring: (4, 1),
            autumn: (10, 15),
            lead_per_uncertainty_day: 1.0,
            uncertainty_covered_days: 20.0,
            max_extra_lead_days: 30,
        }
    }
}

/// A vehicle's facts as the planner needs them.
#[derive(Debug, Clone, Copy)]
pub struct VehicleFacts<'a> {
    pub facts: Facts<'a>,
    pub birthday: Option<NaiveDate>,
}

/// The states a plan gives its touchpoints: the planner's part of
/// [`TouchpointState`] (the dispatcher and the operator set the others),
/// stored and shown as that state's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "TouchpointState")]
pub enum State {
    Planned,
    Skipped,
    Cancelled,
}

impl State {
    pub fn touchpoint_state(self) -> TouchpointState {
        match self {
            State::Planned => TouchpointState::Planned,
            State::Skipped => TouchpointState::Skipped,
            State::Cancelled => TouchpointState::Cancelled,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.touchpoint_state().as_str()
    }
}

impl From<State> for TouchpointState {
    fn from(state: State) -> Self {
        state.touchpoint_state()
    }
}

/// How the reason of a touchpoint a visit fulfilled starts; the visit's
/// day follows.
pub const FULFILLED_BY: &str = "fulfilled by the service visit on ";

/// Why a touchpoint is not simply planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    PastGrace { grace_days: i64 },
    NoBirthday,
    NoWarrantyEnd,
    FulfilledBy(NaiveDate),
    Displaced { budget: usize },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::PastGrace { grace_days } => write!(
                f,
                "already more than {grace_days} days past when first planned; not sent late"
            ),
            Reason::NoBirthday => f.write_str("no birthday on file"),
            Reason::NoWarrantyEnd => f.write_str("the warranty does not end in this cycle"),
            Reason::FulfilledBy(d) => write!(f, "{FULFILLED_BY}{d}"),
            Reason::Displaced { budget } => write!(
                f,
                "displaced by higher-priority touchpoints (budget of {budget} per cycle)"
            ),
        }
    }
}

/// One dated touchpoint of a vehicle's plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Touchpoint<'t> {
    pub entry: &'t Entry,
    /// Which one of its kind: the service number for service anchors, the
    /// year of the cycle for yearly ones, otherwise 1.
    pub occurrence: u32,
    pub date: NaiveDate,
    pub state: State,
    pub reason: Option<Reason>,
    /// For service touchpoints: the due date of their service.
    pub service_due: Option<NaiveDate>,
    /// A follow-up of a service not yet recorded: dispatch cancels it when
    /// its day comes and still no visit is recorded.
    pub awaits_visit: bool,
}

impl Touchpoint<'_> {
    pub fn code(&self) -> &str {
        &self.entry.code
    }
    pub fn channel(&self) -> Channel {
        self.entry.channel
    }
    pub fn category(&self) -> Category {
        self.entry.category
    }
    /// The occurrence's identity: sent at most once, whatever happens.
    pub fn dedup_key(&self, vin: &str, cycle: u32) -> String {
        dedup_key(vin, &self.entry.code, cycle, self.occurrence)
    }
}

/// `VIN:code:cycle:occurrence`.
pub fn dedup_key(vin: &str, code: &str, cycle: u32, occurrence: u32) -> String {
    format!("{vin}:{code}:{cycle}:{occurrence}")
}

/// A predicted or recorded service the plan anchors on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServiceEvent {
    pub number: u32,
    pub due_date: NaiveDate,
    /// The visit that fulfilled it, when recorded.
    pub done_date: Option<NaiveDate>,
    /// Days the adaptive reminders move earlier.
    pub extra_lead_days: i64,
}

/// One cycle of a vehicle's plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan<'t> {
    pub cycle: u32,
    pub cycle_start: NaiveDate,
    pub cycle_end: NaiveDate,
    pub touchpoints: Vec<Touchpoint<'t>>,
    pub displaced: Vec<Touchpoint<'t>>,
    pub services: Vec<ServiceEvent>,
}

/// The first and last day (both inclusive) of cycle `k`.
pub fn cycle_bounds(purchase: NaiveDate, k: u32, cycle_months: u32) -> (NaiveDate, NaiveDate) {
    let start = add_months(purchase, k.saturating_mul(cycle_months));
    let next = add_months(purchase, k.saturating_add(1).saturating_mul(cycle_months));
    (start, add_days(next, -1))
}

/// The cycle `date` falls in (0 before the purchase).
pub fn cycle_of(purchase: NaiveDate, date: NaiveDate, cycle_months: u32) -> u32 {
    if date <= purchase {
        return 0;
    }
    let months =
        (date.year() - purchase.year()) * 12 + date.month() as i32 - purchase.month() as i32;
    let mut k = (months.max(0) as u32) / cycle_months;
    while k > 0 && cycle_bounds(purchase, k, cycle_months).0 > date {
        k -= 1;
    }
    while cycle_bounds(purchase, k, cycle_months).1 < date {
        k += 1;
    }
    k
}

fn add_signed_months(date: NaiveDate, months: i32) -> NaiveDate {
    let m = Months::new(months.unsigned_abs());
    let r = if months >= 0 {
        date.checked_add_months(m)
    } else {
        date.checked_sub_months(m)
    };
    r.unwrap_or(date)
}

fn offset(entry: &Entry, anchor: NaiveDate) -> NaiveDate {
    add_days(
        add_signed_months(anchor, entry.offset_months),
        entry.offset_days,
    )
}

/// The date of a `service_due` touchpoint for a service due on `due`: its
/// offset from the due date, moved earlier by `extra_lead_days` when the
/// entry has an adaptive lead.
pub fn service_due_date(entry: &Entry, due: NaiveDate, extra_lead_days: i64) -> NaiveDate {
    let lead = if entry.adaptive_lead {
        extra_lead_days
    } else {
        0
    };
    add_days(offset(entry, due), -lead)
}

/// Month and day in `year`, Feb 29 falling on Feb 28 in common years.
fn in_year(year: i32, (m, d): (u32, u32)) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, m, d)
        .or_else(|| NaiveDate::from_ymd_opt(year, m, d.saturating_sub(1)))
}

/// The services the plan of a cycle anchors on: the recorded ones near the
/// cycle (with the due date predicted before each), then the predicted ones
/// until their earliest reminder falls after the cycle.
pub fn service_events(
    vf: &VehicleFacts<'_>,
    params: &PlanParams,
    as_of: NaiveDate,
    cycle_start: NaiveDate,
    cycle_end: NaiveDate,
    reach_days: i64,
) -> Vec<ServiceEvent> {
    let facts = &vf.facts;
    let horizon_start = add_days(cycle_start, -reach_days);
    let horizon_end = add_days(cycle_end, reach_days + params.max_extra_lead_days);
    let mut events = Vec::new();
    for (i, visit) in facts
        .readings
        .iter()
        .filter(|r| r.kind == crate::domain::VisitKind::Service && r.date <= as_of)
        .enumerate()
    {
        if visit.date < horizon_start {
            continue;
        }
        let before = predict::predict(facts, &params.predict, add_days(visit.date, -1));
        events.push(ServiceEvent {
            number: i as u32 + 1,
            due_date: before.due_date,
            done_date: Some(visit.date),
            extra_lead_days: adaptive_extra_lead(&before, params),
        });
    }
    let mut next: Prediction = predict::predict(facts, &params.predict, as_of);
    // A guard against schedules so short that a cycle would hold thousands.
    for _ in 0..240 {
        if next.due_date > horizon_end {
            break;
        }
        events.push(ServiceEvent {
            number: next.service_number,
            due_date: next.due_date,
            done_date: None,
            extra_lead_days: adaptive_extra_lead(&next, params),
        });
        next = predict::next_after(&next, &facts.schedule);
    }
    events
}

/// Days the adaptive service reminders of a predicted service move earlier.
/// Only a rate measured from readings has a measurable uncertainty; a
/// declared or default rate keeps the template's own lead. The backtest
/// measures the reminders through this same function.
pub fn adaptive_extra_lead(p: &Prediction, params: &PlanParams) -> i64 {
    if p.rate.source != predict::RateSource::Readings {
        return 0;
    }
    p.extra_lead_days(
        params.lead_per_uncertainty_day,
        params.uncertainty_covered_days,
        params.max_extra_lead_days,
    )
}

/// How far from a service's date its touchpoints can fall, in days.
fn service_reach(template: &Template) -> i64 {
    template
        .entries
        .iter()
        .filter(|e| matches!(e.anchor, Anchor::ServiceDue | Anchor::ServiceDone))
        .map(|e| e.offset_days.abs() + i64::from(e.offset_months.unsigned_abs()) * 31)
        .max()
        .unwrap_or(0)
        + 1
}

/// Builds cycle `cycle` of a vehicle's plan as of `as_of` (facts dated after
/// it are ignored). Pure: the same facts give the same plan.
pub fn build<'t>(
    template: &'t Template,
    vf: &VehicleFacts<'_>,
    params: &PlanParams,
    cycle: u32,
    as_of: NaiveDate,
) -> Plan<'t> {
    let purchase = vf.facts.purchase_date;
    let (start, end) = cycle_bounds(purchase, cycle, params.cycle_months);
    let services = service_events(vf, params, as_of, start, end, service_reach(template));
    let inside = |d: NaiveDate| d >= start && d <= end;
    let clamp = |d: NaiveDate| d.clamp(start, end);
    let years = params.cycle_months.div_ceil(12).max(1);

    let mut regular: Vec<Touchpoint<'t>> = Vec::with_capacity(template.entries.len() + 8);
    let mut reserve: Vec<Touchpoint<'t>> = Vec::new();
    for entry in &template.entries {
        let out = if entry.reserve {
            &mut reserve
        } else {
            &mut regular
        };
        let mut push = |occurrence: u32,
                        date: NaiveDate,
                        reason: Option<Reason>,
                        service_due: Option<NaiveDate>,
                        awaits_visit: bool| {
            let state = match reason {
                Some(Reason::FulfilledBy(_)) => State::Cancelled,
                Some(_) => State::Skipped,
                None => State::Planned,
            };
            out.push(Touchpoint {
                entry,
                occurrence,
                date,
                state,
                reason,
                service_due,
                awaits_visit,
            });
        };
        match entry.anchor {
            Anchor::Purchase => {
                let date = offset(entry, start);
                if inside(date) {
                    push(1, date, None, None, false);
                }
            }
            Anchor::CycleEnd => {
                let date = offset(entry, add_days(end, 1));
                if inside(date) {
                    push(1, date, None, None, false);
                }
            }
            Anchor::WarrantyEnd => {
                let date = offset(entry, add_months(purchase, params.warranty_months));
                if inside(date) {
                    push(1, date, None, None, false);
                } else {
                    push(1, clamp(date), Some(Reason::NoWarrantyEnd), None, false);
                }
            }
            Anchor::ServiceDue | Anchor::ServiceDone => {
                for s in &services {
                    let date = if entry.anchor == Anchor::ServiceDue {
                        service_due_date(entry, s.due_date, s.extra_lead_days)
                    } else {
                        offset(entry, s.done_date.unwrap_or(s.due_date))
                    };
                    if !inside(date) {
                        continue;
                    }
                    let fulfilled = match s.done_date {
                        Some(v) if entry.anchor == Anchor::ServiceDue && date >= v => {
                            Some(Reason::FulfilledBy(v))
                        }
                        _ => None,
                    };
                    let awaits = entry.anchor == Anchor::ServiceDone && s.done_date.is_none();
                    push(s.number, date, fulfilled, Some(s.due_date), awaits);
                }
            }
            Anchor::Birthday | Anchor::Season => {
                let day = match (entry.anchor, entry.season) {
                    (Anchor::Season, Some(Season::Spring)) => Some(params.spring),
                    (Anchor::Season, Some(Season::Autumn)) => Some(params.autumn),
                    _ => vf.birthday.map(|b| (b.month(), b.day())),
                };
                let wanted = |n: u32| entry.nth.is_none_or(|k| k == n);
                match day {
                    None => {
                        for n in (1..=years).filter(|&n| wanted(n)) {
                            let date = clamp(add_months(start, 12 * (n - 1)));
                            push(n, date, Some(Reason::NoBirthday), None, false);
                        }
                    }
                    Some(md) => {
                        let mut n = 0;
                        for year in start.year()..=end.year() + 1 {
                            let Some(date) = in_year(year, md).map(|d| offset(entry, d)) else {
                                continue;
                            };
                            if inside(date) {
                                n += 1;
                                if wanted(n) {
                                    push(n, date, None, None, false);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    let budget = params.touchpoints_per_cycle;
    let by_priority = |a: &Touchpoint<'_>, b: &Touchpoint<'_>| {
        b.entry
            .priority
            .cmp(&a.entry.priority)
            .then(a.date.cmp(&b.date))
            .then_with(|| a.entry.code.cmp(&b.entry.code))
            .then(a.occurrence.cmp(&b.occurrence))
    };
    // Both orders are total (codes are unique), so unstable sorts give the
    // same result as stable ones. Everything is sorted by date at the end,
    // so displacing needs only which ones rank below the budget, not a sort.
    let mut displaced = if regular.len() > budget {
        regular.select_nth_unstable_by(budget, by_priority);
        regular.split_off(budget)
    } else {
        Vec::new()
    };
    for t in &mut displaced {
        t.reason = Some(Reason::Displaced { budget });
    }
    if regular.len() < budget {
        reserve.sort_unstable_by(by_priority);
        reserve.truncate(budget - regular.len());
        regular.append(&mut reserve);
    }

    let stale = add_days(as_of, -params.grace_days);
    for t in &mut regular {
        if t.state == State::Planned && t.date < stale {
            t.state = State::Skipped;
            t.reason = Some(Reason::PastGrace {
                grace_days: params.grace_days,
            });
        }
    }
    let by_date = |a: &Touchpoint<'_>, b: &Touchpoint<'_>| {
        a.date
            .cmp(&b.date)
            .then(b.entry.priority.cmp(&a.entry.priority))
            .then_with(|| a.entry.code.cmp(&b.entry.code))
            .then(a.occurrence.cmp(&b.occurrence))
    };
    regular.sort_unstable_by(by_date);
    displaced.sort_unstable_by(by_date);
    Plan {
        cycle,
        cycle_start: start,
        cycle_end: end,
        touchpoints: regular,
        displaced,
        services,
    }
}

#[cfg(test)]
mod tests;
