//! `touchpoint run` as systemd runs it: a notify socket of the test's own
//! (NOTIFY_SOCKET) and a watchdog (WATCHDOG_USEC). The daemon says READY,
//! pets the watchdog, reloads on SIGHUP (RELOADING with MONOTONIC_USEC, then
//! READY) so that a changed cap applies to the next pass, keeps its
//! configuration when the new file is broken (and says so on /healthz), and
//! says STOPPING on SIGTERM. Its `/metrics` are read along the way, and
//! `status` lists it among the instances.

use crate::helpers::{self, Instance};
use crate::http::Daemon;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

/// The notify socket's datagrams as they come.
struct Notified {
    socket: UnixDatagram,
    seen: Vec<String>,
}

impl Notified {
    fn bind(path: &std::path::Path) -> Self {
        let socket = UnixDatagram::bind(path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Self {
            socket,
            seen: Vec::new(),
        }
    }

    /// The next datagram that has the line `line`, within `within`.
    fn wait_for(&mut self, line: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = self.socket.recv(&mut buf) {
                let datagram = String::from_utf8_lossy(&buf[..n]).into_owned();
                self.seen.push(datagram.clone());
                if datagram.lines().any(|l| l == line) {
                    return datagram;
                }
            }
        }
        panic!("no {line:?} within {within:?}; seen {:?}", self.seen);
    }
}

/// `/healthz`'s status and text.
fn health(base: &str) -> (u16, String) {
    helpers::block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let r = reqwest::get(format!("{base}/healthz")).await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    })
}

/// The value of the sample `name{labels}` in the metrics text.
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let wanted = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&wanted)?.split(' ').next()?.parse().ok())
}

fn metrics(base: &str) -> String {
    helpers::block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let r = reqwest::get(format!("{base}/metrics")).await.unwrap();
        assert_eq!(r.status(), 200);
        let kind = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
        r.text().await.unwrap()
    })
}

/// A text message sent to `customer` yesterday.
async fn earlier_message(db: &sea_orm::DatabaseConnection, customer: i64) {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    use touchpoint::store::entities::message;
    let yesterday = chrono::Utc::now() - chrono::Duration::days(1);
    message::ActiveModel {
        key: Set("earlier-sms".into()),
        customer_id: Set(customer),
        channel: Set("sms".into()),
        recipient: Set("+4915112345678".into()),
        locale: Set("en".into()),
        subject: Set(String::new()),
        body: Set("See you soon".into()),
        state: Set("sent".into()),
        attempts: Set(1),
        created_at: Set(yesterday),
        sent_at: Set(Some(yesterday)),
        updated_at: Set(yesterday),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
}

fn outbox_emails(instance: &Instance) -> usize {
    std::fs::read_dir(instance.dir.path().join("outbox/email"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn ready_watchdog_reload_a_cap_refuse_a_broken_file_and_stop() {
    for instance in helpers::instances() {
        let backend = instance.backend;
        // The owner had a message yesterday, and the cap allows one a week:
        // the welcome email waits for room.
        instance.add_config("[caps]\nmessages_per_7_days = 1\n");
        helpers::block_on(async {
            let anna = crate::http::seed_welcome_due(&instance).await;
            earlier_message(&instance.db().await, anna).await;
        });
        let socket_path = instance.dir.path().join("notify.sock");
        let mut notified = Notified::bind(&socket_path);
        let mut daemon = Daemon::start_with(
            &instance,
            &[
                ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
                ("WATCHDOG_USEC", "1000000"),
            ],
        );
        let base = daemon.base.clone();
        notified.wait_for("READY=1", Duration::from_secs(30));
        notified.wait_for("WATCHDOG=1", Duration::from_secs(5));

        // Passes run, and the cap holds the welcome email back.
        daemon.wait_for_line("pass done", Duration::from_secs(30));
        daemon.wait_for_line("pass done", Duration::from_secs(10));
        assert_eq!(outbox_emails(&instance), 0, "{backend}");
        let text = metrics(&base);
        assert!(
            sample(
                &text,
                "touchpoint_not_sent_total",
                "channel=\"email\",outcome=\"deferred\",reason=\"capped\""
            )
            .is_some_and(|n| n >= 1.0),
            "{backend}: {text}"
        );
        assert!(
            sample(&text, "touchpoint_passes_total", "outcome=\"ok\"").is_some_and(|n| n >= 2.0),
            "{backend}: {text}"
        );
        // The email waits, due or deferred.
        let waiting: f64 = ["due", "deferred"]
            .iter()
            .filter_map(|state| {
                sample(
                    &text,
                    "touchpoint_queue",
                    &format!("channel=\"email\",state=\"{state}\""),
                )
            })
            .sum();
        assert_eq!(waiting, 1.0, "{backend}: {text}");

        // The cap is lifted in the file, and the daemon reloads it.
        let config = std::fs::read_to_string(&instance.config).unwrap();
        let lifted = config.replace("messages_per_7_days = 1", "messages_per_7_days = 2");
        std::fs::write(&instance.config, &lifted).unwrap();
        daemon.signal("-HUP");
        let reloading = notified.wait_for("RELOADING=1", Duration::from_secs(10));
        let usec = reloading
            .lines()
            .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
            .unwrap_or_else(|| panic!("{backend}: no MONOTONIC_USEC in {reloading:?}"));
        assert!(usec.parse::<u64>().is_ok_and(|u| u > 0), "{usec}");
        notified.wait_for("READY=1", Duration::from_secs(10));
        daemon.wait_for_line("configuration reloaded", Duration::from_secs(10));
        // The next pass sends the email.
        let deadline = Instant::now() + Duration::from_secs(15);
        while outbox_emails(&instance) == 0 {
            assert!(
                Instant::now() < deadline,
                "{backend}: no pass after the reload sent the email: {}",
                daemon.log
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(health(&base), (200, "ok".to_string()), "{backend}");

        // A broken file: the daemon runs on, on what it had, and says so.
        std::fs::write(
            &instance.config,
            lifted.replace("messages_per_7_days = 2", "messages_per_7_days = \"many\""),
        )
        .unwrap();
        daemon.signal("-HUP");
        notified.wait_for("RELOADING=1", Duration::from_secs(10));
        notified.wait_for("READY=1", Duration::from_secs(10));
        let failed = daemon.wait_for_line("reloading failed", Duration::from_secs(10));
        assert!(failed.contains("caps.messages_per_7_days"), "{failed}");
        let (status, text) = health(&base);
        assert_eq!(status, 200, "{backend}: {text}");
        assert!(
            text.starts_with("ok\nreloading failed: ") && text.contains("caps.messages_per_7_days"),
            "{backend}: {text}"
        );
        daemon.wait_for_line("pass done", Duration::from_secs(10));
        notified.wait_for("WATCHDOG=1", Duration::from_secs(5));
        let text = metrics(&base);
        for outcome in ["ok", "failed"] {
            assert_eq!(
                sample(
                    &text,
                    "touchpoint_config_reloads_total",
                    &format!("outcome=\"{outcome}\"")
                ),
                Some(1.0),
                "{backend}: {text}"
            );
        }
        assert_eq!(
            sample(
                &text,
                "touchpoint_sends_total",
                "channel=\"email\",outcome=\"sent\""
            ),
            Some(1.0),
            "{backend}: {text}"
        );
        assert!(
            text.contains("touchpoint_transport_duration_seconds_count{channel=\"email\"} 1"),
            "{backend}: {text}"
        );
        assert!(
            text.contains("touchpoint_last_successful_pass_timestamp_seconds "),
            "{text}"
        );

        daemon.signal("-TERM");
        notified.wait_for("STOPPING=1", Duration::from_secs(10));
        let (status, log) = daemon.stop(backend);
        assert!(status.success(), "{backend}: {status}: {log}");
        assert_eq!(outbox_emails(&instance), 1, "{backend}: sent once");
    }
}

/// `status` lists the daemons on the database: one running, with its
/// address, then stopped once it stopped cleanly.
#[test]
fn status_lists_the_daemon_running_then_stopped() {
    for instance in helpers::instances() {
        let backend = instance.backend;
        let none = instance.json(&["status"]);
        assert_eq!(none["instances"], serde_json::json!([]), "{backend}");
        let mut daemon = Daemon::start(&instance);
        let started = daemon.wait_for_line("touchpoint is running", Duration::from_secs(30));
        let id = started
            .split("instance=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("{backend}: no instance in {started}"))
            .to_string();
        let listen = daemon.base.trim_start_matches("http://").to_string();
        let deadline = Instant::now() + Duration::from_secs(20);
        let running = loop {
            let status = instance.json(&["status"]);
            if let Some(seen) = status["instances"].as_array().and_then(|a| a.first()) {
                break seen.clone();
            }
            assert!(Instant::now() < deadline, "{backend}: no heartbeat");
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(running["id"], id.as_str(), "{backend}");
        assert_eq!(running["state"], "running", "{backend}: {running}");
        assert_eq!(running["listen"], listen.as_str(), "{backend}");
        assert_eq!(running["pid"], daemon.pid(), "{backend}");
        let text = helpers::stdout(&instance.run(&["status"]));
        assert!(text.contains(&format!("instance {id}: running")), "{text}");

        let (status, log) = daemon.stop(backend);
        assert!(status.success(), "{log}");
        let after = instance.json(&["status"]);
        let seen = &after["instances"][0];
        assert_eq!(seen["id"], id.as_str(), "{backend}: {after}");
        assert_eq!(seen["state"], "stopped", "{backend}: {after}");
        assert!(seen["stopped_at"].is_string(), "{backend}: {after}");
    }
}
