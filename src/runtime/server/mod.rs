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

use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::model::{CallToolResult, GetPromptResult, JsonObject, ReadResourceResult};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::catalog::ServerListing;
use super::client::ProgressSink;
use super::messages::{ServerName, ServerSnapshot, ServerState};
use super::request::{RequestError, Requester};
use crate::config::ServerConfig;

/// What the runtime passes to every actor.
#[derive(Clone)]
pub struct ActorContext {
    pub index: usize,
    pub default_startup_timeout: Duration,
    pub updates: mpsc::Sender<ServerUpdate>,
    pub root: CancellationToken,
    pub parent_env: super::ParentEnv,
    /// One pooled HTTP client for every HTTP and SSE server.
    pub http: reqwest::Client,
}

/// What an actor tells the supervisor.
#[derive(Debug)]
pub enum ServerUpdate {
    Snapshot(usize, Arc<ServerSnapshot>),
    Listing(usize, Arc<ServerListing>),
    ResourceUpdated(usize, String),
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

/// Options for one tool call.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Firing it cancels the call (the server is told with `notifications/cancelled`).
    pub cancel: Option<CancellationToken>,
    /// Receives the call's progress notifications.
    pub progress: Option<ProgressSink>,
}

enum ServerCommand {
    GetRequester {
        reply: oneshot::Sender<Result<Requester, CallError>>,
    },
    /// A tool call finished (for the latency and error statistics).
    RecordCall {
        latency: Duration,
        ok: bool,
        /// The failure looked like a broken connection: check health now.
        transport_failure: bool,
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
}

impl std::fmt::Debug for ServerCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            ServerCommand::GetRequester { .. } => "GetRequester",
            ServerCommand::RecordCall { .. } => "RecordCall",
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

    /// A requester for the live connection, or why there is none.
    pub async fn requester(&self) -> Result<Requester, CallError> {
        self.ask(|reply| ServerCommand::GetRequester { reply })
            .await
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
        let started = Instant::now();
        let result = requester
            .call_tool(tool, arguments, deadline, options.cancel, options.progress)
            .await;
        let (ok, transport_failure) = match &result {
            Ok(result) => (!result.is_error.unwrap_or(false), false),
            Err(RequestError::Cancelled { .. }) => (true, false),
            Err(RequestError::Closed { .. } | RequestError::Transport { .. }) => (false, true),
            Err(_) => (false, false),
        };
        // Statistics are best effort: never wait on a busy actor for them.
        let _ = self.tx.try_send(ServerCommand::RecordCall {
            latency: started.elapsed(),
            ok,
            transport_failure,
        });
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

    /// Subscribes to `uri`; the subscription is renewed after every reconnect.
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

/// Starts the actor for `config` on its own task.
pub fn spawn_actor(config: ServerConfig, ctx: ActorContext) -> (ServerHandle, JoinHandle<()>) {
    let name = ServerName::new(&config.name);
    let (tx, inbox) = mpsc::channel(64);
    let task = tokio::spawn(actor::ServerActor::new(name.clone(), config, ctx, inbox).run());
    (ServerHandle { name, tx }, task)
}
