//! Reducer tests for sessions: the picker, the session slash commands and the agent's
//! answers (a switched session redrawn, the save state in the status bar).

use ratatui::crossterm::event::KeyCode;

use super::chat::Role;
use super::tests_agent::{commands, last_text, send, state};
use super::*;
use serde_json::json;

use crate::protocol::{AgentCommand, AgentEvent, AgentMode, TurnId};
use crate::tui::test_support::{ch, key, update};

use crate::protocol::session::{SessionCommand, SessionEvent};

fn info(id: &str, title: &str) -> crate::memory::SessionInfo {
    crate::memory::SessionInfo {
        id: id.parse().expect("id"),
        title: title.into(),
        messages: 4,
        tokens: 1200,
        updated: crate::protocol::trace::now_ms(),
        store: "file",
    }
}

#[test]
fn the_session_commands_go_to_the_agent_and_say_what_they_need() {
    let mut state = state(true);
    let effects = send(&mut state, "/save_history");
    assert!(commands(effects).is_empty());
    assert!(
        last_text(&state).contains("/save_history:<path>"),
        "{}",
        last_text(&state)
    );
    for (typed, expected) in [
        (
            "/save_history:chat.json",
            SessionCommand::Save("chat.json".into()),
        ),
        (
            "/load_history: old.json",
            SessionCommand::Load("old.json".into()),
        ),
        ("/memory", SessionCommand::Info),
        ("/history", SessionCommand::History),
        ("/compact", SessionCommand::Compact),
        ("/clear_history", SessionCommand::ClearHistory),
        ("/sessions", SessionCommand::List),
    ] {
        state.sessions = None;
        assert_eq!(
            commands(send(&mut state, typed)),
            [AgentCommand::Session(expected)],
            "{typed}"
        );
    }
    let mut without = self::state(false);
    assert!(commands(send(&mut without, "/compact")).is_empty());
    assert!(last_text(&without).contains("needs an LLM"));
}

#[test]
fn the_sessions_picker_resumes_and_deletes_with_a_confirmation() {
    let mut state = state(true);
    state.typing = false;
    state.focus = Pane::Servers;
    assert_eq!(
        commands(update(&mut state, ch('S'))),
        [AgentCommand::Session(SessionCommand::List)]
    );
    assert_eq!(state.scopes()[1], Scope::Sessions);
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24))
        .expect("a test terminal");
    let screen =
        |state: &AppState, terminal: &mut ratatui::Terminal<ratatui::backend::TestBackend>| {
            terminal
                .draw(|frame| crate::tui::view::draw(frame, state))
                .expect("drawn");
            terminal.backend().to_string()
        };
    assert!(screen(&state, &mut terminal).contains("Reading the store"));
    super::conversation::on_agent_event(
        &mut state,
        AgentEvent::Session(SessionEvent::Listed {
            sessions: vec![info("here", "this one"), info("old-1", "weather in Paris")],
            current: Some("here".parse().expect("id")),
        }),
    );
    let shown = screen(&state, &mut terminal);
    assert!(shown.contains("here (this window)"), "{shown}");
    assert!(shown.contains("weather in Paris"), "{shown}");
    // This window's session is not deleted from here.
    assert!(commands(update(&mut state, ch('d'))).is_empty());
    assert!(
        state
            .notice
            .as_deref()
            .is_some_and(|n| n.contains("/clear_history"))
    );
    update(&mut state, ch('j'));
    // d arms, any other key disarms, y deletes.
    assert!(commands(update(&mut state, ch('d'))).is_empty());
    assert!(screen(&state, &mut terminal).contains("Delete session old-1?"));
    update(&mut state, ch('k'));
    update(&mut state, ch('j'));
    assert!(
        commands(update(&mut state, ch('y'))).is_empty(),
        "disarmed by the move"
    );
    update(&mut state, ch('d'));
    assert_eq!(
        commands(update(&mut state, ch('y'))),
        [AgentCommand::Session(SessionCommand::Delete(
            "old-1".parse().expect("id")
        ))]
    );
    assert_eq!(
        commands(update(&mut state, key(KeyCode::Enter))),
        [AgentCommand::Session(SessionCommand::Resume(
            "old-1".parse().expect("id")
        ))]
    );
    // The switch redraws the chat and closes the picker.
    state.chat.push(Role::User, "something from before");
    super::conversation::on_agent_event(
        &mut state,
        AgentEvent::Session(SessionEvent::Switched {
            id: Some("old-1".parse().expect("id")),
            history: Vec::new(),
            said: vec![
                crate::llm::ChatMessage::user("weather in Paris"),
                crate::llm::ChatMessage::assistant("Sunny."),
            ],
            steps: Vec::new(),
            redraw: true,
            note: "Resumed session old-1 (2 messages).".into(),
        }),
    );
    assert!(state.sessions.is_none());
    let texts: Vec<&str> = state
        .chat
        .entries
        .iter()
        .skip(1)
        .map(|e| e.text.as_str())
        .collect();
    assert_eq!(
        texts,
        [
            "weather in Paris",
            "Sunny.",
            "Resumed session old-1 (2 messages)."
        ]
    );
    state.size = (140, 45);
    let mut wide = ratatui::Terminal::new(ratatui::backend::TestBackend::new(140, 45))
        .expect("a test terminal");
    assert!(screen(&state, &mut wide).contains("session old-1"));
    // A store that went away shows in the status bar.
    super::conversation::on_agent_event(
        &mut state,
        AgentEvent::Session(SessionEvent::Saved(
            crate::memory::writer::SaveState::NotSaved {
                pending: 3,
                reason: "redis is down".into(),
            },
        )),
    );
    assert!(screen(&state, &mut wide).contains("session old-1 (not saved)"));
    update(&mut state, ch('S'));
    update(&mut state, key(KeyCode::Esc));
    assert!(state.sessions.is_none(), "Esc closes the picker");
}

#[test]
fn a_resumed_session_is_back_on_screen_and_named_in_the_status_bar() {
    use crate::llm::{ChatMessage, ToolCall};
    let mut state = state(true);
    state.resume_session(
        Some("work-1".into()),
        &[
            ChatMessage::user("echo hi"),
            ChatMessage::Assistant {
                text: String::new(),
                tool_calls: vec![ToolCall {
                    id: "c1".into(),
                    name: "demo__echo".into(),
                    arguments: json!({"message": "hi"}),
                }],
                provider_state: None,
            },
            ChatMessage::ToolResult {
                call_id: "c1".into(),
                name: "demo__echo".into(),
                content: "hi".into(),
                is_error: false,
            },
            ChatMessage::assistant("It said hi."),
        ],
        vec![crate::protocol::TraceStep::begin(
            crate::protocol::StepId(7),
            None,
            Some(TurnId(3)),
            crate::protocol::StepBody::Turn {
                user_text: "echo hi".into(),
                mode: AgentMode::Chat,
                outcome: None,
            },
        )],
    );
    assert!(
        state.trace.row(crate::protocol::StepId(7)).is_some(),
        "the stored trace is back"
    );
    assert_eq!(
        state.agent.begin_turn(),
        TurnId(4),
        "new turns are numbered after the stored ones"
    );
    state.agent.running = None;
    let shown: Vec<(Role, &str)> = state
        .chat
        .entries
        .iter()
        .skip(1)
        .map(|e| (e.role, e.text.as_str()))
        .collect();
    assert_eq!(
        shown,
        [
            (Role::Notice, "Resumed session work-1 (4 messages)."),
            (Role::User, "echo hi"),
            (Role::Tool, "demo__echo {\"message\":\"hi\"}"),
            (Role::Assistant, "It said hi."),
        ]
    );
    state.size = (140, 45);
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(140, 45))
        .expect("a test terminal");
    terminal
        .draw(|frame| crate::tui::view::draw(frame, &state))
        .expect("drawn");
    let screen = terminal.backend().to_string();
    assert!(screen.contains("session work-1"), "{screen}");
}
