//! `mcpomni replay FILE`: re-runs a saved trace (`crate::tracefile::replay`) and prints each
//! turn's final answer exactly as `run` printed it — a chat turn's, an orchestrated turn's
//! report, a fork's — tool calls on stderr as they replay. No LLM is called and, without
//! `--live`, no server is started. With `--live` the tool calls go to the configured servers
//! and the first result that differs from the recording is named.
//!
//! Exit status: 0 every turn replayed to its recorded answer, 1 a result or an answer
//! differs, or a turn did not answer, 2 the file cannot be read as a trace (or has no turn),
//! 130 interrupted.

use std::path::Path;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::output::Out;
use super::run::report_progress;
use super::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE, interruptible, start_runtime};
use crate::config::Config;
use crate::protocol::TurnOutcome;
use crate::runtime::RuntimeOptions;
use crate::runtime::messages::ServerState;
use crate::text::{plural, sanitize_line, truncate_chars};
use crate::tracefile::recording::Recording;
use crate::tracefile::replay::{Difference, Replay, Tools, replay as replay_recording};
use crate::tracefile::{config_secrets, read_trace};

/// Characters of a differing result shown in the report.
const SHOWN_CHARS: usize = 200;

pub async fn replay(file: &Path, live: bool, config: &Config, options: RuntimeOptions) -> i32 {
    let trace = match read_trace(file) {
        Ok(trace) => trace,
        Err(error) => {
            eprintln!("mcpomni replay: {error}");
            return EXIT_USAGE;
        }
    };
    if let Some(warning) = &trace.warning {
        eprintln!("mcpomni replay: {warning}");
    }
    let recording = Recording::from_trace(&trace);
    if recording.turns.is_empty() {
        eprintln!(
            "mcpomni replay: {}: the trace has no turn to replay",
            file.display()
        );
        return EXIT_USAGE;
    }
    let runtime = if live {
        let Some(handle) = start_runtime(config, options) else {
            return EXIT_USAGE;
        };
        Some(handle)
    } else {
        None
    };
    let cancel = CancellationToken::new();
    let turn_cancel = cancel.clone();
    let work = async {
        let tools = match &runtime {
            Some(handle) => {
                for s in handle.wait_settled().await.iter() {
                    if s.state != ServerState::Ready {
                        eprintln!(
                            "mcpomni: server `{}` is {} ({})",
                            s.name,
                            s.state,
                            s.last_error.as_deref().unwrap_or("no reason given")
                        );
                    }
                }
                Tools::Live {
                    runtime: handle.clone(),
                    secrets: config_secrets(config),
                }
            }
            None => Tools::Recorded,
        };
        let (events, progress) = mpsc::channel(64);
        let printer = tokio::spawn(report_progress(progress));
        let replayed = replay_recording(&recording, tools, events, turn_cancel).await;
        let _ = printer.await;
        report(&replayed, file)
    };
    let status = interruptible(work, cancel).await;
    if let Some(handle) = runtime {
        handle.shutdown().await;
    }
    status
}

/// Prints the answers and says on stderr where the replay left the recording.
fn report(replayed: &Replay, file: &Path) -> i32 {
    let mut status = EXIT_OK;
    let mut out = Out::stdout();
    let several = replayed.turns.len() > 1;
    for (number, turn) in replayed.turns.iter().enumerate().map(|(i, t)| (i + 1, t)) {
        let record = &turn.record;
        if !record.answer.is_empty() {
            out.text(&record.answer);
        }
        let which = if several {
            format!("turn {number}: ")
        } else {
            String::new()
        };
        if let Some(recorded) = turn.recorded.answer()
            && recorded != record.answer
        {
            eprintln!("mcpomni replay: {which}the answer differs from the recorded one");
            status = EXIT_FAILURE;
        }
        if turn.recorded.outcome.as_ref() != Some(&record.outcome) {
            let recorded = turn
                .recorded
                .outcome
                .as_ref()
                .map_or_else(|| "unfinished".to_owned(), outcome_words);
            eprintln!(
                "mcpomni replay: {which}the recorded turn ended {recorded}; the replay {}",
                outcome_words(&record.outcome)
            );
            status = EXIT_FAILURE;
        }
        if record.outcome != TurnOutcome::Answered {
            status = EXIT_FAILURE;
        }
    }
    if let Some(difference) = &replayed.difference {
        eprintln!("mcpomni replay: {}", describe_difference(difference));
        status = EXIT_FAILURE;
    }
    let calls: usize = replayed.turns.iter().map(|t| t.record.calls.len()).sum();
    eprintln!(
        "mcpomni replay: replayed {} and {} from {}",
        plural(replayed.turns.len(), "turn", "turns"),
        plural(calls, "tool call", "tool calls"),
        file.display()
    );
    status
}

fn outcome_words(outcome: &TurnOutcome) -> String {
    match outcome {
        TurnOutcome::Answered => "answered".to_owned(),
        TurnOutcome::Cancelled => "cancelled".to_owned(),
        TurnOutcome::Limit(why) => format!("at a limit ({why})"),
        TurnOutcome::Failed(why) => format!("failed ({why})"),
    }
}

fn describe_difference(difference: &Difference) -> String {
    let shown = |text: &str| truncate_chars(&sanitize_line(text), SHOWN_CHARS);
    let step = difference
        .step
        .map_or_else(|| "a call".to_owned(), |step| format!("step {step}"));
    format!(
        "{step} ({}, call {}) differs from the recording: recorded `{}`, now `{}`",
        difference.tool,
        difference.call,
        shown(&difference.recorded),
        shown(&difference.replayed)
    )
}
