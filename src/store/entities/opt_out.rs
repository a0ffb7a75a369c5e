use sea_orm::entity::prelude::*;

/// The log of opt-outs and opt-ins per person and channel.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "opt_outs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub customer_id: i64,
    pub channel: String,
    /// sms_keyword, unsubscribe_link, administrator, provider
    pub source: String,
    pub opted_out: bool,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
