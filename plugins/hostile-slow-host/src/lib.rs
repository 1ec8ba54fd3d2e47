//! A hostile test connector: see the `hostile` crate.

hostile::hostile_connector!("hostile-slow-host", hostile::Behaviour::SlowHostCall);
