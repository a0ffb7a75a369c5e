//! The decisions' view of stored facts: a vehicle's facts for the planner
//! and the predictor, the owner's time zone and day.

use crate::config::Config;
use crate::plan;
use crate::predict;
use crate::store::VehicleRecord;
use chrono::NaiveDate;
use chrono_tz::Tz;

/// The owner's time zone, or the configured default.
pub fn owner_tz(record: &VehicleRecord, config: &Config) -> Tz {
    crate::domain::parse_timezone(&record.customer.timezone)
        .unwrap_or_else(|_| config.default_timezone())
}

/// Today in `tz`.
pub fn today_in(tz: Tz, now: chrono::DateTime<chrono::Utc>) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

/// The planner's view of a stored vehicle.
pub fn vehicle_facts<'a>(record: &'a VehicleRecord, config: &Config) -> plan::VehicleFacts<'a> {
    let v = &record.vehicle;
    plan::VehicleFacts {
        facts: predict::Facts {
            purchase_date: v.purchase_date,
            purchase_odometer_km: v.purchase_odometer_km,
            readings: &record.readings,
            declared_monthly_km: v.avg_monthly_km,
            schedule: config.schedule_for(&v.make, &v.model),
        },
        birthday: record.customer.birthday,
    }
}
