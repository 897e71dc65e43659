//! The runtime: one actor per MCP server, a supervisor that gathers their state into
//! snapshots and a catalog, and [`RuntimeHandle`], the cloneable front door used by both the
//! TUI and the headless subcommands. It never touches the terminal.
//!
//! State flows out two ways: `watch` channels hold the latest server snapshots and catalog
//! (for callers that want "the current truth", like headless commands), and an `RuntimeEvent` stream
//! reports changes (for the TUI's update loop): snapshots coalesced (latest wins), log and
//! stderr lines as bounded streams of their own (see `supervisor.rs`).

pub mod bridge;
pub mod catalog;
pub mod challenge;
pub mod client;
mod connect;
pub mod content;
pub mod elicitation;
pub mod http_client;
mod http_transports;
pub(crate) mod link_loss;
pub mod messages;
pub mod request;
pub mod roots;
pub mod sampling;
pub mod schema;
pub mod server;
pub mod sse;
pub mod stdio;
mod stdout_noise;
mod streamable;
mod supervisor;
mod transport_error;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rmcp::model::{CallToolResult, GetPromptResult, JsonObject, ReadResourceResult};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use catalog::Catalog;
use http_client::SharedHttpClient;
use messages::{RuntimeEvent, ServerName, ServerSnapshot, ServerState};
use server::{ActorContext, CallError, CallOptions, ServerHandle, spawn_actor};
use supervisor::Supervisor;

/// How long shutdown may take before the remaining tasks are abandoned. Each server gets
/// well under this (see `server::EXIT_GRACE`); they all stop concurrently.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(3);
/// Room in the event stream; the TUI drains it every frame.
const EVENT_QUEUE: usize = 1024;

pub type ParentEnv = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// How to start the runtime.
#[derive(Clone)]
pub struct RuntimeOptions {
    /// Start only these servers (headless commands that need one server).
    pub only: Option<Vec<String>>,
    /// Our environment, as seen by server processes (through the allow-list).
    pub parent_env: ParentEnv,
    /// Where servers' sampling requests go; `None` means sampling is not offered to servers.
    pub sampling: Option<sampling::SamplingSender>,
    /// Where OAuth tokens are kept, and whether a request may start a browser sign-in.
    pub auth: crate::auth::AuthOptions,
    /// Who answers servers' elicitation requests (headless: a policy; the dashboard: the user).
    pub elicitation: elicitation::Policy,
    /// Where headless commands say what servers asked and what was answered, and report
    /// roots that were not sent (stderr); `None` in the dashboard, which shows them itself.
    pub report: Option<elicitation::Reporter>,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            only: None,
            parent_env: Arc::new(|name| std::env::var(name).ok()),
            sampling: None,
            auth: crate::auth::AuthOptions::default(),
            elicitation: elicitation::Policy::default(),
            report: None,
        }
    }
}

/// The OAuth state of an HTTP server that has no token of its own: any of them may answer
/// 401, and then signs in like one configured with `"auth": {"method": "oauth"}`.
pub fn server_auth(
    server: &crate::config::ServerConfig,
    options: &crate::auth::AuthOptions,
) -> Option<Arc<crate::auth::ServerAuth>> {
    let crate::config::TransportConfig::Http(http) = &server.transport else {
        return None;
    };
    if http_transports::has_static_token(http) {
        return None;
    }
    let oauth = match &http.auth {
        Some(crate::config::AuthConfig::OAuth(oauth)) => Some((**oauth).clone()),
        _ => None,
    };
    Some(Arc::new(crate::auth::ServerAuth::new(
        &server.name,
        &http.url,
        oauth,
        options,
    )))
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuntimeError {
    #[error("no server named `{name}` in the config (servers: {known})")]
    UnknownServer { name: String, known: String },
    #[error("server `{server}` has no tool `{tool}`{}", list_hint(available))]
    UnknownTool {
        server: String,
        tool: String,
        available: Vec<String>,
    },
    #[error(transparent)]
    Call(#[from] CallError),
}

fn list_hint(names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!(" (tools: {})", names.join(", "))
    }
}

pub type Snapshots = Arc<Vec<Arc<ServerSnapshot>>>;

/// The running set of servers. Cheap to clone.
#[derive(Clone)]
pub struct RuntimeHandle {
    servers: Arc<Vec<ServerHandle>>,
    snapshots: watch::Receiver<Snapshots>,
    catalog: watch::Receiver<Arc<Catalog>>,
    root: CancellationToken,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    events: mpsc::Sender<RuntimeEvent>,
    resource_updates: broadcast::Sender<(ServerName, String)>,
    tool_call_timeout: Duration,
    http: SharedHttpClient,
    /// Each HTTP server's OAuth state, by name (for sign-ins started on purpose).
    auths: Arc<Vec<(String, Arc<crate::auth::ServerAuth>)>>,
    elicitation: Option<elicitation::ElicitationRouter>,
}

/// Starts an actor for every configured server (or the `only` ones) and the supervisor.
/// Returns the handle and the event stream (drop the receiver if you do not need it).
pub fn start(
    config: &Config,
    options: RuntimeOptions,
) -> Result<(RuntimeHandle, mpsc::Receiver<RuntimeEvent>), RuntimeError> {
    let selected: Vec<_> = match &options.only {
        None => config.servers.iter().collect(),
        Some(names) => names
            .iter()
            .map(|name| {
                config
                    .server(name)
                    .ok_or_else(|| RuntimeError::UnknownServer {
                        name: name.clone(),
                        known: config
                            .servers
                            .iter()
                            .map(|s| s.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
            })
            .collect::<Result<_, _>>()?,
    };
    let http = SharedHttpClient::default();
    let root = CancellationToken::new();
    let (updates_tx, updates) = mpsc::channel(256);
    let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
    let initial: Vec<Arc<ServerSnapshot>> = selected
        .iter()
        .map(|s| Arc::new(ServerSnapshot::for_config(s)))
        .collect();
    let (snapshots_tx, snapshots) = watch::channel(Arc::new(initial.clone()));
    let (catalog_tx, catalog) = watch::channel(Arc::new(Catalog::default()));
    let elicitation = elicitation::ElicitationRouter::new(
        elicitation::ElicitationOptions {
            policy: options.elicitation,
            report: options.report.clone(),
        },
        events_tx.clone(),
    );
    let mut tasks = Vec::new();
    let mut handles = Vec::new();
    let mut auths = Vec::new();
    for (index, server_config) in selected.into_iter().enumerate() {
        let auth = server_auth(server_config, &options.auth);
        if let Some(auth) = &auth {
            auths.push((server_config.name.clone(), auth.clone()));
        }
        let ctx = ActorContext {
            index,
            default_startup_timeout: config.agent.startup_timeout,
            updates: updates_tx.clone(),
            root: root.child_token(),
            parent_env: options.parent_env.clone(),
            http: http.clone(),
            sampling: options.sampling.clone(),
            secrets: Arc::new(crate::redact::Secrets::for_server(server_config)),
            auth,
            elicitation: elicitation.clone(),
            report: options.report.clone(),
        };
        let (handle, task) = spawn_actor(server_config.clone(), ctx);
        handles.push(handle);
        tasks.push(task);
    }
    drop(updates_tx);
    let (resource_updates, _) = broadcast::channel(256);
    let supervisor = Supervisor::new(
        initial,
        snapshots_tx,
        catalog_tx,
        events_tx.clone(),
        resource_updates.clone(),
    );
    tasks.push(tokio::spawn(supervisor.run(updates)));
    let handle = RuntimeHandle {
        servers: Arc::new(handles),
        snapshots,
        catalog,
        root,
        tasks: Arc::new(Mutex::new(tasks)),
        events: events_tx,
        resource_updates,
        tool_call_timeout: config.agent.tool_call_timeout,
        http,
        auths: Arc::new(auths),
        elicitation: Some(elicitation),
    };
    Ok((handle, events))
}

impl RuntimeHandle {
    /// A runtime with no servers whose catalog is fixed: what a replayed run offers the model
    /// (`mcpomni replay`). Tool calls through it fail as unknown servers.
    pub fn offline(catalog: Catalog, tool_call_timeout: Duration) -> Self {
        let (_, snapshots) = watch::channel(Arc::new(Vec::new()));
        let (_, catalog) = watch::channel(Arc::new(catalog));
        let (events, _) = mpsc::channel(1);
        let (resource_updates, _) = broadcast::channel(1);
        Self {
            servers: Arc::new(Vec::new()),
            snapshots,
            catalog,
            root: CancellationToken::new(),
            tasks: Arc::default(),
            events,
            resource_updates,
            tool_call_timeout,
            http: SharedHttpClient::default(),
            auths: Arc::default(),
            elicitation: None,
        }
    }

    /// The OAuth state of an HTTP server (`None` for stdio servers and servers with a token
    /// of their own).
    pub fn server_auth(&self, server: &str) -> Option<Arc<crate::auth::ServerAuth>> {
        self.auths
            .iter()
            .find(|(name, _)| name == server)
            .map(|(_, auth)| auth.clone())
    }

    /// Whether the shared HTTP client was built: only once an HTTP or SSE server connects.
    pub fn http_client_built(&self) -> bool {
        self.http.is_built()
    }

    /// A receiver that wakes on every new set of snapshots (for callers that wait for a state).
    pub fn snapshot_stream(&self) -> watch::Receiver<Snapshots> {
        self.snapshots.clone()
    }

    /// The latest snapshot of every server, in config order.
    pub fn snapshots(&self) -> Snapshots {
        self.snapshots.borrow().clone()
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.borrow().clone()
    }

    pub fn server(&self, name: &str) -> Option<&ServerHandle> {
        self.servers.iter().find(|s| s.name().as_str() == name)
    }

    pub fn tool_call_timeout(&self) -> Duration {
        self.tool_call_timeout
    }

    /// A sender into the event stream, for tasks that report results (the command bridge).
    pub fn event_sender(&self) -> mpsc::Sender<RuntimeEvent> {
        self.events.clone()
    }

    /// Waits until every server's first attempt to start has an outcome (Ready, Degraded,
    /// NeedsAuth, Failed, Stopped); never for retries of a server that came up and went down
    /// again. Bounded by each server's startup and request timeouts.
    pub async fn wait_settled(&self) -> Snapshots {
        let mut rx = self.snapshots.clone();
        let settled = rx
            .wait_for(|snaps| snaps.iter().all(|s| s.first_attempt_done))
            .await
            .map(|s| s.clone());
        settled.unwrap_or_else(|_| self.snapshots())
    }

    /// The last `n` lines `server` wrote to stderr (across its restarts), oldest first; empty
    /// for an unknown server. Snapshots do not carry stderr: it streams as
    /// `RuntimeEvent::StderrLinesReceived`.
    pub fn stderr_tail(&self, server: &str, n: usize) -> Vec<String> {
        self.server(server)
            .map(|handle| handle.stderr_tail(n))
            .unwrap_or_default()
    }

    fn handle_for(&self, server: &str) -> Result<&ServerHandle, RuntimeError> {
        self.server(server)
            .ok_or_else(|| RuntimeError::UnknownServer {
                name: server.to_owned(),
                known: self
                    .servers
                    .iter()
                    .map(|s| s.name().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Calls `tool` (the server's own name, or its qualified name) on `server`.
    pub async fn call_tool(
        &self,
        server: &str,
        tool: &str,
        arguments: JsonObject,
        cancel: Option<CancellationToken>,
    ) -> Result<CallToolResult, RuntimeError> {
        let options = CallOptions {
            cancel,
            progress: None,
        };
        self.call_tool_with(server, tool, arguments, options).await
    }

    /// `call_tool` with progress reporting.
    pub async fn call_tool_with(
        &self,
        server: &str,
        tool: &str,
        arguments: JsonObject,
        options: CallOptions,
    ) -> Result<CallToolResult, RuntimeError> {
        let handle = self.handle_for(server)?;
        let catalog = self.catalog();
        let own_name = match catalog.resolve_tool(server, tool) {
            Some(entry) => entry.name.clone(),
            None => {
                // Report "not ready" before "no such tool": an empty catalog is the symptom.
                handle.requester().await?;
                return Err(RuntimeError::UnknownTool {
                    server: server.to_owned(),
                    tool: tool.to_owned(),
                    available: catalog.tools_of(server).map(|t| t.name.clone()).collect(),
                });
            }
        };
        Ok(handle
            .call_tool(&own_name, arguments, self.tool_call_timeout, options)
            .await?)
    }

    /// Subscribes to a resource; updates arrive on [`RuntimeHandle::resource_updates`] and as
    /// `RuntimeEvent::ResourceUpdated`.
    pub async fn subscribe(&self, server: &str, uri: &str) -> Result<(), RuntimeError> {
        Ok(self.handle_for(server)?.subscribe(uri).await?)
    }

    pub fn resource_updates(&self) -> broadcast::Receiver<(ServerName, String)> {
        self.resource_updates.subscribe()
    }

    /// Asks a server to send log messages at `level` and above (renewed on reconnect).
    pub async fn set_log_level(&self, server: &str, level: &str) -> Result<(), RuntimeError> {
        Ok(self.handle_for(server)?.set_log_level(level).await?)
    }

    pub async fn reconnect(&self, server: &str) -> Result<(), RuntimeError> {
        self.handle_for(server)?.reconnect().await;
        Ok(())
    }

    pub async fn restart(&self, server: &str) -> Result<(), RuntimeError> {
        self.handle_for(server)?.restart().await;
        Ok(())
    }

    pub async fn set_enabled(&self, server: &str, enabled: bool) -> Result<(), RuntimeError> {
        self.handle_for(server)?.set_enabled(enabled).await;
        Ok(())
    }

    pub async fn read_resource(
        &self,
        server: &str,
        uri: &str,
    ) -> Result<ReadResourceResult, RuntimeError> {
        Ok(self.handle_for(server)?.read_resource(uri).await?)
    }

    pub async fn get_prompt(
        &self,
        server: &str,
        name: &str,
        arguments: JsonObject,
    ) -> Result<GetPromptResult, RuntimeError> {
        Ok(self.handle_for(server)?.get_prompt(name, arguments).await?)
    }

    /// The user's answer to an elicitation request (false: it no longer waits).
    pub fn answer_elicitation(
        &self,
        id: elicitation::ElicitationId,
        answer: elicitation::Answer,
    ) -> bool {
        self.elicitation
            .as_ref()
            .is_some_and(|router| router.answer(id, answer))
    }

    /// The roots of every server, in config order.
    pub fn roots(&self) -> Vec<(ServerName, Vec<std::path::PathBuf>)> {
        self.servers
            .iter()
            .map(|s| (s.name().clone(), s.roots().get()))
            .collect()
    }

    /// Adds (or removes) a root for every server and tells the connected ones
    /// (`notifications/roots/list_changed`). Returns the servers whose list changed.
    pub async fn change_root(&self, path: &std::path::Path, add: bool) -> Vec<ServerName> {
        let mut changed = Vec::new();
        for server in self.servers.iter() {
            let did = if add {
                server.roots().add(path)
            } else {
                server.roots().remove(path)
            };
            if did {
                server.notify_roots_changed().await;
                changed.push(server.name().clone());
            }
        }
        changed
    }

    /// Stops every server concurrently and waits (bounded) for them to be gone.
    pub async fn shutdown(&self) {
        self.root.cancel();
        let tasks: Vec<_> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        let all = futures::future::join_all(tasks);
        if tokio::time::timeout(SHUTDOWN_DEADLINE, all).await.is_err() {
            tracing::warn!("shutdown deadline passed; killing what is left");
            stdio::kill_all_groups();
        }
    }
}

/// True when no server in `snapshots` is Ready (used to pick exit codes and messages).
pub fn none_ready(snapshots: &[Arc<ServerSnapshot>]) -> bool {
    !snapshots.iter().any(|s| s.state == ServerState::Ready)
}
