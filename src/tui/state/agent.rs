//! What the dashboard knows about the agent: the mode, the turn in progress, the queue of tool
//! calls waiting for approval (the front one has the keyboard), servers' sampling requests,
//! and the usage totals for the status bar.

// rmcp marks sampling deprecated (SEP-2577); servers on 2025-11-25 and older use it.
#![allow(deprecated)]

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use ratatui_textarea::TextArea;
use rmcp::model::CreateMessageRequestParams;

use crate::protocol::{
    AgentMode, ApprovalId, ProposedCall, SamplingId, ToolCallId, TurnId, UsageTotals,
};
use crate::runtime::messages::ServerName;

/// Keys pressed this soon after a prompt appeared are ignored: they were typed for the chat
/// input (a "y" in "yes") before the prompt took the keyboard, not an answer to it.
pub const PROMPT_GRACE: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, PartialEq)]
pub struct PendingApproval {
    pub turn: TurnId,
    pub approval: ApprovalId,
    pub call: ProposedCall,
    pub index: usize,
    pub total: usize,
    /// When it reached the front of the queue (became visible).
    pub shown_at: Instant,
    /// Lines of the arguments scrolled past in the prompt.
    pub scroll: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PendingSampling {
    pub id: SamplingId,
    pub server: ServerName,
    pub params: Box<CreateMessageRequestParams>,
    pub shown_at: Instant,
    /// Lines of the request scrolled past in the prompt.
    pub scroll: usize,
}

/// A JSON editor opened from an approval or sampling prompt.
#[derive(Debug)]
pub struct JsonEditor {
    pub editor: Box<TextArea<'static>>,
    pub error: Option<String>,
}

impl JsonEditor {
    pub fn new(value: &serde_json::Value) -> Self {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".to_owned());
        Self {
            editor: Box::new(TextArea::new(text.lines().map(str::to_owned).collect())),
            error: None,
        }
    }

    pub fn text(&self) -> String {
        self.editor.lines().join("\n")
    }
}

/// A tool call's line in the chat: what was called, and its latest progress.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatCall {
    pub entry: u64,
    /// `server__tool {arguments} · approved by …`
    pub header: String,
    pub progress: Option<String>,
}

#[derive(Debug)]
pub struct AgentState {
    /// An LLM provider is running (false: the chat explains how to configure one).
    pub available: bool,
    /// Why the configured LLM could not be started (replaces the "configure one" guidance).
    pub unavailable: Option<String>,
    pub mode: AgentMode,
    pub running: Option<TurnId>,
    next_turn: u64,
    pub approvals: VecDeque<PendingApproval>,
    pub approval_editor: Option<JsonEditor>,
    pub sampling: VecDeque<PendingSampling>,
    pub sampling_editor: Option<JsonEditor>,
    /// How far the front prompt can scroll, as of the last frame (the view knows the wrapped
    /// height).
    pub prompt_max_scroll: Cell<usize>,
    pub session_usage: UsageTotals,
    pub last_turn_usage: Option<UsageTotals>,
    /// The chat entry the running turn's text streams into.
    pub streaming_entry: Option<u64>,
    /// The chat entries of this turn's tool calls, by call id.
    pub calls: HashMap<ToolCallId, ChatCall>,
    /// Pauses waiting for step / continue / stop, oldest first (parallel sub-agents can each
    /// pause).
    pub paused: VecDeque<crate::protocol::debug::Paused>,
    /// Step mode as last sent to the agent.
    pub step_mode: bool,
    /// Editing what the oldest paused run does next.
    pub pause_editor: Option<crate::tui::state::debugging::PauseEditor>,
    /// Breakpoints as last sent to the agent (from the config, flags and the Trace pane).
    pub breakpoints: Vec<crate::protocol::debug::Breakpoint>,
    /// The configured breakpoints were checked against the servers' tools.
    pub breakpoints_checked: bool,
    /// The id of the session turns are saved to (none: not saved).
    pub session: Option<String>,
    /// Whether everything said has reached the store.
    pub save_state: crate::memory::writer::SaveState,
    /// The context meter: what the last request was estimated to take, and the model's
    /// window (none before the first request and after `/clear`).
    pub context: Option<ContextMeter>,
}

/// What the status bar's context meter shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextMeter {
    /// Tokens of the last request (system prompt, tools, history sent), estimated.
    pub estimate: u64,
    /// `LLM.max_context_length`, when set.
    pub window: Option<u64>,
}

impl AgentState {
    pub fn new(available: bool) -> Self {
        Self {
            available,
            unavailable: None,
            mode: AgentMode::Chat,
            running: None,
            next_turn: 0,
            approvals: VecDeque::new(),
            approval_editor: None,
            sampling: VecDeque::new(),
            sampling_editor: None,
            prompt_max_scroll: Cell::new(0),
            session_usage: UsageTotals::default(),
            last_turn_usage: None,
            streaming_entry: None,
            calls: HashMap::new(),
            paused: VecDeque::new(),
            step_mode: false,
            pause_editor: None,
            breakpoints: Vec::new(),
            breakpoints_checked: false,
            session: None,
            save_state: crate::memory::writer::SaveState::Saved,
            context: None,
        }
    }

    /// The prompt that has the keyboard was shown long enough before `now` (the key's time)
    /// for the key to be an answer.
    pub fn prompt_armed(&self, now: Instant) -> bool {
        let shown_at = match (self.approvals.front(), self.sampling.front()) {
            (Some(approval), _) => approval.shown_at,
            (None, Some(sampling)) => sampling.shown_at,
            (None, None) => return true,
        };
        now.saturating_duration_since(shown_at) >= PROMPT_GRACE
    }

    /// After the front prompt was answered, the next one becomes visible `now`.
    pub fn show_next_prompt(&mut self, now: Instant) {
        if let Some(next) = self.approvals.front_mut() {
            next.shown_at = now;
        } else if let Some(next) = self.sampling.front_mut() {
            next.shown_at = now;
        }
    }

    /// Scrolls the front prompt by `delta` rows (within what the last frame showed).
    pub fn scroll_prompt(&mut self, delta: isize) {
        let max = self.prompt_max_scroll.get();
        let scroll = match (self.approvals.front_mut(), self.sampling.front_mut()) {
            (Some(approval), _) => &mut approval.scroll,
            (None, Some(sampling)) => &mut sampling.scroll,
            (None, None) => return,
        };
        *scroll = scroll.saturating_add_signed(delta).min(max);
    }

    /// A new turn starts: its id.
    /// New turns are numbered after `turn` (a resumed session's stored trace keeps its own).
    pub fn turns_after(&mut self, turn: TurnId) {
        self.next_turn = self.next_turn.max(turn.0);
    }

    pub fn begin_turn(&mut self) -> TurnId {
        self.next_turn += 1;
        let turn = TurnId(self.next_turn);
        self.running = Some(turn);
        self.streaming_entry = None;
        self.calls.clear();
        turn
    }
}
