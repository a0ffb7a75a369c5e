//! `calls` and `call-outcome`: the call list and recording an outcome.

use super::{Failure, open, print};
use crate::app;
use crate::cli::CallOutcome;
use crate::config::Config;
use crate::rules;
use chrono::Utc;
use std::fmt::Write;

pub async fn list(config: &Config, json: bool) -> Result<(), Failure> {
    let db = open(config).await?;
    let calls = app::call_list(&db, config, Utc::now()).await?;
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

pub async fn record(
    config: &Config,
    id: i64,
    outcome: CallOutcome,
    note: Option<String>,
    on: Option<chrono::NaiveDate>,
    at: Option<String>,
) -> Result<(), Failure> {
    let outcome = match outcome {
        CallOutcome::Booked => rules::CallOutcome::Booked,
        CallOutcome::Declined => rules::CallOutcome::Declined,
        CallOutcome::NoAnswer => rules::CallOutcome::NoAnswer,
        CallOutcome::LeftMessage => rules::CallOutcome::LeftMessage,
        CallOutcome::Busy => rules::CallOutcome::Busy,
        CallOutcome::CallBack => rules::CallOutcome::CallBack,
        CallOutcome::WrongNumber => rules::CallOutcome::WrongNumber,
        CallOutcome::DoNotCall => rules::CallOutcome::DoNotCall,
    };
    let note = app::calls::call_back_note(outcome, note, on, at.as_deref())?;
    let db = open(config).await?;
    let by = app::people::Principal::command_line(None);
    let act = app::people::Act {
        by: &by,
        address: None,
    };
    let report =
        app::actions::call_outcome(&db, config, &act, id, outcome, note, on, Utc::now()).await?;
    println!(
        "call #{id}: {}{}{}",
        report.outcome,
        report
            .back_on
            .map(|d| format!("; back on the list on {d}"))
            .unwrap_or_default(),
        if report.cancelled > 0 {
            format!(
                "; {} pending reminder(s) of the service stopped",
                report.cancelled
            )
        } else {
            String::new()
        }
    );
    Ok(())
}
