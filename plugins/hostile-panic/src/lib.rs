//! A hostile test connector: see the `hostile` crate.

hostile::hostile_connector!("hostile-panic", hostile::Behaviour::Panic);
