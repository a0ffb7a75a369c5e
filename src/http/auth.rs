//! Who calls the API: an API token (`Authorization: Bearer`). The desk's
//! session cookie is not taken here, so that no other site can make a
//! signed-in browser call the API. Without a token, API calls answer 401.

use super::AppState;
use super::api::ApiError;
use crate::app::people::{self, Act, Principal};
use crate::domain::Permission;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use std::net::SocketAddr;
use std::sync::Arc;

/// The caller of an API route.
#[derive(Debug, Clone)]
pub struct Caller {
    pub who: Principal,
    pub address: Option<String>,
}

impl Caller {
    /// Refused (403) unless the caller's role grants `what`.
    pub fn may(&self, what: Permission) -> Result<(), ApiError> {
        let act = self.act();
        crate::app::actions::require(&act, what).map_err(ApiError::from)
    }

    /// The caller as the actor of a use case.
    pub fn act(&self) -> Act<'_> {
        Act {
            by: &self.who,
            address: self.address.clone(),
        }
    }
}

/// The peer's address, when the server recorded it.
pub fn address(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip().to_string())
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let address = address(parts);
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or_else(|| ApiError::unauthorized("Authorization must be 'Bearer TOKEN'"))?;
            let who = people::by_token(&state.db, token, chrono::Utc::now())
                .await?
                .ok_or_else(|| ApiError::unauthorized("the token is not valid"))?;
            return Ok(Caller { who, address });
        }
        Err(ApiError::unauthorized(
            "send Authorization: Bearer TOKEN (touchpoint token add NAME --role ROLE)",
        ))
    }
}
