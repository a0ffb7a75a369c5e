//! sea-orm entities: one per table of `migrations/`.

pub mod call_task;
pub mod customer;
pub mod message;
pub mod opt_out;
pub mod plan_change;
pub mod reading;
pub mod setting;
pub mod touchpoint;
pub mod vehicle;
