//! Keeping credentials out of everything a person or a file sees: error messages, the Servers
//! pane, headless output, `Debug` output and the log file.
//!
//! Two tools, applied where text enters shared state rather than in every view:
//! - [`display_url`] is the one way a URL is shown: userinfo becomes `***@`, and the values of
//!   query (and fragment) parameters whose key looks like a credential become `***`. Keys are
//!   matched case-insensitively after percent-decoding (`API%5FKey` is `api_key`).
//! - [`Secrets`] holds the credential values a config carries (header values, bearer tokens,
//!   URL userinfo and credential query values, a stdio server's `env` values) and scrubs them
//!   by value — also percent-encoded — from text a server sends back (an error body echoing a
//!   header, a stderr line printing its env). Scrubbing also passes every URL in the text
//!   through [`display_url`].

use std::borrow::Cow;
use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::config::{AuthConfig, Config, HttpConfig, ServerConfig, StdioConfig, TransportConfig};

/// What a hidden credential is shown as.
pub const MASK: &str = "***";

/// Values shorter than this are not scrubbed by value: short values are words and numbers
/// (`true`, `3000`, `prod`) that would garble unrelated text, and no credential is that short.
/// (In URLs they are still hidden by [`display_url`], which works on structure, not value.)
pub const MIN_SECRET_CHARS: usize = 6;

/// Characters JavaScript's `encodeURIComponent` leaves alone: a second common encoding.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Whether a query or fragment parameter named `key` carries a credential. `key` is taken as
/// it appears in a URL: percent-encoded, `+` for space.
pub fn is_secret_key(key: &str) -> bool {
    let spaced = key.replace('+', " ");
    let decoded = percent_decode_str(&spaced).decode_utf8_lossy();
    // `api_key`, `api-key`, `API Key` and `apikey` are one key.
    let norm: String = decoded
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    const EXACT: &[&str] = &["sig", "auth", "authorization", "pwd", "pass", "jwt"];
    const PARTS: &[&str] = &[
        "token",
        "secret",
        "passw",
        "signature",
        "credential",
        "apikey",
    ];
    EXACT.contains(&norm.as_str())
        || PARTS.iter().any(|part| norm.contains(part))
        // `key`, `apikey`, `x-api-key`, `access_key`, `subscription-key`, …
        || norm.ends_with("key")
}

/// A URL as it may be shown anywhere: userinfo replaced by `***@`, and the values of
/// credential parameters (see [`is_secret_key`]) in the query and the fragment by `***`.
/// Works on the text as written (nothing is normalised), so it also takes URLs that do not
/// parse.
pub fn display_url(url: &str) -> String {
    let (before_fragment, fragment) = match url.split_once('#') {
        Some((head, fragment)) => (head, Some(fragment)),
        None => (url, None),
    };
    let (before_query, query) = match before_fragment.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (before_fragment, None),
    };
    let mut out = String::with_capacity(url.len());
    match before_query.find("://") {
        Some(at) => {
            let (scheme, rest) = before_query.split_at(at + 3);
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            out.push_str(scheme);
            match authority.rfind('@') {
                Some(at) => {
                    out.push_str(MASK);
                    out.push_str(&authority[at..]);
                }
                None => out.push_str(authority),
            }
            out.push_str(path);
        }
        None => out.push_str(before_query),
    }
    if let Some(query) = query {
        out.push('?');
        push_params(&mut out, query);
    }
    if let Some(fragment) = fragment {
        out.push('#');
        push_params(&mut out, fragment);
    }
    out
}

/// `a=1&api_key=x` → `a=1&api_key=***`.
fn push_params(out: &mut String, params: &str) {
    for (i, pair) in params.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((key, value)) if !value.is_empty() && is_secret_key(key) => {
                out.push_str(key);
                out.push('=');
                out.push_str(MASK);
            }
            _ => out.push_str(pair),
        }
    }
}

/// Every `scheme://…` URL inside `text` passed through [`display_url`]. A URL ends at
/// whitespace, a quote, or a bracket (error messages wrap URLs in them).
pub fn redact_urls(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    let mut changed = false;
    while let Some(found) = text[search..].find("://") {
        let mark = search + found;
        let start = text[..mark]
            .char_indices()
            .rev()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |(i, c)| i + c.len_utf8())
            .max(copied);
        let end = text[mark..]
            .find(|c: char| c.is_whitespace() || "\"'`<>()[]{}|\\^".contains(c))
            .map_or(text.len(), |i| mark + i);
        search = end.max(mark + 3);
        if start == mark {
            continue; // no scheme in front of "://"
        }
        let shown = display_url(&text[start..end]);
        if shown != text[start..end] {
            out.push_str(&text[copied..start]);
            out.push_str(&shown);
            copied = end;
            changed = true;
        }
    }
    if !changed {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// The credential values a configuration carries, scrubbed by value from text that servers
/// send back. Cheap when empty: then only URLs in the text are looked at.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    /// Every form a value may take in text (as is, percent-encoded…), longest first, so a
    /// value that contains another is replaced whole.
    needles: Vec<String>,
}

impl Secrets {
    /// The secrets of one server's configuration.
    pub fn for_server(config: &ServerConfig) -> Self {
        let mut secrets = Self::default();
        secrets.collect(config);
        secrets.finish();
        secrets
    }

    /// The `env` values of a stdio server.
    pub fn for_stdio(config: &StdioConfig) -> Self {
        let mut secrets = Self::default();
        secrets.collect_stdio(config);
        secrets.finish();
        secrets
    }

    /// The secrets of every server (for the log file, which all servers share).
    pub fn for_config(config: &Config) -> Self {
        let mut secrets = Self::default();
        for server in &config.servers {
            secrets.collect(server);
        }
        secrets.finish();
        secrets
    }

    /// A set with these values (and their encoded forms), for tests and callers with their
    /// own secrets.
    pub fn from_values<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut secrets = Self::default();
        for value in values {
            secrets.add_value(value);
        }
        secrets.finish();
        secrets
    }

    /// This set with `values` (and their encoded forms) added.
    pub fn with_values<'a>(mut self, values: impl IntoIterator<Item = &'a str>) -> Self {
        for value in values {
            self.add_value(value);
        }
        self.finish();
        self
    }

    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// Every form of every value that [`Secrets::scrub`] replaces, longest first: for callers
    /// that first check a large text for them at once and scrub piece by piece only on a hit.
    pub fn forms(&self) -> impl Iterator<Item = &str> {
        self.needles.iter().map(String::as_str)
    }

    /// `text` with every URL shown by [`display_url`] and every secret value replaced by `***`.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = redact_urls(text);
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = Cow::Owned(out.replace(needle.as_str(), MASK));
            }
        }
        out
    }

    /// [`Secrets::scrub`] for an owned string (no copy when nothing changes).
    pub fn scrub_owned(&self, text: String) -> String {
        match self.scrub(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(scrubbed) => scrubbed,
        }
    }

    fn collect(&mut self, config: &ServerConfig) {
        match &config.transport {
            TransportConfig::Stdio(stdio) => self.collect_stdio(stdio),
            TransportConfig::Http(http) => self.collect_http(http),
        }
    }

    fn collect_stdio(&mut self, stdio: &StdioConfig) {
        for value in stdio.env.values() {
            self.add_value(value);
        }
    }

    fn collect_http(&mut self, http: &HttpConfig) {
        for value in http.headers.values() {
            self.add_value(value);
            // `Bearer <token>`, `Basic <credentials>`: the credential may appear on its own.
            if let Some((_, credential)) = value.trim().split_once(' ') {
                self.add_value(credential.trim());
            }
        }
        match &http.auth {
            Some(AuthConfig::Bearer { token }) => self.add_value(token),
            Some(AuthConfig::OAuth(oauth)) => {
                for secret in [&oauth.client_secret, &oauth.private_key]
                    .into_iter()
                    .flatten()
                {
                    self.add_value(secret);
                }
                if let Some(cross_app) = &oauth.cross_app {
                    self.add_value(&cross_app.id_token);
                    if let Some(secret) = &cross_app.idp_client_secret {
                        self.add_value(secret);
                    }
                }
            }
            None => {}
        }
        self.collect_url(&http.url);
    }

    /// Userinfo, and the values of credential parameters, as written and decoded.
    fn collect_url(&mut self, url: &str) {
        let without_fragment = url.split('#').next().unwrap_or(url);
        let (head, query) = match without_fragment.split_once('?') {
            Some((head, query)) => (head, Some(query)),
            None => (without_fragment, None),
        };
        if let Some((_, rest)) = head.split_once("://") {
            let authority = rest.split('/').next().unwrap_or(rest);
            if let Some((userinfo, _)) = authority.rsplit_once('@') {
                for part in userinfo.split(':') {
                    self.add_encoded(part);
                }
            }
        }
        let fragment = url.split_once('#').map(|(_, fragment)| fragment);
        for params in [query, fragment].into_iter().flatten() {
            for pair in params.split('&') {
                if let Some((key, value)) = pair.split_once('=')
                    && is_secret_key(key)
                {
                    self.add_encoded(value);
                }
            }
        }
    }

    /// A value as it appears in a URL: add it as written and decoded.
    fn add_encoded(&mut self, value: &str) {
        self.add_value(value);
        let spaced = value.replace('+', " ");
        let decoded = percent_decode_str(&spaced).decode_utf8_lossy();
        self.add_value(&decoded);
    }

    fn add_value(&mut self, value: &str) {
        if value.chars().count() < MIN_SECRET_CHARS {
            return;
        }
        let encoded = [
            utf8_percent_encode(value, NON_ALPHANUMERIC).to_string(),
            utf8_percent_encode(value, COMPONENT).to_string(),
            url::form_urlencoded::byte_serialize(value.as_bytes()).collect(),
        ];
        self.needles.push(value.to_owned());
        for form in encoded {
            let lower = lower_hex(&form);
            self.needles.push(form);
            self.needles.push(lower);
        }
    }

    fn finish(&mut self) {
        self.needles
            .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        self.needles.dedup();
    }
}

/// `%2F` → `%2f`: some encoders write lower-case hex.
fn lower_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut rest = encoded;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let hex = rest.get(at..at + 3).unwrap_or(&rest[at..]);
        out.push_str(&hex.to_ascii_lowercase());
        rest = &rest[at + hex.len()..];
    }
    out.push_str(rest);
    out
}

/// Never prints a value: only how many forms are held.
impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} forms)", self.needles.len())
    }
}

#[cfg(test)]
mod tests;
