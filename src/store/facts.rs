//! Every stored fact at once, a page at a time: what `simulate` replays.

use super::entities::{customer, opt_out, reading, vehicle};
use super::{Context, StoreError};
use crate::predict::Reading;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

/// The customers, vehicles, readings and logged opt-outs, each in id order.
#[derive(Debug, Default)]
pub struct AllFacts {
    pub customers: Vec<crate::domain::Customer>,
    pub vehicles: Vec<crate::domain::Vehicle>,
    /// Each reading with its vehicle's id.
    pub readings: Vec<(i64, Reading)>,
    pub opt_outs: Vec<LoggedOptOut>,
}

/// One entry of the opt-out log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedOptOut {
    pub id: i64,
    pub customer_id: i64,
    pub channel: crate::domain::Channel,
    /// Out, or back in.
    pub opted_out: bool,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Rows read in one statement.
const PAGE: u64 = 5000;

/// Every row of `E` in id order, a page at a time (by id, not by offset).
async fn every<E, C>(
    db: &C,
    id: E::Column,
    id_of: impl Fn(&E::Model) -> i64,
    what: &str,
) -> Result<Vec<E::Model>, StoreError>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let mut rows = Vec::new();
    let mut after = i64::MIN;
    loop {
        let page = E::find()
            .filter(id.gt(after))
            .order_by_asc(id)
            .limit(PAGE)
            .all(db)
            .await
            .context(what)?;
        let Some(last) = page.last() else { break };
        after = id_of(last);
        rows.extend(page);
    }
    Ok(rows)
}

/// Reads every customer, vehicle, reading and logged opt-out.
pub async fn all_facts<C: ConnectionTrait>(db: &C) -> Result<AllFacts, StoreError> {
    let customers =
        every::<customer::Entity, _>(db, customer::Column::Id, |c| c.id, "loading customers")
            .await?;
    let vehicles =
        every::<vehicle::Entity, _>(db, vehicle::Column::Id, |v| v.id, "loading vehicles").await?;
    let readings =
        every::<reading::Entity, _>(db, reading::Column::Id, |r| r.id, "loading readings")
            .await?
            .into_iter()
            .filter_map(|r| {
                let vehicle_id = r.vehicle_id;
                super::to_reading(r).map(|reading| (vehicle_id, reading))
            })
            .collect();
    let opt_outs =
        every::<opt_out::Entity, _>(db, opt_out::Column::Id, |o| o.id, "loading opt-outs")
            .await?
            .into_iter()
            .map(|o| LoggedOptOut {
                id: o.id,
                customer_id: o.customer_id,
                channel: crate::domain::Channel::of_stored(&o.channel),
                opted_out: o.opted_out,
                at: o.at,
            })
            .collect();
    Ok(AllFacts {
        customers: super::records(customers),
        vehicles: super::records(vehicles),
        readings,
        opt_outs,
    })
}
