//! `import vehicles`: keyed by VIN; the owner must be a stored customer. A
//! changed vehicle is re-planned; changed purchase data must still precede
//! the stored readings.

use super::pipeline::Chunks;
use super::rows;
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
    let mut seen = Seen::default();
    let mut counts = Counts::default();
    // A first load: every row is new (repeats are refused), no VIN to look up.
    let first_load = db::no_vehicles(conn).await?;
    while let Some(chunk) = chunks.next().await? {
        counts.rows += chunk.len();
        let valid = sort_out(chunk, "vin", &mut seen, errors);
        // Owners are looked up even after a problem, to report every missing one.
        for batch in valid.chunks(db::keys_per_lookup(ctx.batch)) {
            store_batch(conn, ctx, batch, first_load, &mut counts, errors).await?;
        }
    }
    Ok(counts)
}

async fn store_batch<C: ConnectionTrait>(
    conn: &C,
    ctx: &Ctx,
    batch: &[(u64, VehicleData)],
    first_load: bool,
    counts: &mut Counts,
    errors: &mut Errors,
) -> Result<(), ImportError> {
    let mut owner_keys: Vec<&str> = batch.iter().map(|(_, r)| r.customer_id.as_str()).collect();
    owner_keys.sort_unstable();
    owner_keys.dedup();
    // On a first load every owner only needs to exist: the statement finds
    // its id and writes only the rows whose owner it found, and the missing
    // ones are looked up after a short write. When nothing is written (a dry
    // run, or after a problem) they are counted, and looked up if some are
    // missing.
    let will_write = errors.is_empty() && !ctx.dry_run;
    let all_owners_known = first_load
        && (will_write || db::count_customers(conn, &owner_keys).await? == owner_keys.len() as u64);
    let owners: HashMap<String, i64> = if all_owners_known {
        HashMap::new()
    } else {
        db::customer_ids_by_key(conn, &owner_keys)
            .await?
            .into_iter()
            .collect()
    };
    let stored: HashMap<String, _> = if first_load {
        HashMap::new()
    } else {
        let vins: Vec<&str> = batch.iter().map(|(_, r)| r.vin.as_str()).collect();
        db::vehicles_by_vin(conn, &vins)
            .await?
            .into_iter()
            .map(|m| (m.vin.clone(), m))
            .collect()
    };

    let mut write = Vec::new();
    let mut moved_purchase = Vec::new();
    let mut inserted = 0;
    let mut updated = 0;
    let mut unchanged = 0;
    for (line, row) in batch {
        let owner = owners.get(&row.customer_id).copied();
        if owner.is_none() && !all_owners_known {
            errors.add(*line, "customer_id", &unknown_customer(&row.customer_id));
            continue;
        }
        match (stored.get(&row.vin), owner) {
            (Some(old), Some(owner)) if row.differs_from(old, owner) => {
                updated += 1;
                if old.purchase_date != row.purchase_date
                    || old.purchase_odometer_km != row.purchase_odometer_km
                {
                    moved_purchase.push((
                        *line,
                        old.id,
                        row.purchase_date,
                        row.purchase_odometer_km,
                    ));
                }
                write.push(row);
            }
            (Some(_), _) => unchanged += 1,
            (None, _) => {
                inserted += 1;
                write.push(row);
            }
        }
    }
    check_moved_purchases(conn, &moved_purchase, errors).await?;
    if will_write && errors.is_empty() {
        let expected = write.len() as u64;
        let written = db::upsert_vehicles(conn, write, ctx.now).await?;
        if written != expected {
            report_missing_owners(conn, batch, errors).await?;
        }
    }
    if !errors.is_empty() {
        return Ok(());
    }
    counts.inserted += inserted;
    counts.updated += updated;
    counts.unchanged += unchanged;
    counts.replan += inserted + updated;
    Ok(())
}

/// Names the rows whose owner is not stored (after a write that skipped them).
async fn report_missing_owners<C: ConnectionTrait>(
    conn: &C,
    batch: &[(u64, VehicleData)],
    errors: &mut Errors,
) -> Result<(), ImportError> {
    let mut keys: Vec<&str> = batch.iter().map(|(_, r)| r.customer_id.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    let known: HashMap<String, i64> = db::customer_ids_by_key(conn, &keys)
        .await?
        .into_iter()
        .collect();
    let mut missing = 0;
    for (line, row) in batch {
        if !known.contains_key(&row.customer_id) {
            missing += 1;
            errors.add(*line, "customer_id", &unknown_customer(&row.customer_id));
        }
    }
    if missing == 0 {
        return Err(ImportError::Store(crate::store::StoreError {
            context: "storing vehicles".into(),
            source: sea_orm::DbErr::Custom("fewer vehicles were written than given".into()),
        }));
    }
    Ok(())
}

fn unknown_customer(key: &str) -> String {
    format!("'{key}' is not a known customer (import customers first)")
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
