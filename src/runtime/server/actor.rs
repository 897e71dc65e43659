//! The server actor's loop and lifecycle: start (spawn or connect, then the handshake),
//! Ready, a heartbeat that can mark it Degraded, loss of the connection (a process exit is
//! seen at once; an HTTP server through failed pings or requests), automatic reconnects with
//! backoff under a restart budget, and the operator's reconnect / restart / disable keys.
//!
//! The loop waits on its inbox, the connection (handshake, exit, service end, notifications),
//! the heartbeat, a pending reconnect, re-listing after `list_changed`, throttled publishing
//! of stderr and logs, and the app shutting down. What servers say between requests is handled
//! in `actor/listing.rs`; stopping a server (politely, then its process group) in
//! `actor/stop.rs`.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::time::{sleep_until, timeout};

use super::health::{CallStats, PingStats, RestartPolicy, jitter};
use super::{ActorContext, CallError, ServerCommand, ServerUpdate, Shared};
use crate::config::{ServerConfig, TransportConfig};
use crate::runtime::catalog::ServerListing;
use crate::runtime::client::{McpClient, NOTICE_QUEUE, ProgressRouter, ServerNotice};
use crate::runtime::connect::{
    ConnectFailure, Connection, Established, ListingParts, Session, Timeouts, establish_http,
    establish_stdio,
};
use crate::runtime::messages::{LogLine, ServerName, ServerSnapshot, ServerState};
use crate::runtime::request::{RequestError, Requester};
use crate::runtime::stdio::{self, StderrRing};

mod listing;
mod stop;

/// Stderr lines carried in each snapshot.
const STDERR_TAIL: usize = 20;
/// Log lines kept per server (and carried in each snapshot).
const LOG_LINES: usize = 200;
/// Stderr and logs can change thousands of times a second; the dashboard needs at most this.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// list_changed notifications arrive in bursts; wait this long for the burst to end.
const RELIST_DEBOUNCE: Duration = Duration::from_millis(50);
/// A server that stays up this long has recovered: its backoff starts over.
const STABLE_AFTER: Duration = Duration::from_secs(60);

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Something that happened on the connection.
enum LinkEvent {
    Established(Box<Result<Established, ConnectFailure>>),
    Exited(String),
    ServiceEnded,
    Notice(ServerNotice),
}

enum Link {
    Down,
    Connecting(BoxFuture<Result<Established, ConnectFailure>>),
    Up(Connection),
}

/// Pending re-listing after list_changed notifications.
#[derive(Default)]
struct Relist {
    tools: bool,
    resources: bool,
    prompts: bool,
    due: Option<tokio::time::Instant>,
    running: Option<BoxFuture<(ListingParts, Vec<String>)>>,
}

pub(super) struct ServerActor {
    name: ServerName,
    config: ServerConfig,
    ctx: ActorContext,
    inbox: mpsc::Receiver<ServerCommand>,
    snapshot: ServerSnapshot,
    current_listing: ServerListing,
    stderr: Arc<StderrRing>,
    logs: VecDeque<LogLine>,
    link: Link,
    pid: Option<u32>,
    publish_due: Option<tokio::time::Instant>,
    relist: Relist,
    pings: PingStats,
    ping_due: Option<tokio::time::Instant>,
    ping_running: Option<BoxFuture<Result<Duration, RequestError>>>,
    shared: Arc<Shared>,
    /// Numbers connections, so handles can tell a new requester from the old one.
    connection_number: u64,
    restarts: RestartPolicy,
    retry_due: Option<tokio::time::Instant>,
    /// The server was Ready at least once: only then is it revived automatically (a server
    /// that never came up needs the operator, not a retry loop).
    was_ready: bool,
    dropped: Arc<AtomicU64>,
    subscriptions: Vec<String>,
    log_level: Option<String>,
}

impl ServerActor {
    pub(super) fn new(
        name: ServerName,
        config: ServerConfig,
        ctx: ActorContext,
        inbox: mpsc::Receiver<ServerCommand>,
        shared: Arc<Shared>,
    ) -> Self {
        let mut snapshot = ServerSnapshot::new(name.clone(), config.transport.kind_label());
        snapshot.enabled = config.enabled;
        Self {
            restarts: RestartPolicy::new(config.health),
            log_level: config.log_level.clone(),
            name,
            config,
            ctx,
            inbox,
            snapshot,
            current_listing: ServerListing::default(),
            stderr: Arc::new(StderrRing::default()),
            logs: VecDeque::new(),
            link: Link::Down,
            pid: None,
            publish_due: None,
            relist: Relist::default(),
            pings: PingStats::default(),
            ping_due: None,
            ping_running: None,
            shared,
            connection_number: 0,
            retry_due: None,
            was_ready: false,
            dropped: Arc::new(AtomicU64::new(0)),
            subscriptions: Vec::new(),
        }
    }

    pub(super) async fn run(mut self) {
        if self.config.enabled {
            self.start().await;
        } else {
            self.set_state(ServerState::Stopped, Some("disabled in the config".into()))
                .await;
        }
        loop {
            tokio::select! {
                command = self.inbox.recv() => match command {
                    Some(ServerCommand::Shutdown { reply }) => {
                        self.stop().await;
                        let _ = reply.send(());
                        break;
                    }
                    Some(command) => self.on_command(command).await,
                    // Every handle is gone: nobody can use this server any more.
                    None => {
                        self.stop().await;
                        break;
                    }
                },
                event = next_link_event(&mut self.link) => match event {
                    LinkEvent::Established(result) => self.on_established(*result).await,
                    LinkEvent::Exited(status) => self.on_lost(status).await,
                    LinkEvent::ServiceEnded => self.on_service_ended().await,
                    LinkEvent::Notice(notice) => self.on_notice(notice).await,
                },
                () = self.stderr.changed.notified() => self.publish_soon(),
                () = self.shared.wake.notified() => {
                    // A call failed like a broken connection: check health now.
                    if self.shared.check_health.swap(false, Ordering::AcqRel)
                        && matches!(self.link, Link::Up(_))
                    {
                        self.ping_due = Some(tokio::time::Instant::now());
                    }
                    if self.shared.stats_dirty.load(Ordering::Acquire) {
                        self.publish_soon();
                    }
                }
                () = sleep_until_some(self.publish_due) => self.publish().await,
                () = sleep_until_some(self.relist.due) => self.start_relist(),
                (parts, errors) = poll_some(&mut self.relist.running) => {
                    self.relist.running = None;
                    self.on_relisted(parts, errors).await;
                }
                () = sleep_until_some(self.ping_due) => self.start_ping(),
                result = poll_some(&mut self.ping_running) => {
                    self.ping_running = None;
                    self.on_ping(result).await;
                }
                () = sleep_until_some(self.retry_due) => {
                    self.retry_due = None;
                    self.snapshot.retry_at = None;
                    self.start().await;
                }
                () = self.ctx.root.cancelled() => {
                    self.stop().await;
                    break;
                }
            }
            self.share_requester();
        }
        self.share_requester();
    }

    /// Publishes the live connection's requester to the handles (or withdraws it).
    fn share_requester(&self) {
        let current = match &self.link {
            Link::Up(connection) => Some((self.connection_number, connection.requester.clone())),
            Link::Down | Link::Connecting(_) => None,
        };
        self.shared.requester.send_if_modified(|shared| {
            let changed = shared.as_ref().map(|(n, _)| *n) != current.as_ref().map(|(n, _)| *n);
            if changed {
                *shared = current;
            }
            changed
        });
    }

    async fn on_command(&mut self, command: ServerCommand) {
        match command {
            ServerCommand::GetRequester { reply } => {
                let _ = reply.send(self.requester());
            }
            ServerCommand::Reconnect => self.reconnect(false).await,
            ServerCommand::Restart => self.reconnect(true).await,
            ServerCommand::SetEnabled(enabled) => self.set_enabled(enabled).await,
            ServerCommand::Subscribe { uri, reply } => {
                let result = match self.requester() {
                    Ok(requester) => requester
                        .subscribe(&uri)
                        .await
                        .map_err(|error| self.request_error(error)),
                    Err(error) => Err(error),
                };
                if result.is_ok() && !self.subscriptions.contains(&uri) {
                    self.subscriptions.push(uri);
                    self.snapshot.subscriptions = self.subscriptions.clone();
                    self.publish_soon();
                }
                let _ = reply.send(result);
            }
            ServerCommand::SetLogLevel { level, reply } => {
                let result = match self.requester() {
                    Ok(requester) => requester
                        .set_level(&level)
                        .await
                        .map_err(|error| self.request_error(error)),
                    Err(error) => Err(error),
                };
                if result.is_ok() {
                    self.log_level = Some(level);
                }
                let _ = reply.send(result);
            }
            // Handled by the loop, which must break out.
            ServerCommand::Shutdown { reply } => {
                let _ = reply.send(());
            }
        }
    }

    fn request_error(&self, error: RequestError) -> CallError {
        CallError::Request {
            server: self.name.clone(),
            error,
        }
    }

    fn requester(&self) -> Result<Requester, CallError> {
        match &self.link {
            Link::Up(connection) => Ok(connection.requester.clone()),
            Link::Down | Link::Connecting(_) => Err(CallError::NotReady {
                server: self.name.clone(),
                state: self.snapshot.state,
                reason: self.snapshot.last_error.clone(),
            }),
        }
    }

    fn startup_timeout(&self) -> Duration {
        self.config
            .startup_timeout
            .unwrap_or(self.ctx.default_startup_timeout)
    }

    /// Spawns or connects the transport and begins the handshake; the loop finishes it.
    async fn start(&mut self) {
        self.pings = PingStats::default();
        self.ping_due = None;
        self.set_state(ServerState::Starting, None).await;
        let started = Instant::now();
        let (notice_tx, notices) = mpsc::channel(NOTICE_QUEUE);
        let progress = ProgressRouter::default();
        let client = McpClient::new(
            notice_tx,
            self.dropped.clone(),
            progress.clone(),
            self.name.clone(),
            self.ctx.sampling.clone(),
        );
        let session = Session {
            client,
            notices,
            progress,
            timeouts: Timeouts {
                startup: self.startup_timeout(),
                request: self.config.request_timeout,
            },
            started,
        };
        match &self.config.transport {
            TransportConfig::Stdio(stdio_config) => {
                let env = self.ctx.parent_env.clone();
                match stdio::spawn(stdio_config, &*env, self.stderr.clone()) {
                    Ok(spawned) => {
                        self.pid = Some(spawned.pid);
                        self.snapshot.pid = Some(spawned.pid);
                        self.link = Link::Connecting(Box::pin(establish_stdio(spawned, session)));
                        self.set_state(ServerState::Initializing, None).await;
                    }
                    Err(error) => {
                        self.set_state(ServerState::Failed, Some(error.to_string()))
                            .await;
                    }
                }
            }
            TransportConfig::Http(http_config) => {
                self.link = Link::Connecting(Box::pin(establish_http(
                    http_config.clone(),
                    self.ctx.http.clone(),
                    session,
                )));
                self.set_state(ServerState::Initializing, None).await;
            }
        }
    }

    async fn on_established(&mut self, result: Result<Established, ConnectFailure>) {
        let established = match result {
            Ok(established) => established,
            Err(failure) => {
                self.link = Link::Down;
                self.kill_process().await;
                self.after_failure(failure.state, failure.reason).await;
                return;
            }
        };
        let requester = established.connection.requester.clone();
        self.connection_number += 1;
        self.link = Link::Up(established.connection);
        self.snapshot.transport = established.transport;
        self.snapshot.protocol_version = Some(established.protocol_version);
        self.snapshot.identity = established.identity;
        self.snapshot.capabilities = established.capabilities;
        self.snapshot.ready_since = Some(Instant::now());
        self.snapshot.startup_time = Some(established.startup_time);
        self.was_ready = true;
        self.apply_listing(established.listing).await;
        let mut problems = established.listing_errors;
        // Renew what the operator asked for on the previous connection.
        if let Some(level) = self.log_level.clone()
            && self.snapshot.capabilities.iter().any(|c| c == "logging")
            && let Err(error) = requester.set_level(&level).await
        {
            problems.push(error.to_string());
        }
        for uri in self.subscriptions.clone() {
            if let Err(error) = requester.subscribe(&uri).await {
                problems.push(error.to_string());
            }
        }
        self.schedule_ping();
        if problems.is_empty() {
            self.snapshot.last_error = None;
            self.set_state(ServerState::Ready, None).await;
        } else {
            self.set_state(ServerState::Degraded, Some(problems.join("; ")))
                .await;
        }
    }

    /// A start or a connection failed: reconnect later if the server has worked before and
    /// the restart budget allows, otherwise stay Failed (or NeedsAuth) until the operator acts.
    async fn after_failure(&mut self, state: ServerState, reason: String) {
        self.snapshot.ready_since = None;
        if state == ServerState::Failed && self.was_ready {
            match self.restarts.next_delay(Instant::now(), jitter()) {
                Some(delay) => {
                    self.snapshot.restarts = self.restarts.total;
                    self.retry_due = Some(tokio::time::Instant::now() + delay);
                    self.snapshot.retry_at = Some(Instant::now() + delay);
                    self.set_state(ServerState::Reconnecting, Some(reason))
                        .await;
                    return;
                }
                None => {
                    let reason = format!(
                        "gave up after {} restarts in 10 minutes (press r to retry): {reason}",
                        self.restarts.max_restarts()
                    );
                    self.set_state(ServerState::Failed, Some(reason)).await;
                    return;
                }
            }
        }
        self.set_state(state, Some(reason)).await;
    }

    /// The rmcp service stopped. On stdio that is nearly always the process dying, and its
    /// exit status says more than "connection closed", so give it a moment to arrive. An HTTP
    /// transport may have said why (a lost session, a 401, a dead SSE stream) and which state
    /// that leaves the server in.
    async fn on_service_ended(&mut self) {
        let mut reason = "the server closed the connection".to_owned();
        if let Link::Up(connection) = &mut self.link {
            if let Some(loss) = connection.lost.get() {
                self.drop_connection().await;
                self.after_failure(loss.state(), loss.to_string()).await;
                return;
            }
            if let Some(exited) = connection.exited.as_mut()
                && let Ok(Ok(status)) = timeout(Duration::from_millis(200), exited).await
            {
                reason = status;
            }
        }
        self.on_lost(reason).await;
    }

    /// The connection died under us.
    async fn on_lost(&mut self, reason: String) {
        self.drop_connection().await;
        self.after_failure(ServerState::Failed, reason).await;
    }

    /// Ends the current connection (if any) and everything that belongs to it.
    async fn drop_connection(&mut self) {
        if let Link::Up(connection) = std::mem::replace(&mut self.link, Link::Down) {
            connection.service_cancel.cancel();
        }
        self.kill_process().await;
        self.relist = Relist::default();
        self.ping_due = None;
        self.ping_running = None;
        self.apply_listing(ServerListing::default()).await;
        self.snapshot.ready_since = None;
    }

    /// `r` (keep the statistics) and `R` (start afresh): a new session now.
    async fn reconnect(&mut self, fresh: bool) {
        if !self.config.enabled {
            return;
        }
        self.retry_due = None;
        self.snapshot.retry_at = None;
        self.restarts.reset();
        if fresh {
            *self
                .shared
                .stats
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = CallStats::default();
            self.snapshot.calls = 0;
            self.snapshot.call_errors = 0;
            self.snapshot.call_p50 = None;
            self.snapshot.call_p95 = None;
        }
        self.close_politely().await;
        self.restarts.total += 1;
        self.snapshot.restarts = self.restarts.total;
        self.start().await;
    }

    async fn set_enabled(&mut self, enabled: bool) {
        if enabled == self.config.enabled {
            return;
        }
        self.config.enabled = enabled;
        self.snapshot.enabled = enabled;
        if enabled {
            self.restarts.reset();
            self.start().await;
        } else {
            self.retry_due = None;
            self.snapshot.retry_at = None;
            self.close_politely().await;
            self.set_state(ServerState::Stopped, Some("disabled".into()))
                .await;
        }
    }

    fn schedule_ping(&mut self) {
        self.ping_due = self
            .config
            .health
            .ping_interval
            .map(|interval| tokio::time::Instant::now() + interval);
    }

    fn start_ping(&mut self) {
        self.ping_due = None;
        let Link::Up(connection) = &self.link else {
            return;
        };
        if self.ping_running.is_some() {
            return;
        }
        let requester = connection.requester.clone();
        let limit = self.config.health.ping_timeout;
        self.ping_running = Some(Box::pin(async move { requester.ping(limit).await }));
    }

    async fn on_ping(&mut self, result: Result<Duration, RequestError>) {
        match result {
            Ok(rtt) => {
                self.pings.record_ok(rtt);
                if self
                    .snapshot
                    .ready_since
                    .is_some_and(|since| since.elapsed() > STABLE_AFTER)
                {
                    self.restarts.stable();
                }
                if self.snapshot.state == ServerState::Degraded {
                    self.snapshot.last_error = None;
                    self.set_state(ServerState::Ready, None).await;
                } else {
                    self.publish_soon();
                }
            }
            Err(error) => {
                self.pings.record_failure(error.to_string());
                if self.pings.is_dead() {
                    let reason = format!(
                        "{} heartbeat pings failed in a row (last: {error})",
                        self.pings.consecutive_failures
                    );
                    self.on_lost(reason).await;
                    return;
                }
                self.set_state(ServerState::Degraded, Some(error.to_string()))
                    .await;
                // Check again soon rather than a whole interval later.
                self.ping_due = Some(tokio::time::Instant::now() + self.config.health.ping_timeout);
                return;
            }
        }
        self.schedule_ping();
    }

    async fn set_state(&mut self, state: ServerState, error: Option<String>) {
        self.snapshot.state = state;
        if error.is_some() {
            self.snapshot.last_error = error;
        }
        self.publish().await;
    }

    fn publish_soon(&mut self) {
        if self.publish_due.is_none() {
            self.publish_due = Some(tokio::time::Instant::now() + PUBLISH_EVERY);
        }
    }

    async fn publish(&mut self) {
        self.publish_due = None;
        let s = &mut self.snapshot;
        s.stderr_tail = self.stderr.tail(STDERR_TAIL);
        s.logs = self.logs.iter().cloned().collect();
        s.ping_samples = self.pings.samples.iter().copied().collect();
        s.ping_failures = self.pings.consecutive_failures;
        self.shared.stats_dirty.store(false, Ordering::Release);
        {
            let stats = self
                .shared
                .stats
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            s.calls = stats.calls;
            s.call_errors = stats.errors;
            s.call_p50 = stats.percentile(50);
            s.call_p95 = stats.percentile(95);
        }
        s.restarts = self.restarts.total;
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped > s.dropped_notices && s.state == ServerState::Ready {
            // A flood is a fault worth showing; the next good heartbeat clears it.
            s.state = ServerState::Degraded;
            s.last_error = Some(format!(
                "the server floods notifications ({dropped} dropped; the newest are kept)"
            ));
        }
        s.dropped_notices = dropped;
        let snapshot = Arc::new(self.snapshot.clone());
        let _ = self
            .ctx
            .updates
            .send(ServerUpdate::Snapshot(self.ctx.index, snapshot))
            .await;
    }
}

async fn next_link_event(link: &mut Link) -> LinkEvent {
    match link {
        Link::Down => std::future::pending().await,
        Link::Connecting(handshake) => LinkEvent::Established(Box::new(handshake.await)),
        Link::Up(Connection {
            exited,
            service_done,
            notices,
            ..
        }) => {
            let exited = async {
                match exited.as_mut() {
                    Some(exited) => exited
                        .await
                        .unwrap_or_else(|_| "the process exited".to_owned()),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                status = exited => LinkEvent::Exited(status),
                _ = service_done => LinkEvent::ServiceEnded,
                Some(notice) = notices.recv() => LinkEvent::Notice(notice),
            }
        }
    }
}

async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn poll_some<T>(future: &mut Option<BoxFuture<T>>) -> T {
    match future {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}
