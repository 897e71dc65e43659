//! The HTTP client behind rmcp's streamable HTTP transport: the shared `reqwest::Client`,
//! plus what rmcp's own reqwest backend does not do.
//!
//! - The `GET` stream (server-to-client messages outside any request) has a read timeout
//!   (`sse_read_timeout`): rmcp's backend waits on a silent body forever, so a half-open
//!   connection would silently stop notifications. Here the stream ends with an error after
//!   that long without a byte (keep-alive comments count), and rmcp opens a new one (with
//!   `Last-Event-ID`). The stream is parsed by our spec-exact SSE parser.
//! - A server that forgot our session — the spec's 404, or a 400 whose message says so (the
//!   TypeScript SDK's "No valid session ID provided") — and a 401 on any request are reported
//!   to the connection's [`LinkLoss`], so the actor starts a new session (or shows NeedsAuth)
//!   at once, with the server's words, instead of letting pings time out.
//!
//! `POST` and `DELETE` go through rmcp's reqwest backend unchanged.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue, WWW_AUTHENTICATE};
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_client::{
    AuthRequiredError, InsufficientScopeError, SseError, StreamableHttpClient, StreamableHttpError,
    StreamableHttpPostResponse, StreamableHttpResponseLimits,
};
use sse_stream::Sse;

use super::challenge::AuthChallenge;
use super::link_loss::{LinkLoss, Loss};
use super::sse::framing::{Framing, SseEvent, TooLarge};
use super::sse::idle::idle_timeout;
use super::transport_error::mentions_lost_session;
use crate::text::{html_visible_text, sanitize_line, truncate_chars};

type Error = StreamableHttpError<reqwest::Error>;
type EventStream = BoxStream<'static, Result<Sse, SseError>>;

/// rmcp's default SSE event limit, used when it asks without one.
const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;
/// JSON-RPC error codes servers use for transport-level rejections (the SDKs' "bad request"
/// and "invalid request"), as opposed to a method's own errors.
const TRANSPORT_ERROR_CODES: [i32; 3] = [-32000, -32001, -32600];
/// How much of an error body is read and quoted.
const ERROR_BODY_BYTES: usize = 4096;
const ERROR_BODY_CHARS: usize = 200;

/// The client one streamable HTTP session uses (cheap to clone: rmcp clones it per request).
#[derive(Clone)]
pub(crate) struct StreamableClient {
    http: reqwest::Client,
    read_timeout: Duration,
    loss: LinkLoss,
    /// A `GET` stream was opened in this session: a later 404 on `GET` means the session is
    /// gone, not that the server never offered the stream (the spec wants 405 for that, but
    /// some servers answer 404).
    get_worked: Arc<AtomicBool>,
    /// Report a 401 as the session's end (off when OAuth handles 401s above this client).
    report_unauthorized: bool,
}

impl StreamableClient {
    pub(crate) fn new(http: reqwest::Client, read_timeout: Duration, loss: LinkLoss) -> Self {
        Self {
            http,
            read_timeout,
            loss,
            get_worked: Arc::default(),
            report_unauthorized: true,
        }
    }

    pub(crate) fn reporting_unauthorized(mut self, report: bool) -> Self {
        self.report_unauthorized = report;
        self
    }

    fn session_lost(&self, answer: &str) {
        self.loss.report(Loss::Gone(format!(
            "the server lost our session ({answer}); starting a new one"
        )));
    }

    fn unauthorized(&self, challenge: AuthChallenge) {
        if self.report_unauthorized {
            self.loss.report(Loss::Unauthorized(challenge));
        }
    }

    /// Looks at a `POST`'s outcome for a lost session or a 401 (and words a lost session's
    /// JSON-RPC error as a transport failure, since rmcp drops such errors when they carry
    /// no request id, leaving the request to time out).
    fn inspect_post(
        &self,
        session_attached: bool,
        result: Result<StreamableHttpPostResponse, Error>,
    ) -> Result<StreamableHttpPostResponse, Error> {
        match &result {
            // No session (a stateless server): rmcp opens no GET stream, nothing to wait for.
            Ok(
                StreamableHttpPostResponse::Json(_, None)
                | StreamableHttpPostResponse::Sse(_, None),
            ) if !session_attached => self.loss.get_stream_settled(),
            Err(StreamableHttpError::AuthRequired(required)) => {
                self.unauthorized(AuthChallenge::parse(&required.www_authenticate_header));
            }
            Err(StreamableHttpError::UnexpectedServerResponse(text))
                if text.starts_with("HTTP 401") =>
            {
                self.unauthorized(AuthChallenge::default());
            }
            Err(StreamableHttpError::SessionExpired) if session_attached => {
                self.session_lost("HTTP 404: session not found");
            }
            Err(StreamableHttpError::UnexpectedServerResponse(text))
                if session_attached
                    && text.starts_with("HTTP 4")
                    && mentions_lost_session(text) =>
            {
                let answer = sanitize_line(text);
                self.session_lost(&answer);
                return Err(StreamableHttpError::UnexpectedServerResponse(answer.into()));
            }
            Ok(StreamableHttpPostResponse::Json(ServerJsonRpcMessage::Error(error), _))
                if session_attached
                    && TRANSPORT_ERROR_CODES.contains(&error.error.code.0)
                    && mentions_lost_session(&error.error.message) =>
            {
                let answer = sanitize_line(&error.error.message);
                self.session_lost(&answer);
                return Err(StreamableHttpError::UnexpectedServerResponse(
                    format!("the server lost our session: {answer}").into(),
                ));
            }
            _ => {}
        }
        result
    }
}

impl StreamableHttpClient for StreamableClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, Error> {
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            StreamableHttpResponseLimits::default(),
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, Error> {
        let session_attached = session_id.is_some();
        let result = self
            .http
            .post_message_with_max_sse_event_size(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await;
        self.inspect_post(session_attached, result)
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, Error> {
        let session_attached = session_id.is_some();
        let result = self
            .http
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                limits,
            )
            .await;
        self.inspect_post(session_attached, result)
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), Error> {
        self.http
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<EventStream, Error> {
        self.get_stream_with_max_sse_event_size(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
            DEFAULT_MAX_EVENT_BYTES,
        )
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<EventStream, Error> {
        let result = self
            .open_get_stream(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await;
        // Open or refused, the handshake stops waiting for it (a 401 is still in play).
        if !matches!(result, Err(StreamableHttpError::AuthRequired(_))) {
            self.loss.get_stream_settled();
        }
        result
    }
}

impl StreamableClient {
    async fn open_get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<EventStream, Error> {
        let mut request = self
            .http
            .get(uri.as_ref())
            .header(ACCEPT, "text/event-stream, application/json");
        let session_attached = session_id.is_some();
        if let Some(session_id) = session_id {
            request = request.header("mcp-session-id", session_id.as_ref());
        }
        if let Some(last_event_id) = last_event_id {
            request = request.header("last-event-id", last_event_id);
        }
        if let Some(token) = auth_header {
            request = request.bearer_auth(token);
        }
        for (name, value) in custom_headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(StreamableHttpError::Client)?;
        let status = response.status();
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        match status {
            // The server offers no GET stream: fine, it talks in POST answers only.
            StatusCode::METHOD_NOT_ALLOWED => {
                return Err(StreamableHttpError::ServerDoesNotSupportSse);
            }
            StatusCode::UNAUTHORIZED => {
                let header = challenge.unwrap_or_default();
                self.unauthorized(AuthChallenge::parse(&header));
                return Err(StreamableHttpError::AuthRequired(AuthRequiredError::new(
                    header,
                )));
            }
            StatusCode::FORBIDDEN if challenge.is_some() => {
                let header = challenge.unwrap_or_default();
                let scope = AuthChallenge::parse(&header).scope;
                return Err(StreamableHttpError::InsufficientScope(
                    InsufficientScopeError::new(header, scope),
                ));
            }
            status if !status.is_success() => {
                let answer = format!("HTTP {}: {}", status.as_u16(), error_body(response).await);
                let lost = status == StatusCode::NOT_FOUND
                    || (status == StatusCode::BAD_REQUEST && mentions_lost_session(&answer));
                if session_attached && lost && self.get_worked.load(Ordering::Acquire) {
                    self.session_lost(&answer);
                    return Err(StreamableHttpError::SessionExpired);
                }
                return Err(StreamableHttpError::UnexpectedServerResponse(answer.into()));
            }
            _ => {}
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        if !content_type
            .as_deref()
            .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("text/event-stream"))
        {
            return Err(StreamableHttpError::UnexpectedContentType(content_type));
        }
        self.get_worked.store(true, Ordering::Release);
        Ok(event_stream(
            response,
            self.read_timeout,
            max_sse_event_size,
            uri.to_string(),
        ))
    }
}

/// Why the `GET` stream ended (rmcp logs it and opens a new stream).
#[derive(Debug, thiserror::Error)]
enum StreamError {
    #[error("the GET stream {url} was silent for {} (sse_read_timeout)", crate::text::human_duration(*after))]
    Silent { url: String, after: Duration },
    #[error("an event on the GET stream {url} exceeds the {limit}-byte limit")]
    TooLarge { url: String, limit: usize },
}

/// The body as rmcp's `Sse` items: events, and the `id`/`retry` changes rmcp needs to resume.
fn event_stream(
    response: reqwest::Response,
    read_timeout: Duration,
    limit: usize,
    url: String,
) -> EventStream {
    let silent = {
        let url = url.clone();
        move || {
            let error = StreamError::Silent {
                url: url.clone(),
                after: read_timeout,
            };
            tracing::info!("{error}; reconnecting it");
            SseError::Body(Box::new(error))
        }
    };
    let bytes = response
        .bytes_stream()
        .map(|chunk| chunk.map_err(|e| SseError::Body(Box::new(e))));
    let mut framing = Framing::new(limit);
    let mut told = Told::default();
    idle_timeout(bytes, read_timeout, silent)
        .flat_map(move |chunk| {
            let items = match chunk {
                Ok(chunk) => match framing.push(&chunk) {
                    Ok(events) => told.items(&framing, events),
                    Err(TooLarge) => vec![Err(SseError::Body(Box::new(StreamError::TooLarge {
                        url: url.clone(),
                        limit,
                    })))],
                },
                Err(error) => vec![Err(error)],
            };
            futures::stream::iter(items)
        })
        .boxed()
}

/// What rmcp has been told of the stream's last event ID and reconnection time.
#[derive(Default)]
struct Told {
    last_event_id: String,
    retry: Option<u64>,
}

impl Told {
    /// rmcp's items for the dispatched `events`, plus one item without data when only the
    /// last event ID or the reconnection time changed (the spec applies those even when no
    /// event is dispatched, and rmcp resumes with them).
    fn items(&mut self, framing: &Framing, events: Vec<SseEvent>) -> Vec<Result<Sse, SseError>> {
        let mut items: Vec<Result<Sse, SseError>> = events
            .into_iter()
            .map(|event| {
                let retry = self.retry_change(framing);
                self.last_event_id.clone_from(&event.last_event_id);
                Ok(Sse {
                    event: Some(event.kind),
                    data: Some(event.data),
                    id: (!event.last_event_id.is_empty()).then_some(event.last_event_id),
                    retry,
                })
            })
            .collect();
        let retry = self.retry_change(framing);
        if retry.is_some() || self.last_event_id != framing.last_event_id() {
            self.last_event_id = framing.last_event_id().to_owned();
            items.push(Ok(Sse {
                event: None,
                data: None,
                id: (!self.last_event_id.is_empty()).then(|| self.last_event_id.clone()),
                retry,
            }));
        }
        items
    }

    fn retry_change(&mut self, framing: &Framing) -> Option<u64> {
        let now = framing.reconnection_time();
        if now == self.retry {
            return None;
        }
        self.retry = now;
        now
    }
}

/// The start of an error body: a JSON-RPC error's message, or the (visible) text.
async fn error_body(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&body);
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|json| {
            json.pointer("/error/message")
                .and_then(|m| m.as_str().map(str::to_owned))
        });
    let text = message.unwrap_or_else(|| html_visible_text(&text).into_owned());
    truncate_chars(&sanitize_line(text.trim()), ERROR_BODY_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rmcp_learns_ids_and_retry_even_without_data() {
        let mut framing = Framing::new(1024);
        let mut told = Told::default();
        // A priming event (id, retry, no data), then a message.
        let events = framing
            .push(b"id: 1\nretry: 500\ndata:\n\n")
            .expect("within the limit");
        let items = told.items(&framing, events);
        assert_eq!(items.len(), 1);
        let Ok(first) = &items[0] else {
            panic!("an event")
        };
        assert_eq!((first.id.as_deref(), first.retry), (Some("1"), Some(500)));
        assert_eq!(first.data.as_deref(), Some(""));
        let events = framing.push(b"id: 2\n\n").expect("within the limit");
        let items = told.items(&framing, events);
        let Ok(bare) = &items[0] else {
            panic!("an item")
        };
        assert_eq!(
            (bare.id.as_deref(), bare.retry, bare.data.as_deref()),
            (Some("2"), None, None)
        );
        let events = framing.push(b"data: x\n\n").expect("within the limit");
        let items = told.items(&framing, events);
        assert_eq!(items.len(), 1, "nothing changed besides the event");
    }
}
