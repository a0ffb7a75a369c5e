//! Dispatch rules (docs/rules.md) as pure decisions over a person's history:
//! frequency caps, quiet hours, consent and opt-out. No clock, no I/O: the
//! caller passes the instant and the facts.

mod calls;
mod caps;
mod consent;
mod decide;
mod followups;
mod quiet;

pub use calls::*;
pub use caps::*;
pub use consent::*;
pub use decide::*;
pub use followups::*;
pub use quiet::*;
