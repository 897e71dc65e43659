//! Drives one streamed reply: sends the request through genai, retries it while nothing has
//! been delivered yet, and turns genai's events into [`StreamEvent`]s and its errors into
//! [`LlmError`]s.
//!
//! What genai does here, pinned by `tests/llm_contract.rs`:
//! - with `capture_tool_calls`, each tool-call chunk carries the arguments accumulated so far
//!   (OpenAI, Anthropic); Gemini sends every call whole, in one chunk;
//! - OpenAI and Anthropic streams that stop before `[DONE]`/`message_stop` just end (no `End`),
//!   while a Gemini stream always gets an `End`, so a missing `finishReason` is checked here;
//! - the real cause of a streaming failure is boxed inside `Error::WebStream`: an
//!   `Error::HttpError` (status, headers and body of an error response), a
//!   `webc::StreamTimeout`, or a `reqwest::Error`.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::SystemTime;

use futures::StreamExt;
use futures::stream::BoxStream;
use genai::chat::{ChatStream, ChatStreamEvent, StreamEnd};

use super::classify::ErrorContext;
use super::convert;
use super::error::LlmError;
use super::provider::Inner;
use super::retry::parse_retry_after;
use super::setup::Wire;
use super::types::{ChatRequest, StreamEvent, Usage};
use crate::error_text::error_chain;

pub(crate) fn start(
    inner: Arc<Inner>,
    request: ChatRequest,
) -> BoxStream<'static, Result<StreamEvent, LlmError>> {
    let (genai_request, options) = convert::to_genai(
        inner.target.wire,
        &request,
        inner.sampling,
        (inner.options.request_timeout, inner.options.idle_timeout),
    );
    let driver = Driver {
        inner,
        genai_request,
        options,
        phase: Phase::Connect,
        retries: 0,
        delivered: false,
        text: String::new(),
        call_ids: Vec::new(),
    };
    futures::stream::unfold(driver, |mut driver| async move {
        let item = driver.next_item().await?;
        Some((item, driver))
    })
    .boxed()
}

enum Phase {
    Connect,
    /// A failed attempt is retried after this wait (the `Retrying` event went out first).
    Backoff(std::time::Duration),
    Streaming(ChatStream),
    Done,
}

struct Driver {
    inner: Arc<Inner>,
    genai_request: genai::chat::ChatRequest,
    options: genai::chat::ChatOptions,
    phase: Phase,
    retries: u32,
    /// Set once a text or tool-call event went out: from then on nothing is retried.
    delivered: bool,
    text: String,
    /// Ids of the tool calls seen so far, in order: the `index` of a progress event.
    call_ids: Vec<String>,
}

impl Driver {
    fn ctx(&self) -> ErrorContext<'_> {
        self.inner.error_context()
    }

    async fn next_item(&mut self) -> Option<Result<StreamEvent, LlmError>> {
        loop {
            match std::mem::replace(&mut self.phase, Phase::Done) {
                Phase::Done => return None,
                Phase::Backoff(wait) => {
                    tokio::time::sleep(wait).await;
                    self.phase = Phase::Connect;
                }
                Phase::Connect => {
                    let client = match self.inner.client() {
                        Ok(client) => client,
                        Err(error) => return Some(Err(error)),
                    };
                    let target = genai::ModelSpec::Target(self.inner.service_target.clone());
                    let request = self.genai_request.clone();
                    match client
                        .exec_chat_stream(target, request, Some(&self.options))
                        .await
                    {
                        Ok(response) => self.phase = Phase::Streaming(response.stream),
                        Err(error) => {
                            let error = from_genai(&self.ctx(), &error);
                            return Some(self.retry_or_fail(error));
                        }
                    }
                }
                Phase::Streaming(mut stream) => match stream.next().await {
                    None => {
                        return Some(Err(self
                            .ctx()
                            .network("the stream ended before the reply was complete")));
                    }
                    Some(Err(error)) => {
                        let error = from_genai(&self.ctx(), &error);
                        return Some(self.retry_or_fail(error));
                    }
                    Some(Ok(event)) => {
                        let item = match event {
                            ChatStreamEvent::Chunk(chunk) if !chunk.content.is_empty() => {
                                self.text.push_str(&chunk.content);
                                StreamEvent::TextDelta(chunk.content)
                            }
                            ChatStreamEvent::ToolCallChunk(chunk) => self.progress(chunk.tool_call),
                            ChatStreamEvent::End(end) => return Some(self.finish(end)),
                            // Start comes before the request is even sent; reasoning and
                            // signatures are returned whole in the End event.
                            _ => {
                                self.phase = Phase::Streaming(stream);
                                continue;
                            }
                        };
                        self.delivered = true;
                        self.phase = Phase::Streaming(stream);
                        return Some(Ok(item));
                    }
                },
            }
        }
    }

    /// A failed attempt: when `error` may be retried, says so (a `Retrying` event, so the
    /// trace and the user see the wait) and arms the backoff; else the error ends the stream.
    fn retry_or_fail(&mut self, error: LlmError) -> Result<StreamEvent, LlmError> {
        if self.delivered || !error.is_retryable() {
            return Err(error);
        }
        let policy = &self.inner.options.retry;
        let Some(wait) = policy.delay(self.retries, error.retry_after()) else {
            return Err(error);
        };
        self.retries += 1;
        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        tracing::warn!(
            provider = %self.inner.describe(),
            retry = self.retries,
            wait_ms,
            "LLM request failed, retrying: {error}"
        );
        self.phase = Phase::Backoff(wait);
        Ok(StreamEvent::Retrying {
            attempt: self.retries,
            max_retries: policy.max_retries,
            wait_ms,
            reason: error.to_string(),
        })
    }

    fn progress(&mut self, call: genai::chat::ToolCall) -> StreamEvent {
        // Gemini sends each call whole, in one chunk (and its made-up ids can repeat across
        // chunks), so every chunk is a new call; elsewhere chunks of one call share its id.
        let index = match self.call_ids.iter().position(|id| *id == call.call_id) {
            Some(index) if self.inner.target.wire != Wire::Gemini => index,
            _ => {
                self.call_ids.push(call.call_id.clone());
                self.call_ids.len() - 1
            }
        };
        let arguments_so_far = match call.fn_arguments {
            serde_json::Value::String(text) => text,
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        };
        StreamEvent::ToolCallProgress {
            index,
            id: Some(call.call_id).filter(|id| !id.is_empty()),
            name: Some(call.fn_name).filter(|name| !name.is_empty()),
            arguments_so_far,
        }
    }

    fn finish(&mut self, end: StreamEnd) -> Result<StreamEvent, LlmError> {
        let stop_reason = end
            .captured_stop_reason
            .as_ref()
            .map(|r| r.raw().to_owned());
        if self.inner.target.wire == Wire::Gemini && stop_reason.is_none() {
            return Err(self
                .ctx()
                .network("the stream ended without a finishReason (reply incomplete)"));
        }
        let calls = convert::final_tool_calls(&end).map_err(|bad| {
            let cut = match stop_reason.as_deref() {
                Some("length" | "max_tokens" | "MAX_TOKENS") => {
                    " (the reply was cut off by the max_tokens limit)"
                }
                _ => "",
            };
            self.ctx().malformed(&format!(
                "the arguments of the call to tool \"{}\" are not valid JSON: {}{cut}",
                bad.name, bad.error
            ))
        })?;
        let provider_state = convert::provider_state(self.inner.target.wire, &end, &calls);
        let usage = end.captured_usage.as_ref().and_then(|usage| {
            let count = |n: Option<i32>| n.and_then(|n| u64::try_from(n).ok());
            let (input, output) = (count(usage.prompt_tokens), count(usage.completion_tokens));
            (input.is_some() || output.is_some()).then(|| Usage {
                input_tokens: input.unwrap_or(0),
                output_tokens: output.unwrap_or(0),
            })
        });
        Ok(StreamEvent::Finished {
            text: std::mem::take(&mut self.text),
            reasoning: end
                .captured_reasoning_content
                .clone()
                .filter(|text| !text.is_empty()),
            tool_calls: calls
                .into_iter()
                .map(|final_call| final_call.call)
                .collect(),
            usage,
            stop_reason,
            provider_state,
        })
    }
}

/// Maps a genai error to ours. genai keeps the real cause boxed inside `WebStream`, so that is
/// unwrapped first.
fn from_genai(ctx: &ErrorContext<'_>, error: &genai::Error) -> LlmError {
    use genai::Error as G;
    if let Some(status) = error.status() {
        let retry_after = error
            .headers()
            .and_then(|h| parse_retry_after(h, SystemTime::now()));
        let body = match error {
            G::HttpError { body, .. } => body.clone(),
            G::WebModelCall {
                webc_error: genai::webc::Error::ResponseFailedStatus { body, .. },
                ..
            } => body.clone(),
            other => other.to_string(),
        };
        return ctx.http_error(status.as_u16(), retry_after, &body);
    }
    match error {
        G::WebStream {
            error: inner,
            cause,
            ..
        } => classify_boxed(ctx, inner.as_ref(), cause),
        G::WebModelCall {
            webc_error: genai::webc::Error::Reqwest(e),
            ..
        } => classify_reqwest(ctx, e),
        G::ChatResponse { body, .. } => ctx.stream_error(body),
        G::StreamParse { serde_error, .. } => {
            ctx.malformed(&format!("a stream chunk is not valid JSON: {serde_error}"))
        }
        G::JsonValueExt(e) => {
            ctx.malformed(&format!("a stream chunk lacks an expected field: {e}"))
        }
        G::SerdeJson(e) => ctx.malformed(&e.to_string()),
        G::InvalidJsonResponseElement { .. }
        | G::NoChatResponse { .. }
        | G::ChatResponseGeneration { .. } => ctx.malformed(&first_line(&error.to_string())),
        other => ctx.config(&first_line(&other.to_string())),
    }
}

fn classify_boxed(
    ctx: &ErrorContext<'_>,
    inner: &(dyn StdError + Send + Sync + 'static),
    cause: &str,
) -> LlmError {
    if let Some(error) = inner.downcast_ref::<genai::Error>() {
        return from_genai(ctx, error);
    }
    if let Some(timeout) = inner.downcast_ref::<genai::webc::StreamTimeout>() {
        return ctx.timeout(&match timeout {
            genai::webc::StreamTimeout::Headers => {
                format!("no response within {:?}", ctx.request_timeout)
            }
            genai::webc::StreamTimeout::Read => {
                format!(
                    "the reply stalled: nothing received for {:?}",
                    ctx.idle_timeout
                )
            }
        });
    }
    if let Some(error) = inner.downcast_ref::<reqwest::Error>() {
        return classify_reqwest(ctx, error);
    }
    ctx.network(cause)
}

fn classify_reqwest(ctx: &ErrorContext<'_>, error: &reqwest::Error) -> LlmError {
    let message = error_chain(error);
    if error.is_timeout() {
        ctx.timeout(&message)
    } else {
        ctx.network(&message)
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}
