//! Interop with real MCP servers we did not write: the official `server-everything` (Node) and
//! a small Python `mcp` 2.3 server of ours, over stdio, legacy SSE and streamable HTTP, pinned
//! in `tests/peers/` (set up by `scripts/peers-setup`). Also: the streamable-HTTP-then-SSE
//! fallback, recovery when an HTTP server restarts mid-session, and a 20 MB result.

mod support;

use std::time::{Duration, Instant};

use mcpomni::runtime::content::{blocks_text, resource_text};
use mcpomni::runtime::messages::{RuntimeEvent, ServerState, TransportKind};
use mcpomni::runtime::server::CallOptions;
use mcpomni::runtime::{self, RuntimeHandle, RuntimeOptions};
use serde_json::{Value, json};
use support::args;
use support::peers::{self, PeerProcess};

const DOC: &str = "demo://resource/static/document/architecture.md";

async fn start(servers: Value) -> (RuntimeHandle, tokio::sync::mpsc::Receiver<RuntimeEvent>) {
    mcpomni::install_crypto_provider();
    let config = support::config(json!({
        "AgentConfig": {"startup_timeout": 30, "tool_call_timeout": 30},
        "mcpServers": servers
    }));
    runtime::start(&config, RuntimeOptions::default()).expect("start")
}

fn http_entry(url: &str, transport: Option<&str>) -> Value {
    match transport {
        Some(kind) => json!({"transport_type": kind, "url": url}),
        None => json!({"url": url}),
    }
}

/// Everything that server-everything offers, checked through the runtime.
async fn exercise_everything(
    handle: &RuntimeHandle,
    events: &mut tokio::sync::mpsc::Receiver<RuntimeEvent>,
    name: &str,
    expect_list_changed: bool,
) {
    let snapshot = support::snapshot(&handle.wait_settled().await, name);
    assert_eq!(snapshot.state, ServerState::Ready, "{snapshot:?}");
    assert_eq!(snapshot.protocol_version.as_deref(), Some("2025-11-25"));
    assert_eq!(
        snapshot.identity.as_ref().map(|i| i.name.as_str()),
        Some("mcp-servers/everything")
    );

    let echo = handle
        .call_tool(
            name,
            "echo",
            args(json!({"message": "hello everything"})),
            None,
        )
        .await
        .expect("echo");
    assert_eq!(blocks_text(&echo.content), "Echo: hello everything");

    let doc = handle.read_resource(name, DOC).await.expect("read");
    assert!(resource_text(&doc.contents[0]).contains("Architecture"));

    let prompt = handle
        .get_prompt(name, "args-prompt", args(json!({"city": "Lagos"})))
        .await
        .expect("prompt");
    assert!(mcpomni::runtime::content::block_text(&prompt.messages[0].content).contains("Lagos"));

    // Progress: three steps over one second.
    let (tx, mut progress) = tokio::sync::mpsc::unbounded_channel();
    let result = handle
        .call_tool_with(
            name,
            "trigger-long-running-operation",
            args(json!({"duration": 1, "steps": 3})),
            CallOptions {
                cancel: None,
                progress: Some(tx),
            },
        )
        .await
        .expect("long running operation");
    assert!(
        blocks_text(&result.content).contains("completed"),
        "{result:?}"
    );
    let mut values = Vec::new();
    while let Ok(update) = progress.try_recv() {
        values.push(update.progress);
    }
    // rmcp handles each notification on its own task: the last progress can lose the race
    // with the result, and progress after the result is dropped by design.
    values.sort_by(f64::total_cmp);
    values.dedup();
    assert!(
        !values.is_empty() && values.iter().all(|v| [1.0, 2.0, 3.0].contains(v)),
        "progress notifications: {values:?}"
    );

    // Logging after setLevel.
    handle.set_log_level(name, "debug").await.expect("setLevel");
    handle
        .call_tool(name, "toggle-simulated-logging", args(json!({})), None)
        .await
        .expect("toggle logging");
    assert!(
        support::log_arrives(events, name, Duration::from_secs(8), |_| true).await,
        "a log message arrived"
    );

    // Subscription updates.
    let mut updates = handle.resource_updates();
    handle.subscribe(name, DOC).await.expect("subscribe");
    handle
        .call_tool(name, "toggle-subscriber-updates", args(json!({})), None)
        .await
        .expect("toggle updates");
    let (server, uri) = tokio::time::timeout(Duration::from_secs(8), updates.recv())
        .await
        .expect("an update within 8 s")
        .expect("update");
    assert_eq!((server.as_str(), uri.as_str()), (name, DOC));

    if expect_list_changed {
        // Declaring `roots` makes everything register get-roots-list after initialize and
        // announce it with tools/list_changed; the catalog must pick it up.
        assert!(
            support::eventually(Duration::from_secs(5), || {
                handle
                    .catalog()
                    .resolve_tool(name, "get-roots-list")
                    .is_some()
            })
            .await,
            "tools/list_changed was followed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_over_stdio() {
    let (handle, mut events) = start(json!({"everything": peers::everything_stdio_entry()})).await;
    exercise_everything(&handle, &mut events, "everything", true).await;
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_over_legacy_sse() {
    let server = PeerProcess::everything_sse().await;
    let (handle, mut events) =
        start(json!({"everything": http_entry(&server.url(), Some("sse"))})).await;
    exercise_everything(&handle, &mut events, "everything", true).await;
    assert_eq!(handle.snapshots()[0].transport, TransportKind::Sse);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_over_streamable_http() {
    let server = PeerProcess::everything_http().await;
    let (handle, mut events) = start(json!({
        "everything": http_entry(&server.url(), Some("streamable_http"))
    }))
    .await;
    // list_changed is sent before the GET stream exists over streamable HTTP: not asserted.
    exercise_everything(&handle, &mut events, "everything", false).await;
    assert_eq!(
        handle.snapshots()[0].transport,
        TransportKind::StreamableHttp
    );
    assert!(handle.http_client_built());
    handle.shutdown().await;
}

/// Our Python server: tools, progress, logging, a big result and a runtime-added tool.
async fn exercise_python(
    handle: &RuntimeHandle,
    events: &mut tokio::sync::mpsc::Receiver<RuntimeEvent>,
    name: &str,
    expected_transport: &str,
) {
    let snapshot = handle.wait_settled().await[0].clone();
    assert_eq!(snapshot.state, ServerState::Ready, "{snapshot:?}");
    assert_eq!(snapshot.transport.label(), expected_transport);
    assert_eq!(
        snapshot.identity.as_ref().map(|i| i.name.as_str()),
        Some("mcpomni-py-peer")
    );
    let echo = handle
        .call_tool(name, "echo", args(json!({"message": "hi py"})), None)
        .await
        .expect("echo");
    assert_eq!(blocks_text(&echo.content), "hi py");
    let sum = handle
        .call_tool(name, "add", args(json!({"a": 2, "b": 40})), None)
        .await
        .expect("add");
    assert!(blocks_text(&sum.content).starts_with("42"), "{sum:?}");
    let (tx, mut progress) = tokio::sync::mpsc::unbounded_channel();
    handle
        .call_tool_with(
            name,
            "count",
            args(json!({"steps": 3})),
            CallOptions {
                cancel: None,
                progress: Some(tx),
            },
        )
        .await
        .expect("count");
    let mut got = Vec::new();
    while let Ok(update) = progress.try_recv() {
        got.push(update.progress);
    }
    got.sort_by(f64::total_cmp);
    got.dedup();
    assert!(
        !got.is_empty() && got.iter().all(|v| [1.0, 2.0, 3.0].contains(v)),
        "progress: {got:?}"
    );
    handle
        .call_tool(
            name,
            "log",
            args(json!({"message": "from python", "level": "warning"})),
            None,
        )
        .await
        .expect("log");
    assert!(
        support::log_arrives(events, name, Duration::from_secs(5), |l| l
            .text
            .contains("from python")
            && l.level == mcpomni::runtime::messages::LogLevel::Warning)
        .await,
        "the log message arrived"
    );
    let greeting = handle
        .read_resource(name, "py://greeting")
        .await
        .expect("read");
    assert!(!resource_text(&greeting.contents[0]).is_empty());
    let big = handle
        .call_tool(name, "big", args(json!({"bytes": 2_000_000})), None)
        .await
        .expect("big");
    assert_eq!(blocks_text(&big.content).len(), 2_000_000);
    handle
        .call_tool(name, "add_tool", args(json!({"name": "late_tool"})), None)
        .await
        .expect("add_tool");
    assert!(
        support::eventually(Duration::from_secs(5), || handle
            .catalog()
            .resolve_tool(name, "late_tool")
            .is_some())
        .await,
        "tools/list_changed was followed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_server_over_stdio() {
    let (handle, mut events) = start(json!({"py": peers::py_stdio_entry()})).await;
    exercise_python(&handle, &mut events, "py", "stdio").await;
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_server_over_legacy_sse() {
    let server = PeerProcess::py_sse().await;
    let (handle, mut events) = start(json!({"py": http_entry(&server.url(), Some("sse"))})).await;
    exercise_python(&handle, &mut events, "py", "sse").await;
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_server_over_streamable_http() {
    let server = PeerProcess::py_http().await;
    let (handle, mut events) = start(json!({"py": http_entry(&server.url(), None)})).await;
    exercise_python(&handle, &mut events, "py", "http").await;
    handle.shutdown().await;
}

/// A server without sessions gets no `GET` stream from rmcp: it is Ready at once, not after
/// the wait for a stream that will never open (2 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_server_is_ready_without_waiting_for_a_get_stream() {
    let server = PeerProcess::py_stateless_http().await;
    let (handle, _events) =
        start(json!({"py": http_entry(&server.url(), Some("streamable_http"))})).await;
    let snapshots = handle.wait_settled().await;
    let py = &snapshots[0];
    assert_eq!(py.state, ServerState::Ready, "{py:?}");
    let startup = py.startup_time.expect("a start time");
    assert!(
        startup < std::time::Duration::from_millis(1900),
        "initialize and listing took {startup:?}: the start waited for a GET stream"
    );
    let echo = handle
        .call_tool("py", "echo", args(json!({"message": "stateless"})), None)
        .await
        .expect("echo");
    assert_eq!(blocks_text(&echo.content), "stateless");
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_without_transport_falls_back_to_sse() {
    let everything = PeerProcess::everything_sse().await;
    let python = PeerProcess::py_sse().await;
    let (handle, _events) = start(json!({
        "everything": http_entry(&everything.url(), None),
        "py": http_entry(&python.url(), None),
    }))
    .await;
    let snapshots = handle.wait_settled().await;
    for s in snapshots.iter() {
        assert_eq!(s.state, ServerState::Ready, "{s:?}");
        assert_eq!(s.transport, TransportKind::SseFallback, "{}", s.name);
    }
    let echo = handle
        .call_tool("py", "echo", args(json!({"message": "via fallback"})), None)
        .await
        .expect("echo");
    assert_eq!(blocks_text(&echo.content), "via fallback");
    handle.shutdown().await;
}

/// An HTTP server restarted mid-session: no call hangs, and the server is usable again.
async fn survives_restart(mut server: PeerProcess, transport: &str) {
    let (handle, _events) = start(json!({
        "py": {"transport_type": transport, "url": server.url(), "timeout": 5, "ping_interval": 1, "ping_timeout": 1}
    }))
    .await;
    assert_eq!(handle.wait_settled().await[0].state, ServerState::Ready);
    server.restart().await;
    // Every call during and after the restart finishes (ok or error) within its deadline.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let started = Instant::now();
        let outcome = tokio::time::timeout(
            Duration::from_secs(12),
            handle.call_tool(
                "py",
                "echo",
                args(json!({"message": "after restart"})),
                None,
            ),
        )
        .await
        .expect("no call hangs");
        assert!(started.elapsed() < Duration::from_secs(12));
        if let Ok(result) = outcome {
            assert_eq!(blocks_text(&result.content), "after restart");
            break;
        }
        assert!(Instant::now() < deadline, "the server never came back");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_streamable_http_server_recovers() {
    survives_restart(PeerProcess::py_http().await, "streamable_http").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_sse_server_recovers() {
    survives_restart(PeerProcess::py_sse().await, "sse").await;
}

/// A streamable HTTP server restarted on the same port has forgotten our session: as soon as
/// it answers (404, or 400 "No valid session ID provided"), a new session starts, and the
/// reason shown is the server's answer, not a ping timeout.
async fn a_restart_starts_a_new_session_at_once(mut server: PeerProcess, answer: &str) {
    let (handle, mut events) = start(json!({
        // The default heartbeat (every 15 s): the restart must be noticed without it.
        "py": {"transport_type": "streamable_http", "url": server.url()}
    }))
    .await;
    assert_eq!(handle.wait_settled().await[0].state, ServerState::Ready);
    while events.try_recv().is_ok() {}
    server.restart().await;
    let answering = Instant::now();
    let mut reasons = Vec::new();
    let back = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(event) = events.recv().await {
            if let RuntimeEvent::ServerChanged(s) = event {
                reasons.extend(s.last_error.clone());
                if s.state == ServerState::Ready && s.restarts > 0 {
                    return answering.elapsed();
                }
            }
        }
        Duration::MAX
    })
    .await;
    let back = back.unwrap_or_else(|_| panic!("not Ready again; reasons: {reasons:?}"));
    eprintln!("Ready again {back:?} after the server answered again");
    assert!(
        back < Duration::from_secs(4),
        "Ready again {back:?} after the server answered; reasons: {reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains(answer)),
        "the server's answer ({answer}) is shown: {reasons:?}"
    );
    assert!(
        !reasons.iter().any(|r| r.contains("timed out")),
        "{reasons:?}"
    );
    let echo = handle
        .call_tool("py", "echo", args(json!({"message": "new session"})), None)
        .await
        .expect("echo on the new session");
    assert!(blocks_text(&echo.content).contains("new session"));
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_python_server_gets_a_new_session_at_once() {
    a_restart_starts_a_new_session_at_once(PeerProcess::py_http().await, "HTTP 404").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_everything_server_gets_a_new_session_at_once() {
    a_restart_starts_a_new_session_at_once(
        PeerProcess::everything_http().await,
        "No valid session ID provided",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_stdio_peer_comes_back_by_itself() {
    let (handle, _events) = start(json!({"everything": peers::everything_stdio_entry()})).await;
    let pid = handle.wait_settled().await[0].pid.expect("pid");
    mcpomni::runtime::stdio::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
    assert!(
        support::eventually(Duration::from_secs(15), || {
            let s = &handle.snapshots()[0];
            s.state == ServerState::Ready && s.pid != Some(pid)
        })
        .await,
        "{:?}",
        handle.snapshots()[0]
    );
    let echo = handle
        .call_tool("everything", "echo", args(json!({"message": "back"})), None)
        .await
        .expect("echo");
    assert_eq!(blocks_text(&echo.content), "Echo: back");
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twenty_megabyte_result_over_streamable_http() {
    let server = PeerProcess::py_http().await;
    let (handle, _events) =
        start(json!({"py": http_entry(&server.url(), Some("streamable_http"))})).await;
    assert_eq!(handle.wait_settled().await[0].state, ServerState::Ready);
    let big = handle
        .call_tool("py", "big", args(json!({"bytes": 20_000_000})), None)
        .await
        .expect("20 MB result");
    assert_eq!(blocks_text(&big.content).len(), 20_000_000);
    handle.shutdown().await;
}
