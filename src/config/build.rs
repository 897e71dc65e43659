//! Turns the raw, deserialized file into the typed config: applies defaults,
//! expands `${VAR}` references, and performs the semantic checks (transport
//! selection, required keys, URL schemes, non-negative durations), reporting
//! each failure at the position of the offending value.

use crate::protocol::AgentMode;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use super::error::{ConfigError, InvalidConfig};
use super::interpolate;
use super::locate::KeyPath;
use super::raw::{Obj, RawAgent, RawAuth, RawLlm, RawMemory, RawServer, RawStore, RawUi};
use super::{
    AgentConfig, ApprovalConfig, AuthConfig, CrossAppConfig, HealthConfig, HttpConfig, HttpKind,
    LlmConfig, MemoryConfig, MemoryMode, OAuthConfig, OAuthGrant, Price, ServerConfig, StdioConfig,
    StoreConfig, ToolCalling, TransportConfig, UiConfig,
};

const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_SSE_READ_TIMEOUT: Duration = Duration::from_secs(300);

const TRANSPORTS: &str = "`stdio`, `sse`, `streamable_http`, `streamable-http` or `http`";

pub(crate) struct Builder<'a> {
    pub(crate) file: &'a str,
    pub(crate) text: &'a str,
    pub(crate) lookup: &'a dyn Fn(&str) -> Option<String>,
    /// Relative roots are taken from here (the working directory).
    pub(crate) cwd: &'a std::path::Path,
}

/// The health keys as written (in `AgentConfig` or in a server).
struct HealthKeys {
    ping_interval: Option<f64>,
    ping_timeout: Option<f64>,
    max_restarts: Option<u32>,
}

/// The log levels MCP defines, for `log_level`.
const LOG_LEVELS: &[&str] = &[
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

/// A transport as chosen by `transport_type` / `type`, or guessed from the keys.
enum Selected {
    Stdio,
    Http(HttpKind),
}

impl Builder<'_> {
    fn error(&self, path: &KeyPath, message: impl Into<String>) -> ConfigError {
        InvalidConfig::at(self.file, self.text, path, message).into()
    }

    fn expand(&self, path: &KeyPath, value: &str) -> Result<String, ConfigError> {
        interpolate::expand(value, self.lookup).map_err(|e| self.error(path, e.to_string()))
    }

    fn expand_opt(
        &self,
        path: &KeyPath,
        value: Option<&str>,
    ) -> Result<Option<String>, ConfigError> {
        value.map(|v| self.expand(path, v)).transpose()
    }

    fn expand_map(
        &self,
        path: &KeyPath,
        map: Option<BTreeMap<String, String>>,
    ) -> Result<BTreeMap<String, String>, ConfigError> {
        map.unwrap_or_default()
            .into_iter()
            .map(|(k, v)| {
                let v = self.expand(&path.key(&k), &v)?;
                Ok((k, v))
            })
            .collect()
    }

    /// Durations are written as seconds, integer or fractional.
    fn seconds(&self, path: &KeyPath, value: Option<f64>) -> Result<Option<Duration>, ConfigError> {
        let Some(secs) = value else {
            return Ok(None);
        };
        if secs < 0.0 {
            return Err(self.error(path, "expected a non-negative number of seconds"));
        }
        Duration::try_from_secs_f64(secs)
            .map(Some)
            .map_err(|_| self.error(path, "number of seconds is too large"))
    }

    fn non_empty(&self, path: &KeyPath, value: String, key: &str) -> Result<String, ConfigError> {
        if value.trim().is_empty() {
            return Err(self.error(path, format!("`{key}` must not be empty")));
        }
        Ok(value)
    }

    pub(crate) fn agent(&self, raw: Option<Obj<RawAgent>>) -> Result<AgentConfig, ConfigError> {
        let defaults = AgentConfig::default();
        let Some(Obj(raw)) = raw else {
            return Ok(defaults);
        };
        let path = KeyPath::root().key("AgentConfig");
        Ok(AgentConfig {
            tool_call_timeout: self
                .seconds(&path.key("tool_call_timeout"), raw.tool_call_timeout)?
                .unwrap_or(defaults.tool_call_timeout),
            max_steps: raw.max_steps.unwrap_or(defaults.max_steps),
            mode: match raw.mode.as_deref() {
                None => defaults.mode,
                Some(word) => AgentMode::from_label(word).ok_or_else(|| {
                    self.error(
                        &path.key("mode"),
                        format!("unknown mode `{word}`; expected `chat`, `auto` or `orchestrator`"),
                    )
                })?,
            },
            max_parallel_agents: match raw.max_parallel_agents {
                None => defaults.max_parallel_agents,
                Some(0) => {
                    return Err(self.error(
                        &path.key("max_parallel_agents"),
                        "`max_parallel_agents` must be at least 1".to_owned(),
                    ));
                }
                Some(n) => n,
            },
            breakpoints: {
                let mut breakpoints = Vec::new();
                for (i, text) in raw.breakpoints.unwrap_or_default().iter().enumerate() {
                    let breakpoint = text.parse().map_err(|why: String| {
                        self.error(&path.key("breakpoints").index(i), why)
                    })?;
                    breakpoints.push(breakpoint);
                }
                breakpoints
            },
            step: false,
            request_limit: raw.request_limit.unwrap_or(defaults.request_limit),
            total_tokens_limit: raw
                .total_tokens_limit
                .unwrap_or(defaults.total_tokens_limit),
            memory_config: self.memory(&path.key("memory_config"), raw.memory_config)?,
            startup_timeout: self
                .seconds(&path.key("startup_timeout"), raw.startup_timeout)?
                .unwrap_or(defaults.startup_timeout),
            health: self.health(
                &path,
                defaults.health,
                HealthKeys {
                    ping_interval: raw.ping_interval,
                    ping_timeout: raw.ping_timeout,
                    max_restarts: raw.max_restarts,
                },
            )?,
            approval: ApprovalConfig {
                auto_approve: self.tool_patterns(&path.key("auto_approve"), raw.auto_approve)?,
                always_ask: self.tool_patterns(&path.key("always_ask"), raw.always_ask)?,
                auto_approve_read_only: raw.auto_approve_read_only.unwrap_or(false),
            },
        })
    }

    /// `server__tool` or `server__*` entries.
    fn tool_patterns(
        &self,
        path: &KeyPath,
        raw: Option<Vec<String>>,
    ) -> Result<Vec<String>, ConfigError> {
        let patterns = raw.unwrap_or_default();
        for (i, pattern) in patterns.iter().enumerate() {
            let valid = pattern
                .split_once("__")
                .is_some_and(|(server, tool)| !server.is_empty() && !tool.is_empty());
            if !valid {
                return Err(self.error(
                    &path.index(i),
                    format!(
                        "`{pattern}` is not a qualified tool name; write `server__tool` or `server__*`"
                    ),
                ));
            }
        }
        Ok(patterns)
    }

    /// `ping_interval` (0 = off), `ping_timeout` and `max_restarts` over `base`.
    fn health(
        &self,
        path: &KeyPath,
        base: HealthConfig,
        keys: HealthKeys,
    ) -> Result<HealthConfig, ConfigError> {
        let ping_interval = match self.seconds(&path.key("ping_interval"), keys.ping_interval)? {
            None => base.ping_interval,
            Some(interval) if interval.is_zero() => None,
            Some(interval) => Some(interval),
        };
        let ping_timeout = self
            .seconds(&path.key("ping_timeout"), keys.ping_timeout)?
            .unwrap_or(base.ping_timeout);
        if ping_timeout.is_zero() {
            return Err(self.error(&path.key("ping_timeout"), "must be more than 0 seconds"));
        }
        Ok(HealthConfig {
            ping_interval,
            ping_timeout,
            max_restarts: keys.max_restarts.unwrap_or(base.max_restarts),
        })
    }

    fn memory(
        &self,
        path: &KeyPath,
        raw: Option<Obj<RawMemory>>,
    ) -> Result<MemoryConfig, ConfigError> {
        let defaults = MemoryConfig::default();
        let Some(Obj(raw)) = raw else {
            return Ok(defaults);
        };
        let mode = match raw.mode.as_deref() {
            None => defaults.mode,
            Some("sliding_window") => MemoryMode::SlidingWindow,
            Some("token_budget") => MemoryMode::TokenBudget,
            Some(other) => {
                return Err(self.error(
                    &path.key("mode"),
                    format!(
                        "unknown memory mode `{other}`; expected `sliding_window` or `token_budget`"
                    ),
                ));
            }
        };
        Ok(MemoryConfig {
            mode,
            value: raw.value.unwrap_or(defaults.value),
        })
    }

    pub(crate) fn llm(&self, raw: Option<Obj<RawLlm>>) -> Result<Option<LlmConfig>, ConfigError> {
        let Some(Obj(raw)) = raw else {
            return Ok(None);
        };
        let path = KeyPath::root().key("LLM");
        let text =
            |key: &str, value: Option<String>| self.expand_opt(&path.key(key), value.as_deref());
        let provider = self.expand(&path.key("provider"), &raw.provider)?;
        let model = self.expand(&path.key("model"), &raw.model)?;
        let tool_calling = match raw.tool_calling.as_deref() {
            None => ToolCalling::default(),
            Some(value) => ToolCalling::parse(value).ok_or_else(|| {
                self.error(
                    &path.key("tool_calling"),
                    format!(
                        "unknown tool calling `{value}`; expected {}",
                        ToolCalling::NAMES
                    ),
                )
            })?,
        };
        Ok(Some(LlmConfig {
            provider: self.non_empty(&path.key("provider"), provider, "provider")?,
            model: self.non_empty(&path.key("model"), model, "model")?,
            temperature: raw.temperature,
            max_tokens: raw.max_tokens,
            top_p: raw.top_p,
            max_context_length: raw.max_context_length,
            azure_endpoint: text("azure_endpoint", raw.azure_endpoint)?,
            azure_api_version: text("azure_api_version", raw.azure_api_version)?,
            azure_deployment: text("azure_deployment", raw.azure_deployment)?,
            ollama_host: text("ollama_host", raw.ollama_host)?,
            base_url: text("base_url", raw.base_url)?,
            price: match raw.price {
                None => None,
                Some(Obj(price)) if price.input < 0.0 || price.output < 0.0 => {
                    return Err(self.error(&path.key("price"), "prices must not be negative"));
                }
                Some(Obj(price)) => Some(Price {
                    input: price.input,
                    output: price.output,
                }),
            },
            tool_calling,
        }))
    }

    pub(crate) fn store(&self, raw: Option<Obj<RawStore>>) -> Result<StoreConfig, ConfigError> {
        use crate::memory::StoreKind;
        let defaults = StoreConfig::default();
        let Some(Obj(raw)) = raw else {
            return Ok(defaults);
        };
        let path = KeyPath::root().key("memory");
        let backend = match raw.backend.as_deref() {
            None => defaults.backend,
            Some("file") => StoreKind::File,
            Some("redis") => StoreKind::Redis,
            Some("in_memory") => StoreKind::InMemory,
            Some(other) => {
                return Err(self.error(
                    &path.key("backend"),
                    format!("unknown backend `{other}`; expected `file`, `redis` or `in_memory`"),
                ));
            }
        };
        if raw.ttl_seconds == Some(0) {
            return Err(self.error(
                &path.key("ttl_seconds"),
                "`ttl_seconds` must be at least 1 (leave it out to keep sessions forever)",
            ));
        }
        Ok(StoreConfig {
            backend,
            redis_url: self.expand_opt(&path.key("redis_url"), raw.redis_url.as_deref())?,
            ttl_seconds: raw.ttl_seconds,
            ..defaults
        })
    }

    pub(crate) fn ui(&self, raw: Option<Obj<RawUi>>) -> UiConfig {
        let defaults = UiConfig::default();
        let Some(Obj(raw)) = raw else {
            return defaults;
        };
        UiConfig {
            theme: raw.theme.unwrap_or(defaults.theme),
            mouse: raw.mouse.unwrap_or(defaults.mouse),
        }
    }

    pub(crate) fn servers(
        &self,
        raw: Vec<(String, Obj<RawServer>)>,
        health: HealthConfig,
        roots: Option<&[PathBuf]>,
    ) -> Result<Vec<ServerConfig>, ConfigError> {
        let root = KeyPath::root().key("mcpServers");
        let mut seen = HashSet::new();
        let mut servers = Vec::with_capacity(raw.len());
        for (name, Obj(server)) in raw {
            let path = root.key(&name);
            if name.trim().is_empty() {
                return Err(self.error(&path, "server name must not be empty"));
            }
            if !seen.insert(name.clone()) {
                return Err(self.error(&path, format!("duplicate server name `{name}`")));
            }
            servers.push(self.server(&path, name, server, health, roots)?);
        }
        Ok(servers)
    }

    fn server(
        &self,
        path: &KeyPath,
        name: String,
        mut raw: RawServer,
        health: HealthConfig,
        global_roots: Option<&[PathBuf]>,
    ) -> Result<ServerConfig, ConfigError> {
        let health = self.health(
            path,
            health,
            HealthKeys {
                ping_interval: raw.ping_interval,
                ping_timeout: raw.ping_timeout,
                max_restarts: raw.max_restarts,
            },
        )?;
        let log_level = match raw.log_level.as_deref().map(str::to_ascii_lowercase) {
            None => None,
            Some(level) if LOG_LEVELS.contains(&level.as_str()) => Some(level),
            Some(level) => {
                return Err(self.error(
                    &path.key("log_level"),
                    format!(
                        "unknown log level `{level}`; expected one of {}",
                        LOG_LEVELS.join(", ")
                    ),
                ));
            }
        };
        let selected = self.select_transport(path, &raw)?;
        let own_roots = self.roots(&path.key("roots"), raw.roots.take())?;
        // The working directory tells a server a local path: only local (stdio) servers get
        // it without asking.
        let roots = match (own_roots, global_roots, &selected) {
            (Some(own), _, _) => own,
            (None, Some(global), _) => global.to_vec(),
            (None, None, Selected::Stdio) => vec![self.cwd.to_path_buf()],
            (None, None, Selected::Http(_)) => Vec::new(),
        };
        let request_timeout = self
            .seconds(&path.key("timeout"), raw.timeout)?
            .unwrap_or(DEFAULT_REQUEST_TIMEOUT);
        let startup_timeout = self.seconds(&path.key("startup_timeout"), raw.startup_timeout)?;
        let enabled = raw.enabled.unwrap_or(true) && !raw.disabled.unwrap_or(false);
        // A disabled server is not started, so a variable it needs may well be unset: expand
        // unset variables to "" for it instead of refusing the whole file.
        let lenient_lookup = |name: &str| (self.lookup)(name).or_else(|| Some(String::new()));
        let lenient = Builder {
            file: self.file,
            text: self.text,
            lookup: &lenient_lookup,
            cwd: self.cwd,
        };
        let builder = if enabled { self } else { &lenient };
        let transport = match selected {
            Selected::Stdio => TransportConfig::Stdio(builder.stdio(path, raw)?),
            Selected::Http(kind) => TransportConfig::Http(builder.http(path, kind, raw)?),
        };
        Ok(ServerConfig {
            name,
            transport,
            enabled,
            request_timeout,
            startup_timeout,
            health,
            log_level,
            roots,
        })
    }

    /// A `roots` list: paths (relative to the working directory, `${VAR}` expanded) or
    /// `file://` URIs, as absolute paths.
    pub(crate) fn roots(
        &self,
        path: &KeyPath,
        raw: Option<Vec<String>>,
    ) -> Result<Option<Vec<PathBuf>>, ConfigError> {
        let Some(raw) = raw else {
            return Ok(None);
        };
        let mut roots: Vec<PathBuf> = Vec::with_capacity(raw.len());
        for (i, text) in raw.iter().enumerate() {
            let at = path.index(i);
            let text = self.expand(&at, text)?;
            let root = crate::runtime::roots::resolve(&text, self.cwd)
                .map_err(|why| self.error(&at, why))?;
            if !roots.contains(&root) {
                roots.push(root);
            }
        }
        Ok(Some(roots))
    }

    fn select_transport(&self, path: &KeyPath, raw: &RawServer) -> Result<Selected, ConfigError> {
        let given = match (&raw.transport_type, &raw.kind) {
            (Some(value), _) => Some(("transport_type", value)),
            (None, Some(value)) => Some(("type", value)),
            (None, None) => None,
        };
        if let Some((key, value)) = given {
            return match value.to_ascii_lowercase().as_str() {
                "stdio" => Ok(Selected::Stdio),
                "sse" => Ok(Selected::Http(HttpKind::Sse)),
                "streamable_http" | "streamable-http" | "http" => {
                    Ok(Selected::Http(HttpKind::StreamableHttp))
                }
                _ => Err(self.error(
                    &path.key(key),
                    format!("unknown transport `{value}`; expected {TRANSPORTS}"),
                )),
            };
        }
        if raw.command.is_some() {
            Ok(Selected::Stdio)
        } else if raw.url.is_some() {
            Ok(Selected::Http(HttpKind::Auto))
        } else {
            Err(self.error(path, "expected `command` (stdio) or `url` (http/sse)"))
        }
    }

    fn stdio(&self, path: &KeyPath, raw: RawServer) -> Result<StdioConfig, ConfigError> {
        let Some(command) = raw.command else {
            return Err(self.error(path, "stdio transport requires `command`"));
        };
        let command_path = path.key("command");
        let command = self.expand(&command_path, &command)?;
        let command = self.non_empty(&command_path, command, "command")?;
        let args_path = path.key("args");
        let args = raw
            .args
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, arg)| self.expand(&args_path.index(i), arg))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StdioConfig {
            command,
            args,
            env: self.expand_map(&path.key("env"), raw.env)?,
            cwd: self
                .expand_opt(&path.key("cwd"), raw.cwd.as_deref())?
                .map(PathBuf::from),
        })
    }

    fn http(
        &self,
        path: &KeyPath,
        kind: HttpKind,
        raw: RawServer,
    ) -> Result<HttpConfig, ConfigError> {
        let Some(url) = raw.url else {
            let name = if kind == HttpKind::Sse {
                "sse"
            } else {
                "streamable_http"
            };
            return Err(self.error(path, format!("{name} transport requires `url`")));
        };
        let url_path = path.key("url");
        let url = self.expand(&url_path, &url)?;
        if !has_http_scheme(&url) {
            return Err(self.error(
                &url_path,
                "expected a URL starting with `http://` or `https://`",
            ));
        }
        let auth = match raw.auth {
            Some(Obj(auth)) => Some(self.auth(&path.key("auth"), auth)?),
            None => None,
        };
        Ok(HttpConfig {
            url,
            kind,
            headers: self.expand_map(&path.key("headers"), raw.headers)?,
            sse_read_timeout: self
                .seconds(&path.key("sse_read_timeout"), raw.sse_read_timeout)?
                .unwrap_or(DEFAULT_SSE_READ_TIMEOUT),
            auth,
        })
    }

    fn auth(&self, path: &KeyPath, raw: RawAuth) -> Result<AuthConfig, ConfigError> {
        let Some(method) = raw.method.clone() else {
            return Err(self.error(path, "`auth` requires `method` (`oauth` or `bearer`)"));
        };
        match method.to_ascii_lowercase().as_str() {
            "oauth" => Ok(AuthConfig::OAuth(Box::new(self.oauth(path, raw)?))),
            "bearer" => {
                let Some(token) = raw.token else {
                    return Err(self.error(path, "bearer auth requires `token`"));
                };
                let token_path = path.key("token");
                let token = self.expand(&token_path, &token)?;
                Ok(AuthConfig::Bearer {
                    token: self.non_empty(&token_path, token, "token")?,
                })
            }
            _ => Err(self.error(
                &path.key("method"),
                format!("unknown auth method `{method}`; expected `oauth` or `bearer`"),
            )),
        }
    }
}

impl Builder<'_> {
    fn oauth(&self, path: &KeyPath, raw: RawAuth) -> Result<OAuthConfig, ConfigError> {
        let grant = match raw.grant.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("authorization_code") => OAuthGrant::AuthorizationCode,
            Some("client_credentials") => OAuthGrant::ClientCredentials,
            Some("cross_app") => OAuthGrant::CrossApp,
            Some(other) => {
                return Err(self.error(
                    &path.key("grant"),
                    format!(
                        "unknown grant `{other}`; expected `authorization_code`, \
                         `client_credentials` or `cross_app`"
                    ),
                ));
            }
        };
        let client_id = self.expand_opt(&path.key("client_id"), raw.client_id.as_deref())?;
        let client_secret =
            self.expand_opt(&path.key("client_secret"), raw.client_secret.as_deref())?;
        let private_key = self.expand_opt(&path.key("private_key"), raw.private_key.as_deref())?;
        let signing_algorithm = match raw.signing_algorithm {
            None => None,
            Some(alg) if ["ES256", "RS256"].contains(&alg.to_ascii_uppercase().as_str()) => {
                Some(alg.to_ascii_uppercase())
            }
            Some(alg) => {
                return Err(self.error(
                    &path.key("signing_algorithm"),
                    format!("unsupported signing algorithm `{alg}`; expected `ES256` or `RS256`"),
                ));
            }
        };
        let client_metadata_url = self.expand_opt(
            &path.key("client_metadata_url"),
            raw.client_metadata_url.as_deref(),
        )?;
        if let Some(url) = &client_metadata_url
            && !url.to_ascii_lowercase().starts_with("https://")
        {
            return Err(self.error(
                &path.key("client_metadata_url"),
                "a client metadata document URL must start with `https://`",
            ));
        }
        if grant == OAuthGrant::ClientCredentials {
            if client_id.is_none() {
                return Err(self.error(path, "the client_credentials grant requires `client_id`"));
            }
            if client_secret.is_none() && private_key.is_none() {
                return Err(self.error(
                    path,
                    "the client_credentials grant requires `client_secret` or `private_key`",
                ));
            }
        }
        let cross_app = if grant == OAuthGrant::CrossApp {
            let required = |key: &str, value: Option<&str>| -> Result<String, ConfigError> {
                match value {
                    Some(value) => self.expand(&path.key(key), value),
                    None => Err(self.error(path, format!("the cross_app grant requires `{key}`"))),
                }
            };
            if client_id.is_none() {
                return Err(self.error(path, "the cross_app grant requires `client_id`"));
            }
            Some(CrossAppConfig {
                idp_issuer: required("idp_issuer", raw.idp_issuer.as_deref())?,
                idp_token_endpoint: required(
                    "idp_token_endpoint",
                    raw.idp_token_endpoint.as_deref(),
                )?,
                idp_client_id: required("idp_client_id", raw.idp_client_id.as_deref())?,
                idp_client_secret: self.expand_opt(
                    &path.key("idp_client_secret"),
                    raw.idp_client_secret.as_deref(),
                )?,
                id_token: required("id_token", raw.id_token.as_deref())?,
            })
        } else {
            None
        };
        Ok(OAuthConfig {
            client_id,
            client_secret,
            scopes: raw.scopes.unwrap_or_default(),
            client_metadata_url,
            redirect_port: raw.redirect_port,
            grant,
            private_key,
            signing_algorithm,
            cross_app,
        })
    }
}

fn has_http_scheme(url: &str) -> bool {
    ["http://", "https://"].iter().any(|scheme| {
        url.get(..scheme.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
            && url.len() > scheme.len()
    })
}
