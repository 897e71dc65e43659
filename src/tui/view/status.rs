//! The status bar: where the keyboard is, then a notice if there is one (else the keys that
//! matter now), and on the right a one-line summary when it fits: server health, tools, the
//! session's token use (and cost, when the config has a price), then the context meter (what
//! the last request took of the model's window) and the agent's mode, which are always shown.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::agent::usage::{compact, dollars};
use crate::runtime::messages::ServerState;
use crate::text::truncate_chars;
use crate::tui::state::agent::ContextMeter;
use crate::tui::state::call::CallView;
use crate::tui::state::{AppState, Pane};

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState) {
    let theme = &state.theme;
    let (mode, hints) = if state.help {
        (" HELP ", "j/k scroll · Esc closes")
    } else if let Some(front) = state.input_requests.front() {
        if front.form().is_some() {
            (
                " INPUT ",
                "a server asks · Enter send · Ctrl-D decline · Esc cancel",
            )
        } else {
            (
                " INPUT ",
                "a server asks · o open · a accept · n decline · Esc cancel",
            )
        }
    } else if state.pager.is_some() {
        (" PAGER ", "j/k PgUp/PgDn g/G scroll · Esc closes")
    } else if let Some(view) = &state.call.view {
        match view {
            CallView::Editing { .. } => (" CALL ", "edit the JSON · Ctrl-S runs · Esc closes"),
            CallView::Running { .. } => (" CALL ", "running · Esc cancels"),
            CallView::Done { outcome: Ok(_), .. } => (" RESULT ", "p pager · Esc closes"),
            CallView::Done { .. } => (" RESULT ", "Esc closes"),
        }
    } else if state.agent.approval_editor.is_some()
        || state.agent.sampling_editor.is_some()
        || state.agent.pause_editor.is_some()
    {
        (
            " EDIT ",
            "edit the JSON · Ctrl-S submits · Esc back to the prompt",
        )
    } else if !state.agent.approvals.is_empty() {
        (
            " APPROVE ",
            "y run · n deny · a always · e edit · Esc stop the turn",
        )
    } else if !state.agent.sampling.is_empty() {
        (" SAMPLING ", "y send to the LLM · n refuse · e edit")
    } else if !state.agent.paused.is_empty() && !state.typing {
        (
            " PAUSED ",
            "n step · c continue · x stop · e edit · s step mode (Trace)",
        )
    } else if state.agent.running.is_some() && state.focus == Pane::Chat {
        (" ANSWERING ", "the model is answering · Esc stops it")
    } else if state.typing && state.focus == Pane::Chat {
        (" TYPING ", "Enter send · Esc keys · Tab pane · Ctrl-C quit")
    } else if state.tools.filtering && state.focus == Pane::Tools {
        (" FILTER ", "Enter keep · Esc clear")
    } else if state.trace.input.is_some() && state.focus == Pane::Trace {
        (" TYPE ", "Enter keep · Esc drop")
    } else if state.focus == Pane::Trace {
        (" TRACE ", "Enter open · Space fold · / filter · b break")
    } else {
        (" KEYS ", "q quit · ? help · 1-4 pane · j/k move · m mouse")
    };
    let mode_style = theme.selection().add_modifier(Modifier::BOLD);
    // The agent's mode and the context meter are always shown: the hints give way to them
    // first. The session is too when the hints still fit beside it; else it joins the
    // summary, which gives way to them.
    let meter = state
        .agent
        .available
        .then_some(state.agent.context)
        .flatten()
        .map(|meter| (context_meter(meter), nearly_full(meter)));
    // Beside the meter the mode goes without the word "mode", so that both fit at 80 columns
    // next to the longest hints.
    let agent_mode = state.agent.available.then(|| match meter {
        Some(_) => state.agent.mode.label().to_owned(),
        None => format!("{} mode", state.agent.mode.label()),
    });
    let session = session_label(state);
    let needed = |parts: &[&String]| parts.iter().map(|p| p.chars().count() + 3).sum::<usize>();
    let hints_width = mode.chars().count() + 1 + hints.chars().count() + 2;
    // The server count comes before the session: it is what an operator looks for first.
    let servers_ready = summary_parts(state).into_iter().next();
    let session_kept = session.as_ref().is_some_and(|session| {
        let with: Vec<&String> = agent_mode
            .iter()
            .chain(meter.iter().map(|(m, _)| m))
            .chain(servers_ready.iter())
            .chain([session])
            .collect();
        hints_width + needed(&with) <= usize::from(area.width)
    });
    // (text, in the warning colour), in order.
    let kept: Vec<(String, bool)> = [
        session.clone().filter(|_| session_kept).map(|s| (s, false)),
        meter,
        agent_mode.map(|mode| (mode, false)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let kept_for_mode = kept
        .iter()
        .map(|(k, _)| k.chars().count() + 3)
        .sum::<usize>()
        + usize::from(!kept.is_empty());
    let room_for_middle = usize::from(area.width)
        .saturating_sub(mode.chars().count() + 1 + kept_for_mode)
        .max(1);
    let middle = match &state.notice {
        Some(notice) => Span::styled(
            truncate_chars(notice, room_for_middle),
            Style::default().fg(theme.warn),
        ),
        None => Span::styled(truncate_chars(hints, room_for_middle), theme.muted()),
    };
    let mut spans = vec![Span::styled(mode, mode_style), Span::raw(" "), middle];
    let used: usize = spans.iter().map(Span::width).sum();
    let room = usize::from(area.width).saturating_sub(used);
    let mut parts = summary_parts(state);
    if let Some(session) = session.filter(|_| !session_kept) {
        // A warning leads; a session id follows the server count and goes first when short.
        let at = if session.contains("not saved") { 0 } else { 1 };
        parts.insert(at.min(parts.len()), session);
    }
    let summary = fitted_summary(parts, room.saturating_sub(kept_for_mode));
    let mut pieces: Vec<(String, bool)> = summary.into_iter().map(|s| (s, false)).collect();
    pieces.extend(kept);
    if !pieces.is_empty() {
        let summary_len: usize =
            pieces.iter().map(|(p, _)| p.chars().count()).sum::<usize>() + 3 * (pieces.len() - 1);
        spans.push(Span::raw(" ".repeat(room.saturating_sub(summary_len + 1))));
        for (i, (piece, warn)) in pieces.into_iter().enumerate() {
            if i > 0 {
                spans.push(Span::styled(" · ", theme.muted()));
            }
            let style = if warn {
                Style::default().fg(theme.warn)
            } else {
                theme.muted()
            };
            spans.push(Span::styled(piece, style));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// `ctx 12.3k/128k`, or `ctx 12.3k` when the window is not configured.
fn context_meter(meter: ContextMeter) -> String {
    match meter.window {
        Some(window) => format!("ctx {}/{}", compact(meter.estimate), window_size(window)),
        None => format!("ctx {}", compact(meter.estimate)),
    }
}

/// A window's size as people say it: `128k`, `8k`, `1M` (`compact` keeps a decimal).
fn window_size(window: u64) -> String {
    match window {
        w if w >= 1_000_000 && w % 1_000_000 == 0 => format!("{}M", w / 1_000_000),
        w if w >= 1_000 && w % 1_000 == 0 => format!("{}k", w / 1_000),
        // 131072 and the like: the nearest thousand, as models' cards round them.
        w if w >= 1_000 => format!("{}k", (w + 500) / 1_000),
        w => compact(w),
    }
}

/// At 90% of the window the meter turns to the warning colour: the next turns will start
/// leaving the oldest ones out.
fn nearly_full(meter: ContextMeter) -> bool {
    meter
        .window
        .is_some_and(|window| meter.estimate.saturating_mul(10) >= window.saturating_mul(9))
}

/// Where the conversation is saved: `session ID`, `(not saved)` while the store is away, or
/// `not saved` without a store. Nothing without an LLM (there is no conversation).
fn session_label(state: &AppState) -> Option<String> {
    use crate::memory::writer::SaveState;
    if !state.agent.available {
        return None;
    }
    Some(match (&state.agent.session, &state.agent.save_state) {
        (Some(session), SaveState::Saved) => format!("session {session}"),
        (Some(session), SaveState::NotSaved { .. }) => format!("session {session} (not saved)"),
        (None, _) => "not saved".to_owned(),
    })
}

/// The summary's parts, most important first; the least important go when space is short.
fn fitted_summary(mut parts: Vec<String>, room: usize) -> Option<String> {
    while !parts.is_empty() {
        let summary = parts.join(" · ");
        if summary.chars().count() + 2 <= room {
            return Some(summary);
        }
        parts.pop();
    }
    None
}

fn summary_parts(state: &AppState) -> Vec<String> {
    let servers = &state.servers.servers;
    let failed = servers
        .iter()
        .filter(|s| s.state == ServerState::Failed)
        .count();
    let mut parts = vec![format!(
        "{}/{} ready",
        state.servers.ready_count(),
        servers.len()
    )];
    if failed > 0 {
        parts.push(format!("{failed} failed"));
    }
    if state.agent.available {
        let usage = &state.agent.session_usage;
        if usage.requests > 0 {
            let mut spent = format!("{} tok", compact(usage.tokens()));
            if let Some(cost) = usage.cost {
                spent.push_str(&format!(" {}", dollars(cost)));
            }
            parts.push(spent);
        }
    }
    parts.push(format!("{} tools", state.tools.catalog.tools.len()));
    if !state.mouse {
        parts.push("mouse off".to_owned());
    }
    parts
}
