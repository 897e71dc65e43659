//! The help overlay: the whole keymap, grouped by where each key applies, drawn from the same
//! table that dispatches keys.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph};

use crate::tui::keymap::{KEYMAP, SCOPE_ORDER, keys_label};
use crate::tui::state::AppState;

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState) {
    let theme = &state.theme;
    let width = area.width.saturating_sub(4).min(78);
    let height = area.height.saturating_sub(2);
    let rect = area.centered(Constraint::Length(width), Constraint::Length(height));
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(theme.border(true))
        .title(Span::styled(
            " Keys · j/k scroll · Esc closes ",
            theme.accent(),
        ))
        .style(theme.base());
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let key_width = KEYMAP
        .iter()
        .map(|b| keys_label(b).chars().count())
        .max()
        .unwrap_or(10)
        .min(22);
    let mut lines = Vec::new();
    for scope in SCOPE_ORDER {
        lines.push(Line::from(Span::styled(
            scope.title(),
            theme.accent().add_modifier(Modifier::UNDERLINED),
        )));
        for binding in KEYMAP.iter().filter(|b| b.scope == *scope) {
            lines.push(Line::from(vec![
                Span::raw("  "),
                Span::styled(
                    format!("{:<key_width$}", keys_label(binding)),
                    theme.fg(theme.accent),
                ),
                Span::raw("  "),
                Span::raw(binding.help),
            ]));
        }
    }
    // Scrolling stops once the last line is on screen.
    let max_scroll = (lines.len() as u16).saturating_sub(inner.height);
    let scroll = state.help_scroll.min(max_scroll);
    frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)), inner);
}
