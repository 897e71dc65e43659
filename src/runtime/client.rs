//! Our side of each MCP session: the rmcp `ClientHandler` that declares what this client can do
//! and hands the server's notifications to its actor. rmcp runs every notification handler on
//! its own task, so order is not guaranteed and a flood must not pile up: notices go through a
//! bounded channel with `try_send`, and what does not fit is counted, not queued.

// rmcp marks MCP logging deprecated (SEP-2577), but servers still send it and operators want it.
#![allow(deprecated)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use rmcp::ClientHandler;
use rmcp::model::{
    ClientCapabilities, ClientConfig, Implementation, LoggingLevel,
    LoggingMessageNotificationParam, ProgressNotificationParam, ProtocolVersion,
    ResourceUpdatedNotificationParam,
};
use rmcp::service::{NotificationContext, RoleClient};
use tokio::sync::mpsc;

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
    Progress(ProgressNotificationParam),
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

/// The handler rmcp drives for one connection.
#[derive(Debug, Clone)]
pub struct McpClient {
    notices: mpsc::Sender<ServerNotice>,
    dropped: Arc<AtomicU64>,
}

impl McpClient {
    pub fn new(notices: mpsc::Sender<ServerNotice>, dropped: Arc<AtomicU64>) -> Self {
        Self { notices, dropped }
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
pub fn client_config() -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("mcpomni", env!("CARGO_PKG_VERSION")).with_title("mcpomni"),
    )
    .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
}

impl ClientHandler for McpClient {
    fn get_info(&self) -> ClientConfig {
        client_config()
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.push(ServerNotice::Progress(params));
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
            logger: params.logger.as_deref().map(sanitize),
            text,
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
