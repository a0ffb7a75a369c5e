//! `opt-out`: an administrator opts a person's channel out (or back in),
//! effective at once: what is queued on it stops.

use super::Failure;
use crate::domain::Channel;
use crate::domain::states::opt_out_source::ADMINISTRATOR;
use crate::store::operator;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use serde::Serialize;

/// What `opt-out` recorded.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OptOutRecorded {
    pub customer_id: String,
    pub channel: Channel,
    /// `true`: opted out; `false`: opted back in (`--undo`).
    pub opted_out: bool,
    pub source: &'static str,
    /// The person's stored id (for the audit log).
    #[serde(skip)]
    pub owner: i64,
}

pub async fn set(
    db: &DatabaseConnection,
    customer_id: &str,
    channel: Channel,
    opted_out: bool,
    now: DateTime<Utc>,
) -> Result<OptOutRecorded, Failure> {
    let key = customer_id.trim();
    let Some(customer) = operator::customer_by_key(db, key).await? else {
        return Err(Failure::NotFound(format!("no customer with id {key}")));
    };
    operator::opt_out(db, customer.id, channel, ADMINISTRATOR, opted_out, now).await?;
    Ok(OptOutRecorded {
        customer_id: customer.customer_id,
        channel,
        opted_out,
        source: ADMINISTRATOR,
        owner: customer.id,
    })
}

/// Whether a person of this id is stored (an unsubscribe link names one).
pub async fn customer_exists(db: &DatabaseConnection, customer_id: i64) -> Result<bool, Failure> {
    Ok(crate::store::customer(db, customer_id).await?.is_some())
}

/// A one-click unsubscribe link was followed: the person is opted out of
/// the channel at once (logged under `source`; repeating it logs nothing
/// more). `None`: nobody is stored under the link any more.
pub async fn by_link(
    db: &DatabaseConnection,
    customer_id: i64,
    channel: Channel,
    source: &str,
    now: DateTime<Utc>,
) -> Result<Option<bool>, Failure> {
    let Some(customer) = crate::store::customer(db, customer_id).await? else {
        return Ok(None);
    };
    let already = match channel {
        Channel::Email => customer.opted_out_email,
        _ => customer.opted_out_sms,
    };
    // Mail clients may POST more than once: the log keeps one entry.
    if !already {
        crate::store::record_opt_out(db, customer.id, channel, source, true, now).await?;
    }
    Ok(Some(!already))
}

/// The people stored under a phone number (E.164).
pub async fn people_at(db: &DatabaseConnection, phone: &str) -> Result<usize, Failure> {
    Ok(crate::store::customers_by_phone(db, phone).await?.len())
}

/// An SMS keyword from a phone number: STOP (`stop`) opts every person at
/// that number out of SMS (and so calls), START back in, in one
/// transaction, logged under `source`. Returns how many people are at it.
pub async fn by_sms_keyword(
    db: &DatabaseConnection,
    phone: &str,
    stop: bool,
    source: &str,
    now: DateTime<Utc>,
) -> Result<usize, Failure> {
    let what = "recording an SMS keyword";
    let txn = crate::store::begin(db, what).await?;
    let people = crate::store::customers_by_phone(&txn, phone).await?;
    for c in people.iter().filter(|c| c.opted_out_sms != stop) {
        crate::store::record_opt_out(&txn, c.id, Channel::Sms, source, stop, now).await?;
    }
    crate::store::commit(txn, what).await?;
    Ok(people.len())
}
