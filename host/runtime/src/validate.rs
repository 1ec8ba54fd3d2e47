//! Checks on what connectors return. Every guest value is hostile until
//! checked: sizes are bounded and shapes verified before anything reaches the
//! sync engine or storage.

use crate::SandboxLimits;
use crate::bindings::types::{
    AuthMethod, ChangePage, ChangeRequest, ConnectorInfo, Field, FieldKind, Operation, Session,
};
use crate::error::CallError;
use std::collections::HashSet;

/// Largest session the host stores.
const MAX_SESSION_BYTES: usize = 64 << 10;
/// Largest number of models, fields and allowed hosts a connector describes.
const MAX_DESCRIBED_ITEMS: usize = 64;
/// Longest name, label or description in a description.
const MAX_TEXT_BYTES: usize = 2048;

/// Whether `name` is kebab-case: lowercase ASCII letters and digits in words
/// joined by single dashes.
pub fn is_kebab_case(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.split('-').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && name.as_bytes()[0].is_ascii_lowercase()
}

/// Checks a connector's self-description.
pub(crate) fn connector_info(info: &ConnectorInfo) -> Result<(), String> {
    if !is_kebab_case(&info.id) {
        return Err(format!("id `{}` is not kebab-case", info.id));
    }
    semver::Version::parse(&info.version)
        .map_err(|e| format!("version `{}` is not a semantic version: {e}", info.version))?;
    for text in [&info.name, &info.description] {
        if text.len() > MAX_TEXT_BYTES {
            return Err("name or description is too long".into());
        }
    }
    if info.name.trim().is_empty() {
        return Err("name is empty".into());
    }
    if info.models.is_empty() {
        return Err("no models are described".into());
    }
    if info.models.len() > MAX_DESCRIBED_ITEMS || info.allowed_hosts.len() > MAX_DESCRIBED_ITEMS {
        return Err("too many models or allowed hosts".into());
    }
    let mut models = HashSet::new();
    for model in &info.models {
        if !is_kebab_case(&model.name) || !models.insert(&model.name) {
            return Err(format!(
                "model `{}` is not kebab-case or is repeated",
                model.name
            ));
        }
    }
    let credentials: &[Field] = match &info.auth {
        AuthMethod::Credentials(fields) => fields,
        AuthMethod::None | AuthMethod::Oauth2(_) => &[],
    };
    let mut names = HashSet::new();
    for field in info.settings.iter().chain(credentials) {
        if !is_kebab_case(&field.name) || !names.insert(&field.name) {
            return Err(format!(
                "field `{}` is not kebab-case or is repeated",
                field.name
            ));
        }
        if field.label.len() > MAX_TEXT_BYTES
            || field
                .description
                .as_ref()
                .is_some_and(|d| d.len() > MAX_TEXT_BYTES)
        {
            return Err(format!("field `{}` has too long a text", field.name));
        }
    }
    if info.settings.len() + credentials.len() > MAX_DESCRIBED_ITEMS {
        return Err("too many fields".into());
    }
    for pattern in &info.allowed_hosts {
        if let Some(name) = pattern.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            let setting = info.settings.iter().find(|f| f.name == name);
            if !setting.is_some_and(|f| matches!(f.kind, FieldKind::Url)) {
                return Err(format!(
                    "allowed host `{pattern}` must name a url setting of the connector"
                ));
            }
        } else {
            crate::Allowlist::resolve(std::slice::from_ref(pattern), |_| None)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Checks a page against the request that asked for it and the limits.
pub(crate) fn change_page(
    page: &ChangePage,
    request: &ChangeRequest,
    limits: &SandboxLimits,
) -> Result<(), CallError> {
    let invalid = CallError::InvalidOutput;
    if page.changes.len() > request.page_size as usize {
        return Err(CallError::PageTooLarge(format!(
            "the page holds {} changes but at most {} were asked for",
            page.changes.len(),
            request.page_size
        )));
    }
    if page.cursor.len() > limits.max_cursor_bytes {
        return Err(invalid(format!(
            "the cursor is {} bytes, over the limit of {}",
            page.cursor.len(),
            limits.max_cursor_bytes
        )));
    }
    let mut page_bytes = 0usize;
    for (index, change) in page.changes.iter().enumerate() {
        if change.id.is_empty() || change.id.len() > limits.max_id_bytes {
            return Err(invalid(format!(
                "change {index} has an id of {} bytes (1 to {} allowed)",
                change.id.len(),
                limits.max_id_bytes
            )));
        }
        if change.id.chars().any(char::is_control) {
            return Err(invalid(format!(
                "change {index} has control characters in its id"
            )));
        }
        match (&change.op, &change.data) {
            (Operation::Upsert, None) => {
                return Err(invalid(format!("upsert of `{}` has no data", change.id)));
            }
            (Operation::Delete, Some(_)) => {
                return Err(invalid(format!("delete of `{}` carries data", change.id)));
            }
            (Operation::Upsert, Some(data)) => {
                if data.len() > limits.max_record_bytes {
                    return Err(CallError::PageTooLarge(format!(
                        "record `{}` is {} bytes, over the limit of {}",
                        change.id,
                        data.len(),
                        limits.max_record_bytes
                    )));
                }
                page_bytes += data.len();
            }
            (Operation::Delete, None) => {}
        }
    }
    if page_bytes > limits.max_page_bytes {
        return Err(CallError::PageTooLarge(format!(
            "the page's records total {page_bytes} bytes, over the limit of {}",
            limits.max_page_bytes
        )));
    }
    Ok(())
}

/// Checks a session returned by `authenticate` or `refresh`.
pub(crate) fn session(session: &Session) -> Result<(), String> {
    if session.data.len() > MAX_SESSION_BYTES {
        return Err(format!(
            "the session is {} bytes, over the limit of {MAX_SESSION_BYTES}",
            session.data.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_case() {
        for ok in ["work-orders", "a", "demo-cmms2", "purchase-orders"] {
            assert!(is_kebab_case(ok), "{ok}");
        }
        for bad in ["", "Work", "a--b", "-a", "a-", "1a", "a_b", "a b"] {
            assert!(!is_kebab_case(bad), "{bad}");
        }
    }
}
