//! The typed model: transport selection, defaults, flags, and redacted Debug.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{parse_err, parse_ok, parse_with, vars};
use crate::config::{
    AgentConfig, AuthConfig, HealthConfig, HttpConfig, HttpKind, MemoryConfig, MemoryMode,
    OAuthConfig, OAuthGrant, ServerConfig, StdioConfig, TransportConfig, UiConfig,
};

fn http_of(server: &ServerConfig) -> &HttpConfig {
    match &server.transport {
        TransportConfig::Http(http) => http,
        other => panic!("expected http, got {other:?}"),
    }
}

#[test]
fn transport_selection() {
    let config = parse_ok(
        r#"{"mcpServers": {
            "cmd": {"command": "a"},
            "url": {"url": "http://h/mcp"},
            "claude-http": {"type": "http", "url": "http://h/mcp"},
            "claude-sse": {"type": "sse", "url": "http://h/sse"},
            "claude-streamable": {"type": "streamable-http", "url": "http://h/mcp"},
            "omni-sse": {"transport_type": "sse", "url": "http://h/sse"},
            "omni-http": {"transport_type": "streamable_http", "url": "http://h/mcp"},
            "omni-dash": {"transport_type": "streamable-http", "url": "http://h/mcp"},
            "omni-short": {"transport_type": "http", "url": "http://h/mcp"},
            "omni-stdio": {"transport_type": "STDIO", "command": "a", "url": "ignored"},
            "both": {"transport_type": "sse", "type": "stdio", "url": "http://h/sse"}
        }}"#,
    );
    let labels: Vec<(&str, &str)> = config
        .servers
        .iter()
        .map(|s| (s.name.as_str(), s.transport.kind_label()))
        .collect();
    assert_eq!(
        labels,
        [
            ("cmd", "stdio"),
            ("url", "http?"),
            ("claude-http", "http"),
            ("claude-sse", "sse"),
            ("claude-streamable", "http"),
            ("omni-sse", "sse"),
            ("omni-http", "http"),
            ("omni-dash", "http"),
            ("omni-short", "http"),
            ("omni-stdio", "stdio"),
            ("both", "sse"),
        ]
    );
    assert_eq!(http_of(&config.servers[1]).kind, HttpKind::Auto);
    assert_eq!(http_of(&config.servers[2]).kind, HttpKind::StreamableHttp);
    assert_eq!(http_of(&config.servers[3]).kind, HttpKind::Sse);
}

#[test]
fn servers_keep_file_order_and_can_be_found_by_name() {
    let config =
        parse_ok(r#"{"mcpServers": {"zeta": {"command": "z"}, "alpha": {"command": "a"}}}"#);
    let names: Vec<&str> = config.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["zeta", "alpha"]);
    assert_eq!(
        config.server("alpha").map(|s| s.name.as_str()),
        Some("alpha")
    );
    assert!(config.server("beta").is_none());
}

#[test]
fn enabled_and_claude_disabled() {
    let config = parse_ok(
        r#"{"mcpServers": {
            "default": {"command": "a"},
            "off": {"command": "a", "enabled": false},
            "claude-off": {"command": "a", "disabled": true},
            "claude-on": {"command": "a", "disabled": false}
        }}"#,
    );
    let enabled: Vec<bool> = config.servers.iter().map(|s| s.enabled).collect();
    assert_eq!(enabled, [true, false, false, true]);
}

#[test]
fn stdio_server_in_full() {
    let config = parse_ok(
        r#"{"mcpServers": {"x": {"command": "npx", "args": ["-y", "pkg"], "env": {"B": "2", "A": "1"},
            "cwd": "/srv", "timeout": 1.5, "startup_timeout": 90, "log_level": "Warning"}}}"#,
    );
    let server = &config.servers[0];
    assert_eq!(
        server,
        &ServerConfig {
            name: "x".into(),
            transport: TransportConfig::Stdio(StdioConfig {
                command: "npx".into(),
                args: vec!["-y".into(), "pkg".into()],
                env: BTreeMap::from([("A".into(), "1".into()), ("B".into(), "2".into())]),
                cwd: Some("/srv".into()),
            }),
            enabled: true,
            request_timeout: Duration::from_millis(1500),
            startup_timeout: Some(Duration::from_secs(90)),
            health: HealthConfig::default(),
            log_level: Some("warning".into()),
            // The working directory (a temporary one here): tests/roots.rs checks it.
            roots: server.roots.clone(),
        }
    );
    assert_eq!(
        server.effective_startup_timeout(&config.agent),
        Duration::from_secs(90)
    );
}

#[test]
fn defaults_when_blocks_are_absent() {
    let config = parse_ok(r#"{"mcpServers": {"h": {"url": "http://h/mcp"}}}"#);
    assert_eq!(config.agent, AgentConfig::default());
    assert_eq!(config.agent.tool_call_timeout, Duration::from_secs(30));
    assert_eq!(config.agent.max_steps, 15);
    assert_eq!(
        (config.agent.request_limit, config.agent.total_tokens_limit),
        (0, 0)
    );
    assert_eq!(
        config.agent.memory_config,
        MemoryConfig {
            mode: MemoryMode::SlidingWindow,
            value: 10_000
        }
    );
    assert_eq!(
        config.ui,
        UiConfig {
            theme: "dark".into(),
            mouse: true
        }
    );
    assert_eq!(config.llm, None);
    let server = &config.servers[0];
    assert_eq!(server.request_timeout, Duration::from_secs(30));
    assert_eq!(server.startup_timeout, None);
    assert_eq!(
        server.effective_startup_timeout(&config.agent),
        Duration::from_secs(30)
    );
    let http = http_of(server);
    assert_eq!(http.sse_read_timeout, Duration::from_secs(300));
    assert_eq!((http.headers.len(), &http.auth), (0, &None));
    assert!(parse_ok("{}").servers.is_empty());
}

#[test]
fn agent_block_partially_given() {
    let config = parse_ok(
        r#"{"AgentConfig": {"tool_call_timeout": 2.5, "memory_config": {"mode": "token_budget"}}}"#,
    );
    assert_eq!(
        config.agent,
        AgentConfig {
            tool_call_timeout: Duration::from_millis(2500),
            memory_config: MemoryConfig {
                mode: MemoryMode::TokenBudget,
                value: 10_000
            },
            ..AgentConfig::default()
        }
    );
}

#[test]
fn oauth_grants_and_their_secrets() {
    let config = parse_with(
        r#"{"mcpServers": {
            "cc": {"url": "http://h", "auth": {"method": "oauth", "grant": "client_credentials",
                   "client_id": "c", "private_key": "${KEY}", "signing_algorithm": "rs256",
                   "redirect_port": 8765}},
            "xa": {"url": "http://h", "auth": {"method": "oauth", "grant": "cross_app",
                   "client_id": "c", "client_secret": "s", "idp_issuer": "https://idp",
                   "idp_token_endpoint": "https://idp/token", "idp_client_id": "i",
                   "id_token": "${ID_TOKEN}"}}
        }}"#,
        &vars(&[
            ("KEY", "-----BEGIN PRIVATE KEY-----"),
            ("ID_TOKEN", "eyJ.x.y"),
        ]),
    )
    .unwrap();
    let Some(AuthConfig::OAuth(cc)) = http_of(&config.servers[0]).auth.clone() else {
        panic!("expected OAuth")
    };
    assert_eq!(cc.grant, OAuthGrant::ClientCredentials);
    assert_eq!(
        cc.private_key.as_deref(),
        Some("-----BEGIN PRIVATE KEY-----")
    );
    assert_eq!(cc.signing_algorithm.as_deref(), Some("RS256"));
    assert_eq!(cc.redirect_port, Some(8765));
    let Some(AuthConfig::OAuth(xa)) = http_of(&config.servers[1]).auth.clone() else {
        panic!("expected OAuth")
    };
    assert_eq!(xa.grant, OAuthGrant::CrossApp);
    let cross = xa.cross_app.clone().expect("the identity provider");
    assert_eq!(cross.id_token, "eyJ.x.y");
    assert_eq!(cross.idp_token_endpoint, "https://idp/token");
    // Debug output never shows a secret.
    let shown = format!("{cc:?} {xa:?}");
    for secret in ["BEGIN PRIVATE KEY", "eyJ.x.y", "\"s\""] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[test]
fn auth_variants() {
    let config = parse_ok(
        r#"{"mcpServers": {
            "o": {"url": "http://h", "auth": {"method": "oauth"}},
            "s": {"url": "http://h", "auth": {"method": "OAuth", "client_id": "cid", "scopes": ["a", "b"]}},
            "b": {"url": "http://h", "auth": {"method": "bearer", "token": "tok"}}
        }}"#,
    );
    let auths: Vec<Option<AuthConfig>> = config
        .servers
        .iter()
        .map(|s| http_of(s).auth.clone())
        .collect();
    assert_eq!(
        auths,
        [
            Some(AuthConfig::OAuth(Box::default())),
            Some(AuthConfig::OAuth(Box::new(OAuthConfig {
                client_id: Some("cid".into()),
                scopes: vec!["a".into(), "b".into()],
                ..OAuthConfig::default()
            }))),
            Some(AuthConfig::Bearer {
                token: "tok".into()
            }),
        ]
    );
}

#[test]
fn debug_output_never_shows_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(".env"), "API_KEY=dotenv-s3cr3t\n").expect("write .env");
    let env = vars(&[("TOKEN", "bearer-s3cr3t")]);
    let text = r#"{"mcpServers": {
        "h": {"url": "https://h/mcp", "headers": {"Authorization": "Bearer header-s3cr3t"},
              "auth": {"method": "bearer", "token": "${TOKEN}"}},
        "s": {"command": "a", "env": {"GITHUB_TOKEN": "env-s3cr3t"}}
    }}"#;
    let config = crate::config::parse(
        text,
        crate::config::ConfigSource::Bundled,
        &super::load_env(dir.path(), &env),
    )
    .expect("parses");
    let debug = format!("{config:?} {config:#?}");
    assert!(!debug.contains("s3cr3t"), "secret leaked: {debug}");
    for visible in [
        "Authorization",
        "GITHUB_TOKEN",
        "API_KEY",
        "\"<redacted>\"",
        "Bearer",
    ] {
        assert!(debug.contains(visible), "{visible} missing from {debug}");
    }
    assert_eq!(
        format!("{:?}", http_of(&config.servers[0]).auth),
        r#"Some(Bearer { token: "<redacted>" })"#
    );
    // The redaction is only in Debug: the values themselves are intact.
    assert_eq!(
        http_of(&config.servers[0]).headers["Authorization"],
        "Bearer header-s3cr3t"
    );
}

#[test]
fn debug_output_never_shows_url_credentials() {
    let config = parse_ok(
        r#"{"mcpServers": {
            "h": {"url": "https://user:url-s3cr3t@h/mcp?API%5FKey=query-s3cr3t&page=2"}
        }}"#,
    );
    let debug = format!("{config:?} {config:#?}");
    assert!(!debug.contains("s3cr3t"), "secret leaked: {debug}");
    assert!(
        debug.contains("https://***@h/mcp?API%5FKey=***&page=2"),
        "{debug}"
    );
}

#[test]
fn health_defaults_agent_overrides_and_server_overrides() {
    let config = parse_ok(
        r#"{"AgentConfig": {"ping_interval": 30, "ping_timeout": 2, "max_restarts": 3},
            "mcpServers": {
                "a": {"command": "x"},
                "b": {"command": "x", "ping_interval": 0, "max_restarts": 9},
                "c": {"command": "x", "ping_timeout": 0.5}
            }}"#,
    );
    assert_eq!(
        config.agent.health,
        HealthConfig {
            ping_interval: Some(Duration::from_secs(30)),
            ping_timeout: Duration::from_secs(2),
            max_restarts: 3,
        }
    );
    assert_eq!(config.servers[0].health, config.agent.health);
    assert_eq!(
        config.servers[1].health,
        HealthConfig {
            ping_interval: None,
            ping_timeout: Duration::from_secs(2),
            max_restarts: 9,
        }
    );
    assert_eq!(
        config.servers[2].health.ping_timeout,
        Duration::from_millis(500)
    );
    assert_eq!(
        config.servers[2].health.ping_interval,
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        parse_ok(r#"{"mcpServers": {}}"#).agent.health,
        HealthConfig::default()
    );
}

#[test]
fn bad_health_and_log_level_values_are_located() {
    assert_eq!(
        parse_err(r#"{"mcpServers": {"a": {"command": "x", "ping_timeout": 0}}}"#),
        "bad.json:1:55: mcpServers.a.ping_timeout: must be more than 0 seconds"
    );
    assert_eq!(
        parse_err(r#"{"mcpServers": {"a": {"command": "x", "log_level": "loud"}}}"#),
        "bad.json:1:52: mcpServers.a.log_level: unknown log level `loud`; expected one of debug, info, notice, warning, error, critical, alert, emergency"
    );
}

#[test]
fn approval_lists_and_price() {
    let config = parse_ok(
        r#"{"AgentConfig": {"auto_approve": ["demo__echo", "files__*"],
                            "always_ask": ["files__delete"],
                            "auto_approve_read_only": true},
            "LLM": {"provider": "openai", "model": "m",
                    "price": {"input": 0.15, "output": 0.6}}}"#,
    );
    let approval = &config.agent.approval;
    assert_eq!(approval.auto_approve, ["demo__echo", "files__*"]);
    assert_eq!(approval.always_ask, ["files__delete"]);
    assert!(approval.auto_approve_read_only);
    let price = config.llm.as_ref().and_then(|l| l.price).expect("price");
    assert_eq!((price.input, price.output), (0.15, 0.6));
    let plain = parse_ok(r#"{"LLM": {"provider": "openai", "model": "m"}}"#);
    assert_eq!(
        plain.agent.approval,
        crate::config::ApprovalConfig::default()
    );
    assert!(plain.llm.as_ref().is_some_and(|l| l.price.is_none()));
}

#[test]
fn the_memory_section_picks_where_conversations_are_kept() {
    use crate::memory::StoreKind;
    assert_eq!(
        parse_ok("{}").memory.backend,
        StoreKind::File,
        "files by default"
    );
    let config = parse_ok(
        r#"{"memory": {"backend": "redis", "redis_url": "redis://:hunter2@127.0.0.1:6379/2", "ttl_seconds": 3600}}"#,
    );
    assert_eq!(config.memory.backend, StoreKind::Redis);
    assert_eq!(config.memory.ttl_seconds, Some(3600));
    assert_eq!(
        config.memory.redis_url.as_deref(),
        Some("redis://:hunter2@127.0.0.1:6379/2")
    );
    let debug = format!("{config:?}");
    assert!(!debug.contains("hunter2"), "the password leaked: {debug}");
    assert_eq!(
        super::parse_err(r#"{"memory": {"backend": "sqlite"}}"#),
        "bad.json:1:24: memory.backend: unknown backend `sqlite`; expected `file`, `redis` or `in_memory`"
    );
    assert!(super::parse_err(r#"{"memory": {"ttl_seconds": 0}}"#).contains("memory.ttl_seconds"));
}
