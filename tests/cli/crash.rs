//! Crash safety: the real binary is killed (SIGKILL) again and again in the
//! middle of dispatching real emails to a real SMTP server. Afterwards every
//! message arrived at most once, and each one either arrived and is `sent`,
//! or its outcome is unknown and it is `held` for review; none is lost.

use crate::smtp::SmtpSink;
use crate::support::seed_customer;
use assert_cmd::cargo::CommandCargoExt;
use chrono::{Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::collections::HashMap;
use std::process::{Command, Stdio};
use touchpoint::config::Config;
use touchpoint::store::{self, entities::message};

const PEOPLE: usize = 400;

fn vin(i: usize) -> String {
    format!("WVWZZZ1JZXW{i:06}")
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_dispatchers_lose_nothing_and_send_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(dir.path());
    let cfg = dir.path().join("touchpoint.toml");
    std::fs::write(
        &cfg,
        format!(
            "[database]\nurl = \"sqlite://{}/t.db\"\n[email]\nsmtp_url = \"smtp://127.0.0.1:{}\"\n[dispatch]\nlease_secs = 10\n",
            dir.path().display(),
            sink.port
        ),
    )
    .unwrap();
    let config = Config::load(Some(&cfg)).unwrap();
    let db = store::connect(&config.database_url(), 1).await.unwrap();
    store::migrate(&db).await.unwrap();
    // Bought three days ago: each owner's welcome email is due today.
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
    drop(db);

    let dispatch = || {
        let mut cmd = Command::cargo_bin("touchpoint").unwrap();
        cmd.arg("--config")
            .arg(&cfg)
            .arg("dispatch")
            .env_remove("TOUCHPOINT_CONFIG");
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        cmd
    };
    let mut kills = 0;
    for round in 0..40u64 {
        let mut child = dispatch().spawn().unwrap();
        // Kill it somewhere between start-up and the end of its sends.
        std::thread::sleep(std::time::Duration::from_millis(15 + (round * 37) % 250));
        match child.try_wait().unwrap() {
            Some(_) => {}
            None => {
                child.kill().unwrap();
                kills += 1;
            }
        }
        child.wait().unwrap();
    }
    assert!(kills >= 10, "only {kills} runs were killed mid-way");
    // Let the leases of interrupted sends run out, then finish normally.
    std::thread::sleep(std::time::Duration::from_secs(11));
    assert!(dispatch().status().unwrap().success());
    assert!(dispatch().status().unwrap().success());

    let delivered = sink.delivered();
    let mut arrivals: HashMap<String, usize> = HashMap::new();
    for mail in &delivered {
        let id = mail
            .lines()
            .find(|l| l.starts_with("Message-ID:"))
            .unwrap()
            .to_string();
        *arrivals.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = arrivals.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered twice: {twice:?}");

    let db = store::connect(&config.database_url(), 1).await.unwrap();
    let emails = message::Entity::find()
        .filter(message::Column::Channel.eq("email"))
        .all(&db)
        .await
        .unwrap();
    assert_eq!(
        emails.len(),
        PEOPLE,
        "one welcome email per owner, none lost"
    );
    let sent = emails.iter().filter(|m| m.state == "sent").count();
    let held = emails.iter().filter(|m| m.state == "held").count();
    assert_eq!(
        sent + held,
        PEOPLE,
        "every email is sent or held: {:?}",
        emails.iter().map(|m| &m.state).collect::<Vec<_>>()
    );
    eprintln!(
        "{kills} kills: {sent} sent, {held} held, {} delivered",
        delivered.len()
    );
    // What is marked sent did arrive; a held one may or may not have.
    assert!(
        delivered.len() >= sent && delivered.len() <= PEOPLE,
        "{} delivered, {sent} sent",
        delivered.len()
    );
    for m in emails.iter().filter(|m| m.state == "sent") {
        let id = format!("Message-ID: <{}@touchpoint>", m.key.replace(':', "."));
        assert_eq!(arrivals.get(&id), Some(&1), "{id}");
    }
}
