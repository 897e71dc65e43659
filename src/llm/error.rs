//! [`LlmError`]: what can go wrong, as one-line messages that name the provider and model
//! and quote the server's own message, cleaned of control characters, cut to
//! [`MAX_MESSAGE_CHARS`] and with the API key scrubbed out (some providers echo a rejected
//! key). `classify` decides which variant a failure is.

use std::time::Duration;

/// How much of a server's error message is kept.
pub const MAX_MESSAGE_CHARS: usize = 300;

/// Everything that can go wrong while building a provider or streaming a reply.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// The `LLM` config block (or the environment it needs) is unusable.
    #[error("LLM configuration: {message}")]
    Config { message: String },
    /// 401/403, or a body that says the key is invalid.
    #[error("the API key was rejected by {provider} (model {model}): {message}")]
    Auth {
        provider: String,
        model: String,
        message: String,
    },
    /// 404, or a body that says the model does not exist.
    #[error("{provider} does not know the model \"{model}\": {message}")]
    UnknownModel {
        provider: String,
        model: String,
        message: String,
    },
    /// The prompt (conversation + tools) does not fit the model's context window.
    #[error("the conversation is too long for {provider}/{model}: {message}")]
    ContextOverflow {
        provider: String,
        model: String,
        message: String,
    },
    /// A 400 that says the model or server does not take tool definitions (`tools`,
    /// `tool_choice`, function calling). With `LLM.tool_calling: "auto"` the agent switches to
    /// the text protocol when it sees this.
    #[error("{provider}/{model} does not accept tool definitions: {message}")]
    ToolsUnsupported {
        provider: String,
        model: String,
        message: String,
    },
    /// 429 after the retries ran out (or with a `Retry-After` too long to wait for).
    #[error("{provider}/{model} is rate limiting requests{}: {message}", retry_hint(.retry_after))]
    RateLimited {
        provider: String,
        model: String,
        retry_after: Option<Duration>,
        message: String,
    },
    /// Any other HTTP error status; `status` is `None` for an error reported inside a stream.
    #[error("{provider}/{model} failed{}: {message}", status_hint(.status))]
    Server {
        provider: String,
        model: String,
        status: Option<u16>,
        message: String,
    },
    /// The provider could not be reached, or the connection broke.
    #[error("could not reach {provider} for {model}: {message}")]
    Network {
        provider: String,
        model: String,
        message: String,
    },
    #[error("{provider}/{model} timed out: {message}")]
    Timeout {
        provider: String,
        model: String,
        message: String,
    },
    /// The reply could not be understood (bad JSON, tool arguments that are not JSON, ...).
    #[error("{provider}/{model} sent a reply that could not be read: {message}")]
    Malformed {
        provider: String,
        model: String,
        message: String,
    },
}

fn retry_hint(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(wait) => format!(" (retry after {}s)", wait.as_secs()),
        None => String::new(),
    }
}

fn status_hint(status: &Option<u16>) -> String {
    match status {
        Some(status) => format!(" with HTTP {status}"),
        None => " during the reply".to_owned(),
    }
}

impl LlmError {
    /// Whether sending the same request again may succeed: 429 and 5xx (529 is Anthropic's
    /// "overloaded").
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::RateLimited { .. } => true,
            LlmError::Server {
                status: Some(status),
                ..
            } => *status >= 500,
            _ => false,
        }
    }

    /// The wait the provider asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LlmError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// One line, no control characters, at most [`MAX_MESSAGE_CHARS`] characters, `secret` replaced.
pub(crate) fn clean_message(raw: &str, secret: Option<&str>) -> String {
    let scrubbed = match secret {
        Some(secret) if !secret.is_empty() => raw.replace(secret, "[redacted]"),
        _ => raw.to_owned(),
    };
    let mut out = String::with_capacity(scrubbed.len().min(MAX_MESSAGE_CHARS + 4));
    let mut count = 0;
    let mut pending_space = false;
    for c in scrubbed.chars() {
        if c.is_control() || c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if count >= MAX_MESSAGE_CHARS {
            out.push('…');
            break;
        }
        if pending_space {
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        out.push(c);
        count += 1;
    }
    if out.is_empty() {
        "(no message)".to_owned()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_clean_line_without_the_key() {
        let raw = "bad key sk-secret\n\tline\u{7}two   end";
        assert_eq!(
            clean_message(raw, Some("sk-secret")),
            "bad key [redacted] line two end"
        );
        let long = "x".repeat(400);
        let cleaned = clean_message(&long, None);
        assert_eq!(cleaned.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(cleaned.ends_with('…'));
        assert_eq!(clean_message(" \n ", None), "(no message)");
    }
}
