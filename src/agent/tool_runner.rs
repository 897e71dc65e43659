//! Where the agent's tool calls go: [`ToolRunner`] is the one seam between a turn and the
//! servers. The runtime is the everyday implementation; `mcpomni replay` plugs in one that
//! answers from a saved trace (`crate::tracefile::replay`), so a recorded run re-runs without
//! any server.

use std::sync::Arc;

use futures::future::BoxFuture;
use rmcp::model::{CallToolResult, JsonObject};

use crate::protocol::ToolCallId;
use crate::runtime::catalog::ToolEntry;
use crate::runtime::server::CallOptions;
use crate::runtime::{RuntimeError, RuntimeHandle};

/// Runs one tool call the agent decided to make (after approval).
pub trait ToolRunner: Send + Sync {
    /// Calls `entry` with `arguments`; `call` is the agent's id for the call (a recording
    /// keys its results by it).
    fn call(
        &self,
        call: ToolCallId,
        entry: &ToolEntry,
        arguments: JsonObject,
        options: CallOptions,
    ) -> BoxFuture<'static, Result<CallToolResult, RuntimeError>>;
}

impl ToolRunner for RuntimeHandle {
    fn call(
        &self,
        _call: ToolCallId,
        entry: &ToolEntry,
        arguments: JsonObject,
        options: CallOptions,
    ) -> BoxFuture<'static, Result<CallToolResult, RuntimeError>> {
        let runtime = self.clone();
        let server = entry.server.to_string();
        let tool = entry.name.clone();
        Box::pin(async move {
            runtime
                .call_tool_with(&server, &tool, arguments, options)
                .await
        })
    }
}

/// The runtime as a shared runner (what the dashboard and `mcpomni run` use).
pub fn runtime_runner(runtime: &RuntimeHandle) -> Arc<dyn ToolRunner> {
    Arc::new(runtime.clone())
}
