//! Signed unsubscribe links (RFC 8058 one-click): a token names a person and
//! a channel and carries an HMAC-SHA256 over them, so the link works without
//! a login and cannot be forged for somebody else. Pure: no I/O, no clock.

use crate::domain::Channel;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

/// Separates these MACs from anything else the secret may ever sign.
const CONTEXT: &[u8] = b"touchpoint unsubscribe v1\n";

/// Why a token was refused. One reason for every failure: a caller learns
/// nothing about which part was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the unsubscribe link is not valid (it may have been cut short or changed)")]
pub struct BadToken;

/// What a valid token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject {
    /// The customer's database id.
    pub customer_id: i64,
    pub channel: Channel,
}

/// The signing key and the public address links point to.
#[derive(Clone)]
pub struct Links {
    key: hmac::Key,
    public_url: String,
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Links")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl Links {
    /// `secret`: the configured or stored secret; `public_url`: where the
    /// HTTP endpoints are reachable from outside (no trailing slash needed).
    pub fn new(secret: &[u8], public_url: &str) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            public_url: public_url.trim_end_matches('/').to_string(),
        }
    }

    /// `base64url(payload) "." base64url(HMAC-SHA256(payload))`.
    pub fn token(&self, subject: Subject) -> String {
        let payload = format!("{}:{}", subject.customer_id, subject.channel.as_str());
        let tag = hmac::sign(&self.key, &signed(payload.as_bytes()));
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        )
    }

    /// The link put in the `List-Unsubscribe` header.
    pub fn url(&self, subject: Subject) -> String {
        format!("{}/unsubscribe/{}", self.public_url, self.token(subject))
    }

    /// The subject of a token whose MAC is right.
    pub fn verify(&self, token: &str) -> Result<Subject, BadToken> {
        let (payload, tag) = token.split_once('.').ok_or(BadToken)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| BadToken)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| BadToken)?;
        hmac::verify(&self.key, &signed(&payload), &tag).map_err(|_| BadToken)?;
        let text = std::str::from_utf8(&payload).map_err(|_| BadToken)?;
        let (id, channel) = text.split_once(':').ok_or(BadToken)?;
        let customer_id = id.parse().map_err(|_| BadToken)?;
        let channel = match channel {
            "email" => Channel::Email,
            "sms" => Channel::Sms,
            _ => return Err(BadToken),
        };
        Ok(Subject {
            customer_id,
            channel,
        })
    }
}

fn signed(payload: &[u8]) -> Vec<u8> {
    [CONTEXT, payload].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn links() -> Links {
        Links::new(b"a secret of the dealer", "https://tp.dealer.example/")
    }

    fn email(customer_id: i64) -> Subject {
        Subject {
            customer_id,
            channel: Channel::Email,
        }
    }

    #[test]
    fn url_has_the_public_address_and_a_verifiable_token() {
        let url = links().url(email(42));
        let token = url
            .strip_prefix("https://tp.dealer.example/unsubscribe/")
            .unwrap();
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        );
        assert_eq!(links().verify(token), Ok(email(42)));
    }

    #[test]
    fn another_secret_does_not_verify() {
        let token = links().token(email(7));
        let other = Links::new(b"another secret", "https://tp.dealer.example");
        assert_eq!(other.verify(&token), Err(BadToken));
    }

    #[test]
    fn a_payload_swapped_under_a_valid_tag_is_refused() {
        let a = links().token(email(1));
        let b = links().token(email(2));
        let (payload_b, _) = b.split_once('.').unwrap();
        let (_, tag_a) = a.split_once('.').unwrap();
        assert_eq!(
            links().verify(&format!("{payload_b}.{tag_a}")),
            Err(BadToken)
        );
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for token in ["", ".", "abc", "abc.", ".abc", "!!.!!", "a.b.c"] {
            assert_eq!(links().verify(token), Err(BadToken), "{token:?}");
        }
        // A well-signed payload that is not `id:channel` is refused too.
        let l = links();
        let payload = b"42:fax";
        let tag = hmac::sign(&l.key, &signed(payload));
        let token = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        );
        assert_eq!(l.verify(&token), Err(BadToken));
    }

    proptest! {
        #[test]
        fn round_trip(id in any::<i64>(), sms in any::<bool>()) {
            let subject = Subject {
                customer_id: id,
                channel: if sms { Channel::Sms } else { Channel::Email },
            };
            prop_assert_eq!(links().verify(&links().token(subject)), Ok(subject));
        }

        #[test]
        fn any_changed_character_is_refused(id in any::<i64>(), at in any::<prop::sample::Index>(), with in "[A-Za-z0-9_.-]") {
            let token = links().token(email(id));
            let i = at.index(token.len());
            let mut changed = token.clone();
            changed.replace_range(i..=i, &with);
            prop_assume!(changed != token);
            prop_assert_eq!(links().verify(&changed), Err(BadToken));
        }
    }
}
