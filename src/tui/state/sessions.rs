//! The dashboard's sessions: the picker (`S` or `/sessions`: resume or delete a saved
//! conversation), the session slash commands, and the agent's answers — a switched session
//! redraws the chat and the trace from what was stored.

use std::sync::Arc;

use crate::memory::writer::SaveState;
use crate::memory::{SessionId, SessionInfo};
use crate::protocol::session::{SessionCommand, SessionEvent};
use crate::protocol::{AgentCommand, TraceStep};
use crate::tui::keymap::Action;

use super::chat::Role;
use super::{AppState, Effect};

/// The picker overlay.
#[derive(Debug, Clone, Default)]
pub struct SessionPicker {
    /// `None` until the store answers.
    pub sessions: Option<Vec<SessionInfo>>,
    /// The session this window writes to (shown, not deletable).
    pub current: Option<SessionId>,
    pub selected: usize,
    /// `d` was pressed on this session: `y` deletes it, anything else keeps it.
    pub confirm_delete: Option<SessionId>,
}

impl SessionPicker {
    pub fn selected_session(&self) -> Option<&SessionInfo> {
        self.sessions.as_ref()?.get(self.selected)
    }
}

/// `S` or `/sessions`: open the picker and ask the agent for the list.
pub fn open_picker(state: &mut AppState, effects: &mut Vec<Effect>) {
    if !state.agent.available {
        state.notice = Some("Sessions need an LLM: there is no conversation to keep.".to_owned());
        return;
    }
    state.sessions = Some(SessionPicker::default());
    effects.push(session_command(SessionCommand::List));
}

fn session_command(command: SessionCommand) -> Effect {
    Effect::Agent(AgentCommand::Session(command))
}

/// A key in the picker.
pub fn on_action(state: &mut AppState, action: Action, effects: &mut Vec<Effect>) {
    let Some(picker) = state.sessions.as_mut() else {
        return;
    };
    let armed = picker.confirm_delete.take();
    let count = picker.sessions.as_ref().map_or(0, Vec::len);
    match action {
        Action::Up => picker.selected = picker.selected.saturating_sub(1),
        Action::Down => picker.selected = (picker.selected + 1).min(count.saturating_sub(1)),
        Action::CloseSessions => state.sessions = None,
        Action::ResumeSession => {
            if let Some(session) = picker.selected_session() {
                let id = session.id.clone();
                if picker.current.as_ref() == Some(&id) {
                    state.sessions = None;
                    state.notice = Some(format!("Session {id} is the one open here."));
                } else {
                    effects.push(session_command(SessionCommand::Resume(id)));
                }
            }
        }
        Action::DeleteSession => {
            if let Some(session) = picker.selected_session() {
                if picker.current.as_ref() == Some(&session.id) {
                    state.notice = Some(
                        "That is this window's session: /clear_history deletes it.".to_owned(),
                    );
                } else {
                    picker.confirm_delete = Some(session.id.clone());
                }
            }
        }
        Action::ConfirmDelete => {
            if let Some(id) = armed {
                effects.push(session_command(SessionCommand::Delete(id)));
            }
        }
        _ => {}
    }
}

/// The session slash commands; `None` when `command` is not one of them.
pub fn slash_command(state: &mut AppState, command: &str, effects: &mut Vec<Effect>) -> Option<()> {
    let command = command.trim();
    let (name, argument) = match command.split_once(':') {
        Some((name, argument)) => (name, Some(argument.trim())),
        None => (command, None),
    };
    let session_command = match (name, argument) {
        ("/sessions", None) => {
            open_picker(state, effects);
            return Some(());
        }
        ("/memory", None) => SessionCommand::Info,
        ("/history", None) => SessionCommand::History,
        ("/clear_history", None) => SessionCommand::ClearHistory,
        ("/compact", None) => SessionCommand::Compact,
        ("/save_history" | "/load_history", None | Some("")) => {
            state.chat.push(
                Role::Notice,
                format!("{name} needs a file: {name}:<path>, e.g. {name}:chat.json"),
            );
            return Some(());
        }
        ("/save_history", Some(path)) => SessionCommand::Save(path.into()),
        ("/load_history", Some(path)) => SessionCommand::Load(path.into()),
        _ => return None,
    };
    if !state.agent.available {
        state.chat.push(
            Role::Notice,
            format!("{name} needs an LLM: no conversation is kept without one."),
        );
        return Some(());
    }
    effects.push(Effect::Agent(AgentCommand::Session(session_command)));
    Some(())
}

/// The agent's answers.
pub fn on_event(state: &mut AppState, event: SessionEvent) {
    match event {
        SessionEvent::Listed { sessions, current } => {
            if let Some(picker) = state.sessions.as_mut() {
                picker.selected = picker.selected.min(sessions.len().saturating_sub(1));
                picker.sessions = Some(sessions);
                picker.current = current;
            }
        }
        SessionEvent::Switched {
            id,
            said,
            steps,
            redraw,
            note,
            ..
        } => {
            state.sessions = None;
            state.agent.session = id.map(|id| id.to_string());
            state.agent.save_state = SaveState::Saved;
            // The meter spoke of the conversation that was replaced.
            state.agent.context = None;
            if redraw {
                state.chat.clear();
                state.trace.clear();
                state.show_history(&said);
                restore_steps(state, steps);
            }
            state.chat.push(Role::Notice, note);
        }
        SessionEvent::Saved(saved) => state.agent.save_state = saved,
        SessionEvent::Note(text) => {
            state.chat.push(Role::Notice, text);
        }
    }
}

/// A resumed session's stored trace, back in the Trace pane; new turns are numbered after it.
pub fn restore_steps(state: &mut AppState, steps: Vec<TraceStep>) {
    if let Some(last) = steps.iter().filter_map(|step| step.turn).max() {
        state.agent.turns_after(last);
    }
    for step in steps {
        state.trace.upsert(Arc::new(step));
    }
}
