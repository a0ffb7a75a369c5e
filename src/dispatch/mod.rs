//! Dispatch: the pure step that turns one person's due touchpoints into
//! messages and call tasks under the rules (`decide`), what a transport's
//! answer does to them (`settle`), and the transports that carry them. The
//! pass that runs them over the store is `app::dispatch`.

pub mod breaker;
mod decide;
pub mod email;
pub mod outbox;
pub mod segments;
mod settle;
pub mod sms;

pub use decide::*;
pub use settle::*;

use crate::domain::Channel;
use std::time::Duration;

/// A message on its way out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The dedup key of the touchpoint it was made for.
    pub key: String,
    pub channel: Channel,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    /// The signed one-click unsubscribe link (emails only), sent as
    /// `List-Unsubscribe` with `List-Unsubscribe-Post`.
    pub unsubscribe_url: Option<String>,
}

impl Outgoing {
    /// `Message-ID`, derived from the dedup key so that a duplicate is
    /// visible at the receiving end.
    pub fn message_id(&self) -> String {
        let safe: String = self
            .key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '.'
                }
            })
            .collect();
        format!("<{safe}@touchpoint>")
    }
}

/// What a transport says about one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent {
        provider_ref: Option<String>,
    },
    /// Worth another try (SMTP 4xx, HTTP 429/5xx, timeouts).
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Never worth another try; the provider's reason.
    Permanent {
        reason: String,
    },
    /// The provider refuses: the recipient opted out there (replied STOP).
    OptedOut {
        reason: String,
    },
    /// The transport could not be reached or refused us as a client
    /// (connection refused, DNS, TLS, authentication), or its channel is
    /// paused: not the message's fault. It is tried again after
    /// `retry_after` without spending an attempt.
    Unreachable {
        reason: String,
        retry_after: Duration,
    },
}

impl Outcome {
    /// The kind of answer, as the metrics label it.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Sent { .. } => "sent",
            Outcome::Transient { .. } => "transient",
            Outcome::Permanent { .. } => "permanent",
            Outcome::OptedOut { .. } => "opted_out",
            Outcome::Unreachable { .. } => "unreachable",
        }
    }

    /// How the channel's breaker counts it.
    pub fn answer(&self) -> breaker::Answer {
        match self {
            Outcome::Transient { .. } => breaker::Answer::Transient,
            Outcome::Unreachable { .. } => breaker::Answer::Unreachable,
            _ => breaker::Answer::Reached,
        }
    }

    /// The reason it gives, if any.
    pub fn reason(&self) -> &str {
        match self {
            Outcome::Sent { .. } => "",
            Outcome::Transient { reason, .. }
            | Outcome::Permanent { reason }
            | Outcome::OptedOut { reason }
            | Outcome::Unreachable { reason, .. } => reason,
        }
    }
}

/// The transports of one process: the outbox folder until SMTP and an SMS
/// gateway are configured.
#[derive(Debug)]
pub enum Transport {
    Outbox(outbox::Outbox),
    Smtp(email::Smtp),
    Sms(Box<sms::Gateway>),
    /// Accepts everything and sends nothing (`simulate`).
    Capture,
}

impl Transport {
    /// Sends `message`; what the transport answered and how long it took
    /// are counted in the metrics (not for `Capture`).
    pub async fn send(&self, message: &Outgoing) -> Outcome {
        let started = std::time::Instant::now();
        let outcome = match self {
            Transport::Outbox(o) => o.send(message).await,
            Transport::Smtp(s) => s.send(message).await,
            Transport::Sms(g) => g.send(message).await,
            Transport::Capture => return Outcome::Sent { provider_ref: None },
        };
        crate::metrics::send(message.channel.as_str(), outcome.kind(), started.elapsed());
        outcome
    }
}

#[derive(Debug)]
pub struct Transports {
    pub email: Transport,
    pub sms: Transport,
    /// Signs the unsubscribe links of emails; none: emails carry no link.
    pub unsubscribe: Option<crate::unsubscribe::Links>,
    /// The channels' circuit breakers, for as long as these transports live.
    pub breakers: Breakers,
}

/// The circuit breakers of the email and SMS channels.
#[derive(Debug, Default)]
pub struct Breakers {
    email: std::sync::Mutex<breaker::Breaker>,
    sms: std::sync::Mutex<breaker::Breaker>,
}

impl Breakers {
    /// Runs `f` on the breaker of `channel` (calls have none).
    pub fn with<T>(
        &self,
        channel: Channel,
        f: impl FnOnce(&mut breaker::Breaker) -> T,
    ) -> Option<T> {
        let lock = match channel {
            Channel::Email => &self.email,
            Channel::Sms => &self.sms,
            Channel::Call => return None,
        };
        let mut guard = match lock.lock() {
            Ok(g) => g,
            // The breaker is plain data, whole after any panic.
            Err(poisoned) => poisoned.into_inner(),
        };
        Some(f(&mut guard))
    }
}

impl Transports {
    /// The transports the configuration asks for: SMTP when `[email]
    /// smtp_url` is set, the outbox folder otherwise.
    pub fn from_config(config: &crate::config::Config) -> Result<Self, crate::config::ConfigError> {
        let s = &config.settings;
        let outbox = || Transport::Outbox(outbox::Outbox::new(config.outbox_dir(), &s.email.from));
        let email = if s.email.smtp_url.is_empty() {
            outbox()
        } else {
            Transport::Smtp(
                email::Smtp::new(
                    &s.email.smtp_url,
                    &s.email.from,
                    Duration::from_secs(s.email.timeout_secs),
                )
                .map_err(|e| crate::config::ConfigError::new("email.smtp_url", e))?,
            )
        };
        let sms = if s.sms.provider.is_empty() {
            outbox()
        } else {
            Transport::Sms(Box::new(
                sms::Gateway::new(&s.sms).map_err(|e| crate::config::ConfigError::new("sms", e))?,
            ))
        };
        Ok(Self {
            email,
            sms,
            unsubscribe: None,
            breakers: Breakers::default(),
        })
    }

    /// Capturing transports: nothing leaves the process.
    pub fn capture() -> Self {
        Self {
            email: Transport::Capture,
            sms: Transport::Capture,
            unsubscribe: None,
            breakers: Breakers::default(),
        }
    }

    /// Emails sent through these transports carry signed unsubscribe links.
    pub fn with_unsubscribe_links(self, links: crate::unsubscribe::Links) -> Self {
        Self {
            unsubscribe: Some(links),
            ..self
        }
    }

    /// The unsubscribe link of a message to a customer on a channel: emails
    /// only, and only when links are configured.
    pub fn unsubscribe_url(&self, customer_id: i64, channel: Channel) -> Option<String> {
        let links = self
            .unsubscribe
            .as_ref()
            .filter(|_| channel == Channel::Email)?;
        Some(links.url(crate::unsubscribe::Subject {
            customer_id,
            channel,
        }))
    }

    pub fn for_channel(&self, channel: Channel) -> Option<&Transport> {
        match channel {
            Channel::Email => Some(&self.email),
            Channel::Sms => Some(&self.sms),
            Channel::Call => None,
        }
    }
}
