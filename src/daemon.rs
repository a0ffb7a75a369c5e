//! `touchpoint run`: the HTTP endpoints, a planning and dispatch pass on the
//! `[daemon] dispatch_cron` schedule, readiness and watchdog through
//! sd_notify, and a clean stop on SIGTERM or SIGINT: the listener stops
//! accepting, a pass in flight finishes, the process exits 0.

use crate::app::{self, Failure};
use crate::config::{Config, ConfigError};
use crate::dispatch::Transports;
use crate::messages::Catalog;
use sd_notify::NotifyState;
use sea_orm::DatabaseConnection;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_cron_scheduler::{Job, JobScheduler};

/// How long open HTTP requests may take to finish after a stop.
const HTTP_DRAIN: Duration = Duration::from_secs(10);

/// Runs until SIGTERM or SIGINT.
pub async fn run(config: Config) -> Result<(), Failure> {
    let settings = &config.settings;
    // The scheduler only sends ticks; one task runs the passes, one at a
    // time: a tick that comes while a pass runs is dropped, not queued.
    let (tick_tx, tick_rx) = mpsc::channel::<()>(1);
    // The first pass runs at start: what fell due while the daemon was
    // stopped goes out now, not at the next tick.
    let _ = tick_tx.try_send(());
    let job = ticking(&settings.daemon.dispatch_cron, tick_tx)?;
    // The schema must be current: systemd runs `touchpoint migrate` first.
    let db = app::open(&config).await?;
    let app::Senders {
        transports,
        links,
        catalog,
    } = app::senders(&db, &config).await?;
    let readers = app::open_readers(&config, &db).await?;
    let state = crate::http::AppState::new(db.clone(), &config, links).with_readers(readers);

    let listen = &settings.http.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Failure::Other(format!("cannot listen on {listen}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| Failure::Other(format!("cannot listen on {listen}: {e}")))?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut signals = Signals::new()?;

    let mut scheduler = schedule(job).await?;
    let passes = tokio::spawn(pass_loop(
        db,
        config.clone(),
        transports,
        catalog,
        tick_rx,
        stop_rx.clone(),
    ));
    let server = tokio::spawn(
        axum::serve(
            listener,
            crate::http::router(state)
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(stopped(stop_rx.clone()))
        .into_future(),
    );

    tracing::info!(listen = %local, cron = %settings.daemon.dispatch_cron, "touchpoint is running");
    notify(&[NotifyState::Ready]);
    let mut watchdog = watchdog_interval().map(tokio::time::interval);
    let signal = loop {
        tokio::select! {
            name = signals.next() => break name,
            _ = tick(&mut watchdog) => notify(&[NotifyState::Watchdog]),
        }
    };

    tracing::info!(signal, "stopping: the pass in flight finishes first");
    notify(&[NotifyState::Stopping]);
    let _ = stop_tx.send(true);
    if let Err(e) = scheduler.shutdown().await {
        tracing::warn!(error = %e, "the scheduler did not stop cleanly");
    }
    // Keep the watchdog fed while the pass drains. Open HTTP requests get
    // HTTP_DRAIN to finish; a pass in flight always finishes.
    let http = server.abort_handle();
    let mut drained =
        std::pin::pin!(async { tokio::join!(passes, tokio::time::timeout(HTTP_DRAIN, server)) });
    let (passes, server) = loop {
        tokio::select! {
            done = &mut drained => break done,
            _ = tick(&mut watchdog) => notify(&[NotifyState::Watchdog]),
        }
    };
    let mut failures = Vec::new();
    if let Err(e) = passes {
        failures.push(format!("the dispatch task: {e}"));
    }
    match server {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => failures.push(format!("the HTTP server: {e}")),
        Ok(Err(e)) => failures.push(format!("the HTTP server task: {e}")),
        Err(_) => {
            http.abort();
            tracing::warn!("open HTTP requests were cut off after {HTTP_DRAIN:?}");
        }
    }
    if failures.is_empty() {
        tracing::info!("stopped");
        Ok(())
    } else {
        Err(Failure::Other(failures.join("; ")))
    }
}

/// A job that sends a tick on `cron` (UTC, with a seconds field).
fn ticking(cron: &str, ticks: mpsc::Sender<()>) -> Result<Job, ConfigError> {
    Job::new_async(cron, move |_id, _scheduler| {
        let ticks = ticks.clone();
        Box::pin(async move {
            if ticks.try_send(()).is_err() {
                tracing::warn!("a pass is still running: this tick is skipped");
            }
        })
    })
    .map_err(|e| ConfigError::new("daemon.dispatch_cron", format!("'{cron}': {e}")))
}

/// A started scheduler running `job`.
async fn schedule(job: Job) -> Result<JobScheduler, Failure> {
    let scheduler = JobScheduler::new()
        .await
        .map_err(|e| Failure::Other(format!("cannot start the scheduler: {e}")))?;
    scheduler
        .add(job)
        .await
        .map_err(|e| Failure::Other(format!("cannot schedule the pass: {e}")))?;
    scheduler
        .start()
        .await
        .map_err(|e| Failure::Other(format!("cannot start the scheduler: {e}")))?;
    Ok(scheduler)
}

/// Runs a pass per tick until the stop; a pass in flight is never cut short.
async fn pass_loop(
    db: DatabaseConnection,
    config: Config,
    transports: Transports,
    catalog: Catalog,
    mut ticks: mpsc::Receiver<()>,
    stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            biased;
            () = stopped(stop.clone()) => break,
            tick = ticks.recv() => {
                if tick.is_none() {
                    break;
                }
                let now = chrono::Utc::now();
                match app::pass(&db, &config, &transports, &catalog, now).await {
                    Ok(report) => tracing::info!(
                        planned = report.planning.vehicles_planned,
                        sent = ?report.dispatch.sent,
                        deferred = report.dispatch.deferred,
                        failed = report.dispatch.failed,
                        held = report.dispatch.held,
                        "pass done"
                    ),
                    // The next tick tries again.
                    Err(e) => tracing::error!(error = %e, "pass failed"),
                }
                // Desk sessions that ran out are removed with each pass.
                if let Err(e) = app::sessions::sweep(&db).await {
                    tracing::warn!(error = %e, "removing expired sessions failed");
                }
            }
        }
    }
}

/// Resolves once the stop is announced.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// SIGTERM (systemd) and SIGINT (a terminal) stop; SIGHUP (`systemctl
/// reload`) is only logged, so that it does not end the process.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self, Failure> {
        use tokio::signal::unix::{SignalKind, signal};
        let install =
            |kind| signal(kind).map_err(|e| Failure::Other(format!("cannot handle signals: {e}")));
        Ok(Self {
            term: install(SignalKind::terminate())?,
            int: install(SignalKind::interrupt())?,
            hup: install(SignalKind::hangup())?,
        })
    }

    /// The next stopping signal.
    async fn next(&mut self) -> &'static str {
        loop {
            tokio::select! {
                _ = self.term.recv() => return "SIGTERM",
                _ = self.int.recv() => return "SIGINT",
                _ = self.hup.recv() => tracing::warn!(
                    "SIGHUP: reloading is not supported yet; restart to apply a changed configuration"
                ),
            }
        }
    }
}

/// Half the watchdog timeout systemd set, when it set one.
fn watchdog_interval() -> Option<Duration> {
    let mut usec = 0u64;
    sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec / 2))
}

/// The next watchdog tick; never, without a watchdog.
async fn tick(watchdog: &mut Option<tokio::time::Interval>) {
    match watchdog {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Tells systemd (when it listens); failures only get logged.
fn notify(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, state) {
        tracing::warn!(error = %e, "sd_notify failed");
    }
}
