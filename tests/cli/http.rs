//! The HTTP endpoints against a real database (SQLite; PostgreSQL when
//! TOUCHPOINT_TEST_POSTGRES_URL is set): one-click unsubscribe, the inbound
//! SMS webhook, the List-Unsubscribe headers of a real email, and the
//! daemon (`touchpoint run`) started, used and stopped with SIGTERM.

use crate::helpers::{self, Instance};
use crate::smtp_server::SmtpServer;
use crate::support::{
    databases, drop_test_schema, seed, seed_customer, sqlite_config, sqlite_database,
};
use assert_cmd::cargo::CommandCargoExt;
use chrono::{Duration, TimeZone, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use touchpoint::app::Dispatcher;
use touchpoint::app::{self, planning_pass};
use touchpoint::config::Config;
use touchpoint::dispatch::Transports;
use touchpoint::domain::Channel;
use touchpoint::http::{AppState, router};
use touchpoint::messages::Catalog;
use touchpoint::store::{self, entities};
use touchpoint::unsubscribe::Subject;

/// The router served on a free local port; stops with the test's runtime.
async fn serve(db: &DatabaseConnection, config: &Config) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    serve_on(listener, db, config).await;
    addr
}

async fn serve_on(listener: tokio::net::TcpListener, db: &DatabaseConnection, config: &Config) {
    let links = app::unsubscribe_links(db, config).await.unwrap();
    let state = AppState::new(db.clone(), config, links);
    tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });
}

/// A plain HTTP client (reqwest needs a TLS provider chosen even for http://).
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Two customers on one phone number (+4915112345678), the router served
/// for them, and a client.
async fn two_served(
    db: &DatabaseConnection,
    config: &Config,
) -> (i64, i64, SocketAddr, reqwest::Client) {
    let (anna, _) = seed_customer(db, "C1", "anna@example.com", &[], "2025-01-10").await;
    let (bert, _) = seed_customer(db, "C2", "bert@example.com", &[], "2025-01-10").await;
    (anna, bert, serve(db, config).await, client())
}

/// The RFC 8058 one-click POST a mail client sends to a `List-Unsubscribe` link.
async fn one_click(client: &reqwest::Client, link: &str) -> reqwest::Response {
    client
        .post(link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap()
}

async fn customer(db: &DatabaseConnection, id: i64) -> touchpoint::domain::Customer {
    store::customer(db, id).await.unwrap().unwrap()
}

async fn opt_out_log(db: &DatabaseConnection, id: i64) -> Vec<(String, String, bool)> {
    entities::opt_out::Entity::find()
        .filter(entities::opt_out::Column::CustomerId.eq(id))
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.channel, o.source, o.opted_out))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_click_post_unsubscribes_and_a_get_does_not() {
    let dir = tempfile::tempdir().unwrap();
    for (url, db, config) in databases(dir.path()).await {
        let (anna, bert, addr, client) = two_served(&db, &config).await;

        // Two instances on one database sign alike (the secret is shared).
        let links = app::unsubscribe_links(&db, &config).await.unwrap();
        let again = app::unsubscribe_links(&db, &config).await.unwrap();
        let subject = Subject {
            customer_id: anna,
            channel: Channel::Email,
        };
        assert_eq!(links.token(subject), again.token(subject), "{url}");
        let token = links.token(subject);
        let link = format!("http://{addr}/unsubscribe/{token}");

        // A GET (what a mail scanner does) shows the confirm button only.
        let page = client.get(&link).send().await.unwrap();
        assert_eq!(page.status(), 200, "{url}");
        let html = page.text().await.unwrap();
        assert!(html.contains("<form method=\"post\""), "{html}");
        assert!(!customer(&db, anna).await.opted_out_email, "{url}");
        assert!(opt_out_log(&db, anna).await.is_empty(), "{url}");

        // A tampered token is refused and changes nothing.
        let mut tampered = token.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        for bad in [tampered.as_str(), "nonsense", "x.y"] {
            let answer = client
                .post(format!("http://{addr}/unsubscribe/{bad}"))
                .form(&[("List-Unsubscribe", "One-Click")])
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 400, "{url}: {bad}");
            assert!(answer.text().await.unwrap().contains("not valid"));
        }
        // A valid token for nobody: 404.
        let ghost = links.token(Subject {
            customer_id: 999_999,
            channel: Channel::Email,
        });
        let answer = client
            .post(format!("http://{addr}/unsubscribe/{ghost}"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 404, "{url}");
        assert!(!customer(&db, anna).await.opted_out_email, "{url}");

        // The RFC 8058 one-click POST, twice (clients retry): opted out, logged once.
        for _ in 0..2 {
            let done = one_click(&client, &link).await;
            assert_eq!(done.status(), 200, "{url}");
            assert!(done.text().await.unwrap().contains("no more emails"));
        }
        let a = customer(&db, anna).await;
        assert!(a.opted_out_email && !a.opted_out_sms, "{url}: {a:?}");
        assert_eq!(
            opt_out_log(&db, anna).await,
            vec![("email".into(), "unsubscribe_link".into(), true)],
            "{url}"
        );
        // Nobody else is touched.
        assert!(!customer(&db, bert).await.opted_out_email, "{url}");
        drop_test_schema(&db, &url).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn inbound_stop_start_and_help() {
    let dir = tempfile::tempdir().unwrap();
    for (url, db, mut config) in databases(dir.path()).await {
        // The generic gateway, signing its requests with the shared secret.
        let sms = &mut config.settings.sms;
        sms.provider = "http".into();
        sms.base_url = "https://sms.example".into();
        sms.from = "+4930111222".into();
        sms.inbound_secret = "gw-secret".into();
        // Both customers of the number are covered.
        let (anna, bert, addr, client) = two_served(&db, &config).await;
        let inbound = |from: &'static str, body: &'static str| {
            let client = client.clone();
            async move {
                let form =
                    serde_urlencoded_form(&[("From", from), ("Body", body), ("To", "+4930111222")]);
                let answer = client
                    .post(format!("http://{addr}/sms/inbound"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("X-Signature", hmac_hex("gw-secret", &form))
                    .body(form)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), 200);
                let kind = answer.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .to_string();
                assert!(kind.starts_with("text/xml"), "{kind}");
                answer.text().await.unwrap()
            }
        };

        let twiml = inbound("+4915112345678", " Stop ").await;
        assert!(twiml.contains("<Response><Message>"), "{twiml}");
        assert!(twiml.contains("START"), "{twiml}");
        for id in [anna, bert] {
            let c = customer(&db, id).await;
            assert!(c.opted_out_sms && !c.opted_out_email, "{url}: {c:?}");
        }

        // Chat that is no keyword changes nothing and gets no reply.
        assert!(
            inbound("+4915112345678", "thanks, see you")
                .await
                .ends_with("<Response/>")
        );
        assert!(customer(&db, anna).await.opted_out_sms, "{url}");

        let twiml = inbound("+4915112345678", "start").await;
        assert!(twiml.contains("<Message>"), "{twiml}");
        for id in [anna, bert] {
            assert!(!customer(&db, id).await.opted_out_sms, "{url}");
            assert_eq!(
                opt_out_log(&db, id).await,
                vec![
                    ("sms".into(), "sms_keyword".into(), true),
                    ("sms".into(), "sms_keyword".into(), false)
                ],
                "{url}"
            );
        }

        let twiml = inbound("+4915112345678", "HELP").await;
        let dealer = &config.settings.dealer;
        assert!(
            twiml.contains(&dealer.name) && twiml.contains(&dealer.phone),
            "{twiml}"
        );

        // An unknown number: an empty answer, nothing changed.
        assert!(
            inbound("+4915199999999", "STOP")
                .await
                .ends_with("<Response/>")
        );
        assert!(
            inbound("not a number", "STOP")
                .await
                .ends_with("<Response/>")
        );
        assert!(!customer(&db, anna).await.opted_out_sms, "{url}");

        let health = client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
        assert_eq!(health.text().await.unwrap(), "ok");
        drop_test_schema(&db, &url).await;
    }
}

/// A form body as a gateway writes it.
fn serde_urlencoded_form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The generic gateway's signature: HMAC-SHA256 of the body, in hex.
fn hmac_hex(secret: &str, body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::sign(&key, body.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Under every provider, a forged STOP and a forged START change nothing:
/// without a provider (or the generic one without its secret) the endpoint
/// is off (404); Twilio wants its signature for this URL (403), the generic
/// gateway its HMAC (403) or its basic authentication (401). The refusals
/// are counted in the metrics.
#[tokio::test(flavor = "multi_thread")]
async fn forged_stop_and_start_change_nothing_under_any_provider() {
    let generic =
        "provider = \"http\"\nbase_url = \"https://sms.example\"\nfrom = \"+4930111222\"\n";
    let cases: Vec<(&str, String, u16)> = vec![
        ("no provider", String::new(), 404),
        ("generic without a secret", generic.to_string(), 404),
        (
            "twilio",
            "provider = \"twilio\"\naccount_sid = \"AC1\"\nauth_token = \"tw-secret\"\nfrom = \"+4930111222\"\n".into(),
            403,
        ),
        (
            "generic, hmac",
            format!("{generic}inbound_secret = \"gw-secret\"\n"),
            403,
        ),
        (
            "generic, basic",
            format!("{generic}inbound_secret = \"gw-secret\"\ninbound_auth = \"basic\"\ninbound_user = \"gateway\"\n"),
            401,
        ),
    ];
    let refused_before = refused_total();
    let mut refusals = 0.0;
    for (name, sms, status) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (config, db) = sqlite_database(
            dir.path(),
            &format!("[sms]\n{sms}[http]\npublic_url = \"https://tp.dealer.example\"\n"),
        )
        .await;
        let (anna, _) = seed(&db, &[], "2025-01-10").await;
        let addr = serve(&db, &config).await;
        let client = client();
        let wrong_basic =
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "gateway:guess");
        for (body, opted_out_before) in [("STOP", false), ("START", true)] {
            // START is forged against someone who did opt out.
            if opted_out_before {
                entities::customer::Entity::update_many()
                    .col_expr(
                        entities::customer::Column::OptedOutSms,
                        sea_orm::sea_query::Expr::value(true),
                    )
                    .exec(&db)
                    .await
                    .unwrap();
            }
            let form = serde_urlencoded_form(&[("From", "+4915112345678"), ("Body", body)]);
            // Twilio's signature of this very request, but for another URL: a replay.
            let signed =
                format!("https://elsewhere.example/sms/inboundBody{body}From+4915112345678");
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, b"tw-secret");
            let replayed = base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                ring::hmac::sign(&key, signed.as_bytes()),
            );
            let forgeries = [
                None,
                Some(("X-Twilio-Signature", replayed.clone())),
                Some(("X-Signature", hmac_hex("not-the-secret", &form))),
                Some(("Authorization", format!("Basic {wrong_basic}"))),
            ];
            for forgery in forgeries {
                let mut request = client
                    .post(format!("http://{addr}/sms/inbound"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form.clone());
                if let Some((header, value)) = &forgery {
                    request = request.header(*header, value);
                }
                let answer = request.send().await.unwrap();
                assert_eq!(answer.status(), status, "{name}, {body}, {forgery:?}");
                if status == 401 {
                    assert!(answer.headers().contains_key("www-authenticate"), "{name}");
                }
                if status != 404 {
                    refusals += 1.0;
                }
                assert_eq!(
                    customer(&db, anna).await.opted_out_sms,
                    opted_out_before,
                    "{name}: a forged {body} changed the consent"
                );
            }
            assert!(opt_out_log(&db, anna).await.is_empty(), "{name}");
        }
    }
    assert!(
        refused_total() - refused_before >= refusals,
        "{}",
        touchpoint::metrics::encode()
    );
}

/// All refused inbound requests the metrics counted in this process.
fn refused_total() -> f64 {
    touchpoint::metrics::encode()
        .lines()
        .filter(|l| l.starts_with("touchpoint_inbound_refused_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The generic gateway's basic authentication lets the right user in.
#[tokio::test(flavor = "multi_thread")]
async fn the_generic_gateway_with_basic_authentication_stops_a_number() {
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = sqlite_database(
        dir.path(),
        "[sms]\nprovider = \"http\"\nbase_url = \"https://sms.example\"\nfrom = \"+4930111222\"\ninbound_secret = \"gw-secret\"\ninbound_auth = \"basic\"\ninbound_user = \"gateway\"\n",
    )
    .await;
    let (anna, _) = seed(&db, &[], "2025-01-10").await;
    let addr = serve(&db, &config).await;
    let answer = client()
        .post(format!("http://{addr}/sms/inbound"))
        .basic_auth("gateway", Some("gw-secret"))
        .form(&[("From", "+4915112345678"), ("Body", "STOP")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(customer(&db, anna).await.opted_out_sms);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_twilio_the_webhook_needs_its_signature() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (config, db) = sqlite_database(
        dir.path(),
        "[sms]\nprovider = \"twilio\"\naccount_sid = \"AC123\"\nauth_token = \"tw-secret\"\nfrom = \"+4930111222\"\n[http]\npublic_url = \"https://tp.dealer.example/\"\n",
    )
    .await;
    let (anna, _) = seed(&db, &[], "2025-01-10").await;
    serve_on(listener, &db, &config).await;
    let client = client();
    // Twilio's scheme, written out: the URL it posts to, then the parameters
    // sorted by name, each name followed by its value.
    let form = [
        ("To", "+4930111222"),
        ("From", "+4915112345678"),
        ("Body", "STOP"),
    ];
    let signed = "https://tp.dealer.example/sms/inboundBodySTOPFrom+4915112345678To+4930111222";
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, b"tw-secret");
    let good = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        ring::hmac::sign(&key, signed.as_bytes()),
    );
    let post = |signature: Option<String>| {
        let mut request = client
            .post(format!("http://{addr}/sms/inbound"))
            .form(&form);
        if let Some(s) = signature {
            request = request.header("X-Twilio-Signature", s);
        }
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(post(None).await, 403);
    assert_eq!(post(Some("AAAA".into())).await, 403);
    assert!(!customer(&db, anna).await.opted_out_sms);
    assert_eq!(post(Some(good)).await, 200);
    assert!(customer(&db, anna).await.opted_out_sms);
}

/// An email unsubscribe also stops what is already queued: an email waiting
/// for a retry after a transient failure is suppressed with its touchpoint,
/// and the retry is never made (the SMS twin is in sms.rs).
#[tokio::test(flavor = "multi_thread")]
async fn a_one_click_unsubscribe_suppresses_a_queued_email_retry() {
    use entities::{message, touchpoint as tp};
    let dir = tempfile::tempdir().unwrap();
    for (url, db, mut config) in databases(dir.path()).await {
        // Nothing listens on the SMTP port: a refused connection, which is transient.
        config.settings.email.smtp_url = format!("smtp://127.0.0.1:{}", free_port());
        let (anna, _) = seed(&db, &["WVWZZZ1JZXW000001"], "2025-11-20").await;
        // Sunday 23 Nov 2025: the welcome email is due.
        let sunday = Utc.with_ymd_and_hms(2025, 11, 23, 9, 0, 0).unwrap();
        let report = crate::support::pass(&db, &config, sunday).await;
        assert_eq!(report.retrying, 1, "{url}: {report:?}");
        let queued = message::Entity::find()
            .filter(message::Column::Channel.eq("email"))
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(queued.state, "retry", "{url}");

        // The owner clicks the one-click link of an earlier email.
        let addr = serve(&db, &config).await;
        let links = app::unsubscribe_links(&db, &config).await.unwrap();
        let token = links.token(Subject {
            customer_id: anna,
            channel: Channel::Email,
        });
        let link = format!("http://{addr}/unsubscribe/{token}");
        assert_eq!(one_click(&client(), &link).await.status(), 200, "{url}");

        // A pass after the retry was due makes no attempt.
        let later = sunday + Duration::hours(2);
        assert!(queued.next_attempt_at.is_some_and(|t| t <= later), "{url}");
        let report = crate::support::pass(&db, &config, later).await;
        assert!(
            report.sent.is_empty() && report.retrying == 0,
            "{url}: {report:?}"
        );
        let reason = Some("the recipient opted out of email");
        let message = message::Entity::find_by_id(queued.id)
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (message.state.as_str(), message.reason.as_deref()),
            ("suppressed", reason),
            "{url}"
        );
        assert_eq!(message.attempts, queued.attempts, "{url}: retried");
        let touchpoint = tp::Entity::find()
            .filter(tp::Column::MessageId.eq(queued.id))
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (touchpoint.state.as_str(), touchpoint.reason.as_deref()),
            ("suppressed", reason),
            "{url}"
        );
        drop_test_schema(&db, &url).await;
    }
}

/// The value of a header of a raw email (unfolded).
fn header(mail: &str, name: &str) -> Option<String> {
    let unfolded = mail.replace("\r\n ", " ").replace("\n ", " ");
    unfolded
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .map(|v| v.trim().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sent_email_carries_a_working_one_click_link() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpServer::start();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (config, db) = sqlite_database(
        dir.path(),
        &format!(
            "[email]\nsmtp_url = \"smtp://127.0.0.1:{}\"\ntimeout_secs = 5\n[http]\npublic_url = \"http://{addr}/\"\n",
            sink.port
        ),
    )
    .await;
    let (anna, _) = seed(&db, &["WVWZZZ1JZXW000001"], "2025-11-20").await;
    serve_on(listener, &db, &config).await;

    let catalog = Catalog::builtin().unwrap();
    let transports = Transports::from_config(&config)
        .unwrap()
        .with_unsubscribe_links(app::unsubscribe_links(&db, &config).await.unwrap());
    let sunday = Utc.with_ymd_and_hms(2025, 11, 23, 9, 0, 0).unwrap();
    planning_pass(&db, &config, sunday).await.unwrap();
    let report = Dispatcher::new(&db, &config, &transports, &catalog)
        .pass(sunday)
        .await
        .unwrap();
    assert_eq!(report.sent.get("email"), Some(&1), "{report:?}");

    let delivered = sink.delivered();
    assert_eq!(delivered.len(), 1);
    let mail = &delivered[0];
    assert_eq!(
        header(mail, "List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click"),
        "{mail}"
    );
    let list = header(mail, "List-Unsubscribe").expect(mail);
    let link = list
        .strip_prefix('<')
        .and_then(|l| l.strip_suffix('>'))
        .expect(&list);
    assert!(
        link.starts_with(&format!("http://{addr}/unsubscribe/")),
        "{link}"
    );

    let client = client();
    assert_eq!(client.get(link).send().await.unwrap().status(), 200);
    assert!(!customer(&db, anna).await.opted_out_email);
    let done = one_click(&client, link).await;
    assert_eq!(done.status(), 200);
    assert!(customer(&db, anna).await.opted_out_email);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits for `/healthz` of a starting daemon.
async fn wait_healthy(client: &reqwest::Client, base: &str, child: &mut std::process::Child) {
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status() == 200
        {
            assert_eq!(r.text().await.unwrap(), "ok");
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("touchpoint run exited early: {status}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("touchpoint run did not answer /healthz");
}

#[test]
fn run_serves_dispatches_on_schedule_and_stops_on_sigterm() {
    for instance in helpers::instances() {
        run_one(&instance);
    }
}

/// `touchpoint run` of an instance on a free port, with a pass every
/// second; its log lines are read as they come.
pub struct Daemon {
    child: std::process::Child,
    pub base: String,
    lines: std::sync::mpsc::Receiver<String>,
    pub log: String,
}

impl Daemon {
    pub fn start(instance: &Instance) -> Self {
        Self::start_with(instance, &[])
    }

    /// Started with `env` added to its environment.
    pub fn start_with(instance: &Instance, env: &[(&str, &str)]) -> Self {
        Self::launch(instance, env, &[])
    }

    /// Started with `--set` of each of `sets` (`SECTION.KEY=VALUE`).
    pub fn start_set(instance: &Instance, sets: &[&str]) -> Self {
        Self::launch(instance, &[], sets)
    }

    fn launch(instance: &Instance, env: &[(&str, &str)], sets: &[&str]) -> Self {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut child = Command::cargo_bin("touchpoint")
            .unwrap()
            .env_remove("TOUCHPOINT_CONFIG")
            .arg("--config")
            .arg(&instance.config)
            .args(["--set", &format!("http.listen=\"127.0.0.1:{port}\"")])
            .args(["--set", &format!("http.public_url=\"{base}\"")])
            .args(["--set", "daemon.dispatch_cron=\"* * * * * *\""])
            .args(sets.iter().flat_map(|s| ["--set", s]))
            .envs(env.iter().copied())
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(stderr).map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            base,
            lines,
            log: String::new(),
        }
    }

    /// The next log line that contains `needle`, within `within` (or a failure).
    pub fn wait_for_line(&mut self, needle: &str, within: std::time::Duration) -> String {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push_str(&line);
                    self.log.push('\n');
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(e) => panic!("no log line with {needle:?} ({e:?}): {}", self.log),
            }
        }
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args([signal, &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    /// SIGTERM; the exit status and the whole log, once it has stopped.
    pub fn stop(mut self, backend: &str) -> (std::process::ExitStatus, String) {
        self.signal("-TERM");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{backend}: touchpoint run did not stop within 30 s of SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        // The process is gone: the rest of its log is in the pipe.
        self.log.extend(self.lines.iter().map(|l| l + "\n"));
        (status, self.log)
    }
}

/// The first email the outbox of `instance` holds, waiting up to ten seconds for it.
async fn first_outbox_email(instance: &Instance) -> Option<String> {
    let outbox = instance.dir.path().join("outbox/email");
    for _ in 0..100 {
        if let Some(entry) = std::fs::read_dir(&outbox)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(Result::ok)
        {
            return std::fs::read_to_string(entry.path()).ok();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    None
}

/// Bought three days ago: the owner's welcome email is due now.
pub async fn seed_welcome_due(instance: &Instance) -> i64 {
    let purchase = (Utc::now() - Duration::days(3)).date_naive().to_string();
    let db = instance.db().await;
    seed_customer(
        &db,
        "C1",
        "anna@example.com",
        &["WVWZZZ1JZXW000001"],
        &purchase,
    )
    .await
    .0
}

fn run_one(instance: &Instance) {
    let backend = instance.backend;
    let anna = helpers::block_on(seed_welcome_due(instance));
    let mut daemon = Daemon::start(instance);
    let base = daemon.base.clone();
    helpers::block_on(async {
        let client = client();
        wait_healthy(&client, &base, &mut daemon.child).await;
        // The scheduled pass writes the welcome email to the outbox, with its link.
        let mail = first_outbox_email(instance)
            .await
            .unwrap_or_else(|| panic!("{backend}: no scheduled pass wrote an email"));
        let list = header(&mail, "List-Unsubscribe").expect(&mail);
        let link = list.trim_start_matches('<').trim_end_matches('>');
        assert!(
            link.starts_with(&format!("{base}/unsubscribe/")),
            "{backend}: {link}"
        );
        let done = one_click(&client, link).await;
        assert_eq!(done.status(), 200, "{backend}");
        let db = instance.db().await;
        assert!(customer(&db, anna).await.opted_out_email, "{backend}");
    });

    let (status, log) = daemon.stop(backend);
    assert!(status.success(), "{backend}: {status}: {log}");
    assert!(log.contains("SIGTERM"), "{backend}: {log}");
}

/// Not only the pass at start: what falls due while the daemon runs goes
/// out on a later tick of its schedule, without a restart.
#[test]
fn run_dispatches_what_falls_due_later_on_its_schedule() {
    for instance in helpers::instances() {
        let backend = instance.backend;
        let mut daemon = Daemon::start(&instance);
        // The pass at start finds nothing to do.
        let first = daemon.wait_for_line("pass done", std::time::Duration::from_secs(30));
        assert!(first.contains("planned=0"), "{backend}: {first}");
        helpers::block_on(async {
            seed_welcome_due(&instance).await;
            let mail = first_outbox_email(&instance).await;
            assert!(
                mail.is_some_and(|m| m.contains("To: anna@example.com")),
                "{backend}: no later pass sent the welcome email"
            );
        });
        let (status, log) = daemon.stop(backend);
        assert!(status.success(), "{backend}: {status}: {log}");
    }
}

#[test]
fn run_refuses_a_schema_that_is_behind() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = sqlite_config(
        dir.path(),
        &format!("[http]\nlisten = \"127.0.0.1:{}\"\n", free_port()),
    );
    let out = Command::cargo_bin("touchpoint")
        .unwrap()
        .env_remove("TOUCHPOINT_CONFIG")
        .arg("--config")
        .arg(&cfg)
        .arg("run")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", helpers::stderr(&out));
    assert!(
        helpers::stderr(&out).contains("touchpoint migrate"),
        "{}",
        helpers::stderr(&out)
    );
}

#[test]
fn run_names_a_bad_schedule() {
    let instance = helpers::instances().remove(0);
    let listen = format!("http.listen=\"127.0.0.1:{}\"", free_port());
    let out = instance.run(&[
        "--set",
        &listen,
        "--set",
        "daemon.dispatch_cron=\"every minute\"",
        "run",
    ]);
    assert_eq!(out.status.code(), Some(78), "{}", helpers::stderr(&out));
    assert!(
        helpers::stderr(&out).contains("daemon.dispatch_cron"),
        "{}",
        helpers::stderr(&out)
    );
}
