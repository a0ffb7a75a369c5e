//! `touchpoint import` (docs/commands.md) through the binary, on every backend under
//! test: good files load and re-load unchanged; every class of bad input
//! exits 65 naming `FILE:LINE: column: reason`, and leaves the database as
//! it was.

use crate::helpers::{Instance, instances, stderr, stdout};

const CUSTOMERS: &str = "config/sample/customers.csv";
const VEHICLES: &str = "config/sample/vehicles.csv";
const VISITS: &str = "config/sample/visits.csv";

fn counts(report: &serde_json::Value) -> (u64, u64, u64, u64) {
    let n = |k: &str| report[k].as_u64().unwrap();
    (n("rows"), n("inserted"), n("updated"), n("unchanged"))
}

/// Imports the three sample files.
pub(crate) fn load_samples(tp: &Instance) {
    for (kind, file) in [
        ("customers", CUSTOMERS),
        ("vehicles", VEHICLES),
        ("visits", VISITS),
    ] {
        tp.import_json(kind, file, &[]);
    }
}

/// The import fails with exit 65, names exactly these problems, and changes
/// nothing; and so does the same file with Windows line endings (CRLF), as
/// dealer systems and spreadsheets write it, on the same lines.
fn assert_refused(tp: &Instance, kind: &str, file: &str, expected: &[&str]) {
    assert_refused_as_is(tp, kind, file, expected);
    let path = crate::helpers::root().join(file);
    let text = std::fs::read(&path).unwrap();
    if text.contains(&b'\r') {
        return;
    }
    let mut crlf = Vec::with_capacity(text.len() * 11 / 10);
    for &b in &text {
        if b == b'\n' {
            crlf.push(b'\r');
        }
        crlf.push(b);
    }
    let name = path.file_name().unwrap().to_string_lossy();
    let copy = tp.write(&format!("crlf-{name}"), crlf);
    let shown = copy.display().to_string();
    let expected: Vec<String> = expected
        .iter()
        .map(|l| l.replacen(&format!("{file}:"), &format!("{shown}:"), 1))
        .collect();
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_refused_as_is(tp, kind, &shown, &expected);
}

fn assert_refused_as_is(tp: &Instance, kind: &str, file: &str, expected: &[&str]) {
    let before = tp.snapshot();
    let out = tp.import(kind, file, &[]);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(65),
        "{}: {kind} {file}: {err}",
        tp.backend
    );
    for line in expected {
        assert!(
            err.lines()
                .any(|l| l.trim_start_matches("error: ") == *line),
            "{}: missing line\n  {line}\nin\n{err}",
            tp.backend
        );
    }
    let problems = err
        .lines()
        .filter(|l| l.contains(&format!("{file}:")))
        .count();
    assert_eq!(
        problems,
        expected.len(),
        "{}: unexpected lines in\n{err}",
        tp.backend
    );
    assert_eq!(
        tp.snapshot(),
        before,
        "{}: the database changed",
        tp.backend
    );
}

#[test]
fn good_files_load_and_loading_them_again_changes_nothing() {
    for tp in instances() {
        let out = tp.import("customers", CUSTOMERS, &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stdout(&out).contains("12 rows: 12 new, 0 updated, 0 unchanged"),
            "{}",
            stdout(&out)
        );
        let vehicles = tp.import_json("vehicles", VEHICLES, &[]);
        assert_eq!(counts(&vehicles), (15, 15, 0, 0), "{}", tp.backend);
        let visits = tp.import_json("visits", VISITS, &[]);
        assert_eq!(counts(&visits), (27, 27, 0, 0), "{}", tp.backend);

        let loaded = tp.snapshot();
        let golf = tp.vehicle("WVWZZZ1KZAW000101");
        assert_eq!(golf.facts_version, 2, "new readings re-plan the vehicle");
        let anna = tp.customer("C1001");
        assert_eq!(anna.phone.as_deref(), Some("+4915123456789"));
        assert_eq!(anna.locale.as_deref(), Some("de-DE"));

        for (kind, file, rows) in [
            ("customers", CUSTOMERS, 12),
            ("vehicles", VEHICLES, 15),
            ("visits", VISITS, 27),
        ] {
            let again = tp.import_json(kind, file, &[]);
            assert_eq!(counts(&again), (rows, 0, 0, rows), "{}: {kind}", tp.backend);
            assert_eq!(again["vehicles_to_replan"], 0);
        }
        assert_eq!(
            tp.snapshot(),
            loaded,
            "{}: re-importing changed the database",
            tp.backend
        );
    }
}

#[test]
fn a_dry_run_reports_and_changes_nothing() {
    for tp in instances() {
        let empty = tp.snapshot();
        let report = tp.import_json("customers", CUSTOMERS, &["--dry-run"]);
        assert_eq!(counts(&report), (12, 12, 0, 0));
        assert_eq!(report["dry_run"], true);
        assert_eq!(tp.snapshot(), empty, "{}", tp.backend);

        tp.import_json("customers", CUSTOMERS, &[]);
        let with_customers = tp.snapshot();
        let report = tp.import_json("vehicles", VEHICLES, &["--dry-run"]);
        assert_eq!(counts(&report), (15, 15, 0, 0));
        let out = tp.import("vehicles", VEHICLES, &["--dry-run"]);
        assert!(
            stdout(&out).starts_with("dry run, nothing changed"),
            "{}",
            stdout(&out)
        );
        assert_eq!(tp.snapshot(), with_customers, "{}", tp.backend);

        // A dry run of a bad file fails like the real import.
        let out = tp.import("vehicles", "config/sample/bad/vehicles.csv", &["--dry-run"]);
        assert_eq!(out.status.code(), Some(65));
        assert_eq!(tp.snapshot(), with_customers, "{}", tp.backend);
    }
}

#[test]
fn bad_customers_are_all_named_and_nothing_is_stored() {
    let f = "config/sample/bad/customers.csv";
    for tp in instances() {
        tp.import_json("customers", CUSTOMERS, &[]);
        assert_refused(
            &tp,
            "customers",
            f,
            &[
                &format!("{f}:3: email: 'ben.wolf(at)example.de' is not a valid email address"),
                &format!(
                    "{f}:4: phone: '0151 12' is not a valid phone number (national numbers are read in the configured default region)"
                ),
                &format!("{f}:5: timezone: 'Europe/Hamburg' is not an IANA time zone"),
                &format!("{f}:6: birthday: 2099-01-01 is in the future"),
                &format!("{f}:7: birthday: '1990-02-30' is not a real calendar date"),
                &format!(
                    "{f}:8: consent_email_marketing: 'maybe' is not a boolean (true/false, yes/no, 1/0)"
                ),
                &format!(
                    "{f}:9: customer_id: 'C2001' appears again (first on line 2); ids must be unique within the file"
                ),
                &format!(
                    "{f}:10: phone: is empty and so is email; a customer needs an email or a phone"
                ),
            ],
        );
    }
}

const BAD_VEHICLES: &str = "config/sample/bad/vehicles.csv";

fn bad_vehicle_lines() -> Vec<String> {
    let f = BAD_VEHICLES;
    vec![
        format!(
            "{f}:3: vin: 'WVWZZZ1KZAW00O202' contains 'O'; a VIN uses A-Z without I, O, Q and 0-9"
        ),
        format!("{f}:4: customer_id: 'C9999' is not a known customer (import customers first)"),
        format!("{f}:5: purchase_odometer_km: -120 is negative"),
        format!("{f}:6: purchase_date: 2099-01-10 is in the future"),
        format!(
            "{f}:7: vin: 'WVWZZZ1KZAW000201' appears again (first on line 2); ids must be unique within the file"
        ),
    ]
}

#[test]
fn bad_vehicles_are_all_named_on_a_first_load_and_later() {
    for tp in instances() {
        tp.import_json("customers", CUSTOMERS, &[]);
        let lines = bad_vehicle_lines();
        let expected: Vec<&str> = lines.iter().map(String::as_str).collect();
        // No vehicle stored yet: the owners are resolved while writing.
        assert_refused(&tp, "vehicles", BAD_VEHICLES, &expected);
        tp.import_json("vehicles", VEHICLES, &[]);
        assert_refused(&tp, "vehicles", BAD_VEHICLES, &expected);
    }
}

#[test]
fn a_missing_owner_alone_is_found_on_a_first_load() {
    for tp in instances() {
        tp.import_json("customers", CUSTOMERS, &[]);
        let file = tp.write(
            "owners.csv",
            "vin,customer_id,make,model,model_year,purchase_date,purchase_odometer_km,avg_monthly_km\n\
             WVWZZZ1KZAW000301,C1001,Volkswagen,Golf,2024,2024-04-04,0,\n\
             WVWZZZ1KZAW000302,C7777,Volkswagen,Golf,2024,2024-04-04,0,\n",
        );
        let shown = file.display().to_string();
        assert_refused(
            &tp,
            "vehicles",
            &shown,
            &[&format!(
                "{shown}:3: customer_id: 'C7777' is not a known customer (import customers first)"
            )],
        );
    }
}

#[test]
fn bad_visits_are_all_named_against_the_file_and_the_database() {
    let f = "config/sample/bad/visits.csv";
    for tp in instances() {
        load_samples(&tp);
        assert_refused(
            &tp,
            "visits",
            f,
            &[
                &format!(
                    "{f}:3: odometer_km: 13900 km on 2026-08-30 is less than the 14100 km recorded on 2026-05-02 (line 2)"
                ),
                &format!(
                    "{f}:4: odometer_km: 40000 km on 2026-03-01 is less than the 43300 km recorded on 2026-01-09 (in the database)"
                ),
                &format!("{f}:5: date: 2026-02-01 is before the purchase on 2026-03-10"),
                &format!(
                    "{f}:6: vin: 'WVWZZZ1KZAW999999' is not a known vehicle (import vehicles first)"
                ),
                &format!("{f}:7: odometer_km: -5 is negative"),
                &format!("{f}:8: date: '2026-06-31' is not a real calendar date"),
                &format!(
                    "{f}:9: kind: 'oil change' is not one of service, repair, inspection, reading"
                ),
            ],
        );
    }
}

#[test]
fn a_reading_above_a_later_stored_one_is_refused() {
    for tp in instances() {
        load_samples(&tp);
        // The Golf read 29870 km on 2025-03-05: 31000 km half a year earlier is impossible.
        let file = tp.write(
            "late.csv",
            "vin,date,odometer_km,kind\nWVWZZZ1KZAW000101,2024-10-01,31000,reading\n",
        );
        let shown = file.display().to_string();
        assert_refused(
            &tp,
            "visits",
            &shown,
            &[&format!(
                "{shown}:2: odometer_km: 31000 km on 2024-10-01 is more than the 29870 km recorded later, on 2025-03-05 (in the database)"
            )],
        );
    }
}

#[test]
fn unknown_and_missing_columns_are_named() {
    let f = "config/sample/bad/columns.csv";
    for tp in instances() {
        assert_refused(
            &tp,
            "customers",
            f,
            &[
                &format!(
                    "{f}:1: mail: unknown column (expected columns: customer_id, name, email, phone, timezone, birthday, consent_email_marketing, consent_sms_marketing, locale)"
                ),
                &format!("{f}:1: email: required column is missing"),
            ],
        );
    }
}

#[test]
fn an_empty_file_and_a_short_row_are_named() {
    for tp in instances() {
        let empty = tp.write("empty.csv", "");
        let shown = empty.display().to_string();
        assert_refused(
            &tp,
            "visits",
            &shown,
            &[&format!(
                "{shown}:1: header: the file is empty; the first line must name the columns"
            )],
        );
        let short = tp.write(
            "short.csv",
            "vin,date,odometer_km,kind\nWVWZZZ1KZAW000101,2024-03-11\n",
        );
        let shown = short.display().to_string();
        assert_refused(
            &tp,
            "visits",
            &shown,
            &[&format!("{shown}:2: row: has 2 fields, the header has 4")],
        );
    }
}

#[test]
fn a_byte_order_mark_and_any_column_order_are_accepted() {
    for tp in instances() {
        let text = std::fs::read_to_string(crate::helpers::root().join(CUSTOMERS)).unwrap();
        let file = tp.write("bom.csv", format!("\u{feff}{text}"));
        let report = tp.import_json("customers", &file.display().to_string(), &[]);
        assert_eq!(counts(&report), (12, 12, 0, 0), "{}", tp.backend);

        // The same rows with the columns reversed are the same customers.
        let reversed: String = text
            .lines()
            .map(|l| {
                let mut fields: Vec<&str> = l.split(',').collect();
                fields.reverse();
                fields.join(",") + "\n"
            })
            .collect();
        let file = tp.write("reversed.csv", reversed);
        let report = tp.import_json("customers", &file.display().to_string(), &[]);
        assert_eq!(counts(&report), (12, 0, 0, 12), "{}", tp.backend);
    }
}

/// A file as a Windows dealer system writes it: a byte order mark, CRLF line
/// endings, every field quoted.
fn windows_export(text: &str) -> String {
    let rows: String = text
        .lines()
        .map(|l| {
            let fields: Vec<String> = l.split(',').map(|f| format!("\"{f}\"")).collect();
            fields.join(",") + "\r\n"
        })
        .collect();
    format!("\u{feff}{rows}")
}

#[test]
fn windows_exports_load_like_the_originals_and_bad_rows_keep_their_lines() {
    for tp in instances() {
        for (kind, file) in [
            ("customers", CUSTOMERS),
            ("vehicles", VEHICLES),
            ("visits", VISITS),
        ] {
            let text = std::fs::read_to_string(crate::helpers::root().join(file)).unwrap();
            let copy = tp.write(&format!("win-{kind}.csv"), windows_export(&text));
            let report = tp.import_json(kind, &copy.display().to_string(), &[]);
            let rows = text.lines().count() as u64 - 1;
            assert_eq!(counts(&report), (rows, rows, 0, 0), "{} {kind}", tp.backend);
            // The original file finds the same rows already there.
            let report = tp.import_json(kind, file, &[]);
            assert_eq!(counts(&report), (rows, 0, 0, rows), "{} {kind}", tp.backend);
        }
        // A quoted name spanning two lines (refused: a name is one line);
        // the bad row after it is on line 4.
        let file = tp.write(
            "win-bad.csv",
            "\u{feff}customer_id,name,email,phone,timezone,birthday,consent_email_marketing,consent_sms_marketing\r\n\
             \"C3001\",\"Keller,\r\nJonas\",\"jonas@example.de\",,\"Europe/Berlin\",,\"yes\",\"no\"\r\n\
             \"C3002\",\"Ben Wolf\",\"ben.wolf(at)example.de\",,\"Europe/Berlin\",,\"yes\",\"no\"\r\n",
        );
        let shown = file.display().to_string();
        assert_refused(
            &tp,
            "customers",
            &shown,
            &[
                &format!("{shown}:2: name: contains a control character"),
                &format!("{shown}:4: email: 'ben.wolf(at)example.de' is not a valid email address"),
            ],
        );
    }
}

#[test]
fn changed_facts_re_plan_the_vehicles_and_opt_outs_stay() {
    for tp in instances() {
        load_samples(&tp);
        tp.sql("UPDATE customers SET opted_out_email = TRUE WHERE customer_id = 'C1001'");
        let passat = tp.vehicle("WVWZZZ3CZPE000102");
        let bmw = tp.vehicle("WBA8E1C50JA000103");
        let audi = tp.vehicle("WAUZZZF40NA000104");

        // Anna (two cars) moves to Vienna; Jonas only changes his name.
        let customers = std::fs::read_to_string(crate::helpers::root().join(CUSTOMERS))
            .unwrap()
            .replace(
                "C1001,Anna Berg,anna.berg@example.com,0151 23456789,Europe/Berlin",
                "C1001,Anna Berg,anna.berg@example.com,0151 23456789,Europe/Vienna",
            )
            .replace("C1002,Jonas Keller,", "C1002,Jonas Keller-Roth,");
        let file = tp.write("customers.csv", customers);
        let report = tp.import_json("customers", &file.display().to_string(), &[]);
        assert_eq!(counts(&report), (12, 0, 2, 10), "{}", tp.backend);
        assert_eq!(report["vehicles_to_replan"], 2);
        let anna = tp.customer("C1001");
        assert_eq!(anna.timezone, "Europe/Vienna");
        assert!(
            anna.opted_out_email,
            "{}: an import must not touch opt-outs",
            tp.backend
        );
        assert_eq!(
            tp.vehicle("WVWZZZ3CZPE000102").facts_version,
            passat.facts_version + 1
        );
        assert_eq!(
            tp.vehicle("WBA8E1C50JA000103").facts_version,
            bmw.facts_version
        );

        // A corrected reading and a new one re-plan that vehicle once.
        let visits = tp.write(
            "visits.csv",
            "vin,date,odometer_km,kind\n\
             WAUZZZF40NA000104,2025-09-10,58100,service\n\
             WAUZZZF40NA000104,2026-09-01,70100,reading\n\
             WBA8E1C50JA000103,2026-01-09,43300,service\n",
        );
        let report = tp.import_json("visits", &visits.display().to_string(), &[]);
        assert_eq!(counts(&report), (3, 1, 1, 1), "{}", tp.backend);
        assert_eq!(
            tp.vehicle("WAUZZZF40NA000104").facts_version,
            audi.facts_version + 1
        );
        assert_eq!(
            tp.vehicle("WBA8E1C50JA000103").facts_version,
            bmw.facts_version
        );

        // A declared rate that changes re-plans the vehicle too.
        let vehicles = std::fs::read_to_string(crate::helpers::root().join(VEHICLES))
            .unwrap()
            .replace("2024-01-20,0,1800", "2024-01-20,0,2000");
        let file = tp.write("vehicles.csv", vehicles);
        let report = tp.import_json("vehicles", &file.display().to_string(), &[]);
        assert_eq!(counts(&report), (15, 0, 1, 14), "{}", tp.backend);
        let bmw_now = tp.vehicle("WBA8E1C50JA000103");
        assert_eq!(bmw_now.facts_version, bmw.facts_version + 1);
        assert_eq!(bmw_now.avg_monthly_km, Some(2000.0));
    }
}

#[test]
fn a_purchase_moved_after_a_stored_visit_is_refused() {
    for tp in instances() {
        load_samples(&tp);
        let vehicles = std::fs::read_to_string(crate::helpers::root().join(VEHICLES))
            .unwrap()
            .replace(
                "WBA8E1C50JA000103,C1002,BMW,320d,2024,2024-01-20,0,1800",
                "WBA8E1C50JA000103,C1002,BMW,320d,2024,2025-02-01,25000,1800",
            );
        let file = tp.write("vehicles.csv", vehicles);
        let shown = file.display().to_string();
        assert_refused(
            &tp,
            "vehicles",
            &shown,
            &[
                &format!(
                    "{shown}:4: purchase_date: 2025-02-01 is after the recorded service on 2025-01-14"
                ),
                &format!(
                    "{shown}:4: purchase_odometer_km: 25000 km is more than the 21800 km recorded on 2025-01-14"
                ),
            ],
        );
    }
}

#[test]
fn an_unreadable_file_exits_65() {
    for tp in instances() {
        let out = tp.import("customers", "config/sample/no-such-file.csv", &[]);
        assert_eq!(out.status.code(), Some(65));
        assert!(
            stderr(&out).contains("cannot read config/sample/no-such-file.csv"),
            "{}",
            stderr(&out)
        );
    }
}

/// The library entry point leaves the SQLite connection as it found it
/// (foreign keys on, the default page cache and temp store), whether the
/// import succeeds or not.
#[tokio::test]
async fn the_connection_is_restored_after_an_import() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    use touchpoint::import::{ImportError, Kind, run};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("touchpoint.toml");
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = \"sqlite://{}/t.db\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let config = touchpoint::config::Config::load(Some(&path)).unwrap();
    let db = touchpoint::store::connect(&config.database_url(), 1)
        .await
        .unwrap();
    touchpoint::store::migrate(&db).await.unwrap();
    let pragma = |name: &'static str| {
        let db = &db;
        async move {
            db.query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                format!("PRAGMA {name}"),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap()
        }
    };
    let before = (
        pragma("foreign_keys").await,
        pragma("cache_size").await,
        pragma("temp_store").await,
    );
    assert_eq!(before.0, 1);
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let root = crate::helpers::root();
    let report = run(
        &db,
        &config,
        Kind::Customers,
        &root.join(CUSTOMERS),
        false,
        today,
    )
    .await
    .unwrap();
    assert_eq!(report.inserted, 12);
    let after = (
        pragma("foreign_keys").await,
        pragma("cache_size").await,
        pragma("temp_store").await,
    );
    assert_eq!(after, before);
    let bad = root.join("config/sample/bad/vehicles.csv");
    let err = run(&db, &config, Kind::Vehicles, &bad, false, today)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImportError::Invalid(ref lines) if lines.len() == 5),
        "{err}"
    );
    let after = (
        pragma("foreign_keys").await,
        pragma("cache_size").await,
        pragma("temp_store").await,
    );
    assert_eq!(after, before);
}
