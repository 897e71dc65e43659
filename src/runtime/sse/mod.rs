//! Client side of the legacy HTTP+SSE transport (MCP protocol 2024-11-05).
//!
//! rmcp removed its SSE client in 0.11, but servers that only speak the old transport are still
//! common, so this module implements it as an rmcp [`Worker`]:
//!
//! 1. `GET` the SSE URL (`Accept: text/event-stream`). The server's first event, `endpoint`,
//!    carries the URL (relative or absolute, same origin) to `POST` messages to.
//! 2. Every message from rmcp is `POST`ed there as JSON; the server answers `202 Accepted`.
//! 3. The server's responses, requests and notifications arrive as `message` events on the
//!    long-lived `GET` stream.
//!
//! Usage: `client.serve(WorkerTransport::spawn(SseWorker::new(http_client, config)))`.
//!
//! Failure model: the worker connects when rmcp sends its first message (`initialize`), so a
//! connection failure (HTTP status, TLS, no `endpoint` event…) is returned to that send and
//! `serve` reports the real cause. Once connected, the end of the `GET` stream ends the worker
//! with an error (there is no resumption in this protocol version: the caller reconnects with
//! a new session), and so does a stream that stays silent — not even a keep-alive comment —
//! for [`SseClientConfig::read_timeout`]: a half-open connection looks exactly like that. A
//! rejected `POST` fails only that message, except a 401: the server no longer accepts our
//! credentials, which ends the session. [`SseWorker::exit_error`] exposes the error the worker
//! stopped with, because rmcp itself only logs it.

use std::{future::Future, pin::Pin, time::Duration};

use futures::{Stream, StreamExt};
use reqwest::{
    StatusCode,
    header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue},
};
use rmcp::{
    RoleClient,
    model::{ClientJsonRpcMessage, ServerJsonRpcMessage},
    transport::worker::{Worker, WorkerConfig, WorkerContext, WorkerQuitReason, WorkerSendRequest},
};
use tokio::sync::{oneshot, watch};
use url::Url;

mod error;
pub(crate) mod framing;
pub(crate) mod idle;

pub use error::SseTransportError;

use framing::{Framing, SseEvent, TooLarge};

use crate::error_text::error_chain;

/// Default cap on one SSE event (a tool result with a large embedded resource still fits).
pub const DEFAULT_MAX_EVENT_BYTES: usize = 64 * 1024 * 1024;

/// Default time allowed from the `GET` until the `endpoint` event.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default longest silence on the stream before it counts as dead (the `sse_read_timeout`
/// config key's default).
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(300);

/// A `POST` is only acknowledged (the answer comes over SSE), so a slow one means a stuck
/// server. Bounded because messages are posted one at a time, in order: a hung `POST` would
/// otherwise stall every later message. Not a client-wide timeout, which would also cut the
/// long-lived `GET`.
const POST_TIMEOUT: Duration = Duration::from_secs(60);

/// How much of an error response body is quoted in an error message.
const BODY_SNIPPET_CHARS: usize = 200;

/// Where and how to connect.
#[derive(Clone)]
pub struct SseClientConfig {
    /// The SSE URL, e.g. `http://127.0.0.1:3001/sse`.
    pub url: String,
    /// Extra headers (e.g. `Authorization`) sent on the `GET` and on every `POST`.
    pub headers: Vec<(String, String)>,
    /// Time allowed from the start of the `GET` until the `endpoint` event arrives.
    pub connect_timeout: Duration,
    /// The largest SSE event accepted; a bigger one ends the worker with
    /// [`SseTransportError::EventTooLarge`] instead of growing memory without bound.
    pub max_event_bytes: usize,
    /// The longest the stream may stay silent (no event, no keep-alive comment) before the
    /// worker ends with [`SseTransportError::Idle`]; zero turns the check off.
    pub read_timeout: Duration,
}

/// Header values are left out: they often hold credentials, and configs end up in logs.
impl std::fmt::Debug for SseClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("SseClientConfig")
            .field("url", &crate::redact::display_url(&self.url))
            .field("header_names", &header_names)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_event_bytes", &self.max_event_bytes)
            .field("read_timeout", &self.read_timeout)
            .finish()
    }
}

impl SseClientConfig {
    /// A configuration with no extra headers and the default limits.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            headers: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            read_timeout: DEFAULT_READ_TIMEOUT,
        }
    }
}

/// The rmcp [`Worker`] for one legacy-SSE session. Spawn it with
/// `rmcp::transport::worker::WorkerTransport::spawn`.
pub struct SseWorker {
    client: reqwest::Client,
    config: SseClientConfig,
    exit: watch::Sender<Option<SseTransportError>>,
}

impl SseWorker {
    /// `client` should be the application's shared, pooled client, without a total
    /// `.timeout()` (that would cut the long-lived `GET` stream).
    pub fn new(client: reqwest::Client, config: SseClientConfig) -> Self {
        Self {
            client,
            config,
            exit: watch::Sender::new(None),
        }
    }

    /// The error the worker stopped with, once it has (`None` while it runs, and after a
    /// normal close). Take this before spawning the worker.
    pub fn exit_error(&self) -> watch::Receiver<Option<SseTransportError>> {
        self.exit.subscribe()
    }
}

type Quit = WorkerQuitReason<SseTransportError>;
type Responder = oneshot::Sender<Result<(), SseTransportError>>;
type PostFuture = Pin<Box<dyn Future<Output = Result<(), SseTransportError>> + Send>>;
type EventStream = Pin<Box<dyn Stream<Item = Result<SseEvent, SseTransportError>> + Send>>;

impl Worker for SseWorker {
    type Error = SseTransportError;
    type Role = RoleClient;

    fn err_closed() -> Self::Error {
        SseTransportError::Closed
    }

    fn err_join(e: tokio::task::JoinError) -> Self::Error {
        SseTransportError::Join {
            message: e.to_string(),
        }
    }

    fn config(&self) -> WorkerConfig {
        let mut config = WorkerConfig::default();
        config.name = Some(format!("sse {}", self.config.url));
        config
    }

    async fn run(self, mut context: WorkerContext<Self>) -> Result<(), Quit> {
        let exit = self.exit.clone();
        let result = self.run_session(&mut context).await;
        if let Err(WorkerQuitReason::Fatal { error, .. }) = &result {
            exit.send_replace(Some(error.clone()));
            // Messages already queued would otherwise fail with a bare "transport closed".
            context.from_handler_rx.close();
            while let Ok(request) = context.from_handler_rx.try_recv() {
                let _ = request.responder.send(Err(error.clone()));
            }
        }
        result
    }
}

/// The one `POST` in flight (messages are posted one at a time to keep their order).
struct InFlight {
    post: PostFuture,
    responder: Responder,
}

impl SseWorker {
    async fn run_session(self, context: &mut WorkerContext<Self>) -> Result<(), Quit> {
        let cancel = context.cancellation_token.clone();
        // Connect lazily, on the first message (rmcp's `initialize`), so that a connection
        // failure can be handed to that message's sender, i.e. returned by `serve`.
        let first = tokio::select! {
            _ = cancel.cancelled() => return Err(WorkerQuitReason::Cancelled),
            request = context.recv_from_handler() => request?,
        };
        let connected = tokio::select! {
            _ = cancel.cancelled() => return Err(WorkerQuitReason::Cancelled),
            connected = self.connect() => connected,
        };
        let (session, mut events) = match connected {
            Ok(connected) => connected,
            Err(error) => {
                let _ = first.responder.send(Err(error.clone()));
                return Err(WorkerQuitReason::fatal(error, "connect"));
            }
        };
        tracing::debug!(url = %self.config.url, endpoint = %session.endpoint, "SSE session ready");

        let mut in_flight = session.start_post(first);
        loop {
            tokio::select! {
                // Fixed order, and still fair: the handler branch is off while a POST is in
                // flight, so a burst of outgoing messages cannot starve the event stream.
                biased;
                _ = cancel.cancelled() => return Err(WorkerQuitReason::Cancelled),
                outcome = async {
                    match in_flight.as_mut() {
                        Some(current) => current.post.as_mut().await,
                        None => std::future::pending().await,
                    }
                }, if in_flight.is_some() => {
                    if let Some(done) = in_flight.take() {
                        let unauthorized = match &outcome {
                            Err(error @ SseTransportError::Unauthorized { .. }) => Some(error.clone()),
                            Err(error) => {
                                tracing::warn!("SSE transport: {error}");
                                None
                            }
                            Ok(()) => None,
                        };
                        let _ = done.responder.send(outcome);
                        if let Some(error) = unauthorized {
                            return Err(WorkerQuitReason::fatal(error, "POST a message"));
                        }
                    }
                }
                request = context.recv_from_handler(), if in_flight.is_none() => {
                    in_flight = session.start_post(request?);
                }
                event = events.next() => {
                    let error = match event {
                        None => SseTransportError::StreamEnded { url: self.config.url.clone() },
                        Some(Ok(event)) => {
                            for message in self.incoming(event) {
                                context.send_to_handler(message).await?;
                            }
                            continue;
                        }
                        Some(Err(error)) => error,
                    };
                    if let Some(current) = in_flight.take() {
                        let _ = current.responder.send(Err(error.clone()));
                    }
                    return Err(WorkerQuitReason::fatal(error, "read SSE stream"));
                }
            }
        }
    }

    /// `GET` the stream and read up to the `endpoint` event, within the connect timeout.
    async fn connect(&self) -> Result<(Session, EventStream), SseTransportError> {
        let url = &self.config.url;
        let base = Url::parse(url).map_err(|e| SseTransportError::InvalidUrl {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(SseTransportError::InvalidUrl {
                url: url.clone(),
                reason: format!("scheme {:?} is not http or https", base.scheme()),
            });
        }
        let headers = header_map(&self.config.headers)?;
        let timeout = self.config.connect_timeout;
        let handshake = async {
            let mut get_headers = headers.clone();
            get_headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
            get_headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            let response = self
                .client
                .get(base.clone())
                .headers(get_headers)
                .send()
                .await
                .map_err(|e| network("SSE GET", url, e))?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED {
                return Err(unauthorized(url, &response));
            }
            if !status.is_success() {
                return Err(SseTransportError::HttpStatus {
                    url: url.clone(),
                    status,
                    detail: body_detail(response).await,
                });
            }
            // A missing Content-Type is tolerated; a different one means this is not an SSE
            // endpoint (e.g. a streamable-HTTP server answering JSON).
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            if let Some(content_type) = content_type
                && !content_type
                    .to_ascii_lowercase()
                    .starts_with("text/event-stream")
            {
                return Err(SseTransportError::NotEventStream {
                    url: url.clone(),
                    content_type,
                });
            }
            let mut events = event_stream(response, &self.config);
            loop {
                let event = match events.next().await {
                    None => return Err(SseTransportError::StreamEnded { url: url.clone() }),
                    Some(event) => event?,
                };
                if event.kind == "endpoint" {
                    let endpoint = resolve_endpoint(&base, Some(&event.data))?;
                    return Ok((endpoint, events));
                }
                tracing::warn!(
                    url = %url,
                    event = %event.kind,
                    "SSE event before the endpoint event ignored"
                );
            }
        };
        let (endpoint, events) =
            tokio::time::timeout(timeout, handshake)
                .await
                .map_err(|_| SseTransportError::NoEndpoint {
                    url: url.clone(),
                    timeout,
                })??;
        let session = Session {
            client: self.client.clone(),
            endpoint,
            headers,
        };
        Ok((session, events))
    }

    /// The JSON-RPC messages in one event; anything unexpected is logged and skipped, because
    /// one bad event must not take the session down.
    fn incoming(&self, event: SseEvent) -> Vec<ServerJsonRpcMessage> {
        let url = &self.config.url;
        match event.kind.as_str() {
            "message" => {}
            "endpoint" => {
                tracing::debug!(url = %url, "repeated SSE endpoint event ignored");
                return Vec::new();
            }
            other => {
                tracing::debug!(url = %url, event = other, "unknown SSE event type ignored");
                return Vec::new();
            }
        }
        let data = event.data;
        // 2024-11-05 still allowed JSON-RPC batches.
        let parsed = if data.trim_start().starts_with('[') {
            serde_json::from_str::<Vec<ServerJsonRpcMessage>>(&data)
        } else {
            serde_json::from_str::<ServerJsonRpcMessage>(&data).map(|message| vec![message])
        };
        parsed.unwrap_or_else(|error| {
            tracing::warn!(
                url = %url,
                "malformed JSON-RPC message on the SSE stream ignored: {error}: {}",
                snippet(&data)
            );
            Vec::new()
        })
    }
}

/// What is needed to post messages once the `endpoint` event arrived.
struct Session {
    client: reqwest::Client,
    endpoint: Url,
    headers: HeaderMap,
}

impl Session {
    fn start_post(&self, request: WorkerSendRequest<SseWorker>) -> Option<InFlight> {
        let WorkerSendRequest {
            message, responder, ..
        } = request;
        if responder.is_closed() {
            // Whoever sent it no longer waits for it (e.g. a cancelled request).
            return None;
        }
        Some(InFlight {
            post: Box::pin(post_message(
                self.client.clone(),
                self.endpoint.clone(),
                self.headers.clone(),
                message,
            )),
            responder,
        })
    }
}

async fn post_message(
    client: reqwest::Client,
    endpoint: Url,
    headers: HeaderMap,
    message: ClientJsonRpcMessage,
) -> Result<(), SseTransportError> {
    let body = serde_json::to_vec(&message).map_err(|e| SseTransportError::Serialize {
        message: e.to_string(),
    })?;
    let url = endpoint.to_string();
    let mut headers = headers;
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let response = client
        .post(endpoint)
        .headers(headers)
        .timeout(POST_TIMEOUT)
        .body(body)
        .send()
        .await
        .map_err(|e| network("POST", &url, e))?;
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED {
        let error = unauthorized(&url, &response);
        let _ = body_detail(response).await;
        return Err(error);
    }
    let detail = body_detail(response).await;
    if status.is_success() {
        Ok(())
    } else {
        Err(SseTransportError::PostFailed {
            url,
            status,
            detail,
        })
    }
}

/// Resolve the `endpoint` event's data against the SSE URL; it must stay on the same origin
/// (otherwise a server could make us send the session's headers elsewhere).
fn resolve_endpoint(base: &Url, data: Option<&str>) -> Result<Url, SseTransportError> {
    let raw = data.unwrap_or("").trim();
    let invalid = |reason: String| SseTransportError::InvalidEndpoint {
        url: base.to_string(),
        endpoint: snippet(raw),
        reason,
    };
    if raw.is_empty() {
        return Err(invalid("the endpoint event has no data".into()));
    }
    let endpoint = base.join(raw).map_err(|e| invalid(e.to_string()))?;
    if endpoint.origin() != base.origin() {
        return Err(invalid(format!(
            "origin {} differs from the SSE URL's",
            endpoint.origin().ascii_serialization()
        )));
    }
    Ok(endpoint)
}

fn header_map(headers: &[(String, String)]) -> Result<HeaderMap, SseTransportError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let invalid = || SseTransportError::InvalidHeader { name: name.clone() };
        let name_ok = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
        let value_ok = HeaderValue::from_str(value).map_err(|_| invalid())?;
        map.append(name_ok, value_ok);
    }
    Ok(map)
}

/// The response as SSE events, parsed per the spec with the event size capped (see
/// [`Framing`]); a stream silent for longer than the read timeout ends with an error.
fn event_stream(response: reqwest::Response, config: &SseClientConfig) -> EventStream {
    let url = config.url.clone();
    let limit = config.max_event_bytes;
    let mut framing = Framing::new(limit);
    let silent = {
        let url = url.clone();
        let timeout = config.read_timeout;
        move || SseTransportError::Idle {
            url: url.clone(),
            timeout,
        }
    };
    let bytes = response
        .bytes_stream()
        .map(move |chunk| chunk.map_err(|e| network("SSE stream", &url, e)));
    let too_large = SseTransportError::EventTooLarge {
        url: config.url.clone(),
        limit,
    };
    let events = idle::idle_timeout(bytes, config.read_timeout, silent).flat_map(move |chunk| {
        let items = match chunk {
            Ok(chunk) => match framing.push(&chunk) {
                Ok(events) => events.into_iter().map(Ok).collect(),
                Err(TooLarge) => vec![Err(too_large.clone())],
            },
            Err(error) => vec![Err(error)],
        };
        futures::stream::iter(items)
    });
    Box::pin(events)
}

fn network(operation: &'static str, url: &str, error: reqwest::Error) -> SseTransportError {
    SseTransportError::Network {
        operation,
        url: url.to_owned(),
        // The URL is already in the message; reqwest would repeat it.
        message: error_chain(&error.without_url()),
    }
}

/// The 401 answer's `WWW-Authenticate` challenge, for [`SseTransportError::Unauthorized`].
fn unauthorized(url: &str, response: &reqwest::Response) -> SseTransportError {
    let challenge = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .unwrap_or_default();
    SseTransportError::Unauthorized {
        url: url.to_owned(),
        challenge,
    }
}

/// `": <start of the body>"` for error messages, or empty. Reads at most a few KiB; reading
/// the (small) body of a successful `POST` also lets the connection go back to the pool.
async fn body_detail(mut response: reqwest::Response) -> String {
    const MAX_BYTES: usize = 4096;
    let mut body = Vec::new();
    while body.len() < MAX_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    let text = snippet(&crate::text::html_visible_text(&String::from_utf8_lossy(
        &body,
    )));
    if text.is_empty() {
        text
    } else {
        format!(": {text}")
    }
}

fn snippet(text: &str) -> String {
    one_line(text, BODY_SNIPPET_CHARS)
}

/// Collapse whitespace (error messages are one line) and cut at `max_chars`.
fn one_line(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    let mut chars = 0;
    for word in text.split_whitespace() {
        // The separating space counts like any other character.
        let separator = (chars > 0).then_some(' ');
        for c in separator.into_iter().chain(word.chars()) {
            if chars == max_chars {
                out.push('…');
                return out;
            }
            out.push(c);
            chars += 1;
        }
    }
    out
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
