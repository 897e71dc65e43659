//! Reducer tests for the Trace pane: collapse and expand, the filter, follow mode with steps
//! that arrive out of row order (parallel sub-agents), a step opened whole in the pager, and
//! breakpoints set from the pane (with the warning for a tool glob that matches nothing).

use std::sync::Arc;

use ratatui::crossterm::event::KeyCode;
use serde_json::json;

use super::*;
use crate::llm::{ChatMessage, ChatRequest};
use crate::protocol::debug::{Breakpoint, DebugCommand};
use crate::protocol::{
    AgentCommand, AgentEvent, AgentMode, CallOutcome, StepBody, StepId, StepStatus, ToolCallId,
    TraceStep, TurnId,
};
use crate::runtime::messages::{ServerName, ServerSnapshot, ServerState, TransportKind};
use crate::tui::test_support::{app_state, ch, demo_catalog, key, update};

fn step(id: u64, parent: Option<u64>, body: StepBody, status: StepStatus) -> Msg {
    let mut step = TraceStep::begin(StepId(id), parent.map(StepId), Some(TurnId(1)), body);
    step.status = status;
    Msg::Agent(AgentEvent::Trace(Arc::new(step)))
}

fn turn(id: u64) -> Msg {
    step(
        id,
        None,
        StepBody::Turn {
            user_text: format!("question {id}"),
            mode: AgentMode::Auto,
            outcome: None,
        },
        StepStatus::Ok,
    )
}

fn request(id: u64, parent: u64, text: &str) -> Msg {
    step(
        id,
        Some(parent),
        StepBody::ModelRequest {
            model: "openai/gpt-4o-mini".into(),
            request: Arc::new(ChatRequest {
                messages: vec![ChatMessage::user(text)],
                ..ChatRequest::default()
            }),
        },
        StepStatus::Ok,
    )
}

fn call(id: u64, parent: u64, tool: &str) -> Msg {
    step(
        id,
        Some(parent),
        StepBody::ToolCall {
            call: ToolCallId(id),
            server: "demo".into(),
            tool: tool.into(),
            qualified_name: format!("demo__{tool}"),
            arguments: json!({"message": "hi"}),
            approved_by: None,
            model_arguments: None,
        },
        StepStatus::Ok,
    )
}

fn result(id: u64, parent: u64, status: StepStatus) -> Msg {
    step(
        id,
        Some(parent),
        StepBody::ToolResult {
            call: ToolCallId(parent),
            outcome: CallOutcome::Ok {
                summary: "done".into(),
            },
            content: "done".into(),
            structured: None,
        },
        status,
    )
}

/// Two turns: 1 → request 2 → call 3 (echo) → result 4; turn 5 → request 6 → call 7 (add) →
/// result 8, which failed. The Trace pane is focused.
fn two_turns() -> AppState {
    let mut state = app_state(Some("openai/gpt-4o-mini"));
    for msg in [
        turn(1),
        request(2, 1, "first"),
        call(3, 2, "echo"),
        result(4, 3, StepStatus::Ok),
        turn(5),
        request(6, 5, "second"),
        call(7, 6, "add"),
        result(8, 7, StepStatus::Error),
    ] {
        update(&mut state, msg);
    }
    update(&mut state, key(KeyCode::Esc));
    update(&mut state, ch('4'));
    assert_eq!(state.focus, Pane::Trace);
    state
}

fn shown(state: &AppState) -> Vec<u64> {
    (0..state.trace.visible_len())
        .filter_map(|p| state.trace.visible_row(p))
        .map(|i| state.trace.rows[i].step.id.0)
        .collect()
}

fn selected(state: &AppState) -> u64 {
    state.trace.selected_row().expect("a selection").step.id.0
}

fn commands(effects: Vec<Effect>) -> Vec<AgentCommand> {
    effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::Agent(c) => Some(c),
            _ => None,
        })
        .collect()
}

fn typed(state: &mut AppState, text: &str) {
    for c in text.chars() {
        update(state, ch(c));
    }
}

#[test]
fn space_and_arrows_collapse_and_expand_a_step() {
    let mut state = two_turns();
    state.trace.select(0);
    update(&mut state, ch(' '));
    assert_eq!(shown(&state), [1, 5, 6, 7, 8], "turn 1's steps are hidden");
    assert_eq!(state.trace.descendants(0), 3);
    // Down from the collapsed turn goes to the next shown row.
    update(&mut state, ch('j'));
    assert_eq!(selected(&state), 5);
    update(&mut state, ch('j'));
    update(&mut state, ch('j'));
    assert_eq!(selected(&state), 7);
    // ← on a call with children collapses it; again goes to its parent.
    update(&mut state, key(KeyCode::Left));
    assert_eq!(shown(&state), [1, 5, 6, 7]);
    update(&mut state, key(KeyCode::Left));
    assert_eq!(selected(&state), 6);
    // → on a collapsed step expands it; on an expanded one goes to its first child.
    update(&mut state, ch('j'));
    update(&mut state, key(KeyCode::Right));
    assert_eq!(shown(&state), [1, 5, 6, 7, 8]);
    update(&mut state, key(KeyCode::Right));
    assert_eq!(selected(&state), 8);
    // E finds the failed result even inside a collapsed subtree, and shows it.
    state.trace.select(5);
    update(&mut state, key(KeyCode::Left));
    update(&mut state, key(KeyCode::Left));
    assert_eq!(selected(&state), 5);
    update(&mut state, ch(' '));
    assert_eq!(shown(&state), [1, 5]);
    update(&mut state, ch('E'));
    assert_eq!(selected(&state), 8);
    assert!(shown(&state).contains(&8));
}

#[test]
fn the_filter_shows_matches_with_their_ancestors_and_esc_clears_it() {
    let mut state = two_turns();
    update(&mut state, ch('/'));
    typed(&mut state, "tool:demo__add");
    assert_eq!(
        shown(&state),
        [5, 6, 7, 8],
        "the call, its result and ancestors"
    );
    assert!(state.trace.filter.is_some(), "applied while typing");
    update(&mut state, key(KeyCode::Enter));
    assert!(state.trace.input.is_none());
    let notice = state.notice.clone().unwrap_or_default();
    assert!(notice.starts_with("2 of 8 steps match"), "{notice}");
    // j/k move among the shown rows only.
    state.trace.select(4);
    update(&mut state, ch('j'));
    assert_eq!(selected(&state), 6);
    // Words search titles and details; every word must match.
    update(&mut state, ch('/'));
    for _ in 0.."tool:demo__add".len() {
        update(&mut state, key(KeyCode::Backspace));
    }
    typed(&mut state, "kind:request second");
    assert_eq!(
        state.trace.input.as_ref().map(|i| i.text.as_str()),
        Some("kind:request second")
    );
    assert_eq!(shown(&state), [5, 6]);
    // A word that cannot be read says why and keeps the last filter that could.
    typed(&mut state, " turn:");
    let before = shown(&state);
    typed(&mut state, "x");
    let error = state
        .trace
        .input
        .as_ref()
        .and_then(|i| i.error.clone())
        .unwrap_or_default();
    assert!(error.starts_with("turn:x"), "{error}");
    assert_eq!(shown(&state), before);
    update(&mut state, key(KeyCode::Enter));
    assert!(
        state.trace.input.is_some(),
        "Enter does not keep a bad filter"
    );
    update(&mut state, key(KeyCode::Esc));
    assert!(state.trace.input.is_none());
    assert_eq!(shown(&state).len(), 8, "Esc on the line drops the filter");
    update(&mut state, ch('/'));
    typed(&mut state, "nothing-matches-this");
    update(&mut state, key(KeyCode::Enter));
    assert_eq!(shown(&state), Vec::<u64>::new());
    update(&mut state, key(KeyCode::Esc));
    assert_eq!(shown(&state).len(), 8, "Esc in the pane clears it");
}

#[test]
fn follow_mode_keeps_the_newest_step_selected_wherever_its_row_is() {
    let mut state = two_turns();
    assert!(state.trace.follow, "on from the start");
    assert_eq!(selected(&state), 8);
    // A late child of turn 1 (a parallel branch) lands above the last row.
    update(&mut state, call(9, 2, "echo"));
    assert_eq!(selected(&state), 9, "the newest step, not the last row");
    assert_ne!(state.trace.selected, state.trace.len() - 1);
    // Moving turns follow off; new steps leave the selection alone.
    update(&mut state, ch('k'));
    assert!(!state.trace.follow);
    let before = selected(&state);
    update(&mut state, result(10, 9, StepStatus::Ok));
    assert_eq!(selected(&state), before);
    // F turns it back on at once.
    update(&mut state, ch('F'));
    assert!(state.trace.follow);
    assert_eq!(selected(&state), 10);
    update(&mut state, ch('F'));
    assert!(!state.trace.follow);
}

#[test]
fn enter_opens_the_whole_step_in_the_pager() {
    let mut state = two_turns();
    let long: String = (1..=300).map(|i| format!("line {i}\n")).collect();
    update(&mut state, request(9, 5, &long));
    update(&mut state, key(KeyCode::Enter));
    let pager = state.pager.as_ref().expect("the pager is open");
    assert!(pager.title.contains("model request"), "{}", pager.title);
    assert!(pager.text.text.contains("line 300"), "nothing is cut");
    update(&mut state, ch('G'));
    assert!(state.pager.as_ref().is_some_and(|p| p.scroll > 0));
    assert_eq!(selected(&state), 9, "G scrolled the pager, not the trace");
    update(&mut state, key(KeyCode::Esc));
    assert!(state.pager.is_none());
    assert_eq!(state.focus, Pane::Trace);
}

#[test]
fn b_toggles_a_breakpoint_for_the_selected_step_and_b_types_one() {
    let mut state = two_turns();
    update(
        &mut state,
        Msg::Runtime(crate::runtime::messages::RuntimeEvent::CatalogChanged(
            demo_catalog(vec![
                json!({"name": "echo", "inputSchema": {"type": "object"}}),
                json!({"name": "add", "inputSchema": {"type": "object"}}),
            ]),
        )),
    );
    state.trace.select(1);
    match commands(update(&mut state, ch('b'))).as_slice() {
        [AgentCommand::Debug(DebugCommand::SetBreakpoints(list))] => {
            assert_eq!(list, &[Breakpoint::Model]);
        }
        other => panic!("{other:?}"),
    }
    state.trace.select(2);
    match commands(update(&mut state, ch('b'))).as_slice() {
        [AgentCommand::Debug(DebugCommand::SetBreakpoints(list))] => {
            assert_eq!(
                list,
                &[Breakpoint::Model, Breakpoint::Tool("demo__echo".into())]
            );
        }
        other => panic!("{other:?}"),
    }
    // Again on the request: removed.
    state.trace.select(1);
    match commands(update(&mut state, ch('b'))).as_slice() {
        [AgentCommand::Debug(DebugCommand::SetBreakpoints(list))] => {
            assert_eq!(list, &[Breakpoint::Tool("demo__echo".into())]);
        }
        other => panic!("{other:?}"),
    }
    // The failed result: a breakpoint on errors.
    state.trace.select(7);
    update(&mut state, ch('b'));
    assert!(state.agent.breakpoints.contains(&Breakpoint::Error));
    // Typed: a bad one stays on the line with the reason; a glob matching nothing warns.
    update(&mut state, ch('B'));
    typed(&mut state, "step:0");
    update(&mut state, key(KeyCode::Enter));
    let error = state
        .trace
        .input
        .as_ref()
        .and_then(|i| i.error.clone())
        .unwrap_or_default();
    assert!(!error.is_empty(), "step:0 is refused");
    for _ in 0..6 {
        update(&mut state, key(KeyCode::Backspace));
    }
    typed(&mut state, "tool:files__*");
    let sent = commands(update(&mut state, key(KeyCode::Enter)));
    assert!(state.trace.input.is_none());
    assert!(matches!(
        sent.as_slice(),
        [AgentCommand::Debug(DebugCommand::SetBreakpoints(list))] if list.len() == 3
    ));
    let notice = state.notice.clone().unwrap_or_default();
    assert!(notice.contains("tool:files__* matches no tool"), "{notice}");
    // The title lists them.
    let screen = render_text(&state);
    assert!(
        screen.contains("breaks: tool:demo__echo, error, tool:files__*"),
        "{screen}"
    );
}

#[test]
fn configured_breakpoints_that_match_no_tool_are_named_once_servers_settle() {
    let mut state = app_state(Some("openai/gpt-4o-mini"));
    state.agent.breakpoints = vec![
        Breakpoint::Tool("demo__*".into()),
        Breakpoint::Tool("ghost__*".into()),
    ];
    let mut snapshot = ServerSnapshot::new(ServerName::new("demo"), TransportKind::Stdio);
    snapshot.state = ServerState::Starting;
    update(
        &mut state,
        Msg::Runtime(crate::runtime::messages::RuntimeEvent::ServerChanged(
            Arc::new(snapshot.clone()),
        )),
    );
    update(
        &mut state,
        Msg::Runtime(crate::runtime::messages::RuntimeEvent::CatalogChanged(
            demo_catalog(vec![
                json!({"name": "echo", "inputSchema": {"type": "object"}}),
            ]),
        )),
    );
    let warned = |state: &AppState| {
        state
            .chat
            .entries
            .iter()
            .filter(|e| e.text.contains("ghost__*"))
            .count()
    };
    assert_eq!(warned(&state), 0, "not while a server is still starting");
    snapshot.state = ServerState::Ready;
    for _ in 0..2 {
        update(
            &mut state,
            Msg::Runtime(crate::runtime::messages::RuntimeEvent::ServerChanged(
                Arc::new(snapshot.clone()),
            )),
        );
    }
    assert_eq!(warned(&state), 1, "named once");
    assert!(
        !state
            .chat
            .entries
            .iter()
            .any(|e| e.text.contains("demo__*")),
        "a glob that matches is not named"
    );
}

fn render_text(state: &AppState) -> String {
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(140, 45))
        .expect("a test terminal");
    terminal
        .draw(|frame| crate::tui::view::draw(frame, state))
        .expect("drawn");
    terminal.backend().to_string()
}

#[test]
fn a_pause_selects_the_step_it_belongs_under_even_when_collapsed() {
    use crate::protocol::debug::{PauseAt, PauseId, PauseReason, Paused};
    let mut state = two_turns();
    state.agent.running = Some(TurnId(2));
    state.trace.select(4);
    update(&mut state, ch(' '));
    assert_eq!(shown(&state), [1, 2, 3, 4, 5]);
    update(
        &mut state,
        Msg::Agent(AgentEvent::Paused(Box::new(Paused {
            turn: TurnId(2),
            pause: PauseId(1),
            step: 3,
            parent: StepId(7),
            at: PauseAt::Tool {
                call: crate::llm::ToolCall {
                    id: "c2".into(),
                    name: "demo__add".into(),
                    arguments: json!({"a": 1}),
                },
            },
            reason: PauseReason::Stepping,
        }))),
    );
    assert_eq!(selected(&state), 7, "where the run stopped");
    assert!(shown(&state).contains(&7), "its collapsed ancestor opened");
    assert!(state.trace.follow);
}
