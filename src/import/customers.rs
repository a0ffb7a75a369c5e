//! `import customers`: keyed by customer id. A changed birthday or time zone
//! re-plans the customer's vehicles; opt-outs are never touched.

use super::pipeline::Chunks;
use super::source::Source;
use super::{CHUNK_RECORDS, Counts, Ctx, Errors, ImportError, Seen, rows, sort_out};
use crate::store::import::{self as db, CustomerData};
use sea_orm::ConnectionTrait;
use std::collections::HashMap;

pub(super) async fn import<C: ConnectionTrait>(
    conn: &C,
    ctx: &Ctx,
    source: Source,
    errors: &mut Errors,
) -> Result<Counts, ImportError> {
    let mut chunks = Chunks::start(source, rows::check_customer, ctx.rules, CHUNK_RECORDS);
    let mut seen = Seen::default();
    let mut counts = Counts::default();
    // A first load: every row is new (repeats are refused), nothing to look up.
    let first_load = db::no_customers(conn).await?;
    while let Some(chunk) = chunks.next().await? {
        counts.rows += chunk.len();
        let valid = sort_out(chunk, "customer_id", &mut seen, errors);
        if !errors.is_empty() {
            // Nothing will be stored; keep reading to report every bad row.
            continue;
        }
        let mut valid = valid.into_iter().peekable();
        while valid.peek().is_some() {
            let batch = valid
                .by_ref()
                .take(db::keys_per_lookup(ctx.batch))
                .collect();
            store_batch(conn, ctx, batch, first_load, &mut counts).await?;
        }
    }
    Ok(counts)
}

async fn store_batch<C: ConnectionTrait>(
    conn: &C,
    ctx: &Ctx,
    batch: Vec<(u64, CustomerData)>,
    first_load: bool,
    counts: &mut Counts,
) -> Result<(), ImportError> {
    let stored: HashMap<String, _> = if first_load {
        HashMap::new()
    } else {
        let keys: Vec<&str> = batch.iter().map(|(_, r)| r.customer_id.as_str()).collect();
        db::customers_by_key(conn, &keys)
            .await?
            .into_iter()
            .map(|m| (m.customer_id.clone(), m))
            .collect()
    };
    let mut write = Vec::new();
    let mut replan_owners = Vec::new();
    let mut updated = Vec::new();
    for (_, row) in batch {
        match stored.get(row.customer_id.as_str()) {
            None => {
                counts.inserted += 1;
                write.push(row);
            }
            Some(old) if row.differs_from(old) => {
                counts.updated += 1;
                updated.extend(
                    migration::terms::customer_terms(
                        &old.name,
                        old.email.as_deref(),
                        old.phone.as_deref(),
                    )
                    .into_iter()
                    .map(|t| (old.customer_id.clone(), t)),
                );
                if row.changes_plan_facts(old) {
                    replan_owners.push(old.id);
                }
                write.push(row);
            }
            Some(_) => counts.unchanged += 1,
        }
    }
    if ctx.dry_run {
        counts.replan += db::count_vehicles_of_owners(conn, &replan_owners).await? as usize;
    } else {
        db::upsert_customers(conn, write, &updated, ctx.now).await?;
        counts.replan += db::bump_vehicles_of_owners(conn, &replan_owners, ctx.now).await? as usize;
    }
    Ok(())
}
