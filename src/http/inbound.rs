//! `POST /sms/inbound`: the Twilio-style webhook of replies (form fields
//! `From`, `Body`). STOP and its synonyms opt the sender's number out of SMS
//! (and calls), START and its synonyms opt it back in, HELP answers with the
//! dealer's name and phone. The answer is TwiML.

use super::{AppState, HttpError, twiml};
use crate::domain::{Channel, PhoneNumber};
use crate::store;
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use sea_orm::TransactionTrait;
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

/// The webhook's form; Twilio sends many more fields, which are ignored.
#[derive(Debug, serde::Deserialize)]
pub struct Inbound {
    #[serde(rename = "From", default)]
    from: String,
    #[serde(rename = "Body", default)]
    body: String,
}

pub async fn receive(
    State(state): State<Arc<AppState>>,
    Form(inbound): Form<Inbound>,
) -> Result<Response, HttpError> {
    let Some(word) = keyword(&inbound.body) else {
        return Ok(twiml(None));
    };
    let Ok(phone) = PhoneNumber::parse(&inbound.from, state.default_region) else {
        return Ok(twiml(None));
    };
    let customers = store::customers_by_phone(&state.db, phone.as_str()).await?;
    if customers.is_empty() {
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
            let now = chrono::Utc::now();
            let txn = state
                .db
                .begin()
                .await
                .map_err(|e| store_error("recording an SMS keyword", e))?;
            for c in customers.iter().filter(|c| c.opted_out_sms != stop) {
                store::record_opt_out(&txn, c.id, Channel::Sms, SOURCE, stop, now).await?;
            }
            txn.commit()
                .await
                .map_err(|e| store_error("recording an SMS keyword", e))?;
            tracing::info!(customers = customers.len(), ?word, "SMS keyword");
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

fn store_error(what: &str, source: sea_orm::DbErr) -> HttpError {
    HttpError::Store(store::StoreError {
        context: what.into(),
        source,
    })
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
