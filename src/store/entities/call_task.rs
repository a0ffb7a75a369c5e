use sea_orm::entity::prelude::*;

/// A call for the service administrators, made from a call touchpoint.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "call_tasks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub message_id: i64,
    pub customer_id: i64,
    pub due_date: Date,
    pub title: String,
    pub script: String,
    /// open, done, cancelled (the owner opted out of the phone)
    pub state: String,
    /// booked, declined, no_answer, wrong_number
    pub outcome: Option<String>,
    pub note: Option<String>,
    pub outcome_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    /// The advisor working it, since `claimed_at`.
    pub claimed_by: Option<String>,
    pub claimed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::customer::Entity",
        from = "Column::CustomerId",
        to = "super::customer::Column::Id"
    )]
    Customer,
}

impl Related<super::customer::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Customer.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
