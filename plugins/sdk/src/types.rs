//! Constructors and accessors for the contract's types.

use crate::{
    CallContext, Change, ConnectionConfig, Error, Field, FieldKind, FieldValue, ModelInfo,
    Operation, RateLimit, Timestamp,
};
use serde::Serialize;

impl Error {
    /// The source rejected the credentials or session (HTTP 401).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Error::Unauthorized(message.into())
    }

    /// The account lacks a permission (HTTP 403).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::Forbidden(message.into())
    }

    /// The source is rate limiting; `retry_after_ms` is how long it asked to wait.
    pub fn rate_limited(retry_after_ms: Option<u64>, message: impl Into<String>) -> Self {
        Error::RateLimited(RateLimit {
            retry_after_ms,
            message: message.into(),
        })
    }

    /// A failure worth retrying: timeout, HTTP 5xx, connection reset.
    pub fn transient(message: impl Into<String>) -> Self {
        Error::Transient(message.into())
    }

    /// The cursor can no longer be used; the host restarts with an initial sync.
    pub fn cursor_expired(message: impl Into<String>) -> Self {
        Error::CursorExpired(message.into())
    }

    /// The connection's settings or credentials are malformed.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        Error::InvalidConfig(message.into())
    }

    /// The same call would fail again.
    pub fn permanent(message: impl Into<String>) -> Self {
        Error::Permanent(message.into())
    }

    /// The human-readable text of the error, whatever its case.
    pub fn message(&self) -> &str {
        match self {
            Error::Unauthorized(m)
            | Error::Forbidden(m)
            | Error::Transient(m)
            | Error::CursorExpired(m)
            | Error::InvalidConfig(m)
            | Error::Permanent(m) => m,
            Error::RateLimited(limit) => &limit.message,
        }
    }

    /// The case's name, as the host reports it.
    pub fn case(&self) -> &'static str {
        match self {
            Error::Unauthorized(_) => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::RateLimited(_) => "rate-limited",
            Error::Transient(_) => "transient",
            Error::CursorExpired(_) => "cursor-expired",
            Error::InvalidConfig(_) => "invalid-config",
            Error::Permanent(_) => "permanent",
        }
    }
}

impl Change {
    /// An upsert whose data is `record` serialized as JSON.
    ///
    /// Fails with [`Error::Permanent`] when `record` does not serialize to a
    /// JSON object.
    pub fn upsert(
        id: impl Into<String>,
        modified_at: Option<Timestamp>,
        record: &impl Serialize,
    ) -> Result<Self, Error> {
        let data = serde_json::to_string(record)
            .map_err(|e| Error::permanent(format!("record does not serialize to JSON: {e}")))?;
        if !data.starts_with('{') {
            return Err(Error::permanent("a record must serialize to a JSON object"));
        }
        Ok(Self::upsert_json(id, modified_at, data))
    }

    /// An upsert whose data is already a JSON object in text form.
    pub fn upsert_json(
        id: impl Into<String>,
        modified_at: Option<Timestamp>,
        json: String,
    ) -> Self {
        Change {
            id: id.into(),
            op: Operation::Upsert,
            modified_at,
            data: Some(json),
        }
    }

    /// A deletion of the record `id`.
    pub fn delete(id: impl Into<String>, modified_at: Option<Timestamp>) -> Self {
        Change {
            id: id.into(),
            op: Operation::Delete,
            modified_at,
            data: None,
        }
    }
}

impl Field {
    fn new(name: &str, label: &str, kind: FieldKind) -> Self {
        Field {
            name: name.to_string(),
            label: label.to_string(),
            kind,
            required: false,
            description: None,
            default_value: None,
        }
    }

    /// A plain text field.
    pub fn text(name: &str, label: &str) -> Self {
        Self::new(name, label, FieldKind::Text)
    }

    /// A secret field: masked, encrypted at rest, redacted from logs.
    pub fn secret(name: &str, label: &str) -> Self {
        Self::new(name, label, FieldKind::Secret)
    }

    /// An absolute `http` or `https` URL.
    pub fn url(name: &str, label: &str) -> Self {
        Self::new(name, label, FieldKind::Url)
    }

    /// A number.
    pub fn number(name: &str, label: &str) -> Self {
        Self::new(name, label, FieldKind::Number)
    }

    /// A yes/no switch.
    pub fn boolean(name: &str, label: &str) -> Self {
        Self::new(name, label, FieldKind::Boolean)
    }

    /// One of a fixed set of values.
    pub fn choice(name: &str, label: &str, values: &[&str]) -> Self {
        let values = values.iter().map(|v| v.to_string()).collect();
        Self::new(name, label, FieldKind::Choice(values))
    }

    /// Marks the field as required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Sets the help text shown under the field.
    pub fn description(mut self, text: &str) -> Self {
        self.description = Some(text.to_string());
        self
    }

    /// Sets the value used when the customer gives none.
    pub fn default_value(mut self, value: &str) -> Self {
        self.default_value = Some(value.to_string());
        self
    }
}

impl ModelInfo {
    /// A model with its unified name and a description.
    pub fn new(name: &str, description: &str) -> Self {
        ModelInfo {
            name: name.to_string(),
            description: description.to_string(),
        }
    }
}

/// Lookup of field values by name.
pub trait FieldValues {
    /// The value of the field `name`, if given.
    fn value(&self, name: &str) -> Option<&str>;

    /// The value of the field `name`, or [`Error::InvalidConfig`] naming it.
    fn require(&self, name: &str) -> Result<&str, Error> {
        match self.value(name) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(Error::invalid_config(format!("`{name}` is required"))),
        }
    }
}

impl FieldValues for [FieldValue] {
    fn value(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|field| field.name == name)
            .map(|field| field.value.as_str())
    }
}

impl ConnectionConfig {
    /// The value of the setting `name`, if given.
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings.value(name)
    }

    /// The value of the setting `name`, or [`Error::InvalidConfig`].
    pub fn require_setting(&self, name: &str) -> Result<&str, Error> {
        self.settings.require(name)
    }

    /// The value of the credential `name`, if given.
    pub fn credential(&self, name: &str) -> Option<&str> {
        self.credentials.value(name)
    }

    /// The value of the credential `name`, or [`Error::InvalidConfig`].
    pub fn require_credential(&self, name: &str) -> Result<&str, Error> {
        self.credentials.require(name)
    }
}

impl CallContext {
    /// The value of the setting `name`, if given.
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings.value(name)
    }

    /// The value of the setting `name`, or [`Error::InvalidConfig`].
    pub fn require_setting(&self, name: &str) -> Result<&str, Error> {
        self.settings.require(name)
    }
}
