//! The status bar: where the keyboard is, then a notice if there is one (else the keys that
//! matter now), and on the right a one-line summary of server health when it fits.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::runtime::messages::ServerState;
use crate::tui::state::call::CallView;
use crate::tui::state::{AppState, Pane};

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState) {
    let theme = &state.theme;
    let (mode, hints) = if state.help {
        (" HELP ", "j/k scroll · Esc closes")
    } else if state.call.pager.is_some() {
        (" PAGER ", "j/k PgUp/PgDn g/G scroll · Esc closes")
    } else if let Some(view) = &state.call.view {
        match view {
            CallView::Editing { .. } => (" CALL ", "edit the JSON · Ctrl-S runs · Esc closes"),
            CallView::Running { .. } => (" CALL ", "running · Esc cancels"),
            CallView::Done { .. } => (" RESULT ", "p pager · Esc closes"),
        }
    } else if state.typing && state.focus == Pane::Chat {
        (" TYPING ", "Enter send · Esc keys · Tab pane · Ctrl-C quit")
    } else if state.tools.filtering && state.focus == Pane::Tools {
        (" FILTER ", "Enter keep · Esc clear")
    } else {
        (" KEYS ", "q quit · ? help · 1-4 pane · j/k move · m mouse")
    };
    let mode_style = theme.selection().add_modifier(Modifier::BOLD);
    let middle = match &state.notice {
        Some(notice) => Span::styled(notice.clone(), Style::default().fg(theme.warn)),
        None => Span::styled(hints, theme.muted()),
    };
    let mut spans = vec![Span::styled(mode, mode_style), Span::raw(" "), middle];
    let summary = health_summary(state);
    let used: usize = spans.iter().map(Span::width).sum();
    let room = usize::from(area.width).saturating_sub(used);
    let summary_len = summary.chars().count();
    if summary_len + 2 <= room {
        spans.push(Span::raw(" ".repeat(room - summary_len - 1)));
        spans.push(Span::styled(summary, theme.muted()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn health_summary(state: &AppState) -> String {
    let servers = &state.servers.servers;
    let failed = servers
        .iter()
        .filter(|s| s.state == ServerState::Failed)
        .count();
    let mut parts = vec![format!(
        "{}/{} ready",
        state.servers.ready_count(),
        servers.len()
    )];
    if failed > 0 {
        parts.push(format!("{failed} failed"));
    }
    parts.push(format!("{} tools", state.tools.catalog.tools.len()));
    if !state.mouse {
        parts.push("mouse off".to_owned());
    }
    parts.join(" · ")
}
