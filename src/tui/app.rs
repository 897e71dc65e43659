//! The app loop: wait for terminal input, runtime events, finished background work, a frame
//! deadline, a clock tick, a signal or a panic report; reduce everything that is ready; draw
//! once if anything changed, at most ~60 times a second. With nothing happening it sleeps, so
//! an idle dashboard costs no CPU.
//!
//! The loop is generic over the ratatui backend and the input stream so tests can drive it
//! with a `TestBackend` and scripted keys.

use std::io;
use std::time::Duration;

use futures::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::Event as TermEvent;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use super::highlight::highlight_json;
use super::state::{AppState, Effect, Msg, Pane, update};
use super::view;
use crate::agent::AgentHandle;
use crate::protocol::AgentEvent;
use crate::runtime::messages::{RuntimeCommand, RuntimeEvent};

/// ~60 frames a second at most.
const FRAME: Duration = Duration::from_millis(16);
/// Uptimes are shown to the second.
const TICK: Duration = Duration::from_secs(1);
/// Runtime events reduced per wake-up before drawing (the rest wait for the next frame).
const EVENT_BATCH: usize = 512;

/// What the loop needs from the outside world.
pub trait Host {
    fn set_mouse_capture(&mut self, enabled: bool);
    /// Puts `text` on the clipboard with OSC 52 (terminals that do not support it ignore it).
    fn copy_to_clipboard(&mut self, text: &str);
    /// False once a panic hook has restored the terminal: drawing then would garble it.
    fn can_draw(&self) -> bool;
}

/// Why the loop ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoopEnd {
    Quit,
    Signal(&'static str),
    Panicked(String),
    InputClosed,
}

pub struct Ports<S> {
    pub input: S,
    pub events: mpsc::Receiver<RuntimeEvent>,
    pub commands: mpsc::UnboundedSender<RuntimeCommand>,
    /// The agent (when an LLM is configured) and what it reports.
    pub agent: Option<(AgentHandle, mpsc::Receiver<AgentEvent>)>,
    pub panics: Option<mpsc::UnboundedReceiver<String>>,
    /// Where `w` in the Trace pane saves the trace (`None`: no data directory).
    pub trace_saver: Option<crate::tracefile::TraceSaver>,
}

pub async fn run<B, S, H>(
    terminal: &mut Terminal<B>,
    state: &mut AppState,
    mut ports: Ports<S>,
    host: &mut H,
) -> io::Result<LoopEnd>
where
    B: Backend,
    H: Host,
    B::Error: Into<io::Error>,
    S: Stream<Item = io::Result<TermEvent>> + Unpin,
{
    let (internal_tx, mut internal) = mpsc::unbounded_channel::<Msg>();
    let mut signals = Signals::new()?;
    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    let mut next_tick = Instant::now() + TICK;
    let mut batch = Vec::with_capacity(EVENT_BATCH);
    let mut agent_batch = Vec::with_capacity(EVENT_BATCH);
    let (agent, mut agent_events) = match ports.agent.take() {
        Some((handle, events)) => (Some(handle), Some(events)),
        None => (None, None),
    };
    let size = terminal.size().map_err(Into::into)?;
    state.size = (size.width, size.height);
    loop {
        if dirty && host.can_draw() {
            let now = Instant::now();
            if last_draw.is_none_or(|at| now >= at + FRAME) {
                state.now = state.now.max(now.into_std());
                terminal
                    .draw(|frame| view::draw(frame, state))
                    .map_err(Into::into)?;
                last_draw = Some(now);
                dirty = false;
            }
        }
        let frame_due = match (dirty, last_draw) {
            (true, Some(at)) => Some(at + FRAME),
            _ => None,
        };
        let mut msgs = Vec::new();
        tokio::select! {
            input = ports.input.next() => match input {
                Some(Ok(event)) => msgs.extend(translate(event)),
                Some(Err(error)) => return Err(error),
                None => return Ok(LoopEnd::InputClosed),
            },
            count = ports.events.recv_many(&mut batch, EVENT_BATCH) => {
                if count == 0 {
                    // The runtime is gone; nothing more will change.
                    return Ok(LoopEnd::Quit);
                }
                msgs.extend(batch.drain(..).map(Msg::Runtime));
            }
            count = recv_agent(&mut agent_events, &mut agent_batch) => {
                if count == 0 {
                    // The agent stopped; the dashboard goes on without it.
                    agent_events = None;
                }
                msgs.extend(agent_batch.drain(..).map(Msg::Agent));
            }
            Some(msg) = internal.recv() => msgs.push(msg),
            () = sleep_until_some(frame_due) => {}
            () = sleep_until(next_tick) => {
                next_tick = Instant::now() + TICK;
                if uptime_visible(state) {
                    msgs.push(Msg::Tick);
                }
            }
            name = signals.next() => return Ok(LoopEnd::Signal(name)),
            Some(report) = recv_panic(&mut ports.panics) => return Ok(LoopEnd::Panicked(report)),
        }
        // Everything reduced in this wake-up arrived now (the tokio clock, so tests can pause
        // it).
        let at = Instant::now().into_std();
        for msg in msgs {
            dirty = true;
            for effect in update(state, msg, at) {
                match effect {
                    Effect::Quit => return Ok(LoopEnd::Quit),
                    Effect::Runtime(command) => {
                        let _ = ports.commands.send(command);
                    }
                    // Without an LLM the reducer says so itself; nothing listens.
                    Effect::Agent(command) => {
                        if let Some(agent) = &agent {
                            agent.send(command);
                        }
                    }
                    Effect::SetMouseCapture(enabled) => host.set_mouse_capture(enabled),
                    Effect::Copy(text) => host.copy_to_clipboard(&text),
                    Effect::SaveTrace(steps) => {
                        let tx = internal_tx.clone();
                        let saver = ports.trace_saver.clone();
                        tokio::spawn(async move {
                            let saved = tokio::task::spawn_blocking(move || match saver {
                                Some(saver) => saver.save(&steps).map_err(|e| e.to_string()),
                                None => Err("no data directory to save it in".to_owned()),
                            })
                            .await
                            .unwrap_or_else(|_| Err("the save task failed".to_owned()));
                            let _ = tx.send(Msg::TraceSaved(saved));
                        });
                    }
                    Effect::Highlight { job, theme } => {
                        let tx = internal_tx.clone();
                        // Whatever happens to the job, the reducer hears back, so its key
                        // never stays pending.
                        tokio::spawn(async move {
                            let key = job.key.clone();
                            let highlighted = tokio::task::spawn_blocking(move || {
                                highlight_json(&job.text, &theme)
                            })
                            .await;
                            let _ = tx.send(match highlighted {
                                Ok(lines) => Msg::Highlighted { key, lines },
                                Err(_) => Msg::HighlightLost { key },
                            });
                        });
                    }
                }
            }
        }
    }
}

fn translate(event: TermEvent) -> Option<Msg> {
    match event {
        TermEvent::Key(key) => Some(Msg::Key(key)),
        TermEvent::Mouse(mouse) => Some(Msg::Mouse(mouse)),
        TermEvent::Paste(text) => Some(Msg::Paste(text)),
        TermEvent::Resize(width, height) => Some(Msg::Resize(width, height)),
        TermEvent::FocusGained | TermEvent::FocusLost => None,
    }
}

/// A tick only matters when an uptime is on screen.
fn uptime_visible(state: &AppState) -> bool {
    let servers_shown = state.layout().rect(Pane::Servers).is_some();
    servers_shown
        && state
            .servers
            .servers
            .iter()
            .any(|s| s.ready_since.is_some())
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn recv_agent(
    events: &mut Option<mpsc::Receiver<AgentEvent>>,
    batch: &mut Vec<AgentEvent>,
) -> usize {
    match events {
        Some(events) => events.recv_many(batch, EVENT_BATCH).await,
        None => std::future::pending().await,
    }
}

async fn recv_panic(panics: &mut Option<mpsc::UnboundedReceiver<String>>) -> Option<String> {
    match panics {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// SIGTERM, SIGHUP and SIGINT end the loop like `q` does, so servers are shut down properly.
struct Signals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.hup.recv() => "SIGHUP",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
