//! Establishing an MCP session: the transport (a child's pipes, streamable HTTP, or legacy
//! HTTP+SSE), the `initialize` handshake under the startup timeout, then reading what the
//! server is and listing what it offers (each request under its own deadline).
//!
//! A stdio server that dies during the handshake is reported with its exit status rather than
//! as a generic transport error. A `url` server without a transport type tries streamable HTTP
//! first and falls back to legacy SSE when the server answers the initialize POST with
//! 400, 404 or 405, as the spec's backwards-compatibility section describes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::RoleClient;
use rmcp::service::{ClientInitializeError, RunningService, ServiceExt};
use rmcp::transport::IntoTransport;
use rmcp::transport::async_rw::AsyncRwTransport;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use super::catalog::ServerListing;
use super::challenge::AuthChallenge;
use super::client::{McpClient, ProgressRouter, ServerNotice};
use super::http_client::SharedHttpClient;
use super::http_transports::{Headers, sse_transport, streamable_transport};
use super::link_loss::{LinkLoss, Loss};
use super::messages::{ServerIdentity, ServerState, TransportKind};
use super::request::{RequestError, Requester};
use super::stdio::SpawnedServer;
use super::stdout_noise::NoiseWatch;
use super::transport_error;
use crate::auth::ServerAuth;
use crate::config::{HttpConfig, HttpKind};
use crate::text::{human_duration, sanitize_line};

/// Largest single JSON-RPC message accepted from a server (tool results can be big).
pub(super) const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// How long a streamable HTTP session waits for its `GET` stream before it counts as up:
/// notifications sent before then (a list change, a log line) would be lost.
const GET_STREAM_WAIT: Duration = Duration::from_secs(2);
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
    /// Why an HTTP session ended although no process exited (the server forgot the session,
    /// wants credentials, or its SSE stream died), when the transport knows.
    pub(super) lost: LinkLoss,
}

/// The outcome of the handshake and first listings.
pub(super) struct Established {
    pub(super) connection: Connection,
    /// The transport that carries the session.
    pub(super) transport: TransportKind,
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

    /// The reason, followed by the first line the server wrote to stdout that is not
    /// JSON-RPC (servers that print a banner or logs there never answer properly).
    fn with_stdout_noise(mut self, line: Option<String>) -> Self {
        if let Some(line) = line {
            self.reason = format!("{}; stdout (not JSON-RPC): \"{line}\"", self.reason);
        }
        self
    }

    pub(super) fn failed(reason: impl Into<String>) -> Self {
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
    /// The server's OAuth state (HTTP servers), whose sign-ins pause the startup deadline.
    pub(super) auth: Option<Arc<ServerAuth>>,
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
    let stdout = NoiseWatch::new(stdout);
    let noise = stdout.noise();
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
                noise.stop();
                let ends = Ends {
                    service_cancel,
                    exited: Some(exited),
                    lost: LinkLoss::default(),
                };
                return finish_establish(running, ends, session, TransportKind::Stdio).await;
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
    // A process that is gone may have printed more than rmcp read; one that is still there
    // has had everything it printed read already.
    let unread = if gone { STDERR_DRAIN } else { Duration::ZERO };
    let noise = noise.drain(unread).await;
    Err(failure
        .with_stdout_noise(noise)
        .with_stderr(&stderr.since(stderr_mark, STDERR_QUOTED_LINES)))
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
    auth: Option<Arc<ServerAuth>>,
) -> Result<Established, ConnectFailure> {
    let https = config.url.to_ascii_lowercase().starts_with("https://");
    connect_http(config, http, session, auth)
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
    auth: Option<Arc<ServerAuth>>,
) -> Result<Established, ConnectFailure> {
    let timeouts = session.timeouts;
    let mut headers = Headers::from_config(&config)?;
    let http = http.get().map_err(ConnectFailure::failed)?;
    match config.kind {
        HttpKind::StreamableHttp => {
            let lost = LinkLoss::default();
            let transport = streamable_transport(&config, &headers, http, lost.clone(), auth)?;
            handshake_and_finish(transport, lost, session, TransportKind::StreamableHttp).await
        }
        HttpKind::Sse => {
            sse_token(&mut headers, auth.as_deref()).await?;
            let lost = LinkLoss::default();
            let transport = sse_transport(&config, &headers, http, timeouts.startup, &lost);
            handshake_and_finish(transport, lost, session, TransportKind::Sse).await
        }
        HttpKind::Auto => {
            let lost = LinkLoss::default();
            let transport =
                streamable_transport(&config, &headers, http.clone(), lost.clone(), auth.clone())?;
            let service_cancel = CancellationToken::new();
            match handshake(transport, &session, &service_cancel).await {
                Ok(running) => {
                    let ends = Ends {
                        service_cancel,
                        exited: None,
                        lost,
                    };
                    finish_establish(running, ends, session, TransportKind::StreamableHttp).await
                }
                Err(Handshake::Refused(error)) if legacy_server_hint(&error) => {
                    let refused = describe_init_error(&error);
                    let url = crate::redact::display_url(&config.url);
                    tracing::info!(%url, "streamable HTTP refused ({refused}); trying legacy SSE");
                    sse_token(&mut headers, auth.as_deref()).await?;
                    let lost = LinkLoss::default();
                    let transport = sse_transport(&config, &headers, http, timeouts.startup, &lost);
                    // When both fail, say so: the SSE error alone hides that HTTP was tried.
                    handshake_and_finish(transport, lost, session, TransportKind::SseFallback)
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
                Err(other) => Err(other.into_failure(timeouts.startup, &lost)),
            }
        }
    }
}

/// Legacy SSE carries the OAuth token in its headers, taken once per connection (a server
/// configured for OAuth is signed in to first, where this runtime may).
async fn sse_token(headers: &mut Headers, auth: Option<&ServerAuth>) -> Result<(), ConnectFailure> {
    if let Some(auth) = auth {
        match auth.token_or_sign_in().await {
            Ok(Some(token)) => headers.set_bearer(token),
            Ok(None) => {}
            Err(failure) => {
                return Err(ConnectFailure {
                    state: ServerState::NeedsAuth,
                    reason: failure.reason(),
                });
            }
        }
    }
    Ok(())
}

enum Handshake {
    Refused(Box<ClientInitializeError>),
    TimedOut,
}

impl Handshake {
    fn into_failure(self, startup: Duration, lost: &LinkLoss) -> ConnectFailure {
        if let Some(Loss::NeedsAuth(reason)) = lost.get() {
            return ConnectFailure {
                state: ServerState::NeedsAuth,
                reason,
            };
        }
        match self {
            Handshake::TimedOut => initialize_timeout(startup),
            Handshake::Refused(error) if init_challenge(&error).is_some() => ConnectFailure {
                state: ServerState::NeedsAuth,
                reason: format!(
                    "the server requires authorization (HTTP 401): {}",
                    init_challenge(&error).unwrap_or_default()
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
    let serve = session
        .client
        .clone()
        .serve_with_ct(transport, service_cancel.clone());
    tokio::pin!(serve);
    // A person signing in in the browser is not a server that does not answer: the startup
    // deadline starts again while a sign-in is under way.
    let mut deadline = tokio::time::Instant::now() + session.timeouts.startup;
    loop {
        match tokio::time::timeout_at(deadline, &mut serve).await {
            Ok(Ok(running)) => return Ok(running),
            Ok(Err(error)) => return Err(Handshake::Refused(Box::new(error))),
            Err(_) if session.auth.as_ref().is_some_and(|auth| auth.signing_in()) => {
                deadline = tokio::time::Instant::now() + session.timeouts.startup;
            }
            Err(_) => return Err(Handshake::TimedOut),
        }
    }
}

pub(super) async fn handshake_and_finish<T, E, A>(
    transport: T,
    lost: LinkLoss,
    session: Session,
    kind: TransportKind,
) -> Result<Established, ConnectFailure>
where
    T: IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let service_cancel = CancellationToken::new();
    let startup = session.timeouts.startup;
    match handshake(transport, &session, &service_cancel).await {
        Ok(running) => {
            let ends = Ends {
                service_cancel,
                exited: None,
                lost,
            };
            finish_establish(running, ends, session, kind).await
        }
        Err(failure) => Err(failure.into_failure(startup, &lost)),
    }
}

/// Whether a refused initialize POST means "this is an old HTTP+SSE server" (400/404/405).
fn legacy_server_hint(error: &ClientInitializeError) -> bool {
    let text = describe_init_error(error);
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
            format!("{context}: {}", transport_error::describe(error))
        }
        other => crate::error_text::error_chain(other),
    }
}

/// The server's challenge, when `initialize` was refused with HTTP 401.
fn init_challenge(error: &ClientInitializeError) -> Option<AuthChallenge> {
    match error {
        ClientInitializeError::TransportError { error, .. } => {
            transport_error::auth_challenge(error)
        }
        _ => None,
    }
}

/// How a session ends: its service's cancel token, the process's exit (stdio), and the
/// transport's report of a lost session.
pub(super) struct Ends {
    pub(super) service_cancel: CancellationToken,
    pub(super) exited: Option<oneshot::Receiver<String>>,
    pub(super) lost: LinkLoss,
}

/// After `initialize`: read what the server is, then list what it offers.
async fn finish_establish(
    running: RunningService<RoleClient, McpClient>,
    ends: Ends,
    session: Session,
    transport: TransportKind,
) -> Result<Established, ConnectFailure> {
    let Ends {
        service_cancel,
        exited,
        lost,
    } = ends;
    // If this future is dropped (shutdown during startup), end the session with it.
    let cancel_on_drop = service_cancel.clone().drop_guard();
    if matches!(transport, TransportKind::StreamableHttp)
        && !lost.wait_get_stream(GET_STREAM_WAIT).await
    {
        tracing::debug!("the GET stream was not up within {GET_STREAM_WAIT:?}; going on");
    }
    lost.arm(service_cancel.clone());
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
        lost.clone(),
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
    // A server that answers initialize and then refuses us (401) or forgets the session.
    if let Some(loss) = lost.get() {
        return Err(ConnectFailure {
            state: loss.state(),
            reason: loss.to_string(),
        });
    }
    cancel_on_drop.disarm();
    Ok(Established {
        connection: Connection {
            requester,
            service_cancel,
            service_done,
            exited,
            notices: session.notices,
            lost,
        },
        transport,
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
