//! From the `LLM` config block to a concrete target: which wire format, which URL, which key.
//!
//! Keys come only from the injected `env` lookup (never from the process environment behind
//! the caller's back): `LLM_API_KEY` first, then the provider's usual variable.

use reqwest::Url;

use super::error::LlmError;
use crate::config::LlmConfig;

/// The three wire formats genai speaks for us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    /// OpenAI chat completions (also Azure, Groq, DeepSeek, OpenRouter, Mistral, Ollama, ...).
    OpenAi,
    Anthropic,
    Gemini,
}

/// How the request authenticates.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Access {
    /// The wire format's own header (`Authorization: Bearer`, `x-api-key`, `x-goog-api-key`).
    Key(String),
    /// A fixed URL and headers instead of genai's: Azure (`api-key` header, deployment URL) and
    /// key-less local servers (no `Authorization` header at all).
    Override {
        url: String,
        headers: Vec<(String, String)>,
        secret: Option<String>,
    },
}

impl Access {
    pub fn secret(&self) -> Option<&str> {
        match self {
            Access::Key(key) => Some(key),
            Access::Override { secret, .. } => secret.as_deref(),
        }
    }
}

/// Everything needed to talk to one provider.
#[derive(Clone)]
pub(crate) struct Target {
    /// The config's provider name, lowercased (what the status bar shows).
    pub provider: String,
    pub model: String,
    pub wire: Wire,
    /// API root ending in `/` (genai appends `chat/completions`, `messages`, `models/...`).
    pub base_url: String,
    pub access: Access,
}

/// The variable read before any provider-specific one (MCPOmni Connect's name).
pub const GENERIC_KEY_VAR: &str = "LLM_API_KEY";

struct Known {
    names: &'static [&'static str],
    wire: Wire,
    default_base: &'static str,
    key_vars: &'static [&'static str],
    key_required: bool,
}

// One provider per line reads better as a table than rustfmt's one field per line.
#[rustfmt::skip]
const KNOWN: &[Known] = &[
    Known { names: &["openai"], wire: Wire::OpenAi, default_base: "https://api.openai.com/v1/", key_vars: &["OPENAI_API_KEY"], key_required: true },
    Known { names: &["azure", "azureopenai", "azure_openai"], wire: Wire::OpenAi, default_base: "", key_vars: &["AZURE_OPENAI_API_KEY"], key_required: true },
    Known { names: &["anthropic"], wire: Wire::Anthropic, default_base: "https://api.anthropic.com/v1/", key_vars: &["ANTHROPIC_API_KEY"], key_required: true },
    Known { names: &["gemini", "google"], wire: Wire::Gemini, default_base: "https://generativelanguage.googleapis.com/v1beta/", key_vars: &["GEMINI_API_KEY", "GOOGLE_API_KEY"], key_required: true },
    Known { names: &["groq"], wire: Wire::OpenAi, default_base: "https://api.groq.com/openai/v1/", key_vars: &["GROQ_API_KEY"], key_required: true },
    Known { names: &["deepseek"], wire: Wire::OpenAi, default_base: "https://api.deepseek.com/v1/", key_vars: &["DEEPSEEK_API_KEY"], key_required: true },
    Known { names: &["openrouter", "open_router"], wire: Wire::OpenAi, default_base: "https://openrouter.ai/api/v1/", key_vars: &["OPENROUTER_API_KEY"], key_required: true },
    Known { names: &["mistral"], wire: Wire::OpenAi, default_base: "https://api.mistral.ai/v1/", key_vars: &["MISTRAL_API_KEY"], key_required: true },
    Known { names: &["ollama"], wire: Wire::OpenAi, default_base: "http://localhost:11434", key_vars: &[], key_required: false },
    Known { names: &["vllm"], wire: Wire::OpenAi, default_base: "http://localhost:8000/v1/", key_vars: &[], key_required: false },
    Known { names: &["lmstudio", "lm_studio", "lm-studio"], wire: Wire::OpenAi, default_base: "http://localhost:1234/v1/", key_vars: &[], key_required: false },
];

/// The provider names accepted in the config (first spelling of each).
pub fn known_providers() -> Vec<&'static str> {
    KNOWN
        .iter()
        .filter_map(|k| k.names.first().copied())
        .collect()
}

/// Azure's GA chat-completions API version, used when the config names none.
const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";

pub(crate) fn resolve(
    config: &LlmConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Target, LlmError> {
    let provider = config.provider.trim().to_lowercase();
    let model = config.model.trim().to_owned();
    let config_error = |message: String| LlmError::Config { message };
    if provider.is_empty() {
        return Err(config_error("the LLM block has no provider".to_owned()));
    }
    if model.is_empty() {
        return Err(config_error(format!(
            "the LLM block names no model for {provider}"
        )));
    }
    let base_url = non_empty(&config.base_url);
    let known = KNOWN.iter().find(|k| k.names.contains(&provider.as_str()));
    let Some(known) = known else {
        // Any other name is fine as long as it says where its OpenAI-compatible server is.
        let Some(base_url) = base_url else {
            return Err(config_error(format!(
                "unknown LLM provider \"{provider}\": use one of {}, or set base_url to an OpenAI-compatible server",
                known_providers().join(", ")
            )));
        };
        let base_url = api_root(base_url, Wire::OpenAi, &provider)?;
        let access = keyless_or_bearer(lookup_key(env, &[]), &base_url, &provider)?;
        return Ok(Target {
            provider,
            model,
            wire: Wire::OpenAi,
            base_url,
            access,
        });
    };

    let key = lookup_key(env, known.key_vars);
    if known.key_required && key.is_none() {
        let mut vars = vec![GENERIC_KEY_VAR];
        vars.extend(known.key_vars);
        return Err(config_error(format!(
            "no API key for {provider}: set {} (in the environment or in .env)",
            vars.join(" or ")
        )));
    }
    if known.names.contains(&"azure") {
        let key = key.unwrap_or_default();
        return azure(config, provider, model, key);
    }
    let base_url = match (base_url, known.names.contains(&"ollama")) {
        (Some(url), _) => api_root(url, known.wire, &provider)?,
        (None, true) => {
            let host = non_empty(&config.ollama_host).unwrap_or(known.default_base);
            api_root(host, Wire::OpenAi, &provider)?
        }
        (None, false) => known.default_base.to_owned(),
    };
    let access = match key {
        Some(key) => Access::Key(key),
        None => keyless_or_bearer(None, &base_url, &provider)?,
    };
    Ok(Target {
        provider,
        model,
        wire: known.wire,
        base_url,
        access,
    })
}

fn azure(
    config: &LlmConfig,
    provider: String,
    model: String,
    key: String,
) -> Result<Target, LlmError> {
    let endpoint = non_empty(&config.azure_endpoint)
        .or(non_empty(&config.base_url))
        .ok_or_else(|| LlmError::Config {
            message: format!(
                "{provider} needs azure_endpoint (e.g. https://NAME.openai.azure.com)"
            ),
        })?;
    let deployment = non_empty(&config.azure_deployment).unwrap_or(&model);
    let version = non_empty(&config.azure_api_version).unwrap_or(DEFAULT_AZURE_API_VERSION);
    let mut url = parse_http_url(endpoint, &provider, "azure_endpoint")?;
    url.path_segments_mut()
        .map_err(|()| LlmError::Config {
            message: format!("{provider}: azure_endpoint \"{endpoint}\" cannot have a path"),
        })?
        .pop_if_empty()
        .extend(["openai", "deployments", deployment, "chat", "completions"]);
    url.query_pairs_mut()
        .clear()
        .append_pair("api-version", version);
    let base_url = ensure_slash(endpoint);
    let access = Access::Override {
        url: url.to_string(),
        headers: vec![("api-key".to_owned(), key.clone())],
        secret: Some(key),
    };
    Ok(Target {
        provider,
        model,
        wire: Wire::OpenAi,
        base_url,
        access,
    })
}

/// With a key: the usual `Authorization: Bearer`. Without: genai would refuse to build the
/// request, so the URL is fixed here and sent with no auth header (local servers need none).
fn keyless_or_bearer(
    key: Option<String>,
    base_url: &str,
    provider: &str,
) -> Result<Access, LlmError> {
    if let Some(key) = key {
        return Ok(Access::Key(key));
    }
    let url = parse_http_url(base_url, provider, "base_url")?
        .join("chat/completions")
        .map_err(|e| LlmError::Config {
            message: format!("{provider}: bad base_url \"{base_url}\": {e}"),
        })?;
    Ok(Access::Override {
        url: url.to_string(),
        headers: Vec::new(),
        secret: None,
    })
}

fn lookup_key(env: &dyn Fn(&str) -> Option<String>, vars: &[&str]) -> Option<String> {
    std::iter::once(GENERIC_KEY_VAR)
        .chain(vars.iter().copied())
        .find_map(|var| {
            env(var)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        })
}

/// The API root genai expects, ending in `/`. OpenAI-compatible URLs are taken as given (they
/// include `/v1`, as in every OpenAI SDK); for Anthropic and Gemini a bare host gets the
/// version segment their SDKs add (`/v1`, `/v1beta`), and one that has it is left alone.
/// Ollama's host gets `/v1`, where its OpenAI-compatible API lives.
fn api_root(url: &str, wire: Wire, provider: &str) -> Result<String, LlmError> {
    let parsed = parse_http_url(url, provider, "base_url")?;
    let path = parsed.path().trim_end_matches('/');
    let version = match wire {
        Wire::OpenAi if provider == "ollama" && !path.ends_with("/v1") => Some("v1"),
        Wire::Anthropic if !path.ends_with("/v1") => Some("v1"),
        Wire::Gemini if !(path.ends_with("/v1beta") || path.ends_with("/v1")) => Some("v1beta"),
        _ => None,
    };
    let root = ensure_slash(url);
    Ok(match version {
        Some(version) => format!("{root}{version}/"),
        None => root,
    })
}

fn parse_http_url(url: &str, provider: &str, field: &str) -> Result<Url, LlmError> {
    let parsed = Url::parse(url).map_err(|e| LlmError::Config {
        message: format!("{provider}: {field} \"{url}\" is not a URL: {e}"),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(LlmError::Config {
            message: format!("{provider}: {field} \"{url}\" must start with http:// or https://"),
        });
    }
    Ok(parsed)
}

fn ensure_slash(url: &str) -> String {
    let trimmed = url.trim().trim_end_matches('/');
    format!("{trimmed}/")
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An `LLM` block with only the provider, model `m` and the API root set.
    pub(crate) fn config(provider: &str, base_url: Option<&str>) -> LlmConfig {
        LlmConfig {
            provider: provider.to_owned(),
            model: "m".to_owned(),
            temperature: None,
            max_tokens: None,
            top_p: None,
            max_context_length: None,
            azure_endpoint: None,
            azure_api_version: None,
            azure_deployment: None,
            ollama_host: None,
            base_url: base_url.map(str::to_owned),
            price: None,
            tool_calling: Default::default(),
        }
    }

    fn resolved(provider: &str, base_url: Option<&str>) -> (Wire, String, bool) {
        let env = |name: &str| (name == "LLM_API_KEY").then(|| "k".to_owned());
        let target = resolve(&config(provider, base_url), &env).unwrap();
        let keyed = matches!(target.access, Access::Key(_));
        (target.wire, target.base_url, keyed)
    }

    #[test]
    fn default_and_explicit_api_roots() {
        let cases = [
            (
                "groq",
                None,
                Wire::OpenAi,
                "https://api.groq.com/openai/v1/",
            ),
            (
                "open_router",
                None,
                Wire::OpenAi,
                "https://openrouter.ai/api/v1/",
            ),
            ("vllm", None, Wire::OpenAi, "http://localhost:8000/v1/"),
            ("lm-studio", None, Wire::OpenAi, "http://localhost:1234/v1/"),
            ("ollama", None, Wire::OpenAi, "http://localhost:11434/v1/"),
            (
                "ollama",
                Some("http://box:11434/v1"),
                Wire::OpenAi,
                "http://box:11434/v1/",
            ),
            (
                "google",
                None,
                Wire::Gemini,
                "https://generativelanguage.googleapis.com/v1beta/",
            ),
            (
                "gemini",
                Some("http://proxy/v1"),
                Wire::Gemini,
                "http://proxy/v1/",
            ),
            (
                "anthropic",
                Some("http://proxy"),
                Wire::Anthropic,
                "http://proxy/v1/",
            ),
            (
                "anthropic",
                Some("http://proxy/v1/"),
                Wire::Anthropic,
                "http://proxy/v1/",
            ),
            (
                "openai",
                Some("http://proxy/api"),
                Wire::OpenAi,
                "http://proxy/api/",
            ),
        ];
        for (provider, base_url, wire, root) in cases {
            assert_eq!(
                resolved(provider, base_url),
                (wire, root.to_owned(), true),
                "{provider} {base_url:?}"
            );
        }
    }

    #[test]
    fn urls_must_be_http() {
        let env = |_: &str| Some("k".to_owned());
        let error = resolve(&config("openai", Some("ftp://x")), &env).err();
        assert_eq!(
            error,
            Some(LlmError::Config {
                message: "openai: base_url \"ftp://x\" must start with http:// or https://".into()
            })
        );
    }
}
