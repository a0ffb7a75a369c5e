//! What a call's outcome does: pure, over the task's facts and the owner's
//! day.

use chrono::NaiveDate;

/// The outcome of a call, as the service administrator records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// Reached and booked: the service's remaining reminders stop.
    Booked,
    /// Reached and declined.
    Declined,
    /// No answer: the task comes back in two days.
    NoAnswer,
    /// Wrong number: no more SMS or calls to it.
    WrongNumber,
}

impl CallOutcome {
    pub const ALL: [CallOutcome; 4] = [
        CallOutcome::Booked,
        CallOutcome::Declined,
        CallOutcome::NoAnswer,
        CallOutcome::WrongNumber,
    ];

    /// The outcome of its stored form.
    pub fn parse(text: &str) -> Option<CallOutcome> {
        CallOutcome::ALL
            .into_iter()
            .find(|o| o.as_str() == text.trim())
    }

    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Booked => "booked",
            CallOutcome::Declined => "declined",
            CallOutcome::NoAnswer => "no_answer",
            CallOutcome::WrongNumber => "wrong_number",
        }
    }
}

/// What an outcome does to its task and beyond.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEffect {
    /// The task is done (else it stays open).
    pub done: bool,
    /// The task's new date (an unanswered call comes back).
    pub due_date: Option<NaiveDate>,
    /// The service the call was about stops reminding.
    pub stops_service: bool,
    /// The phone number is wrong: SMS and calls stop.
    pub opts_out_phone: bool,
}

/// Days after which an unanswered call comes back onto the list.
pub const NO_ANSWER_DAYS: i64 = 2;

/// The effect of `outcome` recorded on the owner's day `today`.
pub fn call_effect(outcome: CallOutcome, today: NaiveDate) -> CallEffect {
    let done = CallEffect {
        done: true,
        due_date: None,
        stops_service: false,
        opts_out_phone: false,
    };
    match outcome {
        CallOutcome::NoAnswer => CallEffect {
            done: false,
            due_date: Some(crate::predict::add_days(today, NO_ANSWER_DAYS)),
            ..done
        },
        CallOutcome::Booked => CallEffect {
            stops_service: true,
            ..done
        },
        CallOutcome::Declined => done,
        CallOutcome::WrongNumber => CallEffect {
            opts_out_phone: true,
            ..done
        },
    }
}

/// A stored touchpoint as the booking rule sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reminder {
    pub id: i64,
    pub due_date: NaiveDate,
    /// The service it is about, for service touchpoints.
    pub service_due: Option<NaiveDate>,
    /// A follow-up that waits for the visit (a thank-you).
    pub awaits_visit: bool,
    /// Still to go: planned or deferred.
    pub pending: bool,
}

/// The reminders a booking on a call stops: of each service the call was
/// about (`booked`: those services' due dates), the pending ones dated up to
/// the due date. The win-back after it stays: if the visit never comes, it
/// still goes out; so do the follow-ups that wait for the visit.
pub fn stopped_by_booking(booked: &[NaiveDate], reminders: &[Reminder]) -> Vec<i64> {
    reminders
        .iter()
        .filter(|r| {
            r.pending
                && !r.awaits_visit
                && r.service_due
                    .is_some_and(|s| booked.contains(&s) && r.due_date <= s)
        })
        .map(|r| r.id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn each_outcome_has_its_effect() {
        let today = d("2026-05-06");
        assert_eq!(
            call_effect(CallOutcome::NoAnswer, today),
            CallEffect {
                done: false,
                due_date: Some(d("2026-05-08")),
                stops_service: false,
                opts_out_phone: false
            }
        );
        assert!(call_effect(CallOutcome::Booked, today).stops_service);
        assert!(call_effect(CallOutcome::WrongNumber, today).opts_out_phone);
        let declined = call_effect(CallOutcome::Declined, today);
        assert!(declined.done && !declined.stops_service && !declined.opts_out_phone);
    }

    #[test]
    fn a_booking_stops_the_pending_reminders_up_to_the_due_date() {
        let due = d("2026-05-20");
        let r = |id, date: &str, service_due, awaits_visit, pending| Reminder {
            id,
            due_date: d(date),
            service_due,
            awaits_visit,
            pending,
        };
        let reminders = [
            r(1, "2026-05-17", Some(due), false, true), // the SMS before: stops
            r(2, "2026-05-20", Some(due), false, true), // on the day: stops
            r(3, "2026-06-03", Some(due), false, true), // the win-back after: stays
            r(4, "2026-05-22", Some(due), true, true),  // the thank-you: stays
            r(5, "2026-04-20", Some(due), false, false), // already sent: stays
            r(6, "2026-05-10", Some(d("2027-05-20")), false, true), // another service
            r(7, "2026-05-10", None, false, true),      // not a service touchpoint
        ];
        assert_eq!(stopped_by_booking(&[due], &reminders), vec![1, 2]);
        assert!(stopped_by_booking(&[], &reminders).is_empty());
    }
}
