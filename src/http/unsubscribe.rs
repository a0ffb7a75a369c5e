//! `GET /unsubscribe/{token}` shows a confirm button (mail scanners prefetch
//! links, so a GET changes nothing); `POST` — the RFC 8058 one-click body
//! `List-Unsubscribe=One-Click` or the page's form — records the opt-out.

use super::{AppState, HttpError, escape, page};
use crate::store;
use axum::extract::{Path, State};
use axum::response::Html;
use std::sync::Arc;

/// The opt-out log's source for these.
pub const SOURCE: &str = "unsubscribe_link";

pub async fn show(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
) -> Result<Html<String>, HttpError> {
    let subject = state.links.verify(&token)?;
    store::customer(&state.db, subject.customer_id)
        .await?
        .ok_or(HttpError::UnknownCustomer)?;
    let what = channel_words(subject.channel);
    Ok(page(
        "Unsubscribe",
        &format!(
            "Do you want to stop receiving {what} from {}?",
            escape(&state.dealer.name)
        ),
        "<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
         <button type=\"submit\">Unsubscribe</button></form>",
    ))
}

pub async fn confirm(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
) -> Result<Html<String>, HttpError> {
    let subject = state.links.verify(&token)?;
    let customer = store::customer(&state.db, subject.customer_id)
        .await?
        .ok_or(HttpError::UnknownCustomer)?;
    let already = match subject.channel {
        crate::domain::Channel::Email => customer.opted_out_email,
        _ => customer.opted_out_sms,
    };
    // Mail clients may POST more than once: the log keeps one entry.
    if !already {
        store::record_opt_out(
            &state.db,
            customer.id,
            subject.channel,
            SOURCE,
            true,
            chrono::Utc::now(),
        )
        .await?;
        tracing::info!(customer = customer.id, channel = %subject.channel, "unsubscribed by link");
    }
    Ok(page(
        "Unsubscribed",
        &format!(
            "You will receive no more {} from {}.",
            channel_words(subject.channel),
            escape(&state.dealer.name)
        ),
        "",
    ))
}

fn channel_words(channel: crate::domain::Channel) -> &'static str {
    match channel {
        crate::domain::Channel::Email => "emails",
        _ => "text messages",
    }
}
