//! Shared helpers for the integration tests: where the binary is, configs built from JSON
//! text, the misbehaving stdio server (`black_hole.py`), and process checks.

#![allow(dead_code)]

pub mod peers;
pub mod proxy;
pub mod sse_client;
pub mod tls;
pub mod tmux;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mcpomni::config::{self, Config, ConfigSource, LoadEnv};

/// The mcpomni binary under test: `MCPOMNI_BIN` (the release build in `scripts/test`) or the
/// one cargo built for this test run.
pub fn bin() -> PathBuf {
    std::env::var_os("MCPOMNI_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_mcpomni")))
}

pub fn black_hole_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/black_hole.py")
}

/// A server entry that runs the black hole with `args`.
pub fn black_hole(args: &[&str]) -> serde_json::Value {
    let mut all = vec![black_hole_script().display().to_string()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    serde_json::json!({"command": "python3", "args": all})
}

/// Tool or prompt arguments from a JSON object literal.
pub fn args(value: serde_json::Value) -> rmcp::model::JsonObject {
    match value {
        serde_json::Value::Object(map) => map,
        other => panic!("arguments must be a JSON object, got {other}"),
    }
}

/// A server entry for the bundled demo server.
pub fn demo() -> serde_json::Value {
    serde_json::json!({"command": "${MCPOMNI_EXE}", "args": ["demo-server"]})
}

/// The demo server behind `tee`: every line sent to it is also appended to `record`, so a
/// test can wait until a request has reached the server.
pub fn demo_recorded(record: &Path) -> serde_json::Value {
    serde_json::json!({
        "command": "sh",
        "args": ["-c", "tee \"$1\" | exec \"$0\" demo-server", "${MCPOMNI_EXE}", record],
    })
}

/// Whether `record` (see [`demo_recorded`]) holds a request for `method`.
pub fn recorded(record: &Path, method: &str) -> bool {
    std::fs::read_to_string(record).is_ok_and(|text| {
        text.lines().any(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .is_ok_and(|message| message["method"] == method)
        })
    })
}

/// A config from JSON text, with `${MCPOMNI_EXE}` pointing at the binary under test.
pub fn config(json: serde_json::Value) -> Config {
    let text = serde_json::to_string_pretty(&json).expect("json");
    let cwd = std::env::temp_dir();
    let vars = |name: &str| std::env::var(name).ok();
    let env = LoadEnv {
        cwd: &cwd,
        config_home: None,
        vars: &vars,
        self_exe: bin(),
    };
    config::parse(&text, ConfigSource::File("test.json".into()), &env).expect("valid config")
}

/// Starts `config`'s servers and waits until every one has settled (Ready, Failed, …).
pub async fn start_settled(
    config: &Config,
) -> (
    mcpomni::runtime::RuntimeHandle,
    tokio::sync::mpsc::Receiver<mcpomni::runtime::messages::RuntimeEvent>,
) {
    let started = mcpomni::runtime::start(config, mcpomni::runtime::RuntimeOptions::default());
    let (handle, events) = started.expect("runtime starts");
    handle.wait_settled().await;
    (handle, events)
}

/// The snapshot of the server called `name`.
pub fn snapshot(
    snapshots: &[std::sync::Arc<mcpomni::runtime::messages::ServerSnapshot>],
    name: &str,
) -> mcpomni::runtime::messages::ServerSnapshot {
    let found = snapshots.iter().find(|s| s.name.as_str() == name);
    found.map(|s| (**s).clone()).expect("a server by that name")
}

/// Polls `check` every 10 ms (without blocking the runtime) until it returns true or `limit`
/// passes.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check()
}

/// Reads `events` until a batch of log messages from `server` has one that passes `check`
/// (log messages stream apart from snapshots), or `limit` passes.
pub async fn log_arrives(
    events: &mut tokio::sync::mpsc::Receiver<mcpomni::runtime::messages::RuntimeEvent>,
    server: &str,
    limit: Duration,
    check: impl Fn(&mcpomni::runtime::messages::LogLine) -> bool,
) -> bool {
    use mcpomni::runtime::messages::RuntimeEvent;
    let deadline = tokio::time::Instant::now() + limit;
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if let RuntimeEvent::LogLinesReceived {
            server: from,
            lines,
            ..
        } = event
            && from.as_str() == server
            && lines.iter().any(&check)
        {
            return true;
        }
    }
    false
}

/// Panics if `text`, an error a person reads, names a Rust type: a path (`a::b`) or a generic
/// (`Type<Other…>`).
pub fn assert_no_type_path(text: &str) {
    let chars: Vec<char> = text.chars().collect();
    let word = |c: char| c.is_alphanumeric() || c == '_';
    for i in 1..chars.len().saturating_sub(2) {
        let path = chars[i] == ':'
            && chars[i + 1] == ':'
            && word(chars[i - 1])
            && (chars[i + 2].is_alphabetic() || chars[i + 2] == '_');
        let generic = chars[i] == '<' && word(chars[i - 1]) && chars[i + 1].is_alphabetic();
        assert!(!path && !generic, "a Rust type in an error: {text}");
    }
}

pub fn group_alive(pid: u32) -> bool {
    mcpomni::runtime::stdio::group_alive(pid)
}

/// Starts `config`'s servers with sampling offered, waits until they settle, and starts the
/// agent on the config's `LLM` block (with a test API key): what the dashboard does at start.
/// Returns the agent's event stream (the runtime's is dropped: nothing here watches servers).
pub async fn start_agent(
    config: &Config,
) -> (
    mcpomni::runtime::RuntimeHandle,
    mcpomni::agent::AgentHandle,
    tokio::sync::mpsc::Receiver<mcpomni::protocol::AgentEvent>,
) {
    start_agent_with(config, |_| {}).await
}

/// [`start_agent`] with the agent's settings changed by `tweak` first.
#[allow(dead_code)]
pub async fn start_agent_with(
    config: &Config,
    tweak: impl FnOnce(&mut mcpomni::agent::AgentSettings),
) -> (
    mcpomni::runtime::RuntimeHandle,
    mcpomni::agent::AgentHandle,
    tokio::sync::mpsc::Receiver<mcpomni::protocol::AgentEvent>,
) {
    let llm = config.llm.as_ref().expect("the config has an LLM block");
    let provider = mcpomni::llm::build_provider(llm, &|name| {
        (name == "LLM_API_KEY").then(|| "sk-test".to_owned())
    })
    .expect("the LLM provider builds");
    let (sampling_tx, sampling_rx) = tokio::sync::mpsc::channel(4);
    let options = mcpomni::runtime::RuntimeOptions {
        sampling: Some(sampling_tx),
        ..mcpomni::runtime::RuntimeOptions::default()
    };
    let (handle, _runtime_events) =
        mcpomni::runtime::start(config, options).expect("runtime starts");
    handle.wait_settled().await;
    let mut settings = mcpomni::agent::AgentSettings::from_config(config);
    tweak(&mut settings);
    let (agent, events) = mcpomni::agent::spawn(settings, provider, handle.clone(), sampling_rx);
    (handle, agent, events)
}

/// Every file under `dir` (but not under `skip`), read as text where it is text: what a test
/// searches for a secret that must not have been written anywhere.
#[allow(dead_code)]
pub fn all_text_under(dir: &std::path::Path, skip: Option<&std::path::Path>) -> String {
    let mut out = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if skip.is_some_and(|skip| path.starts_with(skip)) {
            continue;
        }
        if path.is_dir() {
            out.push_str(&all_text_under(&path, skip));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    out
}
