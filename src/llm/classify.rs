//! Deciding which [`LlmError`] an HTTP error response or an in-stream error event is, from
//! its status and from what its body says (error codes and types, well-known messages), for
//! the three wire formats.

use std::time::Duration;

use serde_json::Value;

use super::error::{LlmError, clean_message};

/// Who an error is about, the secret that must never appear in it, and the timeouts in force
/// (a timeout message says which limit was hit).
#[derive(Clone, Copy)]
pub(crate) struct ErrorContext<'a> {
    pub provider: &'a str,
    pub model: &'a str,
    pub secret: Option<&'a str>,
    pub request_timeout: Duration,
    pub idle_timeout: Duration,
}

impl ErrorContext<'_> {
    /// A server-supplied (or library-supplied) text made safe for a one-line message.
    pub fn clean(&self, raw: &str) -> String {
        clean_message(raw, self.secret)
    }

    fn parts(&self, message: &str) -> (String, String, String) {
        (
            self.provider.to_owned(),
            self.model.to_owned(),
            self.clean(message),
        )
    }

    pub fn network(&self, message: &str) -> LlmError {
        let (provider, model, message) = self.parts(message);
        LlmError::Network {
            provider,
            model,
            message,
        }
    }

    pub fn timeout(&self, message: &str) -> LlmError {
        let (provider, model, message) = self.parts(message);
        LlmError::Timeout {
            provider,
            model,
            message,
        }
    }

    pub fn malformed(&self, message: &str) -> LlmError {
        let (provider, model, message) = self.parts(message);
        LlmError::Malformed {
            provider,
            model,
            message,
        }
    }

    pub fn config(&self, message: &str) -> LlmError {
        LlmError::Config {
            message: format!("{}/{}: {}", self.provider, self.model, self.clean(message)),
        }
    }

    /// An HTTP error response.
    pub fn http_error(&self, status: u16, retry_after: Option<Duration>, body: &str) -> LlmError {
        let info = ErrorInfo::parse(body);
        self.classify(Some(status), retry_after, &info)
    }

    /// An error event inside a stream (OpenAI `{"error": ...}` chunk, Anthropic `event: error`,
    /// a Gemini chunk with `error`). It has no HTTP status, so the error type stands in for it.
    pub fn stream_error(&self, body: &Value) -> LlmError {
        let info = ErrorInfo::from_value(body);
        let status = info.implied_status();
        self.classify(status, None, &info)
    }

    fn classify(
        &self,
        status: Option<u16>,
        retry_after: Option<Duration>,
        info: &ErrorInfo,
    ) -> LlmError {
        let (provider, model, message) = self.parts(&info.message);
        let text = info.haystack();
        let has = |needle: &str| text.contains(needle);
        if status == Some(429) || has("rate_limit") || has("resource_exhausted") {
            return LlmError::RateLimited {
                provider,
                model,
                retry_after,
                message,
            };
        }
        if matches!(status, Some(401 | 403))
            || has("invalid_api_key")
            || has("authentication_error")
            || has("api_key_invalid")
            || has("api key not valid")
        {
            return LlmError::Auth {
                provider,
                model,
                message,
            };
        }
        if status == Some(413)
            || has("context_length_exceeded")
            || has("prompt is too long")
            || has("maximum context length")
            || has("context window")
            || has("context_window")
            || has("context limit")
            || has("exceeds the maximum number of tokens")
        {
            return LlmError::ContextOverflow {
                provider,
                model,
                message,
            };
        }
        // Before the unknown-model check: Ollama's "<model> does not support tools" names the
        // model too.
        if status == Some(400) && rejects_tools(&text) {
            return LlmError::ToolsUnsupported {
                provider,
                model,
                message,
            };
        }
        let says_no_model = has("model_not_found")
            || (has("model") && (has("does not exist") || has("not found")))
            || has("invalid model")
            || has("unknown model");
        if status == Some(404) || (status.is_none_or(|s| s < 500) && says_no_model) {
            return LlmError::UnknownModel {
                provider,
                model,
                message,
            };
        }
        LlmError::Server {
            provider,
            model,
            status,
            message,
        }
    }
}

/// Whether an error text (lowercased) is about the request's tool definitions: it names the
/// `tools` or `tool_choice` parameters, function calling, or says tools are unsupported
/// (Ollama). Whole words only, so "toolsets" or "dysfunctions" do not count; a 400 about
/// anything else (temperature, messages, ...) must not match.
fn rejects_tools(text: &str) -> bool {
    [
        "tools",
        "tool_choice",
        "tool choice",
        "functions",
        "function_call",
    ]
    .iter()
    .any(|word| mentions_word(text, word))
        || text.contains("function calling")
        || text.contains("function_calling")
        || text.contains("does not support tools")
}

/// `word` occurs in `text` with no letter, digit or `_` right before or after it.
fn mentions_word(text: &str, word: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

/// The interesting bits of an error body, in any of the three wire formats.
#[derive(Debug, Default)]
struct ErrorInfo {
    message: String,
    /// `code`, `type` and `status` strings (e.g. `context_length_exceeded`, `overloaded_error`,
    /// `RESOURCE_EXHAUSTED`), lowercased.
    codes: Vec<String>,
}

impl ErrorInfo {
    fn parse(body: &str) -> ErrorInfo {
        match serde_json::from_str::<Value>(body) {
            Ok(value) => {
                let info = ErrorInfo::from_value(&value);
                if info.message.is_empty() {
                    ErrorInfo {
                        message: body.to_owned(),
                        ..info
                    }
                } else {
                    info
                }
            }
            Err(_) => ErrorInfo {
                message: body.to_owned(),
                codes: Vec::new(),
            },
        }
    }

    fn from_value(value: &Value) -> ErrorInfo {
        // Gemini's streaming endpoint reports errors as a one-element array.
        let value = match value {
            Value::Array(items) => items.first().unwrap_or(value),
            other => other,
        };
        let error = value.get("error").unwrap_or(value);
        let mut info = ErrorInfo::default();
        match error {
            Value::String(text) => info.message = text.clone(),
            Value::Object(map) => {
                let text = ["message", "detail", "msg"]
                    .iter()
                    .find_map(|key| map.get(*key).and_then(Value::as_str));
                info.message = text.map(str::to_owned).unwrap_or_else(|| error.to_string());
                for key in ["code", "type", "status"] {
                    match map.get(key) {
                        Some(Value::String(code)) => info.codes.push(code.to_lowercase()),
                        Some(Value::Number(code)) => info.codes.push(code.to_string()),
                        _ => {}
                    }
                }
            }
            other => info.message = other.to_string(),
        }
        info
    }

    /// What an in-stream error type means as an HTTP status, so it is retried and reported
    /// like the equivalent response.
    fn implied_status(&self) -> Option<u16> {
        self.codes.iter().find_map(|code| match code.as_str() {
            "overloaded_error" => Some(529),
            "api_error" | "internal_server_error" | "server_error" => Some(500),
            "rate_limit_error" => Some(429),
            numeric => numeric
                .parse::<u16>()
                .ok()
                .filter(|s| (400..600).contains(s)),
        })
    }

    fn haystack(&self) -> String {
        let mut text = self.message.to_lowercase();
        for code in &self.codes {
            text.push(' ');
            text.push_str(code);
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: ErrorContext<'static> = ErrorContext {
        provider: "openai",
        model: "gpt-test",
        secret: Some("sk-secret"),
        request_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(1),
    };

    fn http(status: u16, body: &str) -> LlmError {
        CTX.http_error(status, None, body)
    }

    #[test]
    fn bodies_decide_when_the_status_does_not() {
        let (provider, model) = ("openai".to_owned(), "gpt-test".to_owned());
        assert_eq!(
            http(
                400,
                r#"{"error":{"message":"too long","code":"context_length_exceeded"}}"#
            ),
            LlmError::ContextOverflow {
                provider: provider.clone(),
                model: model.clone(),
                message: "too long".into()
            }
        );
        // Gemini answers a bad key with 400, not 401.
        assert_eq!(
            http(
                400,
                r#"{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT"}}"#
            ),
            LlmError::Auth {
                provider: provider.clone(),
                model: model.clone(),
                message: "API key not valid.".into()
            }
        );
        // Ollama's OpenAI-compatible endpoint.
        assert_eq!(
            http(
                400,
                r#"{"error":{"message":"model \"x\" not found, try pulling it first"}}"#
            ),
            LlmError::UnknownModel {
                provider: provider.clone(),
                model: model.clone(),
                message: "model \"x\" not found, try pulling it first".into()
            }
        );
        assert_eq!(
            http(
                413,
                r#"{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum size"}}"#
            ),
            LlmError::ContextOverflow {
                provider: provider.clone(),
                model: model.clone(),
                message: "Request exceeds the maximum size".into()
            }
        );
        let gateway = http(502, "<html>bad gateway</html>");
        assert_eq!(
            gateway,
            LlmError::Server {
                provider,
                model,
                status: Some(502),
                message: "<html>bad gateway</html>".into()
            }
        );
        assert!(gateway.is_retryable());
    }

    fn tools_unsupported(message: &str) -> LlmError {
        LlmError::ToolsUnsupported {
            provider: "openai".into(),
            model: "gpt-test".into(),
            message: message.into(),
        }
    }

    #[test]
    fn a_400_about_tools_is_tools_unsupported() {
        // OpenAI, a model without tool support.
        assert_eq!(
            http(
                400,
                r#"{"error":{"message":"Unsupported parameter: 'tools' is not supported with this model.","type":"invalid_request_error","param":"tools","code":"unsupported_parameter"}}"#
            ),
            tools_unsupported("Unsupported parameter: 'tools' is not supported with this model.")
        );
        // Ollama's OpenAI-compatible endpoint: the model's name is in the message.
        assert_eq!(
            http(
                400,
                r#"{"error":{"message":"registry.ollama.ai/library/gemma2:2b does not support tools","type":"api_error","param":null,"code":null}}"#
            ),
            tools_unsupported("registry.ollama.ai/library/gemma2:2b does not support tools")
        );
        // Anthropic-style (and Anthropic-compatible gateways).
        assert_eq!(
            http(
                400,
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"tools: Extra inputs are not permitted"}}"#
            ),
            tools_unsupported("tools: Extra inputs are not permitted")
        );
        // vLLM started without a tool parser.
        assert_eq!(
            http(
                400,
                r#"{"object":"error","message":"\"auto\" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set","type":"BadRequestError","param":null,"code":400}"#
            ),
            tools_unsupported(
                "\"auto\" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set"
            )
        );
        // DeepSeek's reasoner.
        assert_eq!(
            http(
                400,
                r#"{"error":{"message":"deepseek-reasoner does not support Function Calling","type":"invalid_request_error"}}"#
            ),
            tools_unsupported("deepseek-reasoner does not support Function Calling")
        );
        assert!(!tools_unsupported("x").is_retryable());
    }

    #[test]
    fn other_400s_are_not_about_tools() {
        for body in [
            r#"{"error":{"message":"Invalid value for 'temperature': must be between 0 and 2.","type":"invalid_request_error","param":"temperature","code":"invalid_value"}}"#,
            r#"{"error":{"message":"'messages' must contain the word 'json' to use response_format","type":"invalid_request_error"}}"#,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: 100000 > 8192, which is the maximum allowed for this model"}}"#,
            r#"{"error":{"message":"the toolset option is unknown; dysfunctions ahead"}}"#,
        ] {
            assert!(
                matches!(
                    http(400, body),
                    LlmError::Server {
                        status: Some(400),
                        ..
                    }
                ),
                "{body}"
            );
        }
        // Tools named by a 500 are the server's trouble, not a rejection of tools.
        assert!(matches!(
            http(500, r#"{"error":{"message":"tools crashed"}}"#),
            LlmError::Server {
                status: Some(500),
                ..
            }
        ));
    }

    #[test]
    fn stream_errors_imply_a_status() {
        let body = serde_json::json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
        let err = CTX.stream_error(&body);
        assert_eq!(
            err,
            LlmError::Server {
                provider: "openai".into(),
                model: "gpt-test".into(),
                status: Some(529),
                message: "Overloaded".into()
            }
        );
        assert!(err.is_retryable());
        let body = serde_json::json!([{"error": {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED"}}]);
        assert_eq!(
            CTX.stream_error(&body),
            LlmError::RateLimited {
                provider: "openai".into(),
                model: "gpt-test".into(),
                retry_after: None,
                message: "Quota".into()
            }
        );
    }
}
