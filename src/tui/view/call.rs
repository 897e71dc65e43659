//! The tool-call overlay: arguments editor, running call with progress, result preview (the
//! whole result opens in the pager).

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Gauge, Paragraph, Wrap};

use crate::text::{human_duration, truncate_chars};
use crate::tui::state::AppState;
use crate::tui::state::call::{CallTarget, CallView, ResultText};
use crate::tui::theme::Theme;

use super::overlay_block;

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState) {
    let theme = &state.theme;
    let Some(view) = &state.call.view else {
        return;
    };
    let width = area.width.saturating_sub(4).min(100);
    let height = area.height.saturating_sub(2).min(30);
    let rect = area.centered(Constraint::Length(width), Constraint::Length(height));
    frame.render_widget(Clear, rect);
    match view {
        CallView::Editing {
            target,
            editor,
            error,
        } => {
            let block = overlay_block(
                theme,
                &format!(
                    " Call {} · Ctrl-S runs · Esc closes ",
                    target.qualified_name
                ),
            );
            let inner = block.inner(rect);
            frame.render_widget(block, rect);
            let [hint, edit, status] = Layout::default()
                .direction(Direction::Vertical)
                .constraints([
                    Constraint::Length(1),
                    Constraint::Min(1),
                    Constraint::Length(1),
                ])
                .areas(inner);
            frame.render_widget(
                Paragraph::new(Span::styled("arguments (JSON object):", theme.muted())),
                hint,
            );
            frame.render_widget(&**editor, edit);
            if let Some(error) = error {
                frame.render_widget(
                    Paragraph::new(Span::styled(
                        error.clone(),
                        Style::default().fg(theme.error),
                    )),
                    status,
                );
            }
        }
        CallView::Running {
            target,
            started,
            progress,
            cancelling,
            ..
        } => {
            let title = if *cancelling {
                format!(" {} · cancelling… ", target.qualified_name)
            } else {
                format!(" {} · running · Esc cancels ", target.qualified_name)
            };
            let block = overlay_block(theme, &title);
            let inner = block.inner(rect);
            frame.render_widget(block, rect);
            let [text, gauge] = Layout::default()
                .direction(Direction::Vertical)
                .constraints([Constraint::Length(2), Constraint::Length(1)])
                .areas(inner);
            let elapsed = state.now.saturating_duration_since(*started);
            let message = progress
                .as_ref()
                .and_then(|p| p.message.clone())
                .unwrap_or_else(|| "waiting for the server…".to_owned());
            frame.render_widget(
                Paragraph::new(vec![
                    Line::raw(message),
                    Line::from(Span::styled(
                        format!("{} elapsed", human_duration(elapsed)),
                        theme.muted(),
                    )),
                ]),
                text,
            );
            if let Some(p) = progress {
                let (ratio, label) = match p.total {
                    Some(total) if total > 0.0 => (
                        (p.progress / total).clamp(0.0, 1.0),
                        format!("{} / {}", p.progress, total),
                    ),
                    _ => (0.0, format!("{}", p.progress)),
                };
                frame.render_widget(
                    Gauge::default()
                        .ratio(ratio)
                        .label(label)
                        .gauge_style(Style::default().fg(theme.accent)),
                    gauge,
                );
            }
        }
        CallView::Done {
            target,
            elapsed,
            outcome,
            cancelled,
        } => draw_result(frame, rect, target, *elapsed, outcome, *cancelled, theme),
    }
}

fn draw_result(
    frame: &mut Frame,
    rect: Rect,
    target: &CallTarget,
    elapsed: std::time::Duration,
    outcome: &Result<ResultText, String>,
    cancelled: bool,
    theme: &Theme,
) {
    let (status, body) = match outcome {
        Ok(result) => {
            let (preview, cut) = result.preview();
            let mut status = vec![if result.is_error {
                Span::styled(
                    "the tool reported an error",
                    Style::default().fg(theme.error),
                )
            } else {
                Span::styled("ok", Style::default().fg(theme.ok))
            }];
            if cut {
                status.push(Span::styled(
                    format!(
                        " · showing the start of {} lines ({} bytes): p reads it all",
                        result.line_count(),
                        result.text.len()
                    ),
                    theme.muted().add_modifier(Modifier::BOLD),
                ));
            }
            (status, preview)
        }
        Err(error) if cancelled => (
            vec![
                Span::styled("cancelled", Style::default().fg(theme.warn)),
                Span::styled(
                    " · you stopped it and the server was told (notifications/cancelled)",
                    theme.muted(),
                ),
            ],
            error.clone(),
        ),
        Err(error) => (
            vec![Span::styled("failed", Style::default().fg(theme.error))],
            error.clone(),
        ),
    };
    // Only a result has text for the pager.
    let pager_hint = if outcome.is_ok() {
        "p opens the pager · "
    } else {
        ""
    };
    let title = format!(
        " {} · {} · {pager_hint}Esc closes ",
        target.qualified_name,
        human_duration(elapsed)
    );
    let block = overlay_block(theme, &title);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let mut lines = vec![Line::from(status), Line::default()];
    lines.extend(body.lines().map(|l| Line::raw(truncate_chars(l, 2000))));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}
