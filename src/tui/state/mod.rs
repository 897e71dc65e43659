//! The dashboard's state and its reducer. `update(&mut AppState, Msg) -> Vec<Effect>` is pure:
//! no IO, no await, no locks. Terminal input and runtime events come in as `Msg`s; what must
//! happen outside (quit, talk to the runtime, change mouse capture, highlight a schema) goes
//! out as `Effect`s that the app loop carries out.

pub mod agent;
pub mod call;
pub mod chat;
pub mod conversation;
pub mod debugging;
pub mod elicitation;
mod keys;
pub mod pager;
pub mod servers;
pub mod sessions;
pub mod tools;
pub mod trace;
pub mod trace_actions;
pub mod trace_filter;
pub mod trace_page;
pub mod trace_words;

use std::sync::Arc;
use std::time::Instant;

use ratatui::crossterm::event::{KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};
use ratatui::text::Line;

use super::keymap::Scope;
use super::layout::{Layout, PaneAreas};
use super::theme::Theme;
use crate::protocol::{AgentCommand, AgentEvent, TraceStep};
use crate::runtime::messages::{RuntimeCommand, RuntimeEvent};
use agent::AgentState;
use call::{CallState, CallView, Progress};
use chat::{ChatState, Role, no_llm_guidance};
use servers::ServersState;
use tools::{HighlightJob, ToolsState};
use trace::TraceState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Chat,
    Servers,
    Tools,
    Trace,
}

impl Pane {
    pub const ALL: [Pane; 4] = [Pane::Chat, Pane::Servers, Pane::Tools, Pane::Trace];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Chat => "Chat",
            Pane::Servers => "Servers",
            Pane::Tools => "Tools",
            Pane::Trace => "Trace",
        }
    }

    pub fn number(self) -> usize {
        match self {
            Pane::Chat => 1,
            Pane::Servers => 2,
            Pane::Tools => 3,
            Pane::Trace => 4,
        }
    }

    fn next(self) -> Pane {
        match self {
            Pane::Chat => Pane::Servers,
            Pane::Servers => Pane::Tools,
            Pane::Tools => Pane::Trace,
            Pane::Trace => Pane::Chat,
        }
    }

    fn prev(self) -> Pane {
        match self {
            Pane::Chat => Pane::Trace,
            Pane::Servers => Pane::Chat,
            Pane::Tools => Pane::Servers,
            Pane::Trace => Pane::Tools,
        }
    }
}

/// Everything the views draw.
#[derive(Debug)]
pub struct AppState {
    pub focus: Pane,
    /// The keyboard is in the chat input.
    pub typing: bool,
    pub help: bool,
    /// The focused pane fills the screen even where the grid would fit.
    pub zoomed: bool,
    /// Lines scrolled in the help overlay.
    pub help_scroll: u16,
    pub mouse: bool,
    pub chat: ChatState,
    pub servers: ServersState,
    pub tools: ToolsState,
    pub trace: TraceState,
    /// A tool call made by hand from the Tools pane.
    pub call: CallState,
    /// Long text read full screen (a call's result, a trace step); on top of everything.
    pub pager: Option<pager::Pager>,
    /// The agent: mode, running turn, approval and sampling prompts, usage.
    pub agent: AgentState,
    /// The sessions picker, when open.
    pub sessions: Option<sessions::SessionPicker>,
    /// Servers' requests for input (forms, URLs); the front one has the keyboard.
    pub input_requests: elicitation::InputRequests,
    pub theme: Theme,
    /// Terminal size in cells.
    pub size: (u16, u16),
    /// Where the config came from, e.g. `./servers_config.json` or `bundled default`.
    pub config_label: String,
    /// A short message for the status bar.
    pub notice: Option<String>,
    /// The time the views measure uptimes against (set by ticks, so views stay pure).
    pub now: Instant,
    pub quitting: bool,
}

#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Paste(String),
    Resize(u16, u16),
    Runtime(RuntimeEvent),
    Agent(AgentEvent),
    Highlighted {
        key: String,
        lines: Vec<Line<'static>>,
    },
    /// The highlighter's task failed for `key`.
    HighlightLost {
        key: String,
    },
    /// A second passed (uptimes on screen move on).
    Tick,
    /// The trace was saved (its path), or why not.
    TraceSaved(Result<std::path::PathBuf, String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Quit,
    Runtime(RuntimeCommand),
    Agent(AgentCommand),
    SetMouseCapture(bool),
    Highlight {
        job: HighlightJob,
        theme: String,
    },
    /// Write these steps to a new file in the traces directory.
    SaveTrace(Vec<Arc<crate::protocol::TraceStep>>),
    /// Put this text on the clipboard through the terminal (OSC 52).
    Copy(String),
}

impl AppState {
    pub fn new(theme: Theme, config_label: String, model: Option<String>, mouse: bool) -> Self {
        let mut chat = ChatState::new(model.clone());
        match &model {
            None => {
                chat.push(Role::Notice, no_llm_guidance(&config_label));
            }
            Some(model) => {
                chat.push(Role::Notice, format!("Chatting with {model}."));
            }
        }
        Self {
            focus: Pane::Chat,
            typing: true,
            help: false,
            zoomed: false,
            help_scroll: 0,
            mouse,
            chat,
            servers: ServersState::default(),
            tools: ToolsState::default(),
            trace: TraceState::default(),
            call: CallState::default(),
            pager: None,
            agent: AgentState::new(model.is_some()),
            sessions: None,
            input_requests: elicitation::InputRequests::default(),
            theme,
            size: (80, 24),
            config_label,
            notice: None,
            now: Instant::now(),
            quitting: false,
        }
    }

    /// The config has an LLM block that could not be used: the chat says why instead of how
    /// to configure one.
    pub fn llm_failed(&mut self, error: impl std::fmt::Display) {
        let text = format!(
            "The LLM configured in {} cannot be used: {error}. Fix the \"LLM\" section and \
             restart; meanwhile the Servers and Tools panes work without it.",
            self.config_label
        );
        self.chat = ChatState::new(None);
        self.chat.push(Role::Error, text.clone());
        self.agent.unavailable = Some(text);
    }

    /// Shows a saved trace (`mcpomni trace FILE`) with nothing running: its steps go through
    /// the reducer as the agent's trace events would, then the Trace pane fills the screen
    /// with the last step selected and its detail open. `source` names the file.
    pub fn open_saved_trace(
        &mut self,
        source: &str,
        steps: Vec<TraceStep>,
        warning: Option<String>,
        at: Instant,
    ) {
        let text = format!(
            "This is a saved trace ({source}, {}): no LLM or server runs here.              `mcpomni replay {source}` re-runs it.",
            crate::text::plural(steps.len(), "step", "steps")
        );
        self.chat = ChatState::new(None);
        self.chat.push(Role::Notice, text.clone());
        self.agent.unavailable = Some(text);
        for step in steps {
            update(self, Msg::Agent(AgentEvent::Trace(Arc::new(step))), at);
        }
        if let Some(warning) = warning {
            self.chat.push(Role::Notice, warning.clone());
            self.notice = Some(warning);
        }
        self.focus(Pane::Trace);
        self.zoomed = true;
        self.trace.select(self.trace.len().saturating_sub(1));
    }

    /// A resumed session: its id for the status bar, and its conversation and trace back on
    /// screen.
    pub fn resume_session(
        &mut self,
        id: Option<String>,
        history: &[crate::llm::ChatMessage],
        steps: Vec<crate::protocol::TraceStep>,
    ) {
        self.agent.session = id;
        if history.is_empty() {
            return;
        }
        self.chat.push(
            Role::Notice,
            format!(
                "Resumed session {} ({}).",
                self.agent.session.as_deref().unwrap_or("?"),
                crate::text::plural(history.len(), "message", "messages")
            ),
        );
        self.show_history(history);
        sessions::restore_steps(self, steps);
    }

    /// A stored conversation in the chat: what was said and the tool calls made (results are
    /// in the model's context and the trace, not repeated).
    pub fn show_history(&mut self, history: &[crate::llm::ChatMessage]) {
        use crate::llm::ChatMessage;
        for message in history {
            match message {
                ChatMessage::User(text) => {
                    self.chat.push(Role::User, text.clone());
                }
                ChatMessage::Assistant {
                    text, tool_calls, ..
                } => {
                    if !text.is_empty() {
                        self.chat.push(Role::Assistant, text.clone());
                    }
                    for call in tool_calls {
                        self.chat
                            .push(Role::Tool, format!("{} {}", call.name, call.arguments));
                    }
                }
                ChatMessage::ToolResult { .. } => {}
            }
        }
    }

    /// Which keymap scopes apply right now, most specific first.
    pub fn scopes(&self) -> Vec<Scope> {
        let mut scopes = vec![Scope::Anywhere];
        if self.help {
            scopes.push(Scope::Help);
        } else if let Some(front) = self.input_requests.front() {
            // A request for input comes from a call in progress (often the one in the call
            // view): it must have the keyboard.
            if front.form().is_none() {
                scopes.push(Scope::InputUrl);
            } else {
                if front.choosing() {
                    scopes.push(Scope::InputChoice);
                }
                scopes.push(Scope::InputForm);
            }
        } else if self.sessions.is_some() {
            scopes.push(Scope::Sessions);
        } else if self.pager.is_some() {
            scopes.push(Scope::Pager);
        } else if let Some(view) = &self.call.view {
            scopes.push(match view {
                CallView::Editing { .. } => Scope::CallEditor,
                CallView::Running { .. } => Scope::CallRunning,
                CallView::Done { .. } => Scope::CallResult,
            });
        } else if self.agent.approval_editor.is_some() {
            scopes.push(Scope::ApprovalEdit);
        } else if self.agent.sampling_editor.is_some() {
            scopes.push(Scope::SamplingEdit);
        } else if self.agent.pause_editor.is_some() {
            scopes.push(Scope::PausedEdit);
        } else if !self.agent.approvals.is_empty() {
            scopes.push(Scope::Approval);
            scopes.push(Scope::Prompt);
        } else if !self.agent.sampling.is_empty() {
            scopes.push(Scope::Sampling);
            scopes.push(Scope::Prompt);
        } else if self.typing && self.focus == Pane::Chat {
            if self.agent.running.is_some() {
                scopes.push(Scope::Answering);
            }
            scopes.push(Scope::Typing);
        } else if self.tools.filtering && self.focus == Pane::Tools {
            scopes.push(Scope::Filtering);
        } else if self.trace.input.is_some() && self.focus == Pane::Trace {
            scopes.push(Scope::TraceInput);
        } else {
            if !self.agent.paused.is_empty() {
                scopes.push(Scope::Paused);
            }
            if self.agent.running.is_some() && self.focus == Pane::Chat {
                scopes.push(Scope::Answering);
            }
            match self.focus {
                Pane::Chat => scopes.push(Scope::Chat),
                Pane::Tools => scopes.push(Scope::Tools),
                Pane::Servers => scopes.push(Scope::Servers),
                Pane::Trace => scopes.push(Scope::Trace),
            }
            scopes.push(Scope::Normal);
        }
        scopes
    }

    pub fn layout(&self) -> PaneAreas {
        Layout::for_size(self.size).areas_zoomed(self.focus, self.zoomed)
    }

    fn focus(&mut self, pane: Pane) {
        self.focus = pane;
        // Chat's only use is typing, so focusing it puts the keyboard in the input.
        self.typing = pane == Pane::Chat;
        if pane != Pane::Tools {
            self.tools.filtering = false;
        }
    }

    /// Lines one page moves in the focused pane.
    fn page(&self) -> usize {
        let areas = self.layout();
        let rect = areas.rect(self.focus).unwrap_or_default();
        usize::from(rect.height.saturating_sub(3)).max(1)
    }
}

/// The reducer. `at` is when `msg` arrived: the reducer takes the time from there and never
/// reads a clock, so a test replays any timing exactly.
pub fn update(state: &mut AppState, msg: Msg, at: Instant) -> Vec<Effect> {
    state.now = state.now.max(at);
    let mut effects = Vec::new();
    match msg {
        Msg::Key(key) if key.kind != KeyEventKind::Release => {
            keys::on_key(state, key, &mut effects)
        }
        Msg::Key(_) => {}
        Msg::Mouse(mouse) => on_mouse(state, mouse),
        Msg::Paste(text) => {
            let text = crate::text::unify_line_breaks(&text);
            if !state.input_requests.is_empty() {
                elicitation::paste(state, &text);
            } else if let Some(CallView::Editing { editor, .. }) = &mut state.call.view {
                editor.insert_str(text);
            } else if let Some(editor) = state
                .agent
                .approval_editor
                .as_mut()
                .or(state.agent.sampling_editor.as_mut())
            {
                editor.editor.insert_str(text);
            } else if state.typing && state.focus == Pane::Chat {
                state.chat.input.insert_str(text);
            } else if state.tools.filtering {
                state.tools.filter.push_str(&text.replace('\n', " "));
                state.tools.filter_edited();
            } else if state.focus == Pane::Trace {
                trace_actions::input_paste(state, &text);
            }
        }
        Msg::Resize(width, height) => state.size = (width, height),
        Msg::Runtime(event) => on_runtime(state, event),
        Msg::Agent(event) => conversation::on_agent_event(state, event),
        Msg::Highlighted { key, lines } => state.tools.store_highlight(key, lines),
        Msg::HighlightLost { key } => state.tools.highlight_lost(&key),
        Msg::Tick => {}
        Msg::TraceSaved(saved) => debugging::on_trace_saved(state, saved),
    }
    if state.quitting && !effects.contains(&Effect::Quit) {
        effects.push(Effect::Quit);
    }
    if let Some(job) = state.tools.highlight_job()
        && let Some(theme) = state.theme.syntax_theme.clone()
    {
        effects.push(Effect::Highlight { job, theme });
    }
    effects
}

/// Moves the focused pane's selection (or scroll) by `delta` rows.
pub(super) fn move_selection(state: &mut AppState, delta: isize) {
    let shift = |current: usize| current.saturating_add_signed(delta);
    match state.focus {
        Pane::Chat => {
            // Up the screen means back in time: scrolling up increases the offset.
            let lines = delta.unsigned_abs();
            if delta < 0 {
                state.chat.scroll_up(lines);
            } else {
                state.chat.scroll_down(lines);
            }
        }
        Pane::Servers => {
            let next = shift(state.servers.selected);
            state.servers.select(next);
        }
        Pane::Tools => {
            let next = shift(state.tools.selected);
            state.tools.select(next);
        }
        Pane::Trace => state.trace.move_by(delta),
    }
}

fn on_mouse(state: &mut AppState, mouse: MouseEvent) {
    if !state.mouse || state.help {
        return;
    }
    let areas = state.layout();
    let at = Position::new(mouse.column, mouse.row);
    let Some(pane) = Pane::ALL
        .into_iter()
        .find(|p| areas.rect(*p).is_some_and(|r: Rect| r.contains(at)))
    else {
        // The tab bar: clicking a tab focuses its pane.
        if let MouseEventKind::Down(MouseButton::Left) = mouse.kind
            && let Some(pane) = areas.tab_at(at)
        {
            state.focus(pane);
        }
        return;
    };
    match mouse.kind {
        // Clicking Chat (even when focused) puts the keyboard back in the input.
        MouseEventKind::Down(MouseButton::Left) if pane != state.focus || pane == Pane::Chat => {
            state.focus(pane);
        }
        MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
            let delta = if mouse.kind == MouseEventKind::ScrollUp {
                -3
            } else {
                3
            };
            let previous = state.focus;
            state.focus = pane;
            move_selection(state, delta);
            state.focus = previous;
        }
        _ => {}
    }
}

fn on_runtime(state: &mut AppState, event: RuntimeEvent) {
    match event {
        RuntimeEvent::ServerChanged(snapshot) => {
            if let Some(done) = state.servers.upsert(snapshot)
                && state.notice.as_deref() == Some(done.as_str())
            {
                state.notice = None;
            }
            trace_actions::check_configured_breakpoints(state);
        }
        RuntimeEvent::LogLinesReceived {
            server,
            lines,
            dropped,
        } => state.servers.add_logs(server, lines, dropped),
        RuntimeEvent::StderrLinesReceived {
            server,
            lines,
            dropped,
        } => state.servers.add_stderr(server, lines, dropped),
        RuntimeEvent::CatalogChanged(catalog) => {
            state.tools.set_catalog(catalog);
            trace_actions::check_configured_breakpoints(state);
        }
        RuntimeEvent::CallProgress {
            id,
            progress,
            total,
            message,
        } => state.call.on_progress(
            id,
            Progress {
                progress,
                total,
                message,
            },
        ),
        RuntimeEvent::CallFinished {
            id,
            outcome,
            elapsed,
        } => state.call.on_finished(id, outcome, elapsed),
        RuntimeEvent::ResourceUpdated { server, uri } => {
            state.notice = Some(format!("{server}: {uri} changed"));
        }
        RuntimeEvent::SignIn { server, status } => {
            use crate::runtime::messages::SignInStatus;
            state.notice = Some(match &status {
                SignInStatus::Open { .. } => {
                    format!("Sign in to {server} in the browser (y copies the URL).")
                }
                SignInStatus::Done => format!("Signed in to {server}; reconnecting."),
                SignInStatus::Failed(reason) => format!("Sign-in failed: {reason}"),
            });
            state.servers.sign_ins.insert(server, status);
        }
        RuntimeEvent::ElicitationRequested(request) => elicitation::requested(state, request),
        RuntimeEvent::ElicitationClosed { id, reason } => elicitation::closed(state, id, &reason),
        RuntimeEvent::ElicitationNotice { server, text } => {
            state.chat.push(Role::Notice, format!("{server}: {text}"));
            state.notice = Some(text);
        }
        RuntimeEvent::RootsReported { text } => {
            state.chat.push(Role::Notice, text);
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_agent;
#[cfg(test)]
mod tests_debugging;
#[cfg(test)]
pub(crate) mod tests_elicitation;
#[cfg(test)]
mod tests_servers;
#[cfg(test)]
mod tests_sessions;
#[cfg(test)]
mod tests_trace;
