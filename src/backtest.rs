//! `touchpoint backtest` (docs/commands.md): replays a dealer's history through the
//! predictor and measures how close the predicted due dates came to the real
//! ones, and whether the first service reminder would have gone out in time.
//!
//! Everything here is pure except [`run_files`], which reads the two CSV
//! files and the plan template. No database is touched.
//!
//! - A history with service visits: each service visit is predicted from what
//!   was known on the day before it (every visit up to the previous one).
//! - A history of plain readings: a service counts as due where the readings
//!   cross the schedule's threshold (distance or time, whichever first,
//!   interpolated between the readings around it), and each due point is
//!   predicted from what a dealer would have seen: the purchase and the
//!   earlier due points, taken as service visits. A due point counts only
//!   where the readings around it are at most [`MAX_GAP_DAYS`] apart.

use crate::config::{Config, ConfigError, DistanceUnit};
use crate::domain::{Category, Invalid, VisitKind, parse_date, parse_id};
use crate::import::source::LineBreaks;
use crate::plan::{Anchor, Entry, PlanParams, Template, adaptive_extra_lead, service_due_date};
use crate::predict::{
    DecidedBy, Facts, Prediction, RateSource, Reading, Schedule, add_days, add_months, predict,
};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

/// A due point counts only where the readings around it are at most this
/// many days apart; further apart, its date is too vague to score.
pub const MAX_GAP_DAYS: i64 = 62;
/// A reminder is on time from this many days before the visit…
pub const ON_TIME_MAX_DAYS_BEFORE: i64 = 45;
/// …to this many days before it (both included); closer or after is late.
pub const ON_TIME_MIN_DAYS_BEFORE: i64 = 3;
/// A guard against schedules so short that a history would hold millions of
/// due points.
const MAX_DUE_POINTS: usize = 10_000;

/// Command-line overrides of the configured schedules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    pub interval_km: Option<u32>,
    pub interval_months: Option<u32>,
}

impl Options {
    /// Intervals of zero are refused (a usage error).
    pub fn check(&self) -> Result<(), BacktestError> {
        if self.interval_km == Some(0) {
            return Err(BacktestError::BadOption("--interval-km"));
        }
        if self.interval_months == Some(0) {
            return Err(BacktestError::BadOption("--interval-months"));
        }
        Ok(())
    }

    /// The schedule with the overrides applied. An override replaces the
    /// first interval of its kind too: the given interval applies to every
    /// service.
    pub fn apply(&self, mut schedule: Schedule) -> Schedule {
        if let Some(km) = self.interval_km {
            schedule.interval_km = km;
            schedule.first_interval_km = None;
        }
        if let Some(months) = self.interval_months {
            schedule.interval_months = months;
            schedule.first_interval_months = None;
        }
        schedule
    }
}

/// One bad row of an input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    pub file: String,
    pub line: u64,
    pub column: String,
    pub reason: String,
}

impl fmt::Display for BadRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.column, self.reason
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    /// A file that cannot be read at all.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Invalid input data (exit 65): every bad row, one per line, as
    /// `FILE:LINE: column: reason`.
    #[error("{}", lines(.0))]
    Invalid(Vec<BadRow>),
    /// An interval override of zero (a usage error).
    #[error("{0} must be at least 1")]
    BadOption(&'static str),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl BacktestError {
    /// The exit code (docs/commands.md): 65 invalid input data, 64 usage, 78 invalid
    /// configuration, 1 anything else (a file that cannot be read).
    pub fn exit_code(&self) -> u8 {
        match self {
            BacktestError::Invalid(_) => 65,
            BacktestError::BadOption(_) => 64,
            BacktestError::Config(_) => 78,
            BacktestError::Read { .. } => 1,
        }
    }
}

fn lines(rows: &[BadRow]) -> String {
    rows.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A vehicle's history as the backtest replays it (distances in km).
#[derive(Debug, Clone, PartialEq)]
pub struct Vehicle {
    pub id: String,
    pub make: String,
    pub model: String,
    pub purchase_date: NaiveDate,
    pub purchase_odometer_km: i64,
    pub declared_monthly_km: Option<f64>,
    /// Sorted by date; never going backwards.
    pub readings: Vec<Reading>,
}

/// Reads the two import files (the columns of docs/csv.md) and replays them.
pub fn run_files(
    vehicles: &Path,
    visits: &Path,
    opts: &Options,
    config: &Config,
) -> Result<Report, BacktestError> {
    opts.check()?;
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| BacktestError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let (vehicles_csv, visits_csv) = (read(vehicles)?, read(visits)?);
    let history = parse_files(
        &vehicles.display().to_string(),
        &vehicles_csv,
        &visits.display().to_string(),
        &visits_csv,
        config.settings.import.distance_unit,
    )?;
    let template = config.plan_template()?;
    run(&history, opts, config, &template)
}

/// Replays parsed histories: the schedule of each vehicle is the configured
/// one for its make and model, with `opts` applied.
pub fn run(
    vehicles: &[Vehicle],
    opts: &Options,
    config: &Config,
    template: &Template,
) -> Result<Report, BacktestError> {
    opts.check()?;
    let params = config.settings.plan_params();
    let reminder = first_service_reminder(template);
    let mut cases = Vec::new();
    let mut excluded = 0;
    for v in vehicles {
        let schedule = opts.apply(config.schedule_for(&v.make, &v.model));
        let replay = replay(v, schedule, &params, reminder);
        cases.extend(replay.cases);
        excluded += replay.excluded;
    }
    Ok(Report::new(&cases, excluded, vehicles.len(), reminder))
}

/// The template's first service reminder: its first service touchpoint
/// anchored on the due date.
pub fn first_service_reminder(template: &Template) -> Option<&Entry> {
    template
        .entries
        .iter()
        .find(|e| e.anchor == Anchor::ServiceDue && e.category == Category::Service)
}

/// One predicted service and what really happened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Case {
    pub predicted: NaiveDate,
    pub actual: NaiveDate,
    pub rate_source: RateSource,
    /// Days the adaptive reminder moved earlier (as the plan would).
    pub extra_lead_days: i64,
    /// When the first service reminder would have gone out.
    pub reminder: Option<NaiveDate>,
}

impl Case {
    /// Predicted due date − actual date: positive is predicted too late.
    pub fn error_days(&self) -> i64 {
        (self.predicted - self.actual).num_days()
    }

    pub fn timeliness(&self) -> Option<Timeliness> {
        self.reminder.map(|r| Timeliness::of(r, self.actual))
    }
}

/// How a reminder fell relative to the visit it was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timeliness {
    /// Between 45 and 3 days before the visit, both included.
    OnTime,
    /// Less than 3 days before the visit, or after it.
    Late,
    /// More than 45 days before the visit.
    Early,
}

impl Timeliness {
    pub fn of(reminder: NaiveDate, visit: NaiveDate) -> Self {
        let before = (visit - reminder).num_days();
        if before < ON_TIME_MIN_DAYS_BEFORE {
            Timeliness::Late
        } else if before > ON_TIME_MAX_DAYS_BEFORE {
            Timeliness::Early
        } else {
            Timeliness::OnTime
        }
    }
}

/// The scored predictions of one vehicle.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replay {
    pub cases: Vec<Case>,
    /// Due points not scored: the readings around them were too far apart.
    pub excluded: usize,
}

/// Replays one vehicle: its service visits if it has any, else the due
/// points its readings cross.
pub fn replay(
    v: &Vehicle,
    schedule: Schedule,
    params: &PlanParams,
    reminder: Option<&Entry>,
) -> Replay {
    let case = |p: &Prediction, actual: NaiveDate| {
        let extra = adaptive_extra_lead(p, params);
        Case {
            predicted: p.due_date,
            actual,
            rate_source: p.rate.source,
            extra_lead_days: extra,
            reminder: reminder.map(|e| service_due_date(e, p.due_date, extra)),
        }
    };
    let mut out = Replay::default();
    if v.readings.iter().any(|r| r.kind == VisitKind::Service) {
        let all = facts(v, &v.readings, schedule);
        for visit in v.readings.iter().filter(|r| r.kind == VisitKind::Service) {
            // What was known at the visit before it: everything before its day.
            let p = predict(&all, &params.predict, add_days(visit.date, -1));
            out.cases.push(case(&p, visit.date));
        }
        return out;
    }
    let points: Vec<(NaiveDate, i64)> =
        v.readings.iter().map(|r| (r.date, r.odometer_km)).collect();
    let mut seen: Vec<Reading> = Vec::new();
    for due in due_points(
        (v.purchase_date, v.purchase_odometer_km),
        &points,
        &schedule,
    ) {
        let as_of = seen.last().map_or(v.purchase_date, |r| r.date);
        let p = predict(&facts(v, &seen, schedule), &params.predict, as_of);
        if due.gap_days <= MAX_GAP_DAYS {
            out.cases.push(case(&p, due.date));
        } else {
            out.excluded += 1;
        }
        seen.push(Reading {
            date: due.date,
            odometer_km: due.odometer_km,
            kind: VisitKind::Service,
        });
    }
    out
}

fn facts<'a>(v: &Vehicle, readings: &'a [Reading], schedule: Schedule) -> Facts<'a> {
    Facts {
        purchase_date: v.purchase_date,
        purchase_odometer_km: v.purchase_odometer_km,
        readings,
        declared_monthly_km: v.declared_monthly_km,
        schedule,
    }
}

/// Where a history of readings says a service was due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuePoint {
    pub date: NaiveDate,
    /// The threshold itself when distance decided, else the odometer
    /// interpolated on the date.
    pub odometer_km: i64,
    pub decided_by: DecidedBy,
    /// Days between the readings around the due point.
    pub gap_days: i64,
}

/// The due points of a history of readings: from the purchase (`start`),
/// each where the odometer crosses the last due point's odometer plus the
/// interval, or where the interval months have passed, whichever first.
/// Readings are sorted by date and never go backwards; those before `start`
/// are ignored. Stops where the next due point is beyond the last reading.
pub fn due_points(
    start: (NaiveDate, i64),
    readings: &[(NaiveDate, i64)],
    schedule: &Schedule,
) -> Vec<DuePoint> {
    let mut points = Vec::with_capacity(readings.len() + 1);
    points.push(start);
    points.extend(readings.iter().copied().filter(|p| p.0 >= start.0));
    let last_date = points.last().map_or(start.0, |p| p.0);
    let mut out = Vec::new();
    let mut base = start;
    while out.len() < MAX_DUE_POINTS {
        let (km, months) = if out.is_empty() {
            (
                schedule.first_interval_km.unwrap_or(schedule.interval_km),
                schedule
                    .first_interval_months
                    .unwrap_or(schedule.interval_months),
            )
        } else {
            (schedule.interval_km, schedule.interval_months)
        };
        let target = base.1 + i64::from(km);
        let time_due = add_months(base.0, months);
        let by_km = points
            .windows(2)
            .position(|w| w[1].1 >= target)
            .map(|i| (date_at(points[i], points[i + 1], target), i));
        let by_time = if time_due <= last_date {
            points.windows(2).position(|w| w[1].0 >= time_due)
        } else {
            None
        };
        let (date, odometer_km, decided_by, i) = match (by_km, by_time) {
            (Some((date, i)), _) if date < time_due => (date, target, DecidedBy::Km, i),
            (_, Some(i)) => (
                time_due,
                odometer_at(points[i], points[i + 1], time_due),
                DecidedBy::Time,
                i,
            ),
            _ => break,
        };
        out.push(DuePoint {
            date,
            odometer_km,
            decided_by,
            gap_days: (points[i + 1].0 - points[i].0).num_days(),
        });
        base = (date, odometer_km);
    }
    out
}

/// The day the odometer reached `target` between readings `a` and `b`
/// (`a.1 < target <= b.1`), rounded as the predictor rounds.
fn date_at(a: (NaiveDate, i64), b: (NaiveDate, i64), target: i64) -> NaiveDate {
    let frac = (target - a.1) as f64 / (b.1 - a.1).max(1) as f64;
    add_days(a.0, ((b.0 - a.0).num_days() as f64 * frac).round() as i64)
}

/// The odometer on `date` between readings `a` and `b`.
fn odometer_at(a: (NaiveDate, i64), b: (NaiveDate, i64), date: NaiveDate) -> i64 {
    let days = (b.0 - a.0).num_days();
    if days <= 0 {
        return b.1;
    }
    let frac = (date - a.0).num_days() as f64 / days as f64;
    a.1 + ((b.1 - a.1) as f64 * frac).round() as i64
}

/// The backtest's answer (`backtest --json`; fields may be added, never
/// renamed). Shares are fractions 0..1; with no predictions every figure is 0.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub predictions: usize,
    pub median_abs_error_days: f64,
    pub within_7: f64,
    pub within_14: f64,
    /// First service reminder between 45 and 3 days before the visit.
    pub on_time: f64,
    /// Less than 3 days before the visit, or after it.
    pub late: f64,
    /// More than 45 days before the visit.
    pub early: f64,
    /// Mean of predicted − actual, days (positive: predicted too late).
    pub mean_error_days: f64,
    pub vehicles: usize,
    /// Due points not scored: the readings around them were more than 62
    /// days apart.
    pub excluded_due_points: usize,
    /// The template's first service reminder that on_time/late/early measure.
    pub reminder_code: Option<String>,
    /// Its lead before the due date, days, before any adaptive extra lead.
    pub reminder_lead_days: Option<i64>,
    /// The mean adaptive extra lead added to it, days.
    pub mean_extra_lead_days: f64,
}

impl Report {
    pub fn new(cases: &[Case], excluded: usize, vehicles: usize, reminder: Option<&Entry>) -> Self {
        let n = cases.len();
        let share = |count: usize| if n == 0 { 0.0 } else { count as f64 / n as f64 };
        let mut abs: Vec<i64> = cases.iter().map(|c| c.error_days().abs()).collect();
        abs.sort_unstable();
        let median = match n {
            0 => 0.0,
            _ if n % 2 == 1 => abs[n / 2] as f64,
            _ => (abs[n / 2 - 1] + abs[n / 2]) as f64 / 2.0,
        };
        let within = |days: i64| share(abs.iter().filter(|&&e| e <= days).count());
        let count = |t: Timeliness| cases.iter().filter(|c| c.timeliness() == Some(t)).count();
        let mean = |f: &dyn Fn(&Case) -> i64| {
            if n == 0 {
                0.0
            } else {
                cases.iter().map(|c| f(c) as f64).sum::<f64>() / n as f64
            }
        };
        // The lead before the due date of a service due on a given day.
        let lead = reminder.map(|e| {
            let due = NaiveDate::default();
            (due - service_due_date(e, due, 0)).num_days()
        });
        Self {
            predictions: n,
            median_abs_error_days: median,
            within_7: within(7),
            within_14: within(14),
            on_time: share(count(Timeliness::OnTime)),
            late: share(count(Timeliness::Late)),
            early: share(count(Timeliness::Early)),
            mean_error_days: mean(&Case::error_days),
            vehicles,
            excluded_due_points: excluded,
            reminder_code: reminder.map(|e| e.code.clone()),
            reminder_lead_days: lead,
            mean_extra_lead_days: mean(&|c| c.extra_lead_days),
        }
    }

    /// The human-readable table of the non-JSON output.
    pub fn to_text(&self) -> String {
        let pct = |x: f64| format!("{:.1}%", x * 100.0);
        let mut rows: Vec<(String, String)> = vec![
            ("vehicles".into(), self.vehicles.to_string()),
            ("predictions".into(), self.predictions.to_string()),
            (
                "due points not scored (readings > 62 days apart)".into(),
                self.excluded_due_points.to_string(),
            ),
            (
                "median absolute error".into(),
                format!("{:.1} days", self.median_abs_error_days),
            ),
            (
                "mean error (predicted − actual)".into(),
                format!("{:+.1} days", self.mean_error_days),
            ),
            ("within ±7 days".into(), pct(self.within_7)),
            ("within ±14 days".into(), pct(self.within_14)),
        ];
        match (&self.reminder_code, self.reminder_lead_days) {
            (Some(code), Some(lead)) => {
                rows.push((
                    format!("first reminder '{code}': lead"),
                    format!(
                        "{lead} days + {:.1} adaptive (mean)",
                        self.mean_extra_lead_days
                    ),
                ));
                rows.push((
                    "  on time (45 to 3 days before the visit)".into(),
                    pct(self.on_time),
                ));
                rows.push((
                    "  late (under 3 days before, or after)".into(),
                    pct(self.late),
                ));
                rows.push(("  early (over 45 days before)".into(), pct(self.early)));
            }
            _ => rows.push((
                "first reminder".into(),
                "none (the template has no service_due reminder)".into(),
            )),
        }
        let width = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        let mut text = String::new();
        for (k, v) in rows {
            let pad = width - k.chars().count();
            let _ = writeln!(text, "{k}{:pad$}  {v}", "");
        }
        text
    }
}

const VEHICLE_COLUMNS: [&str; 6] = [
    "vin",
    "make",
    "model",
    "purchase_date",
    "purchase_odometer_km",
    "avg_monthly_km",
];
const VISIT_COLUMNS: [&str; 4] = ["vin", "date", "odometer_km", "kind"];

/// Parses the vehicles and visits files (named for the error messages) into
/// sorted histories, checking every row; any bad row fails the whole input.
/// Vehicle ids need not be VINs. Distances are converted from `unit` to km.
pub fn parse_files(
    vehicles_name: &str,
    vehicles_csv: &[u8],
    visits_name: &str,
    visits_csv: &[u8],
    unit: DistanceUnit,
) -> Result<Vec<Vehicle>, BacktestError> {
    let mut bad = Vec::new();
    let mut vehicles: Vec<Vehicle> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    // Vehicles whose row is bad: their visits are not reported again.
    let mut broken: HashSet<String> = HashSet::new();
    let table = Table::read(vehicles_name, vehicles_csv, &VEHICLE_COLUMNS, &mut bad);
    for row in table.rows() {
        let id = row.check(&mut bad, "vin", parse_id(row.get("vin")));
        let purchase_date = row.check(
            &mut bad,
            "purchase_date",
            parse_date(row.get("purchase_date")),
        );
        let purchase_odometer_km = row.check(
            &mut bad,
            "purchase_odometer_km",
            optional(row.get("purchase_odometer_km"), |s| parse_distance(s, unit))
                .map(|o| o.unwrap_or(0)),
        );
        let declared_monthly_km = row.check(
            &mut bad,
            "avg_monthly_km",
            optional(row.get("avg_monthly_km"), |s| parse_monthly(s, unit)),
        );
        let (Some(id), Some(purchase_date), Some(purchase_odometer_km), Some(declared_monthly_km)) = (
            id.clone(),
            purchase_date,
            purchase_odometer_km,
            declared_monthly_km,
        ) else {
            broken.extend(id);
            continue;
        };
        if index.contains_key(&id) {
            bad.push(row.bad("vin", format!("'{id}' is listed twice")));
            continue;
        }
        index.insert(id.clone(), vehicles.len());
        vehicles.push(Vehicle {
            id,
            make: row.get("make").trim().to_string(),
            model: row.get("model").trim().to_string(),
            purchase_date,
            purchase_odometer_km,
            declared_monthly_km,
            readings: Vec::new(),
        });
    }
    // (vehicle, line, reading) in file order, to be checked once sorted.
    let mut visits: Vec<(usize, u64, Reading)> = Vec::new();
    let table = Table::read(visits_name, visits_csv, &VISIT_COLUMNS, &mut bad);
    for row in table.rows() {
        let id = row.check(&mut bad, "vin", parse_id(row.get("vin")));
        if id.as_ref().is_some_and(|id| broken.contains(id)) {
            continue;
        }
        let vehicle = id.and_then(|id| {
            let found = index.get(&id).copied();
            if found.is_none() {
                bad.push(row.bad("vin", format!("'{id}' is not in {vehicles_name}")));
            }
            found
        });
        let date = row.check(&mut bad, "date", parse_date(row.get("date")));
        let odometer_km = row.check(
            &mut bad,
            "odometer_km",
            parse_distance(row.get("odometer_km"), unit),
        );
        let kind = row.check(&mut bad, "kind", VisitKind::parse(row.get("kind")));
        let (Some(vehicle), Some(date), Some(odometer_km), Some(kind)) =
            (vehicle, date, odometer_km, kind)
        else {
            continue;
        };
        let purchase = vehicles[vehicle].purchase_date;
        if date < purchase {
            bad.push(row.bad(
                "date",
                format!("{date} is before the purchase on {purchase}"),
            ));
            continue;
        }
        visits.push((
            vehicle,
            row.line,
            Reading {
                date,
                odometer_km,
                kind,
            },
        ));
    }
    visits.sort_by_key(|&(v, line, r)| (v, r.date, line));
    for (vehicle, line, reading) in visits {
        let v = &mut vehicles[vehicle];
        let (prev_date, prev_km) = v
            .readings
            .last()
            .map_or((v.purchase_date, v.purchase_odometer_km), |r| {
                (r.date, r.odometer_km)
            });
        if reading.odometer_km < prev_km {
            bad.push(BadRow {
                file: visits_name.to_string(),
                line,
                column: "odometer_km".into(),
                reason: format!(
                    "goes backwards: {} km on {} after {prev_km} km on {prev_date}",
                    reading.odometer_km, reading.date
                ),
            });
            continue;
        }
        v.readings.push(reading);
    }
    if bad.is_empty() {
        Ok(vehicles)
    } else {
        bad.sort_by(|a, b| {
            (a.file != vehicles_name, a.line).cmp(&(b.file != vehicles_name, b.line))
        });
        Err(BacktestError::Invalid(bad))
    }
}

/// The data rows of a CSV file and where its columns are.
struct Table<'a> {
    file: &'a str,
    columns: HashMap<&'static str, usize>,
    records: Vec<(u64, csv::StringRecord)>,
}

impl<'a> Table<'a> {
    /// Reads a CSV file with a header holding `required` (a UTF-8 BOM is
    /// accepted; other columns are ignored). Unreadable rows and missing
    /// columns go to `bad`.
    fn read(file: &'a str, data: &[u8], required: &[&'static str], bad: &mut Vec<BadRow>) -> Self {
        let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(LineBreaks::new(data));
        let at = |line: u64, column: &str, reason: String| BadRow {
            file: file.to_string(),
            line,
            column: column.to_string(),
            reason,
        };
        let mut table = Self {
            file,
            columns: HashMap::new(),
            records: Vec::new(),
        };
        let headers = match reader.headers() {
            Ok(h) => h.clone(),
            Err(e) => {
                bad.push(at(1, "(header)", e.to_string()));
                return table;
            }
        };
        for &name in required {
            match headers.iter().position(|h| h.trim() == name) {
                Some(i) => {
                    table.columns.insert(name, i);
                }
                None => bad.push(at(1, name, "missing column in the header".into())),
            }
        }
        if table.columns.len() < required.len() {
            return table;
        }
        loop {
            let mut r = csv::StringRecord::new();
            // The line an editor shows, for LF, CRLF and CR files alike.
            let read = reader.read_record(&mut r);
            let byte = match &read {
                Ok(_) => r.position().map_or(0, |p| p.byte()),
                Err(e) => e.position().map_or(0, |p| p.byte()),
            };
            let line = reader.get_mut().line_at(byte);
            match read {
                Ok(false) => break,
                Ok(true) if r.iter().all(|f| f.trim().is_empty()) => {}
                Ok(true) if r.len() != headers.len() => bad.push(at(
                    line,
                    "(row)",
                    format!("has {} fields, the header has {}", r.len(), headers.len()),
                )),
                Ok(true) => table.records.push((line, r)),
                Err(e) => {
                    let fatal = !matches!(e.kind(), csv::ErrorKind::Utf8 { .. });
                    bad.push(at(line, "(row)", e.to_string()));
                    if fatal {
                        break;
                    }
                }
            }
        }
        table
    }

    fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.records.iter().map(|(line, record)| Row {
            file: self.file,
            line: *line,
            record,
            columns: &self.columns,
        })
    }
}

/// One data row, its fields found by column name.
struct Row<'a> {
    file: &'a str,
    line: u64,
    record: &'a csv::StringRecord,
    columns: &'a HashMap<&'static str, usize>,
}

impl Row<'_> {
    fn get(&self, column: &str) -> &str {
        self.columns
            .get(column)
            .and_then(|&i| self.record.get(i))
            .unwrap_or("")
    }

    /// The value, or `None` with the reason recorded in `bad`.
    fn check<T>(&self, bad: &mut Vec<BadRow>, column: &str, r: Result<T, Invalid>) -> Option<T> {
        r.map_err(|e| bad.push(self.bad(column, e.0))).ok()
    }

    fn bad(&self, column: &str, reason: impl Into<String>) -> BadRow {
        BadRow {
            file: self.file.to_string(),
            line: self.line,
            column: column.to_string(),
            reason: reason.into(),
        }
    }
}

/// An empty field is `None`.
fn optional<T>(s: &str, parse: impl Fn(&str) -> Result<T, Invalid>) -> Result<Option<T>, Invalid> {
    if s.trim().is_empty() {
        Ok(None)
    } else {
        parse(s).map(Some)
    }
}

/// An odometer value in `unit`, as whole km.
fn parse_distance(s: &str, unit: DistanceUnit) -> Result<i64, Invalid> {
    crate::domain::parse_distance_km(s, unit.km())
}

/// A declared monthly mileage in `unit`, as km.
fn parse_monthly(s: &str, unit: DistanceUnit) -> Result<f64, Invalid> {
    crate::domain::parse_monthly_km(s, unit.km())
}

#[cfg(test)]
mod tests;
