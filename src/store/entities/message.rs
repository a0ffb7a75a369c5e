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

impl From<Model> for crate::domain::Message {
    fn from(m: Model) -> Self {
        Self {
            id: m.id,
            key: m.key,
            customer_id: m.customer_id,
            channel: m.channel,
            recipient: m.recipient,
            locale: m.locale,
            subject: m.subject,
            body: m.body,
            state: m.state,
            reason: m.reason,
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at,
            lease_until: m.lease_until,
            provider_ref: m.provider_ref,
            segments: m.segments,
            created_at: m.created_at,
            sent_at: m.sent_at,
            updated_at: m.updated_at,
        }
    }
}

impl From<crate::domain::Message> for Model {
    fn from(r: crate::domain::Message) -> Self {
        Self {
            id: r.id,
            key: r.key,
            customer_id: r.customer_id,
            channel: r.channel,
            recipient: r.recipient,
            locale: r.locale,
            subject: r.subject,
            body: r.body,
            state: r.state,
            reason: r.reason,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            lease_until: r.lease_until,
            provider_ref: r.provider_ref,
            segments: r.segments,
            created_at: r.created_at,
            sent_at: r.sent_at,
            updated_at: r.updated_at,
        }
    }
}
