//! The SSE worker against a fake server (a tiny HTTP/1.1 server on a tokio TCP listener) that
//! misbehaves in specific ways: every case must give its specific error, and nothing may hang.
#![allow(deprecated, clippy::disallowed_methods, clippy::unwrap_used)]

mod support;

use support::sse_client as common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{STEP, connect, exit_error, step};
use mcpomni::runtime::sse::SseTransportError;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

#[derive(Clone, Debug, PartialEq)]
enum Mode {
    /// A working server whose stream is full of junk around each real message.
    Garbage,
    /// A working server announcing an absolute endpoint URL.
    AbsoluteEndpoint,
    /// Announces an endpoint on another origin.
    ForeignEndpoint,
    Status500,
    NotEventStream,
    /// Sends only keep-alive comments, never the endpoint event.
    NoEndpoint,
    /// Closes the stream before the endpoint event.
    CloseBeforeEndpoint,
    /// Answers initialize with one event of 200 KB.
    Oversized,
    /// Rejects POSTs of tools/call with HTTP 400.
    RejectToolCalls,
    /// Closes the SSE stream once the client sent notifications/initialized.
    CloseAfterInit,
    /// Answers initialize, then accepts every POST and never writes to the stream again, but
    /// keeps it open (a half-open connection looks like this).
    SilentAfterInit,
    /// Answers tools/list only after 1.2 s of keep-alive comments (one every 200 ms).
    SlowWithKeepAlives,
    /// Answers POSTs of tools/call with 401 and a challenge (a revoked token).
    UnauthorizedToolCalls,
}

type SseSink = Arc<Mutex<Option<mpsc::UnboundedSender<Vec<u8>>>>>;

struct Fake {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Fake {
    async fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sink: SseSink = Arc::default();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.spawn(serve_connection(stream, mode.clone(), port, sink.clone()));
            }
        });
        Self { port, task }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/sse", self.port)
    }
}

/// Read one request: (method, path, body). `None` when the peer closed the connection.
async fn read_request(stream: &mut TcpStream) -> Option<(String, String, Vec<u8>)> {
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let mut words = head.split_whitespace();
    let method = words.next()?.to_owned();
    let path = words.next()?.to_owned();
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = buffer[head_end..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((method, path, body))
}

async fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

const SSE_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";

/// Junk that a robust client must skip: bad lines, unknown fields and events, duplicate fields,
/// bad UTF-8, malformed JSON, a batch of non-messages, mixed line endings.
const JUNK: &[&[u8]] = &[
    b"a line without a colon\n",
    b"unknown: field\n",
    b": a comment\n\n",
    b"event: message\nevent: message\ndata: {not json\n\n",
    b"event: weird\ndata: {}\n\n",
    b"data: \xff\xfe\n\n",
    b"retry: soon\nid: 7\nid: 8\n\n",
    b"data: [1, 2]\n\n",
    b"\r\n\r",
];

/// A response nobody asked for: rmcp rejects it during initialize, but must drop it later.
const STRAY_RESPONSE: &[u8] = b"data: {\"jsonrpc\": \"2.0\", \"id\": 999, \"result\": {}}\n\n";

async fn serve_connection(mut stream: TcpStream, mode: Mode, port: u16, sink: SseSink) {
    let Some((method, path, body)) = read_request(&mut stream).await else {
        return;
    };
    if method == "GET" && path.starts_with("/sse") {
        match mode {
            Mode::Status500 => {
                return respond(
                    &mut stream,
                    "500 Internal Server Error",
                    "text/plain",
                    "boom\nbad",
                )
                .await;
            }
            Mode::NotEventStream => {
                return respond(&mut stream, "200 OK", "application/json", "{}").await;
            }
            _ => {}
        }
        if stream.write_all(SSE_HEAD.as_bytes()).await.is_err() {
            return;
        }
        let endpoint = match mode {
            Mode::NoEndpoint => {
                for _ in 0..100 {
                    if stream.write_all(b": ping\n\n").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                return;
            }
            Mode::CloseBeforeEndpoint => {
                let _ = stream.write_all(b"event: hello\ndata: x\n\n").await;
                let _ = stream.shutdown().await;
                return;
            }
            Mode::AbsoluteEndpoint => format!("http://127.0.0.1:{port}/messages/?session=abs"),
            Mode::ForeignEndpoint => "http://127.0.0.1:1/messages".to_owned(),
            _ => "messages?session=rel".to_owned(),
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        *sink.lock().unwrap() = Some(tx);
        let hello = format!("\u{feff}: hello\n\nevent: endpoint\ndata: {endpoint}\n\n");
        if stream.write_all(hello.as_bytes()).await.is_err() {
            return;
        }
        while let Some(bytes) = rx.recv().await {
            if bytes.is_empty() {
                // The "close the stream" signal.
                let _ = stream.shutdown().await;
                return;
            }
            if stream.write_all(&bytes).await.is_err() {
                return;
            }
            let _ = stream.flush().await;
        }
        return;
    }
    if method == "POST" && path.starts_with("/messages") {
        let message: Value = match serde_json::from_slice(&body) {
            Ok(message) => message,
            Err(_) => {
                return respond(&mut stream, "400 Bad Request", "text/plain", "bad json").await;
            }
        };
        let method_name = message["method"].as_str().unwrap_or_default().to_owned();
        if mode == Mode::UnauthorizedToolCalls && method_name == "tools/call" {
            let body = "token revoked";
            let response = format!(
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"fake\", error=\"invalid_token\"\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
            return;
        }
        if mode == Mode::RejectToolCalls && method_name == "tools/call" {
            return respond(
                &mut stream,
                "400 Bad Request",
                "text/plain",
                "no tools today",
            )
            .await;
        }
        respond(&mut stream, "202 Accepted", "text/plain", "Accepted").await;
        let Some(tx) = sink.lock().unwrap().clone() else {
            return;
        };
        if method_name == "notifications/initialized" && mode == Mode::CloseAfterInit {
            let _ = tx.send(Vec::new());
            return;
        }
        let Some(id) = message.get("id").cloned() else {
            return; // a notification
        };
        if mode == Mode::SilentAfterInit && method_name != "initialize" {
            return;
        }
        if mode == Mode::SlowWithKeepAlives && method_name == "tools/list" {
            for _ in 0..6 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let _ = tx.send(b": still working\n\n".to_vec());
            }
        }
        let result = match method_name.as_str() {
            "initialize" if mode == Mode::Oversized => {
                let huge = format!("data: {}\n\n", "x".repeat(200_000));
                let _ = tx.send(huge.into_bytes());
                return;
            }
            "initialize" => json!({
                "protocolVersion": message["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "fake", "version": "1"}
            }),
            "tools/list" => json!({"tools": [{"name": "t", "inputSchema": {"type": "object"}}]}),
            "tools/call" => json!({"content": [{"type": "text", "text": "called"}]}),
            _ => json!({}),
        };
        let response = json!({"jsonrpc": "2.0", "id": id, "result": result});
        if mode == Mode::Garbage {
            for junk in JUNK {
                let _ = tx.send(junk.to_vec());
            }
            if method_name != "initialize" {
                let _ = tx.send(STRAY_RESPONSE.to_vec());
            }
            // A batch answer, split mid-line across writes, with CRLF line ends.
            let text = if method_name == "tools/list" {
                json!([response]).to_string()
            } else {
                response.to_string()
            };
            let (a, b) = text.split_at(text.len() / 2);
            let _ = tx.send(format!("event: message\r\ndata: {a}").into_bytes());
            let _ = tx.send(format!("{b}\r\n\r\n").into_bytes());
        } else {
            let _ = tx.send(format!("event: message\ndata: {response}\n\n").into_bytes());
        }
        return;
    }
    respond(&mut stream, "404 Not Found", "text/plain", "not found").await;
}

async fn working_session(mode: Mode) {
    let fake = Fake::start(mode).await;
    let (client, _recorder, _exit) = connect(common::config(&fake.url())).await.unwrap();
    assert_eq!(
        client
            .peer_info()
            .unwrap()
            .server_info
            .as_ref()
            .unwrap()
            .name,
        "fake"
    );
    for _ in 0..3 {
        let tools = step("tools/list", client.list_all_tools()).await.unwrap();
        assert_eq!(tools.len(), 1);
    }
    let result = step(
        "tools/call",
        client.call_tool(CallToolRequestParams::new("t")),
    )
    .await
    .unwrap();
    assert!(format!("{result:?}").contains("called"));
}

#[tokio::test]
async fn garbage_framing_and_malformed_json_are_skipped() {
    working_session(Mode::Garbage).await;
}

#[tokio::test]
async fn absolute_endpoint_url_works() {
    working_session(Mode::AbsoluteEndpoint).await;
}

/// Connect and expect `serve` to fail; returns its error text and how long it took.
async fn failed_connect(
    mode: Mode,
    configure: impl FnOnce(&mut mcpomni::runtime::sse::SseClientConfig),
) -> (String, Duration, String) {
    let fake = Fake::start(mode).await;
    let mut config = common::config(&fake.url());
    configure(&mut config);
    let started = Instant::now();
    let error = connect(config).await.err().expect("serve should fail");
    eprintln!("{error}");
    (error, started.elapsed(), fake.url())
}

#[tokio::test]
async fn http_500_names_status_and_url() {
    let (error, took, url) = failed_connect(Mode::Status500, |_| {}).await;
    assert!(
        error.contains(&format!(
            "SSE GET {url} answered HTTP 500 Internal Server Error: boom bad"
        )),
        "{error}"
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn not_an_event_stream() {
    let (error, _, _) = failed_connect(Mode::NotEventStream, |_| {}).await;
    assert!(
        error.contains("application/json") && error.contains("not text/event-stream"),
        "{error}"
    );
}

#[tokio::test]
async fn no_endpoint_event_times_out() {
    let (error, took, url) = failed_connect(Mode::NoEndpoint, |c| {
        c.connect_timeout = Duration::from_millis(700)
    })
    .await;
    assert!(
        error.contains(&format!("no endpoint event from {url} within 0.7s")),
        "{error}"
    );
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test]
async fn stream_closed_before_endpoint() {
    let (error, _, url) = failed_connect(Mode::CloseBeforeEndpoint, |_| {}).await;
    assert!(
        error.contains(&format!("SSE stream {url} ended")),
        "{error}"
    );
}

#[tokio::test]
async fn foreign_endpoint_is_rejected() {
    let (error, _, _) = failed_connect(Mode::ForeignEndpoint, |_| {}).await;
    assert!(
        error.contains("invalid endpoint URL \"http://127.0.0.1:1/messages\""),
        "{error}"
    );
    assert!(error.contains("differs from the SSE URL"), "{error}");
}

#[tokio::test]
async fn connection_refused_is_a_network_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/sse");
    let error = connect(common::config(&url)).await.err().unwrap();
    eprintln!("{error}");
    assert!(
        error.contains(&format!("SSE GET {url} failed:")) && error.contains("Connection refused"),
        "{error}"
    );
}

#[tokio::test]
async fn oversized_event_ends_the_worker() {
    let fake = Fake::start(Mode::Oversized).await;
    let mut config = common::config(&fake.url());
    config.max_event_bytes = 64 * 1024;
    let worker = mcpomni::runtime::sse::SseWorker::new(common::http_client(), config);
    let mut exit = worker.exit_error();
    let serve = rmcp::ServiceExt::serve(
        common::Recorder::default(),
        rmcp::transport::worker::WorkerTransport::spawn(worker),
    );
    let result = step("serve", serve).await;
    assert!(result.is_err());
    let error = exit_error(&mut exit, STEP).await;
    assert!(
        matches!(error, SseTransportError::EventTooLarge { limit: 65536, .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("exceeds the 65536-byte limit"),
        "{error}"
    );
}

#[tokio::test]
async fn rejected_post_fails_only_that_message() {
    let fake = Fake::start(Mode::RejectToolCalls).await;
    let (client, _recorder, _exit) = connect(common::config(&fake.url())).await.unwrap();
    let error = step(
        "tools/call",
        client.call_tool(CallToolRequestParams::new("t")),
    )
    .await
    .unwrap_err();
    let text = error.to_string();
    eprintln!("{text}");
    assert!(
        text.contains("failed with HTTP 400 Bad Request: no tools today"),
        "{text}"
    );
    let tools = step("tools/list", client.list_all_tools()).await.unwrap();
    assert_eq!(tools.len(), 1);
}

#[tokio::test]
async fn stream_end_after_init_ends_the_worker() {
    let fake = Fake::start(Mode::CloseAfterInit).await;
    let (client, _recorder, mut exit) = connect(common::config(&fake.url())).await.unwrap();
    let error = exit_error(&mut exit, Duration::from_secs(3)).await;
    assert!(
        matches!(error, SseTransportError::StreamEnded { .. }),
        "{error}"
    );
    let after = tokio::time::timeout(STEP, client.list_all_tools()).await;
    assert!(matches!(after, Ok(Err(_))), "{after:?}");
}

#[tokio::test]
async fn tls_errors_carry_the_source_chain() {
    // https to a server that answers in plain HTTP at once: rustls rejects the answer.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = stream
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });
    let url = format!("https://127.0.0.1:{port}/sse");
    let error = connect(common::config(&url)).await.err().unwrap();
    eprintln!("{error}");
    assert!(
        error.contains(&format!("SSE GET {url} failed: error sending request")),
        "{error}"
    );
    server.abort();
    assert!(
        error.to_lowercase().contains("corrupt message") || error.contains("InvalidContentType"),
        "{error}"
    );
}

/// A real TLS server with a certificate from an untrusted CA.
#[tokio::test]
async fn untrusted_certificate_is_reported() {
    let server = support::tls::UntrustedHttps::start().await;
    let port = server.port;
    let url = format!("https://127.0.0.1:{port}/sse");
    let error = connect(common::config(&url)).await.err().unwrap();
    eprintln!("{error}");
    drop(server);
    assert!(
        error.contains("invalid peer certificate: UnknownIssuer"),
        "{error}"
    );
}

#[tokio::test]
async fn a_silent_stream_ends_the_worker_after_the_read_timeout() {
    let fake = Fake::start(Mode::SilentAfterInit).await;
    let mut config = common::config(&fake.url());
    config.read_timeout = Duration::from_millis(500);
    let (client, _recorder, mut exit) = connect(config).await.unwrap();
    let ready = Instant::now();
    let error = exit_error(&mut exit, Duration::from_secs(5)).await;
    let took = ready.elapsed();
    assert!(
        matches!(&error, SseTransportError::Idle { timeout, .. } if *timeout == Duration::from_millis(500)),
        "{error}"
    );
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "SSE stream {} was silent for 500ms (sse_read_timeout): the connection is presumed dead",
            fake.url()
        )
    );
    let after = tokio::time::timeout(STEP, client.list_all_tools()).await;
    assert!(matches!(after, Ok(Err(_))), "{after:?}");
}

#[tokio::test]
async fn keep_alive_comments_count_as_activity() {
    let fake = Fake::start(Mode::SlowWithKeepAlives).await;
    let mut config = common::config(&fake.url());
    config.read_timeout = Duration::from_millis(500);
    let (client, _recorder, _exit) = connect(config).await.unwrap();
    // 1.2 s without an event, but a comment every 200 ms.
    let tools = step("tools/list", client.list_all_tools()).await.unwrap();
    assert_eq!(tools.len(), 1);
}

#[tokio::test]
async fn a_401_on_a_post_ends_the_session_with_the_challenge() {
    let fake = Fake::start(Mode::UnauthorizedToolCalls).await;
    let (client, _recorder, mut exit) = connect(common::config(&fake.url())).await.unwrap();
    // The call fails (rmcp may word it as "transport closed": the worker stops at once; the
    // runtime's requester then reads the reason from the exit error).
    let call = step(
        "tools/call",
        client.call_tool(CallToolRequestParams::new("t")),
    )
    .await;
    assert!(call.is_err(), "{call:?}");
    let exit = exit_error(&mut exit, Duration::from_secs(3)).await;
    match &exit {
        SseTransportError::Unauthorized { challenge, .. } => {
            assert_eq!(challenge, "Bearer realm=\"fake\", error=\"invalid_token\"");
        }
        other => panic!("{other}"),
    }
    support::assert_no_type_path(&exit.to_string());
}
