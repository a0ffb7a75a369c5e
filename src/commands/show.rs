//! The read-only commands: next-service, plan, queue (their answers come
//! from `app`).

use super::{Failure, open, print};
use crate::app;
use crate::config::Config;
use crate::predict::{DecidedBy, RateSource};
use chrono::{NaiveDate, Utc};
use std::fmt::Write;

pub async fn next_service(
    config: &Config,
    vin: &str,
    as_of: Option<NaiveDate>,
    json: bool,
) -> Result<(), Failure> {
    let db = open(config).await?;
    let answer = app::next_service(&db, config, vin, as_of, Utc::now()).await?;
    print(json, &answer, |a| {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{}: service #{} due {} (decided by {})",
            a.vin,
            a.service_number,
            a.due_date,
            match a.decided_by {
                DecidedBy::Km => "mileage",
                DecidedBy::Time => "time",
            }
        );
        let _ = writeln!(s, "  expected odometer   {} km", a.due_odometer_km);
        let _ = writeln!(
            s,
            "  by mileage          {}",
            a.km_due_date
                .map_or("never (not driven)".to_string(), |d| d.to_string())
        );
        let _ = writeln!(s, "  by time             {}", a.time_due_date);
        let _ = writeln!(
            s,
            "  average             {} km/month ({})",
            a.avg_monthly_km,
            match a.rate_source {
                RateSource::Readings => "from readings",
                RateSource::Declared => "declared by the owner",
                RateSource::Default => "configured default",
            }
        );
        let _ = writeln!(
            s,
            "  last service        {}",
            a.last_service_date
                .map_or("none recorded".to_string(), |d| d.to_string())
        );
        let _ = writeln!(s, "  as of               {}", a.as_of);
        s
    })
}

pub async fn plan(
    config: &Config,
    vin: &str,
    as_of: Option<NaiveDate>,
    json: bool,
) -> Result<(), Failure> {
    let db = open(config).await?;
    let answer = app::vehicle_plan(&db, config, vin, as_of, Utc::now()).await?;
    print(json, &answer, |a| {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{}: cycle {} ({} .. {}), {} touchpoints, as of {}",
            a.vin,
            a.cycle,
            a.cycle_start,
            a.cycle_end,
            a.touchpoints.len(),
            a.as_of
        );
        let _ = writeln!(
            s,
            "{:<10}  {:<26} {:<5} {:<9} {:<9} reason",
            "date", "code", "chan", "category", "state"
        );
        for t in &a.touchpoints {
            let _ = writeln!(
                s,
                "{:<10}  {:<26} {:<5} {:<9} {:<9} {}",
                t.due_date,
                format!("{}#{}", t.code, t.occurrence),
                t.channel,
                t.category,
                t.state,
                t.reason.as_deref().unwrap_or("")
            );
        }
        if !a.displaced.is_empty() {
            let _ = writeln!(s, "displaced:");
            for d in &a.displaced {
                let _ = writeln!(s, "  {:<10}  {:<26} {}", d.due_date, d.code, d.reason);
            }
        }
        for c in a.changes.iter().take(5) {
            let _ = writeln!(s, "re-planned {} (cycle {}): {}", c.at, c.cycle, c.summary);
        }
        s
    })
}

pub async fn queue(
    config: &Config,
    days: u32,
    as_of: Option<NaiveDate>,
    json: bool,
) -> Result<(), Failure> {
    let db = open(config).await?;
    let answer = app::queue(&db, config, days, as_of, Utc::now()).await?;
    print(json, &answer, |a| {
        let mut s = String::new();
        let total: usize = a.channels.values().map(Vec::len).sum();
        let _ = writeln!(s, "queue {} .. {}: {} touchpoints", a.from, a.to, total);
        for (channel, items) in &a.channels {
            let _ = writeln!(s, "\n{channel} ({})", items.len());
            for i in items {
                let _ = writeln!(
                    s,
                    "  {}  {:<22} {:<17} {:<24} {}{}",
                    i.due_date,
                    i.code,
                    i.vin,
                    i.name,
                    i.recipient.as_deref().unwrap_or("(no contact)"),
                    if crate::domain::TouchpointState::OnHold.is(&i.state) {
                        format!("  [on hold: {}]", i.reason.as_deref().unwrap_or(""))
                    } else {
                        String::new()
                    }
                );
            }
        }
        s
    })
}
