//! The one [`LlmProvider`] implementation: genai's client pointed at a resolved [`Target`],
//! plus our timeouts and retry policy. Building it checks the config and the key up front so
//! a bad setup is reported at startup, not at the first message; the HTTP client itself is
//! built by the first request.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::stream::BoxStream;
use genai::resolver::{AuthData, Endpoint};
use genai::{Headers, ModelIden, ServiceTarget};

use super::LlmProvider;
use super::classify::ErrorContext;
use super::convert::Sampling;
use super::error::LlmError;
use super::retry::RetryPolicy;
use super::setup::{self, Access, Target, Wire};
use super::types::{ChatRequest, StreamEvent};
use crate::config::LlmConfig;

/// Network behaviour of a provider. The defaults suit real providers; tests shorten them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderOptions {
    /// TCP + TLS connection setup.
    pub connect_timeout: Duration,
    /// From sending the request to the response headers (the model's "time to first byte").
    pub request_timeout: Duration,
    /// Longest silence between two pieces of a streamed reply. A stream as a whole has no
    /// deadline: long answers are fine as long as they keep coming.
    pub idle_timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for ProviderOptions {
    fn default() -> Self {
        ProviderOptions {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(120),
            retry: RetryPolicy::default(),
        }
    }
}

/// Builds the provider the `LLM` config block describes, with default [`ProviderOptions`].
/// `env` looks up variables (process environment, then `.env`: see `Config::env_var`).
pub fn build_provider(
    config: &LlmConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<dyn LlmProvider>, LlmError> {
    build_provider_with(config, env, ProviderOptions::default())
}

/// [`build_provider`] with explicit timeouts and retry policy.
pub fn build_provider_with(
    config: &LlmConfig,
    env: &dyn Fn(&str) -> Option<String>,
    options: ProviderOptions,
) -> Result<Arc<dyn LlmProvider>, LlmError> {
    let target = setup::resolve(config, env)?;
    let inner = Inner::new(target, config, options);
    Ok(Arc::new(GenaiProvider {
        inner: Arc::new(inner),
    }))
}

/// State shared by the provider and every stream it started.
pub(crate) struct Inner {
    /// Built by the first request: building it loads the system's root certificates (~10 ms),
    /// which would otherwise delay the dashboard's first frame.
    client: OnceLock<Result<genai::Client, LlmError>>,
    pub service_target: ServiceTarget,
    pub target: Target,
    pub sampling: Sampling,
    pub options: ProviderOptions,
}

impl Inner {
    fn new(target: Target, config: &LlmConfig, options: ProviderOptions) -> Inner {
        let kind = match target.wire {
            Wire::OpenAi => genai::adapter::AdapterKind::OpenAI,
            Wire::Anthropic => genai::adapter::AdapterKind::Anthropic,
            Wire::Gemini => genai::adapter::AdapterKind::Gemini,
        };
        let auth = match &target.access {
            Access::Key(key) => AuthData::from_single(key.as_str()),
            Access::Override { url, headers, .. } => AuthData::RequestOverride {
                url: url.clone(),
                headers: Headers::from(headers.clone()),
            },
        };
        let service_target = ServiceTarget {
            endpoint: Endpoint::from_owned(target.base_url.as_str()),
            auth,
            model: ModelIden::new(kind, target.model.as_str()),
        };
        let sampling = Sampling {
            temperature: config.temperature,
            max_tokens: config.max_tokens,
            top_p: config.top_p,
        };
        Inner {
            client: OnceLock::new(),
            service_target,
            target,
            sampling,
            options,
        }
    }

    pub fn describe(&self) -> String {
        format!("{}/{}", self.target.provider, self.target.model)
    }

    /// The genai client, built on first use; the error says why it could not be.
    pub fn client(&self) -> Result<&genai::Client, LlmError> {
        self.client
            .get_or_init(|| self.build_client())
            .as_ref()
            .map_err(Clone::clone)
    }

    fn build_client(&self) -> Result<genai::Client, LlmError> {
        crate::install_crypto_provider();
        let context = self.error_context();
        let http = reqwest::Client::builder()
            .connect_timeout(self.options.connect_timeout)
            .tcp_nodelay(true)
            .user_agent(concat!("mcpomni/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| context.config(&format!("cannot build the HTTP client: {e}")))?;
        genai::Client::builder()
            .with_reqwest(http)
            .build()
            .map_err(|e| context.config(&format!("cannot build the genai client: {e}")))
    }

    /// Whether a request has built the client yet (tests prove building the provider alone
    /// does not).
    #[cfg(test)]
    fn client_built(&self) -> bool {
        self.client.get().is_some()
    }

    pub fn error_context(&self) -> ErrorContext<'_> {
        ErrorContext {
            provider: &self.target.provider,
            model: &self.target.model,
            secret: self.target.access.secret(),
            request_timeout: self.options.request_timeout,
            idle_timeout: self.options.idle_timeout,
        }
    }
}

struct GenaiProvider {
    inner: Arc<Inner>,
}

impl LlmProvider for GenaiProvider {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn stream(&self, request: ChatRequest) -> BoxStream<'static, Result<StreamEvent, LlmError>> {
        super::stream::start(self.inner.clone(), request)
    }
}

// Written by hand so that no field holding the key can ever reach a log.
impl fmt::Debug for GenaiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = &self.inner.target;
        let auth = match &target.access {
            Access::Key(_) => "key",
            Access::Override {
                secret: Some(_), ..
            } => "key (custom header)",
            Access::Override { secret: None, .. } => "none",
        };
        f.debug_struct("LlmProvider")
            .field("provider", &target.provider)
            .field("model", &target.model)
            .field("wire", &target.wire)
            .field("base_url", &target.base_url)
            .field("auth", &auth)
            .field("options", &self.inner.options)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_http_client_is_built_by_the_first_request_not_with_the_provider() {
        let config = setup::tests::config("openai", Some("http://127.0.0.1:9/v1/"));
        let env = |name: &str| (name == "LLM_API_KEY").then(|| "k".to_owned());
        let target = setup::resolve(&config, &env).expect("a valid config");
        let inner = Inner::new(target, &config, ProviderOptions::default());
        assert!(!inner.client_built());
        let first: *const genai::Client = inner.client().expect("client");
        assert!(inner.client_built());
        let second: *const genai::Client = inner.client().expect("client");
        assert_eq!(first, second, "built once, then reused");
    }
}
