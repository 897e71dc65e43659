//! `sse_read_timeout`: an event stream that goes silent without closing — what a half-open
//! connection looks like — is noticed within the timeout. Small servers on 127.0.0.1 answer
//! the handshake and then never write to their stream again (no keep-alives) while keeping
//! the connection open. A silent legacy SSE stream is the whole session: the server is
//! reconnected. A silent streamable HTTP `GET` stream is opened again; the session stays.

mod support;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mcpomni::runtime::messages::{RuntimeEvent, ServerState};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// What the fake servers saw and hold.
#[derive(Default)]
struct Fake {
    /// When each `GET` of the event stream arrived.
    gets: Mutex<Vec<Instant>>,
    /// Legacy SSE: the open streams, by session number.
    streams: Mutex<Vec<mpsc::UnboundedSender<Bytes>>>,
}

impl Fake {
    fn gets(&self) -> Vec<Instant> {
        self.gets.lock().expect("gets").clone()
    }
}

/// The answer to the requests a handshake makes; `None` for anything else (never answered).
fn answer(message: &Value) -> Option<Value> {
    let result = match message["method"].as_str()? {
        "initialize" => json!({
            "protocolVersion": message["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "silent", "version": "1"}
        }),
        "tools/list" => json!({"tools": [{"name": "t", "inputSchema": {"type": "object"}}]}),
        _ => return None,
    };
    Some(json!({"jsonrpc": "2.0", "id": message.get("id")?, "result": result}))
}

async fn serve(app: axum::Router) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    port
}

fn event_stream(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

/// Legacy SSE: `GET /sse` announces `/messages?session=N` and then carries only the answers
/// to `initialize` and `tools/list`; it never closes.
async fn legacy_server(fake: Arc<Fake>) -> u16 {
    async fn get(State(fake): State<Arc<Fake>>) -> Response {
        fake.gets.lock().expect("gets").push(Instant::now());
        let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
        let session = {
            let mut streams = fake.streams.lock().expect("streams");
            streams.push(tx.clone());
            streams.len() - 1
        };
        let _ = tx.send(Bytes::from(format!(
            "event: endpoint\ndata: /messages?session={session}\n\n"
        )));
        let body = futures::stream::unfold(rx, |mut rx| async move {
            let chunk = rx.recv().await?;
            Some((Ok::<_, Infallible>(chunk), rx))
        });
        event_stream(Body::from_stream(body))
    }
    async fn post(
        State(fake): State<Arc<Fake>>,
        Query(query): Query<std::collections::HashMap<String, usize>>,
        body: Bytes,
    ) -> StatusCode {
        let message: Value = serde_json::from_slice(&body).unwrap_or_default();
        let stream = query
            .get("session")
            .and_then(|n| fake.streams.lock().expect("streams").get(*n).cloned());
        if let (Some(reply), Some(stream)) = (answer(&message), stream) {
            let _ = stream.send(Bytes::from(format!("data: {reply}\n\n")));
        }
        StatusCode::ACCEPTED
    }
    let app = axum::Router::new()
        .route("/sse", axum::routing::get(get))
        .route("/messages", axum::routing::post(post))
        .with_state(fake);
    serve(app).await
}

/// Streamable HTTP: POSTs are answered with JSON; the `GET` stream's headers arrive and then
/// nothing, ever — or, with `offers_get` false, `GET` is answered 404.
async fn streamable_server(fake: Arc<Fake>, offers_get: bool) -> u16 {
    async fn get(State(fake): State<Arc<Fake>>) -> Response {
        fake.gets.lock().expect("gets").push(Instant::now());
        event_stream(Body::from_stream(futures::stream::pending::<
            Result<Bytes, Infallible>,
        >()))
    }
    async fn no_get(State(fake): State<Arc<Fake>>) -> Response {
        fake.gets.lock().expect("gets").push(Instant::now());
        (StatusCode::NOT_FOUND, "no such route").into_response()
    }
    async fn post(body: Bytes) -> Response {
        let message: Value = serde_json::from_slice(&body).unwrap_or_default();
        let mut headers = HeaderMap::new();
        headers.insert("mcp-session-id", "s-1".parse().expect("header"));
        match answer(&message) {
            Some(reply) => (
                StatusCode::OK,
                headers,
                [(header::CONTENT_TYPE, "application/json")],
                reply.to_string(),
            )
                .into_response(),
            None => (StatusCode::ACCEPTED, headers).into_response(),
        }
    }
    let app = axum::Router::new()
        .route(
            "/mcp",
            if offers_get {
                axum::routing::get(get)
            } else {
                axum::routing::get(no_get)
            }
            .post(post)
            .delete(|| async { StatusCode::OK }),
        )
        .with_state(fake);
    serve(app).await
}

#[tokio::test]
async fn a_silent_legacy_sse_stream_is_reconnected_within_the_read_timeout() {
    mcpomni::install_crypto_provider();
    let fake = Arc::new(Fake::default());
    let port = legacy_server(fake.clone()).await;
    let config = support::config(json!({"mcpServers": {"legacy": {
        "transport_type": "sse",
        "url": format!("http://127.0.0.1:{port}/sse"),
        "sse_read_timeout": 1,
        // No heartbeat: only the read timeout can notice the silence.
        "ping_interval": 0
    }}}));
    let (handle, mut events) = support::start_settled(&config).await;
    assert_eq!(handle.snapshots()[0].state, ServerState::Ready);
    let ready = Instant::now();
    let mut reason = None;
    let reconnected = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = events.recv().await {
            if let RuntimeEvent::ServerChanged(s) = event {
                if s.state == ServerState::Reconnecting {
                    reason = s.last_error.clone();
                }
                if s.state == ServerState::Ready && reason.is_some() {
                    return;
                }
            }
        }
    })
    .await;
    assert!(reconnected.is_ok(), "{:?}", handle.snapshots()[0]);
    let gets = fake.gets();
    assert!(gets.len() >= 2, "a new session, on a new stream");
    let detected = gets[1].duration_since(ready);
    assert!(
        detected < Duration::from_secs(3),
        "noticed {detected:?} after Ready"
    );
    let reason = reason.unwrap_or_default();
    assert!(
        reason.contains("was silent for 1s (sse_read_timeout)"),
        "{reason}"
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn a_silent_streamable_get_stream_is_opened_again_within_the_read_timeout() {
    mcpomni::install_crypto_provider();
    let fake = Arc::new(Fake::default());
    let port = streamable_server(fake.clone(), true).await;
    let config = support::config(json!({"mcpServers": {"http": {
        "transport_type": "streamable_http",
        "url": format!("http://127.0.0.1:{port}/mcp"),
        "sse_read_timeout": 1,
        "ping_interval": 0
    }}}));
    let (handle, _events) = support::start_settled(&config).await;
    assert_eq!(handle.snapshots()[0].state, ServerState::Ready);
    assert!(
        support::eventually(Duration::from_secs(10), || fake.gets().len() >= 3).await,
        "the GET stream was not opened again: {:?}",
        fake.gets()
    );
    let gets = fake.gets();
    for pair in gets.windows(2) {
        let gap = pair[1].duration_since(pair[0]);
        assert!(
            gap >= Duration::from_millis(900) && gap < Duration::from_secs(3),
            "each GET stream lives about sse_read_timeout: {gap:?}"
        );
    }
    // Only the stream was renewed: the session is the same and the server stayed Ready.
    let snapshot = &handle.snapshots()[0];
    assert_eq!(snapshot.state, ServerState::Ready, "{snapshot:?}");
    assert_eq!(snapshot.restarts, 0);
    handle.shutdown().await;
}

/// A 404 on `GET` means "session gone" only once a `GET` stream has worked in that session:
/// a server that answers every `GET` with 404 (instead of the spec's 405) just has no stream.
#[tokio::test]
async fn a_server_without_a_get_stream_is_not_taken_for_a_lost_session() {
    mcpomni::install_crypto_provider();
    let fake = Arc::new(Fake::default());
    let port = streamable_server(fake.clone(), false).await;
    let config = support::config(json!({"mcpServers": {"http": {
        "transport_type": "streamable_http",
        "url": format!("http://127.0.0.1:{port}/mcp"),
        "ping_interval": 0
    }}}));
    let (handle, mut events) = support::start_settled(&config).await;
    assert_eq!(handle.snapshots()[0].state, ServerState::Ready);
    assert!(
        support::eventually(Duration::from_secs(5), || !fake.gets().is_empty()).await,
        "the GET was tried"
    );
    // What happened up to now (the start) is not the question.
    while events.try_recv().is_ok() {}
    // Long enough for a reconnect to have started (it would within a second).
    let calm = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(event) = events.recv().await {
            if let RuntimeEvent::ServerChanged(s) = event
                && s.state != ServerState::Ready
            {
                return s;
            }
        }
        std::future::pending().await
    })
    .await;
    assert!(calm.is_err(), "the server left Ready: {calm:?}");
    assert_eq!(handle.snapshots()[0].restarts, 0);
    handle.shutdown().await;
}
