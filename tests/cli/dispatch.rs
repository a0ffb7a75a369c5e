//! The dispatch pass on real databases with the outbox-folder transport:
//! merged messages for two cars, call tasks, idempotent passes, quiet hours,
//! and an interrupted send held for review instead of resent.

use crate::support::{databases, drop_test_schema, seed};
use chrono::{DateTime, Duration, TimeZone, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
};
use touchpoint::app::Dispatcher;
use touchpoint::app::planning_pass;
use touchpoint::config::Config;
use touchpoint::dispatch::{DispatchReport, HELD_REASON, Transports};
use touchpoint::messages::Catalog;
use touchpoint::store::entities::{call_task, message, touchpoint as tp};

async fn tick(db: &DatabaseConnection, config: &Config, now: DateTime<Utc>) -> DispatchReport {
    planning_pass(db, config, now).await.unwrap();
    let catalog = Catalog::builtin().unwrap();
    let transports = Transports::from_config(config).unwrap();
    Dispatcher::new(db, config, &transports, &catalog)
        .pass(now)
        .await
        .unwrap()
}

fn files(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["email", "sms"] {
        if let Ok(entries) = std::fs::read_dir(dir.join(sub)) {
            for e in entries {
                out.push(format!(
                    "{sub}/{}",
                    e.unwrap().file_name().to_string_lossy()
                ));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn two_cars_one_owner_get_one_message_each_time_and_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    for (url, db, config) in databases(dir.path()).await {
        let vins = ["WVWZZZ1JZXW000001", "TMBZZZ1ZZXW000002"];
        let (customer_id, _) = seed(&db, &vins, "2025-11-20").await;
        let outbox = config.outbox_dir();

        // Friday 21 Nov 2025, 11:00 in Berlin: the thank-you calls of both cars,
        // merged into the first key (by priority, date, then key).
        let friday = Utc.with_ymd_and_hms(2025, 11, 21, 10, 0, 0).unwrap();
        let report = tick(&db, &config, friday).await;
        assert_eq!(report.sent.get("call"), Some(&1), "{url}: {report:?}");
        assert_eq!(report.merged, 1, "{url}");
        let tasks = call_task::Entity::find().all(&db).await.unwrap();
        assert_eq!(tasks.len(), 1, "{url}");
        assert!(
            tasks[0].script.contains("Skoda Octavia and VW Golf"),
            "{url}: {}",
            tasks[0].script
        );
        assert_eq!(tasks[0].state, "open");

        // The same pass again: nothing new.
        let again = tick(&db, &config, friday).await;
        assert!(again.sent.is_empty(), "{url}: {again:?}");
        assert_eq!(
            call_task::Entity::find().all(&db).await.unwrap().len(),
            1,
            "{url}"
        );

        // Sunday 23 Nov: the welcome email (email has no quiet hours), one for both cars.
        let sunday = Utc.with_ymd_and_hms(2025, 11, 23, 9, 0, 0).unwrap();
        let report = tick(&db, &config, sunday).await;
        assert_eq!(report.sent.get("email"), Some(&1), "{url}: {report:?}");
        let written = files(&outbox);
        assert_eq!(
            written,
            vec!["email/TMBZZZ1ZZXW000002_onboarding-welcome_0_1.eml".to_string()],
            "{url}"
        );
        let eml = std::fs::read_to_string(
            outbox.join("email/TMBZZZ1ZZXW000002_onboarding-welcome_0_1.eml"),
        )
        .unwrap();
        assert!(
            eml.contains("Message-ID: <TMBZZZ1ZZXW000002.onboarding-welcome.0.1@touchpoint>"),
            "{eml}"
        );
        assert!(eml.contains("To: anna@example.com"), "{eml}");

        // Thursday 4 Dec, 21:30 in Berlin: the check-in SMS waits for 09:00.
        let evening = Utc.with_ymd_and_hms(2025, 12, 4, 20, 30, 0).unwrap();
        let report = tick(&db, &config, evening).await;
        assert!(!report.sent.contains_key("sms"), "{url}: {report:?}");
        let sms = tp::Entity::find()
            .filter(tp::Column::DedupKey.eq("WVWZZZ1JZXW000001:onboarding-checkin:0:1"))
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(sms.state, "deferred", "{url}");
        assert_eq!(
            sms.next_attempt_at,
            Some(Utc.with_ymd_and_hms(2025, 12, 5, 8, 0, 0).unwrap()),
            "{url}"
        );
        let morning = Utc.with_ymd_and_hms(2025, 12, 5, 8, 0, 0).unwrap();
        let report = tick(&db, &config, morning).await;
        assert_eq!(report.sent.get("sms"), Some(&1), "{url}: {report:?}");

        // Every message is stored once per key, and the person's messages
        // keep the 1-in-7-days cap.
        let messages = message::Entity::find()
            .filter(message::Column::CustomerId.eq(customer_id))
            .all(&db)
            .await
            .unwrap();
        let mut sends: Vec<_> = messages
            .iter()
            .filter(|m| m.channel != "call")
            .map(|m| m.created_at)
            .collect();
        sends.sort();
        for w in sends.windows(2) {
            assert!(w[1] - w[0] >= Duration::days(7), "{url}: {sends:?}");
        }
        drop_test_schema(&db, &url).await;
    }
}

#[tokio::test]
async fn an_interrupted_send_is_held_for_review_not_resent() {
    let dir = tempfile::tempdir().unwrap();
    for (url, db, config) in databases(dir.path()).await {
        seed(&db, &["WVWZZZ1JZXW000001"], "2025-11-20").await;
        let sunday = Utc.with_ymd_and_hms(2025, 11, 23, 9, 0, 0).unwrap();
        planning_pass(&db, &config, sunday).await.unwrap();
        // A dispatcher claimed the welcome email and died before the outcome.
        let tp = tp::Entity::find()
            .filter(tp::Column::DedupKey.eq("WVWZZZ1JZXW000001:onboarding-welcome:0:1"))
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        let m = message::ActiveModel {
            key: Set(tp.dedup_key.clone()),
            customer_id: Set(tp.customer_id),
            channel: Set("email".into()),
            recipient: Set("anna@example.com".into()),
            locale: Set("en".into()),
            subject: Set("Welcome".into()),
            body: Set("…".into()),
            state: Set("sending".into()),
            attempts: Set(1),
            lease_until: Set(Some(sunday + Duration::seconds(300))),
            created_at: Set(sunday),
            updated_at: Set(sunday),
            ..Default::default()
        }
        .insert(&db)
        .await
        .unwrap();
        let mut claimed: tp::ActiveModel = tp.into();
        claimed.state = Set("sending".into());
        claimed.message_id = Set(Some(m.id));
        claimed.update(&db).await.unwrap();

        // Within the lease nothing happens; after it, the send is held.
        let report = tick(&db, &config, sunday + Duration::seconds(60)).await;
        assert_eq!(report.held, 0, "{url}");
        let report = tick(&db, &config, sunday + Duration::seconds(600)).await;
        assert_eq!(report.held, 1, "{url}");
        assert!(!report.sent.contains_key("email"), "{url}: {report:?}");
        let held = message::Entity::find_by_id(m.id)
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(held.state, "held", "{url}");
        let tp = tp::Entity::find()
            .filter(tp::Column::MessageId.eq(m.id))
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (tp.state.as_str(), tp.reason.as_deref()),
            ("held", Some(HELD_REASON)),
            "{url}"
        );
        assert!(files_in(&config).is_empty(), "{url}: nothing was written");
        drop_test_schema(&db, &url).await;
    }
}

fn files_in(config: &Config) -> Vec<String> {
    files(&config.outbox_dir())
}

#[tokio::test]
async fn next_wake_is_the_earliest_planned_day_or_deferral() {
    use sea_orm::QueryOrder;
    let dir = tempfile::tempdir().unwrap();
    for (url, db, config) in databases(dir.path()).await {
        seed(&db, &["WVWZZZ1JZXW000001"], "2025-11-20").await;
        let catalog = Catalog::builtin().unwrap();
        let transports = Transports::from_config(&config).unwrap();
        let dispatcher = Dispatcher::new(&db, &config, &transports, &catalog);
        assert_eq!(dispatcher.next_wake().await.unwrap(), None, "{url}: empty");

        let friday = Utc.with_ymd_and_hms(2025, 11, 21, 10, 0, 0).unwrap();
        planning_pass(&db, &config, friday).await.unwrap();
        let first = tp::Entity::find()
            .filter(tp::Column::State.eq("planned"))
            .order_by_asc(tp::Column::DueDate)
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        // The planned day begins first at UTC+14.
        let day_begins =
            first.due_date.and_hms_opt(0, 0, 0).unwrap().and_utc() - Duration::hours(14);
        assert_eq!(
            dispatcher.next_wake().await.unwrap(),
            Some(day_begins),
            "{url}"
        );

        // Thursday 4 Dec 2025, 07:00 in Berlin: the SMS check-in waits for
        // quiet hours to end at 09:00, and that deferral is next.
        let early = Utc.with_ymd_and_hms(2025, 12, 4, 6, 0, 0).unwrap();
        planning_pass(&db, &config, early).await.unwrap();
        dispatcher.pass(early).await.unwrap();
        let deferred = tp::Entity::find()
            .filter(tp::Column::State.eq("deferred"))
            .order_by_asc(tp::Column::NextAttemptAt)
            .one(&db)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{url}: nothing deferred"));
        let nine = Utc.with_ymd_and_hms(2025, 12, 4, 8, 0, 0).unwrap();
        assert_eq!(deferred.next_attempt_at, Some(nine), "{url}");
        let wake = dispatcher.next_wake().await.unwrap().unwrap();
        assert!(wake <= nine, "{url}: {wake}");
        drop_test_schema(&db, &url).await;
    }
}

/// The thank-you after a service (`service-thanks`, two days after the
/// visit) goes out when the visit was recorded, and is cancelled with the
/// reason when its day comes and no visit was.
#[tokio::test]
async fn a_thank_you_follows_a_recorded_visit_and_is_cancelled_without_one() {
    use crate::support::{pass, record_service, seed_customer, touchpoint_of};
    use touchpoint::dispatch::NO_VISIT_REASON;
    let dir = tempfile::tempdir().unwrap();
    for (url, db, config) in databases(dir.path()).await {
        // Two owners, cars bought on 2025-05-20: first service due 2026-05-20.
        let (visited, absent) = ("WVWZZZ1JZXW000001", "TMBZZZ1ZZXW000002");
        let car = seed_customer(&db, "C1", "anna@example.com", &[visited], "2025-05-20")
            .await
            .1[0];
        seed_customer(&db, "C2", "bert@example.com", &[absent], "2025-05-20").await;
        pass(
            &db,
            &config,
            Utc.with_ymd_and_hms(2026, 5, 6, 8, 0, 0).unwrap(),
        )
        .await;
        let thanks = |vin: &str| format!("{vin}:service-thanks:0:1");

        // The first owner comes in early, on Thursday 7 May 2026.
        record_service(&db, car, "2026-05-07", 15_500).await;
        // Saturday 9 May, 10:00 in Berlin: two days after the visit.
        let saturday = Utc.with_ymd_and_hms(2026, 5, 9, 8, 0, 0).unwrap();
        let report = pass(&db, &config, saturday).await;
        assert_eq!(report.sent.get("sms"), Some(&1), "{url}: {report:?}");
        let sent = touchpoint_of(&db, &thanks(visited)).await;
        assert_eq!(
            (sent.state.as_str(), sent.due_date),
            ("sent", crate::support::d("2026-05-09")),
            "{url}"
        );
        assert!(
            files_in(&config).contains(&format!("sms/{visited}_service-thanks_0_1.txt")),
            "{url}: {:?}",
            files_in(&config)
        );
        // The other owner's thank-you waits for its day (due date + 2).
        assert_eq!(touchpoint_of(&db, &thanks(absent)).await.state, "planned");

        // Friday 22 May: no visit recorded for the other car.
        let friday = Utc.with_ymd_and_hms(2026, 5, 22, 8, 0, 0).unwrap();
        let report = pass(&db, &config, friday).await;
        let cancelled = touchpoint_of(&db, &thanks(absent)).await;
        assert_eq!(
            (cancelled.state.as_str(), cancelled.reason.as_deref()),
            ("cancelled", Some(NO_VISIT_REASON)),
            "{url}: {report:?}"
        );
        assert_eq!(cancelled.message_id, None, "{url}: nothing was sent");
        assert!(
            !files_in(&config).contains(&format!("sms/{absent}_service-thanks_0_1.txt")),
            "{url}"
        );
        drop_test_schema(&db, &url).await;
    }
}
