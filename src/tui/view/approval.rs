//! The agent's modal prompts: a tool call waiting for approval (server, tool, hints, the exact
//! arguments the server would receive), a server's sampling request (what it would send to
//! the LLM), and the JSON editors opened from either. They are drawn above the panes and
//! below a tool-call overlay the user opened themselves.

// rmcp marks sampling deprecated (SEP-2577); servers on 2025-11-25 and older use it.
#![allow(deprecated)]

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Padding, Paragraph, Wrap};

use super::overlay_block;
use crate::agent::sampling::message_text;
use crate::text::{sanitize, sanitize_line, truncate_chars};
use crate::tui::state::AppState;
use crate::tui::state::agent::{JsonEditor, PendingApproval, PendingSampling};
use crate::tui::theme::Theme;

/// Widest an overlay gets, so long lines stay readable on wide terminals.
const MAX_WIDTH: u16 = 100;
/// Longest a single argument line is shown before it is cut (the editor shows it all).
const MAX_LINE_CHARS: usize = 400;

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState) {
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
    } else if let Some(front) = agent.approvals.front() {
        draw_approval(frame, area, front, agent.approvals.len(), theme);
    } else if let Some(front) = agent.sampling.front() {
        draw_sampling(frame, area, front, agent.sampling.len(), theme);
    }
}

/// A rectangle centred in `area`, as tall as `content` lines need (plus borders and the key
/// line), never taller than the screen.
fn fitted(area: Rect, content: usize) -> Rect {
    let width = area.width.saturating_sub(4).min(MAX_WIDTH);
    let wanted = u16::try_from(content + 4).unwrap_or(u16::MAX);
    let height = wanted.min(area.height.saturating_sub(2)).max(6);
    area.centered(Constraint::Length(width), Constraint::Length(height))
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

/// Draws `body` in a fitted overlay with `keys` pinned to its last line; a body too long for
/// the screen ends with a line saying how much is hidden.
fn draw_prompt(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    mut body: Vec<Line<'static>>,
    keys: Line<'static>,
    theme: &Theme,
) {
    let rect = fitted(area, body.len());
    frame.render_widget(Clear, rect);
    let block = overlay_block(theme, title).padding(Padding::horizontal(1));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [text, _, keys_area] = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Min(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(inner);
    let room = usize::from(text.height);
    if body.len() > room && room > 0 {
        let hidden = body.len() - (room - 1);
        body.truncate(room - 1);
        body.push(Line::from(Span::styled(
            format!("… {hidden} more lines (e opens them in the editor)"),
            theme.muted().add_modifier(Modifier::ITALIC),
        )));
    }
    frame.render_widget(Paragraph::new(body), text);
    frame.render_widget(Paragraph::new(keys).wrap(Wrap { trim: true }), keys_area);
}

fn draw_approval(
    frame: &mut Frame,
    area: Rect,
    pending: &PendingApproval,
    waiting: usize,
    theme: &Theme,
) {
    let call = &pending.call;
    let mut title = format!(" Run {}? ", call.qualified_name);
    if pending.total > 1 {
        title = format!(
            " Run {}? (call {} of {}) ",
            call.qualified_name,
            pending.index + 1,
            pending.total
        );
    }
    let mut body = vec![Line::from(vec![
        Span::styled("server ", theme.muted()),
        Span::styled(call.server.to_string(), theme.accent()),
        Span::styled(" · tool ", theme.muted()),
        Span::styled(
            sanitize(&call.tool),
            Style::default().add_modifier(Modifier::BOLD),
        ),
    ])];
    let mut hints = Vec::new();
    if let Some(title) = &call.title {
        hints.push(Span::raw(format!("“{}”", sanitize(title))));
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
    body.push(Line::default());
    body.push(Line::from(Span::styled(
        "arguments the server will receive:",
        theme.muted(),
    )));
    let pretty = serde_json::to_string_pretty(&call.arguments)
        .unwrap_or_else(|_| call.arguments.to_string());
    body.extend(
        sanitize(&pretty)
            .lines()
            .map(|l| Line::raw(format!("  {}", truncate_chars(l, MAX_LINE_CHARS)))),
    );
    if waiting > 1 {
        body.push(Line::default());
        body.push(Line::from(Span::styled(
            match waiting - 1 {
                1 => "1 more call waits after this one".to_owned(),
                n => format!("{n} more calls wait after this one"),
            },
            theme.muted(),
        )));
    }
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
    draw_prompt(frame, area, &title, body, keys, theme);
}

fn draw_sampling(
    frame: &mut Frame,
    area: Rect,
    pending: &PendingSampling,
    waiting: usize,
    theme: &Theme,
) {
    let params = &pending.params;
    let title = format!(" Server `{}` asks to use the LLM ", pending.server);
    let mut body = Vec::new();
    if let Some(system) = &params.system_prompt {
        body.push(Line::from(Span::styled("system prompt:", theme.muted())));
        body.extend(
            sanitize(system)
                .lines()
                .map(|l| Line::raw(format!("  {}", truncate_chars(l, MAX_LINE_CHARS)))),
        );
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
        let text = sanitize(&message_text(message));
        let mut lines = text.lines();
        let first = lines.next().unwrap_or("");
        body.push(Line::from(vec![
            Span::styled(format!("  {role}: "), theme.accent()),
            Span::raw(truncate_chars(first, MAX_LINE_CHARS)),
        ]));
        body.extend(lines.map(|l| Line::raw(format!("    {}", truncate_chars(l, MAX_LINE_CHARS)))));
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
    draw_prompt(frame, area, &title, body, keys, theme);
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
