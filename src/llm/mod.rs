//! The LLM provider layer: one trait, [`LlmProvider`], that streams a reply (text deltas,
//! tool-call progress, then one `Finished` event with the complete tool calls and usage),
//! implemented on the `genai` crate for three wire formats:
//!
//! - OpenAI chat completions: `openai`, `azure`, `groq`, `deepseek`, `openrouter`, `mistral`,
//!   `ollama`, `vllm`, `lmstudio`, and any other provider name given a `base_url`;
//! - Anthropic messages: `anthropic`;
//! - Google Gemini: `gemini` / `google`.
//!
//! genai is pinned (`=0.7.2`) and its behaviour we rely on is pinned by
//! `tests/llm_contract.rs`, which runs every wire format against a loopback mock server.
//!
//! Files: `types` (request/reply data), `setup` (config → URL/key), `convert` (our types ↔
//! genai's), `stream` (retries, events), `retry` (backoff, `Retry-After`), `error`
//! ([`LlmError`]), `classify` (which error a response is), `provider` (the implementation).

mod classify;
mod convert;
mod error;
mod provider;
mod retry;
mod setup;
mod stream;
mod types;

pub use error::{LlmError, MAX_MESSAGE_CHARS};
pub use provider::{ProviderOptions, build_provider, build_provider_with};
pub use retry::RetryPolicy;
pub use setup::{GENERIC_KEY_VAR, known_providers};
pub use types::{ChatMessage, ChatRequest, StreamEvent, ToolCall, ToolSpec, Usage};

use futures::stream::BoxStream;

/// A configured model. Cheap to share (`Arc<dyn LlmProvider>`); every call to
/// [`stream`](LlmProvider::stream) is an independent request.
///
/// `Debug` never shows the API key.
pub trait LlmProvider: Send + Sync + std::fmt::Debug {
    /// `provider/model`, for the status bar.
    fn describe(&self) -> String;

    /// Streams one reply. Errors before the first event are retried (429 and 5xx, honouring
    /// `Retry-After`); the stream ends after `Finished`, or after the first error.
    /// Dropping the stream cancels the request.
    fn stream(&self, request: ChatRequest) -> BoxStream<'static, Result<StreamEvent, LlmError>>;
}
