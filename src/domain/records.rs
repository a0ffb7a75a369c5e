//! What is stored of people, vehicles, touchpoints and messages, as plain
//! values: what the store hands the use cases and the pure steps, and takes
//! back. The store maps them to and from its rows; nothing else knows the
//! rows.

use chrono::{DateTime, NaiveDate, Utc};

/// A person, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    pub id: i64,
    /// The dealer's customer number.
    pub customer_id: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub timezone: String,
    pub birthday: Option<NaiveDate>,
    pub consent_email_marketing: bool,
    pub consent_sms_marketing: bool,
    pub locale: Option<String>,
    pub opted_out_email: bool,
    /// An SMS opt-out stops calls too; this stops calls alone.
    pub opted_out_sms: bool,
    pub opted_out_call: bool,
    pub updated_at: DateTime<Utc>,
}

impl Customer {
    /// Whether the person has opted out of `channel` (an SMS opt-out stops
    /// calls too).
    pub fn opted_out_of(&self, channel: super::Channel) -> bool {
        match channel {
            super::Channel::Email => self.opted_out_email,
            super::Channel::Sms => self.opted_out_sms,
            super::Channel::Call => self.opted_out_sms || self.opted_out_call,
        }
    }
}

/// A vehicle, as stored, with its planning bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct Vehicle {
    pub id: i64,
    pub vin: String,
    pub customer_id: i64,
    pub make: String,
    pub model: String,
    pub model_year: Option<i32>,
    pub purchase_date: NaiveDate,
    pub purchase_odometer_km: i64,
    pub avg_monthly_km: Option<f64>,
    pub active: bool,
    /// Bumped whenever its facts change.
    pub facts_version: i64,
    /// The facts version its stored plan was built from.
    pub planned_version: i64,
    /// The day its plan is next looked at (its cycle's end, plus one).
    pub replan_on: Option<NaiveDate>,
    pub updated_at: DateTime<Utc>,
}

/// A touchpoint, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Touchpoint {
    pub id: i64,
    /// `VIN:code:cycle:occurrence`: sent at most once.
    pub dedup_key: String,
    pub vehicle_id: i64,
    pub customer_id: i64,
    pub cycle: i32,
    pub code: String,
    pub occurrence: i32,
    pub channel: String,
    pub category: String,
    pub priority: i32,
    pub due_date: NaiveDate,
    /// The text form of a [`super::TouchpointState`].
    pub state: String,
    pub reason: Option<String>,
    /// The message template.
    pub message: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub lease_until: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub provider_ref: Option<String>,
    /// The message that carries it.
    pub message_id: Option<i64>,
    /// For a service touchpoint: its service's due date.
    pub service_due: Option<NaiveDate>,
    /// A follow-up of a service not recorded yet.
    pub awaits_visit: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A message (or a call's record), as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: i64,
    /// The dedup key of the first touchpoint it carries.
    pub key: String,
    pub customer_id: i64,
    pub channel: String,
    pub recipient: String,
    pub locale: String,
    pub subject: String,
    pub body: String,
    /// The text form of a [`super::MessageState`].
    pub state: String,
    pub reason: Option<String>,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub lease_until: Option<DateTime<Utc>>,
    pub provider_ref: Option<String>,
    pub segments: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}
