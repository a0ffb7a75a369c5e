//! The people who use the desk and the API: users (argon2id passwords),
//! API tokens (shown once, stored as SHA-256), sign-in with its lockout,
//! and the audit log of what they do.

use super::Failure;
use crate::domain::{ApiToken, AuditEntry, Role, User};
use crate::store::{StoreError, people};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use ring::rand::{SecureRandom, SystemRandom};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde::Serialize;

/// Every API token starts so, to be recognised in a leak or a log.
pub const TOKEN_PREFIX: &str = "tp_";
/// Who the imports history names for the files of the import folder.
pub const IMPORT_FOLDER: &str = "import folder";
/// The shortest password a person may choose.
pub const MIN_PASSWORD: usize = 10;
/// Failed sign-ins in a row before the account locks.
pub const LOCK_AFTER: i32 = 5;
/// How long a locked account stays locked.
pub const LOCKED_FOR: Duration = Duration::minutes(15);

/// Who acts: a signed-in user or an API token.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// The user's email, or `token:NAME`.
    pub name: String,
    pub role: Role,
    pub user_id: Option<i64>,
    pub locale: Option<String>,
}

impl Principal {
    /// Whoever runs the command line: an administrator, named by `--by`.
    pub fn command_line(by: Option<&str>) -> Self {
        Self {
            name: super::actor(by),
            role: Role::Admin,
            user_id: None,
            locale: None,
        }
    }

    /// The daemon's import folder, as the imports history names it.
    pub fn import_folder() -> Self {
        Self {
            name: IMPORT_FOLDER.into(),
            role: Role::Admin,
            user_id: None,
            locale: None,
        }
    }

    pub fn of_user(u: &User) -> Self {
        Self {
            name: u.email.clone(),
            role: u.role,
            user_id: Some(u.id),
            locale: u.locale.clone(),
        }
    }
}

/// A user as listed (never the hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Listed {
    pub email: String,
    pub role: Role,
    pub locale: Option<String>,
    pub locked: bool,
    pub created_at: DateTime<Utc>,
}

/// `count` random bytes, URL-safe base64.
fn random_text(count: usize) -> Result<String, Failure> {
    let mut bytes = vec![0u8; count];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Failure::Other("the system's random source failed".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// A new random password (20 characters), for a person to change.
pub fn generated_password() -> Result<String, Failure> {
    random_text(15)
}

/// Hex SHA-256, for tokens and session ids (random, so no salt is needed).
pub fn sha256_hex(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The argon2id hash of `password` (default parameters), off the runtime.
pub async fn hash_password(password: String) -> Result<String, Failure> {
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| Failure::Other("the system's random source failed".into()))?;
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password_with_salt(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Failure::Other(format!("cannot hash the password: {e}")))
    })
    .await
    .map_err(|e| Failure::Other(format!("cannot hash the password: {e}")))?
}

/// Whether `password` matches `hash`, off the runtime.
async fn verify(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

/// A hash no password matches, checked when the email is unknown so that
/// the answer takes as long as for a real account.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0vJcbdXQ/8ZwJ+v4tHV52gZPaOy3gvvqa+8jT1Ij+1c";

fn email_of(email: &str) -> Result<String, Failure> {
    let email = email.trim().to_lowercase();
    if !email_address::EmailAddress::is_valid(&email) {
        return Err(Failure::Data(format!("'{email}' is not an email address")));
    }
    Ok(email)
}

fn check_password(password: &str) -> Result<(), Failure> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(Failure::Data(format!(
            "the password is too short: at least {MIN_PASSWORD} characters"
        )));
    }
    Ok(())
}

/// What adding a user did: the password when one was generated (shown once).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Added {
    pub email: String,
    pub role: Role,
    pub generated_password: Option<String>,
}

/// Adds a user with `password`, or a generated one when none is given.
pub async fn add_user(
    db: &DatabaseConnection,
    email: &str,
    role: Role,
    password: Option<String>,
    now: DateTime<Utc>,
) -> Result<Added, Failure> {
    let email = email_of(email)?;
    let (password, generated) = match password {
        Some(p) => {
            check_password(&p)?;
            (p, None)
        }
        None => {
            let p = generated_password()?;
            (p.clone(), Some(p))
        }
    };
    let hash = hash_password(password).await?;
    if !people::add_user(db, &email, role, &hash, now).await? {
        return Err(Failure::Conflict(format!("a user {email} exists already")));
    }
    Ok(Added {
        email,
        role,
        generated_password: generated,
    })
}

/// Sets a user's password; their other sessions end (all, from the CLI).
pub async fn change_password(
    db: &DatabaseConnection,
    email: &str,
    password: String,
    keep_session: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), Failure> {
    let email = email_of(email)?;
    check_password(&password)?;
    let Some(user) = people::user_by_email(db, &email).await? else {
        return Err(Failure::NotFound(format!("no user {email}")));
    };
    let hash = hash_password(password).await?;
    people::set_password(db, user.id, &hash, keep_session, now).await?;
    Ok(())
}

pub async fn remove_user(db: &DatabaseConnection, email: &str) -> Result<(), Failure> {
    let email = email_of(email)?;
    if !people::remove_user(db, &email).await? {
        return Err(Failure::NotFound(format!("no user {email}")));
    }
    Ok(())
}

pub async fn users(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<Vec<Listed>, Failure> {
    Ok(people::users(db)
        .await?
        .into_iter()
        .map(|u| Listed {
            locked: u.locked_until.is_some_and(|t| t > now),
            email: u.email,
            role: u.role,
            locale: u.locale,
            created_at: u.created_at,
        })
        .collect())
}

pub async fn set_locale(
    db: &DatabaseConnection,
    user_id: i64,
    locale: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), Failure> {
    Ok(people::set_locale(db, user_id, locale, now).await?)
}

/// Adds an API token; the token is returned once and only its hash kept.
pub async fn add_token(
    db: &DatabaseConnection,
    name: &str,
    role: Role,
    now: DateTime<Utc>,
) -> Result<String, Failure> {
    let name = name.trim();
    if name.is_empty() || name.chars().any(char::is_whitespace) {
        return Err(Failure::Data(
            "a token's name is one word, such as 'dms-sync'".into(),
        ));
    }
    let token = format!("{TOKEN_PREFIX}{}", random_text(32)?);
    if !people::add_token(db, name, role, &sha256_hex(&token), now).await? {
        return Err(Failure::Conflict(format!(
            "a token named {name} exists already"
        )));
    }
    Ok(token)
}

pub async fn remove_token(db: &DatabaseConnection, name: &str) -> Result<(), Failure> {
    if !people::remove_token(db, name.trim()).await? {
        return Err(Failure::NotFound(format!("no token named {}", name.trim())));
    }
    Ok(())
}

pub async fn tokens(db: &DatabaseConnection) -> Result<Vec<ApiToken>, Failure> {
    Ok(people::tokens(db).await?)
}

/// The principal a bearer token stands for.
pub async fn by_token(
    db: &DatabaseConnection,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Principal>, Failure> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    Ok(people::use_token(db, &sha256_hex(token), now)
        .await?
        .map(|t| Principal {
            name: format!("token:{}", t.name),
            role: t.role,
            user_id: None,
            locale: None,
        }))
}

/// The answer to a sign-in.
#[derive(Debug, Clone, PartialEq)]
pub enum SignIn {
    Welcome(User),
    /// Wrong email or password (the same answer for both), with the
    /// failures in a row so far (0 for an unknown email).
    Refused {
        failures: i32,
    },
    /// Too many failures: refused, whatever the password, until then.
    Locked {
        until: DateTime<Utc>,
    },
}

/// After a failure: the failures in a row and, at [`LOCK_AFTER`], the lock.
pub fn after_failure(failures_before: i32, now: DateTime<Utc>) -> (i32, Option<DateTime<Utc>>) {
    let failures = failures_before.saturating_add(1);
    let lock = (failures >= LOCK_AFTER).then(|| now + LOCKED_FOR);
    (failures, lock)
}

/// Checks an email and password. An unknown email costs the same hash as a
/// known one; a locked account is refused without looking at the password.
pub async fn sign_in(
    db: &DatabaseConnection,
    email: &str,
    password: &str,
    now: DateTime<Utc>,
) -> Result<SignIn, Failure> {
    let email = email.trim().to_lowercase();
    let Some(user) = people::user_by_email(db, &email).await? else {
        verify(password.to_string(), DUMMY_HASH.to_string()).await;
        return Ok(SignIn::Refused { failures: 0 });
    };
    if let Some(until) = user.locked_until.filter(|t| *t > now) {
        return Ok(SignIn::Locked { until });
    }
    // A lock that ran out starts the count again.
    let before = if user.locked_until.is_some() {
        0
    } else {
        user.failed_signins
    };
    if verify(password.to_string(), user.password_hash.clone()).await {
        if user.failed_signins != 0 || user.locked_until.is_some() {
            people::record_signin(db, user.id, 0, None).await?;
        }
        return Ok(SignIn::Welcome(user));
    }
    let (failures, lock) = after_failure(before, now);
    people::record_signin(db, user.id, failures, lock).await?;
    Ok(match lock {
        Some(until) => SignIn::Locked { until },
        None => SignIn::Refused { failures },
    })
}

/// The user behind a session.
pub async fn user(db: &DatabaseConnection, id: i64) -> Result<Option<User>, Failure> {
    Ok(people::user_by_id(db, id).await?)
}

/// Who acts and from where: the audit log's entry is written once the
/// action has been carried out (a refused action writes none).
#[derive(Debug, Clone)]
pub struct Act<'a> {
    pub by: &'a Principal,
    pub address: Option<String>,
}

/// What an action changed, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub action: String,
    /// A touchpoint key, a customer id, a message or call number…
    pub subject: String,
    /// The stored id of the person it concerns, for their timeline.
    pub customer: Option<i64>,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl Act<'_> {
    /// Writes the entry of `change` at `now`.
    pub async fn log<C: ConnectionTrait>(
        &self,
        db: &C,
        change: Change,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        people::audit(
            db,
            &AuditEntry {
                id: 0,
                at: now,
                actor: self.by.name.clone(),
                address: self.address.clone(),
                action: change.action,
                subject: change.subject,
                customer_id: change.customer,
                before: change.before,
                after: change.after,
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fifth_failure_in_a_row_locks() {
        let now = Utc::now();
        let mut failures = 0;
        for _ in 1..LOCK_AFTER {
            let (f, lock) = after_failure(failures, now);
            assert_eq!(lock, None);
            failures = f;
        }
        assert_eq!(
            after_failure(failures, now),
            (LOCK_AFTER, Some(now + LOCKED_FOR))
        );
    }

    #[test]
    fn the_dummy_hash_is_a_valid_argon2id_hash_no_password_matches() {
        let parsed = argon2::PasswordHash::new(DUMMY_HASH).expect("a PHC string");
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        assert!(
            Argon2::default()
                .verify_password(b"password", DUMMY_HASH)
                .is_err()
        );
    }

    #[test]
    fn tokens_hash_to_hex_sha256() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
