//! The agent's prompts: a tool call waiting for approval (server, tool, hints, the exact
//! arguments the server would receive, whole), a server's sampling request (what it would send
//! to the LLM), and the JSON editors opened from either.
//!
//! A prompt is docked at the bottom of the Chat pane in place of the input, so the user's
//! question and the model's text before the call stay visible above it (when the Chat pane is
//! not on screen, at the bottom of the focused pane). It takes the room its text needs, up to
//! two thirds of the pane; longer text scrolls, with markers saying how much is above and
//! below. The editors are centred overlays, as editing needs the room.

// rmcp marks sampling deprecated (SEP-2577); servers on 2025-11-25 and older use it.
#![allow(deprecated)]

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Padding, Paragraph, Wrap};

use super::arguments::argument_lines;
use super::overlay_block;
use super::wrap::wrap;
use crate::agent::sampling::message_text;
use crate::text::{plural, sanitize, sanitize_line, truncate_chars};
use crate::tui::state::AppState;
use crate::tui::state::agent::{JsonEditor, PendingApproval, PendingSampling};
use crate::tui::theme::Theme;

/// Widest an editor overlay gets, so long lines stay readable on wide terminals.
const MAX_WIDTH: u16 = 100;
/// Rows of the pane above a docked prompt kept for the conversation.
const MIN_ROWS_ABOVE: u16 = 3;
/// Borders (2) and the key line.
const FRAME_ROWS: u16 = 3;

/// The editors, centred over everything (the prompts themselves are docked).
pub fn draw_editors(frame: &mut Frame, area: Rect, state: &AppState) {
    let agent = &state.agent;
    let theme = &state.theme;
    if let (Some(editor), Some(front)) = (&agent.approval_editor, agent.approvals.front()) {
        let title = format!(
            " Edit arguments for {} · Ctrl-S runs with them · Esc back ",
            front.call.qualified_name
        );
        draw_editor(frame, area, editor, &title, theme);
    } else if let (Some(editor), Some(front)) = (&agent.sampling_editor, agent.sampling.front()) {
        let title = format!(
            " Edit `{}`'s sampling request · Ctrl-S sends it · Esc back ",
            front.server
        );
        draw_editor(frame, area, editor, &title, theme);
    } else if let Some(open) = &agent.pause_editor {
        let title = format!(
            " Edit {} · Ctrl-S applies it and runs one step · Esc back ",
            open.target.title()
        );
        draw_editor(frame, area, &open.editor, &title, theme);
    }
}

/// A prompt waiting for the user, ready to draw at one width.
struct Prompt {
    title: String,
    body: Vec<Line<'static>>,
    keys: Line<'static>,
    scroll: usize,
}

/// The prompt that has the keyboard, laid out for a dock `width` columns wide.
fn active_prompt(state: &AppState, width: u16) -> Option<Prompt> {
    let agent = &state.agent;
    if agent.approval_editor.is_some() || agent.sampling_editor.is_some() {
        return None;
    }
    // Inside the borders and the horizontal padding.
    let text_width = usize::from(width.saturating_sub(4)).max(8);
    if let Some(front) = agent.approvals.front() {
        Some(approval_prompt(
            front,
            agent.approvals.len(),
            text_width,
            &state.theme,
        ))
    } else {
        agent
            .sampling
            .front()
            .map(|front| sampling_prompt(front, agent.sampling.len(), text_width, &state.theme))
    }
}

/// How many rows a prompt docked in `rect` takes, if one is waiting.
pub fn docked_height(state: &AppState, rect: Rect) -> Option<u16> {
    let prompt = active_prompt(state, rect.width)?;
    let wanted = u16::try_from(prompt.body.len())
        .unwrap_or(u16::MAX)
        .saturating_add(FRAME_ROWS);
    let room = rect
        .height
        .saturating_sub(MIN_ROWS_ABOVE.max(rect.height / 3));
    Some(wanted.min(room).max(FRAME_ROWS + 2).min(rect.height))
}

/// Draws the waiting prompt in `rect` (its whole area). The body scrolls; when it does not
/// fit, the first and last rows say how much is above and below.
pub fn draw_docked(frame: &mut Frame, rect: Rect, state: &AppState) {
    let Some(prompt) = active_prompt(state, rect.width) else {
        return;
    };
    let theme = &state.theme;
    frame.render_widget(Clear, rect);
    let block = overlay_block(theme, &prompt.title).padding(Padding::horizontal(1));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [text, keys_area] = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Min(1), Constraint::Length(1)])
        .areas(inner);
    let body = visible_body(prompt.body, prompt.scroll, usize::from(text.height), theme);
    state.agent.prompt_max_scroll.set(body.max_scroll);
    frame.render_widget(Paragraph::new(body.lines), text);
    frame.render_widget(
        Paragraph::new(prompt.keys).wrap(Wrap { trim: true }),
        keys_area,
    );
}

struct VisibleBody {
    lines: Vec<Line<'static>>,
    max_scroll: usize,
}

/// The rows of `body` that fit in `room`, starting `scroll` rows down, with "more above" and
/// "more below" markers in place of the first and last rows when needed. Nothing is dropped
/// without a marker saying so.
fn visible_body(
    mut body: Vec<Line<'static>>,
    scroll: usize,
    room: usize,
    theme: &Theme,
) -> VisibleBody {
    if body.len() <= room || room < 3 {
        let max_scroll = body.len().saturating_sub(room);
        let start = scroll.min(max_scroll);
        body.drain(..start);
        body.truncate(room);
        return VisibleBody {
            lines: body,
            max_scroll,
        };
    }
    // The last row says what is below (or that this is the end); a first row says what is
    // above, once something is.
    let max_scroll = body.len() - (room - 2);
    let start = scroll.min(max_scroll);
    let shown = if start == 0 { room - 1 } else { room - 2 };
    let below = body.len() - start - shown;
    let marker = |text: String| {
        Line::from(Span::styled(
            text,
            theme.accent().add_modifier(Modifier::ITALIC),
        ))
    };
    let mut lines = Vec::with_capacity(room);
    if start > 0 {
        lines.push(marker(format!(
            "↑ {} above · k/↑ scrolls up",
            plural(start, "more line", "more lines")
        )));
    }
    lines.extend(body.drain(start..start + shown));
    lines.push(if below > 0 {
        marker(format!(
            "↓ {} below · j/↓ scrolls down",
            plural(below, "more line", "more lines")
        ))
    } else {
        Line::from(Span::styled("(end)", theme.muted()))
    });
    VisibleBody { lines, max_scroll }
}

fn keys_line(keys: &[(&'static str, &'static str)], theme: &Theme) -> Line<'static> {
    let mut spans = Vec::new();
    for (i, (key, what)) in keys.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", theme.muted()));
        }
        spans.push(Span::styled(
            *key,
            theme.accent().add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::raw(format!(" {what}")));
    }
    Line::from(spans)
}

fn approval_prompt(
    pending: &PendingApproval,
    waiting: usize,
    width: usize,
    theme: &Theme,
) -> Prompt {
    let call = &pending.call;
    let mut title = format!(" Run {}? ", sanitize_line(&call.qualified_name));
    if pending.total > 1 {
        title = format!(
            " Run {}? (call {} of {}) ",
            sanitize_line(&call.qualified_name),
            pending.index + 1,
            pending.total
        );
    }
    let mut body = vec![Line::from(vec![
        Span::styled("server ", theme.muted()),
        Span::styled(call.server.to_string(), theme.accent()),
        Span::styled(" · tool ", theme.muted()),
        Span::styled(
            sanitize_line(&call.tool),
            Style::default().add_modifier(Modifier::BOLD),
        ),
    ])];
    let mut hints = Vec::new();
    if let Some(title) = &call.title {
        hints.push(Span::raw(format!("“{}”", sanitize_line(title))));
    }
    if call.destructive == Some(true) {
        hints.push(Span::styled(
            "destructive: may change or delete data",
            Style::default()
                .fg(theme.error)
                .add_modifier(Modifier::BOLD),
        ));
    } else if call.read_only == Some(true) {
        hints.push(Span::styled(
            "read-only (says the server)",
            Style::default().fg(theme.ok),
        ));
    }
    if !hints.is_empty() {
        let mut line = Vec::new();
        for (i, hint) in hints.into_iter().enumerate() {
            if i > 0 {
                line.push(Span::styled(" · ", theme.muted()));
            }
            line.push(hint);
        }
        body.push(Line::from(line));
    }
    if waiting > 1 {
        body.push(Line::from(Span::styled(
            match waiting - 1 {
                1 => "1 more call waits after this one".to_owned(),
                n => format!("{n} more calls wait after this one"),
            },
            theme.muted(),
        )));
    }
    body.push(Line::from(Span::styled(
        "arguments the server will receive, exactly:",
        theme.muted(),
    )));
    body.extend(
        argument_lines(&call.arguments, width)
            .into_iter()
            .map(Line::raw),
    );
    let keys = keys_line(
        &[
            ("y", "run"),
            ("n", "deny"),
            ("a", "always (this session)"),
            ("e", "edit"),
            ("Esc", "stop the turn"),
        ],
        theme,
    );
    Prompt {
        title,
        body,
        keys,
        scroll: pending.scroll,
    }
}

fn sampling_prompt(
    pending: &PendingSampling,
    waiting: usize,
    width: usize,
    theme: &Theme,
) -> Prompt {
    let params = &pending.params;
    let title = format!(" Server `{}` asks to use the LLM ", pending.server);
    let mut body = Vec::new();
    if let Some(system) = &params.system_prompt {
        body.push(Line::from(Span::styled("system prompt:", theme.muted())));
        body.extend(indented(&sanitize(system), "  ", width));
    }
    body.push(Line::from(Span::styled(
        format!("messages ({}):", params.messages.len()),
        theme.muted(),
    )));
    for message in &params.messages {
        let role = match message.role {
            rmcp::model::Role::User => "user",
            rmcp::model::Role::Assistant => "assistant",
        };
        body.push(Line::from(Span::styled(
            format!("  {role}:"),
            theme.accent(),
        )));
        body.extend(indented(&sanitize(&message_text(message)), "    ", width));
    }
    let mut limits = vec![format!("at most {} tokens", params.max_tokens)];
    if let Some(temperature) = params.temperature {
        limits.push(format!("temperature {temperature}"));
    }
    if let Some(stop) = params.stop_sequences.as_ref().filter(|s| !s.is_empty()) {
        limits.push(format!(
            "stops at {}",
            truncate_chars(&format!("{stop:?}"), 60)
        ));
    }
    body.push(Line::from(Span::styled(limits.join(" · "), theme.muted())));
    if let Some(hints) = params
        .model_preferences
        .as_ref()
        .and_then(|p| p.hints.as_ref())
    {
        let names: Vec<String> = hints.iter().filter_map(|h| h.name.clone()).collect();
        if !names.is_empty() {
            body.push(Line::from(Span::styled(
                format!(
                    "it would prefer {}; your configured model answers",
                    sanitize_line(&names.join(", "))
                ),
                theme.muted(),
            )));
        }
    }
    if waiting > 1 {
        body.push(Line::from(Span::styled(
            match waiting - 1 {
                1 => "1 more request waits after this one".to_owned(),
                n => format!("{n} more requests wait after this one"),
            },
            theme.muted(),
        )));
    }
    let keys = keys_line(
        &[("y", "send it to the LLM"), ("n", "refuse"), ("e", "edit")],
        theme,
    );
    Prompt {
        title,
        body,
        keys,
        scroll: pending.scroll,
    }
}

/// `text` wrapped to `width` under `pad`.
fn indented(text: &str, pad: &str, width: usize) -> Vec<Line<'static>> {
    wrap(text, width.saturating_sub(pad.len()).max(1))
        .into_iter()
        .map(|l| Line::raw(format!("{pad}{l}")))
        .collect()
}

fn draw_editor(frame: &mut Frame, area: Rect, editor: &JsonEditor, title: &str, theme: &Theme) {
    let width = area.width.saturating_sub(4).min(MAX_WIDTH);
    let height = area.height.saturating_sub(2).min(30);
    let rect = area.centered(Constraint::Length(width), Constraint::Length(height));
    frame.render_widget(Clear, rect);
    let block = overlay_block(theme, title);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [edit, status] = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Min(1), Constraint::Length(1)])
        .areas(inner);
    frame.render_widget(&*editor.editor, edit);
    if let Some(error) = &editor.error {
        frame.render_widget(
            Paragraph::new(Span::styled(
                error.clone(),
                Style::default().fg(theme.error),
            )),
            status,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(body: VisibleBody) -> Vec<String> {
        body.lines.iter().map(|line| line.to_string()).collect()
    }

    #[test]
    fn a_long_body_scrolls_with_markers_and_never_drops_a_line_silently() {
        let theme = Theme::default_dark();
        let body = || {
            (1..=20)
                .map(|i| Line::raw(format!("line {i}")))
                .collect::<Vec<_>>()
        };
        let top = visible_body(body(), 0, 5, &theme);
        assert_eq!(top.max_scroll, 17);
        assert_eq!(
            texts(top),
            [
                "line 1",
                "line 2",
                "line 3",
                "line 4",
                "↓ 16 more lines below · j/↓ scrolls down"
            ]
        );
        assert_eq!(
            texts(visible_body(body(), 1, 5, &theme)),
            [
                "↑ 1 more line above · k/↑ scrolls up",
                "line 2",
                "line 3",
                "line 4",
                "↓ 16 more lines below · j/↓ scrolls down"
            ]
        );
        assert_eq!(
            texts(visible_body(body(), 100, 5, &theme)),
            [
                "↑ 17 more lines above · k/↑ scrolls up",
                "line 18",
                "line 19",
                "line 20",
                "(end)"
            ]
        );
        let short = visible_body(body()[..3].to_vec(), 4, 5, &theme);
        assert_eq!(short.max_scroll, 0);
        assert_eq!(texts(short), ["line 1", "line 2", "line 3"]);
    }
}
