//! What the operator's use cases (`crate::app`) read and write: visits
//! recorded by hand, opt-outs, touchpoints held, released or skipped, held
//! messages approved or discarded, a person's timeline.

use super::entities::{customer, message, touchpoint, vehicle};
use super::import::{ReadingData, bump_vehicles, upsert_readings};
use super::{Context, StoreError};
use crate::domain::{Customer, Message, MessageState, Touchpoint, TouchpointState, Vehicle};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use std::collections::BTreeSet;

/// A customer by the dealer's customer id.
pub async fn customer_by_key(
    db: &DatabaseConnection,
    customer_id: &str,
) -> Result<Option<Customer>, StoreError> {
    customer::Entity::find()
        .filter(customer::Column::CustomerId.eq(customer_id))
        .one(db)
        .await
        .context("loading a customer")
        .map(super::record)
}

/// Stores one reading (replacing the vehicle's reading of that day and
/// kind) and marks the vehicle's facts changed, so that planning re-plans it.
pub async fn record_visit(
    db: &DatabaseConnection,
    vehicle_id: i64,
    date: NaiveDate,
    odometer_km: i64,
    kind: crate::domain::VisitKind,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let txn = db.begin().await.context("recording a visit")?;
    upsert_readings(
        &txn,
        vec![ReadingData {
            vehicle_id,
            date,
            odometer_km,
            kind: kind.as_str(),
        }],
        now,
    )
    .await?;
    bump_vehicles(&txn, &[vehicle_id], now).await?;
    txn.commit().await.context("recording a visit")
}

/// Records an opt-out or opt-in ([`super::record_opt_out`]) in a
/// transaction of its own.
pub async fn opt_out(
    db: &DatabaseConnection,
    customer_id: i64,
    channel: crate::domain::Channel,
    source: &str,
    opted_out: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let txn = db.begin().await.context("recording an opt-out")?;
    super::record_opt_out(&txn, customer_id, channel, source, opted_out, now).await?;
    txn.commit().await.context("recording an opt-out")
}

/// Every touchpoint of these vehicles, by date (then as planned).
pub async fn touchpoints_of_vehicles(
    db: &DatabaseConnection,
    vehicle_ids: &[i64],
) -> Result<Vec<Touchpoint>, StoreError> {
    touchpoint::Entity::find()
        .filter(touchpoint::Column::VehicleId.is_in(vehicle_ids.iter().copied()))
        .order_by_asc(touchpoint::Column::DueDate)
        .order_by_asc(touchpoint::Column::Id)
        .all(db)
        .await
        .context("loading touchpoints")
        .map(super::records)
}

/// A person's vehicles, by VIN.
pub async fn vehicles_of(
    db: &DatabaseConnection,
    customer_id: i64,
) -> Result<Vec<Vehicle>, StoreError> {
    vehicle::Entity::find()
        .filter(vehicle::Column::CustomerId.eq(customer_id))
        .order_by_asc(vehicle::Column::Vin)
        .all(db)
        .await
        .context("loading a person's vehicles")
        .map(super::records)
}

/// A touchpoint by its dedup key.
pub async fn touchpoint_by_key(
    db: &DatabaseConnection,
    key: &str,
) -> Result<Option<Touchpoint>, StoreError> {
    touchpoint::Entity::find()
        .filter(touchpoint::Column::DedupKey.eq(key))
        .one(db)
        .await
        .context("loading a touchpoint")
        .map(super::record)
}

/// Moves a touchpoint that is still in one of `from` to `to` with `reason`
/// (its next attempt cleared); `false` when it was no longer in `from`.
/// With `replan`, its vehicle's facts are marked changed in the same
/// transaction, so that the next planning pass looks at it again.
pub async fn move_touchpoint(
    db: &DatabaseConnection,
    t: &Touchpoint,
    from: &[TouchpointState],
    to: TouchpointState,
    reason: Option<String>,
    replan: bool,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let txn = db.begin().await.context("changing a touchpoint")?;
    let done = touchpoint::Entity::update_many()
        .col_expr(touchpoint::Column::State, Expr::value(to.as_str()))
        .col_expr(touchpoint::Column::Reason, Expr::value(reason))
        .col_expr(
            touchpoint::Column::NextAttemptAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(touchpoint::Column::UpdatedAt, Expr::value(now))
        .filter(touchpoint::Column::Id.eq(t.id))
        .filter(touchpoint::Column::State.is_in(from.iter().map(|s| s.as_str())))
        .exec(&txn)
        .await
        .context("changing a touchpoint")?;
    if done.rows_affected != 1 {
        txn.rollback().await.context("changing a touchpoint")?;
        return Ok(false);
    }
    if replan {
        bump_vehicles(&txn, &[t.vehicle_id], now).await?;
    }
    txn.commit().await.context("changing a touchpoint")?;
    Ok(true)
}

/// Makes a touchpoint that is still in one of `from` due at once: deferred
/// until `now`, dated `today`, with `reason`; `false` when it was no longer
/// in `from`.
pub async fn send_now(
    db: &DatabaseConnection,
    t: &Touchpoint,
    from: &[TouchpointState],
    today: NaiveDate,
    reason: String,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = touchpoint::Entity::update_many()
        .col_expr(
            touchpoint::Column::State,
            Expr::value(TouchpointState::Deferred.as_str()),
        )
        .col_expr(touchpoint::Column::Reason, Expr::value(reason))
        .col_expr(touchpoint::Column::DueDate, Expr::value(today))
        .col_expr(touchpoint::Column::NextAttemptAt, Expr::value(now))
        .col_expr(touchpoint::Column::UpdatedAt, Expr::value(now))
        .filter(touchpoint::Column::Id.eq(t.id))
        .filter(touchpoint::Column::State.is_in(from.iter().map(|s| s.as_str())))
        .exec(db)
        .await
        .context("sending a touchpoint now")?;
    Ok(done.rows_affected == 1)
}

/// A message held for review, with its owner and the touchpoints it carries.
#[derive(Debug, Clone)]
pub struct HeldMessage {
    pub message: Message,
    pub customer: Option<Customer>,
    pub touchpoint_keys: Vec<String>,
}

/// The messages held for review, oldest first.
pub async fn held_messages(db: &DatabaseConnection) -> Result<Vec<HeldMessage>, StoreError> {
    let messages = message::Entity::find()
        .filter(message::Column::State.is_in(MessageState::FOR_REVIEW.map(|m| m.as_str())))
        .order_by_asc(message::Column::Id)
        .all(db)
        .await
        .context("loading held messages")?;
    let mut out = Vec::with_capacity(messages.len());
    for m in messages {
        out.push(with_parts(db, m).await?);
    }
    Ok(out)
}

/// A message by id, with its owner and touchpoints.
pub async fn message_by_id(
    db: &DatabaseConnection,
    id: i64,
) -> Result<Option<HeldMessage>, StoreError> {
    match message::Entity::find_by_id(id)
        .one(db)
        .await
        .context("loading a message")?
    {
        Some(m) => Ok(Some(with_parts(db, m).await?)),
        None => Ok(None),
    }
}

async fn with_parts(
    db: &DatabaseConnection,
    message: message::Model,
) -> Result<HeldMessage, StoreError> {
    let customer = super::customer(db, message.customer_id).await?;
    let touchpoint_keys = touchpoint::Entity::find()
        .filter(touchpoint::Column::MessageId.eq(message.id))
        .order_by_asc(touchpoint::Column::Id)
        .all(db)
        .await
        .context("loading a message's touchpoints")?
        .into_iter()
        .map(|t| t.dedup_key)
        .collect();
    Ok(HeldMessage {
        message: message.into(),
        customer,
        touchpoint_keys,
    })
}

/// Lets a held message go out on the next pass: it waits for a retry now
/// (the retry claims it once). Its touchpoints stay held until the send's
/// outcome settles them. `false` when it was no longer held.
pub async fn approve_message(
    db: &DatabaseConnection,
    id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = message::Entity::update_many()
        .col_expr(
            message::Column::State,
            Expr::value(MessageState::Retry.as_str()),
        )
        .col_expr(message::Column::Reason, Expr::value(reason))
        .col_expr(message::Column::NextAttemptAt, Expr::value(now))
        .col_expr(
            message::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(message::Column::UpdatedAt, Expr::value(now))
        .filter(message::Column::Id.eq(id))
        .filter(message::Column::State.is_in(MessageState::FOR_REVIEW.map(|m| m.as_str())))
        .exec(db)
        .await
        .context("approving a held message")?;
    Ok(done.rows_affected == 1)
}

/// Discards a held message: it ends `discarded`, its touchpoints
/// `cancelled`, both with `reason`. `false` when it was no longer held.
pub async fn discard_message(
    db: &DatabaseConnection,
    id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let txn = db.begin().await.context("discarding a held message")?;
    let done = message::Entity::update_many()
        .col_expr(
            message::Column::State,
            Expr::value(MessageState::Discarded.as_str()),
        )
        .col_expr(message::Column::Reason, Expr::value(reason))
        .col_expr(
            message::Column::NextAttemptAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(message::Column::UpdatedAt, Expr::value(now))
        .filter(message::Column::Id.eq(id))
        .filter(message::Column::State.is_in(MessageState::FOR_REVIEW.map(|m| m.as_str())))
        .exec(&txn)
        .await
        .context("discarding a held message")?;
    if done.rows_affected != 1 {
        txn.rollback().await.context("discarding a held message")?;
        return Ok(false);
    }
    touchpoint::Entity::update_many()
        .col_expr(
            touchpoint::Column::State,
            Expr::value(TouchpointState::Cancelled.as_str()),
        )
        .col_expr(touchpoint::Column::Reason, Expr::value(reason))
        .col_expr(touchpoint::Column::UpdatedAt, Expr::value(now))
        .filter(touchpoint::Column::MessageId.eq(id))
        .exec(&txn)
        .await
        .context("cancelling a discarded message's touchpoints")?;
    txn.commit().await.context("discarding a held message")?;
    Ok(true)
}

/// `column` starts with `text`: a range on SQLite (binary order, so the
/// index serves it), `LIKE 'text%'` on PostgreSQL (whatever the collation).
fn starts_with(
    column: impl sea_orm::sea_query::IntoColumnRef + Copy,
    text: &str,
    backend: sea_orm::DbBackend,
) -> sea_orm::Condition {
    use sea_orm::Condition;
    use sea_orm::sea_query::{ExprTrait, LikeExpr};
    match backend {
        sea_orm::DbBackend::Sqlite => Condition::all()
            .add(Expr::col(column).gte(text))
            .add(Expr::col(column).lt(format!("{text}\u{10FFFF}"))),
        _ => {
            let escaped = text
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            Condition::all()
                .add(Expr::col(column).like(LikeExpr::new(format!("{escaped}%")).escape('\\')))
        }
    }
}

/// The first `limit` customer ids (the dealer's) after `after` with a term
/// starting with `prefix` and, for each of `also`, one starting with it.
/// The index hands them out in order; only the page crosses over.
async fn keys_with_terms(
    db: &DatabaseConnection,
    prefix: &str,
    also: &[String],
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<String>, StoreError> {
    use super::entities::customer_term;
    use sea_orm::QuerySelect;
    use sea_orm::sea_query::Query;
    let backend = super::backend(db);
    let mut find = customer_term::Entity::find()
        .select_only()
        .column(customer_term::Column::CustomerKey)
        .distinct()
        .filter(starts_with(customer_term::Column::Term, prefix, backend));
    for other in also {
        find = find.filter(
            customer_term::Column::CustomerKey.in_subquery(
                Query::select()
                    .column(customer_term::Column::CustomerKey)
                    .from(customer_term::Entity)
                    .cond_where(starts_with(customer_term::Column::Term, other, backend))
                    .to_owned(),
            ),
        );
    }
    if let Some(after) = after {
        find = find.filter(customer_term::Column::CustomerKey.gt(after));
    }
    find.order_by_asc(customer_term::Column::CustomerKey)
        .limit(limit)
        .into_tuple::<String>()
        .all(db)
        .await
        .context("searching customers")
}

/// People found by `q` (`migration::terms`): every word of it starting a
/// word of their name or email, or it starting their email address, the
/// end of their phone number (four digits or more), a vehicle's VIN, or
/// being their customer id. All people when `q` is empty. By customer id,
/// after `after`, at most `limit`.
pub async fn search_customers(
    db: &DatabaseConnection,
    q: &str,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Customer>, StoreError> {
    use sea_orm::{PaginatorTrait, QuerySelect};
    let q = q.trim();
    if q.is_empty() {
        let mut find = customer::Entity::find();
        if let Some(after) = after {
            find = find.filter(customer::Column::CustomerId.gt(after));
        }
        return find
            .order_by_asc(customer::Column::CustomerId)
            .limit(limit)
            .all(db)
            .await
            .context("searching customers")
            .map(super::records);
    }
    // Each way of being found gives its first page of keys (from the
    // indexes alone); the page is the first of their union.
    let mut found: BTreeSet<String> = BTreeSet::new();
    let words: Vec<String> = migration::terms::words(q).collect();
    if let Some((first, rest)) = words.split_first() {
        found.extend(keys_with_terms(db, first, rest, after, limit).await?);
    }
    // An address, or its start (unless that is the one word just looked up:
    // names and addresses share the terms).
    let lower = q.to_lowercase();
    let same_as_words = words.len() == 1 && words[0] == lower;
    if !same_as_words && !lower.contains(char::is_whitespace) && lower.len() >= 3 {
        found.extend(keys_with_terms(db, &lower, &[], after, limit).await?);
    }
    // The number's end: a national trunk 0 (or an international 00) typed
    // in front is not part of it.
    let typed: String = q.chars().filter(char::is_ascii_digit).collect();
    let digits: String = typed.trim_start_matches('0').chars().rev().collect();
    if digits.len() >= 4 {
        found.extend(keys_with_terms(db, &format!("#{digits}"), &[], after, limit).await?);
    }
    let vin: String = q
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    if vin.len() >= 3 {
        let backend = super::backend(db);
        let mut owners = vehicle::Entity::find()
            .select_only()
            .column_as(customer::Column::CustomerId, "key")
            .distinct()
            .inner_join(customer::Entity)
            .filter(starts_with(vehicle::Column::Vin, &vin, backend));
        if let Some(after) = after {
            owners = owners.filter(customer::Column::CustomerId.gt(after));
        }
        let owners: Vec<String> = owners
            .order_by_asc(customer::Column::CustomerId)
            .limit(limit)
            .into_tuple::<String>()
            .all(db)
            .await
            .context("searching customers")?;
        found.extend(owners);
    }
    let exact = customer::Entity::find()
        .filter(customer::Column::CustomerId.eq(q))
        .count(db)
        .await
        .context("searching customers")?;
    if exact > 0 {
        found.insert(q.to_string());
    }
    let page: Vec<String> = found
        .into_iter()
        .filter(|k| after.is_none_or(|a| k.as_str() > a))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    customer::Entity::find()
        .filter(customer::Column::CustomerId.is_in(page))
        .order_by_asc(customer::Column::CustomerId)
        .limit(limit)
        .all(db)
        .await
        .context("searching customers")
        .map(super::records)
}

/// The VINs of each of these people's vehicles.
pub async fn vins_of(
    db: &DatabaseConnection,
    customer_ids: &[i64],
) -> Result<std::collections::HashMap<i64, Vec<String>>, StoreError> {
    let mut out: std::collections::HashMap<i64, Vec<String>> = std::collections::HashMap::new();
    for chunk in customer_ids.chunks(500) {
        let rows = vehicle::Entity::find()
            .filter(vehicle::Column::CustomerId.is_in(chunk.iter().copied()))
            .order_by_asc(vehicle::Column::Vin)
            .all(db)
            .await
            .context("loading people's vehicles")?;
        for v in rows {
            out.entry(v.customer_id).or_default().push(v.vin);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use migration::terms::customer_terms;

    #[test]
    fn people_are_found_by_words_their_address_and_their_numbers_end() {
        let t = customer_terms(
            "Anna-Lena Müller",
            Some("Anna.Mueller@Example.com"),
            Some("+49 151 1234-5678"),
        );
        for want in [
            "anna",
            "lena",
            "müller",
            "anna.mueller@example.com",
            "#8765432115194",
        ] {
            assert!(t.contains(&want.to_string()), "{want}: {t:?}");
        }
        assert_eq!(t.iter().filter(|w| *w == "anna").count(), 1);
        assert_eq!(t.len(), 5, "{t:?}");
        assert_eq!(customer_terms("Jo", None, None), ["jo"]);
    }
}
