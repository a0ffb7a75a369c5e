//! Email through a real SMTP server (Python's aiosmtpd, which `.ci/run`
//! installs): delivery with the derived Message-ID, 4xx retried later, 5xx
//! failed with the server's words, nothing delivered twice.

use crate::support::seed_customer;
use chrono::{Duration, TimeZone, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use touchpoint::commands::planning_pass;
use touchpoint::config::Config;
use touchpoint::dispatch::{Dispatcher, Transports};
use touchpoint::messages::Catalog;
use touchpoint::store::{self, entities::message};

/// An aiosmtpd server on a free port, stopped on drop.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    pub maildir: PathBuf,
}

impl SmtpSink {
    pub fn start(dir: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let maildir = dir.join("maildir");
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut child = Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "smtp_sink.Sink",
            ])
            .arg(&maildir)
            .env("PYTHONPATH", &fixtures)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 with aiosmtpd (pip install aiosmtpd; .ci/run installs it)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self {
                    child,
                    port,
                    maildir,
                };
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("aiosmtpd did not start on port {port} (is it installed? pip install aiosmtpd)");
    }

    /// The delivered messages, as text.
    pub fn delivered(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) {
                for e in entries {
                    out.push(std::fs::read_to_string(e.unwrap().path()).unwrap());
                }
            }
        }
        out
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn delivery_retry_and_permanent_failure_through_a_real_server() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(dir.path());
    let cfg = dir.path().join("touchpoint.toml");
    std::fs::write(
        &cfg,
        format!(
            "[database]\nurl = \"sqlite://{}/t.db\"\n[email]\nsmtp_url = \"smtp://127.0.0.1:{}\"\ntimeout_secs = 5\n",
            dir.path().display(),
            sink.port
        ),
    )
    .unwrap();
    let config = Config::load(Some(&cfg)).unwrap();
    let db = store::connect(&config.database_url(), 1).await.unwrap();
    store::migrate(&db).await.unwrap();
    seed_customer(
        &db,
        "C1",
        "anna@example.com",
        &["WVWZZZ1JZXW000001"],
        "2025-11-20",
    )
    .await;
    seed_customer(
        &db,
        "C2",
        "busy@example.com",
        &["WVWZZZ1JZXW000002"],
        "2025-11-20",
    )
    .await;
    seed_customer(
        &db,
        "C3",
        "nobody@example.com",
        &["WVWZZZ1JZXW000003"],
        "2025-11-20",
    )
    .await;
    let catalog = Catalog::builtin().unwrap();
    let transports = Transports::from_config(&config).unwrap();
    let dispatcher = Dispatcher::new(&db, &config, &transports, &catalog);

    // Sunday 23 Nov 2025: the welcome emails are due.
    let sunday = Utc.with_ymd_and_hms(2025, 11, 23, 9, 0, 0).unwrap();
    planning_pass(&db, &config, sunday).await.unwrap();
    let report = dispatcher.pass(sunday).await.unwrap();
    assert_eq!(report.sent.get("email"), Some(&1), "{report:?}");
    assert_eq!((report.retrying, report.failed), (1, 1), "{report:?}");

    let delivered = sink.delivered();
    assert_eq!(delivered.len(), 1);
    assert!(
        delivered[0].contains("Message-ID: <WVWZZZ1JZXW000001.onboarding-welcome.0.1@touchpoint>"),
        "{}",
        delivered[0]
    );
    assert!(delivered[0].contains("To: anna@example.com"));

    let by = |key: &'static str| {
        let db = db.clone();
        async move {
            message::Entity::find()
                .filter(message::Column::Key.eq(key))
                .one(&db)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let busy = by("WVWZZZ1JZXW000002:onboarding-welcome:0:1").await;
    assert_eq!(busy.state, "retry");
    assert!(
        busy.reason.as_deref().unwrap().contains("451"),
        "{:?}",
        busy.reason
    );
    assert_eq!(busy.next_attempt_at, Some(sunday + Duration::seconds(60)));
    let nobody = by("WVWZZZ1JZXW000003:onboarding-welcome:0:1").await;
    assert_eq!(nobody.state, "failed");
    assert!(
        nobody.reason.as_deref().unwrap().contains("550"),
        "{:?}",
        nobody.reason
    );

    // The retry comes after its backoff; the permanent failure is never retried,
    // and the delivered message is not sent again.
    let report = dispatcher
        .pass(sunday + Duration::seconds(30))
        .await
        .unwrap();
    assert_eq!((report.retrying, report.failed), (0, 0), "{report:?}");
    let report = dispatcher
        .pass(sunday + Duration::seconds(61))
        .await
        .unwrap();
    assert_eq!(report.retrying, 1, "{report:?}");
    assert_eq!(
        by("WVWZZZ1JZXW000002:onboarding-welcome:0:1")
            .await
            .attempts,
        2
    );
    assert_eq!(sink.delivered().len(), 1);
    assert_eq!(
        by("WVWZZZ1JZXW000001:onboarding-welcome:0:1").await.state,
        "sent"
    );
}
