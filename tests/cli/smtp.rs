//! Email through a real SMTP server (the test support's own, in this
//! process, over TCP): delivery with the derived Message-ID, 4xx retried
//! later, 5xx failed with the server's words, nothing delivered twice; on
//! every backend under test.

use crate::smtp_server::SmtpServer;
use crate::support::{databases, drop_test_schema, seed_customer};
use chrono::{Duration, TimeZone, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use touchpoint::app::Dispatcher;
use touchpoint::app::planning_pass;
use touchpoint::config::Config;
use touchpoint::dispatch::Transports;
use touchpoint::messages::Catalog;
use touchpoint::store::entities::message;

#[tokio::test]
async fn delivery_retry_and_permanent_failure_through_a_real_server() {
    let dir = tempfile::tempdir().unwrap();
    for (url, db, _) in databases(dir.path()).await {
        // A server of its own per backend: it holds that backend's mail only.
        let sink = SmtpServer::start();
        let cfg = dir.path().join(format!("email-{}.toml", sink.port));
        std::fs::write(
            &cfg,
            format!(
                "[database]\nurl = \"{url}\"\n[email]\nsmtp_url = \"smtp://127.0.0.1:{}\"\ntimeout_secs = 5\n",
                sink.port
            ),
        )
        .unwrap();
        let config = Config::load(Some(&cfg)).unwrap();
        delivery_retry_and_permanent_failure(&db, &config, &sink).await;
        drop_test_schema(&db, &url).await;
    }
}

async fn delivery_retry_and_permanent_failure(
    db: &DatabaseConnection,
    config: &Config,
    sink: &SmtpServer,
) {
    seed_customer(
        db,
        "C1",
        "anna@example.com",
        &["WVWZZZ1JZXW000001"],
        "2025-11-20",
    )
    .await;
    seed_customer(
        db,
        "C2",
        "busy@example.com",
        &["WVWZZZ1JZXW000002"],
        "2025-11-20",
    )
    .await;
    seed_customer(
        db,
        "C3",
        "nobody@example.com",
        &["WVWZZZ1JZXW000003"],
        "2025-11-20",
    )
    .await;
    let catalog = Catalog::builtin().unwrap();
    let transports = Transports::from_config(config).unwrap();
    let dispatcher = Dispatcher::new(db, config, &transports, &catalog);

    // Sunday 23 Nov 2025: the welcome emails are due.
    let sunday = Utc.with_ymd_and_hms(2025, 11, 23, 9, 0, 0).unwrap();
    planning_pass(db, config, sunday).await.unwrap();
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

/// The test server itself, spoken to line by line: the replies a client
/// relies on, two messages on one connection, and a body line beginning
/// with a dot arriving as sent (a client doubles it, the server undoes it).
#[test]
fn the_test_server_speaks_smtp() {
    use std::io::{BufRead, BufReader, Write};
    let server = SmtpServer::start();
    let stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    // Sends a command; returns the reply's lines.
    let mut say = |command: &str| -> Vec<String> {
        if !command.is_empty() {
            writer.write_all(command.as_bytes()).unwrap();
        }
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            assert!(line.ends_with("\r\n"), "{line:?}");
            let last = line.as_bytes().get(3) == Some(&b' ');
            lines.push(line.trim_end().to_string());
            if last {
                return lines;
            }
        }
    };
    let last = |lines: Vec<String>| lines.last().unwrap().clone();

    assert!(last(say("")).starts_with("220 "));
    assert!(last(say("MAIL FROM:<a@example.com>\r\n")).starts_with("503 "));
    let ehlo = say("EHLO client.example\r\n");
    assert!(ehlo.len() > 1, "a multi-line 250: {ehlo:?}");
    assert!(ehlo.iter().all(|l| l.starts_with("250")), "{ehlo:?}");
    // Each command and the beginning of the (last line of the) reply.
    let transcript = [
        ("FROB\r\n", "500 "),
        ("VRFY anna\r\n", "502 "),
        ("NOOP\r\n", "250 "),
        ("DATA\r\n", "503 "),
        ("MAIL FROM:<service@dealer.example>\r\n", "250 "),
        (
            "RCPT TO:<busy@example.com>\r\n",
            "451 4.3.0 Mailbox busy, try again later",
        ),
        (
            "RCPT TO:<nobody@example.com>\r\n",
            "550 5.1.1 No such user here",
        ),
        ("RCPT TO:<anna@example.com>\r\n", "250 "),
        ("DATA\r\n", "354 "),
        (
            "Subject: one\r\n\r\n..hidden, were it not doubled\r\n...\r\nend\r\n.\r\n",
            "250 ",
        ),
        // A second message on the same connection, after a transaction reset.
        ("MAIL FROM:<service@dealer.example>\r\n", "250 "),
        ("RSET\r\n", "250 "),
        ("RCPT TO:<anna@example.com>\r\n", "503 "),
        ("MAIL FROM:<>\r\n", "250 "),
        ("RCPT TO:<slow@example.com>\r\n", "250 "),
        ("DATA\r\n", "354 "),
        ("Subject: two\r\n\r\nbody\r\n.\r\n", "250 "),
        ("QUIT\r\n", "221 "),
    ];
    for (command, reply) in transcript {
        let got = last(say(command));
        assert!(got.starts_with(reply), "{command:?}: {got:?}");
    }

    assert_eq!(
        server.delivered(),
        [
            "Subject: one\r\n\r\n.hidden, were it not doubled\r\n..\r\nend\r\n",
            "Subject: two\r\n\r\nbody\r\n",
        ]
    );
}
