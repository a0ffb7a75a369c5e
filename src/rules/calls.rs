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
    /// No answer: the task comes back (in two days by default).
    NoAnswer,
    /// Left a message: the task comes back (in three days by default).
    LeftMessage,
    /// Busy: the task comes back (the next day by default).
    Busy,
    /// The owner asked to be called back: the task comes back on that day.
    CallBack,
    /// Wrong number: no more SMS or calls to it.
    WrongNumber,
    /// The owner asked not to be called: no more calls (SMS and email go on).
    DoNotCall,
}

impl CallOutcome {
    pub const ALL: [CallOutcome; 8] = [
        CallOutcome::Booked,
        CallOutcome::Declined,
        CallOutcome::NoAnswer,
        CallOutcome::LeftMessage,
        CallOutcome::Busy,
        CallOutcome::CallBack,
        CallOutcome::WrongNumber,
        CallOutcome::DoNotCall,
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
            CallOutcome::LeftMessage => "left_message",
            CallOutcome::Busy => "busy",
            CallOutcome::CallBack => "call_back",
            CallOutcome::WrongNumber => "wrong_number",
            CallOutcome::DoNotCall => "do_not_call",
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
    /// The owner asked not to be called: calls stop.
    pub opts_out_call: bool,
}

/// When each outcome that leaves a call open brings it back, in days after
/// the day it was recorded on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Returns {
    pub no_answer_days: i64,
    pub left_message_days: i64,
    pub busy_days: i64,
}

impl Default for Returns {
    fn default() -> Self {
        Self {
            no_answer_days: 2,
            left_message_days: 3,
            busy_days: 1,
        }
    }
}

/// The effect of `outcome` recorded on the owner's day `today`; a call
/// back comes back on `call_back_on` (none or a day before `today`: today).
pub fn call_effect(
    outcome: CallOutcome,
    today: NaiveDate,
    returns: &Returns,
    call_back_on: Option<NaiveDate>,
) -> CallEffect {
    let done = CallEffect {
        done: true,
        due_date: None,
        stops_service: false,
        opts_out_phone: false,
        opts_out_call: false,
    };
    let back_in = |days: i64| CallEffect {
        done: false,
        due_date: Some(crate::predict::add_days(today, days)),
        ..done
    };
    match outcome {
        CallOutcome::NoAnswer => back_in(returns.no_answer_days),
        CallOutcome::LeftMessage => back_in(returns.left_message_days),
        CallOutcome::Busy => back_in(returns.busy_days),
        CallOutcome::CallBack => CallEffect {
            done: false,
            due_date: Some(call_back_on.filter(|d| *d >= today).unwrap_or(today)),
            ..done
        },
        CallOutcome::DoNotCall => CallEffect {
            opts_out_call: true,
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
        let r = Returns::default();
        let effect = |o| call_effect(o, today, &r, None);
        assert_eq!(
            effect(CallOutcome::NoAnswer),
            CallEffect {
                done: false,
                due_date: Some(d("2026-05-08")),
                stops_service: false,
                opts_out_phone: false,
                opts_out_call: false,
            }
        );
        assert_eq!(
            effect(CallOutcome::LeftMessage).due_date,
            Some(d("2026-05-09"))
        );
        assert_eq!(effect(CallOutcome::Busy).due_date, Some(d("2026-05-07")));
        for open in [
            CallOutcome::NoAnswer,
            CallOutcome::LeftMessage,
            CallOutcome::Busy,
            CallOutcome::CallBack,
        ] {
            assert!(!effect(open).done, "{open:?}");
        }
        assert!(effect(CallOutcome::Booked).stops_service);
        assert!(effect(CallOutcome::WrongNumber).opts_out_phone);
        let dnc = effect(CallOutcome::DoNotCall);
        assert!(dnc.done && dnc.opts_out_call && !dnc.opts_out_phone);
        let declined = effect(CallOutcome::Declined);
        assert!(declined.done && !declined.stops_service && !declined.opts_out_phone);
        for o in CallOutcome::ALL {
            assert_eq!(CallOutcome::parse(o.as_str()), Some(o));
        }
    }

    #[test]
    fn returns_are_configurable_and_a_call_back_comes_back_on_its_day() {
        let today = d("2026-05-06");
        let r = Returns {
            no_answer_days: 5,
            left_message_days: 0,
            busy_days: 10,
        };
        assert_eq!(
            call_effect(CallOutcome::NoAnswer, today, &r, None).due_date,
            Some(d("2026-05-11"))
        );
        assert_eq!(
            call_effect(CallOutcome::LeftMessage, today, &r, None).due_date,
            Some(today)
        );
        assert_eq!(
            call_effect(CallOutcome::Busy, today, &r, None).due_date,
            Some(d("2026-05-16"))
        );
        let back = |on| call_effect(CallOutcome::CallBack, today, &r, on).due_date;
        assert_eq!(back(Some(d("2026-05-20"))), Some(d("2026-05-20")));
        assert_eq!(back(Some(d("2026-05-01"))), Some(today), "not before today");
        assert_eq!(back(None), Some(today));
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
