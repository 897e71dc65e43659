//! The full-screen dashboard. `run` starts the runtime, takes over the terminal, runs the app
//! loop until the user quits (or a signal or panic ends it), gives the terminal back, and shuts
//! the servers down. `view_trace` runs the same loop over a saved trace with nothing behind
//! it: no runtime, no servers, no agent.

pub mod app;
#[cfg(test)]
mod app_tests;
pub mod highlight;
pub mod keymap;
pub mod layout;
pub mod state;
pub mod terminal;
mod test_panic;
#[cfg(test)]
mod test_support;
pub mod theme;
pub mod view;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::EventStream;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc;

use crate::config::{Config, ConfigSource};
use crate::runtime::{self, RuntimeOptions};
use crate::tracefile::{self, Trace, TraceWriter};
use crate::{agent, llm};
use app::{Host, LoopEnd, Ports};
use state::AppState;
use state::chat::bundled_label as chat_bundled_label;
use theme::Theme;

/// How long to wait for servers to stop after the terminal has been given back.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(4);

struct RealTerminal;

impl Host for RealTerminal {
    fn set_mouse_capture(&mut self, enabled: bool) {
        if let Err(error) = terminal::set_mouse_capture(enabled) {
            tracing::warn!("could not change mouse capture: {error}");
        }
    }

    fn copy_to_clipboard(&mut self, text: &str) {
        if let Err(error) = terminal::copy_to_clipboard(text) {
            tracing::warn!("could not write to the clipboard: {error}");
        }
    }

    fn can_draw(&self) -> bool {
        terminal::is_active()
    }
}

/// What the process should exit with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Quit,
    Signalled,
    Panicked,
}

/// The dashboard's session: where turns are written (none when the store cannot be used), the
/// conversation it resumes, and what to tell the user about it.
struct DashboardSession {
    store: Option<crate::memory::SharedStore>,
    sink: Option<crate::memory::writer::SessionSink>,
    history: Vec<crate::llm::ChatMessage>,
    /// Every stored message, for the screen (a `/compact` summary shortened `history`).
    said: Vec<crate::llm::ChatMessage>,
    steps: Vec<crate::protocol::TraceStep>,
    notes: Vec<String>,
    /// The store, when it could not be opened at start and is being tried again.
    late: Option<tokio::sync::oneshot::Receiver<crate::memory::SharedStore>>,
}

/// How often a store that could not be opened at start is tried again.
const STORE_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

/// Tries the configured store again every few seconds until it opens (Redis started late)
/// or nobody waits any more.
fn retry_store(config: &Config) -> tokio::sync::oneshot::Receiver<crate::memory::SharedStore> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let config = config.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(STORE_RETRY).await;
            if tx.is_closed() {
                return;
            }
            let opened =
                crate::memory::open_store(&config.memory, &|name| config.env_var(name)).await;
            if let Ok(store) = opened {
                let _ = tx.send(store);
                return;
            }
        }
    });
    rx
}

/// Opens the configured store and session. The dashboard never refuses to start over it: a
/// session open in another process gives a new session, and a store that cannot be used
/// leaves the conversation unsaved — each said in the chat.
async fn open_session(config: &Config) -> DashboardSession {
    use crate::memory::{self, MemoryError, SessionChoice};
    let mut notes = Vec::new();
    let store = match memory::open_store(&config.memory, &|name| config.env_var(name)).await {
        Ok(store) => store,
        Err(error) => {
            return DashboardSession {
                store: None,
                sink: None,
                history: Vec::new(),
                said: Vec::new(),
                steps: Vec::new(),
                notes: vec![format!(
                    "This conversation is not saved yet: {error}. It is kept in memory and \
                     written once the store can be used."
                )],
                late: Some(retry_store(config)),
            };
        }
    };
    let started = match memory::session::start(&store, &config.memory.session).await {
        Err(MemoryError::Locked { id, pid }) => {
            notes.push(format!(
                "Session {id} is open in process {pid}: this window starts a new session instead."
            ));
            memory::session::start(&store, &SessionChoice::New).await
        }
        other => other,
    };
    let started = match started {
        Ok(started) => started,
        Err(error) => {
            notes.push(format!("This conversation is not saved: {error}"));
            return DashboardSession {
                store: Some(store),
                sink: None,
                history: Vec::new(),
                said: Vec::new(),
                steps: Vec::new(),
                notes,
                late: None,
            };
        }
    };
    notes.extend(started.note.clone());
    notes.extend(
        started
            .loaded
            .warnings
            .iter()
            .map(|w| format!("Warning: {w}")),
    );
    let history = memory::history::conversation(&started.loaded.entries);
    let steps = memory::history::steps(&started.loaded.entries);
    let said = memory::history::said(&started.loaded.entries);
    let (sink, _state) = memory::writer::spawn(store.clone(), started.id);
    DashboardSession {
        store: Some(store),
        sink: Some(sink),
        history,
        said,
        steps,
        notes,
        late: None,
    }
}

/// Runs the dashboard until the user quits; with `trace`, every agent trace step is also
/// written there as it happens.
pub async fn run(
    config: &Config,
    theme: Theme,
    log_file: Option<&std::fs::File>,
    trace: Option<TraceWriter>,
) -> anyhow::Result<Outcome> {
    let panics = terminal::install_panic_hook();
    let provider = match &config.llm {
        None => Ok(None),
        Some(llm) => llm::build_provider(llm, &|name| config.env_var(name)).map(Some),
    };
    let (provider, provider_error) = match provider {
        Ok(provider) => (provider, None),
        Err(error) => (None, Some(error)),
    };
    let (sampling_tx, sampling_rx) = mpsc::channel(8);
    let options = RuntimeOptions {
        sampling: provider.as_ref().map(|_| sampling_tx),
        // Servers' requests for input open a form; the dashboard shows refusals itself.
        elicitation: runtime::elicitation::Policy::Ask,
        ..RuntimeOptions::default()
    };
    let (handle, events) = runtime::start(config, options)?;
    let model = provider.as_ref().map(|provider| provider.describe());
    // Conversations are kept only where there is an agent to have them.
    let mut session = match provider {
        Some(_) => Some(open_session(config).await),
        None => None,
    };
    let session_id = session
        .as_ref()
        .and_then(|session| session.sink.as_ref())
        .map(|sink| sink.id.to_string());
    let agent = provider.map(|provider| {
        let mut settings = agent::AgentSettings::from_config(config);
        if let Some(session) = &mut session {
            // The agent holds the only sink: switching sessions ends this writer.
            settings.session = session.sink.take();
            settings.store = session.store.clone();
            if let Some(late) = session.late.take() {
                settings.late_store = agent::sessions::LateStore::new(late);
            }
            if settings.session.is_some() {
                settings.history = session.history.clone();
                let (last_step, _) = agent::session_steps::last_ids(&session.steps);
                settings.last_step = last_step;
            }
        }
        // Write errors are logged by the sink; the dashboard goes on without the file.
        settings.trace = trace.map(|writer| {
            Arc::new(tracefile::TraceSink::new(writer)) as Arc<dyn agent::trace::StepSink>
        });
        agent::spawn(settings, provider, handle.clone(), sampling_rx)
    });
    let (commands_tx, commands) = mpsc::unbounded_channel();
    let bridge = tokio::spawn(runtime::bridge::run(handle.clone(), commands));
    let label = match &config.source {
        ConfigSource::File(path) => path.display().to_string(),
        ConfigSource::Bundled => chat_bundled_label().to_owned(),
    };
    let mut state = AppState::new(theme, label, model, config.ui.mouse);
    state.agent.mode = config.agent.mode;
    state.agent.step_mode = config.agent.step;
    state.agent.breakpoints = config.agent.breakpoints.clone();
    // One row per server from the start, in config order. Rows added as servers first report
    // would come in whatever order their tasks happen to run, different on every start.
    for snapshot in handle.snapshots().iter() {
        state.servers.upsert(snapshot.clone());
    }
    if let Some(error) = provider_error {
        state.llm_failed(error);
    }
    if let Some(session) = session {
        state.resume_session(session_id, &session.said, session.steps);
        for note in &session.notes {
            state.chat.push(state::chat::Role::Notice, note.clone());
        }
    }
    let trace_saver = crate::tracefile::TraceSaver::default_dir().map(|dir| {
        crate::tracefile::TraceSaver::new(
            dir,
            &format!("session-{}", std::process::id()),
            crate::tracefile::config_secrets(config),
        )
    });
    let guard = terminal::enter(config.ui.mouse, log_file)?;
    test_panic::arm_runtime();
    // The UI runs on its own task so a panic in it surfaces here as a JoinError instead of
    // unwinding through the runtime.
    let ui = tokio::spawn(async move {
        let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        let ports = Ports {
            trace_saver,
            input: EventStream::new(),
            events,
            commands: commands_tx,
            agent,
            panics,
        };
        let mut host = RealTerminal;
        test_panic::ui(app::run(&mut terminal, &mut state, ports, &mut host)).await
    });
    let end = ui.await;
    drop(guard);
    let outcome = match end {
        Ok(Ok(LoopEnd::Quit | LoopEnd::InputClosed)) => Outcome::Quit,
        Ok(Ok(LoopEnd::Signal(name))) => {
            tracing::info!("{name} received; shutting down");
            Outcome::Signalled
        }
        Ok(Ok(LoopEnd::Panicked(_))) | Err(_) => Outcome::Panicked,
        Ok(Err(error)) => {
            shutdown(&handle).await;
            return Err(error.into());
        }
    };
    shutdown(&handle).await;
    bridge.abort();
    Ok(outcome)
}

/// Shows a saved trace in the dashboard (`mcpomni trace FILE`): the Trace pane zoomed, the
/// last step selected. Nothing is started: no runtime, no servers, no LLM.
pub async fn view_trace(
    source: &str,
    trace: Trace,
    theme: Theme,
    mouse: bool,
    log_file: Option<&std::fs::File>,
) -> anyhow::Result<Outcome> {
    let panics = terminal::install_panic_hook();
    let mut state = AppState::new(theme, source.to_owned(), None, mouse);
    state.open_saved_trace(
        source,
        trace.steps,
        trace.warning,
        std::time::Instant::now(),
    );
    // Nothing sends runtime events; holding the sender keeps the loop from taking the closed
    // stream for a runtime that stopped.
    let (_events_tx, events) = mpsc::channel(1);
    let (commands_tx, _commands) = mpsc::unbounded_channel();
    let guard = terminal::enter(mouse, log_file)?;
    let ui = tokio::spawn(async move {
        let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        let ports = Ports {
            trace_saver: None,
            input: EventStream::new(),
            events,
            commands: commands_tx,
            agent: None,
            panics,
        };
        let mut host = RealTerminal;
        app::run(&mut terminal, &mut state, ports, &mut host).await
    });
    let end = ui.await;
    drop(guard);
    match end {
        Ok(Ok(LoopEnd::Quit | LoopEnd::InputClosed)) => Ok(Outcome::Quit),
        Ok(Ok(LoopEnd::Signal(_))) => Ok(Outcome::Signalled),
        Ok(Ok(LoopEnd::Panicked(_))) | Err(_) => Ok(Outcome::Panicked),
        Ok(Err(error)) => Err(error.into()),
    }
}

async fn shutdown(handle: &runtime::RuntimeHandle) {
    if tokio::time::timeout(SHUTDOWN_WAIT, handle.shutdown())
        .await
        .is_err()
    {
        runtime::stdio::kill_all_groups();
    }
}
