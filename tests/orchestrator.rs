//! Orchestrator mode end to end in one process: a scripted mock LLM (OpenAI wire format)
//! writes the plan, answers each sub-agent and writes the report; the sub-agents' tool calls
//! reach the real demo server. Shows that a phase's sub-agents run at the same time, that
//! their approval prompts queue together, that a bad plan is retried once with the model told
//! what was wrong, that a failed sub-task leads to one re-plan, and the trace tree.

#[path = "support/llm_mock.rs"]
mod llm_mock;
mod support;

use std::time::{Duration, Instant};

use llm_mock::{MockCall, MockLlm, Reply};
use mcpomni::agent::AgentHandle;
use mcpomni::protocol::{
    AgentCommand, AgentEvent, AgentMode, AgentNotice, Decision, StepStatus, TraceStep, TurnId,
    TurnOutcome,
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
}

async fn rig(agent_config: Value) -> Rig {
    let mock = MockLlm::start().await;
    let config = support::config(json!({
        "mcpServers": {"demo": support::demo()},
        "AgentConfig": agent_config,
        "LLM": {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "base_url": format!("{}/v1", mock.base_url()),
        },
    }));
    let (handle, agent, events) = support::start_agent(&config).await;
    Rig {
        mock,
        handle,
        agent,
        events,
        traces: Vec::new(),
    }
}

/// Every event of one turn, up to its end (trace steps folded into `traces`).
struct Turn {
    events: Vec<(Instant, AgentEvent)>,
    outcome: TurnOutcome,
}

impl Rig {
    fn start(&self, text: &str) {
        self.agent.send(AgentCommand::StartTurn {
            turn: TurnId(1),
            text: text.into(),
            mode: AgentMode::Orchestrator,
        });
    }

    async fn next(&mut self) -> AgentEvent {
        loop {
            let event = tokio::time::timeout(Duration::from_secs(20), self.events.recv())
                .await
                .expect("an agent event in time")
                .expect("events flow");
            match event {
                AgentEvent::Trace(step) => match self.traces.iter_mut().find(|s| s.id == step.id) {
                    Some(known) => *known = (*step).clone(),
                    None => self.traces.push((*step).clone()),
                },
                other => return other,
            }
        }
    }

    async fn finish(&mut self) -> Turn {
        let mut events = Vec::new();
        loop {
            let event = self.next().await;
            if let AgentEvent::TurnFinished { outcome, .. } = &event {
                return Turn {
                    outcome: outcome.clone(),
                    events,
                };
            }
            events.push((Instant::now(), event));
        }
    }

    fn steps(&self, kind: &str) -> Vec<&TraceStep> {
        self.traces
            .iter()
            .filter(|s| s.body.kind() == kind)
            .collect()
    }
}

fn plan(tasks: &[(&str, &[&str])]) -> String {
    json!({"phases": [{"name": "gather", "tasks": tasks.iter().map(|(goal, tools)| {
        json!({"goal": goal, "tools": tools})
    }).collect::<Vec<_>>()}]})
    .to_string()
}

fn sleep_call(id: &str) -> Reply {
    Reply::tool_calls(
        vec![MockCall::new(id, "demo__sleep", &[r#"{"ms": 500}"#])],
        (20, 5),
    )
}

fn answer(text: &str) -> Reply {
    Reply::text(&[text], (30, 10))
}

#[tokio::test]
async fn a_phases_sub_agents_run_at_the_same_time() {
    let mut rig = rig(json!({"auto_approve": ["demo__*"]})).await;
    let goals: [(&str, &[&str]); 3] = [
        ("wait for A", &["demo__sleep"]),
        ("wait for B", &["demo"]),
        ("wait for C", &["demo__*"]),
    ];
    rig.mock.push(answer(&plan(&goals)));
    for id in ["call_a", "call_b", "call_c"] {
        rig.mock.push(sleep_call(id));
    }
    for done in ["A waited", "B waited", "C waited"] {
        rig.mock.push(answer(done));
    }
    rig.mock.push(answer("All three waited."));
    let started = Instant::now();
    rig.start("wait three times");
    let turn = rig.finish().await;
    let took = started.elapsed();
    assert_eq!(turn.outcome, TurnOutcome::Answered);

    // The chat gets the plan in words and the report as it streams, never the plan's JSON.
    let streamed: String = turn
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            AgentEvent::AssistantDelta { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(streamed, "All three waited.");
    assert!(turn.events.iter().any(|(_, e)| matches!(
        e,
        AgentEvent::Notice(AgentNotice::Planned { summary }) if summary == "phase 1 gather: 3 tasks"
    )));

    // Every sleep started before any of them finished: they overlapped.
    let starts: Vec<Instant> = turn
        .events
        .iter()
        .filter(|(_, e)| matches!(e, AgentEvent::ToolCallStarted { .. }))
        .map(|(at, _)| *at)
        .collect();
    let ends: Vec<Instant> = turn
        .events
        .iter()
        .filter(|(_, e)| matches!(e, AgentEvent::ToolCallFinished { .. }))
        .map(|(at, _)| *at)
        .collect();
    assert_eq!((starts.len(), ends.len()), (3, 3), "{:?}", turn.events);
    let last_start = starts.iter().max().expect("starts");
    let first_end = ends.iter().min().expect("ends");
    assert!(last_start < first_end, "the sleeps ran one after another");
    assert!(
        took < Duration::from_millis(1_500),
        "three 500 ms sleeps took {took:?}"
    );

    // The tree: turn → plan → phase → three sub-agents → their requests and calls.
    let turn_step = rig.steps("turn")[0].id;
    let plans = rig.steps("plan");
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].parent, Some(turn_step));
    let phase = rig.steps("phase")[0];
    assert_eq!(phase.parent, Some(plans[0].id));
    let subs = rig.steps("sub_agent");
    assert_eq!(subs.len(), 3);
    for sub in &subs {
        assert_eq!(sub.parent, Some(phase.id));
        assert_eq!(sub.status, StepStatus::Ok);
        let requests = rig
            .traces
            .iter()
            .filter(|s| s.parent == Some(sub.id) && s.body.kind() == "model_request")
            .count();
        assert_eq!(requests, 2, "each sub-agent asked twice");
    }
    let calls = rig.steps("tool_call");
    assert_eq!(calls.len(), 3);

    // Sub-agents see only their own goal and tools; the report sees every result.
    let journal = rig.mock.journal();
    assert_eq!(journal.len(), 8);
    let planning = journal[0].body.to_string();
    assert!(
        planning.contains("demo__sleep"),
        "the planner is told the tools"
    );
    assert!(
        journal[0].body.get("tools").is_none(),
        "planning offers no tools"
    );
    let first_sub = journal[1].body.to_string();
    assert!(first_sub.contains("Your task: wait for"));
    let report = journal[7].body.to_string();
    for done in ["A waited", "B waited", "C waited"] {
        assert!(
            report.contains(done),
            "{done} missing from the report request"
        );
    }
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn sub_agents_approval_prompts_queue_together() {
    let mut rig = rig(json!({"max_parallel_agents": 2})).await;
    rig.mock.push(answer(&plan(&[
        ("echo one", &["demo__echo"]),
        ("echo two", &["demo__echo"]),
    ])));
    for id in ["call_1", "call_2"] {
        rig.mock.push(Reply::tool_calls(
            vec![MockCall::new(id, "demo__echo", &[r#"{"message": "hi"}"#])],
            (10, 5),
        ));
    }
    rig.mock.push(answer("one done"));
    rig.mock.push(answer("two done"));
    rig.mock.push(answer("Both echoed."));
    rig.start("echo twice");
    let mut prompts = Vec::new();
    while prompts.len() < 2 {
        match rig.next().await {
            AgentEvent::ApprovalRequested { approval, .. } => prompts.push(approval),
            AgentEvent::ToolCallStarted { .. } => panic!("a call ran before it was approved"),
            _ => {}
        }
    }
    for approval in prompts {
        rig.agent.send(AgentCommand::Decide {
            approval,
            decision: Decision::Approve,
        });
    }
    let turn = rig.finish().await;
    assert_eq!(turn.outcome, TurnOutcome::Answered);
    assert_eq!(rig.steps("tool_call").len(), 2);
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn a_plan_that_cannot_be_read_is_retried_once_then_the_run_stops() {
    let mut rig = rig(json!({})).await;
    rig.mock.push(answer("I would first look things up."));
    rig.mock
        .push(answer(&plan(&[("read a file", &["files__read"])])));
    rig.start("plan badly");
    let turn = rig.finish().await;
    match &turn.outcome {
        TurnOutcome::Failed(reason) => {
            assert!(reason.contains("after 2 attempts"), "{reason}");
            assert!(reason.contains("`files__read`"), "{reason}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    let journal = rig.mock.journal();
    assert_eq!(journal.len(), 2);
    let retry = journal[1].body.to_string();
    assert!(
        retry.contains("contains no JSON object"),
        "the model is told what was wrong"
    );
    let plans = rig.steps("plan");
    assert_eq!(plans.len(), 2);
    assert!(plans.iter().all(|p| p.status == StepStatus::Error));
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn a_failed_sub_task_is_reported_and_the_rest_replanned_once() {
    let mut rig = rig(json!({"max_parallel_agents": 1})).await;
    rig.mock
        .push(answer(&plan(&[("first part", &[]), ("second part", &[])])));
    rig.mock.push(answer("first done"));
    rig.mock.push(Reply::status(
        400,
        json!({"error": {"message": "this sub-task cannot be done"}}),
    ));
    rig.mock
        .push(answer(&plan(&[("second part, another way", &[])])));
    rig.mock.push(answer("second done another way"));
    rig.mock.push(answer("Both parts are done."));
    rig.start("do two parts");
    let turn = rig.finish().await;
    assert_eq!(turn.outcome, TurnOutcome::Answered);
    let journal = rig.mock.journal();
    assert_eq!(journal.len(), 6);
    let replan = journal[3].body.to_string();
    assert!(replan.contains("Some tasks of the plan failed"), "{replan}");
    assert!(replan.contains("this sub-task cannot be done"), "{replan}");
    let plans = rig.steps("plan");
    assert_eq!(plans.len(), 2, "planned, then re-planned once");
    let subs = rig.steps("sub_agent");
    assert_eq!(subs.len(), 3);
    assert_eq!(
        subs.iter()
            .filter(|s| s.status == StepStatus::Error)
            .count(),
        1
    );
    let report = journal[5].body.to_string();
    assert!(
        report.contains("FAILED"),
        "the report request says what failed"
    );
    assert!(report.contains("second done another way"));
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn cancelling_stops_every_sub_agent() {
    let mut rig = rig(json!({"auto_approve": ["demo__*"]})).await;
    rig.mock.push(answer(&plan(&[
        ("wait", &["demo__sleep"]),
        ("wait too", &["demo__sleep"]),
    ])));
    for id in ["call_x", "call_y"] {
        rig.mock.push(Reply::tool_calls(
            vec![MockCall::new(id, "demo__sleep", &[r#"{"ms": 20000}"#])],
            (10, 5),
        ));
    }
    rig.start("wait long");
    let mut started = 0;
    while started < 2 {
        if let AgentEvent::ToolCallStarted { .. } = rig.next().await {
            started += 1;
        }
    }
    let cancelled_at = Instant::now();
    rig.agent.send(AgentCommand::CancelTurn { turn: TurnId(1) });
    let turn = rig.finish().await;
    assert_eq!(turn.outcome, TurnOutcome::Cancelled);
    assert!(cancelled_at.elapsed() < Duration::from_secs(5));
    let subs = rig.steps("sub_agent");
    assert!(
        subs.iter().all(|s| s.status == StepStatus::Cancelled),
        "{subs:?}"
    );
    rig.handle.shutdown().await;
}

#[tokio::test]
async fn a_provider_that_rejected_tools_gets_none_from_later_phases() {
    let mut rig = rig(json!({"max_parallel_agents": 1})).await;
    let two_phases = json!({"phases": [
        {"name": "first", "tasks": [{"goal": "say one"}]},
        {"name": "second", "tasks": [{"goal": "say two"}]},
    ]});
    rig.mock.push(answer(&two_phases.to_string()));
    rig.mock.push(Reply::status(
        400,
        json!({"error": {"message": "registry.ollama.ai/library/gemma2:2b does not support tools"}}),
    ));
    rig.mock.push(answer("Final Answer: one"));
    rig.mock.push(answer("Final Answer: two"));
    rig.mock.push(answer("One, then two."));
    rig.start("count to two");
    let turn = rig.finish().await;
    assert_eq!(turn.outcome, TurnOutcome::Answered);
    let journal = rig.mock.journal();
    assert_eq!(journal.len(), 5, "one rejected request, not one per phase");
    let has_tools = |n: usize| {
        journal[n].body["tools"]
            .as_array()
            .is_some_and(|tools| !tools.is_empty())
    };
    assert!(has_tools(1), "the first sub-agent offered tools");
    assert!(!has_tools(2), "and fell back to text");
    assert!(!has_tools(3), "the second phase starts with text");
    let second = journal[3].body.to_string();
    assert!(second.contains("say two"), "{second}");
    assert!(second.contains("Final Answer"), "taught the protocol");
    rig.handle.shutdown().await;
}
