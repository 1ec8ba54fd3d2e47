//! The connection status machine: which transitions are allowed.
//!
//! Every status change goes through [`Connections::transition`]
//! (crate::Connections::transition), which checks [`allowed`], stores the
//! connection and a timeline entry, and emits the events, all in one write.
//! `docs/connections.md` has the diagram.

use switchyard_store::model::ConnectionStatus::{self, *};

/// Whether a connection may move from `from` to `to`. Staying in the same
/// status is not a transition.
pub fn allowed(from: ConnectionStatus, to: ConnectionStatus) -> bool {
    match from {
        Pending => matches!(to, Active | Error | Disabled),
        Active => matches!(
            to,
            Refreshing | RequiresReauth | Degraded | Error | Paused | Disabled
        ),
        Refreshing => matches!(
            to,
            Active | Degraded | RequiresReauth | Error | Paused | Disabled
        ),
        Degraded => matches!(
            to,
            Active | Refreshing | RequiresReauth | Error | Paused | Disabled
        ),
        // Only a reconnect (or an operator) gets these out again.
        RequiresReauth | Error => matches!(to, Active | Paused | Disabled),
        Paused => matches!(to, Active | Disabled),
        Disabled => matches!(to, Active),
    }
}

/// Every status, for documentation and tests.
pub const ALL: [ConnectionStatus; 8] = [
    Pending,
    Active,
    Refreshing,
    RequiresReauth,
    Degraded,
    Error,
    Paused,
    Disabled,
];

/// The status's name as the API shows it (`requires_reauth`).
pub fn name(status: ConnectionStatus) -> &'static str {
    match status {
        Pending => "pending",
        Active => "active",
        Refreshing => "refreshing",
        RequiresReauth => "requires_reauth",
        Degraded => "degraded",
        Error => "error",
        Paused => "paused",
        Disabled => "disabled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_serialized_form() {
        for status in ALL {
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::Value::from(name(status))
            );
        }
    }

    #[test]
    fn the_machine_has_the_documented_shape() {
        for status in ALL {
            assert!(!allowed(status, status), "{status:?} to itself");
            // Every status can be left for `disabled`, except `disabled`.
            assert_eq!(allowed(status, Disabled), status != Disabled);
            // Nothing goes back to `pending`.
            assert!(!allowed(status, Pending));
        }
        // A connection needing reauthorization leaves it only by a reconnect
        // (to active) or an operator.
        assert!(allowed(RequiresReauth, Active));
        assert!(!allowed(RequiresReauth, Refreshing));
        assert!(!allowed(RequiresReauth, Degraded));
        // A sync cannot revive a paused connection.
        assert!(!allowed(Paused, RequiresReauth));
        assert!(!allowed(Paused, Refreshing));
        assert!(allowed(Paused, Active));
        assert!(allowed(Active, Refreshing) && allowed(Refreshing, Active));
    }
}
