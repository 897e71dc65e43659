//! Typed configuration for mcpomni: the data model of `servers_config.json`
//! (MCPOmni Connect's format, plus Claude Desktop's `mcpServers` entries) and
//! the entry points that find, read and validate it.
//!
//! Everything that can go wrong while loading is reported as a [`ConfigError`]
//! that names the file, the line and column, and the dotted key path.

mod build;
mod error;
mod interpolate;
mod load;
mod locate;
mod raw;
#[cfg(test)]
mod tests;

use crate::protocol::AgentMode;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use error::{ConfigError, InvalidConfig};
pub use load::{LoadEnv, SELF_EXE_VAR, default_config_home, load, parse};

/// The configuration used when no file is found anywhere: it only runs the
/// built-in demo server, so a first start shows something useful.
pub const BUNDLED_CONFIG: &str = include_str!("../../config/servers_config.json");

/// Name of the config file looked up in the working directory and under the
/// user's config directory (`<config_home>/mcpomni/`).
pub const CONFIG_FILE_NAME: &str = "servers_config.json";

/// Everything read from the config file and `.env`.
#[derive(Clone, PartialEq)]
pub struct Config {
    pub source: ConfigSource,
    pub agent: AgentConfig,
    pub llm: Option<LlmConfig>,
    /// In file order.
    pub servers: Vec<ServerConfig>,
    pub ui: UiConfig,
    /// Where conversations are kept (the top-level `memory` section).
    pub memory: StoreConfig,
    /// Values read from `.env` in the working directory (never applied to the process env).
    pub dotenv: BTreeMap<String, String>,
}

impl Config {
    /// Process environment first, then `.env` values.
    pub fn env_var(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .or_else(|| self.dotenv.get(name).cloned())
    }

    /// Find a server by name.
    pub fn server(&self, name: &str) -> Option<&ServerConfig> {
        self.servers.iter().find(|s| s.name == name)
    }
}

// `.env` usually holds API keys, so only its variable names may reach a log.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("source", &self.source)
            .field("agent", &self.agent)
            .field("llm", &self.llm)
            .field("servers", &self.servers)
            .field("ui", &self.ui)
            .field("memory", &self.memory)
            .field("dotenv", &Redacted(&self.dotenv))
            .finish()
    }
}

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    Bundled,
}

impl ConfigSource {
    /// The name used in error messages: the path as given, or `<bundled>`.
    pub fn display_name(&self) -> String {
        match self {
            ConfigSource::File(path) => path.display().to_string(),
            ConfigSource::Bundled => "<bundled>".to_owned(),
        }
    }
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_name())
    }
}

/// The `AgentConfig` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    pub tool_call_timeout: Duration,
    pub max_steps: u32,
    /// The agent's mode at start (`--mode` overrides it).
    pub mode: AgentMode,
    /// How many of an orchestrator phase's sub-agents run at once.
    pub max_parallel_agents: u32,
    /// Where the debugger pauses (`--break` adds to them).
    pub breakpoints: Vec<crate::protocol::debug::Breakpoint>,
    /// Start in step mode: set by `--step`, not by the file.
    pub step: bool,
    /// 0 = unlimited.
    pub request_limit: u64,
    /// 0 = unlimited.
    pub total_tokens_limit: u64,
    pub memory_config: MemoryConfig,
    /// How long a server may take to start and finish the MCP handshake.
    pub startup_timeout: Duration,
    /// Health-check defaults for every server (each server may override them).
    pub health: HealthConfig,
    /// Which tool calls chat mode runs without asking.
    pub approval: ApprovalConfig,
}

/// Which tool calls run without a keystroke in chat mode. Entries are qualified tool names
/// (`server__tool`) or a whole server (`server__*`); `always_ask` wins over everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApprovalConfig {
    pub auto_approve: Vec<String>,
    pub always_ask: Vec<String>,
    /// Run tools that declare `readOnlyHint: true` without asking.
    pub auto_approve_read_only: bool,
}

/// How a server's health is watched and how hard it is revived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthConfig {
    /// Time between heartbeat pings; `None` (written as 0) turns the heartbeat off.
    pub ping_interval: Option<Duration>,
    /// How long a ping may take before it counts as failed.
    pub ping_timeout: Duration,
    /// Automatic restarts allowed within [`HealthConfig::RESTART_WINDOW`] before giving up.
    pub max_restarts: u32,
}

impl HealthConfig {
    /// The window `max_restarts` counts over.
    pub const RESTART_WINDOW: Duration = Duration::from_secs(600);
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            ping_interval: Some(Duration::from_secs(15)),
            ping_timeout: Duration::from_secs(5),
            max_restarts: 5,
        }
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            tool_call_timeout: Duration::from_secs(30),
            max_steps: 15,
            mode: AgentMode::Chat,
            max_parallel_agents: 4,
            breakpoints: Vec::new(),
            step: false,
            request_limit: 0,
            total_tokens_limit: 0,
            memory_config: MemoryConfig::default(),
            startup_timeout: Duration::from_secs(30),
            health: HealthConfig::default(),
            approval: ApprovalConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryConfig {
    pub mode: MemoryMode,
    /// Messages kept (sliding window) or tokens kept (token budget).
    pub value: u64,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            mode: MemoryMode::SlidingWindow,
            value: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryMode {
    SlidingWindow,
    TokenBudget,
}

/// The `LLM` block. API keys are not part of it: they come from the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmConfig {
    pub provider: String,
    pub model: String,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub top_p: Option<f64>,
    pub max_context_length: Option<u32>,
    pub azure_endpoint: Option<String>,
    pub azure_api_version: Option<String>,
    pub azure_deployment: Option<String>,
    pub ollama_host: Option<String>,
    pub base_url: Option<String>,
    /// Price per million tokens, to show what a session costs (our extension).
    pub price: Option<Price>,
    /// How the model is offered tools (our extension).
    pub tool_calling: ToolCalling,
}

/// `LLM.tool_calling`: how the agent lets the model call tools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ToolCalling {
    /// The provider's own tool calling (tool definitions in the request).
    Native,
    /// A text ReAct protocol (`Action:` / `Action Input:` / `Final Answer:`), for models
    /// without tool calling.
    Text,
    /// Native, switching to text for the rest of the session when the provider rejects
    /// tool definitions.
    #[default]
    Auto,
}

impl ToolCalling {
    /// The values the config accepts, as written there.
    pub const NAMES: &'static str = "`native`, `text` or `auto`";

    pub fn parse(value: &str) -> Option<ToolCalling> {
        match value.to_ascii_lowercase().as_str() {
            "native" => Some(ToolCalling::Native),
            "text" => Some(ToolCalling::Text),
            "auto" => Some(ToolCalling::Auto),
            _ => None,
        }
    }
}

/// US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

/// The top-level `memory` section. `AgentConfig.memory_config` is something else: how much of
/// the history the model sees.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub backend: crate::memory::StoreKind,
    /// Else `REDIS_URL`, else `REDIS_HOST`/`REDIS_PORT` (+ `REDIS_DB`, `REDIS_PASSWORD`).
    pub redis_url: Option<String>,
    /// Redis only: a session expires this long after its last message.
    pub ttl_seconds: Option<u64>,
    /// Which session this launch continues (`--session`, `--continue`; not in the file).
    pub session: crate::memory::SessionChoice,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: crate::memory::StoreKind::File,
            redis_url: None,
            ttl_seconds: None,
            session: crate::memory::SessionChoice::New,
        }
    }
}

// The Redis URL may carry a password.
impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("backend", &self.backend)
            .field(
                "redis_url",
                &self.redis_url.as_deref().map(crate::redact::display_url),
            )
            .field("ttl_seconds", &self.ttl_seconds)
            .field("session", &self.session)
            .finish()
    }
}

/// The `UI` block (an mcpomni extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiConfig {
    pub theme: String,
    pub mouse: bool,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            theme: "dark".to_owned(),
            mouse: true,
        }
    }
}

/// One entry of `mcpServers`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    pub name: String,
    pub transport: TransportConfig,
    pub enabled: bool,
    /// Applies to every request except tool calls.
    pub request_timeout: Duration,
    /// Overrides [`AgentConfig::startup_timeout`] for this server.
    pub startup_timeout: Option<Duration>,
    /// The agent's health defaults with this server's overrides applied.
    pub health: HealthConfig,
    /// Sent as `logging/setLevel` after connecting, when the server supports logging.
    pub log_level: Option<String>,
}

impl ServerConfig {
    pub fn effective_startup_timeout(&self, agent: &AgentConfig) -> Duration {
        self.startup_timeout.unwrap_or(agent.startup_timeout)
    }
}

// A config holds a handful of these, built once: boxing would buy nothing but derefs.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum TransportConfig {
    Stdio(StdioConfig),
    Http(HttpConfig),
}

impl TransportConfig {
    /// What the Servers pane shows as the transport before the first connection.
    pub fn kind_label(&self) -> &'static str {
        crate::runtime::messages::TransportKind::of(self).label()
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct StdioConfig {
    pub command: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: Option<PathBuf>,
}

// Server env blocks are where tokens live in Claude Desktop configs.
impl fmt::Debug for StdioConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdioConfig")
            .field("command", &self.command)
            .field("args", &self.args)
            .field("env", &Redacted(&self.env))
            .field("cwd", &self.cwd)
            .finish()
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct HttpConfig {
    pub url: String,
    pub kind: HttpKind,
    pub headers: BTreeMap<String, String>,
    pub sse_read_timeout: Duration,
    pub auth: Option<AuthConfig>,
}

// Header values usually carry `Authorization`; names are enough to debug. URLs can carry
// credentials too (userinfo, `?api_key=`).
impl fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConfig")
            .field("url", &crate::redact::display_url(&self.url))
            .field("kind", &self.kind)
            .field("headers", &Redacted(&self.headers))
            .field("sse_read_timeout", &self.sse_read_timeout)
            .field("auth", &self.auth)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpKind {
    StreamableHttp,
    Sse,
    /// url given without a transport: try streamable HTTP, fall back to SSE
    Auto,
}

// One per server at most, built once (see `TransportConfig`).
#[allow(clippy::large_enum_variant)]
#[derive(Clone, PartialEq, Eq)]
pub enum AuthConfig {
    OAuth(OAuthConfig),
    Bearer { token: String },
}

/// How mcpomni signs in to an OAuth-protected server (`"auth": {"method": "oauth", ...}`).
/// Everything is optional: discovery, dynamic registration and the server's scope hints fill
/// in what is not given.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct OAuthConfig {
    /// A client registered with the authorization server ahead of time.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Scopes to ask for instead of the server's hints.
    pub scopes: Vec<String>,
    /// An HTTPS URL of a client-id metadata document, used when the server supports them.
    pub client_metadata_url: Option<String>,
    /// The loopback port the browser is sent back to (a free one when absent).
    pub redirect_port: Option<u16>,
    pub grant: OAuthGrant,
    /// A PEM private key (PKCS#8) for `private_key_jwt` client authentication.
    pub private_key: Option<String>,
    /// `ES256` (the default) or `RS256`, for `private_key`.
    pub signing_algorithm: Option<String>,
    /// Cross-app access: the enterprise identity provider and the ID token it issued.
    pub cross_app: Option<CrossAppConfig>,
}

/// How the access token is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OAuthGrant {
    /// A person signs in in a browser (authorization code + PKCE).
    #[default]
    AuthorizationCode,
    /// The client authenticates as itself (a secret or a signed JWT); no browser.
    ClientCredentials,
    /// An ID token from the enterprise identity provider is exchanged for an ID-JAG, then
    /// for an access token (RFC 8693 + RFC 7523); no browser.
    CrossApp,
}

/// The identity provider of a cross-app access grant.
#[derive(Clone, PartialEq, Eq)]
pub struct CrossAppConfig {
    pub idp_issuer: String,
    pub idp_token_endpoint: String,
    pub idp_client_id: String,
    pub idp_client_secret: Option<String>,
    pub id_token: String,
}

impl fmt::Debug for OAuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| RedactedValue),
            )
            .field("scopes", &self.scopes)
            .field("client_metadata_url", &self.client_metadata_url)
            .field("redirect_port", &self.redirect_port)
            .field("grant", &self.grant)
            .field(
                "private_key",
                &self.private_key.as_ref().map(|_| RedactedValue),
            )
            .field("signing_algorithm", &self.signing_algorithm)
            .field("cross_app", &self.cross_app.as_ref().map(|_| RedactedValue))
            .finish()
    }
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthConfig::OAuth(oauth) => oauth.fmt(f),
            AuthConfig::Bearer { .. } => f
                .debug_struct("Bearer")
                .field("token", &RedactedValue)
                .finish(),
        }
    }
}

/// Prints a string map's keys with every value replaced by `"<redacted>"`.
struct Redacted<'a>(&'a BTreeMap<String, String>);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, RedactedValue)))
            .finish()
    }
}

struct RedactedValue;

impl fmt::Debug for RedactedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}
