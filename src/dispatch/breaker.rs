//! The circuit breaker of one channel (pure): when the transport cannot be
//! reached (connection refused, DNS, TLS, authentication) or fails every
//! send in a row, the channel pauses. While it is paused nothing is sent on
//! it and queued messages keep their attempts; one probe goes out per
//! interval (30 s, doubling to 2 min) until the transport answers again.
//! An outage of any length therefore costs no message its attempts.

use chrono::{DateTime, Duration, Utc};

/// Transient failures in a row that pause the channel.
pub const FAILURES_TO_PAUSE: u32 = 5;
/// The first interval between probes; it doubles up to [`MAX_PROBE_EVERY`].
pub const FIRST_PROBE_AFTER: Duration = Duration::seconds(30);
pub const MAX_PROBE_EVERY: Duration = Duration::minutes(2);

/// What the breaker lets a send do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admit {
    /// The channel works: send.
    Send,
    /// The channel is paused and this send is its probe.
    Probe,
    /// The channel is paused until `until`, for `reason`: do not send.
    Paused {
        until: DateTime<Utc>,
        reason: String,
    },
}

/// How a transport answered, as the breaker counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// It took the message, or refused that message for a reason of its own:
    /// the transport works.
    Reached,
    /// A failure worth another try (4xx, 429, 5xx, a timeout).
    Transient,
    /// It could not be reached, or refused us as a client.
    Unreachable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pause {
    until: DateTime<Utc>,
    every: Duration,
    reason: String,
}

/// One channel's breaker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Breaker {
    failures_in_a_row: u32,
    pause: Option<Pause>,
}

impl Breaker {
    /// Whether a send may go at `now`. A paused channel lets one probe out
    /// per interval; the sends after it wait for the probe's answer.
    pub fn admit(&mut self, now: DateTime<Utc>) -> Admit {
        match &mut self.pause {
            None => Admit::Send,
            Some(p) if now < p.until => Admit::Paused {
                until: p.until,
                reason: p.reason.clone(),
            },
            Some(p) => {
                p.until = now + p.every;
                Admit::Probe
            }
        }
    }

    /// Counts the answer to a send made at `now`.
    pub fn record(&mut self, answer: Answer, reason: &str, now: DateTime<Utc>) {
        match answer {
            Answer::Reached => *self = Self::default(),
            Answer::Transient if self.pause.is_none() => {
                self.failures_in_a_row += 1;
                if self.failures_in_a_row >= FAILURES_TO_PAUSE {
                    self.pause_for(reason, now);
                }
            }
            // A probe that failed, or a transport that cannot be reached.
            Answer::Transient | Answer::Unreachable => {
                self.failures_in_a_row += 1;
                self.pause_for(reason, now);
            }
        }
    }

    fn pause_for(&mut self, reason: &str, now: DateTime<Utc>) {
        let every = match &self.pause {
            None => FIRST_PROBE_AFTER,
            Some(p) => (p.every * 2).min(MAX_PROBE_EVERY),
        };
        self.pause = Some(Pause {
            until: now + every,
            every,
            reason: reason.to_string(),
        });
    }

    /// When the channel is paused: until when, and why.
    pub fn paused(&self) -> Option<(DateTime<Utc>, &str)> {
        self.pause.as_ref().map(|p| (p.until, p.reason.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
    }

    #[test]
    fn an_unreachable_transport_pauses_and_probes_at_growing_intervals() {
        let mut b = Breaker::default();
        assert_eq!(b.admit(t0()), Admit::Send);
        b.record(Answer::Unreachable, "connection refused", t0());
        let paused = b.admit(t0() + Duration::seconds(1));
        assert_eq!(
            paused,
            Admit::Paused {
                until: t0() + FIRST_PROBE_AFTER,
                reason: "connection refused".into()
            }
        );
        // The probe goes at the end of the interval, one only.
        let at = t0() + FIRST_PROBE_AFTER;
        assert_eq!(b.admit(at), Admit::Probe);
        assert!(matches!(b.admit(at), Admit::Paused { .. }));
        // It fails: the next interval is twice as long.
        b.record(Answer::Transient, "503", at);
        assert_eq!(b.paused().map(|p| p.0), Some(at + FIRST_PROBE_AFTER * 2));
        // The transport answers: the channel works again.
        let later = at + FIRST_PROBE_AFTER * 2;
        assert_eq!(b.admit(later), Admit::Probe);
        b.record(Answer::Reached, "", later);
        assert_eq!(b.admit(later), Admit::Send);
        assert_eq!(b, Breaker::default());
    }

    #[test]
    fn transient_failures_pause_only_when_they_come_in_a_row() {
        let mut b = Breaker::default();
        for _ in 0..FAILURES_TO_PAUSE - 1 {
            b.record(Answer::Transient, "451", t0());
        }
        assert_eq!(b.admit(t0()), Admit::Send);
        b.record(Answer::Reached, "", t0());
        for _ in 0..FAILURES_TO_PAUSE - 1 {
            b.record(Answer::Transient, "451", t0());
        }
        assert_eq!(b.admit(t0()), Admit::Send);
        b.record(Answer::Transient, "451", t0());
        assert!(matches!(b.admit(t0()), Admit::Paused { .. }));
    }

    proptest! {
        /// Whatever happens, a paused channel lets at most one probe out per
        /// interval, never waits more than the longest interval, and works
        /// again after the first answer that reached the transport.
        #[test]
        fn probes_are_spaced_and_bounded(
            steps in prop::collection::vec((0i64..900, 0u8..3), 1..60),
        ) {
            let mut b = Breaker::default();
            let mut now = t0();
            let mut last_probe: Option<DateTime<Utc>> = None;
            for (wait, answer) in steps {
                now += Duration::seconds(wait);
                let admitted = b.admit(now);
                if let Admit::Paused { until, .. } = &admitted {
                    prop_assert!(*until > now && *until - now <= MAX_PROBE_EVERY);
                    continue;
                }
                if admitted == Admit::Probe {
                    if let Some(p) = last_probe {
                        prop_assert!(now - p >= FIRST_PROBE_AFTER);
                    }
                    last_probe = Some(now);
                }
                let answer = [Answer::Reached, Answer::Transient, Answer::Unreachable][answer as usize];
                b.record(answer, "why", now);
                if answer == Answer::Reached {
                    prop_assert_eq!(b.admit(now), Admit::Send);
                    last_probe = None;
                }
            }
        }
    }
}
