//! End-to-end tests of the demo server: it is served over an in-process
//! duplex pipe and driven by a real rmcp client, so every assertion covers
//! the JSON-RPC encoding as well as the handler logic.
//!
//! This file holds the shared harness; the tests live in the submodules.

// These tests exercise the server itself through rmcp's own client API over an in-process
// pipe (each under a test timeout), not the product's request path, which is what
// `clippy.toml` guards.
#![allow(clippy::disallowed_methods)]

mod catalog;
mod lifecycle;
mod tools;

use std::time::{Duration, Instant};

use rmcp::{
    ClientHandler, RoleClient, ServiceError, ServiceExt,
    model::{CallToolRequestParams, CallToolResult, ProgressNotificationParam},
    service::{ClientLifecycleMode, ClientServiceExt, NotificationContext, RunningService},
};
use serde_json::Value;
use tokio::{sync::mpsc, task::JoinHandle};

use super::{DemoServer, stdio::serve_until_closed};

/// Generous bound for "answers promptly" on a slow, loaded CI machine, yet
/// well below both the 60 s sleeps the lifecycle tests start and rmcp's 5 s
/// shutdown drain.
const PROMPT: Duration = Duration::from_secs(3);

/// A client that forwards every progress notification to the test.
struct Recorder {
    progress: mpsc::UnboundedSender<ProgressNotificationParam>,
}

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        // The receiver lives as long as the test; a send error only means the
        // test already finished.
        let _ = self.progress.send(params);
    }
}

type Client = RunningService<RoleClient, Recorder>;

/// How the server side of the pipe is run.
enum Serve {
    /// Plain `ServiceExt::serve`, without the input-closed signal.
    Plain,
    /// The same path as `run_stdio`, with the input-closed signal.
    UntilClosed,
}

struct Harness {
    client: Client,
    progress: mpsc::UnboundedReceiver<ProgressNotificationParam>,
    /// Shares state with the served instance.
    server: DemoServer,
    server_task: JoinHandle<anyhow::Result<()>>,
}

/// Serve a fresh server and connect a client through the legacy
/// `initialize` handshake, which is what rmcp clients do by default.
async fn start(serve: Serve) -> Harness {
    start_with(serve, ClientLifecycleMode::Initialize).await
}

async fn start_with(serve: Serve, lifecycle: ClientLifecycleMode) -> Harness {
    let server = DemoServer::new();
    // Smaller than the large `lorem` results, so those stream through the
    // pipe in many writes rather than one.
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let served = server.clone();
    let server_task = tokio::spawn(async move {
        match serve {
            Serve::Plain => {
                let running = served.serve(server_io).await?;
                running.waiting().await?;
                Ok(())
            }
            Serve::UntilClosed => {
                let (reader, writer) = tokio::io::split(server_io);
                serve_until_closed(served, reader, writer).await
            }
        }
    });
    let (sender, progress) = mpsc::unbounded_channel();
    let client = Recorder { progress: sender }
        .serve_with_lifecycle(client_io, lifecycle)
        .await
        .expect("client handshake with the demo server");
    Harness {
        client,
        progress,
        server,
        server_task,
    }
}

fn object(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("expected a JSON object, got {other}"),
    }
}

async fn call(client: &Client, name: &'static str, arguments: Value) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(name).with_arguments(object(arguments)))
        .await
        .unwrap_or_else(|error| panic!("calling {name} failed: {error}"))
}

/// The single text block of a tool result.
fn text(result: &CallToolResult) -> &str {
    assert_eq!(result.content.len(), 1, "{result:?}");
    &result.content[0]
        .as_text()
        .unwrap_or_else(|| panic!("expected text content: {result:?}"))
        .text
}

fn assert_success(result: &CallToolResult, expected: &str) {
    assert_eq!(result.is_error, Some(false), "{result:?}");
    assert_eq!(text(result), expected);
}

fn assert_tool_error(result: &CallToolResult, expected: &str) {
    assert_eq!(result.is_error, Some(true), "{result:?}");
    assert_eq!(text(result), expected);
}

fn mcp_error(result: Result<impl std::fmt::Debug, ServiceError>) -> rmcp::ErrorData {
    match result {
        Err(ServiceError::McpError(error)) => error,
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
}

/// Wait for the server task to end, failing the test if it takes longer
/// than [`PROMPT`].
async fn server_exits_promptly(task: JoinHandle<anyhow::Result<()>>) {
    let started = Instant::now();
    let joined = tokio::time::timeout(PROMPT, task)
        .await
        .unwrap_or_else(|_| {
            panic!("the server was still running {PROMPT:?} after the client closed")
        });
    joined
        .expect("server task panicked")
        .expect("server returned an error");
    eprintln!(
        "server exited {:?} after the client closed",
        started.elapsed()
    );
}
