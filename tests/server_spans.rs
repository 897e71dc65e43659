//! A server's life is logged inside a `server{server=NAME}` span, each connection (or attempt)
//! inside a `connection{number=N}` span within it, and nothing else of the server's config
//! goes into those spans. The subscriber is process-wide, so this file holds this one test.

#[path = "support/captured_log.rs"]
mod captured_log;
mod support;

use std::time::Duration;

use captured_log::CapturedLog;
use mcpomni::runtime::messages::ServerState;
use mcpomni::runtime::{self, RuntimeOptions};
use nix::sys::signal::Signal;
use serde_json::json;

#[tokio::test]
async fn the_lifecycle_span_names_the_server_and_its_connection() {
    let captured = CapturedLog::install(tracing::Level::INFO);
    let mut demo = support::demo();
    demo["env"] = json!({"SPAN_SECRET_TOKEN": "TOKEN-THAT-MUST-NOT-SHOW"});
    let config = support::config(json!({"mcpServers": {"demo": demo}}));
    let (handle, _events) = runtime::start(&config, RuntimeOptions::default()).expect("start");
    let first = handle.wait_settled().await;
    let pid = first[0].pid.expect("a stdio server has a pid");
    assert_eq!(first[0].state, ServerState::Ready);
    // The process dies; the actor starts a second connection.
    runtime::stdio::signal_group(pid, Signal::SIGKILL);
    let mut snapshots = handle.snapshot_stream();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let current = handle.snapshots();
            if current[0].state == ServerState::Ready && current[0].pid != Some(pid) {
                break;
            }
            if snapshots.changed().await.is_err() {
                break;
            }
        }
    })
    .await
    .expect("the server is back");
    handle.shutdown().await;
    let log = captured.text();
    assert!(
        log.contains("server{server=demo}:connection{number=1}")
            && log.contains("server state changed state=\"Ready\""),
        "{log}"
    );
    assert!(
        log.contains("server{server=demo}:connection{number=2}"),
        "the second connection: {log}"
    );
    assert!(!log.contains("TOKEN-THAT-MUST-NOT-SHOW"), "{log}");
}
