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
use crate::tui::state::chat::{ChatEntry, ChatState, HeightCache, Role};
use crate::tui::state::{AppState, Pane};
use crate::tui::theme::Theme;

/// Text is indented under its role label by this many columns.
const INDENT: usize = 2;
/// The input grows with its text up to this many lines.
const MAX_INPUT_LINES: usize = 5;

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, focused: bool) {
    let theme = &state.theme;
    let chat = &state.chat;
    // The title shows the scroll position, which is only known once the history is laid out.
    let probe = pane_block(Pane::Chat, focused, theme, "");
    let inner = probe.inner(area);
    // A waiting prompt takes the input's place, so the question and the model's text before
    // the call stay in view above it.
    let prompt = super::approval::docked_height(state, inner);
    let input_lines = chat.input.lines().len().clamp(1, MAX_INPUT_LINES) as u16;
    let [history, input] = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Min(1),
            Constraint::Length(prompt.unwrap_or(input_lines + 1)),
        ])
        .areas(inner);
    let (lines, scroll) = history_window(chat, history, theme);
    let extra = match (&chat.model, scroll) {
        (_, scroll) if scroll > 0 => format!("· ↑{scroll} lines"),
        (Some(model), _) => format!("· {model}"),
        (None, _) => "· no LLM configured".to_owned(),
    };
    frame.render_widget(pane_block(Pane::Chat, focused, theme, &extra), area);
    frame.render_widget(Paragraph::new(lines), history);
    if prompt.is_some() {
        super::approval::draw_docked(frame, input, state);
    } else {
        draw_input(frame, input, state, focused);
    }
}

fn draw_input(frame: &mut Frame, area: Rect, state: &AppState, focused: bool) {
    let typing = state.typing && focused;
    let title = if typing {
        " message · Enter sends · Esc leaves "
    } else {
        " press i to type "
    };
    // The frame is drawn apart from the text area, which is drawn as it is (no per-frame copy).
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(state.theme.border(typing))
        .title(Span::styled(title, state.theme.muted()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    frame.render_widget(&state.chat.input, inner);
}

fn role_header(role: Role, theme: &Theme) -> Line<'static> {
    let (label, color) = match role {
        Role::User => ("you", theme.user),
        Role::Assistant => ("assistant", theme.assistant),
        Role::Notice => ("mcpomni", theme.info),
        Role::Tool => ("tool", theme.accent),
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
        Role::Notice | Role::Tool => theme.muted(),
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

/// Which entries a window of `height` lines, `scroll` lines up from the newest, touches.
struct Window {
    first: usize,
    end: usize,
    /// Lines of the entries after `end` (below the window).
    below: usize,
    /// Lines of entries `first..` in all.
    covered: usize,
}

/// Walks back from the newest entry until the window (plus the scroll offset) is covered.
/// Entries entirely below the window are measured but never turned into lines.
fn measure(
    chat: &ChatState,
    cache: &mut HeightCache,
    width: usize,
    height: usize,
    scroll: usize,
) -> Window {
    let needed = scroll + height;
    let mut window = Window {
        first: chat.entries.len(),
        end: chat.entries.len(),
        below: 0,
        covered: 0,
    };
    while window.first > 0 && window.covered < needed {
        window.first -= 1;
        let cached = cache.heights[window.first];
        let h = if cached == 0 {
            let measured = entry_height(&chat.entries[window.first], width);
            cache.heights[window.first] = u16::try_from(measured).unwrap_or(u16::MAX);
            measured
        } else {
            usize::from(cached)
        };
        if window.covered + h <= scroll {
            window.end = window.first;
            window.below += h;
        }
        window.covered += h;
    }
    window
}

/// The visible lines of the conversation and the scroll offset actually used.
fn history_window(chat: &ChatState, area: Rect, theme: &Theme) -> (Vec<Line<'static>>, usize) {
    let width = usize::from(area.width);
    let height = usize::from(area.height);
    if width == 0 || height == 0 {
        return (Vec::new(), 0);
    }
    let mut cache = chat.heights.borrow_mut();
    if cache.width != area.width {
        cache.width = area.width;
        cache.heights.clear();
    }
    cache.heights.resize(chat.entries.len(), 0);
    let mut scroll = chat.scroll;
    let mut window = measure(chat, &mut cache, width, height, scroll);
    // Everything above is known to exist only once the first entry was reached.
    let max_scroll = if window.first == 0 {
        window.covered.saturating_sub(height)
    } else {
        usize::MAX
    };
    if scroll > max_scroll {
        scroll = max_scroll;
        window = measure(chat, &mut cache, width, height, scroll);
    }
    chat.max_scroll.set(max_scroll);
    drop(cache);
    let mut lines: Vec<Line<'static>> = chat.entries[window.first..window.end]
        .iter()
        .flat_map(|entry| entry_lines(entry, width, theme))
        .collect();
    // Keep the window: `scroll` lines up from the end, less what was skipped below.
    let end_line = lines
        .len()
        .saturating_sub(scroll.saturating_sub(window.below));
    let start = end_line.saturating_sub(height);
    lines.truncate(end_line);
    let visible = lines.drain(start..).collect();
    (visible, scroll)
}
