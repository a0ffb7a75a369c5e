//! The call list and recording a call's outcome.

use super::Failure;
use crate::config::Config;
use crate::domain::Customer;
use crate::domain::{CallTaskState, Channel, TouchpointState};
use crate::rules::{CallOutcome, Reminder, call_effect, stopped_by_booking};
use crate::store;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::DatabaseConnection;
use serde::Serialize;

/// One call on the list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Call {
    pub id: i64,
    pub due_date: NaiveDate,
    pub customer_id: String,
    pub name: String,
    pub phone: Option<String>,
    pub title: String,
    pub script: String,
    pub last_outcome: Option<String>,
    /// The advisor working it now, when one claimed it.
    pub claimed_by: Option<String>,
}

/// A claim lapses after this long without an outcome.
pub const CLAIM_LAPSES: chrono::Duration = chrono::Duration::minutes(30);

/// The owner's today: call tasks are dated in the owner's days, as the
/// touchpoints they come from.
fn owner_today(owner: Option<&Customer>, config: &Config, now: DateTime<Utc>) -> NaiveDate {
    let tz = owner
        .and_then(|c| crate::domain::parse_timezone(&c.timezone).ok())
        .unwrap_or_else(|| config.default_timezone());
    now.with_timezone(&tz).date_naive()
}

/// The open tasks that are due at `now`: a call that went unanswered waits
/// for the day it was moved to.
pub async fn call_list(
    db: &DatabaseConnection,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<Vec<Call>, Failure> {
    let tasks = store::open_call_tasks(db).await?;
    Ok(tasks
        .into_iter()
        .filter(|(t, c)| t.due_date <= owner_today(c.as_ref(), config, now))
        .map(|(t, c)| Call {
            claimed_by: t
                .claimed_by
                .filter(|_| t.claimed_at.is_some_and(|at| at > now - CLAIM_LAPSES)),
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
        .collect())
}

/// A page of the call list, oldest first (then by number), and how many
/// calls are due in all: what the desk's Today and `GET /api/v1/calls` show.
pub async fn call_page(
    db: &DatabaseConnection,
    config: &Config,
    request: &super::page::PageRequest,
    now: DateTime<Utc>,
) -> Result<(super::page::Page<Call>, usize), Failure> {
    let mut calls = call_list(db, config, now).await?;
    calls.sort_by_key(|c| (c.due_date, c.id));
    let due = calls.len();
    let key = |c: &Call| format!("{}|{:020}", c.due_date, c.id);
    Ok((super::page::page(calls, key, request), due))
}

/// What recording an outcome did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OutcomeReport {
    pub id: i64,
    pub outcome: &'static str,
    /// Reminders of the booked service that were stopped.
    pub cancelled: u64,
    /// The day the call comes back onto the list, when it stays open.
    pub back_on: Option<NaiveDate>,
    /// The person's stored id (for the audit log).
    #[serde(skip)]
    pub owner: i64,
}

/// Records a call's outcome (`rules::call_effect` says what it does): booked
/// stops the remaining reminders of the service the call was about; no answer
/// brings the task back in two days; a wrong number stops SMS and calls.
/// An unknown or closed task is bad input, and nothing changes.
pub async fn record_call_outcome(
    db: &DatabaseConnection,
    config: &Config,
    id: i64,
    outcome: CallOutcome,
    note: Option<String>,
    call_back_on: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<OutcomeReport, Failure> {
    let Some(task) = store::call_task(db, id).await? else {
        return Err(Failure::NotFound(format!("no call task #{id}")));
    };
    if !CallTaskState::Open.is(&task.state) {
        return Err(Failure::Conflict(format!(
            "call task #{id} is already done ({})",
            task.outcome.as_deref().unwrap_or("no outcome")
        )));
    }
    let task_owner = task.customer_id;
    let what = "recording a call outcome";
    let txn = store::begin(db, what).await?;
    let owner = store::customer(&txn, task.customer_id).await?;
    let returns = config.settings.call_returns();
    let effect = call_effect(
        outcome,
        owner_today(owner.as_ref(), config, now),
        &returns,
        call_back_on,
    );
    let mut cancelled = 0;
    if effect.stops_service {
        let carried = store::touchpoints_of_message(&txn, task.message_id).await?;
        let booked: Vec<NaiveDate> = carried.iter().filter_map(|t| t.service_due).collect();
        let mut vehicles: Vec<i64> = carried.iter().map(|t| t.vehicle_id).collect();
        vehicles.sort_unstable();
        vehicles.dedup();
        let reminders: Vec<Reminder> = store::touchpoints_of_vehicles(&txn, &vehicles)
            .await?
            .into_iter()
            // The services are the ones of the carried touchpoints' own cars.
            .filter(|t| {
                carried
                    .iter()
                    .any(|c| c.vehicle_id == t.vehicle_id && c.service_due == t.service_due)
            })
            .map(|t| Reminder {
                id: t.id,
                due_date: t.due_date,
                service_due: t.service_due,
                awaits_visit: t.awaits_visit,
                pending: TouchpointState::OPEN.iter().any(|s| s.is(&t.state)),
            })
            .collect();
        let stop = stopped_by_booking(&booked, &reminders);
        let reason = format!("the owner booked on the call of {}", now.date_naive());
        cancelled = store::cancel_touchpoints(&txn, &stop, &reason, now).await?;
    }
    if effect.opts_out_call {
        store::record_opt_out(
            &txn,
            task.customer_id,
            Channel::Call,
            "do_not_call",
            true,
            now,
        )
        .await?;
    }
    if effect.opts_out_phone {
        store::record_opt_out(
            &txn,
            task.customer_id,
            Channel::Sms,
            "wrong_number",
            true,
            now,
        )
        .await?;
    }
    let effect_back_on = (!effect.done).then_some(effect.due_date).flatten();
    let record = store::CallRecord {
        outcome: outcome.as_str(),
        note,
        done: effect.done,
        due_date: effect.due_date,
    };
    store::save_call_outcome(&txn, task, record, now).await?;
    store::commit(txn, what).await?;
    Ok(OutcomeReport {
        id,
        outcome: outcome.as_str(),
        cancelled,
        back_on: effect_back_on,
        owner: task_owner,
    })
}

/// Claims an open call for `by`, so that no other advisor rings the owner
/// meanwhile. Refused while another advisor's claim is fresh.
pub async fn claim(
    db: &DatabaseConnection,
    id: i64,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Call, Failure> {
    let Some(task) = store::call_task(db, id).await? else {
        return Err(Failure::NotFound(format!("no call task #{id}")));
    };
    if !CallTaskState::Open.is(&task.state) {
        return Err(Failure::Conflict(format!(
            "call task #{id} is already done"
        )));
    }
    if !store::claim_call(db, id, by, now, now - CLAIM_LAPSES).await? {
        let holder = task.claimed_by.unwrap_or_default();
        return Err(Failure::Conflict(format!(
            "call task #{id} is being worked by {holder}"
        )));
    }
    let owner = store::customer(db, task.customer_id).await?;
    Ok(Call {
        id,
        due_date: task.due_date,
        customer_id: owner
            .as_ref()
            .map(|c| c.customer_id.clone())
            .unwrap_or_default(),
        name: owner.as_ref().map(|c| c.name.clone()).unwrap_or_default(),
        phone: owner.and_then(|c| c.phone),
        title: task.title,
        script: task.script,
        last_outcome: task.outcome,
        claimed_by: Some(by.to_string()),
    })
}

/// Gives up `by`'s claim.
pub async fn unclaim(db: &DatabaseConnection, id: i64, by: &str) -> Result<(), Failure> {
    if !store::unclaim_call(db, id, by).await? {
        return Err(Failure::Conflict(format!(
            "call task #{id} is not claimed by {by}"
        )));
    }
    Ok(())
}

/// Refused while another advisor's fresh claim holds the call.
pub async fn check_claim(
    db: &DatabaseConnection,
    id: i64,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(), Failure> {
    if let Some(task) = store::call_task(db, id).await?
        && let Some(holder) = task.claimed_by.filter(|h| h != by)
        && task.claimed_at.is_some_and(|at| at > now - CLAIM_LAPSES)
    {
        return Err(Failure::Conflict(format!(
            "call task #{id} is being worked by {holder}"
        )));
    }
    Ok(())
}

/// The note of an outcome: with a call back, where the owner asked for a
/// time, "call back on DATE at HH:MM" comes first. A time that is not
/// HH:MM, or a day or time given with another outcome, is bad input.
pub fn call_back_note(
    outcome: CallOutcome,
    note: Option<String>,
    on: Option<NaiveDate>,
    at: Option<&str>,
) -> Result<Option<String>, Failure> {
    let note = note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    let at = at.map(str::trim).filter(|a| !a.is_empty());
    if outcome != CallOutcome::CallBack {
        if on.is_some() || at.is_some() {
            return Err(Failure::Data(
                "a day or time to call back goes with the call_back outcome only".into(),
            ));
        }
        return Ok(note);
    }
    let Some(at) = at else { return Ok(note) };
    let time = chrono::NaiveTime::parse_from_str(at, "%H:%M")
        .map_err(|_| Failure::Data(format!("at: '{at}' is not a time (HH:MM)")))?;
    let when = match on {
        Some(day) => format!("call back on {day} at {}", time.format("%H:%M")),
        None => format!("call back at {}", time.format("%H:%M")),
    };
    Ok(Some(match note {
        Some(n) => format!("{when}: {n}"),
        None => when,
    }))
}
