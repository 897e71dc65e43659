//! The dashboard's real event loop (`app::run`) driven with a `TestBackend`, scripted terminal
//! input and runtime/agent event channels, on paused tokio time: a burst of events costs one
//! frame, and the approval prompt's key grace holds in the loop itself.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use ratatui::Terminal;
use ratatui::backend::{Backend, ClearType, TestBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Position, Size};
use serde_json::json;
use tokio::sync::mpsc;

use super::app::{Host, LoopEnd, Ports, run};
use super::state::AppState;
use super::theme::Theme;
use crate::agent::AgentHandle;
use crate::protocol::TurnId;
use crate::protocol::{AgentCommand, AgentEvent, ApprovalId, Decision, ProposedCall, ToolCallId};
use crate::runtime::messages::{RuntimeEvent, ServerName, ServerSnapshot, ServerState};

/// A `TestBackend` that counts finished frames (one flush per frame).
struct Counting {
    inner: TestBackend,
    frames: Arc<AtomicUsize>,
}

impl Backend for Counting {
    type Error = io::Error;

    fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        self.inner.draw(content).map_err(io::Error::other)
    }
    fn hide_cursor(&mut self) -> io::Result<()> {
        self.inner.hide_cursor().map_err(io::Error::other)
    }
    fn show_cursor(&mut self) -> io::Result<()> {
        self.inner.show_cursor().map_err(io::Error::other)
    }
    fn get_cursor_position(&mut self) -> io::Result<Position> {
        self.inner.get_cursor_position().map_err(io::Error::other)
    }
    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> io::Result<()> {
        self.inner
            .set_cursor_position(position)
            .map_err(io::Error::other)
    }
    fn clear(&mut self) -> io::Result<()> {
        self.inner.clear().map_err(io::Error::other)
    }
    fn clear_region(&mut self, clear_type: ClearType) -> io::Result<()> {
        self.inner
            .clear_region(clear_type)
            .map_err(io::Error::other)
    }
    fn size(&self) -> io::Result<Size> {
        self.inner.size().map_err(io::Error::other)
    }
    fn window_size(&mut self) -> io::Result<WindowSize> {
        self.inner.window_size().map_err(io::Error::other)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.frames.fetch_add(1, Ordering::SeqCst);
        self.inner.flush().map_err(io::Error::other)
    }
}

struct NoHost;

impl Host for NoHost {
    fn set_mouse_capture(&mut self, _enabled: bool) {}
    fn copy_to_clipboard(&mut self, _text: &str) {}
    fn can_draw(&self) -> bool {
        true
    }
}

/// The loop running on its own task, and the ends the test holds.
struct Running {
    keys: mpsc::UnboundedSender<io::Result<TermEvent>>,
    runtime: mpsc::Sender<RuntimeEvent>,
    agent: mpsc::Sender<AgentEvent>,
    agent_commands: mpsc::UnboundedReceiver<AgentCommand>,
    frames: Arc<AtomicUsize>,
    done: tokio::task::JoinHandle<(io::Result<LoopEnd>, AppState)>,
}

fn start(state: AppState) -> Running {
    let frames = Arc::new(AtomicUsize::new(0));
    let backend = Counting {
        inner: TestBackend::new(80, 24),
        frames: frames.clone(),
    };
    let (keys, key_rx) = mpsc::unbounded_channel();
    let input: BoxStream<'static, io::Result<TermEvent>> =
        futures::stream::unfold(key_rx, |mut rx| async move {
            rx.recv().await.map(|event| (event, rx))
        })
        .boxed();
    let (runtime, events) = mpsc::channel(1024);
    let (agent, agent_events) = mpsc::channel(1024);
    let (handle, agent_commands) = AgentHandle::detached();
    let (commands, _ignored) = mpsc::unbounded_channel();
    let ports = Ports {
        trace_saver: None,
        input,
        events,
        commands,
        agent: Some((handle, agent_events)),
        panics: None,
    };
    let done = tokio::spawn(async move {
        let mut state = state;
        let mut terminal = Terminal::new(backend).expect("terminal");
        let end = run(&mut terminal, &mut state, ports, &mut NoHost).await;
        // Keep the unused command receiver alive until the loop ends.
        drop(_ignored);
        (end, state)
    });
    Running {
        keys,
        runtime,
        agent,
        agent_commands,
        frames,
        done,
    }
}

fn fresh_state() -> AppState {
    AppState::new(
        Theme::default_dark(),
        "servers_config.json".into(),
        Some("openai/gpt-4o-mini".into()),
        false,
    )
}

fn press(running: &Running, code: KeyCode) {
    let key = KeyEvent::new(code, KeyModifiers::NONE);
    running
        .keys
        .send(Ok(TermEvent::Key(key)))
        .expect("the loop reads keys");
}

/// Waits (on the paused clock) until `frames` frames were drawn.
async fn frames_reach(running: &Running, frames: usize) {
    tokio::time::timeout(Duration::from_secs(5), async {
        while running.frames.load(Ordering::SeqCst) < frames {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the frame is drawn");
}

async fn quit(running: Running) -> AppState {
    running
        .keys
        .send(Ok(TermEvent::Key(KeyEvent::new(
            KeyCode::Char('c'),
            KeyModifiers::CONTROL,
        ))))
        .expect("the loop reads keys");
    let (end, state) = running.done.await.expect("the loop task");
    assert_eq!(end.expect("no IO error"), LoopEnd::Quit);
    state
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_events_is_drawn_as_one_frame() {
    let running = start(fresh_state());
    frames_reach(&running, 1).await;
    // Three hundred server updates arrive at once.
    for i in 0..300 {
        let mut snapshot = ServerSnapshot::new(
            ServerName::new("demo"),
            crate::runtime::messages::TransportKind::Stdio,
        );
        snapshot.state = ServerState::Ready;
        snapshot.tool_count = i;
        running
            .runtime
            .send(RuntimeEvent::ServerChanged(Arc::new(snapshot)))
            .await
            .expect("the loop reads events");
    }
    frames_reach(&running, 2).await;
    // Nothing else happens: no more frames, however long we wait.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(running.frames.load(Ordering::SeqCst), 2);
    let state = quit(running).await;
    assert_eq!(
        state.servers.servers[0].tool_count, 299,
        "every event was reduced"
    );
}

#[tokio::test(start_paused = true)]
async fn a_key_right_after_a_prompt_appears_is_not_an_answer() {
    let mut state = fresh_state();
    state.agent.running = Some(TurnId(1));
    let mut running = start(state);
    frames_reach(&running, 1).await;
    let call = ProposedCall {
        id: ToolCallId(1),
        server: ServerName::new("demo"),
        tool: "echo".into(),
        qualified_name: "demo__echo".into(),
        arguments: json!({"message": "hi"}),
        title: None,
        read_only: None,
        destructive: None,
        input_schema: Arc::default(),
    };
    running
        .agent
        .send(AgentEvent::ApprovalRequested {
            turn: TurnId(1),
            approval: ApprovalId(1),
            call,
            index: 0,
            total: 1,
        })
        .await
        .expect("the loop reads agent events");
    frames_reach(&running, 2).await;
    // 100 ms after the prompt: the "y" was typed for the chat, not for the prompt.
    tokio::time::advance(Duration::from_millis(100)).await;
    press(&running, KeyCode::Char('y'));
    frames_reach(&running, 3).await;
    assert!(running.agent_commands.try_recv().is_err(), "ignored");
    // Past the grace, the same key answers.
    tokio::time::advance(Duration::from_millis(300)).await;
    press(&running, KeyCode::Char('y'));
    let command = tokio::time::timeout(Duration::from_secs(5), running.agent_commands.recv())
        .await
        .expect("answered in time");
    assert_eq!(
        command,
        Some(AgentCommand::Decide {
            approval: ApprovalId(1),
            decision: Decision::Approve,
        })
    );
    quit(running).await;
}
