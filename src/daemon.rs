//! `touchpoint run`: the HTTP endpoints, a planning and dispatch pass on the
//! `[daemon] dispatch_cron` schedule, the import folder, the morning
//! digest, readiness and watchdog through sd_notify, a reload on SIGHUP,
//! and a clean stop on SIGTERM or SIGINT: the listener stops accepting, a
//! pass, an import or a digest in flight finishes, the process exits 0.
//!
//! A reload reads the configuration again and puts it in force from the
//! next pass, the next request and the next look into the import folder:
//! caps, quiet hours, the plan template, transports, the schedule, the
//! folder, the digest. A configuration that does not load keeps the old
//! one in force; `/healthz` says so. `[database]`, `[http] listen`,
//! `[http] secret` and `[log]` stay as they were until a restart.

use crate::app::{self, Failure};
use crate::config::{Config, ConfigError};
use crate::dispatch::Transports;
use crate::messages::Catalog;
use sd_notify::NotifyState;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_cron_scheduler::{Job, JobScheduler};

/// How long a reload may wait for the database.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(20);

/// How long open HTTP requests may take to finish after a stop.
const HTTP_DRAIN: Duration = Duration::from_secs(10);

/// What a pass works with; a reload replaces it.
struct Running {
    config: Config,
    transports: Transports,
    catalog: Catalog,
}

/// Runs until SIGTERM or SIGINT; `reread` loads the configuration again on
/// SIGHUP.
pub async fn run(
    config: Config,
    reread: impl Fn() -> Result<Config, Failure>,
) -> Result<(), Failure> {
    let settings = &config.settings;
    // The scheduler only sends ticks; one task runs the passes, one at a
    // time: a tick that comes while a pass runs is dropped, not queued.
    let (tick_tx, tick_rx) = mpsc::channel::<()>(1);
    // The first pass runs at start: what fell due while the daemon was
    // stopped goes out now, not at the next tick.
    let _ = tick_tx.try_send(());
    let job = ticking(&settings.daemon.dispatch_cron, tick_tx.clone())?;
    // The schema must be current: systemd runs `touchpoint migrate` first.
    let db = app::open(&config).await?;
    let app::Senders {
        transports,
        links,
        catalog,
    } = app::senders(&db, &config).await?;
    let readers = app::open_readers(&config, &db).await?;
    let state = crate::http::AppState::new(db.clone(), &config, links).with_readers(readers);
    let live = state.clone();
    if let crate::http::Inbound::Off(why) = state.inbound() {
        tracing::info!(why, "POST /sms/inbound is off: SMS replies are not read");
    }

    let listen = &settings.http.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Failure::Other(format!("cannot listen on {listen}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| Failure::Other(format!("cannot listen on {listen}: {e}")))?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut signals = Signals::new()?;

    let (mut scheduler, mut job_id) = schedule(job).await?;
    let (running_tx, running_rx) = watch::channel(Arc::new(Running {
        config: config.clone(),
        transports,
        catalog,
    }));
    let folder = tokio::spawn(folder_loop(db.clone(), running_rx.clone(), stop_rx.clone()));
    let digests = tokio::spawn(digest_loop(db.clone(), running_rx.clone(), stop_rx.clone()));
    let passes = tokio::spawn(pass_loop(
        db.clone(),
        running_rx,
        (tick_tx.clone(), tick_rx),
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

    let me = app::status::Me::new(&local.to_string(), chrono::Utc::now());
    tracing::info!(listen = %local, cron = %settings.daemon.dispatch_cron, instance = %me.id(), "touchpoint is running");
    notify(&[NotifyState::Ready]);
    let mut watchdog = watchdog_interval().map(tokio::time::interval);
    // The heartbeat has a task of its own: a database that does not answer
    // must not hold up the watchdog or the signals.
    let heartbeat = tokio::spawn(heartbeats(db.clone(), me.clone(), stop_rx.clone()));
    let mut current = config;
    let signal = loop {
        tokio::select! {
            signal = signals.next() => match signal {
                Signal::Stop(name) => break name,
                Signal::Reload => {
                    let mut reloading = vec![NotifyState::Reloading];
                    reloading.extend(NotifyState::monotonic_usec_now().ok());
                    notify(&reloading);
                    let reloaded = tokio::time::timeout(
                        RELOAD_TIMEOUT,
                        reload(&db, &current, &reread, &scheduler, &tick_tx),
                    )
                    .await
                    .unwrap_or_else(|_| {
                        Err(Failure::Other(format!(
                            "the database did not answer within {}s",
                            RELOAD_TIMEOUT.as_secs()
                        )))
                    });
                    match reloaded {
                        Ok((next, running, job)) => {
                            if let Some(job) = job {
                                if let Err(e) = scheduler.remove(&job_id).await {
                                    tracing::warn!(error = %e, "the old schedule could not be removed");
                                }
                                job_id = job;
                            }
                            put_in_force(&db, &current, &next, running, &running_tx, &live).await;
                            current = next;
                        }
                        Err(e) => {
                            crate::metrics::reload(false);
                            tracing::error!(error = %e, "reloading failed: the configuration in force stays");
                            live.health.set_reload_failed(Some(e.to_string()));
                        }
                    }
                    notify(&[NotifyState::Ready]);
                }
            },
            _ = tick(&mut watchdog) => notify(&[NotifyState::Watchdog]),
        }
    };

    tracing::info!(
        signal,
        "stopping: the pass and the import in flight finish first"
    );
    notify(&[NotifyState::Stopping]);
    let _ = stop_tx.send(true);
    if let Err(e) = scheduler.shutdown().await {
        tracing::warn!(error = %e, "the scheduler did not stop cleanly");
    }
    // Keep the watchdog fed while the pass drains. Open HTTP requests get
    // HTTP_DRAIN to finish; a pass or an import in flight always finishes.
    let http = server.abort_handle();
    let mut drained = std::pin::pin!(async {
        tokio::join!(
            passes,
            folder,
            digests,
            tokio::time::timeout(HTTP_DRAIN, server)
        )
    });
    let (passes, folder, digests, server) = loop {
        tokio::select! {
            done = &mut drained => break done,
            _ = tick(&mut watchdog) => notify(&[NotifyState::Watchdog]),
        }
    };
    let mut failures = Vec::new();
    if let Err(e) = passes {
        failures.push(format!("the dispatch task: {e}"));
    }
    if let Err(e) = folder {
        failures.push(format!("the import folder's task: {e}"));
    }
    if let Err(e) = digests {
        failures.push(format!("the digest's task: {e}"));
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
    let _ = heartbeat.await;
    if let Ok(Err(e)) = tokio::time::timeout(
        HTTP_DRAIN,
        app::status::heartbeat(&db, &me, chrono::Utc::now(), true),
    )
    .await
    {
        tracing::warn!(error = %e, "recording the stop failed");
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

/// The configuration `reread` gives, made ready to replace `current`: its
/// values checked, the plan template and the texts checked, its transports
/// built, and its schedule's job added to `scheduler` when the schedule
/// changed (the caller removes the old one). What needs a restart keeps
/// its current value, with a warning.
async fn reload(
    db: &DatabaseConnection,
    current: &Config,
    reread: &impl Fn() -> Result<Config, Failure>,
    scheduler: &JobScheduler,
    ticks: &mpsc::Sender<()>,
) -> Result<(Config, Running, Option<uuid::Uuid>), Failure> {
    let mut next = reread()?;
    app::check_texts(&next)?;
    let (now, was) = (&mut next.settings, &current.settings);
    for (key, changed) in [
        ("database", now.database != was.database),
        ("http.listen", now.http.listen != was.http.listen),
        ("http.secret", now.http.secret != was.http.secret),
        ("log", now.log != was.log),
    ] {
        if changed {
            tracing::warn!(
                key,
                "this setting changes only with a restart: the running value stays until then"
            );
        }
    }
    now.database = was.database.clone();
    now.http.listen = was.http.listen.clone();
    now.http.secret = was.http.secret.clone();
    now.log = was.log.clone();
    let app::Senders {
        transports,
        catalog,
        ..
    } = app::senders(db, &next).await?;
    let cron = &next.settings.daemon.dispatch_cron;
    let job = if *cron == current.settings.daemon.dispatch_cron {
        None
    } else {
        let job = ticking(cron, ticks.clone())?;
        Some(
            scheduler
                .add(job)
                .await
                .map_err(|e| Failure::Other(format!("cannot schedule the pass: {e}")))?,
        )
    };
    let running = Running {
        config: next.clone(),
        transports,
        catalog,
    };
    Ok((next, running, job))
}

/// A started scheduler running `job`, and the job's id.
async fn schedule(job: Job) -> Result<(JobScheduler, uuid::Uuid), Failure> {
    let scheduler = JobScheduler::new()
        .await
        .map_err(|e| Failure::Other(format!("cannot start the scheduler: {e}")))?;
    let id = scheduler
        .add(job)
        .await
        .map_err(|e| Failure::Other(format!("cannot schedule the pass: {e}")))?;
    scheduler
        .start()
        .await
        .map_err(|e| Failure::Other(format!("cannot start the scheduler: {e}")))?;
    Ok((scheduler, id))
}

/// How soon a failed pass is tried again: doubling from the first to the
/// last, then on every schedule tick as well.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_LAST: Duration = Duration::from_secs(60);

/// Runs a pass per tick until the stop, with what is running at the tick;
/// a pass in flight is never cut short. A pass that fails (the database
/// away, say) is tried again after a growing pause, without waiting for
/// the schedule.
async fn pass_loop(
    db: DatabaseConnection,
    running: watch::Receiver<Arc<Running>>,
    (again, mut ticks): (mpsc::Sender<()>, mpsc::Receiver<()>),
    stop: watch::Receiver<bool>,
) {
    let mut retry_in = RETRY_FIRST;
    loop {
        tokio::select! {
            biased;
            () = stopped(stop.clone()) => break,
            tick = ticks.recv() => {
                if tick.is_none() {
                    break;
                }
                let now = chrono::Utc::now();
                let started = std::time::Instant::now();
                let r = Arc::clone(&running.borrow());
                let passed = app::pass(&db, &r.config, &r.transports, &r.catalog, now).await;
                let ended = chrono::Utc::now().timestamp();
                crate::metrics::pass(passed.is_ok(), started.elapsed(), ended);
                match passed {
                    Ok(report) => {
                        retry_in = RETRY_FIRST;
                        count(&report.dispatch);
                        tracing::info!(
                            planned = report.planning.vehicles_planned,
                            sent = ?report.dispatch.sent,
                            deferred = report.dispatch.deferred,
                            failed = report.dispatch.failed,
                            held = report.dispatch.held,
                            "pass done"
                        );
                        housekeeping(&db, &r.config).await;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, retry_in_secs = retry_in.as_secs(), "pass failed");
                        let again = again.clone();
                        let wait = retry_in;
                        tokio::spawn(async move {
                            tokio::time::sleep(wait).await;
                            // A tick already waiting will do.
                            let _ = again.try_send(());
                        });
                        retry_in = (retry_in * 2).min(RETRY_LAST);
                    }
                }
            }
        }
    }
}

/// Records this daemon's heartbeat every [`app::status::HEARTBEAT_EVERY`]
/// until the stop; a failure is only logged.
async fn heartbeats(db: DatabaseConnection, me: app::status::Me, stop: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(app::status::HEARTBEAT_EVERY);
    loop {
        tokio::select! {
            () = stopped(stop.clone()) => break,
            _ = every.tick() => {
                if let Err(e) = app::status::heartbeat(&db, &me, chrono::Utc::now(), false).await {
                    crate::metrics::error("heartbeat");
                    tracing::warn!(error = %e, "recording the heartbeat failed");
                }
            }
        }
    }
}

/// Puts a reloaded configuration in force: the passes and the requests
/// that come next use `next`; deferred touchpoints are decided again when
/// the caps or quiet hours changed.
async fn put_in_force(
    db: &DatabaseConnection,
    current: &Config,
    next: &Config,
    running: Running,
    passes: &watch::Sender<Arc<Running>>,
    live: &crate::http::AppState,
) {
    let rules_changed = next.settings.caps != current.settings.caps
        || next.settings.quiet_hours != current.settings.quiet_hours;
    let _ = passes.send(Arc::new(running));
    live.replace_config(next.clone());
    live.health.set_reload_failed(None);
    crate::metrics::reload(true);
    tracing::info!(cron = %next.settings.daemon.dispatch_cron, "configuration reloaded: in force from the next pass");
    // What waits for room or for its hours is decided again under the new rules.
    if rules_changed {
        match app::reconsider_deferred(db, chrono::Utc::now()).await {
            Ok(n) => tracing::info!(
                touchpoints = n,
                "deferred touchpoints are decided again by the next pass"
            ),
            Err(e) => tracing::warn!(error = %e, "deferred touchpoints keep their times"),
        }
    }
}

/// Looks into the import folder every `[import] watch_every_secs` until the
/// stop, with what is running at each look; an import in flight finishes,
/// and none starts after the stop.
async fn folder_loop(
    db: DatabaseConnection,
    running: watch::Receiver<Arc<Running>>,
    stop: watch::Receiver<bool>,
) {
    let mut folder = app::watch::Folder::default();
    let mut failing = Failing::default();
    loop {
        let r = Arc::clone(&running.borrow());
        let go_on = || !*stop.borrow();
        let looked = folder
            .look(
                &db,
                &r.config,
                std::time::Instant::now(),
                chrono::Utc::now(),
                go_on,
            )
            .await;
        failing.tell(
            looked.map(drop),
            "import folder: the look failed; the next one tries again",
        );
        let every = Duration::from_secs(r.config.settings.import.watch_every_secs);
        if !pause(&stop, every).await {
            break;
        }
    }
}

/// After a pass: the queue counted for the metrics, and the desk sessions
/// that ran out removed.
async fn housekeeping(db: &DatabaseConnection, config: &Config) {
    match app::status::queue_depth(db, config, chrono::Utc::now()).await {
        Ok(depth) => crate::metrics::queue(&depth),
        Err(e) => {
            crate::metrics::error("metrics");
            tracing::warn!(error = %e, "counting the queue for the metrics failed");
        }
    }
    if let Err(e) = app::sessions::sweep(db).await {
        crate::metrics::error("sessions");
        tracing::warn!(error = %e, "removing expired sessions failed");
    }
}

/// Sends the morning digest when it is due, until the stop: it wakes at the
/// next digest's time, and at least once a minute to follow a reload.
async fn digest_loop(
    db: DatabaseConnection,
    running: watch::Receiver<Arc<Running>>,
    stop: watch::Receiver<bool>,
) {
    const AT_MOST: Duration = Duration::from_secs(60);
    let mut digests = app::digest::Digests::default();
    let mut failing = Failing::default();
    loop {
        let r = Arc::clone(&running.borrow());
        let sent = digests
            .tick(&db, &r.config, &r.transports, chrono::Utc::now())
            .await;
        failing.tell(
            sent.map(drop),
            "the digest failed; it is tried again within a minute",
        );
        let now = chrono::Utc::now();
        let wait = app::digest::next(&r.config, now)
            .and_then(|next| (next - now).to_std().ok())
            .map_or(AT_MOST, |d| d.min(AT_MOST));
        if !pause(&stop, wait).await {
            break;
        }
    }
}

/// A failure that repeats is told once, not on every try.
#[derive(Default)]
struct Failing(Option<String>);

impl Failing {
    fn tell(&mut self, outcome: Result<(), Failure>, what: &str) {
        match outcome.map_err(|e| e.to_string()) {
            Err(e) if self.0.as_ref() != Some(&e) => {
                tracing::error!(error = %e, "{what}");
                self.0 = Some(e);
            }
            Err(_) => {}
            Ok(()) => self.0 = None,
        }
    }
}

/// Waits `wait`; false when the stop came first.
async fn pause(stop: &watch::Receiver<bool>, wait: Duration) -> bool {
    tokio::select! {
        biased;
        () = stopped(stop.clone()) => false,
        () = tokio::time::sleep(wait) => true,
    }
}

/// What a pass did, in the metrics: what it did not send and why, what it
/// will try again, what it held.
fn count(report: &crate::dispatch::DispatchReport) {
    for e in &report.events {
        match (e.outcome.as_str(), e.reason.as_deref()) {
            ("sent", _) => {}
            ("deferred", Some(r)) if r.starts_with(crate::dispatch::RETRYING) => {
                crate::metrics::retry(&e.channel);
            }
            // Waits for the hours or the day are their own kinds here.
            ("deferred", Some(crate::dispatch::QUIET_HOURS)) => {
                crate::metrics::not_sent(&e.channel, "deferred", "quiet_hours");
            }
            ("deferred", Some(crate::dispatch::NOT_DUE)) => {
                crate::metrics::not_sent(&e.channel, "deferred", "not_due");
            }
            (outcome, reason) => {
                let kind = crate::app::overview::reason_kind(reason);
                crate::metrics::not_sent(&e.channel, outcome, kind.as_label());
            }
        }
    }
    crate::metrics::held(u64::try_from(report.held).unwrap_or(0));
}

/// Resolves once the stop is announced.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// What a signal asks for.
enum Signal {
    Stop(&'static str),
    Reload,
}

/// SIGTERM (systemd) and SIGINT (a terminal) stop; SIGHUP (`systemctl
/// reload`) reloads.
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

    /// The next signal.
    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::Stop("SIGTERM"),
            _ = self.int.recv() => Signal::Stop("SIGINT"),
            _ = self.hup.recv() => Signal::Reload,
        }
    }
}

/// Half the watchdog timeout systemd set (`WATCHDOG_USEC`), when it set
/// one for this process: as libsystemd reads it, `WATCHDOG_PID`, when set,
/// must be this process.
fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.trim().parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::{DispatchReport, Event};

    fn event(channel: &str, outcome: &str, reason: Option<&str>) -> Event {
        Event {
            at: "2026-12-01T08:00:00Z".into(),
            key: "K".into(),
            vin: "V".into(),
            customer_id: "C1".into(),
            code: "service-email".into(),
            channel: channel.into(),
            category: "service".into(),
            recipient: "r".into(),
            outcome: outcome.into(),
            reason: reason.map(str::to_string),
        }
    }

    /// The value of the `not_sent` sample with these labels, 0 when absent.
    fn not_sent(labels: &str) -> f64 {
        let wanted = format!("touchpoint_not_sent_total{{{labels}}} ");
        crate::metrics::encode()
            .lines()
            .find_map(|l| l.strip_prefix(&wanted)?.parse().ok())
            .unwrap_or(0.0)
    }

    #[test]
    fn a_pass_is_counted_by_kind_of_reason() {
        let quiet = "channel=\"sms\",outcome=\"deferred\",reason=\"quiet_hours\"";
        let not_due = "channel=\"sms\",outcome=\"deferred\",reason=\"not_due\"";
        let opted = "channel=\"sms\",outcome=\"suppressed\",reason=\"opted_out\"";
        let before = [quiet, not_due, opted].map(not_sent);
        count(&DispatchReport {
            events: vec![
                event("sms", "deferred", Some(crate::dispatch::QUIET_HOURS)),
                event("sms", "deferred", Some(crate::dispatch::QUIET_HOURS)),
                event("sms", "deferred", Some(crate::dispatch::NOT_DUE)),
                event("sms", "suppressed", Some("the owner opted out of sms")),
                event("sms", "sent", None),
            ],
            ..DispatchReport::default()
        });
        let after = [quiet, not_due, opted].map(not_sent);
        assert_eq!(
            [
                after[0] - before[0],
                after[1] - before[1],
                after[2] - before[2]
            ],
            [2.0, 1.0, 1.0]
        );
    }
}
