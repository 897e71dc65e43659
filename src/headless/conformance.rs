//! `mcpomni conformance URL`: the client side of the official MCP conformance suite
//! (`@modelcontextprotocol/conformance`). The suite starts a test server, then runs this
//! command with the server's URL and the scenario's name in `MCP_CONFORMANCE_SCENARIO` (and,
//! for some auth scenarios, client ids, secrets and keys as JSON in `MCP_CONFORMANCE_CONTEXT`).
//!
//! It is the product, not a separate client: one server through the same runtime, transports,
//! OAuth and elicitation code the dashboard uses, then what the scenario expects of a client
//! (list the tools; call the scenario's tool; for auth scenarios, call each tool). Three
//! things differ, because the suite is a machine: the configured servers are ignored, tokens
//! are kept in memory only (scenarios run side by side), and the browser step fetches the
//! authorization URL with redirects off and reads the code from the `Location` header (the
//! suite's authorization server approves at once and has no login page).

use std::time::Duration;

use rmcp::model::JsonObject;
use serde_json::{Map, Value, json};

use super::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::auth::AuthOptions;
use crate::auth::browser::BrowserStep;
use crate::auth::store::TokenStorage;
use crate::config::{
    AuthConfig, Config, ConfigSource, CrossAppConfig, LoadEnv, OAuthConfig, OAuthGrant,
    TransportConfig,
};
use crate::runtime::elicitation::{Policy, Reporter};
use crate::runtime::messages::ServerState;
use crate::runtime::{self, RuntimeOptions};

/// The server's name inside the runtime.
const SERVER: &str = "conformance";
/// Where our client-id metadata document would be published (the suite only checks its form).
const CLIENT_METADATA_URL: &str = "https://conformance-test.local/client-metadata.json";
/// How long one tool call may take (the suite's own timeout is longer).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The client scenarios of conformance suite 0.1.16.
const SCENARIOS: &[&str] = &[
    "initialize",
    "tools_call",
    "elicitation-sep1034-client-defaults",
    "sse-retry",
    "auth/metadata-default",
    "auth/metadata-var1",
    "auth/metadata-var2",
    "auth/metadata-var3",
    "auth/basic-cimd",
    "auth/scope-from-www-authenticate",
    "auth/scope-from-scopes-supported",
    "auth/scope-omitted-when-undefined",
    "auth/scope-step-up",
    "auth/scope-retry-limit",
    "auth/token-endpoint-auth-basic",
    "auth/token-endpoint-auth-post",
    "auth/token-endpoint-auth-none",
    "auth/pre-registration",
    "auth/2025-03-26-oauth-metadata-backcompat",
    "auth/2025-03-26-oauth-endpoint-fallback",
    "auth/resource-mismatch",
    "auth/offline-access-scope",
    "auth/offline-access-not-supported",
    "auth/client-credentials-jwt",
    "auth/client-credentials-basic",
    "auth/cross-app-access-complete-flow",
];

/// Runs the scenario named in the environment against `url`.
pub async fn conformance(url: &str) -> i32 {
    let Ok(scenario) = std::env::var("MCP_CONFORMANCE_SCENARIO") else {
        eprintln!("mcpomni conformance: MCP_CONFORMANCE_SCENARIO is not set");
        return EXIT_USAGE;
    };
    if !SCENARIOS.contains(&scenario.as_str()) {
        eprintln!(
            "mcpomni conformance: unknown scenario `{scenario}` (known: {})",
            SCENARIOS.join(", ")
        );
        return EXIT_USAGE;
    }
    let context: Map<String, Value> = match std::env::var("MCP_CONFORMANCE_CONTEXT") {
        Ok(text) => match serde_json::from_str(&text) {
            Ok(Value::Object(map)) => map,
            _ => {
                eprintln!("mcpomni conformance: MCP_CONFORMANCE_CONTEXT is not a JSON object");
                return EXIT_USAGE;
            }
        },
        Err(_) => Map::new(),
    };
    let config = match server_config(url, &oauth_config(&scenario, &context)) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("mcpomni conformance: {message}");
            return EXIT_USAGE;
        }
    };
    let options = RuntimeOptions {
        auth: AuthOptions {
            tokens: TokenStorage::memory(),
            sign_in_on_demand: Some(BrowserStep::FetchRedirect),
        },
        elicitation: Policy::AcceptDefaults,
        report: Some(Reporter::stderr()),
        ..RuntimeOptions::default()
    };
    let handle = match runtime::start(&config, options) {
        Ok((handle, _events)) => handle,
        Err(error) => {
            eprintln!("mcpomni conformance: {error}");
            return EXIT_USAGE;
        }
    };
    let status = drive(&handle, &scenario).await;
    handle.shutdown().await;
    status
}

/// What the scenario expects once the server is up.
async fn drive(handle: &runtime::RuntimeHandle, scenario: &str) -> i32 {
    let snapshots = handle.wait_settled().await;
    let Some(server) = snapshots.first() else {
        return EXIT_FAILURE;
    };
    if server.state != ServerState::Ready {
        eprintln!(
            "mcpomni conformance: the server is {}: {}",
            server.state.label(),
            server.last_error.as_deref().unwrap_or("no reason given")
        );
        // The resource-mismatch scenario wants the client to refuse; that is a pass for it.
        return if scenario == "auth/resource-mismatch" {
            EXIT_OK
        } else {
            EXIT_FAILURE
        };
    }
    let calls: Vec<(String, JsonObject)> = match scenario {
        "initialize" => Vec::new(),
        "tools_call" => vec![("add_numbers".to_owned(), object(json!({"a": 5, "b": 3})))],
        "elicitation-sep1034-client-defaults" => {
            vec![(
                "test_client_elicitation_defaults".to_owned(),
                JsonObject::new(),
            )]
        }
        "sse-retry" => vec![("test_reconnection".to_owned(), JsonObject::new())],
        _ => handle
            .catalog()
            .tools_of(SERVER)
            .map(|tool| (tool.name.clone(), JsonObject::new()))
            .collect(),
    };
    let mut status = EXIT_OK;
    for (tool, arguments) in calls {
        let cancel = tokio_util::sync::CancellationToken::new();
        let call = handle.call_tool(SERVER, &tool, arguments, Some(cancel.clone()));
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(result)) if result.is_error != Some(true) => {}
            Ok(Ok(_)) => {
                eprintln!("mcpomni conformance: `{tool}` returned an error result");
                status = EXIT_FAILURE;
            }
            Ok(Err(error)) => {
                eprintln!("mcpomni conformance: `{tool}`: {error}");
                status = EXIT_FAILURE;
            }
            Err(_) => {
                cancel.cancel();
                eprintln!("mcpomni conformance: `{tool}` did not answer within 30 s");
                status = EXIT_FAILURE;
            }
        }
    }
    status
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

/// The OAuth settings a scenario's context implies.
fn oauth_config(scenario: &str, context: &Map<String, Value>) -> OAuthConfig {
    let text = |key: &str| context.get(key).and_then(Value::as_str).map(str::to_owned);
    let mut config = OAuthConfig {
        client_id: text("client_id"),
        client_secret: text("client_secret"),
        client_metadata_url: Some(CLIENT_METADATA_URL.to_owned()),
        private_key: text("private_key_pem"),
        signing_algorithm: text("signing_algorithm"),
        ..OAuthConfig::default()
    };
    if let (Some(idp_issuer), Some(idp_token_endpoint), Some(idp_client_id), Some(id_token)) = (
        text("idp_issuer"),
        text("idp_token_endpoint"),
        text("idp_client_id"),
        text("idp_id_token"),
    ) {
        config.grant = OAuthGrant::CrossApp;
        config.cross_app = Some(CrossAppConfig {
            idp_issuer,
            idp_token_endpoint,
            idp_client_id,
            idp_client_secret: text("idp_client_secret"),
            id_token,
        });
    } else if scenario.starts_with("auth/client-credentials") {
        config.grant = OAuthGrant::ClientCredentials;
    }
    config
}

/// A config with the one server, streamable HTTP, OAuth as the scenario needs it.
fn server_config(url: &str, oauth: &OAuthConfig) -> Result<Config, String> {
    let text = json!({"mcpServers": {SERVER: {"url": url, "transport": "streamable_http"}}});
    let cwd = std::env::temp_dir();
    let vars = |_: &str| None;
    let env = LoadEnv {
        cwd: &cwd,
        config_home: None,
        vars: &vars,
        self_exe: std::path::PathBuf::from("mcpomni"),
    };
    let mut config = crate::config::parse(&text.to_string(), ConfigSource::Bundled, &env)
        .map_err(|e| e.to_string())?;
    for server in &mut config.servers {
        if let TransportConfig::Http(http) = &mut server.transport {
            http.auth = Some(AuthConfig::OAuth(Box::new(oauth.clone())));
        }
    }
    Ok(config)
}
