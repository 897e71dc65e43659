//! The reducer's conversation half: sending messages and slash commands, the agent's events
//! (streamed text, tool calls, turns ending, trace steps), and the approval and sampling
//! prompts. Pure functions over `AppState`, like the rest of the reducer.

// rmcp marks sampling deprecated (SEP-2577); servers on 2025-11-25 and older use it.
#![allow(deprecated)]

use crate::agent::usage::describe;
use crate::protocol::{
    AgentCommand, AgentEvent, AgentMode, AgentNotice, CallOutcome, Decision, SamplingId,
    TurnOutcome,
};
use crate::runtime::messages::ServerName;
use crate::runtime::schema::check_arguments;
use crate::text::{human_duration, sanitize, truncate_chars};

use super::agent::{ChatCall, ContextMeter, JsonEditor, PendingApproval, PendingSampling};
use super::call::parse_arguments;
use super::chat::{Role, no_llm_guidance};
use super::{AppState, Effect};

const SLASH_HELP: &str = "Slash commands:\n  /mode:chat — approve every tool call (the default)\n  /mode:auto — run tool calls without asking\n  /mode:orchestrator — plan, then parallel sub-agents\n  /api_stats — requests, tokens and cost so far\n  /clear — forget the conversation and start a new session\n  /sessions — resume or delete a saved session (also S)\n  /history — the messages the model sees\n  /memory — where the conversation is kept, and its size\n  /compact — the model summarises the older part of the conversation\n  /clear_history — delete this session's stored history, start a new one\n  /save_history:<path> — write the conversation to a JSON file\n  /load_history:<path> — continue a conversation saved there\n  /roots — the directories each server is told about\n  /roots:add <path> — add a root for every server (they are told)\n  /roots:remove <path> — remove it\n  /tools — every server's tools\n  /quit — leave mcpomni\n  /help — this list";

/// Enter in the chat input.
pub fn send_message(state: &mut AppState, effects: &mut Vec<Effect>) {
    let Some(message) = state.chat.take_input() else {
        return;
    };
    state.chat.scroll = 0;
    if message.starts_with('/') {
        slash_command(state, &message, effects);
        return;
    }
    state.chat.push(Role::User, message.clone());
    if !state.agent.available {
        let why = match &state.agent.unavailable {
            Some(error) => error.clone(),
            None => no_llm_guidance(&state.config_label),
        };
        state.chat.push(Role::Notice, format!("Not sent. {why}"));
        return;
    }
    if state.agent.running.is_some() {
        state.chat.push(
            Role::Notice,
            "Not sent: the previous answer is still coming (Esc stops it).",
        );
        return;
    }
    let turn = state.agent.begin_turn();
    effects.push(Effect::Agent(AgentCommand::StartTurn {
        turn,
        text: message,
        mode: state.agent.mode,
    }));
}

fn slash_command(state: &mut AppState, command: &str, effects: &mut Vec<Effect>) {
    state.chat.push(Role::User, command.to_owned());
    if super::sessions::slash_command(state, command, effects).is_some() {
        return;
    }
    if let Some(command) = roots_command(command.trim()) {
        effects.push(Effect::Runtime(command));
        return;
    }
    let reply = match command.trim() {
        "/mode:chat" => {
            state.agent.mode = AgentMode::Chat;
            "Chat mode: every tool call waits for your approval.".to_owned()
        }
        "/mode:auto" => {
            state.agent.mode = AgentMode::Auto;
            "Auto mode: tool calls run without asking (always_ask tools still ask). /mode:chat \
             goes back."
                .to_owned()
        }
        "/mode:orchestrator" => {
            state.agent.mode = AgentMode::Orchestrator;
            "Orchestrator mode: the model plans phases, and each phase's tasks run as parallel \
             sub-agents (their tool calls wait for your approval, as in chat mode). The plan \
             and every sub-agent are in the Trace pane. /mode:chat goes back."
                .to_owned()
        }
        "/api_stats" => {
            let mut text = format!("This session: {}.", describe(&state.agent.session_usage));
            if let Some(last) = &state.agent.last_turn_usage {
                text.push_str(&format!("\nLast turn: {}.", describe(last)));
            }
            if !state.agent.available {
                text.push_str("\nNo LLM is configured.");
            }
            text
        }
        "/clear" => {
            // Clearing under a running turn would drop what it is still streaming.
            if state.agent.running.is_some() {
                AgentNotice::ClearRefused.text()
            } else {
                state.chat.clear();
                state.trace.clear();
                if state.agent.available {
                    // The agent forgets the conversation and starts a new session.
                    effects.push(Effect::Agent(AgentCommand::Session(
                        crate::protocol::session::SessionCommand::New,
                    )));
                }
                return;
            }
        }
        "/tools" => tools_listing(state),
        "/quit" => {
            state.quitting = true;
            return;
        }
        "/help" => SLASH_HELP.to_owned(),
        other => format!("Unknown command `{other}`. {SLASH_HELP}"),
    };
    state.chat.push(Role::Notice, reply);
}

/// `/tools`: every server's tools, a line each with the first line of its description.
fn tools_listing(state: &AppState) -> String {
    let tools = &state.tools.catalog.tools;
    if tools.is_empty() {
        return "No connected server offers tools yet.".to_owned();
    }
    let mut text = format!("{} tools:", tools.len());
    let mut server = None;
    for tool in tools {
        if server != Some(&tool.server) {
            server = Some(&tool.server);
            text.push_str(&format!("\n  {}:", tool.server));
        }
        let summary = tool.description.lines().next().unwrap_or("");
        if summary.is_empty() {
            text.push_str(&format!("\n    {}", tool.name));
        } else {
            text.push_str(&format!(
                "\n    {} — {}",
                tool.name,
                // Short enough that a line mostly fits an 80-column chat.
                truncate_chars(summary, 48)
            ));
        }
    }
    text
}

/// `/roots`, `/roots:add <path>`, `/roots:remove <path>` (the runtime answers in the chat).
fn roots_command(command: &str) -> Option<crate::runtime::messages::RuntimeCommand> {
    use crate::runtime::messages::RuntimeCommand;
    if command == "/roots" {
        return Some(RuntimeCommand::ShowRoots);
    }
    let (add, path) = if let Some(path) = command.strip_prefix("/roots:add") {
        (true, path)
    } else {
        (false, command.strip_prefix("/roots:remove")?)
    };
    let path = path.trim().trim_start_matches(':').trim();
    if path.is_empty() {
        // `resolve` says a root must not be empty.
        return Some(RuntimeCommand::ChangeRoot {
            path: String::new(),
            add,
        });
    }
    Some(RuntimeCommand::ChangeRoot {
        path: path.to_owned(),
        add,
    })
}

/// The agent's events.
pub fn on_agent_event(state: &mut AppState, event: AgentEvent) {
    match event {
        AgentEvent::AssistantDelta { turn, text } => {
            if state.agent.running != Some(turn) {
                return;
            }
            match state.agent.streaming_entry {
                Some(id) => state.chat.append_to(id, &text),
                None => {
                    state.agent.streaming_entry = Some(state.chat.push(Role::Assistant, text));
                }
            }
        }
        AgentEvent::ApprovalRequested {
            turn,
            approval,
            call,
            index,
            total,
        } => state.agent.approvals.push_back(PendingApproval {
            turn,
            approval,
            call,
            index,
            total,
            shown_at: state.now,
            scroll: 0,
        }),
        AgentEvent::ToolCallStarted {
            turn,
            call,
            approved_by,
            edited,
        } => {
            if state.agent.running != Some(turn) {
                return;
            }
            // Text after the call is a new paragraph of the answer.
            state.agent.streaming_entry = None;
            let mut who = approved_by.describe().to_owned();
            if edited {
                who.push_str(", with your edited arguments");
            }
            let arguments = truncate_chars(&call.arguments.to_string(), 200);
            let header = sanitize(&format!("{} {arguments} · {who}", call.qualified_name));
            let entry = state.chat.push(Role::Tool, header.clone());
            state.agent.calls.insert(
                call.id,
                ChatCall {
                    entry,
                    header,
                    progress: None,
                },
            );
        }
        AgentEvent::ToolCallProgress {
            turn,
            call,
            progress,
            total,
            message,
        } => {
            if state.agent.running != Some(turn) {
                return;
            }
            let Some(chat_call) = state.agent.calls.get_mut(&call) else {
                return;
            };
            let mut line = match total {
                Some(total) => format!("… {progress}/{total}"),
                None => format!("… {progress}"),
            };
            if let Some(message) = message {
                line.push_str(&format!(" · {message}"));
            }
            chat_call.progress = Some(line.clone());
            let text = format!("{}\n{line}", chat_call.header);
            let entry = chat_call.entry;
            state.chat.set_text(entry, text);
        }
        AgentEvent::ToolCallFinished {
            turn,
            call,
            qualified_name,
            outcome,
            elapsed,
        } => {
            if state.agent.running != Some(turn) {
                return;
            }
            let took = human_duration(elapsed);
            let line = match outcome {
                CallOutcome::Ok { summary } => format!("→ ok in {took}: {summary}"),
                CallOutcome::Failed { error } => format!("→ failed in {took}: {error}"),
                CallOutcome::Denied => "denied by you (the server was not called)".to_owned(),
                CallOutcome::Refused { reason } => format!("→ not run: {reason}"),
                CallOutcome::Cancelled => "→ cancelled".to_owned(),
                CallOutcome::Unknown => format!("→ finished in {took}"),
            };
            match state.agent.calls.remove(&call) {
                Some(chat_call) => {
                    let text = format!("{}\n{line}", chat_call.header);
                    state.chat.set_text(chat_call.entry, text);
                }
                None => {
                    state
                        .chat
                        .push(Role::Tool, format!("{qualified_name} · {line}"));
                }
            }
        }
        AgentEvent::TurnFinished {
            turn,
            outcome,
            turn_usage,
            session_usage,
        } => {
            state.agent.session_usage = session_usage;
            if state.agent.running != Some(turn) {
                return;
            }
            state.agent.running = None;
            state.agent.streaming_entry = None;
            state.agent.last_turn_usage = Some(turn_usage);
            state.agent.approvals.retain(|a| a.turn != turn);
            state.agent.paused.retain(|p| p.turn != turn);
            state.agent.approval_editor = None;
            match outcome {
                TurnOutcome::Answered => {}
                TurnOutcome::Cancelled => {
                    state
                        .chat
                        .push(Role::Notice, "Stopped: you cancelled the turn.");
                }
                TurnOutcome::Limit(why) => {
                    state.chat.push(Role::Notice, format!("Stopped: {why}."));
                }
                TurnOutcome::Failed(error) => {
                    state.chat.push(Role::Error, error);
                }
            }
        }
        AgentEvent::Trace(step) => state.trace.upsert(step),
        AgentEvent::SamplingRequested { id, server, params } => {
            state.agent.sampling.push_back(PendingSampling {
                id,
                server,
                params,
                shown_at: state.now,
                scroll: 0,
            });
        }
        AgentEvent::SamplingWithdrawn { id, server } => withdraw_sampling(state, id, &server),
        AgentEvent::UsageChanged(usage) => state.agent.session_usage = usage,
        AgentEvent::ContextMeasured {
            estimate, window, ..
        } => state.agent.context = Some(ContextMeter { estimate, window }),
        AgentEvent::Notice(notice) => {
            // The meter spoke of the conversation that is gone.
            if notice == AgentNotice::ConversationCleared {
                state.agent.context = None;
            }
            state.chat.push(Role::Notice, notice.text());
        }
        AgentEvent::Session(event) => super::sessions::on_event(state, event),
        AgentEvent::Paused(paused) => super::debugging::on_paused(state, *paused),
    }
}

/// y / n / a / e / Esc on the front approval prompt.
pub fn decide(state: &mut AppState, decision: Decision, effects: &mut Vec<Effect>) {
    let Some(front) = state.agent.approvals.pop_front() else {
        return;
    };
    state.agent.approval_editor = None;
    state.agent.show_next_prompt(state.now);
    if decision == Decision::CancelTurn {
        // The whole turn stops: its other prompts go too.
        state.agent.approvals.retain(|a| a.turn != front.turn);
        effects.push(Effect::Agent(AgentCommand::CancelTurn { turn: front.turn }));
    }
    effects.push(Effect::Agent(AgentCommand::Decide {
        approval: front.approval,
        decision,
    }));
}

pub fn open_approval_editor(state: &mut AppState) {
    if let Some(front) = state.agent.approvals.front() {
        state.agent.approval_editor = Some(JsonEditor::new(&front.call.arguments));
    }
}

/// Ctrl-S in an editor: the edited arguments (or sampling request) go out if they parse.
pub fn submit_edit(state: &mut AppState, effects: &mut Vec<Effect>) {
    if let Some(editor) = &mut state.agent.approval_editor {
        let schema = state
            .agent
            .approvals
            .front()
            .map(|a| a.call.input_schema.clone());
        // Edited arguments must still fit the tool: the error names the field to fix.
        let checked = parse_arguments(&editor.text()).and_then(|arguments| match &schema {
            Some(schema) => check_arguments(schema, &arguments).map(|()| arguments),
            None => Ok(arguments),
        });
        match checked {
            Ok(arguments) => decide(state, Decision::Edited(arguments), effects),
            Err(error) => editor.error = Some(error),
        }
        return;
    }
    if let Some(editor) = &mut state.agent.sampling_editor {
        match serde_json::from_str(&editor.text()) {
            Ok(params) => decide_sampling(state, Some(params), effects),
            Err(error) => {
                editor.error = Some(format!("not a valid sampling request: {error}"));
            }
        }
    }
}

pub fn close_editor(state: &mut AppState) {
    state.agent.approval_editor = None;
    state.agent.sampling_editor = None;
}

pub fn open_sampling_editor(state: &mut AppState) {
    if let Some(front) = state.agent.sampling.front() {
        let value = serde_json::to_value(&front.params).unwrap_or_default();
        state.agent.sampling_editor = Some(JsonEditor::new(&value));
    }
}

/// y (with the request as shown), n/Esc (`None`), or Ctrl-S in the editor.
pub fn decide_sampling(
    state: &mut AppState,
    approved: Option<Box<rmcp::model::CreateMessageRequestParams>>,
    effects: &mut Vec<Effect>,
) {
    let Some(front) = state.agent.sampling.pop_front() else {
        return;
    };
    state.agent.sampling_editor = None;
    state.agent.show_next_prompt(state.now);
    state.chat.push(
        Role::Notice,
        match &approved {
            Some(_) => format!("Server `{}` used the LLM (you approved).", front.server),
            None => format!(
                "You refused server `{}`'s request to use the LLM.",
                front.server
            ),
        },
    );
    effects.push(Effect::Agent(AgentCommand::DecideSampling {
        id: front.id,
        approved,
    }));
}

/// The server stopped waiting for a sampling request: its prompt goes away (with its editor, if
/// it was the one shown) and the conversation says why.
fn withdraw_sampling(state: &mut AppState, id: SamplingId, server: &ServerName) {
    let Some(index) = state.agent.sampling.iter().position(|p| p.id == id) else {
        return;
    };
    state.agent.sampling.remove(index);
    let was_shown = index == 0 && state.agent.approvals.is_empty();
    if was_shown {
        state.agent.sampling_editor = None;
        state.agent.show_next_prompt(state.now);
    }
    state.chat.push(
        Role::Notice,
        format!(
            "Server `{server}` stopped waiting for its request to use the LLM; the prompt was withdrawn and nothing was sent."
        ),
    );
}

/// The front sampling request, approved as it is.
pub fn approve_sampling(state: &mut AppState, effects: &mut Vec<Effect>) {
    let params = state.agent.sampling.front().map(|f| f.params.clone());
    if params.is_some() {
        decide_sampling(state, params, effects);
    }
}
