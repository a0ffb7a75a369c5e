//! The states touchpoints and messages are stored in (as text), in one
//! place for the ones the operator commands set and test.

/// Touchpoint states.
pub mod touchpoint {
    /// Waiting for its day.
    pub const PLANNED: &str = "planned";
    /// Waiting for quiet hours or a cap.
    pub const DEFERRED: &str = "deferred";
    /// Held by an administrator (`hold`): not sent, not re-planned, until
    /// released (`release`) or skipped (`skip`).
    pub const ON_HOLD: &str = "on_hold";
    /// Not sent, with the reason.
    pub const SKIPPED: &str = "skipped";
    pub const CANCELLED: &str = "cancelled";
    /// Its message's send was interrupted and is held for review.
    pub const HELD: &str = "held";

    /// The states a touchpoint may be held from.
    pub const HOLDABLE: [&str; 2] = [PLANNED, DEFERRED];
    /// The states a touchpoint may be skipped from.
    pub const SKIPPABLE: [&str; 3] = [PLANNED, DEFERRED, ON_HOLD];
}

/// Message states.
pub mod message {
    /// Waiting for its next attempt.
    pub const RETRY: &str = "retry";
    /// An interrupted send whose outcome is unknown: for review.
    pub const HELD: &str = "held";
    /// A held message an administrator threw away (`discard`).
    pub const DISCARDED: &str = "discarded";
}

/// Where an opt-out came from (the opt-out log's `source`).
pub mod opt_out_source {
    /// An administrator, with `opt-out`.
    pub const ADMINISTRATOR: &str = "administrator";
}
