//! The Trace pane: the timeline of agent reasoning steps, newest last, with the selected step's
//! detail. Empty until an agent has run.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::wrap::wrap;
use super::{pane_block, placeholder};
use crate::text::truncate_chars;
use crate::tui::state::{AppState, Pane};

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, focused: bool) {
    let theme = &state.theme;
    let trace = &state.trace;
    let extra = format!("· {} steps", trace.steps.len());
    let block = pane_block(Pane::Trace, focused, theme, &extra);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if trace.steps.is_empty() {
        placeholder(
            frame,
            inner,
            theme,
            "No reasoning steps yet. Each step of an agent run (thoughts, tool calls, results) \
             appears here as a timeline you can step through.",
        );
        return;
    }
    // Titles take one row each (cut to fit); the selected step's detail is wrapped under it.
    // The view scrolls so that the selected step and as much of its detail as fits are shown.
    let width = usize::from(inner.width);
    let indent = "      ";
    let mut lines = Vec::new();
    let mut selected_rows = 0..0;
    for (i, step) in trace.steps.iter().enumerate() {
        let selected = i == trace.selected;
        let start = lines.len();
        let marker = if selected { "▶ " } else { "  " };
        let title = truncate_chars(&step.title, width.saturating_sub(6).max(1));
        let line = Line::from(vec![
            Span::raw(marker),
            Span::styled(format!("{:>3} ", i + 1), theme.muted()),
            Span::raw(title),
        ]);
        lines.push(if selected {
            line.style(theme.selection())
        } else {
            line
        });
        if selected && !step.detail.is_empty() {
            let rows = wrap(&step.detail, width.saturating_sub(indent.len()));
            lines.extend(
                rows.into_iter()
                    .map(|row| Line::from(Span::styled(format!("{indent}{row}"), theme.muted()))),
            );
            selected_rows = start..lines.len();
        } else if selected {
            selected_rows = start..lines.len();
        }
    }
    let offset = scroll_to_show(selected_rows, usize::from(inner.height));
    let visible: Vec<Line> = lines.into_iter().skip(offset).collect();
    frame.render_widget(Paragraph::new(visible), inner);
}

/// The first row to draw so that `rows` is on screen: from the top while it fits, else with
/// its end at the bottom, but never past its start (a block taller than the pane shows its
/// beginning).
fn scroll_to_show(rows: std::ops::Range<usize>, height: usize) -> usize {
    rows.end.saturating_sub(height.max(1)).min(rows.start)
}

#[cfg(test)]
mod tests {
    use super::scroll_to_show;

    #[test]
    fn the_selected_block_is_kept_on_screen() {
        assert_eq!(scroll_to_show(2..4, 10), 0, "fits from the top");
        assert_eq!(
            scroll_to_show(30..33, 10),
            23,
            "scrolled so its end is the last row"
        );
        assert_eq!(
            scroll_to_show(30..60, 10),
            30,
            "taller than the pane: its start on top"
        );
        assert_eq!(scroll_to_show(0..0, 0), 0);
    }
}
