//! Tests of the server's identity, resources, prompt and `logging/setLevel`.

use rmcp::model::{
    ErrorCode, GetPromptRequestParams, ReadResourceRequestParams, ResourceContents, Role,
};
use serde_json::{Value, json};

use super::super::{
    INSTRUCTIONS, SERVER_NAME,
    content::{README, config_json},
};
use super::{Serve, mcp_error, object, start};

#[tokio::test]
async fn reports_its_identity_and_capabilities() {
    let harness = start(Serve::UntilClosed).await;
    let info = harness.client.peer_info().expect("server info");
    let implementation = info.server_info.as_ref().expect("implementation info");
    assert_eq!(implementation.name, SERVER_NAME);
    assert_eq!(implementation.name, "mcpomni-demo");
    assert_eq!(implementation.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(implementation.title.as_deref(), Some("mcpomni demo server"));
    assert_eq!(info.instructions.as_deref(), Some(INSTRUCTIONS));
    assert!(!INSTRUCTIONS.contains('\n'));
    let capabilities = &info.capabilities;
    assert!(capabilities.tools.is_some());
    assert!(capabilities.resources.is_some());
    assert!(capabilities.prompts.is_some());
    #[allow(deprecated)] // logging capability, see `DemoServer::get_info`
    let logging = capabilities.logging.is_some();
    assert!(logging);
}

#[tokio::test]
async fn lists_and_reads_the_resources() {
    let harness = start(Serve::UntilClosed).await;
    let client = &harness.client;
    let resources = client.list_all_resources().await.expect("resources/list");
    let listed: Vec<(&str, &str, Option<&str>)> = resources
        .iter()
        .map(|r| (r.uri.as_str(), r.name.as_str(), r.mime_type.as_deref()))
        .collect();
    assert_eq!(
        listed,
        [
            ("demo://readme", "readme", Some("text/markdown")),
            (
                "demo://config.json",
                "config.json",
                Some("application/json")
            ),
        ]
    );

    let read = |uri: &'static str| async move {
        let result = client
            .read_resource(ReadResourceRequestParams::new(uri))
            .await
            .unwrap_or_else(|error| panic!("reading {uri} failed: {error}"));
        assert_eq!(result.contents.len(), 1);
        match result.contents.into_iter().next() {
            Some(ResourceContents::TextResourceContents {
                uri: read_uri,
                mime_type,
                text,
                ..
            }) => {
                assert_eq!(read_uri, uri);
                (mime_type, text)
            }
            other => panic!("expected text contents, got {other:?}"),
        }
    };

    let (mime_type, readme) = read("demo://readme").await;
    assert_eq!(mime_type.as_deref(), Some("text/markdown"));
    assert_eq!(readme, README);
    assert!(readme.starts_with("# mcpomni demo server\n"));
    for tool in [
        "echo",
        "add",
        "count_with_progress",
        "fail",
        "sleep",
        "lorem",
    ] {
        assert!(
            readme.contains(&format!("`{tool}`")),
            "readme misses {tool}"
        );
    }
    assert_eq!(resources[0].size, Some(README.len() as u64));

    let (mime_type, config) = read("demo://config.json").await;
    assert_eq!(mime_type.as_deref(), Some("application/json"));
    assert_eq!(config, config_json().expect("config renders"));
    assert!(
        config.contains("\n  \"server\": \"mcpomni-demo\""),
        "{config}"
    );
    assert_eq!(resources[1].size, Some(config.len() as u64));
    let parsed: Value = serde_json::from_str(&config).expect("config is JSON");
    assert_eq!(
        parsed,
        json!({
            "server": "mcpomni-demo",
            "version": env!("CARGO_PKG_VERSION"),
            "tools": ["add", "count_with_progress", "echo", "fail", "lorem", "sleep"],
            "limits": {
                "count_with_progress": { "min_steps": 1, "max_steps": 100, "max_delay_ms": 10000 },
                "sleep": { "max_ms": 600000 },
                "lorem": { "max_bytes": 50000000 },
            },
        })
    );
}

#[tokio::test]
async fn unknown_resource_is_not_found() {
    let harness = start(Serve::UntilClosed).await;
    let error = mcp_error(
        harness
            .client
            .read_resource(ReadResourceRequestParams::new("demo://nope"))
            .await,
    );
    // The client negotiated a pre-2026 protocol through `initialize`, which
    // keeps the dedicated resource-not-found code.
    assert_eq!(error.code, ErrorCode::RESOURCE_NOT_FOUND);
    assert_eq!(error.message, "resource not found: demo://nope");
    assert_eq!(error.data, Some(json!({ "uri": "demo://nope" })));
}

#[tokio::test]
async fn lists_and_gets_the_review_prompt() {
    let harness = start(Serve::UntilClosed).await;
    let client = &harness.client;
    let prompts = client.list_all_prompts().await.expect("prompts/list");
    assert_eq!(prompts.len(), 1);
    let prompt = &prompts[0];
    assert_eq!(prompt.name, "review_code");
    assert!(prompt.description.is_some());
    let arguments: Vec<(&str, Option<bool>)> = prompt
        .arguments
        .iter()
        .flatten()
        .map(|argument| (argument.name.as_str(), argument.required))
        .collect();
    assert_eq!(arguments, [("code", Some(true)), ("language", Some(false))]);

    let get = |arguments: Value| {
        client.get_prompt(
            GetPromptRequestParams::new("review_code").with_arguments(object(arguments)),
        )
    };
    let result = get(json!({ "code": "fn main() {}", "language": "rust" }))
        .await
        .expect("prompts/get");
    assert_eq!(result.messages.len(), 1);
    let message = &result.messages[0];
    assert_eq!(message.role, Role::User);
    assert_eq!(
        message.content.as_text().map(|t| t.text.as_str()),
        Some(
            "Please review the following rust code. Point out bugs, unclear parts and style \
             problems, and suggest concrete improvements.\n\n```rust\nfn main() {}\n```"
        )
    );

    let result = get(json!({ "code": "x = 1" })).await.expect("prompts/get");
    assert_eq!(
        result.messages[0]
            .content
            .as_text()
            .map(|t| t.text.as_str()),
        Some(
            "Please review the following code. Point out bugs, unclear parts and style \
             problems, and suggest concrete improvements.\n\n```\nx = 1\n```"
        )
    );

    for arguments in [
        json!({}),
        json!({ "language": "rust" }),
        json!({ "code": " " }),
    ] {
        let error = mcp_error(get(arguments).await);
        assert_eq!(error.code, ErrorCode::INVALID_PARAMS);
        assert_eq!(error.message, "missing required argument: code");
    }
    let error = mcp_error(get(json!({ "code": 42 })).await);
    assert_eq!(error.code, ErrorCode::INVALID_PARAMS);
    assert_eq!(error.message, "argument code must be a string");

    let error = mcp_error(client.get_prompt(GetPromptRequestParams::new("nope")).await);
    assert_eq!(error.code, ErrorCode::INVALID_PARAMS);
    assert_eq!(error.message, "unknown prompt: nope");
}

// `logging/setLevel` is deprecated by SEP-2577 but still served.
#[allow(deprecated)]
#[tokio::test]
async fn set_level_is_accepted_and_recorded() {
    use rmcp::model::{LoggingLevel, SetLevelRequestParams};

    let harness = start(Serve::UntilClosed).await;
    assert_eq!(harness.server.log_level(), None);
    harness
        .client
        .set_level(SetLevelRequestParams::new(LoggingLevel::Warning))
        .await
        .expect("logging/setLevel");
    assert_eq!(harness.server.log_level(), Some(LoggingLevel::Warning));
}
