//! The decisions' view of stored facts: a vehicle's facts for the planner
//! and the predictor, the owner's time zone and day.

use crate::config::Config;
use crate::domain::{Customer, Vehicle};
use crate::plan;
use crate::predict;
use crate::store::VehicleRecord;
use chrono::NaiveDate;
use chrono_tz::Tz;

/// The owner's time zone, or the configured default.
pub fn owner_tz(record: &VehicleRecord, config: &Config) -> Tz {
    tz_of(&record.customer, config)
}

/// A person's time zone, or the configured default.
pub fn tz_of(customer: &Customer, config: &Config) -> Tz {
    crate::domain::parse_timezone(&customer.timezone).unwrap_or_else(|_| config.default_timezone())
}

/// Today in `tz`.
pub fn today_in(tz: Tz, now: chrono::DateTime<chrono::Utc>) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

/// The planner's view of a stored vehicle.
pub fn vehicle_facts<'a>(record: &'a VehicleRecord, config: &Config) -> plan::VehicleFacts<'a> {
    facts_of(&record.vehicle, &record.customer, &record.readings, config)
}

/// The planner's view of a vehicle, its owner and its readings.
pub fn facts_of<'a>(
    v: &Vehicle,
    owner: &Customer,
    readings: &'a [predict::Reading],
    config: &Config,
) -> plan::VehicleFacts<'a> {
    plan::VehicleFacts {
        facts: predict::Facts {
            purchase_date: v.purchase_date,
            purchase_odometer_km: v.purchase_odometer_km,
            readings,
            declared_monthly_km: v.avg_monthly_km,
            schedule: config.schedule_for(&v.make, &v.model),
        },
        birthday: owner.birthday,
    }
}
