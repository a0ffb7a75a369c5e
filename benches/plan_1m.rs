//! Prediction and plan building for a million vehicles on one thread.
//!
//!     cargo bench --bench plan_1m            # 1,000,000 vehicles, goal <= 5 s
//!     cargo bench --bench plan_1m -- 100000  # another fleet size
//!     cargo test --bench plan_1m             # a smoke run of 1,000
//!
//! Set `PLAN_DIGEST=1` to also print a digest of every prediction and plan
//! (computed after the timing, outside it): two builds that print the same
//! digest behave the same on this fleet.

mod common;

use common::{Fleet, as_of, date, digest, predict_and_plan, template};
use std::hash::{DefaultHasher, Hasher};
use std::hint::black_box;
use std::time::Instant;
use touchpoint::plan::PlanParams;

const GOAL_SECONDS: f64 = 5.0;

fn main() {
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`)
    // this is a quick smoke run. A bare number is the fleet size.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let default = if args.iter().any(|a| a == "--bench") {
        1_000_000
    } else {
        1_000
    };
    let n = args
        .iter()
        .find_map(|a| a.replace('_', "").parse::<usize>().ok())
        .unwrap_or(default);
    let params = PlanParams::default();
    let t = template();
    let now = as_of();

    let started = Instant::now();
    let fleet = Fleet::generate(n, 2026);
    println!(
        "generated {} vehicles with {} readings in {:.2} s",
        fleet.len(),
        fleet.readings(),
        started.elapsed().as_secs_f64()
    );

    let sched = sched_ns();
    let started = Instant::now();
    let (mut touchpoints, mut displaced) = (0usize, 0usize);
    for v in &fleet.vehicles {
        let (p, plan) = predict_and_plan(&t, &fleet.facts(v), &params, black_box(now));
        touchpoints += plan.touchpoints.len();
        displaced += plan.displaced.len();
        black_box((p, plan));
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "predict+plan {n} vehicles: {secs:.2} s ({:.2} µs/vehicle)",
        secs * 1e6 / n.max(1) as f64
    );
    if let (Some((cpu0, wait0)), Some((cpu1, wait1))) = (sched, sched_ns()) {
        // On a shared machine the wall time includes waiting for a core.
        println!(
            "  on a CPU {:.2} s, waiting for one {:.2} s",
            (cpu1 - cpu0) as f64 / 1e9,
            (wait1 - wait0) as f64 / 1e9
        );
    }
    println!("  {touchpoints} touchpoints, {displaced} displaced");
    if n == 1_000_000 {
        let verdict = if secs <= GOAL_SECONDS {
            "met"
        } else {
            "MISSED"
        };
        println!("  goal <= {GOAL_SECONDS} s: {verdict}");
    }

    if std::env::var_os("PLAN_DIGEST").is_some_and(|v| v != "0") {
        // Also as of earlier days, so that purchases and readings after
        // `as_of` are in play.
        let mut h = DefaultHasher::new();
        for day in [date(2016, 6, 1), date(2020, 2, 29), date(2023, 7, 15), now] {
            for v in &fleet.vehicles {
                let (p, plan) = predict_and_plan(&t, &fleet.facts(v), &params, day);
                digest(&mut h, &p, &plan);
            }
        }
        println!("  digest {:016x}", h.finish());
    }
}

/// Nanoseconds this thread has spent on a CPU and waiting for one (Linux
/// only; `None` elsewhere).
fn sched_ns() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
    Some((fields.next()??, fields.next()??))
}
