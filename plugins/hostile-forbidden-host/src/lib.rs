//! A hostile test connector: see the `hostile` crate.

hostile::hostile_connector!("hostile-forbidden-host", hostile::Behaviour::ForbiddenHost);
