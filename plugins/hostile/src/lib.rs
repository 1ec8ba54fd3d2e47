//! Connectors that misbehave on purpose, to prove the host contains them.
//!
//! Each `hostile-*` crate exports [`Hostile`] with one [`Behaviour`]. They
//! describe themselves and authenticate normally, then misbehave in
//! `list-changes`.

use std::hint::black_box;
use switchyard_sdk::{
    AuthMethod, CallContext, Change, ChangePage, ChangeRequest, ConnectionConfig, ConnectorInfo,
    Error, Field, ModelInfo, Session, http::Request,
};

/// How a hostile connector misbehaves in `list-changes`.
#[derive(Clone, Copy)]
pub enum Behaviour {
    /// Spins forever.
    InfiniteLoop,
    /// Allocates until something stops it.
    UnboundedAllocation,
    /// Panics.
    Panic,
    /// Returns ten times the changes asked for.
    OversizedPage,
    /// Calls a host outside its allowlist, first trying to smuggle the
    /// allowed authority in a `Host` header.
    ForbiddenHost,
    /// Returns record data that is not JSON.
    InvalidJson,
    /// Calls its source at `/api/v1/slow` with an hour-long timeout; the
    /// tests make that path slower than any budget (a demo-cmms `slow` fault).
    SlowHostCall,
    /// Returns a valid record on every page, alternating between two
    /// cursors and always saying it has more: a sync that never ends.
    CursorLoop,
}

/// The description every hostile connector shares, under its own id.
pub fn describe(id: &str) -> ConnectorInfo {
    ConnectorInfo {
        id: id.into(),
        name: format!("Hostile test connector ({id})"),
        version: "0.1.0".into(),
        description: "Misbehaves on purpose; used by Switchyard's sandbox tests.".into(),
        auth: AuthMethod::None,
        settings: vec![Field::url("base-url", "Base URL")],
        models: vec![ModelInfo::new("work-orders", "Nothing useful")],
        allowed_hosts: vec!["{base-url}".into()],
    }
}

/// Authentication always succeeds.
pub fn authenticate(_config: ConnectionConfig) -> Result<Session, Error> {
    Ok(Session {
        data: String::new(),
        expires_at: None,
    })
}

/// Misbehaves as `behaviour` says.
pub fn list_changes(
    behaviour: Behaviour,
    context: CallContext,
    request: ChangeRequest,
) -> Result<ChangePage, Error> {
    let page = |changes| ChangePage {
        changes,
        cursor: "end".into(),
        has_more: false,
    };
    match behaviour {
        Behaviour::InfiniteLoop => {
            let mut counter = 0u64;
            loop {
                counter = black_box(counter.wrapping_add(1));
            }
        }
        Behaviour::UnboundedAllocation => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                black_box(&hoard);
            }
        }
        Behaviour::Panic => panic!("this connector panics on purpose"),
        Behaviour::OversizedPage => {
            let count = request.page_size as usize * 10 + 1;
            let changes = (0..count)
                .map(|i| Change::upsert_json(format!("wo-{i}"), None, "{}".into()))
                .collect();
            Ok(page(changes))
        }
        Behaviour::ForbiddenHost => {
            // A `Host` header naming the allowed source, on a request to
            // another host: the sandbox must refuse the header outright (it
            // decides on the URL's own authority anyway).
            let allowed = context
                .setting("base-url")
                .and_then(|url| url.split("://").nth(1))
                .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
                .unwrap_or_else(|| "localhost".into());
            match Request::get("http://forbidden.example:8080/steal")
                .header("host", &allowed)
                .send()
            {
                Err(error) => switchyard_sdk::warn!("Host header refused: {}", error.message()),
                Ok(_) => return Err(Error::permanent("a smuggled Host header was sent")),
            }
            Request::get("http://forbidden.example:8080/steal").send()?;
            Ok(page(Vec::new()))
        }
        Behaviour::InvalidJson => Ok(page(vec![Change::upsert_json(
            "wo-1",
            None,
            "{\"title\": not json".into(),
        )])),
        Behaviour::CursorLoop => {
            let next = if request.cursor.as_deref() == Some("a") {
                "b"
            } else {
                "a"
            };
            Ok(ChangePage {
                changes: vec![Change::upsert_json(
                    format!("wo-{next}"),
                    None,
                    format!(r#"{{"id":"wo-{next}","title":"Round and round"}}"#),
                )],
                cursor: next.into(),
                has_more: true,
            })
        }
        Behaviour::SlowHostCall => {
            let base = context.require_setting("base-url")?;
            Request::get(format!("{}/api/v1/slow", base.trim_end_matches('/')))
                .timeout_ms(3_600_000)
                .send()?;
            Ok(page(Vec::new()))
        }
    }
}

/// Defines and exports a hostile connector with an id and a behaviour.
#[macro_export]
macro_rules! hostile_connector {
    ($id:literal, $behaviour:expr) => {
        struct Hostile;

        impl switchyard_sdk::Connector for Hostile {
            fn describe() -> switchyard_sdk::ConnectorInfo {
                $crate::describe($id)
            }

            fn authenticate(
                config: switchyard_sdk::ConnectionConfig,
            ) -> Result<switchyard_sdk::Session, switchyard_sdk::Error> {
                $crate::authenticate(config)
            }

            fn list_changes(
                context: switchyard_sdk::CallContext,
                request: switchyard_sdk::ChangeRequest,
            ) -> Result<switchyard_sdk::ChangePage, switchyard_sdk::Error> {
                $crate::list_changes($behaviour, context, request)
            }
        }

        switchyard_sdk::export_connector!(Hostile);
    };
}
