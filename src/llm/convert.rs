//! Our types to genai's and back: the request (messages, tools, options) on the way out; the
//! final tool calls and the `provider_state` (thinking signatures) on the way back.
//!
//! `provider_state` is our own JSON, keyed by wire format, so it survives a genai upgrade:
//! - Anthropic: `{"anthropic": {"thinking_blocks": [<raw thinking/redacted_thinking blocks>]}}`
//! - Gemini: `{"gemini": {"thought_signatures": [..], "call_signatures": {"<call id>": [..]}}}`
//!
//! A state recorded for another wire format is ignored (the provider cannot verify it anyway).

use std::collections::HashSet;
use std::time::Duration;

use genai::chat::{self as g, ContentPart, CustomPart, MessageContent, StreamEnd};
use serde_json::{Map, Value, json};

use super::setup::Wire;
use super::types::{ChatMessage, ChatRequest, ToolCall};

/// Sampling values from the config block, used when a request leaves them unset.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sampling {
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub top_p: Option<f64>,
}

pub(crate) fn to_genai(
    wire: Wire,
    request: &ChatRequest,
    sampling: Sampling,
    (header_timeout, idle_timeout): (Duration, Duration),
) -> (g::ChatRequest, g::ChatOptions) {
    let mut out = g::ChatRequest::new(messages(wire, &request.messages));
    out.system = request.system.clone().filter(|s| !s.is_empty());
    if !request.tools.is_empty() {
        out.tools = Some(request.tools.iter().map(tool).collect());
    }
    let mut options = g::ChatOptions::default()
        .with_capture_usage(true)
        .with_capture_tool_calls(true)
        // The reasoning text goes into the trace; Anthropic also hands back thinking
        // signatures only with the reasoning they sign. For Gemini this flag would ask for
        // thought summaries (`includeThoughts`), which costs tokens, so not there.
        .with_capture_reasoning_content(wire != Wire::Gemini)
        .with_stream_header_timeout(header_timeout)
        .with_stream_read_timeout(idle_timeout);
    if let Some(t) = request.temperature.or(sampling.temperature) {
        options = options.with_temperature(t);
    }
    if let Some(m) = request.max_tokens.or(sampling.max_tokens) {
        options = options.with_max_tokens(m);
    }
    if let Some(p) = request.top_p.or(sampling.top_p) {
        options = options.with_top_p(p);
    }
    if !request.stop.is_empty() {
        options = options.with_stop_sequences(request.stop.clone());
    }
    if wire == Wire::OpenAi {
        // genai reads a trailing `-low`/`-high`/`-max`/... of the model name as a reasoning
        // effort and strips it (`qwen-max` would be sent as `qwen`). An explicit effort turns
        // that off, and a `Budget` effort writes nothing into an OpenAI request.
        options = options.with_reasoning_effort(g::ReasoningEffort::Budget(0));
    }
    (out, options)
}

fn tool(spec: &super::types::ToolSpec) -> g::Tool {
    let mut tool = g::Tool::new(spec.name.as_str()).with_schema(spec.parameters.clone());
    if !spec.description.is_empty() {
        tool = tool.with_description(spec.description.as_str());
    }
    tool
}

fn messages(wire: Wire, messages: &[ChatMessage]) -> Vec<g::ChatMessage> {
    let mut out = Vec::with_capacity(messages.len());
    // Consecutive tool results become one turn: Anthropic wants every result of a parallel
    // call in the user turn right after it, and Gemini in one `functionResponse` turn.
    let mut results: Vec<ContentPart> = Vec::new();
    for message in messages {
        if let ChatMessage::ToolResult {
            call_id,
            name,
            content,
            is_error,
        } = message
        {
            results.push(tool_result(wire, call_id, name, content, *is_error));
            continue;
        }
        if !results.is_empty() {
            out.push(g::ChatMessage::tool(MessageContent::from_parts(
                std::mem::take(&mut results),
            )));
        }
        match message {
            ChatMessage::User(text) => out.push(g::ChatMessage::user(text.as_str())),
            ChatMessage::Assistant {
                text,
                tool_calls,
                provider_state,
            } => {
                let parts = assistant_parts(wire, text, tool_calls, provider_state.as_ref());
                // An empty turn would be rejected (Anthropic: "text content blocks must be
                // non-empty"); leaving it out loses nothing.
                if !parts.is_empty() {
                    out.push(g::ChatMessage::assistant(MessageContent::from_parts(parts)));
                }
            }
            ChatMessage::ToolResult { .. } => {}
        }
    }
    if !results.is_empty() {
        out.push(g::ChatMessage::tool(MessageContent::from_parts(results)));
    }
    out
}

fn tool_result(
    wire: Wire,
    call_id: &str,
    name: &str,
    content: &str,
    is_error: bool,
) -> ContentPart {
    if is_error && wire == Wire::Anthropic {
        // genai's ToolResponse has no error flag; a custom part goes out verbatim.
        return ContentPart::Custom(CustomPart {
            model_iden: None,
            data: json!({"type": "tool_result", "tool_use_id": call_id, "content": content, "is_error": true}),
        });
    }
    let content = if is_error {
        format!("Error: {content}")
    } else {
        content.to_owned()
    };
    ContentPart::ToolResponse(g::ToolResponse::new(call_id, content).with_fn_name(name))
}

fn assistant_parts(
    wire: Wire,
    text: &str,
    calls: &[ToolCall],
    state: Option<&Value>,
) -> Vec<ContentPart> {
    let mut parts = Vec::new();
    let mut call_signatures = Map::new();
    match (wire, state) {
        (Wire::Anthropic, Some(state)) => {
            for block in array_at(state, "/anthropic/thinking_blocks") {
                parts.push(ContentPart::Custom(CustomPart {
                    model_iden: None,
                    data: block.clone(),
                }));
            }
        }
        (Wire::Gemini, Some(state)) => {
            for signature in array_at(state, "/gemini/thought_signatures")
                .iter()
                .filter_map(Value::as_str)
            {
                parts.push(ContentPart::ThoughtSignature(signature.to_owned()));
            }
            if let Some(map) = state
                .pointer("/gemini/call_signatures")
                .and_then(Value::as_object)
            {
                call_signatures = map.clone();
            }
        }
        _ => {}
    }
    if !text.is_empty() {
        parts.push(ContentPart::Text(text.to_owned()));
    }
    for call in calls {
        let signatures = call_signatures
            .get(&call.id)
            .and_then(Value::as_array)
            .map(|sigs| {
                sigs.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            });
        parts.push(ContentPart::ToolCall(g::ToolCall {
            call_id: call.id.clone(),
            fn_name: call.name.clone(),
            fn_arguments: call.arguments.clone(),
            thought_signatures: signatures,
        }));
    }
    parts
}

fn array_at<'a>(value: &'a Value, pointer: &str) -> &'a [Value] {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// A final tool call whose arguments are not JSON: `(tool name, parse error)`.
pub(crate) struct BadArguments {
    pub name: String,
    pub error: String,
}

/// A complete tool call of a finished reply, with the thought signatures genai attached to it
/// (Gemini), which go into `provider_state`.
pub(crate) struct FinalCall {
    pub call: ToolCall,
    pub signatures: Option<Vec<String>>,
}

/// The complete tool calls of a finished reply, with parsed arguments and unique ids.
pub(crate) fn final_tool_calls(end: &StreamEnd) -> Result<Vec<FinalCall>, BadArguments> {
    let mut seen = HashSet::new();
    let mut calls = Vec::new();
    for call in end.captured_tool_calls().unwrap_or_default() {
        let arguments = parse_arguments(&call.fn_arguments).map_err(|error| BadArguments {
            name: call.fn_name.clone(),
            error,
        })?;
        let id = unique_id(&call.call_id, &call.fn_name, &mut seen);
        calls.push(FinalCall {
            call: ToolCall {
                id,
                name: call.fn_name.clone(),
                arguments,
            },
            signatures: call.thought_signatures.clone(),
        });
    }
    Ok(calls)
}

/// genai numbers the ids it invents for Gemini calls (`call#NAME#N`) per stream chunk, so two
/// calls of one tool in two chunks would share an id. Later duplicates get the next free
/// number (still in genai's pattern, which it knows not to send back to Gemini as an id).
fn unique_id(id: &str, name: &str, seen: &mut HashSet<String>) -> String {
    let mut candidate = id.to_owned();
    let mut n = 1;
    while !seen.insert(candidate.clone()) {
        candidate = if id.starts_with("call#") {
            format!("call#{name}#{n}")
        } else {
            format!("{id}#{n}")
        };
        n += 1;
    }
    candidate
}

fn parse_arguments(value: &Value) -> Result<Value, String> {
    match value {
        // A call without arguments streams none (or `""`); the tool still gets an object.
        Value::Null => Ok(json!({})),
        Value::String(text) if text.trim().is_empty() => Ok(json!({})),
        // genai leaves the accumulated text as a string when it does not parse.
        Value::String(text) => serde_json::from_str(text).map_err(|e| e.to_string()),
        other => Ok(other.clone()),
    }
}

/// What must go back with this reply next time (see the module docs), or `None`.
pub(crate) fn provider_state(wire: Wire, end: &StreamEnd, calls: &[FinalCall]) -> Option<Value> {
    let parts = end
        .captured_content
        .as_ref()
        .map(|c| c.parts().as_slice())
        .unwrap_or_default();
    match wire {
        Wire::OpenAi => None,
        Wire::Anthropic => {
            let blocks = anthropic_thinking_blocks(parts);
            (!blocks.is_empty()).then(|| json!({"anthropic": {"thinking_blocks": blocks}}))
        }
        Wire::Gemini => {
            let leading: Vec<&str> = parts
                .iter()
                .filter_map(ContentPart::as_thought_signature)
                .collect();
            let mut by_call = Map::new();
            for FinalCall { call, signatures } in calls {
                if let Some(signatures) = signatures.as_ref().filter(|s| !s.is_empty()) {
                    by_call.insert(call.id.clone(), json!(signatures));
                }
            }
            if leading.is_empty() && by_call.is_empty() {
                return None;
            }
            Some(json!({"gemini": {"thought_signatures": leading, "call_signatures": by_call}}))
        }
    }
}

/// genai reports a signed thinking block as `ThoughtSignature` then `ReasoningContent`, and a
/// redacted one as a custom part; rebuild Anthropic's own blocks, in order.
fn anthropic_thinking_blocks(parts: &[ContentPart]) -> Vec<Value> {
    let mut blocks = Vec::new();
    let mut signature: Option<&str> = None;
    let signed = |thinking: &str, signature: &str| json!({"type": "thinking", "thinking": thinking, "signature": signature});
    for part in parts {
        match part {
            ContentPart::ThoughtSignature(next) => {
                if let Some(previous) = signature.replace(next) {
                    blocks.push(signed("", previous));
                }
            }
            ContentPart::ReasoningContent(thinking) => {
                if let Some(signature) = signature.take() {
                    blocks.push(signed(thinking, signature));
                }
            }
            ContentPart::Custom(custom)
                if matches!(custom.typ(), Some("thinking" | "redacted_thinking")) =>
            {
                if let Some(previous) = signature.take() {
                    blocks.push(signed("", previous));
                }
                blocks.push(custom.data.clone());
            }
            _ => {}
        }
    }
    if let Some(previous) = signature {
        blocks.push(signed("", previous));
    }
    blocks
}
