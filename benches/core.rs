//! Criterion benchmarks of the pure core: the predictor and the plan builder.
//!
//!     cargo bench --bench core
//!
//! Kept short (small samples) so the whole run stays well under a minute.

mod common;

use common::{Fleet, as_of, date, predict_and_plan, template, ten_readings};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use touchpoint::plan::{self, PlanParams, VehicleFacts};
use touchpoint::predict::{self, Facts, Schedule};

fn vehicle<'a>(readings: &'a [predict::Reading], purchase: chrono::NaiveDate) -> VehicleFacts<'a> {
    VehicleFacts {
        facts: Facts {
            purchase_date: purchase,
            purchase_odometer_km: 0,
            readings,
            declared_monthly_km: Some(1_300.0),
            schedule: Schedule::default(),
        },
        birthday: Some(date(1978, 6, 9)),
    }
}

fn one_vehicle(c: &mut Criterion) {
    let params = PlanParams::default();
    let t = template();
    let readings = ten_readings();
    let with_readings = vehicle(&readings, date(2021, 3, 15));
    let typical = vehicle(&[], date(2025, 5, 20));
    let now = as_of();

    let mut g = c.benchmark_group("one_vehicle");
    g.bench_function("predict_10_readings", |b| {
        b.iter(|| {
            predict::predict(
                black_box(&with_readings.facts),
                &params.predict,
                black_box(now),
            )
        })
    });
    g.bench_function("plan_typical_owner", |b| {
        b.iter(|| {
            plan::build(
                &t,
                black_box(&typical),
                &params,
                0,
                black_box(typical.facts.purchase_date),
            )
        })
    });
    let cycle = plan::cycle_of(with_readings.facts.purchase_date, now, params.cycle_months);
    g.bench_function("plan_10_readings", |b| {
        b.iter(|| {
            plan::build(
                &t,
                black_box(&with_readings),
                &params,
                cycle,
                black_box(now),
            )
        })
    });
    g.finish();
}

fn batch(c: &mut Criterion) {
    const N: usize = 10_000;
    let params = PlanParams::default();
    let t = template();
    let fleet = Fleet::generate(N, 42);
    let now = as_of();

    let mut g = c.benchmark_group("batch");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function("predict_plan_10k_vehicles", |b| {
        b.iter(|| {
            let mut touchpoints = 0;
            for v in &fleet.vehicles {
                let (p, plan) = predict_and_plan(&t, &fleet.facts(v), &params, black_box(now));
                touchpoints += plan.touchpoints.len();
                black_box((p, plan));
            }
            touchpoints
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = one_vehicle, batch
}
criterion_main!(benches);
