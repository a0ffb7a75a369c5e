//! The states touchpoints, messages and call tasks are in, with their text
//! forms (as stored in the database's text columns and shown in the JSON
//! output) in one place: `as_str` and `from_text` below.

use std::fmt;
use std::str::FromStr;

/// A stored state text that is not one of the known states.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is not a known {what} state")]
pub struct UnknownState {
    pub what: &'static str,
    pub text: String,
}

/// An enum of states with one text per state: `as_str`, `from_text`,
/// `FromStr`, `Display` and `Serialize` (as the text) all read this table.
macro_rules! states {
    (
        $(#[$meta:meta])*
        $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every state, in the order documented.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stored (and shown) text.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }

            /// The state a stored text names; an unknown text is an error.
            pub fn from_text(text: &str) -> Result<Self, UnknownState> {
                match text {
                    $( $text => Ok($name::$variant), )+
                    other => Err(UnknownState {
                        what: $what,
                        text: other.to_string(),
                    }),
                }
            }

            /// Whether a stored text names this state.
            pub fn is(self, text: &str) -> bool {
                self.as_str() == text
            }
        }

        impl FromStr for $name {
            type Err = UnknownState;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_text(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text,)+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

states! {
    /// A touchpoint's state (docs/rules.md, "States").
    TouchpointState ("touchpoint") {
        /// In the plan, waiting for its day.
        Planned = "planned",
        /// Its day has come; it waits for quiet hours or a cap.
        Deferred = "deferred",
        /// Not in the cycle's touchpoints: the cycle had no room for it.
        Displaced = "displaced",
        /// Handed to the transport, or waiting for a retry.
        Sending = "sending",
        /// The message went out (or the call task was created).
        Sent = "sent",
        /// The send failed for good.
        Failed = "failed",
        /// Never sent: late, or an anchor unknown.
        Skipped = "skipped",
        /// No longer needed.
        Cancelled = "cancelled",
        /// Not allowed: no consent, opted out, no address, no room.
        Suppressed = "suppressed",
        /// Its message's send was interrupted and is held for review.
        Held = "held",
        /// Held by an administrator (`hold`): not sent, not re-planned, until
        /// released (`release`) or skipped (`skip`).
        OnHold = "on_hold",
    }
}

impl TouchpointState {
    /// The open states the dispatcher may move: waiting for their day, or
    /// for quiet hours or a cap.
    pub const OPEN: [TouchpointState; 2] = [TouchpointState::Planned, TouchpointState::Deferred];
    /// The states a touchpoint may be held from.
    pub const HOLDABLE: [TouchpointState; 2] = Self::OPEN;
    /// The states a touchpoint may be skipped from.
    pub const SKIPPABLE: [TouchpointState; 3] = [
        TouchpointState::Planned,
        TouchpointState::Deferred,
        TouchpointState::OnHold,
    ];
    /// The states a touchpoint may be sent now from.
    pub const SENDABLE_NOW: [TouchpointState; 3] = Self::SKIPPABLE;
}

states! {
    /// A message's state (docs/rules.md, after "States").
    MessageState ("message") {
        /// Handed to the transport.
        Sending = "sending",
        /// Waiting for its next attempt.
        Retry = "retry",
        /// Went out.
        Sent = "sent",
        /// The provider confirmed the delivery.
        Delivered = "delivered",
        /// The send failed for good.
        Failed = "failed",
        /// Not sent after all: its person withdrew consent or opted out
        /// while it waited for a retry.
        Suppressed = "suppressed",
        /// An interrupted send whose outcome is unknown: for review.
        Held = "held",
        /// A held message an administrator threw away (`discard`).
        Discarded = "discarded",
        /// Waits for an administrator's approval (`[approval]`) until its
        /// deadline (`next_attempt_at`), then goes or expires.
        AwaitingApproval = "awaiting_approval",
    }
}

impl MessageState {
    /// The states of a message that went out (or may have): they count in
    /// its person's history for the caps.
    pub const WENT_OUT: [MessageState; 6] = [
        MessageState::Sending,
        MessageState::Retry,
        MessageState::Sent,
        MessageState::Delivered,
        MessageState::Held,
        MessageState::AwaitingApproval,
    ];

    /// The states of a message that waits for an administrator (`held`
    /// lists them; `approve` and `discard` act on them).
    pub const FOR_REVIEW: [MessageState; 2] = [MessageState::Held, MessageState::AwaitingApproval];
}

states! {
    /// A call task's state.
    CallTaskState ("call task") {
        /// On the call list.
        Open = "open",
        /// Called, with an outcome.
        Done = "done",
        /// No longer to be called.
        Cancelled = "cancelled",
    }
}

/// Where an opt-out came from (the opt-out log's `source`).
pub mod opt_out_source {
    /// An administrator, with `opt-out`.
    pub const ADMINISTRATOR: &str = "administrator";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: Copy + Eq + fmt::Debug + FromStr + fmt::Display>(
        all: &[T],
        as_str: fn(T) -> &'static str,
    ) where
        T::Err: fmt::Debug,
    {
        for &state in all {
            assert_eq!(state.to_string(), as_str(state));
            assert_eq!(as_str(state).parse::<T>().unwrap(), state);
        }
    }

    #[test]
    fn every_state_text_round_trips() {
        round_trips(TouchpointState::ALL, TouchpointState::as_str);
        round_trips(MessageState::ALL, MessageState::as_str);
        round_trips(CallTaskState::ALL, CallTaskState::as_str);
    }

    #[test]
    fn the_texts_are_the_documented_ones() {
        let texts = |all: &[&'static str]| all.to_vec();
        assert_eq!(
            TouchpointState::ALL
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>(),
            texts(&[
                "planned",
                "deferred",
                "displaced",
                "sending",
                "sent",
                "failed",
                "skipped",
                "cancelled",
                "suppressed",
                "held",
                "on_hold",
            ])
        );
        assert_eq!(
            MessageState::ALL
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>(),
            texts(&[
                "sending",
                "retry",
                "sent",
                "delivered",
                "failed",
                "suppressed",
                "held",
                "discarded",
                "awaiting_approval",
            ])
        );
        assert_eq!(
            CallTaskState::ALL
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>(),
            texts(&["open", "done", "cancelled"])
        );
    }

    #[test]
    fn the_touchpoint_states_are_the_ones_docs_rules_lists() {
        let rules = include_str!("../../docs/rules.md");
        let table = rules
            .split("### States")
            .nth(1)
            .and_then(|s| s.split("\n\n").nth(2))
            .unwrap();
        let documented: Vec<&str> = table
            .lines()
            .skip(2)
            .filter_map(|l| l.split('`').nth(1))
            .collect();
        assert_eq!(
            documented,
            TouchpointState::ALL
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
        );
        for state in MessageState::ALL {
            assert!(
                rules.contains(&format!("`{state}`")),
                "{state} is not documented"
            );
        }
    }

    #[test]
    fn unknown_texts_are_errors_and_states_serialize_as_text() {
        let err = TouchpointState::from_text("sleeping").unwrap_err();
        assert_eq!(
            err.to_string(),
            "'sleeping' is not a known touchpoint state"
        );
        assert!(MessageState::from_text("Planned").is_err());
        assert!(CallTaskState::from_text("").is_err());
        assert_eq!(
            serde_json::to_string(&TouchpointState::OnHold).unwrap(),
            "\"on_hold\""
        );
        assert_eq!(
            serde_json::to_string(&MessageState::Retry).unwrap(),
            "\"retry\""
        );
    }
}
