//! What each command does: load the configuration and the facts, call the
//! pure parts, print the answer. Failures carry their exit code (docs/commands.md).

mod calls;
mod init;
mod operator;
mod planning;
mod show;
mod simulate;

pub use planning::{PassReport, planning_pass};

use crate::backtest::{self, BacktestError};
use crate::cli::{Cli, Command, ImportKind};
use crate::config::{Config, ConfigError};
use crate::import::{self, ImportError};
use crate::store::{self, StoreError};
use sea_orm::DatabaseConnection;
use std::path::{Path, PathBuf};

/// A command's failure and its exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Exit 64: the command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// Exit 65: the input data is invalid.
    #[error("{0}")]
    Data(String),
    /// Exit 78: the configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Exit 1: anything else.
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Other(String),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 64,
            Failure::Data(_) => 65,
            Failure::Config(_) => 78,
            Failure::Store(_) | Failure::Other(_) => 1,
        }
    }
}

impl From<BacktestError> for Failure {
    fn from(e: BacktestError) -> Self {
        match e {
            BacktestError::Config(c) => Failure::Config(c),
            BacktestError::BadOption(_) => Failure::Usage(e.to_string()),
            BacktestError::Invalid(_) | BacktestError::Read { .. } => Failure::Data(e.to_string()),
        }
    }
}

impl From<ImportError> for Failure {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Store(s) => Failure::Store(s),
            other => Failure::Data(other.to_string()),
        }
    }
}

/// What `dispatch` did: the planning pass, then the dispatch pass.
#[derive(serde::Serialize)]
pub struct PassOutput {
    pub planning: PassReport,
    pub dispatch: crate::dispatch::DispatchReport,
}

/// One planning and dispatch pass at `now`: what `dispatch` does once and
/// the daemon on every tick.
pub async fn pass(
    db: &DatabaseConnection,
    config: &Config,
    transports: &crate::dispatch::Transports,
    catalog: &crate::messages::Catalog,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<PassOutput, Failure> {
    let planning = planning_pass(db, config, now).await?;
    let dispatch = crate::dispatch::Dispatcher::new(db, config, transports, catalog)
        .pass(now)
        .await?;
    Ok(PassOutput { planning, dispatch })
}

/// The name of the stored secret that signs unsubscribe links.
const UNSUBSCRIBE_SECRET: &str = "unsubscribe_secret";

/// The unsubscribe links: signed with `[http] secret`, or, when that is
/// empty, with the secret kept in the database (generated on first use).
pub async fn unsubscribe_links(
    db: &DatabaseConnection,
    config: &Config,
) -> Result<crate::unsubscribe::Links, Failure> {
    let http = &config.settings.http;
    let local = ["://127.", "://localhost", "://[::1]"]
        .iter()
        .any(|l| http.public_url.contains(l));
    if local && !config.settings.email.smtp_url.is_empty() {
        tracing::warn!(
            public_url = %http.public_url,
            "emails go out over SMTP with unsubscribe links to this machine's own address: set [http] public_url"
        );
    }
    let secret = if http.secret.is_empty() {
        let mut bytes = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
            .map_err(|_| Failure::Other("cannot draw a random secret".into()))?;
        let candidate =
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
        store::shared_setting(db, UNSUBSCRIBE_SECRET, &candidate, chrono::Utc::now()).await?
    } else {
        http.secret.clone()
    };
    Ok(crate::unsubscribe::Links::new(
        secret.as_bytes(),
        &http.public_url,
    ))
}

/// Where the configuration comes from: `--config`, then `$TOUCHPOINT_CONFIG`,
/// then `./config/touchpoint.toml` (built-in defaults when that is absent).
pub fn config_path(flag: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = flag {
        return Some(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("TOUCHPOINT_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let default = PathBuf::from("config/touchpoint.toml");
    default.is_file().then_some(default)
}

pub fn load_config(flag: Option<&Path>, overrides: &[(String, String)]) -> Result<Config, Failure> {
    Ok(Config::load_with(config_path(flag).as_deref(), overrides)?)
}

/// Opens the configured database; it must be migrated.
pub async fn open(config: &Config) -> Result<DatabaseConnection, Failure> {
    let db = store::connect(
        &config.database_url(),
        config.settings.database.max_connections,
    )
    .await?;
    store::require_migrated(&db).await?;
    Ok(db)
}

/// Prints a value as pretty JSON or through its text form.
pub fn print<T: serde::Serialize>(
    json: bool,
    value: &T,
    text: impl FnOnce(&T) -> String,
) -> Result<(), Failure> {
    if json {
        let s = serde_json::to_string_pretty(value).map_err(|e| Failure::Other(e.to_string()))?;
        println!("{s}");
    } else {
        print!("{}", text(value));
    }
    Ok(())
}

pub async fn execute(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Init { dir } => init::init(&dir).await,
        Command::Migrate => {
            let config = load_config(cli.config.as_deref(), &cli.set)?;
            let db = store::connect(
                &config.database_url(),
                config.settings.database.max_connections,
            )
            .await?;
            let ran = store::migrate(&db).await?;
            println!("{ran} migration(s) applied; the database is up to date");
            Ok(())
        }
        Command::Import {
            kind,
            file,
            dry_run,
            out,
        } => {
            let config = load_config(cli.config.as_deref(), &cli.set)?;
            let db = open(&config).await?;
            let kind = match kind {
                ImportKind::Customers => import::Kind::Customers,
                ImportKind::Vehicles => import::Kind::Vehicles,
                ImportKind::Visits => import::Kind::Visits,
            };
            let today = chrono::Utc::now()
                .with_timezone(&config.default_timezone())
                .date_naive();
            let report = import::run(&db, &config, kind, &file, dry_run, today).await?;
            print(out.json, &report, |r| {
                format!(
                    "{}{}: {} rows: {} new, {} updated, {} unchanged\n",
                    if r.dry_run {
                        "dry run, nothing changed: "
                    } else {
                        ""
                    },
                    r.file,
                    r.rows,
                    r.inserted,
                    r.updated,
                    r.unchanged
                )
            })
        }
        Command::NextService { vin, when, out } => {
            let config = load_config(cli.config.as_deref(), &cli.set)?;
            show::next_service(&config, &vin, when.as_of, out.json).await
        }
        Command::Plan { vin, when, out } => {
            let config = load_config(cli.config.as_deref(), &cli.set)?;
            show::plan(&config, &vin, when.as_of, out.json).await
        }
        Command::Queue { days, when, out } => {
            let config = load_config(cli.config.as_deref(), &cli.set)?;
            show::queue(&config, days, when.as_of, out.json).await
        }
        Command::Dispatch { out } => {
            let config = load_config(cli.config.as_deref(), &cli.set)?;
            let db = open(&config).await?;
            let catalog =
                crate::messages::Catalog::builtin().map_err(|e| Failure::Other(e.to_string()))?;
            let transports = crate::dispatch::Transports::from_config(&config)?
                .with_unsubscribe_links(unsubscribe_links(&db, &config).await?);
            let report = pass(&db, &config, &transports, &catalog, chrono::Utc::now()).await?;
            print(out.json, &report, |r| {
                format!("{}{}", r.planning.to_text(), r.dispatch.to_text())
            })
        }
        Command::Run => {
            let config = load_config(cli.config.as_deref(), &cli.set)?;
            crate::daemon::run(config).await
        }
        Command::Calls { out } => {
            let config = load_config(cli.config.as_deref(), &cli.set)?;
            calls::list(&config, out.json).await
        }
        Command::CallOutcome { id, outcome, note } => {
            let config = load_config(cli.config.as_deref(), &cli.set)?;
            calls::record(&config, id, outcome, note).await
        }
        Command::Operator(command) => {
            let config = load_config(cli.config.as_deref(), &cli.set)?;
            operator::execute(&config, command).await
        }
        Command::Simulate { from, to, out } => {
            let config = load_config(cli.config.as_deref(), &cli.set)?;
            let db = open(&config).await?;
            let to_file = out.is_some();
            let summary = match out {
                Some(path) => {
                    let file = std::fs::File::create(&path).map_err(|e| {
                        Failure::Other(format!("cannot create {}: {e}", path.display()))
                    })?;
                    let mut writer = std::io::BufWriter::new(file);
                    simulate::simulate(&config, &db, from, to, &mut writer).await?
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut lock = stdout.lock();
                    simulate::simulate(&config, &db, from, to, &mut lock).await?
                }
            };
            // The lines own standard output unless they go to a file.
            if to_file {
                print!("{}", summary.to_text());
            } else {
                eprint!("{}", summary.to_text());
            }
            Ok(())
        }
        Command::Backtest {
            vehicles,
            visits,
            interval_km,
            interval_months,
            out,
        } => {
            let config = load_config(cli.config.as_deref(), &cli.set)?;
            let opts = backtest::Options {
                interval_km,
                interval_months,
            };
            let report = backtest::run_files(&vehicles, &visits, &opts, &config)?;
            print(out.json, &report, backtest::Report::to_text)
        }
    }
}
