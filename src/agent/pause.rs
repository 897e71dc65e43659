//! The loop's three places to pause in the debugger — before a model request, before a tool
//! call, after an error — and how an edit made while paused is applied: to the messages the
//! next request sends, to the pending call's arguments, or to the tool result the model is
//! about to see. Every edit is recorded in the trace as an `edit` step with what it replaced.

use std::sync::Arc;

use serde_json::Value;

use super::debugger::RunDebug;
use super::turn::TurnContext;
use crate::llm::{ChatMessage, ChatRequest, ToolCall};
use crate::protocol::debug::{DebugAction, DebugEdit, PauseAt};
use crate::protocol::{StepBody, StepId, StepStatus};

/// Whether the run goes on after a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Go {
    On,
    /// The user stopped the run in the debugger.
    Stop,
}

/// Before a model request. Returns whether to go on and whether `messages` were edited (the
/// request must then be built again). The request sends `messages` from `sent_from` on (the
/// ones before it did not fit the context): an edit of its messages replaces those, and the
/// older ones stay in the conversation as they were.
pub(super) async fn before_model(
    ctx: &TurnContext,
    run: &mut RunDebug,
    parent: StepId,
    messages: &mut Vec<ChatMessage>,
    sent_from: usize,
    request: &ChatRequest,
) -> (Go, bool) {
    if !ctx.debugger.is_active() {
        run.steps += 1;
        return (Go::On, false);
    }
    let at = PauseAt::Model {
        request: Arc::new(request.clone()),
    };
    let Some(resume) = ctx.debugger.checkpoint(run, ctx.turn, parent, at).await else {
        return (Go::On, false);
    };
    if resume.action == DebugAction::Stop {
        return (Go::Stop, false);
    }
    let edited = match resume.edit {
        Some(DebugEdit::Messages(new)) => {
            let sent_from = sent_from.min(messages.len());
            record(
                ctx,
                parent,
                "messages",
                json(&messages[sent_from..]),
                json(&new),
            )
            .await;
            messages.splice(sent_from.., new);
            true
        }
        Some(DebugEdit::LastToolResult(text)) => {
            edit_last_result(ctx, parent, messages, text).await
        }
        // Arguments belong to a tool-call pause; there is no pending call here.
        Some(DebugEdit::ToolArguments(_)) | None => false,
    };
    (Go::On, edited)
}

/// Before a tool call; an edit changes the arguments it runs with.
pub(super) async fn before_tool(
    ctx: &TurnContext,
    run: &mut RunDebug,
    parent: StepId,
    call: &mut ToolCall,
) -> Go {
    if !ctx.debugger.is_active() {
        run.steps += 1;
        return Go::On;
    }
    let at = PauseAt::Tool { call: call.clone() };
    let Some(resume) = ctx.debugger.checkpoint(run, ctx.turn, parent, at).await else {
        return Go::On;
    };
    if resume.action == DebugAction::Stop {
        return Go::Stop;
    }
    if let Some(DebugEdit::ToolArguments(arguments)) = resume.edit {
        let after = Value::Object(arguments);
        record(
            ctx,
            parent,
            "tool_arguments",
            call.arguments.clone(),
            after.clone(),
        )
        .await;
        call.arguments = after;
    }
    Go::On
}

/// After a tool call whose result is an error; an edit changes the result the model sees.
pub(super) async fn after_error(
    ctx: &TurnContext,
    run: &mut RunDebug,
    parent: StepId,
    result: &mut ChatMessage,
) -> Go {
    let ChatMessage::ToolResult {
        content,
        is_error: true,
        ..
    } = result
    else {
        return Go::On;
    };
    if !ctx.debugger.is_active() {
        return Go::On;
    }
    let at = PauseAt::Error {
        message: content.lines().next().unwrap_or_default().to_owned(),
        last_result: Some(content.clone()),
    };
    let Some(resume) = ctx.debugger.checkpoint(run, ctx.turn, parent, at).await else {
        return Go::On;
    };
    if resume.action == DebugAction::Stop {
        return Go::Stop;
    }
    if let Some(DebugEdit::LastToolResult(text)) = resume.edit {
        replace_result(ctx, parent, content, text).await;
    }
    Go::On
}

/// Replaces the text of the newest tool result in `messages`; false when there is none.
async fn edit_last_result(
    ctx: &TurnContext,
    parent: StepId,
    messages: &mut [ChatMessage],
    text: String,
) -> bool {
    let last = messages.iter_mut().rev().find_map(|message| match message {
        ChatMessage::ToolResult { content, .. } => Some(content),
        _ => None,
    });
    let Some(content) = last else {
        return false;
    };
    replace_result(ctx, parent, content, text).await;
    true
}

/// A tool result's text replaced by the user's, recorded as an edit.
async fn replace_result(ctx: &TurnContext, parent: StepId, content: &mut String, text: String) {
    record(
        ctx,
        parent,
        "last_tool_result",
        Value::String(content.clone()),
        Value::String(text.clone()),
    )
    .await;
    *content = text;
}

async fn record(ctx: &TurnContext, parent: StepId, target: &str, before: Value, after: Value) {
    ctx.tracer
        .record(
            Some(parent),
            StepBody::Edit {
                target: target.to_owned(),
                before,
                after,
            },
            StepStatus::Ok,
        )
        .await;
}

fn json(messages: &[ChatMessage]) -> Value {
    serde_json::to_value(messages).unwrap_or(Value::Null)
}
