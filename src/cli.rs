//! Command-line interface: the dashboard by default, headless subcommands over the same
//! runtime otherwise. Usage errors exit with status 2 (clap's default), as config errors do.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::memory::{SessionId, StoreKind};
use crate::protocol::debug::Breakpoint;

fn parse_breakpoint(text: &str) -> Result<Breakpoint, String> {
    text.parse()
}

#[derive(Debug, Parser)]
#[command(
    name = "mcpomni",
    version,
    about = "A universal MCP client with an LLM agent, as a full-screen terminal dashboard",
    long_about = "A universal MCP client with an LLM agent, as a full-screen terminal dashboard.\n\n\
        Without a subcommand it opens the dashboard. The config is --config PATH, else \
        ./servers_config.json, else $XDG_CONFIG_HOME/mcpomni/servers_config.json, else the \
        bundled default (the demo MCP server).\n\n\
        Conversations are saved as they happen, by default as one file per session in \
        $XDG_DATA_HOME/mcpomni/sessions (--memory redis|in_memory, or the config's \
        memory.backend, keeps them elsewhere); each launch starts a new session unless \
        --session ID or --continue. `mcpomni sessions` lists them.\n\n\
        Exit status: 0 success, 1 a server or tool failed, 2 usage or config error."
)]
pub struct Cli {
    /// The config file (servers_config.json format).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Resume the conversation of session ID, or start one with that id (letters, digits,
    /// '-', '_', '.'; at most 128 characters). Without it every launch starts a new session.
    #[arg(long, global = true, value_name = "ID", value_parser = parse_session_id, conflicts_with = "resume_latest")]
    pub session: Option<SessionId>,

    /// Resume the most recent session (a new one when there is none).
    #[arg(long = "continue", global = true)]
    pub resume_latest: bool,

    /// Where conversations are kept: file (the default), redis or in_memory (over the config's
    /// memory.backend).
    #[arg(long, global = true, value_enum)]
    pub memory: Option<Memory>,

    /// The dashboard's agent mode at start (default: AgentConfig.mode, else chat); /mode:…
    /// changes it later.
    #[arg(long, value_enum)]
    pub mode: Option<RunMode>,

    /// Start the dashboard in step mode: the agent pauses before every model request and tool
    /// call (`s` in the Trace pane turns it off).
    #[arg(long)]
    pub step: bool,

    /// Pause the agent here (repeatable): model, tool:GLOB, error, step:N. Added to
    /// AgentConfig.breakpoints.
    #[arg(long = "break", value_name = "WHERE", value_parser = parse_breakpoint)]
    pub breaks: Vec<Breakpoint>,
    /// How headless commands answer a server's request for input (elicitation): `decline`
    /// (the default) or `accept-defaults` (a form with the schema's defaults; declined when a
    /// required field has none). What was asked and answered is said on stderr. The dashboard
    /// always asks you.
    #[arg(long, global = true, value_enum, default_value_t = Elicit::Decline)]
    pub elicit: Elicit,

    /// Save the dashboard's agent trace to FILE as JSON Lines while it runs (mode 0600,
    /// secrets scrubbed; see "Trace files" in the README). For `run`, put it after `run`.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Cmd>,
}

/// `--elicit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Elicit {
    Decline,
    AcceptDefaults,
}

impl Elicit {
    pub fn policy(self) -> crate::runtime::elicitation::Policy {
        use crate::runtime::elicitation::Policy;
        match self {
            Elicit::Decline => Policy::Decline,
            Elicit::AcceptDefaults => Policy::AcceptDefaults,
        }
    }
}

/// `--memory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Memory {
    #[value(name = "in_memory")]
    InMemory,
    Redis,
    File,
}

impl Memory {
    pub fn store_kind(self) -> StoreKind {
        match self {
            Memory::InMemory => StoreKind::InMemory,
            Memory::Redis => StoreKind::Redis,
            Memory::File => StoreKind::File,
        }
    }
}

fn parse_session_id(text: &str) -> Result<SessionId, String> {
    text.parse()
}

/// `--mode` (the dashboard's and `run`'s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunMode {
    /// Tool calls need approval (`--approve`).
    Chat,
    /// Tool calls run without approval (tools in `always_ask` still ask).
    Auto,
    /// A plan of phases whose sub-tasks run as parallel sub-agents (tool calls approved as in
    /// chat mode).
    Orchestrator,
}

impl RunMode {
    pub fn agent_mode(self) -> crate::protocol::AgentMode {
        use crate::protocol::AgentMode;
        match self {
            RunMode::Chat => AgentMode::Chat,
            RunMode::Auto => AgentMode::Auto,
            RunMode::Orchestrator => AgentMode::Orchestrator,
        }
    }
}

/// `run --approve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Approve {
    /// Run every tool call the model asks for.
    All,
    /// Deny every tool call (the model is told, and answers without them).
    None,
    /// Ask on the terminal for each call; without a terminal on stdin this means `none`.
    Ask,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// List configured servers and their state after startup.
    Servers {
        #[arg(long)]
        json: bool,
    },
    /// List tools of every server (or one).
    Tools {
        #[arg(long, value_name = "SERVER")]
        server: Option<String>,
        /// A JSON array: server, name, qualified_name, description, input_schema.
        #[arg(long)]
        json: bool,
    },
    /// Call a tool and print its result (only SERVER is started).
    Call {
        server: String,
        /// The server's own tool name (the qualified `server__tool` name works too).
        tool: String,
        /// Arguments as a JSON object (the same as --args).
        #[arg(value_name = "JSON", conflicts_with = "args")]
        arguments: Option<String>,
        /// Arguments as a JSON object.
        #[arg(long, value_name = "JSON", default_value = "{}")]
        args: String,
        /// Print the whole result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List resources of every server (or one).
    Resources {
        #[arg(long, value_name = "SERVER")]
        server: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Read a resource and print its contents (only SERVER is started).
    Read {
        server: String,
        uri: String,
        #[arg(long)]
        json: bool,
    },
    /// List prompts of every server (or one).
    Prompts {
        #[arg(long, value_name = "SERVER")]
        server: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Get a prompt and print its messages (only SERVER is started).
    Prompt {
        server: String,
        name: String,
        /// Arguments as a JSON object of strings (the same as --args).
        #[arg(value_name = "JSON", conflicts_with = "args")]
        arguments: Option<String>,
        /// Arguments as a JSON object of strings.
        #[arg(long, value_name = "JSON", default_value = "{}")]
        args: String,
        #[arg(long)]
        json: bool,
    },
    /// Ask the agent once and print its final answer (tool calls are reported on stderr).
    Run {
        /// What to ask.
        query: String,
        /// Default: AgentConfig.mode, else chat.
        #[arg(long, value_enum)]
        mode: Option<RunMode>,
        /// Who approves tool calls and servers' sampling requests in chat mode.
        #[arg(long, value_enum, default_value_t = Approve::Ask)]
        approve: Approve,
        /// Print the answer, every tool call and the usage as JSON.
        #[arg(long)]
        json: bool,
        /// Pause before every model request and tool call and ask on the terminal
        /// ([s]tep / [c]ontinue / [q]uit); refused without a terminal.
        #[arg(long)]
        step: bool,
        /// Pause here (repeatable): model, tool:GLOB, error, step:N.
        #[arg(long = "break", value_name = "WHERE", value_parser = parse_breakpoint)]
        breaks: Vec<Breakpoint>,
        /// Save the run's trace to FILE as JSON Lines while it runs (mode 0600, secrets
        /// scrubbed).
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
    },
    /// Open a saved trace in the dashboard's Trace pane, offline (no LLM, no servers).
    Trace {
        /// A file written by `--trace`.
        file: PathBuf,
    },
    /// Re-run a saved trace from its recorded model replies and tool results and print the
    /// final answer (no LLM is called).
    Replay {
        /// A file written by `--trace`.
        file: PathBuf,
        /// Run the tool calls against the real servers (the config as usual) and report the
        /// first result that differs from the recording (exit status 1 then).
        #[arg(long)]
        live: bool,
    },
    /// List the stored sessions, most recent first (or show, delete or export one).
    Sessions {
        #[command(subcommand)]
        action: Option<SessionsCmd>,
        /// A JSON array of {id, title, messages, tokens, updated, store}.
        #[arg(long)]
        json: bool,
    },
    /// Sign in to an OAuth-protected server now (the tokens are kept for later runs).
    Auth { server: String },
    /// Forget the OAuth tokens kept for a server.
    Logout { server: String },
    /// Act as the client of the official MCP conformance suite for the scenario named in
    /// MCP_CONFORMANCE_SCENARIO (configured servers are ignored; tokens stay in memory).
    Conformance {
        /// The test server's URL (the suite appends it).
        url: String,
    },
    /// Run the bundled demo MCP server on stdin/stdout.
    #[command(hide = true)]
    DemoServer,
}

/// `mcpomni sessions …`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum SessionsCmd {
    /// Print a session's conversation.
    Show {
        #[arg(value_parser = parse_session_id)]
        id: SessionId,
    },
    /// Delete a session's stored history.
    Delete {
        #[arg(value_parser = parse_session_id)]
        id: SessionId,
    },
    /// Print a session as JSON (its entries) or Markdown (its conversation).
    Export {
        #[arg(value_parser = parse_session_id)]
        id: SessionId,
        #[arg(long, value_enum, default_value_t = ExportFormat::Markdown)]
        format: ExportFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Json,
    Markdown,
}
