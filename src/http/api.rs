//! The JSON API under `/api/v1/`: every desk action and list, for scripts
//! and other systems. Callers send `Authorization: Bearer TOKEN` (or the
//! desk's session); roles are checked by the use cases in `app::actions`.
//! Lists take `limit` (default 50, at most 500) and `cursor`; errors are
//! `{"error": …, "detail": …}` with their status. The OpenAPI document is
//! generated from these handlers and served at `/api/v1/openapi.json`.

use super::AppState;
use super::auth::Caller;
use crate::app::page::{Page, PageRequest, page};
use crate::app::{self, Failure, actions, customers, held, timeline, touchpoints, visits};
use crate::domain::{Channel, Permission};
use crate::import::Kind;
use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

type Shared = State<Arc<AppState>>;

/// An error answer: a stable code and a sentence for people.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// unauthorized, forbidden, not_found, conflict, invalid, bad_request, internal
    pub error: String,
    pub detail: String,
    /// Each bad row of a file, as `FILE:LINE: column: reason`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problems: Option<Vec<String>>,
}

/// A failed API call.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &str, detail: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: error.into(),
                detail: detail.into(),
                problems: None,
            },
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }
}

impl From<Failure> for ApiError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Usage(d) => Self::bad_request(d),
            Failure::Data(d) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", d),
            Failure::Rows(rows) => {
                let mut e = Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid",
                    format!(
                        "{} problem(s) in the file; nothing was imported",
                        rows.len()
                    ),
                );
                e.body.problems = Some(rows);
                e
            }
            Failure::NotFound(d) => Self::new(StatusCode::NOT_FOUND, "not_found", d),
            Failure::Conflict(d) => Self::new(StatusCode::CONFLICT, "conflict", d),
            Failure::Forbidden(d) => Self::new(StatusCode::FORBIDDEN, "forbidden", d),
            other => {
                tracing::error!(error = %other, "API request failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "something went wrong on the server; it is logged",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// A JSON body; a bad one is a JSON error.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            // A body that is no JSON, or none (whatever its content type):
            // 400; JSON of the wrong shape: 422.
            Err(e) if e.status() == StatusCode::UNPROCESSABLE_ENTITY => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                e.body_text(),
            )),
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

/// Query parameters; bad ones are a JSON error.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Params(v)),
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

/// Path segments; bad ones are a JSON error.
pub struct Segment<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Segment<T> {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Segment(v)),
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Items per page, 1 to 500 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the page before.
    pub cursor: Option<String>,
}

impl Paging {
    fn request(&self) -> Result<PageRequest, ApiError> {
        Ok(PageRequest::new(self.limit, self.cursor.as_deref())?)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    /// Days ahead, 1 to 366 (default 7).
    pub days: Option<u32>,
    /// email, sms or call
    pub channel: Option<String>,
    /// service or marketing
    pub category: Option<String>,
    /// planned, deferred or on_hold
    pub state: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// What goes out from the grace window behind today through the next `days`
/// days, oldest first.
#[utoipa::path(get, path = "/queue", params(QueueQuery),
    responses((status = 200, body = Page<app::show::QueueItem>),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn queue(
    State(state): Shared,
    caller: Caller,
    Params(q): Params<QueueQuery>,
) -> ApiResult<Page<app::show::QueueItem>> {
    caller.may(Permission::Read)?;
    let request = PageRequest::new(q.limit, q.cursor.as_deref())?;
    let filter = app::show::QueueFilter {
        channel: q.channel,
        category: q.category,
        state: q.state,
    };
    let days = q.days.unwrap_or(7);
    Ok(Json(
        app::show::queue_page(
            &state.read,
            &state.config(),
            &state.catalog,
            days,
            &filter,
            &request,
            Utc::now(),
        )
        .await?,
    ))
}

/// The open calls that are due, oldest first.
#[utoipa::path(get, path = "/calls", params(Paging),
    responses((status = 200, body = Page<app::Call>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn calls(
    State(state): Shared,
    caller: Caller,
    Params(p): Params<Paging>,
) -> ApiResult<Page<app::Call>> {
    caller.may(Permission::Read)?;
    let request = p.request()?;
    let (calls, _) =
        app::calls::call_page(&state.read, &state.config(), &request, Utc::now()).await?;
    Ok(Json(calls))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct OutcomeBody {
    /// booked, declined, no_answer, left_message, busy, call_back,
    /// wrong_number or do_not_call
    pub outcome: String,
    pub note: Option<String>,
    /// With call_back: the day to call again (YYYY-MM-DD; default today).
    pub call_back_on: Option<String>,
    /// With call_back: the time the owner asked for (HH:MM), kept in the note.
    pub call_back_at: Option<String>,
}

/// Records a call's outcome.
#[utoipa::path(post, path = "/calls/{id}/outcome", request_body = OutcomeBody,
    params(("id" = i64, Path, description = "The call's number")),
    responses((status = 200, body = app::OutcomeReport), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn call_outcome(
    State(state): Shared,
    caller: Caller,
    Segment(id): Segment<i64>,
    Body(body): Body<OutcomeBody>,
) -> ApiResult<app::OutcomeReport> {
    let Some(outcome) = crate::rules::CallOutcome::parse(&body.outcome) else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!(
                "outcome: '{}' is not booked, declined, no_answer, left_message, busy, call_back, wrong_number or do_not_call",
                body.outcome
            ),
        ));
    };
    let on = match body
        .call_back_on
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        None => None,
        Some(d) => Some(
            crate::domain::parse_date(d)
                .map_err(|e| Failure::Data(format!("call_back_on: {e}")))?,
        ),
    };
    let note = app::calls::call_back_note(outcome, body.note, on, body.call_back_at.as_deref())?;
    let act = caller.act();
    let now = Utc::now();
    Ok(Json(
        actions::call_outcome(&state.db, &state.config(), &act, id, outcome, note, on, now).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Part of a name or email, the start of a VIN, phone digits, or a customer id.
    pub q: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Finds people by name, VIN, phone, email or customer id.
#[utoipa::path(get, path = "/customers", params(SearchQuery),
    responses((status = 200, body = Page<customers::Found>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn search_customers(
    State(state): Shared,
    caller: Caller,
    Params(q): Params<SearchQuery>,
) -> ApiResult<Page<customers::Found>> {
    caller.may(Permission::Read)?;
    let request = PageRequest::new(q.limit, q.cursor.as_deref())?;
    Ok(Json(
        customers::search(&state.read, q.q.as_deref().unwrap_or(""), &request).await?,
    ))
}

/// Every touchpoint of every vehicle of a person, and what people did.
#[utoipa::path(get, path = "/customers/{id}/timeline",
    params(("id" = String, Path, description = "The dealer's customer id")),
    responses((status = 200, body = timeline::Timeline), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn customer_timeline(
    State(state): Shared,
    caller: Caller,
    Segment(id): Segment<String>,
) -> ApiResult<timeline::Timeline> {
    caller.may(Permission::Read)?;
    Ok(Json(timeline::of(&state.read, &id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VisitBody {
    pub vin: String,
    /// YYYY-MM-DD, not in the future
    pub date: String,
    /// In the configured distance unit.
    pub odometer: serde_json::Value,
    /// service (default), repair, inspection or reading
    pub kind: Option<String>,
}

/// Records a visit or odometer reading, checked as an import row is, and
/// re-plans the vehicle.
#[utoipa::path(post, path = "/visits", request_body = VisitBody,
    responses((status = 200, body = visits::VisitAdded), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn add_visit(
    State(state): Shared,
    caller: Caller,
    Body(body): Body<VisitBody>,
) -> ApiResult<visits::VisitAdded> {
    let odometer = match &body.odometer {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let visit = visits::NewVisit {
        vin: &body.vin,
        date: &body.date,
        odometer: &odometer,
        kind: body.kind.as_deref().unwrap_or("service"),
    };
    let act = caller.act();
    Ok(Json(
        actions::add_visit(&state.db, &state.config(), &act, visit, Utc::now()).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct OptOutBody {
    pub customer_id: String,
    pub channel: Channel,
    /// false: opt back in (default true)
    pub opted_out: Option<bool>,
}

/// Opts a person's channel out, or back in.
#[utoipa::path(post, path = "/opt-outs", request_body = OptOutBody,
    responses((status = 200, body = app::opt_outs::OptOutRecorded), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn opt_out(
    State(state): Shared,
    caller: Caller,
    Body(body): Body<OptOutBody>,
) -> ApiResult<app::opt_outs::OptOutRecorded> {
    let act = caller.act();
    let out = body.opted_out.unwrap_or(true);
    Ok(Json(
        actions::opt_out(
            &state.db,
            &act,
            &body.customer_id,
            body.channel,
            out,
            Utc::now(),
        )
        .await?,
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ReasonBody {
    pub reason: Option<String>,
}

/// An optional JSON body: none, or an empty one, is the default.
pub struct MaybeBody<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for MaybeBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(MaybeBody(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(MaybeBody)
            .map_err(|e| ApiError::bad_request(format!("the body is not the JSON expected: {e}")))
    }
}

/// Holds a planned or deferred touchpoint: not sent until released.
#[utoipa::path(post, path = "/touchpoints/{key}/hold", request_body(content = ReasonBody, description = "Why (optional)"),
    params(("key" = String, Path, description = "VIN:code:cycle:occurrence")),
    responses((status = 200, body = touchpoints::Moved), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn hold(
    State(state): Shared,
    caller: Caller,
    Segment(key): Segment<String>,
    MaybeBody(body): MaybeBody<ReasonBody>,
) -> ApiResult<touchpoints::Moved> {
    let act = caller.act();
    let why = body.reason.as_deref();
    Ok(Json(
        actions::hold(&state.db, &act, &key, why, Utc::now()).await?,
    ))
}

/// Releases a held touchpoint back to planned.
#[utoipa::path(post, path = "/touchpoints/{key}/release",
    params(("key" = String, Path, description = "VIN:code:cycle:occurrence")),
    responses((status = 200, body = touchpoints::Moved), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn release(
    State(state): Shared,
    caller: Caller,
    Segment(key): Segment<String>,
) -> ApiResult<touchpoints::Moved> {
    let act = caller.act();
    Ok(Json(
        actions::release(&state.db, &act, &key, Utc::now()).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SkipBody {
    pub reason: String,
}

/// Skips a planned, deferred or held touchpoint, with the reason.
#[utoipa::path(post, path = "/touchpoints/{key}/skip", request_body = SkipBody,
    params(("key" = String, Path, description = "VIN:code:cycle:occurrence")),
    responses((status = 200, body = touchpoints::Moved), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn skip(
    State(state): Shared,
    caller: Caller,
    Segment(key): Segment<String>,
    Body(body): Body<SkipBody>,
) -> ApiResult<touchpoints::Moved> {
    let act = caller.act();
    Ok(Json(
        actions::skip(&state.db, &act, &key, &body.reason, Utc::now()).await?,
    ))
}

/// Sends a touchpoint as soon as the rules allow (consent, opt-outs, quiet
/// hours and caps still hold).
#[utoipa::path(post, path = "/touchpoints/{key}/send-now",
    params(("key" = String, Path, description = "VIN:code:cycle:occurrence")),
    responses((status = 200, body = touchpoints::Moved), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn send_now(
    State(state): Shared,
    caller: Caller,
    Segment(key): Segment<String>,
) -> ApiResult<touchpoints::Moved> {
    let act = caller.act();
    Ok(Json(
        actions::send_now(&state.db, &state.config(), &act, &key, Utc::now()).await?,
    ))
}

/// The Overview: messages per week by channel (12 back, 4 ahead), why
/// touchpoints did not go out, opt-outs, call outcomes, prediction accuracy.
#[utoipa::path(get, path = "/overview",
    responses((status = 200, body = app::overview::Overview), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn overview(State(state): Shared, caller: Caller) -> ApiResult<app::overview::Overview> {
    caller.may(Permission::Read)?;
    Ok(Json(state.overview().await?.as_ref().clone()))
}

/// Messages held for review, oldest first.
#[utoipa::path(get, path = "/held", params(Paging),
    responses((status = 200, body = Page<held::Held>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn held_list(
    State(state): Shared,
    caller: Caller,
    Params(p): Params<Paging>,
) -> ApiResult<Page<held::Held>> {
    caller.may(Permission::Read)?;
    let request = p.request()?;
    let list = held::list(&state.read).await?;
    Ok(Json(page(list, |h| format!("{:020}", h.id), &request)))
}

/// Lets a held message go out on the next pass (administrators).
#[utoipa::path(post, path = "/messages/{id}/approve",
    params(("id" = i64, Path, description = "The message's number")),
    responses((status = 200, body = held::Reviewed), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn approve(
    State(state): Shared,
    caller: Caller,
    Segment(id): Segment<i64>,
) -> ApiResult<held::Reviewed> {
    let act = caller.act();
    Ok(Json(
        actions::approve(&state.db, &act, id, Utc::now()).await?,
    ))
}

/// Discards a held message, with an optional reason (administrators).
#[utoipa::path(post, path = "/messages/{id}/discard", request_body(content = ReasonBody, description = "Why (optional)"),
    params(("id" = i64, Path, description = "The message's number")),
    responses((status = 200, body = held::Reviewed), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn discard(
    State(state): Shared,
    caller: Caller,
    Segment(id): Segment<i64>,
    MaybeBody(body): MaybeBody<ReasonBody>,
) -> ApiResult<held::Reviewed> {
    let act = caller.act();
    let why = body.reason.as_deref();
    Ok(Json(
        actions::discard(&state.db, &act, id, why, Utc::now()).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// The file's name, as reports name it (default upload.csv).
    pub filename: Option<String>,
    /// Check only; change nothing.
    pub dry_run: Option<bool>,
}

/// Imports a customers, vehicles or visits CSV (the body), all or nothing.
#[utoipa::path(post, path = "/imports/{kind}", params(("kind" = String, Path, description = "customers, vehicles or visits"), ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = crate::import::Report), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn import(
    State(state): Shared,
    caller: Caller,
    Segment(kind): Segment<String>,
    Params(q): Params<ImportQuery>,
    body: axum::body::Bytes,
) -> ApiResult<crate::import::Report> {
    let Some(kind) = Kind::parse(&kind) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("'{kind}' is not customers, vehicles or visits"),
        ));
    };
    let act = caller.act();
    let name = q.filename.as_deref().unwrap_or("upload.csv");
    let dry_run = q.dry_run.unwrap_or(false);
    Ok(Json(
        actions::import(
            &state.db,
            &state.config(),
            &act,
            kind,
            name,
            &body,
            dry_run,
            Utc::now(),
        )
        .await?,
    ))
}

/// The desk's users (administrators only).
#[utoipa::path(get, path = "/users",
    responses((status = 200, body = Vec<app::people::Listed>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn users(State(state): Shared, caller: Caller) -> ApiResult<Vec<app::people::Listed>> {
    let act = caller.act();
    Ok(Json(actions::users(&state.db, &act, Utc::now()).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UserBody {
    pub email: String,
    pub role: crate::domain::Role,
    /// At least 10 characters; none: one is generated and returned once.
    pub password: Option<String>,
}

/// Adds a user (administrators only).
#[utoipa::path(post, path = "/users", request_body = UserBody,
    responses((status = 200, body = app::people::Added), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn add_user(
    State(state): Shared,
    caller: Caller,
    Body(body): Body<UserBody>,
) -> ApiResult<app::people::Added> {
    let act = caller.act();
    Ok(Json(
        actions::add_user(
            &state.db,
            &act,
            &body.email,
            body.role,
            body.password,
            Utc::now(),
        )
        .await?,
    ))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "touchpoint", description = "The service desk's API: the call list, the queue, customers, visits, opt-outs, held messages and imports."),
    modifiers(&Security),
    components(schemas(ErrorBody))
)]
struct Doc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API's routes under `/api/v1`, and its OpenAPI document.
pub fn routes() -> (axum::Router<Arc<AppState>>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(Doc::openapi())
        .routes(routes!(queue))
        .routes(routes!(calls))
        .routes(routes!(call_outcome))
        .routes(routes!(search_customers))
        .routes(routes!(customer_timeline))
        .routes(routes!(add_visit))
        .routes(routes!(opt_out))
        .routes(routes!(hold))
        .routes(routes!(release))
        .routes(routes!(skip))
        .routes(routes!(send_now))
        .routes(routes!(held_list))
        .routes(routes!(overview))
        .routes(routes!(approve))
        .routes(routes!(discard))
        .routes(routes!(import))
        .routes(routes!(users, add_user))
        .split_for_parts();
    doc.servers = Some(vec![utoipa::openapi::Server::new("/api/v1")]);
    (router, doc)
}

/// Any other path under `/api/v1`.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such API endpoint")
}
