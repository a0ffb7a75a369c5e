//! `user` and `token` through the binary, on every backend: passwords from
//! standard input or generated and shown once, tokens printed alone on
//! standard output and stored only as their hash, bad input refused with 65
//! and nothing changed.

use crate::helpers::{instances, stderr, stdout};

/// Runs `args` with `input` on standard input.
fn with_stdin(tp: &crate::helpers::Instance, args: &[&str], input: &str) -> std::process::Output {
    tp.touchpoint()
        .args(args)
        .write_stdin(input)
        .output()
        .unwrap()
}

#[test]
fn users_are_added_listed_changed_and_removed() {
    for tp in instances() {
        let b = tp.backend;
        let out = with_stdin(
            &tp,
            &["user", "add", "Anna.Berg@Dealer.Example", "--role", "admin"],
            "correct horse battery\r\n",
        );
        assert!(out.status.success(), "{b}: {}", stderr(&out));
        assert_eq!(stdout(&out), "added anna.berg@dealer.example (admin)\n");

        // No password given: one is generated and printed alone on stdout.
        let out = with_stdin(
            &tp,
            &["user", "add", "jonas@dealer.example", "--role", "advisor"],
            "",
        );
        assert!(out.status.success(), "{b}: {}", stderr(&out));
        let generated = stdout(&out).trim().to_string();
        assert_eq!(generated.len(), 20, "{b}: {generated:?}");

        // The same address twice, a short password, a bad address, a bad role.
        for (args, input) in [
            (
                vec![
                    "user",
                    "add",
                    "ANNA.BERG@dealer.example",
                    "--role",
                    "viewer",
                ],
                "another good one",
            ),
            (
                vec!["user", "add", "lea@dealer.example", "--role", "viewer"],
                "short",
            ),
            (
                vec!["user", "add", "not-an-address", "--role", "viewer"],
                "long enough password",
            ),
        ] {
            let out = with_stdin(&tp, &args, input);
            assert_eq!(
                out.status.code(),
                Some(65),
                "{b}: {args:?}: {}",
                stderr(&out)
            );
        }
        let out = tp.run(&["user", "add", "lea@dealer.example", "--role", "root"]);
        assert_eq!(out.status.code(), Some(64), "{b}");

        let listed = tp.json(&["user", "list"]);
        let emails: Vec<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap())
            .collect();
        assert_eq!(
            emails,
            ["anna.berg@dealer.example", "jonas@dealer.example"],
            "{b}"
        );
        assert_eq!(listed[0]["role"], "admin");
        assert!(listed[0].get("password_hash").is_none(), "{b}: {listed}");
        // Only an argon2id hash is stored.
        let snapshot = tp.snapshot_table("users");
        assert!(snapshot.contains("$argon2id$"), "{b}: {snapshot}");
        assert!(!snapshot.contains("correct horse"), "{b}: {snapshot}");
        assert!(!snapshot.contains(&generated), "{b}");

        let out = with_stdin(
            &tp,
            &["user", "passwd", "jonas@dealer.example"],
            "a brand new password\n",
        );
        assert!(out.status.success(), "{b}: {}", stderr(&out));
        let out = with_stdin(
            &tp,
            &["user", "passwd", "nobody@dealer.example"],
            "a brand new password\n",
        );
        assert_eq!(out.status.code(), Some(65), "{b}");

        let out = tp.run(&["user", "remove", "jonas@dealer.example"]);
        assert!(out.status.success(), "{b}: {}", stderr(&out));
        let out = tp.run(&["user", "remove", "jonas@dealer.example"]);
        assert_eq!(out.status.code(), Some(65), "{b}");
        assert!(stderr(&out).contains("no user jonas@dealer.example"), "{b}");
        assert_eq!(
            tp.json(&["user", "list"]).as_array().unwrap().len(),
            1,
            "{b}"
        );
    }
}

#[test]
fn a_token_is_printed_once_alone_and_stored_as_its_hash() {
    for tp in instances() {
        let b = tp.backend;
        let out = tp.run(&["token", "add", "dms-sync", "--role", "advisor"]);
        assert!(out.status.success(), "{b}: {}", stderr(&out));
        let token = stdout(&out);
        assert!(token.ends_with('\n'));
        let token = token.trim_end();
        assert!(
            token.starts_with("tp_") && !token.contains(char::is_whitespace),
            "{b}: {token:?}"
        );
        assert!(token.len() >= 40, "{b}: {token}");

        let snapshot = tp.snapshot_table("api_tokens");
        assert!(!snapshot.contains(token), "{b}: the token itself is stored");
        assert!(
            snapshot.contains(&touchpoint::app::people::sha256_hex(token)),
            "{b}"
        );

        let out = tp.run(&["token", "add", "dms-sync", "--role", "viewer"]);
        assert_eq!(out.status.code(), Some(65), "{b}");
        let listed = tp.json(&["token", "list"]);
        assert_eq!(listed[0]["name"], "dms-sync", "{b}");
        assert_eq!(listed[0]["role"], "advisor", "{b}");
        assert_eq!(listed.as_array().unwrap().len(), 1, "{b}");

        assert!(tp.run(&["token", "remove", "dms-sync"]).status.success());
        assert_eq!(
            tp.run(&["token", "remove", "dms-sync"]).status.code(),
            Some(65)
        );
        assert_eq!(tp.json(&["token", "list"]), serde_json::json!([]), "{b}");
    }
}
