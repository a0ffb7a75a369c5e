//! `timeline`: everything planned for and done with a person, across their
//! vehicles, oldest first.

use super::Failure;
use crate::store::operator;
use chrono::NaiveDate;
use sea_orm::DatabaseConnection;
use serde::Serialize;
use std::collections::HashMap;

/// One touchpoint of the person's timeline.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Entry {
    pub due_date: NaiveDate,
    pub vin: String,
    pub key: String,
    pub code: String,
    pub occurrence: i32,
    pub cycle: i32,
    pub channel: String,
    pub category: String,
    pub state: String,
    pub reason: Option<String>,
    /// RFC 3339, UTC; when it went out.
    pub sent_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Timeline {
    pub customer_id: String,
    pub name: String,
    pub vehicles: Vec<String>,
    pub touchpoints: Vec<Entry>,
    /// What people did concerning this person, oldest first.
    pub actions: Vec<crate::domain::AuditEntry>,
}

pub async fn of(db: &DatabaseConnection, customer_id: &str) -> Result<Timeline, Failure> {
    let key = customer_id.trim();
    let Some(customer) = operator::customer_by_key(db, key).await? else {
        return Err(Failure::NotFound(format!("no customer with id {key}")));
    };
    let vehicles = operator::vehicles_of(db, customer.id).await?;
    let actions = crate::store::people::audit_of(db, customer.id).await?;
    let ids: Vec<i64> = vehicles.iter().map(|v| v.id).collect();
    let vins: HashMap<i64, &str> = vehicles.iter().map(|v| (v.id, v.vin.as_str())).collect();
    let touchpoints = operator::touchpoints_of_vehicles(db, &ids)
        .await?
        .into_iter()
        .map(|t| Entry {
            due_date: t.due_date,
            vin: vins
                .get(&t.vehicle_id)
                .copied()
                .unwrap_or_default()
                .to_string(),
            key: t.dedup_key,
            code: t.code,
            occurrence: t.occurrence,
            cycle: t.cycle,
            channel: t.channel,
            category: t.category,
            state: t.state,
            reason: t.reason,
            sent_at: t
                .sent_at
                .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        })
        .collect();
    Ok(Timeline {
        customer_id: customer.customer_id,
        name: customer.name,
        vehicles: vehicles.into_iter().map(|v| v.vin).collect(),
        touchpoints,
        actions,
    })
}
