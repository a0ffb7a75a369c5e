//! The schema of touchpoint, one file per migration (`up` and `down`).
//! Foreign keys are declared inside `create_table`: SQLite cannot add them later.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_core;
mod m20261123_000002_dispatch;
mod m20261130_000003_pass_indexes;
mod m20261130_000004_settings;
mod m20261201_000005_call_opt_out;
mod m20261201_000006_people;
mod m20261201_000007_desk_search;
mod m20261201_000008_prefix_search;
mod m20261201_000009_instances;
pub mod terms;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_core::Migration),
            Box::new(m20261123_000002_dispatch::Migration),
            Box::new(m20261130_000003_pass_indexes::Migration),
            Box::new(m20261130_000004_settings::Migration),
            Box::new(m20261201_000005_call_opt_out::Migration),
            Box::new(m20261201_000006_people::Migration),
            Box::new(m20261201_000007_desk_search::Migration),
            Box::new(m20261201_000008_prefix_search::Migration),
            Box::new(m20261201_000009_instances::Migration),
        ]
    }
}
