use clap::Parser;
use std::process::ExitCode;
use touchpoint::cli::Cli;
use touchpoint::commands;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(64),
            };
        }
    };
    // The daemon says what it does; one-shot commands only warn.
    let default_level = match cli.command {
        // The scheduler's own start-up lines are not the daemon's news.
        touchpoint::cli::Command::Run => "info,tokio_cron_scheduler=warn",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOUCHPOINT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let log = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    if commands::log_format(&cli) == "json" {
        log.json().with_ansi(false).init();
    } else {
        // Colours only on a terminal: the journal gets plain lines.
        log.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::execute(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}
