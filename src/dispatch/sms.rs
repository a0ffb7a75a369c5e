//! SMS through an HTTP gateway with reqwest: the Twilio Messages API
//! profile, or a configurable generic request. 429 and 5xx are retried
//! (honouring `Retry-After`), other 4xx fail with the provider's words, and
//! Twilio's 21610 (the recipient replied STOP) records the opt-out.

use super::{Outcome, Outgoing};
use crate::config::Sms as SmsConfig;
use reqwest::StatusCode;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Twilio's error code for a recipient who has opted out.
const TWILIO_OPTED_OUT: i64 = 21610;

#[derive(Debug)]
pub struct Gateway {
    client: reqwest::Client,
    config: SmsConfig,
    /// The earliest instant of the next request, for the rate limit.
    next_slot: Mutex<Instant>,
}

impl Gateway {
    pub fn new(config: &SmsConfig) -> Result<Self, String> {
        // reqwest is built without a default crypto provider; rustls uses ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            config: config.clone(),
            next_slot: Mutex::new(Instant::now()),
        })
    }

    /// Waits for the rate limit (`messages_per_second`, 0 = none).
    async fn pace(&self) {
        let per_second = self.config.messages_per_second;
        if per_second == 0 {
            return;
        }
        let gap = Duration::from_secs_f64(1.0 / f64::from(per_second));
        let wait_until = {
            let mut next = self.next_slot.lock().await;
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + gap;
            slot
        };
        tokio::time::sleep_until(wait_until).await;
    }

    fn request(&self, m: &Outgoing) -> reqwest::RequestBuilder {
        let c = &self.config;
        match c.provider.as_str() {
            "twilio" => {
                let url = format!(
                    "{}/2010-04-01/Accounts/{}/Messages.json",
                    c.base_url.trim_end_matches('/'),
                    c.account_sid
                );
                self.client
                    .post(url)
                    .basic_auth(&c.account_sid, Some(&c.auth_token))
                    .form(&[
                        ("To", m.recipient.as_str()),
                        ("From", c.from.as_str()),
                        ("Body", m.body.as_str()),
                    ])
            }
            _ => {
                let fields = [
                    (c.field_to.as_str(), m.recipient.as_str()),
                    (c.field_from.as_str(), c.from.as_str()),
                    (c.field_body.as_str(), m.body.as_str()),
                ];
                let mut request = self.client.post(&c.base_url);
                request = if c.format == "json" {
                    let body: serde_json::Map<String, serde_json::Value> = fields
                        .iter()
                        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
                        .collect();
                    request.json(&body)
                } else {
                    request.form(&fields)
                };
                if !c.account_sid.is_empty() {
                    request.basic_auth(&c.account_sid, Some(&c.auth_token))
                } else if !c.auth_token.is_empty() {
                    request.bearer_auth(&c.auth_token)
                } else {
                    request
                }
            }
        }
    }

    pub async fn send(&self, m: &Outgoing) -> Outcome {
        self.pace().await;
        let response = match self.request(m).send().await {
            Ok(r) => r,
            // No answer at all (no connection, DNS, TLS, a timeout): the
            // gateway is out of reach, which is no fault of the message.
            Err(e) => {
                return Outcome::Unreachable {
                    reason: format!(
                        "SMS gateway: {}",
                        if e.is_timeout() {
                            "timed out".to_string()
                        } else {
                            e.to_string()
                        }
                    ),
                    retry_after: Duration::from_secs(30),
                };
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.unwrap_or_default();
        let json: Option<serde_json::Value> = serde_json::from_str(&text).ok();
        if status.is_success() {
            let reference = json
                .as_ref()
                .and_then(|j| j.get("sid").or_else(|| j.get("id")))
                .and_then(|v| v.as_str())
                .map(str::to_string);
            return Outcome::Sent {
                provider_ref: reference,
            };
        }
        let provider_says = json
            .as_ref()
            .and_then(|j| j.get("message"))
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| text.chars().take(300).collect());
        let reason = format!("SMS gateway {}: {provider_says}", status.as_u16());
        // The gateway refuses our credentials: no message can go.
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Outcome::Unreachable {
                reason,
                retry_after: Duration::from_secs(30),
            };
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Outcome::Transient {
                reason,
                retry_after,
            };
        }
        if json
            .as_ref()
            .and_then(|j| j.get("code"))
            .and_then(|c| c.as_i64())
            == Some(TWILIO_OPTED_OUT)
        {
            return Outcome::OptedOut { reason };
        }
        Outcome::Permanent { reason }
    }
}
