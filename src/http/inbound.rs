//! `POST /sms/inbound`: the Twilio-style webhook of replies (form fields
//! `From`, `Body`). STOP and its synonyms opt the sender's number out of SMS
//! (and calls), START and its synonyms opt it back in, HELP answers with the
//! dealer's name and phone. The answer is TwiML. With Twilio configured,
//! a request must carry Twilio's signature (`X-Twilio-Signature`), so that
//! nobody else can stop or restart a person's messages.

use super::{AppState, HttpError, twiml};
use crate::app;
use crate::domain::PhoneNumber;
use axum::Form;
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

/// Where the webhook is checked against Twilio's signature.
#[derive(Clone)]
pub struct TwilioCheck {
    pub auth_token: String,
    /// The URL Twilio posts to, as configured there (`{public_url}/sms/inbound`).
    pub url: String,
}

impl std::fmt::Debug for TwilioCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioCheck")
            .field("url", &self.url)
            .finish_non_exhaustive()
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
    Form(params): Form<Vec<(String, String)>>,
) -> Result<Response, HttpError> {
    if let Some(check) = &state.twilio {
        let signature = headers
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !twilio_signature_valid(&check.auth_token, &check.url, &params, signature) {
            tracing::warn!("inbound SMS refused: no valid X-Twilio-Signature");
            return Ok((StatusCode::FORBIDDEN, "invalid X-Twilio-Signature\n").into_response());
        }
    }
    let Some(word) = keyword(field(&params, "Body")) else {
        return Ok(twiml(None));
    };
    let Ok(phone) = PhoneNumber::parse(field(&params, "From"), state.default_region) else {
        return Ok(twiml(None));
    };
    if app::opt_outs::people_at(&state.db, phone.as_str()).await? == 0 {
        return Ok(twiml(None));
    }
    let dealer = &state.dealer;
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
