//! Reducer tests for the debugger: a pause queues and shows, n/c/x answer the oldest pause,
//! `s` in the Trace pane toggles step mode, `f` forks from a model request and only from one.

use std::sync::Arc;

use ratatui::crossterm::event::KeyCode;

use super::*;
use crate::llm::{ChatMessage, ChatRequest, ToolCall};
use crate::protocol::debug::{
    Breakpoint, DebugAction, DebugCommand, PauseAt, PauseId, PauseReason, Paused,
};
use crate::protocol::{AgentCommand, AgentEvent, StepBody, StepId, TraceStep, TurnId};
use crate::tui::test_support::{app_state, ch, key, update};

fn commands(effects: Vec<Effect>) -> Vec<AgentCommand> {
    effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::Agent(c) => Some(c),
            _ => None,
        })
        .collect()
}

fn paused(pause: u64, at: PauseAt) -> Msg {
    Msg::Agent(AgentEvent::Paused(Box::new(Paused {
        turn: TurnId(1),
        pause: PauseId(pause),
        step: 2,
        parent: StepId(1),
        at,
        reason: PauseReason::Breakpoint(Breakpoint::Tool("demo__*".into())),
    })))
}

fn tool_pause(pause: u64) -> Msg {
    paused(
        pause,
        PauseAt::Tool {
            call: ToolCall {
                id: "c1".into(),
                name: "demo__echo".into(),
                arguments: serde_json::json!({"message": "hi"}),
            },
        },
    )
}

#[test]
fn a_pause_is_shown_and_n_c_x_answer_the_oldest_first() {
    let mut state = app_state(Some("openai/gpt-4o-mini"));
    state.agent.running = Some(TurnId(1));
    update(&mut state, tool_pause(1));
    update(&mut state, tool_pause(2));
    let text = &state.chat.entries.last().expect("a notice").text;
    assert!(
        text.contains("Paused at step 2 (breakpoint tool:demo__*)"),
        "{text}"
    );
    assert!(
        text.contains("\"message\":\"hi\""),
        "the arguments are shown: {text}"
    );
    assert_eq!(state.focus, Pane::Trace, "the trace comes forward");
    assert!(state.scopes().contains(&crate::tui::keymap::Scope::Paused));
    match commands(update(&mut state, ch('n'))).as_slice() {
        [
            AgentCommand::Debug(DebugCommand::Resume {
                pause,
                action,
                edit,
            }),
        ] => {
            assert_eq!(
                (*pause, *action, edit),
                (PauseId(1), DebugAction::Step, &None)
            );
        }
        other => panic!("{other:?}"),
    }
    match commands(update(&mut state, ch('x'))).as_slice() {
        [AgentCommand::Debug(DebugCommand::Resume { pause, action, .. })] => {
            assert_eq!((*pause, *action), (PauseId(2), DebugAction::Stop));
        }
        other => panic!("{other:?}"),
    }
    assert!(state.agent.paused.is_empty());
    assert!(
        commands(update(&mut state, ch('c'))).is_empty(),
        "no pause left to answer"
    );
}

#[test]
fn a_pause_does_not_take_the_keyboard_from_a_half_typed_message() {
    let mut state = app_state(Some("openai/gpt-4o-mini"));
    state.agent.running = Some(TurnId(1));
    for c in "draft".chars() {
        update(&mut state, ch(c));
    }
    update(&mut state, tool_pause(1));
    assert_eq!(state.focus, Pane::Chat);
    assert!(state.typing);
    update(&mut state, ch('n'));
    assert_eq!(
        state.chat.input.lines()[0],
        "draftn",
        "n is text while typing"
    );
    assert_eq!(state.agent.paused.len(), 1);
}

#[test]
fn s_toggles_step_mode_in_the_trace_pane_and_f_forks_a_model_request() {
    let mut state = app_state(Some("openai/gpt-4o-mini"));
    update(&mut state, key(KeyCode::Esc));
    update(&mut state, ch('4'));
    assert_eq!(state.focus, Pane::Trace);
    match commands(update(&mut state, ch('s'))).as_slice() {
        [AgentCommand::Debug(DebugCommand::SetStepMode(true))] => {}
        other => panic!("{other:?}"),
    }
    assert!(state.agent.step_mode);
    match commands(update(&mut state, ch('s'))).as_slice() {
        [AgentCommand::Debug(DebugCommand::SetStepMode(false))] => {}
        other => panic!("{other:?}"),
    }

    let request = ChatRequest {
        messages: vec![ChatMessage::user("first question")],
        ..ChatRequest::default()
    };
    let turn_step = TraceStep::begin(
        StepId(1),
        None,
        Some(TurnId(1)),
        StepBody::Turn {
            user_text: "first question".into(),
            mode: crate::protocol::AgentMode::Chat,
            outcome: None,
        },
    );
    let request_step = TraceStep::begin(
        StepId(2),
        Some(StepId(1)),
        Some(TurnId(1)),
        StepBody::ModelRequest {
            model: "openai/gpt-4o-mini".into(),
            request: Arc::new(request),
        },
    );
    for step in [turn_step, request_step] {
        update(&mut state, Msg::Agent(AgentEvent::Trace(Arc::new(step))));
    }
    state.trace.select(0);
    assert!(
        commands(update(&mut state, ch('f'))).is_empty(),
        "a turn is not a request"
    );
    assert!(
        state
            .notice
            .as_deref()
            .is_some_and(|n| n.contains("Select a model request"))
    );
    state.trace.select(1);
    match commands(update(&mut state, ch('f'))).as_slice() {
        [AgentCommand::Fork { from, messages, .. }] => {
            assert_eq!(*from, StepId(2));
            assert_eq!(messages, &vec![ChatMessage::user("first question")]);
        }
        other => panic!("{other:?}"),
    }
    assert!(state.agent.running.is_some());
    update(&mut state, key(KeyCode::Esc));
}

#[test]
fn e_edits_the_pending_arguments_and_bad_json_is_refused_in_place() {
    let mut state = app_state(Some("openai/gpt-4o-mini"));
    state.agent.running = Some(TurnId(1));
    update(&mut state, tool_pause(7));
    update(&mut state, ch('e'));
    assert!(
        state
            .scopes()
            .contains(&crate::tui::keymap::Scope::PausedEdit)
    );
    let editor = &mut state.agent.pause_editor.as_mut().expect("an editor").editor;
    assert!(
        editor.text().contains("\"message\": \"hi\""),
        "{}",
        editor.text()
    );
    *editor.editor = ratatui_textarea::TextArea::new(vec!["{\"message\": ".into()]);
    assert!(commands(update(&mut state, crate::tui::test_support::ctrl('s'))).is_empty());
    let error = state
        .agent
        .pause_editor
        .as_ref()
        .and_then(|p| p.editor.error.clone());
    assert!(
        error.is_some_and(|e| e.starts_with("not valid JSON")),
        "refused in place"
    );
    assert_eq!(state.agent.paused.len(), 1, "the pause still waits");
    let editor = &mut state
        .agent
        .pause_editor
        .as_mut()
        .expect("still open")
        .editor;
    *editor.editor = ratatui_textarea::TextArea::new(vec!["[1]".into()]);
    update(&mut state, crate::tui::test_support::ctrl('s'));
    let error = state
        .agent
        .pause_editor
        .as_ref()
        .and_then(|p| p.editor.error.clone());
    assert_eq!(
        error.as_deref(),
        Some("the arguments must be a JSON object")
    );
    let editor = &mut state
        .agent
        .pause_editor
        .as_mut()
        .expect("still open")
        .editor;
    *editor.editor = ratatui_textarea::TextArea::new(vec!["{\"message\": \"edited\"}".into()]);
    match commands(update(&mut state, crate::tui::test_support::ctrl('s'))).as_slice() {
        [
            AgentCommand::Debug(DebugCommand::Resume {
                pause,
                action,
                edit,
            }),
        ] => {
            assert_eq!((*pause, *action), (PauseId(7), DebugAction::Step));
            let expected = serde_json::json!({"message": "edited"});
            assert_eq!(
                edit,
                &Some(crate::protocol::debug::DebugEdit::ToolArguments(
                    expected.as_object().expect("object").clone()
                ))
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(state.agent.pause_editor.is_none());
    assert!(state.agent.paused.is_empty());
}

#[test]
fn w_saves_the_trace_and_says_where() {
    let mut state = app_state(Some("openai/gpt-4o-mini"));
    update(&mut state, key(KeyCode::Esc));
    update(&mut state, ch('4'));
    assert!(update(&mut state, ch('w')).is_empty());
    assert!(
        state
            .notice
            .as_deref()
            .is_some_and(|n| n.contains("trace is empty"))
    );
    let step = TraceStep::begin(
        StepId(1),
        None,
        Some(TurnId(1)),
        StepBody::Error {
            message: "boom".into(),
        },
    );
    update(&mut state, Msg::Agent(AgentEvent::Trace(Arc::new(step))));
    match update(&mut state, ch('w')).as_slice() {
        [Effect::SaveTrace(steps)] => assert_eq!(steps.len(), 1),
        other => panic!("{other:?}"),
    }
    update(
        &mut state,
        Msg::TraceSaved(Ok(std::path::PathBuf::from(
            "/data/mcpomni/traces/s-1.jsonl",
        ))),
    );
    assert_eq!(
        state.notice.as_deref(),
        Some("Trace saved to /data/mcpomni/traces/s-1.jsonl (1 step).")
    );
}

#[test]
fn capital_e_jumps_to_the_next_failed_step_and_z_zooms() {
    let mut state = app_state(Some("openai/gpt-4o-mini"));
    state.size = (140, 45);
    update(&mut state, key(KeyCode::Esc));
    update(&mut state, ch('4'));
    let step = |id: u64, status| {
        let mut step = TraceStep::begin(
            StepId(id),
            None,
            Some(TurnId(1)),
            StepBody::Error {
                message: format!("step {id}"),
            },
        );
        step.end(status);
        Msg::Agent(AgentEvent::Trace(Arc::new(step)))
    };
    update(&mut state, step(1, crate::protocol::StepStatus::Ok));
    update(&mut state, ch('E'));
    assert_eq!(state.notice.as_deref(), Some("No step failed."));
    for (id, status) in [
        (2, crate::protocol::StepStatus::Error),
        (3, crate::protocol::StepStatus::Ok),
        (4, crate::protocol::StepStatus::Error),
    ] {
        update(&mut state, step(id, status));
    }
    state.trace.select(0);
    update(&mut state, ch('E'));
    assert_eq!(state.trace.selected, 1);
    update(&mut state, ch('E'));
    assert_eq!(state.trace.selected, 3);
    update(&mut state, ch('E'));
    assert_eq!(state.trace.selected, 1, "wraps around");

    let grid = state.layout();
    update(&mut state, ch('z'));
    assert!(state.zoomed);
    let zoomed = state.layout();
    assert_ne!(grid, zoomed, "the Trace pane takes the whole body");
    update(&mut state, ch('z'));
    assert!(!state.zoomed);
}
