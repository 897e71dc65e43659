//! Transport failures in a person's words. rmcp reports a failed send as
//! `Transport [rmcp::transport::worker::WorkerTransport<…>] error: …`, naming the transport's
//! Rust type and hiding the cause in a field; this module digs out the cause — an HTTP status
//! and the server's own message, an IO error, our SSE worker's error — and words it without
//! type paths. It also recognises the two failures that change a server's state: the server
//! wants credentials (401), and the server no longer knows our session.

use std::error::Error;

use rmcp::transport::DynamicTransportError;
use rmcp::transport::streamable_http_client::{AuthRequiredError, StreamableHttpError};

use super::challenge::AuthChallenge;
use super::sse::SseTransportError;
use crate::error_text::{collapse_spaces, error_chain};
use crate::text::{sanitize_line, truncate_chars};

type HttpError = StreamableHttpError<reqwest::Error>;

/// Longest description (a server's message can be long).
const MAX_CHARS: usize = 500;

/// One line naming the HTTP status or IO error and the server's message, never a Rust type.
pub(crate) fn describe(error: &(dyn Error + 'static)) -> String {
    let error = unwrap_dynamic(error);
    let text = if let Some(http) = error.downcast_ref::<HttpError>() {
        describe_http(http)
    } else {
        // Our SSE worker's errors and plain IO / HTTP client errors word themselves.
        error_chain(error)
    };
    truncate_chars(&text, MAX_CHARS)
}

/// The challenge, when the failure is the server asking for credentials (HTTP 401).
pub(crate) fn auth_challenge(error: &(dyn Error + 'static)) -> Option<AuthChallenge> {
    let mut current = Some(unwrap_dynamic(error));
    while let Some(error) = current {
        if let Some(http) = error.downcast_ref::<HttpError>() {
            match http {
                StreamableHttpError::AuthRequired(required) => {
                    return Some(AuthChallenge::parse(&required.www_authenticate_header));
                }
                // A 401 without a WWW-Authenticate header is still a 401.
                StreamableHttpError::UnexpectedServerResponse(text)
                    if text.starts_with("HTTP 401") =>
                {
                    return Some(AuthChallenge::default());
                }
                _ => {}
            }
        }
        if let Some(required) = error.downcast_ref::<AuthRequiredError>() {
            return Some(AuthChallenge::parse(&required.www_authenticate_header));
        }
        if let Some(SseTransportError::Unauthorized { challenge, .. }) =
            error.downcast_ref::<SseTransportError>()
        {
            return Some(AuthChallenge::parse(challenge));
        }
        current = error.source();
    }
    None
}

/// Whether a server's error message says that it does not know the session we sent (how
/// servers word a lost session when they answer 400 rather than the spec's 404, e.g. the
/// TypeScript SDK's "Bad Request: No valid session ID provided").
pub(crate) fn mentions_lost_session(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("session")
        && [
            "no valid",
            "not found",
            "invalid",
            "expired",
            "unknown",
            "missing",
        ]
        .iter()
        .any(|qualifier| lower.contains(qualifier))
}

/// rmcp wraps the transport's own error, whose type depends on the transport.
fn unwrap_dynamic<'a>(error: &'a (dyn Error + 'static)) -> &'a (dyn Error + 'static) {
    match error.downcast_ref::<DynamicTransportError>() {
        Some(dynamic) => dynamic.error.as_ref(),
        None => error,
    }
}

fn describe_http(error: &HttpError) -> String {
    match error {
        StreamableHttpError::Client(client) => error_chain(client),
        StreamableHttpError::Io(io) => format!("I/O error: {}", error_chain(io)),
        StreamableHttpError::Sse(sse) => format!("the event stream failed: {}", error_chain(sse)),
        StreamableHttpError::HttpStatus(status) => match &status.retry_after {
            Some(after) => format!("HTTP {} (retry after {})", status.status, clean(after)),
            None => format!("HTTP {}", status.status),
        },
        StreamableHttpError::AuthRequired(required) => format!(
            "HTTP 401: the server requires authorization: {}",
            AuthChallenge::parse(&required.www_authenticate_header)
        ),
        StreamableHttpError::InsufficientScope(scope) => format!(
            "HTTP 403: the token lacks a scope the server needs: {}",
            AuthChallenge::parse(&scope.www_authenticate_header)
        ),
        StreamableHttpError::SessionExpired => {
            "HTTP 404: the server no longer knows this session".to_owned()
        }
        StreamableHttpError::UnexpectedEndOfStream => {
            "the server ended its answer before the response".to_owned()
        }
        StreamableHttpError::UnexpectedContentType(content_type) => match content_type {
            Some(content_type) => format!("unexpected Content-Type {}", clean(content_type)),
            None => "the answer has no Content-Type".to_owned(),
        },
        StreamableHttpError::TransportChannelClosed => {
            "the connection to the server is closed".to_owned()
        }
        StreamableHttpError::Deserialize(json) => {
            format!("the server sent JSON that is not JSON-RPC: {json}")
        }
        StreamableHttpError::TokioJoinError(_) => "the HTTP transport task failed".to_owned(),
        // The rest (an unexpected answer "HTTP 400 Bad Request: …", size limits, timeouts of
        // control messages) word themselves; unknown future variants too.
        other => error_chain(other),
    }
}

fn clean(text: &str) -> String {
    collapse_spaces(&sanitize_line(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rmcp_send_errors_lose_the_type_path() {
        let inner: HttpError = StreamableHttpError::UnexpectedServerResponse(
            "HTTP 400 Bad Request: {\"error\": \"nope\"}".into(),
        );
        let dynamic = DynamicTransportError::from_parts(
            "rmcp::transport::worker::WorkerTransport<rmcp::transport::streamable_http_client::StreamableHttpClientWorker<reqwest::Client>>",
            std::any::TypeId::of::<()>(),
            Box::new(inner),
        );
        assert!(dynamic.to_string().contains("::"), "rmcp's own wording");
        let text = describe(&dynamic);
        assert_eq!(
            text,
            "unexpected server response: HTTP 400 Bad Request: {\"error\": \"nope\"}"
        );
        assert_eq!(
            describe(&DynamicTransportError::from_parts(
                "x",
                std::any::TypeId::of::<()>(),
                Box::new(HttpError::SessionExpired)
            )),
            "HTTP 404: the server no longer knows this session"
        );
    }

    #[test]
    fn challenges_are_found_through_the_wrapping() {
        let dynamic = DynamicTransportError::from_parts(
            "x",
            std::any::TypeId::of::<()>(),
            Box::new(HttpError::AuthRequired(AuthRequiredError::new(
                "Bearer realm=\"r\"".into(),
            ))),
        );
        let challenge = auth_challenge(&dynamic).expect("a challenge");
        assert_eq!(challenge.realm.as_deref(), Some("r"));
        let bare: HttpError =
            StreamableHttpError::UnexpectedServerResponse("HTTP 401 Unauthorized: go away".into());
        assert_eq!(auth_challenge(&bare), Some(AuthChallenge::default()));
        let sse = SseTransportError::Unauthorized {
            url: "http://127.0.0.1:1/messages".into(),
            challenge: "Bearer error=\"invalid_token\"".into(),
        };
        assert_eq!(
            auth_challenge(&sse).and_then(|c| c.error),
            Some("invalid_token".to_owned())
        );
        assert_eq!(auth_challenge(&HttpError::SessionExpired), None);
    }

    #[test]
    fn lost_sessions_in_servers_words() {
        assert!(mentions_lost_session(
            "Bad Request: No valid session ID provided"
        ));
        assert!(mentions_lost_session("Session not found"));
        assert!(!mentions_lost_session("tool needs a browser session"));
        assert!(!mentions_lost_session("not found"));
    }
}
