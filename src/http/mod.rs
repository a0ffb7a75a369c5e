//! The daemon's HTTP endpoints: `/healthz`, the unsubscribe pages of emails
//! (RFC 8058 one-click) and the inbound SMS webhook. Handlers parse, call the
//! pure parts and the store, and answer; errors become statuses in one place.

pub mod api;
mod auth;
pub mod desk;
mod inbound;
mod unsubscribe;

pub use inbound::{
    Inbound, Keyword, basic_auth_valid, hmac_signature_valid, keyword, twilio_signature_valid,
};

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
    /// The configuration in force: [`AppState::config`]; a reload replaces it.
    live: Arc<std::sync::RwLock<Arc<crate::config::Config>>>,
    /// What `/healthz` reports beyond "ok".
    pub health: Arc<Health>,
    pub desk: Arc<desk::Desk>,
    /// The message texts the queue's previews render.
    pub catalog: Arc<crate::messages::Catalog>,
    /// The Overview's figures as last counted.
    pub overview: Arc<crate::app::overview::Counted>,
    /// Session cookies are `Secure` when `public_url` is https.
    pub secure_cookies: bool,
    pub links: crate::unsubscribe::Links,
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
            live: Arc::new(std::sync::RwLock::new(Arc::new(config.clone()))),
            health: Arc::default(),
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
        }
    }
}

impl AppState {
    /// The configuration in force.
    pub fn config(&self) -> Arc<crate::config::Config> {
        match self.live.read() {
            Ok(live) => Arc::clone(&live),
            // A writer only swaps an Arc; what it left is whole.
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Puts `config` in force for the requests that come next (a reload).
    pub fn replace_config(&self, config: crate::config::Config) {
        let config = Arc::new(config);
        match self.live.write() {
            Ok(mut live) => *live = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
    }

    /// Who the messages come from.
    pub fn dealer(&self) -> Dealer {
        self.config().settings.dealer.clone()
    }

    /// Where national numbers of inbound SMS are read (usually they are E.164).
    pub fn default_region(&self) -> Option<phonenumber::country::Id> {
        crate::domain::parse_region(&self.config().settings.import.default_region).ok()
    }

    /// How inbound SMS requests prove they come from the provider.
    pub fn inbound(&self) -> Inbound {
        let config = self.config();
        Inbound::of(&config.settings.sms, &config.settings.http.public_url)
    }

    /// The Overview, at most `[http] overview_max_age_secs` old.
    pub async fn overview(
        &self,
    ) -> Result<Arc<crate::app::overview::Overview>, crate::app::Failure> {
        let config = self.config();
        let max_age = chrono::Duration::seconds(config.settings.http.overview_max_age_secs);
        self.overview
            .get(self.read.clone(), config, chrono::Utc::now(), max_age)
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
        .route("/metrics", get(metrics))
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

/// What the daemon reports on `/healthz` beyond its database: a reload
/// that failed (the old configuration still in force).
#[derive(Debug, Default)]
pub struct Health {
    reload_failed: std::sync::Mutex<Option<String>>,
}

impl Health {
    /// A reload failed for `why`; `None`: the last reload worked.
    pub fn set_reload_failed(&self, why: Option<String>) {
        match self.reload_failed.lock() {
            Ok(mut r) => *r = why,
            Err(poisoned) => *poisoned.into_inner() = why,
        }
    }

    fn reload_failed(&self) -> Option<String> {
        match self.reload_failed.lock() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// How long `/healthz` waits for the database.
const HEALTH_DB_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `200 ok` while the database answers, `503` with the reason when it does
/// not; a failed reload adds a line (the daemon runs on, on the old
/// configuration).
async fn healthz(axum::extract::State(state): axum::extract::State<Arc<AppState>>) -> Response {
    let reload = state
        .health
        .reload_failed()
        .map(|why| format!("\nreloading failed: {why}"))
        .unwrap_or_default();
    match tokio::time::timeout(HEALTH_DB_TIMEOUT, crate::app::ping(&state.db)).await {
        Ok(Ok(())) => format!("ok{reload}").into_response(),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database unavailable: {e}{reload}"),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "database unavailable: no answer within {}s{reload}",
                HEALTH_DB_TIMEOUT.as_secs()
            ),
        )
            .into_response(),
    }
}

/// Whether `given` is `secret`, compared in constant time: equal texts have
/// equal HMAC tags, and the tags are compared in constant time.
pub fn secrets_equal(given: &str, secret: &str) -> bool {
    use ring::hmac;
    const LABEL: &[u8] = b"touchpoint secret comparison";
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, given.as_bytes()), LABEL);
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hmac::verify(&key, LABEL, tag.as_ref()).is_ok()
}

/// `GET /metrics`: the Prometheus metrics; with `[http] metrics_token` set,
/// only for `Authorization: Bearer TOKEN`.
async fn metrics(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
) -> Response {
    let token = state.config().settings.http.metrics_token.clone();
    if !token.is_empty() {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !secrets_equal(given, &token) {
            return (StatusCode::UNAUTHORIZED, "a bearer token is required\n").into_response();
        }
    }
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        crate::metrics::encode(),
    )
        .into_response()
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
