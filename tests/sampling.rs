//! Sampling against a real server: `server-everything`'s `trigger-sampling-request` sends
//! `sampling/createMessage` back to us; the agent asks (an event the dashboard shows as a
//! prompt), and the approved — possibly edited — request goes to the mock LLM with the
//! server's system prompt, maxTokens and temperature applied.

// rmcp marks sampling deprecated (SEP-2577); servers on 2025-11-25 and older use it.
#![allow(deprecated)]

#[path = "support/llm_mock.rs"]
mod llm_mock;
mod support;

use std::time::Duration;

use llm_mock::{MockLlm, Reply};
use mcpomni::agent::AgentHandle;
use mcpomni::protocol::{AgentCommand, AgentEvent, AgentNotice, SamplingId};
use mcpomni::runtime::RuntimeHandle;
use mcpomni::runtime::content::blocks_text;
use rmcp::model::{CreateMessageRequestParams, SamplingContent, SamplingMessageContentBlock};
use serde_json::json;
use tokio::sync::mpsc;

const TOOL: &str = "trigger-sampling-request";

fn config(mock: &MockLlm) -> mcpomni::config::Config {
    support::config(json!({
        "mcpServers": {"everything": support::peers::everything_stdio_entry()},
        "LLM": {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "base_url": format!("{}/v1", mock.base_url()),
        },
    }))
}

async fn start(mock: &MockLlm) -> (RuntimeHandle, AgentHandle, mpsc::Receiver<AgentEvent>) {
    support::start_agent(&config(mock)).await
}

async fn sampling_request(
    events: &mut mpsc::Receiver<AgentEvent>,
) -> (SamplingId, Box<CreateMessageRequestParams>) {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .expect("a sampling request in time")
            .expect("events flow");
        if let AgentEvent::SamplingRequested { id, server, params } = event {
            assert_eq!(server.as_str(), "everything");
            return (id, params);
        }
    }
}

/// Calls the tool in the background; its outcome as text (an error's message included).
fn trigger(handle: &RuntimeHandle, prompt: &str) -> tokio::task::JoinHandle<(bool, String)> {
    let handle = handle.clone();
    let arguments = support::args(json!({"prompt": prompt, "maxTokens": 42}));
    tokio::spawn(async move {
        match handle.call_tool("everything", TOOL, arguments, None).await {
            Ok(result) => (
                !result.is_error.unwrap_or(false),
                blocks_text(&result.content),
            ),
            Err(error) => (false, error.to_string()),
        }
    })
}

fn first_text(params: &CreateMessageRequestParams) -> String {
    match &params.messages[0].content {
        SamplingContent::Single(SamplingMessageContentBlock::Text(text)) => text.text.clone(),
        other => panic!("expected one text block, got {other:?}"),
    }
}

#[tokio::test]
async fn approved_denied_and_edited_sampling_requests() {
    let mock = MockLlm::start().await;
    let (handle, agent, mut events) = start(&mock).await;
    assert!(
        handle
            .catalog()
            .tool_by_qualified(&format!("everything__{TOOL}"))
            .is_some(),
        "server-everything offers {TOOL} only to clients that declare sampling"
    );

    // Approved as it came: the server's request reaches the model, the answer the server.
    mock.push(Reply::text(&["Tests pass ", "at dawn."], (12, 5)));
    let call = trigger(&handle, "write a haiku");
    let (id, params) = sampling_request(&mut events).await;
    assert_eq!(params.max_tokens, 42);
    assert_eq!(
        params.system_prompt.as_deref(),
        Some("You are a helpful test server.")
    );
    assert!(first_text(&params).contains("write a haiku"));
    agent.send(AgentCommand::DecideSampling {
        id,
        approved: Some(params),
    });
    let (ok, text) = call.await.expect("call task");
    assert!(ok, "{text}");
    assert!(text.contains("Tests pass at dawn."), "{text}");
    // The status bar's usage follows sampling too.
    let usage = loop {
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("a usage event")
            .expect("events flow");
        if let AgentEvent::UsageChanged(usage) = event {
            break usage;
        }
    };
    assert_eq!((usage.requests, usage.tokens()), (1, 17));
    let journal = mock.journal();
    assert_eq!(journal.len(), 1);
    let body = &journal[0].body;
    assert_eq!(body["max_tokens"], json!(42), "{body}");
    assert_eq!(body["temperature"], json!(0.7), "{body}");
    let sent = body.to_string();
    assert!(sent.contains("You are a helpful test server."), "{sent}");
    assert!(sent.contains("write a haiku"), "{sent}");

    // Denied: the model is never asked and the server gets an error.
    let call = trigger(&handle, "do not send this");
    let (id, _) = sampling_request(&mut events).await;
    agent.send(AgentCommand::DecideSampling { id, approved: None });
    let (ok, text) = call.await.expect("call task");
    assert!(!ok, "{text}");
    assert!(text.contains("declined"), "{text}");
    assert_eq!(
        mock.journal().len(),
        1,
        "a denied request reached the model"
    );

    // Edited: what the model receives is the user's version.
    mock.push(Reply::text(&["edited answer"], (3, 2)));
    let call = trigger(&handle, "the original prompt");
    let (id, mut params) = sampling_request(&mut events).await;
    params.max_tokens = 7;
    params.messages[0].content = SamplingContent::Single(SamplingMessageContentBlock::Text(
        rmcp::model::TextContent::new("the user's prompt"),
    ));
    agent.send(AgentCommand::DecideSampling {
        id,
        approved: Some(params),
    });
    let (ok, text) = call.await.expect("call task");
    assert!(ok, "{text}");
    assert!(text.contains("edited answer"), "{text}");
    let body = mock.journal()[1].body.to_string();
    assert!(body.contains("the user's prompt"), "{body}");
    assert!(!body.contains("the original prompt"), "{body}");
    assert!(body.contains(r#""max_tokens":7"#), "{body}");
    handle.shutdown().await;
}

#[tokio::test]
async fn sampling_is_not_offered_without_an_llm() {
    let mock = MockLlm::start().await;
    let config = config(&mock);
    let (handle, _events) = support::start_settled(&config).await;
    let catalog = handle.catalog();
    assert!(catalog.tool_by_qualified("everything__echo").is_some());
    assert!(
        catalog
            .tool_by_qualified(&format!("everything__{TOOL}"))
            .is_none()
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn a_request_the_server_gave_up_on_is_withdrawn_and_not_sent_to_the_model() {
    let mock = MockLlm::start().await;
    let (handle, agent, mut events) = start(&mock).await;
    let call = trigger(&handle, "never mind");
    let (id, params) = sampling_request(&mut events).await;
    // The server goes away while the user reads the prompt: the prompt is withdrawn.
    handle.restart("everything").await.expect("restart");
    let (ok, text) = call.await.expect("call task");
    assert!(!ok, "{text}");
    let withdrawn = next_event(&mut events, |event| match event {
        AgentEvent::SamplingWithdrawn { id, server } => Some((id, server)),
        _ => None,
    })
    .await;
    assert_eq!(withdrawn.0, id);
    assert_eq!(withdrawn.1.as_str(), "everything");
    // An answer that was already on its way changes nothing.
    agent.send(AgentCommand::DecideSampling {
        id,
        approved: Some(params),
    });
    // The agent handles its commands in order: once the next one is answered, the late
    // decision has been dealt with.
    agent.send(AgentCommand::ClearConversation);
    next_event(&mut events, |event| match event {
        AgentEvent::Notice(AgentNotice::ConversationCleared) => Some(()),
        _ => None,
    })
    .await;
    assert!(mock.journal().is_empty(), "the model was asked anyway");
    handle.shutdown().await;
}

#[tokio::test]
async fn a_model_request_is_stopped_when_the_server_stops_waiting() {
    let mock = MockLlm::start().await;
    mock.push(Reply::SlowHeaders {
        delay: Duration::from_secs(60),
        then: Box::new(Reply::text(&["too late"], (1, 1))),
    });
    let (handle, agent, mut events) = start(&mock).await;
    let call = trigger(&handle, "take your time");
    let (id, params) = sampling_request(&mut events).await;
    agent.send(AgentCommand::DecideSampling {
        id,
        approved: Some(params),
    });
    // The model is thinking when the server goes away.
    tokio::time::timeout(Duration::from_secs(10), async {
        while mock.journal().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the approved request reaches the model");
    handle.restart("everything").await.expect("restart");
    let (ok, text) = call.await.expect("call task");
    assert!(!ok, "{text}");
    let notice = next_event(&mut events, |event| match event {
        AgentEvent::Notice(notice) => Some(notice),
        _ => None,
    })
    .await;
    assert!(
        matches!(notice, AgentNotice::SamplingAbandoned { .. }),
        "{notice:?}"
    );
    assert!(notice.text().contains("LLM request was stopped"));
    handle.shutdown().await;
}

/// The first event `pick` accepts, within ten seconds.
async fn next_event<T>(
    events: &mut mpsc::Receiver<AgentEvent>,
    pick: impl Fn(AgentEvent) -> Option<T>,
) -> T {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("the event in time")
            .expect("events flow");
        if let Some(found) = pick(event) {
            return found;
        }
    }
}
