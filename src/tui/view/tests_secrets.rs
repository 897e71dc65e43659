//! The Servers pane never shows a credential: the snapshots come from the real runtime (a
//! stdio server that prints its env token to stderr, an HTTP server with credentials in its
//! URL), so what is drawn is what the runtime publishes.

use std::sync::Arc;
use std::time::Instant;

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::draw;
use crate::config::{ConfigSource, LoadEnv};
use crate::runtime::messages::RuntimeEvent;
use crate::runtime::{RuntimeOptions, start};
use crate::tui::state::{AppState, Msg, Pane};
use crate::tui::theme::Theme;

const SECRETS: [&str; 3] = ["ENVSECRET42", "SECRET123", "user:pw"];

fn config() -> crate::config::Config {
    let text = r#"{"mcpServers": {
        "leaky": {"command": "sh",
                  "args": ["-c", "echo \"starting with token=$MY_TOKEN\" >&2; exit 3"],
                  "env": {"MY_TOKEN": "ENVSECRET42"}},
        "remote": {"url": "http://user:pw@127.0.0.1:1/mcp?api_key=SECRET123&page=2",
                   "enabled": false}
    }}"#;
    let cwd = tempfile::tempdir().expect("tempdir");
    let vars = |_: &str| None;
    let env = LoadEnv {
        cwd: cwd.path(),
        config_home: None,
        vars: &vars,
        self_exe: "/opt/mcpomni".into(),
    };
    crate::config::parse(text, ConfigSource::File("test.json".into()), &env).expect("config")
}

fn render(state: &AppState) -> String {
    let (w, h) = state.size;
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    terminal.draw(|frame| draw(frame, state)).expect("draw");
    crate::tui::test_support::without_version(&terminal.backend().to_string())
}

#[tokio::test]
async fn servers_pane_shows_credentials_as_stars() {
    let (handle, mut events) = start(&config(), RuntimeOptions::default()).expect("runtime");
    let snapshots = handle.wait_settled().await;
    // The stderr lines reach the pane as the dashboard gets them: as their own events.
    let stderr_seen = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        let mut received = Vec::new();
        while let Some(event) = events.recv().await {
            let done = matches!(&event, RuntimeEvent::StderrLinesReceived { lines, .. }
                if lines.iter().any(|l| l.contains("starting with token")));
            received.push(event);
            if done {
                break;
            }
        }
        received
    })
    .await
    .expect("the stderr lines arrive");
    handle.shutdown().await;
    let mut state = AppState::new(Theme::default_dark(), "test.json".into(), None, true);
    state.now = Instant::now();
    state.size = (80, 24);
    state.focus = Pane::Servers;
    state.typing = false;
    for event in stderr_seen {
        if matches!(event, RuntimeEvent::StderrLinesReceived { .. }) {
            let at = state.now;
            crate::tui::state::update(&mut state, Msg::Runtime(event), at);
        }
    }
    for snapshot in snapshots.iter() {
        let mut snapshot = (**snapshot).clone();
        // Differ from run to run; not what this test is about. (Whether the exit is seen
        // before or after the handshake fails is a race.)
        snapshot.pid = None;
        snapshot.startup_time = None;
        snapshot.last_error = snapshot
            .last_error
            .map(|e| e.replace("before answering initialize", "during initialize"));
        state.servers.upsert(Arc::new(snapshot));
    }
    for (index, name) in [(0, "stdio_stderr"), (1, "http_url")] {
        state.servers.select(index);
        let screen = render(&state);
        for secret in SECRETS {
            assert!(!screen.contains(secret), "{secret} on screen:\n{screen}");
        }
        insta::assert_snapshot!(format!("servers_pane_secrets_{name}"), screen);
    }
}
