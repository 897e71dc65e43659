//! The runtime against the real demo server (this binary's `demo-server`, as a child process):
//! it comes up Ready with the pinned protocol version, every tool, resource and prompt works
//! through the runtime, and shutdown leaves no process behind.

mod support;

use std::time::{Duration, Instant};

use mcpomni::runtime::messages::{RuntimeEvent, ServerState};
use mcpomni::runtime::{self, RuntimeOptions};
use rmcp::model::JsonObject;
use serde_json::json;
use support::args;

#[tokio::test]
async fn demo_server_comes_up_and_every_tool_works() {
    let config = support::config(json!({"mcpServers": {"demo": support::demo()}}));
    let (handle, _events) = support::start_settled(&config).await;
    let snapshots = handle.snapshots();
    let demo = &snapshots[0];
    assert_eq!(demo.state, ServerState::Ready, "{demo:?}");
    assert_eq!(demo.protocol_version.as_deref(), Some("2025-11-25"));
    let identity = demo.identity.as_ref().expect("identity");
    assert_eq!(identity.name, "mcpomni-demo");
    assert_eq!(identity.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        (demo.tool_count, demo.resource_count, demo.prompt_count),
        (6, 2, 1)
    );
    // Loading the system's root certificates is left to sessions that have HTTP servers.
    assert!(!handle.http_client_built());

    let catalog = handle.catalog();
    let mut names: Vec<_> = catalog
        .tools
        .iter()
        .map(|t| t.qualified_name.as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "demo__add",
            "demo__count_with_progress",
            "demo__echo",
            "demo__fail",
            "demo__lorem",
            "demo__sleep"
        ]
    );

    let echo = handle
        .call_tool("demo", "echo", args(json!({"message": "hello"})), None)
        .await
        .expect("echo");
    assert_eq!(runtime::content::blocks_text(&echo.content), "hello");

    // The qualified name works too.
    let add = handle
        .call_tool("demo", "demo__add", args(json!({"a": 2, "b": 3.5})), None)
        .await
        .expect("add");
    assert_eq!(runtime::content::blocks_text(&add.content), "2 + 3.5 = 5.5");
    assert_eq!(add.structured_content, Some(json!({"sum": 5.5})));

    let counted = handle
        .call_tool(
            "demo",
            "count_with_progress",
            args(json!({"steps": 3, "delay_ms": 10})),
            None,
        )
        .await
        .expect("count");
    assert_eq!(
        runtime::content::blocks_text(&counted.content),
        "counted to 3"
    );

    let failed = handle
        .call_tool("demo", "fail", args(json!({"reason": "testing"})), None)
        .await
        .expect("fail answers with a tool error, not a protocol error");
    assert_eq!(failed.is_error, Some(true));
    assert_eq!(
        runtime::content::blocks_text(&failed.content),
        "demo tool failed on purpose: testing"
    );

    let slept = handle
        .call_tool("demo", "sleep", args(json!({"ms": 20})), None)
        .await
        .expect("sleep");
    assert_eq!(runtime::content::blocks_text(&slept.content), "slept 20 ms");

    let lorem = handle
        .call_tool("demo", "lorem", args(json!({"bytes": 100_000})), None)
        .await
        .expect("lorem");
    assert_eq!(runtime::content::blocks_text(&lorem.content).len(), 100_000);

    let readme = handle
        .read_resource("demo", "demo://readme")
        .await
        .expect("readme");
    let text = runtime::content::resource_text(&readme.contents[0]);
    assert!(text.starts_with("# mcpomni demo server"), "{text}");
    let config_json = handle
        .read_resource("demo", "demo://config.json")
        .await
        .expect("config.json");
    let parsed: serde_json::Value =
        serde_json::from_str(&runtime::content::resource_text(&config_json.contents[0]))
            .expect("config.json is JSON");
    assert_eq!(parsed["server"], "mcpomni-demo");

    let prompt = handle
        .get_prompt("demo", "review_code", args(json!({"code": "fn main() {}"})))
        .await
        .expect("prompt");
    assert_eq!(prompt.messages.len(), 1);
    assert!(runtime::content::block_text(&prompt.messages[0].content).contains("fn main() {}"));

    let pid = demo.pid.expect("stdio server has a pid");
    assert!(support::group_alive(pid));
    let started = Instant::now();
    handle.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert!(
        !support::group_alive(pid),
        "the demo server is gone after shutdown"
    );
}

#[tokio::test]
async fn unknown_tools_and_servers_get_specific_errors() {
    let config = support::config(json!({"mcpServers": {"demo": support::demo()}}));
    let (handle, _events) = support::start_settled(&config).await;
    let error = handle
        .call_tool("demo", "nope", JsonObject::new(), None)
        .await
        .expect_err("unknown tool");
    assert_eq!(
        error.to_string(),
        "server `demo` has no tool `nope` (tools: add, count_with_progress, echo, fail, lorem, sleep)"
    );
    let error = handle
        .call_tool("other", "echo", JsonObject::new(), None)
        .await
        .expect_err("unknown server");
    assert_eq!(
        error.to_string(),
        "no server named `other` in the config (servers: demo)"
    );
    let error = handle
        .read_resource("demo", "demo://missing")
        .await
        .expect_err("unknown resource");
    assert!(
        error
            .to_string()
            .contains("resource not found: demo://missing"),
        "{error}"
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn events_report_every_state_transition_in_order() {
    let config = support::config(json!({"mcpServers": {"demo": support::demo()}}));
    let (handle, mut events) = runtime::start(&config, RuntimeOptions::default()).expect("start");
    let mut states = Vec::new();
    let mut catalog_versions = Vec::new();
    while !states.contains(&ServerState::Ready) {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
            Ok(Some(RuntimeEvent::ServerChanged(s))) => {
                if states.last() != Some(&s.state) {
                    states.push(s.state);
                }
            }
            Ok(Some(RuntimeEvent::CatalogChanged(c))) => catalog_versions.push(c.version),
            Ok(Some(other)) => panic!("unexpected event {other:?}"),
            Ok(None) | Err(_) => panic!("no Ready event; saw {states:?}"),
        }
    }
    assert_eq!(
        states,
        [
            ServerState::Starting,
            ServerState::Initializing,
            ServerState::Ready
        ]
    );
    assert_eq!(
        catalog_versions,
        [1],
        "the catalog is published before Ready"
    );
    handle.shutdown().await;
    let mut last = None;
    while last != Some(ServerState::Stopped) {
        match tokio::time::timeout(Duration::from_secs(2), events.recv()).await {
            Ok(Some(RuntimeEvent::ServerChanged(s))) => last = Some(s.state),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    assert_eq!(last, Some(ServerState::Stopped));
}

#[tokio::test]
async fn only_the_named_servers_start() {
    let config = support::config(json!({"mcpServers": {
        "demo": support::demo(),
        "other": support::demo(),
    }}));
    let options = RuntimeOptions {
        only: Some(vec!["other".into()]),
        ..RuntimeOptions::default()
    };
    let (handle, _events) = runtime::start(&config, options).expect("start");
    let snapshots = handle.wait_settled().await;
    let names: Vec<_> = snapshots.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["other"]);
    handle.shutdown().await;
}

#[tokio::test]
async fn ten_servers_start_concurrently() {
    let servers: serde_json::Map<String, serde_json::Value> = (0..10)
        .map(|i| (format!("demo{i}"), support::demo()))
        .collect();
    let config = support::config(json!({"mcpServers": servers}));
    let (handle, _events) = support::start_settled(&config).await;
    let snapshots = handle.snapshots();
    assert!(snapshots.iter().all(|s| s.state == ServerState::Ready));
    assert_eq!(handle.catalog().tools.len(), 60);
    // Same tool names on every server: qualified names stay unique.
    let mut qualified: Vec<_> = handle
        .catalog()
        .tools
        .iter()
        .map(|t| t.qualified_name.clone())
        .collect();
    qualified.sort();
    qualified.dedup();
    assert_eq!(qualified.len(), 60);
    handle.shutdown().await;
}
