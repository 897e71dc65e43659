//! A loopback mock LLM server (axum) speaking the three wire formats the `llm` module uses:
//! OpenAI `POST /v1/chat/completions`, Anthropic `POST /v1/messages`, Gemini
//! `POST /v1beta/models/{model}:streamGenerateContent?alt=sse` and `:generateContent`.
//! (Any path ending in `/chat/completions` is OpenAI, so Azure deployment URLs work too.)
//!
//! A test pushes scripted [`Reply`]s, which are served in order, one per request, rendered in
//! the wire format of the endpoint that was hit: streamed chunk by chunk as server-sent events
//! with a small delay between chunks, or as one JSON body when the request did not ask for a
//! stream. Every request is kept in a journal ([`Recorded`]) so tests can check what was sent.
//! Self-contained: binds 127.0.0.1:0 and never reaches anything else.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::serve::ListenerExt;
use serde_json::{Value, json};

/// One scripted reply, in wire-neutral terms.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Text streamed in these chunks (one SSE event each), then a normal stop.
    Text {
        chunks: Vec<String>,
        usage: (u64, u64),
    },
    /// Optional text, then tool calls, each call's arguments split into the given chunks
    /// (Gemini cannot split a call: it gets each call whole, all in one chunk).
    ToolCalls {
        text: Vec<String>,
        calls: Vec<MockCall>,
        usage: (u64, u64),
    },
    /// An HTTP error: status, extra headers, body (sent as `application/json`).
    Status {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Exactly these SSE events (each sent as given, followed by a blank line).
    RawSse(Vec<String>),
    /// These text chunks, then silence for `stall` before the connection closes.
    Stall {
        chunks: Vec<String>,
        stall: Duration,
    },
    /// Waits `delay` before sending the response headers of `then`.
    SlowHeaders { delay: Duration, then: Box<Reply> },
}

/// A tool call in a scripted reply.
#[derive(Debug, Clone)]
pub struct MockCall {
    pub id: String,
    pub name: String,
    pub argument_chunks: Vec<String>,
}

impl MockCall {
    pub fn new(id: &str, name: &str, argument_chunks: &[&str]) -> MockCall {
        MockCall {
            id: id.into(),
            name: name.into(),
            argument_chunks: argument_chunks.iter().map(|c| (*c).into()).collect(),
        }
    }

    fn arguments_text(&self) -> String {
        self.argument_chunks.concat()
    }

    fn arguments_value(&self) -> Value {
        serde_json::from_str(&self.arguments_text()).unwrap_or(Value::String(self.arguments_text()))
    }
}

impl Reply {
    pub fn text(chunks: &[&str], usage: (u64, u64)) -> Reply {
        Reply::Text {
            chunks: chunks.iter().map(|c| (*c).into()).collect(),
            usage,
        }
    }

    pub fn tool_calls(calls: Vec<MockCall>, usage: (u64, u64)) -> Reply {
        Reply::ToolCalls {
            text: Vec::new(),
            calls,
            usage,
        }
    }

    pub fn status(status: u16, body: Value) -> Reply {
        Reply::Status {
            status,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    pub fn with_header(self, name: &str, value: &str) -> Reply {
        match self {
            Reply::Status {
                status,
                mut headers,
                body,
            } => {
                headers.push((name.into(), value.into()));
                Reply::Status {
                    status,
                    headers,
                    body,
                }
            }
            other => other,
        }
    }

    pub fn raw_sse(events: &[&str]) -> Reply {
        Reply::RawSse(events.iter().map(|e| (*e).into()).collect())
    }
}

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lowercased names, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The JSON body (`Value::String` of the raw text if it was not JSON).
    pub body: Value,
    pub at: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct MockState {
    replies: Mutex<VecDeque<Reply>>,
    journal: Mutex<Vec<Recorded>>,
    chunk_delay: Mutex<Duration>,
}

/// The running server; stops when dropped.
pub struct MockLlm {
    base: String,
    state: Arc<MockState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockLlm {
    pub async fn start() -> MockLlm {
        let state = Arc::new(MockState::default());
        *state.chunk_delay.lock().expect("llm_mock lock") = Duration::from_millis(5);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let base = format!("http://{}", listener.local_addr().expect("local address"));
        let app = Router::new().fallback(handle).with_state(state.clone());
        // Without TCP_NODELAY, small SSE writes meet the client's delayed ACK and each reply
        // stalls ~40 ms: real providers do not, and neither should the stand-in.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        MockLlm { base, state, task }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn push(&self, reply: Reply) {
        self.state
            .replies
            .lock()
            .expect("llm_mock lock")
            .push_back(reply);
    }

    pub fn journal(&self) -> Vec<Recorded> {
        self.state.journal.lock().expect("llm_mock lock").clone()
    }

    pub fn set_chunk_delay(&self, delay: Duration) {
        *self.state.chunk_delay.lock().expect("llm_mock lock") = delay;
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Wire {
    OpenAi,
    Anthropic,
    Gemini,
}

async fn handle(
    State(state): State<Arc<MockState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    let json_body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    let path = uri.path().to_owned();
    state.journal.lock().expect("llm_mock lock").push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        query: uri.query().map(str::to_owned),
        headers: headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    v.to_str().unwrap_or("<binary>").to_owned(),
                )
            })
            .collect(),
        body: json_body.clone(),
        at: Instant::now(),
    });
    let (wire, streaming, model) = if path.ends_with("/chat/completions") {
        (
            Wire::OpenAi,
            json_body["stream"] == json!(true),
            json_body["model"].as_str().unwrap_or("").to_owned(),
        )
    } else if path.ends_with("/messages") {
        (
            Wire::Anthropic,
            json_body["stream"] == json!(true),
            json_body["model"].as_str().unwrap_or("").to_owned(),
        )
    } else if let Some((model, action)) = path
        .rsplit('/')
        .next()
        .and_then(|last| last.split_once(':'))
    {
        (
            Wire::Gemini,
            action == "streamGenerateContent",
            model.to_owned(),
        )
    } else {
        return json_response(
            404,
            &[],
            json!({"error": {"message": format!("llm_mock: no route for {path}")}}).to_string(),
        );
    };
    let Some(reply) = state.replies.lock().expect("llm_mock lock").pop_front() else {
        // 418, not 5xx: a missing script must fail the test at once, not be retried.
        return json_response(
            418,
            &[],
            json!({"error": {"message": "llm_mock: no scripted reply left"}}).to_string(),
        );
    };
    let delay = *state.chunk_delay.lock().expect("llm_mock lock");
    let include_usage = json_body.pointer("/stream_options/include_usage") == Some(&json!(true));
    respond(reply, wire, streaming, &model, include_usage, delay).await
}

async fn respond(
    reply: Reply,
    wire: Wire,
    streaming: bool,
    model: &str,
    include_usage: bool,
    delay: Duration,
) -> Response {
    let mut reply = reply;
    while let Reply::SlowHeaders { delay, then } = reply {
        tokio::time::sleep(delay).await;
        reply = *then;
    }
    let (text, calls, usage, stall) = match reply {
        Reply::Status {
            status,
            headers,
            body,
        } => return json_response(status, &headers, body),
        Reply::RawSse(events) => return sse_response(events, delay, None, "\n\n"),
        Reply::Text { chunks, usage } => (chunks, Vec::new(), usage, None),
        Reply::ToolCalls { text, calls, usage } => (text, calls, usage, None),
        Reply::Stall { chunks, stall } => (chunks, Vec::new(), (0, 0), Some(stall)),
        Reply::SlowHeaders { .. } => unreachable!("unwrapped above"),
    };
    if !streaming {
        return json_response(
            200,
            &[],
            whole(wire, model, &text, &calls, usage).to_string(),
        );
    }
    let mut events = match wire {
        Wire::OpenAi => openai_events(model, &text, &calls, usage, include_usage),
        Wire::Anthropic => anthropic_events(model, &text, &calls, usage),
        Wire::Gemini => gemini_events(model, &text, &calls, usage),
    };
    if stall.is_some() {
        // Keep only the opening and the text: the reply never finishes.
        let keep = match wire {
            Wire::OpenAi => 1 + text.len(),
            Wire::Anthropic => 3 + text.len(),
            Wire::Gemini => text.len().saturating_sub(1),
        };
        events.truncate(keep);
    }
    // Gemini's SSE separates events with CRLF CRLF; the others with LF LF.
    let separator = if wire == Wire::Gemini {
        "\r\n\r\n"
    } else {
        "\n\n"
    };
    sse_response(events, delay, stall, separator)
}

fn json_response(status: u16, headers: &[(String, String)], body: String) -> Response {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(status).expect("valid status"))
        .header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder.body(Body::from(body)).expect("valid response")
}

fn sse_response(
    events: Vec<String>,
    delay: Duration,
    stall: Option<Duration>,
    separator: &str,
) -> Response {
    let mut frames: VecDeque<(Duration, Bytes)> = events
        .into_iter()
        .map(|e| (delay, Bytes::from(format!("{e}{separator}"))))
        .collect();
    if let Some(stall) = stall {
        frames.push_back((stall, Bytes::new()));
    }
    let stream = futures::stream::unfold(frames, |mut frames| async move {
        let (wait, bytes) = frames.pop_front()?;
        tokio::time::sleep(wait).await;
        Some((Ok::<_, Infallible>(bytes), frames))
    });
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(stream))
        .expect("valid response")
}

fn data(value: Value) -> String {
    format!("data: {value}")
}

fn openai_events(
    model: &str,
    text: &[String],
    calls: &[MockCall],
    (input, output): (u64, u64),
    include_usage: bool,
) -> Vec<String> {
    let chunk = |delta: Value, finish: Value| {
        let mut value = json!({
            "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
        });
        if include_usage {
            value["usage"] = Value::Null;
        }
        data(value)
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    events.extend(
        text.iter()
            .map(|t| chunk(json!({"content": t}), Value::Null)),
    );
    for (index, call) in calls.iter().enumerate() {
        events.push(chunk(
            json!({"tool_calls": [{"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}]}),
            Value::Null,
        ));
        for piece in &call.argument_chunks {
            events.push(chunk(
                json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
                Value::Null,
            ));
        }
    }
    let finish = if calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    events.push(chunk(json!({}), json!(finish)));
    if include_usage {
        events.push(data(json!({
            "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model, "choices": [],
            "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output}
        })));
    }
    events.push("data: [DONE]".to_owned());
    events
}

fn anthropic_event(kind: &str, value: Value) -> String {
    format!("event: {kind}\ndata: {value}")
}

fn anthropic_events(
    model: &str,
    text: &[String],
    calls: &[MockCall],
    (input, output): (u64, u64),
) -> Vec<String> {
    let mut events = vec![
        anthropic_event(
            "message_start",
            json!({"type": "message_start", "message": {
            "id": "msg_mock", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": input, "output_tokens": 1}}}),
        ),
        anthropic_event("ping", json!({"type": "ping"})),
    ];
    let mut index = 0;
    if !text.is_empty() {
        events.push(anthropic_event("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})));
        for piece in text {
            events.push(anthropic_event("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}})));
        }
        events.push(anthropic_event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ));
        index = 1;
    }
    for call in calls {
        events.push(anthropic_event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index,
            "content_block": {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}}),
        ));
        for piece in &call.argument_chunks {
            events.push(anthropic_event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index,
                "delta": {"type": "input_json_delta", "partial_json": piece}}),
            ));
        }
        events.push(anthropic_event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
        index += 1;
    }
    let stop = if calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    };
    events.push(anthropic_event(
        "message_delta",
        json!({"type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": output}}),
    ));
    events.push(anthropic_event(
        "message_stop",
        json!({"type": "message_stop"}),
    ));
    events
}

fn gemini_chunk(
    model: &str,
    parts: Vec<Value>,
    finish: bool,
    (input, output): (u64, u64),
) -> Value {
    let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    let mut usage = json!({"promptTokenCount": input, "totalTokenCount": input});
    if finish {
        candidate["finishReason"] = json!("STOP");
        usage = json!({"promptTokenCount": input, "candidatesTokenCount": output, "totalTokenCount": input + output});
    }
    json!({"candidates": [candidate], "usageMetadata": usage, "modelVersion": model, "responseId": "mock-response"})
}

fn gemini_events(
    model: &str,
    text: &[String],
    calls: &[MockCall],
    usage: (u64, u64),
) -> Vec<String> {
    // Gemini puts finishReason (and the full usage) on the last chunk.
    let mut chunks: Vec<Vec<Value>> = text.iter().map(|t| vec![json!({"text": t})]).collect();
    if !calls.is_empty() {
        chunks.push(
            calls
                .iter()
                .map(|c| json!({"functionCall": {"name": c.name, "args": c.arguments_value()}}))
                .collect(),
        );
    }
    if chunks.is_empty() {
        chunks.push(vec![json!({"text": ""})]);
    }
    let last = chunks.len() - 1;
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, parts)| data(gemini_chunk(model, parts, i == last, usage)))
        .collect()
}

/// The non-streamed reply body.
fn whole(
    wire: Wire,
    model: &str,
    text: &[String],
    calls: &[MockCall],
    (input, output): (u64, u64),
) -> Value {
    let text = text.concat();
    match wire {
        Wire::OpenAi => {
            let mut message = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) }});
            if !calls.is_empty() {
                message["tool_calls"] = calls
                    .iter()
                    .map(|c| {
                        json!({"id": c.id, "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments_text()}})
                    })
                    .collect();
            }
            json!({"id": "chatcmpl-mock", "object": "chat.completion", "created": 1_700_000_000, "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": if calls.is_empty() { "stop" } else { "tool_calls" }}],
                "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output}})
        }
        Wire::Anthropic => {
            let mut content: Vec<Value> = Vec::new();
            if !text.is_empty() {
                content.push(json!({"type": "text", "text": text}));
            }
            content.extend(calls.iter().map(|c| json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments_value()})));
            json!({"id": "msg_mock", "type": "message", "role": "assistant", "model": model, "content": content,
                "stop_reason": if calls.is_empty() { "end_turn" } else { "tool_use" }, "stop_sequence": null,
                "usage": {"input_tokens": input, "output_tokens": output}})
        }
        Wire::Gemini => {
            let mut parts: Vec<Value> = Vec::new();
            if !text.is_empty() {
                parts.push(json!({"text": text}));
            }
            parts.extend(
                calls.iter().map(
                    |c| json!({"functionCall": {"name": c.name, "args": c.arguments_value()}}),
                ),
            );
            gemini_chunk(model, parts, true, (input, output))
        }
    }
}
