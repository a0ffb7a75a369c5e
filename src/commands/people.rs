//! `user` and `token`: the desk's users and the API's tokens.

use super::{Failure, open, print};
use crate::app::people;
use crate::cli::{TokenAction, UserAction};
use crate::config::Config;
use chrono::Utc;
use std::io::{BufRead, IsTerminal};

/// The password on standard input's first line; none when standard input
/// is a terminal or that line is empty (then one is generated).
fn password_from_stdin() -> Result<Option<String>, Failure> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(None);
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::Other(format!("cannot read the password: {e}")))?;
    let line = line.trim_end_matches(['\r', '\n']);
    Ok((!line.is_empty()).then(|| line.to_string()))
}

pub async fn user(config: &Config, action: UserAction) -> Result<(), Failure> {
    let db = open(config).await?;
    let now = Utc::now();
    match action {
        UserAction::Add { email, role } => {
            let added =
                people::add_user(&db, &email, role.role(), password_from_stdin()?, now).await?;
            match added.generated_password {
                Some(p) => {
                    eprintln!(
                        "added {} ({}); the password, shown once:",
                        added.email, added.role
                    );
                    println!("{p}");
                }
                None => println!("added {} ({})", added.email, added.role),
            }
        }
        UserAction::Passwd { email } => {
            let (password, generated) = match password_from_stdin()? {
                Some(p) => (p, false),
                None => (people::generated_password()?, true),
            };
            people::change_password(&db, &email, password.clone(), None, now).await?;
            if generated {
                eprintln!("the new password of {email}, shown once:");
                println!("{password}");
            } else {
                println!("the password of {email} is changed; their sessions ended");
            }
        }
        UserAction::Remove { email } => {
            people::remove_user(&db, &email).await?;
            println!("removed {email}");
        }
        UserAction::List { out } => {
            let users = people::users(&db, now).await?;
            print(out.json, &users, |users| {
                users
                    .iter()
                    .map(|u| {
                        format!(
                            "{}\t{}{}\n",
                            u.email,
                            u.role,
                            if u.locked { "\tlocked" } else { "" }
                        )
                    })
                    .collect()
            })?;
        }
    }
    Ok(())
}

pub async fn token(config: &Config, action: TokenAction) -> Result<(), Failure> {
    let db = open(config).await?;
    let now = Utc::now();
    match action {
        TokenAction::Add { name, role } => {
            let token = people::add_token(&db, &name, role.role(), now).await?;
            eprintln!(
                "token {} ({}) added; it is shown once:",
                name.trim(),
                role.role()
            );
            println!("{token}");
        }
        TokenAction::Remove { name } => {
            people::remove_token(&db, &name).await?;
            println!("removed token {}", name.trim());
        }
        TokenAction::List { out } => {
            let tokens = people::tokens(&db).await?;
            print(out.json, &tokens, |tokens| {
                tokens
                    .iter()
                    .map(|t| {
                        let used = t
                            .last_used_at
                            .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                            .unwrap_or_else(|| "never used".into());
                        format!("{}\t{}\t{used}\n", t.name, t.role)
                    })
                    .collect()
            })?;
        }
    }
    Ok(())
}
