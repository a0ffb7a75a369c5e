//! `simulate`: the planning and dispatch passes the daemon makes, stepped
//! hourly on a virtual clock, over the stored facts held in memory and with
//! transports that capture instead of sending. Nothing is sent and the
//! database is not changed.
//!
//! It runs the very steps a pass runs ([`super::planning::vehicle_step`],
//! [`replan::reconcile`], [`dispatch::decide::person`](crate::dispatch::person),
//! [`settle`]) and applies what they decide to each person's facts in
//! memory instead of in the store. People are independent of each other
//! (caps, merges and histories are per person), so each is simulated over
//! the whole period alone, waking only at the hours at which a pass would
//! find something of theirs to do; a pass at any other hour changes nothing
//! of theirs. The people are simulated in parts on every core, and the
//! parts' lines merged in time order.

use super::Failure;
use super::planning::{VehicleStep, stored_view, vehicle_step};
use crate::config::Config;
use crate::dispatch::{
    self, Decided, DispatchReport, Outcome, Rulebook, push_sent_events, sent_together_with, settle,
    tally,
};
use crate::domain::{Channel, TouchpointState};
use crate::domain::{Customer, Touchpoint, Vehicle};
use crate::messages::Catalog;
use crate::plan::{PlanParams, Template, replan};
use crate::predict::Reading;
use crate::rules::History;
use crate::store::{self, AllFacts};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, BufWriter, Seek, Write};

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
}

/// The counts behind a [`Summary`], added up person by person.
#[derive(Debug, Default)]
struct Tally {
    attempts: usize,
    sent: BTreeMap<String, usize>,
    outcomes: BTreeMap<String, usize>,
    held_back: BTreeMap<String, usize>,
    people_reached: usize,
    /// (person, month) pairs with a message, the messages in them, the most
    /// in one.
    months: usize,
    messages: usize,
    most: usize,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
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
        self.people_reached += other.people_reached;
        self.months += other.months;
        self.messages += other.messages;
        self.most = self.most.max(other.most);
    }

    /// Counts one line; `months` gathers the person's messages per month.
    fn add(&mut self, e: &dispatch::Event, months: &mut HashMap<String, usize>) {
        self.attempts += 1;
        *self.outcomes.entry(e.outcome.clone()).or_default() += 1;
        // An outcome is named by the touchpoint state it stands for.
        match TouchpointState::from_text(&e.outcome) {
            Ok(TouchpointState::Sent) => {
                *self.sent.entry(e.channel.clone()).or_default() += 1;
                let merged = e
                    .reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with(&sent_together_with("")));
                if e.channel != Channel::Call.as_str() && !merged {
                    *months.entry(e.at[..7].to_string()).or_default() += 1;
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

    /// Adds one person's messages per month.
    fn person(&mut self, months: HashMap<String, usize>) {
        if months.is_empty() {
            return;
        }
        self.people_reached += 1;
        self.months += months.len();
        self.messages += months.values().sum::<usize>();
        self.most = self.most.max(months.values().copied().max().unwrap_or(0));
    }

    fn into_summary(self, from: NaiveDate, to: NaiveDate) -> Summary {
        Summary {
            from,
            to,
            attempts: self.attempts,
            sent: self.sent,
            people_reached: self.people_reached,
            messages_per_person_month_mean: if self.months == 0 {
                0.0
            } else {
                self.messages as f64 / self.months as f64
            },
            messages_per_person_month_max: self.most,
            outcomes: self.outcomes,
            held_back: self.held_back,
        }
    }
}

/// Simulates `[from, to)` over the stored facts and writes its lines to
/// `out` in time order (within an hour, person by person).
pub async fn simulate(
    db: &DatabaseConnection,
    config: &Config,
    from: NaiveDate,
    to: NaiveDate,
    out: &mut dyn Write,
) -> Result<Summary, Failure> {
    if to <= from {
        return Err(Failure::Usage(format!(
            "--to {to} must be after --from {from}"
        )));
    }
    let template = config.plan_template()?;
    let catalog = Catalog::builtin().map_err(|e| Failure::Other(e.to_string()))?;
    let facts = store::all_facts(db).await?;
    let world = World {
        config,
        template: &template,
        params: config.settings.plan_params(),
        book: config.rulebook(&catalog),
        max_attempts: config.settings.dispatch.max_attempts,
        start: midnight(from),
        end: midnight(to),
    };
    let owners = owners(facts, world.start);
    let tally = run(&world, owners, out)?;
    Ok(tally.into_summary(from, to))
}

/// 00:00 UTC on `day`.
fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// What every person's simulation shares.
struct World<'a> {
    config: &'a Config,
    template: &'a Template,
    params: PlanParams,
    book: Rulebook<'a>,
    max_attempts: i32,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// A person with their vehicles and what is recorded of them later in the
/// period.
struct Owner {
    customer: Customer,
    cars: Vec<Car>,
    /// Opt-outs and opt-ins logged from the start on, oldest first: each
    /// takes effect at its instant.
    opt_outs: VecDeque<(DateTime<Utc>, Channel, bool)>,
}

struct Car {
    vehicle: Vehicle,
    /// The readings known at the current instant, by date.
    readings: Vec<Reading>,
    /// Readings dated after the start, by date: each becomes known at
    /// 00:00 UTC on its date, as a visit recorded then.
    later: VecDeque<Reading>,
}

/// The facts grouped by person (in id order), as they stood at `start`:
/// nothing planned yet, readings dated later and opt-outs logged later
/// still to come.
fn owners(facts: AllFacts, start: DateTime<Utc>) -> Vec<Owner> {
    let AllFacts {
        customers,
        vehicles,
        readings,
        opt_outs,
    } = facts;
    let mut by_vehicle: HashMap<i64, Vec<Reading>> = HashMap::new();
    for (vehicle_id, r) in readings {
        by_vehicle.entry(vehicle_id).or_default().push(r);
    }
    let mut by_owner: HashMap<i64, Vec<Car>> = HashMap::new();
    for mut vehicle in vehicles {
        let mut all = by_vehicle.remove(&vehicle.id).unwrap_or_default();
        // As the planning pass reads them.
        all.sort_by_key(|r| (r.date, r.odometer_km));
        let (readings, later): (Vec<Reading>, Vec<Reading>) =
            all.into_iter().partition(|r| midnight(r.date) <= start);
        // Never planned: the first pass plans it.
        vehicle.planned_version = 0;
        vehicle.replan_on = None;
        by_owner.entry(vehicle.customer_id).or_default().push(Car {
            vehicle,
            readings,
            later: later.into(),
        });
    }
    let mut logged: HashMap<i64, Vec<Logged>> = HashMap::new();
    for o in opt_outs {
        logged
            .entry(o.customer_id)
            .or_default()
            .push((o.at, o.id, o.channel, o.opted_out));
    }
    customers
        .into_iter()
        .map(|mut customer| {
            let mut log = logged.remove(&customer.id).unwrap_or_default();
            log.sort_by_key(|(at, id, _, _)| (*at, *id));
            let (before, after): (Vec<_>, Vec<_>) =
                log.into_iter().partition(|(at, ..)| *at < start);
            for channel in [Channel::Email, Channel::Sms, Channel::Call] {
                let last_before = before.iter().rev().find(|(_, _, c, _)| *c == channel);
                let first_after = after.iter().find(|(_, _, c, _)| *c == channel);
                // As it stood at the start: after the last change before
                // it, or before the first one after it.
                let at_start = match (last_before, first_after) {
                    (Some(&(.., out)), _) => Some(out),
                    (None, Some(&(.., out))) => Some(!out),
                    (None, None) => None,
                };
                if let Some(out) = at_start {
                    set_opt_out(&mut customer, channel, out);
                }
            }
            let mut cars = by_owner.remove(&customer.id).unwrap_or_default();
            cars.sort_by_key(|c| c.vehicle.id);
            Owner {
                customer,
                cars,
                opt_outs: after
                    .into_iter()
                    .map(|(at, _, c, out)| (at, c, out))
                    .collect(),
            }
        })
        .collect()
}

/// A logged opt-out or opt-in: when, its id, the channel, out or in.
type Logged = (DateTime<Utc>, i64, Channel, bool);

fn set_opt_out(customer: &mut Customer, channel: Channel, out: bool) {
    match channel {
        Channel::Email => customer.opted_out_email = out,
        Channel::Sms => customer.opted_out_sms = out,
        Channel::Call => customer.opted_out_call = out,
    }
}

/// People simulated together: their lines are sorted in memory, then set
/// aside in a file of their own until every part is done.
const PEOPLE_PER_PART: usize = 4000;

/// One part's lines, in time order: each with its instant.
enum Lines {
    Memory(std::vec::IntoIter<(i64, String)>),
    File(std::io::Lines<BufReader<std::fs::File>>),
}

impl Lines {
    fn next_line(&mut self) -> Result<Option<(i64, String)>, Failure> {
        match self {
            Lines::Memory(lines) => Ok(lines.next()),
            Lines::File(lines) => {
                let Some(line) = lines.next() else {
                    return Ok(None);
                };
                let line = line.map_err(spill_failed)?;
                let (at, text) = line
                    .split_once('\t')
                    .ok_or_else(|| Failure::Other("a set-aside line has no instant".into()))?;
                let at = at
                    .parse()
                    .map_err(|_| Failure::Other("a set-aside line has no instant".into()))?;
                Ok(Some((at, text.to_string())))
            }
        }
    }
}

fn spill_failed(e: std::io::Error) -> Failure {
    Failure::Other(format!("cannot set simulated lines aside: {e}"))
}

/// A simulated part: its index, its lines and its counts.
type Part = (usize, Lines, Tally);

/// Simulates every person, a part at a time on every core, and writes the
/// lines merged in time order.
fn run(world: &World<'_>, owners: Vec<Owner>, out: &mut dyn Write) -> Result<Tally, Failure> {
    let mut parts: Vec<Vec<Owner>> = Vec::new();
    let mut owners = owners.into_iter().peekable();
    while owners.peek().is_some() {
        parts.push(owners.by_ref().take(PEOPLE_PER_PART).collect());
    }
    let count = parts.len();
    let spill = count > 1;
    let queue = std::sync::Mutex::new(parts.into_iter().enumerate());
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
        .min(count.max(1));
    let done: Vec<Result<Vec<Part>, Failure>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let next = queue
                            .lock()
                            .map_err(|_| Failure::Other("a simulation part stopped".into()))?
                            .next();
                        let Some((index, part)) = next else {
                            return Ok(done);
                        };
                        let (lines, tally) = simulate_part(world, part, spill)?;
                        done.push((index, lines, tally));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(Failure::Other("a simulation part stopped".into())))
            })
            .collect()
    });
    let mut tally = Tally::default();
    let mut runs: Vec<Option<Lines>> = (0..count).map(|_| None).collect();
    for part in done {
        for (index, lines, part_tally) in part? {
            tally.merge(part_tally);
            runs[index] = Some(lines);
        }
    }
    let mut runs: Vec<Lines> = runs.into_iter().flatten().collect();
    // Earliest instant first; within an instant, the earlier part (people
    // are in id order across the parts).
    let mut heads = BinaryHeap::new();
    for (index, run) in runs.iter_mut().enumerate() {
        if let Some((at, line)) = run.next_line()? {
            heads.push(std::cmp::Reverse((at, index, line)));
        }
    }
    let write_failed = |e: std::io::Error| Failure::Other(format!("cannot write: {e}"));
    while let Some(std::cmp::Reverse((_, index, line))) = heads.pop() {
        writeln!(out, "{line}").map_err(write_failed)?;
        if let Some((at, line)) = runs[index].next_line()? {
            heads.push(std::cmp::Reverse((at, index, line)));
        }
    }
    out.flush().map_err(write_failed)?;
    Ok(tally)
}

/// Simulates a part's people; their lines in time order (within an instant
/// person by person), in memory or set aside in a file.
fn simulate_part(
    world: &World<'_>,
    part: Vec<Owner>,
    spill: bool,
) -> Result<(Lines, Tally), Failure> {
    let mut tally = Tally::default();
    let mut lines: Vec<(i64, usize, usize, String)> = Vec::new();
    for (person, owner) in part.into_iter().enumerate() {
        let mut months = HashMap::new();
        for (seq, (at, event)) in simulate_owner(world, owner).into_iter().enumerate() {
            tally.add(&event, &mut months);
            let line = serde_json::to_string(&event).map_err(|e| Failure::Other(e.to_string()))?;
            lines.push((at, person, seq, line));
        }
        tally.person(months);
    }
    lines.sort_unstable_by_key(|(at, person, seq, _)| (*at, *person, *seq));
    if !spill {
        let lines: Vec<(i64, String)> = lines.into_iter().map(|(at, _, _, l)| (at, l)).collect();
        return Ok((Lines::Memory(lines.into_iter()), tally));
    }
    let mut file = tempfile::tempfile().map_err(spill_failed)?;
    {
        let mut w = BufWriter::new(&mut file);
        for (at, _, _, line) in &lines {
            writeln!(w, "{at}\t{line}").map_err(spill_failed)?;
        }
        w.flush().map_err(spill_failed)?;
    }
    file.rewind().map_err(spill_failed)?;
    Ok((Lines::File(BufReader::new(file).lines()), tally))
}

/// One person over the whole period: their lines with their instants, in
/// order.
fn simulate_owner(world: &World<'_>, owner: Owner) -> Vec<(i64, dispatch::Event)> {
    let Owner {
        mut customer,
        mut cars,
        mut opt_outs,
    } = owner;
    let vehicles: HashMap<i64, Vehicle> = cars
        .iter()
        .map(|c| (c.vehicle.id, c.vehicle.clone()))
        .collect();
    let mut person = Person::default();
    let mut lines = Vec::new();
    let hour = Duration::hours(1);
    let mut now = world.start;
    while now < world.end {
        // What became known by now.
        for car in &mut cars {
            while car.later.front().is_some_and(|r| midnight(r.date) <= now) {
                if let Some(r) = car.later.pop_front() {
                    let at = car
                        .readings
                        .partition_point(|k| (k.date, k.odometer_km) <= (r.date, r.odometer_km));
                    car.readings.insert(at, r);
                    car.vehicle.facts_version += 1;
                }
            }
        }
        while let Some(&(at, channel, out)) = opt_outs.front() {
            if at > now {
                break;
            }
            set_opt_out(&mut customer, channel, out);
            opt_outs.pop_front();
        }
        // The planning pass.
        for car in &mut cars {
            person.plan(world, car, &customer, now);
        }
        // The dispatch pass.
        let report = person.dispatch(world, &customer, &vehicles, now);
        let at = now.timestamp();
        lines.extend(report.events.into_iter().map(|e| (at, e)));
        // The next hour at which a pass finds something of theirs to do.
        let mut wake = world.end;
        for car in &cars {
            if let Some(r) = car.later.front() {
                wake = wake.min(midnight(r.date));
            }
            if car.vehicle.active {
                wake = wake.min(match car.vehicle.replan_on {
                    Some(on) if car.vehicle.facts_version <= car.vehicle.planned_version => {
                        midnight(crate::predict::add_days(on, -1))
                    }
                    _ => now,
                });
            }
        }
        if let Some(next) = person.next_due() {
            wake = wake.min(next);
        }
        now = on_the_hour(world.start, wake.max(now + hour));
    }
    lines
}

/// The first hour of the virtual clock (counted from `start`) at or after `t`.
fn on_the_hour(start: DateTime<Utc>, t: DateTime<Utc>) -> DateTime<Utc> {
    let seconds = (t - start).num_seconds();
    let hours = seconds.div_euclid(3600) + i64::from(seconds.rem_euclid(3600) > 0);
    start + Duration::hours(hours)
}

/// What the passes stored of one person, held in memory.
#[derive(Default)]
struct Person {
    /// In id (creation) order, as the store returns them.
    touchpoints: Vec<Touchpoint>,
    /// (vehicle, cycle) pairs with touchpoints.
    planned_cycles: HashSet<(i64, i32)>,
    history: History,
    next_touchpoint: i64,
    next_message: i64,
    /// Messages awaiting approval (`[approval]`): nobody approves in a
    /// simulation, so at the deadline each expires or is sent.
    awaiting: Vec<(crate::domain::Message, Vec<Touchpoint>)>,
}

impl Person {
    /// What the planning pass does with one vehicle at `now`.
    fn plan(&mut self, world: &World<'_>, car: &mut Car, owner: &Customer, now: DateTime<Utc>) {
        let v = &car.vehicle;
        // The vehicles a pass looks at (`store::planning_page`).
        let looked_at = v.active
            && (v.facts_version > v.planned_version
                || v.replan_on
                    .is_none_or(|on| on <= crate::predict::add_days(now.date_naive(), 1)));
        if !looked_at {
            return;
        }
        let is_planned = |cycle: u32| self.planned_cycles.contains(&(v.id, cycle as i32));
        let step = vehicle_step(
            world.template,
            &world.params,
            world.config,
            v,
            owner,
            &car.readings,
            is_planned,
            now,
        );
        let replan_on = match step {
            VehicleStep::Keep => return,
            VehicleStep::Mark { replan_on } => replan_on,
            VehicleStep::Build {
                plan,
                fresh,
                replan_on,
            } => {
                let cycle = plan.cycle as i32;
                // As `store::stored_plan` returns them.
                let mut stored: Vec<&Touchpoint> = if fresh {
                    Vec::new()
                } else {
                    self.touchpoints
                        .iter()
                        .filter(|t| t.vehicle_id == v.id && t.cycle == cycle)
                        .collect()
                };
                stored.sort_by(|a, b| (a.due_date, &a.code).cmp(&(b.due_date, &b.code)));
                let existing: Vec<(i64, replan::Stored<'_>)> =
                    stored.iter().map(|t| (t.id, stored_view(t))).collect();
                let reconciled = replan::reconcile(&v.vin, &plan, &existing);
                let (updates, new) = (reconciled.updates, reconciled.new);
                for update in updates {
                    if let Some(t) = self.touchpoint(update.id) {
                        apply_update(t, update);
                    }
                }
                for row in new {
                    self.next_touchpoint += 1;
                    self.touchpoints.push(Touchpoint {
                        id: self.next_touchpoint,
                        dedup_key: row.key,
                        vehicle_id: v.id,
                        customer_id: v.customer_id,
                        cycle,
                        code: row.tp.code().to_string(),
                        occurrence: row.tp.occurrence as i32,
                        channel: row.tp.channel().as_str().into(),
                        category: row.tp.category().as_str().into(),
                        priority: row.tp.entry.priority,
                        due_date: row.tp.date,
                        service_due: row.tp.service_due,
                        awaits_visit: row.tp.awaits_visit,
                        state: row.state.as_str().into(),
                        reason: row.reason,
                        message: row.tp.entry.message.clone(),
                        next_attempt_at: None,
                        lease_until: None,
                        sent_at: None,
                        provider_ref: None,
                        message_id: None,
                        attempts: 0,
                        created_at: now,
                        updated_at: now,
                    });
                    self.planned_cycles.insert((v.id, cycle));
                }
                replan_on
            }
        };
        car.vehicle.planned_version = car.vehicle.facts_version;
        car.vehicle.replan_on = Some(replan_on);
    }

    fn touchpoint(&mut self, id: i64) -> Option<&mut Touchpoint> {
        // Ids are given in creation order, one by one from 1.
        let index = usize::try_from(id - 1).ok()?;
        self.touchpoints.get_mut(index).filter(|t| t.id == id)
    }

    /// What the dispatch pass does with this person at `now`.
    fn dispatch(
        &mut self,
        world: &World<'_>,
        customer: &Customer,
        vehicles: &HashMap<i64, Vehicle>,
        now: DateTime<Utc>,
    ) -> DispatchReport {
        let mut report = DispatchReport::default();
        self.lapse_approvals(world, customer, vehicles, now, &mut report);
        // `store::dispatch::due_touchpoints`.
        let widest_today = crate::predict::add_days(now.date_naive(), 1);
        let due: Vec<Touchpoint> = self
            .touchpoints
            .iter()
            .filter(|t| {
                (TouchpointState::Planned.is(&t.state) && t.due_date <= widest_today)
                    || (TouchpointState::Deferred.is(&t.state)
                        && t.next_attempt_at.is_some_and(|n| n <= now))
            })
            .cloned()
            .collect();
        if due.is_empty() {
            return report;
        }
        let since = now - world.book.policy.history_window();
        self.history.messages.retain(|at| *at > since);
        self.history.calls.retain(|at| *at > since);
        let mut decided = Decided::default();
        dispatch::person(
            &world.book,
            customer,
            &due,
            vehicles,
            &self.history,
            now,
            &mut decided,
            &mut report,
        );
        for (id, state, reason, next) in decided.moves {
            if let Some(t) = self.touchpoint(id) {
                t.state = state.as_str().into();
                t.reason = reason;
                t.next_attempt_at = next;
                t.updated_at = now;
            }
        }
        for mut draft in decided.drafts {
            self.next_message += 1;
            draft.message.id = self.next_message;
            let channel = Channel::of_stored(&draft.message.channel);
            if crate::domain::MessageState::AwaitingApproval.is(&draft.message.state) {
                report.awaiting_approval += 1;
                self.settle_carried(&draft, TouchpointState::Held, now);
                push_sent_events(
                    &draft.message,
                    &draft.carried,
                    vehicles,
                    customer,
                    TouchpointState::Held,
                    draft.message.reason.clone(),
                    now,
                    &mut report,
                );
                // It counts in the caps while it waits (`store::dispatch::histories`).
                self.history.push(channel, now);
                self.awaiting.push((draft.message, draft.carried));
                continue;
            }
            let (outcome, reason) = if draft.call.is_some() {
                // A call task: created, nothing to send.
                *report
                    .sent
                    .entry(draft.message.channel.clone())
                    .or_default() += 1;
                (TouchpointState::Sent, draft.message.reason.clone())
            } else {
                // The capturing transports take every message.
                let settled = settle(
                    &draft.message,
                    Outcome::Sent { provider_ref: None },
                    world.max_attempts,
                    now,
                );
                tally(&settled, &mut report);
                (settled.outcome, settled.reason)
            };
            report.merged += draft.carried.len() - 1;
            self.settle_carried(&draft, outcome, now);
            self.history.push(channel, now);
            push_sent_events(
                &draft.message,
                &draft.carried,
                vehicles,
                customer,
                outcome,
                reason,
                now,
                &mut report,
            );
        }
        report
    }

    /// The touchpoints a new message carries take its outcome (the first
    /// keeps the message's own reason when it waits for approval).
    fn settle_carried(
        &mut self,
        draft: &crate::dispatch::Draft,
        outcome: TouchpointState,
        now: DateTime<Utc>,
    ) {
        let held = outcome == TouchpointState::Held;
        for (i, carried) in draft.carried.iter().enumerate() {
            if let Some(t) = self.touchpoint(carried.id) {
                t.message_id = Some(draft.message.id);
                t.state = outcome.as_str().into();
                t.reason = if i > 0 {
                    Some(sent_together_with(&draft.message.key))
                } else if held {
                    draft.message.reason.clone()
                } else {
                    None
                };
                t.updated_at = now;
            }
        }
    }

    /// The messages awaiting approval whose deadline came: expired, or sent
    /// (`Dispatcher::lapse_approvals`).
    fn lapse_approvals(
        &mut self,
        world: &World<'_>,
        customer: &Customer,
        vehicles: &HashMap<i64, Vehicle>,
        now: DateTime<Utc>,
        report: &mut DispatchReport,
    ) {
        let (lapsed, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.awaiting)
            .into_iter()
            .partition(|(m, _)| m.next_attempt_at.is_none_or(|d| d <= now));
        self.awaiting = waiting;
        for (message, carried) in lapsed {
            let channel = Channel::of_stored(&message.channel);
            // It counted in the caps from its creation; sent, it counts from now.
            let counted = match channel {
                Channel::Call => &mut self.history.calls,
                _ => &mut self.history.messages,
            };
            if let Some(i) = counted.iter().position(|at| *at == message.created_at) {
                counted.remove(i);
            }
            let (outcome, reason) =
                match dispatch::lapse(&world.book.approval, &message, Some(customer)) {
                    dispatch::Lapse::Send(_) => {
                        report.approval_lapsed_sent += 1;
                        // Sent by the pass's retry, which never sends late
                        // (`Dispatcher::retry_due`).
                        let due = carried.iter().map(|c| c.due_date);
                        if let Some(reason) =
                            dispatch::too_late(&world.book, Some(customer), due, now)
                        {
                            report.skipped += 1;
                            (TouchpointState::Skipped, Some(reason))
                        } else {
                            let settled = settle(
                                &message,
                                Outcome::Sent { provider_ref: None },
                                world.max_attempts,
                                now,
                            );
                            tally(&settled, report);
                            self.history.push(channel, now);
                            (settled.outcome, settled.reason)
                        }
                    }
                    dispatch::Lapse::Expire(reason) => {
                        report.approval_expired += 1;
                        (TouchpointState::Cancelled, Some(reason))
                    }
                };
            // As `store::dispatch::store_outcomes` and the pass's lines do: one
            // outcome and reason for every touchpoint, a reason kept when none.
            for c in &carried {
                if let Some(t) = self.touchpoint(c.id) {
                    t.state = outcome.as_str().into();
                    if reason.is_some() {
                        t.reason = reason.clone();
                    }
                    t.updated_at = now;
                }
                report.events.push(crate::dispatch::event(
                    c,
                    vehicles,
                    customer,
                    outcome,
                    reason.clone(),
                    now,
                ));
            }
        }
    }

    /// The first instant at which one of the person's touchpoints is due
    /// for the dispatch pass (`store::dispatch::due_touchpoints`), or a
    /// message's approval deadline comes.
    fn next_due(&self) -> Option<DateTime<Utc>> {
        let deadlines = self.awaiting.iter().filter_map(|(m, _)| m.next_attempt_at);
        self.touchpoints
            .iter()
            .filter_map(|t| {
                if TouchpointState::Planned.is(&t.state) {
                    Some(midnight(crate::predict::add_days(t.due_date, -1)))
                } else if TouchpointState::Deferred.is(&t.state) {
                    t.next_attempt_at
                } else {
                    None
                }
            })
            .chain(deadlines)
            .min()
    }
}

/// A re-plan's change to a touchpoint (`store::apply_plan`).
fn apply_update(t: &mut Touchpoint, update: replan::Update) {
    match update.change {
        replan::Change::Drop => {
            t.state = TouchpointState::Cancelled.as_str().into();
            t.reason = Some(replan::DROPPED_REASON.into());
        }
        replan::Change::Update {
            due_date,
            state,
            reason,
            awaits_visit,
        } => {
            t.awaits_visit = awaits_visit;
            t.due_date = due_date;
            t.next_attempt_at = None;
            t.service_due = update.service_due;
            t.state = state.as_str().into();
            t.reason = reason;
        }
    }
}
