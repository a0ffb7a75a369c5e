use super::Invalid;
use std::fmt;

/// A vehicle identification number: 17 characters from A–Z (without I, O, Q)
/// and 0–9. No check digit is required: only North America uses one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vin(String);

impl Vin {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        let upper = s.to_ascii_uppercase();
        if upper.chars().count() != 17 {
            return Err(Invalid::new(format!(
                "'{s}' has {} characters, a VIN has 17",
                s.chars().count()
            )));
        }
        if let Some(bad) = upper.chars().find(|c| {
            !(c.is_ascii_digit() || c.is_ascii_uppercase()) || matches!(c, 'I' | 'O' | 'Q')
        }) {
            return Err(Invalid::new(format!(
                "'{s}' contains '{bad}'; a VIN uses A-Z without I, O, Q and 0-9"
            )));
        }
        Ok(Self(upper))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Vin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_a_real_vin_and_upper_cases() {
        assert_eq!(
            Vin::parse("wvwzzz1jzxw000001").unwrap().as_str(),
            "WVWZZZ1JZXW000001"
        );
    }

    #[test]
    fn rejects_wrong_length_and_letters() {
        assert!(
            Vin::parse("WVWZZZ1JZXW00000")
                .unwrap_err()
                .0
                .contains("16 characters")
        );
        assert!(
            Vin::parse("WVWZZZ1JZXW00000O")
                .unwrap_err()
                .0
                .contains("'O'")
        );
        assert!(Vin::parse("WVWZZZ1JZXW00000I").is_err());
        assert!(Vin::parse("WVWZZZ1JZXW00000Q").is_err());
        assert!(Vin::parse("WVWZZZ1JZXW00000-").is_err());
    }

    proptest! {
        #[test]
        fn valid_alphabet_always_parses(s in "[A-HJ-NPR-Z0-9]{17}") {
            let vin = Vin::parse(&s).unwrap();
            prop_assert_eq!(vin.as_str(), s.as_str());
        }

        #[test]
        fn forbidden_letter_never_parses(prefix in "[A-HJ-NPR-Z0-9]{16}", bad in "[IOQ]") {
            let candidate = format!("{}{}", prefix, bad);
            prop_assert!(Vin::parse(&candidate).is_err());
        }
    }
}
