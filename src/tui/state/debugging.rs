//! The dashboard's half of the debugger: pauses arrive as `AgentEvent::Paused` and queue here
//! (parallel sub-agents can each pause); `n`, `c` and `x` answer the oldest; `s` in the Trace
//! pane turns step mode on and off; `f` forks a new run from the selected model request.

use super::agent::JsonEditor;
use super::chat::Role;
use super::{AppState, Effect, Pane};
use crate::llm::ChatMessage;
use crate::protocol::debug::{DebugAction, DebugCommand, DebugEdit, PauseAt, PauseReason, Paused};
use crate::protocol::{AgentCommand, StepBody};

/// A run paused: queue it, say so in the chat, and show the trace (unless the user is in the
/// middle of typing a message).
pub fn on_paused(state: &mut AppState, paused: Paused) {
    let reason = match &paused.reason {
        PauseReason::Stepping => "stepping".to_owned(),
        PauseReason::Breakpoint(breakpoint) => format!("breakpoint {breakpoint}"),
    };
    let mut text = format!(
        "Paused at step {} ({reason}): {}.",
        paused.step,
        paused.at.describe()
    );
    if let PauseAt::Tool { call } = &paused.at {
        text.push_str(&format!("\nArguments: {}", call.arguments));
    }
    text.push_str("\nn runs the next step · c continues to the next breakpoint · x stops.");
    state.chat.push(Role::Notice, text);
    state.trace.focus_step(paused.parent);
    state.agent.paused.push_back(paused);
    // "Running one step…" is over: the run is waiting again.
    state.notice = None;
    let typed_something = state.chat.input.lines().iter().any(|line| !line.is_empty());
    if !(state.typing && typed_something) {
        state.focus = Pane::Trace;
        state.typing = false;
    }
}

/// Answers the oldest pause.
pub fn resume(state: &mut AppState, action: DebugAction, effects: &mut Vec<Effect>) {
    let Some(paused) = state.agent.paused.pop_front() else {
        return;
    };
    effects.push(Effect::Agent(AgentCommand::Debug(DebugCommand::Resume {
        pause: paused.pause,
        action,
        edit: None,
    })));
    state.notice = Some(match action {
        DebugAction::Step => "Running one step…".to_owned(),
        DebugAction::Continue => "Continuing to the next breakpoint…".to_owned(),
        DebugAction::Stop => "Stopping the run.".to_owned(),
    });
}

pub fn toggle_step_mode(state: &mut AppState, effects: &mut Vec<Effect>) {
    state.agent.step_mode = !state.agent.step_mode;
    effects.push(Effect::Agent(AgentCommand::Debug(
        DebugCommand::SetStepMode(state.agent.step_mode),
    )));
    state.notice = Some(if state.agent.step_mode {
        "Step mode on: the agent pauses before every model request and tool call.".to_owned()
    } else {
        "Step mode off.".to_owned()
    });
}

/// Runs again from the selected model request, with the messages it sent.
pub fn fork_selected(state: &mut AppState, effects: &mut Vec<Effect>) {
    let selected = state
        .trace
        .rows
        .get(state.trace.selected)
        .map(|row| row.step.clone());
    let Some(step) = selected else {
        return;
    };
    let StepBody::ModelRequest { request, .. } = &step.body else {
        state.notice = Some("Select a model request (“ask …”) to fork from it.".to_owned());
        return;
    };
    if state.agent.running.is_some() {
        state.notice = Some("A run is going: wait for it, or stop it, before forking.".to_owned());
        return;
    }
    let turn = state.agent.begin_turn();
    effects.push(Effect::Agent(AgentCommand::Fork {
        turn,
        from: step.id,
        messages: request.messages.clone(),
    }));
    state.notice = Some(format!(
        "Forked from step {}: the new run appears beside the old one.",
        step.id
    ));
}

/// What a pause editor changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditTarget {
    /// The pending tool call's arguments (a JSON object).
    Arguments,
    /// The next model request's messages (a JSON array of messages).
    Messages,
    /// The failed tool result the model sees next (a JSON string).
    LastResult,
}

/// The JSON editor opened on a pause.
#[derive(Debug)]
pub struct PauseEditor {
    pub target: EditTarget,
    pub editor: JsonEditor,
}

impl EditTarget {
    pub fn title(self) -> &'static str {
        match self {
            EditTarget::Arguments => "the call's arguments",
            EditTarget::Messages => "the messages the next request sends",
            EditTarget::LastResult => "the tool result the model sees",
        }
    }
}

/// `e` on a pause: the editor holds what the run would use next.
pub fn open_editor(state: &mut AppState) {
    let Some(front) = state.agent.paused.front() else {
        return;
    };
    let (target, value) = match &front.at {
        PauseAt::Tool { call } => (EditTarget::Arguments, call.arguments.clone()),
        PauseAt::Model { request } => (
            EditTarget::Messages,
            serde_json::to_value(&request.messages).unwrap_or_default(),
        ),
        PauseAt::Error { last_result, .. } => (
            EditTarget::LastResult,
            serde_json::Value::String(last_result.clone().unwrap_or_default()),
        ),
    };
    state.agent.pause_editor = Some(PauseEditor {
        target,
        editor: JsonEditor::new(&value),
    });
}

/// Ctrl-S: the edit goes with "run one step" if it is valid JSON of the right shape; else the
/// editor stays open and says what is wrong.
pub fn submit_edit(state: &mut AppState, effects: &mut Vec<Effect>) {
    let Some(open) = &mut state.agent.pause_editor else {
        return;
    };
    let text = open.editor.text();
    let edit = match open.target {
        EditTarget::Arguments => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(arguments)) => Ok(DebugEdit::ToolArguments(arguments)),
            Ok(_) => Err("the arguments must be a JSON object".to_owned()),
            Err(error) => Err(format!("not valid JSON: {error}")),
        },
        EditTarget::Messages => serde_json::from_str::<Vec<ChatMessage>>(&text)
            .map(DebugEdit::Messages)
            .map_err(|error| format!("not a valid list of messages: {error}")),
        EditTarget::LastResult => serde_json::from_str::<String>(&text)
            .map(DebugEdit::LastToolResult)
            .map_err(|error| format!("the result must be one JSON string: {error}")),
    };
    match edit {
        Err(error) => open.editor.error = Some(error),
        Ok(edit) => {
            state.agent.pause_editor = None;
            let Some(paused) = state.agent.paused.pop_front() else {
                return;
            };
            effects.push(Effect::Agent(AgentCommand::Debug(DebugCommand::Resume {
                pause: paused.pause,
                action: DebugAction::Step,
                edit: Some(edit),
            })));
            state.notice = Some("Edited; running one step…".to_owned());
        }
    }
}

/// `w` in the Trace pane: every step so far goes to a new file (the app writes it and reports
/// back with `Msg::TraceSaved`).
pub fn save_trace(state: &mut AppState, effects: &mut Vec<Effect>) {
    if state.trace.is_empty() {
        state.notice = Some("Nothing to save yet: the trace is empty.".to_owned());
        return;
    }
    let steps = state
        .trace
        .rows
        .iter()
        .map(|row| row.step.clone())
        .collect();
    effects.push(Effect::SaveTrace(steps));
    state.notice = Some("Saving the trace…".to_owned());
}

pub fn on_trace_saved(state: &mut AppState, saved: Result<std::path::PathBuf, String>) {
    state.notice = Some(match saved {
        Ok(path) => format!(
            "Trace saved to {} ({}).",
            path.display(),
            crate::text::plural(state.trace.len(), "step", "steps")
        ),
        Err(why) => format!("The trace was not saved: {why}"),
    });
}
