use sea_orm::entity::prelude::*;

/// A word a person is found by (`migration::terms`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "customer_terms")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub term: String,
    /// The dealer's customer id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub customer_key: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
