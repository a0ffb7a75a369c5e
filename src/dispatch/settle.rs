//! What a transport's answer does to a message and its touchpoints (pure).

use super::Outcome;
use crate::domain::Message;
use crate::domain::{Channel, MessageState, TouchpointState};
use chrono::{DateTime, Duration, Utc};

/// How the reason of a message waiting for a retry starts.
pub const RETRYING: &str = "transient failure, retrying";

/// What a send's outcome does to the message and its touchpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    pub message_id: i64,
    pub customer_id: i64,
    pub channel: Channel,
    pub message_state: MessageState,
    pub message_reason: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub provider_ref: Option<String>,
    /// The touchpoints' new state, if they change (a retry leaves them
    /// `sending`), and the reason to record (`None` keeps theirs).
    pub touchpoints: Option<(TouchpointState, Option<String>)>,
    /// The provider says the recipient opted out of the channel.
    pub opted_out: bool,
    /// The attempt counts against `max_attempts`; not when the transport
    /// could not be reached (the attempt is given back).
    pub attempt_counted: bool,
    /// The `simulate` line's outcome (named by the touchpoint state it
    /// stands for: a retry is `deferred`) and reason.
    pub outcome: TouchpointState,
    pub reason: Option<String>,
}

/// A retry that comes too late (its first touchpoint's last day is past):
/// skipped with `reason`, never sent (pure).
pub fn skipped_late(message: &Message, reason: String) -> Settled {
    Settled {
        message_id: message.id,
        customer_id: message.customer_id,
        channel: Channel::of_stored(&message.channel),
        message_state: MessageState::Failed,
        message_reason: Some(reason.clone()),
        next_attempt_at: None,
        sent_at: None,
        provider_ref: None,
        touchpoints: Some((TouchpointState::Skipped, Some(reason.clone()))),
        opted_out: false,
        // It was never tried.
        attempt_counted: false,
        outcome: TouchpointState::Skipped,
        reason: Some(reason),
    }
}

/// The effect of a transport's answer on a message (pure): sent; retried
/// with backoff or `Retry-After` until `max_attempts`, then failed; failed
/// with the provider's reason; or suppressed when the recipient opted out.
pub fn settle(
    message: &Message,
    outcome: Outcome,
    max_attempts: i32,
    now: DateTime<Utc>,
) -> Settled {
    let base = Settled {
        message_id: message.id,
        customer_id: message.customer_id,
        channel: Channel::of_stored(&message.channel),
        message_state: MessageState::Sent,
        message_reason: None,
        next_attempt_at: None,
        sent_at: None,
        provider_ref: None,
        touchpoints: None,
        opted_out: false,
        attempt_counted: true,
        outcome: TouchpointState::Sent,
        reason: None,
    };
    match outcome {
        Outcome::Sent { provider_ref } => Settled {
            sent_at: Some(now),
            provider_ref,
            touchpoints: Some((TouchpointState::Sent, None)),
            ..base
        },
        Outcome::Transient {
            reason,
            retry_after,
        } if message.attempts < max_attempts => {
            let backoff = retry_after
                .and_then(|d| Duration::from_std(d).ok())
                .unwrap_or_else(|| Duration::seconds(60 << (message.attempts.clamp(1, 7) - 1)));
            Settled {
                message_state: MessageState::Retry,
                next_attempt_at: Some(now + backoff),
                message_reason: Some(reason.clone()),
                outcome: TouchpointState::Deferred,
                reason: Some(format!("{RETRYING}: {reason}")),
                ..base
            }
        }
        // Not the message's fault: it waits for the transport, its attempts
        // untouched, however long that takes.
        Outcome::Unreachable {
            reason,
            retry_after,
        } => Settled {
            message_state: MessageState::Retry,
            next_attempt_at: Some(
                now + Duration::from_std(retry_after).unwrap_or_else(|_| Duration::minutes(10)),
            ),
            message_reason: Some(reason.clone()),
            attempt_counted: false,
            outcome: TouchpointState::Deferred,
            reason: Some(format!("{RETRYING}: {reason}")),
            ..base
        },
        Outcome::Transient { reason, .. } => {
            let reason = format!("gave up after {} attempts: {reason}", message.attempts);
            Settled {
                message_state: MessageState::Failed,
                message_reason: Some(reason.clone()),
                touchpoints: Some((TouchpointState::Failed, Some(reason.clone()))),
                outcome: TouchpointState::Failed,
                reason: Some(reason),
                ..base
            }
        }
        Outcome::Permanent { reason } => Settled {
            message_state: MessageState::Failed,
            message_reason: Some(reason.clone()),
            touchpoints: Some((TouchpointState::Failed, Some(reason.clone()))),
            outcome: TouchpointState::Failed,
            reason: Some(reason),
            ..base
        },
        Outcome::OptedOut { reason } => {
            // The person stopped this channel at the provider: it is recorded,
            // so nothing else goes out on it.
            let reason = format!("the recipient opted out ({reason})");
            Settled {
                message_state: MessageState::Failed,
                message_reason: Some(reason.clone()),
                touchpoints: Some((TouchpointState::Suppressed, Some(reason.clone()))),
                opted_out: true,
                outcome: TouchpointState::Suppressed,
                reason: Some(reason),
                ..base
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn message(attempts: i32) -> Message {
        let now = Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap();
        Message {
            id: 7,
            key: "K".into(),
            customer_id: 3,
            channel: "sms".into(),
            recipient: "+4915112345678".into(),
            locale: "en".into(),
            subject: String::new(),
            body: "b".into(),
            state: "sending".into(),
            reason: None,
            attempts,
            next_attempt_at: None,
            lease_until: Some(now),
            provider_ref: None,
            segments: Some(1),
            created_at: now,
            sent_at: None,
            updated_at: now,
        }
    }

    #[test]
    fn transient_failures_back_off_then_fail() {
        let now = Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap();
        let transient = || Outcome::Transient {
            reason: "503".into(),
            retry_after: None,
        };
        let first = settle(&message(1), transient(), 3, now);
        assert_eq!(first.message_state, MessageState::Retry);
        assert_eq!(first.next_attempt_at, Some(now + Duration::seconds(60)));
        assert_eq!(first.touchpoints, None);
        let second = settle(&message(2), transient(), 3, now);
        assert_eq!(second.next_attempt_at, Some(now + Duration::seconds(120)));
        let last = settle(&message(3), transient(), 3, now);
        assert_eq!(last.message_state, MessageState::Failed);
        assert_eq!(
            last.touchpoints,
            Some((
                TouchpointState::Failed,
                Some("gave up after 3 attempts: 503".into())
            ))
        );
    }

    #[test]
    fn retry_after_wins_over_backoff() {
        let now = Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap();
        let s = settle(
            &message(1),
            Outcome::Transient {
                reason: "429".into(),
                retry_after: Some(std::time::Duration::from_secs(900)),
            },
            8,
            now,
        );
        assert_eq!(s.next_attempt_at, Some(now + Duration::seconds(900)));
    }

    #[test]
    fn opted_out_suppresses_and_records() {
        let now = Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap();
        let s = settle(
            &message(1),
            Outcome::OptedOut {
                reason: "21610".into(),
            },
            8,
            now,
        );
        assert!(s.opted_out);
        assert_eq!(s.outcome, TouchpointState::Suppressed);
        assert_eq!(
            s.touchpoints.map(|t| t.0),
            Some(TouchpointState::Suppressed)
        );
    }
}
