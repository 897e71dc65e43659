//! A reverse proxy on 127.0.0.1 in front of a real HTTP MCP server, which a test can switch
//! to misbehave mid-session: answer every new request with 401 (a revoked token) or with a
//! chosen status. Everything else (streamed SSE bodies included) passes through unchanged.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

/// What the proxy does with the next request.
#[derive(Debug, Clone)]
pub enum Mode {
    Pass,
    /// 401 with this `WWW-Authenticate` header.
    Unauthorized(String),
}

#[derive(Clone)]
struct Shared {
    upstream: u16,
    mode: Arc<Mutex<Mode>>,
    client: reqwest::Client,
    /// `METHOD path` of every request, in order.
    seen: Arc<Mutex<Vec<String>>>,
}

pub struct Proxy {
    pub port: u16,
    mode: Arc<Mutex<Mode>>,
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Proxies `127.0.0.1:<free port>` to `127.0.0.1:upstream`.
    pub async fn start(upstream: u16) -> Self {
        mcpomni::install_crypto_provider();
        let mode = Arc::new(Mutex::new(Mode::Pass));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            upstream,
            mode: mode.clone(),
            client: reqwest::Client::builder().build().expect("client"),
            seen: seen.clone(),
        };
        let app = axum::Router::new().fallback(forward).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            port,
            mode,
            seen,
            task,
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().expect("mode") = mode;
    }

    /// `METHOD path` of every request so far.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("seen").clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(State(shared): State<Shared>, request: Request) -> Response {
    let mode = shared.mode.lock().expect("mode").clone();
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    shared
        .seen
        .lock()
        .expect("seen")
        .push(format!("{} {path}", request.method()));
    if let Mode::Unauthorized(challenge) = mode {
        let mut response = (StatusCode::UNAUTHORIZED, "token revoked").into_response();
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(HeaderName::from_static("www-authenticate"), value);
        }
        return response;
    }
    let method = request.method().clone();
    let mut headers = request.headers().clone();
    for hop in ["host", "content-length", "connection"] {
        headers.remove(hop);
    }
    let body = match axum::body::to_bytes(request.into_body(), usize::MAX).await {
        Ok(body) => body,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    let upstream = shared
        .client
        .request(
            method,
            format!("http://127.0.0.1:{}{path}", shared.upstream),
        )
        .headers(headers)
        .body(body)
        .send()
        .await;
    let upstream = match upstream {
        Ok(response) => response,
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    let status = upstream.status();
    let mut headers = upstream.headers().clone();
    for hop in ["content-length", "transfer-encoding", "connection"] {
        headers.remove(hop);
    }
    let mut response = Response::new(Body::from_stream(upstream.bytes_stream().boxed()));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}
