//! The desk's sessions, kept in the product's own database (so every
//! instance on one database knows them): only the SHA-256 of a session's
//! id is stored, with its user, so that a password change can end them.

use super::people::sha256_hex;
use crate::store::people;
use sea_orm::DatabaseConnection;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

/// The key of the signed-in user's id in a session's data.
pub const USER_KEY: &str = "user";

/// Sessions in the database.
#[derive(Debug, Clone)]
pub struct DbSessions {
    pub db: DatabaseConnection,
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn parts(
    record: &Record,
) -> session_store::Result<(String, Option<i64>, String, chrono::DateTime<chrono::Utc>)> {
    let data = serde_json::to_string(&record.data)
        .map_err(|e| session_store::Error::Encode(e.to_string()))?;
    let user = record
        .data
        .get(USER_KEY)
        .and_then(serde_json::Value::as_i64);
    let expires = chrono::DateTime::from_timestamp(record.expiry_date.unix_timestamp(), 0)
        .ok_or_else(|| session_store::Error::Encode("expiry out of range".into()))?;
    Ok((sha256_hex(&record.id.to_string()), user, data, expires))
}

#[async_trait::async_trait]
impl SessionStore for DbSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A new id until one is free (a collision of 128 random bits).
        loop {
            let (id, user, data, expires) = parts(record)?;
            if people::save_session(&self.db, &id, user, &data, expires, true)
                .await
                .map_err(backend)?
            {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let (id, user, data, expires) = parts(record)?;
        people::save_session(&self.db, &id, user, &data, expires, false)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = chrono::Utc::now();
        let Some((data, expires)) = people::session(&self.db, &sha256_hex(&id.to_string()), now)
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let data =
            serde_json::from_str(&data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date = time::OffsetDateTime::from_unix_timestamp(expires.timestamp())
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        people::delete_session(&self.db, &sha256_hex(&id.to_string()))
            .await
            .map_err(backend)
    }
}

/// The hash under which a session is stored (to keep it at a password change).
pub fn stored_id(id: &Id) -> String {
    sha256_hex(&id.to_string())
}

/// Removes expired sessions; the daemon calls it now and then.
pub async fn sweep(db: &DatabaseConnection) -> Result<u64, super::Failure> {
    Ok(people::delete_expired_sessions(db, chrono::Utc::now()).await?)
}
