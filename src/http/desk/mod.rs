//! The service desk's pages: sign-in, Today (the call list), Queue,
//! Customers, Imports. Server-rendered with minijinja, which escapes every
//! value by default; no script runs, so the Content-Security-Policy allows
//! none. Every form carries the session's CSRF token, and every POST is
//! also refused when the browser says it comes from another site. Each
//! action is a use case of `app::actions`, which checks the role.

// A refused request is answered at once with its page: the rejection is a
// response, as axum's extractors have it.
#![allow(clippy::result_large_err)]

mod chart;
mod words;

use super::AppState;
use crate::app::page::PageRequest;
use crate::app::people::{self, Act, Principal, SignIn};
use crate::app::sessions::USER_KEY;
use crate::app::{self, Failure, actions, customers, desk, held, visits};
use crate::domain::{Channel, Permission};
use axum::Form;
use axum::extract::{FromRequestParts, Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::Utc;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use minijinja::{Environment, Value, context};
use serde::Deserialize;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use tower_sessions::Session;

pub use words::choose as choose_language;

const CSRF_KEY: &str = "csrf";
const FLASH_KEY: &str = "flash";
const ERRORS_KEY: &str = "import_errors";
/// When the session was last extended (Unix seconds).
const SEEN_KEY: &str = "seen";
/// A request extends its session when the last extension is older: the
/// idle timeout counts from the last request, to the minute, without a
/// write per request.
const EXTEND_AFTER_SECS: i64 = 60;

/// Sign-ins an address may try per minute.
const SIGNINS_PER_MINUTE: u32 = 10;

/// The desk's templates and its sign-in limiter.
pub struct Desk {
    env: Environment<'static>,
    signins: DefaultKeyedRateLimiter<IpAddr>,
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Desk")
    }
}

impl Desk {
    pub fn new() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        for (name, source) in [
            ("base.html", include_str!("templates/base.html")),
            ("signin.html", include_str!("templates/signin.html")),
            ("today.html", include_str!("templates/today.html")),
            ("queue.html", include_str!("templates/queue.html")),
            ("customers.html", include_str!("templates/customers.html")),
            ("customer.html", include_str!("templates/customer.html")),
            ("imports.html", include_str!("templates/imports.html")),
            ("overview.html", include_str!("templates/overview.html")),
            ("users.html", include_str!("templates/users.html")),
            ("account.html", include_str!("templates/account.html")),
            ("error.html", include_str!("templates/error.html")),
        ] {
            env.add_template(name, source)?;
        }
        let per_minute = NonZeroU32::new(SIGNINS_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
        Ok(Self {
            env,
            signins: RateLimiter::keyed(Quota::per_minute(per_minute)),
        })
    }
}

/// The desk's routes.
pub fn routes() -> axum::Router<Arc<AppState>> {
    axum::Router::new()
        .route("/", get(|| async { Redirect::to("/today") }))
        .route("/static/desk.css", get(css))
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", post(signout))
        .route("/language", post(language))
        .route("/today", get(today))
        .route("/today/{id}/claim", post(claim))
        .route("/today/{id}/unclaim", post(unclaim))
        .route("/today/{id}/outcome", post(outcome))
        .route("/queue", get(queue))
        .route("/queue/{action}", post(queue_action))
        .route("/held/{id}/{action}", post(review))
        .route("/customers", get(customers_page))
        .route("/customers/{id}", get(customer_page))
        .route("/customers/{id}/visit", post(visit))
        .route("/customers/{id}/opt-out", post(opt_out))
        .route("/overview", get(overview_page))
        .route("/users", get(users_page).post(add_user))
        .route("/users/remove", post(remove_user))
        .route("/account", get(account_page))
        .route("/account/password", post(change_password))
        .route("/imports", get(imports_page).post(upload))
        .route("/imports/errors.csv", get(errors_csv))
        .route("/imports/{id}/errors.csv", get(past_errors_csv))
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("templates/desk.css"),
    )
        .into_response()
}

/// A signed-in person at the desk.
pub struct Person {
    pub who: Principal,
    pub csrf: String,
    pub lang: &'static str,
    pub session: Session,
    pub address: Option<String>,
    /// The origin of `[http] public_url` (behind a proxy, browsers send it).
    pub public: String,
}

impl Person {
    /// [`guard`] with this person's session token.
    fn guard(&self, headers: &HeaderMap, form_token: &str) -> Result<(), Response> {
        guard(headers, &self.public, &self.csrf, form_token)
    }

    fn act(&self) -> Act<'_> {
        Act {
            by: &self.who,
            address: self.address.clone(),
        }
    }
}

async fn session_of(parts: &Parts) -> Result<Session, Response> {
    parts
        .extensions
        .get::<Session>()
        .cloned()
        .ok_or_else(|| (StatusCode::INTERNAL_SERVER_ERROR, "no session layer").into_response())
}

/// The session's CSRF token, made when it has none.
async fn csrf_of(session: &Session) -> Result<String, Response> {
    match session.get::<String>(CSRF_KEY).await {
        Ok(Some(t)) => Ok(t),
        _ => {
            let token = people::generated_password().map_err(|e| failure_text(&e))?;
            session
                .insert(CSRF_KEY, &token)
                .await
                .map_err(|e| failure_text(&e))?;
            Ok(token)
        }
    }
}

fn failure_text(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "desk request failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "something went wrong; it is logged",
    )
        .into_response()
}

fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
}

impl FromRequestParts<Arc<AppState>> for Person {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let session = session_of(parts).await?;
        let user_id = session.get::<i64>(USER_KEY).await.ok().flatten();
        let user = match user_id {
            Some(id) => app::people::user(&state.read, id)
                .await
                .map_err(|e| failure_text(&e))?,
            None => None,
        };
        let Some(user) = user else {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/today".into());
            let to = format!("/signin?next={}", url_escape(&next));
            return Err(Redirect::to(&to).into_response());
        };
        let now = Utc::now().timestamp();
        let seen = session.get::<i64>(SEEN_KEY).await.ok().flatten();
        if seen.is_none_or(|s| now - s >= EXTEND_AFTER_SECS) {
            let _ = session.insert(SEEN_KEY, now).await;
        }
        let csrf = csrf_of(&session).await?;
        let lang = words::choose(user.locale.as_deref(), accept_language(&parts.headers));
        Ok(Person {
            who: Principal::of_user(&user),
            csrf,
            lang,
            session,
            address: super::auth::address(parts),
            public: public_origin(state),
        })
    }
}

/// Percent-encodes everything but unreserved characters.
fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// `scheme://host[:port]` of `[http] public_url`.
fn public_origin(state: &AppState) -> String {
    let config = state.config();
    let url = config.settings.http.public_url.trim_end_matches('/');
    match url.find("://") {
        Some(i) => match url[i + 3..].find('/') {
            Some(j) => url[..i + 3 + j].to_string(),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Refuses a state-changing request from another site: the browser's
/// `Sec-Fetch-Site`, else its `Origin` against our host (as the request
/// names it, or as `public` does behind a proxy), and the form's CSRF token
/// against the session's.
fn guard(
    headers: &HeaderMap,
    public: &str,
    session_token: &str,
    form_token: &str,
) -> Result<(), Response> {
    let refused = || {
        (
            StatusCode::FORBIDDEN,
            Html("<!DOCTYPE html><title>Refused</title><p>This form is out of date or came from another site. Go back, reload the page and try again.</p>"),
        )
            .into_response()
    };
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(refused());
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let origin_host = origin.split("://").nth(1).unwrap_or("");
        if origin == "null" || (origin_host != host && origin != public) {
            return Err(refused());
        }
    }
    // Compared as digests: the time taken says nothing about the token.
    if session_token.is_empty()
        || people::sha256_hex(session_token) != people::sha256_hex(form_token)
    {
        return Err(refused());
    }
    Ok(())
}

#[derive(serde::Serialize, Deserialize)]
struct Flash {
    kind: String,
    text: String,
}

async fn flash(session: &Session, ok: bool, text: impl Into<String>) {
    let f = Flash {
        kind: if ok { "ok" } else { "error" }.into(),
        text: text.into(),
    };
    let _ = session.insert(FLASH_KEY, f).await;
}

/// Renders `template` for `person` with the page's own values.
async fn render(
    state: &AppState,
    template: &str,
    page: &str,
    person: &Person,
    values: Value,
) -> Response {
    let flash: Option<Flash> = person.session.remove(FLASH_KEY).await.ok().flatten();
    let ctx = context! {
        w => words::words(person.lang),
        lang => person.lang,
        me => context! { name => &person.who.name, role => person.who.role.as_str() },
        csrf => &person.csrf,
        page => page,
        flash => flash,
        may_act => person.who.role.may(Permission::Act),
        may_approve => person.who.role.may(Permission::Approve),
        ..values
    };
    html(state, template, ctx)
}

fn html(state: &AppState, template: &str, ctx: Value) -> Response {
    match state
        .desk
        .env
        .get_template(template)
        .and_then(|t| t.render(ctx))
    {
        Ok(body) => Html(body).into_response(),
        Err(e) => failure_text(&e),
    }
}

/// A failed page: its status and a page saying why.
async fn failed(state: &AppState, person: &Person, e: Failure, back: &str) -> Response {
    let w = words::words(person.lang);
    let (status, heading) = match &e {
        Failure::NotFound(_) => (StatusCode::NOT_FOUND, w["not_found"]),
        Failure::Forbidden(_) => (StatusCode::FORBIDDEN, w["forbidden"]),
        Failure::Data(_) | Failure::Rows(_) | Failure::Usage(_) => {
            (StatusCode::UNPROCESSABLE_ENTITY, w["error"])
        }
        Failure::Conflict(_) => (StatusCode::CONFLICT, w["error"]),
        _ => {
            tracing::error!(error = %e, "desk request failed");
            (StatusCode::INTERNAL_SERVER_ERROR, w["error"])
        }
    };
    let detail = match &e {
        Failure::Store(_) | Failure::Other(_) | Failure::Config(_) => {
            "Something went wrong on the server; it is logged.".to_string()
        }
        other => other.to_string(),
    };
    let values = context! { heading => heading, detail => detail, back => back };
    let mut r = render(state, "error.html", "", person, values).await;
    *r.status_mut() = status;
    r
}

/// After an action: back to `to`, with what happened.
async fn done<T>(
    person: &Person,
    result: Result<T, Failure>,
    ok: impl FnOnce(&T) -> String,
    to: &str,
) -> Response {
    match result {
        Ok(v) => flash(&person.session, true, ok(&v)).await,
        Err(Failure::Forbidden(_)) => {
            flash(
                &person.session,
                false,
                words::words(person.lang)["forbidden"],
            )
            .await
        }
        Err(e @ (Failure::Store(_) | Failure::Other(_) | Failure::Config(_))) => {
            tracing::error!(error = %e, "desk action failed");
            flash(
                &person.session,
                false,
                "Something went wrong on the server; it is logged.",
            )
            .await
        }
        Err(e) => flash(&person.session, false, e.to_string()).await,
    }
    Redirect::to(to).into_response()
}

/// Back to `to`, saying why nothing was done.
async fn refused(person: &Person, why: Failure, to: &str) -> Response {
    done::<()>(person, Err(why), |_| String::new(), to).await
}

// ---- sign-in ----

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Only our own paths: never an address elsewhere.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/today".into(),
    }
}

async fn signin_page(
    State(state): State<Arc<AppState>>,
    session: Session,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    signin_form(
        &state,
        &session,
        &headers,
        safe_next(q.next.as_deref()),
        "",
        None,
    )
    .await
}

async fn signin_form(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    next: String,
    email: &str,
    problem: Option<String>,
) -> Response {
    let csrf = match csrf_of(session).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let lang = words::choose(None, accept_language(headers));
    let ctx = context! {
        w => words::words(lang), lang => lang, csrf => csrf, next => next,
        email => email, problem => problem, page => "signin",
    };
    html(state, "signin.html", ctx)
}

#[derive(Deserialize)]
struct SignInForm {
    email: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

async fn signin(
    State(state): State<Arc<AppState>>,
    session: Session,
    headers: HeaderMap,
    parts_address: PeerAddress,
    Form(form): Form<SignInForm>,
) -> Response {
    let token = session
        .get::<String>(CSRF_KEY)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    if let Err(r) = guard(&headers, &public_origin(&state), &token, &form.csrf) {
        return r;
    }
    let lang = words::choose(None, accept_language(&headers));
    let w = words::words(lang);
    let next = safe_next(form.next.as_deref());
    if let Some(ip) = parts_address.0
        && state.desk.signins.check_key(&ip).is_err()
    {
        let mut r = signin_form(
            &state,
            &session,
            &headers,
            next,
            &form.email,
            Some(w["too_many"].into()),
        )
        .await;
        *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        return r;
    }
    let now = Utc::now();
    let answer = match people::sign_in(&state.db, &form.email, &form.password, now).await {
        Ok(a) => a,
        Err(e) => return failure_text(&e),
    };
    match answer {
        SignIn::Welcome(user) => {
            // A new id at sign-in: a session id planted before is worthless.
            if let Err(e) = session.cycle_id().await {
                return failure_text(&e);
            }
            if let Err(e) = session.insert(USER_KEY, user.id).await {
                return failure_text(&e);
            }
            let fresh = match people::generated_password() {
                Ok(t) => t,
                Err(e) => return failure_text(&e),
            };
            let _ = session.insert(CSRF_KEY, fresh).await;
            tracing::info!(user = %user.email, "signed in");
            Redirect::to(&next).into_response()
        }
        SignIn::Refused { failures } => {
            // Each failure in a row makes the next answer slower.
            let pause = 250 * u64::try_from(failures.clamp(1, 8)).unwrap_or(1);
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            tracing::warn!(email = %form.email.trim(), failures, "sign-in refused");
            let mut r = signin_form(
                &state,
                &session,
                &headers,
                next,
                &form.email,
                Some(w["wrong_password"].into()),
            )
            .await;
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r
        }
        SignIn::Locked { until } => {
            tracing::warn!(email = %form.email.trim(), %until, "sign-in refused: locked");
            let text = format!("{} {}", w["locked"], until.format("%H:%M UTC"));
            let mut r =
                signin_form(&state, &session, &headers, next, &form.email, Some(text)).await;
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r
        }
    }
}

/// The peer's address, when the server recorded it.
struct PeerAddress(Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddress {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerAddress(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|a| a.0.ip()),
        ))
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn signout(person: Person, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    if let Err(r) = person.guard(&headers, &form.csrf) {
        return r;
    }
    let _ = person.session.flush().await;
    Redirect::to("/signin").into_response()
}

#[derive(Deserialize)]
struct LanguageForm {
    csrf: String,
    lang: String,
}

async fn language(
    State(state): State<Arc<AppState>>,
    person: Person,
    headers: HeaderMap,
    Form(form): Form<LanguageForm>,
) -> Response {
    if let Err(r) = person.guard(&headers, &form.csrf) {
        return r;
    }
    let lang = words::LANGUAGES.iter().find(|l| **l == form.lang).copied();
    if let Some(id) = person.who.user_id {
        let _ = people::set_locale(&state.db, id, lang, Utc::now()).await;
    }
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.find("://").map(|i| &r[i + 3..]))
        .and_then(|r| r.find('/').map(|i| r[i..].to_string()));
    Redirect::to(&safe_next(back.as_deref())).into_response()
}

// ---- Today ----

#[derive(Deserialize)]
struct CursorQuery {
    cursor: Option<String>,
}

async fn today(
    State(state): State<Arc<AppState>>,
    person: Person,
    Query(q): Query<CursorQuery>,
) -> Response {
    let request = match PageRequest::new(Some(desk::CALLS_PER_PAGE), q.cursor.as_deref()) {
        Ok(r) => r,
        Err(e) => return failed(&state, &person, e, "/today").await,
    };
    match desk::call_cards(&state.read, &state.config(), &request, Utc::now()).await {
        Ok(calls) => {
            let outcomes: Vec<&str> = crate::rules::CallOutcome::ALL
                .iter()
                .map(|o| o.as_str())
                .collect();
            render(
                &state,
                "today.html",
                "today",
                &person,
                context! {
                    calls => calls.cards, due => calls.due, next_cursor => calls.next_cursor,
                    first_page => q.cursor.is_none(), outcomes => outcomes,
                    today => app::facts::today_in(state.config().default_timezone(), Utc::now()).to_string(),
                },
            )
            .await
        }
        Err(e) => failed(&state, &person, e, "/today").await,
    }
}

async fn claim(
    State(state): State<Arc<AppState>>,
    person: Person,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = person.guard(&headers, &form.csrf) {
        return r;
    }
    let r = actions::claim_call(&state.db, &person.act(), id, Utc::now()).await;
    done(
        &person,
        r,
        |c| format!("{}: {}", c.name, c.phone.as_deref().unwrap_or("")),
        &format!("/today#call-{id}"),
    )
    .await
}

async fn unclaim(
    State(state): State<Arc<AppState>>,
    person: Person,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = person.guard(&headers, &form.csrf) {
        return r;
    }
    let r = actions::unclaim_call(&state.db, &person.act(), id).await;
    done(
        &person,
        r,
        |_| words::words(person.lang)["done"].to_string(),
        "/today",
    )
    .await
}

#[derive(Deserialize)]
struct OutcomeForm {
    csrf: String,
    outcome: String,
    note: Option<String>,
    call_back_on: Option<String>,
    call_back_at: Option<String>,
}

async fn outcome(
    State(state): State<Arc<AppState>>,
    person: Person,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<OutcomeForm>,
) -> Response {
    if let Err(r) = person.guard(&headers, &form.csrf) {
        return r;
    }
    let Some(outcome) = crate::rules::CallOutcome::parse(&form.outcome) else {
        return refused(
            &person,
            Failure::Data(format!("'{}' is not an outcome", form.outcome)),
            "/today",
        )
        .await;
    };
    // The day and time fields count with a call back only.
    let is_call_back = outcome == crate::rules::CallOutcome::CallBack;
    let on_text = form
        .call_back_on
        .as_deref()
        .map(str::trim)
        .filter(|d| is_call_back && !d.is_empty());
    let at = form.call_back_at.as_deref().filter(|_| is_call_back);
    let r = match on_text.map(crate::domain::parse_date).transpose() {
        Err(e) => Err(Failure::Data(format!("call back on: {e}"))),
        Ok(on) => match app::calls::call_back_note(outcome, form.note, on, at) {
            Err(e) => Err(e),
            Ok(note) => {
                actions::call_outcome(
                    &state.db,
                    &state.config(),
                    &person.act(),
                    id,
                    outcome,
                    note,
                    on,
                    Utc::now(),
                )
                .await
            }
        },
    };
    done(
        &person,
        r,
        |r| {
            let mut s = format!("#{}: {}", r.id, r.outcome);
            if let Some(d) = r.back_on {
                s.push_str(&format!("; back on the list on {d}"));
            }
            if r.cancelled > 0 {
                s.push_str(&format!("; {} reminder(s) stopped", r.cancelled));
            }
            s
        },
        "/today",
    )
    .await
}

// ---- Queue ----

#[derive(Deserialize, Default)]
struct QueueQuery {
    days: Option<String>,
    channel: Option<String>,
    category: Option<String>,
    state: Option<String>,
    cursor: Option<String>,
}

/// The rows of the queue page.
const QUEUE_PAGE: u32 = 50;

async fn queue(
    State(state): State<Arc<AppState>>,
    person: Person,
    Query(q): Query<QueueQuery>,
) -> Response {
    let days = q
        .days
        .as_deref()
        .and_then(|d| d.trim().parse::<u32>().ok())
        .filter(|d| (1..=366).contains(d))
        .unwrap_or(7);
    let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    let filter = app::show::QueueFilter {
        channel: nonempty(&q.channel),
        category: nonempty(&q.category),
        state: nonempty(&q.state),
    };
    let request = match PageRequest::new(Some(QUEUE_PAGE), q.cursor.as_deref()) {
        Ok(r) => r,
        Err(e) => return failed(&state, &person, e, "/queue").await,
    };
    let page = match app::show::queue_page(
        &state.read,
        &state.config(),
        &state.catalog,
        days,
        &filter,
        &request,
        Utc::now(),
    )
    .await
    {
        Ok(p) => p,
        Err(e) => return failed(&state, &person, e, "/queue").await,
    };
    let held = match held::list(&state.read).await {
        Ok(h) => h,
        Err(e) => return failed(&state, &person, e, "/queue").await,
    };
    let values = context! {
        items => page.items, next_cursor => page.next_cursor, held => held, days => days,
        channel => filter.channel.unwrap_or_default(), category => filter.category.unwrap_or_default(),
        state => filter.state.unwrap_or_default(),
    };
    render(&state, "queue.html", "queue", &person, values).await
}

#[derive(Deserialize)]
struct KeyForm {
    csrf: String,
    key: String,
    reason: Option<String>,
}

async fn queue_action(
    State(state): State<Arc<AppState>>,
    person: Person,
    headers: HeaderMap,
    Path(action): Path<String>,
    Form(form): Form<KeyForm>,
) -> Response {
    if let Err(r) = person.guard(&headers, &form.csrf) {
        return r;
    }
    let (db, act, now) = (&state.db, person.act(), Utc::now());
    let key = form.key.as_str();
    let reason = form
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let r = match action.as_str() {
        "hold" => actions::hold(db, &act, key, reason, now).await,
        "release" => actions::release(db, &act, key, now).await,
        "skip" => actions::skip(db, &act, key, reason.unwrap_or(""), now).await,
        "send-now" => actions::send_now(db, &state.config(), &act, key, now).await,
        other => Err(Failure::NotFound(format!("no queue action {other}"))),
    };
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.find("/queue").map(|i| r[i..].to_string()))
        .unwrap_or_else(|| "/queue".into());
    done(
        &person,
        r,
        |m| format!("{}: {} → {}", m.key, m.from, m.state),
        &back,
    )
    .await
}

async fn review(
    State(state): State<Arc<AppState>>,
    person: Person,
    headers: HeaderMap,
    Path((id, action)): Path<(i64, String)>,
    Form(form): Form<KeyFormNoKey>,
) -> Response {
    if let Err(r) = person.guard(&headers, &form.csrf) {
        return r;
    }
    let (db, act, now) = (&state.db, person.act(), Utc::now());
    let why = form
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let r = match action.as_str() {
        "approve" => actions::approve(db, &act, id, now).await,
        "discard" => actions::discard(db, &act, id, why, now).await,
        other => Err(Failure::NotFound(format!("no review action {other}"))),
    };
    done(&person, r, |r| format!("#{}: {}", r.id, r.state), "/queue").await
}

#[derive(Deserialize)]
struct KeyFormNoKey {
    csrf: String,
    reason: Option<String>,
}

// ---- Customers ----

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
    cursor: Option<String>,
}

async fn customers_page(
    State(state): State<Arc<AppState>>,
    person: Person,
    Query(q): Query<SearchQuery>,
) -> Response {
    let request = match PageRequest::new(Some(50), q.cursor.as_deref()) {
        Ok(r) => r,
        Err(e) => return failed(&state, &person, e, "/customers").await,
    };
    let text = q.q.unwrap_or_default();
    match customers::search(&state.read, &text, &request).await {
        Ok(page) => {
            let values =
                context! { found => page.items, next_cursor => page.next_cursor, q => text };
            render(&state, "customers.html", "customers", &person, values).await
        }
        Err(e) => failed(&state, &person, e, "/customers").await,
    }
}

#[derive(Deserialize)]
struct TimelineQuery {
    state: Option<String>,
    channel: Option<String>,
}

#[derive(serde::Serialize)]
struct Day<'a> {
    date: String,
    entries: Vec<&'a app::timeline::Entry>,
    actions: Vec<&'a crate::domain::AuditEntry>,
}

async fn customer_page(
    State(state): State<Arc<AppState>>,
    person: Person,
    Path(id): Path<String>,
    Query(q): Query<TimelineQuery>,
) -> Response {
    let now = Utc::now();
    let profile = match desk::profile(&state.read, &state.config(), &id, now).await {
        Ok(p) => p,
        Err(e) => return failed(&state, &person, e, "/customers").await,
    };
    let want_state = q.state.filter(|s| !s.is_empty());
    let want_channel = q.channel.filter(|s| !s.is_empty());
    let mut days: std::collections::BTreeMap<String, Day> = std::collections::BTreeMap::new();
    for e in &profile.timeline.touchpoints {
        if want_state.as_deref().is_some_and(|s| s != e.state)
            || want_channel.as_deref().is_some_and(|c| c != e.channel)
        {
            continue;
        }
        let date = e.due_date.to_string();
        days.entry(date.clone())
            .or_insert_with(|| Day {
                date,
                entries: Vec::new(),
                actions: Vec::new(),
            })
            .entries
            .push(e);
    }
    if want_state.is_none() && want_channel.is_none() {
        for a in &profile.timeline.actions {
            let date = a.at.date_naive().to_string();
            days.entry(date.clone())
                .or_insert_with(|| Day {
                    date,
                    entries: Vec::new(),
                    actions: Vec::new(),
                })
                .actions
                .push(a);
        }
    }
    let today = app::facts::today_in(state.config().default_timezone(), now);
    // What is coming, soonest first; then what happened, newest first.
    let (upcoming, past): (Vec<&Day>, Vec<&Day>) =
        days.values().partition(|d| d.date > today.to_string());
    let past: Vec<&Day> = past.into_iter().rev().collect();
    let mut states: Vec<&str> = profile
        .timeline
        .touchpoints
        .iter()
        .map(|e| e.state.as_str())
        .collect();
    states.sort_unstable();
    states.dedup();
    let values = context! {
        t => &profile.timeline, vehicles => &profile.vehicles, channels => &profile.channels,
        upcoming => upcoming, days => past, states => states, state => want_state.clone().unwrap_or_default(),
        channel => want_channel.clone().unwrap_or_default(), today => today.to_string(),
    };
    render(&state, "customer.html", "customers", &person, values).await
}

#[derive(Deserialize)]
struct VisitForm {
    csrf: String,
    vin: String,
    date: String,
    odometer: String,
    kind: Option<String>,
}

async fn visit(
    State(state): State<Arc<AppState>>,
    person: Person,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<VisitForm>,
) -> Response {
    if let Err(r) = person.guard(&headers, &form.csrf) {
        return r;
    }
    let v = visits::NewVisit {
        vin: &form.vin,
        date: &form.date,
        odometer: &form.odometer,
        kind: form.kind.as_deref().unwrap_or("service"),
    };
    let r = actions::add_visit(&state.db, &state.config(), &person.act(), v, Utc::now()).await;
    let back = format!("/customers/{}", url_escape(&id));
    done(
        &person,
        r,
        |v| {
            format!(
                "{}: {} {} ({} km); {} reminder(s) ended",
                v.vin,
                v.kind,
                v.date,
                v.odometer_km,
                v.cancelled.len()
            )
        },
        &back,
    )
    .await
}

#[derive(Deserialize)]
struct OptOutForm {
    csrf: String,
    channel: String,
    opted_out: String,
}

async fn opt_out(
    State(state): State<Arc<AppState>>,
    person: Person,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<OptOutForm>,
) -> Response {
    if let Err(r) = person.guard(&headers, &form.csrf) {
        return r;
    }
    let back = format!("/customers/{}", url_escape(&id));
    let channel = match form.channel.as_str() {
        "email" => Channel::Email,
        "sms" => Channel::Sms,
        "call" => Channel::Call,
        other => {
            return refused(
                &person,
                Failure::Data(format!("'{other}' is not a channel")),
                &back,
            )
            .await;
        }
    };
    let out = form.opted_out == "true";
    let r = actions::opt_out(&state.db, &person.act(), &id, channel, out, Utc::now()).await;
    done(
        &person,
        r,
        |r| {
            format!(
                "{} {}: {}",
                r.customer_id,
                r.channel,
                if r.opted_out { "opted out" } else { "opted in" }
            )
        },
        &back,
    )
    .await
}

// ---- Imports ----

async fn overview_page(State(state): State<Arc<AppState>>, person: Person) -> Response {
    match state.overview().await {
        Ok(o) => {
            let chart = chart::weekly(&o.weeks, app::overview::WEEKS_BACK - 1);
            let values = context! { o => o, chart => chart, channels => chart::CHANNELS };
            render(&state, "overview.html", "overview", &person, values).await
        }
        Err(e) => failed(&state, &person, e, "/overview").await,
    }
}

// ---- users and one's own account ----

async fn users_page(State(state): State<Arc<AppState>>, person: Person) -> Response {
    users_view(&state, &person, None).await
}

/// The users page; `added` shows a new user's generated password, once.
async fn users_view(
    state: &AppState,
    person: &Person,
    added: Option<crate::app::people::Added>,
) -> Response {
    match actions::users(&state.read, &person.act(), Utc::now()).await {
        Ok(users) => {
            let roles: Vec<&str> = crate::domain::Role::ALL
                .iter()
                .map(|r| r.as_str())
                .collect();
            let values = context! { users => users, roles => roles, added => added };
            render(state, "users.html", "users", person, values).await
        }
        Err(e) => failed(state, person, e, "/today").await,
    }
}

#[derive(Deserialize)]
struct UserForm {
    csrf: String,
    email: String,
    role: String,
    password: Option<String>,
}

async fn add_user(
    State(state): State<Arc<AppState>>,
    person: Person,
    headers: HeaderMap,
    Form(form): Form<UserForm>,
) -> Response {
    if let Err(r) = person.guard(&headers, &form.csrf) {
        return r;
    }
    let role = match crate::domain::Role::parse(&form.role) {
        Some(r) => r,
        None => {
            return refused(
                &person,
                Failure::Data(format!("role: '{}' is none", form.role)),
                "/users",
            )
            .await;
        }
    };
    let password = form.password.filter(|p| !p.is_empty());
    match actions::add_user(
        &state.db,
        &person.act(),
        &form.email,
        role,
        password,
        Utc::now(),
    )
    .await
    {
        // The generated password is shown on this answer alone.
        Ok(added) if added.generated_password.is_some() => {
            users_view(&state, &person, Some(added)).await
        }
        r => {
            done(
                &person,
                r,
                |a| format!("{} added as {}", a.email, a.role),
                "/users",
            )
            .await
        }
    }
}

#[derive(Deserialize)]
struct EmailForm {
    csrf: String,
    email: String,
}

async fn remove_user(
    State(state): State<Arc<AppState>>,
    person: Person,
    headers: HeaderMap,
    Form(form): Form<EmailForm>,
) -> Response {
    if let Err(r) = person.guard(&headers, &form.csrf) {
        return r;
    }
    let r = actions::remove_user(&state.db, &person.act(), &form.email, Utc::now()).await;
    done(&person, r, |e| format!("{e} removed"), "/users").await
}

async fn account_page(State(state): State<Arc<AppState>>, person: Person) -> Response {
    render(&state, "account.html", "account", &person, context! {}).await
}

#[derive(Deserialize)]
struct PasswordForm {
    csrf: String,
    current: String,
    new: String,
    again: String,
}

async fn change_password(
    State(state): State<Arc<AppState>>,
    person: Person,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    if let Err(r) = person.guard(&headers, &form.csrf) {
        return r;
    }
    if form.new != form.again {
        let why = Failure::Data("the new password and its repetition differ".into());
        return refused(&person, why, "/account").await;
    }
    let keep = person
        .session
        .id()
        .map(|id| crate::app::sessions::stored_id(&id));
    let r = actions::change_own_password(
        &state.db,
        &person.act(),
        &form.current,
        form.new,
        keep.as_deref(),
        Utc::now(),
    )
    .await;
    let w = words::words(person.lang);
    done(
        &person,
        r,
        |_| w["password_changed"].to_string(),
        "/account",
    )
    .await
}

async fn imports_page(State(state): State<Arc<AppState>>, person: Person) -> Response {
    imports_view(&state, &person, None, None).await
}

async fn imports_view(
    state: &AppState,
    person: &Person,
    report: Option<crate::import::Report>,
    problems: Option<Vec<String>>,
) -> Response {
    match desk::import_history(&state.read, 50).await {
        Ok(history) => {
            let values = context! { history => history, report => report, problems => problems };
            render(state, "imports.html", "imports", person, values).await
        }
        Err(e) => failed(state, person, e, "/imports").await,
    }
}

/// The largest file the desk takes.
pub const UPLOAD_LIMIT: usize = 256 * 1024 * 1024;

async fn upload(
    State(state): State<Arc<AppState>>,
    person: Person,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
    let mut csrf = String::new();
    let mut kind = String::new();
    let mut dry_run = false;
    let mut file: Option<(String, Vec<u8>)> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return refused(
                    &person,
                    Failure::Data(format!("the upload broke off: {e}")),
                    "/imports",
                )
                .await;
            }
        };
        let name = field.name().unwrap_or("").to_string();
        let filename = field.file_name().map(str::to_string);
        let bytes = match field.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return refused(
                    &person,
                    Failure::Data(format!("the upload broke off: {e}")),
                    "/imports",
                )
                .await;
            }
        };
        match name.as_str() {
            "csrf" => csrf = String::from_utf8_lossy(&bytes).into_owned(),
            "kind" => kind = String::from_utf8_lossy(&bytes).into_owned(),
            "dry_run" => dry_run = &bytes[..] == b"true",
            "file" => {
                file = Some((
                    filename.unwrap_or_else(|| "upload.csv".into()),
                    bytes.to_vec(),
                ))
            }
            _ => {}
        }
    }
    if let Err(r) = person.guard(&headers, &csrf) {
        return r;
    }
    let Some(kind) = crate::import::Kind::parse(&kind) else {
        let e = Failure::Data(format!("'{kind}' is not customers, vehicles or visits"));
        return refused(&person, e, "/imports").await;
    };
    let Some((name, content)) = file else {
        return refused(
            &person,
            Failure::Data("choose a file to upload".into()),
            "/imports",
        )
        .await;
    };
    let r = actions::import(
        &state.db,
        &state.config(),
        &person.act(),
        kind,
        &name,
        &content,
        dry_run,
        Utc::now(),
    )
    .await;
    match r {
        Ok(report) => {
            let _ = person.session.remove_value(ERRORS_KEY).await;
            imports_view(&state, &person, Some(report), None).await
        }
        Err(Failure::Rows(rows)) => {
            let _ = person.session.insert(ERRORS_KEY, &rows).await;
            let mut r = imports_view(&state, &person, None, Some(rows)).await;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            r
        }
        Err(e) => refused(&person, e, "/imports").await,
    }
}

/// The last upload's errors as CSV: file, line, column, reason.
async fn errors_csv(person: Person) -> Response {
    let rows: Vec<String> = person
        .session
        .get(ERRORS_KEY)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    problems_csv(&rows, "import-errors.csv")
}

/// The problems an earlier import kept, as CSV.
async fn past_errors_csv(
    State(state): State<Arc<AppState>>,
    person: Person,
    Path(id): Path<i64>,
) -> Response {
    match desk::import_record(&state.read, id).await {
        Ok(r) => {
            let problems: Vec<String> = r
                .problems
                .into_iter()
                .filter(|p| !p.starts_with('…'))
                .collect();
            problems_csv(&problems, &format!("import-{id}-errors.csv"))
        }
        Err(e) => failed(&state, &person, e, "/imports").await,
    }
}

/// `FILE:LINE: column: reason` lines as a CSV download named `name`.
fn problems_csv(rows: &[String], name: &str) -> Response {
    let mut out = csv::Writer::from_writer(Vec::new());
    let _ = out.write_record(["file", "line", "column", "reason"]);
    for row in rows {
        // FILE:LINE: column: reason
        let (place, rest) = row.split_once(": ").unwrap_or((row.as_str(), ""));
        let (file, line) = place.rsplit_once(':').unwrap_or((place, ""));
        let (column, reason) = rest.split_once(": ").unwrap_or(("", rest));
        let _ = out.write_record([file, line, column, reason]);
    }
    let body = out.into_inner().unwrap_or_default();
    let disposition = format!("attachment; filename=\"{name}\"");
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_load() {
        assert!(Desk::new().is_ok(), "{:?}", Desk::new().err());
    }

    #[test]
    fn only_our_own_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/queue?days=3")), "/queue?days=3");
        for evil in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "javascript:x",
        ] {
            assert_eq!(safe_next(Some(evil)), "/today", "{evil}");
        }
    }
}
