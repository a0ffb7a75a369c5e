//! `status`: prints what the database says.

use super::{Failure, open, print};
use crate::app::status::{self, Status};
use crate::config::Config;
use std::fmt::Write;

pub async fn show(config: &Config, json: bool) -> Result<(), Failure> {
    let db = open(config).await?;
    let status = status::status(&db, config, chrono::Utc::now()).await?;
    print(json, &status, text)
}

fn text(s: &Status) -> String {
    let mut out = String::new();
    match &s.last_pass {
        Some(p) => {
            let sent: Vec<String> = p.did.sent.iter().map(|(c, n)| format!("{n} {c}")).collect();
            let _ = writeln!(
                out,
                "last pass: {} ({} vehicles planned; sent {}; {} deferred, {} suppressed, {} held)",
                p.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                p.did.vehicles_planned,
                if sent.is_empty() {
                    "nothing".to_string()
                } else {
                    sent.join(", ")
                },
                p.did.deferred,
                p.did.suppressed,
                p.did.held
            );
        }
        None => out.push_str("last pass: none yet\n"),
    }
    let due: Vec<String> = s.due_now.iter().map(|(c, n)| format!("{n} {c}")).collect();
    let _ = writeln!(
        out,
        "due now: {}",
        if due.is_empty() {
            "nothing".to_string()
        } else {
            due.join(", ")
        }
    );
    let _ = writeln!(
        out,
        "waiting: {} deferred, {} on hold, {} retrying; {} held for review; {} open calls",
        s.deferred, s.on_hold, s.retrying, s.held_messages, s.open_calls
    );
    if s.instances.is_empty() {
        out.push_str("instances: none seen in the last day\n");
    }
    for seen in &s.instances {
        let i = &seen.instance;
        let _ = writeln!(
            out,
            "instance {}: {} (version {}, listening on {}, started {}, last seen {})",
            i.id,
            seen.state,
            i.version,
            i.listen,
            i.started_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            i.seen_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
    }
    let _ = writeln!(
        out,
        "schema: {} migrations, latest {}",
        s.schema.applied,
        s.schema.latest.as_deref().unwrap_or("none")
    );
    out
}
