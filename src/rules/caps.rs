use chrono::{DateTime, Duration, Utc};

/// One rolling-window limit: at most `limit` sends in any `window` of
/// elapsed time (so a DST change neither loosens nor tightens it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub limit: u32,
    pub window: Duration,
}

impl Limit {
    pub fn days(limit: u32, days: i64) -> Self {
        Self {
            limit,
            window: Duration::days(days),
        }
    }
}

/// The earliest instant at or after `at` when one more send fits every
/// limit, given the person's earlier sends (any order). A limit of 0 never
/// allows a send: `None`.
pub fn next_allowed(
    sent: &[DateTime<Utc>],
    limits: &[Limit],
    at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let mut sorted: Vec<DateTime<Utc>> = sent.iter().copied().filter(|s| *s <= at).collect();
    sorted.sort_unstable();
    let mut t = at;
    for l in limits {
        if l.limit == 0 {
            return None;
        }
        // Sends inside (at - window, at]; the window must slide past the
        // one that leaves `limit - 1` of them.
        let inside: Vec<&DateTime<Utc>> = sorted.iter().filter(|s| **s > at - l.window).collect();
        let n = inside.len();
        let keep = l.limit as usize - 1;
        if n > keep {
            let must_leave = inside[n - keep - 1];
            t = t.max(*must_leave + l.window);
        }
    }
    Some(t)
}

/// Whether one more send at `at` keeps every limit.
pub fn fits(sent: &[DateTime<Utc>], limits: &[Limit], at: DateTime<Utc>) -> bool {
    next_allowed(sent, limits, at) == Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + Duration::hours(h)
    }

    fn defaults() -> Vec<Limit> {
        vec![Limit::days(1, 7), Limit::days(4, 30)]
    }

    #[test]
    fn one_a_week_waits_exactly_seven_times_24_hours() {
        let sent = [t(0)];
        assert_eq!(next_allowed(&sent, &defaults(), t(1)), Some(t(7 * 24)));
        assert!(!fits(&sent, &defaults(), t(7 * 24 - 1)));
        assert!(fits(&sent, &defaults(), t(7 * 24)));
    }

    #[test]
    fn four_in_thirty_days() {
        let sent: Vec<_> = (0..4).map(|w| t(w * 7 * 24)).collect();
        // The fifth would be 28 days after the first: the 30-day cap holds it
        // until the first leaves the window.
        assert_eq!(
            next_allowed(&sent, &defaults(), t(28 * 24)),
            Some(t(30 * 24))
        );
    }

    #[test]
    fn zero_limit_never_allows() {
        assert_eq!(next_allowed(&[], &[Limit::days(0, 7)], t(0)), None);
    }

    proptest! {
        #[test]
        fn the_answer_fits_and_nothing_earlier_does(
            hours in proptest::collection::vec(0i64..2000, 0..12), at in 0i64..2400,
            l1 in 1u32..4, w1 in 1i64..40, l2 in 1u32..8, w2 in 1i64..60,
        ) {
            // The history: what was sent up to `at`.
            let sent: Vec<_> = hours.into_iter().filter(|h| *h <= at).map(t).collect();
            let limits = [Limit::days(l1, w1), Limit::days(l2, w2)];
            let at = t(at);
            let next = next_allowed(&sent, &limits, at).unwrap();
            prop_assert!(next >= at);
            // Nothing sent after `at` is known, so count what lies in each window.
            for l in &limits {
                let count = sent.iter().filter(|s| **s > next - l.window).count();
                prop_assert!(count < l.limit as usize, "window {:?} holds {}", l.window, count);
            }
            if next > at {
                let earlier = next - Duration::seconds(1);
                prop_assert!(!fits(&sent, &limits, earlier));
            }
        }
    }
}
