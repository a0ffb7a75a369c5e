//! Re-planning: how a freshly built plan is laid over what is stored. Pure:
//! it decides, the store carries it out.

use crate::domain::TouchpointState;
use chrono::NaiveDate;

/// A stored touchpoint as the merge sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored<'a> {
    pub key: &'a str,
    pub due_date: NaiveDate,
    pub state: &'a str,
    pub reason: Option<&'a str>,
    pub awaits_visit: bool,
}

/// What the new plan wants for one occurrence.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted<'a> {
    pub key: &'a str,
    pub due_date: NaiveDate,
    pub state: TouchpointState,
    pub reason: Option<&'a str>,
    pub awaits_visit: bool,
}

/// A stored touchpoint may still be changed by a re-plan while nothing has
/// been done with it: planned, deferred (waiting for quiet hours or a cap) or
/// displaced, or skipped only because an anchor was missing (a birthday that
/// arrives later un-skips it). A touchpoint an administrator holds
/// (`on_hold`) counts as acted on: it keeps its date until released. A
/// stored state text that is no known state is left alone too.
pub fn replannable(stored: &Stored<'_>) -> bool {
    use TouchpointState::{Deferred, Displaced, Planned, Skipped};
    match TouchpointState::from_text(stored.state) {
        Ok(Planned | Deferred | Displaced) => true,
        Ok(Skipped) => stored.reason.is_some_and(|r| {
            r == super::Reason::NoBirthday.to_string()
                || r == super::Reason::NoWarrantyEnd.to_string()
        }),
        Ok(_) | Err(_) => false,
    }
}

pub const DROPPED_REASON: &str = "no longer in the plan after re-planning";

/// The change to make to one stored touchpoint, if any.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Date, state or reason moves to the wanted ones.
    Update {
        due_date: NaiveDate,
        state: TouchpointState,
        reason: Option<String>,
        awaits_visit: bool,
    },
    /// The new plan no longer has it.
    Drop,
}

/// What to do with a stored touchpoint given the new plan's wish for it
/// (`None`: the plan no longer holds it).
pub fn decide(stored: &Stored<'_>, wanted: Option<&Wanted<'_>>) -> Option<Change> {
    if !replannable(stored) {
        return None;
    }
    match wanted {
        None => Some(Change::Drop),
        Some(w)
            if w.due_date != stored.due_date
                || !w.state.is(stored.state)
                || w.reason != stored.reason
                || w.awaits_visit != stored.awaits_visit =>
        {
            Some(Change::Update {
                due_date: w.due_date,
                state: w.state,
                reason: w.reason.map(str::to_string),
                awaits_visit: w.awaits_visit,
            })
        }
        Some(_) => None,
    }
}

/// One row of a freshly built plan: an occurrence with its key and the
/// state and reason it is stored with (a displaced one is `displaced`).
#[derive(Debug, Clone, PartialEq)]
pub struct Row<'p> {
    pub key: String,
    pub tp: &'p super::Touchpoint<'p>,
    pub state: TouchpointState,
    pub reason: Option<String>,
}

/// A plan's rows: the kept touchpoints, then the displaced ones.
pub fn rows<'p>(vin: &str, plan: &'p super::Plan<'p>) -> Vec<Row<'p>> {
    let kept = plan.touchpoints.iter().map(|t| (t, t.state.into()));
    let displaced = plan
        .displaced
        .iter()
        .map(|t| (t, TouchpointState::Displaced));
    kept.chain(displaced)
        .map(|(tp, state)| Row {
            key: tp.dedup_key(vin, plan.cycle),
            tp,
            state,
            reason: tp.reason.map(|r| r.to_string()),
        })
        .collect()
}

/// A change to one stored touchpoint: its id, the change, and (for an
/// update) the due date of its service in the new plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub id: i64,
    pub change: Change,
    pub service_due: Option<NaiveDate>,
}

/// How a new plan of one cycle is laid over what is stored of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconciled<'p> {
    /// Changes to stored touchpoints, in the order given.
    pub updates: Vec<Update>,
    /// Occurrences not stored yet, in plan order.
    pub new: Vec<Row<'p>>,
    pub diff: Diff,
    /// Something was stored of this cycle before and it changed: the
    /// change is recorded (a first plan is not).
    pub record_change: bool,
}

/// Lays the plan of one cycle over its stored touchpoints (`existing`,
/// with their ids): new occurrences are added, replannable ones follow the
/// plan, the rest are kept as they are.
pub fn reconcile<'p>(
    vin: &str,
    plan: &'p super::Plan<'p>,
    existing: &[(i64, Stored<'_>)],
) -> Reconciled<'p> {
    let rows = rows(vin, plan);
    let mut diff = Diff::default();
    let mut updates = Vec::new();
    {
        let wanted: std::collections::HashMap<&str, (Wanted<'_>, Option<NaiveDate>)> = rows
            .iter()
            .map(|r| {
                (
                    r.key.as_str(),
                    (
                        Wanted {
                            key: &r.key,
                            due_date: r.tp.date,
                            state: r.state,
                            reason: r.reason.as_deref(),
                            awaits_visit: r.tp.awaits_visit,
                        },
                        r.tp.service_due,
                    ),
                )
            })
            .collect();
        for (id, stored) in existing {
            let want = wanted.get(stored.key);
            let Some(change) = decide(stored, want.map(|(w, _)| w)) else {
                continue;
            };
            diff.note(stored, &change);
            updates.push(Update {
                id: *id,
                change,
                service_due: want.and_then(|(_, s)| *s),
            });
        }
    }
    let known: std::collections::HashSet<&str> = existing.iter().map(|(_, s)| s.key).collect();
    let new: Vec<Row<'p>> = rows
        .into_iter()
        .filter(|r| !known.contains(r.key.as_str()))
        .collect();
    diff.added = new.len();
    Reconciled {
        updates,
        new,
        record_change: !existing.is_empty() && !diff.is_empty(),
        diff,
    }
}

/// Counts of what a re-plan changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Diff {
    pub added: usize,
    pub moved: usize,
    pub restated: usize,
    pub dropped: usize,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        *self == Diff::default()
    }

    pub fn note(&mut self, stored: &Stored<'_>, change: &Change) {
        match change {
            Change::Drop => self.dropped += 1,
            Change::Update { due_date, .. } if *due_date != stored.due_date => self.moved += 1,
            Change::Update { .. } => self.restated += 1,
        }
    }

    pub fn summary(&self) -> String {
        format!(
            "{} added, {} moved, {} changed state, {} dropped",
            self.added, self.moved, self.restated, self.dropped
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn stored<'a>(state: &'a str, reason: Option<&'a str>) -> Stored<'a> {
        Stored {
            key: "k",
            due_date: d("2026-01-01"),
            state,
            reason,
            awaits_visit: false,
        }
    }

    fn wanted(date: &str) -> Wanted<'static> {
        Wanted {
            key: "k",
            due_date: d(date),
            state: TouchpointState::Planned,
            reason: None,
            awaits_visit: false,
        }
    }

    #[test]
    fn sent_and_held_touchpoints_are_never_replanned() {
        for state in [
            "sent",
            "delivered",
            "failed",
            "held",
            crate::domain::TouchpointState::OnHold.as_str(),
            "cancelled",
            "suppressed",
            "sending",
        ] {
            assert_eq!(
                decide(&stored(state, None), Some(&wanted("2026-02-01"))),
                None,
                "{state}"
            );
            assert_eq!(decide(&stored(state, None), None), None, "{state}");
        }
    }

    #[test]
    fn planned_ones_move_or_drop() {
        let s = stored("planned", None);
        assert_eq!(decide(&s, Some(&wanted("2026-01-01"))), None);
        let change = decide(&s, Some(&wanted("2026-02-01"))).unwrap();
        let mut diff = Diff::default();
        diff.note(&s, &change);
        assert_eq!(diff.moved, 1);
        assert_eq!(decide(&s, None), Some(Change::Drop));
    }

    #[test]
    fn only_anchor_skips_can_be_unskipped() {
        let no_birthday = super::super::Reason::NoBirthday.to_string();
        assert!(
            decide(
                &stored("skipped", Some(&no_birthday)),
                Some(&wanted("2026-03-01"))
            )
            .is_some()
        );
        assert!(
            decide(
                &stored("skipped", Some("already more than 7 days past")),
                Some(&wanted("2026-03-01"))
            )
            .is_none()
        );
    }

    mod reconciling {
        use super::super::*;
        use crate::plan::{PlanParams, Template, VehicleFacts, build, cycle_bounds};
        use crate::predict::{Facts, Schedule};
        use proptest::prelude::*;

        const STATES: [TouchpointState; 6] = [
            TouchpointState::Planned,
            TouchpointState::Deferred,
            TouchpointState::Sent,
            TouchpointState::OnHold,
            TouchpointState::Cancelled,
            TouchpointState::Displaced,
        ];

        proptest! {
            /// Over a real plan and any stored mix of its occurrences (in
            /// any state, some on other dates) and of occurrences it no
            /// longer has: what is not stored is added, once; only
            /// replannable rows change, to what the plan wants, and those
            /// the plan lost are dropped; the change is recorded exactly
            /// when something was stored and something changed.
            #[test]
            fn a_plan_is_laid_over_what_is_stored(
                days in 0i64..2000,
                picks in proptest::collection::vec((any::<bool>(), 0usize..6, -3i64..3), 48),
                lost in proptest::collection::vec(0usize..6, 0..4),
            ) {
                let template = Template::parse(crate::plan::DEFAULT_PLAN).unwrap();
                let purchase = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::Duration::days(days);
                let facts = VehicleFacts {
                    facts: Facts {
                        purchase_date: purchase,
                        purchase_odometer_km: 0,
                        readings: &[],
                        declared_monthly_km: None,
                        schedule: Schedule::default(),
                    },
                    birthday: None,
                };
                let params = PlanParams::default();
                let (start, _) = cycle_bounds(purchase, 0, params.cycle_months);
                let plan = build(&template, &facts, &params, 0, start);
                let vin = "WVWZZZ1JZXW000001";
                let wanted = rows(vin, &plan);
                // Stored: some of the plan's rows, and some it lost.
                let mut keys: Vec<String> = Vec::new();
                let mut stored: Vec<(String, NaiveDate, TouchpointState)> = Vec::new();
                for (row, (keep, state, shift)) in wanted.iter().zip(&picks) {
                    if *keep {
                        stored.push((row.key.clone(), row.tp.date + chrono::Duration::days(*shift), STATES[*state]));
                    }
                }
                for (i, state) in lost.iter().enumerate() {
                    stored.push((format!("{vin}:gone:0:{i}"), start, STATES[*state]));
                }
                keys.extend(stored.iter().map(|s| s.0.clone()));
                let existing: Vec<(i64, Stored<'_>)> = stored
                    .iter()
                    .enumerate()
                    .map(|(i, (key, date, state))| {
                        (i as i64, Stored { key, due_date: *date, state: state.as_str(), reason: None, awaits_visit: false })
                    })
                    .collect();
                let r = reconcile(vin, &plan, &existing);

                // Every occurrence of the plan is stored or new, never both.
                for row in &wanted {
                    let is_new = r.new.iter().filter(|n| n.key == row.key).count();
                    let was = keys.iter().filter(|k| **k == row.key).count();
                    prop_assert_eq!(is_new + was, 1, "{}", row.key);
                }
                prop_assert_eq!(r.diff.added, r.new.len());
                // Only replannable rows change, each as `decide` says.
                for u in &r.updates {
                    let (_, s) = &existing[u.id as usize];
                    prop_assert!(replannable(s), "{:?}", s);
                    let want = wanted.iter().find(|w| w.key == s.key);
                    match (&u.change, want) {
                        (Change::Drop, None) => {}
                        (Change::Update { due_date, state, .. }, Some(w)) => {
                            prop_assert_eq!(*due_date, w.tp.date);
                            prop_assert_eq!(*state, w.state);
                            prop_assert_eq!(u.service_due, w.tp.service_due);
                        }
                        (change, want) => prop_assert!(false, "{:?} for {:?}", change, want.map(|w| &w.key)),
                    }
                }
                for (id, s) in &existing {
                    let updated = r.updates.iter().any(|u| u.id == *id);
                    let lost = !wanted.iter().any(|w| w.key == s.key);
                    if replannable(s) && lost {
                        prop_assert!(updated, "{} was not dropped", s.key);
                    }
                }
                prop_assert_eq!(r.record_change, !existing.is_empty() && !r.diff.is_empty());

                // Laid over itself, a plan changes nothing.
                let same: Vec<(i64, Stored<'_>)> = wanted
                    .iter()
                    .enumerate()
                    .map(|(i, w)| {
                        (i as i64, Stored {
                            key: &w.key,
                            due_date: w.tp.date,
                            state: w.state.as_str(),
                            reason: w.reason.as_deref(),
                            awaits_visit: w.tp.awaits_visit,
                        })
                    })
                    .collect();
                let again = reconcile(vin, &plan, &same);
                prop_assert!(again.updates.is_empty() && again.new.is_empty() && !again.record_change);
            }
        }
    }
}
