use crate::domain::{Category, Channel};

/// What the consent rules know of a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Person {
    pub has_email: bool,
    pub has_phone: bool,
    pub consent_email_marketing: bool,
    /// Covers marketing SMS and marketing calls (the phone consent).
    pub consent_sms_marketing: bool,
    pub opted_out_email: bool,
    /// An SMS opt-out (STOP) stops SMS and calls.
    pub opted_out_sms: bool,
    /// A call opt-out stops calls alone.
    pub opted_out_call: bool,
}

/// Why a touchpoint may not go to a person on its channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NoAddress(Channel),
    OptedOut(Channel),
    NoMarketingConsent(Channel),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoAddress(Channel::Email) => f.write_str("no email address on file"),
            Refusal::NoAddress(_) => f.write_str("no phone number on file"),
            Refusal::OptedOut(c) => write!(f, "the owner opted out of {c}"),
            Refusal::NoMarketingConsent(Channel::Email) => {
                f.write_str("no marketing consent for email")
            }
            Refusal::NoMarketingConsent(_) => {
                f.write_str("no marketing consent for the phone (SMS and calls)")
            }
        }
    }
}

/// Whether a touchpoint of `category` may go to `person` on `channel`:
/// marketing needs the channel's consent, service does not; an opt-out stops
/// the channel whatever the category.
pub fn permitted(person: &Person, category: Category, channel: Channel) -> Result<(), Refusal> {
    let (has, opted_out, consent) = match channel {
        Channel::Email => (
            person.has_email,
            person.opted_out_email,
            person.consent_email_marketing,
        ),
        Channel::Sms => (
            person.has_phone,
            person.opted_out_sms,
            person.consent_sms_marketing,
        ),
        Channel::Call => (
            person.has_phone,
            person.opted_out_sms || person.opted_out_call,
            person.consent_sms_marketing,
        ),
    };
    if !has {
        return Err(Refusal::NoAddress(channel));
    }
    if opted_out {
        return Err(Refusal::OptedOut(channel));
    }
    if category == Category::Marketing && !consent {
        return Err(Refusal::NoMarketingConsent(channel));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn everyone() -> Person {
        Person {
            has_email: true,
            has_phone: true,
            consent_email_marketing: true,
            consent_sms_marketing: true,
            opted_out_email: false,
            opted_out_sms: false,
            opted_out_call: false,
        }
    }

    #[test]
    fn service_needs_no_consent_marketing_does() {
        let p = Person {
            consent_email_marketing: false,
            consent_sms_marketing: false,
            ..everyone()
        };
        assert_eq!(permitted(&p, Category::Service, Channel::Email), Ok(()));
        assert_eq!(
            permitted(&p, Category::Marketing, Channel::Email),
            Err(Refusal::NoMarketingConsent(Channel::Email))
        );
        assert_eq!(
            permitted(&p, Category::Marketing, Channel::Call),
            Err(Refusal::NoMarketingConsent(Channel::Call))
        );
    }

    #[test]
    fn opt_out_stops_the_channel_even_for_service() {
        let p = Person {
            opted_out_sms: true,
            ..everyone()
        };
        assert_eq!(
            permitted(&p, Category::Service, Channel::Sms),
            Err(Refusal::OptedOut(Channel::Sms))
        );
        assert_eq!(permitted(&p, Category::Service, Channel::Email), Ok(()));
        assert_eq!(
            permitted(&p, Category::Service, Channel::Call),
            Err(Refusal::OptedOut(Channel::Call)),
            "an SMS opt-out stops calls too"
        );
    }

    #[test]
    fn a_call_opt_out_stops_calls_alone() {
        let p = Person {
            opted_out_call: true,
            ..everyone()
        };
        assert_eq!(
            permitted(&p, Category::Service, Channel::Call),
            Err(Refusal::OptedOut(Channel::Call))
        );
        assert_eq!(permitted(&p, Category::Service, Channel::Sms), Ok(()));
    }

    proptest! {
        #[test]
        fn permitted_only_with_address_no_opt_out_and_consent_for_marketing(
            bits in 0u8..128, marketing: bool, ch in 0usize..3,
        ) {
            let p = Person {
                has_email: bits & 1 != 0,
                has_phone: bits & 2 != 0,
                consent_email_marketing: bits & 4 != 0,
                consent_sms_marketing: bits & 8 != 0,
                opted_out_email: bits & 16 != 0,
                opted_out_sms: bits & 32 != 0,
                opted_out_call: bits & 64 != 0,
            };
            let channel = [Channel::Email, Channel::Sms, Channel::Call][ch];
            let category = if marketing { Category::Marketing } else { Category::Service };
            let email = channel == Channel::Email;
            let expected = (if email { p.has_email } else { p.has_phone })
                && !match channel {
                    Channel::Email => p.opted_out_email,
                    Channel::Sms => p.opted_out_sms,
                    Channel::Call => p.opted_out_sms || p.opted_out_call,
                }
                && (!marketing || if email { p.consent_email_marketing } else { p.consent_sms_marketing });
            prop_assert_eq!(permitted(&p, category, channel).is_ok(), expected);
        }
    }
}
