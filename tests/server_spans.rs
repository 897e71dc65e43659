//! A server's life is logged inside a `server{server=NAME}` span, each connection (or attempt)
//! inside a `connection{number=N}` span within it, and nothing else of the server's config
//! goes into those spans. The subscriber is process-wide, so this file holds this one test.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mcpomni::runtime::messages::ServerState;
use mcpomni::runtime::{self, RuntimeOptions};
use nix::sys::signal::Signal;
use serde_json::json;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_lifecycle_span_names_the_server_and_its_connection() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish(),
    )
    .expect("the only subscriber in this test binary");
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
    let log = String::from_utf8_lossy(&captured.0.lock().unwrap_or_else(PoisonError::into_inner))
        .into_owned();
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
