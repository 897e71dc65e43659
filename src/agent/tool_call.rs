//! One tool call the model asked for: check it, ask the user (or not, by policy), run it with
//! live progress, and make the result the model sees. Every event about it carries its
//! [`ToolCallId`], and it is traced as a `tool_call` step with its approval and result under it.

use std::sync::Arc;
use std::time::Instant;

use rmcp::model::{CallToolResult, JsonObject};
use serde_json::Value;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::policy::Verdict;
use super::turn::{CallRecord, TurnContext, arguments_object, since, tool_result};
use crate::llm::{ChatMessage, ToolCall};
use crate::protocol::trace::now_ms;
use crate::protocol::{
    AgentEvent, CallOutcome, Decision, ProposedCall, StepBody, StepId, StepStatus, ToolCallId,
    TraceStep,
};
use crate::runtime::RuntimeError;
use crate::runtime::catalog::{Catalog, ToolEntry};
use crate::runtime::content::blocks_text;
use crate::runtime::request::RequestError;
use crate::runtime::server::{CallError, CallOptions};
use crate::text::{sanitize_line, truncate_chars};

/// A tool result longer than this is cut before it goes to the model (it would crowd out the
/// conversation); the user still sees the whole result in the dashboard's call view.
const MAX_RESULT_CHARS: usize = 100_000;
/// What the model is told about a call the user denied.
pub const DENIED: &str = "The user denied this tool call, so it was not run. Continue without it.";

/// What the turn does after a call.
pub(super) enum CallFlow {
    /// Give the model this result and go on.
    Result(ChatMessage),
    /// The user stopped the turn.
    CancelTurn,
}

/// What a call that ran gave back.
struct Ran {
    content: String,
    structured: Option<Value>,
    is_error: bool,
}

/// One tool call: check it, ask (or not), run it, and make the result for the model. Logged in
/// a `tool_call` span with the call's id and tool (never its arguments or result).
pub(super) async fn run_call(
    ctx: &TurnContext,
    catalog: &Catalog,
    call: &ToolCall,
    index: usize,
    total: usize,
    parent: StepId,
    calls: &mut Vec<CallRecord>,
) -> CallFlow {
    let span = tracing::info_span!("tool_call", tool = %sanitize_line(&call.name));
    let started = Instant::now();
    let flow = run_call_inner(ctx, catalog, call, index, total, parent, calls)
        .instrument(span.clone())
        .await;
    span.in_scope(|| {
        let outcome = calls.last().map_or("none", |record| match &record.outcome {
            Ok(_) => "ok",
            Err(_) if record.denied => "denied",
            Err(_) => "error",
        });
        tracing::debug!(
            duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            outcome,
            approved_by = record_approver(calls),
            "tool call finished"
        );
    });
    flow
}

fn record_approver(calls: &[CallRecord]) -> &'static str {
    calls
        .last()
        .and_then(|record| record.approved_by)
        .map_or("nobody", |by| by.json_name())
}

async fn run_call_inner(
    ctx: &TurnContext,
    catalog: &Catalog,
    call: &ToolCall,
    index: usize,
    total: usize,
    parent: StepId,
    calls: &mut Vec<CallRecord>,
) -> CallFlow {
    let id = ctx.tracer.ids().next_call();
    let mut record = CallRecord {
        qualified_name: call.name.clone(),
        arguments: call.arguments.clone(),
        approved_by: None,
        denied: false,
        outcome: Err(String::new()),
    };
    let Some(entry) = catalog.tool_by_qualified(&call.name) else {
        let reason = format!(
            "There is no tool named `{}` (it was not run).",
            truncate_chars(&sanitize_line(&call.name), 100)
        );
        return refuse(ctx, id, parent, call, None, record, reason, calls).await;
    };
    let Some(mut arguments) = arguments_object(&call.arguments) else {
        let reason = format!(
            "The arguments must be a JSON object, not `{}` (it was not run).",
            truncate_chars(&call.arguments.to_string(), 200)
        );
        return refuse(ctx, id, parent, call, Some(entry), record, reason, calls).await;
    };
    let mut step = ctx
        .tracer
        .begin(Some(parent), call_body(id, entry, &call.arguments))
        .await;
    let verdict = ctx.policy().verdict(entry, ctx.mode);
    let mut edited = false;
    let approved_by = match verdict {
        Verdict::Run(by) => by,
        Verdict::Ask => {
            let decision = ask(
                ctx,
                id,
                step.id,
                proposed(id, entry, &arguments),
                index,
                total,
            )
            .await;
            match decision {
                Decision::Approve => ctx.approver.approver(),
                Decision::Always => {
                    ctx.policy().allow_always(entry);
                    ctx.approver.approver()
                }
                Decision::Edited(new) => {
                    arguments = new;
                    edited = true;
                    ctx.approver.approver()
                }
                Decision::Deny => {
                    record.denied = true;
                    record.outcome = Err("denied by the user".to_owned());
                    calls.push(record);
                    finished(ctx, id, entry, CallOutcome::Denied, None).await;
                    ctx.tracer.finish(&mut step, StepStatus::Denied).await;
                    return CallFlow::Result(tool_result(call, DENIED.to_owned(), true));
                }
                Decision::CancelTurn => {
                    record.outcome = Err("cancelled".to_owned());
                    calls.push(record);
                    finished(ctx, id, entry, CallOutcome::Cancelled, None).await;
                    ctx.tracer.finish(&mut step, StepStatus::Cancelled).await;
                    return CallFlow::CancelTurn;
                }
            }
        }
    };
    record.approved_by = Some(approved_by);
    if let StepBody::ToolCall {
        arguments: shown,
        approved_by: by,
        model_arguments,
        ..
    } = &mut step.body
    {
        *by = Some(approved_by);
        if edited {
            *model_arguments = Some(std::mem::replace(shown, Value::Object(arguments.clone())));
            record.arguments = shown.clone();
        }
    }
    ctx.tracer.send(&step).await;
    ctx.emit(AgentEvent::ToolCallStarted {
        turn: ctx.turn,
        call: proposed(id, entry, &arguments),
        approved_by,
        edited,
    })
    .await;
    let started = Instant::now();
    let started_ms = now_ms();
    let ran = match call_reporting_progress(ctx, id, entry, arguments).await {
        Ok(result) => ran_from(result),
        Err(RuntimeError::Call(CallError::Request {
            error: RequestError::Cancelled { .. },
            ..
        })) => {
            record.outcome = Err("cancelled".to_owned());
            calls.push(record);
            finished(ctx, id, entry, CallOutcome::Cancelled, Some(started)).await;
            ctx.tracer.finish(&mut step, StepStatus::Cancelled).await;
            return CallFlow::CancelTurn;
        }
        Err(error) => Ran {
            content: error.to_string(),
            structured: None,
            is_error: true,
        },
    };
    let summary = summarize(&ran.content);
    let outcome = if ran.is_error {
        CallOutcome::Failed { error: summary }
    } else {
        CallOutcome::Ok { summary }
    };
    let status = if ran.is_error {
        StepStatus::Error
    } else {
        StepStatus::Ok
    };
    let for_model = cap(ran.content.clone());
    let mut result_step = TraceStep::begin(
        ctx.tracer.ids().next_step(),
        Some(step.id),
        Some(ctx.turn),
        StepBody::ToolResult {
            call: id,
            outcome: outcome.clone(),
            content: for_model.clone(),
            structured: ran.structured,
        },
    );
    result_step.started_ms = started_ms;
    ctx.tracer.finish(&mut result_step, status).await;
    ctx.tracer.finish(&mut step, status).await;
    finished(ctx, id, entry, outcome, Some(started)).await;
    record.outcome = if ran.is_error {
        Err(ran.content)
    } else {
        Ok(ran.content)
    };
    calls.push(record);
    CallFlow::Result(tool_result(call, for_model, ran.is_error))
}

/// Asks the user about the call and traces the answer (the approval step lasts as long as the
/// user took).
async fn ask(
    ctx: &TurnContext,
    id: ToolCallId,
    call_step: StepId,
    proposal: ProposedCall,
    index: usize,
    total: usize,
) -> Decision {
    let mut approval = TraceStep::begin(
        ctx.tracer.ids().next_step(),
        Some(call_step),
        Some(ctx.turn),
        StepBody::Approval {
            call: id,
            decision: Decision::Approve,
        },
    );
    let decision = tokio::select! {
        decision = ctx.approver.ask(ctx.turn, proposal, index, total) => decision,
        () = ctx.cancel.cancelled() => Decision::CancelTurn,
    };
    let status = match &decision {
        Decision::Approve | Decision::Always | Decision::Edited(_) => StepStatus::Ok,
        Decision::Deny => StepStatus::Denied,
        Decision::CancelTurn => StepStatus::Cancelled,
    };
    approval.body = StepBody::Approval {
        call: id,
        decision: decision.clone(),
    };
    ctx.tracer.finish(&mut approval, status).await;
    decision
}

/// Runs the call, forwarding its progress as it rises (rmcp delivers notifications out of
/// order; lower or repeated values are stale).
async fn call_reporting_progress(
    ctx: &TurnContext,
    id: ToolCallId,
    entry: &ToolEntry,
    arguments: JsonObject,
) -> Result<CallToolResult, RuntimeError> {
    let (progress_tx, mut progress) = mpsc::unbounded_channel();
    let options = CallOptions {
        cancel: Some(ctx.cancel.child_token()),
        progress: Some(progress_tx),
    };
    let call = ctx.tools.call(id, entry, arguments, options);
    tokio::pin!(call);
    let mut highest = f64::NEG_INFINITY;
    let result = loop {
        tokio::select! {
            result = &mut call => break result,
            Some(update) = progress.recv() => {
                report_progress(ctx, id, update, &mut highest).await;
            }
        }
    };
    // Progress the server sent just before its result is still worth showing, in order.
    while let Ok(update) = progress.try_recv() {
        report_progress(ctx, id, update, &mut highest).await;
    }
    result
}

async fn report_progress(
    ctx: &TurnContext,
    id: ToolCallId,
    update: rmcp::model::ProgressNotificationParam,
    highest: &mut f64,
) {
    if update.progress <= *highest {
        return;
    }
    *highest = update.progress;
    ctx.emit(AgentEvent::ToolCallProgress {
        turn: ctx.turn,
        call: id,
        progress: update.progress,
        total: update.total,
        message: update.message.map(|m| sanitize_line(&m)),
    })
    .await;
}

fn ran_from(result: CallToolResult) -> Ran {
    Ran {
        content: result_text(&result),
        structured: result.structured_content,
        is_error: result.is_error.unwrap_or(false),
    }
}

/// A result's text before it is cut for the model: its text blocks, else its structured
/// content as JSON.
pub fn result_text(result: &CallToolResult) -> String {
    let content = blocks_text(&result.content);
    match &result.structured_content {
        Some(structured) if content.is_empty() => structured.to_string(),
        _ => content,
    }
}

/// A result's text as the model sees it (and a trace records it): cut past
/// `MAX_RESULT_CHARS`.
pub fn text_for_model(result: &CallToolResult) -> String {
    cap(result_text(result))
}

async fn finished(
    ctx: &TurnContext,
    id: ToolCallId,
    entry: &ToolEntry,
    outcome: CallOutcome,
    started: Option<Instant>,
) {
    ctx.emit(AgentEvent::ToolCallFinished {
        turn: ctx.turn,
        call: id,
        qualified_name: entry.qualified_name.clone(),
        outcome,
        elapsed: since(started),
    })
    .await;
}

/// A call that cannot run as the model made it: the model and the user are told why.
#[allow(clippy::too_many_arguments)]
async fn refuse(
    ctx: &TurnContext,
    id: ToolCallId,
    parent: StepId,
    call: &ToolCall,
    entry: Option<&ToolEntry>,
    mut record: CallRecord,
    reason: String,
    calls: &mut Vec<CallRecord>,
) -> CallFlow {
    let name = sanitize_line(&call.name);
    let body = match entry {
        Some(entry) => call_body(id, entry, &call.arguments),
        None => StepBody::ToolCall {
            call: id,
            server: String::new(),
            tool: name.clone(),
            qualified_name: name.clone(),
            arguments: call.arguments.clone(),
            approved_by: None,
            model_arguments: None,
        },
    };
    let mut step = ctx.tracer.begin(Some(parent), body).await;
    let outcome = CallOutcome::Refused {
        reason: reason.clone(),
    };
    ctx.tracer
        .record(
            Some(step.id),
            StepBody::ToolResult {
                call: id,
                outcome: outcome.clone(),
                content: reason.clone(),
                structured: None,
            },
            StepStatus::Error,
        )
        .await;
    ctx.tracer.finish(&mut step, StepStatus::Error).await;
    ctx.emit(AgentEvent::ToolCallFinished {
        turn: ctx.turn,
        call: id,
        qualified_name: name,
        outcome,
        elapsed: std::time::Duration::ZERO,
    })
    .await;
    record.outcome = Err(reason.clone());
    calls.push(record);
    CallFlow::Result(tool_result(call, reason, true))
}

fn call_body(id: ToolCallId, entry: &ToolEntry, arguments: &Value) -> StepBody {
    StepBody::ToolCall {
        call: id,
        server: entry.server.to_string(),
        tool: entry.name.clone(),
        qualified_name: entry.qualified_name.clone(),
        arguments: arguments.clone(),
        approved_by: None,
        model_arguments: None,
    }
}

fn proposed(id: ToolCallId, entry: &ToolEntry, arguments: &JsonObject) -> ProposedCall {
    let annotations = entry.annotations.as_ref();
    ProposedCall {
        id,
        server: entry.server.clone(),
        tool: entry.name.clone(),
        qualified_name: entry.qualified_name.clone(),
        arguments: Value::Object(arguments.clone()),
        title: entry.title.clone(),
        read_only: annotations.and_then(|a| a.read_only_hint),
        destructive: annotations.and_then(|a| a.destructive_hint),
        input_schema: Arc::clone(&entry.input_schema),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_results_are_cut_for_the_model_with_the_size_of_the_rest() {
        let long = "x".repeat(MAX_RESULT_CHARS + 10);
        let cut = cap(long);
        assert!(cut.ends_with("[the result was cut here: 10 more bytes]"));
        assert_eq!(cap("short".into()), "short");
    }

    #[test]
    fn summaries_are_one_line_with_the_size() {
        assert_eq!(summarize("42"), "42");
        assert_eq!(summarize("a\nb"), "a (3 chars, 2 lines)");
    }
}
