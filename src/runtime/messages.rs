//! Plain data that crosses the channels between the runtime and its clients (the TUI and the
//! headless subcommands). Nothing here does IO or knows about ratatui: `Command`s go in
//! (imperative), `Event`s come out (past tense), and every async result carries the id of the
//! request that caused it so a client can drop stale answers.

// rmcp marks sampling deprecated (SEP-2577); servers on 2025-11-25 and older use it.
#![allow(deprecated)]

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rmcp::model::{CallToolResult, JsonObject};

use super::catalog::Catalog;

/// The name a server has in the config file; unique within one config.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerName(Arc<str>);

impl ServerName {
    pub fn new(name: &str) -> Self {
        Self(Arc::from(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Identifies one client-issued call so its result (and progress) can be matched to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(pub u64);

/// One user message and everything the agent does to answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TurnId(pub u64);

/// One approval prompt (a tool call waiting for the user's keystroke).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApprovalId(pub u64);

/// One `sampling/createMessage` request from a server, waiting for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SamplingId(pub u64);

/// How the agent treats tool calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentMode {
    /// Every tool call waits for the user's approval (unless the config or "always" allows it).
    Chat,
    /// Tool calls run without approval.
    Auto,
}

impl AgentMode {
    pub fn label(self) -> &'static str {
        match self {
            AgentMode::Chat => "chat",
            AgentMode::Auto => "auto",
        }
    }
}

/// A tool call the model asked for, as the approval prompt shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProposedCall {
    pub server: ServerName,
    /// The server's own tool name.
    pub tool: String,
    pub qualified_name: String,
    pub arguments: serde_json::Value,
    pub title: Option<String>,
    pub read_only: Option<bool>,
    pub destructive: Option<bool>,
}

/// The user's answer to an approval prompt.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Run it this once.
    Approve,
    /// Do not run it; the model is told it was denied.
    Deny,
    /// Run it, and run this tool without asking for the rest of the session (until its
    /// schema or description changes).
    Always,
    /// Run it with these arguments instead.
    Edited(rmcp::model::JsonObject),
    /// Stop the whole turn.
    CancelTurn,
}

/// Who let a tool call run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovedBy {
    User,
    /// "Always allow" earlier in this session.
    Session,
    /// `auto_approve` or `auto_approve_read_only` in the config.
    Config,
    /// Auto mode.
    AutoMode,
}

impl ApprovedBy {
    /// How the chat, the trace and `mcpomni run` say it.
    pub fn describe(self) -> &'static str {
        match self {
            ApprovedBy::User => "approved by you",
            ApprovedBy::Session => "always allowed this session",
            ApprovedBy::Config => "allowed by the config",
            ApprovedBy::AutoMode => "auto mode",
        }
    }
}

/// Tokens, requests and (with a price in the config) money.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UsageTotals {
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// US dollars, when the config has a price.
    pub cost: Option<f64>,
}

impl UsageTotals {
    pub fn tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// How a turn ended.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnOutcome {
    /// The model gave its final answer.
    Answered,
    Cancelled,
    /// A limit stopped it (which one, in words).
    Limit(String),
    Failed(String),
}

/// One step of an agent run, for the Trace pane.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEntry {
    pub turn: TurnId,
    pub title: String,
    pub detail: String,
}

/// Where a server is in its life. The Servers pane shows exactly these words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerState {
    /// The transport is being created (process spawn, HTTP connect).
    Starting,
    /// The transport is up; the MCP `initialize` handshake and first listings are running.
    Initializing,
    /// Initialized and answering.
    Ready,
    /// Connected but misbehaving (failed health checks or listings).
    Degraded,
    /// Lost and waiting to reconnect.
    Reconnecting,
    /// The server wants an OAuth authorization the user has not given yet.
    NeedsAuth,
    /// Gave up; `last_error` says why.
    Failed,
    /// Shut down on purpose (disabled, or the app is exiting).
    Stopped,
}

impl ServerState {
    pub fn label(self) -> &'static str {
        match self {
            ServerState::Starting => "Starting",
            ServerState::Initializing => "Initializing",
            ServerState::Ready => "Ready",
            ServerState::Degraded => "Degraded",
            ServerState::Reconnecting => "Reconnecting",
            ServerState::NeedsAuth => "NeedsAuth",
            ServerState::Failed => "Failed",
            ServerState::Stopped => "Stopped",
        }
    }

    /// True once startup has reached an outcome a caller can act on.
    pub fn is_settled(self) -> bool {
        match self {
            ServerState::Starting | ServerState::Initializing | ServerState::Reconnecting => false,
            ServerState::Ready
            | ServerState::Degraded
            | ServerState::NeedsAuth
            | ServerState::Failed
            | ServerState::Stopped => true,
        }
    }
}

impl fmt::Display for ServerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The server's own name and version from its `initialize` answer (sanitized).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerIdentity {
    pub name: String,
    pub version: String,
}

/// One `notifications/message` from a server (order is approximate: rmcp delivers each on its
/// own task, so lines are kept in arrival order with the time they arrived).
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub at: SystemTime,
    pub level: String,
    pub logger: Option<String>,
    pub text: String,
}

/// Everything the dashboard shows about one server, as of one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSnapshot {
    pub name: ServerName,
    /// `stdio`, `sse`, `http`, or `http?` while the HTTP flavour is unknown.
    pub transport: String,
    pub state: ServerState,
    /// When the server last became Ready (for uptime).
    pub ready_since: Option<Instant>,
    pub protocol_version: Option<String>,
    pub identity: Option<ServerIdentity>,
    /// Capabilities the server declared (`tools`, `resources`, `prompts`, `logging`, …).
    pub capabilities: Vec<String>,
    pub tool_count: usize,
    pub resource_count: usize,
    pub prompt_count: usize,
    pub last_error: Option<String>,
    pub pid: Option<u32>,
    /// How long `initialize` plus the first listings took.
    pub startup_time: Option<Duration>,
    /// False when switched off (config or the disable key).
    pub enabled: bool,
    /// Round trips of recent heartbeat pings, oldest first (at most 60).
    pub ping_samples: Vec<Duration>,
    /// Heartbeat pings failed in a row.
    pub ping_failures: u32,
    /// Tool calls through this server and how many failed (errors or `isError` results).
    pub calls: u64,
    pub call_errors: u64,
    pub call_p50: Option<Duration>,
    pub call_p95: Option<Duration>,
    /// Automatic and manual restarts since mcpomni started.
    pub restarts: u32,
    /// When the next automatic reconnect is due (while Reconnecting).
    pub retry_at: Option<Instant>,
    /// Reconnect attempts in the current outage (0 while connected).
    pub reconnect_attempts: u32,
    /// The first start has reached an outcome (Ready, Degraded, NeedsAuth, Failed or
    /// Stopped); later reconnects do not clear it. Headless commands wait for this, never for
    /// retries.
    pub first_attempt_done: bool,
    /// Notifications dropped because the server sent them faster than they could be handled.
    pub dropped_notices: u64,
    /// Progress notifications dropped because they arrived after their call had its result
    /// (or named no call in progress).
    pub dropped_progress: u64,
    /// Resource URIs subscribed to (re-subscribed after every reconnect).
    pub subscriptions: Vec<String>,
}

impl ServerSnapshot {
    pub fn new(name: ServerName, transport: &str) -> Self {
        Self {
            name,
            transport: transport.to_owned(),
            state: ServerState::Starting,
            ready_since: None,
            protocol_version: None,
            identity: None,
            capabilities: Vec::new(),
            tool_count: 0,
            resource_count: 0,
            prompt_count: 0,
            last_error: None,
            pid: None,
            startup_time: None,
            enabled: true,
            ping_samples: Vec::new(),
            ping_failures: 0,
            calls: 0,
            call_errors: 0,
            call_p50: None,
            call_p95: None,
            restarts: 0,
            retry_at: None,
            reconnect_attempts: 0,
            first_attempt_done: false,
            dropped_notices: 0,
            dropped_progress: 0,
            subscriptions: Vec::new(),
        }
    }
}

/// What a client asks the runtime to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    CallTool {
        id: CallId,
        server: ServerName,
        tool: String,
        arguments: JsonObject,
    },
    CancelCall {
        id: CallId,
    },
    /// Open a new session (a stdio server is started again).
    Reconnect {
        server: ServerName,
    },
    /// Like `Reconnect`, but also forget the restart budget and statistics.
    Restart {
        server: ServerName,
    },
    SetEnabled {
        server: ServerName,
        enabled: bool,
    },
    /// Ask the agent: a user message.
    StartTurn {
        turn: TurnId,
        text: String,
        mode: AgentMode,
    },
    /// Answer an approval prompt.
    Decide {
        approval: ApprovalId,
        decision: Decision,
    },
    CancelTurn {
        turn: TurnId,
    },
    /// Answer a server's sampling request: approve (with the request, possibly edited) or deny.
    DecideSampling {
        id: SamplingId,
        approved: Option<Box<rmcp::model::CreateMessageRequestParams>>,
    },
    /// Forget the conversation (the session's usage stays).
    ClearConversation,
    /// Close every server and stop; `Event::ShutdownComplete` follows.
    Shutdown,
}

/// What happened in the runtime.
#[derive(Debug, Clone)]
pub enum Event {
    /// The server's latest snapshot. Snapshots coalesce: a slow reader gets the newest one,
    /// not every one in between.
    ServerChanged(Arc<ServerSnapshot>),
    /// Log messages the server sent since the last batch, oldest first. `dropped` lines were
    /// lost right before these because the reader fell behind (or the server flooded).
    LogLinesReceived {
        server: ServerName,
        lines: Vec<LogLine>,
        dropped: u64,
    },
    /// Lines the server wrote to stderr since the last batch, oldest first; `dropped` lines
    /// were lost right before these.
    StderrLinesReceived {
        server: ServerName,
        lines: Vec<String>,
        dropped: u64,
    },
    CatalogChanged(Arc<Catalog>),
    /// A call's progress went up (stale and out-of-order progress is not reported).
    CallProgress {
        id: CallId,
        progress: f64,
        total: Option<f64>,
        message: Option<String>,
    },
    CallFinished {
        id: CallId,
        outcome: Result<CallToolResult, String>,
    },
    /// A subscribed resource changed.
    ResourceUpdated {
        server: ServerName,
        uri: String,
    },
    /// More of the model's answer.
    AssistantDelta {
        turn: TurnId,
        text: String,
    },
    /// A tool call waits for the user (`index` of `total` calls in this reply).
    ApprovalRequested {
        turn: TurnId,
        approval: ApprovalId,
        call: ProposedCall,
        index: usize,
        total: usize,
    },
    ToolCallStarted {
        turn: TurnId,
        call: ProposedCall,
        approved_by: ApprovedBy,
    },
    /// A proposed call ended: ran (ok or error), or was denied.
    ToolCallFinished {
        turn: TurnId,
        qualified_name: String,
        outcome: Result<String, String>,
        denied: bool,
        elapsed: Duration,
    },
    TurnFinished {
        turn: TurnId,
        outcome: TurnOutcome,
        turn_usage: UsageTotals,
        session_usage: UsageTotals,
    },
    TraceStep(TraceEntry),
    /// A server asks the user's LLM for a completion.
    SamplingRequested {
        id: SamplingId,
        server: ServerName,
        params: Box<rmcp::model::CreateMessageRequestParams>,
    },
    /// The server stopped waiting for a sampling request before the user answered it (its
    /// deadline passed, it cancelled, or it disconnected): the prompt is withdrawn.
    SamplingWithdrawn {
        id: SamplingId,
        server: ServerName,
    },
    /// A notice from the agent for the conversation (e.g. an unknown slash command's answer).
    AgentNotice(String),
    /// The session's usage changed outside a turn (a sampling request was answered).
    UsageChanged(UsageTotals),
    ShutdownComplete,
}
