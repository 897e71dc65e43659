//! The actor on a paused clock, against the real demo server served in-process (over an
//! in-memory pipe, so no IO races the paused clock): heartbeat timeouts, the restart budget
//! and backoff, a remote server's outages, and the lifecycle span.
//!
//! Between the actor and the server sits a small relay that can swallow pings, cut the
//! connection, or refuse new ones, like a server that wedges, dies or is down.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use rmcp::transport::async_rw::AsyncRwTransport;
use rmcp::{RoleClient, RoleServer, ServiceExt};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::TestConnector;
use crate::config::{
    HealthConfig, HttpConfig, HttpKind, ServerConfig, StdioConfig, TransportConfig,
};
use crate::demo::DemoServer;
use crate::runtime::connect::{ConnectFailure, handshake_and_finish};
use crate::runtime::messages::{ServerSnapshot, ServerState};
use crate::runtime::server::{ActorContext, ServerHandle, ServerUpdate, spawn_test_actor};

/// What the relay between the actor and the demo server does.
#[derive(Default)]
struct Relay {
    /// Swallow `ping` requests (the server never sees them, so never answers).
    deaf_to_pings: AtomicBool,
    /// Refuse new connections, like an endpoint that is down.
    refusing: AtomicBool,
    /// Ends the current connection.
    cut: Notify,
    connects: AtomicU32,
}

fn connector(relay: Arc<Relay>) -> TestConnector {
    Arc::new(move |session| {
        let relay = relay.clone();
        Box::pin(async move {
            relay.connects.fetch_add(1, Ordering::SeqCst);
            if relay.refusing.load(Ordering::SeqCst) {
                return Err(ConnectFailure {
                    state: ServerState::Failed,
                    reason: "connection refused".into(),
                });
            }
            let (client_side, relay_client) = tokio::io::duplex(1 << 16);
            let (relay_server, server_side) = tokio::io::duplex(1 << 16);
            let (server_read, server_write) = tokio::io::split(server_side);
            tokio::spawn(async move {
                let transport =
                    AsyncRwTransport::<RoleServer, _, _>::new(server_read, server_write);
                if let Ok(running) = DemoServer::new().serve(transport).await {
                    let _ = running.waiting().await;
                }
            });
            tokio::spawn(relay_lines(relay.clone(), relay_client, relay_server));
            let (client_read, client_write) = tokio::io::split(client_side);
            let transport = AsyncRwTransport::<RoleClient, _, _>::new(client_read, client_write);
            handshake_and_finish(
                transport,
                crate::runtime::link_loss::LinkLoss::default(),
                session,
                crate::runtime::messages::TransportKind::Stdio,
            )
            .await
        })
    })
}

/// Copies lines both ways until the connection is cut, leaving out pings when deaf.
async fn relay_lines(
    relay: Arc<Relay>,
    client: tokio::io::DuplexStream,
    server: tokio::io::DuplexStream,
) {
    let (client_read, mut client_write) = tokio::io::split(client);
    let (server_read, mut server_write) = tokio::io::split(server);
    let mut from_client = BufReader::new(client_read).lines();
    let mut from_server = BufReader::new(server_read).lines();
    loop {
        tokio::select! {
            () = relay.cut.notified() => return,
            line = from_client.next_line() => {
                let Ok(Some(line)) = line else { return };
                if relay.deaf_to_pings.load(Ordering::SeqCst) && line.contains(r#""method":"ping""#) {
                    continue;
                }
                if server_write.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                    return;
                }
            }
            line = from_server.next_line() => {
                let Ok(Some(line)) = line else { return };
                if client_write.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn config(transport: TransportConfig, health: HealthConfig) -> ServerConfig {
    ServerConfig {
        name: "demo".into(),
        transport,
        enabled: true,
        request_timeout: Duration::from_secs(5),
        startup_timeout: Some(Duration::from_secs(5)),
        health,
        log_level: None,
    }
}

fn stdio() -> TransportConfig {
    TransportConfig::Stdio(StdioConfig {
        command: "unused".into(),
        args: Vec::new(),
        env: Default::default(),
        cwd: None,
    })
}

fn remote() -> TransportConfig {
    TransportConfig::Http(HttpConfig {
        url: "http://127.0.0.1:9/mcp".into(),
        kind: HttpKind::StreamableHttp,
        headers: Default::default(),
        sse_read_timeout: Duration::from_secs(300),
        auth: None,
    })
}

/// A running actor, the relay in front of its server, and the snapshots it published.
struct Harness {
    handle: ServerHandle,
    relay: Arc<Relay>,
    updates: mpsc::Receiver<ServerUpdate>,
    latest: Option<Arc<ServerSnapshot>>,
    root: CancellationToken,
}

impl Harness {
    fn start(config: ServerConfig) -> Self {
        let relay = Arc::new(Relay::default());
        let (updates_tx, updates) = mpsc::channel(1024);
        let root = CancellationToken::new();
        let ctx = ActorContext {
            index: 0,
            default_startup_timeout: Duration::from_secs(5),
            updates: updates_tx,
            root: root.child_token(),
            parent_env: Arc::new(|_| None),
            http: Default::default(),
            sampling: None,
            secrets: Arc::new(crate::redact::Secrets::for_server(&config)),
            auth: None,
        };
        let (handle, _task) = spawn_test_actor(config, ctx, connector(relay.clone()));
        Self {
            handle,
            relay,
            updates,
            latest: None,
            root,
        }
    }

    /// Waits (on the paused clock, so at no real cost) for a snapshot that passes `check`.
    async fn until(
        &mut self,
        what: &str,
        check: impl Fn(&ServerSnapshot) -> bool,
    ) -> Arc<ServerSnapshot> {
        if let Some(latest) = &self.latest
            && check(latest)
        {
            return latest.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(3600);
        loop {
            let update = tokio::time::timeout_at(deadline, self.updates.recv()).await;
            match update {
                Ok(Some(ServerUpdate::Snapshot(_, snapshot))) => {
                    self.latest = Some(snapshot.clone());
                    if check(&snapshot) {
                        return snapshot;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => panic!("never {what}; last: {:?}", self.latest),
            }
        }
    }

    async fn state(&mut self, state: ServerState) -> Arc<ServerSnapshot> {
        self.until(state.label(), |s| s.state == state).await
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.root.cancel();
    }
}

#[tokio::test(start_paused = true)]
async fn a_server_that_stops_answering_pings_is_degraded_then_dropped_after_three() {
    let health = HealthConfig {
        ping_interval: Some(Duration::from_secs(10)),
        ping_timeout: Duration::from_secs(2),
        max_restarts: 5,
    };
    let mut h = Harness::start(config(stdio(), health));
    h.state(ServerState::Ready).await;
    let ready_at = Instant::now();
    h.relay.deaf_to_pings.store(true, Ordering::SeqCst);
    let degraded = h.state(ServerState::Degraded).await;
    let first_failure = ready_at.elapsed();
    assert_eq!(
        degraded.last_error.as_deref(),
        Some("ping timed out after 2s")
    );
    // The interval, then the ping's own deadline.
    assert!(
        first_failure >= Duration::from_secs(12) && first_failure < Duration::from_millis(12_100),
        "{first_failure:?}"
    );
    // The next pings follow at once (one timeout apart), not a whole interval later.
    let lost = h.state(ServerState::Reconnecting).await;
    let dropped_after = ready_at.elapsed();
    assert!(
        dropped_after >= Duration::from_secs(20) && dropped_after < Duration::from_millis(20_100),
        "{dropped_after:?}"
    );
    assert!(
        lost.last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("3 heartbeat pings failed in a row")),
        "{lost:?}"
    );
    // A fresh connection answers pings again.
    h.relay.deaf_to_pings.store(false, Ordering::SeqCst);
    let back = h.state(ServerState::Ready).await;
    assert_eq!(back.restarts, 1);
    assert_eq!(back.ping_failures, 0);
}

#[tokio::test(start_paused = true)]
async fn the_restart_budget_and_backoff_on_paused_time() {
    let health = HealthConfig {
        ping_interval: None,
        ping_timeout: Duration::from_secs(2),
        max_restarts: 2,
    };
    let mut h = Harness::start(config(stdio(), health));
    let mut delays = Vec::new();
    for round in 1..=2u32 {
        h.until("ready", |s| {
            s.state == ServerState::Ready && s.restarts == round - 1
        })
        .await;
        h.relay.cut.notify_one();
        h.state(ServerState::Reconnecting).await;
        let lost_at = Instant::now();
        h.until("restarted", |s| {
            s.state == ServerState::Ready && s.restarts == round
        })
        .await;
        delays.push(lost_at.elapsed());
    }
    // 200 ms, then 400 ms, each ±25%.
    assert!(
        delays[0] >= Duration::from_millis(150) && delays[0] <= Duration::from_millis(260),
        "{delays:?}"
    );
    assert!(
        delays[1] >= Duration::from_millis(300) && delays[1] <= Duration::from_millis(510),
        "{delays:?}"
    );
    // The third loss within ten minutes spends the budget.
    h.relay.cut.notify_one();
    let failed = h.state(ServerState::Failed).await;
    assert!(
        failed
            .last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("gave up after 2 restarts in 10 minutes")),
        "{failed:?}"
    );
    let connects = h.relay.connects.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(
        h.relay.connects.load(Ordering::SeqCst),
        connects,
        "a given-up stdio server waits for the operator"
    );
    h.handle.reconnect().await;
    h.state(ServerState::Ready).await;
}

#[tokio::test(start_paused = true)]
async fn a_remote_outage_is_one_restart_and_the_server_comes_back_by_itself() {
    let health = HealthConfig {
        ping_interval: None,
        ping_timeout: Duration::from_secs(2),
        max_restarts: 1,
    };
    let mut h = Harness::start(config(remote(), health));
    h.state(ServerState::Ready).await;
    // A long outage: the endpoint refuses for twelve attempts (about four minutes).
    h.relay.refusing.store(true, Ordering::SeqCst);
    h.relay.cut.notify_one();
    let mut last_try = Instant::now();
    let mut gaps = Vec::new();
    for attempt in 1..=12u32 {
        h.until("another attempt", |s| s.reconnect_attempts == attempt)
            .await;
        gaps.push(last_try.elapsed());
        last_try = Instant::now();
    }
    let s = h.latest.clone().expect("a snapshot");
    assert_eq!(s.state, ServerState::Reconnecting, "never given up: {s:?}");
    assert_eq!(s.restarts, 1, "one outage, one restart");
    assert!(
        gaps.iter().all(|gap| *gap <= Duration::from_secs(60)),
        "at most a minute apart: {gaps:?}"
    );
    assert!(
        gaps.last()
            .is_some_and(|gap| *gap >= Duration::from_secs(36)),
        "the backoff grew to its cap: {gaps:?}"
    );
    h.relay.refusing.store(false, Ordering::SeqCst);
    let back = h.state(ServerState::Ready).await;
    assert_eq!(back.reconnect_attempts, 0);
    // A second outage within ten minutes finds the budget (1) spent: it is polled slowly,
    // still never given up.
    h.relay.refusing.store(true, Ordering::SeqCst);
    h.relay.cut.notify_one();
    let polling = h.state(ServerState::Reconnecting).await;
    assert!(
        polling
            .last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("down again after 1 restarts in 10 minutes")),
        "{polling:?}"
    );
    let lost_at = Instant::now();
    h.relay.refusing.store(false, Ordering::SeqCst);
    h.until("back", |s| s.state == ServerState::Ready).await;
    let waited = lost_at.elapsed();
    assert!(
        waited >= Duration::from_secs(36) && waited <= Duration::from_secs(60),
        "{waited:?}"
    );
    assert_eq!(h.latest.as_ref().map(|s| s.restarts), Some(2));
}

#[tokio::test(start_paused = true)]
async fn first_attempt_done_marks_the_first_outcome_and_stays() {
    let health = HealthConfig {
        ping_interval: None,
        ping_timeout: Duration::from_secs(2),
        max_restarts: 5,
    };
    let mut h = Harness::start(config(stdio(), health));
    let starting = h.state(ServerState::Initializing).await;
    assert!(!starting.first_attempt_done);
    assert!(h.state(ServerState::Ready).await.first_attempt_done);
    h.relay.cut.notify_one();
    let reconnecting = h.state(ServerState::Reconnecting).await;
    assert!(
        reconnecting.first_attempt_done,
        "a retry is not a first attempt"
    );
}

#[tokio::test(start_paused = true)]
async fn late_progress_is_counted_in_the_snapshot() {
    use rmcp::model::{NumberOrString, ProgressNotificationParam, ProgressToken};
    let health = HealthConfig {
        ping_interval: None,
        ping_timeout: Duration::from_secs(2),
        max_restarts: 5,
    };
    let mut h = Harness::start(config(stdio(), health));
    h.state(ServerState::Ready).await;
    let requester = h.handle.requester().await.expect("up");
    // Progress for a call that is not (or no longer) running, as a late notification is.
    let token = ProgressToken(NumberOrString::Number(999));
    let routed = requester
        .progress_router()
        .route(ProgressNotificationParam::new(token, 1.0));
    assert!(!routed);
    let s = h.until("counted", |s| s.dropped_progress == 1).await;
    assert_eq!(s.state, ServerState::Ready);
}
