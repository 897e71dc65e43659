//! One turn of the agent: the user's message, then up to `max_steps` rounds of "ask the model,
//! run the tools it asks for", until it answers without tools. Every tool call goes through the
//! approval policy; in chat mode that means a prompt the user answers with a keystroke (the
//! server never sees a denied call — the model is told it was denied). Limits are checked
//! before every request; cancelling ends the turn at once and keeps the history consistent
//! (every tool call the model made gets a result, even if only "cancelled").
//!
//! Each step is recorded as a typed trace step (`trace.rs`): the turn, every model request
//! (exactly what was sent) and reply, every tool call with its approval and result. Before
//! every request the history is fitted to the model's context (`fit.rs`): the oldest turns
//! may be left out of the request, never out of the conversation.
//!
//! Tools reach the model in one of two ways ([`ToolProtocol`]): natively (tool definitions in
//! the request) or as text (`react_text.rs`). Either way a call goes through `run_call`, so
//! approvals, events and the trace are the same. A provider that rejects tool definitions makes
//! an `auto` session switch to text and retry the step; the same call made three times in a
//! row stops the turn (`repeat.rs`).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use rmcp::model::JsonObject;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use super::ask::tool_specs;
use super::ask::{Reply, ask_model};
use super::debugger::{Debugger, RunDebug};
use super::fit;
use super::pause::{self, Go};
use super::policy::ApprovalPolicy;
use super::react_text::{self, Move};
use super::repeat::RepeatGuard;
use super::tool_call::{CallFlow, run_call};
use super::tool_runner::ToolRunner;
use super::trace::Tracer;
use super::usage::UsageMeter;
use crate::llm::{ChatMessage, ChatRequest, LlmProvider, ToolCall, ToolSpec, Usage};
use crate::memory::context::{ContextFitter, FitRequest, Fitted};
use crate::protocol::{
    AgentEvent, AgentMode, AgentNotice, ApprovedBy, Decision, ProposedCall, StepBody, StepId,
    StepStatus, TraceStep, TurnId, TurnOutcome, UsageTotals,
};
use crate::runtime::RuntimeHandle;
use crate::runtime::catalog::Catalog;

/// What the model is told about calls left unrun when the turn was cancelled.
const CANCELLED: &str = "The user cancelled the turn before this tool call ran.";
/// What the model is told about calls left unrun when the user stopped the run in the debugger.
const STOPPED: &str = "The user stopped the run in the debugger before this tool call ran.";

/// How a run the user stopped in the debugger ends.
fn stopped_in_debugger() -> TurnOutcome {
    TurnOutcome::Limit("stopped in the debugger".to_owned())
}

/// What the model is told about calls left unrun when a loop stopped the turn.
const LOOP_STOPPED: &str =
    "Not run: the same call was made 3 times in a row, so the turn was stopped.";

/// How the model is offered tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolProtocol {
    /// Tool definitions in the request; the provider returns structured calls.
    Native,
    /// No tools in the request: the system prompt teaches `Action:` / `Final Answer:` text.
    Text,
}

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
#[derive(Clone)]
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
    /// Fits the history to the model's context before each request.
    pub context: ContextFitter,
    pub max_steps: u32,
    pub system_prompt: String,
    pub cancel: CancellationToken,
    /// Whether the model's text goes to the chat as it streams (off for sub-agents, whose
    /// answers are parts of the orchestrator's report).
    pub stream_text: bool,
    /// The protocol the turn starts with.
    pub protocol: ToolProtocol,
    /// Switch to the text protocol when the provider rejects tool definitions (`auto`).
    pub fallback: bool,
    /// Step mode and breakpoints; pauses go to the user through it.
    pub debugger: Arc<Debugger>,
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
    /// The protocol at the end of the turn (the session keeps it: a switch to text sticks).
    pub protocol: ToolProtocol,
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
    let scope = LoopScope::whole(turn_step.id, first_new);
    let LoopEnd {
        answer,
        outcome,
        protocol,
    } = run_loop(ctx, &scope, &mut messages, &mut turn_usage, &mut calls).await;
    finish_turn_step(ctx, &mut turn_step, &outcome, turn_usage).await;
    TurnRecord {
        // An edit in the debugger may have shortened the conversation.
        messages: messages.split_off(first_new.min(messages.len())),
        answer,
        outcome,
        usage: turn_usage,
        calls,
        protocol,
    }
}

/// Runs again from a past model request (`from`) with `messages` as its conversation: a new
/// turn whose trace starts with a `fork` step naming the step it re-runs.
pub async fn run_fork(ctx: &TurnContext, from: StepId, messages: Vec<ChatMessage>) -> TurnRecord {
    let asked = last_user_text(&messages).to_owned();
    let mut turn_step = ctx
        .tracer
        .begin(
            None,
            StepBody::Turn {
                user_text: asked,
                mode: ctx.mode,
                outcome: None,
            },
        )
        .await;
    ctx.tracer
        .record(Some(turn_step.id), StepBody::Fork { from }, StepStatus::Ok)
        .await;
    let mut messages = messages;
    let first_new = messages.len();
    let mut usage = ctx.usage().new_turn();
    let mut calls = Vec::new();
    // The fork re-runs the request from its last user turn on.
    let turn_start = messages
        .iter()
        .rposition(crate::memory::counts::is_turn_start)
        .unwrap_or(0);
    let scope = LoopScope::whole(turn_step.id, turn_start);
    let end = run_loop(ctx, &scope, &mut messages, &mut usage, &mut calls).await;
    finish_turn_step(ctx, &mut turn_step, &end.outcome, usage).await;
    TurnRecord {
        // An edit in the debugger may have shortened the conversation.
        messages: messages.split_off(first_new.min(messages.len())),
        answer: end.answer,
        outcome: end.outcome,
        usage,
        calls,
        protocol: end.protocol,
    }
}

/// The newest user message's text ("" when there is none).
pub fn last_user_text(messages: &[ChatMessage]) -> &str {
    messages
        .iter()
        .rev()
        .find_map(|message| match message {
            ChatMessage::User(text) => Some(text.as_str()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Where one run of the tool loop sits in the trace, and which tools it may use.
pub struct LoopScope {
    /// The step its model requests and tool calls belong to.
    pub parent: StepId,
    /// Tool patterns (`server__tool`, `server__*`, `server`) it may use; `None`: every tool.
    pub tools: Option<Vec<String>>,
    /// Where the current turn starts in the messages: it is always sent whole (or cut, never
    /// dropped) when the history is fitted to the context.
    pub turn_start: usize,
}

impl LoopScope {
    pub fn whole(parent: StepId, turn_start: usize) -> Self {
        Self {
            parent,
            tools: None,
            turn_start,
        }
    }

    /// The part of the catalog this loop may use.
    fn catalog(&self, catalog: Arc<Catalog>) -> Arc<Catalog> {
        match &self.tools {
            None => catalog,
            Some(patterns) => {
                let mut allowed = (*catalog).clone();
                allowed.tools.retain(|tool| {
                    patterns
                        .iter()
                        .any(|pattern| tool_pattern_allows(pattern, &tool.qualified_name))
                });
                Arc::new(allowed)
            }
        }
    }
}

/// Whether a tool pattern allows the tool with this qualified name: the name itself, a prefix
/// ending in `*` (`server__*`), or a bare server name.
pub fn tool_pattern_allows(pattern: &str, qualified_name: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix('*') {
        return qualified_name.starts_with(prefix);
    }
    pattern == qualified_name
        || qualified_name
            .strip_prefix(pattern)
            .is_some_and(|rest| rest.starts_with("__"))
}

/// How a run of the loop ended.
pub struct LoopEnd {
    pub answer: String,
    pub outcome: TurnOutcome,
    /// The tool protocol it ended with (text, if the provider rejected tools on the way).
    pub protocol: ToolProtocol,
}

/// Up to `max_steps` rounds of "ask the model, run the tools it asks for" on `messages` (which
/// end with the user's request), until the model answers without tools, a limit or an error
/// stops it, or the turn is cancelled. What was said is appended to `messages`; calls to
/// `calls`; usage to `turn_usage`.
pub async fn run_loop(
    ctx: &TurnContext,
    scope: &LoopScope,
    messages: &mut Vec<ChatMessage>,
    turn_usage: &mut UsageTotals,
    calls: &mut Vec<CallRecord>,
) -> LoopEnd {
    let mut answer = String::new();
    let mut outcome = TurnOutcome::Limit(format!(
        "stopped after {} steps without a final answer (AgentConfig.max_steps)",
        ctx.max_steps
    ));
    let mut protocol = ctx.protocol;
    let mut repeats = RepeatGuard::default();
    let mut debug = RunDebug::default();
    let mut step = 0;
    let mut turn_start = scope.turn_start;
    'steps: while step < ctx.max_steps {
        step += 1;
        let catalog = scope.catalog(ctx.runtime.catalog());
        let prefix = RequestPrefix::new(ctx, protocol, &catalog);
        let mut fitted = fit::fit(ctx, scope.parent, prefix.fit(messages, turn_start)).await;
        let reservation = match fit::reserve(ctx, &fitted) {
            Ok(reservation) => reservation,
            Err(limit) => {
                outcome = TurnOutcome::Limit(limit);
                break;
            }
        };
        let mut request = prefix.request(&fitted, messages);
        let sent_from = fitted.first_kept;
        match pause::before_model(ctx, &mut debug, scope.parent, messages, sent_from, &request)
            .await
        {
            (Go::Stop, _) => {
                ctx.usage().release(reservation);
                outcome = stopped_in_debugger();
                break;
            }
            (Go::On, true) => {
                // What the user edited is sent as edited: it all counts as this turn now.
                turn_start = turn_start.min(sent_from);
                fitted = fit::fit(ctx, scope.parent, prefix.fit(messages, turn_start)).await;
                request = prefix.request(&fitted, messages);
            }
            (Go::On, false) => {}
        }
        let offered_tools = !request.tools.is_empty();
        let (streamed, reply_step) =
            ask_model(ctx, scope.parent, request, reservation, turn_usage).await;
        ctx.context.observe(&fitted, streamed.usage);
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
            Reply::Failed {
                message,
                tools_rejected: true,
            } if ctx.fallback && offered_tools && protocol == ToolProtocol::Native => {
                // Only a rejection of the tools themselves, on a request that had some: the
                // same step again, as text, for the rest of the session.
                protocol = ToolProtocol::Text;
                ctx.emit(AgentEvent::Notice(AgentNotice::TextToolProtocol {
                    reason: message,
                }))
                .await;
                step -= 1;
                continue;
            }
            Reply::Failed {
                message,
                tools_rejected,
            } => {
                outcome = TurnOutcome::Failed(if tools_rejected {
                    format!(
                        "{message} (with LLM.tool_calling set to \"text\" or \"auto\", tools are \
                         offered as text instead)"
                    )
                } else {
                    message
                });
                break;
            }
        };
        if protocol == ToolProtocol::Text {
            messages.push(ChatMessage::Assistant {
                text: text.clone(),
                tool_calls: Vec::new(),
                provider_state,
            });
            let mut text_run = TextRun {
                repeats: &mut repeats,
                debug: &mut debug,
                calls,
            };
            match text_step(ctx, &catalog, &text, reply_step, &mut text_run).await {
                TextStep::Answer(final_answer) => {
                    answer = final_answer;
                    outcome = TurnOutcome::Answered;
                    break;
                }
                TextStep::Continue(next) => messages.push(next),
                TextStep::Stop(stopped) => {
                    outcome = stopped;
                    break;
                }
            }
            continue;
        }
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
            let mut call = call.clone();
            if pause::before_tool(ctx, &mut debug, reply_step, &mut call).await == Go::Stop {
                for unrun in &tool_calls[index..] {
                    messages.push(tool_result(unrun, STOPPED.to_owned(), true));
                }
                outcome = stopped_in_debugger();
                break 'steps;
            }
            if let Some(reason) = repeats.see(&call.name, &call.arguments) {
                // Every call the model made needs a result, or the next request fails.
                for unrun in &tool_calls[index..] {
                    messages.push(tool_result(unrun, LOOP_STOPPED.to_owned(), true));
                }
                outcome = TurnOutcome::Limit(reason);
                break 'steps;
            }
            match run_call(ctx, &catalog, &call, index, total, reply_step, calls).await {
                CallFlow::Result(mut result) => {
                    let go = pause::after_error(ctx, &mut debug, reply_step, &mut result).await;
                    messages.push(result);
                    if go == Go::Stop {
                        for unrun in &tool_calls[index + 1..] {
                            messages.push(tool_result(unrun, STOPPED.to_owned(), true));
                        }
                        outcome = stopped_in_debugger();
                        break 'steps;
                    }
                }
                CallFlow::CancelTurn => {
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
                Some(scope.parent),
                StepBody::Limit {
                    reason: reason.clone(),
                },
                StepStatus::Error,
            )
            .await;
    }
    LoopEnd {
        answer,
        outcome,
        protocol,
    }
}

/// What every request of a step starts with: the system prompt and the tools — native tool
/// definitions, or none and the text protocol taught in the system prompt.
struct RequestPrefix {
    system: String,
    tools: Vec<ToolSpec>,
    protocol: ToolProtocol,
}

impl RequestPrefix {
    fn new(ctx: &TurnContext, protocol: ToolProtocol, catalog: &Catalog) -> Self {
        let tools = tool_specs(catalog);
        match protocol {
            ToolProtocol::Native => Self {
                system: ctx.system_prompt.clone(),
                tools,
                protocol,
            },
            ToolProtocol::Text => Self {
                system: format!(
                    "{}\n\n{}",
                    ctx.system_prompt,
                    react_text::instructions(&tools)
                ),
                tools: Vec::new(),
                protocol,
            },
        }
    }

    /// What the fitter weighs: this prefix, and `messages` whose current turn starts at
    /// `turn_start`.
    fn fit<'a>(&'a self, messages: &'a [ChatMessage], turn_start: usize) -> FitRequest<'a> {
        FitRequest {
            system: &self.system,
            tools: &self.tools,
            messages,
            turn_start,
        }
    }

    /// The request for the next step: the fitted history (rewritten as text under the text
    /// protocol, in case it began natively).
    fn request(&self, fitted: &Fitted, messages: &[ChatMessage]) -> ChatRequest {
        let sent = fitted.messages(messages);
        ChatRequest {
            system: Some(self.system.clone()),
            messages: match self.protocol {
                ToolProtocol::Native => sent,
                ToolProtocol::Text => react_text::as_text_history(&sent),
            },
            tools: self.tools.clone(),
            ..ChatRequest::default()
        }
    }
}

/// What a text-protocol reply leads to.
enum TextStep {
    Answer(String),
    /// The next user message: a tool's observation, or what was wrong with the reply.
    Continue(ChatMessage),
    Stop(TurnOutcome),
}

/// What a text-protocol step keeps across steps.
struct TextRun<'a> {
    repeats: &'a mut RepeatGuard,
    debug: &'a mut RunDebug,
    calls: &'a mut Vec<CallRecord>,
}

/// One reply under the text protocol: the final answer, or the action run through the same
/// call path as a native call (`run_call`), or a correction when the reply cannot be read.
async fn text_step(
    ctx: &TurnContext,
    catalog: &Catalog,
    text: &str,
    reply_step: StepId,
    run: &mut TextRun<'_>,
) -> TextStep {
    let (tool, input) = match react_text::parse_reply(text) {
        Ok(Move::Final(answer)) => return TextStep::Answer(answer),
        Ok(Move::Action { tool, input }) => (tool, input),
        Err(error) => {
            ctx.tracer
                .record(
                    Some(reply_step),
                    StepBody::Error {
                        message: format!("the reply could not be read: {error}"),
                    },
                    StepStatus::Error,
                )
                .await;
            return TextStep::Continue(ChatMessage::user(react_text::correction(&error)));
        }
    };
    let mut call = ToolCall {
        id: format!("text-{}", run.calls.len() + 1),
        name: tool,
        arguments: Value::Object(input),
    };
    if pause::before_tool(ctx, run.debug, reply_step, &mut call).await == Go::Stop {
        return TextStep::Stop(stopped_in_debugger());
    }
    if let Some(reason) = run.repeats.see(&call.name, &call.arguments) {
        return TextStep::Stop(TurnOutcome::Limit(reason));
    }
    match run_call(ctx, catalog, &call, 0, 1, reply_step, run.calls).await {
        CallFlow::Result(mut result) => {
            let go = pause::after_error(ctx, run.debug, reply_step, &mut result).await;
            if go == Go::Stop {
                return TextStep::Stop(stopped_in_debugger());
            }
            match result {
                ChatMessage::ToolResult {
                    content, is_error, ..
                } => TextStep::Continue(ChatMessage::user(react_text::observation(
                    &call.name, &content, is_error,
                ))),
                other => TextStep::Continue(other),
            }
        }
        CallFlow::CancelTurn => TextStep::Stop(TurnOutcome::Cancelled),
    }
}

pub(super) async fn finish_turn_step(
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
    ctx.tracer
        .finish(step, StepStatus::of_outcome(outcome))
        .await;
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
