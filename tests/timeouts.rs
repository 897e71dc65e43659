//! No request may hang. A "black hole" server (tests/support/black_hole.py) answers only the
//! methods it is told to and swallows the rest; for every request type the runtime must give
//! up after its deadline with a clear reason, while other servers keep working.

mod support;

use std::time::{Duration, Instant};

use mcpomni::runtime::messages::ServerState;
use mcpomni::runtime::request::RequestError;
use mcpomni::runtime::server::CallError;
use mcpomni::runtime::{self, RuntimeError};
use rmcp::model::JsonObject;
use serde_json::json;

fn timeouts() -> serde_json::Value {
    json!({"tool_call_timeout": 1, "startup_timeout": 1})
}

fn with_timeout(mut server: serde_json::Value, seconds: f64) -> serde_json::Value {
    server["timeout"] = json!(seconds);
    server
}

#[tokio::test]
async fn silent_initialize_fails_after_the_startup_timeout_and_others_keep_working() {
    let config = support::config(json!({
        "AgentConfig": timeouts(),
        "mcpServers": {
            "hole": support::black_hole(&["--stderr", "hole is listening"]),
            "demo": support::demo(),
        }
    }));
    let started = Instant::now();
    let (handle, _events) = support::start_settled(&config).await;
    let snapshots = handle.snapshots();
    let elapsed = started.elapsed();
    let hole = &snapshots[0];
    assert_eq!(hole.state, ServerState::Failed);
    assert_eq!(
        hole.last_error.as_deref(),
        Some("no answer to initialize within 1s; stderr: hole is listening")
    );
    assert_eq!(handle.stderr_tail("hole", 20), ["hole is listening"]);
    assert!(
        elapsed < Duration::from_secs(4),
        "startup gave up in time ({elapsed:?})"
    );
    assert_eq!(snapshots[1].state, ServerState::Ready);
    let echo = handle
        .call_tool(
            "demo",
            "echo",
            support::args(json!({"message": "still here"})),
            None,
        )
        .await
        .expect("the demo server still answers");
    assert_eq!(runtime::content::blocks_text(&echo.content), "still here");
    // Calling the failed server says why it is not available.
    let error = handle
        .call_tool("hole", "hang", JsonObject::new(), None)
        .await
        .expect_err("not ready");
    assert_eq!(
        error.to_string(),
        "server `hole` is Failed: no answer to initialize within 1s; stderr: hole is listening"
    );
    let pid = hole.pid.expect("pid");
    assert!(
        !support::group_alive(pid),
        "a failed server's process is stopped"
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn silent_listings_time_out_and_mark_the_server_degraded() {
    let config = support::config(json!({
        "AgentConfig": timeouts(),
        "mcpServers": {
            "hole": with_timeout(support::black_hole(&["--answer", "initialize"]), 1.0),
        }
    }));
    let started = Instant::now();
    let (handle, _events) = support::start_settled(&config).await;
    let snapshots = handle.snapshots();
    let hole = &snapshots[0];
    assert_eq!(hole.state, ServerState::Degraded);
    let error = hole.last_error.as_deref().unwrap_or_default();
    for method in ["tools/list", "resources/list", "prompts/list"] {
        assert!(
            error.contains(&format!("{method} timed out after 1s")),
            "{error}"
        );
    }
    // The three listings run concurrently: about one timeout, not three.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn every_request_type_times_out() {
    let config = support::config(json!({
        "AgentConfig": timeouts(),
        "mcpServers": {
            "hole": with_timeout(
                support::black_hole(&[
                    "--answer",
                    "initialize,tools/list,resources/list,prompts/list",
                ]),
                1.0,
            ),
        }
    }));
    let (handle, _events) = support::start_settled(&config).await;
    let snapshots = handle.snapshots();
    assert_eq!(snapshots[0].state, ServerState::Ready, "{:?}", snapshots[0]);
    let timed_out = |error: &RuntimeError, method: &str| match error {
        RuntimeError::Call(CallError::Request {
            error: RequestError::Timeout { method: m, after },
            ..
        }) => *m == method && *after == Duration::from_secs(1),
        _ => false,
    };

    let started = Instant::now();
    let error = handle
        .call_tool("hole", "hang", JsonObject::new(), None)
        .await
        .expect_err("tools/call never answered");
    assert!(timed_out(&error, "tools/call"), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        error.to_string(),
        "server `hole`: tools/call timed out after 1s"
    );

    let error = handle
        .read_resource("hole", "hole://r")
        .await
        .expect_err("resources/read never answered");
    assert!(timed_out(&error, "resources/read"), "{error:?}");

    let error = handle
        .get_prompt("hole", "p", JsonObject::new())
        .await
        .expect_err("prompts/get never answered");
    assert!(timed_out(&error, "prompts/get"), "{error:?}");

    let requester = handle
        .server("hole")
        .expect("server")
        .requester()
        .await
        .expect("ready");
    let error = requester
        .ping(Duration::from_millis(300))
        .await
        .expect_err("ping never answered");
    assert_eq!(
        error,
        RequestError::Timeout {
            method: "ping",
            after: Duration::from_millis(300)
        }
    );
    // The server is still usable for what it does answer.
    let tools = requester.list_tools().await.expect("tools/list answers");
    assert_eq!(tools.len(), 1);
    handle.shutdown().await;
}

#[tokio::test]
async fn answered_requests_succeed_through_the_same_wrapper() {
    let config = support::config(json!({
        "AgentConfig": timeouts(),
        "mcpServers": {
            "hole": support::black_hole(&[
                "--answer",
                "initialize,tools/list,resources/list,prompts/list,tools/call,ping",
                "--noise",
            ]),
        }
    }));
    let (handle, _events) = support::start_settled(&config).await;
    let snapshots = handle.snapshots();
    assert_eq!(
        snapshots[0].state,
        ServerState::Ready,
        "non-JSON stdout lines are ignored"
    );
    let result = handle
        .call_tool("hole", "hang", JsonObject::new(), None)
        .await
        .expect("answered");
    assert_eq!(runtime::content::blocks_text(&result.content), "answered");
    let requester = handle
        .server("hole")
        .expect("server")
        .requester()
        .await
        .expect("ready");
    let rtt = requester.ping(Duration::from_secs(1)).await.expect("ping");
    assert!(rtt < Duration::from_secs(1));
    handle.shutdown().await;
}

#[tokio::test]
async fn cancelling_a_call_returns_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let record = dir.path().join("sent.jsonl");
    let config = support::config(json!({
        "AgentConfig": {"tool_call_timeout": 30},
        "mcpServers": {"demo": support::demo_recorded(&record)}
    }));
    let (handle, _events) = support::start_settled(&config).await;
    let cancel = tokio_util::sync::CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        // Cancel once the call is with the server.
        support::eventually(Duration::from_secs(10), || {
            support::recorded(&record, "tools/call")
        })
        .await;
        trigger.cancel();
    });
    let started = Instant::now();
    let error = handle
        .call_tool(
            "demo",
            "sleep",
            support::args(json!({"ms": 20_000})),
            Some(cancel),
        )
        .await
        .expect_err("cancelled");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(error.to_string(), "server `demo`: tools/call: cancelled");
    // The server was told and stays responsive.
    let echo = handle
        .call_tool(
            "demo",
            "echo",
            support::args(json!({"message": "ok"})),
            None,
        )
        .await
        .expect("echo after cancel");
    assert_eq!(runtime::content::blocks_text(&echo.content), "ok");
    handle.shutdown().await;
}

#[tokio::test]
async fn progress_pushes_the_tool_call_deadline_back() {
    let config = support::config(json!({
        "AgentConfig": {"tool_call_timeout": 1},
        "mcpServers": {"demo": support::demo()}
    }));
    let (handle, _events) = support::start_settled(&config).await;
    // 5 steps 400 ms apart: 2 s in all, but never 1 s without progress.
    let started = Instant::now();
    let counted = handle
        .call_tool(
            "demo",
            "count_with_progress",
            support::args(json!({"steps": 5, "delay_ms": 400})),
            None,
        )
        .await
        .expect("progress keeps the call alive");
    assert!(started.elapsed() > Duration::from_secs(1));
    assert_eq!(
        runtime::content::blocks_text(&counted.content),
        "counted to 5"
    );
    // The same 2 s without progress times out after 1 s.
    let error = handle
        .call_tool("demo", "sleep", support::args(json!({"ms": 2000})), None)
        .await
        .expect_err("no progress, no extension");
    assert_eq!(
        error.to_string(),
        "server `demo`: tools/call timed out after 1s"
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn a_timed_out_request_is_cancelled_at_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let record = dir.path().join("received.txt");
    let record_arg = record.display().to_string();
    let config = support::config(json!({
        "AgentConfig": {"tool_call_timeout": 0.5},
        "mcpServers": {"hole": support::black_hole(&[
            "--answer", "initialize,tools/list,resources/list,prompts/list",
            "--record", &record_arg,
        ])}
    }));
    let (handle, _events) = support::start_settled(&config).await;
    handle
        .call_tool("hole", "hang", JsonObject::new(), None)
        .await
        .expect_err("times out");
    assert!(
        support::eventually(Duration::from_secs(2), || std::fs::read_to_string(&record)
            .is_ok_and(|r| r.contains("notifications/cancelled")))
        .await
    );
    handle.shutdown().await;
}
