//! A deterministic in-memory fleet for the benchmarks: pseudo-random
//! purchase dates, mileages, birthdays and service histories, the same on
//! every run. No I/O and no dependency beyond the crate itself.

// Each bench binary uses its own part of this module.
#![allow(dead_code)]

use chrono::NaiveDate;
use std::hash::{Hash, Hasher};
use touchpoint::domain::VisitKind;
use touchpoint::plan::{self, Plan, PlanParams, Template, VehicleFacts};
use touchpoint::predict::{self, DAYS_PER_MONTH, Facts, Prediction, Reading, Schedule};

/// The day the benchmarks plan as of.
pub fn as_of() -> NaiveDate {
    date(2026, 11, 1)
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a real date")
}

/// SplitMix64: tiny, fast, and good enough to spread test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

/// One vehicle; its readings live in the fleet's shared buffer.
#[derive(Debug, Clone)]
pub struct Vehicle {
    pub purchase_date: NaiveDate,
    pub purchase_odometer_km: i64,
    pub declared_monthly_km: Option<f64>,
    pub birthday: Option<NaiveDate>,
    readings: std::ops::Range<usize>,
}

/// Vehicles with their readings in one buffer (one allocation, not a
/// million).
pub struct Fleet {
    pub vehicles: Vec<Vehicle>,
    readings: Vec<Reading>,
}

impl Fleet {
    /// `n` vehicles bought between 2015-01-01 and `as_of()`. About 70% declare
    /// a monthly mileage and 85% have a birthday on file; 60% have a service
    /// history (services every 12 months or 15,000 km with some jitter, plus
    /// the odd repair and plain reading), the rest none.
    pub fn generate(n: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let first = date(2015, 1, 1);
        let span = (as_of() - first).num_days() as u64;
        let mut vehicles = Vec::with_capacity(n);
        let mut readings = Vec::with_capacity(n * 3);
        for _ in 0..n {
            let purchase = predict::add_days(first, rng.below(span + 1) as i64);
            let used = rng.chance(0.2);
            let odo0 = if used {
                5_000 + rng.below(145_000) as i64
            } else {
                0
            };
            // Roughly log-normal: most owners near 1,000-1,500 km a month,
            // some at 300, a few at 4,000+.
            let monthly =
                (1150.0 * (rng.range(-1.0, 1.0) + rng.range(-1.0, 1.0)).exp()).clamp(150.0, 6000.0);
            let declared = rng
                .chance(0.7)
                .then(|| (monthly * rng.range(0.8, 1.2)).round());
            let birthday = rng
                .chance(0.85)
                .then(|| predict::add_days(date(1940, 1, 1), rng.below(24_000) as i64));
            let start = readings.len();
            if rng.chance(0.6) {
                history(&mut rng, purchase, odo0, monthly, &mut readings);
            }
            vehicles.push(Vehicle {
                purchase_date: purchase,
                purchase_odometer_km: odo0,
                declared_monthly_km: declared,
                birthday,
                readings: start..readings.len(),
            });
        }
        Self { vehicles, readings }
    }

    pub fn len(&self) -> usize {
        self.vehicles.len()
    }

    pub fn readings(&self) -> usize {
        self.readings.len()
    }

    pub fn facts<'a>(&'a self, v: &Vehicle) -> VehicleFacts<'a> {
        VehicleFacts {
            facts: Facts {
                purchase_date: v.purchase_date,
                purchase_odometer_km: v.purchase_odometer_km,
                readings: &self.readings[v.readings.clone()],
                declared_monthly_km: v.declared_monthly_km,
                schedule: Schedule::default(),
            },
            birthday: v.birthday,
        }
    }
}

/// Service visits near each due point, with repairs and readings between.
fn history(rng: &mut Rng, purchase: NaiveDate, odo0: i64, monthly: f64, out: &mut Vec<Reading>) {
    let per_day = monthly / DAYS_PER_MONTH;
    let (mut day, mut odo) = (purchase, odo0);
    loop {
        // Due at 15,000 km or 12 months, whichever first; owners come a bit
        // early or late.
        let gap = ((15_000.0 / per_day).min(365.0) + rng.range(-30.0, 30.0)).max(20.0);
        let next = predict::add_days(day, gap as i64);
        if next > as_of() {
            break;
        }
        let km = odo + (per_day * gap * rng.range(0.85, 1.15)) as i64;
        if rng.chance(0.25) {
            let mid = predict::add_days(day, (gap / 2.0) as i64);
            let mid_km = odo + (km - odo) / 2;
            let kind = if rng.chance(0.5) {
                VisitKind::Repair
            } else {
                VisitKind::Reading
            };
            out.push(Reading {
                date: mid,
                odometer_km: mid_km,
                kind,
            });
        }
        let kind = if rng.chance(0.9) {
            VisitKind::Service
        } else {
            VisitKind::Inspection
        };
        out.push(Reading {
            date: next,
            odometer_km: km,
            kind,
        });
        day = next;
        odo = km;
    }
}

/// A vehicle bought 2021-03-15 with ten readings: services roughly yearly,
/// repairs and readings between, about 1,400 km a month.
pub fn ten_readings() -> Vec<Reading> {
    let r = |y, m, d, km, kind| Reading {
        date: date(y, m, d),
        odometer_km: km,
        kind,
    };
    vec![
        r(2021, 9, 2, 7_600, VisitKind::Reading),
        r(2022, 3, 1, 16_100, VisitKind::Service),
        r(2022, 8, 19, 23_900, VisitKind::Repair),
        r(2023, 2, 20, 32_400, VisitKind::Service),
        r(2023, 9, 5, 41_000, VisitKind::Inspection),
        r(2024, 2, 12, 48_200, VisitKind::Service),
        r(2024, 10, 1, 59_300, VisitKind::Reading),
        r(2025, 1, 30, 64_900, VisitKind::Service),
        r(2025, 7, 14, 72_800, VisitKind::Repair),
        r(2026, 1, 22, 81_500, VisitKind::Service),
    ]
}

pub fn template() -> Template {
    Template::parse(touchpoint::config::DEFAULT_PLAN).expect("the default plan template parses")
}

/// What the daemon does per vehicle: predict the next service and build the
/// plan of the current cycle.
pub fn predict_and_plan<'t>(
    template: &'t Template,
    vf: &VehicleFacts<'_>,
    params: &PlanParams,
    as_of: NaiveDate,
) -> (Prediction, Plan<'t>) {
    let prediction = predict::predict(&vf.facts, &params.predict, as_of);
    let cycle = plan::cycle_of(vf.facts.purchase_date, as_of, params.cycle_months);
    (prediction, plan::build(template, vf, params, cycle, as_of))
}

/// Feeds everything observable of a prediction and a plan into `h`, so that
/// two builds of the code can be compared for identical behaviour.
pub fn digest(h: &mut impl Hasher, p: &Prediction, plan: &Plan<'_>) {
    (
        p.service_number,
        p.due_date,
        p.decided_by as u8,
        p.due_odometer_km,
    )
        .hash(h);
    (p.km_due_date, p.time_due_date, p.last_service_date).hash(h);
    for x in [
        p.rate.km_per_month,
        p.rate.sigma_km_per_month,
        p.uncertainty_days,
    ] {
        x.to_bits().hash(h);
    }
    (
        p.rate.source as u8,
        plan.cycle,
        plan.cycle_start,
        plan.cycle_end,
    )
        .hash(h);
    for (list, tps) in [(0u8, &plan.touchpoints), (1, &plan.displaced)] {
        (list, tps.len()).hash(h);
        for t in tps {
            (t.code(), t.occurrence, t.date, t.state.as_str()).hash(h);
            (t.service_due, t.awaits_visit).hash(h);
            t.reason.map(|r| r.to_string()).hash(h);
        }
    }
    for s in &plan.services {
        (s.number, s.due_date, s.done_date, s.extra_lead_days).hash(h);
    }
}
