//! `import visits`: odometer readings keyed by (vehicle, date, kind). The
//! vehicle must be stored, and its history — the purchase, the stored
//! readings and the file's — must not go backwards. The rows are checked as
//! they stream in and kept compactly, then handled vehicle by vehicle.

use super::pipeline::Chunks;
use super::readings::{self, FileReading, StoredReading};
use super::rows::{self, VisitRow};
use super::source::Source;
use super::{CHUNK_RECORDS, Counts, Ctx, Errors, ImportError, Seen, sort_out};
use crate::store::import::{self as db, ReadingData};
use chrono::NaiveDate;
use sea_orm::ConnectionTrait;
use std::collections::HashMap;

pub(super) async fn import<C: ConnectionTrait>(
    conn: &C,
    ctx: &Ctx,
    source: Source,
    errors: &mut Errors,
) -> Result<Counts, ImportError> {
    let mut chunks = Chunks::start(source, rows::check_visit, ctx.rules, CHUNK_RECORDS);
    let mut seen = Seen::default();
    let mut counts = Counts::default();
    let mut visits: Vec<(u64, VisitRow)> = Vec::new();
    while let Some(chunk) = chunks.next().await? {
        counts.rows += chunk.len();
        visits.extend(sort_out(chunk, "vin", &mut seen, errors));
    }
    drop(seen);
    visits.sort_unstable_by_key(|(line, v)| (v.vin, v.date, v.odometer_km, *line));

    // A first load: no stored reading to look up.
    let first_load = db::no_readings(conn).await?;
    // Groups of rows of the same vehicle, a batch of vehicles at a time.
    let per_lookup = db::keys_per_lookup(ctx.batch);
    let mut rest = visits.as_slice();
    while !rest.is_empty() {
        let mut groups = Vec::new();
        let mut taken = 0;
        while taken < rest.len() && groups.len() < per_lookup {
            let vin = rest[taken].1.vin;
            let len = rest[taken..]
                .iter()
                .take_while(|(_, v)| v.vin == vin)
                .count();
            groups.push(&rest[taken..taken + len]);
            taken += len;
        }
        rest = &rest[taken..];
        store_vehicles(conn, ctx, &groups, first_load, &mut counts, errors).await?;
    }
    Ok(counts)
}

/// Checks and stores the file's readings of a batch of vehicles; each group
/// holds one vehicle's rows.
async fn store_vehicles<C: ConnectionTrait>(
    conn: &C,
    ctx: &Ctx,
    groups: &[&[(u64, VisitRow)]],
    first_load: bool,
    counts: &mut Counts,
    errors: &mut Errors,
) -> Result<(), ImportError> {
    let vins: Vec<&str> = groups
        .iter()
        .filter_map(|g| g.first())
        .map(|(_, v)| v.vin_str())
        .collect();
    let vehicles: HashMap<String, _> = db::vehicles_by_vin(conn, &vins)
        .await?
        .into_iter()
        .map(|m| (m.vin.clone(), m))
        .collect();
    let ids: Vec<i64> = vehicles.values().map(|v| v.id).collect();
    let mut stored: HashMap<i64, Vec<(NaiveDate, String, i64)>> = HashMap::new();
    let known = if first_load {
        Vec::new()
    } else {
        db::readings_of(conn, &ids).await?
    };
    for r in known {
        stored
            .entry(r.vehicle_id)
            .or_default()
            .push((r.date, r.kind, r.odometer_km));
    }

    let mut write = Vec::new();
    let mut changed_vehicles = Vec::new();
    let (mut inserted, mut updated, mut unchanged) = (0, 0, 0);
    for group in groups {
        let Some((_, first)) = group.first() else {
            continue;
        };
        let Some(vehicle) = vehicles.get(first.vin_str()) else {
            for (line, v) in group.iter() {
                errors.add(*line, "vin", &readings::unknown_vehicle(v.vin_str()));
            }
            continue;
        };
        let known = stored.get(&vehicle.id).map_or(&[][..], Vec::as_slice);
        let stored_km = |v: &VisitRow| {
            known
                .iter()
                .find(|(date, kind, _)| *date == v.date && kind == v.kind.as_str())
                .map(|r| r.2)
        };
        // Stored readings the file replaces do not count against it.
        let kept: Vec<StoredReading> = known
            .iter()
            .filter(|(date, kind, _)| {
                !group
                    .iter()
                    .any(|(_, v)| v.date == *date && v.kind.as_str() == kind)
            })
            .map(|&(date, _, odometer_km)| StoredReading { date, odometer_km })
            .collect();
        let in_file: Vec<FileReading> = group
            .iter()
            .map(|(line, v)| FileReading {
                line: *line,
                date: v.date,
                odometer_km: v.odometer_km,
            })
            .collect();
        for p in readings::check(
            vehicle.purchase_date,
            vehicle.purchase_odometer_km,
            &kept,
            &in_file,
        ) {
            errors.add(p.line, p.column, &p.reason);
        }
        let mut changed = false;
        for (_, v) in group.iter() {
            match stored_km(v) {
                Some(km) if km == v.odometer_km => {
                    unchanged += 1;
                    continue;
                }
                Some(_) => updated += 1,
                None => inserted += 1,
            }
            changed = true;
            write.push(ReadingData {
                vehicle_id: vehicle.id,
                date: v.date,
                odometer_km: v.odometer_km,
                kind: v.kind.as_str(),
            });
        }
        if changed {
            changed_vehicles.push(vehicle.id);
        }
    }
    if !errors.is_empty() {
        return Ok(());
    }
    counts.inserted += inserted;
    counts.updated += updated;
    counts.unchanged += unchanged;
    counts.replan += changed_vehicles.len();
    if !ctx.dry_run {
        for batch in write.chunks(ctx.batch) {
            db::upsert_readings(conn, batch.to_vec(), ctx.now).await?;
        }
        db::bump_vehicles(conn, &changed_vehicles, ctx.now).await?;
    }
    Ok(())
}
