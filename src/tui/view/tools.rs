//! The Tools pane: a filterable list of every tool (only the visible rows are built) and the
//! selected tool's details — description, annotations and the input schema, pretty-printed and
//! highlighted (plain until the highlighter's lines arrive).

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::{label_value, pane_block, placeholder};
use crate::runtime::catalog::ToolEntry;
use crate::text::sanitize_line;
use crate::tui::highlight::plain_lines;
use crate::tui::state::tools::{ToolsState, schema_text};
use crate::tui::state::{AppState, Pane};
use crate::tui::theme::Theme;

/// From this inner width on, the list and the details sit side by side.
const SIDE_BY_SIDE: u16 = 90;

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, focused: bool) {
    let theme = &state.theme;
    let tools = &state.tools;
    let extra = if tools.filter.is_empty() {
        format!("· {}", tools.catalog.tools.len())
    } else {
        format!("· {} of {}", tools.visible.len(), tools.catalog.tools.len())
    };
    let block = pane_block(Pane::Tools, focused, theme, &extra);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if tools.catalog.tools.is_empty() {
        let text = if state.servers.servers.iter().all(|s| s.state.is_settled()) {
            "No connected server offers tools."
        } else {
            "Waiting for servers to list their tools…"
        };
        placeholder(frame, inner, theme, text);
        return;
    }
    let (direction, split) = if inner.width >= SIDE_BY_SIDE {
        (
            Direction::Horizontal,
            [Constraint::Percentage(38), Constraint::Percentage(62)],
        )
    } else {
        (
            Direction::Vertical,
            [Constraint::Percentage(40), Constraint::Percentage(60)],
        )
    };
    let [list_area, details_area] = Layout::default()
        .direction(direction)
        .constraints(split)
        .areas(inner);
    draw_list(frame, list_area, tools, theme, focused);
    let details_block = if direction == Direction::Horizontal {
        Block::default()
            .borders(Borders::LEFT)
            .border_style(theme.border(false))
    } else {
        Block::default()
            .borders(Borders::TOP)
            .border_style(theme.border(false))
    };
    let details_inner = details_block.inner(details_area);
    frame.render_widget(details_block, details_area);
    match tools.selected_tool() {
        Some(tool) => draw_details(frame, details_inner, tools, tool, theme),
        None => placeholder(frame, details_inner, theme, "No tool matches the filter."),
    }
}

fn draw_list(frame: &mut Frame, area: Rect, tools: &ToolsState, theme: &Theme, focused: bool) {
    let mut rows_area = area;
    if tools.filtering || !tools.filter.is_empty() {
        let cursor = if tools.filtering { "▏" } else { "" };
        let line = Line::from(vec![
            Span::styled("/", theme.accent()),
            Span::raw(format!("{}{cursor}", tools.filter)),
            Span::styled(
                if tools.filtering {
                    "  Enter keeps · Esc clears"
                } else {
                    ""
                },
                theme.muted(),
            ),
        ]);
        frame.render_widget(Paragraph::new(line), Rect { height: 1, ..area });
        rows_area = Rect {
            y: area.y + 1,
            height: area.height.saturating_sub(1),
            ..area
        };
    }
    let height = usize::from(rows_area.height);
    if height == 0 {
        return;
    }
    let start = (tools.selected + 1).saturating_sub(height);
    let lines: Vec<Line> = tools
        .visible
        .iter()
        .enumerate()
        .skip(start)
        .take(height)
        .map(|(row, &index)| {
            let tool = &tools.catalog.tools[index];
            let selected = row == tools.selected;
            let mut spans = vec![
                Span::raw(if selected && focused { "› " } else { "  " }),
                Span::styled(
                    sanitize_line(&tool.name),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Span::styled(format!(" · {}", tool.server), theme.muted()),
            ];
            if is_read_only(tool) {
                spans.push(Span::styled(" ro", Style::default().fg(theme.ok)));
            }
            let line = Line::from(spans);
            if selected {
                line.style(theme.selection())
            } else {
                line
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), rows_area);
}

fn is_read_only(tool: &ToolEntry) -> bool {
    tool.annotations
        .as_ref()
        .and_then(|a| a.read_only_hint)
        .unwrap_or(false)
}

fn hints(tool: &ToolEntry) -> Vec<&'static str> {
    let Some(a) = &tool.annotations else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if a.read_only_hint == Some(true) {
        out.push("read-only");
    }
    if a.destructive_hint == Some(true) && a.read_only_hint != Some(true) {
        out.push("destructive");
    }
    if a.idempotent_hint == Some(true) {
        out.push("idempotent");
    }
    if a.open_world_hint == Some(true) {
        out.push("open-world");
    }
    out
}

fn draw_details(
    frame: &mut Frame,
    area: Rect,
    tools: &ToolsState,
    tool: &ToolEntry,
    theme: &Theme,
) {
    let mut lines: Vec<Line> = vec![Line::from(vec![
        Span::styled(sanitize_line(&tool.name), theme.accent()),
        Span::styled(
            tool.title
                .as_deref()
                .map(|t| format!("  {t}"))
                .unwrap_or_default(),
            theme.muted(),
        ),
    ])];
    lines.push(label_value("server", tool.server.to_string(), theme));
    lines.push(label_value("llm name", tool.qualified_name.clone(), theme));
    let hints = hints(tool);
    if !hints.is_empty() {
        lines.push(label_value("hints", hints.join(", "), theme));
    }
    lines.push(Line::default());
    if tool.description.is_empty() {
        lines.push(Line::from(Span::styled("(no description)", theme.muted())));
    } else {
        lines.extend(tool.description.lines().map(|l| Line::raw(l.to_owned())));
    }
    lines.push(Line::default());
    lines.push(Line::from(Span::styled("input schema", theme.muted())));
    match (tools.selected_highlight(), tools.selected_schema()) {
        (Some(highlighted), _) => lines.extend(highlighted.iter().cloned()),
        (None, Some(schema)) => lines.extend(plain_lines(&schema.text)),
        (None, None) => lines.extend(plain_lines(&schema_text(tool))),
    }
    let paragraph = Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .scroll((tools.detail_scroll, 0));
    frame.render_widget(paragraph, area);
}
