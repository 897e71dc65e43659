//! The headless subcommands (`servers`, `tools`, `call`, `resources`, `read`, `prompts`,
//! `prompt`, the agent's `run` in `run.rs` and `replay` in `replay.rs`): start the servers a command needs through the same runtime the dashboard uses,
//! wait until they have settled, do one thing, print it, shut down.
//!
//! Exit status: 0 success, 1 a server or tool failed or a server needs authorization (a tool
//! result with `isError` prints the server's message on stderr), 2 usage or config error,
//! 130 interrupted. Commands report after each server's first attempt to start; they never
//! wait for a server's retries.

mod conformance;
mod output;
mod replay;
mod run;
mod sessions;
mod sign_in;

use std::future::Future;

use rmcp::model::JsonObject;
use tokio_util::sync::CancellationToken;

use crate::cli::Cmd;
use crate::config::Config;
use crate::runtime::content::{blocks_text, resource_text};
use crate::runtime::elicitation::{Policy, Reporter};
use crate::runtime::messages::ServerState;
use crate::runtime::request::RequestError;
use crate::runtime::server::CallError;
use crate::runtime::{self, RuntimeError, RuntimeHandle, RuntimeOptions, Snapshots};
use output::Out;

pub use conformance::conformance;

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILURE: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_INTERRUPTED: i32 = 130;
/// Stderr lines `servers --json` shows per server.
const STDERR_TAIL: usize = 20;

/// How headless commands start the runtime: servers' requests for input are answered by
/// `elicit`, and what was asked and answered (and roots not sent) is said on stderr.
fn headless_options(elicit: Policy) -> RuntimeOptions {
    RuntimeOptions {
        elicitation: elicit,
        report: Some(Reporter::stderr()),
        ..RuntimeOptions::default()
    }
}

/// Runs one headless command and returns the exit status.
pub async fn run(command: Cmd, config: &Config, elicit: Policy) -> i32 {
    if let Cmd::Run {
        query,
        mode,
        approve,
        json,
        step,
        breaks,
        trace,
    } = command
    {
        let args = run::RunArgs {
            query,
            mode,
            approve,
            json,
            step,
            breaks,
            trace,
        };
        return run::run(args, config, headless_options(elicit)).await;
    }
    if let Cmd::Auth { server } = &command {
        return sign_in::auth(config, server).await;
    }
    if let Cmd::Logout { server } = &command {
        return sign_in::logout(config, server).await;
    }
    if let Cmd::Replay { file, live } = command {
        return replay::replay(&file, live, config, headless_options(elicit)).await;
    }
    if let Cmd::Sessions { action, json } = command {
        let store =
            match crate::memory::open_store(&config.memory, &|name| config.env_var(name)).await {
                Ok(store) => store,
                Err(error) => {
                    eprintln!("mcpomni: {error}");
                    return EXIT_USAGE;
                }
            };
        return sessions::sessions(store, action, json).await;
    }
    let only = match &command {
        Cmd::Call { server, .. } | Cmd::Read { server, .. } | Cmd::Prompt { server, .. } => {
            Some(vec![server.clone()])
        }
        Cmd::Tools { server, .. } | Cmd::Resources { server, .. } | Cmd::Prompts { server, .. } => {
            server.clone().map(|s| vec![s])
        }
        Cmd::Servers { .. }
        | Cmd::DemoServer
        | Cmd::Conformance { .. }
        | Cmd::Auth { .. }
        | Cmd::Logout { .. }
        | Cmd::Run { .. }
        | Cmd::Replay { .. }
        | Cmd::Sessions { .. }
        | Cmd::Trace { .. } => None,
    };
    // Commands that use one server may sign in when it asks, if a person is at the terminal;
    // listings, and anything without a terminal, report NeedsAuth instead.
    let uses_a_server = matches!(
        command,
        Cmd::Call { .. } | Cmd::Read { .. } | Cmd::Prompt { .. }
    );
    let options = RuntimeOptions {
        only,
        auth: terminal_auth(uses_a_server),
        ..headless_options(elicit)
    };
    let Some(handle) = start_runtime(config, options) else {
        return EXIT_USAGE;
    };
    let cancel = CancellationToken::new();
    let status = interruptible(dispatch(command, &handle, cancel.clone()), cancel).await;
    handle.shutdown().await;
    status
}

/// Where tokens are kept, and whether a server's 401 may start a browser sign-in (only when
/// `may_sign_in` and stderr is a terminal, where the URL is shown).
pub(crate) fn terminal_auth(may_sign_in: bool) -> crate::auth::AuthOptions {
    use std::io::IsTerminal;
    crate::auth::AuthOptions {
        sign_in_on_demand: (may_sign_in && std::io::stderr().is_terminal())
            .then(sign_in::terminal_browser_step),
        ..crate::auth::AuthOptions::default()
    }
}

/// Starts the runtime, or says on stderr why it cannot (the caller exits with 2). Headless
/// commands read results, not the event stream, so the events are dropped.
fn start_runtime(config: &Config, options: RuntimeOptions) -> Option<RuntimeHandle> {
    match runtime::start(config, options) {
        Ok((handle, _events)) => Some(handle),
        Err(error) => {
            eprintln!("mcpomni: {error}");
            None
        }
    }
}

/// Runs `work`; Ctrl-C (SIGINT), SIGTERM or SIGHUP cancels it — the server is told with
/// `notifications/cancelled` — and exits 130.
async fn interruptible(work: impl Future<Output = i32>, cancel: CancellationToken) -> i32 {
    tokio::pin!(work);
    tokio::select! {
        status = &mut work => status,
        () = interrupted() => {
            cancel.cancel();
            // Let the call see the cancel and notify the server (bounded: never hang here).
            let _ = tokio::time::timeout(INTERRUPT_GRACE, &mut work).await;
            eprintln!("mcpomni: interrupted");
            EXIT_INTERRUPTED
        }
    }
}

/// How long an interrupted command may take to wind down.
const INTERRUPT_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(mut int), Ok(mut term), Ok(mut hup)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

async fn dispatch(command: Cmd, handle: &RuntimeHandle, cancel: CancellationToken) -> i32 {
    let snapshots = handle.wait_settled().await;
    let mut out = Out::stdout();
    match command {
        Cmd::Servers { json } => {
            let stderr_tail = |name: &str| handle.stderr_tail(name, STDERR_TAIL);
            output::servers(&mut out, &snapshots, json, &stderr_tail);
            report_failures(&snapshots)
        }
        Cmd::Tools { json, .. } => {
            output::tools(&mut out, &handle.catalog(), json);
            report_failures(&snapshots)
        }
        Cmd::Resources { json, .. } => {
            output::resources(&mut out, &handle.catalog(), json);
            report_failures(&snapshots)
        }
        Cmd::Prompts { json, .. } => {
            output::prompts(&mut out, &handle.catalog(), json);
            report_failures(&snapshots)
        }
        Cmd::Call {
            server,
            tool,
            arguments,
            args,
            json,
        } => {
            let Some(arguments) = given_arguments(arguments, &args) else {
                return EXIT_USAGE;
            };
            match handle
                .call_tool(&server, &tool, arguments, Some(cancel))
                .await
            {
                Ok(result) => {
                    let failed = result.is_error.unwrap_or(false);
                    if json {
                        out.json(&result);
                    } else if failed {
                        eprintln!(
                            "mcpomni: {server}/{tool} returned an error: {}",
                            out.clean(&blocks_text(&result.content))
                        );
                    } else {
                        let text = blocks_text(&result.content);
                        match (&result.structured_content, text.is_empty()) {
                            (Some(structured), true) => out.json(structured),
                            _ => out.text(&text),
                        }
                    }
                    if failed { EXIT_FAILURE } else { EXIT_OK }
                }
                // Interrupted: `interruptible` says so.
                Err(RuntimeError::Call(CallError::Request {
                    error: RequestError::Cancelled { .. },
                    ..
                })) => EXIT_INTERRUPTED,
                Err(error) => {
                    eprintln!("mcpomni: {error}");
                    EXIT_FAILURE
                }
            }
        }
        Cmd::Read { server, uri, json } => match handle.read_resource(&server, &uri).await {
            Ok(result) => {
                if json {
                    out.json(&result);
                } else {
                    let text: Vec<String> = result.contents.iter().map(resource_text).collect();
                    out.text(&text.join("\n"));
                }
                EXIT_OK
            }
            Err(error) => {
                eprintln!("mcpomni: {error}");
                EXIT_FAILURE
            }
        },
        Cmd::Prompt {
            server,
            name,
            arguments,
            args,
            json,
        } => {
            let Some(arguments) = given_arguments(arguments, &args) else {
                return EXIT_USAGE;
            };
            match handle.get_prompt(&server, &name, arguments).await {
                Ok(result) => {
                    if json {
                        out.json(&result);
                    } else {
                        output::prompt_messages(&mut out, &result);
                    }
                    EXIT_OK
                }
                Err(error) => {
                    eprintln!("mcpomni: {error}");
                    EXIT_FAILURE
                }
            }
        }
        // Handled before any runtime starts (`main`, `run` above).
        Cmd::DemoServer
        | Cmd::Conformance { .. }
        | Cmd::Auth { .. }
        | Cmd::Logout { .. }
        | Cmd::Run { .. }
        | Cmd::Replay { .. }
        | Cmd::Trace { .. }
        | Cmd::Sessions { .. } => EXIT_USAGE,
    }
}

/// Prints a line on stderr for every server that did not come up (or waits for the user to
/// authorize it); 1 if there was one.
fn report_failures(snapshots: &Snapshots) -> i32 {
    let mut status = EXIT_OK;
    for s in snapshots.iter() {
        let reason = s.last_error.as_deref().unwrap_or("no reason given");
        match s.state {
            ServerState::Failed | ServerState::Degraded => {
                eprintln!("mcpomni: server `{}` is {}: {reason}", s.name, s.state);
                status = EXIT_FAILURE;
            }
            ServerState::NeedsAuth => {
                let hint = format!("; run `mcpomni auth {}`", s.name);
                eprintln!(
                    "mcpomni: server `{}` needs authorization ({}): {reason}{hint}",
                    s.name, s.state
                );
                status = EXIT_FAILURE;
            }
            ServerState::Starting
            | ServerState::Initializing
            | ServerState::Ready
            | ServerState::Reconnecting
            | ServerState::Stopped => {}
        }
    }
    status
}

/// The arguments given as the positional JSON, or else with `--args` (clap rejects both).
fn given_arguments(positional: Option<String>, flag: &str) -> Option<JsonObject> {
    match positional {
        Some(text) => parse_object("arguments", &text),
        None => parse_object("--args", flag),
    }
}

fn parse_object(flag: &str, text: &str) -> Option<JsonObject> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => Some(map),
        Ok(other) => {
            eprintln!(
                "mcpomni: {flag}: expected a JSON object like '{{\"key\": \"value\"}}', got {}",
                json_kind(&other)
            );
            None
        }
        Err(error) => {
            eprintln!("mcpomni: {flag}: not valid JSON: {error}");
            None
        }
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
