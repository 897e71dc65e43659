//! Servers that cannot start or misbehave get a one-line reason (and their stderr) while the
//! other servers keep working; servers get only an allow-listed environment; shutdown stops
//! even a server that ignores stdin closing and SIGTERM.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mcpomni::runtime::messages::ServerState;
use mcpomni::runtime::{self, RuntimeOptions};
use serde_json::json;

#[tokio::test]
async fn startup_failures_are_reported_per_server() {
    let config = support::config(json!({
        "AgentConfig": {"startup_timeout": 5},
        "mcpServers": {
            "missing": {"command": "definitely-not-a-command-xyz"},
            "crasher": {"command": "sh", "args": ["-c", "echo 'fatal: no config' >&2; exit 3"]},
            "silent": {
                "command": "sh",
                "args": ["-c", "echo 'waiting for the database' >&2; exec sleep 30"],
                "startup_timeout": 1
            },
            "killed": {"command": "sh", "args": ["-c", "kill -9 $$$$"]},
            "badpath": {"command": "/nonexistent/bin/server"},
            "badcwd": {"command": "sh", "cwd": "/nonexistent/dir"},
            "off": {"command": "sh", "disabled": true},
            "demo": support::demo(),
        }
    }));
    let (handle, _events) = support::start_settled(&config).await;
    let snapshots = handle.snapshots();
    let missing = support::snapshot(&snapshots, "missing");
    assert_eq!(missing.state, ServerState::Failed);
    assert_eq!(
        missing.last_error.as_deref(),
        Some("command `definitely-not-a-command-xyz` was not found on PATH")
    );
    let crasher = support::snapshot(&snapshots, "crasher");
    assert_eq!(crasher.state, ServerState::Failed);
    let reason = crasher.last_error.as_deref().unwrap_or_default();
    assert!(
        reason.starts_with("the process exited with status 3"),
        "{reason}"
    );
    assert!(
        reason.ends_with("; stderr: fatal: no config"),
        "the reason quotes what the server said: {reason}"
    );
    assert_eq!(handle.stderr_tail("crasher", 20), ["fatal: no config"]);
    let silent = support::snapshot(&snapshots, "silent");
    assert_eq!(silent.state, ServerState::Failed);
    assert_eq!(
        silent.last_error.as_deref(),
        Some("no answer to initialize within 1s; stderr: waiting for the database")
    );
    let killed = support::snapshot(&snapshots, "killed");
    assert!(
        killed
            .last_error
            .as_deref()
            .is_some_and(|r| r.starts_with("the process was killed by signal 9 (SIGKILL)")),
        "{killed:?}"
    );
    assert_eq!(
        support::snapshot(&snapshots, "badpath")
            .last_error
            .as_deref(),
        Some("command `/nonexistent/bin/server` does not exist")
    );
    assert_eq!(
        support::snapshot(&snapshots, "badcwd")
            .last_error
            .as_deref(),
        Some("working directory `/nonexistent/dir` does not exist")
    );
    let off = support::snapshot(&snapshots, "off");
    assert_eq!(off.state, ServerState::Stopped);
    assert_eq!(off.last_error.as_deref(), Some("disabled in the config"));
    assert_eq!(
        support::snapshot(&snapshots, "demo").state,
        ServerState::Ready
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn a_server_that_prints_to_stdout_instead_of_answering_is_quoted() {
    let mut chatty = support::black_hole(&["--stdout", "Starting server..."]);
    // Long enough for Python to start and print on a loaded machine.
    chatty["startup_timeout"] = json!(3);
    // A banner, then JSON that is not an answer, then death.
    let dead = json!({
        "command": "sh",
        "args": ["-c", "echo 'Listening on stdio'; echo '{\"jsonrpc\": \"2.0\"}'; exit 4"]
    });
    let config = support::config(json!({"mcpServers": {"chatty": chatty, "dead": dead}}));
    let (handle, _events) = support::start_settled(&config).await;
    let snapshots = handle.snapshots();
    let chatty = support::snapshot(&snapshots, "chatty");
    assert_eq!(chatty.state, ServerState::Failed);
    assert_eq!(
        chatty.last_error.as_deref(),
        Some("no answer to initialize within 3s; stdout (not JSON-RPC): \"Starting server...\"")
    );
    let dead = support::snapshot(&snapshots, "dead");
    let reason = dead.last_error.as_deref().unwrap_or_default();
    assert!(
        reason.starts_with("the process exited with status 4")
            && reason.ends_with("; stdout (not JSON-RPC): \"Listening on stdio\""),
        "{reason}"
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn servers_get_only_allow_listed_environment_plus_their_own() {
    let config = support::config(json!({
        // Long enough for Python to start and print on a loaded machine.
        "AgentConfig": {"startup_timeout": 3},
        "mcpServers": {
            "envy": {
                "command": "python3",
                "args": [
                    support::black_hole_script().display().to_string(),
                    "--env", "LLM_API_KEY,OPENAI_API_KEY,SERVER_TOKEN,HOME",
                ],
                "env": {"SERVER_TOKEN": "given-by-config"}
            }
        }
    }));
    let parent: runtime::ParentEnv = Arc::new(|name: &str| match name {
        "LLM_API_KEY" => Some("sk-secret-llm".to_owned()),
        "OPENAI_API_KEY" => Some("sk-secret-openai".to_owned()),
        "HOME" => Some("/home/tester".to_owned()),
        other => std::env::var(other).ok(),
    });
    let options = RuntimeOptions {
        parent_env: parent,
        ..RuntimeOptions::default()
    };
    let (handle, _events) = runtime::start(&config, options).expect("start");
    let snapshots = handle.wait_settled().await;
    assert_eq!(
        handle.stderr_tail(snapshots[0].name.as_str(), 20),
        [
            "LLM_API_KEY=<unset>",
            "OPENAI_API_KEY=<unset>",
            // The configured value arrived; as a configured secret it is shown as `***`.
            "SERVER_TOKEN=***",
            "HOME=/home/tester",
        ]
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn shutdown_kills_a_server_that_ignores_eof_and_sigterm() {
    let config = support::config(json!({
        "mcpServers": {
            "stubborn": support::black_hole(&[
                "--answer", "initialize,tools/list,resources/list,prompts/list",
                "--stubborn",
            ]),
            "demo": support::demo(),
        }
    }));
    let (handle, _events) = support::start_settled(&config).await;
    let snapshots = handle.snapshots();
    assert!(
        snapshots.iter().all(|s| s.state == ServerState::Ready),
        "{snapshots:?}"
    );
    let pids: Vec<u32> = snapshots.iter().filter_map(|s| s.pid).collect();
    assert_eq!(pids.len(), 2);
    let started = Instant::now();
    handle.shutdown().await;
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "shutdown took {took:?}");
    for pid in pids {
        assert!(!support::group_alive(pid), "process group {pid} is gone");
    }
    let states: Vec<_> = handle.snapshots().iter().map(|s| s.state).collect();
    assert_eq!(states, [ServerState::Stopped, ServerState::Stopped]);
}

#[tokio::test]
async fn a_server_dying_later_is_seen_at_once() {
    let config = support::config(json!({"mcpServers": {"demo": support::demo()}}));
    let (handle, _events) = support::start_settled(&config).await;
    let snapshots = handle.snapshots();
    let pid = snapshots[0].pid.expect("pid");
    let killed_at = Instant::now();
    mcpomni::runtime::stdio::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
    let seen = support::eventually(Duration::from_secs(2), || {
        handle.snapshots()[0].state == ServerState::Reconnecting
    })
    .await;
    assert!(seen, "the death was noticed");
    assert!(killed_at.elapsed() < Duration::from_millis(500));
    let snapshot = handle.snapshots()[0].clone();
    assert_eq!(
        snapshot.last_error.as_deref(),
        Some("the process was killed by signal 9 (SIGKILL)")
    );
    assert_eq!(snapshot.tool_count, 0);
    assert!(snapshot.retry_at.is_some(), "a reconnect is scheduled");
    assert!(
        handle.catalog().tools.is_empty(),
        "its tools leave the catalog"
    );
    handle.shutdown().await;
}
