//! The import folder (docs/operations.md#the-import-folder) through
//! `touchpoint run`, on every backend under test: exports dropped into it
//! are imported customers first, then vehicles, then visits, and moved to
//! `processed/`; a file that is still being written is left alone; a bad
//! one goes to `failed/` with its problems beside it and changes nothing.

use crate::helpers::{self, Instance, root};
use crate::http::Daemon;
use std::path::{Path, PathBuf};
use std::time::Duration;
use touchpoint::app::desk::{ImportRecord, import_history};

/// Long enough for a look into the folder on a slow machine.
const WITHIN: Duration = Duration::from_secs(60);

/// A look every second, a file settled after a second unchanged.
const QUICK: [&str; 2] = ["import.watch_every_secs=1", "import.watch_settle_secs=1"];

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(root().join("config/sample").join(name)).unwrap()
}

/// The instance's import folder, `import/` beside its configuration.
fn folder(instance: &Instance) -> PathBuf {
    let dir = instance.dir.path().join("import");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The names of the files in `dir`, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap())
                .filter(|e| e.file_type().unwrap().is_file())
                .map(|e| e.file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The imports history, oldest first.
fn history(instance: &Instance) -> Vec<ImportRecord> {
    helpers::block_on(async {
        let db = instance.db().await;
        let mut h = import_history(&db, 50).await.unwrap();
        h.reverse();
        h
    })
}

fn summaries(instance: &Instance) -> Vec<(String, String, String)> {
    history(instance)
        .into_iter()
        .map(|r| (r.actor, r.subject, r.summary))
        .collect()
}

fn entry(actor: &str, subject: &str, summary: &str) -> (String, String, String) {
    (actor.into(), subject.into(), summary.into())
}

#[test]
fn dropped_exports_are_imported_in_order_and_moved_to_processed() {
    for instance in helpers::instances() {
        let backend = instance.backend;
        let dir = folder(&instance);
        // The vehicles file comes first, yet its owners must be imported
        // before it.
        std::fs::write(dir.join("vehicles-0412.csv"), sample("vehicles.csv")).unwrap();
        std::fs::write(dir.join("customers-0412.csv"), sample("customers.csv")).unwrap();
        std::fs::write(dir.join("notes.txt"), "not an export").unwrap();
        let mut sets = vec!["import.watch_dir=import"];
        sets.extend(QUICK);
        let mut daemon = Daemon::start_set(&instance, &sets);
        let first = daemon.wait_for_line("import folder: imported", WITHIN);
        let second = daemon.wait_for_line("import folder: imported", WITHIN);
        assert!(first.contains("customers-0412.csv"), "{backend}: {first}");
        assert!(first.contains("rows=12"), "{backend}: {first}");
        assert!(second.contains("vehicles-0412.csv"), "{backend}: {second}");
        assert!(second.contains("rows=15"), "{backend}: {second}");

        // A file dropped while the daemon runs.
        std::fs::write(dir.join("visits.csv"), sample("visits.csv")).unwrap();
        let third = daemon.wait_for_line("import folder: imported", WITHIN);
        assert!(
            third.contains("visits.csv") && third.contains("rows=27"),
            "{backend}: {third}"
        );
        let (status, log) = daemon.stop(backend);
        assert!(status.success(), "{backend}: {status}: {log}");

        assert_eq!(files(&dir), vec!["notes.txt"], "{backend}");
        assert_eq!(
            files(&dir.join("processed")),
            vec!["customers-0412.csv", "vehicles-0412.csv", "visits.csv"],
            "{backend}"
        );
        assert_eq!(
            std::fs::read(dir.join("processed/vehicles-0412.csv")).unwrap(),
            sample("vehicles.csv")
        );
        // The other name is told once, however many looks saw it.
        assert_eq!(log.matches("notes.txt").count(), 1, "{backend}: {log}");
        assert_eq!(
            summaries(&instance),
            vec![
                entry(
                    "import folder",
                    "customers customers-0412.csv",
                    "12 rows: 12 new, 0 updated, 0 unchanged"
                ),
                entry(
                    "import folder",
                    "vehicles vehicles-0412.csv",
                    "15 rows: 15 new, 0 updated, 0 unchanged"
                ),
                entry(
                    "import folder",
                    "visits visits.csv",
                    "27 rows: 27 new, 0 updated, 0 unchanged"
                ),
            ],
            "{backend}"
        );
        // The data is there, as `touchpoint import` would have stored it.
        assert_eq!(
            instance.customer("C1001").phone.as_deref(),
            Some("+4915123456789")
        );
        let next = instance.json(&["next-service", "WVWZZZ1KZAW000101"]);
        assert_eq!(next["rate_source"], "readings", "{backend}: {next}");
        assert_eq!(
            instance.vehicle("WVWZZZ1KZAW000101").facts_version,
            2,
            "{backend}: its readings were imported"
        );
    }
}

/// The folder is off (`watch_dir` empty) at start; a reload turns it on
/// with a settle time no look can reach while the test writes, so that
/// the half-written file is left alone whatever the machine's speed; a
/// second reload shortens it, and the whole file goes in.
#[test]
fn a_half_written_file_waits_and_a_reload_puts_the_folder_settings_in_force() {
    for instance in helpers::instances() {
        let backend = instance.backend;
        let dir = folder(&instance);
        let base = std::fs::read_to_string(&instance.config).unwrap();
        let configure = |settle: u64| {
            std::fs::write(
                &instance.config,
                format!(
                    "{base}[import]\nwatch_dir = \"import\"\nwatch_every_secs = 1\nwatch_settle_secs = {settle}\n"
                ),
            )
            .unwrap();
        };
        let whole = sample("customers.csv");
        // Cut in the middle of line 5: imported so, the file would be refused.
        let cut = whole
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(3)
            .map(|(i, _)| i + 10)
            .unwrap();
        let empty = instance.snapshot();
        // Each look says so at the debug level.
        let looks = ("TOUCHPOINT_LOG", "info,touchpoint::app::watch=debug");
        let mut daemon = Daemon::start_with(&instance, &[looks]);
        daemon.wait_for_line("pass done", WITHIN);
        std::fs::write(dir.join("customers.csv"), &whole[..cut]).unwrap();

        configure(3600);
        daemon.signal("-HUP");
        daemon.wait_for_line("import folder: watching", WITHIN);
        let found = daemon.wait_for_line("import folder: found", WITHIN);
        assert!(found.contains("customers.csv"), "{backend}: {found}");
        // That look, and the next one, leave it alone.
        let looked = daemon.wait_for_line("import folder: looked", WITHIN);
        assert!(looked.contains("ready=0"), "{backend}: {looked}");
        let looked = daemon.wait_for_line("import folder: looked", WITHIN);
        assert!(looked.contains("ready=0"), "{backend}: {looked}");
        assert_eq!(files(&dir), vec!["customers.csv"], "{backend}");
        assert!(!dir.join("processed").exists() && !dir.join("failed").exists());
        assert_eq!(
            instance.snapshot(),
            empty,
            "{backend}: the half file was imported"
        );

        // The writer finishes; the settle time becomes a second.
        std::fs::write(dir.join("customers.csv"), &whole).unwrap();
        configure(1);
        daemon.signal("-HUP");
        let imported = daemon.wait_for_line("import folder: imported", WITHIN);
        assert!(imported.contains("rows=12"), "{backend}: {imported}");
        let (status, log) = daemon.stop(backend);
        assert!(status.success(), "{backend}: {status}: {log}");
        assert!(!log.contains("import folder: refused"), "{backend}: {log}");
        assert!(files(&dir).is_empty(), "{backend}");
        assert_eq!(
            std::fs::read(dir.join("processed/customers.csv")).unwrap(),
            whole
        );
        assert_eq!(
            summaries(&instance),
            vec![entry(
                "import folder",
                "customers customers.csv",
                "12 rows: 12 new, 0 updated, 0 unchanged"
            )],
            "{backend}"
        );
    }
}

/// As a Windows dealer system writes it: a byte order mark, CRLF line
/// endings; line 3 has an O in its VIN.
const BAD_VEHICLES: &str = "\u{feff}vin,customer_id,make,model,model_year,purchase_date,purchase_odometer_km,avg_monthly_km\r\n\
    WVWZZZ1KZAW000301,C1001,Volkswagen,Golf,2024,2024-04-04,0,\r\n\
    WVWZZZ1KZAW00O302,C1002,Volkswagen,Polo,2024,2024-04-04,0,\r\n";

const BAD_LINE: &str = "vehicles_0412.csv:3: vin: 'WVWZZZ1KZAW00O302' contains 'O'; a VIN uses A-Z without I, O, Q and 0-9";

#[test]
fn a_bad_file_goes_to_failed_with_its_problems_and_changes_nothing() {
    for instance in helpers::instances() {
        let backend = instance.backend;
        let out = instance.import("customers", "config/sample/customers.csv", &[]);
        assert!(out.status.success(), "{}", helpers::stderr(&out));
        let before = instance.snapshot();
        let dir = folder(&instance);
        let mut sets = vec!["import.watch_dir=import"];
        sets.extend(QUICK);
        let mut daemon = Daemon::start_set(&instance, &sets);
        daemon.wait_for_line("import folder: watching", WITHIN);
        std::fs::write(dir.join("vehicles_0412.csv"), BAD_VEHICLES).unwrap();
        let refused = daemon.wait_for_line("import folder: refused", WITHIN);
        assert!(refused.contains("problems=1"), "{backend}: {refused}");
        // The same name again: it does not replace the first one.
        std::fs::write(dir.join("vehicles_0412.csv"), BAD_VEHICLES).unwrap();
        daemon.wait_for_line("import folder: refused", WITHIN);
        let (status, log) = daemon.stop(backend);
        assert!(status.success(), "{backend}: {status}: {log}");
        // The log names the file, never what its rows hold.
        assert!(!log.contains("WVWZZZ1KZAW00O302"), "{backend}: {log}");

        assert_eq!(
            instance.snapshot(),
            before,
            "{backend}: the database changed"
        );
        assert!(files(&dir).is_empty(), "{backend}");
        let failed = dir.join("failed");
        let names = files(&failed);
        assert_eq!(names.len(), 4, "{backend}: {names:?}");
        assert_eq!(names[2], "vehicles_0412.csv");
        assert_eq!(names[3], "vehicles_0412.csv.errors.txt");
        // The second is stamped with the time in UTC.
        let stamped = &names[0];
        let stamp = stamped
            .strip_prefix("vehicles_0412-")
            .and_then(|s| s.strip_suffix("Z.csv"))
            .unwrap_or_else(|| panic!("{backend}: {names:?}"));
        assert!(
            chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S").is_ok(),
            "{backend}: {stamped}"
        );
        assert_eq!(names[1], format!("{stamped}.errors.txt"));
        for name in [&names[0], &names[2]] {
            assert_eq!(
                std::fs::read_to_string(failed.join(name)).unwrap(),
                BAD_VEHICLES,
                "{backend}: the file is kept as it came"
            );
            assert_eq!(
                std::fs::read_to_string(failed.join(format!("{name}.errors.txt"))).unwrap(),
                format!("{BAD_LINE}\n"),
                "{backend}"
            );
        }
        let h = history(&instance);
        assert_eq!(h.len(), 2, "{backend}");
        assert_eq!(h[0].actor, "import folder");
        assert_eq!(h[0].subject, "vehicles vehicles_0412.csv");
        assert_eq!(h[0].summary, "refused: 1 problem(s); nothing imported");
        assert_eq!(h[0].problems, vec![BAD_LINE.to_string()]);
    }
}
