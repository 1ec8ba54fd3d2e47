//! Which hosts a connector may call.
//!
//! A connector declares patterns in `allowed-hosts`; they are resolved against
//! a connection's settings into an [`Allowlist`]. Every outbound request is
//! checked against the authority of its own URL, never against a `Host`
//! header, and redirects are never followed by the host, so a redirect cannot
//! leave the allowlist (the lesson of Spin's CVE-2024-32980).

use std::fmt;

/// A resolved set of allowed `host[:port]` destinations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    host: HostMatch,
    /// `None`: the default ports 80 and 443 only.
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Exact(String),
    /// `*.example.com`: any subdomain, not the apex.
    Subdomain(String),
}

/// A pattern that cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("allowed host `{pattern}`: {reason}")]
pub struct AllowlistError {
    /// The offending pattern.
    pub pattern: String,
    /// Why it is invalid.
    pub reason: String,
}

impl Allowlist {
    /// Resolves a connector's `allowed-hosts` patterns against a connection's
    /// settings. `{name}` takes the host (and explicit port) of the URL setting
    /// `name`.
    pub fn resolve<'a>(
        patterns: &[String],
        setting: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<Self, AllowlistError> {
        let error = |pattern: &str, reason: &str| AllowlistError {
            pattern: pattern.to_string(),
            reason: reason.to_string(),
        };
        let mut entries = Vec::new();
        for pattern in patterns {
            let pattern = pattern.trim();
            if let Some(name) = pattern.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                let url = setting(name)
                    .ok_or_else(|| error(pattern, &format!("setting `{name}` is not set")))?;
                let (host, port) = authority_of_url(url)
                    .ok_or_else(|| error(pattern, &format!("`{url}` is not an http(s) URL")))?;
                entries.push(Entry {
                    host: HostMatch::Exact(host),
                    port: Some(port),
                });
                continue;
            }
            let (host, port) = split_host_port(pattern)
                .ok_or_else(|| error(pattern, "expected host, host:port or *.domain"))?;
            let host = match host.strip_prefix("*.") {
                Some(domain) if valid_host(domain) && domain.contains('.') => {
                    HostMatch::Subdomain(domain.to_string())
                }
                Some(_) => return Err(error(pattern, "a wildcard needs a domain: *.example.com")),
                None if valid_host(&host) => HostMatch::Exact(host),
                None => return Err(error(pattern, "invalid host name")),
            };
            entries.push(Entry { host, port });
        }
        Ok(Allowlist { entries })
    }

    /// Whether a request to `host` on `port` is allowed.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        let host = normalize(host);
        self.entries.iter().any(|entry| {
            let port_ok = match entry.port {
                Some(p) => p == port,
                None => port == 80 || port == 443,
            };
            let host_ok = match &entry.host {
                HostMatch::Exact(h) => *h == host,
                HostMatch::Subdomain(domain) => host
                    .strip_suffix(domain.as_str())
                    .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.')),
            };
            port_ok && host_ok
        })
    }
}

impl fmt::Display for Allowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for entry in &self.entries {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            match &entry.host {
                HostMatch::Exact(h) => f.write_str(h)?,
                HostMatch::Subdomain(d) => write!(f, "*.{d}")?,
            }
            if let Some(port) = entry.port {
                write!(f, ":{port}")?;
            }
        }
        Ok(())
    }
}

fn normalize(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':' | b'[' | b']'))
}

/// Splits `host[:port]`, including bracketed IPv6 literals.
fn split_host_port(authority: &str) -> Option<(String, Option<u16>)> {
    if authority.is_empty() || authority.contains(['@', '/', '?', '#', ' ']) {
        return None;
    }
    if let Some(rest) = authority.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((format!("[{}]", ip.to_ascii_lowercase()), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((normalize(host), Some(port.parse().ok()?))),
        None => Some((normalize(authority), None)),
    }
}

/// The host and effective port of an absolute http(s) URL.
pub fn authority_of_url(url: &str) -> Option<(String, u16)> {
    let (default_port, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (443, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (80, rest)
    } else {
        return None;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, port) = split_host_port(&rest[..end])?;
    if !valid_host(&host) {
        return None;
    }
    Some((host, port.unwrap_or(default_port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(patterns: &[&str], base_url: &str) -> Allowlist {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        Allowlist::resolve(&patterns, |name| (name == "base-url").then_some(base_url)).unwrap()
    }

    #[test]
    fn setting_reference_allows_exactly_that_authority() {
        let list = resolve(&["{base-url}"], "http://127.0.0.1:8123/api");
        assert!(list.allows("127.0.0.1", 8123));
        assert!(!list.allows("127.0.0.1", 8124));
        assert!(!list.allows("127.0.0.2", 8123));
        let list = resolve(&["{base-url}"], "https://CMMS.example.com/");
        assert!(list.allows("cmms.example.com", 443));
        assert!(!list.allows("cmms.example.com", 80));
    }

    #[test]
    fn plain_and_wildcard_hosts() {
        let list = resolve(
            &["api.example.com", "*.corp.net", "files.example.com:8443"],
            "",
        );
        assert!(list.allows("api.example.com", 443));
        assert!(list.allows("API.example.com.", 80));
        assert!(!list.allows("api.example.com", 8080));
        assert!(list.allows("a.b.corp.net", 443));
        assert!(!list.allows("corp.net", 443));
        assert!(!list.allows("evilcorp.net", 443));
        assert!(list.allows("files.example.com", 8443));
        assert!(!list.allows("example.com", 443));
    }

    #[test]
    fn rejects_bad_patterns() {
        let patterns = |p: &str| vec![p.to_string()];
        assert!(Allowlist::resolve(&patterns("{missing}"), |_| None).is_err());
        assert!(Allowlist::resolve(&patterns("{u}"), |_| Some("ftp://x")).is_err());
        assert!(Allowlist::resolve(&patterns("*.com"), |_| None).is_err());
        assert!(Allowlist::resolve(&patterns("user@host"), |_| None).is_err());
        assert!(Allowlist::resolve(&patterns("host:99999"), |_| None).is_err());
    }

    #[test]
    fn url_authorities() {
        assert_eq!(authority_of_url("http://h"), Some(("h".into(), 80)));
        assert_eq!(authority_of_url("https://h:1/x"), Some(("h".into(), 1)));
        assert_eq!(
            authority_of_url("http://[::1]:9/"),
            Some(("[::1]".into(), 9))
        );
        assert_eq!(authority_of_url("http://u:p@h/"), None);
    }
}
