//! The one door to a server: every MCP request this program sends goes through [`Requester`],
//! which puts a deadline on it. rmcp has no default request timeout (a server that never
//! answers would hang a call forever), so `clippy.toml` forbids rmcp's request methods
//! everywhere else and this module alone is allowed to call them.
//!
//! A request that is abandoned — its future dropped, its cancel token fired, or its deadline
//! passed — tells the server with `notifications/cancelled`, as the spec asks.
//!
//! Each request runs in a `mcp_request` tracing span (server, method, request id) that ends
//! with one event giving its duration and outcome; arguments and results are never logged,
//! and error text from the server has the server's configured credentials scrubbed out.

// rmcp marks logging and resources/subscribe deprecated (2026-07-28 moves them), but the
// servers we talk to (2025-11-25 and older) use exactly these.
#![allow(deprecated)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::RoleClient;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, CancelledNotificationParam,
    ClientRequest, GetPromptRequest, GetPromptRequestParams, GetPromptResult, JsonObject,
    ListPromptsRequest, ListResourcesRequest, ListToolsRequest, PaginatedRequestParams,
    PingRequest, Prompt, ReadResourceRequest, ReadResourceRequestParams, ReadResourceResult,
    RequestId, Resource, ServerResult, SetLevelRequest, SetLevelRequestParams, SubscribeRequest,
    SubscribeRequestParams, Tool,
};
use rmcp::service::{Peer, PeerRequestOptions, ServiceError};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::client::{ProgressRouter, ProgressSink};
use super::link_loss::{LinkLoss, Loss};
use super::messages::ServerName;
use crate::redact::Secrets;

/// What the server is told when a request is abandoned.
const CANCEL_REASON: &str = "cancelled by the client";
/// What the server is told when a request ran out of time.
const TIMEOUT_REASON: &str = "request timeout";
/// How long sending `notifications/cancelled` may take (a wedged transport must not hang us).
const CANCEL_NOTICE_DEADLINE: Duration = Duration::from_secs(1);

/// Listing more pages than this means a server is looping on its cursor.
const MAX_PAGES: usize = 1000;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RequestError {
    #[error("{method} timed out after {}", crate::text::human_duration(*.after))]
    Timeout {
        method: &'static str,
        after: Duration,
    },
    #[error("{method}: the server closed the connection")]
    Closed { method: &'static str },
    #[error("{method}: server error {code}: {message}")]
    Server {
        method: &'static str,
        code: i32,
        message: String,
    },
    #[error("{method}: {message}")]
    Transport {
        method: &'static str,
        message: String,
    },
    #[error("{method}: the server sent a reply of the wrong kind")]
    Unexpected { method: &'static str },
    /// The server answered 401: it no longer accepts (or never accepted) our credentials.
    #[error("{method}: the server requires authorization (HTTP 401): {challenge}")]
    Unauthorized {
        method: &'static str,
        /// Boxed: it is large, and errors travel in `Result`s everywhere.
        challenge: Box<super::challenge::AuthChallenge>,
    },
    #[error("{method}: cancelled")]
    Cancelled { method: &'static str },
}

/// Options for one request.
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    /// Deadline; with `reset_on_progress` it is an idle deadline that progress pushes back.
    pub timeout: Option<Duration>,
    pub reset_on_progress: bool,
    /// Firing this cancels the request and tells the server.
    pub cancel: Option<CancellationToken>,
    /// Receives the request's progress notifications until it completes.
    pub progress: Option<ProgressSink>,
}

/// Sends requests to one connected server, each under a deadline.
#[derive(Clone, Debug)]
pub struct Requester {
    server: ServerName,
    peer: Peer<RoleClient>,
    request_timeout: Duration,
    progress: ProgressRouter,
    /// Scrubbed from the error text of every request.
    secrets: Arc<Secrets>,
    /// Why the session ended, when the transport knows: a request cut off by the end says so.
    lost: LinkLoss,
}

impl Requester {
    pub(crate) fn new(
        server: ServerName,
        peer: Peer<RoleClient>,
        request_timeout: Duration,
        progress: ProgressRouter,
        secrets: Arc<Secrets>,
        lost: LinkLoss,
    ) -> Self {
        Self {
            server,
            peer,
            request_timeout,
            progress,
            secrets,
            lost,
        }
    }

    pub fn peer(&self) -> &Peer<RoleClient> {
        &self.peer
    }

    /// Where this connection's progress notifications are routed.
    pub fn progress_router(&self) -> &ProgressRouter {
        &self.progress
    }

    /// Round-trip time of one `ping`.
    pub async fn ping(&self, timeout: Duration) -> Result<Duration, RequestError> {
        let started = Instant::now();
        let request = ClientRequest::PingRequest(PingRequest::default());
        self.send("ping", request, self.deadline(timeout)).await?;
        Ok(started.elapsed())
    }

    pub async fn list_tools(&self) -> Result<Vec<Tool>, RequestError> {
        self.list_all(
            "tools/list",
            |params| ClientRequest::ListToolsRequest(ListToolsRequest::with_param(params)),
            |result| match result {
                ServerResult::ListToolsResult(page) => Some((page.tools, page.next_cursor)),
                _ => None,
            },
        )
        .await
    }

    pub async fn list_resources(&self) -> Result<Vec<Resource>, RequestError> {
        self.list_all(
            "resources/list",
            |params| ClientRequest::ListResourcesRequest(ListResourcesRequest::with_param(params)),
            |result| match result {
                ServerResult::ListResourcesResult(page) => Some((page.resources, page.next_cursor)),
                _ => None,
            },
        )
        .await
    }

    pub async fn list_prompts(&self) -> Result<Vec<Prompt>, RequestError> {
        self.list_all(
            "prompts/list",
            |params| ClientRequest::ListPromptsRequest(ListPromptsRequest::with_param(params)),
            |result| match result {
                ServerResult::ListPromptsResult(page) => Some((page.prompts, page.next_cursor)),
                _ => None,
            },
        )
        .await
    }

    /// Follows `nextCursor` until the list is complete; each page has its own deadline.
    async fn list_all<T>(
        &self,
        method: &'static str,
        request: impl Fn(PaginatedRequestParams) -> ClientRequest,
        page: impl Fn(ServerResult) -> Option<(Vec<T>, Option<String>)>,
    ) -> Result<Vec<T>, RequestError> {
        let mut all = Vec::new();
        let mut cursor = None;
        for _ in 0..MAX_PAGES {
            let params = PaginatedRequestParams::default().with_cursor(cursor.take());
            let result = self
                .send(method, request(params), self.default_options())
                .await?;
            let (items, next) = page(result).ok_or(RequestError::Unexpected { method })?;
            all.extend(items);
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(all),
            }
        }
        Err(RequestError::Transport {
            method,
            message: format!("the server returned more than {MAX_PAGES} pages"),
        })
    }

    /// Calls a tool. The timeout is an idle deadline: progress from the server pushes it back.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: JsonObject,
        timeout: Duration,
        cancel: Option<CancellationToken>,
        progress: Option<ProgressSink>,
    ) -> Result<CallToolResult, RequestError> {
        let params = CallToolRequestParams::new(name.to_owned()).with_arguments(arguments);
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        let options = RequestOptions {
            timeout: Some(timeout),
            reset_on_progress: true,
            cancel,
            progress,
        };
        match self.send("tools/call", request, options).await? {
            ServerResult::CallToolResult(result) => Ok(result),
            _ => Err(RequestError::Unexpected {
                method: "tools/call",
            }),
        }
    }

    pub async fn read_resource(&self, uri: &str) -> Result<ReadResourceResult, RequestError> {
        let request = ClientRequest::ReadResourceRequest(ReadResourceRequest::new(
            ReadResourceRequestParams::new(uri),
        ));
        match self
            .send("resources/read", request, self.default_options())
            .await?
        {
            ServerResult::ReadResourceResult(result) => Ok(result),
            _ => Err(RequestError::Unexpected {
                method: "resources/read",
            }),
        }
    }

    pub async fn get_prompt(
        &self,
        name: &str,
        arguments: JsonObject,
    ) -> Result<GetPromptResult, RequestError> {
        let request = ClientRequest::GetPromptRequest(GetPromptRequest::new(
            GetPromptRequestParams::new(name).with_arguments(arguments),
        ));
        match self
            .send("prompts/get", request, self.default_options())
            .await?
        {
            ServerResult::GetPromptResult(result) => Ok(result),
            _ => Err(RequestError::Unexpected {
                method: "prompts/get",
            }),
        }
    }

    /// `logging/setLevel`; `level` is an MCP level name (`debug`, `info`, … `emergency`).
    pub async fn set_level(&self, level: &str) -> Result<(), RequestError> {
        let level =
            serde_json::from_value(serde_json::Value::String(level.to_owned())).map_err(|_| {
                RequestError::Transport {
                    method: "logging/setLevel",
                    message: format!("`{level}` is not an MCP log level"),
                }
            })?;
        let request =
            ClientRequest::SetLevelRequest(SetLevelRequest::new(SetLevelRequestParams::new(level)));
        self.send("logging/setLevel", request, self.default_options())
            .await
            .map(|_| ())
    }

    /// `resources/subscribe`: the server then sends `notifications/resources/updated`.
    pub async fn subscribe(&self, uri: &str) -> Result<(), RequestError> {
        let request = ClientRequest::SubscribeRequest(SubscribeRequest::new(
            SubscribeRequestParams::new(uri),
        ));
        self.send("resources/subscribe", request, self.default_options())
            .await
            .map(|_| ())
    }

    fn default_options(&self) -> RequestOptions {
        self.deadline(self.request_timeout)
    }

    fn deadline(&self, timeout: Duration) -> RequestOptions {
        RequestOptions {
            timeout: Some(timeout),
            ..RequestOptions::default()
        }
    }

    /// The only place that hands a request to rmcp, each in its own `mcp_request` span.
    pub async fn send(
        &self,
        method: &'static str,
        request: ClientRequest,
        options: RequestOptions,
    ) -> Result<ServerResult, RequestError> {
        let span = tracing::info_span!(
            "mcp_request",
            server = %self.server,
            method,
            id = tracing::field::Empty,
        );
        let started = tokio::time::Instant::now();
        let result = self
            .send_in_span(method, request, options, &span)
            .instrument(span.clone())
            .await;
        // Milliseconds with microsecond precision: fast stdio calls take well under 1 ms.
        let duration_ms = started.elapsed().as_micros() as f64 / 1000.0;
        match &result {
            Ok(_) => tracing::debug!(parent: &span, duration_ms, outcome = "ok", "request done"),
            Err(RequestError::Cancelled { .. }) => {
                tracing::debug!(parent: &span, duration_ms, outcome = "cancelled", "request done");
            }
            Err(error) => tracing::info!(
                parent: &span,
                duration_ms,
                outcome = error.outcome(),
                %error,
                "request failed"
            ),
        }
        result
    }

    /// The deadline is kept here rather than by rmcp: its progress-reset machinery (an async
    /// lock and a channel per request) costs more than the whole rest of our per-call
    /// overhead, while our progress router already sees every notification.
    #[allow(clippy::disallowed_methods)]
    async fn send_in_span(
        &self,
        method: &'static str,
        request: ClientRequest,
        options: RequestOptions,
        span: &tracing::Span,
    ) -> Result<ServerResult, RequestError> {
        let timeout = options.timeout.unwrap_or(self.request_timeout);
        let timed_out = RequestError::Timeout {
            method,
            after: timeout,
        };
        // Handing the request to the transport can itself block (a full outbound queue to a
        // wedged server), so the hand-off counts against the same deadline.
        let deadline = tokio::time::Instant::now() + timeout;
        let handle = tokio::time::timeout_at(
            deadline,
            self.peer
                .send_request_with_option(request, PeerRequestOptions::no_options()),
        )
        .await
        .map_err(|_| timed_out.clone())?
        .map_err(|e| self.map_error(method, e))?;
        let id = handle.id.clone();
        span.record("id", tracing::field::display(&id));
        let mut guard = CancelOnDrop::new(self.peer.clone(), id.clone());
        // Progress is watched only while this registration lives: late progress is dropped.
        let watch_progress = options.reset_on_progress || options.progress.is_some();
        let (progress_tx, mut progress_rx) = if watch_progress {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let mut registration =
            progress_tx.map(|tx| self.progress.register(handle.progress_token.clone(), tx));
        let sleep = tokio::time::sleep_until(deadline);
        tokio::pin!(sleep);
        let response = handle.await_response();
        tokio::pin!(response);
        loop {
            tokio::select! {
                result = &mut response => {
                    guard.disarm();
                    if let (Some(rx), Some(sink)) = (&mut progress_rx, &options.progress) {
                        // rmcp handles each notification on its own task, so progress the
                        // server sent just before its result may still be on its way to the
                        // router: let those tasks run, then close the door (what comes later
                        // is counted as late by the router) and pass on what arrived, all
                        // before the caller sees the result.
                        tokio::task::yield_now().await;
                        registration.take();
                        while let Ok(update) = rx.try_recv() {
                            let _ = sink.send(update);
                        }
                    }
                    return result.map_err(|e| self.map_error(method, e));
                }
                Some(update) = recv_some(&mut progress_rx) => {
                    if options.reset_on_progress {
                        sleep.as_mut().reset(tokio::time::Instant::now() + timeout);
                    }
                    if let Some(sink) = &options.progress {
                        let _ = sink.send(update);
                    }
                }
                () = &mut sleep => {
                    guard.disarm();
                    self.notify_cancelled(id, TIMEOUT_REASON).await;
                    return Err(timed_out);
                }
                () = cancelled_some(&options.cancel) => {
                    // Tell the server before returning, so a caller that shuts down right
                    // after (headless Ctrl-C) does not close the connection first.
                    guard.disarm();
                    self.notify_cancelled(id, CANCEL_REASON).await;
                    return Err(RequestError::Cancelled { method });
                }
            }
        }
    }

    /// rmcp's error in our words; a request cut off because the session ended says why it
    /// ended (a 401, a dead stream) rather than just "closed". The server's words (which may
    /// echo a header) are scrubbed of configured secrets.
    fn map_error(&self, method: &'static str, error: ServiceError) -> RequestError {
        let mapped = map_service_error(method, error);
        let mapped = match (&mapped, self.lost.get()) {
            (RequestError::Closed { .. }, Some(Loss::Unauthorized(challenge))) => {
                RequestError::Unauthorized {
                    method,
                    challenge: Box::new(challenge),
                }
            }
            (RequestError::Closed { .. }, Some(Loss::Gone(reason) | Loss::NeedsAuth(reason))) => {
                RequestError::Transport {
                    method,
                    message: reason,
                }
            }
            _ => mapped,
        };
        match mapped {
            RequestError::Server {
                method,
                code,
                message,
            } => RequestError::Server {
                method,
                code,
                message: self.secrets.scrub_owned(message),
            },
            RequestError::Transport { method, message } => RequestError::Transport {
                method,
                message: self.secrets.scrub_owned(message),
            },
            other => other,
        }
    }

    async fn notify_cancelled(&self, id: RequestId, reason: &str) {
        let param = CancelledNotificationParam::new(Some(id), Some(reason.to_owned()));
        let _ =
            tokio::time::timeout(CANCEL_NOTICE_DEADLINE, self.peer.notify_cancelled(param)).await;
    }
}

async fn recv_some<T>(rx: &mut Option<tokio::sync::mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn cancelled_some(token: &Option<CancellationToken>) {
    match token {
        Some(token) => token.cancelled().await,
        None => std::future::pending().await,
    }
}

impl RequestError {
    /// One word for the log: how the request ended.
    fn outcome(&self) -> &'static str {
        match self {
            RequestError::Timeout { .. } => "timeout",
            RequestError::Closed { .. } => "closed",
            RequestError::Server { .. } => "server_error",
            RequestError::Transport { .. } => "transport_error",
            RequestError::Unexpected { .. } => "unexpected_reply",
            RequestError::Cancelled { .. } => "cancelled",
            RequestError::Unauthorized { .. } => "unauthorized",
        }
    }
}

fn map_service_error(method: &'static str, error: ServiceError) -> RequestError {
    match error {
        ServiceError::McpError(data) => RequestError::Server {
            method,
            code: data.code.0,
            message: crate::text::sanitize_line(&data.message),
        },
        ServiceError::TransportClosed => RequestError::Closed { method },
        ServiceError::Timeout { timeout } => RequestError::Timeout {
            method,
            after: timeout,
        },
        ServiceError::Cancelled { .. } => RequestError::Cancelled { method },
        ServiceError::UnexpectedResponse => RequestError::Unexpected { method },
        // rmcp's words name the transport's Rust type; the cause is in the wrapped error.
        ServiceError::TransportSend(error) => {
            match super::transport_error::auth_challenge(&error) {
                Some(challenge) => RequestError::Unauthorized {
                    method,
                    challenge: Box::new(challenge),
                },
                None => RequestError::Transport {
                    method,
                    message: super::transport_error::describe(&error),
                },
            }
        }
        other => RequestError::Transport {
            method,
            message: crate::error_text::error_chain(&other),
        },
    }
}

/// Sends `notifications/cancelled` for a request whose caller went away before the answer.
struct CancelOnDrop {
    peer: Option<Peer<RoleClient>>,
    id: RequestId,
}

impl CancelOnDrop {
    fn new(peer: Peer<RoleClient>, id: RequestId) -> Self {
        Self {
            peer: Some(peer),
            id,
        }
    }

    fn disarm(&mut self) {
        self.peer = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(peer) = self.peer.take() else {
            return;
        };
        // Drop can run outside a runtime (process teardown); then there is nobody to tell.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let param =
            CancelledNotificationParam::new(Some(self.id.clone()), Some(CANCEL_REASON.into()));
        runtime.spawn(async move {
            let _ = peer.notify_cancelled(param).await;
        });
    }
}
