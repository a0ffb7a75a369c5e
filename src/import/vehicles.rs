//! `import vehicles`: keyed by VIN; the owner must be a stored customer. A
//! changed vehicle is re-planned; changed purchase data must still precede
//! the stored readings.

use super::pipeline::Chunks;
use super::rows::{self, VehicleRow};
use super::source::Source;
use super::{CHUNK_RECORDS, Counts, Ctx, Errors, ImportError, Seen, sort_out};
use crate::store::import::{self as db, VehicleData};
use sea_orm::ConnectionTrait;
use std::collections::HashMap;

pub(super) async fn import<C: ConnectionTrait>(
    conn: &C,
    ctx: &Ctx,
    source: Source,
    errors: &mut Errors,
) -> Result<Counts, ImportError> {
    let mut chunks = Chunks::start(source, rows::check_vehicle, ctx.rules, CHUNK_RECORDS);
    let mut seen = Seen::new();
    let mut counts = Counts::default();
    while let Some(chunk) = chunks.next().await? {
        counts.rows += chunk.len();
        let valid = sort_out(chunk, "vin", &mut seen, errors);
        // Owners are looked up even after a problem, to report every missing one.
        for batch in valid.chunks(db::keys_per_lookup(ctx.batch)) {
            store_batch(conn, ctx, batch, &mut counts, errors).await?;
        }
    }
    Ok(counts)
}

async fn store_batch<C: ConnectionTrait>(
    conn: &C,
    ctx: &Ctx,
    batch: &[(u64, VehicleRow)],
    counts: &mut Counts,
    errors: &mut Errors,
) -> Result<(), ImportError> {
    let mut owner_keys: Vec<&str> = batch.iter().map(|(_, r)| r.customer_id.as_str()).collect();
    owner_keys.sort_unstable();
    owner_keys.dedup();
    let owners: HashMap<String, i64> = db::customer_ids_by_key(conn, &owner_keys)
        .await?
        .into_iter()
        .collect();
    let vins: Vec<&str> = batch.iter().map(|(_, r)| r.vin.as_str()).collect();
    let stored: HashMap<String, _> = db::vehicles_by_vin(conn, &vins)
        .await?
        .into_iter()
        .map(|m| (m.vin.clone(), m))
        .collect();

    let mut write = Vec::new();
    let mut moved_purchase = Vec::new();
    let mut inserted = 0;
    let mut updated = 0;
    let mut unchanged = 0;
    for (line, row) in batch {
        let Some(&owner) = owners.get(&row.customer_id) else {
            errors.add(
                *line,
                "customer_id",
                &format!(
                    "'{}' is not a known customer (import customers first)",
                    row.customer_id
                ),
            );
            continue;
        };
        let data = VehicleData {
            vin: row.vin.clone(),
            customer_id: owner,
            make: row.make.clone(),
            model: row.model.clone(),
            model_year: row.model_year,
            purchase_date: row.purchase_date,
            purchase_odometer_km: row.purchase_odometer_km,
            avg_monthly_km: row.avg_monthly_km,
        };
        match stored.get(&row.vin) {
            None => {
                inserted += 1;
                write.push(data);
            }
            Some(old) if data.differs_from(old) => {
                updated += 1;
                if old.purchase_date != data.purchase_date
                    || old.purchase_odometer_km != data.purchase_odometer_km
                {
                    moved_purchase.push((
                        *line,
                        old.id,
                        data.purchase_date,
                        data.purchase_odometer_km,
                    ));
                }
                write.push(data);
            }
            Some(_) => unchanged += 1,
        }
    }
    check_moved_purchases(conn, &moved_purchase, errors).await?;
    if !errors.is_empty() {
        return Ok(());
    }
    counts.inserted += inserted;
    counts.updated += updated;
    counts.unchanged += unchanged;
    counts.replan += inserted + updated;
    if !ctx.dry_run {
        db::upsert_vehicles(conn, &write, ctx.now).await?;
    }
    Ok(())
}

/// A changed purchase must still come first: no stored reading before its
/// date or below its odometer.
async fn check_moved_purchases<C: ConnectionTrait>(
    conn: &C,
    moved: &[(u64, i64, chrono::NaiveDate, i64)],
    errors: &mut Errors,
) -> Result<(), ImportError> {
    if moved.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = moved.iter().map(|m| m.1).collect();
    let readings = db::readings_of(conn, &ids).await?;
    for &(line, id, date, odometer_km) in moved {
        let of_vehicle = readings.iter().filter(|r| r.vehicle_id == id);
        if let Some(first) = of_vehicle
            .clone()
            .filter(|r| r.date < date)
            .min_by_key(|r| r.date)
        {
            errors.add(
                line,
                "purchase_date",
                &format!(
                    "{date} is after the recorded {} on {}",
                    first.kind, first.date
                ),
            );
        }
        if let Some(low) = of_vehicle
            .filter(|r| r.odometer_km < odometer_km)
            .min_by_key(|r| r.odometer_km)
        {
            errors.add(
                line,
                "purchase_odometer_km",
                &format!(
                    "{odometer_km} km is more than the {} km recorded on {}",
                    low.odometer_km, low.date
                ),
            );
        }
    }
    Ok(())
}
