//! sea-orm entities: one per table of `migrations/`.

pub mod api_token;
pub mod audit;
pub mod call_task;
pub mod customer;
pub mod customer_term;
pub mod instance;
pub mod message;
pub mod opt_out;
pub mod plan_change;
pub mod reading;
pub mod session;
pub mod setting;
pub mod touchpoint;
pub mod user;
pub mod vehicle;
