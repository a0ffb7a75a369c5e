//! `GET /unsubscribe/{token}` shows a confirm button (mail scanners prefetch
//! links, so a GET changes nothing); `POST` — the RFC 8058 one-click body
//! `List-Unsubscribe=One-Click` or the page's form — records the opt-out.

use super::{AppState, HttpError, escape, page};
use crate::app;
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
    if !app::opt_outs::customer_exists(&state.db, subject.customer_id).await? {
        return Err(HttpError::UnknownCustomer);
    }
    let what = channel_words(subject.channel);
    Ok(page(
        "Unsubscribe",
        &format!(
            "Do you want to stop receiving {what} from {}?",
            escape(&state.dealer().name)
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
    let changed = app::opt_outs::by_link(
        &state.db,
        subject.customer_id,
        subject.channel,
        SOURCE,
        chrono::Utc::now(),
    )
    .await?
    .ok_or(HttpError::UnknownCustomer)?;
    if changed {
        tracing::info!(customer = subject.customer_id, channel = %subject.channel, "unsubscribed by link");
    }
    Ok(page(
        "Unsubscribed",
        &format!(
            "You will receive no more {} from {}.",
            channel_words(subject.channel),
            escape(&state.dealer().name)
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
