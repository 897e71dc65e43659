//! Answering a server's `sampling/createMessage` with the configured LLM, once the user has
//! approved it: the server's system prompt, messages, `maxTokens`, temperature and stop
//! sequences are applied, and the request counts against the session's usage and limits. In the
//! dashboard each request waits on its own task for the user's answer, and is withdrawn when the
//! server stops waiting first.

// rmcp marks sampling deprecated (SEP-2577); servers on 2025-11-25 and older use it.
#![allow(deprecated)]

use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use rmcp::ErrorData;
use rmcp::model::{
    CreateMessageRequestParams, CreateMessageResult, Role, SamplingContent, SamplingMessage,
    SamplingMessageContentBlock,
};
use tokio::sync::oneshot;

use super::trace::Tracer;
use super::usage::UsageMeter;
use crate::llm::{ChatMessage, ChatRequest, LlmProvider, StreamEvent};
use crate::protocol::{AgentEvent, AgentNotice, SamplingId, StepBody, StepStatus, UsageTotals};
use crate::runtime::sampling::SamplingRequest;

/// A sampling message's text (non-text parts are described, not sent).
pub fn message_text(message: &SamplingMessage) -> String {
    let blocks: Vec<&SamplingMessageContentBlock> = match &message.content {
        SamplingContent::Single(block) => vec![block],
        SamplingContent::Multiple(blocks) => blocks.iter().collect(),
    };
    blocks
        .into_iter()
        .map(|block| match block {
            SamplingMessageContentBlock::Text(text) => text.text.clone(),
            SamplingMessageContentBlock::Image(image) => format!("[image: {}]", image.mime_type),
            SamplingMessageContentBlock::Audio(audio) => format!("[audio: {}]", audio.mime_type),
            #[allow(unreachable_patterns)]
            other => serde_json::to_string(other).unwrap_or_default(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The f64 a person means by an f32: `0.7f32` is `0.699999988…` as an f64, but the server
/// wrote 0.7, so it goes out as 0.7 (the shortest decimal that round-trips the f32).
fn widen(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::from(value))
}

/// Sends the (approved) request to the model and shapes its answer for the server.
pub async fn sample(
    provider: &dyn LlmProvider,
    params: CreateMessageRequestParams,
    usage: &Mutex<UsageMeter>,
) -> Result<(CreateMessageResult, UsageTotals), ErrorData> {
    let mut totals = {
        let meter = usage.lock().unwrap_or_else(PoisonError::into_inner);
        meter
            .check()
            .map_err(|limit| ErrorData::internal_error(format!("mcpomni: {limit}"), None))?;
        meter.new_turn()
    };
    let messages = params
        .messages
        .iter()
        .map(|m| match m.role {
            Role::User => ChatMessage::user(message_text(m)),
            Role::Assistant => ChatMessage::assistant(message_text(m)),
        })
        .collect();
    let request = ChatRequest {
        system: params.system_prompt.clone(),
        messages,
        tools: Vec::new(),
        max_tokens: Some(params.max_tokens),
        temperature: params.temperature.map(widen),
        top_p: None,
        stop: params.stop_sequences.clone().unwrap_or_default(),
    };
    let mut stream = provider.stream(request);
    let mut finished = None;
    let mut failure = None;
    while let Some(event) = stream.next().await {
        match event {
            Ok(StreamEvent::Finished {
                text,
                usage: reply_usage,
                stop_reason,
                ..
            }) => {
                finished = Some((text, reply_usage, stop_reason));
                break;
            }
            Ok(_) => {}
            Err(error) => {
                failure = Some(error.to_string());
                break;
            }
        }
    }
    let reply_usage = finished.as_ref().and_then(|(_, u, _)| *u);
    usage
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .record(reply_usage, &mut totals);
    let Some((text, _, stop_reason)) = finished else {
        let why = failure.unwrap_or_else(|| "the model's reply ended early".to_owned());
        return Err(ErrorData::internal_error(format!("mcpomni: {why}"), None));
    };
    let mut result =
        CreateMessageResult::new(SamplingMessage::assistant_text(text), provider.describe());
    result.stop_reason = Some(stop_reason_of(stop_reason.as_deref()).to_owned());
    Ok((result, totals))
}

/// The user's answer to a sampling prompt: the request to send (as shown or edited), or `None`
/// to refuse it.
pub type SamplingDecision = Option<Box<CreateMessageRequestParams>>;

/// Serves one sampling request in the dashboard: waits for the user's answer while watching the
/// server, which may stop waiting first (its deadline passed, it cancelled, it disconnected). Then
/// the prompt is withdrawn, and a model request already running for it is stopped, so no tokens
/// are spent on an answer nobody reads.
pub(super) async fn serve_when_decided(
    id: SamplingId,
    mut request: SamplingRequest,
    decided: oneshot::Receiver<SamplingDecision>,
    provider: Arc<dyn LlmProvider>,
    usage: Arc<Mutex<UsageMeter>>,
    tracer: Tracer,
) {
    let server = request.server.clone();
    let mut step = tracer
        .begin(
            None,
            StepBody::Sampling {
                server: server.to_string(),
                request: serde_json::to_value(&request.params).unwrap_or_default(),
                reply: None,
            },
        )
        .await;
    let decision = tokio::select! {
        () = request.reply.closed() => {
            tracer.events().send(AgentEvent::SamplingWithdrawn { id, server }).await.ok();
            tracer.finish(&mut step, StepStatus::Cancelled).await;
            return;
        }
        decision = decided => decision,
    };
    // `Err`: the agent stopped before the user answered; dropping the reply tells the server.
    let Ok(decision) = decision else {
        tracer.finish(&mut step, StepStatus::Cancelled).await;
        return;
    };
    let Some(params) = decision else {
        let _ = request.reply.send(Err(ErrorData::invalid_request(
            "the user declined the sampling request",
            None,
        )));
        tracer.finish(&mut step, StepStatus::Denied).await;
        return;
    };
    let answered = reply_with_sample(request, *params, &*provider, &usage).await;
    let status = match answered {
        None => {
            let notice = AgentNotice::SamplingAbandoned { server };
            tracer.events().send(AgentEvent::Notice(notice)).await.ok();
            StepStatus::Cancelled
        }
        Some(Ok(text)) => {
            if let StepBody::Sampling { reply, .. } = &mut step.body {
                *reply = Some(text);
            }
            StepStatus::Ok
        }
        Some(Err(error)) => {
            if let StepBody::Sampling { reply, .. } = &mut step.body {
                *reply = Some(error);
            }
            StepStatus::Error
        }
    };
    tracer.finish(&mut step, status).await;
    let session = usage.lock().unwrap_or_else(PoisonError::into_inner).session;
    tracer
        .events()
        .send(AgentEvent::UsageChanged(session))
        .await
        .ok();
}

/// Asks the model for `request` (with `params`, the approved version) and replies to the
/// server with the model's text (`Some(Ok)`) or why there is none (`Some(Err)`), unless the
/// server stops waiting first: then the model request is dropped, which cancels it, and the
/// answer is `None`.
pub(super) async fn reply_with_sample(
    mut request: SamplingRequest,
    params: CreateMessageRequestParams,
    provider: &dyn LlmProvider,
    usage: &Mutex<UsageMeter>,
) -> Option<Result<String, String>> {
    let result = tokio::select! {
        result = sample(provider, params, usage) => result.map(|(result, _)| result),
        () = request.reply.closed() => return None,
    };
    let said = match &result {
        Ok(result) => Ok(message_text(&result.message)),
        Err(error) => Err(error.message.to_string()),
    };
    request.reply.send(result).ok().map(|()| said)
}

/// The provider's stop reason in MCP's words.
fn stop_reason_of(provider: Option<&str>) -> &'static str {
    match provider.map(str::to_ascii_lowercase).as_deref() {
        Some("length" | "max_tokens" | "max_output_tokens") => {
            CreateMessageResult::STOP_REASON_END_MAX_TOKEN
        }
        Some("stop_sequence") => CreateMessageResult::STOP_REASON_END_SEQUENCE,
        _ => CreateMessageResult::STOP_REASON_END_TURN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons_map_to_mcp() {
        assert_eq!(stop_reason_of(Some("length")), "maxTokens");
        assert_eq!(stop_reason_of(Some("MAX_TOKENS")), "maxTokens");
        assert_eq!(stop_reason_of(Some("stop_sequence")), "stopSequence");
        assert_eq!(stop_reason_of(Some("stop")), "endTurn");
        assert_eq!(stop_reason_of(None), "endTurn");
    }

    #[test]
    fn message_text_describes_non_text_parts() {
        let message: SamplingMessage = serde_json::from_value(serde_json::json!({
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image", "data": "aGk=", "mimeType": "image/png"}
            ]
        }))
        .expect("message");
        assert_eq!(message_text(&message), "look\n[image: image/png]");
    }

    /// A model that never answers, and notices when its request is dropped.
    #[derive(Debug, Default)]
    struct NeverAnswers {
        dropped: Arc<std::sync::atomic::AtomicBool>,
    }

    struct SetOnDrop(Arc<std::sync::atomic::AtomicBool>);

    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    impl LlmProvider for NeverAnswers {
        fn describe(&self) -> String {
            "test/never".into()
        }

        fn stream(
            &self,
            _request: ChatRequest,
        ) -> futures::stream::BoxStream<'static, Result<StreamEvent, crate::llm::LlmError>>
        {
            let guard = SetOnDrop(self.dropped.clone());
            futures::stream::pending()
                .map(move |event| {
                    let _keep = &guard;
                    event
                })
                .boxed()
        }
    }

    #[tokio::test]
    async fn the_model_request_is_dropped_when_the_server_stops_waiting() {
        let provider = NeverAnswers::default();
        let usage = Mutex::new(UsageMeter::new(None, 0, 0));
        let params: CreateMessageRequestParams = serde_json::from_value(serde_json::json!({
            "messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}],
            "maxTokens": 10
        }))
        .expect("params");
        let (reply, answer) = oneshot::channel();
        let request = SamplingRequest {
            server: crate::runtime::messages::ServerName::new("slow"),
            params: params.clone(),
            reply,
        };
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            drop(answer);
        });
        let answered = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            reply_with_sample(request, params, &provider, &usage),
        )
        .await
        .expect("returns once the server stops waiting");
        assert!(answered.is_none());
        assert!(provider.dropped.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn temperatures_keep_the_value_the_server_wrote() {
        assert_eq!(widen(0.7), 0.7);
        assert_eq!(widen(1.0), 1.0);
        assert_eq!(widen(0.123_456_7), 0.123_456_7);
    }
}
