//! The TUI's path to the runtime: `RuntimeCommand`s in, `RuntimeEvent`s out. A call reports rising progress
//! and its result; cancelling it (Esc in the dashboard) ends it at once and the server is told
//! with `notifications/cancelled`; stale or late progress is never reported.

mod support;

use std::time::{Duration, Instant};

use mcpomni::runtime::messages::{CallId, RuntimeCommand, RuntimeEvent, ServerName};
use mcpomni::runtime::{self, RuntimeOptions, bridge};
use serde_json::json;
use support::args;

async fn next_call_event(events: &mut tokio::sync::mpsc::Receiver<RuntimeEvent>) -> RuntimeEvent {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("an event in time")
            .expect("events flow");
        if matches!(
            event,
            RuntimeEvent::CallProgress { .. } | RuntimeEvent::CallFinished { .. }
        ) {
            return event;
        }
    }
}

#[tokio::test]
async fn progress_then_result() {
    let config = support::config(json!({"mcpServers": {"demo": support::demo()}}));
    let (handle, mut events) = runtime::start(&config, RuntimeOptions::default()).expect("start");
    handle.wait_settled().await;
    let (commands, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(bridge::run(handle.clone(), rx));
    let id = CallId(7);
    commands
        .send(RuntimeCommand::CallTool {
            id,
            server: ServerName::new("demo"),
            tool: "count_with_progress".into(),
            arguments: args(json!({"steps": 4, "delay_ms": 30})),
        })
        .expect("send");
    let mut seen = Vec::new();
    loop {
        match next_call_event(&mut events).await {
            RuntimeEvent::CallProgress {
                id: got,
                progress,
                total,
                message,
            } => {
                assert_eq!(got, id);
                assert_eq!(total, Some(4.0));
                assert!(message.is_some_and(|m| m.starts_with("step ")));
                seen.push(progress);
            }
            RuntimeEvent::CallFinished {
                id: got,
                outcome,
                elapsed,
            } => {
                assert_eq!(got, id);
                // Four steps 30 ms apart: the runtime measured the call itself.
                assert!(elapsed >= Duration::from_millis(90), "{elapsed:?}");
                let result = outcome.expect("ok");
                assert_eq!(
                    runtime::content::blocks_text(&result.content),
                    "counted to 4"
                );
                break;
            }
            _ => unreachable!("filtered"),
        }
    }
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "only rising progress is reported: {seen:?}"
    );
    assert!(seen.starts_with(&[1.0, 2.0, 3.0]), "{seen:?}");
    // Nothing about this call after its result.
    let late = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            if let Some(RuntimeEvent::CallProgress { .. } | RuntimeEvent::CallFinished { .. }) =
                events.recv().await
            {
                return;
            }
        }
    })
    .await;
    assert!(late.is_err(), "no progress after the result");
    handle.shutdown().await;
}

#[tokio::test]
async fn cancel_ends_the_call_and_tells_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let record = dir.path().join("received.txt");
    let record_arg = record.display().to_string();
    let config = support::config(json!({"mcpServers": {
        "hole": support::black_hole(&[
            "--answer", "initialize,tools/list,resources/list,prompts/list",
            "--record", &record_arg,
        ])
    }}));
    let (handle, mut events) = runtime::start(&config, RuntimeOptions::default()).expect("start");
    handle.wait_settled().await;
    let (commands, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(bridge::run(handle.clone(), rx));
    let id = CallId(1);
    commands
        .send(RuntimeCommand::CallTool {
            id,
            server: ServerName::new("hole"),
            tool: "hang".into(),
            arguments: args(json!({})),
        })
        .expect("send");
    assert!(
        support::eventually(Duration::from_secs(5), || {
            std::fs::read_to_string(&record).is_ok_and(|r| r.contains("tools/call"))
        })
        .await
    );
    let cancelled_at = Instant::now();
    commands
        .send(RuntimeCommand::CancelCall { id })
        .expect("send");
    match next_call_event(&mut events).await {
        RuntimeEvent::CallFinished {
            id: got, outcome, ..
        } => {
            assert_eq!(got, id);
            assert_eq!(
                outcome.expect_err("cancelled"),
                "server `hole`: tools/call: cancelled"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(cancelled_at.elapsed() < Duration::from_secs(2));
    assert!(
        support::eventually(Duration::from_secs(2), || {
            std::fs::read_to_string(&record).is_ok_and(|r| r.contains("notifications/cancelled"))
        })
        .await,
        "the server received notifications/cancelled"
    );
    handle.shutdown().await;
}
