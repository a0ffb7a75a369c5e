//! The maintenance predictor (docs/rules.md): pure functions over the facts of one
//! vehicle, no I/O. Dates are calendar dates in the owner's time zone.

use crate::domain::VisitKind;
use chrono::{Days, Months, NaiveDate};
use serde::Serialize;

/// Days in an average month (365.25 / 12).
pub const DAYS_PER_MONTH: f64 = 365.25 / 12.0;

/// When maintenance is due: a distance or a time since the last service,
/// whichever comes first; the first service may differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub interval_km: u32,
    pub interval_months: u32,
    pub first_interval_km: Option<u32>,
    pub first_interval_months: Option<u32>,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            interval_km: 15_000,
            interval_months: 12,
            first_interval_km: None,
            first_interval_months: None,
        }
    }
}

/// One dated odometer reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub date: NaiveDate,
    pub odometer_km: i64,
    pub kind: VisitKind,
}

/// Everything the predictor knows of a vehicle.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub purchase_date: NaiveDate,
    pub purchase_odometer_km: i64,
    /// Readings sorted by date (ties in any order).
    pub readings: &'a [Reading],
    pub declared_monthly_km: Option<f64>,
    pub schedule: Schedule,
}

/// Tuning of the predictor (config `[prediction]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub default_monthly_km: f64,
    pub min_span_days: i64,
    pub half_life_days: f64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            default_monthly_km: 1250.0,
            min_span_days: 30,
            half_life_days: 120.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DecidedBy {
    Km,
    Time,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RateSource {
    Readings,
    Declared,
    Default,
}

/// An average monthly mileage and how sure we are of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub km_per_month: f64,
    pub source: RateSource,
    /// Standard deviation of the rate, km per month.
    pub sigma_km_per_month: f64,
}

impl Rate {
    pub fn km_per_day(&self) -> f64 {
        self.km_per_month / DAYS_PER_MONTH
    }
}

/// The next service of a vehicle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// 1 for the first service after purchase, 2 for the next, …
    pub service_number: u32,
    pub due_date: NaiveDate,
    pub decided_by: DecidedBy,
    /// Odometer expected on the due date.
    pub due_odometer_km: i64,
    pub km_due_date: Option<NaiveDate>,
    pub time_due_date: NaiveDate,
    pub rate: Rate,
    pub last_service_date: Option<NaiveDate>,
    /// One standard deviation of the mileage due date, days.
    pub uncertainty_days: f64,
}

/// Relative rate uncertainty of a rate measured from readings, before the
/// readings show a spread of their own (one segment is all a new owner has).
/// On real bus odometers (`tests/data/rust1987`) the rate of the next
/// service interval differs from the recent one by about this share (one
/// standard deviation of the log ratio).
const REL_SIGMA_PRIOR: f64 = 0.3;
/// How many segments the prior counts for against the measured ones.
const PRIOR_SEGMENTS: f64 = 2.0;
/// Readings closer than this are merged into one segment: a rate over a few
/// days says little.
const MIN_SEGMENT_DAYS: i64 = 7;
const REL_SIGMA_DECLARED: f64 = 0.3;
const REL_SIGMA_DEFAULT: f64 = 0.5;

/// The average monthly mileage from the readings (the purchase counts as a
/// reading), else the declared value, else the configured default.
///
/// With readings spanning at least `min_span_days` it is a recency-weighted
/// average of the rates between consecutive readings: each day of driving
/// counts with a weight that halves every `half_life_days` back from the
/// latest reading, so a segment weighs by how many recent days it covers
/// (readings a few days apart cannot swing it). For exactly two points it is
/// the slope between them.
pub fn estimate_rate(points: &[(NaiveDate, i64)], declared: Option<f64>, params: &Params) -> Rate {
    let (Some(&first), Some(&last)) = (points.first(), points.last()) else {
        return fallback_rate(declared, params);
    };
    let span = (last.0 - first.0).num_days();
    if points.len() < 2 || span < params.min_span_days || span <= 0 {
        return fallback_rate(declared, params);
    }
    let segments = segments(points, params.half_life_days);
    let slope = |a: (NaiveDate, i64), b: (NaiveDate, i64)| {
        (b.1 - a.1) as f64 / (b.0 - a.0).num_days() as f64
    };
    let sw: f64 = segments.iter().map(|s| s.weight).sum();
    let per_day = match segments.as_slice() {
        [only] => only.per_day,
        _ if sw > 0.0 && sw.is_finite() => {
            segments.iter().map(|s| s.weight * s.per_day).sum::<f64>() / sw
        }
        _ => slope(first, last),
    }
    .max(0.0);
    let km_per_month = per_day * DAYS_PER_MONTH;
    Rate {
        km_per_month,
        source: RateSource::Readings,
        sigma_km_per_month: km_per_month * relative_spread(&segments, per_day),
    }
}

/// The driving between two readings.
#[derive(Debug, Clone, Copy)]
struct Segment {
    per_day: f64,
    /// The recency weight integrated over its days (up to a constant factor).
    weight: f64,
}

/// Consecutive readings (sorted, spanning at least a day) as segments of at
/// least [`MIN_SEGMENT_DAYS`], shorter ones merged into the next (a short
/// tail into the previous one).
fn segments(points: &[(NaiveDate, i64)], half_life_days: f64) -> Vec<Segment> {
    let mut bounds: Vec<((NaiveDate, i64), (NaiveDate, i64))> = Vec::new();
    let mut start = points[0];
    for &p in &points[1..] {
        if (p.0 - start.0).num_days() >= MIN_SEGMENT_DAYS {
            bounds.push((start, p));
            start = p;
        }
    }
    if let Some(&last) = points.last()
        && last.0 > start.0
    {
        match bounds.last_mut() {
            Some(b) => b.1 = last,
            None => bounds.push((start, last)),
        }
    }
    let latest = bounds.last().map_or(start.0, |b| b.1.0);
    let decay = |d: NaiveDate| 0.5f64.powf((latest - d).num_days() as f64 / half_life_days);
    bounds
        .into_iter()
        .map(|(a, b)| Segment {
            per_day: (b.1 - a.1) as f64 / (b.0 - a.0).num_days() as f64,
            weight: decay(b.0) - decay(a.0),
        })
        .collect()
}

/// The relative uncertainty of the rate: the recency-weighted spread of the
/// segments' rates around it, relative to it, shrunk towards
/// [`REL_SIGMA_PRIOR`] while there are few segments.
fn relative_spread(segments: &[Segment], per_day: f64) -> f64 {
    let sw: f64 = segments.iter().map(|s| s.weight).sum();
    if segments.len() < 2 || per_day <= 0.0 || !(sw > 0.0 && sw.is_finite()) {
        return REL_SIGMA_PRIOR;
    }
    let var = segments
        .iter()
        .map(|s| s.weight * (s.per_day - per_day).powi(2))
        .sum::<f64>()
        / sw;
    let measured = var.sqrt() / per_day;
    let n = segments.len() as f64;
    ((PRIOR_SEGMENTS * REL_SIGMA_PRIOR.powi(2) + n * measured.powi(2)) / (PRIOR_SEGMENTS + n))
        .sqrt()
}

fn fallback_rate(declared: Option<f64>, params: &Params) -> Rate {
    match declared {
        Some(km) if km.is_finite() && km > 0.0 => Rate {
            km_per_month: km,
            source: RateSource::Declared,
            sigma_km_per_month: km * REL_SIGMA_DECLARED,
        },
        _ => Rate {
            km_per_month: params.default_monthly_km,
            source: RateSource::Default,
            sigma_km_per_month: params.default_monthly_km * REL_SIGMA_DEFAULT,
        },
    }
}

/// Adds calendar months, clamped to the month's end (Jan 31 + 1 = Feb 28/29).
pub fn add_months(date: NaiveDate, months: u32) -> NaiveDate {
    date.checked_add_months(Months::new(months))
        .unwrap_or(NaiveDate::MAX)
}

/// Adds a signed number of days, saturating at the calendar's ends.
pub fn add_days(date: NaiveDate, days: i64) -> NaiveDate {
    let result = if days >= 0 {
        date.checked_add_days(Days::new(days.unsigned_abs()))
    } else {
        date.checked_sub_days(Days::new(days.unsigned_abs()))
    };
    result.unwrap_or(if days >= 0 {
        NaiveDate::MAX
    } else {
        NaiveDate::MIN
    })
}

/// The prediction of the next service as of `as_of`: facts dated after it
/// are ignored.
pub fn predict(facts: &Facts<'_>, params: &Params, as_of: NaiveDate) -> Prediction {
    // Readings are sorted by date, so those from the purchase to `as_of` are
    // one run of them: a slice, not a copy.
    debug_assert!(
        facts.readings.is_sorted_by_key(|r| r.date),
        "readings must be sorted by date"
    );
    let from = facts
        .readings
        .partition_point(|r| r.date < facts.purchase_date);
    let to = facts
        .readings
        .partition_point(|r| r.date <= as_of)
        .max(from);
    let known = &facts.readings[from..to];
    let mut points = Vec::with_capacity(known.len() + 1);
    points.push((facts.purchase_date, facts.purchase_odometer_km));
    points.extend(known.iter().map(|r| (r.date, r.odometer_km)));
    let rate = estimate_rate(&points, facts.declared_monthly_km, params);

    let services = known.iter().filter(|r| r.kind == VisitKind::Service);
    let service_count = services.clone().count() as u32;
    let last_service = services.clone().next_back();
    let s = facts.schedule;
    let (base_date, base_odo, interval_km, interval_months) = match last_service {
        Some(r) => (r.date, r.odometer_km, s.interval_km, s.interval_months),
        None => (
            facts.purchase_date,
            facts.purchase_odometer_km,
            s.first_interval_km.unwrap_or(s.interval_km),
            s.first_interval_months.unwrap_or(s.interval_months),
        ),
    };
    // `points` is sorted too: those since the base are its tail.
    let after_base = &points[points.partition_point(|p| p.0 < base_date)..];
    let mut prediction = due_from(
        base_date,
        base_odo,
        after_base,
        interval_km,
        interval_months,
        rate,
    );
    prediction.service_number = service_count + 1;
    prediction.last_service_date = last_service.map(|r| r.date);
    prediction
}

/// The service after `prev`, assuming it is done on its due date.
pub fn next_after(prev: &Prediction, schedule: &Schedule) -> Prediction {
    let mut next = due_from(
        prev.due_date,
        prev.due_odometer_km,
        &[(prev.due_date, prev.due_odometer_km)],
        schedule.interval_km,
        schedule.interval_months,
        prev.rate,
    );
    next.service_number = prev.service_number + 1;
    next.last_service_date = Some(prev.due_date);
    // Uncertainty accumulates over the chain.
    next.uncertainty_days = (prev.uncertainty_days.powi(2) + next.uncertainty_days.powi(2)).sqrt();
    next
}

/// The due date from a base (last service or purchase), the readings since
/// it (sorted, first being the base itself), the intervals and a rate.
fn due_from(
    base_date: NaiveDate,
    base_odo: i64,
    points: &[(NaiveDate, i64)],
    interval_km: u32,
    interval_months: u32,
    rate: Rate,
) -> Prediction {
    let target = base_odo + i64::from(interval_km);
    let per_day = rate.km_per_day();
    let latest = points.last().copied().unwrap_or((base_date, base_odo));
    let time_due = add_months(base_date, interval_months);

    let crossed = points
        .windows(2)
        .find(|w| w[1].1 >= target && w[0].1 < target);
    let km_due = if let Some(w) = crossed {
        // Interpolate between the readings on either side of the threshold.
        let (a, b) = (w[0], w[1]);
        let frac = (target - a.1) as f64 / (b.1 - a.1) as f64;
        Some(add_days(
            a.0,
            ((b.0 - a.0).num_days() as f64 * frac).round() as i64,
        ))
    } else if latest.1 >= target {
        Some(latest.0)
    } else if per_day > 0.0 {
        let days = ((target - latest.1) as f64 / per_day).round();
        if days < 365.0 * 200.0 {
            Some(add_days(latest.0, days as i64))
        } else {
            None
        }
    } else {
        None
    };

    let (due_date, decided_by) = match km_due {
        Some(k) if k < time_due => (k, DecidedBy::Km),
        _ => (time_due, DecidedBy::Time),
    };
    let due_odometer_km = match decided_by {
        DecidedBy::Km => target,
        DecidedBy::Time => {
            let days = (due_date - latest.0).num_days() as f64;
            latest.1 + (days * per_day).round().max(0.0) as i64
        }
    };
    let uncertainty_days = match km_due {
        Some(k) if per_day > 0.0 && k > latest.0 => {
            let horizon = (k - latest.0).num_days() as f64;
            horizon * rate.sigma_km_per_month / rate.km_per_month.max(f64::EPSILON)
        }
        _ => 0.0,
    };
    Prediction {
        service_number: 1,
        due_date,
        decided_by,
        due_odometer_km,
        km_due_date: km_due,
        time_due_date: time_due,
        rate,
        last_service_date: None,
        uncertainty_days,
    }
}

impl Prediction {
    /// Days to move the service reminders earlier so that an owner who
    /// drives faster than forecast is still reminded in time: `per_sigma`
    /// standard deviations of the mileage date, less the margin by which the
    /// time limit comes first, less the `covered_days` that the reminders'
    /// own lead already absorbs; at least 0, at most `max_days`.
    pub fn extra_lead_days(&self, per_sigma: f64, covered_days: f64, max_days: i64) -> i64 {
        let Some(km) = self.km_due_date else {
            return 0;
        };
        let margin = (km - self.due_date).num_days() as f64;
        let extra = (per_sigma * self.uncertainty_days - margin - covered_days)
            .max(0.0)
            .round() as i64;
        extra.min(max_days)
    }
}

#[cfg(test)]
mod tests;
