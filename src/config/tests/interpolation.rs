//! `${VAR}` interpolation: lookup order, defaults, escapes, errors, `.env`.

use std::path::PathBuf;

use super::{SELF_EXE, load_env, no_vars, parse_err_with, parse_with, vars};
use crate::config::{
    AuthConfig, Config, ConfigSource, OAuthConfig, TransportConfig, interpolate::ExpandError,
    interpolate::expand, parse,
};

fn args_of(config: &Config) -> Vec<String> {
    match &config.servers[0].transport {
        TransportConfig::Stdio(stdio) => stdio.args.clone(),
        other => panic!("expected stdio, got {other:?}"),
    }
}

fn args_with(args: &str, vars: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let text = format!(r#"{{"mcpServers": {{"x": {{"command": "a", "args": {args}}}}}}}"#);
    match parse_with(&text, vars) {
        Ok(config) => args_of(&config),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn unset_variable_names_variable_path_and_position() {
    let text = r#"{
    "mcpServers": {
        "github": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-github"],
            "env": {
                "TOKEN": "${GITHUB_TOKEN}"
            }
        }
    }
}"#;
    assert_eq!(
        parse_err_with(text, &no_vars),
        "bad.json:7:26: mcpServers.github.env.TOKEN: environment variable GITHUB_TOKEN is not set"
    );
}

#[test]
fn defaults_escapes_and_literals() {
    let env = vars(&[("SET", "v"), ("EMPTY", "")]);
    assert_eq!(
        args_with(
            r#"["${A:-b}", "${SET:-b}", "${EMPTY:-b}", "${A:-}", "$${SET}", "cost: 5$$", "$HOME", "${A:-${SET}}", "x${SET}y${SET}"]"#,
            &env
        ),
        [
            "b", "v", "b", "", "${SET}", "cost: 5$", "$HOME", "v", "xvyv"
        ]
    );
}

#[test]
fn expansion_errors() {
    let lookup = |_: &str| None;
    assert_eq!(expand("${A", &lookup), Err(ExpandError::Unterminated));
    assert_eq!(
        expand("${A B}", &lookup),
        Err(ExpandError::InvalidName("A B".into()))
    );
    assert_eq!(
        expand("${}", &lookup),
        Err(ExpandError::InvalidName(String::new()))
    );
    assert_eq!(
        expand("${A:-${B}}", &lookup),
        Err(ExpandError::Unset("B".into()))
    );
    assert_eq!(
        parse_err_with(r#"{"mcpServers": {"x": {"command": "${CMD"}}}"#, &no_vars),
        "bad.json:1:34: mcpServers.x.command: unterminated `${` (missing `}`)"
    );
    assert_eq!(
        parse_err_with(r#"{"mcpServers": {"x": {"command": "${1X}"}}}"#, &no_vars),
        "bad.json:1:34: mcpServers.x.command: invalid variable name `1X` in `${...}` (use letters, digits and `_`)"
    );
}

#[test]
fn self_exe_always_wins() {
    let env = vars(&[("MCPOMNI_EXE", "/elsewhere")]);
    let text =
        r#"{"mcpServers": {"x": {"command": "${MCPOMNI_EXE}", "args": ["${MCPOMNI_EXE}"]}}}"#;
    let config = parse_with(text, &env).expect("parses");
    let TransportConfig::Stdio(stdio) = &config.servers[0].transport else {
        panic!("expected stdio");
    };
    assert_eq!(stdio.command, SELF_EXE);
    assert_eq!(stdio.args, [SELF_EXE]);
}

#[test]
fn every_string_field_is_interpolated() {
    let env = vars(&[("V", "val"), ("HOST", "h.example")]);
    let text = r#"{
  "LLM": {"provider": "${V}", "model": "m-${V}", "base_url": "https://${HOST}/v1",
          "azure_endpoint": "${V}", "azure_api_version": "${V}", "azure_deployment": "${V}", "ollama_host": "${V}"},
  "mcpServers": {
    "s": {"command": "${V}", "env": {"K": "${V}"}, "cwd": "/tmp/${V}"},
    "h": {"url": "https://${HOST}/mcp", "headers": {"X-Key": "k-${V}"}, "auth": {"method": "bearer", "token": "t-${V}"}},
    "o": {"url": "https://${HOST}/mcp", "auth": {"method": "oauth", "client_id": "c-${V}"}}
  }
}"#;
    let config = parse_with(text, &env).expect("parses");
    let llm = config.llm.as_ref().expect("LLM block");
    assert_eq!(
        (llm.provider.as_str(), llm.model.as_str()),
        ("val", "m-val")
    );
    assert_eq!(llm.base_url.as_deref(), Some("https://h.example/v1"));
    for field in [
        &llm.azure_endpoint,
        &llm.azure_api_version,
        &llm.azure_deployment,
        &llm.ollama_host,
    ] {
        assert_eq!(field.as_deref(), Some("val"));
    }
    let TransportConfig::Stdio(stdio) = &config.servers[0].transport else {
        panic!("expected stdio");
    };
    assert_eq!(stdio.command, "val");
    assert_eq!(stdio.env.get("K").map(String::as_str), Some("val"));
    assert_eq!(stdio.cwd, Some(PathBuf::from("/tmp/val")));
    let TransportConfig::Http(http) = &config.servers[1].transport else {
        panic!("expected http");
    };
    assert_eq!(http.url, "https://h.example/mcp");
    assert_eq!(http.headers.get("X-Key").map(String::as_str), Some("k-val"));
    assert_eq!(
        http.auth,
        Some(AuthConfig::Bearer {
            token: "t-val".into()
        })
    );
    let TransportConfig::Http(oauth) = &config.servers[2].transport else {
        panic!("expected http");
    };
    assert_eq!(
        oauth.auth,
        Some(AuthConfig::OAuth(OAuthConfig {
            client_id: Some("c-val".into()),
            ..OAuthConfig::default()
        }))
    );
}

#[test]
fn unset_variable_in_llm_block() {
    assert_eq!(
        parse_err_with(
            r#"{"LLM": {"provider": "openai", "model": "m", "base_url": "${BASE}"}}"#,
            &no_vars
        ),
        "bad.json:1:58: LLM.base_url: environment variable BASE is not set"
    );
}

#[test]
fn dotenv_fills_in_but_process_env_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join(".env"),
        "A=from_dotenv\n# comment\nexport B='dotenv b'\n",
    )
    .expect("write .env");
    let env = vars(&[("A", "from_process")]);
    let text = r#"{"mcpServers": {"x": {"command": "a", "args": ["${A}", "${B}"]}}}"#;
    let config = parse(text, ConfigSource::Bundled, &load_env(dir.path(), &env)).expect("parses");
    assert_eq!(args_of(&config), ["from_process", "dotenv b"]);
    assert_eq!(
        config.dotenv.iter().collect::<Vec<_>>(),
        [
            (&"A".to_string(), &"from_dotenv".to_string()),
            (&"B".to_string(), &"dotenv b".to_string())
        ]
    );
}

#[test]
fn env_var_prefers_the_process_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join(".env"),
        "PATH=dotenv-path\nMCPOMNI_TEST_ONLY_IN_DOTENV=yes\n",
    )
    .expect("write .env");
    let config =
        parse("{}", ConfigSource::Bundled, &load_env(dir.path(), &no_vars)).expect("parses");
    assert_eq!(
        config.env_var("PATH"),
        std::env::var("PATH").ok().or(Some("dotenv-path".into()))
    );
    assert_eq!(
        config.env_var("MCPOMNI_TEST_ONLY_IN_DOTENV").as_deref(),
        Some("yes")
    );
    assert_eq!(config.env_var("MCPOMNI_TEST_NOWHERE"), None);
}

#[test]
fn malformed_dotenv_names_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(".env");
    std::fs::write(&path, "A=1\nB=2\nthis is bad\n").expect("write .env");
    let err =
        parse("{}", ConfigSource::Bundled, &load_env(dir.path(), &no_vars)).expect_err("must fail");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:3:6: malformed line (expected `KEY=value`)",
            path.display()
        )
    );
    std::fs::write(&path, "A=1\nB=\"unterminated\n").expect("write .env");
    let err =
        parse("{}", ConfigSource::Bundled, &load_env(dir.path(), &no_vars)).expect_err("must fail");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2:16: malformed line (expected `KEY=value`)",
            path.display()
        )
    );
}

#[test]
fn disabled_servers_do_not_need_their_variables() {
    let text = r#"{"mcpServers": {
        "off": {"command": "npx", "env": {"TOKEN": "${NOT_SET_ANYWHERE}"}, "disabled": true},
        "on": {"command": "a", "args": ["${NOT_SET_EITHER:-fallback}"]}
    }}"#;
    let config = match parse_with(text, &no_vars) {
        Ok(config) => config,
        Err(e) => panic!("{e}"),
    };
    assert!(!config.servers[0].enabled);
    match &config.servers[0].transport {
        TransportConfig::Stdio(stdio) => assert_eq!(stdio.env["TOKEN"], ""),
        other => panic!("expected stdio, got {other:?}"),
    }
    assert_eq!(config.servers[1].name, "on");
    // An enabled server still must have its variables.
    let enabled = r#"{"mcpServers": {"on": {"command": "${NOT_SET_ANYWHERE}"}}}"#;
    assert!(parse_with(enabled, &no_vars).is_err());
}
