//! Passes that overlap: an operator's manual `dispatch` while the daemon
//! runs, several instances of a dealer
//! group on one database. Three `touchpoint dispatch` processes start at
//! once on a base that has never been planned; every one exits 0 and every
//! message goes out once, on every backend under test.

use crate::helpers::{Instance, block_on, instances, stderr};
use crate::smtp_server::SmtpServer;
use crate::support::seed_customer;
use assert_cmd::cargo::CommandCargoExt;
use chrono::{Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use std::collections::HashMap;
use touchpoint::store::entities::{self, message};

const PEOPLE: usize = 1000;
const PASSES: usize = 3;

#[test]
fn overlapping_passes_all_succeed_and_send_each_message_once() {
    crate::helpers::side_by_side(three_passes_at_once);
}

fn three_passes_at_once(tp: &Instance) {
    let backend = tp.backend;
    let sink = SmtpServer::start();
    tp.add_config(&format!(
        "[email]\nsmtp_url = \"smtp://127.0.0.1:{}\"\n",
        sink.port
    ));
    block_on(async {
        let db = tp.db().await;
        // Bought three days ago: each owner's welcome email is due today,
        // and each car's whole cycle (36 touchpoints) is still to be planned.
        let purchase = (Utc::now() - Duration::days(3)).date_naive().to_string();
        for i in 0..PEOPLE {
            let vin = format!("WVWZZZ1JZXW{i:06}");
            seed_customer(
                &db,
                &format!("C{i}"),
                &format!("owner{i}@example.com"),
                &[vin.as_str()],
                &purchase,
            )
            .await;
        }
    });

    let passes: Vec<_> = (0..PASSES)
        .map(|_| {
            std::process::Command::cargo_bin("touchpoint")
                .unwrap()
                .env_remove("TOUCHPOINT_CONFIG")
                .arg("--config")
                .arg(&tp.config)
                .arg("dispatch")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut busy = 0;
    for pass in passes {
        let out = pass.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{backend}: an overlapping pass failed: {}",
            stderr(&out)
        );
        let text = crate::helpers::stdout(&out);
        eprintln!("{backend}: {}", text.lines().next().unwrap_or_default());
        busy += usize::from(text.contains("another pass is planning"));
    }
    // PostgreSQL's planners do not wait for one another: those that find
    // the lock taken go on to dispatch (SQLite's wait for the write lock).
    if backend == "postgres" {
        assert!(busy > 0, "{backend}: the passes did not overlap");
    }

    let (messages, touchpoints) = block_on(async {
        let db = tp.db().await;
        let messages = message::Entity::find()
            .filter(message::Column::Channel.eq("email"))
            .all(&db)
            .await
            .unwrap();
        let touchpoints = entities::touchpoint::Entity::find()
            .count(&db)
            .await
            .unwrap();
        (messages, touchpoints)
    });
    assert_eq!(
        touchpoints,
        36 * PEOPLE as u64,
        "{backend}: one plan per car"
    );
    assert_eq!(messages.len(), PEOPLE, "{backend}: one welcome email each");
    let unsent: Vec<_> = messages.iter().filter(|m| m.state != "sent").collect();
    assert!(unsent.is_empty(), "{backend}: not sent: {unsent:?}");
    let mut arrived: HashMap<String, usize> = HashMap::new();
    for mail in sink.delivered() {
        let id = mail
            .lines()
            .find(|l| l.starts_with("Message-ID:"))
            .unwrap()
            .to_string();
        *arrived.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = arrived.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "{backend}: delivered twice: {twice:?}");
    assert_eq!(arrived.len(), PEOPLE, "{backend}: every email arrived");
}

/// On PostgreSQL the planning lock belongs to the schema: a second planner
/// of the same installation finds it taken, one of another installation in
/// its own schema of the same database does not.
#[test]
fn the_planning_lock_is_per_installation() {
    let installations = [instances(), instances()];
    let Some(postgres) = installations
        .iter()
        .map(|i| i.iter().find(|tp| tp.backend == "postgres"))
        .collect::<Option<Vec<_>>>()
    else {
        return;
    };
    block_on(async {
        let (a, a_again, b) = (
            postgres[0].db().await,
            postgres[0].db().await,
            postgres[1].db().await,
        );
        let held = touchpoint::store::begin_planning(&a).await.unwrap();
        assert!(held.is_some(), "the first planner takes the lock");
        let again = touchpoint::store::begin_planning(&a_again).await.unwrap();
        assert!(
            again.is_none(),
            "a second planner of one installation waits its turn"
        );
        let other = touchpoint::store::begin_planning(&b).await.unwrap();
        assert!(
            other.is_some(),
            "another installation plans at the same time"
        );
        held.unwrap().rollback().await.unwrap();
        let after = touchpoint::store::begin_planning(&a_again).await.unwrap();
        assert!(after.is_some(), "the lock ends with its transaction");
    });
}
