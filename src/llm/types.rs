//! The provider-neutral data the agent exchanges with an LLM: one [`ChatRequest`] in, a stream
//! of [`StreamEvent`]s out. Nothing here knows about a wire format; `convert` maps these types
//! onto genai's, and back.

use serde::{Deserialize, Serialize};

/// One request to the model: the whole conversation so far plus the tools it may call.
///
/// `max_tokens`, `temperature` and `top_p` override the values of the `LLM` config block for
/// this request only; `None` keeps the configured value (or the provider's default).
///
/// Saved traces carry requests (`model_request` steps), so every field but the messages may be
/// missing when read — written by a version that did not have it, or left out because it was
/// empty — and reads as "none".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    pub messages: Vec<ChatMessage>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Stop sequences; empty sends none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ChatMessage {
    User(String),
    /// An assistant turn; `tool_calls` the calls it asked for. `provider_state` carries whatever
    /// must be echoed back verbatim on the next request (e.g. Anthropic/Gemini thinking signatures).
    Assistant {
        text: String,
        tool_calls: Vec<ToolCall>,
        provider_state: Option<serde_json::Value>,
    },
    /// The result of one tool call. `name` is the called tool's name: Gemini matches results to
    /// calls by name, not id. `is_error` is sent as Anthropic's `is_error` flag; the other wire
    /// formats have no such flag, so there the content is prefixed with `Error: `.
    ToolResult {
        call_id: String,
        name: String,
        content: String,
        is_error: bool,
    },
}

impl ChatMessage {
    /// A user turn.
    pub fn user(text: impl Into<String>) -> Self {
        ChatMessage::User(text.into())
    }

    /// A plain-text assistant turn (no tool calls, no provider state).
    pub fn assistant(text: impl Into<String>) -> Self {
        ChatMessage::Assistant {
            text: text.into(),
            tool_calls: Vec::new(),
            provider_state: None,
        }
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

/// A complete tool call requested by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for the call (Gemini has none: genai makes one up, `call#NAME#N`).
    pub id: String,
    pub name: String,
    /// Always a JSON value parsed from what the model sent (an object for well-behaved models).
    pub arguments: serde_json::Value,
}

/// Token counts of one reply, as reported by the provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens, including cached ones.
    pub input_tokens: u64,
    /// Generated tokens, including reasoning ones.
    pub output_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// One event of a streamed reply. A successful stream ends with exactly one `Finished`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StreamEvent {
    /// The next piece of the reply's text.
    TextDelta(String),
    /// Progress of a tool call being streamed (index in this reply, id/name once known, and the
    /// arguments text so far) — for showing it live; the final calls come in `Finished`.
    ToolCallProgress {
        index: usize,
        id: Option<String>,
        name: Option<String>,
        arguments_so_far: String,
    },
    /// The request failed in a way worth another try (429, 5xx, a dropped connection before
    /// anything arrived): retry `attempt` of `max_retries` follows after `wait_ms`.
    Retrying {
        attempt: u32,
        max_retries: u32,
        wait_ms: u64,
        /// Why the attempt failed, as the error would have said it.
        reason: String,
    },
    /// The reply is complete. `text` is the concatenation of every `TextDelta`.
    Finished {
        text: String,
        /// The model's reasoning ("thinking") text, where the provider sends it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reasoning: Option<String>,
        tool_calls: Vec<ToolCall>,
        usage: Option<Usage>,
        /// The provider's own stop reason (`stop`, `tool_calls`, `end_turn`, `STOP`, ...).
        stop_reason: Option<String>,
        provider_state: Option<serde_json::Value>,
    },
}

impl StreamEvent {
    /// The assistant turn to append to the conversation after a `Finished` event.
    pub fn to_assistant_message(&self) -> Option<ChatMessage> {
        match self {
            StreamEvent::Finished {
                text,
                tool_calls,
                provider_state,
                ..
            } => Some(ChatMessage::Assistant {
                text: text.clone(),
                tool_calls: tool_calls.clone(),
                provider_state: provider_state.clone(),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_with_only_its_messages_reads_with_the_rest_empty() {
        let line = r#"{"messages":[{"User":"add 2 and 40"}]}"#;
        let request: ChatRequest = serde_json::from_str(line).expect("reads");
        assert_eq!(
            request,
            ChatRequest {
                messages: vec![ChatMessage::user("add 2 and 40")],
                ..ChatRequest::default()
            }
        );
        // Empty fields are left out when written, so the same line comes back.
        assert_eq!(serde_json::to_string(&request).ok().as_deref(), Some(line));
    }

    #[test]
    fn a_request_line_from_an_older_version_reads_inside_a_trace_step() {
        // No `tools`, `top_p` or `stop` (an older writer), an unknown field (a newer one).
        let line = r#"{"v":1,"id":2,"parent":1,"turn":1,"started_ms":5,"status":"ok",
            "kind":"model_request","model":"openai/gpt-4o","request":{"system":"be brief",
            "messages":[{"User":"hi"}],"max_tokens":null,"temperature":0.5,"seed":7}}"#;
        let step = crate::protocol::TraceStep::from_json_line(line).expect("reads");
        let crate::protocol::StepBody::ModelRequest { request, .. } = step.body else {
            panic!("a model request: {:?}", step.body);
        };
        assert_eq!(request.system.as_deref(), Some("be brief"));
        assert_eq!(request.messages, vec![ChatMessage::user("hi")]);
        assert!(request.tools.is_empty() && request.stop.is_empty());
        assert_eq!((request.max_tokens, request.top_p), (None, None));
        assert_eq!(request.temperature, Some(0.5));
    }
}
