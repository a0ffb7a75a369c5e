//! sea-orm entities: one per table of `migrations/`.

pub mod customer;
pub mod plan_change;
pub mod reading;
pub mod touchpoint;
pub mod vehicle;
