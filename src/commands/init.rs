use super::Failure;
use crate::config::{Config, EXAMPLE};
use std::path::Path;

/// Writes `DIR/touchpoint.toml` (database `DIR/touchpoint.db`, outbox
/// `DIR/outbox`), creates the outbox folder and the migrated database.
/// An existing configuration is never overwritten.
pub async fn init(dir: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::Other(format!("cannot create {}: {e}", dir.display())))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| Failure::Other(format!("cannot resolve {}: {e}", dir.display())))?;
    let path = dir.join("touchpoint.toml");
    if path.exists() {
        return Err(Failure::Usage(format!(
            "{} already exists; init never overwrites a configuration",
            path.display()
        )));
    }
    let text = EXAMPLE
        .replacen(
            "url = \"sqlite://touchpoint.db\"",
            &format!("url = \"sqlite://{}\"", dir.join("touchpoint.db").display()),
            1,
        )
        .replacen(
            "dir = \"outbox\"",
            &format!("dir = \"{}\"", dir.join("outbox").display()),
            1,
        );
    std::fs::write(&path, text)
        .map_err(|e| Failure::Other(format!("cannot write {}: {e}", path.display())))?;
    let config = Config::load(Some(&path))?;
    std::fs::create_dir_all(config.outbox_dir())
        .map_err(|e| Failure::Other(format!("cannot create the outbox folder: {e}")))?;
    crate::app::migrate(&config).await?;
    println!("wrote {}", path.display());
    println!("created {}", config.database_url());
    println!("outbox folder {}", config.outbox_dir().display());
    Ok(())
}
