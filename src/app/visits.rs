//! `visit add`: a visit or reading recorded by hand, checked exactly as an
//! import row is, then the vehicle re-planned at once.

use super::Failure;
use crate::config::Config;
use crate::domain::TouchpointState;
use crate::import::readings::{self, FileReading, StoredReading};
use crate::import::rows;
use crate::import::source::Fields;
use crate::store::{self, operator};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use std::collections::HashMap;

/// A visit as typed: the text of the import file's columns.
#[derive(Debug, Clone, Copy)]
pub struct NewVisit<'a> {
    pub vin: &'a str,
    pub date: &'a str,
    /// In the configured distance unit, as in the import.
    pub odometer: &'a str,
    pub kind: &'a str,
}

/// A touchpoint the re-plan ended (a reminder the visit fulfilled).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Ended {
    pub key: String,
    pub code: String,
    pub channel: String,
    pub due_date: NaiveDate,
    pub state: String,
    pub reason: Option<String>,
}

/// What `visit add` did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VisitAdded {
    pub vin: String,
    pub date: NaiveDate,
    pub odometer_km: i64,
    pub kind: &'static str,
    /// The same reading was stored already: nothing changed.
    pub unchanged: bool,
    /// It replaced the vehicle's reading of that day and kind.
    pub replaced: bool,
    /// The vehicle was re-planned now (not when another pass held the
    /// planning lock: then the next pass re-plans it).
    pub replanned: bool,
    /// Touchpoints the re-plan cancelled or skipped.
    pub cancelled: Vec<Ended>,
    /// The owner's stored id (for the audit log).
    #[serde(skip)]
    pub owner: i64,
}

/// Records a visit and re-plans the vehicle. Today is `now` in the
/// configured time zone (as for an import).
pub async fn add(
    db: &DatabaseConnection,
    config: &Config,
    visit: NewVisit<'_>,
    now: DateTime<Utc>,
) -> Result<VisitAdded, Failure> {
    let today = now.with_timezone(&config.default_timezone()).date_naive();
    let rules = crate::import::row_rules(config, today);
    let fields = Fields::from_strs(&[visit.vin, visit.date, visit.odometer, visit.kind]);
    let row = rows::check_visit(&fields, &rules)
        .row
        .map_err(|problems| invalid(problems.iter().map(|p| (p.column, p.reason.as_str()))))?;
    let vin = row.vin_str();
    let Some(record) = store::vehicle_by_vin(db, vin).await? else {
        return Err(Failure::NotFound(format!(
            "vin: {}",
            readings::unknown_vehicle(vin)
        )));
    };
    let same_day_and_kind = |r: &crate::predict::Reading| r.date == row.date && r.kind == row.kind;
    let replaced = record.readings.iter().find(|r| same_day_and_kind(r));
    let kept: Vec<StoredReading> = record
        .readings
        .iter()
        .filter(|r| !same_day_and_kind(r))
        .map(|r| StoredReading {
            date: r.date,
            odometer_km: r.odometer_km,
        })
        .collect();
    let problems = readings::check(
        record.vehicle.purchase_date,
        record.vehicle.purchase_odometer_km,
        &kept,
        &[FileReading {
            line: 1,
            date: row.date,
            odometer_km: row.odometer_km,
        }],
    );
    if !problems.is_empty() {
        return Err(invalid(
            problems.iter().map(|p| (p.column, p.reason.as_str())),
        ));
    }
    let mut added = VisitAdded {
        vin: vin.to_string(),
        date: row.date,
        odometer_km: row.odometer_km,
        kind: row.kind.as_str(),
        unchanged: replaced.is_some_and(|r| r.odometer_km == row.odometer_km),
        replaced: replaced.is_some(),
        replanned: false,
        cancelled: Vec::new(),
        owner: record.customer.id,
    };
    if added.unchanged {
        return Ok(added);
    }
    let ids = [record.vehicle.id];
    let before = operator::touchpoints_of_vehicles(db, &ids).await?;
    operator::record_visit(
        db,
        record.vehicle.id,
        row.date,
        row.odometer_km,
        row.kind,
        now,
    )
    .await?;
    let pass = super::planning_pass(db, config, now).await?;
    added.replanned = !pass.planning_busy;
    let after = operator::touchpoints_of_vehicles(db, &ids).await?;
    added.cancelled = ended(&before, &after);
    Ok(added)
}

/// Problems as an import reports them, without the file and line:
/// `column: reason`, several joined by `; `.
fn invalid<'a>(problems: impl Iterator<Item = (&'a str, &'a str)>) -> Failure {
    Failure::Data(
        problems
            .map(|(column, reason)| format!("{column}: {reason}"))
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// The touchpoints that were open before and are cancelled or skipped after.
fn ended(before: &[store::StoredTouchpoint], after: &[store::StoredTouchpoint]) -> Vec<Ended> {
    let was: HashMap<&str, &str> = before
        .iter()
        .map(|t| (t.dedup_key.as_str(), t.state.as_str()))
        .collect();
    after
        .iter()
        .filter(|t| {
            [TouchpointState::Cancelled, TouchpointState::Skipped]
                .iter()
                .any(|s| s.is(&t.state))
        })
        .filter(|t| {
            was.get(t.dedup_key.as_str())
                .is_some_and(|s| TouchpointState::OPEN.iter().any(|o| o.is(s)))
        })
        .map(|t| Ended {
            key: t.dedup_key.clone(),
            code: t.code.clone(),
            channel: t.channel.clone(),
            due_date: t.due_date,
            state: t.state.clone(),
            reason: t.reason.clone(),
        })
        .collect()
}
