//! A remote server that goes away for longer than its restart budget allows is not given
//! up: one outage counts as one restart, attempts go on (at most a minute apart), and it
//! comes back by itself when the endpoint answers again. Against the real Python peer.

mod support;

use std::time::Duration;

use mcpomni::runtime::content::blocks_text;
use mcpomni::runtime::messages::ServerState;
use mcpomni::runtime::{self, RuntimeOptions};
use serde_json::json;
use support::args;
use support::peers::PeerProcess;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_server_down_past_its_budget_comes_back_by_itself() {
    mcpomni::install_crypto_provider();
    let mut server = PeerProcess::py_sse().await;
    let config = support::config(json!({
        // One restart in ten minutes: today's budget is spent by the first failed attempt.
        "AgentConfig": {"max_restarts": 1, "startup_timeout": 10},
        "mcpServers": {"py": {"transport_type": "sse", "url": server.url(), "timeout": 5}}
    }));
    let (handle, _events) = runtime::start(&config, RuntimeOptions::default()).expect("start");
    assert_eq!(handle.wait_settled().await[0].state, ServerState::Ready);
    server.kill();
    // Several attempts into the outage (200 ms, 400 ms, 800 ms apart)...
    support::eventually(Duration::from_secs(20), || {
        let s = &handle.snapshots()[0];
        s.reconnect_attempts >= 3 || s.state == ServerState::Failed
    })
    .await;
    let s = handle.snapshots()[0].clone();
    // ...it is still being retried, and the outage counts once.
    assert_eq!(s.state, ServerState::Reconnecting, "{s:?}");
    assert!(s.reconnect_attempts >= 3, "{s:?}");
    assert_eq!(s.restarts, 1, "one outage, one restart: {s:?}");
    server.start_again().await;
    assert!(
        support::eventually(Duration::from_secs(30), || handle.snapshots()[0].state
            == ServerState::Ready)
        .await,
        "came back by itself: {:?}",
        handle.snapshots()[0]
    );
    let echo = handle
        .call_tool("py", "echo", args(json!({"message": "back"})), None)
        .await
        .expect("usable again");
    assert_eq!(blocks_text(&echo.content), "back");
    assert_eq!(handle.snapshots()[0].restarts, 1);
    handle.shutdown().await;
}
