//! Configuration from the environment, as a systemd `EnvironmentFile` sets
//! it: text keys take the value as written (a sender number, an account id
//! or a token made only of digits stays text), numbers and booleans are read
//! and checked.

use crate::helpers::{instances, stderr};
use wiremock::matchers::{basic_auth, body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[test]
fn a_gateway_configured_from_the_environment_sends_with_the_values_as_written() {
    // The gateway mock runs on a runtime of its own while the binary runs.
    let rt = tokio::runtime::Runtime::new().unwrap();
    for tp in instances() {
        let server = rt.block_on(MockServer::start());
        rt.block_on(
            Mock::given(method("POST"))
                .and(path("/2010-04-01/Accounts/12345678/Messages.json"))
                .and(basic_auth("12345678", "00998877"))
                .and(body_string_contains("From=%2B14155550000"))
                .and(body_string_contains("To=%2B4915123456789"))
                .respond_with(
                    ResponseTemplate::new(201).set_body_json(serde_json::json!({"sid": "SM1"})),
                )
                .expect(1)
                .mount(&server),
        );
        // An owner with only a phone, whose car was bought 14 days ago: the
        // check-in SMS is due today.
        let bought = chrono::Utc::now().date_naive() - chrono::Duration::days(14);
        let customers = tp.write(
            "customers.csv",
            "customer_id,name,email,phone,timezone,birthday,consent_email_marketing,consent_sms_marketing\n\
             0042,Ida Sommer,,+49 151 23456789,UTC,,no,no\n",
        );
        let vehicles = tp.write(
            "vehicles.csv",
            format!(
                "vin,customer_id,make,model,model_year,purchase_date,purchase_odometer_km,avg_monthly_km\n\
                 WVWZZZ1KZAW000777,0042,Volkswagen,Golf,2026,{bought},0,\n"
            ),
        );
        for (kind, file) in [("customers", &customers), ("vehicles", &vehicles)] {
            let out = tp.import(kind, &file.display().to_string(), &[]);
            assert!(out.status.success(), "{}: {}", tp.backend, stderr(&out));
        }
        let out = tp
            .touchpoint()
            .env("TOUCHPOINT__SMS__PROVIDER", "twilio")
            .env("TOUCHPOINT__SMS__BASE_URL", server.uri())
            .env("TOUCHPOINT__SMS__ACCOUNT_SID", "12345678")
            .env("TOUCHPOINT__SMS__AUTH_TOKEN", "00998877")
            .env("TOUCHPOINT__SMS__FROM", "+14155550000")
            .env("TOUCHPOINT__DEALER__PHONE", "0301234567")
            .env("TOUCHPOINT__SMS__MESSAGES_PER_SECOND", "5")
            // Any hour of the day and the week, so the test runs whenever.
            .env("TOUCHPOINT__QUIET_HOURS__SMS__START", "00:00")
            .env("TOUCHPOINT__QUIET_HOURS__SMS__END", "24:00")
            .env("TOUCHPOINT__QUIET_HOURS__SMS__SUNDAYS", "true")
            .arg("dispatch")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}: {}", tp.backend, stderr(&out));
        // `expect(1)` on drop: exactly one request of that shape.
        rt.block_on(server.verify());
        let requests = rt.block_on(server.received_requests()).unwrap();
        let body = String::from_utf8(requests[0].body.clone()).unwrap();
        assert!(body.contains("0301234567"), "{}: {body}", tp.backend);
    }
}

#[test]
fn numbers_and_booleans_from_the_environment_are_still_checked() {
    for tp in instances() {
        for (key, value, reason) in [
            ("TOUCHPOINT__CAPS__MESSAGES_PER_7_DAYS", "one", "u32"),
            ("TOUCHPOINT__PLAN__GRACE_DAYS", "+14155550000x", "i64"),
            ("TOUCHPOINT__QUIET_HOURS__SMS__SUNDAYS", "sometimes", "bool"),
        ] {
            let out = tp
                .touchpoint()
                .env(key, value)
                .arg("dispatch")
                .output()
                .unwrap();
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(78), "{key}={value}: {err}");
            let dotted = key
                .trim_start_matches("TOUCHPOINT__")
                .to_ascii_lowercase()
                .replace("__", ".");
            assert!(
                err.contains(&dotted) && err.contains(reason),
                "{key}={value}: {err}"
            );
        }
    }
}
