//! One actor per MCP server. The actor (`actor.rs`) owns the connection — the rmcp service,
//! the child process, its stderr, the health bookkeeping (`health.rs`) — and is the only code
//! that changes the server's state. The cloneable [`ServerHandle`] talks to it through a
//! bounded inbox.
//!
//! Requests do not run inside the actor: a caller asks the handle for a [`Requester`] (a clone
//! of the connection's peer, with deadlines) and awaits the request on its own task, so a slow
//! tool call never blocks the actor, and dropping the caller's future cancels the request.

mod actor;
pub mod health;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rmcp::model::{CallToolResult, GetPromptResult, JsonObject, ReadResourceResult};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::catalog::ServerListing;
use super::client::{LateProgress, ProgressSink};
use super::messages::{LogLine, ServerName, ServerSnapshot, ServerState};
use super::request::{RequestError, Requester};
use super::roots::SharedRoots;
use super::stdio::StderrRing;
use crate::config::ServerConfig;

/// What the runtime passes to every actor.
#[derive(Clone)]
pub struct ActorContext {
    pub index: usize,
    pub default_startup_timeout: Duration,
    pub updates: mpsc::Sender<ServerUpdate>,
    pub root: CancellationToken,
    pub parent_env: super::ParentEnv,
    /// One pooled HTTP client for every HTTP and SSE server, built when the first connects.
    pub http: super::http_client::SharedHttpClient,
    /// Where sampling requests go (if sampling is offered).
    pub sampling: Option<super::sampling::SamplingSender>,
    /// This server's configured credentials, scrubbed from everything it sends back.
    pub secrets: Arc<crate::redact::Secrets>,
    /// OAuth for an HTTP server without a token of its own (kept across reconnects).
    pub auth: Option<Arc<crate::auth::ServerAuth>>,
    /// Who answers elicitation requests.
    pub elicitation: super::elicitation::ElicitationRouter,
    /// Headless: where to say what the user must know (stderr).
    pub report: Option<super::elicitation::Reporter>,
}

/// What an actor tells the supervisor.
#[derive(Debug)]
pub enum ServerUpdate {
    Snapshot(usize, Arc<ServerSnapshot>),
    Listing(usize, Arc<ServerListing>),
    ResourceUpdated(usize, String),
    /// Log messages since the last batch; `dropped` were lost right before them.
    Logs {
        index: usize,
        lines: Vec<LogLine>,
        dropped: u64,
    },
    /// Stderr lines since the last batch; `dropped` were lost right before them.
    Stderr {
        index: usize,
        lines: Vec<String>,
        dropped: u64,
    },
}

/// How to get a NeedsAuth server going, for the error of a request it cannot take.
fn sign_in_hint(server: &ServerName, state: ServerState) -> String {
    if state == ServerState::NeedsAuth {
        format!("; sign in with `mcpomni auth {server}` (or a in the dashboard's Servers pane)")
    } else {
        String::new()
    }
}

/// Why a request could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    #[error(
        "server `{server}` is {state}{}{}",
        reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default(),
        sign_in_hint(server, *state)
    )]
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

/// Options for one tool call.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Firing it cancels the call (the server is told with `notifications/cancelled`).
    pub cancel: Option<CancellationToken>,
    /// Receives the call's progress notifications.
    pub progress: Option<ProgressSink>,
}

/// What the actor shares with its handles so the hot path (a tool call) needs no round trip
/// through the actor: the live connection's requester, and the call statistics.
#[derive(Debug)]
struct Shared {
    /// The current connection's requester (with the connection's number), if it is up.
    requester: watch::Sender<Option<(u64, Requester)>>,
    stats: Mutex<health::CallStats>,
    /// New statistics wait to be published (so the actor is woken once, not per call).
    stats_dirty: AtomicBool,
    /// A call failed like a broken connection: the actor should check health now.
    check_health: AtomicBool,
    wake: Notify,
    /// What the server wrote to stderr (every process it ran), newest last.
    stderr: Arc<StderrRing>,
    /// Progress notifications that arrived for no running call.
    late_progress: Arc<LateProgress>,
    /// The directories the server is told about.
    roots: SharedRoots,
}

impl Shared {
    fn new(roots: Vec<std::path::PathBuf>) -> Self {
        Self {
            requester: watch::Sender::new(None),
            stats: Mutex::new(health::CallStats::default()),
            stats_dirty: AtomicBool::new(false),
            check_health: AtomicBool::new(false),
            wake: Notify::new(),
            stderr: Arc::new(StderrRing::default()),
            late_progress: Arc::new(LateProgress::default()),
            roots: SharedRoots::new(roots),
        }
    }

    fn record_call(&self, latency: Duration, ok: bool, transport_failure: bool) {
        self.stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(latency, ok);
        let first_since_publish = !self.stats_dirty.swap(true, Ordering::AcqRel);
        if transport_failure {
            self.check_health.store(true, Ordering::Release);
        }
        if first_since_publish || transport_failure {
            self.wake.notify_one();
        }
    }
}

enum ServerCommand {
    GetRequester {
        reply: oneshot::Sender<Result<Requester, CallError>>,
    },
    Reconnect,
    Restart,
    SetEnabled(bool),
    Subscribe {
        uri: String,
        reply: oneshot::Sender<Result<(), CallError>>,
    },
    SetLogLevel {
        level: String,
        reply: oneshot::Sender<Result<(), CallError>>,
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
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ServerCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            ServerCommand::GetRequester { .. } => "GetRequester",
            ServerCommand::Reconnect => "Reconnect",
            ServerCommand::Restart => "Restart",
            ServerCommand::SetEnabled(_) => "SetEnabled",
            ServerCommand::Subscribe { .. } => "Subscribe",
            ServerCommand::SetLogLevel { .. } => "SetLogLevel",
            ServerCommand::Shutdown { .. } => "Shutdown",
        };
        f.write_str(name)
    }
}

impl ServerHandle {
    pub fn name(&self) -> &ServerName {
        &self.name
    }

    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, CallError>>) -> ServerCommand,
    ) -> Result<T, CallError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(command(reply))
            .await
            .map_err(|_| CallError::Gone(self.name.clone()))?;
        answer
            .await
            .map_err(|_| CallError::Gone(self.name.clone()))?
    }

    /// The last `n` lines the server wrote to stderr (across restarts), oldest first.
    pub fn stderr_tail(&self, n: usize) -> Vec<String> {
        self.shared.stderr.tail(n)
    }

    /// A requester for the live connection, or why there is none.
    pub async fn requester(&self) -> Result<Requester, CallError> {
        if let Some((_, requester)) = self.shared.requester.borrow().as_ref() {
            return Ok(requester.clone());
        }
        // Not up: the actor knows the state and the reason.
        self.ask(|reply| ServerCommand::GetRequester { reply })
            .await
    }

    /// The directories the server is told about.
    pub fn roots(&self) -> &SharedRoots {
        &self.shared.roots
    }

    /// Sends `notifications/roots/list_changed` if the server is connected (it asks again).
    pub async fn notify_roots_changed(&self) {
        let requester = self
            .shared
            .requester
            .borrow()
            .as_ref()
            .map(|(_, r)| r.clone());
        if let Some(requester) = requester
            && let Err(error) = requester.peer().notify_roots_list_changed().await
        {
            tracing::warn!(server = %self.name, "could not send roots/list_changed: {error}");
        }
    }

    /// Calls `tool`; the result (and how long it took) also feeds the server's statistics.
    pub async fn call_tool(
        &self,
        tool: &str,
        arguments: JsonObject,
        deadline: Duration,
        options: CallOptions,
    ) -> Result<CallToolResult, CallError> {
        let requester = self.requester().await?;
        let started = tokio::time::Instant::now();
        let result = requester
            .call_tool(tool, arguments, deadline, options.cancel, options.progress)
            .await;
        let (ok, transport_failure) = match &result {
            Ok(result) => (!result.is_error.unwrap_or(false), false),
            Err(RequestError::Cancelled { .. }) => (true, false),
            // A 401 also makes the actor look now: its heartbeat will hear the 401 too.
            Err(
                RequestError::Closed { .. }
                | RequestError::Transport { .. }
                | RequestError::Unauthorized { .. },
            ) => (false, true),
            Err(
                RequestError::Timeout { .. }
                | RequestError::Server { .. }
                | RequestError::Unexpected { .. },
            ) => (false, false),
        };
        self.shared
            .record_call(started.elapsed(), ok, transport_failure);
        result.map_err(|error| self.request_error(error))
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

    /// Subscribes to `uri`; the subscription is renewed after every reconnect. The request
    /// runs beside the actor, which stays free for everything else while the server answers.
    pub async fn subscribe(&self, uri: &str) -> Result<(), CallError> {
        let uri = uri.to_owned();
        self.ask(|reply| ServerCommand::Subscribe { uri, reply })
            .await
    }

    /// Sends `logging/setLevel` now and after every reconnect.
    pub async fn set_log_level(&self, level: &str) -> Result<(), CallError> {
        let level = level.to_owned();
        self.ask(|reply| ServerCommand::SetLogLevel { level, reply })
            .await
    }

    pub async fn reconnect(&self) {
        let _ = self.tx.send(ServerCommand::Reconnect).await;
    }

    pub async fn restart(&self) {
        let _ = self.tx.send(ServerCommand::Restart).await;
    }

    pub async fn set_enabled(&self, enabled: bool) {
        let _ = self.tx.send(ServerCommand::SetEnabled(enabled)).await;
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

/// Starts the actor for `config` on its own task, inside a `server` span (the server's name;
/// each connection gets a `connection` span inside it, see the actor).
pub fn spawn_actor(config: ServerConfig, ctx: ActorContext) -> (ServerHandle, JoinHandle<()>) {
    let name = ServerName::new(&config.name);
    let (tx, inbox) = mpsc::channel(64);
    let shared = Arc::new(Shared::new(config.roots.clone()));
    let actor = actor::ServerActor::new(name.clone(), config, ctx, inbox, shared.clone());
    let task = tokio::spawn(run_in_span(actor, &name));
    (ServerHandle { name, tx, shared }, task)
}

fn run_in_span(actor: actor::ServerActor, name: &ServerName) -> impl Future<Output = ()> + use<> {
    use tracing::Instrument;
    let span = tracing::info_span!("server", server = %name);
    actor.run().instrument(span)
}

/// Like [`spawn_actor`], but every start connects through `connector` (an in-process server)
/// instead of the configured transport: actor tests on a paused clock.
#[cfg(test)]
pub(in crate::runtime) fn spawn_test_actor(
    config: ServerConfig,
    ctx: ActorContext,
    connector: actor::TestConnector,
) -> (ServerHandle, JoinHandle<()>) {
    let name = ServerName::new(&config.name);
    let (tx, inbox) = mpsc::channel(64);
    let shared = Arc::new(Shared::new(config.roots.clone()));
    let mut actor = actor::ServerActor::new(name.clone(), config, ctx, inbox, shared.clone());
    actor.connector = Some(connector);
    let task = tokio::spawn(run_in_span(actor, &name));
    (ServerHandle { name, tx, shared }, task)
}
