//! The sessions picker: saved conversations, newest first, with their size and age; Enter
//! resumes one, `d` then `y` deletes one.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, List, ListItem, ListState, Paragraph};

use crate::text::{human_duration, sanitize_line, truncate_chars};
use crate::tui::state::AppState;
use crate::tui::state::sessions::SessionPicker;

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, picker: &SessionPicker) {
    let theme = &state.theme;
    let width = area.width.saturating_sub(4).min(100);
    let height = area.height.saturating_sub(2).min(24);
    let rect = area.centered(Constraint::Length(width), Constraint::Length(height));
    frame.render_widget(Clear, rect);
    let title = match &picker.confirm_delete {
        Some(id) => format!(" Delete session {id}? y deletes · any other key keeps it "),
        None => " Sessions · Enter resumes · d deletes · Esc closes ".to_owned(),
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(theme.border(true))
        .title(Span::styled(
            truncate_chars(&title, usize::from(width.saturating_sub(2))),
            theme.accent(),
        ))
        .style(theme.base());
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let Some(sessions) = &picker.sessions else {
        frame.render_widget(
            Paragraph::new("Reading the store…").style(theme.muted()),
            inner,
        );
        return;
    };
    if sessions.is_empty() {
        frame.render_widget(
            Paragraph::new("No saved sessions yet: each conversation is saved as it happens.")
                .style(theme.muted()),
            inner,
        );
        return;
    }
    let now = crate::protocol::trace::now_ms();
    let room = usize::from(inner.width);
    let items: Vec<ListItem> = sessions
        .iter()
        .map(|session| {
            let age = std::time::Duration::from_millis(now.saturating_sub(session.updated));
            let here = if picker.current.as_ref() == Some(&session.id) {
                " (this window)"
            } else {
                ""
            };
            let head = format!(
                "{}{here} · {} msgs · {} tok · {} ago",
                session.id,
                session.messages,
                session.tokens,
                human_duration(age)
            );
            let title = if session.title.is_empty() {
                "(no message yet)".to_owned()
            } else {
                sanitize_line(&session.title)
            };
            ListItem::new(vec![
                Line::from(Span::styled(truncate_chars(&head, room), theme.accent())),
                Line::from(Span::raw(truncate_chars(&format!("  {title}"), room))),
            ])
        })
        .collect();
    let list = List::new(items).highlight_style(theme.selection());
    let mut list_state = ListState::default().with_selected(Some(picker.selected));
    frame.render_stateful_widget(list, inner, &mut list_state);
}
