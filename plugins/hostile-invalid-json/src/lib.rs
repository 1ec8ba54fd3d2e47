//! A hostile test connector: see the `hostile` crate.

hostile::hostile_connector!("hostile-invalid-json", hostile::Behaviour::InvalidJson);
