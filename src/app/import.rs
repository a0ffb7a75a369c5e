//! Importing a DMS export: the file is checked row by row and loaded all or
//! nothing (`import`), dated by the dealer's today.

use super::Failure;
use crate::config::Config;
use crate::import::{self, Kind, Report};
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use std::path::Path;

/// Imports `path` as a file of `kind` at `now` (no date may lie after the
/// dealer's today); with `dry_run` it reports and changes nothing.
pub async fn import_file(
    db: &DatabaseConnection,
    config: &Config,
    kind: Kind,
    path: &Path,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<Report, Failure> {
    let today = now.with_timezone(&config.default_timezone()).date_naive();
    Ok(import::run(db, config, kind, path, dry_run, today).await?)
}
