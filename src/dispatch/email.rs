//! Email over SMTP with lettre: one pooled transport for the process, a
//! timeout, and a `Message-ID` derived from the touchpoint's dedup key.

use super::{Outcome, Outgoing};
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;

/// The email of a message: plain text and HTML alternatives.
pub fn build(from: &Mailbox, m: &Outgoing) -> Result<Message, String> {
    let to: Mailbox = m
        .recipient
        .parse()
        .map_err(|e| format!("recipient {}: {e}", m.recipient))?;
    let mut builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(m.subject.clone())
        .message_id(Some(m.message_id()));
    if let Some(url) = &m.unsubscribe_url {
        builder = builder
            .header(ListUnsubscribe(url.clone()))
            .header(ListUnsubscribePost);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            m.body.clone(),
            html(&m.body),
        ))
        .map_err(|e| e.to_string())
}

/// `List-Unsubscribe: <URL>` (RFC 2369): the signed one-click link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListUnsubscribe(pub String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        s.trim()
            .strip_prefix('<')
            .and_then(|s| s.strip_suffix('>'))
            .map(|url| Self(url.to_string()))
            .ok_or_else(|| "List-Unsubscribe must be <URL>".into())
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058): a POST
/// to the link unsubscribes without further steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListUnsubscribePost;

const ONE_CLICK: &str = "List-Unsubscribe=One-Click";

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        if s.trim() == ONE_CLICK {
            Ok(Self)
        } else {
            Err(format!("List-Unsubscribe-Post must be {ONE_CLICK}").into())
        }
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), ONE_CLICK.to_string())
    }
}

/// The body as simple HTML: paragraphs, escaped.
fn html(text: &str) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let paragraphs: Vec<String> = text
        .split("\n\n")
        .map(|p| format!("<p>{}</p>", escape(p).replace('\n', "<br>")))
        .collect();
    format!(
        "<!DOCTYPE html><html><body style=\"font-family: sans-serif\">{}</body></html>",
        paragraphs.join("")
    )
}

/// An SMTP relay.
#[derive(Debug, Clone)]
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Smtp {
    /// `url` in lettre's form (`smtp://user:pass@host:port?tls=required`).
    pub fn new(url: &str, from: &str, timeout: Duration) -> Result<Self, String> {
        let from: Mailbox = from.parse().map_err(|e| format!("from: {e}"))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| e.to_string())?
            .timeout(Some(timeout))
            .build();
        Ok(Self { transport, from })
    }

    pub async fn send(&self, m: &Outgoing) -> Outcome {
        let email = match build(&self.from, m) {
            Ok(e) => e,
            Err(reason) => return Outcome::Permanent { reason },
        };
        match self.transport.send(email).await {
            Ok(response) => Outcome::Sent {
                provider_ref: Some(format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                )),
            },
            Err(e) => classify(&e),
        }
    }
}

/// What an SMTP failure means for the message: the server out of reach or
/// refusing us (no connection, TLS, a timeout, authentication, 421) is no
/// fault of the message; other 4xx are retried; other 5xx are the server's
/// last word on it.
fn classify(e: &lettre::transport::smtp::Error) -> Outcome {
    let reason = format!("SMTP: {e}");
    let code = e.status().map(|c| c.to_string());
    let refuses_us = matches!(
        code.as_deref(),
        Some("421" | "454" | "530" | "534" | "535" | "538")
    );
    if code.is_none() || refuses_us {
        return Outcome::Unreachable {
            reason,
            retry_after: Duration::from_secs(30),
        };
    }
    if e.is_permanent() {
        Outcome::Permanent { reason }
    } else {
        Outcome::Transient {
            reason,
            retry_after: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Channel;

    #[test]
    fn email_has_both_parts_and_the_derived_message_id() {
        let m = Outgoing {
            key: "WVWZZZ1JZXW000001:service-email:0:1".into(),
            channel: Channel::Email,
            recipient: "anna@example.com".into(),
            subject: "Service".into(),
            body: "Hello <Anna>,\n\nsee you & soon".into(),
            unsubscribe_url: None,
        };
        let from: Mailbox = "Service <s@dealer.example>".parse().unwrap();
        let text = String::from_utf8(build(&from, &m).unwrap().formatted()).unwrap();
        assert!(
            text.contains("Message-ID: <WVWZZZ1JZXW000001.service-email.0.1@touchpoint>"),
            "{text}"
        );
        assert!(text.contains("multipart/alternative"));
        assert!(text.contains("text/plain") && text.contains("text/html"));
        assert!(text.contains("see you &amp; soon"), "{text}");
        assert!(!text.contains("List-Unsubscribe"), "{text}");
    }

    #[test]
    fn unsubscribe_link_gives_both_one_click_headers() {
        let m = Outgoing {
            key: "k".into(),
            channel: Channel::Email,
            recipient: "anna@example.com".into(),
            subject: "Service".into(),
            body: "Hello".into(),
            unsubscribe_url: Some("https://tp.dealer.example/unsubscribe/NDI6ZW1haWw.abc-_".into()),
        };
        let from: Mailbox = "s@dealer.example".parse().unwrap();
        let text = String::from_utf8(build(&from, &m).unwrap().formatted()).unwrap();
        assert!(
            text.contains(
                "List-Unsubscribe: <https://tp.dealer.example/unsubscribe/NDI6ZW1haWw.abc-_>\r\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"),
            "{text}"
        );
    }

    #[test]
    fn bad_recipient_is_permanent() {
        let m = Outgoing {
            key: "k".into(),
            channel: Channel::Email,
            recipient: "not an address".into(),
            subject: "s".into(),
            body: "b".into(),
            unsubscribe_url: None,
        };
        let from: Mailbox = "s@dealer.example".parse().unwrap();
        assert!(build(&from, &m).is_err());
    }
}
