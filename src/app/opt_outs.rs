//! `opt-out`: an administrator opts a person's channel out (or back in),
//! effective at once: what is queued on it stops.

use super::Error;
use crate::domain::Channel;
use crate::domain::states::opt_out_source::ADMINISTRATOR;
use crate::store::operator;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use serde::Serialize;

/// What `opt-out` recorded.
#[derive(Debug, Clone, Serialize)]
pub struct OptOutRecorded {
    pub customer_id: String,
    pub channel: Channel,
    /// `true`: opted out; `false`: opted back in (`--undo`).
    pub opted_out: bool,
    pub source: &'static str,
}

pub async fn set(
    db: &DatabaseConnection,
    customer_id: &str,
    channel: Channel,
    opted_out: bool,
    now: DateTime<Utc>,
) -> Result<OptOutRecorded, Error> {
    let key = customer_id.trim();
    let Some(customer) = operator::customer_by_key(db, key).await? else {
        return Err(Error::Unknown(format!("no customer with id {key}")));
    };
    operator::opt_out(db, customer.id, channel, ADMINISTRATOR, opted_out, now).await?;
    Ok(OptOutRecorded {
        customer_id: customer.customer_id,
        channel,
        opted_out,
        source: ADMINISTRATOR,
    })
}
