//! The server actor's loop and lifecycle: start (spawn or connect, then the handshake),
//! Ready, a heartbeat that can mark it Degraded, loss of the connection (a process exit is
//! seen at once; an HTTP server through failed pings or requests), automatic reconnects with
//! backoff under a restart budget, and the operator's reconnect / restart / disable keys.
//!
//! The loop waits on its inbox, the connection (handshake, exit, service end, notifications),
//! the heartbeat, a pending reconnect, re-listing after `list_changed`, throttled publishing
//! of the snapshot and of new stderr and log lines, and the app shutting down. It never awaits
//! a request to its server: pings, re-listing, `resources/subscribe` and `logging/setLevel`
//! (asked for, or renewed after a reconnect) run as futures the loop polls beside everything
//! else, so a wedged server cannot delay exit detection, heartbeats or commands.
//!
//! What servers say between requests is handled in `actor/listing.rs`; subscribe and setLevel
//! in `actor/errands.rs`; publishing in `actor/publish.rs`; stopping a server (politely, then
//! its process group) in `actor/stop.rs`. Time is tokio's, so tests can pause it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};
use tracing::Instrument;

use super::health::{CallStats, Loss, PingStats, RestartPolicy, Retry};
use super::{ActorContext, CallError, ServerCommand, Shared};
use crate::backoff::jitter;
use crate::config::{ServerConfig, TransportConfig};
use crate::runtime::catalog::ServerListing;
use crate::runtime::client::{McpClient, NOTICE_QUEUE, ProgressRouter, ServerNotice};
use crate::runtime::connect::{
    ConnectFailure, Connection, Established, ListingParts, Session, Timeouts, establish_http,
    establish_stdio,
};
use crate::runtime::messages::{ServerName, ServerSnapshot, ServerState};
use crate::runtime::request::{RequestError, Requester};
use crate::runtime::stdio;

mod errands;
mod heartbeat;
mod listing;
mod publish;
mod stop;
#[cfg(test)]
mod tests;

use errands::{ErrandDone, ErrandKind};
use publish::LogBatch;

/// Log lines an actor holds between two publishes; a faster server loses the oldest (counted).
const LOG_LINES: usize = 200;
/// Stderr and logs can change thousands of times a second; the dashboard needs at most this.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// list_changed notifications arrive in bursts; wait this long for the burst to end.
const RELIST_DEBOUNCE: Duration = Duration::from_millis(50);
/// A server that stays up this long has recovered: its backoff starts over.
const STABLE_AFTER: Duration = Duration::from_secs(60);

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// How tests connect an actor to an in-process server instead of its configured transport.
#[cfg(test)]
pub(in crate::runtime) type TestConnector =
    Arc<dyn Fn(Session) -> BoxFuture<Result<Established, ConnectFailure>> + Send + Sync>;

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
    /// A field of the snapshot changed since it was last published.
    snapshot_dirty: bool,
    current_listing: ServerListing,
    /// Log lines received since the last publish.
    logs: LogBatch,
    /// Where the next read of the stderr ring starts.
    stderr_mark: usize,
    link: Link,
    pid: Option<u32>,
    publish_due: Option<Instant>,
    relist: Relist,
    pings: PingStats,
    ping_due: Option<Instant>,
    ping_running: Option<BoxFuture<Result<Duration, RequestError>>>,
    /// Subscribe and setLevel requests in flight.
    errands: FuturesUnordered<BoxFuture<ErrandDone>>,
    shared: Arc<Shared>,
    /// Numbers connections, so handles can tell a new requester from the old one.
    connection_number: u64,
    restarts: RestartPolicy,
    retry_due: Option<Instant>,
    /// When the live connection came up.
    ready_at: Option<Instant>,
    /// The server was Ready at least once: only then is it revived automatically (a server
    /// that never came up needs the operator, not a retry loop).
    was_ready: bool,
    dropped: Arc<AtomicU64>,
    subscriptions: Vec<String>,
    log_level: Option<String>,
    /// The span of the current connection (or the attempt to make it), inside the actor's
    /// `server` span: its number, no URLs or headers.
    connection_span: tracing::Span,
    #[cfg(test)]
    pub(super) connector: Option<TestConnector>,
}

impl ServerActor {
    pub(super) fn new(
        name: ServerName,
        config: ServerConfig,
        ctx: ActorContext,
        inbox: mpsc::Receiver<ServerCommand>,
        shared: Arc<Shared>,
    ) -> Self {
        let snapshot = ServerSnapshot::for_config(&config);
        let restarts = match &config.transport {
            TransportConfig::Stdio(_) => RestartPolicy::new(config.health),
            TransportConfig::Http(_) => RestartPolicy::remote(config.health),
        };
        Self {
            restarts,
            log_level: config.log_level.clone(),
            name,
            config,
            ctx,
            inbox,
            snapshot,
            snapshot_dirty: false,
            current_listing: ServerListing::default(),
            logs: LogBatch::default(),
            stderr_mark: 0,
            link: Link::Down,
            pid: None,
            publish_due: None,
            relist: Relist::default(),
            pings: PingStats::default(),
            ping_due: None,
            ping_running: None,
            errands: FuturesUnordered::new(),
            shared,
            connection_number: 0,
            retry_due: None,
            ready_at: None,
            was_ready: false,
            dropped: Arc::new(AtomicU64::new(0)),
            subscriptions: Vec::new(),
            connection_span: tracing::Span::none(),
            #[cfg(test)]
            connector: None,
        }
    }

    pub(super) async fn run(mut self) {
        // Until the first connection, state changes belong to the server's own span.
        self.connection_span = tracing::Span::current();
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
                () = self.shared.stderr.changed.notified() => self.flush_soon(),
                () = self.shared.late_progress.changed.notified() => self.publish_soon(),
                Some(done) = self.errands.next(), if !self.errands.is_empty() => {
                    self.on_errand(done).await;
                }
                () = self.shared.wake.notified() => {
                    // A call failed like a broken connection: check health now.
                    if self.shared.check_health.swap(false, Ordering::AcqRel)
                        && matches!(self.link, Link::Up(_))
                    {
                        self.ping_due = Some(Instant::now());
                    }
                    if self.shared.stats_dirty.load(Ordering::Acquire) {
                        self.publish_soon();
                    }
                }
                () = sleep_until_some(self.publish_due) => self.on_publish_due().await,
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
                self.start_errand(ErrandKind::Subscribe(uri), Some(reply));
            }
            ServerCommand::SetLogLevel { level, reply } => {
                self.start_errand(ErrandKind::SetLevel(level), Some(reply));
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
        self.connection_span =
            tracing::info_span!("connection", number = self.connection_number + 1);
        self.set_state(ServerState::Starting, None).await;
        let started = std::time::Instant::now();
        let (notice_tx, notices) = mpsc::channel(NOTICE_QUEUE);
        let progress = ProgressRouter::new(self.shared.late_progress.clone());
        let client = McpClient::new(
            notice_tx,
            self.dropped.clone(),
            progress.clone(),
            self.name.clone(),
            self.ctx.sampling.clone(),
        )
        .with_secrets(self.ctx.secrets.clone())
        .with_elicitation(self.ctx.elicitation.clone())
        .with_roots(self.shared.roots.clone(), self.ctx.report.clone());
        let session = Session {
            client,
            notices,
            progress,
            timeouts: Timeouts {
                startup: self.startup_timeout(),
                request: self.config.request_timeout,
            },
            started,
            auth: self.ctx.auth.clone(),
        };
        #[cfg(test)]
        if let Some(connect) = &self.connector {
            let handshake = connect(session).instrument(self.connection_span.clone());
            self.link = Link::Connecting(Box::pin(handshake));
            self.set_state(ServerState::Initializing, None).await;
            return;
        }
        match &self.config.transport {
            TransportConfig::Stdio(stdio_config) => {
                let env = self.ctx.parent_env.clone();
                match stdio::spawn(stdio_config, &*env, self.shared.stderr.clone()) {
                    Ok(spawned) => {
                        self.pid = Some(spawned.pid);
                        self.snapshot.pid = Some(spawned.pid);
                        let handshake = establish_stdio(spawned, session)
                            .instrument(self.connection_span.clone());
                        self.link = Link::Connecting(Box::pin(handshake));
                        self.set_state(ServerState::Initializing, None).await;
                    }
                    Err(error) => {
                        self.set_state(ServerState::Failed, Some(error.to_string()))
                            .await;
                    }
                }
            }
            TransportConfig::Http(http_config) => {
                let handshake = establish_http(
                    http_config.clone(),
                    self.ctx.http.clone(),
                    session,
                    self.ctx.auth.clone(),
                )
                .instrument(self.connection_span.clone());
                self.link = Link::Connecting(Box::pin(handshake));
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
                self.after_failure(Loss::AttemptFailed, failure.state, failure.reason)
                    .await;
                return;
            }
        };
        self.connection_number += 1;
        self.link = Link::Up(established.connection);
        self.snapshot.transport = established.transport;
        self.snapshot.protocol_version = Some(established.protocol_version);
        self.snapshot.identity = established.identity;
        self.snapshot.capabilities = established.capabilities;
        let now = Instant::now();
        self.ready_at = Some(now);
        self.snapshot.ready_since = Some(now.into_std());
        self.snapshot.startup_time = Some(established.startup_time);
        self.was_ready = true;
        self.restarts.connected();
        self.snapshot.reconnect_attempts = 0;
        self.apply_listing(established.listing).await;
        // Renew what the operator asked for on the previous connection, beside the loop.
        if let Some(level) = self.log_level.clone()
            && self.snapshot.capabilities.iter().any(|c| c == "logging")
        {
            self.start_errand(ErrandKind::SetLevel(level), None);
        }
        for uri in self.subscriptions.clone() {
            self.start_errand(ErrandKind::Subscribe(uri), None);
        }
        self.schedule_ping();
        let problems = established.listing_errors;
        if problems.is_empty() {
            self.snapshot.last_error = None;
            self.set_state(ServerState::Ready, None).await;
        } else {
            self.set_state(ServerState::Degraded, Some(problems.join("; ")))
                .await;
        }
    }

    /// A start or a connection failed: reconnect later if the server has worked before and
    /// the restart policy allows, otherwise stay Failed (or NeedsAuth) until the operator acts.
    async fn after_failure(&mut self, loss: Loss, state: ServerState, reason: String) {
        self.snapshot.ready_since = None;
        self.ready_at = None;
        if state == ServerState::Failed && self.was_ready {
            let now = Instant::now();
            let retry = self.restarts.after(loss, now, jitter());
            self.snapshot.restarts = self.restarts.total;
            self.snapshot.reconnect_attempts = self.restarts.attempts;
            let (delay, reason) = match retry {
                Retry::After(delay) => (delay, reason),
                Retry::Polling(delay) => (
                    delay,
                    format!(
                        "down again after {} restarts in 10 minutes; trying every minute or \
                         so (press r to try now): {reason}",
                        self.restarts.max_restarts()
                    ),
                ),
                Retry::GiveUp => {
                    let reason = format!(
                        "gave up after {} restarts in 10 minutes (press r to retry): {reason}",
                        self.restarts.max_restarts()
                    );
                    self.set_state(ServerState::Failed, Some(reason)).await;
                    return;
                }
            };
            self.retry_due = Some(now + delay);
            self.snapshot.retry_at = Some((now + delay).into_std());
            self.set_state(ServerState::Reconnecting, Some(reason))
                .await;
            return;
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
            if let Some(why) = connection.lost.get() {
                self.drop_connection().await;
                self.after_failure(Loss::ConnectionLost, why.state(), why.to_string())
                    .await;
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
        self.after_failure(Loss::ConnectionLost, ServerState::Failed, reason)
            .await;
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
        self.ready_at = None;
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
        self.snapshot.reconnect_attempts = 0;
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
