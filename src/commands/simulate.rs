//! `simulate`: the planner, rules and dispatcher the daemon runs, over a
//! period on a virtual clock, against a private copy of the facts and with
//! capturing transports. Nothing is sent and the database is not changed.

use super::Failure;
use crate::app::planning_pass;
use crate::config::Config;
use crate::dispatch::{Dispatcher, Event, Transports};
use crate::domain::TouchpointState;
use crate::messages::Catalog;
use crate::store::entities::{customer, reading, vehicle};
use crate::store::{self, Context};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;

/// What the period looked like.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub attempts: usize,
    /// Messages and call tasks that went out, per channel.
    pub sent: BTreeMap<String, usize>,
    pub people_reached: usize,
    /// Messages (email + SMS) per person per month: the mean and the most.
    pub messages_per_person_month_mean: f64,
    pub messages_per_person_month_max: usize,
    pub outcomes: BTreeMap<String, usize>,
    /// Suppressed and skipped touchpoints by reason.
    pub held_back: BTreeMap<String, usize>,
}

impl Summary {
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "simulated {} .. {} (excluded): {} attempts\ntouchpoints sent: {}\npeople reached: {}; messages per person per month: mean {:.2}, most {}\n",
            self.from,
            self.to,
            self.attempts,
            self.sent
                .iter()
                .map(|(c, n)| format!("{n} {c}"))
                .collect::<Vec<_>>()
                .join(", "),
            self.people_reached,
            self.messages_per_person_month_mean,
            self.messages_per_person_month_max,
        );
        s.push_str("outcomes:");
        for (o, n) in &self.outcomes {
            s.push_str(&format!(" {o} {n};"));
        }
        s.push('\n');
        for (reason, n) in &self.held_back {
            s.push_str(&format!("  {n:>7}  {reason}\n"));
        }
        s
    }

    /// Adds another part's counts.
    fn merge(&mut self, other: Summary) {
        self.attempts += other.attempts;
        for (k, n) in other.sent {
            *self.sent.entry(k).or_default() += n;
        }
        for (k, n) in other.outcomes {
            *self.outcomes.entry(k).or_default() += n;
        }
        for (k, n) in other.held_back {
            *self.held_back.entry(k).or_default() += n;
        }
    }

    fn add(&mut self, e: &Event, per_person_month: &mut HashMap<(String, String), usize>) {
        self.attempts += 1;
        *self.outcomes.entry(e.outcome.clone()).or_default() += 1;
        // An outcome is named by the touchpoint state it stands for.
        match TouchpointState::from_text(&e.outcome) {
            Ok(TouchpointState::Sent) => {
                *self.sent.entry(e.channel.clone()).or_default() += 1;
                if e.channel != "call"
                    && e.reason
                        .as_deref()
                        .is_none_or(|r| !r.starts_with("sent together"))
                {
                    *per_person_month
                        .entry((e.customer_id.clone(), e.at[..7].to_string()))
                        .or_default() += 1;
                }
            }
            Ok(
                TouchpointState::Suppressed | TouchpointState::Skipped | TouchpointState::Cancelled,
            ) => {
                let reason = e.reason.clone().unwrap_or_default();
                *self
                    .held_back
                    .entry(format!("{}: {reason}", e.outcome))
                    .or_default() += 1;
            }
            _ => {}
        }
    }
}

/// One part's facts, read from the source.
#[derive(Default)]
struct Facts {
    customers: Vec<customer::Model>,
    vehicles: Vec<vehicle::Model>,
    readings: Vec<reading::Model>,
}

/// Reads one part's facts (customers, vehicles, readings) from the source,
/// a page at a time.
async fn load_facts(from: &DatabaseConnection, part: Part) -> Result<Facts, Failure> {
    let mut facts = Facts::default();
    let mut offset = 0;
    loop {
        let page = customer::Entity::find()
            .filter(part.of(customer::Column::Id))
            .order_by_asc(customer::Column::Id)
            .offset(offset)
            .limit(PAGE)
            .all(from)
            .await
            .context("copying customers")?;
        if page.is_empty() {
            break;
        }
        offset += PAGE;
        facts.customers.extend(page);
    }
    offset = 0;
    loop {
        let page = vehicle::Entity::find()
            .filter(part.of(vehicle::Column::CustomerId))
            .order_by_asc(vehicle::Column::Id)
            .offset(offset)
            .limit(PAGE)
            .all(from)
            .await
            .context("copying vehicles")?;
        if page.is_empty() {
            break;
        }
        offset += PAGE;
        facts.vehicles.extend(page.into_iter().map(|mut v| {
            v.planned_version = 0;
            v.replan_on = None;
            v
        }));
    }
    offset = 0;
    loop {
        let page = reading::Entity::find()
            .inner_join(vehicle::Entity)
            .filter(part.of(vehicle::Column::CustomerId))
            .order_by_asc(reading::Column::Id)
            .offset(offset)
            .limit(PAGE)
            .all(from)
            .await
            .context("copying readings")?;
        if page.is_empty() {
            break;
        }
        offset += PAGE;
        facts.readings.extend(page);
    }
    Ok(facts)
}

/// Rows read or written in one statement when copying facts.
const PAGE: u64 = 1000;

/// Writes a part's facts into its private database, one statement a page.
async fn store_facts(to: &DatabaseConnection, facts: Facts) -> Result<(), Failure> {
    insert_pages::<customer::ActiveModel>(to, facts.customers, "copying customers").await?;
    insert_pages::<vehicle::ActiveModel>(to, facts.vehicles, "copying vehicles").await?;
    insert_pages::<reading::ActiveModel>(to, facts.readings, "copying readings").await
}

/// Inserts rows as they are (ids included), one statement a page.
async fn insert_pages<A>(
    to: &DatabaseConnection,
    rows: Vec<<A::Entity as EntityTrait>::Model>,
    what: &str,
) -> Result<(), Failure>
where
    A: ActiveModelTrait + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let page: Vec<A> = rows
            .by_ref()
            .take(PAGE as usize)
            .map(|r| r.into_active_model().reset_all())
            .collect();
        A::Entity::insert_many(page)
            .exec_without_returning(to)
            .await
            .context(what)?;
    }
    Ok(())
}

/// One of `count` independent parts of the people (by customer id):
/// their caps, merges and histories never touch another part's.
#[derive(Debug, Clone, Copy)]
struct Part {
    index: i64,
    count: i64,
}

impl Part {
    fn of(self, customer_id: impl ColumnTrait) -> SimpleExpr {
        use sea_orm::sea_query::ExprTrait as _;
        Expr::col(customer_id).modulo(self.count).eq(self.index)
    }
}

/// What one part of the simulation produced: its lines (with their instant,
/// to merge the parts in time order) and its share of the summary.
struct PartResult {
    lines: Vec<(String, String)>,
    summary: Summary,
    per_person_month: HashMap<(String, String), usize>,
}

pub async fn simulate(
    config: &Config,
    source: &DatabaseConnection,
    from: NaiveDate,
    to: NaiveDate,
    out: &mut dyn Write,
) -> Result<Summary, Failure> {
    if to <= from {
        return Err(Failure::Usage(format!(
            "--to {to} must be after --from {from}"
        )));
    }
    // People are independent of each other (caps, merges and histories are
    // per person), so the simulation runs in one part per core, each with
    // its own in-memory copy of its people's facts: nothing to clean up, no
    // disk writes, the source unchanged. Each part runs on a thread of its
    // own, pinned to its core together with its database's thread (which
    // inherits the pinning): every statement is a hand-over between those
    // two threads, and on one core that costs a fraction of a hand-over
    // between cores.
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let count = cores.len().clamp(1, 8).min(
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .max(1),
    ) as i64;
    let mut parts = Vec::new();
    for index in 0..count {
        let facts = load_facts(source, Part { index, count }).await?;
        let config = config.clone();
        let core = cores.get(index as usize).copied();
        let thread = std::thread::Builder::new()
            .name(format!("simulate-{index}"))
            .spawn(move || -> Result<PartResult, Failure> {
                if let Some(core) = core {
                    // Unpinned (e.g. where the scheduler refuses) is merely slower.
                    core_affinity::set_for_current(core);
                }
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| Failure::Other(format!("cannot start a simulation: {e}")))?;
                runtime.block_on(async move {
                    let db = store::connect_in_memory().await?;
                    store::migrate(&db).await?;
                    store_facts(&db, facts).await?;
                    simulate_part(&db, &config, from, to).await
                })
            })
            .map_err(|e| Failure::Other(format!("cannot start a simulation: {e}")))?;
        parts.push(thread);
    }
    let mut summary = Summary {
        from,
        to,
        ..Default::default()
    };
    let mut per_person_month: HashMap<(String, String), usize> = HashMap::new();
    let mut lines = Vec::new();
    for part in parts {
        let result = tokio::task::spawn_blocking(move || part.join())
            .await
            .map_err(|e| Failure::Other(format!("the simulation stopped: {e}")))?
            .map_err(|_| Failure::Other("the simulation stopped".into()))??;
        summary.merge(result.summary);
        per_person_month.extend(result.per_person_month);
        lines.extend(result.lines);
    }
    // In time order; within an instant, part by part.
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    for (_, line) in &lines {
        writeln!(out, "{line}").map_err(|e| Failure::Other(format!("cannot write: {e}")))?;
    }
    out.flush()
        .map_err(|e| Failure::Other(format!("cannot write: {e}")))?;
    let people: std::collections::HashSet<&String> =
        per_person_month.keys().map(|(p, _)| p).collect();
    summary.people_reached = people.len();
    if !per_person_month.is_empty() {
        summary.messages_per_person_month_max =
            per_person_month.values().copied().max().unwrap_or(0);
        summary.messages_per_person_month_mean =
            per_person_month.values().sum::<usize>() as f64 / per_person_month.len() as f64;
    }
    Ok(summary)
}

/// The planner and the dispatcher over the period for one part.
async fn simulate_part(
    db: &DatabaseConnection,
    config: &Config,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<PartResult, Failure> {
    let catalog = Catalog::builtin().map_err(|e| Failure::Other(e.to_string()))?;
    let transports = Transports::capture();
    // Nothing changes the private copy's customers and vehicles during the run
    // (planning touches only its own bookkeeping columns, which dispatch
    // does not read).
    let dispatcher = Dispatcher::new(db, config, &transports, &catalog);
    let mut result = PartResult {
        lines: Vec::new(),
        summary: Summary::default(),
        per_person_month: HashMap::new(),
    };
    let start: DateTime<Utc> = from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    let end: DateTime<Utc> = to.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    let mut now = start;
    let mut planned_day = None;
    while now < end {
        // Plans change with the day; dispatch runs every hour, skipping the
        // hours in which nothing is pending.
        if planned_day != Some(now.date_naive()) {
            planning_pass(db, config, now).await?;
            planned_day = Some(now.date_naive());
        }
        let report = dispatcher.pass(now).await?;
        for e in &report.events {
            let line = serde_json::to_string(e).map_err(|e| Failure::Other(e.to_string()))?;
            result.lines.push((e.at.clone(), line));
            result.summary.add(e, &mut result.per_person_month);
        }
        let next_hour = now + Duration::hours(1);
        let next_day = (now.date_naive() + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc();
        let wake = dispatcher
            .next_wake()
            .await?
            .map_or(next_day, |w| w.min(next_day));
        now = if wake <= next_hour {
            next_hour
        } else {
            // Wake on the hour at or after the next event.
            let hours = (wake - start).num_seconds().div_euclid(3600)
                + i64::from((wake - start).num_seconds().rem_euclid(3600) > 0);
            start + Duration::hours(hours)
        };
    }
    Ok(result)
}
