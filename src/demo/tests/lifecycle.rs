//! Tests of the connection lifecycle: cancellation, shutdown when the input
//! closes, a failed handshake, and the `server/discover` lifecycle.

use std::time::Instant;

use rmcp::{
    model::{
        CallToolRequestParams, ClientRequest, ErrorCode, ProtocolVersion,
        ReadResourceRequestParams, Request,
    },
    service::{ClientLifecycleMode, PeerRequestOptions},
};
use serde_json::json;

use super::super::DemoServer;
use super::{
    Harness, PROMPT, Serve, assert_success, assert_tool_error, call, mcp_error, object,
    serve_until_closed, server_exits_promptly, start, start_with,
};

/// Cancelling a long `sleep` must end the handler itself, not just discard
/// its response: the plain serve path has no input-closed signal, so if the
/// handler kept running, closing the client would leave the server waiting
/// out rmcp's 5 s drain.
#[tokio::test]
async fn cancelled_sleep_stops_and_the_server_stays_responsive() {
    let harness = start(Serve::Plain).await;
    let client = &harness.client;
    let handle = client
        .send_request_with_option(
            ClientRequest::CallToolRequest(Request::new(
                CallToolRequestParams::new("sleep").with_arguments(object(json!({ "ms": 60_000 }))),
            )),
            PeerRequestOptions::no_options(),
        )
        .await
        .expect("send tools/call");
    // Cancel once the server's handler is sleeping.
    tokio::time::timeout(PROMPT, harness.server.pausing(1))
        .await
        .expect("the sleep started");
    handle
        .cancel(Some("test cancels the sleep".to_owned()))
        .await
        .expect("send notifications/cancelled");

    let started = Instant::now();
    let echo = tokio::time::timeout(
        PROMPT,
        call(client, "echo", json!({ "message": "still here" })),
    )
    .await
    .expect("echo answered promptly after the cancellation");
    assert_success(&echo, "still here");
    assert!(started.elapsed() < PROMPT);

    let Harness {
        client,
        server_task,
        ..
    } = harness;
    client.cancel().await.expect("close the client");
    server_exits_promptly(server_task).await;
}

/// Closing the input while a tool is still running must let the server exit
/// at once (this is what `run_stdio` relies on when the client quits).
#[tokio::test]
async fn server_exits_promptly_when_input_closes_mid_call() {
    let harness = start(Serve::UntilClosed).await;
    let _pending = harness
        .client
        .send_request_with_option(
            ClientRequest::CallToolRequest(Request::new(
                CallToolRequestParams::new("sleep").with_arguments(object(json!({ "ms": 60_000 }))),
            )),
            PeerRequestOptions::no_options(),
        )
        .await
        .expect("send tools/call");
    tokio::time::timeout(PROMPT, harness.server.pausing(1))
        .await
        .expect("the sleep started");
    let Harness {
        client,
        server_task,
        ..
    } = harness;
    client.cancel().await.expect("close the client");
    server_exits_promptly(server_task).await;
}

/// A client that disconnects before the handshake is an error for the caller.
#[tokio::test]
async fn closing_before_the_handshake_is_an_error() {
    let (server_io, client_io) = tokio::io::duplex(1024);
    drop(client_io);
    let (reader, writer) = tokio::io::split(server_io);
    let result = tokio::time::timeout(
        PROMPT,
        serve_until_closed(DemoServer::new(), reader, writer),
    )
    .await
    .expect("the server gave up promptly");
    let error = result.expect_err("no handshake happened");
    assert!(error.to_string().contains("handshake"), "{error:#}");
}

/// Clients on protocol 2026-07-28 skip `initialize` and send per-request
/// metadata instead; the server must serve them the same way.
#[tokio::test]
async fn serves_clients_that_use_server_discover() {
    let mut harness = start_with(
        Serve::UntilClosed,
        ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    )
    .await;
    let client = &harness.client;
    let info = client.peer_info().expect("server info");
    assert_eq!(info.protocol_version, ProtocolVersion::V_2026_07_28);
    let implementation = info.server_info.as_ref().expect("implementation info");
    assert_eq!(implementation.name, "mcpomni-demo");
    assert_eq!(implementation.version, env!("CARGO_PKG_VERSION"));

    assert_success(
        &call(client, "echo", json!({ "message": "modern" })).await,
        "modern",
    );
    assert_tool_error(
        &call(client, "fail", json!({})).await,
        "demo tool failed on purpose: no reason given",
    );
    assert_success(
        &call(
            client,
            "count_with_progress",
            json!({ "steps": 2, "delay_ms": 0 }),
        )
        .await,
        "counted to 2",
    );
    for step in 1..=2 {
        let notification = tokio::time::timeout(PROMPT, harness.progress.recv())
            .await
            .expect("progress notification in time")
            .expect("progress channel open");
        assert_eq!(notification.progress, f64::from(step));
    }

    // From 2026-07-28 on, rmcp reports resource-not-found as invalid-params;
    // the message still names the URI.
    let error = mcp_error(
        client
            .read_resource(ReadResourceRequestParams::new("demo://nope"))
            .await,
    );
    assert_eq!(error.code, ErrorCode::INVALID_PARAMS);
    assert_eq!(error.message, "resource not found: demo://nope");
}
