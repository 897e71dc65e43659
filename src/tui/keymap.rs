//! The one keymap table. Key dispatch, the help overlay and the README's key reference all come
//! from [`KEYMAP`], so they cannot drift apart (a test compares the README with
//! [`markdown_table`]).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// When a binding applies. Checked in table order; the first match wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Always, whatever has the keyboard.
    Anywhere,
    /// While the help overlay is open.
    Help,
    /// While typing in the chat input.
    Typing,
    /// While typing a filter in the Tools pane.
    Filtering,
    /// Chat pane focused, not typing.
    Chat,
    /// Tools pane focused, not typing.
    Tools,
    /// Servers pane focused.
    Servers,
    /// Editing the arguments of a tool call.
    CallEditor,
    /// A tool call is running.
    CallRunning,
    /// A tool call's result is shown.
    CallResult,
    /// The full result in the pager.
    Pager,
    /// A tool call the model asked for waits for approval.
    Approval,
    /// Editing the arguments of a tool call before approving it.
    ApprovalEdit,
    /// An approval or sampling prompt is shown (read it, look around).
    Prompt,
    /// A server asks to use the LLM (sampling).
    Sampling,
    /// Editing a sampling request before approving it.
    SamplingEdit,
    /// The model is answering.
    Answering,
    /// A run is paused in the debugger (not typing).
    Paused,
    /// Editing what a paused run does next.
    PausedEdit,
    /// The Trace pane is focused.
    Trace,
    /// Typing a filter or a breakpoint at the bottom of the Trace pane.
    TraceInput,
    /// The sessions picker (`S`, `/sessions`) is open.
    Sessions,
    /// A server asks for input with a form.
    InputForm,
    /// The form's focused field is a yes/no or a choice.
    InputChoice,
    /// A server asks the user to visit a URL.
    InputUrl,
    /// Any pane, not typing.
    Normal,
}

impl Scope {
    pub fn title(self) -> &'static str {
        match self {
            Scope::Anywhere => "Anywhere",
            Scope::Help => "Help overlay",
            Scope::Typing => "Typing in the chat input",
            Scope::Filtering => "Typing a tool filter",
            Scope::Chat => "Chat pane (not typing)",
            Scope::Tools => "Tools pane",
            Scope::Servers => "Servers pane",
            Scope::CallEditor => "Tool call: arguments",
            Scope::CallRunning => "Tool call: running",
            Scope::CallResult => "Tool call: result",
            Scope::Pager => "Result pager",
            Scope::Approval => "Tool call approval",
            Scope::ApprovalEdit => "Tool call approval: editing",
            Scope::Prompt => "While an approval or sampling prompt waits",
            Scope::Sampling => "Sampling request",
            Scope::SamplingEdit => "Sampling request: editing",
            Scope::Answering => "While the model answers",
            Scope::Paused => "While a run is paused in the debugger",
            Scope::PausedEdit => "Paused run: editing what runs next",
            Scope::Trace => "Trace pane",
            Scope::TraceInput => "Trace pane: typing a filter or breakpoint",
            Scope::Sessions => "Sessions picker",
            Scope::InputForm => "A server asks for input (form)",
            Scope::InputChoice => "Form: a yes/no or choice field",
            Scope::InputUrl => "A server asks you to visit a URL",
            Scope::Normal => "Any pane (not typing)",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    OpenSessions,
    ResumeSession,
    DeleteSession,
    ConfirmDelete,
    CloseSessions,
    ForceQuit,
    Quit,
    ToggleHelp,
    CloseHelp,
    FocusChat,
    FocusServers,
    FocusTools,
    FocusTrace,
    NextPane,
    PrevPane,
    ToggleMouse,
    Send,
    NewLine,
    LeaveInput,
    EnterInput,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    StartFilter,
    ClearFilter,
    AcceptFilter,
    DetailsUp,
    DetailsDown,
    OpenCall,
    RunCall,
    CloseCall,
    CancelCall,
    OpenPager,
    ClosePager,
    Reconnect,
    Restart,
    ToggleEnabled,
    SignIn,
    CopySignInUrl,
    ApproveOnce,
    DenyCall,
    AlwaysAllow,
    EditArguments,
    CancelTurn,
    SubmitEdit,
    CloseEdit,
    ApproveSampling,
    DenySampling,
    EditSampling,
    PromptUp,
    ToggleStepMode,
    DebugStep,
    DebugContinue,
    DebugStop,
    ForkFromStep,
    EditPaused,
    SaveTrace,
    ToggleZoom,
    NextFailedStep,
    OpenStep,
    ToggleCollapse,
    CollapseStep,
    ExpandStep,
    FilterSteps,
    ClearStepFilter,
    ToggleFollow,
    ToggleBreakpoint,
    TypeBreakpoint,
    AcceptInput,
    CancelInput,
    PromptDown,
    InputNext,
    InputPrev,
    InputAccept,
    InputDecline,
    InputCancel,
    InputToggle,
    InputOptionPrev,
    InputOptionNext,
    InputOpenUrl,
}

/// One key: a code plus the modifiers that must be held (Shift is implied by the character).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

const fn key(code: KeyCode) -> Key {
    Key {
        code,
        ctrl: false,
        alt: false,
    }
}

const fn ch(c: char) -> Key {
    key(KeyCode::Char(c))
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: true,
        alt: false,
    }
}

const fn alt(code: KeyCode) -> Key {
    Key {
        code,
        ctrl: false,
        alt: true,
    }
}

impl Key {
    pub fn matches(&self, event: &KeyEvent) -> bool {
        let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
        let alt = event.modifiers.contains(KeyModifiers::ALT);
        let code = match event.code {
            // Terminals report Ctrl-letters in either case; compare them lower-cased.
            KeyCode::Char(c) if ctrl => KeyCode::Char(c.to_ascii_lowercase()),
            other => other,
        };
        code == self.code && ctrl == self.ctrl && alt == self.alt
    }

    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_owned(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "Enter".to_owned(),
            KeyCode::Esc => "Esc".to_owned(),
            KeyCode::Tab => "Tab".to_owned(),
            KeyCode::BackTab => "Shift-Tab".to_owned(),
            KeyCode::Up => "↑".to_owned(),
            KeyCode::Down => "↓".to_owned(),
            KeyCode::Left => "←".to_owned(),
            KeyCode::Right => "→".to_owned(),
            KeyCode::PageUp => "PgUp".to_owned(),
            KeyCode::PageDown => "PgDn".to_owned(),
            KeyCode::Home => "Home".to_owned(),
            KeyCode::End => "End".to_owned(),
            KeyCode::Backspace => "Backspace".to_owned(),
            other => format!("{other:?}"),
        };
        match (self.ctrl, self.alt) {
            (true, _) => format!("Ctrl-{}", base.to_uppercase()),
            (false, true) => format!("Alt-{base}"),
            (false, false) => base,
        }
    }
}

pub struct Binding {
    pub scope: Scope,
    pub keys: &'static [Key],
    pub action: Action,
    pub help: &'static str,
}

const fn bind(scope: Scope, keys: &'static [Key], action: Action, help: &'static str) -> Binding {
    Binding {
        scope,
        keys,
        action,
        help,
    }
}

use Action as A;
use Scope as S;

#[rustfmt::skip]
pub const KEYMAP: &[Binding] = &[
    bind(S::Anywhere, &[ctrl('c')], A::ForceQuit, "quit at once"),
    bind(S::Help, &[key(KeyCode::Esc), ch('?'), ch('q')], A::CloseHelp, "close help"),
    bind(S::Help, &[ch('j'), key(KeyCode::Down)], A::Down, "scroll the help down"),
    bind(S::Help, &[ch('k'), key(KeyCode::Up)], A::Up, "scroll the help up"),
    bind(S::InputChoice, &[ch(' ')], A::InputToggle, "yes/no: flip it; one of: next option; many of: tick or untick the highlighted option"),
    bind(S::InputChoice, &[key(KeyCode::Left)], A::InputOptionPrev, "previous option (yes/no: no)"),
    bind(S::InputChoice, &[key(KeyCode::Right)], A::InputOptionNext, "next option (yes/no: yes)"),
    bind(S::InputForm, &[key(KeyCode::Tab), key(KeyCode::Down)], A::InputNext, "next field"),
    bind(S::InputForm, &[key(KeyCode::BackTab), key(KeyCode::Up)], A::InputPrev, "previous field"),
    bind(S::InputForm, &[key(KeyCode::Enter), ctrl('s')], A::InputAccept, "send the form (when a field is wrong, it says why in place and nothing is sent)"),
    bind(S::InputForm, &[ctrl('d')], A::InputDecline, "decline: the server is told you will not answer"),
    bind(S::InputForm, &[key(KeyCode::Esc)], A::InputCancel, "cancel: dismiss the request without answering it"),
    bind(S::InputUrl, &[ch('o')], A::InputOpenUrl, "open the page in your browser (and accept)"),
    bind(S::InputUrl, &[ch('a'), key(KeyCode::Enter)], A::InputAccept, "accept without opening it here (you visit it yourself)"),
    bind(S::InputUrl, &[ch('n')], A::InputDecline, "decline"),
    bind(S::InputUrl, &[key(KeyCode::Esc)], A::InputCancel, "cancel"),
    bind(S::Approval, &[ch('y')], A::ApproveOnce, "run this tool call once"),
    bind(S::Approval, &[ch('n')], A::DenyCall, "deny it (the model is told; the server never sees it)"),
    bind(S::Approval, &[ch('a')], A::AlwaysAllow, "run it, and this tool without asking for the rest of the session"),
    bind(S::Approval, &[ch('e')], A::EditArguments, "edit the arguments, then run"),
    bind(S::Approval, &[key(KeyCode::Esc)], A::CancelTurn, "cancel the whole turn"),
    bind(S::Prompt, &[ch('j'), key(KeyCode::Down)], A::PromptDown, "scroll the prompt down"),
    bind(S::Prompt, &[ch('k'), key(KeyCode::Up)], A::PromptUp, "scroll the prompt up"),
    bind(S::Prompt, &[key(KeyCode::PageUp), ctrl('u')], A::PageUp, "scroll the focused pane up (the conversation in Chat)"),
    bind(S::Prompt, &[key(KeyCode::PageDown), ctrl('d')], A::PageDown, "scroll the focused pane down"),
    bind(S::Prompt, &[ch('1')], A::FocusChat, "focus Chat"),
    bind(S::Prompt, &[ch('2')], A::FocusServers, "focus Servers"),
    bind(S::Prompt, &[ch('3')], A::FocusTools, "focus Tools"),
    bind(S::Prompt, &[ch('4')], A::FocusTrace, "focus Trace"),
    bind(S::Prompt, &[key(KeyCode::Tab)], A::NextPane, "next pane"),
    bind(S::Prompt, &[key(KeyCode::BackTab)], A::PrevPane, "previous pane"),
    bind(S::ApprovalEdit, &[ctrl('s')], A::SubmitEdit, "run with the edited arguments"),
    bind(S::ApprovalEdit, &[key(KeyCode::Esc)], A::CloseEdit, "back to the approval prompt"),
    bind(S::Sampling, &[ch('y')], A::ApproveSampling, "let the server use the LLM for this request"),
    bind(S::Sampling, &[ch('n'), key(KeyCode::Esc)], A::DenySampling, "refuse it"),
    bind(S::Sampling, &[ch('e')], A::EditSampling, "edit the request, then send it"),
    bind(S::SamplingEdit, &[ctrl('s')], A::SubmitEdit, "send the edited request"),
    bind(S::SamplingEdit, &[key(KeyCode::Esc)], A::CloseEdit, "back to the sampling prompt"),
    bind(S::Answering, &[key(KeyCode::Esc)], A::CancelTurn, "stop the answer (cancels running tool calls too)"),
    bind(S::Typing, &[key(KeyCode::Enter)], A::Send, "send the message (/help: slash commands)"),
    bind(S::Typing, &[alt(KeyCode::Enter), ctrl('j')], A::NewLine, "new line in the message"),
    bind(S::Typing, &[key(KeyCode::Esc)], A::LeaveInput, "leave the input (then single keys work)"),
    bind(S::Typing, &[key(KeyCode::Tab)], A::NextPane, "next pane"),
    bind(S::Typing, &[key(KeyCode::BackTab)], A::PrevPane, "previous pane"),
    bind(S::Typing, &[key(KeyCode::PageUp)], A::PageUp, "scroll the conversation up"),
    bind(S::Typing, &[key(KeyCode::PageDown)], A::PageDown, "scroll the conversation down"),
    bind(S::Filtering, &[key(KeyCode::Enter)], A::AcceptFilter, "keep the filter, leave typing"),
    bind(S::Filtering, &[key(KeyCode::Esc)], A::ClearFilter, "clear the filter"),
    bind(S::Filtering, &[key(KeyCode::Up)], A::Up, "previous tool"),
    bind(S::Filtering, &[key(KeyCode::Down)], A::Down, "next tool"),
    bind(S::Chat, &[ch('i'), key(KeyCode::Enter)], A::EnterInput, "type in the chat input"),
    bind(S::Tools, &[key(KeyCode::Enter)], A::OpenCall, "call the selected tool (edit its arguments first)"),
    bind(S::Tools, &[ch('/')], A::StartFilter, "filter tools by name, title or description"),
    bind(S::Tools, &[key(KeyCode::Esc)], A::ClearFilter, "clear the filter"),
    bind(S::Tools, &[ch('J'), ch(']')], A::DetailsDown, "scroll the tool details down"),
    bind(S::Tools, &[ch('K'), ch('[')], A::DetailsUp, "scroll the tool details up"),
    bind(S::Servers, &[ch('r')], A::Reconnect, "reconnect the selected server (stdio: start it again)"),
    bind(S::Servers, &[ch('R')], A::Restart, "restart it afresh (resets its restart budget and call statistics)"),
    bind(S::Servers, &[ch('d')], A::ToggleEnabled, "disable or enable it"),
    bind(S::Servers, &[ch('a')], A::SignIn, "sign in to it (OAuth: the browser opens, the URL is shown)"),
    bind(S::Servers, &[ch('y')], A::CopySignInUrl, "copy its sign-in URL to the clipboard (OSC 52)"),
    bind(S::CallEditor, &[ctrl('s')], A::RunCall, "run the call"),
    bind(S::CallEditor, &[key(KeyCode::Esc)], A::CloseCall, "close without calling"),
    bind(S::CallRunning, &[key(KeyCode::Esc)], A::CancelCall, "cancel the call (the server is told)"),
    bind(S::CallResult, &[ch('p'), key(KeyCode::Enter)], A::OpenPager, "read the whole result in the pager"),
    bind(S::CallResult, &[key(KeyCode::Esc), ch('q')], A::CloseCall, "close the result"),
    bind(S::Pager, &[key(KeyCode::Esc), ch('q')], A::ClosePager, "close the pager"),
    bind(S::Pager, &[ch('k'), key(KeyCode::Up)], A::Up, "scroll up"),
    bind(S::Pager, &[ch('j'), key(KeyCode::Down)], A::Down, "scroll down"),
    bind(S::Pager, &[key(KeyCode::PageUp), ctrl('u')], A::PageUp, "page up"),
    bind(S::Pager, &[key(KeyCode::PageDown), ctrl('d'), ch(' ')], A::PageDown, "page down"),
    bind(S::Pager, &[ch('g'), key(KeyCode::Home)], A::Top, "go to the top"),
    bind(S::Pager, &[ch('G'), key(KeyCode::End)], A::Bottom, "go to the bottom"),
    bind(S::Paused, &[ch('n')], A::DebugStep, "run the next step, then pause again"),
    bind(S::Paused, &[ch('c')], A::DebugContinue, "continue to the next breakpoint"),
    bind(S::Paused, &[ch('x')], A::DebugStop, "stop the run here"),
    bind(S::Paused, &[ch('e')], A::EditPaused, "edit what runs next: the call's arguments, the request's messages, or the failed result"),
    bind(S::PausedEdit, &[ctrl('s')], A::SubmitEdit, "apply the edit and run the next step"),
    bind(S::PausedEdit, &[key(KeyCode::Esc)], A::CloseEdit, "back to the paused run, unchanged"),
    bind(S::Trace, &[ch('s')], A::ToggleStepMode, "step mode on/off: pause before every model request and tool call"),
    bind(S::Trace, &[ch('f')], A::ForkFromStep, "fork: run again from the selected model request"),
    bind(S::Trace, &[ch('w')], A::SaveTrace, "write the session's trace to a file (path shown)"),
    bind(S::Trace, &[ch('z')], A::ToggleZoom, "zoom: the Trace pane takes the whole screen (again: back)"),
    bind(S::Trace, &[ch('E')], A::NextFailedStep, "jump to the next step that failed (wraps around)"),
    bind(S::Trace, &[key(KeyCode::Enter)], A::OpenStep, "open the selected step whole in the pager: the exact request, reply, arguments or result"),
    bind(S::Trace, &[ch(' ')], A::ToggleCollapse, "collapse or expand the steps under the selected one"),
    bind(S::Trace, &[key(KeyCode::Left), ch('h')], A::CollapseStep, "collapse the selected step (collapsed already: go to its parent)"),
    bind(S::Trace, &[key(KeyCode::Right), ch('l')], A::ExpandStep, "expand the selected step (expanded already: go to its first child)"),
    bind(S::Trace, &[ch('/')], A::FilterSteps, "filter the steps: words to search for, kind:K, turn:N, tool:GLOB, status:S"),
    bind(S::Trace, &[key(KeyCode::Esc)], A::ClearStepFilter, "clear the filter"),
    bind(S::Trace, &[ch('F')], A::ToggleFollow, "follow mode on/off: the newest step stays selected while a run goes on"),
    bind(S::Trace, &[ch('b')], A::ToggleBreakpoint, "breakpoint on what the selected step is (model request, this tool, an error); again: remove it"),
    bind(S::Trace, &[ch('B')], A::TypeBreakpoint, "type a breakpoint: model, tool:GLOB, error or step:N"),
    bind(S::TraceInput, &[key(KeyCode::Enter)], A::AcceptInput, "keep the filter, or add the breakpoint"),
    bind(S::TraceInput, &[key(KeyCode::Esc)], A::CancelInput, "drop what was typed (a filter being typed is cleared)"),
    bind(S::Sessions, &[ch('k'), key(KeyCode::Up)], A::Up, "previous session"),
    bind(S::Sessions, &[ch('j'), key(KeyCode::Down)], A::Down, "next session"),
    bind(S::Sessions, &[key(KeyCode::Enter)], A::ResumeSession, "resume the selected session: its conversation and trace come back"),
    bind(S::Sessions, &[ch('d')], A::DeleteSession, "delete the selected session's stored history (y confirms)"),
    bind(S::Sessions, &[ch('y')], A::ConfirmDelete, "confirm the deletion"),
    bind(S::Sessions, &[key(KeyCode::Esc), ch('q')], A::CloseSessions, "close the picker"),
    bind(S::Normal, &[ch('q')], A::Quit, "quit"),
    bind(S::Normal, &[ch('?')], A::ToggleHelp, "show or hide this help"),
    bind(S::Normal, &[ch('1')], A::FocusChat, "focus Chat (and type)"),
    bind(S::Normal, &[ch('2')], A::FocusServers, "focus Servers"),
    bind(S::Normal, &[ch('3')], A::FocusTools, "focus Tools"),
    bind(S::Normal, &[ch('4')], A::FocusTrace, "focus Trace"),
    bind(S::Normal, &[key(KeyCode::Tab)], A::NextPane, "next pane"),
    bind(S::Normal, &[key(KeyCode::BackTab)], A::PrevPane, "previous pane"),
    bind(S::Normal, &[ch('k'), key(KeyCode::Up)], A::Up, "move up"),
    bind(S::Normal, &[ch('j'), key(KeyCode::Down)], A::Down, "move down"),
    bind(S::Normal, &[key(KeyCode::PageUp), ctrl('u')], A::PageUp, "page up"),
    bind(S::Normal, &[key(KeyCode::PageDown), ctrl('d')], A::PageDown, "page down"),
    bind(S::Normal, &[ch('g'), key(KeyCode::Home)], A::Top, "go to the top"),
    bind(S::Normal, &[ch('G'), key(KeyCode::End)], A::Bottom, "go to the bottom"),
    bind(S::Normal, &[ch('m')], A::ToggleMouse, "toggle mouse capture (off lets you select text)"),
    bind(S::Normal, &[ch('S')], A::OpenSessions, "saved sessions: resume or delete one (also /sessions)"),
];

/// The action bound to `event` in the first of `scopes` that binds it.
pub fn lookup(event: &KeyEvent, scopes: &[Scope]) -> Option<Action> {
    scopes.iter().find_map(|scope| {
        KEYMAP
            .iter()
            .filter(|b| b.scope == *scope)
            .find(|b| b.keys.iter().any(|k| k.matches(event)))
            .map(|b| b.action)
    })
}

pub fn keys_label(binding: &Binding) -> String {
    binding
        .keys
        .iter()
        .map(Key::label)
        .collect::<Vec<_>>()
        .join(" / ")
}

/// Scopes in the order the help overlay and the README list them.
pub const SCOPE_ORDER: &[Scope] = &[
    Scope::Anywhere,
    Scope::Typing,
    Scope::Normal,
    Scope::Chat,
    Scope::Servers,
    Scope::Tools,
    Scope::Filtering,
    Scope::CallEditor,
    Scope::CallRunning,
    Scope::CallResult,
    Scope::Pager,
    Scope::Approval,
    Scope::ApprovalEdit,
    Scope::InputForm,
    Scope::InputChoice,
    Scope::InputUrl,
    Scope::Sampling,
    Scope::Prompt,
    Scope::SamplingEdit,
    Scope::Answering,
    Scope::Trace,
    Scope::TraceInput,
    Scope::Sessions,
    Scope::Paused,
    Scope::PausedEdit,
    Scope::Help,
];

/// The key reference as a Markdown table (the README embeds exactly this).
pub fn markdown_table() -> String {
    let mut out = String::from("| Where | Keys | Action |\n|---|---|---|\n");
    for scope in SCOPE_ORDER {
        for binding in KEYMAP.iter().filter(|b| b.scope == *scope) {
            let keys = keys_label(binding).replace('|', "\\|");
            out.push_str(&format!(
                "| {} | `{}` | {} |\n",
                scope.title(),
                keys,
                binding.help
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::crossterm::event::KeyEventKind;

    fn ev(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new_with_kind(code, modifiers, KeyEventKind::Press)
    }

    #[test]
    fn ctrl_c_quits_from_every_scope() {
        for scope in SCOPE_ORDER {
            assert_eq!(
                lookup(
                    &ev(KeyCode::Char('c'), KeyModifiers::CONTROL),
                    &[Scope::Anywhere, *scope]
                ),
                Some(Action::ForceQuit)
            );
        }
        assert_eq!(
            lookup(
                &ev(
                    KeyCode::Char('C'),
                    KeyModifiers::CONTROL | KeyModifiers::SHIFT
                ),
                &[Scope::Anywhere]
            ),
            Some(Action::ForceQuit)
        );
    }

    #[test]
    fn q_types_while_typing_and_quits_otherwise() {
        let q = ev(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(lookup(&q, &[Scope::Anywhere, Scope::Typing]), None);
        assert_eq!(
            lookup(&q, &[Scope::Anywhere, Scope::Normal]),
            Some(Action::Quit)
        );
    }

    #[test]
    fn shifted_characters_match_without_naming_shift() {
        let big_g = ev(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(lookup(&big_g, &[Scope::Normal]), Some(Action::Bottom));
        let question = ev(KeyCode::Char('?'), KeyModifiers::SHIFT);
        assert_eq!(
            lookup(&question, &[Scope::Normal]),
            Some(Action::ToggleHelp)
        );
    }

    #[test]
    fn earlier_scopes_win() {
        let esc = ev(KeyCode::Esc, KeyModifiers::NONE);
        assert_eq!(
            lookup(&esc, &[Scope::Help, Scope::Tools]),
            Some(Action::CloseHelp)
        );
        assert_eq!(
            lookup(&esc, &[Scope::Tools, Scope::Normal]),
            Some(Action::ClearFilter)
        );
    }

    #[test]
    fn no_key_is_bound_twice_in_one_scope() {
        for scope in SCOPE_ORDER {
            let mut seen = Vec::new();
            for binding in KEYMAP.iter().filter(|b| b.scope == *scope) {
                for key in binding.keys {
                    assert!(
                        !seen.contains(key),
                        "{:?} bound twice in {scope:?}",
                        key.label()
                    );
                    seen.push(*key);
                }
            }
        }
    }

    #[test]
    fn every_scope_is_listed_in_the_reference() {
        for binding in KEYMAP {
            assert!(SCOPE_ORDER.contains(&binding.scope));
        }
        let table = markdown_table();
        assert!(table.contains("| Anywhere | `Ctrl-C` | quit at once |"));
        assert!(table.contains(
            "| Typing in the chat input | `Alt-Enter / Ctrl-J` | new line in the message |"
        ));
    }
}
