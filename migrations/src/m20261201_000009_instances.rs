//! The daemons that run on this database, each with its heartbeat: what
//! `status` lists as the instances seen recently.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Instances {
    Table,
    Id,
    Host,
    Pid,
    Version,
    Listen,
    StartedAt,
    SeenAt,
    StoppedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Instances::Table)
                    .col(
                        ColumnDef::new(Instances::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Instances::Host).string().not_null())
                    .col(ColumnDef::new(Instances::Pid).integer().not_null())
                    .col(ColumnDef::new(Instances::Version).string().not_null())
                    .col(ColumnDef::new(Instances::Listen).string().not_null())
                    .col(
                        ColumnDef::new(Instances::StartedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Instances::SeenAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Instances::StoppedAt).timestamp_with_time_zone())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Instances::Table).to_owned())
            .await
    }
}
