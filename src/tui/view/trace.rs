//! The Trace pane: the timeline of agent reasoning steps, newest last, with the selected step's
//! detail. Empty until an agent has run.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{pane_block, placeholder};
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
    let mut lines = Vec::new();
    for (i, step) in trace.steps.iter().enumerate() {
        let marker = if i == trace.selected { "▶ " } else { "  " };
        let line = Line::from(vec![
            Span::raw(marker),
            Span::styled(format!("{:>3} ", i + 1), theme.muted()),
            Span::raw(step.title.clone()),
        ]);
        lines.push(if i == trace.selected {
            line.style(theme.selection())
        } else {
            line
        });
        if i == trace.selected && !step.detail.is_empty() {
            lines.extend(
                step.detail
                    .lines()
                    .map(|l| Line::from(Span::styled(format!("      {l}"), theme.muted()))),
            );
        }
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}
