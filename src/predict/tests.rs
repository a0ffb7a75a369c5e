use super::*;
use proptest::prelude::*;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn reading(date: &str, km: i64, kind: VisitKind) -> Reading {
    Reading {
        date: d(date),
        odometer_km: km,
        kind,
    }
}

fn facts<'a>(
    purchase: &str,
    odo: i64,
    readings: &'a [Reading],
    declared: Option<f64>,
) -> Facts<'a> {
    Facts {
        purchase_date: d(purchase),
        purchase_odometer_km: odo,
        readings,
        declared_monthly_km: declared,
        schedule: Schedule::default(),
    }
}

#[test]
fn new_car_without_history_uses_default_rate_and_time_decides_on_a_tie() {
    let f = facts("2025-03-10", 0, &[], None);
    let p = predict(&f, &Params::default(), d("2025-04-01"));
    assert_eq!(p.rate.source, RateSource::Default);
    assert_eq!(p.rate.km_per_month, 1250.0);
    // 15,000 km at 1,250 km a month is 365.25 days: the same day as 12 months.
    assert_eq!(p.time_due_date, d("2026-03-10"));
    assert_eq!(p.due_date, d("2026-03-10"));
    assert_eq!(p.service_number, 1);
    assert_eq!(p.last_service_date, None);
}

#[test]
fn declared_rate_is_used_without_enough_history() {
    let r = [reading("2025-03-20", 800, VisitKind::Reading)];
    let f = facts("2025-03-10", 0, &r, Some(3000.0));
    let p = predict(&f, &Params::default(), d("2025-04-01"));
    assert_eq!(p.rate.source, RateSource::Declared);
    assert_eq!(p.decided_by, DecidedBy::Km);
    // 15,000 km from the reading of 800 at 3,000 km a month.
    let days = ((15_000.0 - 800.0) / (3000.0 / DAYS_PER_MONTH)).round() as i64;
    assert_eq!(p.due_date, add_days(d("2025-03-20"), days));
    assert_eq!(p.due_odometer_km, 15_000);
}

#[test]
fn two_readings_give_exactly_the_slope() {
    let r = [reading("2025-07-10", 6000, VisitKind::Reading)];
    let f = facts("2025-01-10", 0, &r, Some(100.0));
    let p = predict(&f, &Params::default(), d("2025-08-01"));
    let expected = 6000.0 / 181.0 * DAYS_PER_MONTH;
    assert_eq!(p.rate.source, RateSource::Readings);
    assert!(
        (p.rate.km_per_month - expected).abs() < 1e-9,
        "{}",
        p.rate.km_per_month
    );
}

#[test]
fn readings_after_as_of_are_ignored() {
    let r = [
        reading("2025-07-10", 6000, VisitKind::Reading),
        reading("2025-09-10", 30000, VisitKind::Service),
    ];
    let f = facts("2025-01-10", 0, &r, None);
    let p = predict(&f, &Params::default(), d("2025-08-01"));
    assert_eq!(p.last_service_date, None);
    assert_eq!(p.service_number, 1);
}

#[test]
fn last_service_resets_the_base() {
    let r = [reading("2025-11-01", 14000, VisitKind::Service)];
    let f = facts("2025-01-10", 0, &r, None);
    let p = predict(&f, &Params::default(), d("2025-12-01"));
    assert_eq!(p.last_service_date, Some(d("2025-11-01")));
    assert_eq!(p.service_number, 2);
    assert_eq!(p.time_due_date, d("2026-11-01"));
    assert!(p.due_date <= d("2026-11-01"));
}

#[test]
fn used_car_counts_purchase_odometer() {
    let f = facts("2024-06-01", 87_000, &[], Some(1000.0));
    let p = predict(&f, &Params::default(), d("2024-06-02"));
    // Time decides: 15,000 km takes 15 months at 1,000 km a month.
    assert_eq!(p.decided_by, DecidedBy::Time);
    assert_eq!(p.due_date, d("2025-06-01"));
    assert_eq!(
        p.due_odometer_km,
        87_000 + (365.0 * 1000.0 / DAYS_PER_MONTH).round() as i64
    );
}

#[test]
fn first_interval_applies_until_the_first_service() {
    let mut f = facts("2025-01-31", 0, &[], None);
    f.schedule.first_interval_months = Some(1);
    f.schedule.first_interval_km = Some(1000);
    let p = predict(&f, &Params::default(), d("2025-02-01"));
    // Jan 31 + 1 month is clamped to Feb 28; 1,000 km take 24 days.
    assert_eq!(p.time_due_date, d("2025-02-28"));
    assert_eq!(p.decided_by, DecidedBy::Km);
    assert_eq!(p.due_date, d("2025-02-24"));
}

#[test]
fn month_end_and_leap_day_clamping() {
    assert_eq!(add_months(d("2024-01-31"), 1), d("2024-02-29"));
    assert_eq!(add_months(d("2023-01-31"), 1), d("2023-02-28"));
    assert_eq!(add_months(d("2024-02-29"), 12), d("2025-02-28"));
    assert_eq!(add_months(d("2024-02-29"), 48), d("2028-02-29"));
}

#[test]
fn overdue_by_km_is_interpolated_between_readings() {
    let r = [
        reading("2025-04-01", 10_000, VisitKind::Reading),
        reading("2025-06-01", 20_000, VisitKind::Reading),
    ];
    let f = facts("2025-01-01", 0, &r, None);
    let p = predict(&f, &Params::default(), d("2025-07-01"));
    assert_eq!(p.decided_by, DecidedBy::Km);
    // 15,000 is half way between the two readings, 61 days apart.
    assert_eq!(p.due_date, d("2025-05-02"));
}

#[test]
fn standing_car_is_due_by_time() {
    let r = [reading("2025-06-01", 0, VisitKind::Reading)];
    let f = facts("2025-01-01", 0, &r, None);
    let p = predict(&f, &Params::default(), d("2025-07-01"));
    assert_eq!(p.rate.km_per_month, 0.0);
    assert_eq!(p.km_due_date, None);
    assert_eq!(p.decided_by, DecidedBy::Time);
    assert_eq!(p.due_date, d("2026-01-01"));
}

#[test]
fn chained_services_move_on_by_the_interval() {
    let f = facts("2025-01-15", 0, &[], Some(2500.0));
    let p1 = predict(&f, &Params::default(), d("2025-01-16"));
    let p2 = next_after(&p1, &f.schedule);
    assert_eq!(p2.service_number, 2);
    assert_eq!(p2.due_odometer_km, 30_000);
    assert!(p2.uncertainty_days > p1.uncertainty_days);
}

#[test]
fn extra_lead_grows_with_uncertainty_and_is_capped() {
    let f = facts("2025-01-15", 0, &[], Some(2500.0));
    let p = predict(&f, &Params::default(), d("2025-01-16"));
    assert!(p.uncertainty_days > 0.0);
    assert_eq!(p.extra_lead_days(0.0, 0.0, 30), 0);
    let one = p.extra_lead_days(0.5, 0.0, 1000);
    let two = p.extra_lead_days(1.0, 0.0, 1000);
    assert!(two > one && one > 0);
    assert_eq!(p.extra_lead_days(100.0, 0.0, 30), 30);
}

#[test]
fn the_covered_days_are_taken_off_the_extra_lead() {
    let f = facts("2025-01-15", 0, &[], Some(2500.0));
    let p = predict(&f, &Params::default(), d("2025-01-16"));
    // 15,000 km at 2,500 a month: 182.6 days, one sigma is 30% of it.
    let sigma = p.uncertainty_days;
    assert!(
        (sigma - 0.3 * 15_000.0 / 2500.0 * DAYS_PER_MONTH).abs() < 1.0,
        "{sigma}"
    );
    let full = p.extra_lead_days(1.0, 0.0, 1000);
    assert_eq!(p.extra_lead_days(1.0, 20.0, 1000), full - 20);
    assert_eq!(p.extra_lead_days(1.0, sigma + 1.0, 1000), 0);
}

#[test]
fn the_rate_follows_recent_driving() {
    // 1,000 km a month for two years, then 3,000 km a month for four months.
    let r = [
        reading("2024-01-01", 24_000, VisitKind::Service),
        reading("2024-05-01", 36_000, VisitKind::Reading),
    ];
    let f = facts("2022-01-01", 0, &r, None);
    let p = predict(&f, &Params::default(), d("2024-05-02"));
    let slow = 24_000.0 / 730.0;
    let fast = 12_000.0 / 121.0;
    // Weights of the day intervals: 2^(-t/120) integrated over each segment.
    let h = Params::default().half_life_days;
    let w_fast = 1.0 - 0.5f64.powf(121.0 / h);
    let w_slow = 0.5f64.powf(121.0 / h) - 0.5f64.powf(851.0 / h);
    let expected = (w_fast * fast + w_slow * slow) / (w_fast + w_slow) * DAYS_PER_MONTH;
    assert!(
        (p.rate.km_per_month - expected).abs() < 1e-6,
        "{} {expected}",
        p.rate.km_per_month
    );
    assert!(p.rate.km_per_month > 2000.0, "{}", p.rate.km_per_month);
}

#[test]
fn readings_a_few_days_apart_do_not_swing_the_rate() {
    // A year at 1,000 km a month, then a repair 3 days after the service
    // with 600 km more (a test drive, a tow): merged, not a 6,000 km month.
    let base = [reading("2025-01-01", 12_000, VisitKind::Service)];
    let both = [base[0], reading("2025-01-04", 12_600, VisitKind::Repair)];
    let params = Params::default();
    let p1 = estimate_rate(
        &[(d("2024-01-01"), 0), (d("2025-01-01"), 12_000)],
        None,
        &params,
    );
    let p2 = estimate_rate(
        &[
            (d("2024-01-01"), 0),
            (both[0].date, both[0].odometer_km),
            (both[1].date, both[1].odometer_km),
        ],
        None,
        &params,
    );
    assert!((p1.km_per_month - 12_000.0 / 366.0 * DAYS_PER_MONTH).abs() < 1e-9);
    assert!(
        (p2.km_per_month - 12_600.0 / 369.0 * DAYS_PER_MONTH).abs() < 1e-9,
        "{}",
        p2.km_per_month
    );
}

#[test]
fn the_spread_starts_at_the_prior_and_follows_the_readings() {
    let params = Params::default();
    let one = estimate_rate(
        &[(d("2024-01-01"), 0), (d("2024-07-01"), 9_000)],
        None,
        &params,
    );
    assert!((one.sigma_km_per_month / one.km_per_month - REL_SIGMA_PRIOR).abs() < 1e-12);
    // Perfectly regular driving: the spread shrinks with every segment.
    let regular: Vec<_> = (0..12)
        .map(|m| (add_months(d("2024-01-01"), m), m as i64 * 1000))
        .collect();
    let few = estimate_rate(&regular[..3], None, &params);
    let many = estimate_rate(&regular, None, &params);
    let rel = |r: Rate| r.sigma_km_per_month / r.km_per_month;
    assert!(
        rel(many) < rel(few) && rel(few) < REL_SIGMA_PRIOR,
        "{} {}",
        rel(few),
        rel(many)
    );
    // Erratic driving: the spread grows beyond the prior.
    let erratic: Vec<_> = (0..12)
        .map(|m| {
            (
                add_months(d("2024-01-01"), m),
                (m as i64 * 1000) + if m % 2 == 1 { 900 } else { 0 },
            )
        })
        .collect();
    assert!(rel(estimate_rate(&erratic, None, &params)) > REL_SIGMA_PRIOR);
}

fn arb_date() -> impl Strategy<Value = NaiveDate> {
    (0i64..20_000).prop_map(|n| d("1990-01-01") + chrono::Duration::days(n))
}

proptest! {
    #[test]
    fn two_points_reduce_to_the_slope(
        start in arb_date(), gap in 30i64..4000, odo in 0i64..500_000, delta in 0i64..200_000,
        half_life in 10.0f64..2000.0,
    ) {
        let end = start + chrono::Duration::days(gap);
        let params = Params { half_life_days: half_life, ..Params::default() };
        let rate = estimate_rate(&[(start, odo), (end, odo + delta)], None, &params);
        let slope = delta as f64 / gap as f64 * DAYS_PER_MONTH;
        prop_assert_eq!(rate.source, RateSource::Readings);
        prop_assert!((rate.km_per_month - slope).abs() <= 1e-6 * slope.max(1.0));
    }

    #[test]
    fn rate_is_never_negative_for_monotone_readings(
        start in arb_date(), steps in proptest::collection::vec((1i64..200, 0i64..10_000), 1..30),
    ) {
        let mut points = vec![(start, 0i64)];
        for (days, km) in steps {
            let (d0, o0) = *points.last().unwrap();
            points.push((d0 + chrono::Duration::days(days), o0 + km));
        }
        let rate = estimate_rate(&points, None, &Params::default());
        prop_assert!(rate.km_per_month >= 0.0);
        prop_assert!(rate.sigma_km_per_month >= 0.0);
    }

    #[test]
    fn due_date_is_the_earlier_of_km_and_time(
        purchase in arb_date(), odo in 0i64..200_000, rate in 1.0f64..6000.0,
        interval_km in 1000u32..60_000, interval_months in 1u32..36,
    ) {
        let mut f = facts("2000-01-01", odo, &[], Some(rate));
        f.purchase_date = purchase;
        f.schedule = Schedule { interval_km, interval_months, first_interval_km: None, first_interval_months: None };
        let p = predict(&f, &Params::default(), purchase);
        prop_assert_eq!(p.time_due_date, add_months(purchase, interval_months));
        prop_assert!(p.due_date <= p.time_due_date);
        if let Some(k) = p.km_due_date { prop_assert!(p.due_date <= k); }
        prop_assert!(p.due_date >= purchase);
        match p.decided_by {
            DecidedBy::Km => prop_assert_eq!(Some(p.due_date), p.km_due_date),
            DecidedBy::Time => prop_assert_eq!(p.due_date, p.time_due_date),
        }
    }

    #[test]
    fn adding_months_clamps_to_the_month_end(date in arb_date(), months in 0u32..240) {
        let later = add_months(date, months);
        let total = date.year_ce().1 as i64 * 12 + date.month0() as i64 + months as i64;
        prop_assert_eq!(later.year_ce().1 as i64 * 12 + later.month0() as i64, total);
        prop_assert!(later.day() <= date.day());
        if later.day() < date.day() {
            // Clamped: the next day is in the following month.
            prop_assert_eq!(later.succ_opt().unwrap().day(), 1);
        }
    }
}

use chrono::Datelike;
