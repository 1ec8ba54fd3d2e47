//! A hostile test connector: see the `hostile` crate.

hostile::hostile_connector!("hostile-cursor-loop", hostile::Behaviour::CursorLoop);
