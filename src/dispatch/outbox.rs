//! The outbox folder: what a new install would send, written as files
//! (`email/KEY.eml`, `sms/KEY.txt`) instead of sent.

use super::{Outcome, Outgoing};
use crate::domain::Channel;
use lettre::message::Mailbox;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
    from: String,
}

impl Outbox {
    pub fn new(dir: PathBuf, from: &str) -> Self {
        Self {
            dir,
            from: from.to_string(),
        }
    }

    /// Where a message is (or would be) written.
    pub fn path_of(&self, message: &Outgoing) -> PathBuf {
        let name: String = message
            .key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        match message.channel {
            Channel::Email => self.dir.join("email").join(format!("{name}.eml")),
            Channel::Sms => self.dir.join("sms").join(format!("{name}.txt")),
            Channel::Call => self.dir.join("call").join(format!("{name}.txt")),
        }
    }

    pub async fn send(&self, message: &Outgoing) -> Outcome {
        let path = self.path_of(message);
        let bytes = match message.channel {
            Channel::Email => match self.email(message) {
                Ok(b) => b,
                Err(reason) => return Outcome::Permanent { reason },
            },
            _ => format!(
                "To: {}\nKey: {}\n\n{}\n",
                message.recipient, message.key, message.body
            )
            .into_bytes(),
        };
        match write_atomically(&path, &bytes).await {
            Ok(()) => Outcome::Sent {
                provider_ref: Some(path.display().to_string()),
            },
            Err(e) => Outcome::Transient {
                reason: format!("cannot write {}: {e}", path.display()),
                retry_after: None,
            },
        }
    }

    fn email(&self, m: &Outgoing) -> Result<Vec<u8>, String> {
        let from: Mailbox = self
            .from
            .parse()
            .map_err(|e| format!("from address: {e}"))?;
        Ok(super::email::build(&from, m)?.formatted())
    }
}

/// Writes through a temporary file and a rename: a crash leaves the file
/// whole or absent.
async fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    let tmp = path.with_extension("tmp");
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, path).await
}
