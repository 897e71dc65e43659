//! Elicitation and roots against real peers: the official `server-everything` (Node) and our
//! Python `mcp` server, over stdio. Declaring both capabilities makes everything offer its
//! extra tools; headless commands decline (or accept with the defaults) and say so on stderr;
//! URLs other than http(s) are refused naming the server; the dashboard's path parks a request
//! until it is answered and closes it when the server withdraws it; roots are sent as
//! configured (a missing one reported, not sent) and a runtime change reaches the server.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use mcpomni::runtime::content::blocks_text;
use mcpomni::runtime::elicitation::{Answer, Asked, Policy};
use mcpomni::runtime::messages::{RuntimeEvent, ServerState};
use mcpomni::runtime::{self, RuntimeHandle, RuntimeOptions};
use serde_json::{Value, json};
use support::args;
use support::peers;
use tokio::sync::mpsc;

fn write_config(dir: &Path, servers: Value) -> std::path::PathBuf {
    let path = dir.join("servers_config.json");
    let text = serde_json::to_string_pretty(&json!({
        "AgentConfig": {"startup_timeout": 30, "tool_call_timeout": 30},
        "mcpServers": servers
    }))
    .expect("json");
    std::fs::write(&path, text).expect("write config");
    path
}

/// Runs the binary in `dir` with `args` after `--config CONFIG`.
fn run(dir: &Path, config: &Path, args: &[&str]) -> Output {
    Command::new(support::bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
        .env("XDG_STATE_HOME", dir.join("xdg-state"))
        .env("XDG_DATA_HOME", dir.join("xdg-data"))
        .env("HOME", dir)
        .output()
        .expect("binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn start(servers: Value, policy: Policy) -> (RuntimeHandle, mpsc::Receiver<RuntimeEvent>) {
    mcpomni::install_crypto_provider();
    let config = support::config(json!({
        "AgentConfig": {"startup_timeout": 30, "tool_call_timeout": 30},
        "mcpServers": servers
    }));
    let options = RuntimeOptions {
        elicitation: policy,
        ..RuntimeOptions::default()
    };
    let started = runtime::start(&config, options).expect("start");
    let snapshot = support::snapshot(&started.0.wait_settled().await, "s");
    assert_eq!(snapshot.state, ServerState::Ready, "{snapshot:?}");
    started
}

async fn has_tool(handle: &RuntimeHandle, tool: &str) -> bool {
    support::eventually(Duration::from_secs(10), || {
        handle.catalog().resolve_tool("s", tool).is_some()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declaring_elicitation_and_roots_makes_everything_offer_its_extra_tools() {
    let (handle, _events) = start(
        json!({"s": peers::everything_stdio_entry()}),
        Policy::Decline,
    )
    .await;
    for tool in [
        "trigger-elicitation-request",
        "trigger-url-elicitation",
        "get-roots-list",
    ] {
        assert!(has_tool(&handle, tool).await, "{tool} is offered");
    }
    handle.shutdown().await;
}

#[test]
fn a_headless_call_declines_by_default_and_says_what_was_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        json!({"everything": peers::everything_stdio_entry()}),
    );
    let out = run(
        dir.path(),
        &config,
        &["call", "everything", "trigger-elicitation-request"],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("\"action\": \"decline\""), "{stdout}");
    assert!(
        stderr.contains(
            "server `everything` asked: \"Please provide inputs for the following fields:\""
        ),
        "{stderr}"
    );
    assert!(stderr.contains("name*, check, firstLine"), "{stderr}");
    assert!(stderr.contains("declined (the default;"), "{stderr}");
}

#[test]
fn accept_defaults_sends_every_default_and_declines_a_form_that_lacks_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), json!({"py": peers::py_stdio_entry()}));
    let out = run(
        dir.path(),
        &config,
        &["call", "py", "ask_tea", "--elicit", "accept-defaults"],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // The Python server validated the answer against its model and reports what arrived.
    assert_eq!(
        text(&out.stdout).trim(),
        "accepted: name=Ada cups=2 milk=True"
    );
    assert!(
        stderr.contains("accepted with the schema's defaults (name, cups, milk)"),
        "{stderr}"
    );

    let out = run(
        dir.path(),
        &config,
        &["call", "py", "sign_up", "--elicit", "accept-defaults"],
    );
    let stderr = text(&out.stderr);
    assert_eq!(text(&out.stdout).trim(), "decline");
    assert!(
        stderr.contains("declined: required fields have no default (`email`, `password`)"),
        "{stderr}"
    );
}

#[test]
fn urls_other_than_http_are_refused_naming_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        json!({"everything": peers::everything_stdio_entry()}),
    );
    let out = run(
        dir.path(),
        &config,
        &[
            "call",
            "everything",
            "trigger-url-elicitation",
            r#"{"url": "javascript:alert(1)"}"#,
            "--elicit",
            "accept-defaults",
        ],
    );
    let stderr = text(&out.stderr);
    assert!(
        text(&out.stdout).contains("declined"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        stderr.contains(
            "server `everything` asked to open a `javascript:` URL; mcpomni opens only http and https pages: declined"
        ),
        "{stderr}"
    );
}

#[test]
fn configured_roots_reach_the_server_and_a_missing_one_is_reported_not_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("project");
    std::fs::create_dir(&project).expect("mkdir");
    let mut entry = peers::everything_stdio_entry();
    entry["roots"] = json!(["project", "missing-dir"]);
    let config = write_config(dir.path(), json!({"everything": entry}));
    let out = run(
        dir.path(),
        &config,
        &["call", "everything", "get-roots-list"],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("Current MCP Roots (1 total)"), "{stdout}");
    assert!(stdout.contains("1. project"), "{stdout}");
    let uri = url::Url::from_directory_path(&project).expect("uri");
    assert!(
        stdout.contains(uri.as_str().trim_end_matches('/')),
        "{stdout}"
    );
    assert!(!stdout.contains("missing-dir"), "{stdout}");
    assert!(
        stderr.contains("server `everything`: root ")
            && stderr.contains("missing-dir does not exist: not sent to the server"),
        "{stderr}"
    );
}

fn roots_text(result: &rmcp::model::CallToolResult) -> String {
    blocks_text(&result.content)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_added_at_runtime_reaches_the_server_through_list_changed() {
    let first = tempfile::tempdir().expect("tempdir");
    let second = tempfile::tempdir().expect("tempdir");
    let mut entry = peers::everything_stdio_entry();
    entry["roots"] = json!([first.path()]);
    let (handle, _events) = start(json!({"s": entry}), Policy::Decline).await;
    assert!(has_tool(&handle, "get-roots-list").await);
    let listed = handle
        .call_tool("s", "get-roots-list", args(json!({})), None)
        .await
        .expect("roots");
    assert!(
        roots_text(&listed).contains("(1 total)"),
        "{}",
        roots_text(&listed)
    );

    let changed = handle.change_root(second.path(), true).await;
    assert_eq!(changed.len(), 1);
    let name = second
        .path()
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    // The server asks again after roots/list_changed, on its own time.
    let mut seen = String::new();
    for _ in 0..100 {
        let listed = handle
            .call_tool("s", "get-roots-list", args(json!({})), None)
            .await
            .expect("roots");
        seen = roots_text(&listed);
        if seen.contains("(2 total)") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen.contains("(2 total)") && seen.contains(&name), "{seen}");

    handle.change_root(first.path(), false).await;
    handle.shutdown().await;
}

/// The dashboard's path: the request arrives as an event, waits, and the user's answer is
/// what the server gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_request_gets_the_users_answer() {
    let (handle, mut events) = start(json!({"s": peers::py_stdio_entry()}), Policy::Ask).await;
    let call = tokio::spawn({
        let handle = handle.clone();
        async move {
            handle
                .call_tool("s", "ask_tea", args(json!({})), None)
                .await
        }
    });
    let request = loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
            Ok(Some(RuntimeEvent::ElicitationRequested(request))) => break request,
            Ok(Some(_)) => {}
            other => panic!("no request: {other:?}"),
        }
    };
    assert_eq!(request.message, "How do you take your tea?");
    let Asked::Form(form) = &request.asked else {
        panic!("a form");
    };
    let mut values = form.initial_values();
    values[1] = mcpomni::runtime::elicitation::FieldValue::Text("5".into());
    let content = form.validate(&values).expect("valid");
    assert!(handle.answer_elicitation(request.id, Answer::Accept(content)));
    let result = call.await.expect("join").expect("call");
    assert_eq!(
        blocks_text(&result.content),
        "accepted: name=Ada cups=5 milk=True"
    );
    handle.shutdown().await;
}

/// A request whose session ends (the server restarted) no longer waits: its form closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawn_request_closes() {
    let (handle, mut events) =
        start(json!({"s": peers::everything_stdio_entry()}), Policy::Ask).await;
    assert!(has_tool(&handle, "trigger-elicitation-request").await);
    let cancel = tokio_util::sync::CancellationToken::new();
    let call = tokio::spawn({
        let handle = handle.clone();
        let cancel = cancel.clone();
        async move {
            handle
                .call_tool(
                    "s",
                    "trigger-elicitation-request",
                    args(json!({})),
                    Some(cancel),
                )
                .await
        }
    });
    let id = loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
            Ok(Some(RuntimeEvent::ElicitationRequested(request))) => break request.id,
            Ok(Some(_)) => {}
            other => panic!("no request: {other:?}"),
        }
    };
    handle.restart("s").await.expect("restart");
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
            Ok(Some(RuntimeEvent::ElicitationClosed { id: closed, .. })) => break closed,
            Ok(Some(_)) => {}
            other => panic!("the request was not closed: {other:?}"),
        }
    };
    assert_eq!(closed, id);
    assert!(
        !handle.answer_elicitation(id, Answer::Decline),
        "nobody waits"
    );
    cancel.cancel();
    let _ = call.await;
    handle.shutdown().await;
}
