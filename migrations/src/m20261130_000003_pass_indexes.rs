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

/// The indexes this migration adds: name, table and columns.
fn indexes() -> Vec<(&'static str, DynIden, Vec<DynIden>)> {
    vec![
        (
            "ix_vehicles_replan_on",
            Vehicles::Table.into_iden(),
            vec![Vehicles::ReplanOn.into_iden()],
        ),
        (
            "ix_touchpoints_message",
            Touchpoints::Table.into_iden(),
            vec![Touchpoints::MessageId.into_iden()],
        ),
        (
            "ix_touchpoints_state_next",
            Touchpoints::Table.into_iden(),
            vec![
                Touchpoints::State.into_iden(),
                Touchpoints::NextAttemptAt.into_iden(),
            ],
        ),
        // A person's recent messages (the caps' history).
        (
            "ix_messages_customer_created",
            Messages::Table.into_iden(),
            vec![
                Messages::CustomerId.into_iden(),
                Messages::CreatedAt.into_iden(),
            ],
        ),
    ]
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
        for (name, table, columns) in indexes() {
            let mut index = Index::create();
            index.name(name).table(table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in indexes().into_iter().rev() {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
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
