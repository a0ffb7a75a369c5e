use super::*;
use crate::config::Settings;

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

fn vehicle(purchase: &str, declared: Option<f64>, readings: Vec<Reading>) -> Vehicle {
    Vehicle {
        id: "BUS-1".into(),
        make: "Make".into(),
        model: "Model".into(),
        purchase_date: d(purchase),
        purchase_odometer_km: 0,
        declared_monthly_km: declared,
        readings,
    }
}

fn schedule(km: u32, months: u32) -> Schedule {
    Schedule {
        interval_km: km,
        interval_months: months,
        first_interval_km: None,
        first_interval_months: None,
    }
}

/// The plan's parameters without the adaptive lead, so that the reminder is
/// the template's own 30 days before the predicted due date.
fn fixed_lead() -> PlanParams {
    PlanParams {
        lead_per_uncertainty_day: 0.0,
        ..PlanParams::default()
    }
}

fn template() -> Template {
    Template::parse(crate::config::DEFAULT_PLAN).unwrap()
}

#[test]
fn the_first_reminder_is_the_service_email_30_days_before() {
    let t = template();
    let e = first_service_reminder(&t).unwrap();
    assert_eq!(e.code, "service-email");
    assert_eq!(service_due_date(e, d("2024-06-01"), 0), d("2024-05-02"));
    assert_eq!(service_due_date(e, d("2024-06-01"), 5), d("2024-04-27"));
}

#[test]
fn readings_cross_the_threshold_by_interpolation() {
    let r = [
        (d("2024-03-01"), 8_000),
        (d("2024-04-01"), 11_000),
        (d("2024-05-01"), 15_000),
        (d("2024-06-01"), 21_000),
    ];
    let due = due_points((d("2024-01-01"), 0), &r, &schedule(10_000, 12));
    // 10,000 is 2/3 of the way from 8,000 to 11,000: 20.67 of 31 days.
    // 20,000 is 5/6 of the way from 15,000 to 21,000: 25.83 of 31 days.
    // 30,000 is beyond the last reading, and so is the 12 months' limit.
    assert_eq!(
        due,
        vec![
            DuePoint {
                date: d("2024-03-22"),
                odometer_km: 10_000,
                decided_by: DecidedBy::Km,
                gap_days: 31,
            },
            DuePoint {
                date: d("2024-05-27"),
                odometer_km: 20_000,
                decided_by: DecidedBy::Km,
                gap_days: 31,
            },
        ]
    );
}

#[test]
fn the_time_limit_decides_when_it_comes_first() {
    let r = [
        (d("2024-02-01"), 2_000),
        (d("2024-03-01"), 4_000),
        (d("2024-04-01"), 6_000),
        (d("2024-05-01"), 8_000),
    ];
    let due = due_points((d("2024-01-01"), 0), &r, &schedule(10_000, 3));
    // Three months after the purchase, at the reading of 6,000; the next one
    // (16,000 km or 2024-07-01) is beyond the readings.
    assert_eq!(
        due,
        vec![DuePoint {
            date: d("2024-04-01"),
            odometer_km: 6_000,
            decided_by: DecidedBy::Time,
            gap_days: 31,
        }]
    );
}

#[test]
fn a_readings_history_is_predicted_from_the_earlier_due_points() {
    let v = vehicle(
        "2024-01-01",
        Some(2_000.0),
        vec![
            reading("2024-03-01", 8_000, VisitKind::Reading),
            reading("2024-04-01", 11_000, VisitKind::Reading),
            reading("2024-05-01", 15_000, VisitKind::Reading),
            reading("2024-06-01", 21_000, VisitKind::Reading),
        ],
    );
    let t = template();
    let r = replay(
        &v,
        schedule(10_000, 12),
        &fixed_lead(),
        first_service_reminder(&t),
    );
    assert_eq!(r.excluded, 0);
    assert_eq!(r.cases.len(), 2);
    // First: from the purchase alone, at the declared 2,000 km a month:
    // 10,000 km take 5 months = 152.19 days, so 2024-06-01; due 2024-03-22.
    let first = r.cases[0];
    assert_eq!(first.rate_source, RateSource::Declared);
    assert_eq!(
        (first.predicted, first.actual),
        (d("2024-06-01"), d("2024-03-22"))
    );
    assert_eq!(first.error_days(), 71);
    // The reminder on 2024-05-02 comes after the visit.
    assert_eq!(first.reminder, Some(d("2024-05-02")));
    assert_eq!(first.timeliness(), Some(Timeliness::Late));
    // Second: the dealer saw 10,000 km on 2024-03-22, 81 days after the
    // purchase, so the next 10,000 km take 81 more days: 2024-06-11.
    let second = r.cases[1];
    assert_eq!(second.rate_source, RateSource::Readings);
    assert_eq!(
        (second.predicted, second.actual),
        (d("2024-06-11"), d("2024-05-27"))
    );
    assert_eq!(second.error_days(), 15);
    // Reminder 2024-05-12, 15 days before the visit.
    assert_eq!(second.reminder, Some(d("2024-05-12")));
    assert_eq!(second.timeliness(), Some(Timeliness::OnTime));
}

#[test]
fn due_points_between_readings_more_than_62_days_apart_only_move_the_history_on() {
    let v = vehicle(
        "2024-01-01",
        None,
        vec![
            reading("2024-04-01", 12_000, VisitKind::Reading),
            reading("2024-05-01", 16_000, VisitKind::Reading),
            reading("2024-06-01", 21_000, VisitKind::Reading),
        ],
    );
    let r = replay(&v, schedule(10_000, 12), &fixed_lead(), None);
    // 10,000 falls between the purchase and 2024-04-01, 91 days apart: at
    // 5/6 of them, 2024-03-17, not scored. 20,000 falls on 2024-05-26
    // (4/5 of 31 days), predicted from 10,000 km in 76 days: 2024-06-01.
    assert_eq!(r.excluded, 1);
    assert_eq!(r.cases.len(), 1);
    let c = r.cases[0];
    assert_eq!((c.predicted, c.actual), (d("2024-06-01"), d("2024-05-26")));
    assert_eq!(c.reminder, None);
}

#[test]
fn the_gap_rule_counts_62_days_and_not_63() {
    let s = schedule(10_000, 12);
    let start = (d("2024-01-01"), 0);
    let at_62 = due_points(start, &[(d("2024-03-03"), 12_400)], &s);
    assert_eq!(at_62[0].gap_days, 62);
    let at_63 = due_points(start, &[(d("2024-03-04"), 12_600)], &s);
    assert_eq!(at_63[0].gap_days, 63);
    let v = |date: &str, km| {
        vehicle(
            "2024-01-01",
            None,
            vec![reading(date, km, VisitKind::Reading)],
        )
    };
    let counted = replay(&v("2024-03-03", 12_400), s, &fixed_lead(), None);
    assert_eq!((counted.cases.len(), counted.excluded), (1, 0));
    let skipped = replay(&v("2024-03-04", 12_600), s, &fixed_lead(), None);
    assert_eq!((skipped.cases.len(), skipped.excluded), (0, 1));
}

#[test]
fn service_visits_are_predicted_from_the_visits_before_them() {
    // 100 km a day throughout, so any recency weighting gives the slope.
    let v = vehicle(
        "2024-01-01",
        None,
        vec![
            reading("2024-03-01", 6_000, VisitKind::Reading),
            reading("2024-07-01", 18_200, VisitKind::Service),
            reading("2024-09-01", 24_400, VisitKind::Repair),
            reading("2024-12-01", 33_000, VisitKind::Service),
        ],
    );
    let t = template();
    let r = replay(
        &v,
        Schedule::default(),
        &fixed_lead(),
        first_service_reminder(&t),
    );
    assert_eq!(r.excluded, 0);
    let got: Vec<_> = r
        .cases
        .iter()
        .map(|c| (c.predicted, c.actual, c.timeliness()))
        .collect();
    assert_eq!(
        got,
        vec![
            // 15,000 − 6,000 km at 100 a day after 2024-03-01; the reminder
            // on 2024-04-30 is 62 days before the visit.
            (d("2024-05-30"), d("2024-07-01"), Some(Timeliness::Early)),
            // 18,200 + 15,000 − 24,400 km at 100 a day after 2024-09-01; the
            // reminder on 2024-10-29 is 33 days before the visit.
            (d("2024-11-28"), d("2024-12-01"), Some(Timeliness::OnTime)),
        ]
    );
    let report = Report::new(&r.cases, r.excluded, 1, first_service_reminder(&t));
    assert_eq!(report.predictions, 2);
    assert_eq!(report.median_abs_error_days, 17.5);
    assert_eq!((report.within_7, report.within_14), (0.5, 0.5));
    assert_eq!((report.on_time, report.late, report.early), (0.5, 0.0, 0.5));
    assert_eq!(report.mean_error_days, -17.5);
    assert_eq!(report.reminder_lead_days, Some(30));
}

#[test]
fn on_time_is_45_to_3_days_before_the_visit_both_included() {
    let visit = d("2024-06-30");
    let at = |days: i64| Timeliness::of(add_days(visit, -days), visit);
    assert_eq!(at(46), Timeliness::Early);
    assert_eq!(at(45), Timeliness::OnTime);
    assert_eq!(at(20), Timeliness::OnTime);
    assert_eq!(at(3), Timeliness::OnTime);
    assert_eq!(at(2), Timeliness::Late);
    assert_eq!(at(0), Timeliness::Late);
    assert_eq!(at(-5), Timeliness::Late);
}

#[test]
fn the_reminder_moves_earlier_as_the_plan_moves_it() {
    // Uneven driving gives a measured, uncertain rate.
    let v = vehicle(
        "2024-01-01",
        None,
        vec![
            reading("2024-02-01", 1_000, VisitKind::Reading),
            reading("2024-03-01", 5_000, VisitKind::Reading),
            reading("2024-04-01", 5_500, VisitKind::Reading),
            reading("2024-05-01", 9_000, VisitKind::Service),
        ],
    );
    let params = PlanParams {
        max_extra_lead_days: 1000,
        ..PlanParams::default()
    };
    let t = template();
    let r = replay(&v, Schedule::default(), &params, first_service_reminder(&t));
    let c = r.cases[0];
    let p = predict(
        &facts(&v, &v.readings, Schedule::default()),
        &params.predict,
        d("2024-04-30"),
    );
    assert_eq!(p.rate.source, RateSource::Readings);
    assert_eq!(c.extra_lead_days, adaptive_extra_lead(&p, &params));
    assert!(c.extra_lead_days > 0);
    assert_eq!(
        c.reminder,
        Some(add_days(p.due_date, -30 - c.extra_lead_days))
    );
}

#[test]
fn the_median_of_an_odd_count_is_the_middle_one() {
    let case = |err: i64| Case {
        predicted: add_days(d("2024-01-01"), err),
        actual: d("2024-01-01"),
        rate_source: RateSource::Readings,
        extra_lead_days: 0,
        reminder: None,
    };
    let r = Report::new(&[case(-20), case(3), case(8)], 0, 1, None);
    assert_eq!(r.median_abs_error_days, 8.0);
    assert!((r.within_7 - 1.0 / 3.0).abs() < 1e-12);
    assert!((r.within_14 - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!((r.on_time, r.late, r.early), (0.0, 0.0, 0.0));
    let empty = Report::new(&[], 0, 0, None);
    assert_eq!((empty.predictions, empty.median_abs_error_days), (0, 0.0));
    assert!(empty.to_text().contains("predictions"));
}

const VEHICLES: &str = "vin,customer_id,make,model,model_year,purchase_date,purchase_odometer_km,avg_monthly_km\n\
BUS-D309-1334,C1,Madison Metro,D309,,2024-01-01,0,\n";

#[test]
fn files_are_read_with_a_bom_and_in_miles() {
    let vehicles = format!("\u{feff}{VEHICLES}");
    let visits = "vin,date,odometer_km,kind\nBUS-D309-1334,2024-03-01,5000,reading\nBUS-D309-1334,2024-02-01,1000,service\n";
    let got = parse_files(
        "v.csv",
        vehicles.as_bytes(),
        "r.csv",
        visits.as_bytes(),
        DistanceUnit::Miles,
    )
    .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, "BUS-D309-1334");
    assert_eq!(got[0].make, "Madison Metro");
    assert_eq!(got[0].declared_monthly_km, None);
    // Sorted by date, converted to km.
    assert_eq!(
        got[0].readings,
        vec![
            reading("2024-02-01", 1609, VisitKind::Service),
            reading("2024-03-01", 8047, VisitKind::Reading),
        ]
    );
}

#[test]
fn bad_rows_are_named_file_line_column() {
    let visits = "vin,date,odometer_km,kind\n\
BUS-D309-1334,2024-03-01,5000,reading\n\
BUS-D309-1334,2024-02-30,6000,reading\n\
NOPE,2024-04-01,7000,reading\n\
BUS-D309-1334,2024-05-01,4000,service\n\
BUS-D309-1334,2024-06-01,9000,oil\n";
    // The same lines with LF, with CRLF and a byte order mark, as Windows
    // writes them.
    bad_rows_on_their_lines(visits);
    bad_rows_on_their_lines(&format!("\u{feff}{}", visits.replace('\n', "\r\n")));
}

fn bad_rows_on_their_lines(visits: &str) {
    let err = parse_files(
        "v.csv",
        VEHICLES.as_bytes(),
        "r.csv",
        visits.as_bytes(),
        DistanceUnit::Km,
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, BacktestError::Invalid(_)), "{text}");
    assert_eq!(err.exit_code(), 65);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("r.csv:3: date: "), "{text}");
    assert!(
        lines[1].starts_with("r.csv:4: vin: 'NOPE' is not in v.csv"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("r.csv:5: odometer_km: goes backwards"),
        "{text}"
    );
    assert!(lines[3].starts_with("r.csv:6: kind: "), "{text}");
}

#[test]
fn the_visits_of_a_bad_vehicle_row_are_not_reported_again() {
    let vehicles = format!("{VEHICLES}BUS-2,C2,Make,Model,,2024-13-01,0,\n");
    let visits = "vin,date,odometer_km,kind\nBUS-2,2024-03-01,5000,reading\n";
    let err = parse_files(
        "v.csv",
        vehicles.as_bytes(),
        "r.csv",
        visits.as_bytes(),
        DistanceUnit::Km,
    )
    .unwrap_err();
    let text = err.to_string();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("v.csv:3: purchase_date: "), "{text}");
}

#[test]
fn missing_columns_and_repeated_ids_are_reported() {
    let vehicles = format!("{VEHICLES}BUS-D309-1334,C1,Madison Metro,D309,,2024-01-01,0,\n");
    let err = parse_files(
        "v.csv",
        vehicles.as_bytes(),
        "r.csv",
        b"vin,date,kind\n",
        DistanceUnit::Km,
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("v.csv:3: vin: 'BUS-D309-1334' is listed twice"),
        "{text}"
    );
    assert!(
        text.contains("r.csv:1: odometer_km: missing column"),
        "{text}"
    );
}

#[test]
fn run_files_reads_the_fixture_and_reports() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/backtest");
    let config = Config {
        settings: Settings::default(),
        base_dir: dir.clone(),
        source: None,
    };
    let report = run_files(
        &dir.join("vehicles.csv"),
        &dir.join("visits.csv"),
        &Options::default(),
        &config,
    )
    .unwrap();
    assert_eq!(report.vehicles, 2);
    // Bus: two due points (one not scored); car: two service visits.
    assert_eq!(report.predictions, 3);
    assert_eq!(report.excluded_due_points, 1);
    let json = serde_json::to_value(&report).unwrap();
    for key in [
        "predictions",
        "median_abs_error_days",
        "within_7",
        "within_14",
        "on_time",
        "late",
        "early",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }

    let err = run_files(
        &dir.join("vehicles.csv"),
        &dir.join("bad_visits.csv"),
        &Options::default(),
        &config,
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("bad_visits.csv:3: odometer_km: "), "{text}");

    let zero = Options {
        interval_km: Some(0),
        interval_months: None,
    };
    let err = run_files(
        &dir.join("vehicles.csv"),
        &dir.join("visits.csv"),
        &zero,
        &config,
    )
    .unwrap_err();
    assert!(matches!(err, BacktestError::BadOption(_)));
    assert_eq!(err.exit_code(), 64);
}

#[test]
fn options_override_the_schedule_and_its_first_interval() {
    let s = Schedule {
        interval_km: 15_000,
        interval_months: 12,
        first_interval_km: Some(5_000),
        first_interval_months: Some(6),
    };
    let o = Options {
        interval_km: Some(30_000),
        interval_months: None,
    };
    assert_eq!(
        o.apply(s),
        Schedule {
            interval_km: 30_000,
            interval_months: 12,
            first_interval_km: None,
            first_interval_months: Some(6),
        }
    );
    assert_eq!(Options::default().apply(s), s);
}

/// The figures on real bus odometers (`tests/data/rust1987`, or the
/// folder in `TOUCHPOINT_RUST1987`) with the shipped defaults (environment
/// overrides `TOUCHPOINT__…` apply). Run with
/// `cargo test --lib rust1987 -- --nocapture`.
#[test]
fn rust1987_buses_meet_the_reminder_targets() {
    let dir = std::env::var_os("TOUCHPOINT_RUST1987")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rust1987")
        });
    let config = Config::load(None).unwrap();
    let mut default = None;
    for interval_km in [None, Some(10_000), Some(30_000)] {
        let opts = Options {
            interval_km,
            interval_months: None,
        };
        let report = run_files(
            &dir.join("vehicles.csv"),
            &dir.join("visits.csv"),
            &opts,
            &config,
        )
        .unwrap();
        println!("--interval-km {interval_km:?}\n{}", report.to_text());
        println!("{}\n", serde_json::to_string(&report).unwrap());
        default.get_or_insert(report);
    }
    let report = default.unwrap();
    assert!(report.on_time >= 0.60, "on time {}", report.on_time);
    assert!(report.late <= 0.10, "late {}", report.late);
}
