//! The Trace pane: the agent's steps as a tree (indented under the step they belong to, with
//! ▾/▸ on steps that have children, shown or collapsed), each with a status mark, its words
//! (worked out by the reducer) and, for the selected step, its detail. Only the rows that fit
//! are built, so a trace of thousands of steps draws as fast as a short one. The title says
//! how many steps there are (and match a filter), follow mode and the breakpoints; a line at
//! the bottom shows a filter or breakpoint being typed. Empty until an agent has run.

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::wrap::wrap;
use super::{pane_block, placeholder};
use crate::protocol::StepStatus;
use crate::protocol::debug::PauseReason;
use crate::text::{sanitize_line, truncate_chars};
use crate::tui::state::trace::{InputPurpose, TraceState};
use crate::tui::state::{AppState, Pane};
use crate::tui::theme::Theme;

/// Deeper steps are indented no further than this many levels.
const MAX_INDENT_LEVELS: usize = 6;
const DETAIL_INDENT: &str = "      ";

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, focused: bool) {
    let theme = &state.theme;
    let trace = &state.trace;
    let block = pane_block(Pane::Trace, focused, theme, &title_extra(state));
    let inner = paused_banner(frame, block.inner(area), state);
    frame.render_widget(block, area);
    let inner = input_line(frame, inner, state);
    if trace.is_empty() {
        placeholder(
            frame,
            inner,
            theme,
            "No reasoning steps yet. Each step of an agent run (model requests and replies, \
             tool calls, approvals, results) appears here as a tree you can step through.",
        );
        return;
    }
    if trace.visible_len() == 0 {
        placeholder(
            frame,
            inner,
            theme,
            "No step matches the filter. Esc shows every step.",
        );
        return;
    }
    let width = usize::from(inner.width);
    let height = usize::from(inner.height);
    // Positions count shown rows; the selected one is followed by its wrapped detail.
    let selected = trace.position_of(trace.selected);
    let detail = trace.selected_row().map_or_else(Vec::new, |row| {
        if row.detail.is_empty() {
            Vec::new()
        } else {
            wrap(&row.detail, width.saturating_sub(DETAIL_INDENT.len()))
        }
    });
    let offset = scroll_to_show(selected..selected + 1 + detail.len(), height);
    let mut lines = Vec::with_capacity(height);
    let mut position = offset_to_step(offset, selected, detail.len());
    let mut skip_detail = offset.saturating_sub(selected + 1);
    while lines.len() < height
        && let Some(index) = trace.visible_row(position)
    {
        if position != selected || offset <= selected {
            lines.push(title_line(index, trace, position == selected, width, state));
        }
        if position == selected {
            for text in detail.iter().skip(std::mem::take(&mut skip_detail)) {
                if lines.len() == height {
                    break;
                }
                lines.push(Line::from(Span::styled(
                    format!("{DETAIL_INDENT}{text}"),
                    theme.muted(),
                )));
            }
        }
        position += 1;
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The title's extra words: step count (and how many match a filter), follow mode and the
/// breakpoints set.
fn title_extra(state: &AppState) -> String {
    let trace = &state.trace;
    let mut extra = match &trace.filter {
        Some(filter) => format!(
            "· {} of {} steps match “{}”",
            trace.matched,
            trace.len(),
            sanitize_line(&filter.text)
        ),
        None => format!("· {} steps", trace.len()),
    };
    if trace.follow && !trace.is_empty() {
        extra.push_str(" · following");
    }
    if !state.agent.breakpoints.is_empty() {
        let names: Vec<String> = state
            .agent
            .breakpoints
            .iter()
            .map(ToString::to_string)
            .collect();
        extra.push_str(&format!(" · breaks: {}", sanitize_line(&names.join(", "))));
    }
    extra
}

/// The line being typed (filter or breakpoint) at the bottom, with what is wrong with it;
/// the rest of the pane is returned.
fn input_line(frame: &mut Frame, inner: Rect, state: &AppState) -> Rect {
    let Some(input) = &state.trace.input else {
        return inner;
    };
    if inner.height < 2 {
        return inner;
    }
    let prompt = match input.purpose {
        InputPurpose::Filter => "filter (kind:K turn:N tool:GLOB status:S words)",
        InputPurpose::Breakpoint => "breakpoint (model, tool:GLOB, error, step:N)",
    };
    let mut spans = vec![
        Span::styled(format!("{prompt}: "), state.theme.accent()),
        Span::raw(sanitize_line(&input.text)),
        Span::styled("█", state.theme.accent()),
    ];
    if let Some(error) = &input.error {
        spans.push(Span::styled(
            format!("  {}", sanitize_line(error)),
            Style::default().fg(state.theme.error),
        ));
    }
    let [rest, line] = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Min(0), Constraint::Length(1)])
        .areas(inner);
    frame.render_widget(Paragraph::new(Line::from(spans)), line);
    rest
}

/// Rows a paused run's banner may take at most.
const BANNER_ROWS: usize = 3;

/// A paused run says so at the top of the pane — where, why, and the keys that go on — and
/// the rest of the pane is returned for the steps.
fn paused_banner(frame: &mut Frame, inner: Rect, state: &AppState) -> Rect {
    let Some(paused) = state.agent.paused.front() else {
        return inner;
    };
    let reason = match &paused.reason {
        PauseReason::Stepping => "stepping".to_owned(),
        PauseReason::Breakpoint(breakpoint) => format!("breakpoint {breakpoint}"),
    };
    let mut text = format!(
        "⏸ Paused at step {} ({reason}): {} · n step · c continue · x stop · e edit",
        paused.step,
        sanitize_line(&paused.at.describe())
    );
    if state.agent.paused.len() > 1 {
        text.push_str(&format!(" · {} more paused", state.agent.paused.len() - 1));
    }
    let lines: Vec<Line> = wrap(&text, usize::from(inner.width).max(1))
        .into_iter()
        .take(BANNER_ROWS)
        .map(|line| Line::from(Span::styled(line, Style::default().fg(state.theme.warn))))
        .collect();
    let rows = u16::try_from(lines.len()).unwrap_or(1).min(inner.height);
    let [banner, rest] = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Length(rows), Constraint::Min(0)])
        .areas(inner);
    frame.render_widget(Paragraph::new(lines), banner);
    rest
}

/// The step shown on the first row when the view starts `offset` rows down (rows before the
/// selected step are one per step; the selected step's detail follows it).
fn offset_to_step(offset: usize, selected: usize, detail_rows: usize) -> usize {
    if offset <= selected {
        offset
    } else if offset <= selected + detail_rows {
        selected
    } else {
        offset - detail_rows
    }
}

fn title_line(
    index: usize,
    trace: &TraceState,
    selected: bool,
    width: usize,
    state: &AppState,
) -> Line<'static> {
    let theme = &state.theme;
    let row = &trace.rows[index];
    let indent = "  ".repeat(row.depth.min(MAX_INDENT_LEVELS));
    let (mark, mark_style) = status_mark(row.step.status, theme);
    let marker = if selected { "▶ " } else { "  " };
    let number = format!("{:>3} ", index + 1);
    let (fold, hidden) = if trace.is_collapsed(index) {
        ("▸ ", format!(" · +{} hidden", trace.descendants(index)))
    } else if trace.has_children(index) {
        ("▾ ", String::new())
    } else {
        ("  ", String::new())
    };
    let used = marker.len() + number.len() + indent.len() + 5 + hidden.chars().count();
    let title = truncate_chars(&row.title, width.saturating_sub(used).max(1));
    // With a filter, the ancestors shown for context are dimmed; the matches are not.
    let context = trace
        .filter
        .as_ref()
        .is_some_and(|filter| !filter.matches(row));
    let line = Line::from(vec![
        Span::raw(marker),
        Span::styled(number, theme.muted()),
        Span::raw(indent),
        Span::styled(fold, theme.muted()),
        Span::styled(format!("{mark} "), mark_style),
        if context {
            Span::styled(title, theme.muted())
        } else {
            Span::raw(title)
        },
        Span::styled(hidden, theme.muted()),
    ]);
    if selected {
        line.style(theme.selection())
    } else {
        line
    }
}

fn status_mark(status: StepStatus, theme: &Theme) -> (&'static str, Style) {
    match status {
        StepStatus::Running => ("…", theme.accent()),
        StepStatus::Ok => ("✓", Style::default().fg(theme.ok)),
        StepStatus::Error => ("✗", Style::default().fg(theme.error)),
        StepStatus::Cancelled => ("⊘", theme.muted()),
        StepStatus::Denied => ("⊖", Style::default().fg(theme.warn)),
        StepStatus::Unknown => ("?", theme.muted()),
    }
}

/// The first row to draw so that `rows` is on screen: from the top while it fits, else with
/// its end at the bottom, but never past its start (a block taller than the pane shows its
/// beginning).
fn scroll_to_show(rows: std::ops::Range<usize>, height: usize) -> usize {
    rows.end.saturating_sub(height.max(1)).min(rows.start)
}

#[cfg(test)]
mod tests {
    use super::{offset_to_step, scroll_to_show};

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

    #[test]
    fn offsets_map_back_to_steps() {
        assert_eq!(offset_to_step(3, 10, 4), 3);
        assert_eq!(offset_to_step(10, 10, 4), 10);
        assert_eq!(offset_to_step(12, 10, 4), 10, "inside the detail");
        assert_eq!(offset_to_step(16, 10, 4), 12, "past the detail");
    }
}
