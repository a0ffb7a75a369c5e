use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "vehicles")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub vin: String,
    pub customer_id: i64,
    pub make: String,
    pub model: String,
    pub model_year: Option<i32>,
    pub purchase_date: Date,
    pub purchase_odometer_km: i64,
    pub avg_monthly_km: Option<f64>,
    pub active: bool,
    pub facts_version: i64,
    pub planned_version: i64,
    /// The first day of the cycle after the planned one: planning looks at
    /// the vehicle again then.
    pub replan_on: Option<Date>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::customer::Entity",
        from = "Column::CustomerId",
        to = "super::customer::Column::Id"
    )]
    Customer,
    #[sea_orm(has_many = "super::reading::Entity")]
    Reading,
}

impl Related<super::customer::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Customer.def()
    }
}

impl Related<super::reading::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Reading.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for crate::domain::Vehicle {
    fn from(m: Model) -> Self {
        Self {
            id: m.id,
            vin: m.vin,
            customer_id: m.customer_id,
            make: m.make,
            model: m.model,
            model_year: m.model_year,
            purchase_date: m.purchase_date,
            purchase_odometer_km: m.purchase_odometer_km,
            avg_monthly_km: m.avg_monthly_km,
            active: m.active,
            facts_version: m.facts_version,
            planned_version: m.planned_version,
            replan_on: m.replan_on,
            updated_at: m.updated_at,
        }
    }
}

impl From<crate::domain::Vehicle> for Model {
    fn from(r: crate::domain::Vehicle) -> Self {
        Self {
            id: r.id,
            vin: r.vin,
            customer_id: r.customer_id,
            make: r.make,
            model: r.model,
            model_year: r.model_year,
            purchase_date: r.purchase_date,
            purchase_odometer_km: r.purchase_odometer_km,
            avg_monthly_km: r.avg_monthly_km,
            active: r.active,
            facts_version: r.facts_version,
            planned_version: r.planned_version,
            replan_on: r.replan_on,
            updated_at: r.updated_at,
        }
    }
}
