//! The morning digest (`[digest]`) through the application's use case, at
//! fixed instants, on every backend under test, into the test SMTP server:
//! what the mail says, that it goes once a local day whoever asks again,
//! and that of two instances on one database only one sends it.

use crate::http::Daemon;
use crate::smtp_server::SmtpServer;
use crate::support::{databases, drop_test_schema, load_csv, pass};
use chrono::{DateTime, TimeZone, Utc};
use sea_orm::DatabaseConnection;
use touchpoint::app::{self, digest::Sent};
use touchpoint::config::Config;
use touchpoint::dispatch::Transports;
use touchpoint::store;

/// Long enough for a daemon to start on a slow machine.
const WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

const VIN_A: &str = "WVWZZZ1KZAW000701";
const VIN_B: &str = "TMBZZZ6JZNW000702";
const VIN_C: &str = "WAUZZZ8VZNA000703";

/// Berlin's time on 6 May 2026 (CEST, UTC+2) and the days after.
fn at(day: u32, h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, day, h, m, 0).unwrap()
}

/// An installation on `url` that sends through `smtp`, whose welcome
/// emails wait for approval, with two owners: Lea Wolf's Golf is due for
/// its service on 20 May (a call two weeks before), Max Roth's Fabia was
/// bought the day before (a welcome email).
async fn dealer(
    dir: &std::path::Path,
    i: usize,
    url: &str,
    smtp: &SmtpServer,
) -> (DatabaseConnection, Config) {
    let path = dir.join(format!("digest-{i}.toml"));
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = \"{url}\"\n[outbox]\ndir = \"outbox-{i}\"\n\
             [http]\npublic_url = \"https://desk.dealer.example\"\n\
             [dealer]\nname = \"Autohaus Nord\"\n\
             [email]\nsmtp_url = \"smtp://127.0.0.1:{}\"\ntimeout_secs = 5\n\
             [approval]\ncodes = [\"onboarding-welcome\"]\n\
             [digest]\nto = [\"lead@dealer.example\", \"desk@dealer.example\"]\nat = \"07:30\"\n",
            smtp.port
        ),
    )
    .unwrap();
    let config = Config::load(Some(&path)).unwrap();
    let db = store::connect(&config.database_url(), 2).await.unwrap();
    let now = at(6, 8, 0);
    let customers = "customer_id,name,email,phone,timezone,birthday,consent_email_marketing,consent_sms_marketing,locale\n\
         A1,Lea Wolf,lea@example.com,+4915111111111,Europe/Berlin,,false,false,en\n\
         B1,Max Roth,max@example.com,,Europe/Berlin,,false,false,en\n\
         C1,Jonas Keller,jonas@example.com,+4915122222222,Europe/Berlin,,false,false,en\n";
    let vehicles = format!(
        "vin,customer_id,make,model,model_year,purchase_date,purchase_odometer_km,avg_monthly_km\n\
         {VIN_A},A1,Volkswagen,Golf,2024,2025-05-20,0,\n\
         {VIN_B},B1,Skoda,Fabia,2026,2026-05-03,0,\n\
         {VIN_C},C1,Audi,A3,2026,2026-05-06,0,\n"
    );
    load_csv(&db, &config, customers, &vehicles, now).await;
    pass(&db, &config, now).await;
    (db, config)
}

fn transports(config: &Config) -> Transports {
    Transports::from_config(config).unwrap()
}

/// The plain-text part of a delivered email, decoded.
fn plain_text(mail: &str) -> String {
    let start = mail
        .find("Content-Type: text/plain")
        .unwrap_or_else(|| panic!("no plain text in {mail}"));
    let (headers, rest) = mail[start..].split_once("\r\n\r\n").unwrap();
    let raw = &rest[..rest.find("\r\n--").unwrap_or(rest.len())];
    let encoding = headers
        .lines()
        .find_map(|l| l.strip_prefix("Content-Transfer-Encoding: "))
        .unwrap_or("7bit");
    let bytes = match encoding.trim() {
        "base64" => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(raw.replace("\r\n", ""))
                .unwrap()
        }
        "quoted-printable" => {
            let text = raw.replace("=\r\n", "");
            let mut out = Vec::new();
            let mut bytes = text.bytes();
            while let Some(b) = bytes.next() {
                if b == b'=' {
                    let hex: String = [bytes.next().unwrap(), bytes.next().unwrap()]
                        .iter()
                        .map(|b| *b as char)
                        .collect();
                    out.push(u8::from_str_radix(&hex, 16).unwrap());
                } else {
                    out.push(b);
                }
            }
            out
        }
        _ => raw.as_bytes().to_vec(),
    };
    String::from_utf8(bytes).unwrap().replace("\r\n", "\n")
}

fn day(s: &str) -> chrono::NaiveDate {
    s.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_morning_digest_goes_once_a_day_from_one_instance() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    for (i, (url, base, _)) in databases(dir.path()).await.into_iter().enumerate() {
        let (db, config) = dealer(dir.path(), i, &url, &smtp).await;
        let t = transports(&config);
        let start = smtp.delivered().len();
        let mails = || smtp.delivered()[start..].to_vec();

        // 07:29 in Berlin: not yet.
        let sent = app::digest::send(&db, &config, &t, at(7, 5, 29)).await;
        assert_eq!(sent.unwrap(), Sent::NotYet, "{url}");
        assert!(mails().is_empty(), "{url}");

        // 07:30: to both.
        let sent = app::digest::send(&db, &config, &t, at(7, 5, 30)).await;
        let to = vec![
            "lead@dealer.example".to_string(),
            "desk@dealer.example".to_string(),
        ];
        assert_eq!(
            sent.unwrap(),
            Sent::Sent {
                day: day("2026-05-07"),
                to: to.clone(),
                failed: Vec::new()
            },
            "{url}"
        );
        let held = app::held::list(&db).await.unwrap();
        assert_eq!(held.len(), 1, "{url}: {held:?}");
        let welcome = &held[0];
        let expected = format!(
            "Good morning. The day at Autohaus Nord (Thursday 2026-05-07):\n\
             \n\
             Calls to make: 1\n\
             - Lea Wolf, +4915111111111: Call: book the service of Volkswagen Golf (due 2026-05-06)\n\
             \n\
             Still to go out today:\n\
             - call: 1\n\
             \n\
             Held for review: 1\n\
             - message {}, email to Max Roth: \"{}\", awaiting approval, since 2026-05-06T08:00:00Z\n\
             \n\
             The desk: https://desk.dealer.example/\n",
            welcome.id, welcome.subject
        );
        let got = mails();
        assert_eq!(got.len(), 2, "{url}");
        for (mail, to) in got.iter().zip(&to) {
            assert!(mail.contains(&format!("To: {to}\r\n")), "{url}: {mail}");
            assert!(
                mail.contains("Subject: Autohaus Nord: the day's digest, Thursday 2026-05-07\r\n"),
                "{url}: {mail}"
            );
            assert!(!mail.contains("List-Unsubscribe"), "{url}: {mail}");
            assert_eq!(plain_text(mail), expected, "{url}");
        }

        // Asked again that day: later, by a restarted daemon, by another
        // instance on the database: nothing more goes out.
        let other = store::connect(&config.database_url(), 2).await.unwrap();
        let sent = app::digest::send(&db, &config, &t, at(7, 5, 31)).await;
        assert_eq!(sent.unwrap(), Sent::Already(day("2026-05-07")), "{url}");
        let restarted = app::digest::Digests::default()
            .tick(&db, &config, &t, at(7, 9, 0))
            .await;
        assert_eq!(restarted.unwrap(), Sent::Already(day("2026-05-07")));
        let sent = app::digest::send(&other, &config, &t, at(7, 20, 0)).await;
        assert_eq!(sent.unwrap(), Sent::Already(day("2026-05-07")), "{url}");
        assert_eq!(mails().len(), 2, "{url}");

        // The next day two instances ask at the same instant: one sends.
        let next = at(8, 5, 30);
        let (a, b) = tokio::join!(
            app::digest::send(&db, &config, &t, next),
            app::digest::send(&other, &config, &t, next)
        );
        let outcomes = [a.unwrap(), b.unwrap()];
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| matches!(o, Sent::Sent { day: d, .. } if *d == day("2026-05-08")))
                .count(),
            1,
            "{url}: {outcomes:?}"
        );
        assert!(
            outcomes.contains(&Sent::Already(day("2026-05-08"))),
            "{url}"
        );
        assert_eq!(mails().len(), 4, "{url}");
        drop_test_schema(&base, &url).await;
    }
}

/// A digest that reaches nobody (the relay answers 451) gives the day up:
/// once the relay takes it, a later try that day sends it, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_that_reaches_nobody_is_tried_again() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    for (i, (url, base, _)) in databases(dir.path()).await.into_iter().enumerate() {
        let (db, mut config) = dealer(dir.path(), i, &url, &smtp).await;
        let start = smtp.delivered().len();
        config.settings.digest.to = vec!["busy-lead@dealer.example".into()];
        let t = transports(&config);
        let failed = app::digest::send(&db, &config, &t, at(7, 5, 30)).await;
        let why = failed.unwrap_err().to_string();
        assert!(
            why.contains(
                "the digest of 2026-05-07 could not be sent: busy-lead@dealer.example: SMTP"
            ),
            "{url}: {why}"
        );
        assert_eq!(smtp.delivered().len(), start, "{url}");
        config.settings.digest.to = vec!["lead@dealer.example".into()];
        for (minute, expected) in [(31, 1), (32, 1)] {
            let sent = app::digest::send(&db, &config, &t, at(7, 5, minute))
                .await
                .unwrap();
            assert_eq!(
                matches!(sent, Sent::Sent { .. }),
                minute == 31,
                "{url}: {sent:?}"
            );
            assert_eq!(smtp.delivered().len(), start + expected, "{url}");
        }
        drop_test_schema(&base, &url).await;
    }
}

/// The daemon sends the day's digest when its time has come, also when it
/// starts after that time, and a restart does not send it again. The time
/// is midnight in a zone where it is now the middle of the day, so that the
/// day does not turn while the test runs.
#[test]
fn the_daemon_sends_the_days_digest_once_across_a_restart() {
    let zone = ["UTC", "Asia/Tokyo", "America/Los_Angeles"]
        .into_iter()
        .find(|z| {
            let tz: chrono_tz::Tz = z.parse().unwrap();
            let hour = chrono::Timelike::hour(&Utc::now().with_timezone(&tz));
            (6..18).contains(&hour)
        })
        .unwrap();
    let tz: chrono_tz::Tz = zone.parse().unwrap();
    let today = Utc::now().with_timezone(&tz).date_naive();
    for instance in crate::helpers::instances() {
        let backend = instance.backend;
        instance.add_config(&format!(
            "[digest]\nto = [\"lead@dealer.example\"]\nat = \"00:00\"\ntime_zone = \"{zone}\"\n"
        ));
        let debug = ("TOUCHPOINT_LOG", "info,touchpoint::app::digest=debug");
        let mut daemon = Daemon::start_with(&instance, &[debug]);
        let line = daemon.wait_for_line("digest sent", WITHIN);
        assert!(line.contains(&today.to_string()), "{backend}: {line}");
        let (status, log) = daemon.stop(backend);
        assert!(status.success(), "{backend}: {status}: {log}");

        let mut again = Daemon::start_with(&instance, &[debug]);
        again.wait_for_line("the day's digest was sent already", WITHIN);
        let (status, log) = again.stop(backend);
        assert!(status.success(), "{backend}: {status}: {log}");
        assert!(!log.contains("digest sent"), "{backend}: {log}");

        let outbox = instance.dir.path().join("outbox/email");
        let digests: Vec<String> = std::fs::read_dir(&outbox)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("digest"))
            .collect();
        assert_eq!(
            digests,
            vec![format!("digest_{today}_lead_dealer_example.eml")],
            "{backend}"
        );
        let mail = std::fs::read_to_string(outbox.join(&digests[0])).unwrap();
        assert!(
            mail.contains("To: lead@dealer.example"),
            "{backend}: {mail}"
        );
        assert!(mail.contains("the day's digest"), "{backend}: {mail}");
    }
}
