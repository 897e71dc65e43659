//! Establishing an MCP session: the transport (a child's pipes, streamable HTTP, or legacy
//! HTTP+SSE), the `initialize` handshake under the startup timeout, then reading what the
//! server is and listing what it offers (each request under its own deadline).
//!
//! A stdio server that dies during the handshake is reported with its exit status rather than
//! as a generic transport error. A `url` server without a transport type tries streamable HTTP
//! first and falls back to legacy SSE when the server answers the initialize POST with
//! 400, 404 or 405, as the spec's backwards-compatibility section describes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::RoleClient;
use rmcp::service::{ClientInitializeError, RunningService, ServiceExt};
use rmcp::transport::async_rw::AsyncRwTransport;
use rmcp::transport::common::client_side_sse::ExponentialBackoff;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransportConfig, StreamableHttpError,
};
use rmcp::transport::{IntoTransport, StreamableHttpClientTransport, WorkerTransport};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use super::catalog::ServerListing;
use super::client::{McpClient, ProgressRouter, ServerNotice};
use super::http_client::SharedHttpClient;
use super::messages::{ServerIdentity, ServerState};
use super::request::{RequestError, Requester};
use super::sse::{SseClientConfig, SseWorker};
use super::stdio::SpawnedServer;
use crate::config::{AuthConfig, HttpConfig, HttpKind};
use crate::text::{human_duration, sanitize_line};

/// Largest single JSON-RPC message accepted from a server (tool results can be big).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// How often the streamable HTTP GET stream is re-opened before giving up (rmcp's default
/// backoff is uncapped).
const GET_STREAM_RETRIES: usize = 3;
/// Lines of stderr quoted in the reason a stdio server failed to start, and their length.
const STDERR_QUOTED_LINES: usize = 3;
const STDERR_QUOTED_CHARS: usize = 400;
/// How long a failed start waits for a dead process's last stderr lines to be read.
const STDERR_DRAIN: Duration = Duration::from_millis(200);

/// A live MCP session.
pub(super) struct Connection {
    pub(super) requester: Requester,
    /// Cancelling ends the rmcp service, which closes the transport.
    pub(super) service_cancel: CancellationToken,
    /// Resolves when the rmcp service stops (transport closed or cancelled).
    pub(super) service_done: JoinHandle<()>,
    /// Resolves when the child process exits (stdio only).
    pub(super) exited: Option<oneshot::Receiver<String>>,
    pub(super) notices: mpsc::Receiver<ServerNotice>,
}

/// The outcome of the handshake and first listings.
pub(super) struct Established {
    pub(super) connection: Connection,
    /// The transport that carries the session (`stdio`, `http`, `sse`, or `sse (fallback)`).
    pub(super) transport: String,
    pub(super) listing: ServerListing,
    pub(super) listing_errors: Vec<String>,
    pub(super) protocol_version: String,
    pub(super) identity: Option<ServerIdentity>,
    pub(super) capabilities: Vec<String>,
    pub(super) startup_time: Duration,
}

/// Why a session could not be established, and which state that leaves the server in.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ConnectFailure {
    pub(super) state: ServerState,
    pub(super) reason: String,
}

impl ConnectFailure {
    /// The reason, followed by the last lines the server wrote to stderr, if any.
    fn with_stderr(mut self, lines: &[String]) -> Self {
        if !lines.is_empty() {
            let quoted = crate::text::truncate_chars(&lines.join(" | "), STDERR_QUOTED_CHARS);
            self.reason = format!("{}; stderr: {quoted}", self.reason);
        }
        self
    }

    fn failed(reason: impl Into<String>) -> Self {
        Self {
            state: ServerState::Failed,
            reason: reason.into(),
        }
    }
}

pub(super) type ListingParts = (
    Option<Vec<rmcp::model::Tool>>,
    Option<Vec<rmcp::model::Resource>>,
    Option<Vec<rmcp::model::Prompt>>,
);

#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    pub(super) startup: Duration,
    pub(super) request: Duration,
}

/// Which lists to fetch.
#[derive(Debug, Clone, Copy)]
pub(super) struct Wanted {
    pub(super) tools: bool,
    pub(super) resources: bool,
    pub(super) prompts: bool,
}

/// What every transport hands over to the handshake: the client that will serve the
/// session, the channels it reports on, the deadlines, and when the start began.
pub(super) struct Session {
    pub(super) client: McpClient,
    pub(super) notices: mpsc::Receiver<ServerNotice>,
    pub(super) progress: ProgressRouter,
    pub(super) timeouts: Timeouts,
    pub(super) started: Instant,
}

/// Handshake over a child's pipes. A start that fails quotes the end of what the process
/// wrote to stderr, where servers explain themselves ("missing API key").
pub(super) async fn establish_stdio(
    spawned: SpawnedServer,
    session: Session,
) -> Result<Established, ConnectFailure> {
    let SpawnedServer {
        stdout,
        stdin,
        mut exited,
        stderr,
        stderr_mark,
        mut stderr_read,
        ..
    } = spawned;
    let transport = line_transport(stdout, stdin, MAX_MESSAGE_BYTES);
    let service_cancel = CancellationToken::new();
    let startup = session.timeouts.startup;
    let handshake = timeout(
        startup,
        session
            .client
            .clone()
            .serve_with_ct(transport, service_cancel.clone()),
    );
    // How the start failed, and whether the process is gone.
    let (failure, gone) = tokio::select! {
        result = handshake => match result {
            Ok(Ok(running)) => {
                return finish_establish(running, service_cancel, Some(exited), session, "stdio")
                    .await;
            }
            Ok(Err(error)) => match timeout(Duration::from_millis(200), &mut exited).await {
                Ok(Ok(status)) => (
                    ConnectFailure::failed(format!("{status} during initialize")),
                    true,
                ),
                _ => (
                    ConnectFailure::failed(format!(
                        "initialize failed: {}",
                        describe_init_error(&error)
                    )),
                    false,
                ),
            },
            Err(_) => (initialize_timeout(startup), false),
        },
        status = &mut exited => {
            let status = status.unwrap_or_else(|_| "the process exited".to_owned());
            (ConnectFailure::failed(format!("{status} before answering initialize")), true)
        }
    };
    if gone {
        // Its stderr is closed: wait (briefly) until its last lines are in the ring.
        let _ = timeout(STDERR_DRAIN, &mut stderr_read).await;
    }
    Err(failure.with_stderr(&stderr.since(stderr_mark, STDERR_QUOTED_LINES)))
}

/// JSON-RPC over a stdio server's pipes, one message per line. A line longer than
/// `max_line_bytes` (its `\n` included) is dropped and the session goes on: rmcp checks the cap
/// before each append, so such a line is never held whole.
pub(super) fn line_transport<R, W>(
    stdout: R,
    stdin: W,
    max_line_bytes: usize,
) -> AsyncRwTransport<RoleClient, R, W>
where
    R: AsyncRead + Send + Unpin,
    W: AsyncWrite + Send + Unpin + 'static,
{
    AsyncRwTransport::new(stdout, stdin).with_max_line_length(max_line_bytes)
}

/// Connects to an HTTP server: streamable HTTP, legacy SSE, or (no transport given)
/// streamable HTTP first with a fallback to SSE.
pub(super) async fn establish_http(
    config: HttpConfig,
    http: SharedHttpClient,
    session: Session,
) -> Result<Established, ConnectFailure> {
    let https = config.url.to_ascii_lowercase().starts_with("https://");
    connect_http(config, http, session)
        .await
        .map_err(|mut failure| {
            // rustls's words for "the first bytes back were not TLS", as it says them; the
            // likeliest cause is an https:// URL for a plain-HTTP server.
            if https && failure.reason.contains("InvalidContentType") {
                failure.reason.push_str(
                " (the server answered without TLS: if it serves plain HTTP, use an http:// URL)",
            );
            }
            failure
        })
}

async fn connect_http(
    config: HttpConfig,
    http: SharedHttpClient,
    session: Session,
) -> Result<Established, ConnectFailure> {
    let timeouts = session.timeouts;
    let headers = Headers::from_config(&config)?;
    let http = http.get().map_err(ConnectFailure::failed)?;
    match config.kind {
        HttpKind::StreamableHttp => {
            let transport = streamable_transport(&config, &headers, http)?;
            handshake_and_finish(transport, session, "http").await
        }
        HttpKind::Sse => {
            let transport = sse_transport(&config, &headers, http, timeouts.startup);
            handshake_and_finish(transport, session, "sse").await
        }
        HttpKind::Auto => {
            let transport = streamable_transport(&config, &headers, http.clone())?;
            let service_cancel = CancellationToken::new();
            match handshake(transport, &session, &service_cancel).await {
                Ok(running) => {
                    finish_establish(running, service_cancel, None, session, "http").await
                }
                Err(Handshake::Refused(error)) if legacy_server_hint(&error) => {
                    let refused = describe_init_error(&error);
                    let url = crate::redact::display_url(&config.url);
                    tracing::info!(%url, "streamable HTTP refused ({refused}); trying legacy SSE");
                    let transport = sse_transport(&config, &headers, http, timeouts.startup);
                    // When both fail, say so: the SSE error alone hides that HTTP was tried.
                    handshake_and_finish(transport, session, "sse (fallback)")
                        .await
                        .map_err(|mut failure| {
                            failure.reason = format!(
                                "neither streamable HTTP nor legacy SSE worked: streamable \
                                 HTTP: {refused}; SSE: {}",
                                failure.reason.trim_start_matches("initialize failed: ")
                            );
                            failure
                        })
                }
                Err(other) => Err(other.into_failure(timeouts.startup)),
            }
        }
    }
}

/// Headers for every request, with a bearer token split out (rmcp adds `Bearer ` itself).
struct Headers {
    bearer: Option<String>,
    other: Vec<(String, String)>,
}

impl Headers {
    fn from_config(config: &HttpConfig) -> Result<Self, ConnectFailure> {
        let mut bearer = None;
        let mut other = Vec::new();
        for (name, value) in &config.headers {
            match value.strip_prefix("Bearer ") {
                Some(token) if name.eq_ignore_ascii_case("authorization") => {
                    bearer = Some(token.to_owned());
                }
                _ => other.push((name.clone(), value.clone())),
            }
        }
        match &config.auth {
            Some(AuthConfig::Bearer { token }) => bearer = Some(token.clone()),
            Some(AuthConfig::OAuth { .. }) if bearer.is_none() => {
                return Err(ConnectFailure {
                    state: ServerState::NeedsAuth,
                    reason: "this server uses OAuth, which this build cannot sign in to yet; \
                             give a token with \"auth\": {\"method\": \"bearer\", ...}"
                        .to_owned(),
                });
            }
            Some(AuthConfig::OAuth { .. }) | None => {}
        }
        Ok(Self { bearer, other })
    }
}

fn streamable_transport(
    config: &HttpConfig,
    headers: &Headers,
    http: reqwest::Client,
) -> Result<StreamableHttpClientTransport<reqwest::Client>, ConnectFailure> {
    let mut custom = HashMap::new();
    for (name, value) in &headers.other {
        let header_name = reqwest::header::HeaderName::try_from(name.as_str())
            .map_err(|_| ConnectFailure::failed(format!("header `{name}`: not a valid name")))?;
        let header_value = reqwest::header::HeaderValue::try_from(value.as_str())
            .map_err(|_| ConnectFailure::failed(format!("header `{name}`: not a valid value")))?;
        custom.insert(header_name, header_value);
    }
    let mut backoff = ExponentialBackoff::default();
    backoff.max_times = Some(GET_STREAM_RETRIES);
    backoff.max_delay = Some(Duration::from_secs(5));
    let mut transport_config = StreamableHttpClientTransportConfig::with_uri(config.url.as_str())
        .custom_headers(custom)
        .max_sse_event_size(MAX_MESSAGE_BYTES)
        .max_json_response_size(MAX_MESSAGE_BYTES)
        // A server restarted under us forgets our session (HTTP 404): start a new one.
        .reinit_on_expired_session(true);
    transport_config.retry_config = Arc::new(backoff);
    if let Some(token) = &headers.bearer {
        transport_config = transport_config.auth_header(token.clone());
    }
    Ok(StreamableHttpClientTransport::with_client(
        http,
        transport_config,
    ))
}

fn sse_transport(
    config: &HttpConfig,
    headers: &Headers,
    http: reqwest::Client,
    connect_timeout: Duration,
) -> WorkerTransport<SseWorker> {
    let mut all = headers.other.clone();
    if let Some(token) = &headers.bearer {
        all.push(("Authorization".to_owned(), format!("Bearer {token}")));
    }
    WorkerTransport::spawn(SseWorker::new(
        http,
        SseClientConfig {
            url: config.url.clone(),
            headers: all,
            connect_timeout,
            max_event_bytes: MAX_MESSAGE_BYTES,
        },
    ))
}

enum Handshake {
    Refused(Box<ClientInitializeError>),
    TimedOut,
}

impl Handshake {
    fn into_failure(self, startup: Duration) -> ConnectFailure {
        match self {
            Handshake::TimedOut => initialize_timeout(startup),
            Handshake::Refused(error) if error.is_authorization_required() => ConnectFailure {
                state: ServerState::NeedsAuth,
                reason: format!(
                    "the server requires authorization: {}",
                    describe_init_error(&error)
                ),
            },
            Handshake::Refused(error) => ConnectFailure::failed(format!(
                "initialize failed: {}",
                describe_init_error(&error)
            )),
        }
    }
}

async fn handshake<T, E, A>(
    transport: T,
    session: &Session,
    service_cancel: &CancellationToken,
) -> Result<RunningService<RoleClient, McpClient>, Handshake>
where
    T: IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    match timeout(
        session.timeouts.startup,
        session
            .client
            .clone()
            .serve_with_ct(transport, service_cancel.clone()),
    )
    .await
    {
        Ok(Ok(running)) => Ok(running),
        Ok(Err(error)) => Err(Handshake::Refused(Box::new(error))),
        Err(_) => Err(Handshake::TimedOut),
    }
}

pub(super) async fn handshake_and_finish<T, E, A>(
    transport: T,
    session: Session,
    label: &str,
) -> Result<Established, ConnectFailure>
where
    T: IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let service_cancel = CancellationToken::new();
    let startup = session.timeouts.startup;
    match handshake(transport, &session, &service_cancel).await {
        Ok(running) => finish_establish(running, service_cancel, None, session, label).await,
        Err(failure) => Err(failure.into_failure(startup)),
    }
}

/// Whether a refused initialize POST means "this is an old HTTP+SSE server" (400/404/405).
fn legacy_server_hint(error: &ClientInitializeError) -> bool {
    let text = error_chain(error);
    ["HTTP 400", "HTTP 404", "HTTP 405", "Method Not Allowed"]
        .iter()
        .any(|needle| text.contains(needle))
}

fn initialize_timeout(startup: Duration) -> ConnectFailure {
    ConnectFailure::failed(format!(
        "no answer to initialize within {}",
        human_duration(startup)
    ))
}

/// What went wrong with `initialize`, down to the root cause (rmcp's transport error keeps
/// its cause in a field rather than as `source()`, and names the transport type verbosely).
fn describe_init_error(error: &ClientInitializeError) -> String {
    match error {
        ClientInitializeError::TransportError { error, context } => {
            // The HTTP client's own error (and its causes: DNS, refused, TLS) sits inside
            // rmcp's `Client` variant, which does not expose it as a source either.
            let inner = error.error.as_ref();
            let cause = match inner.downcast_ref::<StreamableHttpError<reqwest::Error>>() {
                Some(StreamableHttpError::Client(client)) => error_chain(client),
                _ => error_chain(inner),
            };
            format!("{context}: {cause}")
        }
        other => error_chain(other),
    }
}

/// An error and its sources as one sanitized line ("a: b: c"), skipping repeats.
pub(super) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = current {
        let text = sanitize_line(&crate::text::without_html(&e.to_string()));
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    crate::text::truncate_chars(&parts.join(": "), 500)
}

/// After `initialize`: read what the server is, then list what it offers.
async fn finish_establish(
    running: RunningService<RoleClient, McpClient>,
    service_cancel: CancellationToken,
    exited: Option<oneshot::Receiver<String>>,
    session: Session,
    transport: &str,
) -> Result<Established, ConnectFailure> {
    // If this future is dropped (shutdown during startup), end the session with it.
    let cancel_on_drop = service_cancel.clone().drop_guard();
    let peer = running.peer().clone();
    let info = peer.peer_info();
    let service_done = tokio::spawn(async move {
        let _ = running.waiting().await;
    });
    let requester = Requester::new(
        session.client.server().clone(),
        peer,
        session.timeouts.request,
        session.progress,
        session.client.secrets().clone(),
    );
    let Some(info) = info.as_deref() else {
        return Err(ConnectFailure::failed(
            "the server sent no initialize result",
        ));
    };
    let caps = &info.capabilities;
    let mut capabilities = Vec::new();
    for (present, name) in [
        (caps.tools.is_some(), "tools"),
        (caps.resources.is_some(), "resources"),
        (caps.prompts.is_some(), "prompts"),
        (caps.logging.is_some(), "logging"),
        (caps.completions.is_some(), "completions"),
    ] {
        if present {
            capabilities.push(name.to_owned());
        }
    }
    let identity = info.server_info.as_ref().map(|i| ServerIdentity {
        name: sanitize_line(&i.name),
        version: sanitize_line(&i.version),
    });
    let wanted = Wanted {
        tools: caps.tools.is_some(),
        resources: caps.resources.is_some(),
        prompts: caps.prompts.is_some(),
    };
    let protocol_version = info.protocol_version.to_string();
    let ((tools, resources, prompts), listing_errors) = list_parts(&requester, wanted).await;
    cancel_on_drop.disarm();
    Ok(Established {
        connection: Connection {
            requester,
            service_cancel,
            service_done,
            exited,
            notices: session.notices,
        },
        transport: transport.to_owned(),
        listing: ServerListing {
            tools: tools.unwrap_or_default(),
            resources: resources.unwrap_or_default(),
            prompts: prompts.unwrap_or_default(),
        },
        listing_errors,
        protocol_version,
        identity,
        capabilities,
        startup_time: session.started.elapsed(),
    })
}

/// Fetches the wanted lists concurrently; a list that fails is `None` plus an error line.
pub(super) async fn list_parts(
    requester: &Requester,
    wanted: Wanted,
) -> (ListingParts, Vec<String>) {
    let (tools, resources, prompts) = tokio::join!(
        async {
            match wanted.tools {
                true => Some(requester.list_tools().await),
                false => None,
            }
        },
        async {
            match wanted.resources {
                true => Some(requester.list_resources().await),
                false => None,
            }
        },
        async {
            match wanted.prompts {
                true => Some(requester.list_prompts().await),
                false => None,
            }
        },
    );
    let mut errors = Vec::new();
    let parts = (
        keep(tools, &mut errors),
        keep(resources, &mut errors),
        keep(prompts, &mut errors),
    );
    (parts, errors)
}

fn keep<T>(result: Option<Result<T, RequestError>>, errors: &mut Vec<String>) -> Option<T> {
    match result {
        Some(Ok(items)) => Some(items),
        Some(Err(error)) => {
            errors.push(error.to_string());
            None
        }
        None => None,
    }
}
