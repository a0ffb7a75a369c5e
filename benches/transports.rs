//! Dispatch throughput over the real transports, against local sinks, in
//! one run:
//!
//!     cargo bench --bench transports
//!
//! * **Email.** A bare lettre loop (one pooled `AsyncSmtpTransport`, built as
//!   `src/dispatch/email.rs` builds it, sending N multipart messages of the
//!   same text one after the other) against touchpoint's dispatch of N due
//!   service emails (`Dispatcher::pass` on a migrated SQLite file, one due
//!   touchpoint per customer so that no cap or merge interferes), into the
//!   same SMTP sink. Goal: touchpoint at least 80% of the bare loop.
//! * **SMS.** touchpoint's dispatch of N due service SMS with the Twilio
//!   profile and `messages_per_second = 0`, and a bare reqwest loop posting
//!   the same form for reference. Goal: at least 500 messages/s.
//! * **Where the time goes.** The same dispatch with the capturing transport
//!   (nothing leaves the process): what the database and the rules cost per
//!   message on their own; and what one store round trip costs.
//!
//! The SMTP sink is a small tokio server inside this process (EHLO, MAIL,
//! RCPT, DATA, RSET, NOOP, QUIT; it answers 250/354/221 and counts messages
//! and bytes, storing nothing): the sink must not be what limits the rate
//! (a Python server, say, caps out at a few hundred messages a second), or
//! the comparison would measure the sink, not touchpoint's overhead over
//! lettre. It acknowledges every TCP segment at once (`TCP_QUICKACK`):
//! lettre 0.11 leaves Nagle's algorithm on and writes a message's final `.`
//! apart from its body, so against a server that delays its ACKs (the
//! kernel default) every message waits about 40 ms, in the bare loop and in
//! touchpoint alike. That case is measured too, once, on 100 messages. The
//! SMS gateway is measured behind two mocks:
//! wiremock (what the tests use) and a minimal HTTP/1.1 server in this
//! process that answers Twilio's 201 JSON; the summary uses the faster.
//!
//! Every vehicle carries a cycle's plan (`TOUCHPOINT_BENCH_PLAN`, default 36
//! touchpoints a month apart, the first due), as a real database does.
//! Every phase checks that its sink received exactly N messages and that the
//! dispatch reports N sent, and panics otherwise. Each figure is the median of
//! `TOUCHPOINT_BENCH_ROUNDS` rounds (default 3) of `TOUCHPOINT_BENCH_N`
//! messages (default 2,000). `TOUCHPOINT_BENCH_INDEX=1` is a what-if: the
//! databases get an index on `touchpoints.message_id`. Without `--bench`
//! (`cargo test --benches`) it runs one small round as a smoke test.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use lettre::message::{Mailbox, Message, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait, TransactionTrait,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use touchpoint::app::Dispatcher;
use touchpoint::config::Config;
use touchpoint::dispatch::Transports;
use touchpoint::messages::{Catalog, Context};
use touchpoint::store::{self, entities};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const FROM: &str = "Service <service@dealer.example>";
const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const TWILIO_REPLY: &str = r#"{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued","num_segments":"1","direction":"outbound-api","api_version":"2010-04-01","error_code":null,"error_message":null}"#;

/// A Wednesday, 11:00 in Berlin: inside every channel's opening hours.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 11, 10, 0, 0).unwrap()
}

fn today() -> NaiveDate {
    now().date_naive()
}

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn rate(n: usize, secs: f64) -> f64 {
    n as f64 / secs
}

// ---------------------------------------------------------------- SMTP sink

#[derive(Default)]
struct Counts {
    messages: AtomicUsize,
    bytes: AtomicUsize,
}

impl Counts {
    fn take(&self) -> (usize, usize) {
        (
            self.messages.swap(0, Ordering::SeqCst),
            self.bytes.swap(0, Ordering::SeqCst),
        )
    }
}

/// Starts the SMTP sink; returns its port and its counters. With `quick_ack`
/// the sink acknowledges every TCP segment at once (`TCP_QUICKACK`), as a
/// busy server on a fast link would; without it, the kernel delays its ACKs
/// as usual (up to 40 ms on Linux).
async fn smtp_sink(quick_ack: bool) -> (u16, Arc<Counts>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let counts = Arc::new(Counts::default());
    let c = counts.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let c = c.clone();
            tokio::spawn(async move {
                // A client that goes away mid-session is no concern of the sink.
                let _ = smtp_session(socket, &c, quick_ack).await;
            });
        }
    });
    (port, counts)
}

/// Writes a reply, then (with `quick_ack`) asks the kernel to acknowledge
/// what arrives next at once: replying puts Linux back into delayed ACKs.
async fn reply(
    stream: &mut BufReader<TcpStream>,
    text: &[u8],
    quick_ack: bool,
) -> std::io::Result<()> {
    stream.get_mut().write_all(text).await?;
    #[cfg(target_os = "linux")]
    if quick_ack {
        socket2::SockRef::from(stream.get_ref()).set_tcp_quickack(true)?;
    }
    #[cfg(not(target_os = "linux"))]
    let _ = quick_ack;
    Ok(())
}

async fn smtp_session(socket: TcpStream, counts: &Counts, quick_ack: bool) -> std::io::Result<()> {
    socket.set_nodelay(true)?;
    let mut stream = BufReader::new(socket);
    reply(&mut stream, b"220 sink ESMTP\r\n", quick_ack).await?;
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        if stream.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let verb = line
            .get(..4)
            .map(|v| v.to_ascii_uppercase())
            .unwrap_or_default();
        let answer: &[u8] = match verb.as_slice() {
            b"EHLO" => b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            b"HELO" | b"MAIL" | b"RCPT" | b"RSET" | b"NOOP" => b"250 OK\r\n",
            b"DATA" => {
                reply(
                    &mut stream,
                    b"354 End data with <CR><LF>.<CR><LF>\r\n",
                    quick_ack,
                )
                .await?;
                let mut size = 0;
                loop {
                    line.clear();
                    if stream.read_until(b'\n', &mut line).await? == 0 {
                        return Ok(());
                    }
                    if line.as_slice() == b".\r\n" {
                        break;
                    }
                    size += line.len();
                }
                counts.messages.fetch_add(1, Ordering::SeqCst);
                counts.bytes.fetch_add(size, Ordering::SeqCst);
                b"250 OK queued\r\n"
            }
            b"QUIT" => {
                reply(&mut stream, b"221 Bye\r\n", quick_ack).await?;
                return Ok(());
            }
            _ => b"500 Unknown command\r\n",
        };
        reply(&mut stream, answer, quick_ack).await?;
    }
}

// ----------------------------------------------------------------- HTTP sink

/// A minimal HTTP/1.1 server answering every request with Twilio's 201;
/// returns its base URL and its counters.
async fn http_sink() -> (String, Arc<Counts>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let counts = Arc::new(Counts::default());
    let c = counts.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let c = c.clone();
            tokio::spawn(async move {
                let _ = http_session(socket, &c).await;
            });
        }
    });
    (url, counts)
}

async fn http_session(socket: TcpStream, counts: &Counts) -> std::io::Result<()> {
    socket.set_nodelay(true)?;
    let (read, mut write) = socket.into_split();
    let mut read = BufReader::new(read);
    let reply = format!(
        "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{TWILIO_REPLY}",
        TWILIO_REPLY.len()
    );
    let mut line = Vec::with_capacity(512);
    let mut body = Vec::new();
    loop {
        // The head: the request line and the headers, up to an empty line.
        let mut length = 0;
        let mut first = true;
        loop {
            line.clear();
            if read.read_until(b'\n', &mut line).await? == 0 {
                return Ok(());
            }
            if line.as_slice() == b"\r\n" && !first {
                break;
            }
            first = false;
            let text = String::from_utf8_lossy(&line).to_ascii_lowercase();
            if let Some(v) = text.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        body.resize(length, 0);
        read.read_exact(&mut body).await?;
        counts.messages.fetch_add(1, Ordering::SeqCst);
        counts.bytes.fetch_add(length, Ordering::SeqCst);
        write.write_all(reply.as_bytes()).await?;
    }
}

/// wiremock answering Twilio's Messages API with 201.
async fn wiremock_sink() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        )))
        .respond_with(ResponseTemplate::new(201).set_body_raw(TWILIO_REPLY, "application/json"))
        .mount(&server)
        .await;
    server
}

// --------------------------------------------------------------- the data

/// The text of customer `i`'s message, as the dispatcher renders it.
fn rendered(catalog: &Catalog, message: &str, i: usize) -> (String, String) {
    let ctx = Context {
        name: format!("Customer {i:05}"),
        cars: "VW Golf".into(),
        vins: vin(i),
        due_date: (today() + Duration::days(30)).to_string(),
        dealer_name: "Your service team".into(),
        dealer_phone: "+49 30 1234567".into(),
        booking_url: "https://dealer.example/service".into(),
    };
    let r = catalog.render(message, None, &ctx).unwrap();
    (r.subject, r.body)
}

fn vin(i: usize) -> String {
    format!("WVWZZZ1JZXW{i:06}")
}

fn email(i: usize) -> String {
    format!("customer{i:05}@example.com")
}

fn phone(i: usize) -> String {
    format!("+49151{i:08}")
}

/// Touchpoints per vehicle in the seeded database (`TOUCHPOINT_BENCH_PLAN`,
/// default 36: a cycle's plan); only the first is due.
fn plan_size() -> usize {
    env_usize("TOUCHPOINT_BENCH_PLAN", 36).max(1)
}

/// What-if (`TOUCHPOINT_BENCH_INDEX=1`): the seeded databases get an index
/// on `touchpoints.message_id`, which the schema lacks; the dispatch's
/// per-send `UPDATE touchpoints … WHERE message_id = ?` otherwise scans the
/// whole table.
fn what_if_index() -> bool {
    std::env::var("TOUCHPOINT_BENCH_INDEX").is_ok_and(|v| v == "1")
}

/// A migrated SQLite database in `dir` with `n` customers, each with one car
/// whose plan has `plan_size()` touchpoints of `channel`, a month apart, the
/// first due today.
async fn seed(
    dir: &std::path::Path,
    config_extra: &str,
    channel: &str,
    n: usize,
) -> (Config, DatabaseConnection) {
    let path = dir.join("touchpoint.toml");
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = \"sqlite://{}/touchpoint.db\"\n\
             [caps]\nmessages_per_7_days = 1000\nmessages_per_30_days = 1000\n\
             {config_extra}",
            dir.display()
        ),
    )
    .unwrap();
    let config = Config::load(Some(&path)).unwrap();
    let db = store::connect(&config.database_url(), 1).await.unwrap();
    store::migrate(&db).await.unwrap();
    if what_if_index() {
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS ix_touchpoints_message ON touchpoints (message_id)",
        )
        .await
        .unwrap();
    }
    let (code, message, priority) = match channel {
        "email" => ("service-email", "service_reminder", 90),
        _ => ("service-sms", "service_nudge", 80),
    };
    let now = now();
    let txn = db.begin().await.unwrap();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let id = |i: usize| i as i64 + 1;
        entities::customer::Entity::insert_many(chunk.iter().map(|&i| {
            entities::customer::ActiveModel {
                id: Set(id(i)),
                customer_id: Set(format!("C{i:05}")),
                name: Set(format!("Customer {i:05}")),
                email: Set(Some(email(i))),
                phone: Set(Some(phone(i))),
                timezone: Set("Europe/Berlin".into()),
                birthday: Set(None),
                consent_email_marketing: Set(true),
                consent_sms_marketing: Set(true),
                locale: Set(None),
                opted_out_email: Set(false),
                opted_out_sms: Set(false),
                opted_out_call: Set(false),
                updated_at: Set(now),
            }
        }))
        .exec_without_returning(&txn)
        .await
        .unwrap();
        entities::vehicle::Entity::insert_many(chunk.iter().map(|&i| {
            entities::vehicle::ActiveModel {
                id: Set(id(i)),
                vin: Set(vin(i)),
                customer_id: Set(id(i)),
                make: Set("VW".into()),
                model: Set("Golf".into()),
                model_year: Set(Some(2025)),
                purchase_date: Set(NaiveDate::from_ymd_opt(2025, 4, 1).unwrap()),
                purchase_odometer_km: Set(0),
                avg_monthly_km: Set(None),
                active: Set(true),
                facts_version: Set(1),
                planned_version: Set(1),
                replan_on: Set(None),
                updated_at: Set(now),
            }
        }))
        .exec_without_returning(&txn)
        .await
        .unwrap();
    }
    // The touchpoint due today, then the rest of a vehicle's plan, later.
    let rows: Vec<(usize, i64)> = (0..n)
        .flat_map(|i| (0..plan_size() as i64).map(move |k| (i, k)))
        .collect();
    for chunk in rows.chunks(1000) {
        entities::touchpoint::Entity::insert_many(chunk.iter().map(|&(i, k)| {
            entities::touchpoint::ActiveModel {
                id: Set((i * plan_size()) as i64 + k + 1),
                dedup_key: Set(format!("{}:{code}:0:{}", vin(i), k + 1)),
                vehicle_id: Set(i as i64 + 1),
                customer_id: Set(i as i64 + 1),
                cycle: Set(0),
                code: Set(code.into()),
                occurrence: Set(k as i32 + 1),
                channel: Set(channel.into()),
                category: Set("service".into()),
                priority: Set(priority),
                due_date: Set(today() + Duration::days(30 * k)),
                state: Set("planned".into()),
                reason: Set(None),
                message: Set(message.into()),
                attempts: Set(0),
                next_attempt_at: Set(None),
                lease_until: Set(None),
                sent_at: Set(None),
                provider_ref: Set(None),
                message_id: Set(None),
                service_due: Set(Some(today() + Duration::days(30 * k + 30))),
                awaits_visit: Set(false),
                created_at: Set(now),
                updated_at: Set(now),
            }
        }))
        .exec_without_returning(&txn)
        .await
        .unwrap();
    }
    txn.commit().await.unwrap();
    (config, db)
}

/// Dispatch passes until `n` messages of `channel` went out; the seconds
/// the passes took.
async fn dispatch(
    config: &Config,
    db: &DatabaseConnection,
    transports: &Transports,
    channel: &str,
    n: usize,
) -> f64 {
    let catalog = Catalog::builtin().unwrap();
    let dispatcher = Dispatcher::new(db, config, transports, &catalog);
    let start = Instant::now();
    let mut sent = 0;
    while sent < n {
        let report = dispatcher.pass(now()).await.unwrap();
        let this = report.sent.get(channel).copied().unwrap_or(0);
        assert!(
            this > 0,
            "a dispatch pass sent nothing after {sent} of {n}: {}",
            report.to_text()
        );
        assert_eq!(
            (
                report.failed,
                report.retrying,
                report.deferred,
                report.suppressed
            ),
            (0, 0, 0, 0),
            "{}",
            report.to_text()
        );
        sent += this;
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(sent, n, "dispatch sent more than was due");
    secs
}

fn check_sink(what: &str, counts: &Counts, n: usize) -> usize {
    let (messages, bytes) = counts.take();
    assert_eq!(
        messages, n,
        "{what}: the sink received {messages} messages, {n} were sent"
    );
    bytes / n.max(1)
}

// ------------------------------------------------------------------- email

async fn email_bare(port: u16, counts: &Counts, catalog: &Catalog, n: usize) -> (f64, usize) {
    let transport =
        AsyncSmtpTransport::<Tokio1Executor>::from_url(&format!("smtp://127.0.0.1:{port}"))
            .unwrap()
            .timeout(Some(std::time::Duration::from_secs(30)))
            .build();
    let from: Mailbox = FROM.parse().unwrap();
    let (subject, text) = rendered(catalog, "service_reminder", 0);
    let html = format!(
        "<!DOCTYPE html><html><body style=\"font-family: sans-serif\">{}</body></html>",
        text.split("\n\n")
            .map(|p| format!("<p>{}</p>", p.replace('\n', "<br>")))
            .collect::<String>()
    );
    let start = Instant::now();
    for i in 0..n {
        let message = Message::builder()
            .from(from.clone())
            .to(email(i).parse().unwrap())
            .subject(subject.clone())
            .message_id(Some(format!("<{}.service-email.0.1@touchpoint>", vin(i))))
            .multipart(MultiPart::alternative_plain_html(
                text.clone(),
                html.clone(),
            ))
            .unwrap();
        transport.send(message).await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let size = check_sink("bare lettre", counts, n);
    (rate(n, secs), size)
}

async fn email_touchpoint(port: u16, counts: &Counts, n: usize) -> (f64, usize) {
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = seed(
        dir.path(),
        &format!("[email]\nsmtp_url = \"smtp://127.0.0.1:{port}\"\nfrom = \"{FROM}\"\n"),
        "email",
        n,
    )
    .await;
    let transports = Transports::from_config(&config).unwrap();
    let secs = dispatch(&config, &db, &transports, "email", n).await;
    let size = check_sink("touchpoint", counts, n);
    db.close().await.unwrap();
    (rate(n, secs), size)
}

/// The dispatch with nothing sent: the database's and the rules' share.
async fn capture_touchpoint(channel: &str, n: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = seed(dir.path(), "", channel, n).await;
    let secs = dispatch(&config, &db, &Transports::capture(), channel, n).await;
    db.close().await.unwrap();
    rate(n, secs)
}

// --------------------------------------------------------------------- SMS

fn sms_config(base_url: &str) -> String {
    format!(
        "[sms]\nprovider = \"twilio\"\nbase_url = \"{base_url}\"\naccount_sid = \"{ACCOUNT_SID}\"\n\
         auth_token = \"secret\"\nfrom = \"+4930111222\"\nmessages_per_second = 0\n"
    )
}

async fn sms_bare(base_url: &str, catalog: &Catalog, n: usize) -> f64 {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .unwrap();
    let url = format!("{base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json");
    let (_, body) = rendered(catalog, "service_nudge", 0);
    let start = Instant::now();
    for i in 0..n {
        let to = phone(i);
        let response = client
            .post(&url)
            .basic_auth(ACCOUNT_SID, Some("secret"))
            .form(&[
                ("To", to.as_str()),
                ("From", "+4930111222"),
                ("Body", &body),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        response.text().await.unwrap();
    }
    rate(n, start.elapsed().as_secs_f64())
}

async fn sms_touchpoint(base_url: &str, n: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = seed(dir.path(), &sms_config(base_url), "sms", n).await;
    let transports = Transports::from_config(&config).unwrap();
    let secs = dispatch(&config, &db, &transports, "sms", n).await;
    db.close().await.unwrap();
    rate(n, secs)
}

async fn wiremock_received(server: &MockServer) -> usize {
    let n = server.received_requests().await.map_or(0, |r| r.len());
    server.reset().await;
    n
}

/// What one database round trip costs through the store (sea-orm over
/// sqlx-sqlite): a primary-key read, and an empty transaction; µs each.
async fn db_round_trips(n: usize) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let (_, db) = seed(dir.path(), "", "email", n).await;
    let start = Instant::now();
    for i in 0..n {
        let found = entities::customer::Entity::find_by_id(i as i64 + 1)
            .one(&db)
            .await
            .unwrap();
        assert!(found.is_some());
    }
    let read = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    let start = Instant::now();
    for _ in 0..n {
        db.begin().await.unwrap().commit().await.unwrap();
    }
    let txn = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    db.close().await.unwrap();
    (read, txn)
}

/// Both email loops against a sink that delays its ACKs as servers do.
async fn email_delayed_ack(catalog: &Catalog, n: usize) -> (f64, f64) {
    let (port, counts) = smtp_sink(false).await;
    let (bare, _) = email_bare(port, &counts, catalog, n).await;
    let (tp, _) = email_touchpoint(port, &counts, n).await;
    (bare, tp)
}

// -------------------------------------------------------------------- main

#[derive(Default)]
struct Figures {
    email_bare: Vec<f64>,
    email_touchpoint: Vec<f64>,
    email_capture: Vec<f64>,
    sms_bare_wiremock: Vec<f64>,
    sms_touchpoint_wiremock: Vec<f64>,
    sms_bare_http: Vec<f64>,
    sms_touchpoint_http: Vec<f64>,
    sms_capture: Vec<f64>,
    email_sizes: (usize, usize),
}

async fn round(figures: &mut Figures, n: usize, catalog: &Catalog) {
    let (smtp_port, smtp_counts) = smtp_sink(true).await;
    let (bare, bare_size) = email_bare(smtp_port, &smtp_counts, catalog, n).await;
    let (tp, tp_size) = email_touchpoint(smtp_port, &smtp_counts, n).await;
    figures.email_bare.push(bare);
    figures.email_touchpoint.push(tp);
    figures.email_sizes = (bare_size, tp_size);
    figures
        .email_capture
        .push(capture_touchpoint("email", n).await);

    let (http_url, http_counts) = http_sink().await;
    figures
        .sms_bare_http
        .push(sms_bare(&http_url, catalog, n).await);
    check_sink("SMS, bare reqwest", &http_counts, n);
    figures
        .sms_touchpoint_http
        .push(sms_touchpoint(&http_url, n).await);
    check_sink("SMS, touchpoint", &http_counts, n);

    let server = wiremock_sink().await;
    figures
        .sms_bare_wiremock
        .push(sms_bare(&server.uri(), catalog, n).await);
    assert_eq!(
        wiremock_received(&server).await,
        n,
        "SMS, bare reqwest: wiremock's count"
    );
    let server = wiremock_sink().await;
    figures
        .sms_touchpoint_wiremock
        .push(sms_touchpoint(&server.uri(), n).await);
    assert_eq!(
        wiremock_received(&server).await,
        n,
        "SMS, touchpoint: wiremock's count"
    );
    figures.sms_capture.push(capture_touchpoint("sms", n).await);
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let (n, rounds) = if measuring {
        (
            env_usize("TOUCHPOINT_BENCH_N", 2_000),
            env_usize("TOUCHPOINT_BENCH_ROUNDS", 3).max(1),
        )
    } else {
        (50, 1)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let catalog = Catalog::builtin().unwrap();
    let mut f = Figures::default();
    let (read_us, txn_us) = runtime.block_on(db_round_trips(n));
    let stalled = n.min(100);
    let (stalled_bare, stalled_tp) = runtime.block_on(email_delayed_ack(&catalog, stalled));
    runtime.block_on(async {
        for r in 1..=rounds {
            round(&mut f, n, &catalog).await;
            let last = |v: &Vec<f64>| v.last().copied().unwrap_or_default();
            println!(
                "round {r}/{rounds}, {n} messages each: email bare {:.0}, touchpoint {:.0}, capture {:.0}; \
                 sms bare {:.0} / {:.0}, touchpoint {:.0} / {:.0} (in-process HTTP / wiremock), capture {:.0} msg/s",
                last(&f.email_bare),
                last(&f.email_touchpoint),
                last(&f.email_capture),
                last(&f.sms_bare_http),
                last(&f.sms_bare_wiremock),
                last(&f.sms_touchpoint_http),
                last(&f.sms_touchpoint_wiremock),
                last(&f.sms_capture),
            );
        }
    });
    println!(
        "setup: {n} customers, one car each with {} touchpoints (one due), {rounds} round(s){}",
        plan_size(),
        if what_if_index() {
            "; WHAT-IF: with an index on touchpoints.message_id"
        } else {
            ""
        }
    );
    let bare = median(f.email_bare);
    let tp = median(f.email_touchpoint);
    let capture = median(f.email_capture);
    println!(
        "email: bare lettre {bare:.0} msg/s, touchpoint {tp:.0} msg/s ({:.2} of bare; goal >= 0.80){}",
        tp / bare,
        if tp / bare >= 0.80 {
            ""
        } else {
            " BELOW THE GOAL"
        }
    );
    println!(
        "email: {} / {} bytes per message (bare / touchpoint); per message {:.0} µs bare SMTP, \
         {:.0} µs touchpoint, of which {:.0} µs dispatch without sending (capture {capture:.0} msg/s)",
        f.email_sizes.0,
        f.email_sizes.1,
        1e6 / bare,
        1e6 / tp,
        1e6 / capture,
    );
    println!(
        "database: {read_us:.0} µs a primary-key read, {txn_us:.0} µs an empty transaction \
         (sea-orm over sqlx-sqlite, one connection)"
    );
    println!(
        "email, against a sink with delayed ACKs ({stalled} messages): bare lettre {stalled_bare:.0} msg/s, \
         touchpoint {stalled_tp:.0} msg/s: lettre's Nagle stall, about 40 ms a message"
    );
    let http = median(f.sms_touchpoint_http);
    let wire = median(f.sms_touchpoint_wiremock);
    let best = http.max(wire);
    println!(
        "sms: touchpoint {best:.0} msg/s (goal >= 500){}; in-process HTTP sink {http:.0}, wiremock {wire:.0}; \
         bare reqwest {:.0} / {:.0}; capture {:.0} msg/s",
        if best >= 500.0 { "" } else { " BELOW THE GOAL" },
        median(f.sms_bare_http),
        median(f.sms_bare_wiremock),
        median(f.sms_capture),
    );
}
