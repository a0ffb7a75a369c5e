//! What makes a pass cheap on a large base. Planning looks only at the
//! vehicles that need it: those whose facts changed and those whose planned
//! cycle ends (`replan_on`, the first day of the next cycle). Dispatch finds
//! a message's touchpoints, the deferred touchpoints whose time came and a
//! person's recent messages by index, not by scanning them all.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Vehicles {
    Table,
    ReplanOn,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    CustomerId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Touchpoints {
    Table,
    MessageId,
    State,
    NextAttemptAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Vehicles::Table)
                    .add_column(ColumnDef::new(Vehicles::ReplanOn).date().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_vehicles_replan_on")
                    .table(Vehicles::Table)
                    .col(Vehicles::ReplanOn)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_touchpoints_message")
                    .table(Touchpoints::Table)
                    .col(Touchpoints::MessageId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_touchpoints_state_next")
                    .table(Touchpoints::Table)
                    .col(Touchpoints::State)
                    .col(Touchpoints::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        // A person's recent messages (the caps' history).
        manager
            .create_index(
                Index::create()
                    .name("ix_messages_customer_created")
                    .table(Messages::Table)
                    .col(Messages::CustomerId)
                    .col(Messages::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_messages_customer_created")
                    .table(Messages::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_touchpoints_state_next")
                    .table(Touchpoints::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_touchpoints_message")
                    .table(Touchpoints::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_vehicles_replan_on")
                    .table(Vehicles::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Vehicles::Table)
                    .drop_column(Vehicles::ReplanOn)
                    .to_owned(),
            )
            .await
    }
}
