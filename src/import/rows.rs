//! Row validators: pure functions from one record's fields to a valid row or
//! every problem of that row, as `(column, reason)`.

use super::source::{Fields, Layout};
use crate::config::DistanceUnit;
use crate::domain::{
    EmailAddress, Invalid, PhoneNumber, Vin, VisitKind, parse_bool, parse_id, parse_past_date,
    parse_timezone,
};
use crate::store::import::{CustomerData, VehicleData};
use chrono::{Datelike, NaiveDate};

/// What rows are checked against: the day, the phone region, the distance unit.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub today: NaiveDate,
    pub region: Option<phonenumber::country::Id>,
    pub unit: DistanceUnit,
}

/// One problem of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub column: &'static str,
    pub reason: String,
}

/// A checked row: its key (for the uniqueness check, when the key itself is
/// valid) and the row or its problems.
#[derive(Debug)]
pub struct Checked<T> {
    pub key: Option<String>,
    pub row: Result<T, Vec<RowError>>,
}

/// Collects the problems of one row.
#[derive(Default)]
struct Problems(Vec<RowError>);

impl Problems {
    fn check<T>(&mut self, column: &'static str, result: Result<T, Invalid>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(RowError {
                    column,
                    reason: e.0,
                });
                None
            }
        }
    }

    fn push(&mut self, column: &'static str, reason: impl Into<String>) {
        self.0.push(RowError {
            column,
            reason: reason.into(),
        });
    }
}

/// An optional value: empty text is `None`.
fn optional<T>(
    s: &str,
    parse: impl FnOnce(&str) -> Result<T, Invalid>,
) -> Result<Option<T>, Invalid> {
    if s.is_empty() {
        Ok(None)
    } else {
        parse(s).map(Some)
    }
}

/// Required free text (a name, a make): not empty, not absurdly long.
fn text(s: &str) -> Result<String, Invalid> {
    if s.is_empty() {
        return Err(Invalid::new("is empty"));
    }
    if s.chars().count() > 200 {
        return Err(Invalid::new("is longer than 200 characters"));
    }
    if s.chars().any(char::is_control) {
        return Err(Invalid::new("contains a control character"));
    }
    Ok(s.to_string())
}

/// A distance in the configured unit, as whole kilometres.
fn odometer(s: &str, unit: DistanceUnit) -> Result<i64, Invalid> {
    crate::domain::parse_distance_km(s, unit.km())
}

/// A declared monthly distance in the configured unit, as km.
fn monthly_km(s: &str, unit: DistanceUnit) -> Result<f64, Invalid> {
    crate::domain::parse_monthly_km(s, unit.km())
}

/// A BCP 47-like language tag such as `de`, `de-DE` or `en_US`.
fn locale(s: &str) -> Result<String, Invalid> {
    let bad = || Invalid::new(format!("'{s}' is not a language tag such as de or de-DE"));
    let mut parts = s.split(['-', '_']);
    let language = parts.next().unwrap_or_default();
    if !(2..=3).contains(&language.len()) || !language.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(bad());
    }
    for part in parts {
        if !(1..=8).contains(&part.len()) || !part.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad());
        }
    }
    Ok(s.to_string())
}

// ---------------------------------------------------------------- customers

pub const CUSTOMERS: Layout = Layout {
    required: &[
        "customer_id",
        "name",
        "email",
        "phone",
        "timezone",
        "birthday",
        "consent_email_marketing",
        "consent_sms_marketing",
    ],
    optional: &["locale"],
};

mod customer_col {
    pub const CUSTOMER_ID: usize = 0;
    pub const NAME: usize = 1;
    pub const EMAIL: usize = 2;
    pub const PHONE: usize = 3;
    pub const TIMEZONE: usize = 4;
    pub const BIRTHDAY: usize = 5;
    pub const CONSENT_EMAIL: usize = 6;
    pub const CONSENT_SMS: usize = 7;
    pub const LOCALE: usize = 8;
}

pub fn check_customer(f: &Fields<'_>, rules: &Rules) -> Checked<CustomerData> {
    use customer_col::*;
    let mut p = Problems::default();
    let customer_id = p.check("customer_id", f.get(CUSTOMER_ID).and_then(parse_id));
    let name = p.check("name", f.get(NAME).and_then(text));
    let email = p.check(
        "email",
        f.get(EMAIL).and_then(|s| optional(s, EmailAddress::parse)),
    );
    let phone = p.check(
        "phone",
        f.get(PHONE)
            .and_then(|s| optional(s, |s| PhoneNumber::parse(s, rules.region))),
    );
    if let (Some(None), Some(None)) = (&email, &phone) {
        p.push(
            "phone",
            "is empty and so is email; a customer needs an email or a phone",
        );
    }
    let timezone = p.check("timezone", f.get(TIMEZONE).and_then(parse_timezone));
    let birthday = p.check(
        "birthday",
        f.get(BIRTHDAY)
            .and_then(|s| optional(s, |s| parse_past_date(s, rules.today))),
    );
    let consent_email = p.check(
        "consent_email_marketing",
        f.get(CONSENT_EMAIL).and_then(parse_bool),
    );
    let consent_sms = p.check(
        "consent_sms_marketing",
        f.get(CONSENT_SMS).and_then(parse_bool),
    );
    let locale = if f.present(LOCALE) {
        p.check("locale", f.get(LOCALE).and_then(|s| optional(s, locale)))
            .map(Some)
    } else {
        Some(None)
    };
    let key = customer_id.clone();
    let row = match (
        customer_id,
        name,
        email,
        phone,
        timezone,
        birthday,
        consent_email,
        consent_sms,
        locale,
    ) {
        (
            Some(customer_id),
            Some(name),
            Some(email),
            Some(phone),
            Some(timezone),
            Some(birthday),
            Some(consent_email_marketing),
            Some(consent_sms_marketing),
            Some(locale),
        ) if p.0.is_empty() => Ok(CustomerData {
            customer_id,
            name,
            email: email.map(|e| e.as_str().to_string()),
            phone: phone.map(|n| n.as_str().to_string()),
            timezone: timezone.name().to_string(),
            birthday,
            consent_email_marketing,
            consent_sms_marketing,
            locale,
        }),
        _ => Err(p.0),
    };
    Checked { key, row }
}

// ----------------------------------------------------------------- vehicles

pub const VEHICLES: Layout = Layout {
    required: &[
        "vin",
        "customer_id",
        "make",
        "model",
        "model_year",
        "purchase_date",
        "purchase_odometer_km",
        "avg_monthly_km",
    ],
    optional: &[],
};

mod vehicle_col {
    pub const VIN: usize = 0;
    pub const CUSTOMER_ID: usize = 1;
    pub const MAKE: usize = 2;
    pub const MODEL: usize = 3;
    pub const MODEL_YEAR: usize = 4;
    pub const PURCHASE_DATE: usize = 5;
    pub const PURCHASE_ODOMETER: usize = 6;
    pub const AVG_MONTHLY: usize = 7;
}

fn model_year(s: &str, today: NaiveDate) -> Result<i32, Invalid> {
    let year: i32 = s
        .parse()
        .map_err(|_| Invalid::new(format!("'{s}' is not a year")))?;
    let latest = today.year() + 2;
    if !(1886..=latest).contains(&year) {
        return Err(Invalid::new(format!(
            "{year} is not a model year between 1886 and {latest}"
        )));
    }
    Ok(year)
}

pub fn check_vehicle(f: &Fields<'_>, rules: &Rules) -> Checked<VehicleData> {
    use vehicle_col::*;
    let mut p = Problems::default();
    let vin = p.check("vin", f.get(VIN).and_then(Vin::parse));
    let customer_id = p.check("customer_id", f.get(CUSTOMER_ID).and_then(parse_id));
    let make = p.check("make", f.get(MAKE).and_then(text));
    let model = p.check("model", f.get(MODEL).and_then(text));
    let year = p.check(
        "model_year",
        f.get(MODEL_YEAR)
            .and_then(|s| optional(s, |s| model_year(s, rules.today))),
    );
    let purchase_date = p.check(
        "purchase_date",
        f.get(PURCHASE_DATE)
            .and_then(|s| parse_past_date(s, rules.today)),
    );
    let purchase_odometer = p.check(
        "purchase_odometer_km",
        f.get(PURCHASE_ODOMETER)
            .and_then(|s| odometer(s, rules.unit)),
    );
    let avg = p.check(
        "avg_monthly_km",
        f.get(AVG_MONTHLY)
            .and_then(|s| optional(s, |s| monthly_km(s, rules.unit))),
    );
    let key = vin.as_ref().map(|v| v.as_str().to_string());
    let row = match (
        vin,
        customer_id,
        make,
        model,
        year,
        purchase_date,
        purchase_odometer,
        avg,
    ) {
        (
            Some(vin),
            Some(customer_id),
            Some(make),
            Some(model),
            Some(model_year),
            Some(purchase_date),
            Some(purchase_odometer_km),
            Some(avg_monthly_km),
        ) if p.0.is_empty() => Ok(VehicleData {
            vin: vin.as_str().to_string(),
            customer_id,
            make,
            model,
            model_year,
            purchase_date,
            purchase_odometer_km,
            avg_monthly_km,
        }),
        _ => Err(p.0),
    };
    Checked { key, row }
}

// ------------------------------------------------------------------- visits

pub const VISITS: Layout = Layout {
    required: &["vin", "date", "odometer_km", "kind"],
    optional: &[],
};

mod visit_col {
    pub const VIN: usize = 0;
    pub const DATE: usize = 1;
    pub const ODOMETER: usize = 2;
    pub const KIND: usize = 3;
}

/// A valid visit row, compact: a million of them stay small.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisitRow {
    pub vin: [u8; 17],
    pub date: NaiveDate,
    pub odometer_km: i64,
    pub kind: VisitKind,
}

impl VisitRow {
    pub fn vin_str(&self) -> &str {
        // A VIN is validated ASCII.
        std::str::from_utf8(&self.vin).unwrap_or_default()
    }
}

pub fn check_visit(f: &Fields<'_>, rules: &Rules) -> Checked<VisitRow> {
    use visit_col::*;
    let mut p = Problems::default();
    let vin = p.check("vin", f.get(VIN).and_then(Vin::parse));
    let date = p.check(
        "date",
        f.get(DATE).and_then(|s| parse_past_date(s, rules.today)),
    );
    let odometer_km = p.check(
        "odometer_km",
        f.get(ODOMETER).and_then(|s| odometer(s, rules.unit)),
    );
    let kind = p.check("kind", f.get(KIND).and_then(VisitKind::parse));
    let key = match (&vin, &date, &kind) {
        (Some(vin), Some(date), Some(kind)) => Some(format!("{vin} {date} {}", kind.as_str())),
        _ => None,
    };
    let row = match (vin, date, odometer_km, kind) {
        (Some(vin), Some(date), Some(odometer_km), Some(kind)) if p.0.is_empty() => {
            match <[u8; 17]>::try_from(vin.as_str().as_bytes()) {
                Ok(vin) => Ok(VisitRow {
                    vin,
                    date,
                    odometer_km,
                    kind,
                }),
                Err(_) => Err(vec![RowError {
                    column: "vin",
                    reason: format!("'{vin}' is not 17 ASCII characters"),
                }]),
            }
        }
        _ => Err(p.0),
    };
    Checked { key, row }
}

#[cfg(test)]
mod tests;
