//! The dashboard's session commands (`/sessions`, `/clear`, `/clear_history`, `/save_history:`,
//! `/load_history:`, `/memory`, `/compact`) and what the agent answers. The agent owns the
//! conversation and the session it is written to, so switching sessions goes through it.

use std::path::PathBuf;

use crate::llm::ChatMessage;
use crate::memory::writer::SaveState;
use crate::memory::{SessionId, SessionInfo};
use crate::protocol::TraceStep;

#[derive(Debug, Clone, PartialEq)]
pub enum SessionCommand {
    /// The store's sessions, for the picker.
    List,
    /// Continue that session instead of this one.
    Resume(SessionId),
    /// Delete another session's stored history.
    Delete(SessionId),
    /// `/clear`: forget the conversation and start a new session.
    New,
    /// `/clear_history`: delete this session's stored history, then as `/clear`.
    ClearHistory,
    /// `/save_history:<path>`: the conversation as JSON entries.
    Save(PathBuf),
    /// `/load_history:<path>`: replace the conversation with a saved one (kept in this session).
    Load(PathBuf),
    /// `/memory`: the store, the session and its size.
    Info,
    /// `/history`: the messages the model sees, one line each.
    History,
    /// `/compact`: the model summarises the older part of the conversation.
    Compact,
}

#[derive(Debug, Clone)]
pub enum SessionEvent {
    Listed {
        sessions: Vec<SessionInfo>,
        /// The session this window writes to (not offered for deletion).
        current: Option<SessionId>,
    },
    /// The conversation is now `history` (a resumed, new, loaded or compacted one); `steps` is
    /// its stored trace (empty when the trace stays as it is).
    Switched {
        id: Option<SessionId>,
        history: Vec<ChatMessage>,
        /// What to show in the chat when `redraw`: every message as it was said (what a
        /// `/compact` summary replaced in `history` too).
        said: Vec<ChatMessage>,
        steps: Vec<TraceStep>,
        /// Replace what the chat and trace show (false: only the status changes).
        redraw: bool,
        note: String,
    },
    /// Whether everything said so far has reached the store.
    Saved(SaveState),
    /// The answer to a command that changes nothing on screen (or why it failed).
    Note(String),
}
