//! The application layer: one use case per operator action, called by the
//! command line (and, later, the web desk). A use case checks its input,
//! asks the pure decisions, and has the store carry out the result; on bad
//! input it changes nothing.

pub mod held;
pub mod opt_outs;
pub mod timeline;
pub mod touchpoints;
pub mod visits;

use crate::config::ConfigError;
use crate::store::StoreError;

/// Why a use case did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nothing is stored under the given VIN, customer id, key or number.
    #[error("{0}")]
    Unknown(String),
    /// The input is invalid, or the thing is in no state for the action.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Other(String),
}

impl From<crate::commands::Failure> for Error {
    fn from(f: crate::commands::Failure) -> Self {
        use crate::commands::Failure;
        match f {
            Failure::Usage(s) | Failure::Data(s) => Error::Invalid(s),
            Failure::Config(c) => Error::Config(c),
            Failure::Store(s) => Error::Store(s),
            Failure::Other(s) => Error::Other(s),
        }
    }
}

/// Who acts, as recorded with the reason: a name, else `administrator`.
pub fn actor(by: Option<&str>) -> String {
    by.map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(crate::domain::states::opt_out_source::ADMINISTRATOR)
        .to_string()
}

/// The recorded reason of an action: "`done` by `by`", then ": `why`"
/// when given; a reason given empty is invalid.
fn reason(done: &str, by: &str, why: Option<&str>) -> Result<String, Error> {
    match why.map(str::trim) {
        None => Ok(format!("{done} by {by}")),
        Some("") => Err(Error::Invalid("the reason is empty".into())),
        Some(why) => Ok(format!("{done} by {by}: {why}")),
    }
}
