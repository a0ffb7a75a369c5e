use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "touchpoints")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `VIN:code:cycle:occurrence`: one occurrence is sent at most once.
    #[sea_orm(unique)]
    pub dedup_key: String,
    pub vehicle_id: i64,
    pub customer_id: i64,
    pub cycle: i32,
    pub code: String,
    pub occurrence: i32,
    pub channel: String,
    pub category: String,
    pub priority: i32,
    pub due_date: Date,
    /// planned, skipped, cancelled, displaced (and the dispatch states).
    pub state: String,
    pub reason: Option<String>,
    pub message: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTimeUtc>,
    pub lease_until: Option<DateTimeUtc>,
    pub sent_at: Option<DateTimeUtc>,
    pub provider_ref: Option<String>,
    /// The message that carried it, once dispatched.
    pub message_id: Option<i64>,
    /// For service touchpoints: the due date of their service.
    pub service_due: Option<Date>,
    /// A service follow-up that only goes out once the visit is recorded.
    pub awaits_visit: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for crate::domain::Touchpoint {
    fn from(m: Model) -> Self {
        Self {
            id: m.id,
            dedup_key: m.dedup_key,
            vehicle_id: m.vehicle_id,
            customer_id: m.customer_id,
            cycle: m.cycle,
            code: m.code,
            occurrence: m.occurrence,
            channel: m.channel,
            category: m.category,
            priority: m.priority,
            due_date: m.due_date,
            state: m.state,
            reason: m.reason,
            message: m.message,
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at,
            lease_until: m.lease_until,
            sent_at: m.sent_at,
            provider_ref: m.provider_ref,
            message_id: m.message_id,
            service_due: m.service_due,
            awaits_visit: m.awaits_visit,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

impl From<crate::domain::Touchpoint> for Model {
    fn from(r: crate::domain::Touchpoint) -> Self {
        Self {
            id: r.id,
            dedup_key: r.dedup_key,
            vehicle_id: r.vehicle_id,
            customer_id: r.customer_id,
            cycle: r.cycle,
            code: r.code,
            occurrence: r.occurrence,
            channel: r.channel,
            category: r.category,
            priority: r.priority,
            due_date: r.due_date,
            state: r.state,
            reason: r.reason,
            message: r.message,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            lease_until: r.lease_until,
            sent_at: r.sent_at,
            provider_ref: r.provider_ref,
            message_id: r.message_id,
            service_due: r.service_due,
            awaits_visit: r.awaits_visit,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}
