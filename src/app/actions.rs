//! The actions a person takes, from the desk, the API or the command line:
//! each runs its use case and writes who did what, when, from where, before
//! and after, to the audit log, which the person's timeline shows.

use super::people::{Act, Change};
use super::{Failure, calls, held, opt_outs, touchpoints, visits};
use crate::config::Config;
use crate::domain::{Channel, Permission};
use crate::rules::CallOutcome;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

/// Refused unless the actor's role grants `what`.
pub fn require(act: &Act<'_>, what: Permission) -> Result<(), Failure> {
    if act.by.role.may(what) {
        Ok(())
    } else {
        Err(Failure::Forbidden(format!(
            "{} ({}) may not do this",
            act.by.name, act.by.role
        )))
    }
}

async fn log(
    db: &DatabaseConnection,
    act: &Act<'_>,
    change: Change,
    now: DateTime<Utc>,
) -> Result<(), Failure> {
    act.log(db, change, now).await?;
    Ok(())
}

fn moved_change(action: &str, m: &touchpoints::Moved) -> Change {
    Change {
        action: action.into(),
        subject: m.key.clone(),
        customer: Some(m.owner),
        before: Some(m.from.clone()),
        after: Some(match &m.reason {
            Some(r) => format!("{}: {r}", m.state),
            None => m.state.to_string(),
        }),
    }
}

pub async fn hold(
    db: &DatabaseConnection,
    act: &Act<'_>,
    key: &str,
    why: Option<&str>,
    now: DateTime<Utc>,
) -> Result<touchpoints::Moved, Failure> {
    require(act, Permission::Act)?;
    let m = touchpoints::hold(db, key, &act.by.name, why, now).await?;
    log(db, act, moved_change("hold", &m), now).await?;
    Ok(m)
}

pub async fn release(
    db: &DatabaseConnection,
    act: &Act<'_>,
    key: &str,
    now: DateTime<Utc>,
) -> Result<touchpoints::Moved, Failure> {
    require(act, Permission::Act)?;
    let m = touchpoints::release(db, key, now).await?;
    log(db, act, moved_change("release", &m), now).await?;
    Ok(m)
}

pub async fn skip(
    db: &DatabaseConnection,
    act: &Act<'_>,
    key: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<touchpoints::Moved, Failure> {
    require(act, Permission::Act)?;
    let m = touchpoints::skip(db, key, &act.by.name, reason, now).await?;
    log(db, act, moved_change("skip", &m), now).await?;
    Ok(m)
}

pub async fn send_now(
    db: &DatabaseConnection,
    config: &Config,
    act: &Act<'_>,
    key: &str,
    now: DateTime<Utc>,
) -> Result<touchpoints::Moved, Failure> {
    require(act, Permission::Act)?;
    let m = touchpoints::send_now(db, config, key, &act.by.name, now).await?;
    log(db, act, moved_change("send_now", &m), now).await?;
    Ok(m)
}

pub async fn approve(
    db: &DatabaseConnection,
    act: &Act<'_>,
    id: i64,
    now: DateTime<Utc>,
) -> Result<held::Reviewed, Failure> {
    require(act, Permission::Approve)?;
    let r = held::approve(db, id, &act.by.name, now).await?;
    log(db, act, reviewed_change("approve", &r), now).await?;
    Ok(r)
}

pub async fn discard(
    db: &DatabaseConnection,
    act: &Act<'_>,
    id: i64,
    why: Option<&str>,
    now: DateTime<Utc>,
) -> Result<held::Reviewed, Failure> {
    require(act, Permission::Approve)?;
    let r = held::discard(db, id, &act.by.name, why, now).await?;
    log(db, act, reviewed_change("discard", &r), now).await?;
    Ok(r)
}

fn reviewed_change(action: &str, r: &held::Reviewed) -> Change {
    Change {
        action: action.into(),
        subject: format!("message {}", r.id),
        customer: r.owner,
        before: Some("held".into()),
        after: Some(format!("{}: {}", r.state, r.reason)),
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn call_outcome(
    db: &DatabaseConnection,
    config: &Config,
    act: &Act<'_>,
    id: i64,
    outcome: CallOutcome,
    note: Option<String>,
    call_back_on: Option<chrono::NaiveDate>,
    now: DateTime<Utc>,
) -> Result<calls::OutcomeReport, Failure> {
    require(act, Permission::Act)?;
    let after = match &note {
        Some(n) => format!("{}: {n}", outcome.as_str()),
        None => outcome.as_str().to_string(),
    };
    calls::check_claim(db, id, &act.by.name, now).await?;
    let r = calls::record_call_outcome(db, config, id, outcome, note, call_back_on, now).await?;
    let change = Change {
        action: "call_outcome".into(),
        subject: format!("call {id}"),
        customer: Some(r.owner),
        before: Some("open".into()),
        after: Some(after),
    };
    log(db, act, change, now).await?;
    Ok(r)
}

/// Claims a call for the actor while they work it.
pub async fn claim_call(
    db: &DatabaseConnection,
    act: &Act<'_>,
    id: i64,
    now: DateTime<Utc>,
) -> Result<calls::Call, Failure> {
    require(act, Permission::Act)?;
    calls::claim(db, id, &act.by.name, now).await
}

/// Gives up the actor's claim on a call.
pub async fn unclaim_call(db: &DatabaseConnection, act: &Act<'_>, id: i64) -> Result<(), Failure> {
    require(act, Permission::Act)?;
    calls::unclaim(db, id, &act.by.name).await
}

pub async fn add_visit(
    db: &DatabaseConnection,
    config: &Config,
    act: &Act<'_>,
    visit: visits::NewVisit<'_>,
    now: DateTime<Utc>,
) -> Result<visits::VisitAdded, Failure> {
    require(act, Permission::Act)?;
    let v = visits::add(db, config, visit, now).await?;
    if !v.unchanged {
        let change = Change {
            action: "visit".into(),
            subject: v.vin.clone(),
            customer: Some(v.owner),
            before: None,
            after: Some(format!(
                "{} {} on {} at {} km; {} reminder(s) ended",
                if v.replaced { "replaced" } else { "recorded" },
                v.kind,
                v.date,
                v.odometer_km,
                v.cancelled.len()
            )),
        };
        log(db, act, change, now).await?;
    }
    Ok(v)
}

pub async fn opt_out(
    db: &DatabaseConnection,
    act: &Act<'_>,
    customer_id: &str,
    channel: Channel,
    opted_out: bool,
    now: DateTime<Utc>,
) -> Result<opt_outs::OptOutRecorded, Failure> {
    require(act, Permission::Act)?;
    let r = opt_outs::set(db, customer_id, channel, opted_out, now).await?;
    let (before, after) = if opted_out {
        ("opted in", "opted out")
    } else {
        ("opted out", "opted in")
    };
    let change = Change {
        action: if opted_out { "opt_out" } else { "opt_in" }.into(),
        subject: format!("{} {}", r.customer_id, channel.as_str()),
        customer: Some(r.owner),
        before: Some(before.into()),
        after: Some(after.into()),
    };
    log(db, act, change, now).await?;
    Ok(r)
}

/// Imports an uploaded file, all or nothing.
#[allow(clippy::too_many_arguments)]
pub async fn import(
    db: &DatabaseConnection,
    config: &Config,
    act: &Act<'_>,
    kind: crate::import::Kind,
    name: &str,
    content: &[u8],
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<crate::import::Report, Failure> {
    require(act, Permission::Act)?;
    let report = super::import_upload(db, config, kind, name, content, dry_run, now).await;
    if !dry_run {
        record_import(db, act, kind, name, &report, now).await?;
    }
    report
}

/// Writes an import of the file `name` and what came of it to the imports
/// history (the audit log).
pub(super) async fn record_import(
    db: &DatabaseConnection,
    act: &Act<'_>,
    kind: crate::import::Kind,
    name: &str,
    report: &Result<crate::import::Report, Failure>,
    now: DateTime<Utc>,
) -> Result<(), Failure> {
    let after = match report {
        Ok(r) => format!(
            "{} rows: {} new, {} updated, {} unchanged",
            r.rows, r.inserted, r.updated, r.unchanged
        ),
        Err(e) => super::desk::refused_import_report(&e.to_string()),
    };
    let change = Change {
        action: "import".into(),
        subject: format!("{} {name}", kind.as_str()),
        customer: None,
        before: None,
        after: Some(after),
    };
    log(db, act, change, now).await
}

/// Adds a user (administrators only).
pub async fn add_user(
    db: &DatabaseConnection,
    act: &Act<'_>,
    email: &str,
    role: crate::domain::Role,
    password: Option<String>,
    now: DateTime<Utc>,
) -> Result<super::people::Added, Failure> {
    require(act, Permission::Manage)?;
    let added = super::people::add_user(db, email, role, password, now).await?;
    let change = Change {
        action: "user_add".into(),
        subject: added.email.clone(),
        customer: None,
        before: None,
        after: Some(added.role.to_string()),
    };
    log(db, act, change, now).await?;
    Ok(added)
}

/// Removes a user (administrators only; not oneself).
pub async fn remove_user(
    db: &DatabaseConnection,
    act: &Act<'_>,
    email: &str,
    now: DateTime<Utc>,
) -> Result<String, Failure> {
    require(act, Permission::Manage)?;
    let email = email.trim().to_lowercase();
    if email == act.by.name {
        return Err(Failure::Conflict(
            "you cannot remove yourself; another administrator can".into(),
        ));
    }
    super::people::remove_user(db, &email).await?;
    let change = Change {
        action: "user_remove".into(),
        subject: email.clone(),
        customer: None,
        before: None,
        after: None,
    };
    log(db, act, change, now).await?;
    Ok(email)
}

/// A signed-in person's own new password, given their current one (a
/// wrong one counts as a failed sign-in); their other sessions end, the
/// one `keep_session` names stays.
pub async fn change_own_password(
    db: &DatabaseConnection,
    act: &Act<'_>,
    current: &str,
    new: String,
    keep_session: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), Failure> {
    let Some(_) = act.by.user_id else {
        return Err(Failure::Forbidden(
            "only a signed-in user has a password".into(),
        ));
    };
    let email = act.by.name.clone();
    match super::people::sign_in(db, &email, current, now).await? {
        super::people::SignIn::Welcome(_) => {}
        super::people::SignIn::Locked { until } => {
            return Err(Failure::Forbidden(format!(
                "too many wrong passwords: locked until {until}"
            )));
        }
        super::people::SignIn::Refused { .. } => {
            return Err(Failure::Data("the current password is wrong".into()));
        }
    }
    super::people::change_password(db, &email, new, keep_session, now).await?;
    let change = Change {
        action: "password_change".into(),
        subject: email,
        customer: None,
        before: None,
        after: None,
    };
    log(db, act, change, now).await?;
    Ok(())
}

/// The users (administrators only).
pub async fn users(
    db: &DatabaseConnection,
    act: &Act<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<super::people::Listed>, Failure> {
    require(act, Permission::Manage)?;
    super::people::users(db, now).await
}
