//! `touchpoint backtest` through the binary: the JSON contract, bad input,
//! and the figures on the real bus histories beside the repository.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

fn touchpoint() -> Command {
    let mut cmd = Command::cargo_bin("touchpoint").unwrap();
    cmd.env_remove("TOUCHPOINT_CONFIG")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/backtest")
        .join(name)
}

#[test]
fn json_has_the_contract_fields() {
    let out = touchpoint()
        .arg("backtest")
        .arg("--vehicles")
        .arg(fixture("vehicles.csv"))
        .arg("--visits")
        .arg(fixture("visits.csv"))
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "predictions",
        "median_abs_error_days",
        "within_7",
        "within_14",
        "on_time",
        "late",
        "early",
    ] {
        assert!(v[key].is_number(), "{key} in {v}");
    }
    let shares = ["on_time", "late", "early"].map(|k| v[k].as_f64().unwrap());
    assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{v}");
}

#[test]
fn bad_rows_exit_65_with_file_line_column() {
    let out = touchpoint()
        .arg("backtest")
        .arg("--vehicles")
        .arg(fixture("vehicles.csv"))
        .arg("--visits")
        .arg(fixture("bad_visits.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(65));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad_visits.csv:3: odometer_km:"), "{err}");
}

#[test]
fn zero_interval_is_a_usage_error() {
    let out = touchpoint()
        .args([
            "backtest",
            "--vehicles",
            "a.csv",
            "--visits",
            "b.csv",
            "--interval-km",
            "0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
}

/// The reminder targets on the bus histories in `tests/data/rust1987`: first reminder on time
/// at least 60%, late at most 10%, with the shipped defaults.
#[test]
fn real_bus_histories_meet_the_reminder_targets() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rust1987");
    assert!(
        data.is_dir(),
        "the rust1987 data set is part of the repository: {}",
        data.display()
    );
    let out = touchpoint()
        .arg("--config")
        .arg("config/touchpoint.toml")
        .arg("backtest")
        .arg("--vehicles")
        .arg(data.join("vehicles.csv"))
        .arg("--visits")
        .arg(data.join("visits.csv"))
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["predictions"].as_u64().unwrap() > 4000, "{v}");
    assert!(v["on_time"].as_f64().unwrap() >= 0.60, "{v}");
    assert!(v["late"].as_f64().unwrap() <= 0.10, "{v}");
}
