//! CSV import (docs/csv.md): validate every row, then load all or nothing.
//!
//! The file is streamed: records are read and checked in chunks on blocking
//! threads (in parallel, one chunk ahead of the database work), then looked up
//! and upserted in batches inside one transaction. Only compact per-row state
//! is kept for the whole file (a hash of each key for the uniqueness check;
//! for visits, the readings themselves, which must be ordered per vehicle).
//! Any invalid row rolls everything back and every bad row is reported as
//! `FILE:LINE: column: reason`.

mod customers;
pub mod folder;
mod pipeline;
pub mod readings;
pub mod rows;
pub mod source;
mod vehicles;
mod visits;

use crate::config::Config;
use crate::store::{Context, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use pipeline::CheckedRecord;
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use serde::Serialize;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Customers,
    Vehicles,
    Visits,
}

impl Kind {
    /// The kind a name (`customers`, `vehicles`, `visits`) gives.
    pub fn parse(name: &str) -> Option<Kind> {
        [Kind::Customers, Kind::Vehicles, Kind::Visits]
            .into_iter()
            .find(|k| k.as_str() == name.trim())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Customers => "customers",
            Kind::Vehicles => "vehicles",
            Kind::Visits => "visits",
        }
    }
}

/// What an import did (or, with `--dry-run`, would do).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Report {
    pub kind: &'static str,
    pub file: String,
    /// Data rows in the file.
    pub rows: usize,
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Vehicles whose facts changed, so that the planner re-plans them.
    pub vehicles_to_replan: usize,
    pub dry_run: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Every bad row as `FILE:LINE: column: reason`; nothing was changed.
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// At most this many problems are listed; the rest are counted.
pub const MAX_LISTED: usize = 1000;

/// SQLite page cache while importing, MiB.
const PAGE_CACHE_MIB: u32 = 256;

/// Records read and checked per chunk.
const CHUNK_RECORDS: usize = 8192;

/// What a row is checked against: `today` (no facts from the future), the
/// configured region (for national phone numbers) and distance unit.
pub fn row_rules(config: &Config, today: NaiveDate) -> rows::Rules {
    let settings = &config.settings.import;
    rows::Rules {
        today,
        // The configuration is validated on load; without a region only
        // international numbers would be accepted.
        region: crate::domain::parse_region(&settings.default_region).ok(),
        unit: settings.distance_unit,
    }
}

/// Validates `path` and, unless `dry_run`, loads it in one transaction.
pub async fn run(
    db: &DatabaseConnection,
    config: &Config,
    kind: Kind,
    path: &Path,
    dry_run: bool,
    today: NaiveDate,
) -> Result<Report, ImportError> {
    run_as(
        db,
        config,
        kind,
        path,
        &path.display().to_string(),
        dry_run,
        today,
    )
    .await
}

/// [`run`], naming the file `shown` in the report and its problems (an
/// upload is named as the person's file, not as where it was kept).
#[allow(clippy::too_many_arguments)]
pub async fn run_as(
    db: &DatabaseConnection,
    config: &Config,
    kind: Kind,
    path: &Path,
    shown: &str,
    dry_run: bool,
    today: NaiveDate,
) -> Result<Report, ImportError> {
    let shown = shown.to_string();
    let settings = &config.settings.import;
    let ctx = Ctx {
        rules: row_rules(config, today),
        batch: settings.batch_size.max(1),
        dry_run,
        now: Utc::now(),
    };
    let layout = match kind {
        Kind::Customers => rows::CUSTOMERS,
        Kind::Vehicles => rows::VEHICLES,
        Kind::Visits => rows::VISITS,
    };
    let source = source::Source::open(path, &shown, &layout)?;
    let before = crate::store::import::begin_bulk_load(db, PAGE_CACHE_MIB).await?;
    let outcome = load(db, &ctx, kind, source, &shown).await;
    if let Err(e) = crate::store::import::end_bulk_load(db, before).await {
        tracing::warn!(error = %e, "restoring the connection after the import failed");
    }
    let counts = outcome?;
    Ok(Report {
        kind: kind.as_str(),
        file: shown,
        rows: counts.rows,
        inserted: counts.inserted,
        updated: counts.updated,
        unchanged: counts.unchanged,
        vehicles_to_replan: counts.replan,
        dry_run,
    })
}

/// Validates and stores the rows in one transaction; nothing is kept unless
/// every row is valid (and this is not a dry run).
async fn load(
    db: &DatabaseConnection,
    ctx: &Ctx,
    kind: Kind,
    source: source::Source,
    shown: &str,
) -> Result<Counts, ImportError> {
    let txn = begin(db, ctx.dry_run).await?;
    let mut errors = Errors::new(shown);
    let outcome = match kind {
        Kind::Customers => customers::import(&txn, ctx, source, &mut errors).await,
        Kind::Vehicles => vehicles::import(&txn, ctx, source, &mut errors).await,
        Kind::Visits => visits::import(&txn, ctx, source, &mut errors).await,
    };
    match outcome {
        Ok(counts) if errors.is_empty() => {
            if ctx.dry_run {
                rollback(txn).await;
            } else {
                txn.commit().await.context("committing the import")?;
            }
            Ok(counts)
        }
        Ok(_) => {
            rollback(txn).await;
            Err(ImportError::Invalid(errors.into_messages()))
        }
        Err(e) => {
            rollback(txn).await;
            Err(e)
        }
    }
}

/// A write transaction takes SQLite's write lock at once (`BEGIN IMMEDIATE`),
/// so that reading first and writing later cannot fail on a busy database.
async fn begin(db: &DatabaseConnection, dry_run: bool) -> Result<DatabaseTransaction, StoreError> {
    let mode = if dry_run {
        SqliteTransactionMode::Deferred
    } else {
        SqliteTransactionMode::Immediate
    };
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(mode),
        ..Default::default()
    })
    .await
    .context("starting the import transaction")
}

async fn rollback(txn: DatabaseTransaction) {
    if let Err(e) = txn.rollback().await {
        tracing::warn!(error = %e, "rolling back the import failed; the transaction is abandoned");
    }
}

/// What every kind of import needs.
struct Ctx {
    rules: rows::Rules,
    /// Rows per database round trip.
    batch: usize,
    dry_run: bool,
    now: DateTime<Utc>,
}

/// What an import counted.
#[derive(Debug, Default)]
struct Counts {
    rows: usize,
    inserted: usize,
    updated: usize,
    unchanged: usize,
    replan: usize,
}

/// The problems found so far, as `FILE:LINE: column: reason`, by line; at
/// most [`MAX_LISTED`] are kept, the others only counted.
struct Errors {
    file: String,
    kept: Vec<(u64, String)>,
    total: usize,
}

impl Errors {
    fn new(file: &str) -> Self {
        Self {
            file: file.to_string(),
            kept: Vec::new(),
            total: 0,
        }
    }

    fn add(&mut self, line: u64, column: &str, reason: &str) {
        self.total += 1;
        self.kept
            .push((line, format!("{}:{line}: {column}: {reason}", self.file)));
        if self.kept.len() >= 2 * MAX_LISTED {
            self.trim();
        }
    }

    fn trim(&mut self) {
        self.kept.sort_by_key(|(line, _)| *line);
        self.kept.truncate(MAX_LISTED);
    }

    fn is_empty(&self) -> bool {
        self.total == 0
    }

    fn into_messages(mut self) -> Vec<String> {
        self.trim();
        let listed = self.kept.len();
        let mut messages: Vec<String> = self.kept.into_iter().map(|(_, m)| m).collect();
        if self.total > listed {
            messages.push(format!(
                "{}: … and {} more problems",
                self.file,
                self.total - listed
            ));
        }
        messages
    }
}

/// A 128-bit hash of a key: two SipHash-1-3 with different fixed keys. A
/// false repeat among a million keys is about as likely as a cosmic ray.
pub(crate) fn key_hash(key: &str) -> u128 {
    use std::hash::{DefaultHasher, Hasher};
    let mut a = DefaultHasher::new();
    a.write(key.as_bytes());
    let mut b = DefaultHasher::new();
    b.write_u64(0x9e37_79b9_7f4a_7c15);
    b.write(key.as_bytes());
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

/// Hashes a key hash by taking its low bits: it is already uniform.
#[derive(Default)]
struct TakeBits(u64);

impl Hasher for TakeBits {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

/// Remembers the first line of every key, by its hash, so that a million
/// keys stay small.
#[derive(Default)]
struct Seen {
    lines: HashMap<u128, u64, BuildHasherDefault<TakeBits>>,
}

impl Seen {
    /// Records the key on `line`; returns the earlier line if it was seen before.
    fn first_line(&mut self, key_hash: u128, line: u64) -> Option<u64> {
        match self.lines.entry(key_hash) {
            std::collections::hash_map::Entry::Occupied(first) => Some(*first.get()),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(line);
                None
            }
        }
    }
}

/// Sorts a checked chunk into valid rows and problems: a row whose key was
/// seen before is the bad one, and names the first line.
fn sort_out<T>(
    chunk: Vec<CheckedRecord<T>>,
    key_column: &'static str,
    seen: &mut Seen,
    errors: &mut Errors,
) -> Vec<(u64, T)> {
    let mut valid = Vec::with_capacity(chunk.len());
    for CheckedRecord {
        line,
        key_hash,
        checked,
    } in chunk
    {
        let first = key_hash.and_then(|hash| seen.first_line(hash, line));
        if let (Some(first), Some(key)) = (first, &checked.key) {
            errors.add(
                line,
                key_column,
                &format!("'{key}' appears again (first on line {first}); ids must be unique within the file"),
            );
        }
        match checked.row {
            Ok(row) if first.is_none() => valid.push((line, row)),
            Ok(_) => {}
            Err(problems) => {
                for p in problems {
                    errors.add(line, p.column, &p.reason);
                }
            }
        }
    }
    valid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_listed_by_line_and_capped() {
        let mut errors = Errors::new("f.csv");
        for line in (2..(MAX_LISTED as u64 + 12)).rev() {
            errors.add(line, "vin", "bad");
        }
        let messages = errors.into_messages();
        assert_eq!(messages.len(), MAX_LISTED + 1);
        assert_eq!(messages[0], "f.csv:2: vin: bad");
        assert_eq!(messages[MAX_LISTED], "f.csv: … and 10 more problems");
    }

    #[test]
    fn a_repeated_key_names_the_first_line() {
        let mut seen = Seen::default();
        assert_eq!(seen.first_line(key_hash("C1"), 2), None);
        assert_eq!(seen.first_line(key_hash("C2"), 3), None);
        assert_eq!(seen.first_line(key_hash("C1"), 9), Some(2));
        assert_ne!(key_hash("C1"), key_hash("C2"));
    }
}
