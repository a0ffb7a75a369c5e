//! The operator's commands through the binary, on every backend: visit add,
//! opt-out, hold / release / skip / send-now, held / approve / discard, timeline. Each
//! success with its effect on planning and dispatch, each bad input with its
//! exit code and an unchanged database.

use crate::helpers::{Instance, block_on, instances, stderr, stdout};
use chrono::{Duration, NaiveDate, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;
use touchpoint::store::entities;

const VIN: &str = "WVWZZZ1KZAW000101";
const VIN2: &str = "WVWZZZ3CZPE000102";

/// Today as the binary sees it: the person and the configuration are on UTC.
fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn days_ago(n: i64) -> String {
    (today() - Duration::days(n)).to_string()
}

/// One person (C1, UTC, email only, no marketing consent) with two cars
/// bought `bought_days_ago`, planned by a first `dispatch`.
fn site(tp: &Instance, bought_days_ago: i64) {
    tp.add_config("[plan]\ndefault_timezone = \"UTC\"\n");
    let customers = tp.write(
        "customers.csv",
        "customer_id,name,email,phone,timezone,birthday,consent_email_marketing,consent_sms_marketing,locale\n\
         C1,Anna Berg,anna@example.com,,UTC,,false,false,en\n\
         C2,Jonas Keller,jonas@example.com,,UTC,,false,false,en\n",
    );
    let bought = days_ago(bought_days_ago);
    let vehicles = tp.write(
        "vehicles.csv",
        format!(
            "vin,customer_id,make,model,model_year,purchase_date,purchase_odometer_km,avg_monthly_km\n\
             {VIN},C1,Volkswagen,Golf,2024,{bought},0,\n\
             {VIN2},C1,Volkswagen,Passat,2024,{bought},0,\n"
        ),
    );
    for (kind, file) in [("customers", &customers), ("vehicles", &vehicles)] {
        let out = tp.import(kind, file.to_str().unwrap(), &[]);
        assert!(out.status.success(), "{}: {}", tp.backend, stderr(&out));
    }
    tp.json(&["dispatch"]);
}

/// Makes the touchpoint `key` due today (a test shortcut for "its day came").
fn due_today(tp: &Instance, key: &str) {
    tp.sql(&format!(
        "UPDATE touchpoints SET due_date = '{}' WHERE dedup_key = '{key}'",
        today()
    ));
}

/// Time passes for the first car (a test shortcut): it was bought
/// `bought_days_ago`, and the touchpoints of `keys` are due the given number
/// of days ago, where the plan put them.
fn days_pass(tp: &Instance, bought_days_ago: i64, keys: &[(&str, i64)]) {
    tp.sql(&format!(
        "UPDATE vehicles SET purchase_date = '{}' WHERE vin = '{VIN}'",
        days_ago(bought_days_ago)
    ));
    for (key, due_days_ago) in keys {
        tp.sql(&format!(
            "UPDATE touchpoints SET due_date = '{}' WHERE dedup_key = '{key}'",
            days_ago(*due_days_ago)
        ));
    }
}

/// The satisfaction email of the first car: 90 days after the purchase.
fn satisfaction() -> String {
    format!("{VIN}:onboarding-satisfaction:0:1")
}

/// [`site`] two months in, the first car's satisfaction email due today;
/// returns its key.
fn satisfaction_due_today(tp: &Instance) -> String {
    site(tp, 60);
    let key = satisfaction();
    due_today(tp, &key);
    key
}

/// Emails a `dispatch` sent.
fn emails_sent(tp: &Instance) -> u64 {
    let report = tp.json(&["dispatch"]);
    report["dispatch"]["sent"]["email"].as_u64().unwrap_or(0)
}

/// A touchpoint of the plan answer by key.
fn in_plan(tp: &Instance, vin: &str, key: &str) -> Value {
    let plan = tp.json(&["plan", vin]);
    plan["touchpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == key)
        .unwrap_or_else(|| panic!("{}: {key} not in {plan}", tp.backend))
        .clone()
}

fn stored(tp: &Instance, key: &str) -> entities::touchpoint::Model {
    block_on(async {
        entities::touchpoint::Entity::find()
            .filter(entities::touchpoint::Column::DedupKey.eq(key))
            .one(&tp.db().await)
            .await
            .unwrap()
            .unwrap()
    })
}

/// Runs a command that must fail with `code` and change nothing; returns
/// its error text.
fn refused(tp: &Instance, args: &[&str], code: i32) -> String {
    let before = tp.snapshot();
    let out = tp.run(args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}: {args:?}: {}{}",
        tp.backend,
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(
        tp.snapshot(),
        before,
        "{}: {args:?} changed the database",
        tp.backend
    );
    stderr(&out)
}

#[test]
fn visit_add_records_the_visit_and_cancels_the_reminders_it_fulfils() {
    for tp in instances() {
        // Eleven months in: the first service (12 months) is a month away,
        // its reminders planned.
        site(&tp, 335);
        let email = format!("{VIN}:service-email:0:1");
        let sms = format!("{VIN}:service-sms:0:1");
        assert_eq!(
            in_plan(&tp, VIN, &sms)["state"],
            "planned",
            "{}",
            tp.backend
        );

        let today = today().to_string();
        let visit = days_ago(5);
        let added = tp.json(&["visit", "add", VIN, "--date", &visit, "--odometer", "13000"]);
        assert_eq!(added["vin"], VIN);
        assert_eq!(added["date"], visit.as_str());
        assert_eq!(added["odometer_km"], 13000);
        assert_eq!(added["kind"], "service");
        assert_eq!(added["unchanged"], false);
        assert_eq!(added["replanned"], true);
        let cancelled: Vec<&str> = added["cancelled"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["key"].as_str().unwrap())
            .collect();
        assert!(cancelled.contains(&sms.as_str()), "{}: {added}", tp.backend);
        let fulfilled = format!("fulfilled by the service visit on {visit}");
        for c in added["cancelled"].as_array().unwrap() {
            assert_eq!(c["state"], "cancelled", "{}: {c}", tp.backend);
            assert_eq!(c["reason"], fulfilled.as_str(), "{}: {c}", tp.backend);
        }
        for key in [&email, &sms] {
            let t = in_plan(&tp, VIN, key);
            if cancelled.contains(&key.as_str()) {
                assert_eq!(t["state"], "cancelled", "{}: {t}", tp.backend);
                assert_eq!(t["reason"], fulfilled.as_str());
            }
        }
        // The other car is not touched; the reading is stored.
        assert_eq!(
            in_plan(&tp, VIN2, &format!("{VIN2}:service-sms:0:1"))["state"],
            "planned"
        );
        assert_eq!(
            tp.vehicle(VIN).facts_version,
            tp.vehicle(VIN).planned_version
        );

        // The same reading again changes nothing; text output says what was done.
        let again = tp.json(&["visit", "add", VIN, "--date", &visit, "--odometer", "13000"]);
        assert_eq!(again["unchanged"], true);
        assert_eq!(again["cancelled"], serde_json::json!([]));
        let out = tp.run(&[
            "visit",
            "add",
            VIN,
            "--date",
            &visit,
            "--odometer",
            "13100",
            "--kind",
            "reading",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stdout(&out).contains("reading on"), "{}", stdout(&out));

        // Bad input: exit 65, the import's messages, nothing changed.
        let bought = days_ago(335);
        let before_purchase = days_ago(400);
        let tomorrow = (self::today() + Duration::days(1)).to_string();
        let earlier = days_ago(10);
        for (args, says) in [
            (
                vec![
                    "visit",
                    "add",
                    "WVWZZZ1KZAW000999",
                    "--date",
                    &earlier,
                    "--odometer",
                    "100",
                ],
                "vin: 'WVWZZZ1KZAW000999' is not a known vehicle (import vehicles first)"
                    .to_string(),
            ),
            (
                vec![
                    "visit",
                    "add",
                    VIN,
                    "--date",
                    &tomorrow,
                    "--odometer",
                    "14000",
                ],
                format!("date: {tomorrow} is in the future"),
            ),
            (
                vec![
                    "visit",
                    "add",
                    VIN,
                    "--date",
                    &before_purchase,
                    "--odometer",
                    "0",
                ],
                format!("date: {before_purchase} is before the purchase on {bought}"),
            ),
            (
                vec![
                    "visit",
                    "add",
                    VIN,
                    "--date",
                    &today,
                    "--odometer",
                    "12000",
                    "--kind",
                    "repair",
                ],
                format!(
                    "odometer_km: 12000 km on {today} is less than the 13100 km recorded on {visit} (in the database)"
                ),
            ),
            (
                vec![
                    "visit",
                    "add",
                    VIN,
                    "--date",
                    &earlier,
                    "--odometer",
                    "13500",
                ],
                format!(
                    "odometer_km: 13500 km on {earlier} is more than the 13000 km recorded later, on {visit} (in the database)"
                ),
            ),
            (
                vec!["visit", "add", VIN, "--date", &today, "--odometer", "-5"],
                "odometer_km: -5 is negative".to_string(),
            ),
            (
                vec![
                    "visit",
                    "add",
                    VIN,
                    "--date",
                    "2026-13-01",
                    "--odometer",
                    "1",
                ],
                "date: '2026-13-01' is not a real calendar date".to_string(),
            ),
            (
                vec![
                    "visit",
                    "add",
                    VIN,
                    "--date",
                    &today,
                    "--odometer",
                    "14000",
                    "--kind",
                    "wash",
                ],
                "kind: 'wash' is not one of service, repair, inspection, reading".to_string(),
            ),
        ] {
            let err = refused(&tp, &args, 65);
            assert!(err.contains(&says), "{}: {args:?}: {err}", tp.backend);
        }
        refused(&tp, &["visit", "add", VIN, "--odometer", "14000"], 64);
    }
}

#[test]
fn a_held_touchpoint_is_not_sent_until_released() {
    for tp in instances() {
        // The satisfaction email is due tomorrow: held today, due a day later.
        site(&tp, 89);
        let key = satisfaction();

        let held = tp.json(&[
            "hold",
            &key,
            "--reason",
            "owner on holiday",
            "--by",
            "maria",
        ]);
        assert_eq!(held["key"], key.as_str());
        assert_eq!(held["code"], "onboarding-satisfaction");
        assert_eq!(held["channel"], "email");
        assert_eq!(held["due_date"], (today() + Duration::days(1)).to_string());
        // The first pass deferred it to the owner's midnight.
        assert_eq!(held["from"], "deferred");
        assert_eq!(stored(&tp, &key).next_attempt_at, None);
        assert_eq!(held["state"], "on_hold");
        assert_eq!(held["reason"], "held by maria: owner on holiday");
        days_pass(&tp, 90, &[(&key, 0)]);
        // Shown as held, with who and why, in the plan and the queue.
        let t = in_plan(&tp, VIN, &key);
        assert_eq!(
            (t["state"].as_str(), t["reason"].as_str()),
            (Some("on_hold"), Some("held by maria: owner on holiday")),
            "{}",
            tp.backend
        );
        let queue = tp.json(&["queue", "--days", "1"]);
        let item = queue["channels"]["email"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["key"] == key.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("{}: not queued: {queue}", tp.backend));
        assert_eq!(item["state"], "on_hold");
        let text = stdout(&tp.run(&["queue", "--days", "1"]));
        assert!(
            text.contains("[on hold: held by maria: owner on holiday]"),
            "{text}"
        );

        // Dispatch passes it by, and re-planning leaves it alone.
        assert_eq!(emails_sent(&tp), 0, "{}", tp.backend);
        assert_eq!(stored(&tp, &key).state, "on_hold");
        tp.sql("UPDATE vehicles SET facts_version = facts_version + 1");
        assert_eq!(emails_sent(&tp), 0, "{}", tp.backend);
        let after_replan = stored(&tp, &key);
        assert_eq!(after_replan.state, "on_hold", "{}", tp.backend);
        assert_eq!(after_replan.due_date, today(), "{}", tp.backend);

        // Released, it goes out on the next pass.
        let released = tp.json(&["release", &key]);
        assert_eq!(released["from"], "on_hold");
        assert_eq!(released["state"], "planned");
        assert_eq!(released["reason"], Value::Null);
        assert_eq!(emails_sent(&tp), 1, "{}", tp.backend);
        assert_eq!(stored(&tp, &key).state, "sent", "{}", tp.backend);
        assert_eq!(emails_sent(&tp), 0, "{}", tp.backend);

        // Only open touchpoints can be held, only held ones released.
        let err = refused(&tp, &["hold", &key], 65);
        assert!(
            err.contains("is sent: only planned, deferred ones can be held"),
            "{err}"
        );
        let other = format!("{VIN2}:onboarding-satisfaction:0:1");
        let err = refused(&tp, &["release", &other], 65);
        assert!(
            err.contains("is deferred: only on_hold ones can be released"),
            "{err}"
        );
        let err = refused(&tp, &["hold", "NO:such:0:1"], 65);
        assert!(err.contains("no touchpoint with key NO:such:0:1"), "{err}");
        refused(&tp, &["hold", &other, "--reason", "  "], 65);
        refused(&tp, &["hold"], 64);
    }
}

#[test]
fn a_released_touchpoint_past_the_grace_window_is_skipped() {
    for tp in instances() {
        site(&tp, 60);
        let key = satisfaction();
        tp.json(&["hold", &key]);
        assert_eq!(
            stored(&tp, &key).reason.as_deref(),
            Some("held by administrator")
        );
        // Its day passed long ago while it was held.
        days_pass(&tp, 110, &[(&key, 20)]);
        tp.json(&["release", &key]);
        assert_eq!(emails_sent(&tp), 0, "{}", tp.backend);
        let t = stored(&tp, &key);
        assert_eq!(t.state, "skipped", "{}", tp.backend);
        assert!(
            t.reason.as_deref().unwrap_or("").contains("sent late"),
            "{}: {t:?}",
            tp.backend
        );
    }
}

#[test]
fn a_reminder_held_through_its_visit_is_cancelled_when_released() {
    for tp in instances() {
        site(&tp, 335);
        let sms = format!("{VIN}:service-sms:0:1");
        tp.json(&["hold", &sms]);
        let visit = days_ago(5);
        let added = tp.json(&["visit", "add", VIN, "--date", &visit, "--odometer", "13000"]);
        assert!(
            !added["cancelled"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["key"] == sms.as_str()),
            "{}: {added}",
            tp.backend
        );
        assert_eq!(stored(&tp, &sms).state, "on_hold", "{}", tp.backend);
        // Released, the next pass re-plans the car: the visit fulfilled it.
        tp.json(&["release", &sms]);
        tp.json(&["dispatch"]);
        let t = stored(&tp, &sms);
        assert_eq!(
            (t.state.as_str(), t.reason),
            (
                "cancelled",
                Some(format!("fulfilled by the service visit on {visit}"))
            ),
            "{}",
            tp.backend
        );
    }
}

#[test]
fn a_skipped_touchpoint_is_never_sent_and_keeps_its_reason() {
    for tp in instances() {
        let key = satisfaction_due_today(&tp);
        tp.json(&["hold", &key]);
        let skipped = tp.json(&["skip", &key, "--reason", "the owner sold the car"]);
        assert_eq!(skipped["from"], "on_hold");
        assert_eq!(skipped["state"], "skipped");
        assert_eq!(
            skipped["reason"],
            "skipped by administrator: the owner sold the car"
        );
        assert_eq!(emails_sent(&tp), 0, "{}", tp.backend);
        let t = in_plan(&tp, VIN, &key);
        assert_eq!(t["state"], "skipped");
        assert_eq!(
            t["reason"],
            "skipped by administrator: the owner sold the car"
        );
        // A planned one is skipped directly.
        let other = format!("{VIN2}:onboarding-satisfaction:0:1");
        let text = stdout(&tp.run(&["skip", &other, "--reason", "duplicate"]));
        assert!(text.contains("planned -> skipped"), "{text}");

        let err = refused(&tp, &["skip", &key, "--reason", "again"], 65);
        assert!(
            err.contains("is skipped: only planned, deferred, on_hold ones can be skipped"),
            "{err}"
        );
        refused(&tp, &["skip", "NO:such:0:1", "--reason", "x"], 65);
        let third = format!("{VIN}:onboarding-tips:0:1");
        refused(&tp, &["skip", &third, "--reason", " "], 65);
        refused(&tp, &["skip", &third], 64);
    }
}

#[test]
fn send_now_sends_at_the_next_pass_under_the_rules() {
    for tp in instances() {
        // Two months in: the satisfaction emails are due in a month.
        site(&tp, 60);
        let key = satisfaction();
        let other = format!("{VIN2}:onboarding-satisfaction:0:1");
        tp.json(&["hold", &other]);
        assert_eq!(emails_sent(&tp), 0, "{}", tp.backend);

        let now = tp.json(&["send-now", &key, "--by", "maria"]);
        assert_eq!(now["from"], "planned");
        assert_eq!(now["state"], "deferred");
        assert_eq!(now["due_date"], today().to_string());
        assert_eq!(now["reason"], "sent now by maria");
        let text = stdout(&tp.run(&["send-now", &other]));
        assert!(text.contains("on_hold -> deferred"), "{text}");
        let t = stored(&tp, &key);
        assert_eq!((t.state.as_str(), t.due_date), ("deferred", today()));

        // The next pass sends them as any due touchpoints: the same email
        // to the same person on one day goes out once, carrying both.
        assert_eq!(emails_sent(&tp), 1, "{}", tp.backend);
        assert_eq!(stored(&tp, &key).state, "sent", "{}", tp.backend);
        assert_eq!(stored(&tp, &other).state, "sent", "{}", tp.backend);

        let err = refused(&tp, &["send-now", &key], 65);
        assert!(
            err.contains("is sent: only planned, deferred, on_hold ones can be sent now"),
            "{err}"
        );
        refused(&tp, &["send-now", "NO:such:0:1"], 65);
        refused(&tp, &["send-now"], 64);
    }
}

#[test]
fn status_shows_the_last_pass_what_waits_and_the_schema() {
    // The newest migration in the repository is the schema's version.
    let mut migrations: Vec<String> =
        std::fs::read_dir(crate::helpers::root().join("migrations/src"))
            .unwrap()
            .filter_map(|e| e.unwrap().file_name().into_string().ok())
            .filter(|n| n.starts_with('m'))
            .map(|n| n.trim_end_matches(".rs").to_string())
            .collect();
    migrations.sort();
    for tp in instances() {
        let fresh = tp.json(&["status"]);
        assert!(fresh["last_pass"].is_null(), "{}: {fresh}", tp.backend);
        assert_eq!(fresh["schema"]["applied"], migrations.len());
        assert_eq!(fresh["schema"]["latest"], migrations[migrations.len() - 1]);
        assert_eq!(fresh["deferred"], 0);

        let before = Utc::now() - Duration::seconds(1);
        site(&tp, 60);
        let key = satisfaction();
        tp.json(&["hold", &key]);
        let s = tp.json(&["status"]);
        let at: chrono::DateTime<Utc> = s["last_pass"]["at"].as_str().unwrap().parse().unwrap();
        assert!(at >= before && at <= Utc::now(), "{}: {s}", tp.backend);
        // The first pass planned both cars.
        assert_eq!(s["last_pass"]["vehicles_planned"], 2, "{}: {s}", tp.backend);
        assert_eq!(s["on_hold"], 1, "{}: {s}", tp.backend);
        assert_eq!(s["held_messages"], 0);
        assert!(s["due_now"].is_object());

        let text = stdout(&tp.run(&["status"]));
        assert!(text.starts_with("last pass: "), "{text}");
        assert!(text.contains("2 vehicles planned"), "{text}");
        assert!(text.contains("1 on hold"), "{text}");
        assert!(
            text.contains(&format!("latest {}", migrations[migrations.len() - 1])),
            "{text}"
        );
    }
}

/// Makes the touchpoint's message look interrupted: created and claimed
/// an hour ago, its lease run out, as a dispatcher that died mid-send leaves it.
fn interrupted_send(tp: &Instance, key: &str) {
    message_of(tp, key, "sending");
}

/// Gives the touchpoint a message of an hour ago in `state`: `sending`
/// with its lease run out, or `retry` waiting for its next attempt in an hour.
fn message_of(tp: &Instance, key: &str, state: &str) {
    block_on(async {
        let db = tp.db().await;
        let t = entities::touchpoint::Entity::find()
            .filter(entities::touchpoint::Column::DedupKey.eq(key))
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        let hour_ago = Utc::now() - Duration::hours(1);
        let m = entities::message::ActiveModel {
            key: Set(t.dedup_key.clone()),
            customer_id: Set(t.customer_id),
            channel: Set("email".into()),
            recipient: Set("anna@example.com".into()),
            locale: Set("en".into()),
            subject: Set("How is your car?".into()),
            body: Set("…".into()),
            state: Set(state.into()),
            attempts: Set(1),
            lease_until: Set(Some(hour_ago + Duration::seconds(300))),
            next_attempt_at: Set(Some(Utc::now() + Duration::hours(1))),
            created_at: Set(hour_ago),
            updated_at: Set(hour_ago),
            ..Default::default()
        }
        .insert(&db)
        .await
        .unwrap();
        let mut claimed: entities::touchpoint::ActiveModel = t.into();
        claimed.state = Set("sending".into());
        claimed.message_id = Set(Some(m.id));
        claimed.update(&db).await.unwrap();
    });
}

/// [`site`] two months in, the first car's satisfaction email interrupted
/// mid-send; returns its key.
fn interrupted_satisfaction(tp: &Instance) -> String {
    site(tp, 60);
    let key = satisfaction();
    interrupted_send(tp, &key);
    key
}

/// The held messages (`held --json`), after a pass that holds interrupted sends.
fn held_after_a_pass(tp: &Instance) -> Vec<Value> {
    let report = tp.json(&["dispatch"]);
    assert_eq!(report["dispatch"]["held"], 1, "{}: {report}", tp.backend);
    tp.json(&["held"]).as_array().unwrap().clone()
}

#[test]
fn an_approved_held_message_goes_out_once() {
    for tp in instances() {
        let key = interrupted_satisfaction(&tp);
        assert_eq!(tp.json(&["held"]), serde_json::json!([]));
        let held = held_after_a_pass(&tp);
        assert_eq!(held.len(), 1, "{}", tp.backend);
        let h = &held[0];
        assert_eq!(h["customer_id"], "C1");
        assert_eq!(h["name"], "Anna Berg");
        assert_eq!(h["channel"], "email");
        assert_eq!(h["recipient"], "anna@example.com");
        assert_eq!(h["subject"], "How is your car?");
        assert_eq!(h["attempts"], 1);
        assert!(h["reason"].as_str().unwrap().contains("interrupted"), "{h}");
        assert_eq!(h["touchpoints"], serde_json::json!([key]));
        let id = h["id"].as_i64().unwrap().to_string();
        let text = stdout(&tp.run(&["held"]));
        assert!(
            text.contains("1 message(s) held for review") && text.contains(&key),
            "{text}"
        );

        // Held, it is not resent by a pass.
        assert_eq!(emails_sent(&tp), 0, "{}", tp.backend);
        let approved = tp.json(&["approve", &id, "--by", "maria"]);
        assert_eq!(approved["state"], "retry");
        assert_eq!(approved["reason"], "approved for sending by maria");
        assert_eq!(approved["touchpoints"], serde_json::json!([key]));
        assert_eq!(tp.json(&["held"]), serde_json::json!([]));
        assert_eq!(emails_sent(&tp), 1, "{}", tp.backend);
        assert_eq!(emails_sent(&tp), 0, "{}: sent once", tp.backend);
        assert_eq!(stored(&tp, &key).state, "sent", "{}", tp.backend);

        let err = refused(&tp, &["approve", &id], 65);
        assert!(err.contains("is sent, not held for review"), "{err}");
        let err = refused(&tp, &["approve", "9999"], 65);
        assert!(err.contains("no message number 9999"), "{err}");
        refused(&tp, &["approve", "first"], 64);
    }
}

#[test]
fn a_discarded_held_message_ends_with_its_touchpoints() {
    for tp in instances() {
        let key = interrupted_satisfaction(&tp);
        let id = held_after_a_pass(&tp)[0]["id"]
            .as_i64()
            .unwrap()
            .to_string();
        let err = refused(&tp, &["discard", &id, "--reason", ""], 65);
        assert!(err.contains("the reason is empty"), "{err}");

        let discarded = tp.json(&["discard", &id, "--reason", "it did go out"]);
        assert_eq!(discarded["state"], "discarded");
        assert_eq!(
            discarded["reason"],
            "discarded by administrator: it did go out"
        );
        assert_eq!(tp.json(&["held"]), serde_json::json!([]));
        assert_eq!(emails_sent(&tp), 0, "{}", tp.backend);
        let t = stored(&tp, &key);
        assert_eq!(
            (t.state.as_str(), t.reason.as_deref()),
            (
                "cancelled",
                Some("discarded by administrator: it did go out")
            ),
            "{}",
            tp.backend
        );
        let m = block_on(async {
            entities::message::Entity::find()
                .filter(entities::message::Column::Key.eq(key.as_str()))
                .one(&tp.db().await)
                .await
                .unwrap()
                .unwrap()
        });
        assert_eq!(m.state, "discarded", "{}", tp.backend);

        let err = refused(&tp, &["discard", &id], 65);
        assert!(err.contains("is discarded, not held for review"), "{err}");
        refused(&tp, &["discard", "9999"], 65);
    }
}

#[test]
fn an_administrators_opt_out_stops_the_channel_and_undo_restores_it() {
    for tp in instances() {
        let key = satisfaction_due_today(&tp);

        // The other car's email waits for a retry.
        let queued = format!("{VIN2}:onboarding-satisfaction:0:1");
        message_of(&tp, &queued, "retry");

        let done = tp.json(&["opt-out", "C1", "email"]);
        assert_eq!(
            done,
            serde_json::json!({"customer_id": "C1", "channel": "email",
                "opted_out": true, "source": "administrator"})
        );
        assert!(tp.customer("C1").opted_out_email);
        assert_eq!(emails_sent(&tp), 0, "{}", tp.backend);
        let t = stored(&tp, &key);
        assert_eq!(t.state, "suppressed", "{}: {t:?}", tp.backend);
        // What was queued stopped too, with its touchpoint.
        let t = stored(&tp, &queued);
        assert_eq!(
            (t.state.as_str(), t.reason.as_deref()),
            ("suppressed", Some("the recipient opted out of email")),
            "{}",
            tp.backend
        );

        let undone = tp.json(&["opt-out", "C1", "email", "--undo"]);
        assert_eq!(undone["opted_out"], false);
        assert!(!tp.customer("C1").opted_out_email);
        let log = block_on(async {
            entities::opt_out::Entity::find()
                .all(&tp.db().await)
                .await
                .unwrap()
        });
        let log: Vec<(&str, &str, bool)> = log
            .iter()
            .map(|o| (o.channel.as_str(), o.source.as_str(), o.opted_out))
            .collect();
        assert_eq!(
            log,
            [
                ("email", "administrator", true),
                ("email", "administrator", false)
            ],
            "{}",
            tp.backend
        );

        // A call opt-out stops calls alone; an SMS opt-out covers calls too.
        let text = stdout(&tp.run(&["opt-out", "C1", "call"]));
        assert_eq!(text, "C1: opted out of call (source administrator)\n");
        let c = tp.customer("C1");
        assert!(
            c.opted_out_call && !c.opted_out_sms && !c.opted_out_email,
            "{c:?}"
        );
        tp.json(&["opt-out", "C1", "sms"]);
        assert!(tp.customer("C1").opted_out_sms);

        let err = refused(&tp, &["opt-out", "C9", "sms"], 65);
        assert!(err.contains("no customer with id C9"), "{err}");
        refused(&tp, &["opt-out", "C1", "fax"], 64);
        refused(&tp, &["opt-out", "C1"], 64);
    }
}

#[test]
fn the_timeline_lists_every_touchpoint_of_every_car_oldest_first() {
    for tp in instances() {
        let key = satisfaction_due_today(&tp);
        assert_eq!(emails_sent(&tp), 1, "{}", tp.backend);
        tp.json(&[
            "skip",
            &format!("{VIN2}:onboarding-satisfaction:0:1"),
            "--reason",
            "sold",
        ]);

        let t = tp.json(&["timeline", "C1"]);
        assert_eq!(t["customer_id"], "C1");
        assert_eq!(t["name"], "Anna Berg");
        assert_eq!(t["vehicles"], serde_json::json!([VIN, VIN2]));
        let entries = t["touchpoints"].as_array().unwrap();
        assert_eq!(entries.len(), 72, "{}: 36 per car", tp.backend);
        let dates: Vec<&str> = entries
            .iter()
            .map(|e| e["due_date"].as_str().unwrap())
            .collect();
        let mut sorted = dates.clone();
        sorted.sort();
        assert_eq!(dates, sorted, "{}: oldest first", tp.backend);
        let find = |k: &str| entries.iter().find(|e| e["key"] == k).unwrap().clone();
        let sent = find(&key);
        assert_eq!(sent["state"], "sent", "{}: {sent}", tp.backend);
        assert_eq!(sent["vin"], VIN);
        assert_eq!(sent["code"], "onboarding-satisfaction");
        assert_eq!(sent["channel"], "email");
        assert_eq!(sent["category"], "service");
        assert_eq!(sent["cycle"], 0);
        assert_eq!(sent["occurrence"], 1);
        let skipped = find(&format!("{VIN2}:onboarding-satisfaction:0:1"));
        assert_eq!(skipped["state"], "skipped");
        assert_eq!(skipped["reason"], "skipped by administrator: sold");
        assert!(
            entries.iter().any(|e| e["state"] == "planned"),
            "{}",
            tp.backend
        );
        let text = stdout(&tp.run(&["timeline", "C1"]));
        assert!(
            text.starts_with("C1 Anna Berg: 2 vehicle(s), 72 touchpoint(s)\n"),
            "{text}"
        );

        // A person without cars has an empty timeline; an unknown one is an error.
        assert_eq!(
            tp.json(&["timeline", "C2"])["touchpoints"],
            serde_json::json!([])
        );
        let err = refused(&tp, &["timeline", "C9"], 65);
        assert!(err.contains("no customer with id C9"), "{err}");
    }
}
