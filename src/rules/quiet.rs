use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

/// The local hours in which a channel may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Minutes after local midnight, inclusive.
    pub start: u32,
    /// Minutes after local midnight, exclusive (1440 = end of day).
    pub end: u32,
    pub sundays: bool,
}

impl Window {
    pub const ALWAYS: Window = Window {
        start: 0,
        end: 24 * 60,
        sundays: true,
    };

    fn day_allowed(&self, date: NaiveDate) -> bool {
        self.sundays || date.weekday() != Weekday::Sun
    }

    fn contains(&self, local: chrono::NaiveDateTime) -> bool {
        let minute = local.hour_min();
        self.day_allowed(local.date()) && minute >= self.start && minute < self.end
    }
}

trait HourMin {
    fn hour_min(&self) -> u32;
}

impl HourMin for chrono::NaiveDateTime {
    fn hour_min(&self) -> u32 {
        use chrono::Timelike;
        self.hour() * 60 + self.minute()
    }
}

/// The first instant at which a local wall-clock time happens: the earlier
/// of an ambiguous (autumn) time, the end of the gap for a skipped (spring) one.
pub fn first_instant(tz: Tz, local: chrono::NaiveDateTime) -> DateTime<Utc> {
    let mut probe = local;
    for _ in 0..180 {
        match tz.from_local_datetime(&probe) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(a, b) => return a.min(b).with_timezone(&Utc),
            LocalResult::None => probe += Duration::minutes(1),
        }
    }
    // No zone skips three hours; fall back to reading the time as UTC.
    Utc.from_utc_datetime(&local)
}

/// The earliest instant at or after `at` inside `window` in the recipient's
/// time zone: `at` itself when it is already inside.
pub fn next_open(at: DateTime<Utc>, tz: Tz, window: &Window) -> DateTime<Utc> {
    let local = at.with_timezone(&tz).naive_local();
    if window.contains(local) {
        return at;
    }
    let opening = next_opening(at, tz, window);
    // When the clocks go back before that opening, the wall clock repeats
    // an hour, and the window may hold the time it goes back to.
    match fall_back_between(at, opening, tz) {
        Some(back) if is_open(back, tz, window) => back,
        _ => opening,
    }
}

/// The UTC offset of `tz` at `at`, in seconds.
fn offset_at(tz: Tz, at: DateTime<Utc>) -> i32 {
    use chrono::Offset;
    tz.offset_from_utc_datetime(&at.naive_utc())
        .fix()
        .local_minus_utc()
}

/// The instant in `(from, to]` at which the clocks of `tz` go back, if they
/// do (at most once: the two changes of a year are months apart).
fn fall_back_between(from: DateTime<Utc>, to: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    let before = offset_at(tz, from);
    if offset_at(tz, to) >= before {
        return None;
    }
    // Changes fall on whole seconds: search those.
    let (mut lo, mut hi) = (from.timestamp(), to.timestamp());
    let instant = |s: i64| DateTime::<Utc>::from_timestamp(s, 0);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if instant(mid).is_some_and(|m| offset_at(tz, m) == before) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    instant(hi).filter(|t| *t > from)
}

/// The next time the window opens after `at` (closed there).
fn next_opening(at: DateTime<Utc>, tz: Tz, window: &Window) -> DateTime<Utc> {
    let local = at.with_timezone(&tz).naive_local();
    let start =
        NaiveTime::from_hms_opt(window.start / 60, window.start % 60, 0).unwrap_or(NaiveTime::MIN);
    let mut day = local.date();
    for _ in 0..8 {
        if window.day_allowed(day) {
            let opening = day.and_time(start);
            let first = first_instant(tz, opening);
            if first >= at {
                return first;
            }
            // An opening in the repeated (autumn) hour happens twice: asked
            // between the two, the window opens on the second.
            if let LocalResult::Ambiguous(a, b) = tz.from_local_datetime(&opening) {
                let second = a.max(b).with_timezone(&Utc);
                if second >= at {
                    return second;
                }
            }
        }
        day = day.succ_opt().unwrap_or(day);
    }
    at
}

/// Whether `at` is inside the window in `tz`.
pub fn is_open(at: DateTime<Utc>, tz: Tz, window: &Window) -> bool {
    window.contains(at.with_timezone(&tz).naive_local())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAYTIME: Window = Window {
        start: 9 * 60,
        end: 20 * 60,
        sundays: false,
    };

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn evening_waits_for_the_morning_in_the_recipients_zone() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // Tuesday 2026-03-10 21:30 Berlin (20:30 UTC) → Wednesday 09:00 Berlin.
        assert_eq!(
            next_open(utc("2026-03-10T20:30:00Z"), berlin, &DAYTIME),
            utc("2026-03-11T08:00:00Z")
        );
        // Inside: unchanged.
        assert_eq!(
            next_open(utc("2026-03-10T10:00:00Z"), berlin, &DAYTIME),
            utc("2026-03-10T10:00:00Z")
        );
    }

    #[test]
    fn sundays_are_skipped() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // Saturday 2026-03-14 20:30 local → Monday 09:00 local.
        assert_eq!(
            next_open(utc("2026-03-14T19:30:00Z"), berlin, &DAYTIME),
            utc("2026-03-16T08:00:00Z")
        );
    }

    #[test]
    fn dst_changes_keep_local_nine_oclock() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // Saturday 28 March 2026 late evening; Sunday is the spring change and
        // skipped; Monday 09:00 is now UTC+2.
        assert_eq!(
            next_open(utc("2026-03-28T21:00:00Z"), berlin, &DAYTIME),
            utc("2026-03-30T07:00:00Z")
        );
        let ny: Tz = "America/New_York".parse().unwrap();
        let night = Window {
            start: 2 * 60 + 30,
            end: 4 * 60,
            sundays: true,
        };
        // 02:30 does not exist on 2026-03-08 in New York: the window opens at 03:00 EDT.
        assert_eq!(
            next_open(utc("2026-03-08T05:00:00Z"), ny, &night),
            utc("2026-03-08T07:00:00Z")
        );
    }

    #[test]
    fn the_autumn_change_keeps_local_nine_oclock() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let every_day = Window {
            sundays: true,
            ..DAYTIME
        };
        // Sunday 25 October 2026, 03:00 CEST becomes 02:00 CET. Saturday
        // 21:00 CEST: Sunday is skipped, Monday 09:00 is now UTC+1.
        assert_eq!(
            next_open(utc("2026-10-24T19:00:00Z"), berlin, &DAYTIME),
            utc("2026-10-26T08:00:00Z")
        );
        // With Sundays open, the change day itself opens at 09:00 CET.
        assert_eq!(
            next_open(utc("2026-10-24T19:00:00Z"), berlin, &every_day),
            utc("2026-10-25T08:00:00Z")
        );
        // Sunday 1 November 2026 in New York, 02:00 EDT becomes 01:00 EST.
        let ny: Tz = "America/New_York".parse().unwrap();
        assert_eq!(
            next_open(utc("2026-11-01T01:00:00Z"), ny, &every_day),
            utc("2026-11-01T14:00:00Z")
        );
        assert_eq!(
            next_open(utc("2026-11-01T01:00:00Z"), ny, &DAYTIME),
            utc("2026-11-02T14:00:00Z")
        );
    }

    #[test]
    fn a_window_opening_in_the_repeated_hour_opens_on_each_run_of_it() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let night = Window {
            start: 60 + 30,
            end: 4 * 60,
            sundays: true,
        };
        // 01:00 EDT: the window opens at the first 01:30, EDT.
        assert_eq!(
            next_open(utc("2026-11-01T05:00:00Z"), ny, &night),
            utc("2026-11-01T05:30:00Z")
        );
        // 01:10 EST, the hour's second run: 01:30 EST comes in 20 minutes,
        // not the next night.
        assert_eq!(
            next_open(utc("2026-11-01T06:10:00Z"), ny, &night),
            utc("2026-11-01T06:30:00Z")
        );
    }

    proptest! {
        #[test]
        fn the_answer_is_open_and_never_earlier(secs in 0i64..(3 * 365 * 86_400), zone in 0usize..4) {
            let zones = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata"];
            let tz: Tz = zones[zone].parse().unwrap();
            let at = utc("2025-01-01T00:00:00Z") + Duration::seconds(secs);
            let next = next_open(at, tz, &DAYTIME);
            prop_assert!(next >= at);
            prop_assert!(is_open(next, tz, &DAYTIME), "{} in {}", next, zones[zone]);
            prop_assert!(next - at <= Duration::days(3));
            if next > at {
                // Nothing between at and next was open (checked on the minute).
                let mut probe = at;
                while probe + Duration::minutes(30) < next {
                    probe += Duration::minutes(30);
                    prop_assert!(!is_open(probe, tz, &DAYTIME) || probe >= next);
                }
            }
        }

        /// In the days around the autumn change, for windows of any hours
        /// (those opening or closing in the repeated hour too): the answer
        /// is open and every minute before it was closed.
        #[test]
        fn around_the_autumn_change_the_answer_is_the_first_open_minute(
            minutes in 0i64..(4 * 24 * 60), near in any::<bool>(), zone in 0usize..2,
            start in prop_oneof![0u32..48, 2u32..6], len in 1u32..48, sundays in any::<bool>(),
        ) {
            // Within two days of each zone's change, or within 90 minutes of
            // it (where the hour repeats), for windows of any hours and often
            // ones opening between 01:00 and 03:00 local.
            let (name, change) = [
                ("Europe/Berlin", "2026-10-25T01:00:00Z"),
                ("America/New_York", "2026-11-01T06:00:00Z"),
            ][zone];
            let at = if near {
                utc(change) + Duration::minutes(minutes % 180 - 90)
            } else {
                utc(change) + Duration::minutes(minutes - 2 * 24 * 60)
            };
            let tz: Tz = name.parse().unwrap();
            let window = Window { start: start * 30, end: ((start + len) * 30).min(24 * 60), sundays };
            let next = next_open(at, tz, &window);
            prop_assert!(next >= at);
            prop_assert!(is_open(next, tz, &window), "{} in {}", next, name);
            let mut probe = at;
            while probe < next {
                prop_assert!(!is_open(probe, tz, &window), "{} was open before {} in {}", probe, next, name);
                probe += Duration::minutes(1);
            }
        }
    }
}
