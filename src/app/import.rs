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
    let shown = path.display().to_string();
    import_file_as(db, config, kind, path, &shown, dry_run, now).await
}

/// [`import_file`], naming the file `shown` in the report and its problems.
#[allow(clippy::too_many_arguments)]
pub async fn import_file_as(
    db: &DatabaseConnection,
    config: &Config,
    kind: Kind,
    path: &Path,
    shown: &str,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<Report, Failure> {
    let today = now.with_timezone(&config.default_timezone()).date_naive();
    Ok(import::run_as(db, config, kind, path, shown, dry_run, today).await?)
}

/// Imports an uploaded file named `name` (as the person's computer named
/// it: the report and its problems say so), all or nothing.
pub async fn import_upload(
    db: &DatabaseConnection,
    config: &Config,
    kind: Kind,
    name: &str,
    content: &[u8],
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<Report, Failure> {
    let name = std::path::Path::new(name.trim())
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty())
        .unwrap_or("upload.csv")
        .to_string();
    let dir =
        tempfile::tempdir().map_err(|e| Failure::Other(format!("cannot keep the upload: {e}")))?;
    let path = dir.path().join("upload.csv");
    tokio::fs::write(&path, content)
        .await
        .map_err(|e| Failure::Other(format!("cannot keep the upload: {e}")))?;
    import_file_as(db, config, kind, &path, &name, dry_run, now).await
}
