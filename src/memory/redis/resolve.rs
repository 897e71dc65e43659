//! Which Redis the store talks to: `memory.redis_url` from the config, else `REDIS_URL`,
//! else the variables the original MCPOmni Connect reads — `REDIS_HOST` (localhost),
//! `REDIS_PORT` (6379), `REDIS_DB` (0) and `REDIS_PASSWORD` — so an existing `.env` keeps
//! working. Empty values count as unset (a `.env` line `REDIS_URL=` means nothing).

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

/// The URL to connect to; `env` looks up an environment variable.
pub fn resolve_url(configured: Option<&str>, env: impl Fn(&str) -> Option<String>) -> String {
    let set = |name: &str| env(name).filter(|value| !value.trim().is_empty());
    if let Some(url) = configured.filter(|url| !url.trim().is_empty()) {
        return url.trim().to_owned();
    }
    if let Some(url) = set("REDIS_URL") {
        return url.trim().to_owned();
    }
    let host = set("REDIS_HOST").unwrap_or_else(|| "localhost".to_owned());
    let host = host.trim();
    // An IPv6 address needs brackets in a URL.
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let port = set("REDIS_PORT").unwrap_or_else(|| "6379".to_owned());
    let db = set("REDIS_DB").unwrap_or_else(|| "0".to_owned());
    // The password goes into the URL's userinfo, where `@`, `:` and `/` would end it early.
    let auth = set("REDIS_PASSWORD")
        .map(|password| format!(":{}@", utf8_percent_encode(&password, NON_ALPHANUMERIC)))
        .unwrap_or_default();
    format!("redis://{auth}{host}:{}/{}", port.trim(), db.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn the_config_wins_then_redis_url_then_the_parts() {
        let all = env(&[
            ("REDIS_URL", "redis://from-env:1/2"),
            ("REDIS_HOST", "parts"),
        ]);
        assert_eq!(
            resolve_url(Some("redis://configured:7/1"), &all),
            "redis://configured:7/1"
        );
        assert_eq!(resolve_url(None, &all), "redis://from-env:1/2");
        assert_eq!(resolve_url(Some("  "), &all), "redis://from-env:1/2");
    }

    #[test]
    fn the_originals_variables_build_a_url() {
        assert_eq!(resolve_url(None, env(&[])), "redis://localhost:6379/0");
        assert_eq!(
            resolve_url(
                None,
                env(&[("REDIS_URL", ""), ("REDIS_HOST", "cache.internal")])
            ),
            "redis://cache.internal:6379/0"
        );
        assert_eq!(
            resolve_url(
                None,
                env(&[
                    ("REDIS_HOST", "10.0.0.5"),
                    ("REDIS_PORT", "6380"),
                    ("REDIS_DB", "3"),
                    ("REDIS_PASSWORD", "p@ss:w/rd"),
                ])
            ),
            "redis://:p%40ss%3Aw%2Frd@10.0.0.5:6380/3"
        );
        assert_eq!(
            resolve_url(None, env(&[("REDIS_HOST", "::1")])),
            "redis://[::1]:6379/0"
        );
    }

    #[test]
    fn an_encoded_password_reads_back_as_typed() {
        let url = resolve_url(None, env(&[("REDIS_PASSWORD", "p@ss:w/rd é")]));
        let parsed = url::Url::parse(&url).expect("a URL");
        let password = parsed.password().expect("a password");
        assert_eq!(
            percent_encoding::percent_decode_str(password).decode_utf8_lossy(),
            "p@ss:w/rd é"
        );
    }
}
