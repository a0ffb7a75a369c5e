//! Shared setup of the binary tests: a fresh instance per backend under test
//! (SQLite always, PostgreSQL when TOUCHPOINT_TEST_POSTGRES_URL is set, in a
//! schema of its own), each a temp dir with `touchpoint.toml`, migrated.

use assert_cmd::Command;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, QueryOrder};
use std::path::{Path, PathBuf};
use std::process::Output;
use touchpoint::store::{self, entities};

/// One touchpoint installation on one backend.
pub struct Instance {
    pub backend: &'static str,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    url: String,
    /// The PostgreSQL schema to drop afterwards.
    schema: Option<String>,
}

/// A migrated instance on every backend under test.
pub fn instances() -> Vec<Instance> {
    let mut out = vec![Instance::new("sqlite", None)];
    if let Some(base) = crate::support::postgres_url() {
        out.push(Instance::new("postgres", Some(base)));
    }
    out
}

/// Runs `check` on every backend under test at once, each on a thread of
/// its own (for tests timed by the clock: the backends take as long as one).
pub fn side_by_side(check: impl Fn(&Instance) + Sync) {
    let instances = instances();
    std::thread::scope(|scope| {
        for instance in &instances {
            let check = &check;
            scope.spawn(move || check(instance));
        }
    });
}

/// Runs a future to completion on a runtime of its own (the tests are sync).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// The repository root: sample files are named relative to it.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

impl Instance {
    fn new(backend: &'static str, postgres: Option<String>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (url, schema) = match postgres {
            None => (
                format!("sqlite://{}/touchpoint.db", dir.path().display()),
                None,
            ),
            Some(base) => {
                let schema = format!(
                    "tp_import_{}_{}",
                    std::process::id(),
                    crate::support::rand_suffix()
                );
                block_on(async {
                    let admin = store::connect(&base, 1).await.unwrap();
                    admin
                        .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
                        .await
                        .unwrap();
                });
                let sep = if base.contains('?') { '&' } else { '?' };
                (
                    format!("{base}{sep}options=-c%20search_path%3D{schema}"),
                    Some(schema),
                )
            }
        };
        let config = dir.path().join("touchpoint.toml");
        std::fs::write(
            &config,
            format!("[database]\nurl = \"{url}\"\n[outbox]\ndir = \"outbox\"\n"),
        )
        .unwrap();
        let instance = Self {
            backend,
            dir,
            config,
            url,
            schema,
        };
        let out = instance.run(&["migrate"]);
        assert!(out.status.success(), "migrate: {}", stderr(&out));
        instance
    }

    /// The database URL of this instance.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The binary, configured for this instance, run from the repository root.
    pub fn touchpoint(&self) -> Command {
        let mut cmd = Command::cargo_bin("touchpoint").unwrap();
        cmd.env_remove("TOUCHPOINT_CONFIG")
            .current_dir(root())
            .arg("--config")
            .arg(&self.config);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.touchpoint().args(args).output().unwrap()
    }

    /// The instance's configuration, as the binary loads it.
    pub fn load_config(&self) -> touchpoint::config::Config {
        touchpoint::config::Config::load(Some(&self.config)).unwrap()
    }

    /// Runs a command with `--json` that must succeed; returns its answer.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.touchpoint().args(args).arg("--json").output().unwrap();
        assert!(
            out.status.success(),
            "{}: {args:?}: {}",
            self.backend,
            stderr(&out)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// `touchpoint import KIND FILE [extra…]`, FILE relative to the repository root.
    pub fn import(&self, kind: &str, file: &str, extra: &[&str]) -> Output {
        self.touchpoint()
            .args(["import", kind, file])
            .args(extra)
            .output()
            .unwrap()
    }

    /// Imports a file and returns the JSON report; the import must succeed.
    pub fn import_json(&self, kind: &str, file: &str, extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["import", kind, file];
        args.extend_from_slice(extra);
        self.json(&args)
    }

    pub async fn db(&self) -> DatabaseConnection {
        store::connect(&self.url, 1).await.unwrap()
    }

    /// Every stored customer, vehicle, reading, touchpoint, message, call
    /// task and opt-out, in a stable order: equal snapshots mean an
    /// unchanged database.
    pub fn snapshot(&self) -> String {
        block_on(async {
            let db = self.db().await;
            let customers = entities::customer::Entity::find()
                .order_by_asc(entities::customer::Column::CustomerId)
                .all(&db)
                .await
                .unwrap();
            let vehicles = entities::vehicle::Entity::find()
                .order_by_asc(entities::vehicle::Column::Vin)
                .all(&db)
                .await
                .unwrap();
            let readings = entities::reading::Entity::find()
                .order_by_asc(entities::reading::Column::VehicleId)
                .order_by_asc(entities::reading::Column::Date)
                .order_by_asc(entities::reading::Column::Kind)
                .all(&db)
                .await
                .unwrap();
            let touchpoints = entities::touchpoint::Entity::find()
                .order_by_asc(entities::touchpoint::Column::DedupKey)
                .all(&db)
                .await
                .unwrap();
            let messages = entities::message::Entity::find()
                .order_by_asc(entities::message::Column::Key)
                .all(&db)
                .await
                .unwrap();
            let calls = entities::call_task::Entity::find()
                .order_by_asc(entities::call_task::Column::Id)
                .all(&db)
                .await
                .unwrap();
            let opt_outs = entities::opt_out::Entity::find()
                .order_by_asc(entities::opt_out::Column::Id)
                .all(&db)
                .await
                .unwrap();
            format!(
                "{customers:#?}\n{vehicles:#?}\n{readings:#?}\n{touchpoints:#?}\n{messages:#?}\n{calls:#?}\n{opt_outs:#?}"
            )
        })
    }

    /// Every row of the users or api_tokens table, debug-printed.
    pub fn snapshot_table(&self, table: &str) -> String {
        block_on(async {
            let db = self.db().await;
            match table {
                "users" => format!(
                    "{:#?}",
                    entities::user::Entity::find().all(&db).await.unwrap()
                ),
                "api_tokens" => format!(
                    "{:#?}",
                    entities::api_token::Entity::find().all(&db).await.unwrap()
                ),
                other => panic!("no snapshot of {other}"),
            }
        })
    }

    /// Runs SQL against the instance's database.
    pub fn sql(&self, statement: &str) {
        block_on(async {
            self.db().await.execute_unprepared(statement).await.unwrap();
        });
    }

    /// A stored vehicle by VIN.
    pub fn vehicle(&self, vin: &str) -> touchpoint::domain::Vehicle {
        block_on(async {
            let db = self.db().await;
            store::vehicle_by_vin(&db, vin)
                .await
                .unwrap()
                .unwrap()
                .vehicle
        })
    }

    /// A stored customer by customer id.
    pub fn customer(&self, customer_id: &str) -> entities::customer::Model {
        use sea_orm::{ColumnTrait, QueryFilter};
        block_on(async {
            let db = self.db().await;
            entities::customer::Entity::find()
                .filter(entities::customer::Column::CustomerId.eq(customer_id))
                .one(&db)
                .await
                .unwrap()
                .unwrap()
        })
    }

    /// Adds sections to the instance's `touchpoint.toml`.
    pub fn add_config(&self, toml: &str) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.config)
            .unwrap();
        file.write_all(toml.as_bytes()).unwrap();
    }

    /// Writes a file into the instance's folder; returns its path.
    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(schema) = &self.schema {
            let url = self.url.clone();
            let schema = schema.clone();
            // Best effort: a failed test must still report its own failure.
            let _ = std::panic::catch_unwind(move || {
                block_on(async {
                    let db = store::connect(&url, 1).await.unwrap();
                    let _ = db
                        .execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE"))
                        .await;
                });
            });
        }
    }
}
