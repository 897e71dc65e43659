//! `mcpomni run "QUERY"`: one turn of the agent without the dashboard. Servers start as for
//! the dashboard (every enabled one, with sampling offered when an LLM is configured); the
//! answer goes to stdout, each tool call is reported on stderr as it happens, and `--json`
//! prints the answer, the tool calls and the usage instead. `--trace FILE` saves every trace
//! step as it happens (`crate::tracefile`).
//!
//! Exit status: 0 answered, 1 the model or a limit stopped the turn, 2 usage or config error
//! (including no usable LLM), 130 interrupted.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::output::Out;
use super::{EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, interruptible, start_runtime};
use crate::agent::AgentSettings;
use crate::agent::headless::{ApproveAll, run_once};
use crate::agent::trace::StepSink;
use crate::agent::turn::{CallRecord, TurnRecord};
use crate::agent::usage::describe;
use crate::cli::{Approve, RunMode};
use crate::config::Config;
use crate::llm;
use crate::memory::{
    self,
    writer::{SaveState, SessionSink},
};
use crate::protocol::{AgentEvent, CallOutcome, TurnOutcome, UsageTotals};
use crate::runtime::RuntimeOptions;
use crate::runtime::messages::ServerState;
use crate::text::{human_duration, sanitize_line};
use crate::tracefile::{TraceSink, TraceWriter, config_secrets};

/// What `run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunArgs {
    pub query: String,
    /// `None`: the config's `AgentConfig.mode`.
    pub mode: Option<RunMode>,
    pub approve: Approve,
    pub json: bool,
    /// `--step`: pause before every step and ask on the terminal.
    pub step: bool,
    /// `--break`, added to `AgentConfig.breakpoints`.
    pub breaks: Vec<crate::protocol::debug::Breakpoint>,
    /// Where to save the trace.
    pub trace: Option<PathBuf>,
}

pub async fn run(args: RunArgs, config: &Config, options: RuntimeOptions) -> i32 {
    let pauses_wanted =
        args.step || !args.breaks.is_empty() || !config.agent.breakpoints.is_empty();
    if pauses_wanted && !std::io::stdin().is_terminal() {
        eprintln!(
            "mcpomni run: --step and breakpoints ask on the terminal, and stdin is not one; run \
             without them (or with AgentConfig.breakpoints empty)"
        );
        return EXIT_USAGE;
    }
    let Some(llm_config) = &config.llm else {
        eprintln!(
            "mcpomni run: no LLM is configured in {}. Add an \"LLM\" section, for example \
             \"LLM\": {{\"provider\": \"openai\", \"model\": \"gpt-4o-mini\"}}, and put the key \
             in the environment or .env as LLM_API_KEY.",
            config.source.display_name()
        );
        return EXIT_USAGE;
    };
    let provider = match llm::build_provider(llm_config, &|name| config.env_var(name)) {
        Ok(provider) => provider,
        Err(error) => {
            eprintln!(
                "mcpomni run: the LLM in {} cannot be used: {error}",
                config.source.display_name()
            );
            return EXIT_USAGE;
        }
    };
    let trace = match &args.trace {
        None => None,
        Some(path) => match TraceWriter::create(path, config_secrets(config)) {
            Ok(writer) => Some(TraceSink::new(writer)),
            Err(error) => {
                eprintln!(
                    "mcpomni run: cannot create the trace file {}: {error}",
                    path.display()
                );
                return EXIT_USAGE;
            }
        },
    };
    let Some(session) = open_session(config).await else {
        return EXIT_USAGE;
    };
    let (sampling_tx, sampling_rx) = mpsc::channel(8);
    let options = RuntimeOptions {
        sampling: Some(sampling_tx),
        auth: super::terminal_auth(true),
        ..options
    };
    let Some(handle) = start_runtime(config, options) else {
        return EXIT_USAGE;
    };
    let cancel = CancellationToken::new();
    let turn_cancel = cancel.clone();
    let work = async {
        for s in handle.wait_settled().await.iter() {
            if s.state != ServerState::Ready {
                eprintln!(
                    "mcpomni: server `{}` is {} ({}); its tools are not offered",
                    s.name,
                    s.state,
                    s.last_error.as_deref().unwrap_or("no reason given")
                );
            }
        }
        let (events, progress) = mpsc::channel(64);
        let printer = tokio::spawn(report_progress(progress));
        let mode = args.mode.map_or(config.agent.mode, RunMode::agent_mode);
        let approve = match args.approve {
            Approve::All => ApproveAll::All,
            Approve::None => ApproveAll::None,
            Approve::Ask => ApproveAll::Ask,
        };
        let mut settings = AgentSettings::from_config(config);
        settings.history = session.history.clone();
        settings.session = Some(session.sink.clone());
        (settings.last_step, settings.last_turn) = session.last_ids;
        settings.step = args.step;
        settings.breakpoints.extend(args.breaks.iter().cloned());
        warn_unmatched_tool_breakpoints(&settings.breakpoints, &handle.catalog());
        settings.trace = trace
            .clone()
            .map(|sink| Arc::new(sink) as Arc<dyn StepSink>);
        let (record, usage) = run_once(
            &settings,
            provider,
            handle.clone(),
            args.query.clone(),
            mode,
            approve,
            Some(sampling_rx),
            events,
            turn_cancel,
        )
        .await;
        let _ = printer.await;
        if let SaveState::NotSaved { reason, .. } = session.sink.flush().await {
            eprintln!(
                "mcpomni run: this turn was not saved to session {}: {reason}",
                session.sink.id
            );
        }
        if let Some(error) = trace.as_ref().and_then(TraceSink::failure) {
            eprintln!("mcpomni run: {error}");
        }
        print_result(&record, &usage, args.json)
    };
    let status = interruptible(work, cancel).await;
    handle.shutdown().await;
    status
}

/// The session `run` continues, opened in the configured store.
struct RunSession {
    sink: SessionSink,
    history: Vec<crate::llm::ChatMessage>,
    /// The newest step and turn of its stored trace.
    last_ids: (crate::protocol::StepId, crate::protocol::TurnId),
}

/// Opens the store and the session (`--session`, `--continue`, else a new one) and says on
/// stderr which it is; `None` after saying why it cannot (the caller exits 2).
async fn open_session(config: &Config) -> Option<RunSession> {
    let store = match memory::open_store(&config.memory, &|name| config.env_var(name)).await {
        Ok(store) => store,
        Err(error) => {
            eprintln!("mcpomni run: {error}");
            return None;
        }
    };
    let started = match memory::session::start(&store, &config.memory.session).await {
        Ok(started) => started,
        Err(error) => {
            eprintln!("mcpomni run: {error}");
            return None;
        }
    };
    if let Some(note) = &started.note {
        eprintln!("mcpomni run: {note}");
    }
    for warning in &started.loaded.warnings {
        eprintln!("mcpomni run: warning: {warning}");
    }
    eprintln!(
        "mcpomni run: session {} ({} store)",
        started.id,
        store.kind().label()
    );
    let history = memory::history::conversation(&started.loaded.entries);
    let last_ids =
        crate::agent::session_steps::last_ids(&memory::history::steps(&started.loaded.entries));
    let (sink, _state) = memory::writer::spawn(store, started.id);
    Some(RunSession {
        sink,
        history,
        last_ids,
    })
}

/// A `tool:GLOB` breakpoint that matches no tool of any Ready server never pauses: say so.
fn warn_unmatched_tool_breakpoints(
    breakpoints: &[crate::protocol::debug::Breakpoint],
    catalog: &crate::runtime::catalog::Catalog,
) {
    for breakpoint in breakpoints {
        if let crate::protocol::debug::Breakpoint::Tool(glob) = breakpoint
            && !catalog
                .tools
                .iter()
                .any(|tool| crate::protocol::debug::glob_matches(glob, &tool.qualified_name))
        {
            eprintln!("mcpomni: warning: breakpoint {breakpoint} matches no tool of any server");
        }
    }
}

/// Tool calls as they happen, on stderr (stdout is the answer's).
pub(super) async fn report_progress(mut events: mpsc::Receiver<AgentEvent>) {
    let stderr_is_terminal = std::io::stderr().is_terminal();
    while let Some(event) = events.recv().await {
        let Some(line) = progress_line(event) else {
            continue;
        };
        // Tool names and results come from servers and the model: never let them drive a
        // terminal.
        if stderr_is_terminal {
            eprintln!("{}", sanitize_line(&line));
        } else {
            eprintln!("{line}");
        }
    }
}

/// The stderr line for an agent event, if it gets one.
fn progress_line(event: AgentEvent) -> Option<String> {
    match event {
        AgentEvent::ToolCallStarted {
            call,
            approved_by,
            edited,
            ..
        } => Some(format!(
            "→ {} {} ({}{})",
            call.qualified_name,
            crate::text::truncate_chars(&call.arguments.to_string(), 200),
            approved_by.describe(),
            if edited {
                ", with edited arguments"
            } else {
                ""
            }
        )),
        AgentEvent::ToolCallFinished {
            qualified_name,
            outcome,
            elapsed,
            ..
        } => Some(match outcome {
            CallOutcome::Ok { summary } => format!(
                "← {qualified_name}: ok in {}: {summary}",
                human_duration(elapsed)
            ),
            CallOutcome::Failed { error } => format!("← {qualified_name}: failed: {error}"),
            CallOutcome::Denied => {
                format!("✗ {qualified_name}: denied (the server was not called)")
            }
            CallOutcome::Refused { reason } => format!("✗ {qualified_name}: {reason}"),
            CallOutcome::Cancelled => format!("✗ {qualified_name}: cancelled"),
            CallOutcome::Unknown => format!("← {qualified_name}: finished"),
        }),
        AgentEvent::AssistantDelta { .. }
        | AgentEvent::ApprovalRequested { .. }
        | AgentEvent::ToolCallProgress { .. }
        | AgentEvent::TurnFinished { .. }
        | AgentEvent::Trace(_)
        | AgentEvent::SamplingRequested { .. }
        | AgentEvent::SamplingWithdrawn { .. }
        | AgentEvent::UsageChanged(_)
        | AgentEvent::ContextMeasured { .. }
        | AgentEvent::Paused(_)
        | AgentEvent::Session(_) => None,
        AgentEvent::Notice(notice) => Some(format!("mcpomni: {}", notice.text())),
    }
}

#[derive(Serialize)]
struct JsonRun<'a> {
    answer: &'a str,
    /// `answered`, `cancelled`, `limit` or `failed`.
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    tool_calls: Vec<JsonCall<'a>>,
    usage: JsonUsage,
}

#[derive(Serialize)]
struct JsonCall<'a> {
    name: &'a str,
    arguments: &'a serde_json::Value,
    /// `user`, `session`, `config`, `auto_mode` or `approve_all_flag`; absent when it did not
    /// run.
    #[serde(skip_serializing_if = "Option::is_none")]
    approved_by: Option<&'static str>,
    denied: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonUsage {
    requests: u64,
    input_tokens: u64,
    output_tokens: u64,
    total_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    cost_usd: Option<f64>,
}

fn json_call(call: &CallRecord) -> JsonCall<'_> {
    let (result, error) = match &call.outcome {
        Ok(text) => (Some(text.as_str()), None),
        Err(text) => (None, Some(text.as_str())),
    };
    JsonCall {
        name: &call.qualified_name,
        arguments: &call.arguments,
        approved_by: call.approved_by.map(|by| by.json_name()),
        denied: call.denied,
        result,
        error,
    }
}

pub(super) fn print_result(record: &TurnRecord, usage: &UsageTotals, json: bool) -> i32 {
    let (outcome, error, status) = match &record.outcome {
        TurnOutcome::Answered => ("answered", None, EXIT_OK),
        TurnOutcome::Cancelled => ("cancelled", None, EXIT_INTERRUPTED),
        TurnOutcome::Limit(why) => ("limit", Some(why.as_str()), EXIT_FAILURE),
        TurnOutcome::Failed(why) => ("failed", Some(why.as_str()), EXIT_FAILURE),
    };
    let mut out = Out::stdout();
    if json {
        out.json(&JsonRun {
            answer: &record.answer,
            outcome,
            error,
            tool_calls: record.calls.iter().map(json_call).collect(),
            usage: JsonUsage {
                requests: usage.requests,
                input_tokens: usage.input_tokens,
                output_tokens: usage.output_tokens,
                total_tokens: usage.tokens(),
                cost_usd: usage.cost,
            },
        });
    } else {
        if !record.answer.is_empty() {
            out.text(&record.answer);
        }
        if let Some(error) = error {
            eprintln!("mcpomni run: stopped: {error}");
        }
        eprintln!("mcpomni run: {}", describe(usage));
    }
    status
}
