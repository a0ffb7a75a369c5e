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
