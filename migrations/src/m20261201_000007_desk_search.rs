//! What the desk reads fast at a dealer's scale: the search terms of every
//! person (see `terms`) by the dealer's customer id, filled for the people
//! stored already (an import replaces a person's terms when it changes
//! them; people are never deleted), and the
//! queue's order (state, due date, key) as one index, which replaces the
//! (state, due date) one.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement, TryGetable};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CustomerTerms {
    Table,
    Term,
    /// The dealer's customer id: a term's people come out of the index in
    /// the order the desk lists them.
    CustomerKey,
}

#[derive(DeriveIden)]
enum Touchpoints {
    Table,
    State,
    DueDate,
    DedupKey,
}

/// People read and their terms written per statement while filling.
const PAGE: i64 = 500;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut terms = Table::create();
        // On SQLite the key is the table: one b-tree fewer to write.
        if manager.get_database_backend() == sea_orm_migration::sea_orm::DbBackend::Sqlite {
            terms.extra("WITHOUT ROWID");
        }
        manager
            .create_table(
                terms
                    .table(CustomerTerms::Table)
                    .col(ColumnDef::new(CustomerTerms::Term).string().not_null())
                    .col(
                        ColumnDef::new(CustomerTerms::CustomerKey)
                            .string()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(CustomerTerms::Term)
                            .col(CustomerTerms::CustomerKey),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_touchpoints_state_due_key")
                    .table(Touchpoints::Table)
                    .col(Touchpoints::State)
                    .col(Touchpoints::DueDate)
                    .col(Touchpoints::DedupKey)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_touchpoints_state_due")
                    .table(Touchpoints::Table)
                    .to_owned(),
            )
            .await?;
        fill_terms(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_touchpoints_state_due")
                    .table(Touchpoints::Table)
                    .col(Touchpoints::State)
                    .col(Touchpoints::DueDate)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_touchpoints_state_due_key")
                    .table(Touchpoints::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(CustomerTerms::Table).to_owned())
            .await
    }
}

fn get<T: TryGetable>(
    row: &sea_orm_migration::sea_orm::QueryResult,
    col: &str,
) -> Result<T, DbErr> {
    row.try_get("", col)
}

/// The terms of every stored person, a page at a time.
async fn fill_terms(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = db.get_database_backend();
    let mut after = 0i64;
    loop {
        let page = db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                match backend {
                    sea_orm_migration::sea_orm::DbBackend::Postgres => {
                        "SELECT id, customer_id, name, email, phone FROM customers WHERE id > $1 ORDER BY id LIMIT $2"
                    }
                    _ => "SELECT id, customer_id, name, email, phone FROM customers WHERE id > ? ORDER BY id LIMIT ?",
                },
                [after.into(), PAGE.into()],
            ))
            .await?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = get::<i64>(last, "id")?;
        let mut insert = Query::insert()
            .into_table(CustomerTerms::Table)
            .columns([CustomerTerms::Term, CustomerTerms::CustomerKey])
            .to_owned();
        let mut any = false;
        for row in &page {
            let key: String = get(row, "customer_id")?;
            let name: String = get(row, "name")?;
            let email: Option<String> = get(row, "email")?;
            let phone: Option<String> = get(row, "phone")?;
            for term in crate::terms::customer_terms(&name, email.as_deref(), phone.as_deref()) {
                insert
                    .values([term.into(), key.clone().into()])
                    .map_err(|e| DbErr::Custom(e.to_string()))?;
                any = true;
            }
        }
        if any {
            manager.exec_stmt(insert).await?;
        }
    }
}
