//! A hostile test connector: see the `hostile` crate.

hostile::hostile_connector!("hostile-oversized-page", hostile::Behaviour::OversizedPage);
