//! What the Overview page counts: messages that went out per week, what is
//! due per week, the reasons of what did not go out, call outcomes,
//! opt-outs, and the predictions that visits have since met. Each is one
//! aggregate query; the application turns the counts into the page.

use super::entities::{call_task, customer, message, opt_out, touchpoint};
use super::{Context, StoreError};
use crate::domain::TouchpointState;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

/// A count per (week, channel): the week is the index into the bounds.
pub type WeekCounts = Vec<(i32, String, i64)>;

/// The week of `column` between consecutive `bounds` (ascending; the last
/// is the end, excluded), as an index, for values at or after the first.
fn week_of<T>(column: impl sea_orm::IntoSimpleExpr + Clone, bounds: &[T]) -> CaseStatement
where
    T: Into<sea_orm::Value> + Clone,
{
    let mut case = CaseStatement::new();
    for (i, end) in bounds.iter().enumerate().skip(1) {
        case = case.case(
            Expr::expr(column.clone().into_simple_expr()).lt(end.clone()),
            Expr::val(i as i32 - 1),
        );
    }
    case.finally(Expr::val(-1))
}

/// The messages (and call tasks) that went out, per week of `bounds` and
/// channel.
pub async fn sent_by_week<C: ConnectionTrait>(
    db: &C,
    bounds: &[DateTime<Utc>],
) -> Result<WeekCounts, StoreError> {
    let (Some(first), Some(last)) = (bounds.first(), bounds.last()) else {
        return Ok(Vec::new());
    };
    let week = week_of(message::Column::SentAt, bounds);
    message::Entity::find()
        .select_only()
        .column_as(Expr::expr(week), "week")
        .column(message::Column::Channel)
        .column_as(message::Column::Id.count(), "n")
        .filter(message::Column::SentAt.gte(*first))
        .filter(message::Column::SentAt.lt(*last))
        .group_by(Expr::col("week"))
        .group_by(message::Column::Channel)
        .into_tuple()
        .all(db)
        .await
        .context("counting the messages sent per week")
}

/// The touchpoints still to go out (planned, deferred, on hold), per week
/// of their due date in `bounds` and channel.
pub async fn due_by_week<C: ConnectionTrait>(
    db: &C,
    bounds: &[NaiveDate],
) -> Result<WeekCounts, StoreError> {
    let (Some(first), Some(last)) = (bounds.first(), bounds.last()) else {
        return Ok(Vec::new());
    };
    let open = [
        TouchpointState::Planned,
        TouchpointState::Deferred,
        TouchpointState::OnHold,
    ];
    let week = week_of(touchpoint::Column::DueDate, bounds);
    touchpoint::Entity::find()
        .select_only()
        .column_as(Expr::expr(week), "week")
        .column(touchpoint::Column::Channel)
        .column_as(touchpoint::Column::Id.count(), "n")
        .filter(touchpoint::Column::State.is_in(open.map(|s| s.as_str())))
        .filter(touchpoint::Column::DueDate.gte(*first))
        .filter(touchpoint::Column::DueDate.lt(*last))
        .group_by(Expr::col("week"))
        .group_by(touchpoint::Column::Channel)
        .into_tuple()
        .all(db)
        .await
        .context("counting the touchpoints due per week")
}

/// The touchpoints in `states` due from `from` through `to`, counted per
/// (channel, reason).
pub async fn reasons_between<C: ConnectionTrait>(
    db: &C,
    states: &[TouchpointState],
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(String, Option<String>, i64)>, StoreError> {
    touchpoint::Entity::find()
        .select_only()
        .column(touchpoint::Column::Channel)
        .column(touchpoint::Column::Reason)
        .column_as(touchpoint::Column::Id.count(), "n")
        .filter(touchpoint::Column::State.is_in(states.iter().map(|s| s.as_str())))
        .filter(touchpoint::Column::DueDate.between(from, to))
        .group_by(touchpoint::Column::Channel)
        .group_by(touchpoint::Column::Reason)
        .into_tuple()
        .all(db)
        .await
        .context("counting why touchpoints did not go out")
}

/// The call outcomes recorded since `since`, per outcome.
pub async fn call_outcomes_since<C: ConnectionTrait>(
    db: &C,
    since: DateTime<Utc>,
) -> Result<Vec<(String, i64)>, StoreError> {
    call_task::Entity::find()
        .select_only()
        .column(call_task::Column::Outcome)
        .column_as(call_task::Column::Id.count(), "n")
        .filter(call_task::Column::OutcomeAt.gte(since))
        .filter(call_task::Column::Outcome.is_not_null())
        .group_by(call_task::Column::Outcome)
        .into_tuple()
        .all(db)
        .await
        .context("counting call outcomes")
}

/// The opt-outs (not the opt-ins) recorded since `since`, per channel.
pub async fn opt_outs_since<C: ConnectionTrait>(
    db: &C,
    since: DateTime<Utc>,
) -> Result<Vec<(String, i64)>, StoreError> {
    opt_out::Entity::find()
        .select_only()
        .column(opt_out::Column::Channel)
        .column_as(opt_out::Column::Id.count(), "n")
        .filter(opt_out::Column::At.gte(since))
        .filter(opt_out::Column::OptedOut.eq(true))
        .group_by(opt_out::Column::Channel)
        .into_tuple()
        .all(db)
        .await
        .context("counting opt-outs")
}

/// How many customers there are, and how many are opted out of email, SMS
/// and calls now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OptedOut {
    pub customers: i64,
    pub email: i64,
    pub sms: i64,
    pub call: i64,
}

pub async fn opted_out_now<C: ConnectionTrait>(db: &C) -> Result<OptedOut, StoreError> {
    // COUNT of a CASE without ELSE: a bigint on every backend (SUM would
    // be PostgreSQL's numeric).
    let ones = |c: customer::Column| {
        Expr::expr(CaseStatement::new().case(Expr::col(c).eq(true), Expr::val(1i64))).count()
    };
    let row: Option<(i64, i64, i64, i64)> = customer::Entity::find()
        .select_only()
        .column_as(customer::Column::Id.count(), "n")
        .column_as(ones(customer::Column::OptedOutEmail), "email")
        .column_as(ones(customer::Column::OptedOutSms), "sms")
        .column_as(ones(customer::Column::OptedOutCall), "call")
        .into_tuple()
        .one(db)
        .await
        .context("counting opted-out customers")?;
    Ok(row
        .map(|(customers, email, sms, call)| OptedOut {
            customers,
            email,
            sms,
            call,
        })
        .unwrap_or_default())
}

/// The predictions a visit met: the service due date each fulfilled
/// touchpoint was planned for, with its reason (which names the visit's
/// day), one per vehicle and prediction, for touchpoints due from `from`.
pub async fn fulfilled_predictions<C: ConnectionTrait>(
    db: &C,
    fulfilled_prefix: &str,
    from: NaiveDate,
) -> Result<Vec<(NaiveDate, String)>, StoreError> {
    let rows: Vec<(i64, NaiveDate, Option<String>)> = touchpoint::Entity::find()
        .select_only()
        .column(touchpoint::Column::VehicleId)
        .column(touchpoint::Column::ServiceDue)
        .column(touchpoint::Column::Reason)
        .filter(touchpoint::Column::State.eq(TouchpointState::Cancelled.as_str()))
        .filter(touchpoint::Column::DueDate.gte(from))
        .filter(touchpoint::Column::ServiceDue.is_not_null())
        .filter(touchpoint::Column::Reason.starts_with(fulfilled_prefix))
        .group_by(touchpoint::Column::VehicleId)
        .group_by(touchpoint::Column::ServiceDue)
        .group_by(touchpoint::Column::Reason)
        .into_tuple()
        .all(db)
        .await
        .context("reading the predictions visits met")?;
    Ok(rows
        .into_iter()
        .filter_map(|(_, due, reason)| Some((due, reason?)))
        .collect())
}
