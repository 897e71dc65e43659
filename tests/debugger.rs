//! The debugger end to end in one process: a scripted mock LLM, the real demo server, and the
//! agent driven through its command/event API as the dashboard drives it. Step mode, continue,
//! each breakpoint kind, stop, the three edits (recorded in the trace) and a fork.

#[path = "support/llm_mock.rs"]
mod llm_mock;
mod support;

use std::time::Duration;

use llm_mock::{MockCall, MockLlm, Reply};
use mcpomni::agent::AgentHandle;
use mcpomni::protocol::debug::{
    Breakpoint, DebugAction, DebugCommand, DebugEdit, PauseAt, PauseReason, Paused,
};
use mcpomni::protocol::{
    AgentCommand, AgentEvent, AgentMode, CallOutcome, StepBody, TraceStep, TurnId, TurnOutcome,
};
use mcpomni::runtime::RuntimeHandle;
use serde_json::{Value, json};
use tokio::sync::mpsc;

struct Rig {
    mock: MockLlm,
    handle: RuntimeHandle,
    agent: AgentHandle,
    events: mpsc::Receiver<AgentEvent>,
    traces: Vec<TraceStep>,
    results: Vec<CallOutcome>,
}

/// The demo server, the mock LLM, every demo tool allowed without asking, and the debugger
/// set up with `step` and `breakpoints`.
async fn rig(step: bool, breakpoints: Vec<Breakpoint>) -> Rig {
    let mock = MockLlm::start().await;
    let mut config = support::config(json!({
        "mcpServers": {"demo": support::demo()},
        "AgentConfig": {"auto_approve": ["demo__*"]},
        "LLM": {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "base_url": format!("{}/v1", mock.base_url()),
        },
    }));
    config.agent.step = step;
    config.agent.breakpoints = breakpoints;
    let (handle, agent, events) = support::start_agent(&config).await;
    Rig {
        mock,
        handle,
        agent,
        events,
        traces: Vec::new(),
        results: Vec::new(),
    }
}

/// What came of waiting: a pause or the turn's end.
enum Next {
    Paused(Paused),
    Finished(TurnOutcome),
}

impl Rig {
    fn ask(&self, turn: u64, text: &str) {
        self.agent.send(AgentCommand::StartTurn {
            turn: TurnId(turn),
            text: text.into(),
            mode: AgentMode::Auto,
        });
    }

    async fn next(&mut self) -> Next {
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
                AgentEvent::ToolCallFinished { outcome, .. } => self.results.push(outcome),
                AgentEvent::Paused(paused) => return Next::Paused(*paused),
                AgentEvent::TurnFinished { outcome, .. } => return Next::Finished(outcome),
                _ => {}
            }
        }
    }

    async fn pause(&mut self) -> Paused {
        match self.next().await {
            Next::Paused(paused) => paused,
            Next::Finished(outcome) => panic!("expected a pause, the turn ended: {outcome:?}"),
        }
    }

    async fn finished(&mut self) -> TurnOutcome {
        match self.next().await {
            Next::Finished(outcome) => outcome,
            Next::Paused(paused) => panic!("expected the end, paused at {:?}", paused.at),
        }
    }

    fn resume(&self, paused: &Paused, action: DebugAction, edit: Option<DebugEdit>) {
        self.agent.send(AgentCommand::Debug(DebugCommand::Resume {
            pause: paused.pause,
            action,
            edit,
        }));
    }

    fn edits(&self) -> Vec<(String, Value, Value)> {
        self.traces
            .iter()
            .filter_map(|step| match &step.body {
                StepBody::Edit {
                    target,
                    before,
                    after,
                } => Some((target.clone(), before.clone(), after.clone())),
                _ => None,
            })
            .collect()
    }
}

fn echo(id: &str, message: &str) -> Reply {
    Reply::tool_calls(
        vec![MockCall::new(
            id,
            "demo__echo",
            &[&json!({"message": message}).to_string()],
        )],
        (10, 5),
    )
}

#[tokio::test]
async fn step_mode_pauses_before_each_step_and_continue_runs_to_the_end() {
    let mut rig = rig(true, Vec::new()).await;
    rig.mock.push(echo("c1", "one"));
    rig.mock.push(echo("c2", "two"));
    rig.mock.push(Reply::text(&["done"], (10, 5)));
    rig.ask(1, "echo twice");
    let first = rig.pause().await;
    assert_eq!(first.step, 1);
    assert_eq!(first.reason, PauseReason::Stepping);
    assert!(matches!(first.at, PauseAt::Model { .. }));
    assert!(
        rig.mock.journal().is_empty(),
        "nothing was sent before the step"
    );
    rig.resume(&first, DebugAction::Step, None);
    let second = rig.pause().await;
    assert_eq!(second.step, 2);
    match &second.at {
        PauseAt::Tool { call } => assert_eq!(call.arguments, json!({"message": "one"})),
        other => panic!("expected the tool call, got {other:?}"),
    }
    assert!(rig.results.is_empty(), "the call waits for the step");
    rig.resume(&second, DebugAction::Continue, None);
    assert_eq!(rig.finished().await, TurnOutcome::Answered);
    assert_eq!(
        rig.results.len(),
        2,
        "continue ran both calls without pausing"
    );
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn arguments_edited_at_a_tool_breakpoint_reach_the_server_and_are_traced() {
    let mut rig = rig(false, vec![Breakpoint::Tool("demo__ec*".into())]).await;
    rig.mock.push(echo("c1", "from the model"));
    rig.mock.push(Reply::text(&["done"], (10, 5)));
    rig.ask(1, "echo");
    let paused = rig.pause().await;
    assert_eq!(
        paused.reason,
        PauseReason::Breakpoint(Breakpoint::Tool("demo__ec*".into()))
    );
    let edited = json!({"message": "from the debugger"});
    rig.resume(
        &paused,
        DebugAction::Continue,
        Some(DebugEdit::ToolArguments(
            edited.as_object().expect("an object").clone(),
        )),
    );
    assert_eq!(rig.finished().await, TurnOutcome::Answered);
    match &rig.results[..] {
        [CallOutcome::Ok { summary }] => assert_eq!(summary, "from the debugger"),
        other => panic!("{other:?}"),
    }
    let edits = rig.edits();
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].0, "tool_arguments");
    assert_eq!(edits[0].1, json!({"message": "from the model"}));
    assert_eq!(edits[0].2, edited);
    let followup = rig.mock.journal()[1].body.to_string();
    assert!(
        followup.contains("from the debugger"),
        "the model saw the edited call's result"
    );
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn an_error_breakpoint_lets_the_result_the_model_sees_be_edited() {
    let mut rig = rig(false, vec![Breakpoint::Error]).await;
    rig.mock.push(Reply::tool_calls(
        vec![MockCall::new(
            "c1",
            "demo__fail",
            &[r#"{"reason": "disk full"}"#],
        )],
        (10, 5),
    ));
    rig.mock.push(Reply::text(&["recovered"], (10, 5)));
    rig.ask(1, "try it");
    let paused = rig.pause().await;
    match &paused.at {
        PauseAt::Error { last_result, .. } => {
            assert!(
                last_result
                    .as_deref()
                    .is_some_and(|r| r.contains("disk full"))
            );
        }
        other => panic!("expected an error pause, got {other:?}"),
    }
    rig.resume(
        &paused,
        DebugAction::Continue,
        Some(DebugEdit::LastToolResult("it worked after all".into())),
    );
    assert_eq!(rig.finished().await, TurnOutcome::Answered);
    let second = rig.mock.journal()[1].body.to_string();
    assert!(second.contains("it worked after all"), "{second}");
    assert_eq!(rig.edits()[0].0, "last_tool_result");
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn a_model_breakpoint_at_step_n_lets_the_messages_be_edited_and_stop_ends_the_run() {
    let mut rig = rig(false, vec![Breakpoint::Step(3)]).await;
    rig.mock.push(echo("c1", "one"));
    rig.mock.push(echo("c2", "two"));
    rig.ask(1, "echo");
    // Step 1 is the first request, 2 its call, 3 the second request.
    let paused = rig.pause().await;
    assert_eq!(paused.step, 3);
    let PauseAt::Model { request } = &paused.at else {
        panic!("expected a model pause, got {:?}", paused.at);
    };
    let mut messages = request.messages.clone();
    messages.push(mcpomni::llm::ChatMessage::user("and say hello"));
    rig.resume(
        &paused,
        DebugAction::Step,
        Some(DebugEdit::Messages(messages)),
    );
    let next = rig.pause().await;
    assert!(
        matches!(next.at, PauseAt::Tool { .. }),
        "step pauses at the next step"
    );
    let sent = rig.mock.journal()[1].body.to_string();
    assert!(
        sent.contains("and say hello"),
        "the edited messages were sent"
    );
    rig.resume(&next, DebugAction::Stop, None);
    assert_eq!(
        rig.finished().await,
        TurnOutcome::Limit("stopped in the debugger".into())
    );
    assert_eq!(rig.results.len(), 1, "the stopped call never ran");
    assert_eq!(rig.edits()[0].0, "messages");
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn a_fork_reruns_from_a_past_request_beside_the_old_branch() {
    let mut rig = rig(false, Vec::new()).await;
    rig.mock.push(Reply::text(&["the first answer"], (10, 5)));
    rig.ask(1, "say something");
    assert_eq!(rig.finished().await, TurnOutcome::Answered);
    let request_step = rig
        .traces
        .iter()
        .find(|s| s.body.kind() == "model_request")
        .expect("a request step")
        .clone();
    let StepBody::ModelRequest { request, .. } = &request_step.body else {
        unreachable!()
    };
    let mut messages = request.messages.clone();
    messages[0] = mcpomni::llm::ChatMessage::user("say something else");
    rig.mock.push(Reply::text(&["the forked answer"], (10, 5)));
    rig.agent.send(AgentCommand::Fork {
        turn: TurnId(2),
        from: request_step.id,
        messages,
    });
    assert_eq!(rig.finished().await, TurnOutcome::Answered);
    let turns: Vec<&TraceStep> = rig
        .traces
        .iter()
        .filter(|s| s.body.kind() == "turn")
        .collect();
    assert_eq!(turns.len(), 2, "the old branch is kept beside the new one");
    let fork = rig
        .traces
        .iter()
        .find(|s| matches!(s.body, StepBody::Fork { .. }))
        .expect("a fork step");
    assert_eq!(fork.parent, Some(turns[1].id));
    assert_eq!(
        fork.body,
        StepBody::Fork {
            from: request_step.id
        }
    );
    let sent = rig.mock.journal()[1].body.to_string();
    assert!(sent.contains("say something else"));
    rig.handle.shutdown().await;
}
