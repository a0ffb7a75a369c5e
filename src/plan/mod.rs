//! The plan: a template of touchpoints per cycle, and the pure builder that
//! turns a vehicle's facts into its dated touchpoints.

mod builder;
pub mod replan;
mod template;

pub use builder::*;
pub use template::*;
