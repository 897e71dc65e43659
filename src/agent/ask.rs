//! One request to the model, streamed and traced: the request step (exactly what was sent)
//! and the reply step under it, with the time to the first token, tokens and cost; the text
//! goes to the chat as it arrives unless the run is a sub-agent's. Also the tool list offered
//! to the model.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use serde_json::Value;
use tracing::Instrument;

use super::turn::TurnContext;
use crate::llm::{ChatRequest, LlmError, StreamEvent, ToolCall, ToolSpec, Usage};
use crate::protocol::{AgentEvent, StepBody, StepId, StepStatus, TraceStep, UsageTotals};
use crate::runtime::catalog::Catalog;

/// How a reply ended.
pub(crate) enum Reply {
    Done {
        text: String,
        reasoning: Option<String>,
        tool_calls: Vec<ToolCall>,
        stop_reason: Option<String>,
        provider_state: Option<Value>,
    },
    Cancelled {
        partial: String,
    },
    Failed {
        message: String,
        /// The provider refused the request's tool definitions.
        tools_rejected: bool,
    },
}

/// A streamed reply and what it cost.
pub(crate) struct Streamed {
    pub(crate) reply: Reply,
    usage: Option<Usage>,
    /// When the first piece of the reply arrived.
    first_token: Option<Instant>,
}
/// One request to the model, traced: the request step (exactly what was sent), then the reply
/// step under it. Returns the reply and the reply step's id (the parent of its tool calls).
pub(crate) async fn ask_model(
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
    let streamed = stream_reply(ctx, request_step.id, (*request).clone())
        .instrument(span.clone())
        .await;
    let cost = {
        let mut meter = ctx.usage();
        meter.record_reserved(streamed.usage, turn_usage);
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
            reasoning,
            tool_calls,
            stop_reason,
            ..
        } => (
            StepBody::ModelReply {
                text: text.clone(),
                reasoning: reasoning.clone(),
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
                reasoning: None,
                tool_calls: Vec::new(),
                stop_reason: None,
                first_token_ms,
                error: None,
            },
            StepStatus::Cancelled,
        ),
        Reply::Failed { message, .. } => (
            StepBody::ModelReply {
                text: String::new(),
                reasoning: None,
                tool_calls: Vec::new(),
                stop_reason: None,
                first_token_ms,
                error: Some(message.clone()),
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

/// Streams one reply, forwarding text as it comes (unless `ctx.stream_text` is off) and
/// tracing each retried attempt under `request_step`; the usage is returned even on failure
/// (a reply that failed halfway still cost a request).
async fn stream_reply(ctx: &TurnContext, request_step: StepId, request: ChatRequest) -> Streamed {
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
        if let Some(Ok(StreamEvent::Retrying {
            attempt,
            max_retries,
            wait_ms,
            reason,
        })) = next
        {
            let mut step = ctx
                .tracer
                .begin(
                    Some(request_step),
                    StepBody::Retry {
                        attempt,
                        max_retries,
                        wait_ms,
                        reason,
                    },
                )
                .await;
            // The attempt failed; its step says how long the next one waits.
            ctx.tracer.finish(&mut step, StepStatus::Error).await;
            continue;
        }
        if first_token.is_none() && matches!(next, Some(Ok(_))) {
            first_token = Some(Instant::now());
        }
        let reply = match next {
            Some(Ok(StreamEvent::TextDelta(delta))) => {
                partial.push_str(&delta);
                if ctx.stream_text {
                    ctx.emit(AgentEvent::AssistantDelta {
                        turn: ctx.turn,
                        text: delta,
                    })
                    .await;
                }
                continue;
            }
            Some(Ok(StreamEvent::ToolCallProgress { .. })) => continue,
            Some(Ok(StreamEvent::Retrying { .. })) => continue,
            Some(Ok(StreamEvent::Finished {
                text,
                reasoning,
                tool_calls,
                usage,
                stop_reason,
                provider_state,
            })) => {
                return Streamed {
                    reply: Reply::Done {
                        text,
                        reasoning,
                        tool_calls,
                        stop_reason,
                        provider_state,
                    },
                    usage,
                    first_token,
                };
            }
            Some(Err(error)) => Reply::Failed {
                tools_rejected: matches!(error, LlmError::ToolsUnsupported { .. }),
                message: error.to_string(),
            },
            None => Reply::Failed {
                message: "the model's reply ended before it was complete".into(),
                tools_rejected: false,
            },
        };
        return Streamed {
            reply,
            usage: None,
            first_token,
        };
    }
}
