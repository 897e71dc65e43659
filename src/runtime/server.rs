//! One actor per MCP server. The [`ServerActor`] owns the connection (the rmcp service, the
//! child process, its stderr) and is the only code that changes the server's state; the
//! cloneable [`ServerHandle`] talks to it through a bounded inbox.
//!
//! Requests do not run inside the actor: a caller asks the handle for a [`Requester`] (a clone
//! of the connection's peer, with deadlines) and awaits the request on its own task, so a slow
//! tool call never blocks the actor, and dropping the caller's future cancels the request.
//!
//! The actor's loop waits on its inbox, the handshake in progress, the process exiting, the
//! rmcp service ending, the server's notifications, stderr changes and the app shutting down.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use rmcp::model::{CallToolResult, GetPromptResult, JsonObject, ReadResourceResult};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, timeout};
use tokio_util::sync::CancellationToken;

use super::catalog::ServerListing;
use super::client::{ListKind, McpClient, NOTICE_QUEUE, ServerNotice};
use super::connect::{
    Connection, Established, ListingParts, Timeouts, Wanted, establish_stdio, list_parts,
};
use super::messages::{ServerName, ServerSnapshot, ServerState};
use super::request::{RequestError, Requester};
use super::stdio::{self, StderrRing};
use crate::config::{ServerConfig, TransportConfig};

/// Stderr lines carried in each snapshot.
const STDERR_TAIL: usize = 20;
/// Stderr can change thousands of times a second; the dashboard needs at most this rate.
const STDERR_PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// list_changed notifications arrive in bursts; wait this long for the burst to end.
const RELIST_DEBOUNCE: Duration = Duration::from_millis(50);
/// How long a server gets to exit by itself after its stdin closes.
const EXIT_GRACE: Duration = Duration::from_millis(500);
/// How long it gets after SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_millis(300);
/// How long to wait for a SIGKILLed process to be reaped.
const KILL_GRACE: Duration = Duration::from_millis(200);

/// What the runtime passes to every actor.
#[derive(Clone)]
pub struct ActorContext {
    pub index: usize,
    pub default_startup_timeout: Duration,
    pub updates: mpsc::Sender<ServerUpdate>,
    pub root: CancellationToken,
    pub parent_env: super::ParentEnv,
}

/// What an actor tells the supervisor.
#[derive(Debug)]
pub enum ServerUpdate {
    Snapshot(usize, Arc<ServerSnapshot>),
    Listing(usize, Arc<ServerListing>),
}

/// Why a request could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    #[error("server `{server}` is {state}{}", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    NotReady {
        server: ServerName,
        state: ServerState,
        reason: Option<String>,
    },
    #[error("server `{0}` has shut down")]
    Gone(ServerName),
    #[error("server `{server}`: {error}")]
    Request {
        server: ServerName,
        error: RequestError,
    },
}

enum ServerCommand {
    GetRequester {
        reply: oneshot::Sender<Result<Requester, CallError>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// A cloneable way to reach one server's actor.
#[derive(Clone, Debug)]
pub struct ServerHandle {
    name: ServerName,
    tx: mpsc::Sender<ServerCommand>,
}

impl ServerHandle {
    pub fn name(&self) -> &ServerName {
        &self.name
    }

    /// A requester for the live connection, or why there is none.
    pub async fn requester(&self) -> Result<Requester, CallError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(ServerCommand::GetRequester { reply })
            .await
            .map_err(|_| CallError::Gone(self.name.clone()))?;
        answer
            .await
            .map_err(|_| CallError::Gone(self.name.clone()))?
    }

    pub async fn call_tool(
        &self,
        tool: &str,
        arguments: JsonObject,
        deadline: Duration,
        cancel: Option<CancellationToken>,
    ) -> Result<CallToolResult, CallError> {
        let requester = self.requester().await?;
        requester
            .call_tool(tool, arguments, deadline, cancel)
            .await
            .map_err(|error| self.request_error(error))
    }

    pub async fn read_resource(&self, uri: &str) -> Result<ReadResourceResult, CallError> {
        let requester = self.requester().await?;
        requester
            .read_resource(uri)
            .await
            .map_err(|error| self.request_error(error))
    }

    pub async fn get_prompt(
        &self,
        name: &str,
        arguments: JsonObject,
    ) -> Result<GetPromptResult, CallError> {
        let requester = self.requester().await?;
        requester
            .get_prompt(name, arguments)
            .await
            .map_err(|error| self.request_error(error))
    }

    /// Stops the server and waits until it is down.
    pub async fn shutdown(&self) {
        let (reply, done) = oneshot::channel();
        if self
            .tx
            .send(ServerCommand::Shutdown { reply })
            .await
            .is_ok()
        {
            let _ = done.await;
        }
    }

    fn request_error(&self, error: RequestError) -> CallError {
        CallError::Request {
            server: self.name.clone(),
            error,
        }
    }
}

/// Starts the actor for `config` on its own task.
pub fn spawn_actor(config: ServerConfig, ctx: ActorContext) -> (ServerHandle, JoinHandle<()>) {
    let name = ServerName::new(&config.name);
    let (tx, inbox) = mpsc::channel(64);
    let actor = ServerActor {
        snapshot: ServerSnapshot::new(name.clone(), config.transport.kind_label()),
        name: name.clone(),
        config,
        ctx,
        inbox,
        stderr: Arc::new(StderrRing::default()),
        link: Link::Down,
        current_listing: ServerListing::default(),
        pid: None,
        stderr_due: None,
        relist: Relist::default(),
    };
    let task = tokio::spawn(actor.run());
    (ServerHandle { name, tx }, task)
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Something that happened on the connection.
enum LinkEvent {
    Established(Box<Result<Established, String>>),
    Exited(String),
    ServiceEnded,
    Notice(ServerNotice),
}

enum Link {
    Down,
    Connecting(BoxFuture<Result<Established, String>>),
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

struct ServerActor {
    name: ServerName,
    current_listing: ServerListing,
    config: ServerConfig,
    ctx: ActorContext,
    inbox: mpsc::Receiver<ServerCommand>,
    snapshot: ServerSnapshot,
    stderr: Arc<StderrRing>,
    link: Link,
    pid: Option<u32>,
    stderr_due: Option<tokio::time::Instant>,
    relist: Relist,
}

impl ServerActor {
    async fn run(mut self) {
        if self.config.enabled {
            self.start().await;
        } else {
            self.set_state(ServerState::Stopped, Some("disabled in the config".into()))
                .await;
        }
        loop {
            tokio::select! {
                command = self.inbox.recv() => match command {
                    Some(ServerCommand::GetRequester { reply }) => {
                        let _ = reply.send(self.requester());
                    }
                    Some(ServerCommand::Shutdown { reply }) => {
                        self.stop().await;
                        let _ = reply.send(());
                        break;
                    }
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
                    LinkEvent::Notice(notice) => self.on_notice(notice),
                },
                () = self.stderr.changed.notified() => {
                    if self.stderr_due.is_none() {
                        self.stderr_due = Some(tokio::time::Instant::now() + STDERR_PUBLISH_EVERY);
                    }
                }
                () = sleep_until_some(self.stderr_due) => self.publish().await,
                () = sleep_until_some(self.relist.due) => self.start_relist(),
                (parts, errors) = poll_some(&mut self.relist.running) => {
                    self.relist.running = None;
                    self.on_relisted(parts, errors).await;
                }
                () = self.ctx.root.cancelled() => {
                    self.stop().await;
                    break;
                }
            }
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

    /// Spawns the transport and begins the handshake; the loop finishes it.
    async fn start(&mut self) {
        self.snapshot.last_error = None;
        self.set_state(ServerState::Starting, None).await;
        let started = Instant::now();
        let (notice_tx, notices) = mpsc::channel(NOTICE_QUEUE);
        let client = McpClient::new(notice_tx, Arc::new(AtomicU64::new(0)));
        let timeouts = Timeouts {
            startup: self.startup_timeout(),
            request: self.config.request_timeout,
        };
        match &self.config.transport {
            TransportConfig::Stdio(stdio_config) => {
                let env = self.ctx.parent_env.clone();
                match stdio::spawn(stdio_config, &*env, self.stderr.clone()) {
                    Ok(spawned) => {
                        self.pid = Some(spawned.pid);
                        self.snapshot.pid = Some(spawned.pid);
                        self.link = Link::Connecting(Box::pin(establish_stdio(
                            spawned, client, notices, timeouts, started,
                        )));
                        self.set_state(ServerState::Initializing, None).await;
                    }
                    Err(error) => {
                        self.set_state(ServerState::Failed, Some(error.to_string()))
                            .await;
                    }
                }
            }
            TransportConfig::Http(_) => {
                self.set_state(
                    ServerState::Failed,
                    Some("HTTP and SSE transports are not supported in this build yet".into()),
                )
                .await;
            }
        }
    }

    async fn on_established(&mut self, result: Result<Established, String>) {
        match result {
            Ok(established) => {
                self.link = Link::Up(established.connection);
                self.snapshot.protocol_version = Some(established.protocol_version);
                self.snapshot.identity = established.identity;
                self.snapshot.capabilities = established.capabilities;
                self.snapshot.ready_since = Some(Instant::now());
                self.snapshot.startup_time = Some(established.startup_time);
                self.apply_listing(established.listing).await;
                if established.listing_errors.is_empty() {
                    self.set_state(ServerState::Ready, None).await;
                } else {
                    let reason = established.listing_errors.join("; ");
                    self.set_state(ServerState::Degraded, Some(reason)).await;
                }
            }
            Err(reason) => {
                self.link = Link::Down;
                self.kill_process().await;
                self.set_state(ServerState::Failed, Some(reason)).await;
            }
        }
    }

    /// The rmcp service stopped. On stdio that is nearly always the process dying, and its
    /// exit status says more than "connection closed", so give it a moment to arrive.
    async fn on_service_ended(&mut self) {
        let mut reason = "the server closed the connection".to_owned();
        if let Link::Up(connection) = &mut self.link
            && let Some(exited) = connection.exited.as_mut()
            && let Ok(Ok(status)) = timeout(Duration::from_millis(200), exited).await
        {
            reason = status;
        }
        self.on_lost(reason).await;
    }

    /// The connection died under us.
    async fn on_lost(&mut self, reason: String) {
        if let Link::Up(connection) = std::mem::replace(&mut self.link, Link::Down) {
            connection.service_cancel.cancel();
        }
        self.kill_process().await;
        self.relist = Relist::default();
        self.apply_listing(ServerListing::default()).await;
        self.snapshot.ready_since = None;
        self.set_state(ServerState::Failed, Some(reason)).await;
    }

    fn on_notice(&mut self, notice: ServerNotice) {
        match notice {
            ServerNotice::ListChanged(kind) => {
                match kind {
                    ListKind::Tools => self.relist.tools = true,
                    ListKind::Resources => self.relist.resources = true,
                    ListKind::Prompts => self.relist.prompts = true,
                }
                if self.relist.due.is_none() && self.relist.running.is_none() {
                    self.relist.due = Some(tokio::time::Instant::now() + RELIST_DEBOUNCE);
                }
            }
            ServerNotice::Log { level, text, .. } => {
                tracing::debug!(server = %self.name, ?level, "server log: {text}");
            }
            // Progress and resource updates belong to calls and subscriptions; the actor has
            // no use for stray ones.
            ServerNotice::Progress(_) | ServerNotice::ResourceUpdated { .. } => {}
        }
    }

    fn start_relist(&mut self) {
        self.relist.due = None;
        let Link::Up(connection) = &self.link else {
            return;
        };
        let requester = connection.requester.clone();
        let wanted = Wanted {
            tools: std::mem::take(&mut self.relist.tools),
            resources: std::mem::take(&mut self.relist.resources),
            prompts: std::mem::take(&mut self.relist.prompts),
        };
        self.relist.running = Some(Box::pin(
            async move { list_parts(&requester, wanted).await },
        ));
    }

    async fn on_relisted(&mut self, parts: ListingParts, errors: Vec<String>) {
        let (tools, resources, prompts) = parts;
        let mut listing = self.current_listing.clone();
        if let Some(tools) = tools {
            listing.tools = tools;
        }
        if let Some(resources) = resources {
            listing.resources = resources;
        }
        if let Some(prompts) = prompts {
            listing.prompts = prompts;
        }
        if !errors.is_empty() {
            self.snapshot.last_error = Some(errors.join("; "));
        }
        self.apply_listing(listing).await;
        self.publish().await;
        // Notifications that came in while listing: list again, newest wins.
        if self.relist.tools || self.relist.resources || self.relist.prompts {
            self.relist.due = Some(tokio::time::Instant::now() + RELIST_DEBOUNCE);
        }
    }

    async fn apply_listing(&mut self, listing: ServerListing) {
        self.snapshot.tool_count = listing.tools.len();
        self.snapshot.resource_count = listing.resources.len();
        self.snapshot.prompt_count = listing.prompts.len();
        self.current_listing = listing.clone();
        let _ = self
            .ctx
            .updates
            .send(ServerUpdate::Listing(self.ctx.index, Arc::new(listing)))
            .await;
    }

    async fn set_state(&mut self, state: ServerState, error: Option<String>) {
        self.snapshot.state = state;
        if error.is_some() {
            self.snapshot.last_error = error;
        }
        self.publish().await;
    }

    async fn publish(&mut self) {
        self.stderr_due = None;
        self.snapshot.stderr_tail = self.stderr.tail(STDERR_TAIL);
        let snapshot = Arc::new(self.snapshot.clone());
        let _ = self
            .ctx
            .updates
            .send(ServerUpdate::Snapshot(self.ctx.index, snapshot))
            .await;
    }

    /// Closes the session politely, then makes sure the process group is gone.
    async fn stop(&mut self) {
        match std::mem::replace(&mut self.link, Link::Down) {
            Link::Up(mut connection) => {
                connection.service_cancel.cancel();
                match connection.exited.as_mut() {
                    Some(exited) => {
                        let _ = timeout(EXIT_GRACE, exited).await;
                    }
                    None => {
                        let _ = timeout(EXIT_GRACE, &mut connection.service_done).await;
                    }
                }
            }
            // Dropping the handshake future closes the pipes; the kill below does the rest.
            Link::Connecting(_) | Link::Down => {}
        }
        self.kill_process().await;
        self.relist = Relist::default();
        self.apply_listing(ServerListing::default()).await;
        self.snapshot.ready_since = None;
        self.set_state(ServerState::Stopped, None).await;
    }

    /// Ends whatever is left of the server's process group: SIGTERM, a short grace, SIGKILL.
    async fn kill_process(&mut self) {
        let Some(pid) = self.pid.take() else {
            return;
        };
        if stdio::group_alive(pid) {
            stdio::signal_group(pid, Signal::SIGTERM);
            wait_for_group_exit(pid, TERM_GRACE).await;
        }
        if stdio::group_alive(pid) {
            stdio::signal_group(pid, Signal::SIGKILL);
            // SIGKILL cannot be refused; this only waits for the zombie to be reaped.
            wait_for_group_exit(pid, KILL_GRACE).await;
        }
        stdio::forget_group(pid);
    }
}

async fn wait_for_group_exit(pid: u32, limit: Duration) {
    let deadline = Instant::now() + limit;
    while stdio::group_alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
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
