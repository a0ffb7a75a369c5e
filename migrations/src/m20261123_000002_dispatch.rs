//! Dispatch: the messages that carry touchpoints, call tasks, and the
//! opt-out log.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Customers {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Touchpoints {
    Table,
    MessageId,
    ServiceDue,
    AwaitsVisit,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    Key,
    CustomerId,
    Channel,
    Recipient,
    Locale,
    Subject,
    Body,
    State,
    Reason,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    ProviderRef,
    Segments,
    CreatedAt,
    SentAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CallTasks {
    Table,
    Id,
    MessageId,
    CustomerId,
    DueDate,
    Title,
    Script,
    State,
    Outcome,
    Note,
    OutcomeAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum OptOuts {
    Table,
    Id,
    CustomerId,
    Channel,
    Source,
    OptedOut,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .col(
                        ColumnDef::new(Messages::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    // The dedup key of the touchpoint it was made for: one message per occurrence.
                    .col(
                        ColumnDef::new(Messages::Key)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(Messages::CustomerId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Messages::Channel).string().not_null())
                    .col(ColumnDef::new(Messages::Recipient).string().not_null())
                    .col(ColumnDef::new(Messages::Locale).string().not_null())
                    .col(ColumnDef::new(Messages::Subject).string().not_null())
                    .col(ColumnDef::new(Messages::Body).text().not_null())
                    // sending, sent, delivered, failed, held
                    .col(ColumnDef::new(Messages::State).string().not_null())
                    .col(ColumnDef::new(Messages::Reason).string().null())
                    .col(
                        ColumnDef::new(Messages::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(Messages::NextAttemptAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Messages::LeaseUntil)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Messages::ProviderRef).string().null())
                    .col(ColumnDef::new(Messages::Segments).integer().null())
                    .col(
                        ColumnDef::new(Messages::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Messages::SentAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Messages::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_messages_customer")
                            .from(Messages::Table, Messages::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_messages_customer_sent")
                    .table(Messages::Table)
                    .col(Messages::CustomerId)
                    .col(Messages::SentAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_messages_state")
                    .table(Messages::Table)
                    .col(Messages::State)
                    .to_owned(),
            )
            .await?;
        // SQLite cannot add a foreign key to an existing table: a plain column.
        manager
            .alter_table(
                Table::alter()
                    .table(Touchpoints::Table)
                    .add_column(ColumnDef::new(Touchpoints::MessageId).big_integer().null())
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Touchpoints::Table)
                    .add_column(ColumnDef::new(Touchpoints::ServiceDue).date().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Touchpoints::Table)
                    .add_column(
                        ColumnDef::new(Touchpoints::AwaitsVisit)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CallTasks::Table)
                    .col(
                        ColumnDef::new(CallTasks::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(CallTasks::MessageId)
                            .big_integer()
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(CallTasks::CustomerId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(CallTasks::DueDate).date().not_null())
                    .col(ColumnDef::new(CallTasks::Title).string().not_null())
                    .col(ColumnDef::new(CallTasks::Script).text().not_null())
                    // open, done
                    .col(ColumnDef::new(CallTasks::State).string().not_null())
                    // booked, declined, no_answer, wrong_number
                    .col(ColumnDef::new(CallTasks::Outcome).string().null())
                    .col(ColumnDef::new(CallTasks::Note).string().null())
                    .col(
                        ColumnDef::new(CallTasks::OutcomeAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(CallTasks::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_call_tasks_message")
                            .from(CallTasks::Table, CallTasks::MessageId)
                            .to(Messages::Table, Messages::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_call_tasks_customer")
                            .from(CallTasks::Table, CallTasks::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(OptOuts::Table)
                    .col(
                        ColumnDef::new(OptOuts::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(OptOuts::CustomerId).big_integer().not_null())
                    .col(ColumnDef::new(OptOuts::Channel).string().not_null())
                    // sms_keyword, unsubscribe_link, administrator, provider
                    .col(ColumnDef::new(OptOuts::Source).string().not_null())
                    // false: opted back in (START)
                    .col(ColumnDef::new(OptOuts::OptedOut).boolean().not_null())
                    .col(
                        ColumnDef::new(OptOuts::At)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_opt_outs_customer")
                            .from(OptOuts::Table, OptOuts::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OptOuts::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(CallTasks::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Touchpoints::Table)
                    .drop_column(Touchpoints::MessageId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Messages::Table).to_owned())
            .await
    }
}
