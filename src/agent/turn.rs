//! One turn of the agent: the user's message, then up to `max_steps` rounds of "ask the model,
//! run the tools it asks for", until it answers without tools. Every tool call goes through the
//! approval policy; in chat mode that means a prompt the user answers with a keystroke (the
//! server never sees a denied call — the model is told it was denied). Limits are checked
//! before every request; cancelling ends the turn at once and keeps the history consistent
//! (every tool call the model made gets a result, even if only "cancelled").
//!
//! Each step is recorded as a typed trace step (`trace.rs`): the turn, every model request
//! (exactly what was sent) and reply, every tool call with its approval and result.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::BoxFuture;
use rmcp::model::JsonObject;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::policy::ApprovalPolicy;
use super::tool_call::{CallFlow, run_call};
use super::tool_runner::ToolRunner;
use super::trace::Tracer;
use super::usage::UsageMeter;
use crate::llm::{ChatMessage, ChatRequest, LlmProvider, StreamEvent, ToolCall, ToolSpec, Usage};
use crate::protocol::{
    AgentEvent, AgentMode, ApprovedBy, Decision, ProposedCall, StepBody, StepId, StepStatus,
    TraceStep, TurnId, TurnOutcome, UsageTotals,
};
use crate::runtime::RuntimeHandle;
use crate::runtime::catalog::Catalog;

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

    /// Who a call approved through this approver counts as approved by.
    fn approver(&self) -> ApprovedBy {
        ApprovedBy::User
    }
}

/// Everything a turn needs.
pub struct TurnContext {
    pub turn: TurnId,
    pub mode: AgentMode,
    pub provider: Arc<dyn LlmProvider>,
    pub runtime: RuntimeHandle,
    /// Where tool calls go (the runtime, or a recording when replaying).
    pub tools: Arc<dyn ToolRunner>,
    pub events: mpsc::Sender<AgentEvent>,
    pub tracer: Tracer,
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
        stop_reason: Option<String>,
        provider_state: Option<Value>,
    },
    Cancelled {
        partial: String,
    },
    Failed(String),
}

/// A streamed reply and what it cost.
struct Streamed {
    reply: Reply,
    usage: Option<Usage>,
    /// When the first piece of the reply arrived.
    first_token: Option<Instant>,
}

impl TurnContext {
    pub(super) async fn emit(&self, event: AgentEvent) {
        let _ = self.events.send(event).await;
    }

    pub(super) fn usage(&self) -> std::sync::MutexGuard<'_, UsageMeter> {
        self.usage.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn policy(&self) -> std::sync::MutexGuard<'_, ApprovalPolicy> {
        self.policy.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs one turn to its end, inside a `turn` span (the log file shows each of its steps under
/// it; no message text, arguments or results go into the log).
pub async fn run_turn(ctx: &TurnContext, history: Vec<ChatMessage>, text: String) -> TurnRecord {
    let span = tracing::info_span!("turn", turn = ctx.turn.0, mode = ctx.mode.label());
    let record = run_turn_steps(ctx, history, text).instrument(span).await;
    tracing::info!(
        turn = ctx.turn.0,
        outcome = outcome_word(&record.outcome),
        requests = record.usage.requests,
        tokens = record.usage.tokens(),
        tool_calls = record.calls.len(),
        "turn finished"
    );
    record
}

fn outcome_word(outcome: &TurnOutcome) -> &'static str {
    match outcome {
        TurnOutcome::Answered => "answered",
        TurnOutcome::Cancelled => "cancelled",
        TurnOutcome::Limit(_) => "limit",
        TurnOutcome::Failed(_) => "failed",
    }
}

async fn run_turn_steps(ctx: &TurnContext, history: Vec<ChatMessage>, text: String) -> TurnRecord {
    let mut turn_step = ctx
        .tracer
        .begin(
            None,
            StepBody::Turn {
                user_text: text.clone(),
                mode: ctx.mode,
                outcome: None,
            },
        )
        .await;
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
    'steps: for _ in 1..=ctx.max_steps {
        if let Err(limit) = ctx.usage().check() {
            outcome = TurnOutcome::Limit(limit);
            break;
        }
        let catalog = ctx.runtime.catalog();
        let request = ChatRequest {
            system: Some(ctx.system_prompt.clone()),
            messages: messages.clone(),
            tools: tool_specs(&catalog),
            ..ChatRequest::default()
        };
        let (streamed, reply_step) = ask_model(ctx, turn_step.id, request, &mut turn_usage).await;
        let (text, tool_calls, provider_state) = match streamed.reply {
            Reply::Done {
                text,
                tool_calls,
                provider_state,
                ..
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
                outcome = TurnOutcome::Failed(error);
                break;
            }
        };
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
            match run_call(ctx, &catalog, call, index, total, reply_step, &mut calls).await {
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
    if let TurnOutcome::Limit(reason) = &outcome {
        ctx.tracer
            .record(
                Some(turn_step.id),
                StepBody::Limit {
                    reason: reason.clone(),
                },
                StepStatus::Error,
            )
            .await;
    }
    finish_turn_step(ctx, &mut turn_step, &outcome, turn_usage).await;
    TurnRecord {
        messages: messages.split_off(first_new),
        answer,
        outcome,
        usage: turn_usage,
        calls,
    }
}

async fn finish_turn_step(
    ctx: &TurnContext,
    step: &mut TraceStep,
    outcome: &TurnOutcome,
    usage: UsageTotals,
) {
    if let StepBody::Turn { outcome: slot, .. } = &mut step.body {
        *slot = Some(outcome.clone());
    }
    step.tokens = Some(Usage {
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
    });
    step.cost_usd = usage.cost;
    let status = match outcome {
        TurnOutcome::Answered => StepStatus::Ok,
        TurnOutcome::Cancelled => StepStatus::Cancelled,
        TurnOutcome::Limit(_) | TurnOutcome::Failed(_) => StepStatus::Error,
    };
    ctx.tracer.finish(step, status).await;
}

/// One request to the model, traced: the request step (exactly what was sent), then the reply
/// step under it. Returns the reply and the reply step's id (the parent of its tool calls).
async fn ask_model(
    ctx: &TurnContext,
    turn_step: StepId,
    request: ChatRequest,
    turn_usage: &mut UsageTotals,
) -> (Streamed, StepId) {
    let request = Arc::new(request);
    let mut request_step = ctx
        .tracer
        .begin(
            Some(turn_step),
            StepBody::ModelRequest {
                model: ctx.provider.describe(),
                request: request.clone(),
            },
        )
        .await;
    let sent = Instant::now();
    let span = tracing::info_span!("model_request", step = request_step.id.0);
    let streamed = stream_reply(ctx, (*request).clone())
        .instrument(span.clone())
        .await;
    let cost = {
        let mut meter = ctx.usage();
        meter.record(streamed.usage, turn_usage);
        meter.cost_of(streamed.usage)
    };
    request_step.tokens = streamed.usage;
    request_step.cost_usd = cost;
    let first_token_ms = streamed
        .first_token
        .map(|at| u64::try_from(at.duration_since(sent).as_millis()).unwrap_or(u64::MAX));
    let (body, status) = match &streamed.reply {
        Reply::Done {
            text,
            tool_calls,
            stop_reason,
            ..
        } => (
            StepBody::ModelReply {
                text: text.clone(),
                tool_calls: tool_calls.clone(),
                stop_reason: stop_reason.clone(),
                first_token_ms,
                error: None,
            },
            StepStatus::Ok,
        ),
        Reply::Cancelled { partial } => (
            StepBody::ModelReply {
                text: partial.clone(),
                tool_calls: Vec::new(),
                stop_reason: None,
                first_token_ms,
                error: None,
            },
            StepStatus::Cancelled,
        ),
        Reply::Failed(error) => (
            StepBody::ModelReply {
                text: String::new(),
                tool_calls: Vec::new(),
                stop_reason: None,
                first_token_ms,
                error: Some(error.clone()),
            },
            StepStatus::Error,
        ),
    };
    let mut reply_step = TraceStep::begin(
        ctx.tracer.ids().next_step(),
        Some(request_step.id),
        Some(ctx.turn),
        body,
    );
    // The reply began with its first piece (or when it ended, if nothing came before).
    reply_step.started_ms = request_step.started_ms
        + first_token_ms
            .unwrap_or_else(|| u64::try_from(sent.elapsed().as_millis()).unwrap_or(u64::MAX));
    reply_step.tokens = streamed.usage;
    span.in_scope(|| {
        tracing::debug!(
            duration_ms = u64::try_from(sent.elapsed().as_millis()).unwrap_or(u64::MAX),
            first_token_ms,
            input_tokens = streamed.usage.map(|u| u.input_tokens),
            output_tokens = streamed.usage.map(|u| u.output_tokens),
            status = ?status,
            "model replied"
        );
    });
    ctx.tracer.finish(&mut request_step, status).await;
    ctx.tracer.finish(&mut reply_step, status).await;
    (streamed, reply_step.id)
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
async fn stream_reply(ctx: &TurnContext, request: ChatRequest) -> Streamed {
    let mut stream = ctx.provider.stream(request);
    let mut partial = String::new();
    let mut first_token = None;
    loop {
        let next = tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => {
                return Streamed { reply: Reply::Cancelled { partial }, usage: None, first_token };
            }
            next = stream.next() => next,
        };
        if first_token.is_none() && matches!(next, Some(Ok(_))) {
            first_token = Some(Instant::now());
        }
        let reply = match next {
            Some(Ok(StreamEvent::TextDelta(delta))) => {
                partial.push_str(&delta);
                ctx.emit(AgentEvent::AssistantDelta {
                    turn: ctx.turn,
                    text: delta,
                })
                .await;
                continue;
            }
            Some(Ok(StreamEvent::ToolCallProgress { .. })) => continue,
            Some(Ok(StreamEvent::Finished {
                text,
                tool_calls,
                usage,
                stop_reason,
                provider_state,
            })) => {
                return Streamed {
                    reply: Reply::Done {
                        text,
                        tool_calls,
                        stop_reason,
                        provider_state,
                    },
                    usage,
                    first_token,
                };
            }
            Some(Err(error)) => Reply::Failed(error.to_string()),
            None => Reply::Failed("the model's reply ended before it was complete".into()),
        };
        return Streamed {
            reply,
            usage: None,
            first_token,
        };
    }
}

pub(super) fn tool_result(call: &ToolCall, content: String, is_error: bool) -> ChatMessage {
    ChatMessage::ToolResult {
        call_id: call.id.clone(),
        name: call.name.clone(),
        content,
        is_error,
    }
}

/// How long since `started`, for events (zero for calls that never ran).
pub(super) fn since(started: Option<Instant>) -> Duration {
    started.map(|at| at.elapsed()).unwrap_or_default()
}

/// The arguments the model sent, as an object (`null` counts as none).
pub(super) fn arguments_object(value: &Value) -> Option<JsonObject> {
    match value {
        Value::Object(map) => Some(map.clone()),
        Value::Null => Some(JsonObject::new()),
        _ => None,
    }
}
