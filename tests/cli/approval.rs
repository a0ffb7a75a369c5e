//! Approval mode (`[approval]`): a message of an approved-only code waits,
//! unsent, for an administrator; approved, it goes out once; unapproved, it
//! expires at its deadline, or goes out then when `on_deadline = "send"`.
//! On every backend, through the application's passes and review actions.

use crate::support::{databases, load_csv, pass, touchpoint_of};
use chrono::{Duration, NaiveTime, Utc};
use sea_orm::DatabaseConnection;
use touchpoint::app::{self, held};
use touchpoint::config::Config;

const VIN_A: &str = "WVWZZZ3CZPE000201";
const VIN_B: &str = "WVWZZZ3CZPE000202";

/// Two owners whose cars were bought yesterday: their welcome emails (an
/// approved-only code here) fall due together.
async fn bases(
    dir: &std::path::Path,
    on_deadline: &str,
) -> Vec<(String, DatabaseConnection, Config)> {
    let mut out = Vec::new();
    for (i, (url, db, _)) in databases(dir).await.into_iter().enumerate() {
        let path = dir.join(format!("approval-{i}.toml"));
        std::fs::write(
            &path,
            format!(
                "[database]\nurl = \"{url}\"\n[outbox]\ndir = \"{}/outbox-{i}\"\n\
                 [plan]\ndefault_timezone = \"UTC\"\n\
                 [approval]\ncodes = [\"onboarding-welcome\"]\nwait_hours = 24\non_deadline = \"{on_deadline}\"\n",
                dir.display()
            ),
        )
        .unwrap();
        let config = Config::load(Some(&path)).unwrap();
        let bought = (Utc::now().date_naive() - Duration::days(1)).to_string();
        let customers = "customer_id,name,email,phone,timezone,birthday,consent_email_marketing,consent_sms_marketing,locale\r\n\
             A1,Lea Wolf,lea@example.com,,UTC,,false,false,en\r\n\
             B1,Max Roth,max@example.com,,UTC,,false,false,en\r\n";
        let vehicles = format!(
            "vin,customer_id,make,model,model_year,purchase_date,purchase_odometer_km,avg_monthly_km\r\n\
             {VIN_A},A1,Skoda,Octavia,2025,{bought},0,\r\n\
             {VIN_B},B1,Skoda,Fabia,2025,{bought},0,\r\n"
        );
        let now = Utc::now();
        load_csv(&db, &config, customers, &vehicles, now).await;
        // The first pass plans them (and rings nobody: no phones).
        pass(&db, &config, now).await;
        let backend = if url.starts_with("sqlite") {
            "sqlite"
        } else {
            "postgres"
        };
        out.push((backend.to_string(), db, config));
    }
    out
}

fn welcome(vin: &str) -> String {
    format!("{vin}:onboarding-welcome:0:1")
}

/// The emails in the outbox, as their files' texts.
fn emails(config: &Config) -> Vec<String> {
    let dir = config.resolve(&config.settings.outbox.dir).join("email");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect()
}

/// Noon UTC of the welcome emails' due day: the pass that finds them due.
async fn due_noon(db: &DatabaseConnection) -> chrono::DateTime<Utc> {
    let due = touchpoint_of(db, &welcome(VIN_A)).await.due_date;
    due.and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap())
        .and_utc()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_messages_go_once_and_unapproved_ones_expire() {
    let dir = tempfile::tempdir().unwrap();
    for (b, db, config) in bases(dir.path(), "expire").await {
        let noon = due_noon(&db).await;
        let report = pass(&db, &config, noon).await;
        assert_eq!(report.awaiting_approval, 2, "{b}: {report:?}");
        assert!(
            !emails(&config).iter().any(|e| e.contains("Welcome")),
            "{b}: nothing goes out unapproved"
        );
        let waiting = held::list(&db).await.unwrap();
        assert_eq!(waiting.len(), 2, "{b}: {waiting:?}");
        let status = app::status::status(&db, &config, noon).await.unwrap();
        assert_eq!(status.held_messages, 2, "{b}: status counts them");
        let deadline =
            (noon + Duration::hours(24)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        for h in &waiting {
            assert_eq!(h.state, "awaiting_approval", "{b}");
            assert_eq!(h.deadline.as_deref(), Some(deadline.as_str()), "{b}");
            assert!(h.body.contains("welcome"), "{b}: {}", h.body);
        }
        let t = touchpoint_of(&db, &welcome(VIN_A)).await;
        assert_eq!(t.state, "held", "{b}");
        assert_eq!(
            t.reason.as_deref(),
            Some(format!("awaiting approval until {deadline}").as_str()),
            "{b}"
        );
        // A later pass before the deadline sends nothing of them.
        let report = pass(&db, &config, noon + Duration::hours(1)).await;
        assert_eq!(report.awaiting_approval, 0, "{b}: {report:?}");
        assert!(
            !emails(&config).iter().any(|e| e.contains("Welcome")),
            "{b}"
        );

        // Lea's is approved: the next pass sends it, once.
        let lea = waiting.iter().find(|h| h.customer_id == "A1").unwrap();
        let approved = held::approve(
            &db,
            lea.id,
            "admin@dealer.example",
            noon + Duration::hours(2),
        )
        .await
        .unwrap();
        assert_eq!(approved.touchpoints, [welcome(VIN_A)], "{b}");
        pass(&db, &config, noon + Duration::hours(2)).await;
        pass(&db, &config, noon + Duration::hours(3)).await;
        let sent: Vec<String> = emails(&config)
            .into_iter()
            .filter(|e| e.contains("Welcome"))
            .collect();
        assert_eq!(sent.len(), 1, "{b}: {sent:?}");
        assert!(sent[0].contains("lea@example.com"), "{b}: {}", sent[0]);
        assert_eq!(
            touchpoint_of(&db, &welcome(VIN_A)).await.state,
            "sent",
            "{b}"
        );

        // Max's is never approved: at the deadline it expires.
        let report = pass(&db, &config, noon + Duration::hours(25)).await;
        assert_eq!(report.approval_expired, 1, "{b}: {report:?}");
        let t = touchpoint_of(&db, &welcome(VIN_B)).await;
        assert_eq!(t.state, "cancelled", "{b}");
        assert_eq!(
            t.reason.as_deref(),
            Some(format!("not approved by {deadline}: expired").as_str()),
            "{b}"
        );
        assert!(held::list(&db).await.unwrap().is_empty(), "{b}");
        let welcomes = emails(&config)
            .iter()
            .filter(|e| e.contains("Welcome"))
            .count();
        assert_eq!(welcomes, 1, "{b}: Max got none");
        // Too late to approve.
        let e = held::approve(
            &db,
            lea.id + 1,
            "admin@dealer.example",
            noon + Duration::hours(26),
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("not held for review"), "{b}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unapproved_messages_go_at_the_deadline_when_so_configured() {
    let dir = tempfile::tempdir().unwrap();
    for (b, db, config) in bases(dir.path(), "send").await {
        let noon = due_noon(&db).await;
        assert_eq!(pass(&db, &config, noon).await.awaiting_approval, 2, "{b}");
        // Max opts out of email meanwhile; Lea's waits out its deadline.
        app::opt_outs::set(&db, "B1", touchpoint::domain::Channel::Email, true, noon)
            .await
            .unwrap();
        let before = pass(&db, &config, noon + Duration::hours(23)).await;
        assert_eq!(before.approval_lapsed_sent, 0, "{b}: {before:?}");
        let report = pass(&db, &config, noon + Duration::hours(24)).await;
        assert_eq!(report.approval_lapsed_sent, 1, "{b}: {report:?}");
        assert_eq!(
            report.approval_expired, 1,
            "{b}: Max's is not sent: {report:?}"
        );
        let deadline =
            (noon + Duration::hours(24)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        assert_eq!(
            touchpoint_of(&db, &welcome(VIN_B)).await.reason.as_deref(),
            Some(
                format!("not approved by {deadline}: the owner opted out of email meanwhile")
                    .as_str()
            ),
            "{b}"
        );
        assert_eq!(report.sent.get("email"), Some(&1), "{b}: {report:?}");
        let sent: Vec<String> = emails(&config)
            .into_iter()
            .filter(|e| e.contains("Welcome"))
            .collect();
        assert_eq!(sent.len(), 1, "{b}: {sent:?}");
        assert!(sent[0].contains("lea@example.com"), "{b}");
        assert_eq!(
            touchpoint_of(&db, &welcome(VIN_A)).await.state,
            "sent",
            "{b}"
        );
        assert_eq!(
            touchpoint_of(&db, &welcome(VIN_B)).await.state,
            "cancelled",
            "{b}"
        );
        pass(&db, &config, noon + Duration::hours(48)).await;
        let again = emails(&config)
            .iter()
            .filter(|e| e.contains("Welcome"))
            .count();
        assert_eq!(again, 1, "{b}: exactly once");
    }
}
