//! The call list and call outcomes.

use super::{Failure, open, print};
use crate::cli::CallOutcome;
use crate::config::Config;
use crate::store::entities::{call_task, customer, touchpoint};
use crate::store::{self, Context};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};
use serde::Serialize;
use std::fmt::Write;

#[derive(Serialize)]
struct Call {
    id: i64,
    due_date: NaiveDate,
    customer_id: String,
    name: String,
    phone: Option<String>,
    title: String,
    script: String,
    last_outcome: Option<String>,
}

/// The owner's today: call tasks are dated in the owner's days, as the
/// touchpoints they come from.
fn owner_today(owner: Option<&customer::Model>, config: &Config, now: DateTime<Utc>) -> NaiveDate {
    let tz = owner
        .and_then(|c| crate::domain::parse_timezone(&c.timezone).ok())
        .unwrap_or_else(|| config.default_timezone());
    now.with_timezone(&tz).date_naive()
}

/// The open tasks that are due: a call that went unanswered waits for the
/// day it was moved to.
pub async fn list(config: &Config, json: bool) -> Result<(), Failure> {
    let db = open(config).await?;
    let now = Utc::now();
    let tasks = call_task::Entity::find()
        .filter(call_task::Column::State.eq("open"))
        .order_by_asc(call_task::Column::DueDate)
        .order_by_asc(call_task::Column::Id)
        .find_also_related(customer::Entity)
        .all(&db)
        .await
        .context("loading the call list")?;
    let calls: Vec<Call> = tasks
        .into_iter()
        .filter(|(t, c)| t.due_date <= owner_today(c.as_ref(), config, now))
        .map(|(t, c)| Call {
            id: t.id,
            due_date: t.due_date,
            customer_id: c
                .as_ref()
                .map(|c| c.customer_id.clone())
                .unwrap_or_default(),
            name: c.as_ref().map(|c| c.name.clone()).unwrap_or_default(),
            phone: c.and_then(|c| c.phone),
            title: t.title,
            script: t.script,
            last_outcome: t.outcome,
        })
        .collect();
    print(json, &calls, |calls| {
        let mut s = format!("{} open calls\n", calls.len());
        for c in calls {
            let _ = writeln!(
                s,
                "#{:<5} {}  {:<24} {:<16} {}{}\n       {}",
                c.id,
                c.due_date,
                c.name,
                c.phone.as_deref().unwrap_or("(no phone)"),
                c.title,
                c.last_outcome
                    .as_deref()
                    .map(|o| format!(" (last: {o})"))
                    .unwrap_or_default(),
                c.script
            );
        }
        s
    })
}

/// Records a call's outcome. Booked stops the remaining reminders of the
/// service the call was about; no answer brings the task back in two days;
/// a wrong number stops SMS and calls to it.
pub async fn record(
    config: &Config,
    id: i64,
    outcome: CallOutcome,
    note: Option<String>,
) -> Result<(), Failure> {
    let db = open(config).await?;
    let now = Utc::now();
    let Some(task) = call_task::Entity::find_by_id(id)
        .one(&db)
        .await
        .context("loading the call task")?
    else {
        return Err(Failure::Data(format!("no call task #{id}")));
    };
    if task.state != "open" {
        return Err(Failure::Data(format!(
            "call task #{id} is already done ({})",
            task.outcome.as_deref().unwrap_or("no outcome")
        )));
    }
    let txn = db.begin().await.context("recording a call outcome")?;
    let mut active: call_task::ActiveModel = task.clone().into();
    active.outcome = Set(Some(outcome.as_str().into()));
    active.note = Set(note);
    active.outcome_at = Set(Some(now));
    let mut cancelled = 0;
    match outcome {
        CallOutcome::NoAnswer => {
            let owner = store::customer(&txn, task.customer_id).await?;
            let today = owner_today(owner.as_ref(), config, now);
            active.due_date = Set(crate::predict::add_days(today, 2));
        }
        CallOutcome::Booked => {
            active.state = Set("done".into());
            let carried = touchpoint::Entity::find()
                .filter(touchpoint::Column::MessageId.eq(task.message_id))
                .all(&txn)
                .await
                .context("loading the call's touchpoints")?;
            for t in carried {
                let Some(service_due) = t.service_due else {
                    continue;
                };
                let reason = format!("the owner booked on the call of {}", now.date_naive());
                let done = touchpoint::Entity::update_many()
                    .col_expr(touchpoint::Column::State, Expr::value("cancelled"))
                    .col_expr(touchpoint::Column::Reason, Expr::value(reason))
                    .col_expr(touchpoint::Column::UpdatedAt, Expr::value(now))
                    .filter(touchpoint::Column::VehicleId.eq(t.vehicle_id))
                    .filter(touchpoint::Column::ServiceDue.eq(service_due))
                    .filter(touchpoint::Column::AwaitsVisit.eq(false))
                    .filter(touchpoint::Column::DueDate.lte(service_due))
                    .filter(touchpoint::Column::State.is_in(["planned", "deferred"]))
                    .exec(&txn)
                    .await
                    .context("stopping the booked service's reminders")?;
                cancelled += done.rows_affected;
            }
        }
        CallOutcome::Declined => {
            active.state = Set("done".into());
        }
        CallOutcome::WrongNumber => {
            active.state = Set("done".into());
            store::record_opt_out(
                &txn,
                task.customer_id,
                crate::domain::Channel::Sms,
                "wrong_number",
                true,
                now,
            )
            .await?;
        }
    }
    active
        .update(&txn)
        .await
        .context("recording a call outcome")?;
    txn.commit().await.context("recording a call outcome")?;
    println!(
        "call #{id}: {}{}",
        outcome.as_str(),
        if cancelled > 0 {
            format!("; {cancelled} pending reminder(s) of the service stopped")
        } else {
            String::new()
        }
    );
    Ok(())
}
