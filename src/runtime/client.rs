//! Our side of each MCP session: the rmcp `ClientHandler` that declares what this client can do
//! and hands the server's notifications to its actor. rmcp runs every notification handler on
//! its own task, so order is not guaranteed and a flood must not pile up: notices go through a
//! bounded channel with `try_send`, and what does not fit is counted, not queued.

// rmcp marks MCP logging deprecated (SEP-2577), but servers still send it and operators want it.
#![allow(deprecated)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use rmcp::model::{
    ClientCapabilities, ClientConfig, CreateMessageRequestMethod, CreateMessageRequestParams,
    CreateMessageResult, CustomRequest, CustomResult, ElicitRequestParams, ElicitResult,
    ElicitationAction, ElicitationCapability, FormElicitationCapability, Implementation,
    ListRootsResult, LoggingLevel, LoggingMessageNotificationParam, ProgressNotificationParam,
    ProgressToken, ProtocolVersion, ResourceUpdatedNotificationParam, RootsCapabilities,
    SamplingCapability, UrlElicitationCapability,
};
use rmcp::service::{NotificationContext, RequestContext, RoleClient};
use rmcp::{ClientHandler, ErrorData};
use tokio::sync::mpsc;

use super::elicitation::{ElicitationRouter, Incoming, Reporter};
use super::messages::ServerName;
use super::roots::SharedRoots;
use super::sampling::SamplingSender;
use crate::redact::Secrets;
use crate::text::sanitize;

/// How many notices may wait for the actor before new ones are dropped.
pub const NOTICE_QUEUE: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Tools,
    Resources,
    Prompts,
}

/// A notification from the server, already sanitized where it carries text.
#[derive(Debug, Clone)]
pub enum ServerNotice {
    Log {
        at: SystemTime,
        level: LoggingLevel,
        logger: Option<String>,
        text: String,
    },
    ResourceUpdated {
        uri: String,
    },
    ListChanged(ListKind),
}

/// Where a call's progress notifications go.
pub type ProgressSink = mpsc::UnboundedSender<ProgressNotificationParam>;

/// Routes progress notifications to the call that asked for them, by progress token. A call
/// registers its token for as long as it runs; progress for an unknown token (the call already
/// has its result, or never asked) is dropped, as the spec allows — and counted in
/// [`LateProgress`], so the loss shows in the server's details.
#[derive(Debug, Clone, Default)]
pub struct ProgressRouter {
    sinks: Arc<Mutex<HashMap<ProgressToken, ProgressSink>>>,
    late: Arc<LateProgress>,
}

/// Progress notifications that reached no call: the count, and a signal when it grows. One per
/// server, shared by all its connections.
#[derive(Debug, Default)]
pub struct LateProgress {
    count: AtomicU64,
    pub changed: tokio::sync::Notify,
}

impl LateProgress {
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn record(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.changed.notify_one();
    }
}

/// Keeps a progress token registered; dropping it stops delivery.
pub struct ProgressRegistration {
    router: ProgressRouter,
    token: ProgressToken,
}

impl Drop for ProgressRegistration {
    fn drop(&mut self) {
        self.router.lock().remove(&self.token);
    }
}

impl ProgressRouter {
    /// A router that counts undeliverable progress in `late`.
    pub fn new(late: Arc<LateProgress>) -> Self {
        Self {
            sinks: Arc::default(),
            late,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ProgressToken, ProgressSink>> {
        self.sinks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn register(&self, token: ProgressToken, sink: ProgressSink) -> ProgressRegistration {
        self.lock().insert(token.clone(), sink);
        ProgressRegistration {
            router: self.clone(),
            token,
        }
    }

    /// Delivers `params` to its call; false (and counted as late) when nobody is waiting.
    pub fn route(&self, params: ProgressNotificationParam) -> bool {
        let delivered = match self.lock().get(&params.progress_token) {
            Some(sink) => sink.send(params).is_ok(),
            None => false,
        };
        if !delivered {
            self.late.record();
        }
        delivered
    }
}

/// The handler rmcp drives for one connection.
#[derive(Debug, Clone)]
pub struct McpClient {
    notices: mpsc::Sender<ServerNotice>,
    dropped: Arc<AtomicU64>,
    progress: ProgressRouter,
    server: ServerName,
    sampling: Option<SamplingSender>,
    /// The server's configured credentials: scrubbed from its log messages.
    secrets: Arc<Secrets>,
    /// Who answers the server's requests for input (none: declined).
    elicitation: Option<ElicitationRouter>,
    /// The directories the server is told about.
    roots: SharedRoots,
    /// Headless: where roots that were not sent are reported.
    report: Option<Reporter>,
}

impl McpClient {
    pub fn new(
        notices: mpsc::Sender<ServerNotice>,
        dropped: Arc<AtomicU64>,
        progress: ProgressRouter,
        server: ServerName,
        sampling: Option<SamplingSender>,
    ) -> Self {
        Self {
            notices,
            dropped,
            progress,
            server,
            sampling,
            secrets: Arc::default(),
            elicitation: None,
            roots: SharedRoots::default(),
            report: None,
        }
    }

    /// Answer requests for input through `router`.
    pub fn with_elicitation(mut self, router: ElicitationRouter) -> Self {
        self.elicitation = Some(router);
        self
    }

    /// Answer `roots/list` with `roots`; `report` hears about roots that were not sent.
    pub fn with_roots(mut self, roots: SharedRoots, report: Option<Reporter>) -> Self {
        self.roots = roots;
        self.report = report;
        self
    }

    /// Scrub these credentials from what the server says (and from the errors of the
    /// requests made on this connection).
    pub fn with_secrets(mut self, secrets: Arc<Secrets>) -> Self {
        self.secrets = secrets;
        self
    }

    pub fn server(&self) -> &ServerName {
        &self.server
    }

    pub fn secrets(&self) -> &Arc<Secrets> {
        &self.secrets
    }

    fn push(&self, notice: ServerNotice) {
        if self.notices.try_send(notice).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The `initialize` parameters we send. The protocol version is pinned to the newest one
/// that still has an `initialize` handshake: rmcp's default (2026-07-28) is rejected by older
/// servers and by the MCP conformance suite.
///
/// `roots` is declared with `listChanged` (the roots can change at runtime: `/roots:add`), and
/// `elicitation` in both modes (form and URL): the dashboard asks the user, headless commands
/// answer by policy. `sampling` is declared when there is an LLM to sample with.
pub fn client_config(sampling: bool) -> ClientConfig {
    let mut capabilities = ClientCapabilities::default();
    let mut roots = RootsCapabilities::default();
    roots.list_changed = Some(true);
    capabilities.roots = Some(roots);
    capabilities.elicitation = Some(
        ElicitationCapability::new()
            .with_form(FormElicitationCapability::new().with_schema_validation(true))
            .with_url(UrlElicitationCapability::new()),
    );
    if sampling {
        capabilities.sampling = Some(SamplingCapability::default());
    }
    ClientConfig::new(
        capabilities,
        Implementation::new("mcpomni", env!("CARGO_PKG_VERSION")).with_title("mcpomni"),
    )
    .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
}

impl ClientHandler for McpClient {
    fn get_info(&self) -> ClientConfig {
        client_config(self.sampling.is_some())
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let Some(handler) = &self.sampling else {
            return Err(ErrorData::method_not_found::<CreateMessageRequestMethod>());
        };
        // The token fires when the server cancels the request or the session ends; dropping
        // the forward then tells the agent nobody is waiting for the answer any more.
        tokio::select! {
            result = super::sampling::forward(handler, self.server.clone(), params) => result,
            () = context.ct.cancelled() => Err(ErrorData::internal_error(
                "the sampling request was cancelled",
                None,
            )),
        }
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let Some(router) = &self.elicitation else {
            return Ok(ElicitResult::new(ElicitationAction::Decline));
        };
        let Some(incoming) = Incoming::from_params(request) else {
            tracing::warn!(server = %self.server, "elicitation in a mode mcpomni does not know: declined");
            return Ok(ElicitResult::new(ElicitationAction::Decline));
        };
        Ok(router.handle(&self.server, incoming, context.ct).await)
    }

    /// rmcp hands over as a custom request an `elicitation/create` whose schema is outside
    /// MCP's subset (a nested object, say): it is declined with the reason shown.
    async fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleClient>,
    ) -> Result<CustomResult, ErrorData> {
        if request.method != "elicitation/create" {
            return Err(ErrorData::new(
                rmcp::model::ErrorCode::METHOD_NOT_FOUND,
                request.method,
                None,
            ));
        }
        let params = request.params.unwrap_or(serde_json::Value::Null);
        let result = match &self.elicitation {
            Some(router) => {
                router
                    .handle(&self.server, Incoming::from_raw(&params), context.ct)
                    .await
            }
            None => ElicitResult::new(ElicitationAction::Decline),
        };
        serde_json::to_value(result)
            .map(CustomResult::new)
            .map_err(|error| ErrorData::internal_error(error.to_string(), None))
    }

    async fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        let (roots, missing) = super::roots::answer(&self.roots.get());
        for text in missing {
            tracing::warn!(server = %self.server, "{text}");
            if let Some(report) = &self.report {
                report.say(&format!("server `{}`: {text}", self.server));
            }
            self.push(ServerNotice::Log {
                at: SystemTime::now(),
                level: LoggingLevel::Warning,
                logger: Some("mcpomni".to_owned()),
                text,
            });
        }
        Ok(ListRootsResult::new(roots))
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        // rmcp runs each notification on its own task; the consumer keeps the highest value.
        self.progress.route(params);
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let text = match &params.data {
            serde_json::Value::String(s) => sanitize(s),
            other => sanitize(&other.to_string()),
        };
        self.push(ServerNotice::Log {
            at: SystemTime::now(),
            level: params.level,
            logger: params
                .logger
                .as_deref()
                .map(|logger| self.secrets.scrub_owned(sanitize(logger))),
            text: self.secrets.scrub_owned(text),
        });
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.push(ServerNotice::ResourceUpdated { uri: params.uri });
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.push(ServerNotice::ListChanged(ListKind::Tools));
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.push(ServerNotice::ListChanged(ListKind::Resources));
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.push(ServerNotice::ListChanged(ListKind::Prompts));
    }
}
