//! The morning digest's decisions, pure: when it goes out, and its text.
//! No clock, no I/O, no configuration: the caller passes the instant, the
//! time of day and the time zone, and the figures.
//!
//! The digest of a local day goes out at the configured time of that day.
//! A time the clocks skip that day (spring forward) is read as the first
//! instant after the gap; a time they show twice (fall back) as the first
//! of the two. So every local day has exactly one send instant, and the
//! instants come in the order of the days.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::collections::BTreeMap;
use std::fmt::Write;

/// The longest run of local time a zone has ever skipped (Samoa skipped a
/// whole day in 2011), in minutes.
const LONGEST_GAP_MINUTES: i64 = 48 * 60;

/// When the digest of the local day `day` goes out: `at` on that day in
/// `tz`; in a gap, the first instant after it; when `at` comes twice, the
/// first time.
pub fn send_instant(day: NaiveDate, at: NaiveTime, tz: Tz) -> DateTime<Utc> {
    let wanted = day.and_time(at);
    // Gaps begin and end on whole minutes: the first local minute after
    // `at` that exists is where the clocks jumped to.
    (0..=LONGEST_GAP_MINUTES)
        .find_map(|m| {
            tz.from_local_datetime(&(wanted + Duration::minutes(m)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| wanted.and_utc())
}

/// The first instant of the local day after `day` in `tz`: where `day`
/// ends.
pub fn day_end(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let next = day.succ_opt().unwrap_or(day);
    send_instant(next, NaiveTime::MIN, tz)
}

/// The first send instant after `now`.
pub fn next_send(now: DateTime<Utc>, at: NaiveTime, tz: Tz) -> DateTime<Utc> {
    let today = now.with_timezone(&tz).date_naive();
    (-1..=2)
        .filter_map(|n| today.checked_add_signed(Duration::days(n)))
        .map(|day| send_instant(day, at, tz))
        .filter(|t| *t > now)
        .min()
        .unwrap_or(now + Duration::days(1))
}

/// The local day whose digest is due at `now`: today in `tz`, once its
/// send instant has come (a digest not sent then is sent later that day).
pub fn due_day(now: DateTime<Utc>, at: NaiveTime, tz: Tz) -> Option<NaiveDate> {
    let today = now.with_timezone(&tz).date_naive();
    (send_instant(today, at, tz) <= now).then_some(today)
}

/// One call of the day's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLine {
    pub name: String,
    pub phone: Option<String>,
    /// Why: the call's title.
    pub why: String,
    pub due: NaiveDate,
}

/// One message held for review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLine {
    pub id: i64,
    pub name: String,
    pub channel: String,
    pub subject: String,
    /// `held` (an interrupted send) or `awaiting_approval`.
    pub state: String,
    /// Since when, RFC 3339 in UTC.
    pub since: String,
}

/// What the digest of a day says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub dealer: String,
    pub day: NaiveDate,
    /// The desk's address.
    pub desk: String,
    /// The calls on the list, all of them.
    pub calls_due: usize,
    /// The first of them.
    pub calls: Vec<CallLine>,
    /// What is still to go out today, per channel: due and not sent yet,
    /// or deferred to a later hour of the day.
    pub going_out: BTreeMap<String, usize>,
    /// The messages held for review, all of them.
    pub held_due: usize,
    /// The oldest of them.
    pub held: Vec<HeldLine>,
}

/// The digest's subject and plain text.
pub fn render(s: &Summary) -> (String, String) {
    let day = s.day.format("%A %Y-%m-%d");
    let subject = format!("{}: the day's digest, {day}", s.dealer);
    let desk = s.desk.trim_end_matches('/');
    let mut body = format!("Good morning. The day at {} ({day}):\n", s.dealer);

    let _ = write!(body, "\nCalls to make: {}\n", s.calls_due);
    for c in &s.calls {
        let phone = c.phone.as_deref().unwrap_or("no phone");
        let _ = writeln!(body, "- {}, {phone}: {} (due {})", c.name, c.why, c.due);
    }
    more(
        &mut body,
        s.calls_due,
        s.calls.len(),
        &format!("{desk}/today"),
    );

    let _ = write!(body, "\nStill to go out today:");
    if s.going_out.values().all(|n| *n == 0) {
        body.push_str(" nothing\n");
    } else {
        body.push('\n');
        let order = |c: &str| ["email", "sms", "call"].iter().position(|k| *k == c);
        let mut channels: Vec<(&String, &usize)> =
            s.going_out.iter().filter(|(_, n)| **n > 0).collect();
        channels.sort_by_key(|(c, _)| (order(c).unwrap_or(usize::MAX), c.as_str()));
        for (channel, n) in channels {
            let _ = writeln!(body, "- {channel}: {n}");
        }
    }

    let _ = write!(body, "\nHeld for review: {}\n", s.held_due);
    for h in &s.held {
        let why = if h.state == "awaiting_approval" {
            "awaiting approval"
        } else {
            "its send was interrupted"
        };
        let _ = writeln!(
            body,
            "- message {}, {} to {}: \"{}\", {why}, since {}",
            h.id, h.channel, h.name, h.subject, h.since
        );
    }
    more(
        &mut body,
        s.held_due,
        s.held.len(),
        &format!("{desk}/queue"),
    );

    let _ = write!(body, "\nThe desk: {desk}/\n");
    (subject, body)
}

/// "… and N more" when a list was cut, with where to see them all.
fn more(body: &mut String, all: usize, listed: usize, page: &str) {
    if all > listed {
        let _ = writeln!(body, "… and {} more: {page}", all - listed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const BERLIN: Tz = chrono_tz::Europe::Berlin;

    /// Berlin's two DST days of 2026. 29 March: 02:00 CET becomes 03:00
    /// CEST (01:00 UTC), so 02:00 to 02:59 do not exist. 25 October: 03:00
    /// CEST becomes 02:00 CET (01:00 UTC), so 02:00 to 02:59 come twice.
    #[test]
    fn berlins_dst_days_of_2026() {
        for (d, (h, m), sent) in [
            ("2026-03-28", (2, 30), "2026-03-28T01:30:00Z"),
            ("2026-03-29", (1, 59), "2026-03-29T00:59:00Z"),
            // In the gap: the first instant after it, 03:00 CEST.
            ("2026-03-29", (2, 0), "2026-03-29T01:00:00Z"),
            ("2026-03-29", (2, 30), "2026-03-29T01:00:00Z"),
            ("2026-03-29", (7, 30), "2026-03-29T05:30:00Z"),
            ("2026-03-30", (2, 30), "2026-03-30T00:30:00Z"),
            // Twice: the first time, in CEST.
            ("2026-10-25", (2, 30), "2026-10-25T00:30:00Z"),
            ("2026-10-25", (7, 30), "2026-10-25T06:30:00Z"),
            ("2026-10-26", (2, 30), "2026-10-26T01:30:00Z"),
        ] {
            assert_eq!(
                send_instant(day(d), hm(h, m), BERLIN),
                utc(sent),
                "{d} {h}:{m}"
            );
        }
        // Followed from the day before, each day once, whatever the clocks do.
        for (from, sends) in [
            (
                "2026-03-28T07:00:00Z",
                ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"],
            ),
            (
                "2026-10-24T12:00:00Z",
                ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"],
            ),
        ] {
            let first = next_send(utc(from), hm(2, 30), BERLIN);
            assert_eq!(first, utc(sends[0]));
            assert_eq!(next_send(first, hm(2, 30), BERLIN), utc(sends[1]));
        }
        // Not again at the second 02:30 of 25 October: that day is due
        // already, and the next send is the next day's.
        let second = utc("2026-10-25T01:30:00Z");
        assert_eq!(due_day(second, hm(2, 30), BERLIN), Some(day("2026-10-25")));
        assert_eq!(
            next_send(second, hm(2, 30), BERLIN),
            utc("2026-10-26T01:30:00Z")
        );
        // Not before the gap's end on 29 March.
        let gap = utc("2026-03-29T01:00:00Z");
        assert_eq!(due_day(gap - Duration::seconds(1), hm(2, 30), BERLIN), None);
        assert_eq!(due_day(gap, hm(2, 30), BERLIN), Some(day("2026-03-29")));
    }

    #[test]
    fn a_day_ends_where_the_next_begins() {
        assert_eq!(
            day_end(day("2026-03-28"), BERLIN),
            utc("2026-03-28T23:00:00Z")
        );
        assert_eq!(
            day_end(day("2026-03-29"), BERLIN),
            utc("2026-03-29T22:00:00Z")
        );
        // Havana springs forward at midnight: 8 March 2026 begins at 01:00.
        assert_eq!(
            day_end(day("2026-03-07"), chrono_tz::America::Havana),
            utc("2026-03-08T05:00:00Z")
        );
    }

    const ZONES: [Tz; 9] = [
        chrono_tz::Europe::Berlin,
        chrono_tz::America::New_York,
        chrono_tz::America::Havana,
        chrono_tz::America::Santiago,
        chrono_tz::Australia::Lord_Howe,
        chrono_tz::Pacific::Chatham,
        chrono_tz::Asia::Tehran,
        chrono_tz::Asia::Kolkata,
        chrono_tz::UTC,
    ];

    fn zone() -> impl Strategy<Value = Tz> {
        (0..ZONES.len()).prop_map(|i| ZONES[i])
    }

    fn time_of_day() -> impl Strategy<Value = NaiveTime> {
        (0u32..24, 0u32..60).prop_map(|(h, m)| hm(h, m))
    }

    /// An instant between 2020 and 2030.
    fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        (1_577_836_800i64..1_893_456_000).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
    }

    proptest! {
        /// Each day's instant is on that day, at `at` when the day has
        /// that time (the first such instant), else at the first minute
        /// after it that the day has.
        #[test]
        fn a_day_is_sent_at_its_time_or_just_after_its_gap(tz in zone(), at in time_of_day(), now in instant()) {
            let d = now.with_timezone(&tz).date_naive();
            let t = send_instant(d, at, tz);
            let local = t.with_timezone(&tz);
            prop_assert_eq!(local.date_naive(), d);
            prop_assert!(local.time() >= at);
            let exists = tz.from_local_datetime(&d.and_time(at)).earliest();
            match exists {
                Some(first) => prop_assert_eq!(t, first.with_timezone(&Utc)),
                None => {
                    // Every minute from `at` to the one sent at is skipped.
                    let mut m = d.and_time(at);
                    while m < local.naive_local() {
                        prop_assert!(tz.from_local_datetime(&m).earliest().is_none());
                        m += Duration::minutes(1);
                    }
                }
            }
        }

        /// Following `next_send` from any instant, every local day gets
        /// its one instant, in order: none skipped, none twice.
        #[test]
        fn one_send_per_local_day_none_skipped(tz in zone(), at in time_of_day(), start in instant()) {
            let mut t = next_send(start, at, tz);
            prop_assert!(t > start);
            let mut last = t.with_timezone(&tz).date_naive();
            prop_assert!(last >= start.with_timezone(&tz).date_naive());
            for _ in 0..400 {
                let next = next_send(t, at, tz);
                prop_assert!(next > t);
                let day = next.with_timezone(&tz).date_naive();
                prop_assert_eq!(Some(day), last.succ_opt(), "{} then {}", t, next);
                prop_assert_eq!(next, send_instant(day, at, tz));
                // Nothing in between is a send instant: the day is due
                // from its instant to its end, and not before.
                prop_assert_eq!(due_day(next - Duration::seconds(1), at, tz) == Some(day), false);
                prop_assert_eq!(due_day(next, at, tz), Some(day));
                last = day;
                t = next;
            }
        }

        /// `next_send` is the first instant after `now`: `due_day` turns
        /// over at it, never before.
        #[test]
        fn next_send_is_the_first_instant_after_now(tz in zone(), at in time_of_day(), now in instant(), back in 1i64..90_000) {
            let next = next_send(now, at, tz);
            prop_assert!(next > now && next - now <= Duration::hours(50));
            let before = now - Duration::seconds(back);
            prop_assert!(next_send(before, at, tz) <= next);
            let day = next.with_timezone(&tz).date_naive();
            prop_assert!(due_day(now, at, tz) != Some(day));
        }
    }

    fn summary() -> Summary {
        Summary {
            dealer: "Autohaus Nord".into(),
            day: day("2026-05-07"),
            desk: "https://desk.dealer.example/".into(),
            calls_due: 3,
            calls: vec![
                CallLine {
                    name: "Lea Wolf".into(),
                    phone: Some("+4915111111111".into()),
                    why: "Service due: book it".into(),
                    due: day("2026-05-06"),
                },
                CallLine {
                    name: "Max Roth".into(),
                    phone: None,
                    why: "Welcome call".into(),
                    due: day("2026-05-07"),
                },
            ],
            going_out: BTreeMap::from([
                ("sms".to_string(), 2),
                ("call".to_string(), 0),
                ("email".to_string(), 5),
            ]),
            held_due: 1,
            held: vec![HeldLine {
                id: 12,
                name: "Max Roth".into(),
                channel: "email".into(),
                subject: "Welcome".into(),
                state: "awaiting_approval".into(),
                since: "2026-05-06T08:00:00Z".into(),
            }],
        }
    }

    #[test]
    fn the_digest_lists_calls_what_goes_out_and_what_is_held() {
        let (subject, body) = render(&summary());
        assert_eq!(
            subject,
            "Autohaus Nord: the day's digest, Thursday 2026-05-07"
        );
        assert_eq!(
            body,
            "Good morning. The day at Autohaus Nord (Thursday 2026-05-07):\n\
             \n\
             Calls to make: 3\n\
             - Lea Wolf, +4915111111111: Service due: book it (due 2026-05-06)\n\
             - Max Roth, no phone: Welcome call (due 2026-05-07)\n\
             … and 1 more: https://desk.dealer.example/today\n\
             \n\
             Still to go out today:\n\
             - email: 5\n\
             - sms: 2\n\
             \n\
             Held for review: 1\n\
             - message 12, email to Max Roth: \"Welcome\", awaiting approval, since 2026-05-06T08:00:00Z\n\
             \n\
             The desk: https://desk.dealer.example/\n"
        );
    }

    #[test]
    fn a_quiet_day_says_so() {
        let quiet = Summary {
            calls_due: 0,
            calls: Vec::new(),
            going_out: BTreeMap::new(),
            held_due: 0,
            held: Vec::new(),
            ..summary()
        };
        let (_, body) = render(&quiet);
        assert!(body.contains("Calls to make: 0\n\nStill to go out today: nothing\n\nHeld for review: 0\n\nThe desk:"), "{body}");
    }
}
