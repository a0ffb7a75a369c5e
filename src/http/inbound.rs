//! `POST /sms/inbound`: the Twilio-style webhook of replies (form fields
//! `From`, `Body`). STOP and its synonyms opt the sender's number out of SMS
//! (and calls), START and its synonyms opt it back in, HELP answers with the
//! dealer's name and phone. The answer is TwiML.
//!
//! Nobody but the SMS provider may stop or restart a person's messages, so
//! every request proves it comes from the provider ([`Inbound`]): Twilio's
//! signature, or the generic gateway's shared secret as an HMAC of the body
//! or as basic authentication. Without a provider (or without the generic
//! gateway's secret) the endpoint is off.

use super::{AppState, HttpError, twiml};
use crate::app;
use crate::domain::PhoneNumber;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;
use std::sync::Arc;

/// The opt-out log's source for these.
pub const SOURCE: &str = "sms_keyword";

/// What a reply asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    Stop,
    Start,
    Help,
}

/// The keyword of a reply: its first word, case-insensitive, trailing
/// punctuation ignored. Anything else is no keyword.
pub fn keyword(body: &str) -> Option<Keyword> {
    let first = body.split_whitespace().next()?;
    let word = first
        .trim_end_matches(|c: char| c.is_ascii_punctuation())
        .to_ascii_uppercase();
    match word.as_str() {
        "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" => Some(Keyword::Stop),
        "START" | "UNSTOP" | "YES" => Some(Keyword::Start),
        "HELP" | "INFO" => Some(Keyword::Help),
        _ => None,
    }
}

/// Whether `signature` (the `X-Twilio-Signature` header) is Twilio's
/// signature of a POST to `url` with `params`: base64 of HMAC-SHA1 under the
/// auth token over the URL followed by every parameter's name and value,
/// sorted by name.
pub fn twilio_signature_valid(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    signature: &str,
) -> bool {
    let Ok(tag) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut data = url.to_string();
    for (name, value) in sorted {
        data.push_str(name);
        data.push_str(value);
    }
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, auth_token.as_bytes());
    hmac::verify(&key, data.as_bytes(), &tag).is_ok()
}

/// Whether `signature` (the generic gateway's signature header) is the
/// HMAC-SHA256 of `body` under `secret`, in hex, with or without a
/// `sha256=` prefix.
pub fn hmac_signature_valid(secret: &str, body: &[u8], signature: &str) -> bool {
    let hex = signature.trim();
    let hex = hex.strip_prefix("sha256=").unwrap_or(hex);
    let Some(tag) = from_hex(hex) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hmac::verify(&key, body, &tag).is_ok()
}

fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Whether `authorization` (the `Authorization` header) is HTTP basic
/// authentication as `user` with the password `secret`. The password is
/// compared in constant time.
pub fn basic_auth_valid(user: &str, secret: &str, authorization: &str) -> bool {
    let Some(encoded) = authorization
        .trim()
        .strip_prefix("Basic ")
        .or_else(|| authorization.trim().strip_prefix("basic "))
    else {
        return false;
    };
    let Ok(decoded) = STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let Ok(pair) = std::str::from_utf8(&decoded) else {
        return false;
    };
    let Some((given_user, given)) = pair.split_once(':') else {
        return false;
    };
    given_user == user && super::secrets_equal(given, secret)
}

/// How the webhook knows a request comes from the SMS provider.
#[derive(Clone)]
pub enum Inbound {
    /// No provider that can prove itself: every request gets 404.
    Off(&'static str),
    /// Twilio's `X-Twilio-Signature` for `url`, the URL Twilio posts to as
    /// configured there (`{public_url}/sms/inbound`).
    Twilio { auth_token: String, url: String },
    /// The generic gateway's HMAC-SHA256 of the body in `header`.
    Hmac { secret: String, header: String },
    /// The generic gateway's basic authentication.
    Basic { user: String, secret: String },
}

impl Inbound {
    /// What the `[sms]` settings call for.
    pub fn of(sms: &crate::config::Sms, public_url: &str) -> Self {
        match sms.provider.as_str() {
            "twilio" => Self::Twilio {
                auth_token: sms.auth_token.clone(),
                url: format!("{}/sms/inbound", public_url.trim_end_matches('/')),
            },
            "http" if sms.inbound_secret.is_empty() => {
                Self::Off("the http SMS provider has no [sms] inbound_secret")
            }
            "http" if sms.inbound_auth == "basic" => Self::Basic {
                user: sms.inbound_user.clone(),
                secret: sms.inbound_secret.clone(),
            },
            "http" => Self::Hmac {
                secret: sms.inbound_secret.clone(),
                header: sms.inbound_signature_header.clone(),
            },
            _ => Self::Off("no SMS provider is configured"),
        }
    }

    /// Why the request is refused, or `None` when it is the provider's.
    fn refusal(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        params: &[(String, String)],
    ) -> Option<Response> {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
        };
        let (valid, status, kind, why) = match self {
            Self::Off(_) => return Some(StatusCode::NOT_FOUND.into_response()),
            Self::Twilio { auth_token, url } => (
                twilio_signature_valid(auth_token, url, params, header("x-twilio-signature")),
                StatusCode::FORBIDDEN,
                "twilio_signature",
                "no valid X-Twilio-Signature",
            ),
            Self::Hmac {
                secret,
                header: name,
            } => (
                hmac_signature_valid(secret, body, header(name)),
                StatusCode::FORBIDDEN,
                "hmac_signature",
                "no valid signature header",
            ),
            Self::Basic { user, secret } => (
                basic_auth_valid(user, secret, header("authorization")),
                StatusCode::UNAUTHORIZED,
                "basic_auth",
                "no valid basic authentication",
            ),
        };
        if valid {
            return None;
        }
        tracing::warn!(why, "inbound SMS refused");
        crate::metrics::inbound_refused(kind);
        let mut answer = (status, format!("{why}\n")).into_response();
        if status == StatusCode::UNAUTHORIZED {
            answer.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Basic realm=\"touchpoint\""),
            );
        }
        Some(answer)
    }
}

impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Off(why) => f.debug_tuple("Off").field(why).finish(),
            Self::Twilio { url, .. } => f
                .debug_struct("Twilio")
                .field("url", url)
                .finish_non_exhaustive(),
            Self::Hmac { header, .. } => f
                .debug_struct("Hmac")
                .field("header", header)
                .finish_non_exhaustive(),
            Self::Basic { user, .. } => f
                .debug_struct("Basic")
                .field("user", user)
                .finish_non_exhaustive(),
        }
    }
}

fn field<'a>(params: &'a [(String, String)], name: &str) -> &'a str {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

pub async fn receive(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let inbound = state.inbound();
    if let Inbound::Off(_) = inbound {
        return Ok(StatusCode::NOT_FOUND.into_response());
    }
    let Ok(params) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return Ok((StatusCode::BAD_REQUEST, "the body is not a form\n").into_response());
    };
    if let Some(refusal) = inbound.refusal(&headers, &body, &params) {
        return Ok(refusal);
    }
    let Some(word) = keyword(field(&params, "Body")) else {
        return Ok(twiml(None));
    };
    let Ok(phone) = PhoneNumber::parse(field(&params, "From"), state.default_region()) else {
        return Ok(twiml(None));
    };
    if app::opt_outs::people_at(&state.db, phone.as_str()).await? == 0 {
        return Ok(twiml(None));
    }
    let dealer = &state.dealer();
    let reply = match word {
        Keyword::Help => format!(
            "{}: service reminders. Call us on {}. Reply STOP to stop, START to resume.",
            dealer.name, dealer.phone
        ),
        Keyword::Stop | Keyword::Start => {
            let stop = word == Keyword::Stop;
            let people = app::opt_outs::by_sms_keyword(
                &state.db,
                phone.as_str(),
                stop,
                SOURCE,
                chrono::Utc::now(),
            )
            .await?;
            tracing::info!(customers = people, ?word, "SMS keyword");
            if stop {
                format!(
                    "{}: you will receive no more text messages. Reply START to resume.",
                    dealer.name
                )
            } else {
                format!(
                    "{}: text messages are on again. Reply STOP to stop.",
                    dealer.name
                )
            }
        }
    };
    Ok(twiml(Some(&reply)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keywords_are_the_first_word_in_any_case() {
        use Keyword::*;
        for (expected, bodies) in [
            (
                Some(Stop),
                &[
                    "STOP",
                    "  stop  ",
                    "Stop please",
                    "StopAll",
                    "unsubscribe",
                    "Cancel.",
                    "end",
                    "QUIT!",
                ][..],
            ),
            (Some(Start), &["\tstart\n", "Unstop", "yes"]),
            (Some(Help), &["help", "Info?"]),
            (
                None,
                &[
                    "",
                    "   ",
                    "please stop",
                    "stopped",
                    "yesterday",
                    "thanks, see you",
                ],
            ),
        ] {
            for body in bodies {
                assert_eq!(keyword(body), expected, "{body:?}");
            }
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn twilio_signature_of_their_documented_example() {
        // Twilio's documentation example (also computed with Python's hmac).
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let p = params(&[
            ("Digits", "1234"),
            ("To", "+18005551212"),
            ("From", "+12349013030"),
            ("Caller", "+12349013030"),
            ("CallSid", "CA1234567890ABCDE"),
        ]);
        let good = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
        assert!(twilio_signature_valid("12345", url, &p, good));
        assert!(!twilio_signature_valid("12346", url, &p, good));
        assert!(!twilio_signature_valid(
            "12345",
            "https://mycompany.com/other",
            &p,
            good
        ));
        let mut changed = p.clone();
        changed[0].1 = "1235".into();
        assert!(!twilio_signature_valid("12345", url, &changed, good));
        assert!(!twilio_signature_valid("12345", url, &p, ""));
        assert!(!twilio_signature_valid("12345", url, &p, "not base64!"));
    }

    #[test]
    fn hmac_signatures_of_the_body() {
        // echo -n 'From=%2B4915112345678&Body=STOP' | openssl dgst -sha256 -hmac gw-secret
        let body = b"From=%2B4915112345678&Body=STOP";
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"gw-secret");
        let hex: String = hmac::sign(&key, body)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(hmac_signature_valid("gw-secret", body, &hex));
        assert!(hmac_signature_valid(
            "gw-secret",
            body,
            &format!("sha256={hex}")
        ));
        assert!(hmac_signature_valid("gw-secret", body, &hex.to_uppercase()));
        assert!(!hmac_signature_valid("other", body, &hex));
        assert!(!hmac_signature_valid(
            "gw-secret",
            b"From=%2B4915112345678&Body=START",
            &hex
        ));
        assert!(!hmac_signature_valid("gw-secret", body, &hex[..62]));
        assert!(!hmac_signature_valid("gw-secret", body, ""));
        assert!(!hmac_signature_valid("gw-secret", body, "zz"));
    }

    #[test]
    fn basic_authentication_wants_the_user_and_the_secret() {
        let header = |pair: &str| format!("Basic {}", STANDARD.encode(pair));
        assert!(basic_auth_valid(
            "gateway",
            "s3cret",
            &header("gateway:s3cret")
        ));
        assert!(!basic_auth_valid(
            "gateway",
            "s3cret",
            &header("gateway:s3cre")
        ));
        assert!(!basic_auth_valid(
            "gateway",
            "s3cret",
            &header("other:s3cret")
        ));
        assert!(!basic_auth_valid("gateway", "s3cret", &header("gateway")));
        assert!(!basic_auth_valid("gateway", "s3cret", "Bearer s3cret"));
        assert!(!basic_auth_valid("gateway", "s3cret", "Basic ***"));
        assert!(!basic_auth_valid("gateway", "s3cret", ""));
    }

    #[test]
    fn the_webhook_is_off_without_a_provider_that_can_prove_itself() {
        let mut sms = crate::config::Sms::default();
        assert!(matches!(Inbound::of(&sms, "https://x"), Inbound::Off(_)));
        sms.provider = "http".into();
        assert!(matches!(Inbound::of(&sms, "https://x"), Inbound::Off(_)));
        sms.inbound_secret = "s".into();
        assert!(matches!(
            Inbound::of(&sms, "https://x"),
            Inbound::Hmac { .. }
        ));
        sms.inbound_auth = "basic".into();
        assert!(matches!(
            Inbound::of(&sms, "https://x"),
            Inbound::Basic { .. }
        ));
        sms.provider = "twilio".into();
        match Inbound::of(&sms, "https://tp.example/") {
            Inbound::Twilio { url, .. } => assert_eq!(url, "https://tp.example/sms/inbound"),
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        #[test]
        fn case_and_surrounding_space_do_not_matter(
            word in prop::sample::select(vec!["stop", "stopall", "unsubscribe", "cancel", "end", "quit", "start", "unstop", "yes", "help", "info"]),
            upper in prop::collection::vec(any::<bool>(), 12),
            before in "[ \t\n]{0,3}",
            after in "( [a-z ]{0,10})?",
        ) {
            let mixed: String = word
                .chars()
                .zip(upper.iter().cycle())
                .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c })
                .collect();
            let body = format!("{before}{mixed}{after}");
            prop_assert_eq!(keyword(&body), keyword(word));
            prop_assert!(keyword(word).is_some());
        }
    }
}
