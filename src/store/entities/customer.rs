use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "customers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub customer_id: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub timezone: String,
    pub birthday: Option<Date>,
    pub consent_email_marketing: bool,
    pub consent_sms_marketing: bool,
    pub locale: Option<String>,
    pub opted_out_email: bool,
    /// An SMS opt-out stops calls too; this stops calls alone.
    pub opted_out_sms: bool,
    pub opted_out_call: bool,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::vehicle::Entity")]
    Vehicle,
}

impl Related<super::vehicle::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Vehicle.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for crate::domain::Customer {
    fn from(m: Model) -> Self {
        Self {
            id: m.id,
            customer_id: m.customer_id,
            name: m.name,
            email: m.email,
            phone: m.phone,
            timezone: m.timezone,
            birthday: m.birthday,
            consent_email_marketing: m.consent_email_marketing,
            consent_sms_marketing: m.consent_sms_marketing,
            locale: m.locale,
            opted_out_email: m.opted_out_email,
            opted_out_sms: m.opted_out_sms,
            opted_out_call: m.opted_out_call,
            updated_at: m.updated_at,
        }
    }
}

impl From<crate::domain::Customer> for Model {
    fn from(r: crate::domain::Customer) -> Self {
        Self {
            id: r.id,
            customer_id: r.customer_id,
            name: r.name,
            email: r.email,
            phone: r.phone,
            timezone: r.timezone,
            birthday: r.birthday,
            consent_email_marketing: r.consent_email_marketing,
            consent_sms_marketing: r.consent_sms_marketing,
            locale: r.locale,
            opted_out_email: r.opted_out_email,
            opted_out_sms: r.opted_out_sms,
            opted_out_call: r.opted_out_call,
            updated_at: r.updated_at,
        }
    }
}
