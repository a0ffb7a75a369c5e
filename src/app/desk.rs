//! What the desk's pages show, read in one place: the morning's call cards
//! (the call, the owner's vehicles with their next service, the contact
//! history), a customer's profile, the import history.

use super::calls::Call;
use super::show::NextService;
use super::{Failure, timeline};
use crate::config::Config;
use crate::domain::{AuditEntry, TouchpointState};
use crate::store::{operator, people};
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use serde::Serialize;

/// A vehicle with its predicted next service.
#[derive(Debug, Serialize)]
pub struct VehicleCard {
    pub vin: String,
    pub label: String,
    pub next: Option<NextService>,
}

/// One call of the morning's list, with what the advisor needs to ring.
#[derive(Debug, Serialize)]
pub struct CallCard {
    #[serde(flatten)]
    pub call: Call,
    pub vehicles: Vec<VehicleCard>,
    /// What went out to the person and what came of calls, newest first.
    pub history: Vec<String>,
}

/// The calls a page of the morning's list shows.
pub const CALLS_PER_PAGE: u32 = 25;
/// The most history lines per call.
const HISTORY: usize = 6;

async fn vehicle_cards(
    db: &DatabaseConnection,
    config: &Config,
    customer: i64,
    now: DateTime<Utc>,
) -> Result<Vec<VehicleCard>, Failure> {
    let mut cards = Vec::new();
    for v in operator::vehicles_of(db, customer).await? {
        let next = super::next_service(db, config, &v.vin, None, now)
            .await
            .ok();
        cards.push(VehicleCard {
            label: format!("{} {} {}", v.make, v.model, v.vin),
            vin: v.vin,
            next,
        });
    }
    Ok(cards)
}

fn history(t: &timeline::Timeline) -> Vec<String> {
    let mut lines: Vec<(String, String)> = t
        .touchpoints
        .iter()
        .filter(|e| TouchpointState::Sent.is(&e.state))
        .map(|e| {
            let at = e.sent_at.clone().unwrap_or_else(|| e.due_date.to_string());
            let line = format!("{} · {} {}", at.get(..10).unwrap_or(&at), e.channel, e.code);
            (at, line)
        })
        .chain(
            t.actions
                .iter()
                .filter(|a| a.action == "call_outcome")
                .map(|a| {
                    let at = a.at.to_rfc3339();
                    let line = format!(
                        "{} · {} · {}",
                        at.get(..10).unwrap_or(&at),
                        a.actor,
                        a.after.as_deref().unwrap_or("")
                    );
                    (at, line)
                }),
        )
        .collect();
    lines.sort_by(|a, b| b.0.cmp(&a.0));
    lines.into_iter().take(HISTORY).map(|(_, l)| l).collect()
}

/// The calls due now, each as a card.
pub async fn call_cards(
    db: &DatabaseConnection,
    config: &Config,
    request: &super::page::PageRequest,
    now: DateTime<Utc>,
) -> Result<CallPage, Failure> {
    let (page, due) = super::calls::call_page(db, config, request, now).await?;
    let mut cards = Vec::new();
    for call in page.items {
        let Some(customer) = operator::customer_by_key(db, &call.customer_id).await? else {
            cards.push(CallCard {
                call,
                vehicles: Vec::new(),
                history: Vec::new(),
            });
            continue;
        };
        let t = timeline::of(db, &customer.customer_id).await?;
        cards.push(CallCard {
            vehicles: vehicle_cards(db, config, customer.id, now).await?,
            history: history(&t),
            call,
        });
    }
    Ok(CallPage {
        cards,
        due,
        next_cursor: page.next_cursor,
    })
}

/// A page of the morning's call list.
#[derive(Debug, Serialize)]
pub struct CallPage {
    pub cards: Vec<CallCard>,
    /// How many calls are due in all.
    pub due: usize,
    pub next_cursor: Option<String>,
}

/// A channel of a person and whether they opted out of it.
#[derive(Debug, Serialize)]
pub struct ChannelStatus {
    pub name: &'static str,
    pub opted_out: bool,
}

/// Everything the customer page shows.
#[derive(Debug, Serialize)]
pub struct Profile {
    pub timeline: timeline::Timeline,
    pub vehicles: Vec<VehicleCard>,
    pub channels: Vec<ChannelStatus>,
}

pub async fn profile(
    db: &DatabaseConnection,
    config: &Config,
    customer_id: &str,
    now: DateTime<Utc>,
) -> Result<Profile, Failure> {
    let key = customer_id.trim();
    let Some(customer) = operator::customer_by_key(db, key).await? else {
        return Err(Failure::NotFound(format!("no customer with id {key}")));
    };
    Ok(Profile {
        timeline: timeline::of(db, key).await?,
        vehicles: vehicle_cards(db, config, customer.id, now).await?,
        channels: vec![
            ChannelStatus {
                name: "email",
                opted_out: customer.opted_out_email,
            },
            ChannelStatus {
                name: "sms",
                opted_out: customer.opted_out_sms,
            },
            ChannelStatus {
                name: "call",
                opted_out: customer.opted_out_call || customer.opted_out_sms,
            },
        ],
    })
}

/// The last `limit` imports people made, newest first.
pub async fn import_history(
    db: &DatabaseConnection,
    limit: u64,
) -> Result<Vec<ImportRecord>, Failure> {
    Ok(people::audit_by_action(db, IMPORT, limit)
        .await?
        .into_iter()
        .map(ImportRecord::from)
        .collect())
}

/// The audit log's action of an import.
const IMPORT: &str = "import";

/// The most problems an import's record keeps (the first ones).
pub const PROBLEMS_KEPT: usize = 1000;

/// What the audit log keeps of a refused import: the summary line, then
/// its first [`PROBLEMS_KEPT`] problems, one per line (`FILE:LINE: column:
/// reason`), then how many more there were.
pub fn refused_import_report(problems: &str) -> String {
    let all: Vec<&str> = problems.lines().collect();
    let mut out = format!("refused: {} problem(s); nothing imported", all.len());
    for line in all.iter().take(PROBLEMS_KEPT) {
        out.push('\n');
        out.push_str(line);
    }
    if all.len() > PROBLEMS_KEPT {
        out.push_str(&format!("\n… {} more not kept", all.len() - PROBLEMS_KEPT));
    }
    out
}

/// One import of the history, with the problems of a refused one.
#[derive(Debug, Clone, Serialize)]
pub struct ImportRecord {
    pub id: i64,
    pub at: String,
    pub actor: String,
    /// The kind and the file's name.
    pub subject: String,
    /// What came of it, in a line.
    pub summary: String,
    /// A refused import's problems, as the log kept them.
    pub problems: Vec<String>,
}

impl From<AuditEntry> for ImportRecord {
    fn from(a: AuditEntry) -> Self {
        let after = a.after.unwrap_or_default();
        let mut lines = after.lines();
        let summary = lines.next().unwrap_or_default().to_string();
        ImportRecord {
            id: a.id,
            at: a.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            actor: a.actor,
            subject: a.subject,
            summary,
            problems: lines.map(str::to_string).collect(),
        }
    }
}

/// The import numbered `id` in the history.
pub async fn import_record(db: &DatabaseConnection, id: i64) -> Result<ImportRecord, Failure> {
    match people::audit_entry(db, id).await? {
        Some(a) if a.action == IMPORT => Ok(ImportRecord::from(a)),
        _ => Err(Failure::NotFound(format!("no import number {id}"))),
    }
}
