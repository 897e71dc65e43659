//! Reducer tests for the conversation: sending, slash commands, the agent's events, and the
//! approval and sampling prompts answered by keystroke.

#![allow(deprecated)]

use std::time::Duration;

use ratatui::crossterm::event::KeyCode;
use serde_json::json;

use super::chat::Role;
use super::*;
use crate::protocol::{
    AgentCommand, AgentEvent, AgentMode, ApprovalId, ApprovedBy, CallOutcome, Decision,
    ProposedCall, SamplingId, ToolCallId, TurnId, TurnOutcome, UsageTotals,
};
use crate::runtime::messages::ServerName;
use crate::tui::test_support::{app_state, ch, ctrl, key, update};

pub(super) fn state(with_llm: bool) -> AppState {
    app_state(with_llm.then_some("openai/gpt-4o-mini"))
}

pub(super) fn send(state: &mut AppState, text: &str) -> Vec<Effect> {
    for c in text.chars() {
        update(state, ch(c));
    }
    update(state, key(KeyCode::Enter))
}

pub(super) fn commands(effects: Vec<Effect>) -> Vec<AgentCommand> {
    effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::Agent(c) => Some(c),
            _ => None,
        })
        .collect()
}

pub(super) fn last_text(state: &AppState) -> &str {
    &state.chat.entries.last().expect("an entry").text
}

fn proposed(tool: &str) -> ProposedCall {
    ProposedCall {
        id: ToolCallId(1),
        server: ServerName::new("demo"),
        tool: tool.into(),
        qualified_name: format!("demo__{tool}"),
        arguments: json!({"path": "/tmp/x"}),
        title: None,
        read_only: None,
        destructive: Some(true),
        input_schema: std::sync::Arc::new(
            json!({
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"]
            })
            .as_object()
            .cloned()
            .expect("schema"),
        ),
    }
}

/// An approval prompt that has been on screen long enough to be answered.
fn ask(state: &mut AppState, turn: u64, approval: u64, tool: &str, index: usize, total: usize) {
    update(
        state,
        Msg::Agent(AgentEvent::ApprovalRequested {
            turn: TurnId(turn),
            approval: ApprovalId(approval),
            call: proposed(tool),
            index,
            total,
        }),
    );
    settle(state);
}

/// Lets the prompt grace pass: the clock moves on a second.
fn settle(state: &mut AppState) {
    state.now += Duration::from_secs(1);
}

fn decide(approval: u64, decision: Decision) -> AgentCommand {
    AgentCommand::Decide {
        approval: ApprovalId(approval),
        decision,
    }
}

#[test]
fn messages_start_turns_one_at_a_time() {
    let mut state = state(true);
    let sent = commands(send(&mut state, "hello"));
    assert_eq!(
        sent,
        [AgentCommand::StartTurn {
            turn: TurnId(1),
            text: "hello".into(),
            mode: AgentMode::Chat
        }]
    );
    assert_eq!(state.agent.running, Some(TurnId(1)));
    assert!(state.scopes().contains(&Scope::Answering));
    assert!(commands(send(&mut state, "again")).is_empty());
    assert!(last_text(&state).contains("still coming"));
    // Esc while the answer streams cancels the turn.
    let effects = update(&mut state, key(KeyCode::Esc));
    assert_eq!(
        commands(effects),
        [AgentCommand::CancelTurn { turn: TurnId(1) }]
    );
}

#[test]
fn without_an_llm_nothing_is_sent_and_the_chat_says_why() {
    let mut state = state(false);
    assert!(commands(send(&mut state, "hello")).is_empty());
    assert!(last_text(&state).starts_with("Not sent. No LLM is configured"));
    let mut state = state_failed();
    assert!(commands(send(&mut state, "hello")).is_empty());
    assert!(last_text(&state).contains("cannot be used: bad key"));
}

fn state_failed() -> AppState {
    let mut state = state(false);
    state.llm_failed("bad key");
    assert_eq!(state.chat.entries.len(), 1);
    assert_eq!(state.chat.entries[0].role, Role::Error);
    state
}

/// `/tools` lists every server's tools without a model; `/quit` quits.
#[test]
fn tools_and_quit_commands_work_without_an_llm() {
    let mut state = state(false);
    send(&mut state, "/tools");
    assert_eq!(last_text(&state), "No connected server offers tools yet.");
    update(
        &mut state,
        Msg::Runtime(crate::runtime::messages::RuntimeEvent::CatalogChanged(
            super::tests::catalog(&["echo", "add"]),
        )),
    );
    send(&mut state, "/tools");
    let text = last_text(&state);
    assert!(text.starts_with("2 tools:\n  demo:\n    echo"), "{text}");
    assert!(text.contains("\n    add"), "{text}");
    let effects = send(&mut state, "/quit");
    assert!(effects.contains(&Effect::Quit), "{effects:?}");
}

#[test]
fn slash_commands() {
    let mut state = state(true);
    assert!(commands(send(&mut state, "/mode:auto")).is_empty());
    assert_eq!(state.agent.mode, AgentMode::Auto);
    assert!(last_text(&state).starts_with("Auto mode"));
    match commands(send(&mut state, "go")).as_slice() {
        [AgentCommand::StartTurn { mode, .. }] => assert_eq!(*mode, AgentMode::Auto),
        other => panic!("{other:?}"),
    }
    state.agent.running = None;
    send(&mut state, "/mode:orchestrator");
    assert!(last_text(&state).starts_with("Orchestrator mode"));
    assert_eq!(state.agent.mode, AgentMode::Orchestrator);
    match commands(send(&mut state, "plan it")).as_slice() {
        [AgentCommand::StartTurn { mode, .. }] => assert_eq!(*mode, AgentMode::Orchestrator),
        other => panic!("{other:?}"),
    }
    state.agent.running = None;
    send(&mut state, "/mode:chat");
    assert_eq!(state.agent.mode, AgentMode::Chat);
    state.agent.session_usage = UsageTotals {
        requests: 3,
        input_tokens: 1200,
        output_tokens: 300,
        cost: Some(0.0125),
    };
    send(&mut state, "/api_stats");
    assert_eq!(
        last_text(&state),
        "This session: 3 requests · 1.5k tokens (1.2k in, 300 out) · $0.0125."
    );
    send(&mut state, "/nope");
    assert!(last_text(&state).starts_with("Unknown command `/nope`"));
    let effects = send(&mut state, "/clear");
    assert_eq!(
        commands(effects),
        [AgentCommand::Session(
            crate::protocol::session::SessionCommand::New
        )],
        "/clear starts a new session"
    );
    // Only the opening line stays.
    assert_eq!(state.chat.entries.len(), 1);
    assert_eq!(last_text(&state), "Chatting with openai/gpt-4o-mini.");
}

#[test]
fn approval_prompts_queue_and_answer_by_keystroke() {
    let mut state = state(true);
    send(&mut state, "delete two files");
    ask(&mut state, 1, 1, "delete", 0, 2);
    ask(&mut state, 1, 2, "delete", 1, 2);
    assert_eq!(state.scopes()[1], Scope::Approval);
    // Keys answer the prompt; nothing reaches the chat input.
    assert_eq!(
        commands(update(&mut state, ch('y'))),
        [decide(1, Decision::Approve)]
    );
    assert_eq!(state.agent.approvals.len(), 1);
    // The second prompt just became visible: an immediate key is ignored, with a notice.
    assert!(commands(update(&mut state, ch('n'))).is_empty());
    assert!(
        state
            .notice
            .as_deref()
            .is_some_and(|n| n.starts_with("Ignored n"))
    );
    settle(&mut state);
    assert_eq!(
        commands(update(&mut state, ch('n'))),
        [decide(2, Decision::Deny)]
    );
    assert!(state.agent.approvals.is_empty());
    assert!(state.chat.input.lines().concat().is_empty());
    assert_eq!(state.scopes()[1], Scope::Answering);
    ask(&mut state, 1, 3, "delete", 0, 1);
    assert_eq!(
        commands(update(&mut state, ch('a'))),
        [decide(3, Decision::Always)]
    );
}

#[test]
fn a_prompt_that_appears_while_typing_does_not_take_the_next_keys_as_answers() {
    let mut state = state(true);
    send(&mut state, "go");
    update(
        &mut state,
        Msg::Agent(AgentEvent::ApprovalRequested {
            turn: TurnId(1),
            approval: ApprovalId(1),
            call: proposed("delete"),
            index: 0,
            total: 1,
        }),
    );
    for c in ['y', 'a', 'e', 'n'] {
        assert!(commands(update(&mut state, ch(c))).is_empty());
    }
    assert!(commands(update(&mut state, key(KeyCode::Esc))).is_empty());
    assert_eq!(state.agent.approvals.len(), 1);
    assert!(state.agent.approval_editor.is_none());
}

#[test]
fn editing_arguments_checks_the_json_before_running() {
    let mut state = state(true);
    send(&mut state, "go");
    ask(&mut state, 1, 1, "delete", 0, 1);
    update(&mut state, ch('e'));
    assert_eq!(state.scopes()[1], Scope::ApprovalEdit);
    let editor = state.agent.approval_editor.as_ref().expect("editor");
    assert_eq!(editor.text(), "{\n  \"path\": \"/tmp/x\"\n}");
    // Esc goes back to the prompt; e opens the editor again.
    update(&mut state, key(KeyCode::Esc));
    assert_eq!(state.scopes()[1], Scope::Approval);
    update(&mut state, ch('e'));
    let editor = state.agent.approval_editor.as_mut().expect("editor");
    editor.editor.select_all();
    editor.editor.cut();
    update(&mut state, Msg::Paste("[1, 2]".into()));
    assert!(commands(update(&mut state, ctrl('s'))).is_empty());
    let error = state
        .agent
        .approval_editor
        .as_ref()
        .and_then(|e| e.error.clone());
    assert!(error.is_some_and(|e| e.contains("object")));
    // Valid JSON that does not fit the tool's schema is refused, naming the field.
    let editor = state.agent.approval_editor.as_mut().expect("editor");
    editor.editor.select_all();
    editor.editor.cut();
    update(&mut state, Msg::Paste(r#"{"path": 5}"#.into()));
    assert!(commands(update(&mut state, ctrl('s'))).is_empty());
    let error = state
        .agent
        .approval_editor
        .as_ref()
        .and_then(|e| e.error.clone())
        .expect("a schema error");
    assert!(error.contains("field `/path`"), "{error}");
    assert!(error.contains("string"), "{error}");
    let editor = state.agent.approval_editor.as_mut().expect("editor");
    editor.editor.select_all();
    editor.editor.cut();
    update(&mut state, Msg::Paste(r#"{"path": "/tmp/y"}"#.into()));
    let sent = commands(update(&mut state, ctrl('s')));
    let expected = json!({"path": "/tmp/y"})
        .as_object()
        .cloned()
        .expect("object");
    assert_eq!(sent, [decide(1, Decision::Edited(expected))]);
    assert!(state.agent.approval_editor.is_none());
    assert!(state.agent.approvals.is_empty());
}

#[test]
fn escape_on_a_prompt_cancels_the_turn_and_drops_its_other_prompts() {
    let mut state = state(true);
    send(&mut state, "go");
    ask(&mut state, 1, 1, "delete", 0, 2);
    ask(&mut state, 1, 2, "delete", 1, 2);
    let sent = commands(update(&mut state, key(KeyCode::Esc)));
    assert_eq!(
        sent,
        [
            AgentCommand::CancelTurn { turn: TurnId(1) },
            decide(1, Decision::CancelTurn)
        ]
    );
    assert!(state.agent.approvals.is_empty());
}

#[test]
fn streamed_text_tool_calls_and_the_end_of_a_turn() {
    let mut state = state(true);
    send(&mut state, "go");
    let turn = TurnId(1);
    for text in ["Let me ", "check."] {
        update(
            &mut state,
            Msg::Agent(AgentEvent::AssistantDelta {
                turn,
                text: text.into(),
            }),
        );
    }
    assert_eq!(last_text(&state), "Let me check.");
    let mut call = proposed("delete");
    call.arguments = json!({"path": "/tmp/\u{1b}[31mx"});
    update(
        &mut state,
        Msg::Agent(AgentEvent::ToolCallStarted {
            turn,
            call,
            approved_by: ApprovedBy::Session,
            edited: false,
        }),
    );
    assert!(last_text(&state).contains("always allowed this session"));
    update(
        &mut state,
        Msg::Agent(AgentEvent::ToolCallFinished {
            turn,
            call: ToolCallId(1),
            qualified_name: "demo__delete".into(),
            outcome: CallOutcome::Ok {
                summary: "deleted".into(),
            },
            elapsed: Duration::from_millis(12),
        }),
    );
    let entry = state.chat.entries.last().expect("entry");
    assert_eq!(entry.role, Role::Tool);
    assert!(
        entry.text.ends_with("→ ok in 12ms: deleted"),
        "{}",
        entry.text
    );
    assert!(
        !entry.text.contains('\u{1b}'),
        "escape sequences are stripped"
    );
    // Text after a tool call is a new assistant entry.
    update(
        &mut state,
        Msg::Agent(AgentEvent::AssistantDelta {
            turn,
            text: "Done.".into(),
        }),
    );
    assert_eq!(last_text(&state), "Done.");
    // Events of another turn are ignored.
    update(
        &mut state,
        Msg::Agent(AgentEvent::AssistantDelta {
            turn: TurnId(9),
            text: "stale".into(),
        }),
    );
    assert_eq!(last_text(&state), "Done.");
    let usage = UsageTotals {
        requests: 2,
        input_tokens: 10,
        output_tokens: 5,
        cost: None,
    };
    update(
        &mut state,
        Msg::Agent(AgentEvent::TurnFinished {
            turn,
            outcome: TurnOutcome::Limit("request_limit of 2 reached".into()),
            turn_usage: usage,
            session_usage: usage,
        }),
    );
    assert_eq!(state.agent.running, None);
    assert_eq!(state.agent.session_usage, usage);
    assert_eq!(last_text(&state), "Stopped: request_limit of 2 reached.");
}

#[test]
fn a_denied_call_is_shown_as_such() {
    let mut state = state(true);
    send(&mut state, "go");
    update(
        &mut state,
        Msg::Agent(AgentEvent::ToolCallFinished {
            turn: TurnId(1),
            call: ToolCallId(5),
            qualified_name: "demo__delete".into(),
            outcome: CallOutcome::Denied,
            elapsed: Duration::ZERO,
        }),
    );
    assert_eq!(
        last_text(&state),
        "demo__delete · denied by you (the server was not called)"
    );
}

fn sampling_params() -> Box<rmcp::model::CreateMessageRequestParams> {
    Box::new(
        serde_json::from_value(json!({
            "messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}],
            "systemPrompt": "Be brief.",
            "maxTokens": 50
        }))
        .expect("params"),
    )
}

fn sampling_request(state: &mut AppState, id: u64) {
    update(
        state,
        Msg::Agent(AgentEvent::SamplingRequested {
            id: SamplingId(id),
            server: ServerName::new("everything"),
            params: sampling_params(),
        }),
    );
    settle(state);
}

/// Keys on single-key navigation (not typing), and sampling requests 1, 2 and 3 waiting.
fn three_sampling_prompts() -> AppState {
    let mut state = state(true);
    state.focus = Pane::Servers;
    state.typing = false;
    for id in 1..=3 {
        sampling_request(&mut state, id);
    }
    state
}

#[test]
fn sampling_requests_are_approved_refused_or_edited() {
    let mut state = three_sampling_prompts();
    assert_eq!(state.scopes()[1], Scope::Sampling);
    assert_eq!(
        commands(update(&mut state, ch('y'))),
        [AgentCommand::DecideSampling {
            id: SamplingId(1),
            approved: Some(sampling_params())
        }]
    );
    settle(&mut state);
    assert_eq!(
        commands(update(&mut state, ch('n'))),
        [AgentCommand::DecideSampling {
            id: SamplingId(2),
            approved: None
        }]
    );
    assert!(last_text(&state).contains("You refused server `everything`"));
    settle(&mut state);
    update(&mut state, ch('e'));
    assert_eq!(state.scopes()[1], Scope::SamplingEdit);
    let editor = state.agent.sampling_editor.as_mut().expect("editor");
    let edited = editor
        .text()
        .replace("\"maxTokens\": 50", "\"maxTokens\": 5");
    editor.editor.select_all();
    editor.editor.cut();
    update(&mut state, Msg::Paste(edited));
    let mut expected = sampling_params();
    expected.max_tokens = 5;
    assert_eq!(
        commands(update(&mut state, ctrl('s'))),
        [AgentCommand::DecideSampling {
            id: SamplingId(3),
            approved: Some(expected)
        }]
    );
    assert!(state.agent.sampling.is_empty());
    assert_eq!(state.scopes()[1], Scope::Servers);
}

#[test]
fn a_sampling_request_the_server_gave_up_on_is_withdrawn() {
    let mut state = three_sampling_prompts();
    // The shown one, with its editor open, goes away; the next is shown (and armed afresh).
    update(&mut state, ch('e'));
    assert_eq!(state.scopes()[1], Scope::SamplingEdit);
    update(
        &mut state,
        Msg::Agent(AgentEvent::SamplingWithdrawn {
            id: SamplingId(1),
            server: ServerName::new("everything"),
        }),
    );
    assert!(state.agent.sampling_editor.is_none());
    assert_eq!(
        state.agent.sampling.front().map(|p| p.id),
        Some(SamplingId(2))
    );
    assert_eq!(state.scopes()[1], Scope::Sampling);
    assert!(
        last_text(&state).contains("stopped waiting"),
        "{}",
        last_text(&state)
    );
    assert!(
        commands(update(&mut state, ch('y'))).is_empty(),
        "the next prompt must not take a key meant for the withdrawn one"
    );
    // One waiting behind the shown prompt goes quietly out of the queue.
    update(
        &mut state,
        Msg::Agent(AgentEvent::SamplingWithdrawn {
            id: SamplingId(3),
            server: ServerName::new("everything"),
        }),
    );
    settle(&mut state);
    assert_eq!(
        commands(update(&mut state, ch('y'))),
        [AgentCommand::DecideSampling {
            id: SamplingId(2),
            approved: Some(sampling_params())
        }]
    );
    assert!(state.agent.sampling.is_empty());
    // An unknown (already answered) id changes nothing.
    let before = state.chat.entries.len();
    update(
        &mut state,
        Msg::Agent(AgentEvent::SamplingWithdrawn {
            id: SamplingId(2),
            server: ServerName::new("everything"),
        }),
    );
    assert_eq!(state.chat.entries.len(), before);
}

#[test]
fn a_long_prompt_scrolls_and_the_chat_and_panes_stay_usable() {
    let mut state = state(true);
    send(&mut state, "go");
    for i in 0..40 {
        state.chat.push(Role::Assistant, format!("line {i}"));
    }
    ask(&mut state, 1, 1, "delete", 0, 1);
    assert_eq!(state.scopes()[1..], [Scope::Approval, Scope::Prompt]);
    // The view measured a body of 10 more rows than fit.
    state.agent.prompt_max_scroll.set(10);
    update(&mut state, ch('j'));
    update(&mut state, key(KeyCode::Down));
    assert_eq!(state.agent.approvals[0].scroll, 2);
    for _ in 0..20 {
        update(&mut state, ch('j'));
    }
    assert_eq!(state.agent.approvals[0].scroll, 10, "not past the end");
    update(&mut state, ch('k'));
    assert_eq!(state.agent.approvals[0].scroll, 9);
    // PgUp scrolls the conversation behind the prompt; the prompt stays.
    assert_eq!(state.chat.scroll, 0);
    update(&mut state, key(KeyCode::PageUp));
    assert!(state.chat.scroll > 0);
    // The pane keys work while it is open, and the prompt still has the keys it needs.
    update(&mut state, ch('4'));
    assert_eq!(state.focus, Pane::Trace);
    update(&mut state, ch('1'));
    assert_eq!(state.focus, Pane::Chat);
    assert_eq!(state.agent.approvals.len(), 1);
    assert_eq!(
        commands(update(&mut state, ch('y'))),
        [decide(1, Decision::Approve)]
    );
}

#[test]
fn clear_while_a_turn_runs_is_refused_and_keeps_the_streamed_text() {
    let mut state = state(true);
    send(&mut state, "go");
    update(
        &mut state,
        Msg::Agent(AgentEvent::AssistantDelta {
            turn: TurnId(1),
            text: "half an answer".into(),
        }),
    );
    let effects = send(&mut state, "/clear");
    assert!(commands(effects).is_empty(), "nothing is cleared");
    assert!(last_text(&state).starts_with("Not cleared: a turn is running"));
    assert!(
        state
            .chat
            .entries
            .iter()
            .any(|e| e.text == "half an answer")
    );
    // More text of the running answer still lands in its entry.
    update(
        &mut state,
        Msg::Agent(AgentEvent::AssistantDelta {
            turn: TurnId(1),
            text: ", and the rest".into(),
        }),
    );
    assert!(
        state
            .chat
            .entries
            .iter()
            .any(|e| e.text == "half an answer, and the rest")
    );
}

#[test]
fn two_calls_to_the_same_tool_each_show_their_own_progress_and_result() {
    let mut state = state(true);
    send(&mut state, "go");
    let turn = TurnId(1);
    for id in [1, 2] {
        let mut call = proposed("count");
        call.id = ToolCallId(id);
        call.arguments = json!({"n": id});
        update(
            &mut state,
            Msg::Agent(AgentEvent::ToolCallStarted {
                turn,
                call,
                approved_by: ApprovedBy::AutoMode,
                edited: false,
            }),
        );
    }
    let progress = |call: u64, progress: f64| {
        Msg::Agent(AgentEvent::ToolCallProgress {
            turn,
            call: ToolCallId(call),
            progress,
            total: Some(4.0),
            message: Some(format!("call {call}")),
        })
    };
    update(&mut state, progress(2, 3.0));
    update(&mut state, progress(1, 1.0));
    let entry_of = |state: &AppState, n: u64| -> String {
        state
            .chat
            .entries
            .iter()
            .find(|e| e.text.contains(&format!("{{\"n\":{n}}}")))
            .map(|e| e.text.clone())
            .expect("the call's entry")
    };
    assert!(
        entry_of(&state, 1).ends_with("… 1/4 · call 1"),
        "{}",
        entry_of(&state, 1)
    );
    assert!(
        entry_of(&state, 2).ends_with("… 3/4 · call 2"),
        "{}",
        entry_of(&state, 2)
    );
    update(
        &mut state,
        Msg::Agent(AgentEvent::ToolCallFinished {
            turn,
            call: ToolCallId(2),
            qualified_name: "demo__count".into(),
            outcome: CallOutcome::Ok {
                summary: "two".into(),
            },
            elapsed: Duration::from_millis(20),
        }),
    );
    update(
        &mut state,
        Msg::Agent(AgentEvent::ToolCallFinished {
            turn,
            call: ToolCallId(1),
            qualified_name: "demo__count".into(),
            outcome: CallOutcome::Failed {
                error: "one failed".into(),
            },
            elapsed: Duration::from_millis(30),
        }),
    );
    assert!(entry_of(&state, 1).ends_with("→ failed in 30ms: one failed"));
    assert!(entry_of(&state, 2).ends_with("→ ok in 20ms: two"));
}
