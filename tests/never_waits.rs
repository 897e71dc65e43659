//! Nothing waits where it must not: a server that never answers `logging/setLevel` or
//! `resources/subscribe` holds up neither its start, its heartbeat nor the operator's
//! commands; progress that races a call's result is delivered before it or counted.

mod support;

use std::time::Duration;

use mcpomni::runtime::messages::ServerState;
use mcpomni::runtime::server::CallOptions;
use mcpomni::runtime::{self, RuntimeOptions};
use serde_json::json;
use support::args;

#[tokio::test]
async fn a_server_that_never_answers_set_level_or_subscribe_does_not_hold_up_its_actor() {
    // Answers the handshake, the listings and pings; swallows setLevel and subscribe. The
    // request deadline is a minute, far longer than anything below may take.
    let mut wedged = support::black_hole(&[
        "--answer",
        "initialize,tools/list,resources/list,prompts/list,ping",
    ]);
    wedged["timeout"] = json!(60);
    wedged["log_level"] = json!("debug");
    let config = support::config(json!({
        "AgentConfig": {"ping_interval": 0.1, "ping_timeout": 1},
        "mcpServers": {"wedged": wedged}
    }));
    let (handle, _events) = runtime::start(&config, RuntimeOptions::default()).expect("start");
    // The configured log level goes out beside the start, not in its way.
    let settled = tokio::time::timeout(Duration::from_secs(10), handle.wait_settled())
        .await
        .expect("the start does not wait for setLevel's answer");
    assert_eq!(settled[0].state, ServerState::Ready, "{:?}", settled[0]);
    // A subscription the server never answers...
    let subscriber = {
        let handle = handle.clone();
        tokio::spawn(async move { handle.subscribe("wedged", "hole://r").await })
    };
    // ...while heartbeats go on being sent and recorded,
    let pings = handle.snapshots()[0].ping_samples.len();
    assert!(
        support::eventually(Duration::from_secs(5), || handle.snapshots()[0]
            .ping_samples
            .len()
            >= pings + 3)
        .await,
        "heartbeats stopped: {:?}",
        handle.snapshots()[0]
    );
    // ...and the operator's commands are handled at once.
    handle.set_enabled("wedged", false).await.expect("known");
    assert!(
        support::eventually(Duration::from_secs(3), || handle.snapshots()[0].state
            == ServerState::Stopped)
        .await,
        "disabling waited: {:?}",
        handle.snapshots()[0]
    );
    // The subscriber learns the connection is gone instead of waiting out the minute.
    let answer = tokio::time::timeout(Duration::from_secs(5), subscriber)
        .await
        .expect("the subscriber is answered")
        .expect("the task ran");
    assert!(answer.is_err(), "{answer:?}");
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_that_races_the_result_is_delivered_before_it_or_counted() {
    let config = support::config(json!({"mcpServers": {"demo": support::demo()}}));
    let (handle, _events) = support::start_settled(&config).await;
    const CALLS: usize = 40;
    const STEPS: usize = 25;
    let mut delivered = 0;
    for _ in 0..CALLS {
        let (progress_tx, mut progress) = tokio::sync::mpsc::unbounded_channel();
        let options = CallOptions {
            cancel: None,
            progress: Some(progress_tx),
        };
        // No delay between steps: the last ones race the result.
        handle
            .call_tool_with(
                "demo",
                "count_with_progress",
                args(json!({"steps": STEPS, "delay_ms": 0})),
                options,
            )
            .await
            .expect("call");
        // What was delivered is there when the result is; nothing comes after it.
        while let Ok(_update) = progress.try_recv() {
            delivered += 1;
        }
        assert!(progress.recv().await.is_none(), "nothing after the result");
    }
    let sent = (CALLS * STEPS) as u64;
    let accounted = support::eventually(Duration::from_secs(5), || {
        delivered as u64 + handle.snapshots()[0].dropped_progress == sent
    })
    .await;
    let dropped = handle.snapshots()[0].dropped_progress;
    assert!(
        accounted,
        "{delivered} delivered + {dropped} counted as dropped, of {sent} sent"
    );
    handle.shutdown().await;
}
