//! Each agent step is logged in its own span — the turn, every model request, every tool call —
//! with durations and outcomes and without the conversation's text, the arguments or the
//! results. The subscriber is process-wide, so this file holds this one test.

#[path = "support/captured_log.rs"]
mod captured_log;
#[path = "support/llm_mock.rs"]
mod llm_mock;
mod support;

use std::time::Duration;

use captured_log::CapturedLog;
use llm_mock::{MockCall, MockLlm, Reply};
use mcpomni::protocol::{AgentCommand, AgentEvent, AgentMode, TurnId};
use serde_json::json;

#[tokio::test]
async fn each_agent_step_is_logged_in_its_span_without_its_content() {
    let captured = CapturedLog::install(tracing::Level::DEBUG);
    let mock = MockLlm::start().await;
    let config = support::config(json!({
        "mcpServers": {"demo": support::demo()},
        "AgentConfig": {"auto_approve": ["demo__echo"]},
        "LLM": {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "base_url": format!("{}/v1", mock.base_url()),
        },
    }));
    mock.push(Reply::tool_calls(
        vec![MockCall::new(
            "c1",
            "demo__echo",
            &[r#"{"message": "PRIVATE-ARGUMENT"}"#],
        )],
        (10, 5),
    ));
    mock.push(Reply::text(&["PRIVATE-ANSWER"], (20, 4)));
    let (handle, agent, mut events) = support::start_agent(&config).await;
    agent.send(AgentCommand::StartTurn {
        turn: TurnId(1),
        text: "PRIVATE-QUESTION".into(),
        mode: AgentMode::Chat,
    });
    tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(event) = events.recv().await {
            if matches!(event, AgentEvent::TurnFinished { .. }) {
                break;
            }
        }
    })
    .await
    .expect("the turn finishes");
    handle.shutdown().await;
    let log = captured.text();
    assert!(
        log.contains(r#"turn{turn=1 mode="chat"}:model_request{step="#)
            && log.contains("model replied")
            && log.contains("input_tokens=10"),
        "{log}"
    );
    assert!(
        log.contains(r#"turn{turn=1 mode="chat"}:tool_call{tool=demo__echo}"#)
            && log.contains("tool call finished")
            && log.contains(r#"outcome="ok""#)
            && log.contains(r#"approved_by="config""#),
        "{log}"
    );
    assert!(
        log.contains("turn finished") && log.contains(r#"outcome="answered""#),
        "{log}"
    );
    for private in ["PRIVATE-ARGUMENT", "PRIVATE-ANSWER", "PRIVATE-QUESTION"] {
        assert!(!log.contains(private), "{private} reached the log:\n{log}");
    }
}
