//! Reducer tests: plain functions, no tokio, no terminal. State in, effects out.

use std::sync::Arc;
use std::time::Duration;

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use serde_json::json;

use super::*;
use crate::runtime::catalog::Catalog;
use crate::runtime::messages::{
    RuntimeCommand, RuntimeEvent, ServerName, ServerSnapshot, ServerState,
};
use crate::tui::test_support::{app_state, ctrl, demo_catalog, key, update};

fn state() -> AppState {
    app_state(None)
}

fn type_text(state: &mut AppState, text: &str) {
    for c in text.chars() {
        update(state, key(KeyCode::Char(c)));
    }
}

pub(super) fn catalog(names: &[&str]) -> Arc<Catalog> {
    demo_catalog(
        names
            .iter()
            .map(|n| {
                json!({
                    "name": n,
                    "description": format!("does {n}"),
                    "inputSchema": {"type": "object"}
                })
            })
            .collect(),
    )
}

fn snapshot(name: &str, state: ServerState) -> Arc<ServerSnapshot> {
    let mut s = ServerSnapshot::new(
        ServerName::new(name),
        crate::runtime::messages::TransportKind::Stdio,
    );
    s.state = state;
    Arc::new(s)
}

#[test]
fn starts_typing_in_chat_with_guidance_when_no_llm() {
    let state = state();
    assert_eq!(state.focus, Pane::Chat);
    assert!(state.typing);
    assert_eq!(state.chat.entries.len(), 1);
    assert!(state.chat.entries[0].text.contains("No LLM is configured"));
    assert!(state.chat.entries[0].text.contains("\"LLM\""));
}

#[test]
fn typing_q_types_and_esc_then_q_quits() {
    let mut s = state();
    assert!(update(&mut s, key(KeyCode::Char('q'))).is_empty());
    assert_eq!(s.chat.input.lines(), ["q"]);
    update(&mut s, key(KeyCode::Esc));
    assert!(!s.typing);
    assert_eq!(update(&mut s, key(KeyCode::Char('q'))), vec![Effect::Quit]);
}

#[test]
fn ctrl_c_quits_while_typing_filtering_and_in_help() {
    let mut typing = state();
    assert_eq!(update(&mut typing, ctrl('c')), vec![Effect::Quit]);

    let mut filtering = state();
    update(&mut filtering, key(KeyCode::Esc));
    update(&mut filtering, key(KeyCode::Char('3')));
    update(&mut filtering, key(KeyCode::Char('/')));
    assert!(filtering.tools.filtering);
    assert_eq!(update(&mut filtering, ctrl('c')), vec![Effect::Quit]);

    let mut help = state();
    update(&mut help, key(KeyCode::Esc));
    update(&mut help, key(KeyCode::Char('?')));
    assert!(help.help);
    assert_eq!(update(&mut help, ctrl('c')), vec![Effect::Quit]);
}

#[test]
fn number_keys_and_tab_move_focus() {
    let mut s = state();
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, key(KeyCode::Char('2')));
    assert_eq!(s.focus, Pane::Servers);
    update(&mut s, key(KeyCode::Char('4')));
    assert_eq!(s.focus, Pane::Trace);
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(s.focus, Pane::Chat);
    assert!(s.typing, "focusing Chat puts the keyboard in the input");
    update(&mut s, key(KeyCode::BackTab));
    assert_eq!(s.focus, Pane::Trace);
    assert!(!s.typing);
    update(&mut s, key(KeyCode::Char('3')));
    assert_eq!(s.focus, Pane::Tools);
}

#[test]
fn enter_without_llm_keeps_the_message_and_explains() {
    let mut s = state();
    type_text(&mut s, "hello there");
    update(&mut s, key(KeyCode::Enter));
    let texts: Vec<_> = s
        .chat
        .entries
        .iter()
        .map(|e| (e.role, e.text.as_str()))
        .collect();
    assert_eq!(texts[1], (chat::Role::User, "hello there"));
    assert_eq!(texts[2].0, chat::Role::Notice);
    assert!(texts[2].1.starts_with("Not sent. No LLM is configured"));
    assert!(s.chat.input.is_empty());
}

#[test]
fn blank_messages_are_not_sent() {
    let mut s = state();
    type_text(&mut s, "   ");
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(s.chat.entries.len(), 1);
}

#[test]
fn alt_enter_inserts_a_newline() {
    let mut s = state();
    type_text(&mut s, "a");
    update(
        &mut s,
        Msg::Key(KeyEvent::new_with_kind(
            KeyCode::Enter,
            KeyModifiers::ALT,
            KeyEventKind::Press,
        )),
    );
    type_text(&mut s, "b");
    assert_eq!(s.chat.input.lines(), ["a", "b"]);
}

#[test]
fn help_opens_and_closes_and_swallows_other_keys() {
    let mut s = state();
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, key(KeyCode::Char('?')));
    assert!(s.help);
    update(&mut s, key(KeyCode::Char('2')));
    assert_eq!(s.focus, Pane::Chat, "keys other than help's own do nothing");
    update(&mut s, key(KeyCode::Esc));
    assert!(!s.help);
}

#[test]
fn mouse_toggle_emits_the_capture_effect() {
    let mut s = state();
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(
        update(&mut s, key(KeyCode::Char('m'))),
        vec![Effect::SetMouseCapture(false)]
    );
    assert!(!s.mouse);
    assert!(
        s.notice
            .as_deref()
            .is_some_and(|n| n.contains("select text freely"))
    );
    assert_eq!(
        update(&mut s, key(KeyCode::Char('m'))),
        vec![Effect::SetMouseCapture(true)]
    );
}

#[test]
fn clicking_a_tab_focuses_its_pane_and_mouse_off_ignores_clicks() {
    let mut s = state();
    let click = |column, row| {
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    update(&mut s, click(10, 0));
    assert_eq!(s.focus, Pane::Servers);
    s.mouse = false;
    update(&mut s, click(1, 0));
    assert_eq!(s.focus, Pane::Servers);
}

#[test]
fn runtime_events_update_servers_and_tools() {
    let mut s = state();
    update(
        &mut s,
        Msg::Runtime(RuntimeEvent::ServerChanged(snapshot(
            "a",
            ServerState::Starting,
        ))),
    );
    update(
        &mut s,
        Msg::Runtime(RuntimeEvent::ServerChanged(snapshot(
            "b",
            ServerState::Failed,
        ))),
    );
    update(
        &mut s,
        Msg::Runtime(RuntimeEvent::ServerChanged(snapshot(
            "a",
            ServerState::Ready,
        ))),
    );
    let states: Vec<_> = s
        .servers
        .servers
        .iter()
        .map(|x| (x.name.to_string(), x.state))
        .collect();
    assert_eq!(
        states,
        [
            ("a".into(), ServerState::Ready),
            ("b".into(), ServerState::Failed)
        ]
    );
    assert_eq!(s.servers.ready_count(), 1);
    update(
        &mut s,
        Msg::Runtime(RuntimeEvent::CatalogChanged(catalog(&["echo", "add"]))),
    );
    assert_eq!(s.tools.visible.len(), 2);
}

#[test]
fn selecting_a_tool_asks_for_its_schema_highlight_once() {
    let mut s = state();
    let effects = update(
        &mut s,
        Msg::Runtime(RuntimeEvent::CatalogChanged(catalog(&["echo", "add"]))),
    );
    let jobs: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Highlight { job, theme } => Some((job.key.clone(), theme.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(jobs.len(), 1);
    assert!(jobs[0].0.starts_with("demo__echo#"));
    assert_eq!(jobs[0].1, "base16-ocean.dark");
    // Pending: no second request for the same schema.
    assert!(update(&mut s, Msg::Tick).is_empty());
    update(
        &mut s,
        Msg::Highlighted {
            key: jobs[0].0.clone(),
            lines: vec![Line::raw("{}")],
        },
    );
    assert!(s.tools.selected_highlight().is_some());
}

#[test]
fn a_lost_highlight_job_does_not_stay_pending() {
    let mut s = state();
    let effects = update(
        &mut s,
        Msg::Runtime(RuntimeEvent::CatalogChanged(catalog(&["echo", "add"]))),
    );
    let key = effects
        .iter()
        .find_map(|e| match e {
            Effect::Highlight { job, .. } => Some(job.key.clone()),
            _ => None,
        })
        .expect("a job");
    assert!(s.tools.is_pending(&key));
    let effects = update(&mut s, Msg::HighlightLost { key: key.clone() });
    assert!(!s.tools.is_pending(&key));
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::Highlight { .. })),
        "a failed schema is shown plain, not asked for again"
    );
    // Another tool is still highlighted.
    s.tools.select(1);
    let effects = update(&mut s, Msg::Tick);
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Highlight { .. }))
    );
}

#[test]
fn the_highlight_cache_evicts_the_least_recently_selected() {
    let mut s = state();
    let names: Vec<String> = (0..300).map(|i| format!("t{i:03}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    update(
        &mut s,
        Msg::Runtime(RuntimeEvent::CatalogChanged(catalog(&refs))),
    );
    let mut first_key = None;
    for i in 0..300 {
        s.tools.select(i);
        let key = s.tools.selected_schema().expect("selected").key.clone();
        first_key.get_or_insert(key.clone());
        s.tools.store_highlight(key, vec![Line::raw("{}")]);
        if i == 100 {
            // The first tool is used again: it becomes the most recent.
            s.tools.select(0);
        }
    }
    assert_eq!(s.tools.cached_highlights(), 256);
    s.tools.select(0);
    assert!(
        s.tools.selected_highlight().is_some(),
        "recently used: kept"
    );
    s.tools.select(1);
    assert!(
        s.tools.selected_highlight().is_none(),
        "least recently used: evicted"
    );
    s.tools.select(299);
    assert!(s.tools.selected_highlight().is_some());
}

#[test]
fn no_highlight_jobs_without_colour() {
    let mut s = state();
    s.theme = Theme::default_dark().monochrome();
    let effects = update(
        &mut s,
        Msg::Runtime(RuntimeEvent::CatalogChanged(catalog(&["echo"]))),
    );
    assert!(effects.is_empty());
}

/// The names of the tools the Tools pane lists, in its order.
fn visible_tools(s: &AppState) -> Vec<&str> {
    s.tools
        .visible
        .iter()
        .map(|&i| s.tools.catalog.tools[i].name.as_str())
        .collect()
}

#[test]
fn tools_filter_narrows_and_escape_clears() {
    let mut s = state();
    update(
        &mut s,
        Msg::Runtime(RuntimeEvent::CatalogChanged(catalog(&[
            "echo", "add", "adder",
        ]))),
    );
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, key(KeyCode::Char('3')));
    update(&mut s, key(KeyCode::Char('/')));
    type_text(&mut s, "add");
    let names = visible_tools(&s);
    assert_eq!(names, ["add", "adder"]);
    // 'q' while filtering is text, not quit.
    assert!(!update(&mut s, key(KeyCode::Char('q'))).contains(&Effect::Quit));
    assert!(s.tools.visible.is_empty());
    update(&mut s, key(KeyCode::Backspace));
    update(&mut s, key(KeyCode::Enter));
    assert!(!s.tools.filtering);
    assert_eq!(s.tools.filter, "add");
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.tools.filter, "");
    assert_eq!(s.tools.visible.len(), 3);
}

#[test]
fn selection_moves_and_clamps() {
    let mut s = state();
    update(
        &mut s,
        Msg::Runtime(RuntimeEvent::CatalogChanged(catalog(&["a", "b", "c"]))),
    );
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, key(KeyCode::Char('3')));
    update(&mut s, key(KeyCode::Char('j')));
    assert_eq!(s.tools.selected, 1);
    update(&mut s, key(KeyCode::Char('G')));
    assert_eq!(s.tools.selected, 2);
    update(&mut s, key(KeyCode::Down));
    assert_eq!(s.tools.selected, 2);
    update(&mut s, key(KeyCode::Char('g')));
    assert_eq!(s.tools.selected, 0);
    update(&mut s, key(KeyCode::Up));
    assert_eq!(s.tools.selected, 0);
}

#[test]
fn tools_filter_puts_name_matches_first_and_selects_the_best() {
    let mut s = state();
    let tools = [
        ("structured", None, "returns content along with a schema"),
        ("run", Some("Long job"), "runs"),
        ("trigger-long-running", None, "starts a job"),
        ("longest", None, "measures"),
        ("other", None, "nothing to see"),
    ];
    let catalog = demo_catalog(
        tools
            .iter()
            .map(|(name, title, description)| {
                json!({"name": name, "title": title, "description": description,
                       "inputSchema": {"type": "object"}})
            })
            .collect(),
    );
    update(&mut s, Msg::Runtime(RuntimeEvent::CatalogChanged(catalog)));
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, key(KeyCode::Char('3')));
    s.tools.select(4);
    update(&mut s, key(KeyCode::Char('/')));
    type_text(&mut s, "long");
    let names = visible_tools(&s);
    // Name prefix, name, title, description; "other" does not match.
    assert_eq!(
        names,
        ["longest", "trigger-long-running", "run", "structured"]
    );
    assert_eq!(
        s.tools.selected_tool().map(|t| t.name.as_str()),
        Some("longest")
    );
    // Clearing the filter keeps the tool that was selected.
    update(&mut s, key(KeyCode::Down));
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.tools.filter, "");
    assert_eq!(s.tools.visible.len(), 5);
    assert_eq!(
        s.tools.selected_tool().map(|t| t.name.as_str()),
        Some("trigger-long-running")
    );
}

#[test]
fn catalog_updates_keep_the_selected_tool() {
    let mut s = state();
    update(
        &mut s,
        Msg::Runtime(RuntimeEvent::CatalogChanged(catalog(&["a", "b", "c"]))),
    );
    s.tools.select(2);
    update(
        &mut s,
        Msg::Runtime(RuntimeEvent::CatalogChanged(catalog(&["c", "a"]))),
    );
    assert_eq!(s.tools.selected_tool().map(|t| t.name.as_str()), Some("c"));
}

#[test]
fn paste_goes_into_the_input() {
    let mut s = state();
    update(&mut s, Msg::Paste("line one\nline two".into()));
    assert_eq!(s.chat.input.lines(), ["line one", "line two"]);
}

/// Terminals send CR (or CRLF) in bracketed paste: every kind of break starts a new line.
#[test]
fn a_paste_keeps_its_lines_whatever_the_terminal_sends() {
    for pasted in ["one\rtwo\rthree", "one\r\ntwo\r\nthree", "one\ntwo\nthree"] {
        let mut s = state();
        update(&mut s, Msg::Paste(pasted.into()));
        assert_eq!(s.chat.input.lines(), ["one", "two", "three"], "{pasted:?}");
    }
}

#[test]
fn key_releases_are_ignored() {
    let mut s = state();
    update(
        &mut s,
        Msg::Key(KeyEvent::new_with_kind(
            KeyCode::Char('x'),
            KeyModifiers::NONE,
            KeyEventKind::Release,
        )),
    );
    assert!(s.chat.input.is_empty());
}

#[test]
fn calling_a_tool_edits_runs_cancels_and_shows_the_result() {
    let mut s = state();
    update(
        &mut s,
        Msg::Runtime(RuntimeEvent::CatalogChanged(catalog(&["echo"]))),
    );
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, key(KeyCode::Char('3')));
    update(&mut s, key(KeyCode::Enter));
    assert!(matches!(s.call.view, Some(call::CallView::Editing { .. })));
    // Keys go to the editor now: 'q' is text, not quit.
    assert!(update(&mut s, key(KeyCode::Char('q'))).is_empty());
    let Some(call::CallView::Editing { editor, .. }) = &mut s.call.view else {
        panic!("editing");
    };
    **editor = ratatui_textarea::TextArea::new(vec![r#"{"message": "hi"}"#.to_owned()]);
    let effects = update(&mut s, ctrl('s'));
    let id = crate::runtime::messages::CallId(1);
    assert_eq!(
        effects,
        vec![Effect::Runtime(RuntimeCommand::CallTool {
            id,
            server: ServerName::new("demo"),
            tool: "echo".into(),
            arguments: json!({"message": "hi"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        })]
    );
    update(
        &mut s,
        Msg::Runtime(RuntimeEvent::CallProgress {
            id,
            progress: 1.0,
            total: Some(2.0),
            message: None,
        }),
    );
    assert_eq!(
        update(&mut s, key(KeyCode::Esc)),
        vec![Effect::Runtime(RuntimeCommand::CancelCall { id })]
    );
    // A stale answer for another call is ignored; this one's answer is shown.
    update(
        &mut s,
        Msg::Runtime(RuntimeEvent::CallFinished {
            id: crate::runtime::messages::CallId(99),
            outcome: Err("stale".into()),
            elapsed: Duration::ZERO,
        }),
    );
    assert!(matches!(s.call.view, Some(call::CallView::Running { .. })));
    update(
        &mut s,
        Msg::Runtime(RuntimeEvent::CallFinished {
            id,
            outcome: Err("server `demo`: tools/call: cancelled".into()),
            elapsed: Duration::from_millis(3),
        }),
    );
    let Some(call::CallView::Done {
        outcome, cancelled, ..
    }) = &s.call.view
    else {
        panic!("done");
    };
    assert_eq!(
        outcome,
        &Err("server `demo`: tools/call: cancelled".to_owned())
    );
    assert!(cancelled, "shown as cancelled, not as a failure");
    update(&mut s, key(KeyCode::Esc));
    assert!(s.call.view.is_none());
}

#[test]
fn invalid_arguments_stay_in_the_editor_with_a_reason() {
    let mut s = state();
    update(
        &mut s,
        Msg::Runtime(RuntimeEvent::CatalogChanged(catalog(&["echo"]))),
    );
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, key(KeyCode::Char('3')));
    update(&mut s, key(KeyCode::Enter));
    let Some(call::CallView::Editing { editor, .. }) = &mut s.call.view else {
        panic!("editing");
    };
    **editor = ratatui_textarea::TextArea::new(vec!["[1, 2]".to_owned()]);
    assert!(update(&mut s, ctrl('s')).is_empty());
    let Some(call::CallView::Editing { error, .. }) = &s.call.view else {
        panic!("still editing");
    };
    assert_eq!(
        error.as_deref(),
        Some("the arguments must be a JSON object, like {\"key\": \"value\"}")
    );
}

#[test]
fn pager_scrolls_and_closes() {
    let mut s = state();
    update(
        &mut s,
        Msg::Runtime(RuntimeEvent::CatalogChanged(catalog(&["echo"]))),
    );
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, key(KeyCode::Char('3')));
    update(&mut s, key(KeyCode::Enter));
    update(&mut s, ctrl('s'));
    let id = s.call.running_id().expect("running");
    let result: rmcp::model::CallToolResult =
        serde_json::from_value(json!({"content": [{"type": "text", "text": "a\nb\nc"}]}))
            .expect("result");
    update(
        &mut s,
        Msg::Runtime(RuntimeEvent::CallFinished {
            id,
            outcome: Ok(result),
            elapsed: Duration::from_millis(31),
        }),
    );
    // The time shown is the runtime's measurement, not the gap between two UI clock readings.
    s.now += Duration::from_secs(5);
    assert!(matches!(
        s.call.view,
        Some(call::CallView::Done { elapsed, .. }) if elapsed == Duration::from_millis(31)
    ));
    update(&mut s, key(KeyCode::Char('p')));
    assert_eq!(s.pager.as_ref().map(|p| p.scroll), Some(0));
    update(&mut s, key(KeyCode::Char('j')));
    update(&mut s, key(KeyCode::Char('j')));
    assert_eq!(s.pager.as_ref().map(|p| p.scroll), Some(2));
    assert_eq!(
        s.focus,
        Pane::Tools,
        "j scrolled the pager, not the tool list"
    );
    update(&mut s, key(KeyCode::Char('q')));
    assert!(s.pager.is_none());
    assert!(
        s.call.view.is_some(),
        "q in the pager closes only the pager"
    );
}

#[test]
fn server_keys_send_reconnect_restart_and_toggle() {
    let mut s = state();
    update(
        &mut s,
        Msg::Runtime(RuntimeEvent::ServerChanged(snapshot(
            "a",
            ServerState::Ready,
        ))),
    );
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, key(KeyCode::Char('2')));
    let name = ServerName::new("a");
    assert_eq!(
        update(&mut s, key(KeyCode::Char('r'))),
        vec![Effect::Runtime(RuntimeCommand::Reconnect {
            server: name.clone()
        })]
    );
    assert_eq!(s.notice.as_deref(), Some("reconnecting a…"));
    assert_eq!(
        update(&mut s, key(KeyCode::Char('R'))),
        vec![Effect::Runtime(RuntimeCommand::Restart {
            server: name.clone()
        })]
    );
    assert_eq!(
        update(&mut s, key(KeyCode::Char('d'))),
        vec![Effect::Runtime(RuntimeCommand::SetEnabled {
            server: name,
            enabled: false
        })]
    );
    // Elsewhere, r is not bound.
    update(&mut s, key(KeyCode::Char('4')));
    assert!(update(&mut s, key(KeyCode::Char('r'))).is_empty());
}

#[test]
fn a_fast_escape_then_key_arriving_as_alt_key_is_split() {
    let mut s = state();
    update(
        &mut s,
        Msg::Key(KeyEvent::new_with_kind(
            KeyCode::Char('2'),
            KeyModifiers::ALT,
            KeyEventKind::Press,
        )),
    );
    assert!(!s.typing, "the Esc part left the input");
    assert_eq!(s.focus, Pane::Servers, "the 2 part focused Servers");
    assert!(s.chat.input.is_empty());
    // With Shift: "Esc, G" arrives as Alt-Shift-G, and the G keeps its Shift.
    update(&mut s, key(KeyCode::Char('1')));
    assert!(s.typing);
    update(
        &mut s,
        Msg::Key(KeyEvent::new_with_kind(
            KeyCode::Char('4'),
            KeyModifiers::ALT | KeyModifiers::SHIFT,
            KeyEventKind::Press,
        )),
    );
    assert!(!s.typing, "the Esc part left the input");
    assert_eq!(s.focus, Pane::Trace, "the 4 part focused Trace");
    assert!(s.chat.input.is_empty());
}

#[test]
fn a_saved_trace_opens_zoomed_on_its_last_step_with_nothing_to_send_to() {
    use crate::protocol::{StepBody, StepId, StepStatus, TraceStep};
    let step = |id: u64, parent: Option<u64>, status: StepStatus| {
        let mut step = TraceStep::begin(
            StepId(id),
            parent.map(StepId),
            None,
            StepBody::Limit {
                reason: format!("step {id}"),
            },
        );
        step.end(status);
        step
    };
    let mut state = state();
    state.size = (140, 45);
    let steps = vec![
        step(1, None, StepStatus::Ok),
        step(2, Some(1), StepStatus::Ok),
        step(3, Some(2), StepStatus::Error),
    ];
    state.open_saved_trace(
        "run.jsonl",
        steps,
        Some("newer".into()),
        std::time::Instant::now(),
    );
    assert_eq!(state.focus, Pane::Trace);
    assert!(!state.typing);
    assert_eq!(
        state.layout().panes.len(),
        1,
        "the Trace pane fills the body"
    );
    assert_eq!(state.trace.len(), 3);
    assert_eq!(state.trace.selected, 2, "the last step is selected");
    assert_eq!(state.trace.rows[2].depth, 2, "the tree is built");
    assert_eq!(state.notice.as_deref(), Some("newer"));
    // Typing in the chat explains instead of sending anywhere.
    update(&mut state, key(KeyCode::Char('1')));
    type_text(&mut state, "hi");
    let effects = update(&mut state, key(KeyCode::Enter));
    assert!(effects.is_empty(), "{effects:?}");
}
