//! How the legacy SSE transport fails: one variant per failure, each message one line naming
//! the URL involved and never a header value (they may hold credentials).

use std::time::Duration;

use reqwest::StatusCode;

/// Why the SSE transport failed. Every message is one line and names the URL involved; header
/// values are never included (they may hold credentials).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SseTransportError {
    /// The configured URL does not parse or is not http(s).
    #[error("invalid SSE URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// A configured header has an invalid name or value.
    #[error("invalid header {name:?} for the SSE transport")]
    InvalidHeader { name: String },
    /// The `GET` was answered with a non-success status.
    #[error("SSE GET {url} answered HTTP {status}{detail}")]
    HttpStatus {
        url: String,
        status: StatusCode,
        /// `": <start of the body>"`, or empty.
        detail: String,
    },
    /// The `GET` succeeded but is not an event stream (e.g. a streamable-HTTP-only server).
    #[error("SSE GET {url} answered Content-Type {content_type:?}, not text/event-stream")]
    NotEventStream { url: String, content_type: String },
    /// No `endpoint` event within [`SseClientConfig::connect_timeout`].
    #[error("no endpoint event from {url} within {}s", timeout.as_secs_f64())]
    NoEndpoint { url: String, timeout: Duration },
    /// The `endpoint` event's data is not a URL on the SSE URL's origin.
    #[error("invalid endpoint URL {endpoint:?} from {url}: {reason}")]
    InvalidEndpoint {
        url: String,
        endpoint: String,
        reason: String,
    },
    /// The server closed the SSE stream.
    #[error("SSE stream {url} ended")]
    StreamEnded { url: String },
    /// Nothing arrived on the stream for [`SseClientConfig::read_timeout`].
    #[error(
        "SSE stream {url} was silent for {} (sse_read_timeout): the connection is presumed dead",
        crate::text::human_duration(*timeout)
    )]
    Idle { url: String, timeout: Duration },
    /// The `GET` or a `POST` was answered 401: the server wants (other) credentials.
    /// `challenge` is its `WWW-Authenticate` header (empty if it sent none).
    #[error("{url} answered HTTP 401: the server requires authorization")]
    Unauthorized { url: String, challenge: String },
    /// One SSE event was bigger than [`SseClientConfig::max_event_bytes`].
    #[error("SSE event from {url} exceeds the {limit}-byte limit")]
    EventTooLarge { url: String, limit: usize },
    /// A message `POST` was answered with a non-success status.
    #[error("POST {url} failed with HTTP {status}{detail}")]
    PostFailed {
        url: String,
        status: StatusCode,
        /// `": <start of the body>"`, or empty.
        detail: String,
    },
    /// Connection, TLS, timeout or body error; `message` is reqwest's whole source chain
    /// (e.g. `… invalid peer certificate: UnknownIssuer`).
    #[error("{operation} {url} failed: {message}")]
    Network {
        operation: &'static str,
        url: String,
        message: String,
    },
    /// A message from rmcp could not be serialized.
    #[error("could not serialize a message for the SSE transport: {message}")]
    Serialize { message: String },
    /// The worker is gone (the session was closed or the worker failed earlier).
    #[error("SSE transport closed")]
    Closed,
    /// The worker task panicked or was aborted.
    #[error("SSE transport task failed: {message}")]
    Join { message: String },
}
