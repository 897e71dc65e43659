//! A server's request for input, over everything: which server asks, its message, then the
//! form's fields (title, required mark, description, the value with defaults prefilled,
//! the expected format, and what is wrong once the user tried to send it), or for a URL
//! request the URL and what the keys do. A long form scrolls so the focused field is always
//! on screen, with markers saying how much is above and below. Secret fields show dots.

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Padding, Paragraph, Wrap};

use super::overlay_block;
use super::wrap::wrap;
use crate::runtime::elicitation::form::TextFormat;
use crate::runtime::elicitation::{Asked, Field, FieldKind, FieldValue};
use crate::text::{plural, sanitize, sanitize_line};
use crate::tui::state::AppState;
use crate::tui::state::elicitation::PendingInput;
use crate::tui::theme::Theme;

/// Widest the overlay gets, so lines stay readable on wide terminals.
const MAX_WIDTH: u16 = 96;

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState) {
    let Some(front) = state.input_requests.front() else {
        return;
    };
    let theme = &state.theme;
    let width = area.width.saturating_sub(2).min(MAX_WIDTH);
    // Inside the borders and the padding.
    let text_width = usize::from(width.saturating_sub(4)).max(8);
    let waiting = state.input_requests.queue.len();
    let (body, focus_rows) = body(front, text_width, theme);
    let keys = keys_line(front, theme);
    let key_rows = u16::try_from(wrap(&keys_text(front), text_width).len()).unwrap_or(1);
    let wanted = u16::try_from(body.len())
        .unwrap_or(u16::MAX)
        .saturating_add(2 + key_rows);
    let height = wanted
        .min(area.height.saturating_sub(2))
        .max(6.min(area.height));
    let rect = area.centered(Constraint::Length(width), Constraint::Length(height));
    frame.render_widget(Clear, rect);
    let mut title = format!(
        " `{}` asks for input ",
        sanitize_line(front.request.server.as_str())
    );
    if waiting > 1 {
        title.push_str(&format!("· {} more waiting ", waiting - 1));
    }
    let block = overlay_block(theme, &title).padding(Padding::horizontal(1));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [text, keys_area] = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Min(1), Constraint::Length(key_rows)])
        .areas(inner);
    let lines = visible(body, focus_rows, usize::from(text.height), theme);
    frame.render_widget(Paragraph::new(lines), text);
    frame.render_widget(Paragraph::new(keys).wrap(Wrap { trim: true }), keys_area);
}

fn keys_text(front: &PendingInput) -> String {
    keys(front)
        .iter()
        .map(|(k, what)| format!("{k} {what}"))
        .collect::<Vec<_>>()
        .join(" · ")
}

fn keys(front: &PendingInput) -> Vec<(&'static str, &'static str)> {
    match front.form() {
        None => vec![
            ("o", "open in browser"),
            ("a", "accept"),
            ("n", "decline"),
            ("Esc", "cancel"),
        ],
        Some(_) if front.choosing() => vec![
            ("Tab/↑↓", "field"),
            ("Space ←→", "choose"),
            ("Enter", "send"),
            ("Ctrl-D", "decline"),
            ("Esc", "cancel"),
        ],
        Some(_) => vec![
            ("Tab/↑↓", "field"),
            ("Enter", "send"),
            ("Ctrl-D", "decline"),
            ("Esc", "cancel"),
        ],
    }
}

fn keys_line(front: &PendingInput, theme: &Theme) -> Line<'static> {
    let mut spans = Vec::new();
    for (i, (key, what)) in keys(front).into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", theme.muted()));
        }
        spans.push(Span::styled(
            key,
            theme.accent().add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::raw(format!(" {what}")));
    }
    Line::from(spans)
}

/// The lines of the request, and the rows the focused field takes (first, last).
fn body(front: &PendingInput, width: usize, theme: &Theme) -> (Vec<Line<'static>>, (usize, usize)) {
    let mut lines: Vec<Line<'static>> = wrap(&sanitize(&front.request.message), width)
        .into_iter()
        .map(|l| Line::styled(l, Style::default().add_modifier(Modifier::BOLD)))
        .collect();
    match &front.request.asked {
        Asked::Url(url) => {
            lines.push(Line::raw(""));
            lines.push(Line::styled("It asks you to visit:", theme.muted()));
            lines.extend(
                wrap(url, width.saturating_sub(2))
                    .into_iter()
                    .map(|l| Line::styled(format!("  {l}"), theme.accent())),
            );
            lines.push(Line::styled(
                "Nothing is opened unless you press o.",
                theme.muted(),
            ));
            let end = lines.len().saturating_sub(1);
            (lines, (0, end))
        }
        Asked::Form(form) => {
            if let Some(description) = &form.description {
                lines.extend(
                    wrap(&sanitize(description), width)
                        .into_iter()
                        .map(|l| Line::styled(l, theme.muted())),
                );
            }
            let mut focus_rows = (0, 0);
            for (i, field) in form.fields.iter().enumerate() {
                lines.push(Line::raw(""));
                let start = lines.len();
                let focused = i == front.focus;
                let error = front.errors.get(i).and_then(Option::as_ref);
                let value = front.values.get(i);
                field_lines(
                    &mut lines,
                    field,
                    value,
                    focused,
                    front.option,
                    error,
                    width,
                    theme,
                );
                if focused {
                    focus_rows = (start, lines.len().saturating_sub(1));
                }
            }
            if form.fields.is_empty() {
                lines.push(Line::styled(
                    "(no fields: sending answers yes)",
                    theme.muted(),
                ));
            }
            (lines, focus_rows)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn field_lines(
    lines: &mut Vec<Line<'static>>,
    field: &Field,
    value: Option<&FieldValue>,
    focused: bool,
    option: usize,
    error: Option<&String>,
    width: usize,
    theme: &Theme,
) {
    let marker = if focused { "▸ " } else { "  " };
    let mut title = vec![
        Span::styled(marker, theme.accent()),
        Span::styled(
            sanitize_line(field.label()),
            if focused {
                theme.accent().add_modifier(Modifier::BOLD)
            } else {
                Style::default().add_modifier(Modifier::BOLD)
            },
        ),
    ];
    if field.required {
        title.push(Span::styled(" *", Style::default().fg(theme.error)));
    }
    if let Some(hint) = hint(field) {
        title.push(Span::styled(format!("  ({hint})"), theme.muted()));
    }
    lines.push(Line::from(title));
    if let Some(description) = &field.description {
        lines.extend(
            wrap(&sanitize(description), width.saturating_sub(4))
                .into_iter()
                .map(|l| Line::styled(format!("    {l}"), theme.muted())),
        );
    }
    lines.extend(value_lines(field, value, focused, option, width, theme));
    if let Some(error) = error {
        lines.push(Line::styled(
            format!("    ✗ {error}"),
            Style::default()
                .fg(theme.error)
                .add_modifier(Modifier::BOLD),
        ));
    }
}

/// What the field expects, beside its title.
fn hint(field: &Field) -> Option<String> {
    match &field.kind {
        FieldKind::Text {
            format,
            min_length,
            max_length,
            ..
        } => {
            let mut parts = Vec::new();
            if let Some(format) = format {
                parts.push(format.hint().to_owned());
            }
            match (min_length, max_length) {
                (Some(min), Some(max)) => parts.push(format!("{min}–{max} characters")),
                (Some(min), None) => parts.push(format!("at least {min} characters")),
                (None, Some(max)) => parts.push(format!("at most {max} characters")),
                (None, None) => {}
            }
            if field.secret {
                parts.push("hidden".to_owned());
            }
            (!parts.is_empty()).then(|| parts.join(", "))
        }
        FieldKind::Number {
            integer,
            minimum,
            maximum,
            ..
        } => {
            let what = if *integer { "whole number" } else { "number" };
            Some(match (minimum, maximum) {
                (Some(min), Some(max)) => format!("{what} {min}–{max}"),
                (Some(min), None) => format!("{what} ≥ {min}"),
                (None, Some(max)) => format!("{what} ≤ {max}"),
                (None, None) => what.to_owned(),
            })
        }
        FieldKind::Boolean { .. } => Some("yes/no".to_owned()),
        FieldKind::Choice { .. } => Some("one of".to_owned()),
        FieldKind::Multi {
            min_items,
            max_items,
            ..
        } => Some(match (min_items, max_items) {
            (Some(min), Some(max)) => format!("choose {min}–{max}"),
            (Some(min), None) => format!("choose at least {min}"),
            (None, Some(max)) => format!("choose up to {max}"),
            (None, None) => "choose any".to_owned(),
        }),
    }
}

fn value_lines(
    field: &Field,
    value: Option<&FieldValue>,
    focused: bool,
    option: usize,
    width: usize,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let input = if focused {
        theme.selection()
    } else {
        theme.base()
    };
    match (&field.kind, value) {
        (FieldKind::Text { .. } | FieldKind::Number { .. }, Some(FieldValue::Text(text))) => {
            let shown = if field.secret {
                "•".repeat(text.chars().count())
            } else {
                sanitize_line(text)
            };
            let cursor = if focused { "▏" } else { "" };
            let placeholder = if shown.is_empty() && !focused {
                match &field.kind {
                    FieldKind::Text {
                        format: Some(TextFormat::Date),
                        ..
                    } => "YYYY-MM-DD",
                    _ => "(empty)",
                }
            } else {
                ""
            };
            let room = width.saturating_sub(6).max(4);
            let chars: Vec<char> = shown.chars().collect();
            // The end of a long value (where the cursor is) stays visible.
            let tail: String = chars[chars.len().saturating_sub(room)..].iter().collect();
            vec![Line::from(vec![
                Span::raw("    "),
                Span::styled(format!("{tail}{cursor}"), input),
                Span::styled(placeholder, theme.muted()),
            ])]
        }
        (FieldKind::Boolean { .. }, Some(FieldValue::Bool(answer))) => {
            let text = match answer {
                Some(true) => "[x] yes",
                Some(false) => "[ ] no",
                None => "[ ] not answered",
            };
            vec![Line::from(vec![
                Span::raw("    "),
                Span::styled(text, input),
            ])]
        }
        (FieldKind::Choice { options, .. }, Some(FieldValue::Choice(chosen))) => {
            let text = match chosen.and_then(|i| options.get(i).map(|o| (i, o))) {
                Some((i, o)) => format!(
                    "‹ {} › {} of {}",
                    sanitize_line(&o.label),
                    i + 1,
                    options.len()
                ),
                None => format!(
                    "‹ not chosen › {}",
                    plural(options.len(), "option", "options")
                ),
            };
            vec![Line::from(vec![
                Span::raw("    "),
                Span::styled(text, input),
            ])]
        }
        (FieldKind::Multi { options, .. }, Some(FieldValue::Multi(flags))) => options
            .iter()
            .zip(flags)
            .enumerate()
            .map(|(i, (o, on))| {
                let mark = if *on { "[x]" } else { "[ ]" };
                let style = if focused && i == option {
                    theme.selection()
                } else {
                    theme.base()
                };
                Line::from(vec![
                    Span::raw("    "),
                    Span::styled(format!("{mark} {}", sanitize_line(&o.label)), style),
                ])
            })
            .collect(),
        _ => vec![Line::styled("    (no value)", theme.muted())],
    }
}

/// The rows of `body` that fit in `room`, scrolled so the focused field (`focus` rows) is on
/// screen, with markers for what is above and below.
fn visible(
    mut body: Vec<Line<'static>>,
    focus: (usize, usize),
    room: usize,
    theme: &Theme,
) -> Vec<Line<'static>> {
    if body.len() <= room || room < 3 {
        body.truncate(room);
        return body;
    }
    // Rows for text, leaving one for each marker that may be needed.
    let rows = room - 2;
    let mut start = focus.1.saturating_sub(rows - 1).min(focus.0);
    start = start.min(body.len() - rows);
    let end = (start + rows).min(body.len());
    let marker = |text: String| {
        Line::from(Span::styled(
            text,
            theme.accent().add_modifier(Modifier::ITALIC),
        ))
    };
    let above = start;
    let below = body.len() - end;
    let mut lines = Vec::with_capacity(room);
    lines.push(if above > 0 {
        marker(format!(
            "↑ {} above",
            plural(above, "more line", "more lines")
        ))
    } else {
        Line::raw("")
    });
    lines.extend(body.drain(start..end));
    lines.push(if below > 0 {
        marker(format!(
            "↓ {} below · Tab moves on",
            plural(below, "more line", "more lines")
        ))
    } else {
        Line::styled("(end)", theme.muted())
    });
    lines
}
