//! Fixtures the dashboard's reducer and view tests share: key presses, a fresh state, and a
//! catalog of tools on one `demo` server.

use std::sync::Arc;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::runtime::catalog::{Catalog, ServerListing};
use crate::runtime::messages::ServerName;
use crate::tui::state::{AppState, Msg};
use crate::tui::theme::Theme;

pub fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new_with_kind(
        code,
        KeyModifiers::NONE,
        KeyEventKind::Press,
    ))
}

pub fn ch(c: char) -> Msg {
    key(KeyCode::Char(c))
}

pub fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new_with_kind(
        KeyCode::Char(c),
        KeyModifiers::CONTROL,
        KeyEventKind::Press,
    ))
}

/// A fresh 80×24 dashboard on the dark theme, with `model` as the configured LLM (if any).
pub fn app_state(model: Option<&str>) -> AppState {
    let model = model.map(str::to_owned);
    let mut state = AppState::new(Theme::default_dark(), "test.json".into(), model, true);
    state.size = (80, 24);
    state
}

/// A catalog of `tools` (MCP tool JSON) offered by one server, `demo`.
pub fn demo_catalog(tools: Vec<serde_json::Value>) -> Arc<Catalog> {
    let tools = tools
        .into_iter()
        .map(|tool| serde_json::from_value(tool).expect("valid tool"))
        .collect();
    Arc::new(Catalog::build(
        1,
        &[(
            ServerName::new("demo"),
            Arc::new(ServerListing {
                tools,
                ..ServerListing::default()
            }),
        )],
    ))
}

/// The reducer at the state's own clock: tests move time on by changing `state.now`.
pub fn update(state: &mut AppState, msg: Msg) -> Vec<super::state::Effect> {
    let at = state.now;
    super::state::update(state, msg, at)
}
