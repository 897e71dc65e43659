//! The agent loop end to end in one process: a mock LLM speaking the OpenAI wire format
//! (`support/llm_mock.rs`), real MCP servers (the demo server; the black hole with `--record`,
//! which proves what reached a server), and the agent driven through its command/event API
//! the way the dashboard drives it.

#[path = "support/llm_mock.rs"]
mod llm_mock;
mod support;

use std::path::PathBuf;
use std::time::Duration;

use llm_mock::{MockCall, MockLlm, Reply};
use mcpomni::agent::{self, AgentHandle};
use mcpomni::llm::{ChatMessage, ToolCall};
use mcpomni::protocol::{
    AgentCommand, AgentEvent, AgentMode, AgentNotice, ApprovalId, ApprovedBy, CallOutcome,
    Decision, ProposedCall, StepBody, StepStatus, TraceStep, TurnId, TurnOutcome, UsageTotals,
};
use mcpomni::runtime::RuntimeHandle;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// A running agent with its servers and mock LLM.
struct Rig {
    mock: MockLlm,
    handle: RuntimeHandle,
    agent: AgentHandle,
    events: mpsc::Receiver<AgentEvent>,
    /// Events passed over while waiting for an approval prompt.
    skipped: Vec<AgentEvent>,
    /// Every trace step so far, newest version of each, in the order they began.
    traces: Vec<TraceStep>,
    /// Every context meter reading so far: (estimate, window).
    measured: Vec<(u64, Option<u64>)>,
    record: PathBuf,
    _dir: tempfile::TempDir,
}

/// Servers `demo` and `hole` (the black hole answering tool calls and recording them), the
/// mock LLM as an OpenAI-compatible provider, and `agent` merged into `AgentConfig`.
async fn rig(agent_config: Value, llm_extra: Value) -> Rig {
    rig_with(agent_config, llm_extra, |_| {}).await
}

async fn rig_with(
    agent_config: Value,
    llm_extra: Value,
    tweak: impl FnOnce(&mut mcpomni::agent::AgentSettings),
) -> Rig {
    let mock = MockLlm::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let record = dir.path().join("received.txt");
    let record_arg = record.display().to_string();
    let mut llm = json!({
        "provider": "openai",
        "model": "gpt-4o-mini",
        "base_url": format!("{}/v1", mock.base_url()),
    });
    if let (Some(llm), Value::Object(extra)) = (llm.as_object_mut(), llm_extra) {
        llm.extend(extra);
    }
    let config = support::config(json!({
        "mcpServers": {
            "demo": support::demo(),
            "hole": support::black_hole(&[
                "--answer", "initialize,tools/list,resources/list,prompts/list,tools/call,ping",
                "--record", &record_arg,
            ]),
        },
        "AgentConfig": agent_config,
        "LLM": llm,
    }));
    let (handle, agent, events) = support::start_agent_with(&config, tweak).await;
    Rig {
        mock,
        handle,
        agent,
        events,
        skipped: Vec::new(),
        traces: Vec::new(),
        measured: Vec::new(),
        record,
        _dir: dir,
    }
}

impl Rig {
    fn start(&self, turn: u64, text: &str, mode: AgentMode) -> TurnId {
        let turn = TurnId(turn);
        self.agent.send(AgentCommand::StartTurn {
            turn,
            text: text.into(),
            mode,
        });
        turn
    }

    /// The next agent event (server and catalog events are skipped).
    async fn next(&mut self) -> AgentEvent {
        loop {
            let event = tokio::time::timeout(Duration::from_secs(15), self.events.recv())
                .await
                .expect("an agent event in time")
                .expect("events flow");
            match event {
                AgentEvent::Trace(step) => match self.traces.iter_mut().find(|s| s.id == step.id) {
                    Some(known) => *known = (*step).clone(),
                    None => self.traces.push((*step).clone()),
                },
                AgentEvent::ContextMeasured {
                    estimate, window, ..
                } => self.measured.push((estimate, window)),
                AgentEvent::AssistantDelta { .. } | AgentEvent::ToolCallProgress { .. } => {}
                other => return other,
            }
        }
    }

    /// The next approval prompt; tool calls that run before it are kept for `until_finished`.
    async fn approval(&mut self) -> (ApprovalId, ProposedCall, usize, usize) {
        loop {
            match self.next().await {
                AgentEvent::ApprovalRequested {
                    approval,
                    call,
                    index,
                    total,
                    ..
                } => return (approval, call, index, total),
                event @ (AgentEvent::ToolCallStarted { .. }
                | AgentEvent::ToolCallFinished { .. }) => {
                    self.skipped.push(event);
                }
                other => panic!("expected an approval prompt, got {other:?}"),
            }
        }
    }

    fn decide(&self, approval: ApprovalId, decision: Decision) {
        self.agent.send(AgentCommand::Decide { approval, decision });
    }

    /// Events up to and including `TurnFinished`.
    async fn until_finished(&mut self) -> (Vec<AgentEvent>, TurnOutcome, UsageTotals, UsageTotals) {
        let mut seen = std::mem::take(&mut self.skipped);
        loop {
            match self.next().await {
                AgentEvent::TurnFinished {
                    outcome,
                    turn_usage,
                    session_usage,
                    ..
                } => return (seen, outcome, turn_usage, session_usage),
                AgentEvent::ApprovalRequested { call, .. } => {
                    panic!("unexpected approval prompt for {}", call.qualified_name)
                }
                other => seen.push(other),
            }
        }
    }

    /// What the black hole received: its `tools/call` lines.
    fn hole_calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("tools/call"))
            .map(str::to_owned)
            .collect()
    }

    /// The body of the `n`th request the mock LLM received, as text.
    fn request_text(&self, n: usize) -> String {
        let journal = self.mock.journal();
        journal
            .get(n)
            .unwrap_or_else(|| panic!("request {n} of {}", journal.len()))
            .body
            .to_string()
    }
}

fn call(id: &str, name: &str, args: &[&str]) -> Reply {
    Reply::tool_calls(vec![MockCall::new(id, name, args)], (10, 5))
}

fn answer(text: &str) -> Reply {
    Reply::text(&[text], (20, 4))
}

fn started_by(events: &[AgentEvent]) -> Vec<(String, ApprovedBy)> {
    events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::ToolCallStarted {
                call, approved_by, ..
            } => Some((call.qualified_name.clone(), *approved_by)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn approved_call_runs_and_the_model_gets_its_result() {
    let mut rig = rig(json!({}), json!({})).await;
    rig.mock.push(call(
        "c1",
        "demo__echo",
        &[r#"{"mess"#, r#"age": "hi there"}"#],
    ));
    rig.mock.push(answer("The server said hi there."));
    rig.start(1, "echo hi there", AgentMode::Chat);
    let (approval, proposed, index, total) = rig.approval().await;
    assert_eq!(proposed.server.as_str(), "demo");
    assert_eq!(proposed.tool, "echo");
    assert_eq!(proposed.arguments, json!({"message": "hi there"}));
    assert_eq!(proposed.title.as_deref(), Some("Echo"));
    assert_eq!(proposed.read_only, Some(true));
    assert_eq!(proposed.destructive, Some(false));
    assert_eq!((index, total), (0, 1));
    rig.decide(approval, Decision::Approve);
    let (events, outcome, turn_usage, _) = rig.until_finished().await;
    assert_eq!(outcome, TurnOutcome::Answered);
    assert_eq!(
        started_by(&events),
        [("demo__echo".to_owned(), ApprovedBy::User)]
    );
    // Started and finished name the same call id.
    let started_id = events.iter().find_map(|e| match e {
        AgentEvent::ToolCallStarted { call, .. } => Some(call.id),
        _ => None,
    });
    assert_eq!(started_id, Some(proposed.id));
    assert!(events.iter().any(|e| matches!(
        e,
        AgentEvent::ToolCallFinished { call, outcome: CallOutcome::Ok { summary }, .. }
            if summary == "hi there" && *call == proposed.id
    )));
    // Two model requests, and the second carries the tool's result for call c1.
    assert_eq!(turn_usage.requests, 2);
    assert_eq!(turn_usage.input_tokens, 30);
    assert_eq!(turn_usage.output_tokens, 9);
    let second = rig.request_text(1);
    assert!(second.contains(r#""tool_call_id":"c1""#), "{second}");
    assert!(second.contains("hi there"), "{second}");
    // The tools were offered by qualified name, with their schemas.
    let first = rig.request_text(0);
    assert!(first.contains(r#""name":"demo__echo""#), "{first}");
    assert!(first.contains(r#""name":"hole__hang""#), "{first}");
    // The trace is a tree of typed steps: turn → request → reply → call → approval, result.
    let shape: Vec<(&str, Option<u64>, StepStatus)> = rig
        .traces
        .iter()
        .map(|s| (s.body.kind(), s.parent.map(|p| p.0), s.status))
        .collect();
    let id = |i: usize| Some(rig.traces[i].id.0);
    assert_eq!(
        shape,
        vec![
            ("turn", None, StepStatus::Ok),
            ("model_request", id(0), StepStatus::Ok),
            ("model_reply", id(1), StepStatus::Ok),
            ("tool_call", id(2), StepStatus::Ok),
            ("approval", id(3), StepStatus::Ok),
            ("tool_result", id(3), StepStatus::Ok),
            ("model_request", id(0), StepStatus::Ok),
            ("model_reply", id(6), StepStatus::Ok),
        ]
    );
    assert!(rig.traces.iter().all(|s| s.ended_ms >= Some(s.started_ms)));
    // The request step holds exactly what was sent; the reply its text, calls and tokens.
    match &rig.traces[1].body {
        StepBody::ModelRequest { model, request } => {
            assert_eq!(model, "openai/gpt-4o-mini");
            assert_eq!(request.messages.len(), 1);
            assert!(request.tools.iter().any(|t| t.name == "demo__echo"));
        }
        other => panic!("expected the first request, got {other:?}"),
    }
    assert_eq!(
        rig.traces[1]
            .tokens
            .map(|t| (t.input_tokens, t.output_tokens)),
        Some((10, 5))
    );
    match &rig.traces[2].body {
        StepBody::ModelReply { tool_calls, .. } => {
            assert_eq!(tool_calls[0].arguments, json!({"message": "hi there"}));
        }
        other => panic!("expected a reply, got {other:?}"),
    }
    match (
        &rig.traces[3].body,
        &rig.traces[4].body,
        &rig.traces[5].body,
    ) {
        (
            StepBody::ToolCall {
                call, approved_by, ..
            },
            StepBody::Approval {
                decision,
                call: approved,
            },
            StepBody::ToolResult {
                content,
                call: result_of,
                ..
            },
        ) => {
            assert_eq!(*call, proposed.id);
            assert_eq!((*approved, *result_of), (proposed.id, proposed.id));
            assert_eq!(*approved_by, Some(ApprovedBy::User));
            assert_eq!(*decision, Decision::Approve);
            assert_eq!(content, "hi there");
        }
        other => panic!("expected call, approval and result, got {other:?}"),
    }
    match &rig.traces[0].body {
        StepBody::Turn { outcome, .. } => assert_eq!(outcome, &Some(TurnOutcome::Answered)),
        other => panic!("expected the turn, got {other:?}"),
    }
    // Every step survives a save as one JSON line.
    for step in &rig.traces {
        assert_eq!(
            &TraceStep::from_json_line(&step.to_json_line()).expect("parses"),
            step
        );
    }
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn a_denied_call_never_reaches_the_server_and_the_model_still_answers() {
    let mut rig = rig(json!({}), json!({})).await;
    rig.mock
        .push(call("c1", "hole__hang", &[r#"{"secret": 1}"#]));
    rig.mock.push(answer("I could not run it."));
    rig.start(1, "run hang", AgentMode::Chat);
    let (approval, proposed, _, _) = rig.approval().await;
    assert_eq!(proposed.qualified_name, "hole__hang");
    rig.decide(approval, Decision::Deny);
    let (events, outcome, _, _) = rig.until_finished().await;
    assert_eq!(outcome, TurnOutcome::Answered);
    assert!(started_by(&events).is_empty());
    assert!(events.iter().any(|e| matches!(
        e,
        AgentEvent::ToolCallFinished { outcome: CallOutcome::Denied, qualified_name, call, .. }
            if qualified_name == "hole__hang" && *call == proposed.id
    )));
    let second = rig.request_text(1);
    assert!(second.contains(agent::tool_call::DENIED), "{second}");
    let kinds: Vec<(&str, StepStatus)> = rig
        .traces
        .iter()
        .map(|s| (s.body.kind(), s.status))
        .collect();
    assert!(
        kinds.contains(&("approval", StepStatus::Denied))
            && kinds.contains(&("tool_call", StepStatus::Denied))
            && !kinds.iter().any(|(kind, _)| *kind == "tool_result"),
        "a denied call has no result step: {kinds:?}"
    );
    // The server sees messages in order: once a probe call reaches it, anything the agent had
    // sent before would have reached it too.
    rig.handle
        .call_tool("hole", "hang", support::args(json!({"probe": true})), None)
        .await
        .expect("the probe call is answered");
    let calls = rig.hole_calls();
    assert_eq!(calls.len(), 1, "only the probe: {calls:?}");
    assert!(calls[0].contains("probe"), "{calls:?}");
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn always_allows_the_tool_for_the_rest_of_the_session_only() {
    let mut rig = rig(json!({}), json!({})).await;
    rig.mock.push(call("c1", "hole__hang", &[r#"{"n": 1}"#]));
    rig.mock.push(answer("one"));
    rig.start(1, "first", AgentMode::Chat);
    let (approval, _, _, _) = rig.approval().await;
    rig.decide(approval, Decision::Always);
    let (events, outcome, _, _) = rig.until_finished().await;
    assert_eq!(outcome, TurnOutcome::Answered);
    assert_eq!(
        started_by(&events),
        [("hole__hang".to_owned(), ApprovedBy::User)]
    );
    // The same tool runs without a prompt next time; another tool still asks.
    rig.mock.push(call("c2", "hole__hang", &[r#"{"n": 2}"#]));
    rig.mock
        .push(call("c3", "demo__echo", &[r#"{"message": "x"}"#]));
    rig.mock.push(answer("two"));
    rig.start(2, "second", AgentMode::Chat);
    let (approval, proposed, _, _) = rig.approval().await;
    assert_eq!(proposed.qualified_name, "demo__echo");
    rig.decide(approval, Decision::Approve);
    let (events, outcome, _, _) = rig.until_finished().await;
    assert_eq!(outcome, TurnOutcome::Answered);
    assert_eq!(
        started_by(&events),
        [
            ("hole__hang".to_owned(), ApprovedBy::Session),
            ("demo__echo".to_owned(), ApprovedBy::User)
        ]
    );
    let calls = rig.hole_calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[1].contains(r#""n": 2"#), "{calls:?}");
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn edited_arguments_are_what_the_server_receives() {
    let mut rig = rig(json!({}), json!({})).await;
    rig.mock
        .push(call("c1", "hole__hang", &[r#"{"path": "/etc/passwd"}"#]));
    rig.mock.push(answer("done"));
    rig.start(1, "go", AgentMode::Chat);
    let (approval, _, _, _) = rig.approval().await;
    let edited = support::args(json!({"path": "/tmp/safe"}));
    rig.decide(approval, Decision::Edited(edited));
    let (_, outcome, _, _) = rig.until_finished().await;
    assert_eq!(outcome, TurnOutcome::Answered);
    let calls = rig.hole_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].contains("/tmp/safe"), "{calls:?}");
    assert!(!calls[0].contains("/etc/passwd"), "{calls:?}");
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn several_calls_in_one_reply_are_asked_in_order() {
    let mut rig = rig(json!({}), json!({})).await;
    rig.mock.push(Reply::tool_calls(
        vec![
            MockCall::new("c1", "hole__hang", &[r#"{"which": "first"}"#]),
            MockCall::new("c2", "hole__hang", &[r#"{"which": "second"}"#]),
        ],
        (10, 5),
    ));
    rig.mock.push(answer("ok"));
    rig.start(1, "two calls", AgentMode::Chat);
    let (approval, proposed, index, total) = rig.approval().await;
    assert_eq!((index, total), (0, 2));
    assert_eq!(proposed.arguments, json!({"which": "first"}));
    rig.decide(approval, Decision::Deny);
    let (approval, proposed, index, total) = rig.approval().await;
    assert_eq!((index, total), (1, 2));
    assert_eq!(proposed.arguments, json!({"which": "second"}));
    rig.decide(approval, Decision::Approve);
    let (_, outcome, _, _) = rig.until_finished().await;
    assert_eq!(outcome, TurnOutcome::Answered);
    let calls = rig.hole_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].contains("second"), "{calls:?}");
    let second = rig.request_text(1);
    assert!(second.contains(r#""tool_call_id":"c1""#) && second.contains(r#""tool_call_id":"c2""#));
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn cancelling_at_the_prompt_ends_the_turn_and_the_next_turn_still_works() {
    let mut rig = rig(json!({}), json!({})).await;
    rig.mock.push(call("c1", "hole__hang", &[r#"{}"#]));
    let turn = rig.start(1, "go", AgentMode::Chat);
    let (approval, _, _, _) = rig.approval().await;
    // What Esc sends from the dashboard.
    rig.agent.send(AgentCommand::CancelTurn { turn });
    rig.decide(approval, Decision::CancelTurn);
    let (_, outcome, _, _) = rig.until_finished().await;
    assert_eq!(outcome, TurnOutcome::Cancelled);
    assert!(rig.hole_calls().is_empty());
    // The history stays valid: call c1 gets a result in the next request.
    rig.mock.push(answer("fine"));
    rig.start(2, "next", AgentMode::Chat);
    let (_, outcome, _, _) = rig.until_finished().await;
    assert_eq!(outcome, TurnOutcome::Answered);
    let next = rig.request_text(1);
    assert!(next.contains(r#""tool_call_id":"c1""#), "{next}");
    assert!(next.contains("cancelled the turn"), "{next}");
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn cancelling_a_running_call_ends_the_turn_at_once() {
    let mut rig = rig(json!({}), json!({})).await;
    rig.mock
        .push(call("c1", "demo__sleep", &[r#"{"ms": 30000}"#]));
    let turn = rig.start(1, "sleep", AgentMode::Auto);
    match rig.next().await {
        AgentEvent::ToolCallStarted { call, .. } => assert_eq!(call.qualified_name, "demo__sleep"),
        other => panic!("expected the call to start, got {other:?}"),
    }
    let cancelled = std::time::Instant::now();
    rig.agent.send(AgentCommand::CancelTurn { turn });
    let (events, outcome, _, _) = rig.until_finished().await;
    assert_eq!(outcome, TurnOutcome::Cancelled);
    assert!(cancelled.elapsed() < Duration::from_secs(3));
    assert!(
        events.iter().any(|e| matches!(
            e,
            AgentEvent::ToolCallFinished {
                outcome: CallOutcome::Cancelled,
                ..
            }
        )),
        "{events:?}"
    );
    // The model was not asked again: the turn ended with the cancelled call.
    assert_eq!(rig.mock.journal().len(), 1);
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn auto_mode_runs_without_asking_except_always_ask_tools() {
    let mut rig = rig(json!({"always_ask": ["hole__*"]}), json!({})).await;
    rig.mock.push(Reply::tool_calls(
        vec![
            MockCall::new("c1", "demo__add", &[r#"{"a": 2, "b": 3}"#]),
            MockCall::new("c2", "hole__hang", &[r#"{}"#]),
        ],
        (10, 5),
    ));
    rig.mock.push(answer("5"));
    rig.start(1, "add", AgentMode::Auto);
    // demo__add runs on its own; the hole still asks.
    let mut started = Vec::new();
    let approval = loop {
        match rig.next().await {
            AgentEvent::ApprovalRequested { approval, call, .. } => {
                assert_eq!(call.qualified_name, "hole__hang");
                break approval;
            }
            AgentEvent::ToolCallStarted {
                call, approved_by, ..
            } => started.push((call.qualified_name, approved_by)),
            _ => {}
        }
    };
    assert_eq!(started, [("demo__add".to_owned(), ApprovedBy::AutoMode)]);
    rig.decide(approval, Decision::Deny);
    let (_, outcome, _, _) = rig.until_finished().await;
    assert_eq!(outcome, TurnOutcome::Answered);
    assert!(rig.request_text(1).contains("2 + 3 = 5"));
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn config_allow_lists_and_read_only_tools_skip_the_prompt() {
    let mut rig = rig(
        json!({"auto_approve": ["hole__hang"], "auto_approve_read_only": true}),
        json!({}),
    )
    .await;
    rig.mock.push(Reply::tool_calls(
        vec![
            MockCall::new("c1", "hole__hang", &[r#"{}"#]),
            MockCall::new("c2", "demo__echo", &[r#"{"message": "m"}"#]),
        ],
        (10, 5),
    ));
    rig.mock.push(answer("ok"));
    rig.start(1, "go", AgentMode::Chat);
    let (events, outcome, _, _) = rig.until_finished().await;
    assert_eq!(outcome, TurnOutcome::Answered);
    assert_eq!(
        started_by(&events),
        [
            ("hole__hang".to_owned(), ApprovedBy::Config),
            ("demo__echo".to_owned(), ApprovedBy::Config)
        ]
    );
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn unknown_tools_and_bad_arguments_are_reported_not_run() {
    let mut rig = rig(json!({}), json!({})).await;
    rig.mock.push(Reply::tool_calls(
        vec![
            MockCall::new("c1", "nope__missing", &[r#"{}"#]),
            MockCall::new("c2", "hole__hang", &[r#"[1, 2]"#]),
        ],
        (10, 5),
    ));
    rig.mock.push(answer("sorry"));
    rig.start(1, "go", AgentMode::Auto);
    let (events, outcome, _, _) = rig.until_finished().await;
    assert_eq!(outcome, TurnOutcome::Answered);
    let failures: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::ToolCallFinished {
                outcome: CallOutcome::Refused { reason },
                ..
            } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(failures[0].contains("There is no tool named `nope__missing`"));
    assert!(failures[1].contains("must be a JSON object"));
    let second = rig.request_text(1);
    assert!(second.contains("There is no tool named"), "{second}");
    assert!(rig.hole_calls().is_empty());
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn max_steps_stops_a_model_that_never_answers() {
    let mut rig = rig(json!({"max_steps": 3}), json!({})).await;
    // Different arguments each time: the same call three times would stop as a loop first.
    for i in 0..3 {
        let args = format!(r#"{{"message": "again {i}"}}"#);
        rig.mock
            .push(call(&format!("c{i}"), "demo__echo", &[args.as_str()]));
    }
    rig.start(1, "loop", AgentMode::Auto);
    let (_, outcome, turn_usage, _) = rig.until_finished().await;
    match outcome {
        TurnOutcome::Limit(why) => assert!(why.contains("max_steps"), "{why}"),
        other => panic!("expected the step limit, got {other:?}"),
    }
    assert_eq!(turn_usage.requests, 3);
    assert_eq!(rig.mock.journal().len(), 3);
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn request_and_token_limits_stop_the_session_with_a_clear_message() {
    let mut rig = rig(json!({"request_limit": 2}), json!({})).await;
    rig.mock
        .push(call("c1", "demo__echo", &[r#"{"message": "x"}"#]));
    rig.mock.push(answer("first"));
    rig.start(1, "one", AgentMode::Auto);
    let (_, outcome, _, session) = rig.until_finished().await;
    assert_eq!(outcome, TurnOutcome::Answered);
    assert_eq!(session.requests, 2);
    rig.start(2, "two", AgentMode::Auto);
    let (_, outcome, turn_usage, _) = rig.until_finished().await;
    match outcome {
        TurnOutcome::Limit(why) => assert!(why.contains("request_limit"), "{why}"),
        other => panic!("expected the request limit, got {other:?}"),
    }
    assert_eq!(turn_usage.requests, 0);
    assert_eq!(rig.mock.journal().len(), 2, "no request past the limit");
    rig.handle.shutdown().await;

    // A limit smaller than the system prompt and the tools: not even the first request goes.
    let mut tiny = self::rig(json!({"total_tokens_limit": 50}), json!({})).await;
    tiny.start(1, "one", AgentMode::Chat);
    match tiny.until_finished().await.1 {
        TurnOutcome::Limit(why) => assert!(why.contains("total_tokens_limit"), "{why}"),
        other => panic!("expected the token limit, got {other:?}"),
    }
    assert!(tiny.mock.journal().is_empty(), "nothing was sent");
    tiny.handle.shutdown().await;
}

#[tokio::test]
async fn total_tokens_limit_stops_a_request_before_it_is_sent() {
    // 10,000 of 12,000 used, and a request of about 5,000 tokens: it used to go out and end
    // the session at 15,000; now it is not sent.
    let mut rig = rig(json!({"total_tokens_limit": 12_000}), json!({})).await;
    rig.mock.push(Reply::text(&["first"], (100, 9_900)));
    rig.start(1, "one", AgentMode::Chat);
    let (_, outcome, _, session) = rig.until_finished().await;
    assert_eq!(outcome, TurnOutcome::Answered);
    assert_eq!(session.tokens(), 10_000);
    rig.mock.push(answer("never asked"));
    rig.start(2, &words(2_500), AgentMode::Chat);
    let (_, outcome, turn_usage, session) = rig.until_finished().await;
    match outcome {
        TurnOutcome::Limit(why) => {
            assert!(why.contains("the next request (about"), "{why}");
            assert!(
                why.contains(
                    "would take the session past its limit of 12000 tokens (10000 used; \
                     AgentConfig.total_tokens_limit)"
                ),
                "{why}"
            );
        }
        other => panic!("expected the token limit, got {other:?}"),
    }
    assert_eq!(turn_usage.requests, 0);
    assert_eq!(
        session.tokens(),
        10_000,
        "the session stays under its limit"
    );
    assert_eq!(
        rig.mock.journal().len(),
        1,
        "the second request was not sent"
    );
    let (estimate, _) = *rig.measured.last().expect("the request was measured");
    assert!(estimate > 5_000, "{estimate}");
    rig.handle.shutdown().await;
}

/// `n` distinct words (about two tokens each).
fn words(n: usize) -> String {
    (0..n).map(|i| format!("word{i} ")).collect()
}

/// The messages of the `n`th request the mock LLM received (OpenAI format, system first).
fn sent_messages(rig: &Rig, n: usize) -> Vec<Value> {
    let body: Value = rig.mock.journal()[n].body.clone();
    body["messages"].as_array().expect("messages").clone()
}

/// A conversation of `turns` turns; every third one called a tool.
fn long_history(turns: usize) -> Vec<ChatMessage> {
    let mut history = Vec::new();
    for i in 0..turns {
        history.push(ChatMessage::user(format!("question {i}: {}", words(20))));
        if i % 3 == 0 {
            history.push(ChatMessage::Assistant {
                text: String::new(),
                tool_calls: vec![ToolCall {
                    id: format!("old{i}"),
                    name: "demo__echo".into(),
                    arguments: json!({"message": format!("echo {i}")}),
                }],
                provider_state: None,
            });
            history.push(ChatMessage::ToolResult {
                call_id: format!("old{i}"),
                name: "demo__echo".into(),
                content: format!("echo {i}"),
                is_error: false,
            });
        }
        history.push(ChatMessage::assistant(format!("answer {i}: {}", words(20))));
    }
    history
}

/// The request starts at a user message, and every tool result has its call before it.
fn assert_well_formed(messages: &[Value]) {
    assert_eq!(messages[0]["role"], "system");
    assert_eq!(messages[1]["role"], "user", "{:?}", messages[1]);
    for (i, message) in messages.iter().enumerate() {
        if message["role"] == "tool" {
            let id = &message["tool_call_id"];
            let asked = messages[..i].iter().any(|m| {
                m["tool_calls"]
                    .as_array()
                    .is_some_and(|calls| calls.iter().any(|c| &c["id"] == id))
            });
            assert!(asked, "result {id} without its call");
        }
    }
}

#[tokio::test]
async fn a_long_history_is_trimmed_to_the_sliding_window_before_it_is_sent() {
    let history = long_history(100);
    let total = history.len();
    let mut rig = rig_with(
        json!({"memory_config": {"mode": "sliding_window", "value": 8}}),
        json!({}),
        |settings| settings.history = history,
    )
    .await;
    rig.mock.push(answer("ok"));
    rig.start(1, "what did I ask first?", AgentMode::Chat);
    let (_, outcome, _, _) = rig.until_finished().await;
    assert_eq!(outcome, TurnOutcome::Answered);
    let sent = sent_messages(&rig, 0);
    assert_well_formed(&sent);
    // At most 8 messages of history, the oldest gone, the newest and this turn there.
    assert!(sent.len() - 1 <= 8, "{} messages sent", sent.len() - 1);
    let text = rig.request_text(0);
    assert!(!text.contains("question 0:"), "the oldest turn went");
    assert!(text.contains("question 99:") && text.contains("answer 99:"));
    assert_eq!(
        sent.last().map(|m| m["content"].clone()),
        Some(json!("what did I ask first?"))
    );
    // What was left out is a step of the trace, just before the request.
    let at = rig
        .traces
        .iter()
        .position(|s| s.body.kind() == "context")
        .expect("a context step");
    let StepBody::Context {
        mode,
        dropped_messages,
        kept_messages,
        ..
    } = &rig.traces[at].body
    else {
        unreachable!()
    };
    assert_eq!(mode, "sliding_window");
    assert_eq!(*kept_messages as usize, sent.len() - 1);
    assert_eq!(*dropped_messages as usize, total + 1 - (sent.len() - 1));
    assert_eq!(rig.traces[at + 1].body.kind(), "model_request");
    assert_eq!(rig.traces[at].parent, rig.traces[at + 1].parent);
    // The meter read the request, with no window configured.
    let (estimate, window) = rig.measured[0];
    assert_eq!(window, None);
    assert!(estimate > 0);
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn a_token_budget_and_the_window_trim_the_history_and_cut_a_huge_result() {
    let mut rig = rig_with(
        json!({"memory_config": {"mode": "token_budget", "value": 3_000}}),
        json!({"max_context_length": 16_000, "max_tokens": 1_000}),
        |settings| settings.history = long_history(100),
    )
    .await;
    rig.mock
        .push(call("c1", "demo__lorem", &[r#"{"bytes": 200000}"#]));
    rig.mock.push(answer("It is lorem ipsum."));
    rig.start(1, "read the big text", AgentMode::Auto);
    let (_, outcome, _, _) = rig.until_finished().await;
    assert_eq!(outcome, TurnOutcome::Answered);
    // The first request: only as much history as 3,000 tokens hold.
    let first = sent_messages(&rig, 0);
    assert_well_formed(&first);
    assert!(first.len() < 100, "{} messages", first.len());
    assert!(rig.request_text(0).contains("question 99:"));
    assert!(!rig.request_text(0).contains("question 50:"));
    match rig
        .traces
        .iter()
        .find(|s| s.body.kind() == "context")
        .map(|s| &s.body)
    {
        Some(StepBody::Context {
            kept_messages,
            dropped_messages,
            cut,
            ..
        }) => {
            assert_eq!(*kept_messages as usize, first.len() - 1);
            assert_eq!(
                (*dropped_messages + *kept_messages) as usize,
                long_history(100).len() + 1
            );
            assert!(*dropped_messages > 150, "{dropped_messages}");
            assert!(cut.is_empty());
        }
        other => panic!("expected a context step, got {other:?}"),
    }
    // The second: the history all gone, the 200 kB result cut with a marker, never dropped.
    let second = sent_messages(&rig, 1);
    assert_well_formed(&second);
    assert_eq!(second[1]["content"], "read the big text");
    let result = second
        .iter()
        .find(|m| m["role"] == "tool")
        .and_then(|m| m["content"].as_str())
        .expect("the result was sent");
    assert!(result.contains("cut here by mcpomni"), "{}", &result[..200]);
    assert!(result.len() < 100_000, "{} bytes sent", result.len());
    let cut_steps: Vec<&TraceStep> = rig
        .traces
        .iter()
        .filter(|s| matches!(&s.body, StepBody::Context { cut, .. } if !cut.is_empty()))
        .collect();
    assert_eq!(cut_steps.len(), 1, "{:?}", rig.traces);
    // Every reading stays within the window less the reply's share.
    assert_eq!(rig.measured.len(), 2);
    for (estimate, window) in &rig.measured {
        assert_eq!(*window, Some(16_000));
        assert!(*estimate <= 15_000, "{estimate}");
    }
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn usage_is_priced_per_turn_and_per_session() {
    let mut rig = rig(json!({}), json!({"price": {"input": 1.0, "output": 2.0}})).await;
    rig.mock.push(Reply::text(&["a"], (1_000_000, 500_000)));
    rig.start(1, "one", AgentMode::Chat);
    let (_, _, turn, session) = rig.until_finished().await;
    assert_eq!(turn.cost, Some(2.0));
    assert_eq!(session.cost, Some(2.0));
    rig.mock.push(Reply::text(&["b"], (500_000, 0)));
    rig.start(2, "two", AgentMode::Chat);
    let (_, _, turn, session) = rig.until_finished().await;
    assert_eq!(turn.cost, Some(0.5));
    assert_eq!(session.cost, Some(2.5));
    assert_eq!(session.requests, 2);
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn the_conversation_carries_over_turns_until_cleared() {
    let mut rig = rig(json!({}), json!({})).await;
    rig.mock.push(answer("Nice to meet you, Ada."));
    rig.start(1, "My name is Ada.", AgentMode::Chat);
    rig.until_finished().await;
    rig.mock.push(answer("Ada."));
    rig.start(2, "What is my name?", AgentMode::Chat);
    rig.until_finished().await;
    let second = rig.request_text(1);
    assert!(second.contains("My name is Ada.") && second.contains("Nice to meet you"));
    rig.agent.send(AgentCommand::ClearConversation);
    match rig.next().await {
        AgentEvent::Notice(notice) => assert_eq!(notice, AgentNotice::ConversationCleared),
        other => panic!("expected a notice, got {other:?}"),
    }
    rig.mock.push(answer("I don't know."));
    rig.start(3, "What is my name?", AgentMode::Chat);
    rig.until_finished().await;
    assert!(!rig.request_text(2).contains("My name is Ada."));
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn a_failing_model_ends_the_turn_with_its_error() {
    let mut rig = rig(json!({}), json!({})).await;
    rig.mock.push(Reply::status(
        401,
        json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}}),
    ));
    rig.start(1, "hi", AgentMode::Chat);
    match rig.until_finished().await.1 {
        TurnOutcome::Failed(error) => {
            assert!(error.to_lowercase().contains("key"), "{error}");
            assert!(!error.contains("sk-test"), "the key leaked: {error}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn two_calls_to_the_same_tool_report_their_own_progress_and_results() {
    let mut rig = rig(json!({}), json!({})).await;
    rig.mock.push(Reply::tool_calls(
        vec![
            MockCall::new(
                "c1",
                "demo__count_with_progress",
                &[r#"{"steps": 2, "delay_ms": 5}"#],
            ),
            MockCall::new(
                "c2",
                "demo__count_with_progress",
                &[r#"{"steps": 3, "delay_ms": 5}"#],
            ),
        ],
        (10, 5),
    ));
    rig.mock.push(answer("counted"));
    rig.start(1, "count twice", AgentMode::Auto);
    let mut progress = Vec::new();
    let mut started = Vec::new();
    let mut finished = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(15), rig.events.recv())
            .await
            .expect("an event in time")
            .expect("events flow");
        match event {
            AgentEvent::ToolCallStarted { call, .. } => started.push(call.id),
            AgentEvent::ToolCallProgress {
                call,
                progress: value,
                total,
                ..
            } => progress.push((call, value, total)),
            AgentEvent::ToolCallFinished { call, outcome, .. } => finished.push((call, outcome)),
            AgentEvent::TurnFinished { outcome, .. } => {
                assert_eq!(outcome, TurnOutcome::Answered);
                break;
            }
            _ => {}
        }
    }
    assert_eq!(started.len(), 2);
    assert_ne!(started[0], started[1], "each call has its own id");
    let of = |id| -> Vec<f64> {
        progress
            .iter()
            .filter(|(call, _, _)| *call == id)
            .map(|(_, value, _)| *value)
            .collect()
    };
    assert_eq!(of(started[0]), [1.0, 2.0], "{progress:?}");
    assert_eq!(of(started[1]), [1.0, 2.0, 3.0], "{progress:?}");
    assert_eq!(
        finished,
        [
            (
                started[0],
                CallOutcome::Ok {
                    summary: "counted to 2".into()
                }
            ),
            (
                started[1],
                CallOutcome::Ok {
                    summary: "counted to 3".into()
                }
            ),
        ]
    );
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn retries_and_reasoning_are_steps_of_the_trace() {
    let mut rig = rig(json!({}), json!({})).await;
    rig.mock.push(
        Reply::status(
            429,
            json!({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}),
        )
        .with_header("retry-after", "0"),
    );
    rig.mock.push(Reply::raw_sse(&[
        r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"The user greets me."},"finish_reason":null}]}"#,
        r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hello!"},"finish_reason":"stop"}]}"#,
        r#"data: [DONE]"#,
    ]));
    rig.start(1, "hi", AgentMode::Chat);
    let (_, outcome, _, _) = rig.until_finished().await;
    assert_eq!(outcome, TurnOutcome::Answered);
    let request = rig
        .traces
        .iter()
        .find(|s| s.body.kind() == "model_request")
        .expect("a model request");
    let retry = rig
        .traces
        .iter()
        .find(|s| s.body.kind() == "retry")
        .expect("the 429 is a step");
    assert_eq!(
        retry.parent,
        Some(request.id),
        "under the request it retried"
    );
    assert_eq!(retry.status, StepStatus::Error);
    let StepBody::Retry {
        attempt, reason, ..
    } = &retry.body
    else {
        unreachable!()
    };
    assert_eq!(*attempt, 1);
    assert!(reason.contains("Rate limit reached"), "{reason}");
    let reply = rig
        .traces
        .iter()
        .find_map(|s| match &s.body {
            StepBody::ModelReply {
                text, reasoning, ..
            } => Some((text.clone(), reasoning.clone())),
            _ => None,
        })
        .expect("a reply");
    assert_eq!(
        reply,
        ("Hello!".to_owned(), Some("The user greets me.".to_owned()))
    );
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn a_resumed_session_continues_its_conversation_and_stores_each_turn() {
    use mcpomni::llm::ChatMessage;
    use mcpomni::memory::in_memory::InMemoryStore;
    use mcpomni::memory::{EntryBody, MemoryStore, SessionId};
    let store = std::sync::Arc::new(InMemoryStore::default());
    let id: SessionId = "resumed".parse().expect("id");
    let earlier = vec![
        ChatMessage::user("my name is Ada"),
        ChatMessage::assistant("Hello Ada."),
    ];
    let (sink, _state) = mcpomni::memory::writer::spawn(store.clone(), id.clone());
    let mut rig = rig_with(json!({}), json!({}), |settings| {
        settings.history = earlier.clone();
        settings.session = Some(sink);
    })
    .await;
    rig.mock
        .push(call("c1", "demo__echo", &[r#"{"message": "Ada"}"#]));
    rig.mock.push(answer("Your name is Ada."));
    rig.start(1, "what is my name?", AgentMode::Auto);
    let (_, outcome, _, _) = rig.until_finished().await;
    assert_eq!(outcome, TurnOutcome::Answered);
    // The model saw the earlier exchange before the new question.
    let first = rig.request_text(0);
    let ada = first
        .find("my name is Ada")
        .expect("the earlier message was sent");
    let question = first.find("what is my name?").expect("the question");
    assert!(ada < question, "{first}");
    // The store got the turn: question, call, result, answer, then its usage.
    let mut stored = Vec::new();
    for _ in 0..50 {
        stored = store.load(&id).await.map(|l| l.entries).unwrap_or_default();
        if stored
            .iter()
            .filter(|e| !matches!(e.body, EntryBody::Step { .. }))
            .count()
            >= 5
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The turn's finished steps are stored too (a resumed session shows its trace).
    let steps = mcpomni::memory::history::steps(&stored);
    assert!(
        steps.iter().any(|s| matches!(
            &s.body,
            mcpomni::protocol::StepBody::Turn {
                outcome: Some(TurnOutcome::Answered),
                ..
            }
        )),
        "{steps:?}"
    );
    assert!(
        steps
            .iter()
            .all(|s| s.status != mcpomni::protocol::StepStatus::Running)
    );
    let kinds: Vec<String> = stored
        .iter()
        .filter(|e| !matches!(e.body, EntryBody::Step { .. }))
        .map(|e| match &e.body {
            EntryBody::Message { message, .. } => match message {
                ChatMessage::User(text) => format!("user: {text}"),
                ChatMessage::Assistant {
                    tool_calls, text, ..
                } if !tool_calls.is_empty() => {
                    format!("calls {}{text}", tool_calls[0].name)
                }
                ChatMessage::Assistant { text, .. } => format!("assistant: {text}"),
                ChatMessage::ToolResult { content, .. } => format!("result: {content}"),
            },
            EntryBody::Usage { input_tokens, .. } => format!("usage {}", input_tokens > &0),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "user: what is my name?",
            "calls demo__echo",
            "result: Ada",
            "assistant: Your name is Ada.",
            "usage true",
        ]
    );
    rig.handle.shutdown().await;
}

/// The next session event, skipping everything else.
async fn session_event(rig: &mut Rig) -> mcpomni::protocol::session::SessionEvent {
    loop {
        if let AgentEvent::Session(event) = rig.next().await {
            if matches!(event, mcpomni::protocol::session::SessionEvent::Saved(_)) {
                continue;
            }
            return event;
        }
    }
}

#[tokio::test]
async fn sessions_are_listed_resumed_compacted_saved_loaded_and_cleared() {
    use mcpomni::llm::ChatMessage;
    use mcpomni::memory::in_memory::InMemoryStore;
    use mcpomni::memory::{EntryBody, MemoryStore, SessionEntry, SessionId};
    use mcpomni::protocol::session::{SessionCommand, SessionEvent};
    let store = std::sync::Arc::new(InMemoryStore::default());
    let shared: mcpomni::memory::SharedStore = store.clone();
    let old: SessionId = "old-one".parse().expect("id");
    store
        .append(
            &old,
            &[
                SessionEntry::message(ChatMessage::user("my name is Ada")),
                SessionEntry::message(ChatMessage::assistant("Hello Ada.")),
            ],
        )
        .await
        .expect("stored");
    let here: SessionId = "here".parse().expect("id");
    store.open(&here).await.expect("opened");
    let (sink, _state) = mcpomni::memory::writer::spawn(shared.clone(), here.clone());
    let mut rig = rig_with(json!({}), json!({}), |settings| {
        settings.session = Some(sink);
        settings.store = Some(shared.clone());
    })
    .await;
    let send = |rig: &Rig, command: SessionCommand| {
        rig.agent
            .send(mcpomni::protocol::AgentCommand::Session(command));
    };

    // The picker's list names this window's session.
    send(&rig, SessionCommand::List);
    let SessionEvent::Listed { sessions, current } = session_event(&mut rig).await else {
        panic!("a list");
    };
    assert_eq!(current, Some(here.clone()));
    assert!(
        sessions
            .iter()
            .any(|s| s.id == old && s.title == "my name is Ada")
    );
    // This window's session cannot be deleted from the picker.
    send(&rig, SessionCommand::Delete(here.clone()));
    let SessionEvent::Note(note) = session_event(&mut rig).await else {
        panic!("a note");
    };
    assert!(note.contains("/clear_history"), "{note}");

    // Resuming brings the old conversation into the model's context.
    send(&rig, SessionCommand::Resume(old.clone()));
    let SessionEvent::Switched { id, history, .. } = session_event(&mut rig).await else {
        panic!("switched");
    };
    assert_eq!(id, Some(old.clone()));
    assert_eq!(history.len(), 2);
    rig.mock.push(answer("Ada."));
    rig.start(1, "what is my name?", AgentMode::Chat);
    rig.until_finished().await;
    assert!(rig.request_text(0).contains("my name is Ada"));

    // /compact: the model's summary stands for everything before the last turn.
    rig.mock.push(answer("The user is called Ada."));
    send(&rig, SessionCommand::Compact);
    let SessionEvent::Note(started) = session_event(&mut rig).await else {
        panic!("a note");
    };
    assert!(started.contains("Compacting"), "{started}");
    let SessionEvent::Switched {
        history, redraw, ..
    } = session_event(&mut rig).await
    else {
        panic!("compacted");
    };
    assert!(!redraw);
    assert_eq!(history.len(), 3, "{history:?}");
    assert!(matches!(&history[0], ChatMessage::User(t) if t.contains("The user is called Ada.")));
    assert!(
        rig.request_text(1).contains("my name is Ada"),
        "the summariser read it"
    );
    // The store keeps the full history and the summary after it.
    let mut entries = Vec::new();
    for _ in 0..50 {
        entries = store.load(&old).await.expect("loads").entries;
        if entries
            .iter()
            .any(|e| matches!(e.body, EntryBody::Summary { .. }))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(entries.iter().any(|e| matches!(&e.body, EntryBody::Message { message: ChatMessage::User(t), .. } if t == "my name is Ada")));
    assert_eq!(mcpomni::memory::history::conversation(&entries), history);

    // Save, clear into a new session, load it back.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("chat.json");
    send(&rig, SessionCommand::Save(path.clone()));
    let SessionEvent::Note(saved) = session_event(&mut rig).await else {
        panic!("a note");
    };
    assert!(saved.contains("Saved 3 messages"), "{saved}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path)
        .expect("written")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    send(&rig, SessionCommand::New);
    let SessionEvent::Switched {
        id: new_id,
        history,
        ..
    } = session_event(&mut rig).await
    else {
        panic!("new session");
    };
    assert!(history.is_empty());
    let new_id = new_id.expect("a new session");
    assert_ne!(new_id, old);
    send(&rig, SessionCommand::Load(path.clone()));
    let SessionEvent::Switched {
        history: loaded, ..
    } = session_event(&mut rig).await
    else {
        panic!("loaded");
    };
    assert_eq!(loaded.len(), 3);
    // /clear_history deletes the stored session it leaves.
    send(&rig, SessionCommand::ClearHistory);
    let SessionEvent::Switched { note, .. } = session_event(&mut rig).await else {
        panic!("cleared");
    };
    assert!(
        note.contains(&format!("Deleted session {new_id}")),
        "{note}"
    );
    assert!(matches!(
        store.load(&new_id).await,
        Err(mcpomni::memory::MemoryError::NotFound(_))
    ));
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn a_store_that_comes_late_gets_the_conversation_so_far() {
    use mcpomni::llm::ChatMessage;
    use mcpomni::memory::in_memory::InMemoryStore;
    use mcpomni::memory::{MemoryStore, history};
    use mcpomni::protocol::session::SessionEvent;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut rig = rig_with(json!({}), json!({}), |settings| {
        settings.late_store = mcpomni::agent::sessions::LateStore::new(rx);
    })
    .await;
    rig.mock.push(answer("Hello."));
    rig.start(1, "hi, not saved yet", AgentMode::Chat);
    rig.until_finished().await;
    let store = std::sync::Arc::new(InMemoryStore::default());
    assert!(tx.send(store.clone()).is_ok());
    let SessionEvent::Switched {
        id, note, redraw, ..
    } = session_event(&mut rig).await
    else {
        panic!("attached");
    };
    assert!(!redraw);
    assert!(note.contains("saved as session"), "{note}");
    let id = id.expect("a session");
    let mut stored = Vec::new();
    for _ in 0..50 {
        stored = store.load(&id).await.map(|l| l.entries).unwrap_or_default();
        if stored.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        history::conversation(&stored),
        [
            ChatMessage::user("hi, not saved yet"),
            ChatMessage::assistant("Hello.")
        ]
    );
    rig.handle.shutdown().await;
}
