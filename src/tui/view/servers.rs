//! The Servers pane: one row per server (state, transport, what it offers, protocol, identity,
//! uptime) and, below, the selected server's details: its last error and stderr tail.

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};

use super::wrap::wrapped_height;
use super::{label_value, pane_block, placeholder};
use crate::runtime::messages::{ServerSnapshot, ServerState};
use crate::text::{human_duration, human_uptime, plural};
use crate::tui::state::{AppState, Pane};
use crate::tui::theme::Theme;

/// Below this width the table drops the less important columns.
const WIDE: u16 = 70;

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, focused: bool) {
    let theme = &state.theme;
    let servers = &state.servers;
    let extra = format!(
        "· {}/{} ready",
        servers.ready_count(),
        servers.servers.len()
    );
    let block = pane_block(Pane::Servers, focused, theme, &extra);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if servers.servers.is_empty() {
        placeholder(frame, inner, theme, "No servers are configured.");
        return;
    }
    let table_height = (servers.servers.len() as u16 + 1)
        .min(inner.height / 2)
        .max(2);
    let [table_area, details_area] = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Length(table_height), Constraint::Min(0)])
        .areas(inner);
    draw_table(frame, table_area, state);
    let separator = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border(false));
    let details_area = {
        let inner = separator.inner(details_area);
        frame.render_widget(separator, details_area);
        inner
    };
    if let Some(selected) = servers.selected() {
        draw_details(
            frame,
            details_area,
            selected,
            state.now,
            servers.detail_scroll,
            theme,
        );
    }
}

pub fn state_color(state: ServerState, theme: &Theme) -> Color {
    match state {
        ServerState::Ready => theme.ok,
        ServerState::Starting | ServerState::Initializing | ServerState::Reconnecting => theme.info,
        ServerState::Degraded | ServerState::NeedsAuth => theme.warn,
        ServerState::Failed => theme.error,
        ServerState::Stopped => theme.muted,
    }
}

pub fn state_symbol(state: ServerState) -> &'static str {
    match state {
        ServerState::Ready => "●",
        ServerState::Starting | ServerState::Initializing | ServerState::Reconnecting => "◌",
        ServerState::Degraded | ServerState::NeedsAuth => "◐",
        ServerState::Failed => "✗",
        ServerState::Stopped => "○",
    }
}

fn uptime(snapshot: &ServerSnapshot, now: Instant) -> String {
    snapshot
        .ready_since
        .map(|since| human_uptime(now.saturating_duration_since(since)))
        .unwrap_or_else(|| "-".to_owned())
}

fn draw_table(frame: &mut Frame, area: Rect, state: &AppState) {
    let theme = &state.theme;
    let wide = area.width >= WIDE;
    let header: Vec<&str> = if wide {
        vec![
            "Server",
            "Transport",
            "State",
            "Tools",
            "Res",
            "Prm",
            "Protocol",
            "Up",
        ]
    } else {
        vec!["Server", "State", "T/R/P"]
    };
    let rows = state.servers.servers.iter().enumerate().map(|(i, s)| {
        let color = state_color(s.state, theme);
        let name = Cell::from(Line::from(vec![
            Span::styled(state_symbol(s.state), Style::default().fg(color)),
            Span::raw(" "),
            Span::raw(s.name.to_string()),
        ]));
        let state_cell = Cell::from(Span::styled(s.state.label(), Style::default().fg(color)));
        let cells = if wide {
            vec![
                name,
                Cell::from(s.transport.clone()),
                state_cell,
                Cell::from(s.tool_count.to_string()),
                Cell::from(s.resource_count.to_string()),
                Cell::from(s.prompt_count.to_string()),
                Cell::from(s.protocol_version.clone().unwrap_or_else(|| "-".into())),
                Cell::from(uptime(s, state.now)),
            ]
        } else {
            vec![
                name,
                state_cell,
                Cell::from(format!(
                    "{}/{}/{}",
                    s.tool_count, s.resource_count, s.prompt_count
                )),
            ]
        };
        let row = Row::new(cells);
        if i == state.servers.selected {
            row.style(theme.selection())
        } else {
            row
        }
    });
    let widths: Vec<Constraint> = if wide {
        vec![
            Constraint::Min(12),
            Constraint::Length(9),
            Constraint::Length(12),
            Constraint::Length(5),
            Constraint::Length(4),
            Constraint::Length(4),
            Constraint::Length(10),
            Constraint::Length(7),
        ]
    } else {
        vec![
            Constraint::Min(10),
            Constraint::Length(12),
            Constraint::Length(8),
        ]
    };
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.muted().add_modifier(Modifier::BOLD)))
        .column_spacing(1);
    frame.render_widget(table, area);
}

fn draw_details(
    frame: &mut Frame,
    area: Rect,
    s: &ServerSnapshot,
    now: Instant,
    scroll: u16,
    theme: &Theme,
) {
    if area.height == 0 {
        return;
    }
    let mut lines = vec![Line::from(vec![
        Span::styled(s.name.to_string(), theme.accent()),
        Span::raw("  "),
        Span::styled(
            s.state.label(),
            Style::default().fg(state_color(s.state, theme)),
        ),
    ])];
    if let Some(error) = &s.last_error {
        lines.push(Line::from(vec![
            Span::styled("error: ", Style::default().fg(theme.error)),
            Span::raw(error.clone()),
        ]));
    }
    let identity = s
        .identity
        .as_ref()
        .map(|i| format!("{} {}", i.name, i.version))
        .unwrap_or_else(|| "-".to_owned());
    lines.push(label_value("server", identity, theme));
    lines.push(label_value(
        "transport",
        format!(
            "{} · protocol {}",
            s.transport,
            s.protocol_version.as_deref().unwrap_or("-")
        ),
        theme,
    ));
    if !s.capabilities.is_empty() {
        lines.push(label_value("offers", s.capabilities.join(", "), theme));
    }
    let mut facts = vec![format!(
        "{}, {}, {}",
        plural(s.tool_count, "tool", "tools"),
        plural(s.resource_count, "resource", "resources"),
        plural(s.prompt_count, "prompt", "prompts")
    )];
    if let Some(pid) = s.pid {
        facts.push(format!("pid {pid}"));
    }
    if let Some(startup) = s.startup_time {
        facts.push(format!("started in {}", human_duration(startup)));
    }
    if s.ready_since.is_some() {
        facts.push(format!("up {}", uptime(s, now)));
    }
    lines.push(label_value("status", facts.join(" · "), theme));
    // The facts wrap; the stderr tail gets the rows that are left, newest lines last.
    let width = usize::from(area.width);
    let facts_height: usize = lines
        .iter()
        .map(|l| {
            let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            wrapped_height(&text, width)
        })
        .sum();
    let facts_height = (facts_height as u16).min(area.height);
    let [facts_area, stderr_area] = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Length(facts_height), Constraint::Min(0)])
        .areas(area);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        facts_area,
    );
    if s.stderr_tail.is_empty() || stderr_area.height < 2 {
        return;
    }
    let room = usize::from(stderr_area.height) - 1;
    let skip = s.stderr_tail.len().saturating_sub(room);
    let mut tail = vec![Line::from(Span::styled(
        "stderr (newest last):",
        theme.muted(),
    ))];
    tail.extend(
        s.stderr_tail[skip..]
            .iter()
            .map(|line| Line::from(Span::styled(format!("  {line}"), theme.muted()))),
    );
    frame.render_widget(Paragraph::new(tail), stderr_area);
}
