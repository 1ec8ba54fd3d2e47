//! Removing secrets from anything that is logged or stored for debugging.

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Headers whose values are always secret.
const SECRET_HEADERS: [&str; 8] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "x-auth-token",
    "x-switchyard-admin-token",
];

/// Secrets shorter than this are not searched for in free text: replacing
/// every "a" or "12" would destroy the log without protecting anything.
const MIN_SECRET_LEN: usize = 4;

/// Whether a header's value must never be logged.
pub fn is_secret_header(name: &str) -> bool {
    SECRET_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name))
        || name.to_ascii_lowercase().contains("token")
        || name.to_ascii_lowercase().contains("secret")
}

/// Known secret values (passwords, tokens, session data) of a connection,
/// replaced wherever they appear.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: Vec<String>,
}

impl Secrets {
    /// A set of secret values; short and empty ones are ignored.
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut values: Vec<String> = values
            .into_iter()
            .filter(|v| v.len() >= MIN_SECRET_LEN)
            .collect();
        // Longest first, so a secret that contains another is replaced whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Secrets { values }
    }

    /// Adds a secret value.
    pub fn add(&mut self, value: &str) {
        if value.len() >= MIN_SECRET_LEN && !self.values.iter().any(|v| v == value) {
            self.values.push(value.to_string());
            self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }

    /// `text` with every known secret replaced, also in its percent-encoded
    /// and JSON-escaped forms.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.values {
            for form in encoded_forms(secret) {
                if out.contains(form.as_str()) {
                    out = out.replace(form.as_str(), REDACTED);
                }
            }
        }
        out
    }

    /// A header value as it may be logged.
    pub fn redact_header(&self, name: &str, value: &str) -> String {
        if is_secret_header(name) {
            REDACTED.to_string()
        } else {
            self.redact(value)
        }
    }
}

fn encoded_forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_string()];
    let percent: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json.trim_matches('"').to_string();
    for form in [percent, json] {
        if !forms.contains(&form) {
            forms.push(form);
        }
    }
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_values_in_all_forms() {
        let secrets = Secrets::new(["p@ss word\"1".to_string(), "ab".to_string()]);
        assert_eq!(secrets.redact("x p@ss word\"1 y"), "x [redacted] y");
        assert_eq!(secrets.redact("q=p%40ss%20word%221"), "q=[redacted]");
        assert_eq!(
            secrets.redact(r#"{"p":"p@ss word\"1"}"#),
            r#"{"p":"[redacted]"}"#
        );
        assert_eq!(secrets.redact("ab stays"), "ab stays");
    }

    #[test]
    fn secret_headers() {
        let secrets = Secrets::default();
        assert_eq!(secrets.redact_header("Authorization", "Bearer x"), REDACTED);
        assert_eq!(secrets.redact_header("X-Refresh-Token", "x"), REDACTED);
        assert_eq!(secrets.redact_header("accept", "json"), "json");
    }
}
