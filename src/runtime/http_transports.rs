//! Building the two HTTP transports from a server's config: the headers (a bearer token apart,
//! since rmcp adds `Bearer ` itself), streamable HTTP over our [`StreamableClient`] with a
//! bounded `GET`-stream retry, and the legacy SSE worker, whose exit error is where the
//! connection learns why the session ended.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rmcp::transport::common::client_side_sse::ExponentialBackoff;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, WorkerTransport};

use super::connect::{ConnectFailure, MAX_MESSAGE_BYTES};
use super::link_loss::{LinkLoss, Loss};
use super::sse::{SseClientConfig, SseWorker};
use super::streamable::StreamableClient;
use super::transport_error;
use crate::auth::ServerAuth;
use crate::auth::http::OAuthHttp;
use crate::config::{AuthConfig, HttpConfig};

/// How the streamable HTTP GET stream is re-opened after it broke: every second at most, for
/// about 20 s (rmcp's default backoff is uncapped). Those attempts are also what notices, within
/// a second, that a restarted server is back and has forgotten our session; a longer outage
/// is left to the heartbeat.
const GET_STREAM_RETRIES: usize = 20;
const GET_STREAM_FIRST_RETRY: Duration = Duration::from_millis(500);
const GET_STREAM_MAX_RETRY: Duration = Duration::from_secs(1);

/// Headers for every request, with a bearer token split out (rmcp adds `Bearer ` itself).
pub(super) struct Headers {
    bearer: Option<String>,
    other: Vec<(String, String)>,
}

impl Headers {
    pub(super) fn from_config(config: &HttpConfig) -> Result<Self, ConnectFailure> {
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
        if let Some(AuthConfig::Bearer { token }) = &config.auth {
            bearer = Some(token.clone());
        }
        Ok(Self { bearer, other })
    }

    /// An OAuth access token for this connection.
    pub(super) fn set_bearer(&mut self, token: String) {
        self.bearer = Some(token);
    }
}

/// Whether the config gives a token of its own (then OAuth stays out of the way).
pub(crate) fn has_static_token(config: &HttpConfig) -> bool {
    matches!(config.auth, Some(AuthConfig::Bearer { .. }))
        || config
            .headers
            .keys()
            .any(|name| name.eq_ignore_ascii_case("authorization"))
}

pub(super) fn streamable_transport(
    config: &HttpConfig,
    headers: &Headers,
    http: reqwest::Client,
    lost: LinkLoss,
    auth: Option<Arc<ServerAuth>>,
) -> Result<StreamableHttpClientTransport<OAuthHttp<StreamableClient>>, ConnectFailure> {
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
    backoff.base_duration = GET_STREAM_FIRST_RETRY;
    backoff.max_delay = Some(GET_STREAM_MAX_RETRY);
    let mut transport_config = StreamableHttpClientTransportConfig::with_uri(config.url.as_str())
        .custom_headers(custom)
        .max_sse_event_size(MAX_MESSAGE_BYTES)
        .max_json_response_size(MAX_MESSAGE_BYTES)
        // A server restarted under us forgets our session (HTTP 404). rmcp could quietly
        // initialize a new one, but the new session would lack our subscriptions and log
        // level, and its tools may differ: `StreamableClient` reports the loss instead, and
        // the actor starts (and lists, and subscribes) a whole new session.
        .reinit_on_expired_session(false);
    transport_config.retry_config = Arc::new(backoff);
    if let Some(token) = &headers.bearer {
        transport_config = transport_config.auth_header(token.clone());
    }
    // With OAuth, a 401 is the wrapper's to handle (it may sign in and retry); it reports
    // the loss itself when it cannot.
    let inner = StreamableClient::new(http, config.sse_read_timeout, lost.clone())
        .reporting_unauthorized(auth.is_none());
    Ok(StreamableHttpClientTransport::with_client(
        OAuthHttp::new(inner, auth, lost),
        transport_config,
    ))
}

/// The legacy SSE transport; the error its worker stops with is reported to `lost` (the
/// actor would otherwise only learn that the service ended).
pub(super) fn sse_transport(
    config: &HttpConfig,
    headers: &Headers,
    http: reqwest::Client,
    connect_timeout: Duration,
    lost: &LinkLoss,
) -> WorkerTransport<SseWorker> {
    let mut all = headers.other.clone();
    if let Some(token) = &headers.bearer {
        all.push(("Authorization".to_owned(), format!("Bearer {token}")));
    }
    let worker = SseWorker::new(
        http,
        SseClientConfig {
            url: config.url.clone(),
            headers: all,
            connect_timeout,
            max_event_bytes: MAX_MESSAGE_BYTES,
            read_timeout: config.sse_read_timeout,
        },
    );
    let exit = worker.exit_error();
    lost.set_source(move || {
        let exit = exit.borrow();
        let error = exit.as_ref()?;
        Some(match transport_error::auth_challenge(error) {
            Some(challenge) => Loss::Unauthorized(challenge),
            None => Loss::Gone(error.to_string()),
        })
    });
    WorkerTransport::spawn(worker)
}
