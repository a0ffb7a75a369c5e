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
}
