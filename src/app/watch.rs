//! The import folder (`[import] watch_dir`): the daemon looks into it every
//! `watch_every_secs` and imports each DMS export that has settled
//! (`import::folder`), all or nothing as `import` does, in the imports
//! history as the import folder's; then moves it to `processed/`, or, when
//! it was refused, to `failed/` with `NAME.errors.txt` beside it.

use super::Failure;
use super::people::{Act, Principal};
use crate::config::Config;
use crate::import::Kind;
use crate::import::folder::{self, Memory, Sighting};
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where imported files go, inside the folder.
pub const PROCESSED: &str = "processed";
/// Where refused files go, inside the folder.
pub const FAILED: &str = "failed";

/// What became of one file of the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    pub file: String,
    pub kind: Kind,
    /// Its data rows, when it was imported.
    pub rows: Option<usize>,
    /// Its problems, when it was refused.
    pub problems: Vec<String>,
    /// Where it is now; `None` when it could not be moved.
    pub moved_to: Option<PathBuf>,
}

/// The watcher of the import folder, with what it saw on its last look.
#[derive(Debug, Default)]
pub struct Folder {
    dir: Option<PathBuf>,
    memory: Memory,
    origin: Option<Instant>,
}

impl Folder {
    /// One look into the folder `config` names, at `at` (`now` dates the
    /// imports): imports what has settled, in order, asking `go_on` before
    /// each file. Another folder than on the last look starts afresh; none
    /// does nothing. A file the database failed (not its rows) stays, with
    /// the files after it, for the next look.
    pub async fn look(
        &mut self,
        db: &DatabaseConnection,
        config: &Config,
        at: Instant,
        now: DateTime<Utc>,
        go_on: impl Fn() -> bool,
    ) -> Result<Vec<Handled>, Failure> {
        let settle_secs = config.settings.import.watch_settle_secs;
        let dir = config.watch_dir();
        if dir != self.dir {
            match &dir {
                Some(d) => {
                    tracing::info!(dir = %d.display(), settle_secs, "import folder: watching")
                }
                None => tracing::info!("import folder: off"),
            }
            self.dir = dir.clone();
            self.memory = Memory::default();
        }
        let Some(dir) = dir else {
            return Ok(Vec::new());
        };
        let seen = sightings(&dir).await?;
        let origin = *self.origin.get_or_insert(at);
        let decision = self.memory.look(
            &seen,
            at.saturating_duration_since(origin),
            Duration::from_secs(settle_secs),
        );
        for name in &decision.other {
            tracing::warn!(
                file = %name,
                "import folder: not named customers*.csv, vehicles*.csv or visits*.csv; left alone"
            );
        }
        for name in &decision.found {
            tracing::info!(
                file = %name,
                settle_secs,
                "import folder: found; it is imported once it has stopped changing"
            );
        }
        tracing::debug!(
            files = seen.len(),
            ready = decision.ready.len(),
            "import folder: looked"
        );
        let mut handled = Vec::new();
        for (kind, name) in decision.ready {
            if !go_on() {
                break;
            }
            let h = import_one(db, config, &dir, kind, &name, now).await?;
            if h.moved_to.is_some() {
                self.memory.forget(&name);
            } else {
                self.memory.handled(&name);
            }
            handled.push(h);
        }
        Ok(handled)
    }
}

/// The regular files of `dir` (created when missing).
async fn sightings(dir: &Path) -> Result<Vec<Sighting>, Failure> {
    let unreadable = |e: std::io::Error| {
        Failure::Other(format!(
            "cannot read the import folder {}: {e}",
            dir.display()
        ))
    };
    tokio::fs::create_dir_all(dir).await.map_err(unreadable)?;
    let mut entries = tokio::fs::read_dir(dir).await.map_err(unreadable)?;
    let mut seen = Vec::new();
    while let Some(entry) = entries.next_entry().await.map_err(unreadable)? {
        // Gone since it was listed, or not a file (processed/, failed/).
        let Ok(meta) = tokio::fs::metadata(entry.path()).await else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let name = entry
            .file_name()
            .into_string()
            .unwrap_or_else(|raw| format!("{} (not UTF-8)", raw.to_string_lossy()));
        seen.push(Sighting {
            name,
            size: meta.len(),
            modified: meta.modified().ok(),
        });
    }
    Ok(seen)
}

/// Imports the file `name` of `dir` as `kind`, records it in the imports
/// history, and moves it to where it belongs.
async fn import_one(
    db: &DatabaseConnection,
    config: &Config,
    dir: &Path,
    kind: Kind,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Handled, Failure> {
    let path = dir.join(name);
    let report = match super::import_file_as(db, config, kind, &path, name, false, now).await {
        // The database, not the file: it is tried again on the next look.
        Err(e) if !matches!(e, Failure::Rows(_) | Failure::Data(_)) => return Err(e),
        report => report,
    };
    let problems = match &report {
        Ok(_) => Vec::new(),
        Err(Failure::Rows(lines)) => lines.clone(),
        Err(e) => vec![e.to_string()],
    };
    let by = Principal::import_folder();
    let act = Act {
        by: &by,
        address: None,
    };
    if let Err(e) = super::actions::record_import(db, &act, kind, name, &report, now).await {
        tracing::warn!(file = name, error = %e, "import folder: the imports history could not record the file");
    }
    let into = dir.join(if report.is_ok() { PROCESSED } else { FAILED });
    let moved = put(&path, &into, name, now, &problems).await;
    match (&report, &moved) {
        (Ok(r), Ok(to)) => tracing::info!(
            file = name,
            kind = kind.as_str(),
            rows = r.rows,
            inserted = r.inserted,
            updated = r.updated,
            unchanged = r.unchanged,
            outcome = "imported",
            moved_to = %to.display(),
            "import folder: imported"
        ),
        (Err(_), Ok(to)) => tracing::warn!(
            file = name,
            kind = kind.as_str(),
            problems = problems.len(),
            outcome = "refused",
            moved_to = %to.display(),
            "import folder: refused, nothing imported; the problems are in the errors file beside it"
        ),
        (_, Err(e)) => tracing::error!(
            file = name,
            kind = kind.as_str(),
            outcome = if report.is_ok() { "imported" } else { "refused" },
            error = %e,
            "import folder: the file could not be moved; it stays, and is looked at again once it changes"
        ),
    }
    Ok(Handled {
        file: name.to_string(),
        kind,
        rows: report.as_ref().ok().map(|r| r.rows),
        problems,
        moved_to: moved.ok(),
    })
}

/// Moves `path` into the folder `into` under its `name`, stamped with `now`
/// when that name is taken; with `problems`, writes them first, one per
/// line, to `NAME.errors.txt` beside it. Where it went.
async fn put(
    path: &Path,
    into: &Path,
    name: &str,
    now: DateTime<Utc>,
    problems: &[String],
) -> Result<PathBuf, String> {
    let fail = |e: std::io::Error| format!("{}: {e}", into.display());
    tokio::fs::create_dir_all(into).await.map_err(fail)?;
    let mut n = 0;
    let to = loop {
        let candidate = into.join(folder::stamped_name(name, now, n));
        if !tokio::fs::try_exists(&candidate).await.map_err(fail)? {
            break candidate;
        }
        n += 1;
    };
    if !problems.is_empty() {
        let mut text = problems.join("\n");
        text.push('\n');
        let errors = PathBuf::from(format!("{}.errors.txt", to.display()));
        tokio::fs::write(&errors, text).await.map_err(fail)?;
    }
    tokio::fs::rename(path, &to).await.map_err(fail)?;
    Ok(to)
}
