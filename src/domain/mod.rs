//! Domain values that can only be built valid: parsing is the only way in.

mod contact;
pub mod people;
pub use people::{ApiToken, AuditEntry, Permission, Role, User};
mod phone_rules;
mod records;
pub use records::{Customer, Message, Touchpoint, Vehicle};
pub mod states;
pub use states::{CallTaskState, MessageState, TouchpointState, UnknownState};
mod vin;

pub use contact::{EmailAddress, PhoneNumber, parse_region};
pub use vin::Vin;

use chrono::NaiveDate;
use std::fmt;

/// Why a value was rejected: a sentence for the `FILE:LINE: column: reason` report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

/// Channels a touchpoint can go out on.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Sms,
    Call,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Call => "call",
        }
    }

    /// The channel of a stored text (`email`, `sms`; anything else is a
    /// call, as the schema allows nothing else).
    pub fn of_stored(text: &str) -> Self {
        match text {
            "email" => Channel::Email,
            "sms" => Channel::Sms,
            _ => Channel::Call,
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Service touchpoints need no marketing consent; marketing ones do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Service,
    Marketing,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Service => "service",
            Category::Marketing => "marketing",
        }
    }
}

/// What an odometer reading was taken at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VisitKind {
    Service,
    Repair,
    Inspection,
    Reading,
}

impl VisitKind {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s.trim() {
            "service" => Ok(Self::Service),
            "repair" => Ok(Self::Repair),
            "inspection" => Ok(Self::Inspection),
            "reading" => Ok(Self::Reading),
            other => Err(Invalid::new(format!(
                "'{other}' is not one of service, repair, inspection, reading"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::Repair => "repair",
            Self::Inspection => "inspection",
            Self::Reading => "reading",
        }
    }
}

/// A real calendar date in ISO form, not after `today`.
pub fn parse_past_date(s: &str, today: NaiveDate) -> Result<NaiveDate, Invalid> {
    let date = parse_date(s)?;
    if date > today {
        return Err(Invalid::new(format!("{date} is in the future")));
    }
    Ok(date)
}

/// A real calendar date in ISO `YYYY-MM-DD` form.
pub fn parse_date(s: &str) -> Result<NaiveDate, Invalid> {
    let s = s.trim();
    let bytes = s.as_bytes();
    let shaped = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shaped {
        return Err(Invalid::new(format!(
            "'{s}' is not a date in YYYY-MM-DD form"
        )));
    }
    // The shape is checked: read the digits directly (`parse_from_str`
    // interprets its format string on every call).
    let number = |range: std::ops::Range<usize>| {
        bytes[range]
            .iter()
            .fold(0u32, |n, b| n * 10 + u32::from(b - b'0'))
    };
    let year = i32::try_from(number(0..4)).unwrap_or_default();
    NaiveDate::from_ymd_opt(year, number(5..7), number(8..10))
        .ok_or_else(|| Invalid::new(format!("'{s}' is not a real calendar date")))
}

/// `true`/`false`, `yes`/`no`, `1`/`0` (any case).
pub fn parse_bool(s: &str) -> Result<bool, Invalid> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        other => Err(Invalid::new(format!(
            "'{other}' is not a boolean (true/false, yes/no, 1/0)"
        ))),
    }
}

/// An IANA time zone name such as `Europe/Berlin`.
pub fn parse_timezone(s: &str) -> Result<chrono_tz::Tz, Invalid> {
    let s = s.trim();
    s.parse::<chrono_tz::Tz>()
        .map_err(|_| Invalid::new(format!("'{s}' is not an IANA time zone")))
}

/// A non-negative whole number of kilometres (decimals are rounded).
pub fn parse_odometer(s: &str) -> Result<i64, Invalid> {
    let s = s.trim();
    let value: f64 = s
        .parse()
        .map_err(|_| Invalid::new(format!("'{s}' is not a number")))?;
    if !value.is_finite() {
        return Err(Invalid::new(format!("'{s}' is not a number")));
    }
    if value < 0.0 {
        return Err(Invalid::new(format!("{s} is negative")));
    }
    if value > 10_000_000.0 {
        return Err(Invalid::new(format!("{s} is beyond any real odometer")));
    }
    Ok(value.round() as i64)
}

/// A distance given in a unit of `km_per_unit` kilometres (1 for km,
/// 1.609344 for miles), as whole kilometres: the odometer rules apply.
pub fn parse_distance_km(s: &str, km_per_unit: f64) -> Result<i64, Invalid> {
    let in_unit = parse_odometer(s)?;
    if km_per_unit == 1.0 {
        return Ok(in_unit);
    }
    let value: f64 = s
        .trim()
        .parse()
        .map_err(|_| Invalid::new(format!("'{}' is not a number", s.trim())))?;
    Ok((value * km_per_unit).round() as i64)
}

/// A declared average monthly distance in a unit of `km_per_unit`
/// kilometres, as km: more than 0 and within reason.
pub fn parse_monthly_km(s: &str, km_per_unit: f64) -> Result<f64, Invalid> {
    let s = s.trim();
    let value: f64 = s
        .parse()
        .map_err(|_| Invalid::new(format!("'{s}' is not a number")))?;
    if !value.is_finite() {
        return Err(Invalid::new(format!("'{s}' is not a number")));
    }
    if value <= 0.0 {
        return Err(Invalid::new(format!(
            "{s} is not more than 0 (leave it empty when unknown)"
        )));
    }
    if value > 100_000.0 {
        return Err(Invalid::new(format!(
            "{s} is beyond any real monthly distance"
        )));
    }
    Ok(value * km_per_unit)
}

/// A required, non-empty identifier without surrounding blanks.
pub fn parse_id(s: &str) -> Result<String, Invalid> {
    let s = s.trim();
    if s.is_empty() {
        return Err(Invalid::new("is empty"));
    }
    if s.len() > 64 {
        return Err(Invalid::new("is longer than 64 characters"));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn dates_must_be_real_and_iso() {
        assert!(parse_date("2024-02-29").is_ok());
        assert!(
            parse_date("2023-02-29")
                .unwrap_err()
                .0
                .contains("not a real")
        );
        assert!(parse_date("2023-2-1").unwrap_err().0.contains("YYYY-MM-DD"));
        assert!(parse_date("01/02/2023").is_err());
        assert!(
            parse_past_date("2030-01-01", d("2026-01-01"))
                .unwrap_err()
                .0
                .contains("future")
        );
    }

    #[test]
    fn booleans_accept_three_spellings() {
        for t in ["true", "YES", "1"] {
            assert_eq!(parse_bool(t), Ok(true));
        }
        for f in ["false", "no", "0"] {
            assert_eq!(parse_bool(f), Ok(false));
        }
        assert!(parse_bool("maybe").is_err());
        assert!(parse_bool("").is_err());
    }

    #[test]
    fn odometer_rejects_negative_and_garbage() {
        assert_eq!(parse_odometer("12000"), Ok(12000));
        assert_eq!(parse_odometer("12000.6"), Ok(12001));
        assert!(parse_odometer("-1").unwrap_err().0.contains("negative"));
        assert!(parse_odometer("abc").is_err());
        assert!(parse_odometer("NaN").is_err());
    }

    #[test]
    fn timezones_are_iana() {
        assert!(parse_timezone("Europe/Berlin").is_ok());
        assert!(parse_timezone("Mars/Olympus").is_err());
    }

    proptest! {
        #[test]
        fn every_real_date_round_trips(days in 0i64..100_000) {
            let date = d("1900-01-01") + chrono::Duration::days(days);
            prop_assert_eq!(parse_date(&date.format("%Y-%m-%d").to_string()), Ok(date));
        }
    }
}
