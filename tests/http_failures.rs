//! HTTP servers that cannot be used get a one-line reason in the server's state, and the
//! others keep working: HTTP 500, 401 (NeedsAuth), OAuth not signed in (NeedsAuth), a refused
//! connection, an https server whose certificate nobody trusts, an https:// URL for a plain
//! HTTP server, and a URL that serves neither transport. A 401 in the middle of a session
//! (a revoked token) also means NeedsAuth, with the server's challenge. No error names a Rust
//! type.

mod support;

use std::time::Duration;

use mcpomni::runtime::RuntimeError;
use mcpomni::runtime::messages::ServerState;
use mcpomni::runtime::request::RequestError;
use mcpomni::runtime::server::CallError;
use serde_json::json;
use support::peers::PeerProcess;
use support::proxy::{Mode, Proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Answers every request with `status` (and a `WWW-Authenticate` header for 401).
async fn fixed_status_server(status: &'static str) -> (String, tokio::task::JoinHandle<()>) {
    let (url, task, _requests) = recording_server(status).await;
    (url, task)
}

/// Like `fixed_status_server`, and hands over the text of every request it receives.
async fn recording_server(
    status: &'static str,
) -> (
    String,
    tokio::task::JoinHandle<()>,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let extra = if status.starts_with("401") {
        "WWW-Authenticate: Bearer realm=\"test\"\r\n"
    } else {
        ""
    };
    let body = format!("{{\"error\": \"{status}\"}}");
    serve_fixed(status, "application/json", extra, body).await
}

/// Answers every request with `status`, the given headers and `body`, and hands over the text
/// of every request it receives.
async fn serve_fixed(
    status: &'static str,
    content_type: &'static str,
    extra_headers: &'static str,
    body: String,
) -> (
    String,
    tokio::task::JoinHandle<()>,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (requests_tx, requests) = tokio::sync::mpsc::unbounded_channel();
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{extra_headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let requests_tx = requests_tx.clone();
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let _ = requests_tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    (format!("http://127.0.0.1:{port}/mcp"), task, requests)
}

#[tokio::test]
async fn a_url_that_is_neither_transport_names_both_attempts_without_markup() {
    mcpomni::install_crypto_provider();
    // What a web framework answers for a path it does not serve: a whole HTML page.
    let page = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<title>Error</title>\n\
                <style>body{}</style>\n</head>\n<body>\n<pre>No MCP here</pre>\n</body>\n</html>\n";
    let (url, server, _requests) = serve_fixed("404 Not Found", "text/html", "", page.into()).await;
    let config = support::config(json!({"mcpServers": {"web": {"url": url}}}));
    let (handle, _events) = support::start_settled(&config).await;
    let web = support::snapshot(&handle.snapshots(), "web");
    assert_eq!(web.state, ServerState::Failed);
    let reason = web.last_error.clone().unwrap_or_default();
    assert!(
        reason.starts_with("neither streamable HTTP nor legacy SSE worked: streamable HTTP: "),
        "{reason}"
    );
    assert!(reason.contains("; SSE: "), "{reason}");
    assert_eq!(
        reason.matches("404 Not Found: No MCP here").count(),
        2,
        "{reason}"
    );
    assert!(
        !reason.contains('<') && !reason.contains("Error"),
        "{reason}"
    );
    support::assert_no_type_path(&reason);
    handle.shutdown().await;
    server.abort();
}

#[tokio::test]
async fn configured_headers_and_bearer_tokens_are_sent() {
    mcpomni::install_crypto_provider();
    let (url, server, mut requests) = recording_server("500 Internal Server Error").await;
    let (sse_url, sse_server, mut sse_requests) =
        recording_server("500 Internal Server Error").await;
    let config = support::config(json!({
        "mcpServers": {
            "http": {
                "transport_type": "streamable_http",
                "url": url,
                "headers": {"X-Api-Key": "${MCPOMNI_TEST_UNSET_KEY:-key-123}"},
                "auth": {"method": "bearer", "token": "tok-456"}
            },
            "sse": {
                "transport_type": "sse",
                "url": sse_url.replace("/mcp", "/sse"),
                "headers": {"Authorization": "Bearer tok-789", "X-Team": "ops"}
            }
        }
    }));
    let (handle, _events) = support::start_settled(&config).await;
    let first = requests.recv().await.expect("a request").to_lowercase();
    assert!(first.starts_with("post /mcp"), "{first}");
    assert!(first.contains("x-api-key: key-123"), "{first}");
    assert!(first.contains("authorization: bearer tok-456"), "{first}");
    let first = sse_requests.recv().await.expect("a request").to_lowercase();
    assert!(first.starts_with("get /sse"), "{first}");
    assert!(first.contains("x-team: ops"), "{first}");
    assert!(first.contains("authorization: bearer tok-789"), "{first}");
    handle.shutdown().await;
    server.abort();
    sse_server.abort();
}

#[tokio::test]
async fn unusable_http_servers_get_specific_reasons_and_others_keep_working() {
    mcpomni::install_crypto_provider();
    let (broken_url, broken) = fixed_status_server("500 Internal Server Error").await;
    let (locked_url, locked) = fixed_status_server("401 Unauthorized").await;
    let refused_port = support::peers::free_port();
    let untrusted = support::tls::UntrustedHttps::start().await;
    let config = support::config(json!({
        "AgentConfig": {"startup_timeout": 10},
        "mcpServers": {
            "broken": {"transport_type": "streamable_http", "url": broken_url},
            "locked": {"transport_type": "streamable_http", "url": locked_url},
            "oauth": {"transport_type": "streamable_http", "url": "http://127.0.0.1:9/mcp", "auth": {"method": "oauth"}},
            "refused": {"transport_type": "streamable_http", "url": format!("http://127.0.0.1:{refused_port}/mcp")},
            "untrusted": {"transport_type": "streamable_http", "url": format!("https://127.0.0.1:{}/mcp", untrusted.port)},
            "plaintext": {"url": broken_url.replace("http://", "https://")},
            "demo": support::demo(),
        }
    }));
    let (handle, _events) = support::start_settled(&config).await;
    let snapshots = handle.snapshots();
    let broken_state = support::snapshot(&snapshots, "broken");
    assert_eq!(broken_state.state, ServerState::Failed);
    let reason = broken_state.last_error.clone().unwrap_or_default();
    assert!(reason.starts_with("initialize failed: "), "{reason}");
    assert!(reason.contains("500"), "{reason}");

    let locked_state = support::snapshot(&snapshots, "locked");
    assert_eq!(
        locked_state.state,
        ServerState::NeedsAuth,
        "{locked_state:?}"
    );
    assert!(
        locked_state
            .last_error
            .as_deref()
            .is_some_and(|r| r.starts_with("the server requires authorization")),
        "{locked_state:?}"
    );

    // OAuth configured, but nothing listens: the reason is the connection, not a sign-in.
    let oauth = support::snapshot(&snapshots, "oauth");
    assert_eq!(oauth.state, ServerState::Failed, "{oauth:?}");
    let reason = oauth.last_error.clone().unwrap_or_default();
    assert!(
        reason.to_lowercase().contains("connect"),
        "an unreachable OAuth server says why: {reason}"
    );

    let plaintext = support::snapshot(&snapshots, "plaintext");
    assert_eq!(plaintext.state, ServerState::Failed);
    let reason = plaintext.last_error.clone().unwrap_or_default();
    assert!(
        reason.ends_with(
            "(the server answered without TLS: if it serves plain HTTP, use an http:// URL)"
        ),
        "{reason}"
    );

    let refused = support::snapshot(&snapshots, "refused");
    assert_eq!(refused.state, ServerState::Failed);
    let reason = refused.last_error.clone().unwrap_or_default();
    assert!(
        reason.to_lowercase().contains("connect"),
        "a refused connection says so: {reason}"
    );

    let untrusted_state = support::snapshot(&snapshots, "untrusted");
    assert_eq!(untrusted_state.state, ServerState::Failed);
    assert!(
        untrusted_state
            .last_error
            .as_deref()
            .is_some_and(|r| r.contains("invalid peer certificate: UnknownIssuer")),
        "{untrusted_state:?}"
    );

    assert_eq!(
        support::snapshot(&snapshots, "demo").state,
        ServerState::Ready
    );
    for snapshot in snapshots.iter() {
        support::assert_no_type_path(snapshot.last_error.as_deref().unwrap_or_default());
    }
    handle.shutdown().await;
    broken.abort();
    locked.abort();
}

const CHALLENGE: &str = r#"Bearer realm="mcp", error="invalid_token", error_description="token revoked", scope="files:read", resource_metadata="http://127.0.0.1:9/.well-known/oauth-protected-resource""#;

/// The token is revoked mid-session: the proxy in front of the real server starts answering
/// 401. The call that hits it says so, and the server becomes NeedsAuth with the challenge.
async fn a_401_mid_session_means_needs_auth(server: PeerProcess, transport: &str, path: &str) {
    mcpomni::install_crypto_provider();
    let proxy = Proxy::start(server.port()).await;
    let config = support::config(json!({"mcpServers": {"py": {
        "transport_type": transport,
        "url": proxy.url(path),
        // No heartbeat: the tool call alone must find out.
        "ping_interval": 0
    }}}));
    let (handle, _events) = support::start_settled(&config).await;
    assert_eq!(
        support::snapshot(&handle.snapshots(), "py").state,
        ServerState::Ready
    );
    proxy.set(Mode::Unauthorized(CHALLENGE.into()));
    let error = handle
        .call_tool("py", "echo", support::args(json!({"message": "hi"})), None)
        .await
        .expect_err("the token was revoked");
    assert!(
        matches!(
            &error,
            RuntimeError::Call(CallError::Request {
                error: RequestError::Unauthorized {
                    method: "tools/call",
                    ..
                },
                ..
            })
        ),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.starts_with(
            "server `py`: tools/call: the server requires authorization (HTTP 401): Bearer"
        ),
        "{text}"
    );
    support::assert_no_type_path(&text);
    let needs_auth = support::eventually(Duration::from_secs(10), || {
        support::snapshot(&handle.snapshots(), "py").state == ServerState::NeedsAuth
    })
    .await;
    let py = support::snapshot(&handle.snapshots(), "py");
    assert!(needs_auth, "{py:?}");
    let reason = py.last_error.unwrap_or_default();
    for detail in [
        "HTTP 401",
        "realm \"mcp\"",
        "error invalid_token: token revoked",
        "scope \"files:read\"",
        "resource metadata at http://127.0.0.1:9/.well-known/oauth-protected-resource",
    ] {
        assert!(reason.contains(detail), "{detail} is missing: {reason}");
    }
    support::assert_no_type_path(&reason);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_mid_session_over_streamable_http_means_needs_auth() {
    a_401_mid_session_means_needs_auth(PeerProcess::py_http().await, "streamable_http", "/mcp")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_mid_session_over_legacy_sse_means_needs_auth() {
    a_401_mid_session_means_needs_auth(PeerProcess::py_sse().await, "sse", "/sse").await;
}

/// The server is killed mid-session: the failed call names the request and the network error
/// in words, not rmcp's `Transport [rmcp::transport::worker::WorkerTransport<…>]`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_error_names_the_request_and_the_cause_not_a_type() {
    mcpomni::install_crypto_provider();
    let mut server = PeerProcess::py_http().await;
    let config = support::config(json!({"mcpServers": {"py": {
        "transport_type": "streamable_http",
        "url": server.url(),
        "ping_interval": 0
    }}}));
    let (handle, _events) = support::start_settled(&config).await;
    assert_eq!(
        support::snapshot(&handle.snapshots(), "py").state,
        ServerState::Ready
    );
    server.kill();
    let error = handle
        .call_tool("py", "echo", support::args(json!({"message": "hi"})), None)
        .await
        .expect_err("the server is gone");
    let text = error.to_string();
    support::assert_no_type_path(&text);
    assert!(text.starts_with("server `py`: tools/call: "), "{text}");
    let lower = text.to_lowercase();
    assert!(
        ["refused", "closed", "connect"]
            .iter()
            .any(|cause| lower.contains(cause)),
        "the network error is named: {text}"
    );
    handle.shutdown().await;
}
