use super::*;
use crate::domain::parse_region;

fn rules() -> Rules {
    Rules {
        today: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
        region: Some(parse_region("DE").unwrap()),
        unit: DistanceUnit::Km,
    }
}

/// The single problem of a row, as `column: reason`.
fn problem<T: std::fmt::Debug>(checked: Checked<T>) -> String {
    let problems = checked.row.expect_err("the row should be refused");
    assert_eq!(problems.len(), 1, "{problems:?}");
    format!("{}: {}", problems[0].column, problems[0].reason)
}

// customer_id, name, email, phone, timezone, birthday, consent_email, consent_sms[, locale]
const ANNA: [&str; 8] = [
    "C-1",
    "Anna Müller",
    "anna@example.com",
    "0151 12345678",
    "Europe/Berlin",
    "1985-04-12",
    "yes",
    "0",
];

fn customer_with(column: usize, value: &str) -> Checked<CustomerData> {
    let mut values = ANNA.to_vec();
    values[column] = value;
    check_customer(&Fields::from_strs(&values), &rules())
}

#[test]
fn a_good_customer_is_normalised() {
    let checked = check_customer(&Fields::from_strs(&ANNA), &rules());
    assert_eq!(checked.key.as_deref(), Some("C-1"));
    let row = checked.row.unwrap();
    assert_eq!(row.phone.as_deref(), Some("+4915112345678"));
    assert_eq!(row.timezone, "Europe/Berlin");
    assert_eq!(row.birthday, NaiveDate::from_ymd_opt(1985, 4, 12));
    assert!(row.consent_email_marketing);
    assert!(!row.consent_sms_marketing);
    assert_eq!(row.locale, None, "no locale column: keep the stored one");
}

#[test]
fn email_or_phone_may_be_empty_and_birthday_too() {
    assert!(customer_with(2, "").row.is_ok());
    assert!(customer_with(3, "").row.is_ok());
    assert_eq!(customer_with(5, "").row.unwrap().birthday, None);
}

#[test]
fn customer_problems_name_the_column() {
    for (column, value, expected) in [
        (0, " ", "customer_id: is empty"),
        (1, "", "name: is empty"),
        (2, "anna@", "email: 'anna@' is not a valid email address"),
        (
            3,
            "12",
            "phone: '12' is not a valid phone number (national numbers are read in the configured default region)",
        ),
        (3, "call me", "phone: 'call me' is not a phone number"),
        (
            4,
            "Europe/Atlantis",
            "timezone: 'Europe/Atlantis' is not an IANA time zone",
        ),
        (5, "2027-01-01", "birthday: 2027-01-01 is in the future"),
        (
            5,
            "1985-02-30",
            "birthday: '1985-02-30' is not a real calendar date",
        ),
        (
            5,
            "12.04.1985",
            "birthday: '12.04.1985' is not a date in YYYY-MM-DD form",
        ),
        (
            6,
            "maybe",
            "consent_email_marketing: 'maybe' is not a boolean (true/false, yes/no, 1/0)",
        ),
        (
            7,
            "",
            "consent_sms_marketing: '' is not a boolean (true/false, yes/no, 1/0)",
        ),
    ] {
        assert_eq!(
            problem(customer_with(column, value)),
            expected,
            "column {column} = {value:?}"
        );
    }
}

#[test]
fn a_customer_needs_an_email_or_a_phone() {
    let mut values = ANNA.to_vec();
    values[2] = "";
    values[3] = "";
    assert_eq!(
        problem(check_customer(&Fields::from_strs(&values), &rules())),
        "phone: is empty and so is email; a customer needs an email or a phone"
    );
}

#[test]
fn every_problem_of_a_row_is_reported_and_the_key_survives() {
    let values = ["C-9", "", "nope", "", "Nowhere", "x", "1", "1"];
    let checked = check_customer(&Fields::from_strs(&values), &rules());
    assert_eq!(checked.key.as_deref(), Some("C-9"));
    let columns: Vec<&str> = checked.row.unwrap_err().iter().map(|p| p.column).collect();
    assert_eq!(columns, ["name", "email", "timezone", "birthday"]);
}

#[test]
fn locale_is_checked_when_present() {
    let mut values = ANNA.to_vec();
    values.push("de-DE");
    assert_eq!(
        check_customer(&Fields::from_strs(&values), &rules())
            .row
            .unwrap()
            .locale,
        Some(Some("de-DE".into()))
    );
    values[8] = "";
    assert_eq!(
        check_customer(&Fields::from_strs(&values), &rules())
            .row
            .unwrap()
            .locale,
        Some(None)
    );
    values[8] = "German!";
    assert_eq!(
        problem(check_customer(&Fields::from_strs(&values), &rules())),
        "locale: 'German!' is not a language tag such as de or de-DE"
    );
}

#[test]
fn international_phones_ignore_the_region() {
    assert_eq!(
        customer_with(3, "+1 415 555 2671")
            .row
            .unwrap()
            .phone
            .as_deref(),
        Some("+14155552671")
    );
}

// vin, customer_id, make, model, model_year, purchase_date, purchase_odometer_km, avg_monthly_km
const GOLF: [&str; 8] = [
    "wvwzzz1kzaw000001",
    "C-1",
    "Volkswagen",
    "Golf",
    "2024",
    "2024-03-15",
    "12",
    "",
];

fn vehicle_with(column: usize, value: &str) -> Checked<VehicleData> {
    let mut values = GOLF.to_vec();
    values[column] = value;
    check_vehicle(&Fields::from_strs(&values), &rules())
}

#[test]
fn a_good_vehicle_is_normalised() {
    let checked = check_vehicle(&Fields::from_strs(&GOLF), &rules());
    assert_eq!(checked.key.as_deref(), Some("WVWZZZ1KZAW000001"));
    let row = checked.row.unwrap();
    assert_eq!(row.vin, "WVWZZZ1KZAW000001");
    assert_eq!(row.model_year, Some(2024));
    assert_eq!(row.purchase_odometer_km, 12);
    assert_eq!(row.avg_monthly_km, None);
    assert_eq!(
        vehicle_with(7, "1500.5").row.unwrap().avg_monthly_km,
        Some(1500.5)
    );
    assert_eq!(vehicle_with(4, "").row.unwrap().model_year, None);
}

#[test]
fn vehicle_problems_name_the_column() {
    for (column, value, expected) in [
        (
            0,
            "WVWZZZ1KZAW00000",
            "vin: 'WVWZZZ1KZAW00000' has 16 characters, a VIN has 17",
        ),
        (
            0,
            "WVWZZZ1KZAW00000O",
            "vin: 'WVWZZZ1KZAW00000O' contains 'O'; a VIN uses A-Z without I, O, Q and 0-9",
        ),
        (1, "", "customer_id: is empty"),
        (2, "", "make: is empty"),
        (3, "", "model: is empty"),
        (
            4,
            "1700",
            "model_year: 1700 is not a model year between 1886 and 2028",
        ),
        (4, "new", "model_year: 'new' is not a year"),
        (
            5,
            "2026-11-24",
            "purchase_date: 2026-11-24 is in the future",
        ),
        (
            5,
            "2025-13-01",
            "purchase_date: '2025-13-01' is not a real calendar date",
        ),
        (6, "-5", "purchase_odometer_km: -5 is negative"),
        (6, "", "purchase_odometer_km: '' is not a number"),
        (
            7,
            "0",
            "avg_monthly_km: 0 is not more than 0 (leave it empty when unknown)",
        ),
        (7, "lots", "avg_monthly_km: 'lots' is not a number"),
    ] {
        assert_eq!(
            problem(vehicle_with(column, value)),
            expected,
            "column {column} = {value:?}"
        );
    }
}

#[test]
fn miles_are_converted_to_km() {
    let mut r = rules();
    r.unit = DistanceUnit::Miles;
    let mut values = GOLF.to_vec();
    values[6] = "1000";
    values[7] = "500";
    let row = check_vehicle(&Fields::from_strs(&values), &r).row.unwrap();
    assert_eq!(row.purchase_odometer_km, 1609);
    assert!((row.avg_monthly_km.unwrap() - 804.672).abs() < 1e-9);
}

// vin, date, odometer_km, kind
const SERVICE: [&str; 4] = ["WVWZZZ1KZAW000001", "2025-03-01", "15000", "service"];

fn visit_with(column: usize, value: &str) -> Checked<VisitRow> {
    let mut values = SERVICE.to_vec();
    values[column] = value;
    check_visit(&Fields::from_strs(&values), &rules())
}

#[test]
fn a_good_visit_is_compact() {
    let checked = check_visit(&Fields::from_strs(&SERVICE), &rules());
    assert_eq!(
        checked.key.as_deref(),
        Some("WVWZZZ1KZAW000001 2025-03-01 service")
    );
    let row = checked.row.unwrap();
    assert_eq!(row.vin_str(), "WVWZZZ1KZAW000001");
    assert_eq!(row.kind, VisitKind::Service);
    assert_eq!(row.odometer_km, 15000);
}

#[test]
fn visit_problems_name_the_column() {
    for (column, value, expected) in [
        (0, "", "vin: '' has 0 characters, a VIN has 17"),
        (1, "2030-01-01", "date: 2030-01-01 is in the future"),
        (
            1,
            "2025-02-29",
            "date: '2025-02-29' is not a real calendar date",
        ),
        (2, "-1", "odometer_km: -1 is negative"),
        (2, "12k", "odometer_km: '12k' is not a number"),
        (
            3,
            "oil change",
            "kind: 'oil change' is not one of service, repair, inspection, reading",
        ),
    ] {
        assert_eq!(
            problem(visit_with(column, value)),
            expected,
            "column {column} = {value:?}"
        );
    }
}
