//! A connector that generates its records instead of fetching them: no
//! network, no source system. The hot-swap tests install it in two versions
//! (`hot-swap-v1` is 1.0.0, `hot-swap-v2` is 1.1.0) and switch between them
//! while syncs run.
//!
//! Model `items`: the cursor is a counter `n`. Each page returns the items
//! `n .. n + per-page` (ids `item-00000000`, …; never reused), each stamped
//! with the version that produced it, and `has-more` until the counter
//! reaches a multiple of `per-page × pages-per-run`. So every run covers
//! exactly the next `pages-per-run` pages, and the items a run wrote tell
//! which version ran each of its pages. `page-delay-ms` makes each page take
//! that long (a host-side timer, not a busy loop), so runs span hot swaps.

use switchyard_sdk::{
    AuthMethod, CallContext, Change, ChangePage, ChangeRequest, ConnectionConfig, ConnectorInfo,
    Error, Field, ModelInfo, Session,
};

/// Items per page, unless the host asks for fewer.
const PER_PAGE: u64 = 10;
/// Longest delay accepted, so a typo cannot hold a sandbox for an hour.
const MAX_DELAY_MS: u64 = 10_000;

/// The description, under `version`.
pub fn describe(version: &str) -> ConnectorInfo {
    ConnectorInfo {
        id: "hot-swap".into(),
        name: "Hot-swap test items".into(),
        version: version.into(),
        description: "Generates numbered items without any source system; for tests.".into(),
        auth: AuthMethod::None,
        settings: vec![
            Field::number("page-delay-ms", "Delay per page (ms)").default_value("0"),
            Field::number("pages-per-run", "Pages per run").default_value("5"),
        ],
        models: vec![ModelInfo::new("items", "Numbered items")],
        allowed_hosts: vec![],
    }
}

/// Nothing to authenticate.
pub fn authenticate(_config: ConnectionConfig) -> Result<Session, Error> {
    Ok(Session {
        data: String::new(),
        expires_at: None,
    })
}

fn number_setting(context: &CallContext, name: &str, default: u64) -> Result<u64, Error> {
    match context.setting(name) {
        None => Ok(default),
        Some(value) => value
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| v as u64)
            .ok_or_else(|| Error::invalid_config(format!("{name} must be a number"))),
    }
}

/// One page of items, produced by `version`.
pub fn list_changes(
    version: &str,
    context: CallContext,
    request: ChangeRequest,
) -> Result<ChangePage, Error> {
    if request.model != "items" {
        return Err(Error::permanent(format!(
            "unknown model `{}`",
            request.model
        )));
    }
    let delay_ms = number_setting(&context, "page-delay-ms", 0)?.min(MAX_DELAY_MS);
    let pages_per_run = number_setting(&context, "pages-per-run", 5)?.clamp(1, 1000);
    let start: u64 = match &request.cursor {
        None => 0,
        Some(cursor) => cursor
            .parse()
            .map_err(|_| Error::cursor_expired(format!("unreadable cursor `{cursor}`")))?,
    };
    if delay_ms > 0 {
        wasip2::clocks::monotonic_clock::subscribe_duration(delay_ms * 1_000_000).block();
    }
    let per_page = PER_PAGE.min(u64::from(request.page_size.max(1)));
    let changes = (start..start + per_page)
        .map(|n| {
            let id = format!("item-{n:08}");
            let data = serde_json::json!({ "id": id, "n": n, "version": version });
            Change::upsert_json(id, None, data.to_string())
        })
        .collect();
    let next = start + per_page;
    Ok(ChangePage {
        changes,
        cursor: next.to_string(),
        has_more: !next.is_multiple_of(per_page * pages_per_run),
    })
}

/// Defines and exports the hot-swap test connector under a version.
#[macro_export]
macro_rules! hot_swap_connector {
    ($version:expr) => {
        struct HotSwap;

        impl switchyard_sdk::Connector for HotSwap {
            fn describe() -> switchyard_sdk::ConnectorInfo {
                $crate::describe($version)
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
                $crate::list_changes($version, context, request)
            }
        }

        switchyard_sdk::export_connector!(HotSwap);
    };
}
