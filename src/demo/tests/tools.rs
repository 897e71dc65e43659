//! Tests of `tools/list` and of every tool's results and argument checks.

use std::time::{Duration, Instant};

use rmcp::model::{CallToolRequestParams, ClientRequest, Request, ServerResult};
use rmcp::service::PeerRequestOptions;
use serde_json::{Value, json};

use super::super::tools::lorem_text;
use super::{PROMPT, Serve, assert_success, assert_tool_error, call, object, start, text};

#[tokio::test]
async fn lists_the_tools_with_schemas_and_annotations() {
    let harness = start(Serve::UntilClosed).await;
    let tools = harness.client.list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "add",
            "count_with_progress",
            "echo",
            "fail",
            "lorem",
            "sleep"
        ]
    );
    for tool in &tools {
        assert!(
            tool.description.as_deref().is_some_and(|d| !d.is_empty()),
            "{} has no description",
            tool.name
        );
        assert!(tool.title.is_some(), "{} has no title", tool.name);
        let annotations = tool.annotations.as_ref().expect("annotations");
        assert!(annotations.title.is_some(), "{}", tool.name);
        assert_eq!(annotations.read_only_hint, Some(true), "{}", tool.name);
        assert_eq!(annotations.destructive_hint, Some(false), "{}", tool.name);
        assert_eq!(annotations.idempotent_hint, Some(true), "{}", tool.name);
        assert_eq!(annotations.open_world_hint, Some(false), "{}", tool.name);
        let properties = tool
            .input_schema
            .get("properties")
            .and_then(Value::as_object)
            .expect("input schema properties");
        for (field, schema) in properties {
            assert!(
                schema.get("description").is_some(),
                "{}.{field} has no description",
                tool.name
            );
        }
    }
    let tool = |name: &str| {
        tools
            .iter()
            .find(|tool| tool.name == name)
            .unwrap_or_else(|| panic!("no {name} tool"))
    };
    let required = |name: &str| tool(name).input_schema.get("required").cloned();
    assert_eq!(required("echo"), Some(json!(["message"])));
    assert_eq!(required("add"), Some(json!(["a", "b"])));
    assert_eq!(required("sleep"), Some(json!(["ms"])));
    assert_eq!(required("lorem"), Some(json!(["bytes"])));
    assert_eq!(required("count_with_progress"), None);
    assert_eq!(required("fail"), None);

    let count = &tool("count_with_progress").input_schema["properties"];
    assert_eq!(count["steps"]["minimum"], json!(1));
    assert_eq!(count["steps"]["maximum"], json!(100));
    assert_eq!(count["steps"]["default"], json!(5));
    assert_eq!(count["delay_ms"]["minimum"], json!(0));
    assert_eq!(count["delay_ms"]["maximum"], json!(10_000));
    assert_eq!(count["delay_ms"]["default"], json!(100));
    let sleep = &tool("sleep").input_schema["properties"]["ms"];
    assert_eq!(sleep["maximum"], json!(600_000));
    let lorem = &tool("lorem").input_schema["properties"]["bytes"];
    assert_eq!(lorem["minimum"], json!(1));
    assert_eq!(lorem["maximum"], json!(50_000_000));

    let output = tool("add")
        .output_schema
        .clone()
        .expect("add output schema");
    assert_eq!(output.get("type"), Some(&json!("object")));
    assert_eq!(output.get("required"), Some(&json!(["sum"])));
    assert!(
        tools
            .iter()
            .filter(|tool| tool.name != "add")
            .all(|tool| tool.output_schema.is_none())
    );
}

#[tokio::test]
async fn echo_returns_the_message() {
    let harness = start(Serve::UntilClosed).await;
    let client = &harness.client;
    assert_success(
        &call(client, "echo", json!({ "message": "hello, world" })).await,
        "hello, world",
    );
    assert_success(&call(client, "echo", json!({ "message": "" })).await, "");
    // Argument type errors are tool errors too (rmcp turns them into one).
    let wrong_type = call(client, "echo", json!({ "message": 5 })).await;
    assert_eq!(wrong_type.is_error, Some(true), "{wrong_type:?}");
}

#[tokio::test]
async fn add_returns_text_and_structured_sum() {
    let harness = start(Serve::UntilClosed).await;
    let client = &harness.client;
    let result = call(client, "add", json!({ "a": 1.5, "b": 2 })).await;
    assert_success(&result, "1.5 + 2 = 3.5");
    assert_eq!(result.structured_content, Some(json!({ "sum": 3.5 })));

    let result = call(client, "add", json!({ "a": -4, "b": 4 })).await;
    assert_success(&result, "-4 + 4 = 0");
    assert_eq!(result.structured_content, Some(json!({ "sum": 0.0 })));

    let overflow = call(client, "add", json!({ "a": 1e308, "b": 1e308 })).await;
    assert_eq!(overflow.is_error, Some(true), "{overflow:?}");
    assert_eq!(overflow.structured_content, None);
}

#[tokio::test]
async fn count_with_progress_notifies_every_step() {
    let mut harness = start(Serve::UntilClosed).await;
    let arguments = object(json!({ "steps": 3, "delay_ms": 10 }));
    let handle = harness
        .client
        .send_request_with_option(
            ClientRequest::CallToolRequest(Request::new(
                CallToolRequestParams::new("count_with_progress").with_arguments(arguments),
            )),
            PeerRequestOptions::no_options(),
        )
        .await
        .expect("send tools/call");
    let token = handle.progress_token.clone();
    let response = handle.await_response().await.expect("tools/call response");
    let ServerResult::CallToolResult(result) = response else {
        panic!("unexpected response: {response:?}");
    };
    assert_success(&result, "counted to 3");

    // Notifications are dispatched on their own tasks, so they may land
    // after the response.
    let mut received = Vec::new();
    while received.len() < 3 {
        let notification = tokio::time::timeout(PROMPT, harness.progress.recv())
            .await
            .expect("progress notification in time")
            .expect("progress channel open");
        received.push(notification);
    }
    for (index, notification) in received.iter().enumerate() {
        let step = index + 1;
        assert_eq!(notification.progress_token, token);
        assert_eq!(notification.progress, step as f64);
        assert_eq!(notification.total, Some(3.0));
        assert_eq!(
            notification.message.as_deref(),
            Some(format!("step {step} of 3").as_str())
        );
    }
    assert!(harness.progress.try_recv().is_err(), "extra notifications");
}

#[tokio::test]
async fn count_with_progress_uses_defaults_and_checks_ranges() {
    let harness = start(Serve::UntilClosed).await;
    let client = &harness.client;
    assert_success(
        &call(client, "count_with_progress", json!({ "delay_ms": 0 })).await,
        "counted to 5",
    );
    let cases = [
        (
            json!({ "steps": 0 }),
            "steps must be between 1 and 100 (got 0)",
        ),
        (
            json!({ "steps": 101 }),
            "steps must be between 1 and 100 (got 101)",
        ),
        (
            json!({ "steps": 2, "delay_ms": -1 }),
            "delay_ms must be between 0 and 10000 (got -1)",
        ),
        (
            json!({ "steps": 2, "delay_ms": 10_001 }),
            "delay_ms must be between 0 and 10000 (got 10001)",
        ),
    ];
    for (arguments, expected) in cases {
        assert_tool_error(
            &call(client, "count_with_progress", arguments).await,
            expected,
        );
    }
}

#[tokio::test]
async fn fail_always_returns_a_tool_error() {
    let harness = start(Serve::UntilClosed).await;
    let client = &harness.client;
    assert_tool_error(
        &call(client, "fail", json!({ "reason": "testing" })).await,
        "demo tool failed on purpose: testing",
    );
    assert_tool_error(
        &call(client, "fail", json!({})).await,
        "demo tool failed on purpose: no reason given",
    );
    assert_tool_error(
        &call(client, "fail", json!({ "reason": "  " })).await,
        "demo tool failed on purpose: no reason given",
    );
}

#[tokio::test]
async fn sleep_sleeps_and_checks_its_range() {
    let harness = start(Serve::UntilClosed).await;
    let client = &harness.client;
    let started = Instant::now();
    assert_success(
        &call(client, "sleep", json!({ "ms": 10 })).await,
        "slept 10 ms",
    );
    assert!(started.elapsed() >= Duration::from_millis(10));
    assert_success(
        &call(client, "sleep", json!({ "ms": 0 })).await,
        "slept 0 ms",
    );
    assert_tool_error(
        &call(client, "sleep", json!({ "ms": -1 })).await,
        "ms must be between 0 and 600000 (got -1)",
    );
    assert_tool_error(
        &call(client, "sleep", json!({ "ms": 600_001 })).await,
        "ms must be between 0 and 600000 (got 600001)",
    );
}

#[tokio::test]
async fn lorem_returns_exactly_the_requested_bytes() {
    let harness = start(Serve::UntilClosed).await;
    let client = &harness.client;
    for bytes in [1_usize, 1_000, 1_000_000] {
        let result = call(client, "lorem", json!({ "bytes": bytes })).await;
        assert_eq!(result.is_error, Some(false));
        let body = text(&result);
        assert_eq!(body.len(), bytes);
        assert!(body.is_ascii());
        assert!("Lorem ipsum".starts_with(&body[..bytes.min(11)]));
    }
    assert_tool_error(
        &call(client, "lorem", json!({ "bytes": 0 })).await,
        "bytes must be between 1 and 50000000 (got 0)",
    );
    assert_tool_error(
        &call(client, "lorem", json!({ "bytes": 50_000_001 })).await,
        "bytes must be between 1 and 50000000 (got 50000001)",
    );
}

#[test]
fn lorem_text_has_the_exact_length_at_every_boundary() {
    let paragraph = lorem_text(10_000);
    let period = paragraph
        .get(1..)
        .and_then(|rest| rest.find("Lorem"))
        .expect("the text repeats")
        + 1;
    for len in [0, 1, period - 1, period, period + 1, 3 * period, 50_000_000] {
        let text = lorem_text(len);
        assert_eq!(text.len(), len);
        assert!(text.is_ascii());
    }
}
