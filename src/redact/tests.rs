//! URL display, key matching and scrubbing by value.

use std::borrow::Cow;
use std::path::PathBuf;

use super::{Secrets, display_url, is_secret_key, redact_urls};
use crate::config::{ConfigSource, LoadEnv, parse};

fn config(json: &str) -> crate::config::Config {
    let cwd = tempfile::tempdir().expect("tempdir");
    let vars = |_: &str| None;
    let env = LoadEnv {
        cwd: cwd.path(),
        config_home: None,
        vars: &vars,
        self_exe: PathBuf::from("/opt/mcpomni"),
    };
    parse(json, ConfigSource::File("test.json".into()), &env).expect("valid config")
}

#[test]
fn userinfo_is_hidden_and_the_rest_kept() {
    assert_eq!(
        display_url("http://user:pw@127.0.0.1:9/mcp"),
        "http://***@127.0.0.1:9/mcp"
    );
    assert_eq!(
        display_url("https://TOKEN@example.com"),
        "https://***@example.com"
    );
    // An `@` in the path is not userinfo.
    assert_eq!(
        display_url("http://host/users/@me?x=1"),
        "http://host/users/@me?x=1"
    );
}

#[test]
fn credential_query_values_are_hidden_whatever_the_case_or_encoding_of_the_key() {
    assert_eq!(
        display_url("http://h/mcp?api_key=SECRET123&page=2"),
        "http://h/mcp?api_key=***&page=2"
    );
    assert_eq!(display_url("http://h/?API_KEY=s"), "http://h/?API_KEY=***");
    assert_eq!(
        display_url("http://h/?api%5Fkey=s&Api%2DKey=t"),
        "http://h/?api%5Fkey=***&Api%2DKey=***"
    );
    for key in [
        "key",
        "apikey",
        "api-key",
        "x-api-key",
        "token",
        "access_token",
        "secret",
        "client_secret",
        "password",
        "sig",
        "signature",
        "auth",
        "X-Amz-Credential",
        "X-Amz-Security-Token",
        "subscription-key",
    ] {
        assert!(is_secret_key(key), "{key}");
    }
    for key in ["page", "q", "format", "sessionId", "limit", "name"] {
        assert!(!is_secret_key(key), "{key}");
    }
}

#[test]
fn fragments_are_redacted_like_queries_and_odd_urls_do_not_break_it() {
    assert_eq!(
        display_url("http://h/cb#access_token=abc&state=1"),
        "http://h/cb#access_token=***&state=1"
    );
    assert_eq!(display_url("http://h/?token="), "http://h/?token=");
    assert_eq!(display_url("http://h/?token"), "http://h/?token");
    assert_eq!(display_url("not a url"), "not a url");
    assert_eq!(display_url(""), "");
}

#[test]
fn urls_inside_text_are_shown_redacted() {
    let text = "error sending request for url (http://u:p@127.0.0.1:1/mcp?key=abc): refused";
    assert_eq!(
        redact_urls(text),
        "error sending request for url (http://***@127.0.0.1:1/mcp?key=***): refused"
    );
    let plain = "see http://127.0.0.1/mcp and https://x.org/?a=b";
    assert!(matches!(redact_urls(plain), Cow::Borrowed(_)));
    // Multi-byte text around a URL.
    assert_eq!(redact_urls("é→http://a:b@h/ ok"), "é→http://***@h/ ok");
    assert_eq!(redact_urls("://nothing"), "://nothing");
}

#[test]
fn configured_values_are_scrubbed_also_when_percent_encoded() {
    let config = config(
        r#"{"mcpServers": {
            "web": {"url": "http://me:hunter22@h/mcp?api%5Fkey=SECRET123&page=1",
                    "headers": {"X-Api-Key": "SECRET456", "Authorization": "Bearer tok/en+42"}},
            "local": {"command": "srv", "env": {"TOKEN": "envsecret!", "DEBUG": "1"}}
        }}"#,
    );
    let web = Secrets::for_server(&config.servers[0]);
    let echoed = "HTTP 400: x-api-key: SECRET456; authorization: Bearer tok/en+42; \
                  token=tok%2Fen%2B42 and tok%2fen%2b42; key SECRET123; hunter22";
    let scrubbed = web.scrub(echoed);
    for leak in [
        "SECRET456",
        "tok/en+42",
        "tok%2Fen",
        "tok%2fen",
        "SECRET123",
        "hunter22",
    ] {
        assert!(!scrubbed.contains(leak), "{leak} in {scrubbed}");
    }
    let local = Secrets::for_server(&config.servers[1]);
    assert_eq!(
        local.scrub("starting with envsecret! (envsecret%21), debug 1"),
        "starting with *** (***), debug 1"
    );
    // The whole config's set covers both servers.
    let all = Secrets::for_config(&config);
    assert_eq!(all.scrub("SECRET456 envsecret!"), "*** ***");
}

#[test]
fn short_values_are_not_scrubbed_and_an_empty_set_changes_nothing() {
    let secrets = Secrets::from_values(["1", "true", "abcdef"]);
    assert_eq!(secrets.scrub("true 1 abcdef"), "true 1 ***");
    let none = Secrets::default();
    assert!(none.is_empty());
    assert!(matches!(none.scrub("plain text"), Cow::Borrowed(_)));
    assert_eq!(none.scrub_owned("plain".to_owned()), "plain");
}

#[test]
fn a_value_inside_another_is_replaced_whole() {
    let secrets = Secrets::from_values(["abcdef", "xxabcdefyy"]);
    assert_eq!(secrets.scrub("[xxabcdefyy]"), "[***]");
}

#[test]
fn debug_never_prints_values() {
    let secrets = Secrets::from_values(["SECRET123"]);
    let debug = format!("{secrets:?}");
    assert!(!debug.contains("SECRET123"), "{debug}");
}
