//! One turn of the agent: the user's message, then up to `max_steps` rounds of "ask the model,
//! run the tools it asks for", until it answers without tools. Every tool call goes through the
//! approval policy; in chat mode that means a prompt the user answers with a keystroke (the
//! server never sees a denied call — the model is told it was denied). Limits are checked
//! before every request; cancelling ends the turn at once and keeps the history consistent
//! (every tool call the model made gets a result, even if only "cancelled").

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use futures::StreamExt;
use futures::future::BoxFuture;
use rmcp::model::JsonObject;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::policy::{ApprovalPolicy, Verdict};
use super::trace;
use super::usage::UsageMeter;
use crate::llm::{ChatMessage, ChatRequest, LlmProvider, StreamEvent, ToolCall, ToolSpec};
use crate::runtime::catalog::{Catalog, ToolEntry};
use crate::runtime::content::blocks_text;
use crate::runtime::messages::{
    AgentMode, ApprovedBy, Decision, Event, ProposedCall, TraceEntry, TurnId, TurnOutcome,
    UsageTotals,
};
use crate::runtime::request::RequestError;
use crate::runtime::server::CallError;
use crate::runtime::{RuntimeError, RuntimeHandle};
use crate::text::{sanitize_line, truncate_chars};

/// A tool result longer than this is cut before it goes to the model (it would crowd out the
/// conversation); the user still sees the whole result in the dashboard's call view.
const MAX_RESULT_CHARS: usize = 100_000;
/// What the model is told about a call the user denied.
pub const DENIED: &str = "The user denied this tool call, so it was not run. Continue without it.";
/// What the model is told about calls left unrun when the turn was cancelled.
const CANCELLED: &str = "The user cancelled the turn before this tool call ran.";

/// Asks the user about one tool call.
pub trait Approver: Send + Sync {
    fn ask(
        &self,
        turn: TurnId,
        call: ProposedCall,
        index: usize,
        total: usize,
    ) -> BoxFuture<'static, Decision>;
}

/// Everything a turn needs.
pub struct TurnContext {
    pub turn: TurnId,
    pub mode: AgentMode,
    pub provider: Arc<dyn LlmProvider>,
    pub runtime: RuntimeHandle,
    pub events: mpsc::Sender<Event>,
    pub approver: Arc<dyn Approver>,
    pub policy: Arc<Mutex<ApprovalPolicy>>,
    pub usage: Arc<Mutex<UsageMeter>>,
    pub max_steps: u32,
    pub system_prompt: String,
    pub cancel: CancellationToken,
}

/// One tool call the model made, and what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    pub qualified_name: String,
    pub arguments: Value,
    /// `None` when it did not run (denied, unknown tool, bad arguments, cancelled).
    pub approved_by: Option<ApprovedBy>,
    pub denied: bool,
    /// The result's text, or why there is none.
    pub outcome: Result<String, String>,
}

/// What a turn produced.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnRecord {
    /// The messages to append to the conversation (the user's message first).
    pub messages: Vec<ChatMessage>,
    pub answer: String,
    pub outcome: TurnOutcome,
    pub usage: UsageTotals,
    pub calls: Vec<CallRecord>,
}

enum Reply {
    Done {
        text: String,
        tool_calls: Vec<ToolCall>,
        provider_state: Option<Value>,
    },
    Cancelled {
        partial: String,
    },
    Failed(String),
}

enum CallFlow {
    Result(ChatMessage),
    CancelTurn,
}

impl TurnContext {
    async fn emit(&self, event: Event) {
        let _ = self.events.send(event).await;
    }

    async fn trace(&self, title: String, detail: String) {
        self.emit(Event::TraceStep(TraceEntry {
            turn: self.turn,
            title,
            detail,
        }))
        .await;
    }

    fn usage(&self) -> std::sync::MutexGuard<'_, UsageMeter> {
        self.usage.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs one turn to its end.
pub async fn run_turn(ctx: &TurnContext, history: Vec<ChatMessage>, text: String) -> TurnRecord {
    let mut messages = history;
    let first_new = messages.len();
    messages.push(ChatMessage::user(text));
    let mut turn_usage = ctx.usage().new_turn();
    let mut calls = Vec::new();
    let mut answer = String::new();
    let mut outcome = TurnOutcome::Limit(format!(
        "stopped after {} steps without a final answer (AgentConfig.max_steps)",
        ctx.max_steps
    ));
    'steps: for step in 1..=ctx.max_steps {
        if let Err(limit) = ctx.usage().check() {
            outcome = TurnOutcome::Limit(limit);
            break;
        }
        let catalog = ctx.runtime.catalog();
        let tools = tool_specs(&catalog);
        ctx.trace(
            format!("step {step}: asking {}", ctx.provider.describe()),
            format!("{} messages, {} tools", messages.len(), tools.len()),
        )
        .await;
        let request = ChatRequest {
            system: Some(ctx.system_prompt.clone()),
            messages: messages.clone(),
            tools,
            ..ChatRequest::default()
        };
        let (reply, usage) = stream_reply(ctx, request).await;
        ctx.usage().record(usage, &mut turn_usage);
        let (text, tool_calls, provider_state) = match reply {
            Reply::Done {
                text,
                tool_calls,
                provider_state,
            } => (text, tool_calls, provider_state),
            Reply::Cancelled { partial } => {
                if !partial.is_empty() {
                    messages.push(ChatMessage::assistant(partial.clone()));
                    answer = partial;
                }
                outcome = TurnOutcome::Cancelled;
                break;
            }
            Reply::Failed(error) => {
                ctx.trace("the model request failed".into(), error.clone())
                    .await;
                outcome = TurnOutcome::Failed(error);
                break;
            }
        };
        ctx.trace(
            format!("step {step}: reply"),
            trace::reply_detail(&text, &tool_calls, usage.as_ref()),
        )
        .await;
        messages.push(ChatMessage::Assistant {
            text: text.clone(),
            tool_calls: tool_calls.clone(),
            provider_state,
        });
        if tool_calls.is_empty() {
            answer = text;
            outcome = TurnOutcome::Answered;
            break;
        }
        let total = tool_calls.len();
        for (index, call) in tool_calls.iter().enumerate() {
            match handle_call(ctx, &catalog, call, index, total, &mut calls).await {
                CallFlow::Result(result) => messages.push(result),
                CallFlow::CancelTurn => {
                    // Every call the model made needs a result, or the next request fails.
                    for unrun in &tool_calls[index..] {
                        messages.push(tool_result(unrun, CANCELLED.to_owned(), true));
                    }
                    outcome = TurnOutcome::Cancelled;
                    break 'steps;
                }
            }
        }
    }
    ctx.trace(
        "turn finished".into(),
        match &outcome {
            TurnOutcome::Answered => "answered".to_owned(),
            TurnOutcome::Cancelled => "cancelled by the user".to_owned(),
            TurnOutcome::Limit(why) | TurnOutcome::Failed(why) => why.clone(),
        },
    )
    .await;
    TurnRecord {
        messages: messages.split_off(first_new),
        answer,
        outcome,
        usage: turn_usage,
        calls,
    }
}

/// The tools offered to the model: every tool of every Ready server, by qualified name.
pub fn tool_specs(catalog: &Catalog) -> Vec<ToolSpec> {
    catalog
        .tools
        .iter()
        .map(|tool| ToolSpec {
            name: tool.qualified_name.clone(),
            description: match &tool.title {
                Some(title) if tool.description.is_empty() => title.clone(),
                _ => tool.description.clone(),
            },
            parameters: Value::Object((*tool.input_schema).clone()),
        })
        .collect()
}

/// Streams one reply, forwarding text as it comes; the usage is returned even on failure
/// (a reply that failed halfway still cost a request).
async fn stream_reply(
    ctx: &TurnContext,
    request: ChatRequest,
) -> (Reply, Option<crate::llm::Usage>) {
    let mut stream = ctx.provider.stream(request);
    let mut partial = String::new();
    loop {
        let next = tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => return (Reply::Cancelled { partial }, None),
            next = stream.next() => next,
        };
        match next {
            Some(Ok(StreamEvent::TextDelta(delta))) => {
                partial.push_str(&delta);
                ctx.emit(Event::AssistantDelta {
                    turn: ctx.turn,
                    text: delta,
                })
                .await;
            }
            Some(Ok(StreamEvent::ToolCallProgress { .. })) => {}
            Some(Ok(StreamEvent::Finished {
                text,
                tool_calls,
                usage,
                provider_state,
                ..
            })) => {
                return (
                    Reply::Done {
                        text,
                        tool_calls,
                        provider_state,
                    },
                    usage,
                );
            }
            Some(Err(error)) => return (Reply::Failed(error.to_string()), None),
            None => {
                return (
                    Reply::Failed("the model's reply ended before it was complete".into()),
                    None,
                );
            }
        }
    }
}

fn tool_result(call: &ToolCall, content: String, is_error: bool) -> ChatMessage {
    ChatMessage::ToolResult {
        call_id: call.id.clone(),
        name: call.name.clone(),
        content,
        is_error,
    }
}

fn proposed(entry: &ToolEntry, arguments: &JsonObject) -> ProposedCall {
    let annotations = entry.annotations.as_ref();
    ProposedCall {
        server: entry.server.clone(),
        tool: entry.name.clone(),
        qualified_name: entry.qualified_name.clone(),
        arguments: Value::Object(arguments.clone()),
        title: entry.title.clone(),
        read_only: annotations.and_then(|a| a.read_only_hint),
        destructive: annotations.and_then(|a| a.destructive_hint),
    }
}

/// One tool call: check it, ask (or not), run it, and make the result for the model.
async fn handle_call(
    ctx: &TurnContext,
    catalog: &Catalog,
    call: &ToolCall,
    index: usize,
    total: usize,
    calls: &mut Vec<CallRecord>,
) -> CallFlow {
    let mut record = CallRecord {
        qualified_name: call.name.clone(),
        arguments: call.arguments.clone(),
        approved_by: None,
        denied: false,
        outcome: Err(String::new()),
    };
    let Some(entry) = catalog.tool_by_qualified(&call.name) else {
        let message = format!(
            "There is no tool named `{}` (it was not run).",
            truncate_chars(&sanitize_line(&call.name), 100)
        );
        return refuse(ctx, call, record, message, calls).await;
    };
    let mut arguments = match &call.arguments {
        Value::Object(map) => map.clone(),
        Value::Null => JsonObject::new(),
        other => {
            let message = format!(
                "The arguments must be a JSON object, not `{}` (it was not run).",
                truncate_chars(&other.to_string(), 200)
            );
            return refuse(ctx, call, record, message, calls).await;
        }
    };
    let proposal = proposed(entry, &arguments);
    let verdict = ctx
        .policy
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .verdict(entry, ctx.mode);
    let approved_by = match verdict {
        Verdict::Run(by) => by,
        Verdict::Ask => {
            let decision = tokio::select! {
                decision = ctx.approver.ask(ctx.turn, proposal.clone(), index, total) => decision,
                () = ctx.cancel.cancelled() => Decision::CancelTurn,
            };
            ctx.trace(
                format!("approval: {}", entry.qualified_name),
                trace::decision_detail(&decision),
            )
            .await;
            match decision {
                Decision::Approve => ApprovedBy::User,
                Decision::Always => {
                    ctx.policy
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .allow_always(entry);
                    ApprovedBy::User
                }
                Decision::Edited(edited) => {
                    arguments = edited;
                    record.arguments = Value::Object(arguments.clone());
                    ApprovedBy::User
                }
                Decision::Deny => {
                    record.denied = true;
                    record.outcome = Err("denied by the user".to_owned());
                    calls.push(record);
                    ctx.emit(Event::ToolCallFinished {
                        turn: ctx.turn,
                        qualified_name: entry.qualified_name.clone(),
                        outcome: Err("denied".to_owned()),
                        denied: true,
                        elapsed: std::time::Duration::ZERO,
                    })
                    .await;
                    return CallFlow::Result(tool_result(call, DENIED.to_owned(), true));
                }
                Decision::CancelTurn => {
                    record.outcome = Err("cancelled".to_owned());
                    calls.push(record);
                    return CallFlow::CancelTurn;
                }
            }
        }
    };
    record.approved_by = Some(approved_by);
    let mut running = proposal;
    running.arguments = Value::Object(arguments.clone());
    ctx.emit(Event::ToolCallStarted {
        turn: ctx.turn,
        call: running,
        approved_by,
    })
    .await;
    let started = Instant::now();
    let result = ctx
        .runtime
        .call_tool(
            entry.server.as_str(),
            &entry.name,
            arguments,
            Some(ctx.cancel.child_token()),
        )
        .await;
    let (content, is_error) = match result {
        Ok(result) => {
            let mut text = blocks_text(&result.content);
            if text.is_empty()
                && let Some(structured) = &result.structured_content
            {
                text = structured.to_string();
            }
            (text, result.is_error.unwrap_or(false))
        }
        Err(RuntimeError::Call(CallError::Request {
            error: RequestError::Cancelled { .. },
            ..
        })) => {
            record.outcome = Err("cancelled".to_owned());
            calls.push(record);
            return CallFlow::CancelTurn;
        }
        Err(error) => (error.to_string(), true),
    };
    let elapsed = started.elapsed();
    ctx.trace(
        trace::call_title(&entry.qualified_name, is_error, elapsed),
        trace::call_detail(approved_by, &record.arguments, &content),
    )
    .await;
    let summary = summarize(&content);
    ctx.emit(Event::ToolCallFinished {
        turn: ctx.turn,
        qualified_name: entry.qualified_name.clone(),
        outcome: if is_error {
            Err(summary.clone())
        } else {
            Ok(summary.clone())
        },
        denied: false,
        elapsed,
    })
    .await;
    record.outcome = if is_error {
        Err(content.clone())
    } else {
        Ok(content.clone())
    };
    calls.push(record);
    CallFlow::Result(tool_result(call, cap(content), is_error))
}

/// A call that cannot run as the model made it: the model and the user are told why.
async fn refuse(
    ctx: &TurnContext,
    call: &ToolCall,
    mut record: CallRecord,
    message: String,
    calls: &mut Vec<CallRecord>,
) -> CallFlow {
    ctx.trace(
        format!("tool {}: not run", sanitize_line(&call.name)),
        message.clone(),
    )
    .await;
    ctx.emit(Event::ToolCallFinished {
        turn: ctx.turn,
        qualified_name: sanitize_line(&call.name),
        outcome: Err(message.clone()),
        denied: false,
        elapsed: std::time::Duration::ZERO,
    })
    .await;
    record.outcome = Err(message.clone());
    calls.push(record);
    CallFlow::Result(tool_result(call, message, true))
}

/// The first line of a result, short enough for one line of the chat.
fn summarize(content: &str) -> String {
    let first = content.lines().next().unwrap_or("");
    let mut summary = truncate_chars(&sanitize_line(first), 120);
    let lines = content.lines().count();
    if lines > 1 || content.len() > 120 {
        summary.push_str(&format!(
            " ({} chars, {lines} lines)",
            content.chars().count()
        ));
    }
    summary
}

fn cap(content: String) -> String {
    if content.len() <= MAX_RESULT_CHARS {
        return content;
    }
    let mut end = MAX_RESULT_CHARS;
    while !content.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n[the result was cut here: {} more bytes]",
        &content[..end],
        content.len() - end
    )
}
