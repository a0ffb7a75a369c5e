//! The daemon's HTTP endpoints: `/healthz`, the unsubscribe pages of emails
//! (RFC 8058 one-click) and the inbound SMS webhook. Handlers parse, call the
//! pure parts and the store, and answer; errors become statuses in one place.

pub mod api;
mod auth;
pub mod desk;
mod inbound;
mod unsubscribe;

pub use inbound::{Keyword, TwilioCheck, keyword, twilio_signature_valid};

use crate::config::Dealer;
use crate::store::StoreError;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use sea_orm::DatabaseConnection;
use std::sync::Arc;

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    /// Where pages and lists read (`app::open_readers`); `db` unless set.
    pub read: DatabaseConnection,
    pub config: Arc<crate::config::Config>,
    pub desk: Arc<desk::Desk>,
    /// The message texts the queue's previews render.
    pub catalog: Arc<crate::messages::Catalog>,
    /// The Overview's figures as last counted.
    pub overview: Arc<crate::app::overview::Counted>,
    /// Session cookies are `Secure` when `public_url` is https.
    pub secure_cookies: bool,
    pub links: crate::unsubscribe::Links,
    pub dealer: Dealer,
    /// Where national numbers of inbound SMS are read (usually they are E.164).
    pub default_region: Option<phonenumber::country::Id>,
    /// With Twilio as the SMS provider: inbound requests must carry its signature.
    pub twilio: Option<TwilioCheck>,
}

impl AppState {
    /// The state the configuration describes, over `db`.
    pub fn new(
        db: DatabaseConnection,
        config: &crate::config::Config,
        links: crate::unsubscribe::Links,
    ) -> Self {
        let s = &config.settings;
        Self {
            read: db.clone(),
            db,
            config: Arc::new(config.clone()),
            // The templates are the product's own: they always load.
            #[allow(clippy::expect_used)]
            desk: Arc::new(desk::Desk::new().expect("the desk's templates are valid")),
            // The message texts are the product's own too.
            #[allow(clippy::expect_used)]
            catalog: Arc::new(
                crate::messages::Catalog::builtin().expect("the message texts are valid"),
            ),
            overview: Arc::default(),
            secure_cookies: s.http.public_url.starts_with("https://"),
            links,
            dealer: s.dealer.clone(),
            default_region: crate::domain::parse_region(&s.import.default_region).ok(),
            twilio: (s.sms.provider == "twilio").then(|| TwilioCheck {
                auth_token: s.sms.auth_token.clone(),
                url: format!("{}/sms/inbound", s.http.public_url.trim_end_matches('/')),
            }),
        }
    }
}

impl AppState {
    /// The Overview, at most `[http] overview_max_age_secs` old.
    pub async fn overview(
        &self,
    ) -> Result<Arc<crate::app::overview::Overview>, crate::app::Failure> {
        let max_age = chrono::Duration::seconds(self.config.settings.http.overview_max_age_secs);
        self.overview
            .get(
                self.read.clone(),
                Arc::clone(&self.config),
                chrono::Utc::now(),
                max_age,
            )
            .await
    }

    /// Pages and lists read through `read`.
    pub fn with_readers(mut self, read: DatabaseConnection) -> Self {
        self.read = read;
        self
    }
}

/// How long a desk session lasts without a request.
pub const SESSION_IDLE_MINUTES: i64 = 120;

/// Every endpoint, over `state`: `/healthz`, the unsubscribe pages, the
/// inbound SMS webhook, the JSON API under `/api/v1` with its OpenAPI
/// document, and the desk's pages.
pub fn router(state: AppState) -> Router {
    use tower_sessions::cookie::SameSite;
    use tower_sessions::{Expiry, SessionManagerLayer};
    let sessions = SessionManagerLayer::new(crate::app::sessions::DbSessions {
        db: state.db.clone(),
    })
    .with_name("touchpoint_session")
    .with_http_only(true)
    .with_same_site(SameSite::Lax)
    .with_secure(state.secure_cookies)
    .with_expiry(Expiry::OnInactivity(time::Duration::minutes(
        SESSION_IDLE_MINUTES,
    )));
    let (api, doc) = api::routes();
    let doc = Arc::new(doc);
    let api = api
        .route(
            "/openapi.json",
            get(move || {
                let doc = Arc::clone(&doc);
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .fallback(api::not_found);
    Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/unsubscribe/{token}",
            get(unsubscribe::show).post(unsubscribe::confirm),
        )
        .route("/sms/inbound", post(inbound::receive))
        .nest("/api/v1", api)
        .merge(desk::routes())
        .layer(axum::extract::DefaultBodyLimit::max(desk::UPLOAD_LIMIT))
        .layer(sessions)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(Arc::new(state))
}

/// Headers on every answer: a strict Content-Security-Policy (no script,
/// no inline style, nothing from elsewhere), no framing, no sniffing.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: &'static str, value: &'static str| {
        h.insert(name, header::HeaderValue::from_static(value));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "same-origin");
    response
}

async fn healthz() -> &'static str {
    "ok"
}

/// A failed request: its status and what the person is told.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    BadToken(#[from] crate::unsubscribe::BadToken),
    #[error("nobody is subscribed under this link any more")]
    UnknownCustomer,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    App(String),
}

impl From<crate::app::Failure> for HttpError {
    fn from(e: crate::app::Failure) -> Self {
        match e {
            crate::app::Failure::Store(s) => HttpError::Store(s),
            other => HttpError::App(other.to_string()),
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = match &self {
            HttpError::BadToken(_) => StatusCode::BAD_REQUEST,
            HttpError::UnknownCustomer => StatusCode::NOT_FOUND,
            HttpError::Store(e) => {
                tracing::error!(error = %e, "request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
            HttpError::App(e) => {
                tracing::error!(error = %e, "request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let text = match &self {
            HttpError::Store(_) | HttpError::App(_) => {
                "Something went wrong on our side. Please try again later.".into()
            }
            other => other.to_string(),
        };
        (status, page("Unsubscribe", &escape(&text), "")).into_response()
    }
}

/// A small HTML page: a title, a paragraph (already escaped) and extra markup.
fn page(title: &str, paragraph: &str, extra: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><link rel=\"stylesheet\" href=\"/static/desk.css\"></head>\
         <body><main class=\"notice\"><h1>{title}</h1><p>{paragraph}</p>{extra}</main></body></html>",
        title = escape(title),
    ))
}

/// Escapes text for HTML and XML.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A TwiML answer: one reply message, or none.
fn twiml(reply: Option<&str>) -> Response {
    let body = match reply {
        Some(text) => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>{}</Message></Response>",
            escape(text)
        ),
        None => "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>".to_string(),
    };
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}
