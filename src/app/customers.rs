//! Finding a person by name, VIN, phone, email or customer id.

use super::Failure;
use super::page::{Page, PageRequest, cut};
use crate::store::operator;
use sea_orm::DatabaseConnection;
use serde::Serialize;

/// A person found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Found {
    pub customer_id: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub vehicles: Vec<String>,
}

/// The people matching `q` (all, when empty), by customer id.
pub async fn search(
    db: &DatabaseConnection,
    q: &str,
    request: &PageRequest,
) -> Result<Page<Found>, Failure> {
    let fetched =
        operator::search_customers(db, q, request.after.as_deref(), request.limit as u64 + 1)
            .await?;
    let ids: Vec<i64> = fetched.iter().map(|c| c.id).collect();
    let mut vins = operator::vins_of(db, &ids).await?;
    let found = fetched
        .into_iter()
        .map(|c| Found {
            vehicles: vins.remove(&c.id).unwrap_or_default(),
            customer_id: c.customer_id,
            name: c.name,
            email: c.email,
            phone: c.phone,
        })
        .collect();
    Ok(cut(found, |f| f.customer_id.clone(), request))
}
