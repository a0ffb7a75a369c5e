//! PostgreSQL: the desk's prefix searches (`LIKE 'text%'` on a search term
//! and on a VIN) served by an index whatever the database's collation. A
//! plain b-tree serves such a `LIKE` only under the `C` collation; under
//! any other (`C.UTF-8`, `en_US.UTF-8`) every search read the whole terms
//! table. `text_pattern_ops` orders by bytes, which is what a prefix needs.
//! SQLite compares bytes already: nothing to do there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str); 2] = [
    (
        "ix_customer_terms_prefix",
        "customer_terms (term text_pattern_ops, customer_key)",
    ),
    ("ix_vehicles_vin_prefix", "vehicles (vin text_pattern_ops)"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for (name, on) in INDEXES {
            db.execute_unprepared(&format!("CREATE INDEX {name} ON {on}"))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for (name, _) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
        }
        Ok(())
    }
}
