//! Contract tests of the LLM provider layer against a loopback mock server that speaks the
//! OpenAI, Anthropic and Gemini wire formats (`support/llm_mock.rs`).
//!
//! They check our behaviour (events, errors, retries, what goes on the wire) and pin the
//! behaviour of the genai version we depend on (`pin_*` tests): genai changes often, and these
//! are what should fail first when it does. Only 127.0.0.1 is ever contacted.

#[path = "support/llm_mock.rs"]
mod llm_mock;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use llm_mock::{MockCall, MockLlm, Recorded, Reply};
use mcpomni::config::LlmConfig;
use mcpomni::llm::{
    ChatMessage, ChatRequest, LlmError, LlmProvider, ProviderOptions, RetryPolicy, StreamEvent,
    ToolCall, ToolSpec, Usage, build_provider, build_provider_with,
};
use serde_json::{Value, json};

const KEY: &str = "sk-test-KEY-0123456789abcdef";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Wire {
    OpenAi,
    Anthropic,
    Gemini,
}

impl Wire {
    fn provider(self) -> &'static str {
        match self {
            Wire::OpenAi => "openai",
            Wire::Anthropic => "anthropic",
            Wire::Gemini => "gemini",
        }
    }

    fn model(self) -> &'static str {
        match self {
            Wire::OpenAi => "gpt-4o-mini",
            Wire::Anthropic => "claude-sonnet-4-5",
            Wire::Gemini => "gemini-2.5-flash",
        }
    }

    /// The `base_url` as a user would write it: OpenAI-style roots include `/v1`, the
    /// Anthropic and Gemini ones are bare hosts (as in their SDKs).
    fn base_url(self, mock: &MockLlm) -> String {
        match self {
            Wire::OpenAi => format!("{}/v1", mock.base_url()),
            Wire::Anthropic | Wire::Gemini => mock.base_url().to_owned(),
        }
    }

    fn path(self) -> String {
        match self {
            Wire::OpenAi => "/v1/chat/completions".to_owned(),
            Wire::Anthropic => "/v1/messages".to_owned(),
            Wire::Gemini => format!("/v1beta/models/{}:streamGenerateContent", self.model()),
        }
    }

    fn text_stop(self) -> &'static str {
        match self {
            Wire::OpenAi => "stop",
            Wire::Anthropic => "end_turn",
            Wire::Gemini => "STOP",
        }
    }

    fn tool_stop(self) -> &'static str {
        match self {
            Wire::OpenAi => "tool_calls",
            Wire::Anthropic => "tool_use",
            Wire::Gemini => "STOP",
        }
    }

    /// The id our caller sees: the provider's, or for Gemini (which sends none) genai's
    /// `call#NAME#N`, numbered within the reply.
    fn call_id(self, sent: &str, name: &str, n: usize) -> String {
        match self {
            Wire::Gemini => format!("call#{name}#{n}"),
            _ => sent.to_owned(),
        }
    }
}

fn llm_config(provider: &str, model: &str, base_url: Option<String>) -> LlmConfig {
    LlmConfig {
        provider: provider.to_owned(),
        model: model.to_owned(),
        temperature: None,
        max_tokens: None,
        top_p: None,
        max_context_length: None,
        azure_endpoint: None,
        azure_api_version: None,
        azure_deployment: None,
        ollama_host: None,
        base_url,
        price: None,
        tool_calling: Default::default(),
    }
}

fn wire_config(wire: Wire, mock: &MockLlm) -> LlmConfig {
    llm_config(wire.provider(), wire.model(), Some(wire.base_url(mock)))
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

fn fast_options() -> ProviderOptions {
    ProviderOptions {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
            max_retry_after: Duration::from_secs(5),
        },
    }
}

fn build(config: &LlmConfig, env: &dyn Fn(&str) -> Option<String>) -> Arc<dyn LlmProvider> {
    build_provider_with(config, env, fast_options()).expect("the provider should build")
}

fn provider_for(wire: Wire, mock: &MockLlm) -> Arc<dyn LlmProvider> {
    build(&wire_config(wire, mock), &env(&[("LLM_API_KEY", KEY)]))
}

async fn run(
    provider: &Arc<dyn LlmProvider>,
    request: ChatRequest,
) -> Vec<Result<StreamEvent, LlmError>> {
    tokio::time::timeout(
        Duration::from_secs(20),
        provider.stream(request).collect::<Vec<_>>(),
    )
    .await
    .expect("the stream hung")
}

fn all_ok(results: Vec<Result<StreamEvent, LlmError>>) -> Vec<StreamEvent> {
    results
        .into_iter()
        .map(|r| r.expect("unexpected error event"))
        .collect()
}

/// The events before the error, and the error, which must be the stream's last item.
fn split_error(mut results: Vec<Result<StreamEvent, LlmError>>) -> (Vec<StreamEvent>, LlmError) {
    let error = results
        .pop()
        .expect("empty stream")
        .expect_err("the stream did not end with an error");
    (all_ok(results), error)
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![ChatMessage::user(text)],
        ..ChatRequest::default()
    }
}

fn weather_tool() -> ToolSpec {
    ToolSpec {
        name: "get_weather".to_owned(),
        description: "Current weather for a city".to_owned(),
        parameters: json!({
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"]
        }),
    }
}

fn finished(text: &str, tool_calls: Vec<ToolCall>, usage: (u64, u64), stop: &str) -> StreamEvent {
    StreamEvent::Finished {
        text: text.to_owned(),
        reasoning: None,
        tool_calls,
        usage: Some(Usage {
            input_tokens: usage.0,
            output_tokens: usage.1,
        }),
        stop_reason: Some(stop.to_owned()),
        provider_state: None,
    }
}

fn progress(index: usize, id: &str, name: &str, arguments: &str) -> StreamEvent {
    StreamEvent::ToolCallProgress {
        index,
        id: Some(id.to_owned()),
        name: Some(name.to_owned()),
        arguments_so_far: arguments.to_owned(),
    }
}

fn call(id: &str, name: &str, arguments: Value) -> ToolCall {
    ToolCall {
        id: id.to_owned(),
        name: name.to_owned(),
        arguments,
    }
}

fn only_request(mock: &MockLlm) -> Recorded {
    let journal = mock.journal();
    assert_eq!(
        journal.len(),
        1,
        "expected exactly one request, got {journal:#?}"
    );
    journal.into_iter().next().expect("checked above")
}

/// The conversation array of a recorded request.
fn conversation(wire: Wire, request: &Recorded) -> Value {
    match wire {
        Wire::OpenAi | Wire::Anthropic => request.body["messages"].clone(),
        Wire::Gemini => request.body["contents"].clone(),
    }
}

/// Runs each named `async fn name(wire: Wire)` once per wire format, as `name::openai` etc.
macro_rules! per_wire {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::Wire;
            #[tokio::test]
            async fn openai() {
                super::$name(Wire::OpenAi).await
            }
            #[tokio::test]
            async fn anthropic() {
                super::$name(Wire::Anthropic).await
            }
            #[tokio::test]
            async fn gemini() {
                super::$name(Wire::Gemini).await
            }
        }
    )*};
}

per_wire!(
    text_streams_in_order,
    tool_call_split_across_chunks,
    parallel_tool_calls,
    request_carries_system_tools_and_sampling,
    config_sampling_applies_when_request_is_silent,
    tool_result_round_trip,
    rate_limit_with_retry_after_then_success,
    unauthorized_is_auth,
    unknown_model,
    context_overflow,
    malformed_chunk_is_an_error,
);

async fn text_streams_in_order(wire: Wire) {
    let mock = MockLlm::start().await;
    mock.push(Reply::text(&["Hel", "lo, ", "wor", "ld!"], (12, 4)));
    let provider = provider_for(wire, &mock);
    let events = all_ok(run(&provider, ask("hi")).await);
    assert_eq!(
        events,
        vec![
            StreamEvent::TextDelta("Hel".into()),
            StreamEvent::TextDelta("lo, ".into()),
            StreamEvent::TextDelta("wor".into()),
            StreamEvent::TextDelta("ld!".into()),
            finished("Hello, world!", vec![], (12, 4), wire.text_stop()),
        ]
    );
    let request = only_request(&mock);
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, wire.path());
    match wire {
        Wire::OpenAi => {
            assert_eq!(
                request.header("authorization"),
                Some(format!("Bearer {KEY}").as_str())
            );
            assert_eq!(request.body["stream"], json!(true));
            assert_eq!(request.body["model"], json!("gpt-4o-mini"));
            assert_eq!(
                request.body["stream_options"],
                json!({"include_usage": true})
            );
        }
        Wire::Anthropic => {
            assert_eq!(request.header("x-api-key"), Some(KEY));
            assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
            assert_eq!(request.header("authorization"), None);
            assert_eq!(request.body["stream"], json!(true));
            assert_eq!(request.body["model"], json!("claude-sonnet-4-5"));
        }
        Wire::Gemini => {
            assert_eq!(request.header("x-goog-api-key"), Some(KEY));
            assert_eq!(request.header("authorization"), None);
            assert_eq!(request.query.as_deref(), Some("alt=sse"));
        }
    }
}

async fn tool_call_split_across_chunks(wire: Wire) {
    let mock = MockLlm::start().await;
    let chunks = ["{\"ci", "ty\": \"Par", "is\", \"un", "its\": \"metric\"}"];
    mock.push(Reply::tool_calls(
        vec![MockCall::new("call_abc", "get_weather", &chunks)],
        (30, 9),
    ));
    let provider = provider_for(wire, &mock);
    let events = all_ok(
        run(
            &provider,
            ChatRequest {
                tools: vec![weather_tool()],
                ..ask("weather?")
            },
        )
        .await,
    );
    let id = wire.call_id("call_abc", "get_weather", 0);
    let mut expected = match wire {
        // genai hands over the arguments accumulated so far with every chunk, not a delta.
        Wire::OpenAi | Wire::Anthropic => vec![
            progress(0, &id, "get_weather", ""),
            progress(0, &id, "get_weather", "{\"ci"),
            progress(0, &id, "get_weather", "{\"city\": \"Par"),
            progress(0, &id, "get_weather", "{\"city\": \"Paris\", \"un"),
            progress(
                0,
                &id,
                "get_weather",
                "{\"city\": \"Paris\", \"units\": \"metric\"}",
            ),
        ],
        // Gemini never splits a call: one progress event with the whole arguments object.
        Wire::Gemini => vec![progress(
            0,
            &id,
            "get_weather",
            "{\"city\":\"Paris\",\"units\":\"metric\"}",
        )],
    };
    expected.push(finished(
        "",
        vec![call(
            &id,
            "get_weather",
            json!({"city": "Paris", "units": "metric"}),
        )],
        (30, 9),
        wire.tool_stop(),
    ));
    assert_eq!(events, expected);
}

async fn parallel_tool_calls(wire: Wire) {
    let mock = MockLlm::start().await;
    mock.push(Reply::tool_calls(
        vec![
            MockCall::new("call_1", "get_weather", &["{\"city\":", "\"Paris\"}"]),
            MockCall::new("call_2", "get_time", &["{\"tz\":", "\"Europe/Paris\"}"]),
        ],
        (40, 20),
    ));
    let provider = provider_for(wire, &mock);
    let events = all_ok(run(&provider, ask("weather and time?")).await);
    let (id1, id2) = (
        wire.call_id("call_1", "get_weather", 0),
        wire.call_id("call_2", "get_time", 1),
    );
    let expected_progress = match wire {
        Wire::OpenAi | Wire::Anthropic => vec![
            progress(0, &id1, "get_weather", ""),
            progress(0, &id1, "get_weather", "{\"city\":"),
            progress(0, &id1, "get_weather", "{\"city\":\"Paris\"}"),
            progress(1, &id2, "get_time", ""),
            progress(1, &id2, "get_time", "{\"tz\":"),
            progress(1, &id2, "get_time", "{\"tz\":\"Europe/Paris\"}"),
        ],
        Wire::Gemini => vec![
            progress(0, &id1, "get_weather", "{\"city\":\"Paris\"}"),
            progress(1, &id2, "get_time", "{\"tz\":\"Europe/Paris\"}"),
        ],
    };
    let (last, progress_events) = events.split_last().expect("no events");
    assert_eq!(progress_events, expected_progress.as_slice());
    assert_eq!(
        *last,
        finished(
            "",
            vec![
                call(&id1, "get_weather", json!({"city": "Paris"})),
                call(&id2, "get_time", json!({"tz": "Europe/Paris"})),
            ],
            (40, 20),
            wire.tool_stop(),
        )
    );
}

async fn request_carries_system_tools_and_sampling(wire: Wire) {
    let mock = MockLlm::start().await;
    mock.push(Reply::text(&["ok"], (1, 1)));
    let mut config = wire_config(wire, &mock);
    config.temperature = Some(0.7);
    config.max_tokens = Some(1000);
    config.top_p = Some(0.9);
    let provider = build(&config, &env(&[("LLM_API_KEY", KEY)]));
    let request = ChatRequest {
        system: Some("You are terse.".to_owned()),
        messages: vec![ChatMessage::user("hi")],
        tools: vec![weather_tool()],
        max_tokens: Some(321),
        temperature: Some(0.25),
        top_p: None,
        stop: vec!["END".to_owned()],
    };
    all_ok(run(&provider, request).await);
    let body = only_request(&mock).body;
    let schema = weather_tool().parameters;
    match wire {
        Wire::OpenAi => {
            assert_eq!(
                body["messages"],
                json!([{"role": "system", "content": "You are terse."}, {"role": "user", "content": "hi"}])
            );
            assert_eq!(
                body["tools"],
                json!([{"type": "function", "function": {
                    "name": "get_weather", "description": "Current weather for a city", "parameters": schema, "strict": false}}])
            );
            assert_eq!(
                (
                    &body["temperature"],
                    &body["max_tokens"],
                    &body["top_p"],
                    &body["stop"]
                ),
                (&json!(0.25), &json!(321), &json!(0.9), &json!(["END"]))
            );
            // Our guard against genai's model-name parsing writes nothing into the request.
            assert_eq!(body.get("reasoning_effort"), None);
        }
        Wire::Anthropic => {
            assert_eq!(body["system"], json!("You are terse."));
            assert_eq!(body["messages"], json!([{"role": "user", "content": "hi"}]));
            assert_eq!(
                body["tools"],
                json!([{"name": "get_weather", "description": "Current weather for a city", "input_schema": schema}])
            );
            assert_eq!(
                (
                    &body["temperature"],
                    &body["max_tokens"],
                    &body["top_p"],
                    &body["stop_sequences"]
                ),
                (&json!(0.25), &json!(321), &json!(0.9), &json!(["END"]))
            );
        }
        Wire::Gemini => {
            assert_eq!(
                body["systemInstruction"],
                json!({"parts": [{"text": "You are terse."}]})
            );
            assert_eq!(
                body["contents"],
                json!([{"role": "user", "parts": [{"text": "hi"}]}])
            );
            assert_eq!(
                body["tools"],
                json!([{"functionDeclarations": [{
                    "name": "get_weather", "description": "Current weather for a city", "parametersJsonSchema": schema}]}])
            );
            assert_eq!(
                body["generationConfig"],
                json!({"temperature": 0.25, "maxOutputTokens": 321, "topP": 0.9, "stopSequences": ["END"]})
            );
        }
    }
}

async fn config_sampling_applies_when_request_is_silent(wire: Wire) {
    let mock = MockLlm::start().await;
    mock.push(Reply::text(&["ok"], (1, 1)));
    let mut config = wire_config(wire, &mock);
    config.temperature = Some(0.5);
    config.max_tokens = Some(777);
    let provider = build(&config, &env(&[("LLM_API_KEY", KEY)]));
    all_ok(run(&provider, ask("hi")).await);
    let body = only_request(&mock).body;
    match wire {
        Wire::OpenAi => {
            assert_eq!(
                (&body["temperature"], &body["max_tokens"]),
                (&json!(0.5), &json!(777))
            );
            assert_eq!(
                (body.get("top_p"), body.get("stop"), body.get("tools")),
                (None, None, None)
            );
        }
        Wire::Anthropic => {
            assert_eq!(
                (&body["temperature"], &body["max_tokens"]),
                (&json!(0.5), &json!(777))
            );
            assert_eq!(
                (
                    body.get("top_p"),
                    body.get("stop_sequences"),
                    body.get("system")
                ),
                (None, None, None)
            );
        }
        Wire::Gemini => {
            assert_eq!(
                body["generationConfig"],
                json!({"temperature": 0.5, "maxOutputTokens": 777})
            );
            assert_eq!(
                (body.get("tools"), body.get("systemInstruction")),
                (None, None)
            );
        }
    }
}

async fn tool_result_round_trip(wire: Wire) {
    let mock = MockLlm::start().await;
    mock.push(Reply::text(&["Paris: 18°C."], (50, 5)));
    let provider = provider_for(wire, &mock);
    let (id1, id2) = (
        wire.call_id("toolu_1", "get_weather", 0),
        wire.call_id("toolu_2", "get_weather", 1),
    );
    let request = ChatRequest {
        messages: vec![
            ChatMessage::user("Weather in Paris and Atlantis?"),
            ChatMessage::Assistant {
                text: "Checking.".to_owned(),
                tool_calls: vec![
                    call(&id1, "get_weather", json!({"city": "Paris"})),
                    call(&id2, "get_weather", json!({"city": "Atlantis"})),
                ],
                provider_state: None,
            },
            ChatMessage::ToolResult {
                call_id: id1.clone(),
                name: "get_weather".to_owned(),
                content: "18°C and sunny".to_owned(),
                is_error: false,
            },
            ChatMessage::ToolResult {
                call_id: id2.clone(),
                name: "get_weather".to_owned(),
                content: "unknown city".to_owned(),
                is_error: true,
            },
        ],
        tools: vec![weather_tool()],
        ..ChatRequest::default()
    };
    let events = all_ok(run(&provider, request).await);
    assert_eq!(
        events.last(),
        Some(&finished("Paris: 18°C.", vec![], (50, 5), wire.text_stop()))
    );
    let sent = conversation(wire, &only_request(&mock));
    let expected = match wire {
        Wire::OpenAi => json!([
            {"role": "user", "content": "Weather in Paris and Atlantis?"},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"type": "function", "id": "toolu_1", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"type": "function", "id": "toolu_2", "function": {"name": "get_weather", "arguments": "{\"city\":\"Atlantis\"}"}}
            ]},
            {"role": "tool", "content": "18°C and sunny", "tool_call_id": "toolu_1"},
            {"role": "tool", "content": "Error: unknown city", "tool_call_id": "toolu_2"}
        ]),
        Wire::Anthropic => json!([
            {"role": "user", "content": "Weather in Paris and Atlantis?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Atlantis"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18°C and sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "unknown city", "is_error": true}
            ]}
        ]),
        // genai's invented ids are not sent back; Gemini matches responses by name and order.
        Wire::Gemini => json!([
            {"role": "user", "parts": [{"text": "Weather in Paris and Atlantis?"}]},
            {"role": "model", "parts": [
                {"text": "Checking."},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_weather", "args": {"city": "Atlantis"}}}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"name": "get_weather", "content": "18°C and sunny"}}},
                {"functionResponse": {"name": "get_weather", "response": {"name": "get_weather", "content": "Error: unknown city"}}}
            ]}
        ]),
    };
    assert_eq!(sent, expected);
}

fn error_body(wire: Wire, status: u16, kind: &str, message: &str) -> Value {
    match wire {
        Wire::OpenAi => {
            json!({"error": {"message": message, "type": kind, "param": null, "code": kind}})
        }
        Wire::Anthropic => json!({"type": "error", "error": {"type": kind, "message": message}}),
        Wire::Gemini => json!({"error": {"code": status, "message": message, "status": kind}}),
    }
}

/// What one request gets when the provider answers `status` with its own error body: the
/// events before the error, the error, and how many requests the mock received.
async fn error_for_status(
    wire: Wire,
    status: u16,
    kind: &str,
    message: &str,
) -> (Vec<StreamEvent>, LlmError, usize) {
    let mock = MockLlm::start().await;
    mock.push(Reply::status(
        status,
        error_body(wire, status, kind, message),
    ));
    let provider = provider_for(wire, &mock);
    let (events, error) = split_error(run(&provider, ask("hi")).await);
    (events, error, mock.journal().len())
}

async fn rate_limit_with_retry_after_then_success(wire: Wire) {
    let mock = MockLlm::start().await;
    let kind = match wire {
        Wire::OpenAi => "rate_limit_exceeded",
        Wire::Anthropic => "rate_limit_error",
        Wire::Gemini => "RESOURCE_EXHAUSTED",
    };
    mock.push(
        Reply::status(429, error_body(wire, 429, kind, "Slow down"))
            .with_header("retry-after", "1"),
    );
    mock.push(Reply::text(&["fine"], (3, 1)));
    let provider = provider_for(wire, &mock);
    let events = all_ok(run(&provider, ask("hi")).await);
    let StreamEvent::Retrying {
        attempt: 1,
        max_retries: 3,
        wait_ms,
        reason,
    } = &events[0]
    else {
        panic!("the retry is announced first: {events:?}");
    };
    assert!((1000..1300).contains(wait_ms), "{wait_ms}");
    assert!(reason.contains("Slow down"), "{reason}");
    assert_eq!(
        events[1..],
        vec![
            StreamEvent::TextDelta("fine".into()),
            finished("fine", vec![], (3, 1), wire.text_stop())
        ]
    );
    let journal = mock.journal();
    assert_eq!(journal.len(), 2);
    assert_eq!(
        journal[0].body, journal[1].body,
        "the retry must resend the same request"
    );
    let waited = journal[1].at.duration_since(journal[0].at);
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_millis(1900),
        "waited {waited:?}"
    );
}

async fn unauthorized_is_auth(wire: Wire) {
    let (kind, message) = match wire {
        Wire::OpenAi => ("invalid_api_key", "Incorrect API key provided: sk-wrong."),
        Wire::Anthropic => ("authentication_error", "invalid x-api-key"),
        Wire::Gemini => (
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        ),
    };
    let (events, error, requests) = error_for_status(wire, 401, kind, message).await;
    assert_eq!(events, vec![]);
    assert_eq!(
        error,
        LlmError::Auth {
            provider: wire.provider().into(),
            model: wire.model().into(),
            message: message.into()
        }
    );
    assert_eq!(
        error.to_string(),
        format!(
            "the API key was rejected by {} (model {}): {message}",
            wire.provider(),
            wire.model()
        )
    );
    assert_eq!(requests, 1, "401 must not be retried");
}

async fn unknown_model(wire: Wire) {
    let (kind, message) = match wire {
        Wire::OpenAi => (
            "model_not_found",
            "The model `gpt-4o-mini` does not exist or you do not have access to it.",
        ),
        Wire::Anthropic => ("not_found_error", "model: claude-sonnet-4-5"),
        Wire::Gemini => (
            "NOT_FOUND",
            "models/gemini-2.5-flash is not found for API version v1beta.",
        ),
    };
    let (_, error, requests) = error_for_status(wire, 404, kind, message).await;
    assert_eq!(
        error,
        LlmError::UnknownModel {
            provider: wire.provider().into(),
            model: wire.model().into(),
            message: message.into()
        }
    );
    assert_eq!(requests, 1, "an unknown model is not retried");
}

async fn context_overflow(wire: Wire) {
    let (kind, message) = match wire {
        Wire::OpenAi => (
            "context_length_exceeded",
            "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.",
        ),
        Wire::Anthropic => (
            "invalid_request_error",
            "prompt is too long: 208310 tokens > 200000 maximum",
        ),
        Wire::Gemini => (
            "INVALID_ARGUMENT",
            "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
        ),
    };
    let (_, error, requests) = error_for_status(wire, 400, kind, message).await;
    assert_eq!(
        error,
        LlmError::ContextOverflow {
            provider: wire.provider().into(),
            model: wire.model().into(),
            message: message.into()
        }
    );
    assert_eq!(requests, 1, "a context overflow is not retried");
}

async fn malformed_chunk_is_an_error(wire: Wire) {
    let mock = MockLlm::start().await;
    let (events, bad) = match wire {
        Wire::OpenAi => (
            vec![
                r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#,
                r#"data: {"choices": [{"delta": {"content": "oops""#,
                "data: [DONE]",
            ],
            r#"{"choices": [{"delta": {"content": "oops""#,
        ),
        Wire::Anthropic => (
            vec![
                "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"c\",\"content\":[],\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}",
                "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}",
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}",
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":",
                "event: message_stop\ndata: {\"type\":\"message_stop\"}",
            ],
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"#,
        ),
        Wire::Gemini => (
            vec![
                r#"data: {"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"index":0}]}"#,
                r#"data: {"candidates":[{"content":"#,
            ],
            r#"{"candidates":[{"content":"#,
        ),
    };
    mock.push(Reply::raw_sse(&events));
    let provider = provider_for(wire, &mock);
    let (events, error) = split_error(run(&provider, ask("hi")).await);
    assert_eq!(events, vec![StreamEvent::TextDelta("Hi".into())]);
    let serde_error = serde_json::from_str::<Value>(bad).expect_err("the chunk is bad JSON");
    assert_eq!(
        error,
        LlmError::Malformed {
            provider: wire.provider().into(),
            model: wire.model().into(),
            message: format!("a stream chunk is not valid JSON: {serde_error}"),
        }
    );
}

// ---- Retries -------------------------------------------------------------------------------

#[tokio::test]
async fn retries_exhausted_is_rate_limited() {
    let mock = MockLlm::start().await;
    for _ in 0..4 {
        mock.push(
            Reply::status(
                429,
                error_body(Wire::OpenAi, 429, "rate_limit_exceeded", "Slow down"),
            )
            .with_header("retry-after", "0"),
        );
    }
    let provider = provider_for(Wire::OpenAi, &mock);
    let (_, error) = split_error(run(&provider, ask("hi")).await);
    assert_eq!(
        error,
        LlmError::RateLimited {
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            retry_after: Some(Duration::ZERO),
            message: "Slow down".into(),
        }
    );
    assert_eq!(
        error.to_string(),
        "openai/gpt-4o-mini is rate limiting requests (retry after 0s): Slow down"
    );
    assert_eq!(mock.journal().len(), 4, "one request plus three retries");
}

#[tokio::test]
async fn retry_after_beyond_the_cap_fails_at_once() {
    let mock = MockLlm::start().await;
    mock.push(
        Reply::status(
            429,
            error_body(Wire::Anthropic, 429, "rate_limit_error", "Daily limit"),
        )
        .with_header("retry-after", "3600"),
    );
    let provider = provider_for(Wire::Anthropic, &mock);
    let started = Instant::now();
    let (_, error) = split_error(run(&provider, ask("hi")).await);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(error.retry_after(), Some(Duration::from_secs(3600)));
    assert!(matches!(error, LlmError::RateLimited { ref message, .. } if message == "Daily limit"));
    assert_eq!(mock.journal().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let mock = MockLlm::start().await;
    mock.push(Reply::status(
        503,
        error_body(Wire::Gemini, 503, "UNAVAILABLE", "The model is overloaded."),
    ));
    mock.push(Reply::status(
        500,
        error_body(Wire::Gemini, 500, "INTERNAL", "Internal error"),
    ));
    mock.push(Reply::text(&["back"], (2, 1)));
    let provider = provider_for(Wire::Gemini, &mock);
    let events = all_ok(run(&provider, ask("hi")).await);
    assert_eq!(
        events.last(),
        Some(&finished("back", vec![], (2, 1), "STOP"))
    );
    // Each retry is announced with its number and the error it answers.
    let retries: Vec<(u32, &str)> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Retrying {
                attempt, reason, ..
            } => Some((*attempt, reason.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(retries.len(), 2, "{events:?}");
    assert_eq!(retries[0].0, 1);
    assert!(retries[0].1.contains("HTTP 503"), "{}", retries[0].1);
    assert_eq!(retries[1].0, 2);
    assert!(retries[1].1.contains("HTTP 500"), "{}", retries[1].1);
    let journal = mock.journal();
    assert_eq!(journal.len(), 3);
    // Backoff from a 20 ms base: at least half of 20 ms, then of 40 ms.
    assert!(journal[1].at.duration_since(journal[0].at) >= Duration::from_millis(10));
    assert!(journal[2].at.duration_since(journal[1].at) >= Duration::from_millis(20));
}

#[tokio::test]
async fn server_errors_give_up_after_three_retries() {
    let mock = MockLlm::start().await;
    for _ in 0..4 {
        mock.push(Reply::status(
            502,
            json!({"error": {"message": "Bad gateway"}}),
        ));
    }
    let provider = provider_for(Wire::OpenAi, &mock);
    let (_, error) = split_error(run(&provider, ask("hi")).await);
    assert_eq!(
        error,
        LlmError::Server {
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            status: Some(502),
            message: "Bad gateway".into()
        }
    );
    assert_eq!(
        error.to_string(),
        "openai/gpt-4o-mini failed with HTTP 502: Bad gateway"
    );
    assert_eq!(mock.journal().len(), 4);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let mock = MockLlm::start().await;
    mock.push(Reply::status(
        400,
        error_body(
            Wire::OpenAi,
            400,
            "invalid_request_error",
            "Invalid 'messages[0].role'.",
        ),
    ));
    let provider = provider_for(Wire::OpenAi, &mock);
    let (_, error) = split_error(run(&provider, ask("hi")).await);
    assert_eq!(
        error,
        LlmError::Server {
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            status: Some(400),
            message: "Invalid 'messages[0].role'.".into()
        }
    );
    assert_eq!(mock.journal().len(), 1);
}

#[tokio::test]
async fn an_error_after_the_first_event_is_not_retried() {
    let mock = MockLlm::start().await;
    mock.push(Reply::raw_sse(&[
        r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#,
        r#"data: {"error": {"message": "The server had an error while processing your request.", "type": "server_error"}}"#,
    ]));
    let provider = provider_for(Wire::OpenAi, &mock);
    let (events, error) = split_error(run(&provider, ask("hi")).await);
    assert_eq!(events, vec![StreamEvent::TextDelta("Hi".into())]);
    assert_eq!(
        error,
        LlmError::Server {
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            status: Some(500),
            message: "The server had an error while processing your request.".into()
        }
    );
    assert_eq!(
        mock.journal().len(),
        1,
        "part of the reply was delivered: no retry"
    );
}

#[tokio::test]
async fn an_overloaded_event_before_any_output_is_retried() {
    let mock = MockLlm::start().await;
    mock.push(Reply::raw_sse(&[r#"event: error
data: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#]));
    mock.push(Reply::text(&["ok"], (1, 1)));
    let provider = provider_for(Wire::Anthropic, &mock);
    let events = all_ok(run(&provider, ask("hi")).await);
    assert!(
        matches!(&events[0], StreamEvent::Retrying { attempt: 1, reason, .. } if reason.contains("Overloaded")),
        "{events:?}"
    );
    assert_eq!(
        events[1..],
        vec![
            StreamEvent::TextDelta("ok".into()),
            finished("ok", vec![], (1, 1), "end_turn")
        ]
    );
    assert_eq!(mock.journal().len(), 2);
}

// ---- Timeouts and the network --------------------------------------------------------------

#[tokio::test]
async fn a_silent_stream_times_out() {
    let mock = MockLlm::start().await;
    mock.push(Reply::Stall {
        chunks: vec!["Hel".into()],
        stall: Duration::from_secs(30),
    });
    let options = ProviderOptions {
        idle_timeout: Duration::from_millis(300),
        ..fast_options()
    };
    let provider = build_provider_with(
        &wire_config(Wire::Anthropic, &mock),
        &env(&[("LLM_API_KEY", KEY)]),
        options,
    )
    .unwrap();
    let started = Instant::now();
    let (events, error) = split_error(run(&provider, ask("hi")).await);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(events, vec![StreamEvent::TextDelta("Hel".into())]);
    assert_eq!(
        error,
        LlmError::Timeout {
            provider: "anthropic".into(),
            model: "claude-sonnet-4-5".into(),
            message: "the reply stalled: nothing received for 300ms".into()
        }
    );
}

#[tokio::test]
async fn slow_response_headers_time_out() {
    let mock = MockLlm::start().await;
    mock.push(Reply::SlowHeaders {
        delay: Duration::from_secs(30),
        then: Box::new(Reply::text(&["late"], (1, 1))),
    });
    let options = ProviderOptions {
        request_timeout: Duration::from_millis(300),
        ..fast_options()
    };
    let provider = build_provider_with(
        &wire_config(Wire::OpenAi, &mock),
        &env(&[("LLM_API_KEY", KEY)]),
        options,
    )
    .unwrap();
    let (events, error) = split_error(run(&provider, ask("hi")).await);
    assert_eq!(events, vec![]);
    assert_eq!(
        error,
        LlmError::Timeout {
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            message: "no response within 300ms".into()
        }
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_network_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = llm_config(
        "openai",
        "gpt-4o-mini",
        Some(format!("http://127.0.0.1:{port}/v1")),
    );
    let provider = build(&config, &env(&[("LLM_API_KEY", KEY)]));
    let (_, error) = split_error(run(&provider, ask("hi")).await);
    let LlmError::Network {
        provider,
        model,
        message,
    } = &error
    else {
        panic!("not a network error: {error:?}")
    };
    assert_eq!(
        (provider.as_str(), model.as_str()),
        ("openai", "gpt-4o-mini")
    );
    let url = format!("http://127.0.0.1:{port}/v1/chat/completions");
    assert!(
        message.starts_with(&format!("error sending request for url ({url})")),
        "{message}"
    );
    assert!(message.contains("Connection refused"), "{message}");
}

// ---- Providers, URLs and keys --------------------------------------------------------------

#[tokio::test]
async fn azure_uses_the_deployment_url_and_api_key_header() {
    let mock = MockLlm::start().await;
    mock.push(Reply::text(&["hi"], (1, 1)));
    let config = LlmConfig {
        azure_endpoint: Some(mock.base_url().to_owned()),
        azure_deployment: Some("prod-4o".into()),
        azure_api_version: Some("2024-06-01".into()),
        ..llm_config("Azure", "gpt-4o", None)
    };
    let provider = build(&config, &env(&[("AZURE_OPENAI_API_KEY", KEY)]));
    assert_eq!(provider.describe(), "azure/gpt-4o");
    all_ok(run(&provider, ask("hi")).await);
    let request = only_request(&mock);
    assert_eq!(request.path, "/openai/deployments/prod-4o/chat/completions");
    assert_eq!(request.query.as_deref(), Some("api-version=2024-06-01"));
    assert_eq!(request.header("api-key"), Some(KEY));
    assert_eq!(request.header("authorization"), None);
    assert_eq!(request.body["model"], json!("gpt-4o"));
}

#[tokio::test]
async fn ollama_needs_no_key_and_uses_its_host() {
    let mock = MockLlm::start().await;
    mock.push(Reply::text(&["hi"], (1, 1)));
    let config = LlmConfig {
        ollama_host: Some(mock.base_url().to_owned()),
        ..llm_config("ollama", "llama3.2", None)
    };
    let provider = build(&config, &env(&[]));
    assert_eq!(provider.describe(), "ollama/llama3.2");
    let events = all_ok(run(&provider, ask("hi")).await);
    assert_eq!(events.last(), Some(&finished("hi", vec![], (1, 1), "stop")));
    let request = only_request(&mock);
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.header("authorization"), None);
}

#[tokio::test]
async fn any_provider_with_a_base_url_is_openai_compatible() {
    let mock = MockLlm::start().await;
    mock.push(Reply::text(&["a"], (1, 1)));
    mock.push(Reply::text(&["b"], (1, 1)));
    let config = llm_config(
        "my-gateway",
        "qwen-max",
        Some(format!("{}/v1/", mock.base_url())),
    );
    all_ok(run(&build(&config, &env(&[])), ask("hi")).await);
    all_ok(run(&build(&config, &env(&[("LLM_API_KEY", KEY)])), ask("hi")).await);
    let journal = mock.journal();
    assert_eq!(journal.len(), 2);
    assert_eq!(journal[0].header("authorization"), None);
    assert_eq!(
        journal[1].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    for request in &journal {
        assert_eq!(request.path, "/v1/chat/completions");
        // genai alone would send "qwen" with reasoning_effort "max" (see pin_genai_reads_an_effort_suffix).
        assert_eq!(request.body["model"], json!("qwen-max"));
        assert_eq!(request.body.get("reasoning_effort"), None);
    }
}

#[test]
fn an_unknown_provider_without_base_url_is_a_config_error() {
    let error = build_provider(&llm_config("Bedrock", "x", None), &env(&[])).unwrap_err();
    assert_eq!(
        error,
        LlmError::Config {
            message: "unknown LLM provider \"bedrock\": use one of openai, azure, anthropic, gemini, groq, deepseek, \
                      openrouter, mistral, ollama, vllm, lmstudio, or set base_url to an OpenAI-compatible server"
                .into()
        }
    );
}

#[test]
fn a_missing_key_names_the_variables_looked_at() {
    let cases = [
        ("anthropic", "LLM_API_KEY or ANTHROPIC_API_KEY"),
        ("google", "LLM_API_KEY or GEMINI_API_KEY or GOOGLE_API_KEY"),
        ("groq", "LLM_API_KEY or GROQ_API_KEY"),
        ("azure", "LLM_API_KEY or AZURE_OPENAI_API_KEY"),
    ];
    for (provider, vars) in cases {
        // A blank value counts as unset.
        let error = build_provider_with(
            &llm_config(provider, "m", None),
            &env(&[("LLM_API_KEY", "  ")]),
            fast_options(),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "LLM configuration: no API key for {provider}: set {vars} (in the environment or in .env)"
            )
        );
    }
}

#[tokio::test]
async fn llm_api_key_wins_then_the_provider_variable() {
    let mock = MockLlm::start().await;
    mock.push(Reply::text(&["a"], (1, 1)));
    mock.push(Reply::text(&["b"], (1, 1)));
    let config = wire_config(Wire::Gemini, &mock);
    let both = env(&[
        ("LLM_API_KEY", "generic-key"),
        ("GEMINI_API_KEY", "gemini-key"),
    ]);
    all_ok(run(&build(&config, &both), ask("hi")).await);
    all_ok(
        run(
            &build(&config, &env(&[("GOOGLE_API_KEY", "google-key")])),
            ask("hi"),
        )
        .await,
    );
    let journal = mock.journal();
    assert_eq!(journal[0].header("x-goog-api-key"), Some("generic-key"));
    assert_eq!(journal[1].header("x-goog-api-key"), Some("google-key"));
}

#[tokio::test]
async fn the_key_never_appears_in_errors_or_debug_output() {
    let mock = MockLlm::start().await;
    // Some providers echo the rejected key back; it must be scrubbed.
    mock.push(Reply::status(401, json!({"error": {"message": format!("Incorrect API key provided: {KEY}."), "code": "invalid_api_key"}})));
    mock.push(
        Reply::status(
            500,
            json!({"error": {"message": format!("upstream said {KEY}")}}),
        )
        .with_header("retry-after", "0"),
    );
    mock.push(
        Reply::status(
            500,
            json!({"error": {"message": format!("upstream said {KEY}")}}),
        )
        .with_header("retry-after", "0"),
    );
    mock.push(
        Reply::status(
            500,
            json!({"error": {"message": format!("upstream said {KEY}")}}),
        )
        .with_header("retry-after", "0"),
    );
    mock.push(
        Reply::status(
            500,
            json!({"error": {"message": format!("upstream said {KEY}")}}),
        )
        .with_header("retry-after", "0"),
    );
    mock.push(Reply::raw_sse(&[&format!("data: {{\"bad json {KEY}")]));
    let mut rendered = Vec::new();
    for wire in [Wire::OpenAi, Wire::Anthropic, Wire::Gemini] {
        let provider = provider_for(wire, &mock);
        rendered.push(format!("{provider:?}"));
        rendered.push(format!("{provider:#?}"));
        rendered.push(provider.describe());
    }
    let provider = provider_for(Wire::OpenAi, &mock);
    let mut errors = Vec::new();
    for _ in 0..3 {
        errors.push(split_error(run(&provider, ask("hi")).await).1);
    }
    let config = llm_config("openai", "gpt-4o-mini", Some("ftp://nowhere".into()));
    errors.push(
        build_provider_with(&config, &env(&[("LLM_API_KEY", KEY)]), fast_options()).unwrap_err(),
    );
    let azure = llm_config("azure", "gpt-4o", None);
    errors.push(
        build_provider_with(&azure, &env(&[("LLM_API_KEY", KEY)]), fast_options()).unwrap_err(),
    );
    assert!(
        matches!(errors[0], LlmError::Auth { ref message, .. } if message == "Incorrect API key provided: [redacted].")
    );
    assert!(
        matches!(errors[1], LlmError::Server { ref message, .. } if message == "upstream said [redacted]")
    );
    assert!(matches!(errors[2], LlmError::Malformed { .. }));
    for error in &errors {
        rendered.push(error.to_string());
        rendered.push(format!("{error:?}"));
    }
    for text in &rendered {
        assert!(!text.contains(KEY), "the key leaked into: {text}");
    }
}

#[tokio::test]
async fn tool_arguments_that_are_not_json_are_malformed() {
    let mock = MockLlm::start().await;
    mock.push(Reply::tool_calls(
        vec![MockCall::new(
            "call_1",
            "get_weather",
            &["{\"city\": \"Par"],
        )],
        (5, 5),
    ));
    let provider = provider_for(Wire::OpenAi, &mock);
    let (events, error) = split_error(run(&provider, ask("hi")).await);
    assert_eq!(
        events,
        vec![
            progress(0, "call_1", "get_weather", ""),
            progress(0, "call_1", "get_weather", "{\"city\": \"Par")
        ]
    );
    let serde_error = serde_json::from_str::<Value>("{\"city\": \"Par").unwrap_err();
    assert_eq!(
        error,
        LlmError::Malformed {
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            message: format!(
                "the arguments of the call to tool \"get_weather\" are not valid JSON: {serde_error}"
            ),
        }
    );
}

#[test]
fn usage_total_adds_both_sides() {
    assert_eq!(
        Usage {
            input_tokens: 7,
            output_tokens: 5
        }
        .total(),
        12
    );
}

// ---- Provider state (thinking signatures) --------------------------------------------------

#[tokio::test]
async fn anthropic_thinking_blocks_are_echoed_verbatim() {
    let mock = MockLlm::start().await;
    mock.push(Reply::raw_sse(&[
        r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"usage":{"input_tokens":20,"output_tokens":1}}}"#,
        r#"event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#,
        r#"event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me think."}}"#,
        r#"event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"c2lnLTE="}}"#,
        r#"event: content_block_stop
data: {"type":"content_block_stop","index":0}"#,
        r#"event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"RU5DUllQVEVE"}}"#,
        r#"event: content_block_stop
data: {"type":"content_block_stop","index":1}"#,
        r#"event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_9","name":"get_weather","input":{}}}"#,
        r#"event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"city\":\"Paris\"}"}}"#,
        r#"event: content_block_stop
data: {"type":"content_block_stop","index":2}"#,
        r#"event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":30}}"#,
        r#"event: message_stop
data: {"type":"message_stop"}"#,
    ]));
    mock.push(Reply::text(&["Sunny."], (60, 3)));
    let provider = provider_for(Wire::Anthropic, &mock);
    let events = all_ok(
        run(
            &provider,
            ChatRequest {
                tools: vec![weather_tool()],
                ..ask("weather?")
            },
        )
        .await,
    );
    let finished_event = events.last().unwrap().clone();
    let state = json!({"anthropic": {"thinking_blocks": [
        {"type": "thinking", "thinking": "Let me think.", "signature": "c2lnLTE="},
        {"type": "redacted_thinking", "data": "RU5DUllQVEVE"}
    ]}});
    assert_eq!(
        finished_event,
        StreamEvent::Finished {
            text: String::new(),
            reasoning: Some("Let me think.".into()),
            tool_calls: vec![call("toolu_9", "get_weather", json!({"city": "Paris"}))],
            usage: Some(Usage {
                input_tokens: 20,
                output_tokens: 30
            }),
            stop_reason: Some("tool_use".into()),
            provider_state: Some(state),
        }
    );
    let mut messages = vec![
        ChatMessage::user("weather?"),
        finished_event.to_assistant_message().unwrap(),
    ];
    messages.push(ChatMessage::ToolResult {
        call_id: "toolu_9".into(),
        name: "get_weather".into(),
        content: "sunny".into(),
        is_error: false,
    });
    all_ok(
        run(
            &provider,
            ChatRequest {
                messages,
                tools: vec![weather_tool()],
                ..ChatRequest::default()
            },
        )
        .await,
    );
    let journal = mock.journal();
    assert_eq!(
        journal[0].body.get("thinking"),
        None,
        "capturing thinking must not turn it on"
    );
    assert_eq!(
        journal[1].body["messages"][1],
        json!({"role": "assistant", "content": [
            {"type": "thinking", "thinking": "Let me think.", "signature": "c2lnLTE="},
            {"type": "redacted_thinking", "data": "RU5DUllQVEVE"},
            {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"city": "Paris"}}
        ]})
    );
}

#[tokio::test]
async fn gemini_thought_signatures_are_echoed_on_their_calls() {
    let mock = MockLlm::start().await;
    mock.push(Reply::raw_sse(&[
        r#"data: {"candidates":[{"content":{"parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"R2VtLXNpZw=="}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":4,"totalTokenCount":13}}"#,
    ]));
    mock.push(Reply::text(&["Sunny."], (20, 2)));
    let provider = provider_for(Wire::Gemini, &mock);
    let events = all_ok(run(&provider, ask("weather?")).await);
    let finished_event = events.last().unwrap().clone();
    let id = "call#get_weather#0";
    assert_eq!(
        finished_event,
        StreamEvent::Finished {
            text: String::new(),
            reasoning: None,
            tool_calls: vec![call(id, "get_weather", json!({"city": "Paris"}))],
            usage: Some(Usage {
                input_tokens: 9,
                output_tokens: 4
            }),
            stop_reason: Some("STOP".into()),
            provider_state: Some(json!({"gemini": {
                "thought_signatures": ["R2VtLXNpZw=="],
                "call_signatures": {id: ["R2VtLXNpZw=="]}
            }})),
        }
    );
    let messages = vec![
        ChatMessage::user("weather?"),
        finished_event.to_assistant_message().unwrap(),
        ChatMessage::ToolResult {
            call_id: id.into(),
            name: "get_weather".into(),
            content: "sunny".into(),
            is_error: false,
        },
    ];
    all_ok(
        run(
            &provider,
            ChatRequest {
                messages,
                ..ChatRequest::default()
            },
        )
        .await,
    );
    assert_eq!(
        mock.journal()[1].body["contents"][1],
        json!({"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "R2VtLXNpZw=="}
        ]})
    );
}

// ---- Pins of genai behaviour we rely on (or work around) ----------------------------------

/// A genai client aimed at the mock, for the tests that pin genai itself.
fn genai_target(wire: Wire, mock: &MockLlm, model: &str) -> (genai::Client, genai::ServiceTarget) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (kind, base) = match wire {
        Wire::OpenAi => (
            genai::adapter::AdapterKind::OpenAI,
            format!("{}/v1/", mock.base_url()),
        ),
        Wire::Anthropic => (
            genai::adapter::AdapterKind::Anthropic,
            format!("{}/v1/", mock.base_url()),
        ),
        Wire::Gemini => (
            genai::adapter::AdapterKind::Gemini,
            format!("{}/v1beta/", mock.base_url()),
        ),
    };
    let target = genai::ServiceTarget {
        endpoint: genai::resolver::Endpoint::from_owned(base),
        auth: genai::resolver::AuthData::from_single(KEY),
        model: genai::ModelIden::new(kind, model),
    };
    (
        genai::Client::builder().build().expect("genai client"),
        target,
    )
}

/// The arguments text of every tool-call chunk genai yields for a scripted call.
async fn genai_tool_chunks(capture_tool_calls: bool) -> Vec<String> {
    let mock = MockLlm::start().await;
    mock.push(Reply::tool_calls(
        vec![MockCall::new("call_1", "f", &["{\"a\":", "1,", "\"b\":2}"])],
        (1, 1),
    ));
    let (client, target) = genai_target(Wire::OpenAi, &mock, "gpt-4o-mini");
    let options = genai::chat::ChatOptions::default().with_capture_tool_calls(capture_tool_calls);
    let request = genai::chat::ChatRequest::from_user("go");
    let response = client
        .exec_chat_stream(target, request, Some(&options))
        .await
        .expect("genai stream");
    let mut chunks = Vec::new();
    let mut stream = response.stream;
    while let Some(event) = stream.next().await {
        if let genai::chat::ChatStreamEvent::ToolCallChunk(chunk) =
            event.expect("genai stream error")
        {
            chunks.push(
                chunk
                    .tool_call
                    .fn_arguments
                    .as_str()
                    .expect("arguments are a string while streaming")
                    .to_owned(),
            );
        }
    }
    chunks
}

#[tokio::test]
async fn pin_genai_tool_chunks_accumulate_only_when_capturing() {
    // We rely on capture_tool_calls(true): `arguments_so_far` is genai's accumulated text.
    assert_eq!(
        genai_tool_chunks(true).await,
        vec!["", "{\"a\":", "{\"a\":1,", "{\"a\":1,\"b\":2}"]
    );
    assert_eq!(
        genai_tool_chunks(false).await,
        vec!["", "{\"a\":", "1,", "\"b\":2}"]
    );
}

#[tokio::test]
async fn pin_genai_reads_an_effort_suffix_in_model_names() {
    let mock = MockLlm::start().await;
    mock.push(Reply::text(&["x"], (1, 1)));
    let (client, target) = genai_target(Wire::OpenAi, &mock, "qwen-max");
    let request = genai::chat::ChatRequest::from_user("go");
    let mut stream = client
        .exec_chat_stream(target, request, None)
        .await
        .unwrap()
        .stream;
    while stream.next().await.is_some() {}
    let body = only_request(&mock).body;
    // Hence our explicit `ReasoningEffort::Budget(0)` on the OpenAI wire.
    assert_eq!(
        (&body["model"], &body["reasoning_effort"]),
        (&json!("qwen"), &json!("max"))
    );
}

#[tokio::test]
async fn pin_openai_stream_without_done_is_incomplete() {
    let mock = MockLlm::start().await;
    mock.push(Reply::raw_sse(&[
        r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#,
        r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
    ]));
    let provider = provider_for(Wire::OpenAi, &mock);
    let (events, error) = split_error(run(&provider, ask("hi")).await);
    assert_eq!(events, vec![StreamEvent::TextDelta("Hi".into())]);
    assert_eq!(
        error,
        LlmError::Network {
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            message: "the stream ended before the reply was complete".into()
        }
    );
}

#[tokio::test]
async fn pin_anthropic_stream_without_message_stop_is_incomplete() {
    let mock = MockLlm::start().await;
    mock.push(Reply::raw_sse(&[
        r#"event: message_start
data: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"c","content":[],"usage":{"input_tokens":1,"output_tokens":1}}}"#,
        r#"event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        r#"event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
    ]));
    let provider = provider_for(Wire::Anthropic, &mock);
    let (events, error) = split_error(run(&provider, ask("hi")).await);
    assert_eq!(events, vec![StreamEvent::TextDelta("Hi".into())]);
    assert!(
        matches!(error, LlmError::Network { ref message, .. } if message == "the stream ended before the reply was complete")
    );
}

#[tokio::test]
async fn pin_gemini_stream_without_finish_reason_is_incomplete() {
    let mock = MockLlm::start().await;
    mock.push(Reply::raw_sse(&[
        r#"data: {"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"index":0}]}"#,
    ]));
    let provider = provider_for(Wire::Gemini, &mock);
    let (events, error) = split_error(run(&provider, ask("hi")).await);
    // genai itself ends such a stream normally; the check is ours.
    assert_eq!(events, vec![StreamEvent::TextDelta("Hi".into())]);
    assert!(matches!(
        error,
        LlmError::Network { ref message, .. } if message == "the stream ended without a finishReason (reply incomplete)"
    ));
}

#[tokio::test]
async fn pin_gemini_repeated_call_ids_are_made_unique() {
    let mock = MockLlm::start().await;
    mock.push(Reply::raw_sse(&[
        r#"data: {"candidates":[{"content":{"parts":[{"functionCall":{"name":"get_time","args":{"tz":"UTC"}}}],"role":"model"},"index":0}]}"#,
        r#"data: {"candidates":[{"content":{"parts":[{"functionCall":{"name":"get_time","args":{"tz":"CET"}}}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":6,"totalTokenCount":11}}"#,
    ]));
    let provider = provider_for(Wire::Gemini, &mock);
    let events = all_ok(run(&provider, ask("time?")).await);
    // genai numbers its made-up ids per chunk: both calls arrive as `call#get_time#0`.
    assert_eq!(
        events,
        vec![
            progress(0, "call#get_time#0", "get_time", "{\"tz\":\"UTC\"}"),
            progress(1, "call#get_time#0", "get_time", "{\"tz\":\"CET\"}"),
            finished(
                "",
                vec![
                    call("call#get_time#0", "get_time", json!({"tz": "UTC"})),
                    call("call#get_time#1", "get_time", json!({"tz": "CET"}))
                ],
                (5, 6),
                "STOP",
            ),
        ]
    );
}

#[tokio::test]
async fn pin_genai_reads_non_streamed_replies() {
    // Not used by the provider (it always streams), but it keeps the mock's non-streamed
    // bodies honest and shows genai parses all three formats.
    for wire in [Wire::OpenAi, Wire::Anthropic, Wire::Gemini] {
        let mock = MockLlm::start().await;
        mock.push(Reply::ToolCalls {
            text: vec!["Let me ".into(), "check.".into()],
            calls: vec![MockCall::new(
                "call_7",
                "get_weather",
                &["{\"city\":", "\"Oslo\"}"],
            )],
            usage: (11, 7),
        });
        let (client, target) = genai_target(wire, &mock, wire.model());
        let request = genai::chat::ChatRequest::from_user("go");
        let response = client.exec_chat(target, request, None).await.unwrap();
        assert_eq!(response.first_text(), Some("Let me check."), "{wire:?}");
        let calls: Vec<(String, String, Value)> = response
            .tool_calls()
            .into_iter()
            .map(|c| (c.call_id.clone(), c.fn_name.clone(), c.fn_arguments.clone()))
            .collect();
        let id = if wire == Wire::Gemini {
            "call#get_weather#0"
        } else {
            "call_7"
        };
        assert_eq!(
            calls,
            vec![(
                id.to_owned(),
                "get_weather".to_owned(),
                json!({"city": "Oslo"})
            )],
            "{wire:?}"
        );
        assert_eq!(
            (
                response.usage.prompt_tokens,
                response.usage.completion_tokens
            ),
            (Some(11), Some(7)),
            "{wire:?}"
        );
        let request = only_request(&mock);
        let streamed = match wire {
            Wire::Gemini => request.path.ends_with(":streamGenerateContent"),
            _ => request.body["stream"] == json!(true),
        };
        assert!(!streamed, "{wire:?}");
    }
}

#[tokio::test]
async fn openai_compatible_reasoning_content_is_kept_apart_from_the_text() {
    // DeepSeek, vLLM and others stream `reasoning_content` before the answer.
    let mock = MockLlm::start().await;
    mock.push(Reply::raw_sse(&[
        r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"Two plus two"},"finish_reason":null}]}"#,
        r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"reasoning_content":" is four."},"finish_reason":null}]}"#,
        r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"4"},"finish_reason":"stop"}]}"#,
        r#"data: [DONE]"#,
    ]));
    let provider = provider_for(Wire::OpenAi, &mock);
    let events = all_ok(run(&provider, ask("2+2?")).await);
    let Some(StreamEvent::Finished {
        text, reasoning, ..
    }) = events.last()
    else {
        panic!("a finished reply: {events:?}");
    };
    assert_eq!(text, "4");
    assert_eq!(reasoning.as_deref(), Some("Two plus two is four."));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, StreamEvent::TextDelta(t) if t.contains("four"))),
        "reasoning is not part of the answer's text"
    );
}
