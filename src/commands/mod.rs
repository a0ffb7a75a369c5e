//! What each command does: load the configuration, call its use case in
//! `app`, print the answer. Failures carry their exit code (docs/commands.md).

mod calls;
mod init;
mod operator;
mod people;
mod show;
mod status;

pub use crate::app::Failure;
use crate::app::{open, pass};

use crate::backtest;
use crate::cli::{Cli, Command, ImportKind};
use crate::config::Config;
use crate::import;
use std::path::{Path, PathBuf};

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

/// `[log] format` of the configuration the command will load; `text` when
/// it does not load (the command then says why).
pub fn log_format(cli: &Cli) -> String {
    if matches!(cli.command, Command::Init { .. }) {
        return "text".into();
    }
    load_config(cli.config.as_deref(), &cli.set)
        .map(|c| c.settings.log.format)
        .unwrap_or_else(|_| "text".into())
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
            let ran = crate::app::migrate(&config).await?;
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
            let report =
                crate::app::import_file(&db, &config, kind, &file, dry_run, chrono::Utc::now())
                    .await?;
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
            let senders = crate::app::senders(&db, &config).await?;
            let report = pass(
                &db,
                &config,
                &senders.transports,
                &senders.catalog,
                chrono::Utc::now(),
            )
            .await?;
            print(out.json, &report, |r| {
                format!("{}{}", r.planning.to_text(), r.dispatch.to_text())
            })
        }
        Command::Run => {
            let config = load_config(cli.config.as_deref(), &cli.set)?;
            let reread = || load_config(cli.config.as_deref(), &cli.set);
            crate::daemon::run(config, reread).await
        }
        Command::SendTestEmail { address, out } => {
            let config = load_config(cli.config.as_deref(), &cli.set)?;
            operator::send_test(&config, crate::domain::Channel::Email, &address, out).await
        }
        Command::SendTestSms { number, out } => {
            let config = load_config(cli.config.as_deref(), &cli.set)?;
            operator::send_test(&config, crate::domain::Channel::Sms, &number, out).await
        }
        Command::CheckConfig { out } => {
            let config = load_config(cli.config.as_deref(), &cli.set)?;
            operator::check_config(&config, out).await
        }
        Command::Status { out } => {
            let config = load_config(cli.config.as_deref(), &cli.set)?;
            status::show(&config, out.json).await
        }
        Command::Calls { out } => {
            let config = load_config(cli.config.as_deref(), &cli.set)?;
            calls::list(&config, out.json).await
        }
        Command::CallOutcome {
            id,
            outcome,
            note,
            on,
            at,
        } => {
            let config = load_config(cli.config.as_deref(), &cli.set)?;
            calls::record(&config, id, outcome, note, on, at).await
        }
        Command::Operator(command) => {
            let config = load_config(cli.config.as_deref(), &cli.set)?;
            operator::execute(&config, command).await
        }
        Command::User { action } => {
            let config = load_config(cli.config.as_deref(), &cli.set)?;
            people::user(&config, action).await
        }
        Command::Token { action } => {
            let config = load_config(cli.config.as_deref(), &cli.set)?;
            people::token(&config, action).await
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
                    crate::app::simulate::simulate(&db, &config, from, to, &mut writer).await?
                }
                None => {
                    let mut writer = std::io::BufWriter::new(std::io::stdout().lock());
                    crate::app::simulate::simulate(&db, &config, from, to, &mut writer).await?
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
