//! The Chat pane: the conversation above, the input below. Only the entries that reach the
//! visible window are wrapped and turned into lines, walking back from the newest; wrapped
//! heights are memoised per width, so a frame costs the same with ten messages or ten thousand.

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::pane_block;
use super::wrap::{wrap, wrapped_height};
use crate::tui::state::chat::{ChatEntry, ChatState, Role};
use crate::tui::state::{AppState, Pane};
use crate::tui::theme::Theme;

/// Text is indented under its role label by this many columns.
const INDENT: usize = 2;
/// The input grows with its text up to this many lines.
const MAX_INPUT_LINES: usize = 5;

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, focused: bool) {
    let theme = &state.theme;
    let chat = &state.chat;
    let extra = match (&chat.model, chat.scroll) {
        (_, scroll) if scroll > 0 => format!("· ↑{scroll} lines"),
        (Some(model), _) => format!("· {model}"),
        (None, _) => "· no LLM configured".to_owned(),
    };
    let block = pane_block(Pane::Chat, focused, theme, &extra);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let input_lines = chat.input.lines().len().clamp(1, MAX_INPUT_LINES) as u16;
    let [history, input] = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Min(1), Constraint::Length(input_lines + 1)])
        .areas(inner);
    draw_history(frame, history, chat, theme);
    draw_input(frame, input, state, focused);
}

fn draw_input(frame: &mut Frame, area: Rect, state: &AppState, focused: bool) {
    let typing = state.typing && focused;
    let title = if typing {
        " message · Enter sends · Esc leaves "
    } else {
        " press i to type "
    };
    let mut input = state.chat.input.clone();
    input.set_block(
        Block::default()
            .borders(Borders::TOP)
            .border_style(state.theme.border(typing))
            .title(Span::styled(title, state.theme.muted())),
    );
    frame.render_widget(&input, area);
}

fn role_header(role: Role, theme: &Theme) -> Line<'static> {
    let (label, color) = match role {
        Role::User => ("you", theme.user),
        Role::Assistant => ("assistant", theme.assistant),
        Role::Notice => ("mcpomni", theme.info),
        Role::Error => ("error", theme.error),
    };
    Line::from(Span::styled(
        label,
        Style::default().fg(color).add_modifier(Modifier::BOLD),
    ))
}

/// Lines an entry takes at `width`: its header, its wrapped text, a blank separator.
fn entry_height(entry: &ChatEntry, width: usize) -> usize {
    2 + wrapped_height(&entry.text, width.saturating_sub(INDENT))
}

fn entry_lines(entry: &ChatEntry, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![role_header(entry.role, theme)];
    let style = match entry.role {
        Role::Error => Style::default().fg(theme.error),
        Role::Notice => theme.muted(),
        Role::User | Role::Assistant => Style::default(),
    };
    let pad = " ".repeat(INDENT);
    lines.extend(
        wrap(&entry.text, width.saturating_sub(INDENT))
            .into_iter()
            .map(|l| Line::from(Span::styled(format!("{pad}{l}"), style))),
    );
    lines.push(Line::default());
    lines
}

fn draw_history(frame: &mut Frame, area: Rect, chat: &ChatState, theme: &Theme) {
    let width = usize::from(area.width);
    let height = usize::from(area.height);
    if width == 0 || height == 0 {
        return;
    }
    let mut cache = chat.heights.borrow_mut();
    if cache.width != area.width {
        cache.width = area.width;
        cache.heights.clear();
    }
    cache.heights.resize(chat.entries.len(), 0);
    // Walk back from the newest entry until the window (plus the scroll offset) is covered.
    let needed = chat.scroll + height;
    let mut covered = 0;
    let mut first = chat.entries.len();
    while first > 0 && covered < needed {
        first -= 1;
        let cached = cache.heights[first];
        let h = if cached == 0 {
            let measured = entry_height(&chat.entries[first], width);
            cache.heights[first] = u16::try_from(measured).unwrap_or(u16::MAX);
            measured
        } else {
            usize::from(cached)
        };
        covered += h;
    }
    // Everything above is known to exist only if we reached the first entry.
    let max_scroll = if first == 0 {
        covered.saturating_sub(height)
    } else {
        usize::MAX
    };
    chat.max_scroll.set(max_scroll);
    let scroll = chat.scroll.min(max_scroll);
    drop(cache);
    let mut lines: Vec<Line> = chat.entries[first..]
        .iter()
        .flat_map(|entry| entry_lines(entry, width, theme))
        .collect();
    // Keep the window: `scroll` lines up from the end.
    let end = lines.len().saturating_sub(scroll);
    let start = end.saturating_sub(height);
    lines.truncate(end);
    let visible: Vec<Line> = lines.drain(start..).collect();
    frame.render_widget(Paragraph::new(visible), area);
}
