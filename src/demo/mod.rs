//! The demo MCP server bundled with mcpomni (`mcpomni-demo`).
//!
//! It exists so the client can be tried out, and tested end to end, without
//! installing any third-party server. It offers:
//!
//! - tools: `echo`, `add`, `count_with_progress`, `fail`,
//!   `sleep` and `lorem`, each chosen to exercise one client feature (plain
//!   results, structured output, progress notifications, tool errors,
//!   timeouts/cancellation and huge results);
//! - two static resources, `demo://readme` and `demo://config.json`;
//! - one prompt, `review_code`;
//! - `logging/setLevel`, which only records the requested level.
//!
//! The server is stateless apart from that level, and touches nothing outside
//! its own process. Over stdio ([`run_stdio`]) stdout carries the protocol, so
//! this module only logs through `tracing`: whoever installs the subscriber
//! must send it to stderr or a file, never to stdout.

mod content;
mod stdio;
#[cfg(test)]
mod tests;
mod tools;

use std::sync::{Arc, Mutex, PoisonError};

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    handler::server::router::tool::ToolRouter,
    model::{
        GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
        ListResourcesResult, PaginatedRequestParams, ReadResourceRequestParams,
        ReadResourceResponse, ReadResourceResult, ServerCapabilities, ServerConfig,
    },
    service::RequestContext,
    tool_handler,
};

use stdio::Shutdown;
pub use stdio::run_stdio;

/// The name the server reports in its `initialize` result.
pub const SERVER_NAME: &str = "mcpomni-demo";

/// One line for the client (and its model) about what this server is for.
const INSTRUCTIONS: &str = "Demo server bundled with mcpomni: harmless tools for trying out \
     results, structured output, progress, tool errors, cancellation and large results, \
     plus two static resources and a code-review prompt.";

/// The demo MCP server.
///
/// Cloning is cheap and clones share state (the recorded log level and the
/// input-closed signal), which lets tests keep a handle on a server they serve.
#[derive(Debug, Clone)]
pub struct DemoServer {
    /// Routes `tools/call` to the `#[tool]` methods in the `tools` submodule.
    tool_router: ToolRouter<Self>,
    /// Fires when the input stream ends, so long-running tools stop at once
    /// instead of holding up the process exit.
    shutdown: Shutdown,
    /// The level last requested through `logging/setLevel`.
    // Logging is deprecated by SEP-2577, but clients on the protocol versions
    // served here still send `logging/setLevel`.
    #[allow(deprecated)]
    log_level: Arc<Mutex<Option<rmcp::model::LoggingLevel>>>,
    /// How many tool calls are waiting in `pause` right now, so a test can tell that a call
    /// has started.
    pausing: Arc<tokio::sync::watch::Sender<usize>>,
}

impl DemoServer {
    /// A fresh server with all tools, resources and the prompt registered.
    pub fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
            shutdown: Shutdown::new(),
            log_level: Arc::new(Mutex::new(None)),
            pausing: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }

    /// Resolves once at least `n` tool calls are waiting in `pause`.
    #[cfg(test)]
    async fn pausing(&self, n: usize) {
        // `self` keeps the sender alive, so the wait cannot fail with "closed".
        let _ = self.pausing.subscribe().wait_for(|count| *count >= n).await;
    }

    /// The level last set through `logging/setLevel`, if any.
    // Deprecated type: see the `log_level` field.
    #[allow(deprecated)]
    #[cfg(test)]
    fn log_level(&self) -> Option<rmcp::model::LoggingLevel> {
        *self
            .log_level
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for DemoServer {
    fn default() -> Self {
        Self::new()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for DemoServer {
    fn get_info(&self) -> ServerConfig {
        // The logging capability is deprecated by SEP-2577; it is still
        // advertised because `logging/setLevel` is answered.
        #[allow(deprecated)]
        let capabilities = ServerCapabilities::builder()
            .enable_logging()
            .enable_prompts()
            .enable_resources()
            .enable_tools()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(
                Implementation::new(SERVER_NAME, env!("CARGO_PKG_VERSION"))
                    .with_title("mcpomni demo server"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(content::resources()?))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let contents = content::read_resource(&request.uri)?;
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(vec![
            content::review_code_prompt(),
        ]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        content::get_prompt(&request.name, request.arguments.as_ref()).map(Into::into)
    }

    // Logging is deprecated by SEP-2577 (see the `log_level` field).
    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        tracing::debug!(level = ?request.level, "client set the log level");
        // A poisoned lock only means another request panicked mid-store; the
        // value itself is still a plain `Option`, so keep going.
        *self
            .log_level
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(request.level);
        Ok(())
    }
}
