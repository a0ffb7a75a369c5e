use sea_orm::entity::prelude::*;

/// One message sent (or being sent) to a person: it carries one touchpoint,
/// or several merged ones.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The dedup key of the touchpoint it was made for.
    #[sea_orm(unique)]
    pub key: String,
    pub customer_id: i64,
    pub channel: String,
    pub recipient: String,
    pub locale: String,
    pub subject: String,
    pub body: String,
    /// sending, retry, sent, delivered, failed, held
    pub state: String,
    pub reason: Option<String>,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTimeUtc>,
    pub lease_until: Option<DateTimeUtc>,
    pub provider_ref: Option<String>,
    pub segments: Option<i32>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
