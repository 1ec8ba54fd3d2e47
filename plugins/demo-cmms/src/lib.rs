//! Switchyard connector for the demo CMMS (`examples/demo-cmms`): work orders,
//! assets and locations, mapped to Switchyard's unified models.
//!
//! Authentication is a username/password login that returns a bearer token
//! with an expiry. Changes are read with the source's `updated_since` filter
//! and its keyset page tokens; the connector's cursor remembers both, so an
//! incremental sync continues right after the last record it saw.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use switchyard_sdk::{
    AuthMethod, CallContext, Change, ChangePage, ChangeRequest, ConnectionConfig, Connector,
    ConnectorInfo, Error, Field, ModelInfo, Session, http::Request, time,
};

/// The source's largest page.
const MAX_PAGE_SIZE: u32 = 1000;

struct DemoCmms;

/// The models this connector syncs: unified name and the source's path.
const MODELS: [(&str, &str, &str); 3] = [
    (
        "work-orders",
        "work-orders",
        "Work orders: repairs, inspections, preventive maintenance",
    ),
    (
        "assets",
        "assets",
        "Equipment: pumps, motors, conveyors and more",
    ),
    (
        "locations",
        "locations",
        "Sites, buildings, floors, areas and rooms",
    ),
];

/// What the connector keeps between calls, inside the opaque cursor.
#[derive(Serialize, Deserialize)]
struct CursorState {
    /// The `updated_since` of the query the page token belongs to.
    since: String,
    /// The source's token for "right after the last record seen".
    page_token: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct SessionState {
    token: String,
}

#[derive(Deserialize)]
struct LoginResponse {
    access_token: String,
    expires_in: Option<i64>,
}

#[derive(Deserialize)]
struct ListResponse {
    data: Vec<Map<String, Value>>,
    next_page_token: Option<String>,
    has_more: bool,
}

fn base_url(settings: &str) -> String {
    settings.trim_end_matches('/').to_string()
}

impl Connector for DemoCmms {
    fn describe() -> ConnectorInfo {
        ConnectorInfo {
            id: "demo-cmms".into(),
            name: "Demo CMMS".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Work orders, assets and locations from the Switchyard demo CMMS.".into(),
            auth: AuthMethod::Credentials(vec![
                Field::text("username", "Username").required(),
                Field::secret("password", "Password").required(),
            ]),
            settings: vec![
                Field::url("base-url", "Base URL")
                    .required()
                    .description("Where the CMMS is reachable, such as https://cmms.example.com"),
            ],
            models: MODELS
                .iter()
                .map(|(name, _, description)| ModelInfo::new(name, description))
                .collect(),
            allowed_hosts: vec!["{base-url}".into()],
        }
    }

    fn authenticate(config: ConnectionConfig) -> Result<Session, Error> {
        let base = base_url(config.require_setting("base-url")?);
        let credentials = serde_json::json!({
            "username": config.require_credential("username")?,
            "password": config.require_credential("password")?,
        });
        let login: LoginResponse = Request::post(format!("{base}/api/v1/auth/login"))
            .json(&credentials)?
            .send()?
            .error_for_status()?
            .json()?;
        let data = serde_json::to_string(&SessionState {
            token: login.access_token,
        })
        .map_err(|e| Error::permanent(e.to_string()))?;
        Ok(Session {
            data,
            expires_at: login
                .expires_in
                .map(|seconds| time::now_ms().saturating_add(seconds.saturating_mul(1000))),
        })
    }

    fn list_changes(context: CallContext, request: ChangeRequest) -> Result<ChangePage, Error> {
        let base = base_url(context.require_setting("base-url")?);
        let path = MODELS
            .iter()
            .find(|(name, _, _)| *name == request.model)
            .map(|(_, path, _)| *path)
            .ok_or_else(|| Error::permanent(format!("unknown model `{}`", request.model)))?;
        let session: SessionState = serde_json::from_str(&context.session.data)
            .map_err(|_| Error::unauthorized("the session is unreadable; log in again"))?;
        let state = match &request.cursor {
            Some(cursor) => serde_json::from_str::<CursorState>(cursor)
                .map_err(|_| Error::cursor_expired("the cursor is unreadable"))?,
            None => CursorState {
                since: time::format_rfc3339(request.since.unwrap_or(0)),
                page_token: None,
            },
        };
        let limit = request.page_size.clamp(1, MAX_PAGE_SIZE).to_string();
        let response = Request::get(format!("{base}/api/v1/{path}"))
            .query("updated_since", &state.since)
            .query("limit", &limit)
            .query("page_token", state.page_token.as_deref().unwrap_or(""))
            .query("include_deleted", "true")
            .bearer_auth(&session.token)
            .send()?;
        if response.status() == 400 && state.page_token.is_some() {
            return Err(Error::cursor_expired(format!(
                "the source rejected the page token: {}",
                response.text()
            )));
        }
        let page: ListResponse = response.error_for_status()?.json()?;
        let changes = page
            .data
            .iter()
            .map(|record| to_change(&request.model, record))
            .collect::<Result<Vec<_>, _>>()?;
        let next = CursorState {
            since: state.since,
            page_token: page.next_page_token.or(state.page_token),
        };
        Ok(ChangePage {
            changes,
            cursor: serde_json::to_string(&next).map_err(|e| Error::permanent(e.to_string()))?,
            has_more: page.has_more,
        })
    }
}

/// Maps one source record to a change in the unified model.
fn to_change(model: &str, record: &Map<String, Value>) -> Result<Change, Error> {
    let id = record
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::permanent(format!("a {model} record has no id")))?;
    let updated_at = record
        .get("updated_at")
        .and_then(Value::as_str)
        .and_then(time::parse_rfc3339);
    if record.get("deleted_at").is_some_and(|v| !v.is_null()) {
        return Ok(Change::delete(id, updated_at));
    }
    Change::upsert(id, updated_at, &unify(model, record))
}

/// Source field → unified field, for the fields whose names differ.
fn renames(model: &str) -> &'static [(&'static str, &'static str)] {
    match model {
        "work-orders" => &[("due_date", "due_at")],
        "assets" => &[
            ("asset_tag", "tag"),
            ("parent_asset_id", "parent_id"),
            ("install_date", "installed_on"),
        ],
        _ => &[],
    }
}

/// The unified fields of each model, in schema order.
fn unified_fields(model: &str) -> &'static [&'static str] {
    match model {
        "work-orders" => &[
            "id",
            "number",
            "title",
            "description",
            "status",
            "priority",
            "type",
            "asset_id",
            "location_id",
            "assigned_to",
            "requested_by",
            "due_at",
            "completed_at",
            "estimated_hours",
            "actual_hours",
            "created_at",
            "updated_at",
        ],
        "assets" => &[
            "id",
            "tag",
            "name",
            "category",
            "manufacturer",
            "model",
            "serial_number",
            "status",
            "criticality",
            "location_id",
            "parent_id",
            "installed_on",
            "purchase_cost",
            "created_at",
            "updated_at",
        ],
        _ => &[
            "id",
            "code",
            "name",
            "type",
            "parent_id",
            "address",
            "latitude",
            "longitude",
            "created_at",
            "updated_at",
        ],
    }
}

fn unify(model: &str, record: &Map<String, Value>) -> Map<String, Value> {
    let renames = renames(model);
    unified_fields(model)
        .iter()
        .map(|unified| {
            let source = renames
                .iter()
                .find(|(_, to)| to == unified)
                .map_or(*unified, |(from, _)| *from);
            let value = record.get(source).cloned().unwrap_or(Value::Null);
            (unified.to_string(), value)
        })
        .collect()
}

switchyard_sdk::export_connector!(DemoCmms);
