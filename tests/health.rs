//! Live health: a killed server is seen at once and comes back by itself; the restart budget
//! stops a crash loop; heartbeat pings mark a silent server Degraded and then reconnect it;
//! the operator's reconnect / restart / disable / enable; progress reaches the caller in
//! order and stops at the result; a notification flood neither blocks nor grows memory.

mod support;

use std::time::{Duration, Instant};

use mcpomni::runtime::messages::{RuntimeEvent, ServerState};
use mcpomni::runtime::server::CallOptions;
use mcpomni::runtime::{self, RuntimeOptions};
use nix::sys::signal::Signal;
use serde_json::json;
use support::args;

fn kill(pid: u32) {
    mcpomni::runtime::stdio::signal_group(pid, Signal::SIGKILL);
}

#[tokio::test]
async fn a_killed_stdio_server_is_seen_at_once_and_comes_back_by_itself() {
    let config = support::config(json!({"mcpServers": {"demo": support::demo()}}));
    let (handle, _events) = runtime::start(&config, RuntimeOptions::default()).expect("start");
    let first = handle.wait_settled().await[0].clone();
    assert_eq!(first.state, ServerState::Ready);
    let old_pid = first.pid.expect("pid");
    let killed_at = Instant::now();
    kill(old_pid);
    let noticed = support::eventually(Duration::from_secs(2), || {
        handle.snapshots()[0].state != ServerState::Ready
    })
    .await;
    let noticed_after = killed_at.elapsed();
    assert!(noticed);
    assert!(
        noticed_after < Duration::from_millis(100),
        "noticed after {noticed_after:?}"
    );
    assert!(
        support::eventually(Duration::from_secs(2), || handle.snapshots()[0].state
            == ServerState::Ready)
        .await,
        "Ready again within 2 s (state {:?})",
        handle.snapshots()[0].state
    );
    let back = handle.snapshots()[0].clone();
    assert_ne!(back.pid, Some(old_pid), "a new process");
    assert_eq!(back.restarts, 1);
    assert_eq!(
        handle.catalog().tools.len(),
        6,
        "its tools are back in the catalog"
    );
    let echo = handle
        .call_tool("demo", "echo", args(json!({"message": "again"})), None)
        .await
        .expect("works after the restart");
    assert_eq!(runtime::content::blocks_text(&echo.content), "again");
    handle.shutdown().await;
}

#[tokio::test]
async fn the_restart_budget_stops_a_crash_loop() {
    let config = support::config(json!({
        "AgentConfig": {"max_restarts": 1},
        "mcpServers": {"demo": support::demo()}
    }));
    let (handle, _events) = runtime::start(&config, RuntimeOptions::default()).expect("start");
    let pid = handle.wait_settled().await[0].pid.expect("pid");
    kill(pid);
    assert!(
        support::eventually(Duration::from_secs(3), || {
            let s = &handle.snapshots()[0];
            s.state == ServerState::Ready && s.pid != Some(pid)
        })
        .await
    );
    let pid = handle.snapshots()[0].pid.expect("pid");
    kill(pid);
    assert!(
        support::eventually(Duration::from_secs(3), || handle.snapshots()[0].state
            == ServerState::Failed)
        .await
    );
    let reason = handle.snapshots()[0].last_error.clone().unwrap_or_default();
    assert!(
        reason.starts_with("gave up after 1 restarts in 10 minutes (press r to retry): the process was killed by signal 9"),
        "{reason}"
    );
    // The operator's reconnect starts it again despite the spent budget.
    handle.reconnect("demo").await.expect("known server");
    assert!(
        support::eventually(Duration::from_secs(3), || handle.snapshots()[0].state
            == ServerState::Ready)
        .await
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn failed_heartbeats_degrade_then_reconnect() {
    let config = support::config(json!({
        "AgentConfig": {"ping_interval": 0.2, "ping_timeout": 0.2, "max_restarts": 5},
        "mcpServers": {
            "quiet": support::black_hole(&["--answer", "initialize,tools/list,resources/list,prompts/list"]),
        }
    }));
    let (handle, mut events) = runtime::start(&config, RuntimeOptions::default()).expect("start");
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(seen.contains(&ServerState::Reconnecting) && seen.last() == Some(&ServerState::Ready)) {
        assert!(Instant::now() < deadline, "states so far: {seen:?}");
        if let Ok(Some(RuntimeEvent::ServerChanged(s))) =
            tokio::time::timeout(Duration::from_secs(5), events.recv()).await
            && seen.last() != Some(&s.state)
        {
            if s.state == ServerState::Degraded {
                assert_eq!(s.last_error.as_deref(), Some("ping timed out after 200ms"));
            }
            if s.state == ServerState::Reconnecting {
                let reason = s.last_error.clone().unwrap_or_default();
                assert!(
                    reason.starts_with("3 heartbeat pings failed in a row"),
                    "{reason}"
                );
            }
            seen.push(s.state);
        }
    }
    let ready = seen
        .iter()
        .position(|s| *s == ServerState::Ready)
        .expect("ready");
    let degraded = seen
        .iter()
        .position(|s| *s == ServerState::Degraded)
        .expect("degraded");
    let reconnecting = seen
        .iter()
        .position(|s| *s == ServerState::Reconnecting)
        .expect("reconnecting");
    assert!(ready < degraded && degraded < reconnecting, "{seen:?}");
    handle.shutdown().await;
}

#[tokio::test]
async fn answered_heartbeats_record_latency_samples() {
    let config = support::config(json!({
        "AgentConfig": {"ping_interval": 0.05},
        "mcpServers": {"demo": support::demo()}
    }));
    let (handle, _events) = support::start_settled(&config).await;
    assert!(
        support::eventually(Duration::from_secs(5), || handle.snapshots()[0]
            .ping_samples
            .len()
            >= 5)
        .await
    );
    let s = handle.snapshots()[0].clone();
    assert_eq!(s.state, ServerState::Ready);
    assert_eq!(s.ping_failures, 0);
    assert!(
        s.ping_samples
            .iter()
            .all(|rtt| *rtt < Duration::from_secs(1))
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn disable_enable_and_restart_by_command() {
    let config = support::config(json!({"mcpServers": {"demo": support::demo()}}));
    let (handle, _events) = runtime::start(&config, RuntimeOptions::default()).expect("start");
    let pid = handle.wait_settled().await[0].pid.expect("pid");
    handle
        .call_tool("demo", "echo", args(json!({"message": "x"})), None)
        .await
        .expect("call");
    handle.set_enabled("demo", false).await.expect("known");
    assert!(
        support::eventually(Duration::from_secs(3), || handle.snapshots()[0].state
            == ServerState::Stopped)
        .await
    );
    assert!(!support::group_alive(pid), "disabling stops the process");
    assert!(!handle.snapshots()[0].enabled);
    assert!(handle.catalog().tools.is_empty());
    handle.set_enabled("demo", true).await.expect("known");
    assert!(
        support::eventually(Duration::from_secs(3), || handle.snapshots()[0].state
            == ServerState::Ready)
        .await
    );
    assert_eq!(
        handle.snapshots()[0].calls,
        1,
        "statistics survive a disable"
    );
    handle.restart("demo").await.expect("known");
    assert!(
        support::eventually(Duration::from_secs(3), || {
            let s = &handle.snapshots()[0];
            s.state == ServerState::Ready && s.calls == 0
        })
        .await,
        "a restart clears the statistics"
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn progress_arrives_in_order_and_stops_at_the_result() {
    let config = support::config(json!({"mcpServers": {"demo": support::demo()}}));
    let (handle, _events) = support::start_settled(&config).await;
    let (progress_tx, mut progress) = tokio::sync::mpsc::unbounded_channel();
    let options = CallOptions {
        cancel: None,
        progress: Some(progress_tx),
    };
    let result = handle
        .call_tool_with(
            "demo",
            "count_with_progress",
            args(json!({"steps": 5, "delay_ms": 20})),
            options,
        )
        .await
        .expect("call");
    assert_eq!(
        runtime::content::blocks_text(&result.content),
        "counted to 5"
    );
    let mut values = Vec::new();
    while let Ok(update) = progress.try_recv() {
        values.push(update.progress);
        assert_eq!(update.total, Some(5.0));
    }
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    // The last step races the result (rmcp runs each notification on its own task); steps
    // sent well before the result always arrive.
    assert!(
        sorted.starts_with(&[1.0, 2.0, 3.0, 4.0]) && sorted.len() <= 5,
        "got {values:?}"
    );
    // Once the call has its result, its progress channel is closed: nothing late can arrive.
    assert!(
        tokio::time::timeout(Duration::from_secs(1), progress.recv())
            .await
            .expect("closed, not pending")
            .is_none()
    );
    let stats = handle.snapshots()[0].clone();
    assert!(
        support::eventually(Duration::from_secs(1), || handle.snapshots()[0].calls == 1).await,
        "{stats:?}"
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn a_notification_flood_is_bounded_and_the_server_stays_usable() {
    let config = support::config(json!({"mcpServers": {
        "flood": support::black_hole(&[
            "--answer", "initialize,tools/list,resources/list,prompts/list,tools/call,ping",
            "--flood", "20000",
        ])
    }}));
    let (handle, mut events) = runtime::start(&config, RuntimeOptions::default()).expect("start");
    let settled = handle.wait_settled().await[0].state;
    assert!(
        matches!(settled, ServerState::Ready | ServerState::Degraded),
        "{settled:?}"
    );
    let started = Instant::now();
    let result = handle
        .call_tool("flood", "hang", args(json!({})), None)
        .await
        .expect("answers during the flood");
    assert_eq!(runtime::content::blocks_text(&result.content), "answered");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Log messages stream apart from the snapshots, in bounded batches, drops counted.
    let (mut received, mut dropped, mut last) = (0usize, 0u64, None);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if let RuntimeEvent::LogLinesReceived {
            lines, dropped: d, ..
        } = event
        {
            assert!(lines.len() <= 1000, "batches are bounded: {}", lines.len());
            received += lines.len();
            dropped += d;
            last = lines.last().map(|l| l.text.clone()).or(last);
        }
        let s = &handle.snapshots()[0];
        if received as u64 + dropped + s.dropped_notices >= 20_000 {
            break;
        }
    }
    let s = handle.snapshots()[0].clone();
    assert_eq!(
        received as u64 + dropped + s.dropped_notices,
        20_000,
        "every line is received or counted as dropped"
    );
    assert!(last.is_some_and(|l| l.starts_with("flood ")));
    // 20,000 notifications at once overflow the bounded queue: the server is marked.
    assert!(s.dropped_notices > 0, "{s:?}");
    assert_eq!(s.state, ServerState::Degraded);
    assert!(
        s.last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("the server floods notifications")),
        "{s:?}"
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn json_that_is_not_json_rpc_does_not_break_the_session() {
    let config = support::config(json!({"mcpServers": {
        "odd": support::black_hole(&[
            "--answer", "initialize,tools/list,resources/list,prompts/list,tools/call",
            "--bad-json-rpc",
        ])
    }}));
    let (handle, _events) = runtime::start(&config, RuntimeOptions::default()).expect("start");
    assert_eq!(handle.wait_settled().await[0].state, ServerState::Ready);
    let result = handle
        .call_tool("odd", "hang", args(json!({})), None)
        .await
        .expect("answered despite the junk");
    assert_eq!(runtime::content::blocks_text(&result.content), "answered");
    handle.shutdown().await;
}

#[tokio::test]
async fn log_level_is_sent_and_subscriptions_need_a_live_server() {
    let config = support::config(json!({"mcpServers": {"demo": support::demo()}}));
    let (handle, _events) = support::start_settled(&config).await;
    handle
        .set_log_level("demo", "debug")
        .await
        .expect("demo accepts setLevel");
    let error = handle
        .set_log_level("demo", "loud")
        .await
        .expect_err("not a level");
    assert!(
        error.to_string().contains("`loud` is not an MCP log level"),
        "{error}"
    );
    handle.shutdown().await;
}
