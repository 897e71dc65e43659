//! What the Trace pane's keys do beyond moving: open a step whole in the pager, filter the
//! steps, and set breakpoints — on the selected step (`b`) or typed (`B`). Breakpoints are
//! session settings the agent keeps; every change sends the whole list. A tool glob that
//! matches no tool of any server gets a warning (it may match one that comes later, so it is
//! kept).

use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::call::ResultText;
use super::chat::Role;
use super::pager::Pager;
use super::trace::{InputPurpose, TraceInput};
use super::trace_filter::TraceFilter;
use super::trace_page::page;
use super::{AppState, Effect};
use crate::protocol::debug::{Breakpoint, DebugCommand, glob_matches};
use crate::protocol::{AgentCommand, StepBody, StepStatus};

/// Enter: the selected step, whole, in the pager.
pub fn open_selected(state: &mut AppState) {
    let Some(row) = state.trace.selected_row() else {
        return;
    };
    let (heading, text) = page(&row.step, state.trace.selected + 1, &row.title);
    state.pager = Some(Pager::new(heading, ResultText::new(&text, false)));
}

/// `/` (filter) or `B` (breakpoint): a line to type at the bottom of the pane.
pub fn start_input(state: &mut AppState, purpose: InputPurpose) {
    let text = match (purpose, &state.trace.filter) {
        (InputPurpose::Filter, Some(filter)) => filter.text.clone(),
        _ => String::new(),
    };
    state.trace.input = Some(TraceInput {
        purpose,
        text,
        error: None,
    });
}

/// A key typed into the line; the filter applies at once while it reads.
pub fn input_key(state: &mut AppState, key: KeyEvent) {
    let Some(input) = &mut state.trace.input else {
        return;
    };
    match key.code {
        KeyCode::Backspace => {
            input.text.pop();
        }
        KeyCode::Char(c) => input.text.push(c),
        _ => return,
    }
    input.error = None;
    if input.purpose == InputPurpose::Filter {
        apply_filter(state);
    }
}

/// Pasted text goes into the line as one line.
pub fn input_paste(state: &mut AppState, text: &str) {
    if let Some(input) = &mut state.trace.input {
        input.text.push_str(&text.replace(['\r', '\n'], " "));
        if input.purpose == InputPurpose::Filter {
            apply_filter(state);
        }
    }
}

fn apply_filter(state: &mut AppState) {
    let Some(input) = &mut state.trace.input else {
        return;
    };
    match TraceFilter::parse(&input.text) {
        Ok(filter) => state.trace.set_filter(filter),
        // The last filter that read stays until this one does.
        Err(error) => input.error = Some(error),
    }
}

/// Enter: keep the filter, or add the typed breakpoint (the line stays open on an error).
pub fn accept_input(state: &mut AppState, effects: &mut Vec<Effect>) {
    let Some(input) = state.trace.input.take() else {
        return;
    };
    match input.purpose {
        InputPurpose::Filter => {
            if input.error.is_some() {
                state.trace.input = Some(input);
                return;
            }
            state.notice = Some(match &state.trace.filter {
                Some(filter) => format!(
                    "{} of {} steps match “{}” · Esc shows every step",
                    state.trace.matched,
                    state.trace.len(),
                    filter.text
                ),
                None => "Every step shows.".to_owned(),
            });
        }
        InputPurpose::Breakpoint => match input.text.trim().parse::<Breakpoint>() {
            Err(why) => {
                state.trace.input = Some(TraceInput {
                    error: Some(why),
                    ..input
                });
            }
            Ok(breakpoint) => {
                if state.agent.breakpoints.contains(&breakpoint) {
                    state.notice = Some(format!("Breakpoint {breakpoint} is already set."));
                } else {
                    add_breakpoint(state, breakpoint, effects);
                }
            }
        },
    }
}

/// Esc on the line: a filter being typed is dropped; a breakpoint is not added.
pub fn cancel_input(state: &mut AppState) {
    if let Some(input) = state.trace.input.take()
        && input.purpose == InputPurpose::Filter
    {
        state.trace.set_filter(None);
    }
}

/// Esc in the pane: every step shows again.
pub fn clear_filter(state: &mut AppState) {
    if state.trace.filter.is_some() {
        state.trace.set_filter(None);
        state.notice = Some("Filter cleared: every step shows.".to_owned());
    }
}

/// `b`: a breakpoint for what the selected step is — before model requests, before calls to
/// this tool, on errors — set, or removed when it is set already.
pub fn toggle_breakpoint(state: &mut AppState, effects: &mut Vec<Effect>) {
    let Some(row) = state.trace.selected_row() else {
        return;
    };
    let breakpoint = match &row.step.body {
        _ if row.step.status == StepStatus::Error => Breakpoint::Error,
        StepBody::ModelRequest { .. } | StepBody::ModelReply { .. } => Breakpoint::Model,
        StepBody::ToolCall { .. } | StepBody::Approval { .. } | StepBody::ToolResult { .. } => {
            match &row.tool {
                Some(tool) => Breakpoint::Tool(tool.clone()),
                None => return,
            }
        }
        _ => {
            state.notice = Some(
                "b sets a breakpoint on a model request, a tool call or a failed step; \
                 B types one (model, tool:GLOB, error, step:N)."
                    .to_owned(),
            );
            return;
        }
    };
    if let Some(at) = state
        .agent
        .breakpoints
        .iter()
        .position(|b| *b == breakpoint)
    {
        state.agent.breakpoints.remove(at);
        send_breakpoints(state, effects);
        state.notice = Some(format!("Breakpoint {breakpoint} removed."));
    } else {
        add_breakpoint(state, breakpoint, effects);
    }
}

fn add_breakpoint(state: &mut AppState, breakpoint: Breakpoint, effects: &mut Vec<Effect>) {
    let mut notice = format!(
        "Breakpoint {breakpoint} set: runs pause {} (b on a step toggles).",
        match &breakpoint {
            Breakpoint::Model => "before every model request".to_owned(),
            Breakpoint::Tool(_) => "before calls to matching tools".to_owned(),
            Breakpoint::Error => "after anything fails".to_owned(),
            Breakpoint::Step(n) => format!("before step {n} of each turn"),
        }
    );
    if let Some(warning) = unmatched(state, &breakpoint) {
        notice = warning;
    }
    state.agent.breakpoints.push(breakpoint);
    send_breakpoints(state, effects);
    state.notice = Some(notice);
}

fn send_breakpoints(state: &AppState, effects: &mut Vec<Effect>) {
    effects.push(Effect::Agent(AgentCommand::Debug(
        DebugCommand::SetBreakpoints(state.agent.breakpoints.clone()),
    )));
}

/// A warning when `breakpoint` is a tool glob no tool of any server matches.
fn unmatched(state: &AppState, breakpoint: &Breakpoint) -> Option<String> {
    let Breakpoint::Tool(glob) = breakpoint else {
        return None;
    };
    let matched = state
        .tools
        .catalog
        .tools
        .iter()
        .any(|tool| glob_matches(glob, &tool.qualified_name));
    (!matched).then(|| {
        format!(
            "Warning: breakpoint {breakpoint} matches no tool of any server now (kept: it \
             pauses if such a tool appears)."
        )
    })
}

/// Once every server has settled, the breakpoints from the config and `--break` that match
/// no tool are named in the chat (once per session).
pub fn check_configured_breakpoints(state: &mut AppState) {
    if state.agent.breakpoints_checked
        || state.servers.servers.is_empty()
        || !state.servers.servers.iter().all(|s| s.state.is_settled())
    {
        return;
    }
    state.agent.breakpoints_checked = true;
    let warnings: Vec<String> = state
        .agent
        .breakpoints
        .iter()
        .filter_map(|breakpoint| unmatched(state, breakpoint))
        .collect();
    for warning in warnings {
        state.chat.push(Role::Notice, warning.clone());
        state.notice = Some(warning);
    }
}
