//! Several daemons of a dealer group on one PostgreSQL: three `touchpoint
//! run` processes share the due work (claims with `FOR UPDATE SKIP
//! LOCKED`), one is killed (SIGKILL) in the middle of its sends, and still
//! every due email reaches the real SMTP server once at most: each one sent
//! exactly once, or held for review when the killed daemon's send was in
//! flight (its lease ran out; its outcome is unknown). Work is done by more
//! than one daemon, and the survivors log no error.

use crate::helpers;
use crate::http::Daemon;
use crate::smtp_server::SmtpServer;
use crate::support::seed_customer;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use touchpoint::store::entities::message;

const PEOPLE: usize = 400;

/// The emails a daemon's log says it sent, over all its passes.
fn sent_by(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("pass done"))
        .filter_map(|l| {
            let at = l.find("\"email\": ")? + "\"email\": ".len();
            l[at..]
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum()
}

#[test]
fn three_daemons_share_the_work_and_a_killed_one_sends_nothing_twice() {
    let Some(instance) = helpers::instances()
        .into_iter()
        .find(|i| i.backend == "postgres")
    else {
        eprintln!(
            "scaleout::three_daemons_share_the_work_and_a_killed_one_sends_nothing_twice: PostgreSQL skipped (TOUCHPOINT_TEST_POSTGRES_URL is not set)"
        );
        return;
    };
    // A relay that takes 20 ms a message (recipients named `slow…`).
    let sink = SmtpServer::start();
    instance.add_config(&format!(
        "[email]\nsmtp_url = \"smtp://127.0.0.1:{}\"\n[dispatch]\nlease_secs = 10\nconcurrency = 2\n",
        sink.port
    ));
    helpers::block_on(async {
        let db = instance.db().await;
        let purchase = (chrono::Utc::now() - chrono::Duration::days(3))
            .date_naive()
            .to_string();
        for i in 0..PEOPLE {
            seed_customer(
                &db,
                &format!("C{i}"),
                &format!("slow{i}@example.com"),
                &[&format!("WVWZZZ1JZXW{i:06}")],
                &purchase,
            )
            .await;
        }
    });
    let mut daemons: Vec<Daemon> = (0..3).map(|_| Daemon::start(&instance)).collect();
    // The first daemon is killed once mail is flowing.
    let started = Instant::now();
    while sink.delivered().len() < PEOPLE / 10 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no mail is flowing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    daemons[0].signal("-KILL");
    // The survivors go on; the killed daemon's sends in flight are held once
    // their lease has run out.
    // One runtime for the pool and every query through it.
    let messages = helpers::block_on(async {
        let db = instance.db().await;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let messages = message::Entity::find()
                .filter(message::Column::Channel.eq("email"))
                .all(&db)
                .await
                .unwrap();
            let settled = messages
                .iter()
                .all(|m| m.state == "sent" || m.state == "held");
            if messages.len() == PEOPLE && settled {
                break messages;
            }
            assert!(Instant::now() < deadline, "the work did not finish");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let survivors: Vec<(std::process::ExitStatus, String)> =
        daemons.drain(1..).map(|d| d.stop("postgres")).collect();
    let (_, killed_log) = daemons.remove(0).stop("postgres");

    let mut arrived: HashMap<String, usize> = HashMap::new();
    for mail in sink.delivered() {
        let to = mail
            .lines()
            .find_map(|l| l.strip_prefix("To: "))
            .unwrap_or_default()
            .to_string();
        *arrived.entry(to).or_default() += 1;
    }
    let twice: Vec<_> = arrived.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered twice: {twice:?}");
    for m in &messages {
        let got = arrived.get(&m.recipient).copied().unwrap_or(0);
        match m.state.as_str() {
            "sent" => assert_eq!(got, 1, "{} is sent but arrived {got} times", m.recipient),
            // Held: the killed daemon's send, arrived or not; never resent.
            _ => assert!(got <= 1, "{}", m.recipient),
        }
    }
    let held = messages.iter().filter(|m| m.state == "held").count();
    eprintln!(
        "scale-out: {} sent, {held} held after the kill; sent per survivor {:?}; the killed one sent {} in its finished passes",
        messages.len() - held,
        survivors
            .iter()
            .map(|(_, log)| sent_by(log))
            .collect::<Vec<_>>(),
        sent_by(&killed_log)
    );
    let workers = survivors.iter().filter(|(_, log)| sent_by(log) > 0).count()
        + usize::from(sent_by(&killed_log) > 0);
    assert!(workers >= 2, "one daemon did all the work");
    for (status, log) in &survivors {
        assert!(status.success(), "{log}");
        let errors: Vec<&str> = log.lines().filter(|l| l.contains(" ERROR ")).collect();
        assert!(errors.is_empty(), "a survivor logged errors: {errors:?}");
    }
}
