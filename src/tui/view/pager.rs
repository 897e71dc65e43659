//! The full-screen pager. It draws only the visible rows, so a 20 MB text scrolls as fast as a
//! short one; the rows are wrapped once per width (a memo in the pager state).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph};

use super::overlay_block;
use crate::tui::state::pager::{Pager, PagerRows};
use crate::tui::theme::Theme;

pub fn draw(frame: &mut Frame, area: Rect, pager: &Pager, theme: &Theme) {
    frame.render_widget(Clear, area);
    let inner = overlay_block(theme, "").inner(area);
    let width = usize::from(inner.width).max(1);
    let height = usize::from(inner.height);
    let mut memo = pager.rows.borrow_mut();
    if memo.as_ref().is_none_or(|rows| rows.width != width) {
        *memo = Some(PagerRows::wrap(&pager.text, width));
    }
    let rows = memo.as_ref().map(|r| r.rows.as_slice()).unwrap_or_default();
    let total = rows.len();
    let top = pager.scroll.min(total.saturating_sub(height));
    let title = format!(
        " {} · lines {}–{} of {} · j/k PgUp/PgDn g/G · Esc closes ",
        pager.title,
        top + 1,
        (top + height).min(total),
        total
    );
    frame.render_widget(overlay_block(theme, &title), area);
    let lines: Vec<Line> = rows[top..(top + height).min(total)]
        .iter()
        .map(|(start, end)| Line::raw(pager.text.text.get(*start..*end).unwrap_or("").to_owned()))
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
