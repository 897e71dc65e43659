//! Every file shipped in the crate's `config/` directory must parse.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{SELF_EXE, load_env, vars};
use crate::config::{
    AuthConfig, BUNDLED_CONFIG, Config, ConfigSource, MemoryMode, TransportConfig, load,
};

/// `config/` beside `src/`. `file!()` is relative to the directory cargo ran
/// rustc from (the package or the workspace root), or absolute when the module
/// is included by `#[path]`; try the manifest dir and its ancestors.
fn config_dir() -> PathBuf {
    let this_file = Path::new(file!());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = manifest
        .ancestors()
        .map(|base| base.join(this_file))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "cannot find {} from {}",
                this_file.display(),
                manifest.display()
            )
        });
    // src/config/tests/examples.rs -> crate root
    let root = source.ancestors().nth(4).expect("crate root");
    root.join("config")
}

fn load_example(name: &str) -> Config {
    let cwd = tempfile::tempdir().expect("tempdir");
    let env = vars(&[("MCP_TOKEN", "t0k"), ("GITHUB_TOKEN", "gh")]);
    let path = config_dir().join(name);
    match load(Some(&path), &load_env(cwd.path(), &env)) {
        Ok(config) => config,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn every_shipped_file_parses() {
    let mut names: Vec<String> = std::fs::read_dir(config_dir())
        .expect("config dir")
        .map(|entry| {
            entry
                .expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    // Guards against the directory lookup silently finding nothing; new
    // files are welcome and get parsed below too.
    for required in [
        "example.claude_desktop.json",
        "example.full.json",
        "example.oauth.json",
        "example.sse.json",
        "example.stdio.json",
        "example.streamable_http.json",
        "servers_config.json",
    ] {
        assert!(
            names.iter().any(|n| n == required),
            "{required} missing: {names:?}"
        );
    }
    for name in &names {
        let config = load_example(name);
        assert!(!config.servers.is_empty(), "{name} has no servers");
        assert_eq!(config.source, ConfigSource::File(config_dir().join(name)));
    }
}

#[test]
fn bundled_config_is_the_shipped_default() {
    let shipped = std::fs::read_to_string(config_dir().join("servers_config.json")).expect("read");
    assert_eq!(BUNDLED_CONFIG, shipped);
    let config = load_example("servers_config.json");
    assert_eq!(config.agent, crate::config::AgentConfig::default());
    assert_eq!(config.llm, None);
}

#[test]
fn full_example_values() {
    let config = load_example("example.full.json");
    assert_eq!(
        config.agent.tool_call_timeout,
        Duration::from_millis(45_500)
    );
    assert_eq!(config.agent.memory_config.mode, MemoryMode::TokenBudget);
    let llm = config.llm.as_ref().expect("LLM block");
    assert_eq!(
        (llm.provider.as_str(), llm.model.as_str()),
        ("openai", "gpt-4o-mini")
    );
    assert_eq!(llm.base_url.as_deref(), Some("https://api.openai.com/v1"));
    assert_eq!(
        (llm.max_tokens, llm.max_context_length),
        (Some(5000), Some(30000))
    );
    assert_eq!(
        (config.ui.theme.as_str(), config.ui.mouse),
        ("light", false)
    );
    let labels: Vec<(&str, &str, bool)> = config
        .servers
        .iter()
        .map(|s| (s.name.as_str(), s.transport.kind_label(), s.enabled))
        .collect();
    assert_eq!(
        labels,
        [
            ("demo", "stdio", true),
            ("notes", "http", true),
            ("events", "sse", true),
            ("guess", "http?", true),
            ("off", "stdio", false),
        ]
    );
    let TransportConfig::Stdio(demo) = &config.servers[0].transport else {
        panic!("expected stdio");
    };
    assert_eq!(demo.command, SELF_EXE);
    let TransportConfig::Http(notes) = &config.servers[1].transport else {
        panic!("expected http");
    };
    assert_eq!(
        notes.auth,
        Some(AuthConfig::Bearer {
            token: "t0k".into()
        })
    );
}

#[test]
fn claude_desktop_example_values() {
    let config = load_example("example.claude_desktop.json");
    let labels: Vec<(&str, &str, bool)> = config
        .servers
        .iter()
        .map(|s| (s.name.as_str(), s.transport.kind_label(), s.enabled))
        .collect();
    assert_eq!(
        labels,
        [
            ("filesystem", "stdio", true),
            ("github", "stdio", true),
            ("remote", "http", true),
            ("legacy", "sse", false),
        ]
    );
    let TransportConfig::Stdio(github) = &config.servers[1].transport else {
        panic!("expected stdio");
    };
    assert_eq!(github.env["GITHUB_PERSONAL_ACCESS_TOKEN"], "gh");
}

#[test]
fn http_examples_expand_the_token() {
    for name in ["example.sse.json", "example.streamable_http.json"] {
        let config = load_example(name);
        let TransportConfig::Http(http) = &config.servers[0].transport else {
            panic!("expected http in {name}");
        };
        assert_eq!(http.headers["Authorization"], "Bearer t0k", "{name}");
    }
}
