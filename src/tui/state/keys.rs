//! The reducer's keyboard half: a key becomes an action through the keymap (in the scopes
//! that apply now) and the action changes the state or asks for an effect. Unbound keys are
//! text where text is being typed. Pure, like the rest of the reducer.

use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::call::CallView;
use super::servers::{ActionKind, PendingAction};
use super::trace::InputPurpose;
use super::{
    AppState, Effect, Pane, conversation, debugging, move_selection, pager, trace_actions,
};
use crate::protocol::debug::DebugAction;
use crate::protocol::{AgentCommand, Decision};
use crate::runtime::messages::RuntimeCommand;
use crate::tui::keymap::{self, Action, Scope};

/// Keys that answer an approval or sampling prompt (guarded by [`agent::PROMPT_GRACE`]).
fn answers_prompt(state: &AppState, action: Action) -> bool {
    match action {
        Action::ApproveOnce
        | Action::DenyCall
        | Action::AlwaysAllow
        | Action::EditArguments
        | Action::ApproveSampling
        | Action::DenySampling
        | Action::EditSampling => true,
        // Esc on an approval prompt cancels the turn; elsewhere it only leaves the input.
        Action::CancelTurn => !state.agent.approvals.is_empty(),
        _ => false,
    }
}

pub(super) fn on_key(state: &mut AppState, key: KeyEvent, effects: &mut Vec<Effect>) {
    let scopes = state.scopes();
    if let Some(front) = state.input_requests.front()
        && keymap::lookup(&key, &scopes) != Some(Action::ForceQuit)
        && !state.help
    {
        let age = state.now.saturating_duration_since(front.shown_at);
        if age < super::agent::PROMPT_GRACE {
            // Typed for whatever had the keyboard before the form appeared.
            state.notice = Some(format!(
                "Ignored a key: the request for input appeared only {} ms ago.",
                age.as_millis()
            ));
            return;
        }
    }
    if let Some((escape, plain)) = split_escape_prefix(&key, &scopes) {
        // Without the kitty keyboard protocol a fast "Esc, x" arrives as one "Alt-x": when
        // Alt-x means nothing here, it was meant as Esc followed by x.
        on_key(state, escape, effects);
        on_key(state, plain, effects);
        return;
    }
    let Some(action) = keymap::lookup(&key, &scopes) else {
        // Unbound keys are text where text is being typed.
        if scopes.contains(&Scope::InputForm) {
            super::elicitation::type_key(state, key);
        } else if scopes.contains(&Scope::ApprovalEdit)
            || scopes.contains(&Scope::SamplingEdit)
            || scopes.contains(&Scope::PausedEdit)
        {
            if let Some(editor) = state
                .agent
                .approval_editor
                .as_mut()
                .or(state.agent.sampling_editor.as_mut())
                .or(state.agent.pause_editor.as_mut().map(|p| &mut p.editor))
            {
                editor.editor.input(key);
                editor.error = None;
            }
        } else if scopes.contains(&Scope::CallEditor) {
            if let Some(CallView::Editing { editor, error, .. }) = &mut state.call.view {
                editor.input(key);
                *error = None;
            }
        } else if scopes.contains(&Scope::Typing) {
            state.chat.input.input(key);
            state.chat.scroll = 0;
        } else if scopes.contains(&Scope::Filtering) {
            edit_filter(state, key);
        } else if scopes.contains(&Scope::TraceInput) {
            trace_actions::input_key(state, key);
        }
        return;
    };
    state.notice = None;
    if answers_prompt(state, action) && !state.agent.prompt_armed(state.now) {
        let pressed = match key.code {
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Esc => "Esc".to_owned(),
            other => format!("{other:?}"),
        };
        // How long it has been up (each ignored press reads differently, so a script driving
        // the dashboard can tell that its key was read).
        let shown_at = match (state.agent.approvals.front(), state.agent.sampling.front()) {
            (Some(approval), _) => Some(approval.shown_at),
            (None, Some(sampling)) => Some(sampling.shown_at),
            (None, None) => None,
        };
        let age = shown_at.map_or(0, |at| state.now.saturating_duration_since(at).as_millis());
        state.notice = Some(format!(
            "Ignored {pressed}: the prompt appeared only {age} ms ago. Press it again to answer."
        ));
        return;
    }
    if state.sessions.is_some() && state.input_requests.is_empty() {
        super::sessions::on_action(state, action, effects);
        return;
    }
    if state.help {
        match action {
            Action::Up => state.help_scroll = state.help_scroll.saturating_sub(1),
            Action::Down => state.help_scroll = state.help_scroll.saturating_add(1),
            _ => {}
        }
    }
    if let Some(scroll) = state.pager.as_mut().map(|pager| &mut pager.scroll) {
        let page = usize::from(state.size.1.saturating_sub(4)).max(1);
        match action {
            Action::Up => *scroll = scroll.saturating_sub(1),
            Action::Down => *scroll = scroll.saturating_add(1),
            Action::PageUp => *scroll = scroll.saturating_sub(page),
            Action::PageDown => *scroll = scroll.saturating_add(page),
            Action::Top => *scroll = 0,
            Action::Bottom => *scroll = usize::MAX / 2,
            _ => {}
        }
        if matches!(
            action,
            Action::Up
                | Action::Down
                | Action::PageUp
                | Action::PageDown
                | Action::Top
                | Action::Bottom
        ) {
            return;
        }
    }
    match action {
        Action::ForceQuit | Action::Quit => state.quitting = true,
        Action::ToggleHelp => {
            state.help = !state.help;
            state.help_scroll = 0;
        }
        Action::CloseHelp => state.help = false,
        Action::OpenSessions => super::sessions::open_picker(state, effects),
        // Only the open picker takes these (handled above).
        Action::ResumeSession
        | Action::DeleteSession
        | Action::ConfirmDelete
        | Action::CloseSessions => {}
        Action::FocusChat => state.focus(Pane::Chat),
        Action::FocusServers => state.focus(Pane::Servers),
        Action::FocusTools => state.focus(Pane::Tools),
        Action::FocusTrace => state.focus(Pane::Trace),
        Action::NextPane => state.focus(state.focus.next()),
        Action::PrevPane => state.focus(state.focus.prev()),
        Action::ToggleMouse => {
            state.mouse = !state.mouse;
            state.notice = Some(if state.mouse {
                "mouse on: click focuses, wheel scrolls".to_owned()
            } else {
                "mouse off: select text freely; m turns it on".to_owned()
            });
            effects.push(Effect::SetMouseCapture(state.mouse));
        }
        Action::Send => conversation::send_message(state, effects),
        Action::NewLine => state.chat.input.insert_newline(),
        Action::LeaveInput => state.typing = false,
        Action::EnterInput => state.typing = true,
        Action::Up | Action::Down if state.help => {}
        Action::Up => move_selection(state, -1),
        Action::Down => move_selection(state, 1),
        Action::PageUp => move_selection(state, -(state.page() as isize)),
        Action::PageDown => move_selection(state, state.page() as isize),
        Action::Top => move_selection(state, isize::MIN / 2),
        Action::Bottom => move_selection(state, isize::MAX / 2),
        Action::StartFilter => state.tools.filtering = true,
        Action::ClearFilter => {
            state.tools.filtering = false;
            state.tools.filter_cleared();
        }
        Action::AcceptFilter => state.tools.filtering = false,
        Action::DetailsDown => {
            state.tools.detail_scroll = state.tools.detail_scroll.saturating_add(3);
        }
        Action::DetailsUp => {
            state.tools.detail_scroll = state.tools.detail_scroll.saturating_sub(3);
        }
        Action::OpenCall => {
            if let Some(tool) = state.tools.selected_tool().cloned() {
                state.call.edit(&tool);
            }
        }
        Action::RunCall => {
            if let Some((id, target, arguments)) = state.call.start(state.now) {
                effects.push(Effect::Runtime(RuntimeCommand::CallTool {
                    id,
                    server: target.server,
                    tool: target.tool,
                    arguments,
                }));
            }
        }
        Action::CancelCall => {
            if let Some(CallView::Running { id, cancelling, .. }) = &mut state.call.view {
                *cancelling = true;
                effects.push(Effect::Runtime(RuntimeCommand::CancelCall { id: *id }));
            }
        }
        Action::CloseCall => state.call.close(),
        Action::OpenPager => {
            if let Some((target, result)) = state.call.result() {
                state.pager = Some(pager::Pager::new(
                    target.qualified_name.clone(),
                    result.clone(),
                ));
            }
        }
        Action::ClosePager => state.pager = None,
        Action::ApproveOnce => conversation::decide(state, Decision::Approve, effects),
        Action::DenyCall => conversation::decide(state, Decision::Deny, effects),
        Action::AlwaysAllow => conversation::decide(state, Decision::Always, effects),
        Action::EditArguments => conversation::open_approval_editor(state),
        Action::CancelTurn => {
            if state.agent.approvals.is_empty() {
                if let Some(turn) = state.agent.running {
                    effects.push(Effect::Agent(AgentCommand::CancelTurn { turn }));
                }
            } else {
                conversation::decide(state, Decision::CancelTurn, effects);
            }
        }
        Action::SubmitEdit if state.agent.pause_editor.is_some() => {
            debugging::submit_edit(state, effects);
        }
        Action::SubmitEdit => conversation::submit_edit(state, effects),
        Action::CloseEdit => {
            state.agent.pause_editor = None;
            conversation::close_editor(state);
        }
        Action::ApproveSampling => conversation::approve_sampling(state, effects),
        Action::DenySampling => conversation::decide_sampling(state, None, effects),
        Action::EditSampling => conversation::open_sampling_editor(state),
        Action::PromptUp => state.agent.scroll_prompt(-1),
        Action::ToggleStepMode => debugging::toggle_step_mode(state, effects),
        Action::DebugStep => debugging::resume(state, DebugAction::Step, effects),
        Action::DebugContinue => debugging::resume(state, DebugAction::Continue, effects),
        Action::DebugStop => debugging::resume(state, DebugAction::Stop, effects),
        Action::ForkFromStep => debugging::fork_selected(state, effects),
        Action::EditPaused => debugging::open_editor(state),
        Action::SaveTrace => debugging::save_trace(state, effects),
        Action::ToggleZoom => state.zoomed = !state.zoomed,
        Action::NextFailedStep => {
            if !state.trace.select_next_failed() {
                state.notice = Some("No step failed.".to_owned());
            }
        }
        Action::PromptDown => state.agent.scroll_prompt(1),
        Action::OpenStep => trace_actions::open_selected(state),
        Action::ToggleCollapse => state.trace.toggle_collapsed(),
        Action::CollapseStep => state.trace.collapse_or_up(),
        Action::ExpandStep => state.trace.expand_or_down(),
        Action::FilterSteps => trace_actions::start_input(state, InputPurpose::Filter),
        Action::ClearStepFilter => trace_actions::clear_filter(state),
        Action::ToggleFollow => {
            state.trace.set_follow(!state.trace.follow);
            state.notice = Some(if state.trace.follow {
                "Follow on: the newest step stays selected.".to_owned()
            } else {
                "Follow off: the selection stays where you put it.".to_owned()
            });
        }
        Action::ToggleBreakpoint => trace_actions::toggle_breakpoint(state, effects),
        Action::TypeBreakpoint => trace_actions::start_input(state, InputPurpose::Breakpoint),
        Action::AcceptInput => trace_actions::accept_input(state, effects),
        Action::CancelInput => trace_actions::cancel_input(state),
        Action::SignIn => {
            if let Some(server) = state.servers.selected() {
                let name = server.name.clone();
                state.notice = Some(format!("Signing in to {name}: the browser opens…"));
                effects.push(Effect::Runtime(RuntimeCommand::SignIn { server: name }));
            }
        }
        Action::CopySignInUrl => {
            let url = state.servers.selected().and_then(|server| {
                match state.servers.sign_ins.get(&server.name) {
                    Some(crate::runtime::messages::SignInStatus::Open { url }) => Some(url.clone()),
                    _ => None,
                }
            });
            state.notice = Some(match url {
                Some(url) => {
                    effects.push(Effect::Copy(url));
                    "Copied the sign-in URL (OSC 52: if the terminal allows it).".to_owned()
                }
                None => "No sign-in is waiting for this server (a starts one).".to_owned(),
            });
        }
        Action::InputNext => super::elicitation::next_field(state, 1),
        Action::InputPrev => super::elicitation::next_field(state, -1),
        Action::InputAccept => super::elicitation::accept(state, effects),
        Action::InputDecline => super::elicitation::decline(state, effects),
        Action::InputCancel => super::elicitation::cancel(state, effects),
        Action::InputToggle => super::elicitation::toggle(state),
        Action::InputOptionPrev => super::elicitation::step_option(state, -1),
        Action::InputOptionNext => super::elicitation::step_option(state, 1),
        Action::InputOpenUrl => super::elicitation::open_url(state, effects),
        Action::Reconnect | Action::Restart | Action::ToggleEnabled => {
            if let Some(server) = state.servers.selected() {
                let name = server.name.clone();
                let command = match action {
                    Action::Reconnect => RuntimeCommand::Reconnect {
                        server: name.clone(),
                    },
                    Action::Restart => RuntimeCommand::Restart {
                        server: name.clone(),
                    },
                    _ => RuntimeCommand::SetEnabled {
                        server: name.clone(),
                        enabled: !server.enabled,
                    },
                };
                let (notice, kind) = match &command {
                    RuntimeCommand::Reconnect { .. } => {
                        (format!("reconnecting {name}…"), ActionKind::Start)
                    }
                    RuntimeCommand::Restart { .. } => {
                        (format!("restarting {name}…"), ActionKind::Start)
                    }
                    RuntimeCommand::SetEnabled { enabled: true, .. } => {
                        (format!("enabling {name}…"), ActionKind::Start)
                    }
                    _ => (format!("disabling {name}…"), ActionKind::Disable),
                };
                // The message stays until the server has settled after the command.
                state.servers.action = Some(PendingAction {
                    server: name,
                    kind,
                    notice: notice.clone(),
                    started: false,
                });
                state.notice = Some(notice);
                effects.push(Effect::Runtime(command));
            }
        }
    }
}

/// An unbound Alt-<character> split into Esc and the plain character.
fn split_escape_prefix(key: &KeyEvent, scopes: &[Scope]) -> Option<(KeyEvent, KeyEvent)> {
    use ratatui::crossterm::event::{KeyCode, KeyModifiers};
    let KeyCode::Char(_) = key.code else {
        return None;
    };
    // "Esc, Shift-S" arrives as Alt-Shift-S: the Shift belongs to the second key.
    let rest = key.modifiers - KeyModifiers::ALT;
    if !key.modifiers.contains(KeyModifiers::ALT)
        || !(rest - KeyModifiers::SHIFT).is_empty()
        || keymap::lookup(key, scopes).is_some()
    {
        return None;
    }
    let escape = KeyEvent::new_with_kind(KeyCode::Esc, KeyModifiers::NONE, key.kind);
    let plain = KeyEvent::new_with_kind(key.code, rest, key.kind);
    Some((escape, plain))
}

fn edit_filter(state: &mut AppState, key: KeyEvent) {
    use ratatui::crossterm::event::KeyCode;
    match key.code {
        KeyCode::Backspace => {
            state.tools.filter.pop();
        }
        KeyCode::Char(c) => state.tools.filter.push(c),
        _ => return,
    }
    state.tools.filter_edited();
}
