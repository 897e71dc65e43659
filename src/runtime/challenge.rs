//! What a server says when it wants credentials: the `WWW-Authenticate` header of a 401 (or
//! 403) answer, RFC 9110 §11.6.1 — `Bearer realm="mcp", error="invalid_token",
//! resource_metadata="https://…"` — reduced to the parts a person (and, later, the OAuth
//! sign-in) needs: the scheme, the realm, where the protected-resource metadata is (RFC 9728),
//! the scope asked for, and the error with its description (RFC 6750).

use std::fmt;

use crate::text::{sanitize_line, truncate_chars};

/// Longest parameter value kept (a header is server-controlled text).
const MAX_VALUE_CHARS: usize = 300;

/// One authentication challenge. Empty fields were not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthChallenge {
    /// `Bearer`, `Basic`, … (empty when the server sent no `WWW-Authenticate` header).
    pub scheme: String,
    pub realm: Option<String>,
    /// RFC 9728: where the server's protected-resource metadata is.
    pub resource_metadata: Option<String>,
    pub scope: Option<String>,
    /// RFC 6750: `invalid_token`, `insufficient_scope`, …
    pub error: Option<String>,
    pub error_description: Option<String>,
}

impl AuthChallenge {
    /// Parses the first challenge of a `WWW-Authenticate` header value. Never fails: what
    /// cannot be read is left out.
    pub fn parse(header: &str) -> Self {
        let mut challenge = Self::default();
        let mut rest = header.trim_start();
        let scheme_end = rest
            .find(|c: char| c.is_ascii_whitespace() || c == ',')
            .unwrap_or(rest.len());
        challenge.scheme = clean(&rest[..scheme_end]);
        rest = &rest[scheme_end..];
        while let Some((name, value, after)) = next_param(rest) {
            let slot = match name.to_ascii_lowercase().as_str() {
                "realm" => &mut challenge.realm,
                "resource_metadata" => &mut challenge.resource_metadata,
                "scope" => &mut challenge.scope,
                "error" => &mut challenge.error,
                "error_description" => &mut challenge.error_description,
                _ => {
                    rest = after;
                    continue;
                }
            };
            if slot.is_none() && !value.is_empty() {
                *slot = Some(clean(&value));
            }
            rest = after;
        }
        challenge
    }
}

/// `Bearer (realm "mcp", error invalid_token: the token expired, scope "read", resource
/// metadata at https://…)`, or `no WWW-Authenticate challenge`.
impl fmt::Display for AuthChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scheme.is_empty() {
            return f.write_str("no WWW-Authenticate challenge");
        }
        let mut parts = Vec::new();
        if let Some(realm) = &self.realm {
            parts.push(format!("realm \"{realm}\""));
        }
        match (&self.error, &self.error_description) {
            (Some(error), Some(description)) => parts.push(format!("error {error}: {description}")),
            (Some(error), None) => parts.push(format!("error {error}")),
            (None, Some(description)) => parts.push(description.clone()),
            (None, None) => {}
        }
        if let Some(scope) = &self.scope {
            parts.push(format!("scope \"{scope}\""));
        }
        if let Some(metadata) = &self.resource_metadata {
            parts.push(format!("resource metadata at {metadata}"));
        }
        if parts.is_empty() {
            write!(f, "{}", self.scheme)
        } else {
            write!(f, "{} ({})", self.scheme, parts.join(", "))
        }
    }
}

fn clean(text: &str) -> String {
    truncate_chars(&sanitize_line(text), MAX_VALUE_CHARS)
}

/// The next `name=value` auth-param of the first challenge: `(name, value, rest)`. `None` at
/// the end, and where a second challenge begins (a token not followed by `=`).
fn next_param(text: &str) -> Option<(String, String, &str)> {
    let text = text.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == ',');
    let name_end = text.find(|c: char| c == '=' || c == ',' || c.is_ascii_whitespace())?;
    let name = &text[..name_end];
    let after_name = text[name_end..].trim_start();
    let after_eq = after_name.strip_prefix('=')?.trim_start();
    if name.is_empty() {
        return None;
    }
    let (value, rest) = match after_eq.strip_prefix('"') {
        Some(quoted) => quoted_string(quoted),
        None => {
            let end = after_eq.find([',', ' ', '\t']).unwrap_or(after_eq.len());
            (after_eq[..end].to_owned(), &after_eq[end..])
        }
    };
    Some((name.to_owned(), value, rest))
}

/// The body of a quoted-string (after its opening quote), with `\x` escapes undone, and what
/// follows its closing quote (an unclosed string runs to the end).
fn quoted_string(text: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (value, &text[i + 1..]),
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            }
            c => value.push(c),
        }
    }
    (value, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_parameters_mcp_servers_send() {
        let challenge = AuthChallenge::parse(
            r#"Bearer realm="mcp", error="invalid_token", error_description="The token \"x\" expired", scope="files:read files:write", resource_metadata="http://127.0.0.1:1/.well-known/oauth-protected-resource""#,
        );
        assert_eq!(challenge.scheme, "Bearer");
        assert_eq!(challenge.realm.as_deref(), Some("mcp"));
        assert_eq!(challenge.error.as_deref(), Some("invalid_token"));
        assert_eq!(
            challenge.error_description.as_deref(),
            Some("The token \"x\" expired")
        );
        assert_eq!(challenge.scope.as_deref(), Some("files:read files:write"));
        assert_eq!(
            challenge.to_string(),
            "Bearer (realm \"mcp\", error invalid_token: The token \"x\" expired, scope \
             \"files:read files:write\", resource metadata at \
             http://127.0.0.1:1/.well-known/oauth-protected-resource)"
        );
    }

    #[test]
    fn tokens_case_and_a_second_challenge() {
        let challenge = AuthChallenge::parse("Bearer Realm=api,error=invalid_token Basic realm=x");
        assert_eq!(challenge.realm.as_deref(), Some("api"));
        assert_eq!(challenge.error.as_deref(), Some("invalid_token"));
        let bare = AuthChallenge::parse("Bearer");
        assert_eq!(bare.to_string(), "Bearer");
        assert_eq!(
            AuthChallenge::parse("").to_string(),
            "no WWW-Authenticate challenge"
        );
    }

    #[test]
    fn hostile_headers_are_cleaned_and_never_panic() {
        let challenge = AuthChallenge::parse("Bearer realm=\"a\u{1b}[2Jb\", error=\"unclosed");
        assert_eq!(challenge.realm.as_deref(), Some("ab"));
        assert!(!challenge.to_string().contains('\u{1b}'));
        assert_eq!(challenge.error.as_deref(), Some("unclosed"));
        for header in [
            "=",
            ",,,",
            "Bearer =x",
            "Bearer a=\"\\",
            "Bearer a=",
            "é=é",
            "\"\"",
        ] {
            let _ = AuthChallenge::parse(header).to_string();
        }
        let long = format!("Bearer realm=\"{}\"", "x".repeat(10_000));
        assert!(AuthChallenge::parse(&long).to_string().chars().count() < 400);
    }
}
