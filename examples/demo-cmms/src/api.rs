//! The HTTP interface: the source API (`/api/v1`), the admin API (`/admin`) and
//! `/health`.

use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::auth::TokenError;
use crate::faults::{FaultAction, FaultSpec};
use crate::model::{ModelKind, Record};
use crate::rfc3339::{Millis, parse_timestamp};
use crate::store::{Cursor, MAX_LIMIT, PageQuery, Store, StoreError, Stored, Table, TouchTarget};
use crate::with_model;

/// An error answer: `{"error": "<code>", "message": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    fn invalid_parameter(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_parameter", message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    fn invalid_token(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.code, "message": self.message});
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED && self.code != "invalid_credentials" {
            let challenge = format!("Bearer error=\"{}\"", self.code);
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                headers.insert(header::WWW_AUTHENTICATE, value);
            }
        }
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(id) => ApiError::not_found(format!("no record with id {id:?}")),
            StoreError::Conflict(id) => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("a record with id {id:?} already exists"),
            ),
            StoreError::Invalid(message) => ApiError::invalid_parameter(message),
        }
    }
}

type ApiResult = Result<Response, ApiError>;

fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            e.to_string(),
        )
        .into_response(),
    }
}

/// Parses a JSON request body whatever its `Content-Type`: a demo server should not
/// fail a test over a missing header.
fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid_parameter(format!("invalid JSON body: {e}")))
}

fn parse_object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match parse_body::<Value>(body)? {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::invalid_parameter(
            "the body must be a JSON object",
        )),
    }
}

fn model_kind(segment: &str) -> Result<ModelKind, ApiError> {
    ModelKind::from_path(segment).ok_or_else(|| {
        ApiError::not_found(format!(
            "unknown model {segment:?}: expected work-orders, assets or locations"
        ))
    })
}

/// The HTTP router of the whole server.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/{model}", get(list))
        .route("/api/v1/{model}/{id}", get(get_one))
        .route("/admin/password", post(admin_password))
        .route("/admin/sessions/expire", post(admin_expire_sessions))
        .route(
            "/admin/faults",
            get(admin_faults)
                .put(admin_put_faults)
                .delete(admin_clear_faults),
        )
        .route("/admin/stats", get(admin_stats))
        .route("/admin/stats/reset", post(admin_reset_stats))
        .route("/admin/{model}", get(admin_list).post(admin_create))
        .route("/admin/{model}/touch", post(admin_touch))
        .route(
            "/admin/{model}/{id}",
            patch(admin_patch).delete(admin_delete),
        )
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed here",
            )
        })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            source_api_layer,
        ))
        .with_state(state)
}

fn is_source_api(path: &str) -> bool {
    path == "/api/v1" || path.starts_with("/api/v1/")
}

/// Counts source-API requests and applies injected faults to them.
async fn source_api_layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if !is_source_api(&path) {
        return next.run(request).await;
    }
    state.stats().request(&path);
    let action = state.faults().on_request(&path);
    let response = match action {
        None => next.run(request).await,
        Some(FaultAction::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            next.run(request).await
        }
        Some(FaultAction::RateLimit { retry_after_secs }) => ApiError {
            retry_after_secs: Some(retry_after_secs),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests (injected fault)",
            )
        }
        .into_response(),
        Some(FaultAction::ServerError) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal server error (injected fault)",
        )
        .into_response(),
        Some(FaultAction::Unauthorized) => {
            ApiError::invalid_token("invalid token (injected fault)").into_response()
        }
    };
    state.stats().response(response.status().as_u16());
    response
}

// ---------------------------------------------------------------------------------------
// Source API

#[derive(Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
}

async fn login(State(state): State<AppState>, body: Bytes) -> ApiResult {
    let req: LoginRequest = parse_body(&body)?;
    let (token, ttl) = {
        let mut sessions = state.sessions();
        let token = sessions.login(&req.username, &req.password, Instant::now());
        (token, sessions.ttl())
    };
    let token = token.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "wrong username or password",
        )
    })?;
    state.stats().logins += 1;
    Ok(json_response(
        StatusCode::OK,
        &json!({"access_token": token, "token_type": "Bearer", "expires_in": ttl.as_secs()}),
    ))
}

fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or_else(|| ApiError::invalid_token("missing bearer token"))?;
    match state.sessions().check(token, Instant::now()) {
        Ok(()) => Ok(()),
        Err(TokenError::Invalid) => Err(ApiError::invalid_token("unknown or revoked token")),
        Err(TokenError::Expired) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "token_expired",
            "the session has expired; log in again",
        )),
    }
}

/// Reads the list parameters; unknown parameters are ignored.
fn page_query(uri: &Uri) -> Result<PageQuery, ApiError> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|e| ApiError::invalid_parameter(format!("malformed query string: {e}")))?;
    let mut q = PageQuery::default();
    for (name, value) in pairs {
        // Clients that build query strings from optional values send `page_token=` for
        // "no token" (the demo connector does): an empty value counts as absent.
        if value.is_empty() {
            continue;
        }
        match name.as_str() {
            "updated_since" => {
                let t = parse_timestamp(&value).map_err(|e| {
                    // A raw '+' in a query string decodes to a space: say so.
                    let hint = if value.contains(' ') {
                        " (encode '+' as %2B)"
                    } else {
                        ""
                    };
                    ApiError::invalid_parameter(format!("updated_since: {e}{hint}"))
                })?;
                // Inclusive bound on millisecond timestamps: round finer input up.
                q.updated_since = Some(t.ceil_ms());
            }
            "limit" => {
                q.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        ApiError::invalid_parameter(format!(
                            "limit must be an integer from 1 to {MAX_LIMIT}"
                        ))
                    })?;
            }
            "page_token" => {
                q.after = Some(
                    Cursor::decode(&value)
                        .ok_or_else(|| ApiError::invalid_parameter("invalid page_token"))?,
                );
            }
            "include_deleted" => {
                q.include_deleted = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(ApiError::invalid_parameter(
                            "include_deleted must be true or false",
                        ));
                    }
                };
            }
            _ => {}
        }
    }
    Ok(q)
}

#[derive(Serialize)]
struct ListResponse<R> {
    data: Vec<R>,
    next_page_token: Option<String>,
    has_more: bool,
}

fn list_page<R: Stored>(state: &AppState, q: &PageQuery) -> Response {
    // Clone the page under the lock (cheap: strings are shared), serialize outside it.
    let page = state.store().table::<R>().page(q);
    json_response(
        StatusCode::OK,
        &ListResponse {
            data: page.items,
            // An empty page echoes the request's own position, so a client that keeps
            // the latest token never loses its place.
            next_page_token: page.last.or_else(|| q.after.clone()).map(|c| c.encode()),
            has_more: page.has_more,
        },
    )
}

async fn list(
    State(state): State<AppState>,
    Path(model): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> ApiResult {
    authorize(&state, &headers)?;
    let kind = model_kind(&model)?;
    let q = page_query(&uri)?;
    Ok(with_model!(kind, R => list_page::<R>(&state, &q)))
}

fn one_record<R: Stored>(state: &AppState, id: &str) -> ApiResult {
    let record = state.store().table::<R>().get(id).cloned();
    match record {
        Some(r) => Ok(json_response(StatusCode::OK, &r)),
        None => Err(ApiError::not_found(format!(
            "no {} with id {id:?}",
            R::KIND
        ))),
    }
}

async fn get_one(
    State(state): State<AppState>,
    Path((model, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    authorize(&state, &headers)?;
    let kind = model_kind(&model)?;
    with_model!(kind, R => one_record::<R>(&state, &id))
}

// ---------------------------------------------------------------------------------------
// Admin API

#[derive(Serialize)]
struct Data<T> {
    data: T,
}

/// Serializes a whole table in id order without copying it first.
struct AllRecords<'a, R>(&'a Table<R>);

impl<R: Record> Serialize for AllRecords<'_, R> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter_by_id())
    }
}

fn all_records<R: Stored>(store: &Store) -> Response {
    json_response(
        StatusCode::OK,
        &Data {
            data: AllRecords(store.table::<R>()),
        },
    )
}

async fn admin_list(State(state): State<AppState>, Path(model): Path<String>) -> ApiResult {
    let kind = model_kind(&model)?;
    let store = state.store();
    Ok(with_model!(kind, R => all_records::<R>(&store)))
}

async fn admin_create(
    State(state): State<AppState>,
    Path(model): Path<String>,
    body: Bytes,
) -> ApiResult {
    let kind = model_kind(&model)?;
    let partial = parse_object(&body)?;
    let mut store = state.store_mut();
    with_model!(kind, R => {
        let record = store.create::<R>(partial, Millis::now())?;
        Ok(json_response(StatusCode::CREATED, &record))
    })
}

async fn admin_patch(
    State(state): State<AppState>,
    Path((model, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let kind = model_kind(&model)?;
    let fields = parse_object(&body)?;
    let mut store = state.store_mut();
    with_model!(kind, R => {
        let record = store.patch::<R>(&id, fields, Millis::now())?;
        Ok(json_response(StatusCode::OK, &record))
    })
}

async fn admin_delete(
    State(state): State<AppState>,
    Path((model, id)): Path<(String, String)>,
) -> ApiResult {
    let kind = model_kind(&model)?;
    let mut store = state.store_mut();
    with_model!(kind, R => {
        let record = store.delete::<R>(&id, Millis::now())?;
        Ok(json_response(StatusCode::OK, &record))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TouchRequest {
    updated_at: Millis,
    ids: Option<Vec<String>>,
    count: Option<usize>,
}

async fn admin_touch(
    State(state): State<AppState>,
    Path(model): Path<String>,
    body: Bytes,
) -> ApiResult {
    let kind = model_kind(&model)?;
    let req: TouchRequest = parse_body(&body)?;
    let target = match (req.ids, req.count) {
        (Some(ids), None) => TouchTarget::Ids(ids),
        (None, Some(n)) => TouchTarget::Count(n),
        _ => {
            return Err(ApiError::invalid_parameter(
                "give exactly one of ids and count",
            ));
        }
    };
    let mut store = state.store_mut();
    let touched = with_model!(kind, R => store.touch::<R>(req.updated_at, target)?);
    Ok(json_response(StatusCode::OK, &json!({"touched": touched})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordRequest {
    password: String,
}

async fn admin_password(State(state): State<AppState>, body: Bytes) -> ApiResult {
    let req: PasswordRequest = parse_body(&body)?;
    let revoked = state.sessions().set_password(req.password);
    Ok(json_response(
        StatusCode::OK,
        &json!({"revoked_sessions": revoked}),
    ))
}

async fn admin_expire_sessions(State(state): State<AppState>) -> ApiResult {
    let expired = state.sessions().expire_all(Instant::now());
    Ok(json_response(
        StatusCode::OK,
        &json!({"expired_sessions": expired}),
    ))
}

fn faults_body(state: &AppState) -> Response {
    json_response(StatusCode::OK, &json!({"faults": state.faults().list()}))
}

async fn admin_faults(State(state): State<AppState>) -> ApiResult {
    Ok(faults_body(&state))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultList {
    faults: Vec<FaultSpec>,
}

async fn admin_put_faults(State(state): State<AppState>, body: Bytes) -> ApiResult {
    let req: FaultList = parse_body(&body)?;
    state
        .faults()
        .replace(req.faults)
        .map_err(ApiError::invalid_parameter)?;
    Ok(faults_body(&state))
}

async fn admin_clear_faults(State(state): State<AppState>) -> ApiResult {
    state.faults().clear();
    Ok(faults_body(&state))
}

async fn admin_stats(State(state): State<AppState>) -> ApiResult {
    let stats = state.stats().clone();
    Ok(json_response(StatusCode::OK, &stats))
}

async fn admin_reset_stats(State(state): State<AppState>) -> ApiResult {
    state.stats().reset();
    Ok(json_response(StatusCode::OK, &json!({"reset": true})))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use axum::body::Body;
    use axum::http::Method;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    const ANCHOR: &str = "2026-11-28T00:00:00Z";

    fn state_with(records: usize, ttl: u64) -> AppState {
        AppState::new(&Config {
            records,
            anchor: Some(Millis::parse(ANCHOR).unwrap()),
            session_ttl_secs: ttl,
            ..Config::default()
        })
    }

    async fn call(
        app: &Router,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut req = axum::http::Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let body = body.map_or_else(Body::empty, |v| Body::from(v.to_string()));
        let response = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, headers, value)
    }

    async fn login(app: &Router) -> String {
        let (status, _, body) = call(
            app,
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": "secret"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        body["access_token"].as_str().unwrap().to_owned()
    }

    fn error_code(body: &Value) -> &str {
        body["error"].as_str().unwrap_or_default()
    }

    #[tokio::test]
    async fn login_and_auth_errors() {
        let app = router(state_with(30, 3600));
        let (status, _, body) = call(
            &app,
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": "nope"})),
        )
        .await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::UNAUTHORIZED, "invalid_credentials")
        );
        let (status, _, body) = call(
            &app,
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"user": "admin"})),
        )
        .await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::BAD_REQUEST, "invalid_parameter")
        );
        let (status, headers, body) = call(&app, Method::GET, "/api/v1/assets", None, None).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::UNAUTHORIZED, "invalid_token")
        );
        assert!(headers.contains_key(header::WWW_AUTHENTICATE));
        let (status, _, body) =
            call(&app, Method::GET, "/api/v1/assets", Some("made-up"), None).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::UNAUTHORIZED, "invalid_token")
        );
        let token = login(&app).await;
        let (status, _, body) = call(&app, Method::GET, "/api/v1/assets", Some(&token), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"].as_array().unwrap().len(), 9);
        assert_eq!(body["has_more"], false);
        assert!(body["next_page_token"].is_string());
    }

    #[tokio::test]
    async fn expired_and_revoked_sessions() {
        let app = router(state_with(30, 3600));
        let token = login(&app).await;
        let (status, _, body) =
            call(&app, Method::POST, "/admin/sessions/expire", None, None).await;
        assert_eq!(
            (status, body["expired_sessions"].as_u64()),
            (StatusCode::OK, Some(1))
        );
        let (status, _, body) =
            call(&app, Method::GET, "/api/v1/locations", Some(&token), None).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::UNAUTHORIZED, "token_expired")
        );
        let token = login(&app).await;
        call(
            &app,
            Method::POST,
            "/admin/password",
            None,
            Some(json!({"password": "hunter2"})),
        )
        .await;
        let (status, _, body) =
            call(&app, Method::GET, "/api/v1/locations", Some(&token), None).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::UNAUTHORIZED, "invalid_token")
        );
        let (status, _, _) = call(
            &app,
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": "hunter2"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);

        // A zero TTL expires at once.
        let app = router(state_with(3, 0));
        let token = login(&app).await;
        let (status, _, body) =
            call(&app, Method::GET, "/api/v1/locations", Some(&token), None).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::UNAUTHORIZED, "token_expired")
        );
    }

    #[tokio::test]
    async fn paging_over_http_sees_everything_once() {
        let state = state_with(1000, 3600);
        let expected: Vec<String> = {
            let store = state.store();
            let mut keyed: Vec<(Millis, String)> = store
                .work_orders
                .iter_by_id()
                .map(|w| (w.updated_at, w.id.to_string()))
                .collect();
            keyed.sort();
            keyed.into_iter().map(|(_, id)| id).collect()
        };
        let app = router(state);
        let token = login(&app).await;
        // Query the way the demo connector does, empty page_token included.
        let base = "/api/v1/work-orders?updated_since=1970-01-01T00:00:00.000Z&limit=77&include_deleted=true";
        let mut seen = Vec::new();
        let mut page_token = String::new();
        let mut pages = 0;
        loop {
            let uri = format!("{base}&page_token={page_token}");
            let (status, _, body) = call(&app, Method::GET, &uri, Some(&token), None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            pages += 1;
            let data = body["data"].as_array().unwrap();
            seen.extend(data.iter().map(|w| w["id"].as_str().unwrap().to_owned()));
            page_token = body["next_page_token"].as_str().unwrap().to_owned();
            if body["has_more"] == false {
                break;
            }
        }
        assert_eq!(seen, expected);
        assert_eq!(pages, 600_usize.div_ceil(77));

        // The last page's token is a place to come back to: at first nothing is new,
        // and the empty page echoes the token.
        let uri = format!("{base}&page_token={page_token}");
        let (_, _, body) = call(&app, Method::GET, &uri, Some(&token), None).await;
        assert_eq!(body["data"], json!([]));
        assert_eq!(
            (body["has_more"].as_bool(), body["next_page_token"].as_str()),
            (Some(false), Some(page_token.as_str()))
        );
        // Then exactly the later changes, deletes included.
        call(
            &app,
            Method::PATCH,
            "/admin/work-orders/WO-0000003",
            None,
            Some(json!({"status": "on_hold"})),
        )
        .await;
        call(
            &app,
            Method::DELETE,
            "/admin/work-orders/WO-0000004",
            None,
            None,
        )
        .await;
        let (_, _, body) = call(&app, Method::GET, &uri, Some(&token), None).await;
        let ids: Vec<&str> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["WO-0000003", "WO-0000004"]);
        assert!(body["data"][1]["deleted_at"].is_string());
        assert_ne!(body["next_page_token"].as_str(), Some(page_token.as_str()));
        // Without a token, an empty page has none to echo.
        let (_, _, body) = call(
            &app,
            Method::GET,
            "/api/v1/work-orders?updated_since=2100-01-01T00:00:00Z",
            Some(&token),
            None,
        )
        .await;
        assert_eq!(
            (
                body["data"].clone(),
                body["next_page_token"].clone(),
                body["has_more"].clone()
            ),
            (json!([]), Value::Null, json!(false))
        );
    }

    #[tokio::test]
    async fn list_parameters_are_validated() {
        let app = router(state_with(30, 3600));
        let token = login(&app).await;
        for bad in [
            "limit=0",
            "limit=1001",
            "limit=ten",
            "page_token=garbage!",
            "updated_since=yesterday",
            "updated_since=2026-11-28T00:00:00+01:00",
            "include_deleted=yes",
        ] {
            let (status, _, body) = call(
                &app,
                Method::GET,
                &format!("/api/v1/assets?{bad}"),
                Some(&token),
                None,
            )
            .await;
            assert_eq!(
                (status, error_code(&body)),
                (StatusCode::BAD_REQUEST, "invalid_parameter"),
                "{bad}"
            );
            let message = body["message"].as_str().unwrap();
            if bad.contains('+') {
                assert!(message.contains("%2B"), "{message}");
            }
        }
        let (status, _, body) = call(
            &app,
            Method::GET,
            "/api/v1/assets?limit=1000&include_deleted=false&foo=bar&page_token=&updated_since=2026-11-01T00:00:00%2B01:00",
            Some(&token),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, _, body) =
            call(&app, Method::GET, "/api/v1/widgets", Some(&token), None).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::NOT_FOUND, "not_found")
        );
        let (status, _, body) = call(
            &app,
            Method::GET,
            "/api/v1/assets/AST-999999",
            Some(&token),
            None,
        )
        .await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::NOT_FOUND, "not_found")
        );
        let (status, _, body) = call(
            &app,
            Method::GET,
            "/api/v1/assets/AST-000001",
            Some(&token),
            None,
        )
        .await;
        assert_eq!(
            (status, body["id"].as_str()),
            (StatusCode::OK, Some("AST-000001"))
        );
        let (status, _, body) = call(&app, Method::GET, "/nowhere", None, None).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::NOT_FOUND, "not_found")
        );
    }

    #[tokio::test]
    async fn record_shapes() {
        let app = router(state_with(30, 3600));
        let token = login(&app).await;
        let (_, _, body) = call(
            &app,
            Method::GET,
            "/api/v1/work-orders?limit=1",
            Some(&token),
            None,
        )
        .await;
        let wo = body["data"][0].as_object().unwrap();
        let keys: Vec<&str> = wo.keys().map(String::as_str).collect();
        let mut expected = vec![
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
            "due_date",
            "completed_at",
            "estimated_hours",
            "actual_hours",
            "created_at",
            "updated_at",
            "deleted_at",
        ];
        let mut sorted = keys.clone();
        sorted.sort();
        expected.sort();
        assert_eq!(sorted, expected);
        let updated = wo["updated_at"].as_str().unwrap();
        assert_eq!(updated.len(), "2026-11-28T09:30:00.000Z".len());
        assert!(
            updated.ends_with('Z') && ("2026-11-08".."2026-11-28").contains(&updated),
            "{updated}"
        );
        let (_, _, body) = call(
            &app,
            Method::GET,
            "/api/v1/assets/AST-000001",
            Some(&token),
            None,
        )
        .await;
        assert!(
            body["install_date"].as_str().unwrap().len() == 10 && body["purchase_cost"].is_number()
        );
        let (_, _, body) = call(
            &app,
            Method::GET,
            "/api/v1/locations/LOC-00001",
            Some(&token),
            None,
        )
        .await;
        assert_eq!(
            (body["type"].as_str(), body["parent_id"].is_null()),
            (Some("site"), true)
        );
        assert!(body["latitude"].is_number() && body["address"].is_string());
    }

    #[tokio::test]
    async fn admin_changes_show_up_as_changes() {
        let app = router(state_with(30, 3600));
        let token = login(&app).await;
        // Everything seeded is before the anchor; new changes use the server clock.
        let since = "/api/v1/assets?updated_since=2026-11-28T00:00:00.000Z&include_deleted=true";
        let (_, _, body) = call(&app, Method::GET, since, Some(&token), None).await;
        let before = body["data"].as_array().unwrap().len();

        let (status, _, created) = call(
            &app,
            Method::POST,
            "/admin/assets",
            None,
            Some(json!({"name": "Spare pump", "category": "pump"})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["id"], "AST-000010");
        assert_eq!(created["manufacturer"], "Unknown");
        let (status, _, patched) = call(
            &app,
            Method::PATCH,
            "/admin/assets/AST-000001",
            None,
            Some(json!({"status": "down"})),
        )
        .await;
        assert_eq!(
            (status, patched["status"].as_str()),
            (StatusCode::OK, Some("down"))
        );
        let (status, _, deleted) =
            call(&app, Method::DELETE, "/admin/assets/AST-000002", None, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(deleted["deleted_at"], deleted["updated_at"]);
        // Strictly increasing server timestamps, in modification order.
        let times = [
            &created["updated_at"],
            &patched["updated_at"],
            &deleted["updated_at"],
        ]
        .map(|v| v.as_str().unwrap().to_owned());
        assert!(times[0] < times[1] && times[1] < times[2], "{times:?}");

        let (_, _, body) = call(&app, Method::GET, since, Some(&token), None).await;
        let ids: Vec<&str> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), before + 3);
        assert_eq!(&ids[before..], ["AST-000010", "AST-000001", "AST-000002"]);
        let (_, _, body) = call(
            &app,
            Method::GET,
            &since.replace("true", "false"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(body["data"].as_array().unwrap().len(), before + 2);

        // Admin listing: everything, deleted included, by id.
        let (_, _, body) = call(&app, Method::GET, "/admin/assets", None, None).await;
        let all = body["data"].as_array().unwrap();
        assert_eq!(all.len(), 10);
        assert_eq!(all[1]["id"], "AST-000002");
        assert!(all[1]["deleted_at"].is_string());

        for (method, uri, body, code) in [
            (
                Method::POST,
                "/admin/assets",
                json!({"id": "AST-000001"}),
                StatusCode::CONFLICT,
            ),
            (
                Method::POST,
                "/admin/assets",
                json!({"colour": "red"}),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::POST,
                "/admin/assets",
                json!([1, 2]),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::PATCH,
                "/admin/assets/AST-424242",
                json!({}),
                StatusCode::NOT_FOUND,
            ),
            (
                Method::PATCH,
                "/admin/assets/AST-000001",
                json!({"purchase_cost": "a lot"}),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::POST,
                "/admin/gadgets",
                json!({}),
                StatusCode::NOT_FOUND,
            ),
        ] {
            let (status, _, answer) = call(&app, method, uri, None, Some(body)).await;
            assert_eq!(status, code, "{uri}: {answer}");
            assert!(answer["error"].is_string());
        }
    }

    #[tokio::test]
    async fn touch_makes_ties_that_page_cleanly() {
        let app = router(state_with(1000, 3600));
        let token = login(&app).await;
        let at = "2030-01-01T00:00:00.000Z";
        let (status, _, body) = call(
            &app,
            Method::POST,
            "/admin/work-orders/touch",
            None,
            Some(json!({"updated_at": at, "count": 250})),
        )
        .await;
        assert_eq!(
            (status, body["touched"].as_u64()),
            (StatusCode::OK, Some(250))
        );
        let (_, _, body) = call(
            &app,
            Method::POST,
            "/admin/work-orders/touch",
            None,
            Some(json!({"updated_at": at, "ids": ["WO-0000600", "WO-0000599"]})),
        )
        .await;
        assert_eq!(body["touched"], 2);
        let (status, _, _) = call(
            &app,
            Method::POST,
            "/admin/work-orders/touch",
            None,
            Some(json!({"updated_at": at, "ids": ["WO-9"]})),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, _) = call(
            &app,
            Method::POST,
            "/admin/work-orders/touch",
            None,
            Some(json!({"updated_at": at})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        let mut seen = Vec::new();
        let mut uri = format!("/api/v1/work-orders?limit=100&updated_since={at}");
        loop {
            let (_, _, body) = call(&app, Method::GET, &uri, Some(&token), None).await;
            for w in body["data"].as_array().unwrap() {
                assert_eq!(w["updated_at"], at);
                seen.push(w["id"].as_str().unwrap().to_owned());
            }
            if body["has_more"] == false {
                break;
            }
            let t = body["next_page_token"].as_str().unwrap();
            uri = format!("/api/v1/work-orders?limit=100&updated_since={at}&page_token={t}");
        }
        let mut expected: Vec<String> = (1..=250).map(|n| format!("WO-{n:07}")).collect();
        expected.extend(["WO-0000599".to_owned(), "WO-0000600".to_owned()]);
        assert_eq!(seen, expected);
        // The next modification sorts after the touched records.
        let (_, _, patched) = call(
            &app,
            Method::PATCH,
            "/admin/work-orders/WO-0000001",
            None,
            Some(json!({"title": "x"})),
        )
        .await;
        assert_eq!(patched["updated_at"], "2030-01-01T00:00:00.001Z");
    }

    #[tokio::test]
    async fn faults_and_stats() {
        let app = router(state_with(30, 3600));
        let token = login(&app).await;
        call(&app, Method::POST, "/admin/stats/reset", None, None).await;
        let faults = json!({"faults": [
            {"kind": "rate_limit", "path_prefix": "/api/v1/assets", "every": 2, "count": 1, "retry_after_secs": 3},
            {"kind": "server_error", "path_prefix": "/api/v1/locations"},
            {"kind": "unauthorized", "path_prefix": "/api/v1/work-orders", "count": 1},
            {"kind": "slow", "path_prefix": "/api/v1/auth", "delay_ms": 20},
        ]});
        let (status, _, body) = call(&app, Method::PUT, "/admin/faults", None, Some(faults)).await;
        assert_eq!(status, StatusCode::OK, "{body}");

        let statuses = async |uri: &str| {
            let mut out = Vec::new();
            for _ in 0..4 {
                out.push(call(&app, Method::GET, uri, Some(&token), None).await);
            }
            out
        };
        let assets = statuses("/api/v1/assets").await;
        let codes: Vec<u16> = assets.iter().map(|r| r.0.as_u16()).collect();
        assert_eq!(codes, [200, 429, 200, 200]);
        assert_eq!(assets[1].1[header::RETRY_AFTER], "3");
        assert_eq!(error_code(&assets[1].2), "rate_limited");
        let locations = statuses("/api/v1/locations").await;
        assert!(
            locations
                .iter()
                .all(|r| r.0 == StatusCode::INTERNAL_SERVER_ERROR)
        );
        let work_orders = statuses("/api/v1/work-orders").await;
        let codes: Vec<u16> = work_orders.iter().map(|r| r.0.as_u16()).collect();
        assert_eq!(codes, [401, 200, 200, 200]);
        assert_eq!(error_code(&work_orders[0].2), "invalid_token");
        let started = Instant::now();
        login(&app).await;
        assert!(started.elapsed().as_millis() >= 20);
        // Admin calls are neither faulted nor counted.
        let (_, _, body) = call(&app, Method::GET, "/admin/faults", None, None).await;
        assert_eq!(body["faults"][0]["fired"], 1);
        assert_eq!(body["faults"][1]["matched"], 4);

        let (_, _, stats) = call(&app, Method::GET, "/admin/stats", None, None).await;
        assert_eq!(stats["requests"], 13);
        assert_eq!(stats["logins"], 1);
        assert_eq!(stats["by_status"]["200"], 7);
        assert_eq!(stats["by_status"]["500"], 4);
        assert_eq!(stats["by_path"]["/api/v1/assets"], 4);
        assert_eq!(stats["by_path"]["/api/v1/auth/login"], 1);

        call(&app, Method::DELETE, "/admin/faults", None, None).await;
        assert_eq!(
            call(&app, Method::GET, "/api/v1/locations", Some(&token), None)
                .await
                .0,
            StatusCode::OK
        );
        let (status, _, _) = call(
            &app,
            Method::PUT,
            "/admin/faults",
            None,
            Some(json!({"faults": [{"kind": "slow", "every": 0}]})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (_, _, stats) = call(&app, Method::POST, "/admin/stats/reset", None, None).await;
        assert_eq!(stats["reset"], true);
        let (_, _, stats) = call(&app, Method::GET, "/admin/stats", None, None).await;
        assert_eq!(stats["requests"], 0);
        let (status, _, body) = call(&app, Method::GET, "/health", None, None).await;
        assert_eq!((status, body), (StatusCode::OK, Value::String("ok".into())));
    }
}
