//! SMS through an HTTP mock server (wiremock): the Twilio request shape,
//! the generic profile, 2xx, 429 with Retry-After, 5xx, timeouts, a
//! provider's refusal, and Twilio's 21610 recording the opt-out.

use crate::support::{databases, drop_test_schema, seed};
use chrono::{TimeZone, Utc};
use sea_orm::DatabaseConnection;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::time::Duration;
use touchpoint::app::Dispatcher;
use touchpoint::app::planning_pass;
use touchpoint::config::{Config, Sms};
use touchpoint::dispatch::sms::Gateway;
use touchpoint::dispatch::{Outcome, Outgoing, Transports};
use touchpoint::domain::Channel;
use touchpoint::messages::Catalog;
use touchpoint::store::{self, entities};
use wiremock::matchers::{basic_auth, body_json, body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The Twilio profile pointed at `server`, without a rate limit.
pub fn twilio(server: &MockServer) -> Sms {
    Sms {
        provider: "twilio".into(),
        base_url: server.uri(),
        account_sid: "AC123".into(),
        auth_token: "secret".into(),
        from: "+4930111222".into(),
        timeout_secs: 2,
        messages_per_second: 0,
        ..Sms::default()
    }
}

/// Points a site's SMS at `server` with the Twilio profile and seeds one
/// owner (customer id returned) whose car was bought on 2025-11-20.
async fn twilio_site(db: &DatabaseConnection, config: &mut Config, server: &MockServer) -> i64 {
    config.settings.sms = twilio(server);
    seed(db, &["WVWZZZ1JZXW000001"], "2025-11-20").await.0
}

fn sms() -> Outgoing {
    Outgoing {
        key: "WVWZZZ1JZXW000001:service-sms:0:1".into(),
        channel: Channel::Sms,
        recipient: "+4915112345678".into(),
        subject: String::new(),
        body: "Service due on 2026-05-20".into(),
        unsubscribe_url: None,
    }
}

#[tokio::test]
async fn twilio_request_shape_and_success() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2010-04-01/Accounts/AC123/Messages.json"))
        .and(basic_auth("AC123", "secret"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("To=%2B4915112345678"))
        .and(body_string_contains("From=%2B4930111222"))
        .and(body_string_contains("Body=Service+due+on+2026-05-20"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(serde_json::json!({"sid": "SM42", "status": "queued"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let gateway = Gateway::new(&twilio(&server)).unwrap();
    assert_eq!(
        gateway.send(&sms()).await,
        Outcome::Sent {
            provider_ref: Some("SM42".into())
        }
    );
}

#[tokio::test]
async fn transient_and_permanent_answers() {
    let server = MockServer::start().await;
    let gateway = Gateway::new(&twilio(&server)).unwrap();

    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "120"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    match gateway.send(&sms()).await {
        Outcome::Transient {
            retry_after,
            reason,
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(120)));
            assert!(reason.contains("429"), "{reason}");
        }
        other => panic!("{other:?}"),
    }

    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    assert!(matches!(
        gateway.send(&sms()).await,
        Outcome::Transient {
            retry_after: None,
            ..
        }
    ));

    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(serde_json::json!({"code": 21211, "message": "The 'To' number is not a valid phone number."})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    match gateway.send(&sms()).await {
        Outcome::Permanent { reason } => {
            assert!(reason.contains("not a valid phone number"), "{reason}")
        }
        other => panic!("{other:?}"),
    }

    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_secs(5)))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    match gateway.send(&sms()).await {
        Outcome::Unreachable { reason, .. } => assert!(reason.contains("timed out"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn generic_http_profile_sends_the_configured_json() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/send"))
        .and(header("authorization", "Bearer tok"))
        .and(body_json(serde_json::json!({"to": "+4915112345678", "sender": "Dealer", "text": "Service due on 2026-05-20"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": "abc"})))
        .expect(1)
        .mount(&server)
        .await;
    let config = Sms {
        provider: "http".into(),
        base_url: format!("{}/send", server.uri()),
        auth_token: "tok".into(),
        from: "Dealer".into(),
        format: "json".into(),
        field_to: "to".into(),
        field_from: "sender".into(),
        field_body: "text".into(),
        messages_per_second: 0,
        ..Sms::default()
    };
    let gateway = Gateway::new(&config).unwrap();
    assert_eq!(
        gateway.send(&sms()).await,
        Outcome::Sent {
            provider_ref: Some("abc".into())
        }
    );
}

#[tokio::test]
async fn rate_limit_spaces_the_requests() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    let config = Sms {
        messages_per_second: 20,
        ..twilio(&server)
    };
    let gateway = Gateway::new(&config).unwrap();
    let started = tokio::time::Instant::now();
    for _ in 0..5 {
        assert!(matches!(gateway.send(&sms()).await, Outcome::Sent { .. }));
    }
    // Five requests at 20 per second need at least four gaps of 50 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn twilio_21610_records_the_opt_out_and_stops_the_channel() {
    let dir = tempfile::tempdir().unwrap();
    for (url, db, mut config) in databases(dir.path()).await {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            serde_json::json!({"code": 21610, "message": "Attempt to send to unsubscribed recipient"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
        let customer_id = twilio_site(&db, &mut config, &server).await;
        let catalog = Catalog::builtin().unwrap();
        let transports = Transports::from_config(&config).unwrap();
        let dispatcher = Dispatcher::new(&db, &config, &transports, &catalog);
        // Thursday 4 Dec 2025, 11:00 in Berlin: the check-in SMS is due.
        let now = Utc.with_ymd_and_hms(2025, 12, 4, 10, 0, 0).unwrap();
        planning_pass(&db, &config, now).await.unwrap();
        let report = dispatcher.pass(now).await.unwrap();
        assert_eq!(report.suppressed, 1, "{report:?}");

        let customer = entities::customer::Entity::find_by_id(customer_id)
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert!(customer.opted_out_sms);
        let log = entities::opt_out::Entity::find().all(&db).await.unwrap();
        assert_eq!(
            (log.len(), log[0].source.as_str(), log[0].channel.as_str()),
            (1, "provider", "sms")
        );
        let tp = entities::touchpoint::Entity::find()
            .filter(
                entities::touchpoint::Column::DedupKey
                    .eq("WVWZZZ1JZXW000001:onboarding-checkin:0:1"),
            )
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(tp.state, "suppressed");
        assert!(tp.reason.unwrap().contains("opted out"));
        let message = entities::message::Entity::find()
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(message.segments, Some(1));
        drop_test_schema(&db, &url).await;
    }
}

#[tokio::test]
async fn an_opt_out_suppresses_a_queued_retry() {
    let dir = tempfile::tempdir().unwrap();
    for (url, db, mut config) in databases(dir.path()).await {
        let server = MockServer::start().await;
        // The gateway is down on the first attempt; the retry must never be made.
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503))
            .expect(1)
            .mount(&server)
            .await;
        let customer_id = twilio_site(&db, &mut config, &server).await;
        let catalog = Catalog::builtin().unwrap();
        let transports = Transports::from_config(&config).unwrap();
        let dispatcher = Dispatcher::new(&db, &config, &transports, &catalog);
        let now = Utc.with_ymd_and_hms(2025, 12, 4, 10, 0, 0).unwrap();
        planning_pass(&db, &config, now).await.unwrap();
        let report = dispatcher.pass(now).await.unwrap();
        assert_eq!(report.retrying, 1, "{report:?}");
        let queued = entities::message::Entity::find()
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(queued.state, "retry");

        // The owner replies STOP before the retry is due.
        store::record_opt_out(&db, customer_id, Channel::Sms, "sms keyword", true, now)
            .await
            .unwrap();
        let later = now + chrono::Duration::hours(2);
        let report = dispatcher.pass(later).await.unwrap();
        assert!(report.sent.is_empty(), "{report:?}");

        let message = entities::message::Entity::find_by_id(queued.id)
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(message.state, "suppressed");
        assert_eq!(
            message.reason.as_deref(),
            Some("the recipient opted out of sms")
        );
        let tp = entities::touchpoint::Entity::find()
            .filter(entities::touchpoint::Column::MessageId.eq(queued.id))
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(tp.state, "suppressed");
        assert_eq!(tp.reason.as_deref(), Some("the recipient opted out of sms"));
        drop_test_schema(&db, &url).await;
    }
}
