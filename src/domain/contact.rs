use super::Invalid;
use std::fmt;

/// A syntactically valid email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        if email_address::EmailAddress::is_valid(s) && s.contains('.') {
            Ok(Self(s.to_string()))
        } else {
            Err(Invalid::new(format!("'{s}' is not a valid email address")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number in E.164 form (`+4915112345678`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses international numbers as they are and national numbers in
    /// `default_region` (ISO 3166 alpha-2, e.g. `DE`).
    pub fn parse(
        s: &str,
        default_region: Option<phonenumber::country::Id>,
    ) -> Result<Self, Invalid> {
        let s = s.trim();
        let number = phonenumber::parse(default_region, s)
            .map_err(|_| Invalid::new(format!("'{s}' is not a phone number")))?;
        let valid =
            super::phone_rules::is_valid(&number).unwrap_or_else(|| phonenumber::is_valid(&number));
        if !valid {
            return Err(Invalid::new(format!(
                "'{s}' is not a valid phone number{}",
                if s.starts_with('+') {
                    ""
                } else {
                    " (national numbers are read in the configured default region)"
                }
            )));
        }
        // What `format().mode(Mode::E164)` writes, without its regex work.
        Ok(Self(format!(
            "+{}{}",
            number.country().code(),
            number.national()
        )))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads a region code such as `DE` or `US`.
pub fn parse_region(s: &str) -> Result<phonenumber::country::Id, Invalid> {
    s.trim()
        .to_ascii_uppercase()
        .parse::<phonenumber::country::Id>()
        .map_err(|_| Invalid::new(format!("'{s}' is not an ISO 3166 region code")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_syntax() {
        assert!(EmailAddress::parse("anna@example.com").is_ok());
        assert!(EmailAddress::parse("anna@").is_err());
        assert!(EmailAddress::parse("anna example.com").is_err());
        assert!(EmailAddress::parse("").is_err());
    }

    #[test]
    fn phones_normalise_to_e164() {
        let de = parse_region("de").unwrap();
        assert_eq!(
            PhoneNumber::parse("0151 12345678", Some(de))
                .unwrap()
                .as_str(),
            "+4915112345678"
        );
        assert_eq!(
            PhoneNumber::parse("+1 (415) 555-2671", Some(de))
                .unwrap()
                .as_str(),
            "+14155552671"
        );
        assert!(PhoneNumber::parse("12", Some(de)).is_err());
        assert!(PhoneNumber::parse("hello", None).is_err());
    }
}
