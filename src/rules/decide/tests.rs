use super::*;
use crate::rules::{Limit, is_open};
use chrono::{Duration, TimeZone};
use proptest::prelude::*;
use std::collections::HashMap;

fn policy() -> Policy {
    Policy::default()
}

fn everyone() -> Person {
    Person {
        has_email: true,
        has_phone: true,
        consent_email_marketing: true,
        consent_sms_marketing: true,
        opted_out_email: false,
        opted_out_sms: false,
        opted_out_call: false,
    }
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn cand(
    key: &str,
    channel: Channel,
    category: Category,
    priority: i32,
    due: &str,
    message: &str,
) -> Candidate {
    Candidate {
        key: key.into(),
        channel,
        category,
        priority,
        due_date: d(due),
        message: message.into(),
    }
}

fn berlin() -> Tz {
    "Europe/Berlin".parse().unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn higher_priority_takes_the_weekly_slot_and_the_other_waits() {
    let cs = [
        cand(
            "a",
            Channel::Email,
            Category::Marketing,
            20,
            "2026-03-10",
            "tyres",
        ),
        cand(
            "b",
            Channel::Sms,
            Category::Service,
            80,
            "2026-03-10",
            "service_nudge",
        ),
    ];
    let out = decide(
        &everyone(),
        berlin(),
        &cs,
        &History::default(),
        &policy(),
        at("2026-03-10T09:00:00Z"),
    );
    let by: HashMap<_, _> = out.into_iter().collect();
    assert_eq!(by["b"], Decision::Send { with: vec![] });
    // The next message fits 7 × 24 h later, still inside its 7-day grace window.
    assert_eq!(
        by["a"],
        Decision::Defer {
            until: at("2026-03-17T09:00:00Z"),
            why: Wait::Cap
        }
    );
}

#[test]
fn capped_beyond_the_window_is_suppressed_with_the_reason() {
    let cs = [cand(
        "a",
        Channel::Email,
        Category::Service,
        90,
        "2026-03-04",
        "m",
    )];
    let history = History {
        messages: vec![at("2026-03-09T10:00:00Z")],
        calls: vec![],
    };
    let out = decide(
        &everyone(),
        berlin(),
        &cs,
        &history,
        &policy(),
        at("2026-03-10T09:00:00Z"),
    );
    match &out[0].1 {
        Decision::Suppress { reason } => assert!(reason.contains("frequency cap"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn identical_content_for_two_cars_merges_into_one_message() {
    let cs = [
        cand(
            "car1",
            Channel::Email,
            Category::Service,
            90,
            "2026-03-10",
            "service_reminder",
        ),
        cand(
            "car2",
            Channel::Email,
            Category::Service,
            90,
            "2026-03-10",
            "service_reminder",
        ),
    ];
    let out = decide(
        &everyone(),
        berlin(),
        &cs,
        &History::default(),
        &policy(),
        at("2026-03-10T09:00:00Z"),
    );
    assert_eq!(
        out[0],
        (
            "car1".to_string(),
            Decision::Send {
                with: vec!["car2".to_string()]
            }
        )
    );
    assert_eq!(
        out[1],
        (
            "car2".to_string(),
            Decision::Merged {
                into: "car1".to_string()
            }
        )
    );
}

#[test]
fn quiet_hours_defer_and_stale_ones_are_skipped() {
    let cs = [
        cand(
            "sms",
            Channel::Sms,
            Category::Service,
            80,
            "2026-03-10",
            "m",
        ),
        cand(
            "old",
            Channel::Email,
            Category::Service,
            90,
            "2026-03-01",
            "m",
        ),
        cand(
            "later",
            Channel::Email,
            Category::Service,
            90,
            "2026-03-12",
            "m",
        ),
    ];
    // 21:30 Berlin on a Tuesday.
    let now = at("2026-03-10T20:30:00Z");
    let by: HashMap<_, _> = decide(
        &everyone(),
        berlin(),
        &cs,
        &History::default(),
        &policy(),
        now,
    )
    .into_iter()
    .collect();
    assert_eq!(
        by["sms"],
        Decision::Defer {
            until: at("2026-03-11T08:00:00Z"),
            why: Wait::QuietHours
        }
    );
    assert!(matches!(by["old"], Decision::Skip { .. }));
    assert_eq!(
        by["later"],
        Decision::Defer {
            until: at("2026-03-11T23:00:00Z"),
            why: Wait::NotDue
        }
    );
}

#[test]
fn marketing_without_consent_is_suppressed_service_goes() {
    let p = Person {
        consent_sms_marketing: false,
        ..everyone()
    };
    let cs = [
        cand(
            "m",
            Channel::Sms,
            Category::Marketing,
            30,
            "2026-03-10",
            "birthday",
        ),
        cand(
            "s",
            Channel::Call,
            Category::Service,
            100,
            "2026-03-10",
            "service_call",
        ),
    ];
    let by: HashMap<_, _> = decide(
        &p,
        berlin(),
        &cs,
        &History::default(),
        &policy(),
        at("2026-03-10T10:00:00Z"),
    )
    .into_iter()
    .collect();
    assert!(
        matches!(&by["m"], Decision::Suppress { reason } if reason.contains("marketing consent"))
    );
    assert_eq!(by["s"], Decision::Send { with: vec![] });
}

fn arb_candidates() -> impl Strategy<Value = Vec<Candidate>> {
    proptest::collection::vec(
        (0usize..3, any::<bool>(), 0i32..100, 0i64..60, 0usize..4),
        1..25,
    )
    .prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (ch, marketing, priority, day, msg))| Candidate {
                key: format!("k{i}"),
                channel: [Channel::Email, Channel::Sms, Channel::Call][ch],
                category: if marketing {
                    Category::Marketing
                } else {
                    Category::Service
                },
                priority,
                due_date: crate::predict::add_days(d("2026-03-01"), day),
                message: format!("m{msg}"),
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Driving `decide` hour by hour through three months: every candidate
    /// ends decided exactly once, no cap, quiet-hour or consent rule is ever
    /// broken, and nothing goes out late or early.
    #[test]
    fn hourly_dispatch_keeps_every_rule(
        candidates in arb_candidates(), zone in 0usize..3, consent_bits in 0u8..4,
    ) {
        let tz: Tz = ["Europe/Berlin", "America/New_York", "Australia/Sydney"][zone].parse().unwrap();
        let person = Person {
            consent_email_marketing: consent_bits & 1 != 0,
            consent_sms_marketing: consent_bits & 2 != 0,
            ..everyone()
        };
        let policy = policy();
        let mut history = History::default();
        let mut done: HashMap<String, Decision> = HashMap::new();
        let mut waiting: HashMap<String, DateTime<Utc>> = HashMap::new();
        let mut sends: Vec<(DateTime<Utc>, Channel)> = Vec::new();
        let start = Utc.with_ymd_and_hms(2026, 2, 28, 0, 0, 0).unwrap();
        for hour in 0..(24 * 80) {
            let now = start + Duration::hours(hour);
            let pending: Vec<Candidate> = candidates
                .iter()
                .filter(|c| !done.contains_key(&c.key) && waiting.get(&c.key).is_none_or(|t| *t <= now))
                .cloned()
                .collect();
            if pending.is_empty() {
                continue;
            }
            for (key, decision) in decide(&person, tz, &pending, &history, &policy, now) {
                let c = candidates.iter().find(|c| c.key == key).unwrap();
                match &decision {
                    Decision::Defer { until, .. } => {
                        prop_assert!(*until > now);
                        waiting.insert(key, *until);
                        continue;
                    }
                    Decision::Send { .. } => {
                        let local = now.with_timezone(&tz).date_naive();
                        prop_assert!(local >= c.due_date, "early");
                        prop_assert!(local <= crate::predict::add_days(c.due_date, policy.grace_days), "late");
                        prop_assert!(is_open(now, tz, policy.hours(c.channel)), "quiet hours");
                        prop_assert!(c.category == Category::Service || permitted(&person, c.category, c.channel).is_ok());
                        history.push(c.channel, now);
                        sends.push((now, c.channel));
                    }
                    _ => {}
                }
                prop_assert!(done.insert(key, decision).is_none(), "decided twice");
            }
        }
        prop_assert_eq!(done.len(), candidates.len(), "every candidate ends decided");
        for (limits, calls) in [(&policy.message_limits, false), (&policy.call_limits, true)] {
            let times: Vec<_> = sends.iter().filter(|(_, c)| (*c == Channel::Call) == calls).map(|(t, _)| *t).collect();
            for Limit { limit, window } in limits.iter() {
                for t in &times {
                    let inside = times.iter().filter(|s| **s <= *t && **s > *t - *window).count();
                    prop_assert!(inside <= *limit as usize, "cap {} per {:?} broken", limit, window);
                }
            }
        }
    }
}

/// Caps count elapsed time across the autumn change: the weekly message
/// slot reopens exactly 7 × 24 h after the last send, an hour earlier on
/// the local clock, and the 14-day call cap likewise; neither an hour early
/// nor an hour late.
#[test]
fn caps_across_the_autumn_change_count_elapsed_hours() {
    // (zone, last email, when it may be followed, last call, when it may be followed)
    let cases = [
        // Berlin: Sunday 25 Oct 2026, 03:00 CEST becomes 02:00 CET. Saturday
        // 12:00 CEST is followed on Saturday 11:00 CET; a call on Tuesday
        // 20 Oct, 10:00 CEST, on Tuesday 3 Nov, 09:00 CET.
        (
            berlin(),
            "2026-10-24T10:00:00Z",
            "2026-10-31T10:00:00Z",
            "2026-10-20T08:00:00Z",
            "2026-11-03T08:00:00Z",
        ),
        // New York: Sunday 1 Nov 2026, 02:00 EDT becomes 01:00 EST.
        (
            "America/New_York".parse().unwrap(),
            "2026-10-31T16:00:00Z",
            "2026-11-07T16:00:00Z",
            "2026-10-27T14:00:00Z",
            "2026-11-10T14:00:00Z",
        ),
    ];
    for (tz, email, email_again, call, call_again) in cases {
        let history = History {
            messages: vec![at(email)],
            calls: vec![at(call)],
        };
        let due = at(email_again).date_naive() - Duration::days(3);
        let cs = [
            Candidate {
                due_date: due,
                ..cand(
                    "e",
                    Channel::Email,
                    Category::Service,
                    90,
                    "2026-01-01",
                    "m",
                )
            },
            Candidate {
                due_date: due,
                ..cand(
                    "c",
                    Channel::Call,
                    Category::Service,
                    100,
                    "2026-01-01",
                    "c",
                )
            },
        ];
        let decide_at = |now: DateTime<Utc>| -> HashMap<String, Decision> {
            decide(&everyone(), tz, &cs, &history, &policy(), now)
                .into_iter()
                .collect()
        };
        // The day before (10:00 local, after the change): each waits for its instant.
        let now = at(email_again) - Duration::hours(25);
        let by = decide_at(now);
        assert_eq!(
            by["e"],
            Decision::Defer {
                until: at(email_again),
                why: Wait::Cap
            },
            "{tz}"
        );
        assert_eq!(
            by["c"],
            Decision::Defer {
                until: at(call_again),
                why: Wait::Cap
            },
            "{tz}"
        );
        assert_eq!(at(email_again) - at(email), Duration::hours(7 * 24));
        assert_eq!(at(call_again) - at(call), Duration::hours(14 * 24));
        // A second early the email still waits; at its instant it goes.
        let early = decide_at(at(email_again) - Duration::seconds(1));
        assert!(matches!(early["e"], Decision::Defer { .. }), "{tz}");
        let on_time = decide_at(at(email_again));
        assert_eq!(on_time["e"], Decision::Send { with: vec![] }, "{tz}");
    }
}
