//! Plain data that crosses the channels between the runtime and its clients (the TUI, the
//! agent and the headless subcommands): servers, their snapshots, and tool calls made by hand.
//! Nothing here does IO or knows about ratatui: [`RuntimeCommand`]s go in (imperative),
//! [`RuntimeEvent`]s come out (past tense), and every async result carries the id of the
//! request that caused it so a client can drop stale answers. The agent's vocabulary (turns,
//! approvals, usage, the trace) is in `crate::protocol`.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rmcp::model::{CallToolResult, JsonObject};

use super::catalog::Catalog;
use super::elicitation::{Answer, ElicitationId, ElicitationRequest};

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

/// Identifies one tool call made by hand so its result (and progress) can be matched to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(pub u64);

/// How the dashboard talks to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// A child process's stdin and stdout.
    Stdio,
    /// Streamable HTTP.
    StreamableHttp,
    /// Legacy HTTP+SSE, as configured.
    Sse,
    /// Legacy HTTP+SSE after streamable HTTP was refused (a bare `url`).
    SseFallback,
    /// A bare `url` before the first connection tells which of the two it is.
    HttpUndecided,
}

impl TransportKind {
    /// The word the Servers pane and `servers --json` use.
    pub fn label(self) -> &'static str {
        match self {
            TransportKind::Stdio => "stdio",
            TransportKind::StreamableHttp => "http",
            TransportKind::Sse => "sse",
            TransportKind::SseFallback => "sse (fallback)",
            TransportKind::HttpUndecided => "http?",
        }
    }

    /// The kind a configured transport starts as.
    pub fn of(config: &crate::config::TransportConfig) -> Self {
        use crate::config::{HttpKind, TransportConfig};
        match config {
            TransportConfig::Stdio(_) => TransportKind::Stdio,
            TransportConfig::Http(http) => match http.kind {
                HttpKind::StreamableHttp => TransportKind::StreamableHttp,
                HttpKind::Sse => TransportKind::Sse,
                HttpKind::Auto => TransportKind::HttpUndecided,
            },
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
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

/// The severity of a server's log message: the syslog levels MCP uses, least severe first
/// (so `level >= LogLevel::Error` picks errors and worse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
    Critical,
    Alert,
    Emergency,
}

impl LogLevel {
    /// MCP's word for the level.
    pub fn label(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Notice => "notice",
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
            LogLevel::Critical => "critical",
            LogLevel::Alert => "alert",
            LogLevel::Emergency => "emergency",
        }
    }
}

// rmcp marks MCP logging deprecated (SEP-2577); servers on 2025-11-25 and older still send it.
#[allow(deprecated)]
impl From<rmcp::model::LoggingLevel> for LogLevel {
    fn from(level: rmcp::model::LoggingLevel) -> Self {
        use rmcp::model::LoggingLevel as L;
        match level {
            L::Debug => LogLevel::Debug,
            L::Info => LogLevel::Info,
            L::Notice => LogLevel::Notice,
            L::Warning => LogLevel::Warning,
            L::Error => LogLevel::Error,
            L::Critical => LogLevel::Critical,
            L::Alert => LogLevel::Alert,
            L::Emergency => LogLevel::Emergency,
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One `notifications/message` from a server (order is approximate: rmcp delivers each on its
/// own task, so lines are kept in arrival order with the time they arrived).
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub at: SystemTime,
    pub level: LogLevel,
    pub logger: Option<String>,
    pub text: String,
}

/// Everything the dashboard shows about one server, as of one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSnapshot {
    pub name: ServerName,
    /// `stdio`, `sse`, `http`, or `http?` while the HTTP flavour is unknown.
    pub transport: TransportKind,
    /// Where an HTTP server is, as `redact::display_url` shows it (never with credentials).
    pub url: Option<String>,
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
    pub fn new(name: ServerName, transport: TransportKind) -> Self {
        Self {
            name,
            transport,
            url: None,
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

    /// The first snapshot of a configured server: its name, transport and (redacted) URL.
    pub fn for_config(config: &crate::config::ServerConfig) -> Self {
        let mut snapshot = Self::new(
            ServerName::new(&config.name),
            TransportKind::of(&config.transport),
        );
        snapshot.enabled = config.enabled;
        snapshot.url = match &config.transport {
            crate::config::TransportConfig::Http(http) => {
                Some(crate::redact::display_url(&http.url))
            }
            crate::config::TransportConfig::Stdio(_) => None,
        };
        snapshot
    }
}

/// What a client asks the runtime to do.
#[derive(Debug, Clone, PartialEq)]
pub enum RuntimeCommand {
    /// A tool call made by hand (the Tools pane).
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
    /// Sign in to an OAuth-protected server in the browser, then reconnect it.
    SignIn {
        server: ServerName,
    },
    /// The user's answer to a server's request for input.
    AnswerElicitation {
        id: ElicitationId,
        answer: Answer,
    },
    /// Add (`add`) or remove a root for every server; connected servers are told. `path` is
    /// as the user typed it (relative to the working directory, or a `file://` URI).
    ChangeRoot {
        path: String,
        add: bool,
    },
    /// Open an elicitation's URL in the browser (checked again before it is opened).
    OpenUrl {
        server: ServerName,
        url: String,
    },
    /// Report every server's roots (`/roots`).
    ShowRoots,
}

/// How a sign-in started from the dashboard is going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInStatus {
    /// Waiting for the browser: the URL to open (also copyable).
    Open {
        url: String,
    },
    Done,
    Failed(String),
}

/// What happened in the runtime.
#[derive(Debug, Clone)]
pub enum RuntimeEvent {
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
        /// How long the call took, measured by the runtime (the clock of the server's
        /// call statistics).
        elapsed: Duration,
    },
    /// A subscribed resource changed.
    ResourceUpdated {
        server: ServerName,
        uri: String,
    },
    SignIn {
        server: ServerName,
        status: SignInStatus,
    },
    /// A server asks the user for input; answer with `RuntimeCommand::AnswerElicitation`.
    ElicitationRequested(Arc<ElicitationRequest>),
    /// A request no longer waits (the server withdrew it, its session ended, or time ran
    /// out): its form closes.
    ElicitationClosed {
        id: ElicitationId,
        reason: String,
    },
    /// A server's request for input was refused without asking (why, naming the server).
    ElicitationNotice {
        server: ServerName,
        text: String,
    },
    /// What `/roots`, `/roots:add` and `/roots:remove` did, for the chat.
    RootsReported {
        text: String,
    },
}
