//! Follow-ups after a service (a thank-you): they go out only after the
//! visit they follow.

use chrono::NaiveDate;

/// The reason recorded when a follow-up is cancelled for want of a visit.
pub const NO_VISIT_REASON: &str = "no service visit recorded: nothing to follow up";

/// Whether a touchpoint is a follow-up whose visit never came: it still
/// waits for the visit (none was recorded, or planning would have moved it
/// after the real one) and its day (`due_date`, in the owner's days) has
/// come by `today`. Such a touchpoint is cancelled, not sent.
pub fn visit_never_came(awaits_visit: bool, due_date: NaiveDate, today: NaiveDate) -> bool {
    awaits_visit && due_date <= today
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_follow_up_still_waiting_on_its_day_is_cancelled() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert!(visit_never_came(true, d("2026-05-22"), d("2026-05-22")));
        assert!(visit_never_came(true, d("2026-05-22"), d("2026-05-30")));
        assert!(!visit_never_came(true, d("2026-05-22"), d("2026-05-21")));
        assert!(!visit_never_came(false, d("2026-05-22"), d("2026-05-30")));
    }
}
