//! The daemon's Prometheus metrics, served as OpenMetrics text on
//! `GET /metrics`: passes, sends and their latency, what was not sent and
//! why, the queue's depth, reloads, refused webhooks, errors, and the build.
//!
//! The metrics live for the process (one registry); the shell records what
//! passes and transports did, and the queue's depth is read from the store
//! after each pass. docs/operations.md lists every metric.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::LazyLock;
use std::time::Duration;

/// The content type of [`encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelOutcome {
    channel: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabel {
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelState {
    channel: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotSent {
    channel: String,
    outcome: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Build {
    version: String,
}

type Latency = Family<ChannelLabel, Histogram, fn() -> Histogram>;

struct Metrics {
    registry: Registry,
    passes: Family<Outcome, Counter>,
    pass_seconds: Histogram,
    last_success: Gauge,
    sends: Family<ChannelOutcome, Counter>,
    latency: Latency,
    not_sent: Family<NotSent, Counter>,
    retries: Family<ChannelLabel, Counter>,
    held: Counter,
    queue: Family<ChannelState, Gauge>,
    errors: Family<Kind, Counter>,
    reloads: Family<Outcome, Counter>,
    inbound_refused: Family<Kind, Counter>,
}

fn latency_buckets() -> Histogram {
    // 5 ms to about 41 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("touchpoint");
    let passes = Family::<Outcome, Counter>::default();
    registry.register(
        "passes",
        "Planning and dispatch passes, by outcome (ok, failed)",
        passes.clone(),
    );
    let pass_seconds = Histogram::new(exponential_buckets(0.05, 2.0, 14));
    registry.register(
        "pass_duration_seconds",
        "How long passes took",
        pass_seconds.clone(),
    );
    let last_success = Gauge::default();
    registry.register(
        "last_successful_pass_timestamp_seconds",
        "When the last pass that did not fail ended (Unix time)",
        last_success.clone(),
    );
    let sends = Family::<ChannelOutcome, Counter>::default();
    registry.register(
        "sends",
        "Send attempts by channel and the transport's answer (sent, transient, permanent, opted_out)",
        sends.clone(),
    );
    let latency: Latency = Family::new_with_constructor(latency_buckets);
    registry.register(
        "transport_duration_seconds",
        "How long the transport took to answer a send, by channel",
        latency.clone(),
    );
    let not_sent = Family::<NotSent, Counter>::default();
    registry.register(
        "not_sent",
        "Touchpoints a pass did not send, by channel, outcome (deferred, suppressed, skipped, cancelled, failed) and kind of reason",
        not_sent.clone(),
    );
    let retries = Family::<ChannelLabel, Counter>::default();
    registry.register(
        "retries",
        "Messages that will be tried again, by channel",
        retries.clone(),
    );
    let held = Counter::default();
    registry.register(
        "held",
        "Interrupted sends found and held for review",
        held.clone(),
    );
    let queue = Family::<ChannelState, Gauge>::default();
    registry.register(
        "queue",
        "What waits after the last pass, by channel and state (due, deferred, on_hold, retry, held, awaiting_approval, open)",
        queue.clone(),
    );
    let errors = Family::<Kind, Counter>::default();
    registry.register(
        "errors",
        "Errors by kind (pass, sessions, metrics, heartbeat)",
        errors.clone(),
    );
    let reloads = Family::<Outcome, Counter>::default();
    registry.register(
        "config_reloads",
        "Configuration reloads, by outcome (ok, failed)",
        reloads.clone(),
    );
    let inbound_refused = Family::<Kind, Counter>::default();
    registry.register(
        "inbound_refused",
        "Inbound SMS webhook requests refused for want of the provider's credentials, by kind",
        inbound_refused.clone(),
    );
    let build = Family::<Build, Gauge>::default();
    build
        .get_or_create(&Build {
            version: env!("CARGO_PKG_VERSION").to_string(),
        })
        .set(1);
    registry.register(
        "build_info",
        "The running version (always 1)",
        build.clone(),
    );
    Metrics {
        registry,
        passes,
        pass_seconds,
        last_success,
        sends,
        latency,
        not_sent,
        retries,
        held,
        queue,
        errors,
        reloads,
        inbound_refused,
    }
});

/// Every metric as OpenMetrics text.
pub fn encode() -> String {
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &METRICS.registry).is_err() {
        // Writing to a String cannot fail; an empty answer says something is off.
        text.clear();
    }
    text
}

/// A pass that took `took` and ended at `ended` (Unix seconds); `ok`: it did not fail.
pub fn pass(ok: bool, took: Duration, ended: i64) {
    let m = &*METRICS;
    let outcome = if ok { "ok" } else { "failed" };
    m.passes
        .get_or_create(&Outcome {
            outcome: outcome.into(),
        })
        .inc();
    m.pass_seconds.observe(took.as_secs_f64());
    if ok {
        m.last_success.set(ended);
    } else {
        error("pass");
    }
}

/// One send's answer on `channel` (`sent`, `transient`, `permanent`,
/// `opted_out`) after `took`.
pub fn send(channel: &str, outcome: &str, took: Duration) {
    let m = &*METRICS;
    m.sends
        .get_or_create(&ChannelOutcome {
            channel: channel.into(),
            outcome: outcome.into(),
        })
        .inc();
    m.latency
        .get_or_create(&ChannelLabel {
            channel: channel.into(),
        })
        .observe(took.as_secs_f64());
}

/// A touchpoint a pass did not send.
pub fn not_sent(channel: &str, outcome: &str, reason: &str) {
    METRICS
        .not_sent
        .get_or_create(&NotSent {
            channel: channel.into(),
            outcome: outcome.into(),
            reason: reason.into(),
        })
        .inc();
}

/// A message that will be tried again.
pub fn retry(channel: &str) {
    METRICS
        .retries
        .get_or_create(&ChannelLabel {
            channel: channel.into(),
        })
        .inc();
}

/// Interrupted sends held for review.
pub fn held(count: u64) {
    METRICS.held.inc_by(count);
}

/// What waits, by channel and state, replacing what was there.
pub fn queue(depth: &[(String, String, u64)]) {
    let m = &*METRICS;
    m.queue.clear();
    for (channel, state, count) in depth {
        m.queue
            .get_or_create(&ChannelState {
                channel: channel.clone(),
                state: state.clone(),
            })
            .set(i64::try_from(*count).unwrap_or(i64::MAX));
    }
}

/// An error of `kind`.
pub fn error(kind: &str) {
    METRICS
        .errors
        .get_or_create(&Kind { kind: kind.into() })
        .inc();
}

/// A configuration reload.
pub fn reload(ok: bool) {
    METRICS
        .reloads
        .get_or_create(&Outcome {
            outcome: if ok { "ok" } else { "failed" }.into(),
        })
        .inc();
}

/// An inbound webhook request refused, for `why`.
pub fn inbound_refused(why: &str) {
    METRICS
        .inbound_refused
        .get_or_create(&Kind { kind: why.into() })
        .inc();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the sample `name{labels}` in `text`.
    fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
        let wanted = if labels.is_empty() {
            name.to_string()
        } else {
            format!("{name}{{{labels}}}")
        };
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| l.strip_prefix(&wanted)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn recorded_figures_appear_in_the_text() {
        let before = encode();
        let sent = |t: &str| {
            sample(
                t,
                "touchpoint_sends_total",
                "channel=\"email\",outcome=\"sent\"",
            )
            .unwrap_or(0.0)
        };
        send("email", "sent", Duration::from_millis(30));
        send("email", "sent", Duration::from_millis(30));
        reload(false);
        let after = encode();
        assert_eq!(sent(&after) - sent(&before), 2.0, "{after}");
        assert!(
            sample(
                &after,
                "touchpoint_config_reloads_total",
                "outcome=\"failed\""
            )
            .is_some_and(|n| n >= 1.0),
            "{after}"
        );
        assert_eq!(
            sample(
                &after,
                "touchpoint_build_info",
                &format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))
            ),
            Some(1.0)
        );
        assert!(after.contains("# TYPE touchpoint_transport_duration_seconds histogram"));
        assert!(after.trim_end().ends_with("# EOF"), "{after}");
    }

    #[test]
    fn the_queue_is_replaced_not_added_to() {
        queue(&[("sms".into(), "deferred".into(), 7)]);
        queue(&[("email".into(), "due".into(), 3)]);
        let text = encode();
        assert_eq!(
            sample(&text, "touchpoint_queue", "channel=\"email\",state=\"due\""),
            Some(3.0)
        );
        assert_eq!(
            sample(
                &text,
                "touchpoint_queue",
                "channel=\"sms\",state=\"deferred\""
            ),
            None
        );
    }
}
