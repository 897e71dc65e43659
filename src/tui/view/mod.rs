//! Drawing. Views read `&AppState` and draw into the areas from `layout`; they never change
//! state (the chat view's wrapped-height cache is a memo behind a `RefCell`, not state).

mod approval;
mod arguments;
mod call;
mod chat;
mod elicitation;
mod help;
mod pager;
mod servers;
mod sessions;
mod status;
mod tools;
mod trace;
pub mod wrap;

use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph, Wrap};

use super::layout::{MIN_HEIGHT, MIN_WIDTH, Mode, tab_label};
use super::state::{AppState, Pane};
use super::theme::Theme;

pub fn draw(frame: &mut Frame, state: &AppState) {
    let area = frame.area();
    let areas = state.layout();
    if areas.mode == Mode::TooSmall {
        draw_too_small(frame, area, &state.theme);
        return;
    }
    frame.render_widget(Block::default().style(state.theme.base()), area);
    draw_tabs(frame, state, &areas.tabs, areas.tab_bar);
    for (pane, rect) in &areas.panes {
        let focused = *pane == state.focus;
        match pane {
            Pane::Chat => chat::draw(frame, *rect, state, focused),
            Pane::Servers => servers::draw(frame, *rect, state, focused),
            Pane::Tools => tools::draw(frame, *rect, state, focused),
            Pane::Trace => trace::draw(frame, *rect, state, focused),
        }
    }
    status::draw(frame, areas.status, state);
    // The Chat pane docks a waiting prompt itself; without it on screen, the focused pane does.
    if areas.rect(Pane::Chat).is_none()
        && let Some(rect) = areas.rect(state.focus)
        && let Some(height) = approval::docked_height(state, rect)
    {
        let dock = Rect::new(rect.x, rect.bottom() - height, rect.width, height);
        approval::draw_docked(frame, dock, state);
    }
    approval::draw_editors(frame, area, state);
    call::draw(frame, area, state);
    if let Some(open) = &state.pager {
        pager::draw(frame, area, open, &state.theme);
    }
    if let Some(picker) = &state.sessions {
        sessions::draw(frame, area, state, picker);
    }
    // A request for input has the keyboard: it is drawn over everything but the help.
    elicitation::draw(frame, area, state);
    if state.help {
        help::draw(frame, area, state);
    }
}

fn draw_too_small(frame: &mut Frame, area: Rect, theme: &Theme) {
    let text = format!(
        "Terminal too small: {}×{}. mcpomni needs at least {MIN_WIDTH}×{MIN_HEIGHT}. \
         Enlarge the window, or press Ctrl-C to quit.",
        area.width, area.height
    );
    let paragraph = Paragraph::new(text)
        .style(theme.base())
        .wrap(Wrap { trim: true })
        .alignment(Alignment::Center);
    frame.render_widget(paragraph, area);
}

fn draw_tabs(frame: &mut Frame, state: &AppState, tabs: &[(Pane, Rect)], bar: Rect) {
    let theme = &state.theme;
    let mut spans: Vec<Span> = tabs
        .iter()
        .map(|(pane, _)| {
            let style = if *pane == state.focus {
                theme
                    .selection()
                    .add_modifier(ratatui::style::Modifier::BOLD)
            } else {
                theme.muted()
            };
            Span::styled(tab_label(*pane), style)
        })
        .collect();
    let used: usize = spans.iter().map(|s| s.width()).sum();
    let right = format!(
        "mcpomni {} · {} ",
        env!("CARGO_PKG_VERSION"),
        state.config_label
    );
    let room = usize::from(bar.width).saturating_sub(used);
    if right.chars().count() < room {
        spans.push(Span::raw(" ".repeat(room - right.chars().count())));
        spans.push(Span::styled(right, theme.muted()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), bar);
}

/// The bordered frame every pane draws in; returns the inner area.
pub(crate) fn pane_block<'a>(pane: Pane, focused: bool, theme: &Theme, extra: &str) -> Block<'a> {
    let mut title = format!(" {} {} ", pane.number(), pane.title());
    if !extra.is_empty() {
        title.push_str(extra);
        title.push(' ');
    }
    Block::default()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Rounded
        })
        .border_style(theme.border(focused))
        .title(Span::styled(
            title,
            if focused {
                theme.accent()
            } else {
                theme.muted()
            },
        ))
}

/// The double-bordered frame of a modal overlay.
pub(crate) fn overlay_block<'a>(theme: &Theme, title: &str) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(theme.border(true))
        .title(Span::styled(title.to_owned(), theme.accent()))
        .style(theme.base())
}

/// A muted message centred in `area` (empty states).
pub(crate) fn placeholder(frame: &mut Frame, area: Rect, theme: &Theme, text: &str) {
    let paragraph = Paragraph::new(text.to_owned())
        .style(theme.muted())
        .wrap(Wrap { trim: true })
        .alignment(Alignment::Center);
    let top = area.y + area.height.saturating_sub(2) / 2;
    let rect = Rect::new(area.x, top, area.width, area.bottom().saturating_sub(top));
    frame.render_widget(paragraph, rect);
}

pub(crate) fn label_value<'a>(label: &'a str, value: String, theme: &Theme) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{label}: "), theme.muted()),
        Span::styled(value, Style::default()),
    ])
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_elicitation;
#[cfg(test)]
mod tests_secrets;
#[cfg(test)]
mod tests_status;
