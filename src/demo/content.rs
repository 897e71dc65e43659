//! The demo server's static resources and its `review_code` prompt.
//!
//! Everything here is deterministic (no timestamps, no environment), so tests
//! and snapshot-style checks in the client can compare exact values.

use rmcp::{
    ErrorData,
    model::{
        GetPromptResult, JsonObject, Prompt, PromptArgument, PromptMessage, Resource,
        ResourceContents, Role,
    },
};
use serde_json::{Value, json};

use super::{
    SERVER_NAME,
    tools::{DELAY_MAX_MS, LOREM_MAX_BYTES, SLEEP_MAX_MS, STEPS_MAX, STEPS_MIN},
};

/// URI of the markdown readme resource.
pub(super) const README_URI: &str = "demo://readme";
/// URI of the JSON configuration resource.
pub(super) const CONFIG_URI: &str = "demo://config.json";
/// Name of the only prompt.
pub(super) const REVIEW_CODE_PROMPT: &str = "review_code";

const MARKDOWN: &str = "text/markdown";
const JSON: &str = "application/json";

/// Body of `demo://readme`.
pub(super) const README: &str = "\
# mcpomni demo server

`mcpomni-demo` is a small MCP server bundled with mcpomni, for trying the
client out and for testing it. It keeps no state and touches nothing outside
its own process.

## Tools

| Tool | What it does |
| --- | --- |
| `echo` | Returns `message` unchanged. |
| `add` | Adds `a` and `b`; returns text and structured content `{\"sum\": ...}`. |
| `count_with_progress` | Counts to `steps`, sending a progress notification per step. |
| `fail` | Always returns a tool error (`isError: true`), with an optional `reason`. |
| `sleep` | Waits `ms` milliseconds; stops early when the request is cancelled. |
| `lorem` | Returns exactly `bytes` bytes of lorem-ipsum text. |

## Resources

- `demo://readme`: this document.
- `demo://config.json`: the server's limits, as JSON.

## Prompts

- `review_code`: asks for a review of `code`, optionally naming its `language`.
";

/// The resource list, in the order clients should show it.
pub(super) fn resources() -> Result<Vec<Resource>, ErrorData> {
    let config = config_json()?;
    Ok(vec![
        Resource::new(README_URI, "readme")
            .with_title("Demo server readme")
            .with_description("What the demo server offers, in markdown")
            .with_mime_type(MARKDOWN)
            .with_size(README.len() as u64),
        Resource::new(CONFIG_URI, "config.json")
            .with_title("Demo server configuration")
            .with_description("The demo server's name, version, tools and limits, as JSON")
            .with_mime_type(JSON)
            .with_size(config.len() as u64),
    ])
}

/// The contents of the resource at `uri`, or resource-not-found naming it.
pub(super) fn read_resource(uri: &str) -> Result<ResourceContents, ErrorData> {
    match uri {
        README_URI => Ok(ResourceContents::text(README, uri).with_mime_type(MARKDOWN)),
        CONFIG_URI => Ok(ResourceContents::text(config_json()?, uri).with_mime_type(JSON)),
        _ => Err(ErrorData::resource_not_found(
            format!("resource not found: {uri}"),
            Some(json!({ "uri": uri })),
        )),
    }
}

/// Body of `demo://config.json`: pretty-printed, keys in insertion order.
pub(super) fn config_json() -> Result<String, ErrorData> {
    let value = json!({
        "server": SERVER_NAME,
        "version": env!("CARGO_PKG_VERSION"),
        "tools": ["add", "count_with_progress", "echo", "fail", "lorem", "sleep"],
        "limits": {
            "count_with_progress": {
                "min_steps": STEPS_MIN,
                "max_steps": STEPS_MAX,
                "max_delay_ms": DELAY_MAX_MS,
            },
            "sleep": { "max_ms": SLEEP_MAX_MS },
            "lorem": { "max_bytes": LOREM_MAX_BYTES },
        },
    });
    serde_json::to_string_pretty(&value).map_err(|error| {
        ErrorData::internal_error(format!("failed to render {CONFIG_URI}: {error}"), None)
    })
}

/// The `review_code` prompt as listed by `prompts/list`.
pub(super) fn review_code_prompt() -> Prompt {
    Prompt::new(
        REVIEW_CODE_PROMPT,
        Some("Ask the model to review a piece of code for bugs, clarity and style"),
        Some(vec![
            PromptArgument::new("code")
                .with_title("Code")
                .with_description("The code to review")
                .with_required(true),
            PromptArgument::new("language")
                .with_title("Language")
                .with_description("The programming language of the code, e.g. rust")
                .with_required(false),
        ]),
    )
    .with_title("Review code")
}

/// Answer `prompts/get`: an unknown name or a missing `code` is invalid-params.
pub(super) fn get_prompt(
    name: &str,
    arguments: Option<&JsonObject>,
) -> Result<GetPromptResult, ErrorData> {
    if name != REVIEW_CODE_PROMPT {
        return Err(ErrorData::invalid_params(
            format!("unknown prompt: {name}"),
            Some(json!({ "name": name })),
        ));
    }
    // A blank `code` is treated as missing: a form left empty in a client UI
    // would otherwise produce a review request with nothing to review.
    let code = string_argument(arguments, "code")?
        .filter(|code| !code.trim().is_empty())
        .ok_or_else(|| {
            ErrorData::invalid_params(
                "missing required argument: code",
                Some(json!({ "argument": "code" })),
            )
        })?;
    let language = string_argument(arguments, "language")?
        .map(str::trim)
        .filter(|language| !language.is_empty());

    let text = match language {
        Some(language) => format!(
            "Please review the following {language} code. Point out bugs, unclear parts and \
             style problems, and suggest concrete improvements.\n\n```{language}\n{code}\n```"
        ),
        None => format!(
            "Please review the following code. Point out bugs, unclear parts and style \
             problems, and suggest concrete improvements.\n\n```\n{code}\n```"
        ),
    };
    Ok(
        GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
            .with_description("Code review request"),
    )
}

/// The string argument `name`, `None` when absent; prompt arguments are
/// strings in MCP, so any other JSON type is invalid-params.
fn string_argument<'a>(
    arguments: Option<&'a JsonObject>,
    name: &str,
) -> Result<Option<&'a str>, ErrorData> {
    match arguments.and_then(|arguments| arguments.get(name)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(ErrorData::invalid_params(
            format!("argument {name} must be a string"),
            Some(json!({ "argument": name })),
        )),
    }
}
