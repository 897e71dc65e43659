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

/// A screen as snapshots keep it: the version in the tab bar reads `[version]` (with the
/// padding before it adjusted, so the line keeps its width), so a release does not change
/// every snapshot.
pub fn without_version(screen: &str) -> String {
    let shown = concat!("mcpomni ", env!("CARGO_PKG_VERSION"));
    let placeholder = "mcpomni [version]";
    screen
        .lines()
        .map(|line| match line.find(shown) {
            None => line.to_owned(),
            Some(at) => {
                let before = &line[..at];
                let after = &line[at + shown.len()..];
                let grow = placeholder.chars().count() as isize - shown.chars().count() as isize;
                let padding = before.len() - before.trim_end_matches(' ').len();
                let keep = before.len() - padding.min(grow.max(0) as usize);
                let mut fixed = before[..keep].to_owned();
                fixed.push_str(&" ".repeat((-grow).max(0) as usize));
                format!("{fixed}{placeholder}{after}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The screen with its colours: each row's text, then its runs of non-default style as
/// `columns fg bg modifiers`. A colour regression shows up in a snapshot of this.
pub fn styled(buffer: &ratatui::buffer::Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in area.top()..area.bottom() {
        let mut text = String::new();
        let mut runs: Vec<(u16, u16, String)> = Vec::new();
        for x in area.left()..area.right() {
            let cell = &buffer[(x, y)];
            text.push_str(cell.symbol());
            let style = format!("{:?} {:?} {:?}", cell.fg, cell.bg, cell.modifier);
            match runs.last_mut() {
                Some((_, end, last)) if *last == style => *end = x,
                _ => runs.push((x, x, style)),
            }
        }
        out.push_str(&format!("{y:>2} {}\n", without_version(&text)));
        for (start, end, style) in runs {
            if style != "Reset Reset NONE" {
                out.push_str(&format!("     {start}-{end} {style}\n"));
            }
        }
    }
    out
}
