//! Neighbours that fail: an SMTP server that refuses connections for days,
//! an SMS gateway that answers 30% of its requests with 5xx or 429, and a
//! database that goes away under the running daemon. Nothing is lost and
//! nothing goes twice; a reminder whose last day passed meanwhile is skipped,
//! never sent late. The servers are real and the tests stop and start them.

use crate::smtp_server::{Background, SmtpServer};
use crate::support::{databases, drop_test_schema, pass, seed_customer};
use chrono::{DateTime, Duration, TimeZone, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use std::collections::BTreeMap;
use touchpoint::store::entities::{message, touchpoint as tp};

/// Owners C1..C{n}, each with a car bought on `purchase` (welcome email due
/// three days later) and a phone number of their own.
async fn owners(db: &DatabaseConnection, n: usize, purchase: &str) {
    for i in 1..=n {
        let (id, _) = seed_customer(
            db,
            &format!("C{i}"),
            &format!("owner{i}@example.com"),
            &[&format!("WVWZZZ1JZXW{i:06}")],
            purchase,
        )
        .await;
        touchpoint::store::entities::customer::Entity::update_many()
            .col_expr(
                touchpoint::store::entities::customer::Column::Phone,
                sea_orm::sea_query::Expr::value(format!("+49151100000{i:02}")),
            )
            .filter(touchpoint::store::entities::customer::Column::Id.eq(id))
            .exec(db)
            .await
            .unwrap();
    }
}

async fn messages(db: &DatabaseConnection, channel: &str) -> Vec<message::Model> {
    message::Entity::find()
        .filter(message::Column::Channel.eq(channel))
        .all(db)
        .await
        .unwrap()
}

/// The port of an SMTP server that was started and stopped: nothing listens.
fn stopped_server_port() -> u16 {
    SmtpServer::start().port
}

#[tokio::test(flavor = "multi_thread")]
async fn an_smtp_outage_over_a_weekend_loses_nothing_and_sends_each_email_once() {
    let dir = tempfile::tempdir().unwrap();
    for (url, db, mut config) in databases(dir.path()).await {
        let port = stopped_server_port();
        config.settings.email.smtp_url = format!("smtp://127.0.0.1:{port}");
        // The welcome emails are due on Friday 28 November.
        owners(&db, 6, "2025-11-25").await;
        // Friday evening to Monday morning, a pass every three hours, the
        // mail server refusing every connection.
        let friday: DateTime<Utc> = Utc.with_ymd_and_hms(2025, 11, 28, 18, 0, 0).unwrap();
        let mut now = friday;
        while now < friday + Duration::hours(62) {
            let report = pass(&db, &config, now).await;
            assert!(!report.sent.contains_key("email"), "{url}: {report:?}");
            assert_eq!(report.failed, 0, "{url}: {report:?}");
            now += Duration::hours(3);
        }
        let queued = messages(&db, "email").await;
        assert_eq!(queued.len(), 6, "{url}");
        for m in &queued {
            // Waiting, every attempt given back: the outage was not their fault.
            assert_eq!((m.state.as_str(), m.attempts), ("retry", 0), "{url}: {m:?}");
            assert!(
                m.reason
                    .as_deref()
                    .is_some_and(|r| r.contains("SMTP: Connection error")),
                "{url}: {m:?}"
            );
        }

        // The server is back on Monday: every email goes, once.
        let server = SmtpServer::start_on(port);
        for _ in 0..2 {
            pass(&db, &config, now).await;
            now += Duration::hours(1);
        }
        let delivered = server.delivered();
        let mut per_recipient: BTreeMap<String, usize> = BTreeMap::new();
        for mail in &delivered {
            let to = mail
                .lines()
                .find_map(|l| l.strip_prefix("To: "))
                .unwrap_or_default()
                .to_string();
            *per_recipient.entry(to).or_default() += 1;
        }
        assert_eq!(per_recipient.len(), 6, "{url}: {per_recipient:?}");
        assert!(
            per_recipient.values().all(|n| *n == 1),
            "{url}: {per_recipient:?}"
        );
        assert!(
            messages(&db, "email")
                .await
                .iter()
                .all(|m| m.state == "sent"),
            "{url}"
        );
        drop_test_schema(&db, &url).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reminder_whose_last_day_passed_during_an_outage_is_skipped_not_sent_late() {
    let dir = tempfile::tempdir().unwrap();
    for (url, db, mut config) in databases(dir.path()).await {
        let port = stopped_server_port();
        config.settings.email.smtp_url = format!("smtp://127.0.0.1:{port}");
        owners(&db, 1, "2025-11-20").await;
        let start = Utc.with_ymd_and_hms(2025, 11, 24, 9, 0, 0).unwrap();
        pass(&db, &config, start).await;
        let grace = config.settings.plan.grace_days;
        // The server comes back after the reminder's last day.
        let server = SmtpServer::start_on(port);
        let late = start + Duration::days(grace + 2);
        let report = pass(&db, &config, late).await;
        assert!(!report.sent.contains_key("email"), "{url}: {report:?}");
        assert!(server.delivered().is_empty(), "{url}");
        let m = &messages(&db, "email").await[0];
        assert_eq!(m.state, "failed", "{url}: {m:?}");
        let t = tp::Entity::find()
            .filter(tp::Column::MessageId.eq(m.id))
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(t.state, "skipped", "{url}");
        assert_eq!(
            t.reason,
            Some(format!(
                "not sent within {grace} days of its date; never sent late"
            )),
            "{url}"
        );
        drop_test_schema(&db, &url).await;
    }
}

/// A gateway that answers three requests in ten with an error (503, 429
/// with Retry-After, 500) and takes the rest, recording whom it took.
struct Flaky {
    seen: std::sync::atomic::AtomicUsize,
    taken: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl wiremock::Respond for Flaky {
    fn respond(&self, request: &wiremock::Request) -> wiremock::ResponseTemplate {
        use wiremock::ResponseTemplate;
        let n = self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match n % 10 {
            3 => ResponseTemplate::new(503),
            6 => ResponseTemplate::new(429).insert_header("Retry-After", "1"),
            9 => ResponseTemplate::new(500),
            _ => {
                let to = url::form_urlencoded::parse(&request.body)
                    .find(|(k, _)| k == "To")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                self.taken.lock().unwrap().push(to);
                ResponseTemplate::new(201)
                    .set_body_json(serde_json::json!({"sid": format!("SM{n}"), "status": "queued"}))
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_failing_thirty_percent_delivers_every_sms_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    for (url, db, mut config) in databases(dir.path()).await {
        let server = wiremock::MockServer::start().await;
        let taken = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .respond_with(Flaky {
                seen: Default::default(),
                taken: taken.clone(),
            })
            .mount(&server)
            .await;
        config.settings.sms = crate::sms::twilio(&server);
        owners(&db, 20, "2025-11-20").await;
        // The SMS reminders are due on 4 December; passes every ten minutes.
        let mut now = Utc.with_ymd_and_hms(2025, 12, 4, 10, 0, 0).unwrap();
        for _ in 0..30 {
            pass(&db, &config, now).await;
            now += Duration::minutes(10);
        }
        let sms = messages(&db, "sms").await;
        assert!(sms.len() >= 20, "{url}: {} messages", sms.len());
        assert!(
            sms.iter().all(|m| m.state == "sent"),
            "{url}: {:?}",
            sms.iter()
                .map(|m| (&m.state, &m.reason))
                .collect::<Vec<_>>()
        );
        let mut per_number: BTreeMap<String, usize> = BTreeMap::new();
        for to in taken.lock().unwrap().iter() {
            *per_number.entry(to.clone()).or_default() += 1;
        }
        let sent_numbers: std::collections::BTreeSet<&str> =
            sms.iter().map(|m| m.recipient.as_str()).collect();
        assert_eq!(
            per_number.len(),
            sent_numbers.len(),
            "{url}: {per_number:?}"
        );
        let per_message = sms.len() / sent_numbers.len();
        assert!(
            per_number.values().all(|n| *n == per_message),
            "{url}: each message went once: {per_number:?}"
        );
        // The errors were really there.
        assert!(
            server.received_requests().await.unwrap().len() > sms.len(),
            "{url}"
        );
        drop_test_schema(&db, &url).await;
    }
}

/// A TCP proxy on `port` of 127.0.0.1 in front of `upstream`; dropping it
/// closes the port and every connection through it, as a database server
/// that goes away does.
fn proxy(port: u16, upstream: std::net::SocketAddr) -> Background {
    Background::serve(port, move |listener| async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    })
    .0
}

/// `/healthz` of a daemon: its status and text, `None` when it does not answer.
async fn health(client: &reqwest::Client, base: &str) -> Option<(u16, String)> {
    let r = client
        .get(format!("{base}/healthz"))
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    Some((r.status().as_u16(), r.text().await.ok()?))
}

/// The database goes away under the running daemon (PostgreSQL, behind a
/// proxy the test stops): /healthz answers 503 with the reason, passes fail
/// and are tried again without a crash, and when the database is back the
/// daemon recovers by itself and sends what fell due meanwhile, once.
#[test]
fn the_daemon_rides_out_a_database_outage() {
    let Some(instance) = crate::helpers::instances()
        .into_iter()
        .find(|i| i.backend == "postgres")
    else {
        eprintln!(
            "faults::the_daemon_rides_out_a_database_outage: PostgreSQL skipped (TOUCHPOINT_TEST_POSTGRES_URL is not set)"
        );
        return;
    };
    let mut through = url::Url::parse(instance.url()).unwrap();
    let upstream = through.socket_addrs(|| Some(5432)).unwrap()[0];
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    through.set_host(Some("127.0.0.1")).unwrap();
    through.set_port(Some(port)).unwrap();
    let running = proxy(port, upstream);
    let mut daemon = crate::http::Daemon::start_with(
        &instance,
        &[("TOUCHPOINT__DATABASE__URL", through.as_str())],
    );
    let base = daemon.base.clone();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    daemon.wait_for_line("pass done", std::time::Duration::from_secs(30));
    crate::helpers::block_on(async {
        assert_eq!(health(&client, &base).await, Some((200, "ok".into())));
    });

    // The database goes away.
    drop(running);
    let went = std::time::Instant::now();
    let (status, text) = crate::helpers::block_on(async {
        loop {
            if let Some((status, text)) = health(&client, &base).await
                && status == 503
            {
                return (status, text);
            }
            assert!(
                went.elapsed().as_secs() < 20,
                "no 503 while the database is away"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    });
    assert_eq!(status, 503);
    assert!(text.starts_with("database unavailable"), "{text}");
    daemon.wait_for_line("pass failed", std::time::Duration::from_secs(30));
    // Something falls due while it is away (written past the proxy).
    crate::helpers::block_on(crate::http::seed_welcome_due(&instance));
    std::thread::sleep(std::time::Duration::from_secs(3));

    // It comes back: the daemon recovers without a restart.
    let _proxy = proxy(port, upstream);
    let back = std::time::Instant::now();
    crate::helpers::block_on(async {
        loop {
            if health(&client, &base).await == Some((200, "ok".into())) {
                break;
            }
            assert!(back.elapsed().as_secs() < 60, "no recovery within 60 s");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
    let healthy_after = back.elapsed();
    let outbox = instance.dir.path().join("outbox/email");
    while std::fs::read_dir(&outbox).map(|d| d.count()).unwrap_or(0) == 0 {
        assert!(
            back.elapsed().as_secs() < 90,
            "nothing sent after the recovery: {}",
            daemon.log
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let sent_after = back.elapsed();
    eprintln!(
        "database outage: healthy {:.1} s and the due email sent {:.1} s after the database came back",
        healthy_after.as_secs_f64(),
        sent_after.as_secs_f64()
    );
    daemon.wait_for_line("pass done", std::time::Duration::from_secs(30));
    let (status, log) = daemon.stop("postgres");
    assert!(status.success(), "{log}");
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 1, "sent once");
}

/// Failures that are the transport's, not the message's: a TLS handshake
/// with a server that speaks none, credentials a server cannot take, a
/// gateway refusing our token, a host that does not resolve. Each is
/// `Unreachable`, which pauses the channel and costs no attempt.
#[tokio::test(flavor = "multi_thread")]
async fn tls_authentication_and_name_failures_are_the_transports() {
    use touchpoint::dispatch::{Outcome, Outgoing, email::Smtp, sms::Gateway};
    use touchpoint::domain::Channel;
    let server = SmtpServer::start();
    let mail = Outgoing {
        key: "K:1".into(),
        channel: Channel::Email,
        recipient: "anna@example.com".into(),
        subject: "Service".into(),
        body: "Hello".into(),
        unsubscribe_url: None,
    };
    let from = "Service <service@dealer.example>";
    let timeout = std::time::Duration::from_secs(5);
    for url in [
        // TLS from the first byte, to a server that speaks plain SMTP.
        format!("smtps://127.0.0.1:{}", server.port),
        // Credentials, to a server that offers no authentication.
        format!("smtp://mailer:secret@127.0.0.1:{}", server.port),
        // A name that does not resolve (.invalid never does).
        "smtp://mail.dealer.invalid:25".to_string(),
    ] {
        let smtp = Smtp::new(&url, from, timeout).unwrap();
        let outcome = smtp.send(&mail).await;
        assert!(
            matches!(outcome, Outcome::Unreachable { .. }),
            "{url}: {outcome:?}"
        );
    }
    assert!(server.delivered().is_empty());

    let gateway_server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(
            wiremock::ResponseTemplate::new(401)
                .set_body_json(serde_json::json!({"code": 20003, "message": "Authenticate"})),
        )
        .mount(&gateway_server)
        .await;
    let sms = Outgoing {
        channel: Channel::Sms,
        recipient: "+4915112345678".into(),
        subject: String::new(),
        ..mail
    };
    let gateway = Gateway::new(&crate::sms::twilio(&gateway_server)).unwrap();
    let outcome = gateway.send(&sms).await;
    assert!(
        matches!(outcome, Outcome::Unreachable { .. }),
        "{outcome:?}"
    );
}
