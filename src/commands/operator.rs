//! The operator's commands: each calls its use case in `crate::app` and
//! prints the answer.

use super::{Failure, open, print};
use crate::app::people::{Act, Principal};
use crate::app::{actions, held, timeline, visits};
use crate::cli::{By, ChannelArg, Operator, Output, VisitAction};
use crate::config::Config;
use std::fmt::Write;

pub async fn execute(config: &Config, command: Operator) -> Result<(), Failure> {
    match command {
        Operator::Visit {
            action:
                VisitAction::Add {
                    vin,
                    date,
                    odometer,
                    kind,
                    out,
                },
        } => {
            let visit = visits::NewVisit {
                vin: &vin,
                date: &date,
                odometer: &odometer,
                kind: &kind,
            };
            visit_add(config, visit, out).await
        }
        Operator::OptOut {
            customer_id,
            channel,
            undo,
            out,
        } => opt_out(config, &customer_id, channel, undo, out).await,
        Operator::Hold {
            key,
            reason,
            by,
            out,
        } => {
            let how = Move::Hold {
                reason: reason.as_deref(),
                by: &by,
            };
            move_touchpoint(config, &key, how, out).await
        }
        Operator::Release { key, out } => move_touchpoint(config, &key, Move::Release, out).await,
        Operator::Skip {
            key,
            reason,
            by,
            out,
        } => {
            let how = Move::Skip {
                reason: &reason,
                by: &by,
            };
            move_touchpoint(config, &key, how, out).await
        }
        Operator::SendNow { key, by, out } => {
            move_touchpoint(config, &key, Move::SendNow { by: &by }, out).await
        }
        Operator::Held { out } => held(config, out).await,
        Operator::Approve { id, by, out } => review(config, id, Review::Approve, &by, out).await,
        Operator::Discard {
            id,
            reason,
            by,
            out,
        } => {
            let how = Review::Discard {
                reason: reason.as_deref(),
            };
            review(config, id, how, &by, out).await
        }
        Operator::Timeline { customer_id, out } => timeline(config, &customer_id, out).await,
    }
}

/// An action from the command line: no address.
fn cli_act(by: &Principal) -> Act<'_> {
    Act { by, address: None }
}

async fn visit_add(
    config: &Config,
    visit: visits::NewVisit<'_>,
    out: Output,
) -> Result<(), Failure> {
    let db = open(config).await?;
    let by = Principal::command_line(None);
    let act = cli_act(&by);
    let added = actions::add_visit(&db, config, &act, visit, chrono::Utc::now()).await?;
    print(out.json, &added, |a| {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{}: {} on {} at {} km {}",
            a.vin,
            a.kind,
            a.date,
            a.odometer_km,
            if a.unchanged {
                "already recorded: nothing changed"
            } else if a.replaced {
                "recorded (replacing that day's reading)"
            } else {
                "recorded"
            }
        );
        if !a.unchanged && !a.replanned {
            let _ = writeln!(s, "another pass is planning: the next pass re-plans it");
        }
        for e in &a.cancelled {
            let _ = writeln!(
                s,
                "{} {}: {} {}",
                e.state,
                e.due_date,
                e.key,
                e.reason.as_deref().unwrap_or("")
            );
        }
        if a.replanned {
            let _ = writeln!(s, "re-planned: {} touchpoint(s) ended", a.cancelled.len());
        }
        s
    })
}

async fn opt_out(
    config: &Config,
    customer_id: &str,
    channel: ChannelArg,
    undo: bool,
    out: Output,
) -> Result<(), Failure> {
    let db = open(config).await?;
    let by = Principal::command_line(None);
    let done = actions::opt_out(
        &db,
        &cli_act(&by),
        customer_id,
        channel.channel(),
        !undo,
        chrono::Utc::now(),
    )
    .await?;
    print(out.json, &done, |d| {
        format!(
            "{}: {} {} (source {})\n",
            d.customer_id,
            if d.opted_out {
                "opted out of"
            } else {
                "opted back in to"
            },
            d.channel,
            d.source
        )
    })
}

/// What `hold`, `release`, `skip` and `send-now` do to a touchpoint.
enum Move<'a> {
    Hold { reason: Option<&'a str>, by: &'a By },
    Release,
    Skip { reason: &'a str, by: &'a By },
    SendNow { by: &'a By },
}

async fn move_touchpoint(
    config: &Config,
    key: &str,
    how: Move<'_>,
    out: Output,
) -> Result<(), Failure> {
    let db = open(config).await?;
    let now = chrono::Utc::now();
    let moved = match how {
        Move::Hold { reason, by } => {
            let by = Principal::command_line(by.by.as_deref());
            actions::hold(&db, &cli_act(&by), key, reason, now).await?
        }
        Move::Release => {
            let by = Principal::command_line(None);
            actions::release(&db, &cli_act(&by), key, now).await?
        }
        Move::Skip { reason, by } => {
            let by = Principal::command_line(by.by.as_deref());
            actions::skip(&db, &cli_act(&by), key, reason, now).await?
        }
        Move::SendNow { by } => {
            let by = Principal::command_line(by.by.as_deref());
            actions::send_now(&db, config, &cli_act(&by), key, now).await?
        }
    };
    print(out.json, &moved, |m| {
        format!(
            "{} ({} {}, due {}): {} -> {}{}\n",
            m.key,
            m.code,
            m.channel,
            m.due_date,
            m.from,
            m.state,
            m.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        )
    })
}

async fn held(config: &Config, out: Output) -> Result<(), Failure> {
    let db = open(config).await?;
    let list = held::list(&db).await?;
    print(out.json, &list, |list| {
        let mut s = String::new();
        let _ = writeln!(s, "{} message(s) held for review", list.len());
        for h in list {
            let _ = writeln!(
                s,
                "#{:<5} {}  {:<5} {} ({} {})  \"{}\"  {}",
                h.id,
                h.created_at,
                h.channel,
                h.recipient,
                h.customer_id,
                h.name,
                h.subject,
                h.touchpoints.join(", ")
            );
            if let Some(d) = &h.deadline {
                let _ = writeln!(s, "       awaiting approval until {d}");
            }
        }
        s
    })
}

/// `approve` or `discard`.
enum Review<'a> {
    Approve,
    Discard { reason: Option<&'a str> },
}

async fn review(
    config: &Config,
    id: i64,
    how: Review<'_>,
    by: &By,
    out: Output,
) -> Result<(), Failure> {
    let db = open(config).await?;
    let now = chrono::Utc::now();
    let by = Principal::command_line(by.by.as_deref());
    let act = cli_act(&by);
    let done = match how {
        Review::Approve => actions::approve(&db, &act, id, now).await?,
        Review::Discard { reason } => actions::discard(&db, &act, id, reason, now).await?,
    };
    print(out.json, &done, |d| {
        format!(
            "message {}: {} ({}); touchpoints {}\n",
            d.id,
            d.state,
            d.reason,
            d.touchpoints.join(", ")
        )
    })
}

async fn timeline(config: &Config, customer_id: &str, out: Output) -> Result<(), Failure> {
    let db = open(config).await?;
    let t = timeline::of(&db, customer_id).await?;
    print(out.json, &t, |t| {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} {}: {} vehicle(s), {} touchpoint(s)",
            t.customer_id,
            t.name,
            t.vehicles.len(),
            t.touchpoints.len()
        );
        for e in &t.touchpoints {
            let _ = writeln!(
                s,
                "{}  {:<17} {:<26} {:<5} {:<9} {}",
                e.due_date,
                e.vin,
                format!("{}#{}", e.code, e.occurrence),
                e.channel,
                e.state,
                e.reason.as_deref().unwrap_or("")
            );
        }
        s
    })
}

/// What `check-config` reports.
#[derive(serde::Serialize)]
struct Checked {
    /// The file read, if any (the defaults and the environment otherwise).
    file: Option<String>,
    /// The effective settings, secrets hidden.
    settings: crate::config::Settings,
}

/// `check-config`: the configuration is loaded and checked by now (a bad one
/// exits 78 before this); the plan template and the message texts are
/// checked here, then the effective settings printed with secrets hidden.
pub async fn check_config(config: &Config, out: Output) -> Result<(), Failure> {
    crate::app::check_texts(config)?;
    let checked = Checked {
        file: config.source.as_ref().map(|p| p.display().to_string()),
        settings: config.settings.redacted(),
    };
    let toml = toml::to_string(&checked.settings).map_err(|e| Failure::Other(e.to_string()))?;
    print(out.json, &checked, |c| {
        format!(
            "# configuration OK: {}\n{toml}",
            c.file.as_deref().unwrap_or("defaults and environment")
        )
    })
}

/// `send-test-email`, `send-test-sms`: the provider's answer, printed; exit
/// 1 unless it took the message.
pub async fn send_test(
    config: &Config,
    channel: crate::domain::Channel,
    recipient: &str,
    out: Output,
) -> Result<(), Failure> {
    let sent = crate::app::send_test(config, channel, recipient, chrono::Utc::now()).await?;
    print(out.json, &sent, |t| {
        let answer = match (&t.provider_ref, &t.reason) {
            (_, Some(reason)) => reason.clone(),
            (Some(id), None) => format!("id {id}"),
            (None, None) => "accepted".to_string(),
        };
        format!(
            "{} to {} via {}: {}: {answer}\n",
            t.channel, t.recipient, t.transport, t.outcome
        )
    })?;
    if sent.outcome == "sent" {
        Ok(())
    } else {
        Err(Failure::Other(format!(
            "the {} was not sent: {}",
            sent.channel,
            sent.reason.unwrap_or_default()
        )))
    }
}
