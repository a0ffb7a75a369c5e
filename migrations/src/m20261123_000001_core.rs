use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Customers {
    Table,
    Id,
    CustomerId,
    Name,
    Email,
    Phone,
    Timezone,
    Birthday,
    ConsentEmailMarketing,
    ConsentSmsMarketing,
    Locale,
    OptedOutEmail,
    OptedOutSms,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Vehicles {
    Table,
    Id,
    Vin,
    CustomerId,
    Make,
    Model,
    ModelYear,
    PurchaseDate,
    PurchaseOdometerKm,
    AvgMonthlyKm,
    Active,
    FactsVersion,
    PlannedVersion,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Readings {
    Table,
    Id,
    VehicleId,
    Date,
    OdometerKm,
    Kind,
}

#[derive(DeriveIden)]
enum Touchpoints {
    Table,
    Id,
    DedupKey,
    VehicleId,
    CustomerId,
    Cycle,
    Code,
    Occurrence,
    Channel,
    Category,
    Priority,
    DueDate,
    State,
    Reason,
    Message,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    SentAt,
    ProviderRef,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PlanChanges {
    Table,
    Id,
    VehicleId,
    Cycle,
    At,
    Summary,
}

fn id<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn fk<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().to_owned()
}

fn text<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).string().not_null().to_owned()
}

fn text_null<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).string().null().to_owned()
}

fn flag<T: IntoIden>(col: T, default: bool) -> ColumnDef {
    ColumnDef::new(col)
        .boolean()
        .not_null()
        .default(default)
        .to_owned()
}

fn stamp<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn stamp_null<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Customers::Table)
                    .col(id(Customers::Id))
                    .col(text(Customers::CustomerId).unique_key().to_owned())
                    .col(text(Customers::Name))
                    .col(text_null(Customers::Email))
                    .col(text_null(Customers::Phone))
                    .col(text(Customers::Timezone))
                    .col(ColumnDef::new(Customers::Birthday).date().null())
                    .col(flag(Customers::ConsentEmailMarketing, false))
                    .col(flag(Customers::ConsentSmsMarketing, false))
                    .col(text_null(Customers::Locale))
                    .col(flag(Customers::OptedOutEmail, false))
                    .col(flag(Customers::OptedOutSms, false))
                    .col(stamp(Customers::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Vehicles::Table)
                    .col(id(Vehicles::Id))
                    .col(text(Vehicles::Vin).unique_key().to_owned())
                    .col(fk(Vehicles::CustomerId))
                    .col(text(Vehicles::Make))
                    .col(text(Vehicles::Model))
                    .col(ColumnDef::new(Vehicles::ModelYear).integer().null())
                    .col(ColumnDef::new(Vehicles::PurchaseDate).date().not_null())
                    .col(
                        ColumnDef::new(Vehicles::PurchaseOdometerKm)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Vehicles::AvgMonthlyKm).double().null())
                    .col(flag(Vehicles::Active, true))
                    // Bumped whenever the facts change; the planner re-plans
                    // the vehicles whose planned version lags behind.
                    .col(
                        ColumnDef::new(Vehicles::FactsVersion)
                            .big_integer()
                            .not_null()
                            .default(1),
                    )
                    .col(
                        ColumnDef::new(Vehicles::PlannedVersion)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(stamp(Vehicles::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_vehicles_customer")
                            .from(Vehicles::Table, Vehicles::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_vehicles_customer")
                    .table(Vehicles::Table)
                    .col(Vehicles::CustomerId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Readings::Table)
                    .col(id(Readings::Id))
                    .col(fk(Readings::VehicleId))
                    .col(ColumnDef::new(Readings::Date).date().not_null())
                    .col(
                        ColumnDef::new(Readings::OdometerKm)
                            .big_integer()
                            .not_null(),
                    )
                    .col(text(Readings::Kind))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_readings_vehicle")
                            .from(Readings::Table, Readings::VehicleId)
                            .to(Vehicles::Table, Vehicles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_readings_vehicle_date_kind")
                    .table(Readings::Table)
                    .col(Readings::VehicleId)
                    .col(Readings::Date)
                    .col(Readings::Kind)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Touchpoints::Table)
                    .col(id(Touchpoints::Id))
                    .col(text(Touchpoints::DedupKey).unique_key().to_owned())
                    .col(fk(Touchpoints::VehicleId))
                    .col(fk(Touchpoints::CustomerId))
                    .col(ColumnDef::new(Touchpoints::Cycle).integer().not_null())
                    .col(text(Touchpoints::Code))
                    .col(ColumnDef::new(Touchpoints::Occurrence).integer().not_null())
                    .col(text(Touchpoints::Channel))
                    .col(text(Touchpoints::Category))
                    .col(ColumnDef::new(Touchpoints::Priority).integer().not_null())
                    .col(ColumnDef::new(Touchpoints::DueDate).date().not_null())
                    .col(text(Touchpoints::State))
                    .col(text_null(Touchpoints::Reason))
                    .col(text(Touchpoints::Message))
                    .col(
                        ColumnDef::new(Touchpoints::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(stamp_null(Touchpoints::NextAttemptAt))
                    .col(stamp_null(Touchpoints::LeaseUntil))
                    .col(stamp_null(Touchpoints::SentAt))
                    .col(text_null(Touchpoints::ProviderRef))
                    .col(stamp(Touchpoints::CreatedAt))
                    .col(stamp(Touchpoints::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_touchpoints_vehicle")
                            .from(Touchpoints::Table, Touchpoints::VehicleId)
                            .to(Vehicles::Table, Vehicles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_touchpoints_customer")
                            .from(Touchpoints::Table, Touchpoints::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "ix_touchpoints_state_due",
                vec![Touchpoints::State, Touchpoints::DueDate],
            ),
            (
                "ix_touchpoints_vehicle_cycle",
                vec![Touchpoints::VehicleId, Touchpoints::Cycle],
            ),
            ("ix_touchpoints_customer", vec![Touchpoints::CustomerId]),
        ] {
            let mut index = Index::create()
                .name(name)
                .table(Touchpoints::Table)
                .to_owned();
            for c in cols {
                index.col(c);
            }
            manager.create_index(index).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(PlanChanges::Table)
                    .col(id(PlanChanges::Id))
                    .col(fk(PlanChanges::VehicleId))
                    .col(ColumnDef::new(PlanChanges::Cycle).integer().not_null())
                    .col(stamp(PlanChanges::At))
                    .col(text(PlanChanges::Summary))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_plan_changes_vehicle")
                            .from(PlanChanges::Table, PlanChanges::VehicleId)
                            .to(Vehicles::Table, Vehicles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_plan_changes_vehicle")
                    .table(PlanChanges::Table)
                    .col(PlanChanges::VehicleId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PlanChanges::Table.into_iden(),
            Touchpoints::Table.into_iden(),
            Readings::Table.into_iden(),
            Vehicles::Table.into_iden(),
            Customers::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
