//! Crash safety: the real binary is killed (SIGKILL) again and again in the
//! middle of dispatching real emails to a real SMTP server and SMS to an
//! HTTP gateway (a mock of Twilio's API). Afterwards every message arrived
//! at most once, and each one either arrived and is `sent`, or its outcome
//! is unknown and it is `held` for review; none is lost. On every backend
//! under test.

use crate::helpers::{Instance, block_on};
use crate::smtp_server::SmtpServer;
use crate::support::seed_customer;
use assert_cmd::cargo::CommandCargoExt;
use chrono::{Duration, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use std::collections::HashMap;
use std::process::{Command, Stdio};
use touchpoint::store::entities::message;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PEOPLE: usize = 1000;

fn vin(i: usize) -> String {
    format!("WVWZZZ1JZXW{i:06}")
}

/// Each owner gets a welcome email and a welcome SMS three days after the
/// purchase.
const TEMPLATE: &str = r#"
[[touchpoint]]
code = "welcome-email"
channel = "email"
category = "service"
anchor = "purchase"
offset_days = 3
priority = 60
message = "onboarding_welcome"

[[touchpoint]]
code = "welcome-sms"
channel = "sms"
category = "service"
anchor = "purchase"
offset_days = 3
priority = 60
message = "onboarding_welcome"
"#;

/// How often each message arrived, by its identity at the receiving end.
fn arrivals(ids: impl Iterator<Item = String>) -> HashMap<String, usize> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for id in ids {
        *seen.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered twice: {twice:?}");
    seen
}

/// Every message of the channel exists once per owner and is sent or held;
/// each sent one arrived exactly once (`identity` names it as the receiving
/// end sees it).
fn check_channel(
    backend: &str,
    messages: &[message::Model],
    channel: &str,
    arrived: &HashMap<String, usize>,
    identity: impl Fn(&message::Model) -> String,
) {
    let ours: Vec<_> = messages.iter().filter(|m| m.channel == channel).collect();
    assert_eq!(
        ours.len(),
        PEOPLE,
        "{backend}: one {channel} per owner, none lost"
    );
    let sent = ours.iter().filter(|m| m.state == "sent").count();
    let held = ours.iter().filter(|m| m.state == "held").count();
    assert_eq!(
        sent + held,
        PEOPLE,
        "{backend}: every {channel} is sent or held: {:?}",
        ours.iter().map(|m| &m.state).collect::<Vec<_>>()
    );
    let total: usize = arrived.values().sum();
    eprintln!("{backend} {channel}: {sent} sent, {held} held, {total} delivered");
    // Both ends of the spectrum happened: kills mid-send and finished sends.
    assert!(
        sent > 0 && held > 0,
        "{backend} {channel}: {sent} sent, {held} held"
    );
    // What is marked sent did arrive; a held one may or may not have.
    assert!(
        total >= sent && total <= PEOPLE,
        "{backend} {channel}: {total} delivered, {sent} sent"
    );
    for m in ours.iter().filter(|m| m.state == "sent") {
        let id = identity(m);
        assert_eq!(arrived.get(&id), Some(&1), "{backend} {channel} {id}");
    }
}

/// On every backend under test, side by side: the kills are timed by the
/// clock, so the backends together take as long as one.
#[test]
fn killed_dispatchers_lose_nothing_and_send_nothing_twice() {
    crate::helpers::side_by_side(kill_dispatchers_again_and_again);
}

fn kill_dispatchers_again_and_again(instance: &Instance) {
    let backend = instance.backend;
    let sink = SmtpServer::start();
    let gateway = block_on(async {
        let gateway = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/2010-04-01/Accounts/AC1/Messages.json"))
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_json(serde_json::json!({"sid": "SM1", "status": "queued"}))
                    // A gateway that takes 20 ms a message: kills land mid-send.
                    .set_delay(std::time::Duration::from_millis(20)),
            )
            .mount(&gateway)
            .await;
        gateway
    });
    instance.write("plan.toml", TEMPLATE);
    instance.add_config(&format!(
        "[email]\nsmtp_url = \"smtp://127.0.0.1:{}\"\n\
         [sms]\nprovider = \"twilio\"\nbase_url = \"{}\"\naccount_sid = \"AC1\"\n\
         auth_token = \"t\"\nfrom = \"+4930111222\"\nmessages_per_second = 0\n\
         [plan]\ntemplate = \"plan.toml\"\n[dispatch]\nlease_secs = 10\n\
         [caps]\nmessages_per_7_days = 2\n\
         [quiet_hours.sms]\nstart = \"00:00\"\nend = \"24:00\"\nsundays = true\n",
        sink.port,
        gateway.uri()
    ));
    block_on(async {
        let db = instance.db().await;
        // Bought three days ago: each owner's welcome messages are due today
        // (the caps and SMS hours above let both go now, at any time of day).
        let purchase = (Utc::now() - Duration::days(3)).date_naive().to_string();
        for i in 0..PEOPLE {
            let v = vin(i);
            seed_customer(
                &db,
                &format!("C{i}"),
                // A relay that takes 20 ms a mail: the kills land mid-dispatch.
                &format!("slow{i}@example.com"),
                &[v.as_str()],
                &purchase,
            )
            .await;
        }
        // A phone number of each owner's own, to tell their SMS apart.
        db.execute_unprepared(
            "UPDATE customers SET phone = '+49151' || substr(CAST(10000000 + id AS TEXT), 2)",
        )
        .await
        .unwrap();
    });

    let dispatch = || {
        let mut cmd = Command::cargo_bin("touchpoint").unwrap();
        cmd.arg("--config")
            .arg(&instance.config)
            .arg("dispatch")
            .env_remove("TOUCHPOINT_CONFIG");
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        cmd
    };
    let mut kills = 0;
    for round in 0..30u64 {
        let mut child = dispatch().spawn().unwrap();
        // Kill it somewhere between start-up and well into its sends.
        std::thread::sleep(std::time::Duration::from_millis(15 + (round * 211) % 2500));
        match child.try_wait().unwrap() {
            Some(_) => {}
            None => {
                child.kill().unwrap();
                kills += 1;
            }
        }
        child.wait().unwrap();
    }
    assert!(
        kills >= 10,
        "{backend}: only {kills} runs were killed mid-way"
    );
    // Let the leases of interrupted sends run out, then finish normally.
    std::thread::sleep(std::time::Duration::from_secs(11));
    assert!(dispatch().status().unwrap().success(), "{backend}");
    assert!(dispatch().status().unwrap().success(), "{backend}");
    eprintln!("{backend}: {kills} kills");

    let messages = block_on(async {
        message::Entity::find()
            .filter(message::Column::Channel.is_in(["email", "sms"]))
            .all(&instance.db().await)
            .await
            .unwrap()
    });

    let mails = arrivals(sink.delivered().iter().map(|mail| {
        mail.lines()
            .find(|l| l.starts_with("Message-ID:"))
            .unwrap()
            .to_string()
    }));
    check_channel(backend, &messages, "email", &mails, |m| {
        format!("Message-ID: <{}@touchpoint>", m.key.replace(':', "."))
    });

    let requests = block_on(gateway.received_requests()).unwrap();
    let texts = arrivals(requests.iter().map(|r| {
        url::form_urlencoded::parse(&r.body)
            .find(|(k, _)| k == "To")
            .map(|(_, v)| v.into_owned())
            .unwrap()
    }));
    check_channel(backend, &messages, "sms", &texts, |m| m.recipient.clone());
}
