//! Configuration, usage and init: exit codes and messages (docs/commands.md).

use assert_cmd::Command;

fn touchpoint() -> Command {
    let mut cmd = Command::cargo_bin("touchpoint").unwrap();
    cmd.env_remove("TOUCHPOINT_CONFIG");
    cmd
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn usage_errors_exit_64() {
    let out = touchpoint().arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let out = touchpoint()
        .args(["queue", "--days", "zero"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let out = touchpoint()
        .args(["plan", "X", "--as-of", "2025-02-30"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(
        stderr(&out).contains("not a real calendar date"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn invalid_configuration_exits_78_with_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = crate::support::sqlite_config(dir.path(), "[prediction]\ndefault_monthly_km = 0\n");
    let out = touchpoint()
        .arg("--config")
        .arg(&cfg)
        .arg("migrate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(
        stderr(&out).contains("prediction.default_monthly_km: must be a positive number"),
        "{}",
        stderr(&out)
    );

    let cfg = crate::support::sqlite_config(dir.path(), "[plan]\ncycle_lenght = 3\n");
    let out = touchpoint()
        .arg("--config")
        .arg(&cfg)
        .arg("migrate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(stderr(&out).contains("cycle_lenght"), "{}", stderr(&out));

    let out = touchpoint()
        .arg("--config")
        .arg(dir.path().join("missing.toml"))
        .arg("migrate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
}

#[test]
fn environment_overrides_are_validated_too() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = crate::support::sqlite_config(dir.path(), "");
    let out = touchpoint()
        .arg("--config")
        .arg(&cfg)
        .arg("migrate")
        .env("TOUCHPOINT__SCHEDULE__INTERVAL_KM", "0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(
        stderr(&out).contains("schedule.interval_km"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn init_writes_a_working_installation_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("site");
    touchpoint().arg("init").arg(&target).assert().success();
    assert!(target.join("touchpoint.toml").is_file());
    assert!(target.join("touchpoint.db").is_file());
    assert!(target.join("outbox").is_dir());
    let cfg = target.join("touchpoint.toml");
    let out = touchpoint()
        .arg("--config")
        .arg(&cfg)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 migration(s) applied"));
    let out = touchpoint()
        .arg("--config")
        .arg(&cfg)
        .args(["queue", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let queue: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(queue["channels"], serde_json::json!({}));

    let out = touchpoint().arg("init").arg(&target).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("never overwrites"));
}

#[test]
fn commands_refuse_an_unmigrated_database() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = crate::support::sqlite_config(dir.path(), "");
    let out = touchpoint()
        .arg("--config")
        .arg(&cfg)
        .arg("queue")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("touchpoint migrate"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unknown_vin_is_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("site");
    touchpoint().arg("init").arg(&target).assert().success();
    let out = touchpoint()
        .arg("--config")
        .arg(target.join("touchpoint.toml"))
        .args(["next-service", "WVWZZZ1JZXW000001"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(65));
    assert!(stderr(&out).contains("no vehicle with VIN WVWZZZ1JZXW000001"));
}

#[test]
fn command_line_set_overrides_file_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = crate::support::sqlite_config(dir.path(), "[schedule]\ninterval_km = 0\n");
    // The file's invalid value is overridden from the command line.
    let out = touchpoint()
        .arg("--config")
        .arg(&cfg)
        .args(["--set", "schedule.interval_km=20000", "migrate"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = touchpoint()
        .arg("--config")
        .arg(&cfg)
        .args(["--set", "schedule.interval_km=-5", "migrate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    let out = touchpoint()
        .args(["--set", "nokey", "migrate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
}

#[test]
fn check_config_prints_the_effective_settings_with_secrets_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("touchpoint.toml");
    std::fs::write(
        &path,
        "[database]\r\nurl = \"postgres://tp:s3cretpw@db.example/touchpoint\"\r\n\
         [http]\r\nsecret = \"a-very-long-signing-secret\"\r\n\
         [email]\r\nsmtp_url = \"smtp://mailer:mailpass@smtp.example:587\"\r\n\
         [sms]\r\nprovider = \"http\"\r\nbase_url = \"https://gw:tokentok@sms.example/send\"\r\n\
         from = \"+4915112345678\"\r\nauth_token = \"tok-123456\"\r\n\
         [caps]\r\nmessages_per_30_days = 3\r\n",
    )
    .unwrap();
    let out = touchpoint()
        .arg("--config")
        .arg(&path)
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("# configuration OK: "), "{text}");
    for secret in [
        "s3cretpw",
        "a-very-long-signing-secret",
        "mailpass",
        "tokentok",
        "tok-123456",
    ] {
        assert!(!text.contains(secret), "{secret} shown: {text}");
    }
    // The rest is the effective configuration, as TOML: the file's values
    // over the defaults.
    let settings: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(
        settings["database"]["url"].as_str(),
        Some("postgres://tp:***@db.example/touchpoint")
    );
    assert_eq!(settings["http"]["secret"].as_str(), Some("***"));
    assert_eq!(settings["sms"]["auth_token"].as_str(), Some("***"));
    assert_eq!(
        settings["email"]["smtp_url"].as_str(),
        Some("smtp://mailer:***@smtp.example:587")
    );
    assert_eq!(
        settings["caps"]["messages_per_30_days"].as_integer(),
        Some(3)
    );
    assert_eq!(settings["plan"]["grace_days"].as_integer(), Some(7));

    let out = touchpoint()
        .arg("--config")
        .arg(&path)
        .args(["check-config", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["file"].as_str(), Some(path.to_str().unwrap()));
    assert_eq!(v["settings"]["http"]["secret"], "***");

    // A bad value, a missing plan template: 78, with the key.
    for (extra, key) in [
        (
            "[approval]\nchannels = [\"call\"]\n",
            "approval.channels[0]",
        ),
        (
            "[plan]\ntemplate = \"no-such-plan.toml\"\n",
            "plan.template",
        ),
    ] {
        let cfg = crate::support::sqlite_config(dir.path(), extra);
        let out = touchpoint()
            .arg("--config")
            .arg(&cfg)
            .arg("check-config")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(78), "{extra}");
        assert!(stderr(&out).contains(key), "{}", stderr(&out));
    }
}

/// Runs the binary with `args` off the test's runtime (its servers go on).
async fn run(args: Vec<std::ffi::OsString>) -> std::process::Output {
    tokio::task::spawn_blocking(move || touchpoint().args(args).output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_messages_go_through_the_configured_transports_and_print_the_answer() {
    use wiremock::matchers::{body_string_contains, method};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let dir = tempfile::tempdir().unwrap();
    let args = |cfg: &std::path::Path, rest: &[&str]| -> Vec<std::ffi::OsString> {
        let mut a: Vec<std::ffi::OsString> = vec!["--config".into(), cfg.into()];
        a.extend(rest.iter().map(|s| s.into()));
        a
    };

    // Email, to a real SMTP server.
    let smtp = crate::smtp_server::SmtpServer::start();
    let cfg = crate::support::sqlite_config(
        dir.path(),
        &format!("[email]\nsmtp_url = \"smtp://127.0.0.1:{}\"\n", smtp.port),
    );
    let out = run(args(&cfg, &["send-test-email", " anna@example.com "])).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("email to anna@example.com via smtp: sent: "),
        "{text}"
    );
    let mail = smtp.delivered();
    assert_eq!(mail.len(), 1);
    assert!(mail[0].contains("anna@example.com") && mail[0].contains("a test message"));
    let out = run(args(&cfg, &["send-test-email", "anna-at-example"])).await;
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    assert!(stderr(&out).contains("address"), "{}", stderr(&out));
    assert_eq!(smtp.delivered().len(), 1, "nothing sent to a bad address");

    // SMS, to a gateway that takes the first and then answers 503.
    let gateway = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("To=%2B4915112345678"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({"sid": "SM77"})))
        .up_to_n_times(1)
        .mount(&gateway)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&gateway)
        .await;
    let cfg = crate::support::sqlite_config(
        dir.path(),
        &format!(
            "[sms]\nprovider = \"twilio\"\nbase_url = \"{}\"\naccount_sid = \"AC1\"\n\
             auth_token = \"tok\"\nfrom = \"+4930111222\"\n",
            gateway.uri()
        ),
    );
    // A national number, read in [import] default_region (DE).
    let out = run(args(&cfg, &["send-test-sms", "0151 12345678"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "sms to +4915112345678 via sms-gateway: sent: id SM77\n"
    );
    let out = run(args(&cfg, &["send-test-sms", "+4915112345678", "--json"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "transient", "{v}");
    assert!(v["reason"].as_str().unwrap().contains("503"), "{v}");
}
