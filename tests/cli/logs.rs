//! The daemon's log: with `[log] format = "json"` every line is one JSON
//! object, and at the info level no line holds a configured secret (a
//! password in a URL, the SMS token, the link-signing secret, the webhook
//! secret, the metrics token) or a message's text.

use crate::helpers;
use crate::http::Daemon;
use sea_orm::EntityTrait;
use std::time::Duration;
use touchpoint::store::entities::message;

#[test]
fn a_pass_logs_json_lines_without_secrets_or_message_texts() {
    for instance in helpers::instances() {
        let backend = instance.backend;
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let secrets = [
            "smtp-password-4711",
            "twilio-token-0815",
            "link-secret-2342",
            "webhook-secret-1337",
            "metrics-token-9001",
        ];
        // Nothing listens on the SMTP port: the send fails and is retried,
        // and that failure is logged too.
        instance.add_config(&format!(
            "[log]\nformat = \"json\"\n\
             [email]\nsmtp_url = \"smtp://mailer:{}@127.0.0.1:{closed}\"\n\
             [sms]\nprovider = \"twilio\"\nbase_url = \"http://127.0.0.1:{closed}\"\naccount_sid = \"AC1\"\nauth_token = \"{}\"\nfrom = \"+4930111222\"\ninbound_secret = \"{}\"\n",
            secrets[0], secrets[1], secrets[3]
        ));
        let mut daemon = Daemon::start_with(
            &instance,
            &[
                ("TOUCHPOINT__HTTP__SECRET", secrets[2]),
                ("TOUCHPOINT__HTTP__METRICS_TOKEN", secrets[4]),
            ],
        );
        daemon.wait_for_line("pass done", Duration::from_secs(30));
        helpers::block_on(crate::http::seed_welcome_due(&instance));
        // A pass tries the welcome email.
        // One runtime for the pool and every query through it.
        let body = helpers::block_on(async {
            let db = instance.db().await;
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            loop {
                let sent = message::Entity::find().all(&db).await.unwrap();
                if let Some(m) = sent.into_iter().find(|m| m.channel == "email") {
                    break m.body;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "{backend}: no message"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        daemon.wait_for_line("pass done", Duration::from_secs(10));
        daemon.signal("-HUP");
        daemon.wait_for_line("configuration reloaded", Duration::from_secs(10));
        let (status, log) = daemon.stop(backend);
        assert!(status.success(), "{backend}: {log}");

        assert!(log.lines().count() > 3, "{log}");
        for line in log.lines() {
            let event: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{backend}: not JSON ({e}): {line}"));
            assert!(
                event["level"].is_string() && event["timestamp"].is_string(),
                "{line}"
            );
            assert!(event["fields"]["message"].is_string(), "{line}");
        }
        for secret in secrets {
            assert!(
                !log.contains(secret),
                "{backend}: {secret} is in the log: {log}"
            );
        }
        // Every line of the text longer than a few words stays out.
        for text in body.lines().filter(|l| l.split_whitespace().count() > 3) {
            assert!(
                !log.contains(text.trim()),
                "{backend}: {text:?} is in the log"
            );
        }
        assert!(!log.contains("tokio_cron_scheduler"), "{log}");
    }
}
