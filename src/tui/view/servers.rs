//! The Servers pane: one row per server (state, transport, what it offers, protocol, last
//! ping, uptime) and, below, the selected server's details — its health (ping sparkline,
//! tool-call latency and errors, restarts), identity, last error (or, for a stopped server,
//! why it stopped), what was dropped, and the tails of its log messages and stderr (kept by
//! the Servers state, apart from the snapshot).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};

use super::wrap::wrapped_height;
use super::{label_value, pane_block, placeholder};
use crate::runtime::messages::{LogLine, ServerSnapshot, ServerState, SignInStatus};
use crate::text::{human_duration, human_uptime, plural, truncate_chars};
use crate::tui::state::servers::ServerTails;
use crate::tui::state::{AppState, Pane};
use crate::tui::theme::Theme;

/// Below this width the table drops the less important columns.
const WIDE: u16 = 70;
/// Ping samples drawn in the sparkline (all that are kept).
const SPARK_WIDTH: usize = 60;

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
        .border_style(theme.border(false))
        .title(Span::styled(
            match servers.selected() {
                // Signing in is the one thing to do for a server that wants it.
                Some(selected) if focused && selected.state == ServerState::NeedsAuth => {
                    " a sign in · y copy its URL · r reconnect · d disable "
                }
                _ if focused => " r reconnect · R restart · d disable/enable ",
                _ => "",
            },
            theme.muted(),
        ));
    let details_area = {
        let inner = separator.inner(details_area);
        frame.render_widget(separator, details_area);
        inner
    };
    if let Some(selected) = servers.selected() {
        // Only worth saying where there is a model to send the schemas to.
        let schema_tokens = state
            .agent
            .available
            .then(|| state.tools.schema_tokens.get(&selected.name))
            .flatten()
            .copied();
        let about = About {
            sign_in: servers.sign_ins.get(&selected.name),
            tails: servers.tails_of(&selected.name),
            schema_tokens,
            now: state.now,
            scroll: servers.detail_scroll,
        };
        draw_details(frame, details_area, selected, &about, theme);
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

fn last_ping(snapshot: &ServerSnapshot) -> String {
    match (snapshot.ping_failures, snapshot.ping_samples.last()) {
        (0, Some(rtt)) => millis(*rtt),
        (0, None) => "-".to_owned(),
        (failures, _) => format!("✗{failures}"),
    }
}

fn millis(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1}ms")
    } else {
        format!("{ms:.0}ms")
    }
}

/// Block characters scaled between the smallest and largest sample.
pub fn sparkline(samples: &[Duration], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let recent = &samples[samples.len().saturating_sub(width)..];
    let (Some(min), Some(max)) = (recent.iter().min(), recent.iter().max()) else {
        return String::new();
    };
    let span = (*max - *min).as_secs_f64();
    recent
        .iter()
        .map(|sample| {
            if span <= f64::EPSILON {
                BARS[0]
            } else {
                let level = ((*sample - *min).as_secs_f64() / span * 7.0).round() as usize;
                BARS[level.min(7)]
            }
        })
        .collect()
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
            "Ping",
            "Up",
        ]
    } else {
        vec!["Server", "State", "T/R/P"]
    };
    let servers = &state.servers.servers;
    // The rows that fit under the header, scrolled so the selected one is among them; the
    // header says how many are above and below.
    let room = usize::from(area.height.saturating_sub(1)).max(1);
    let first = (state.servers.selected + 1).saturating_sub(room);
    let shown = first..(first + room).min(servers.len());
    let mut header = header;
    let more = match (first, servers.len() - shown.end) {
        (0, 0) => None,
        (above, below) => Some(format!(
            "Server {}{}",
            if above > 0 {
                format!("↑{above} ")
            } else {
                String::new()
            },
            if below > 0 {
                format!("↓{below}")
            } else {
                String::new()
            },
        )),
    };
    if let Some(more) = &more {
        header[0] = more.trim_end();
    }
    let fixed: u16 = if wide { 58 + 8 } else { 20 + 2 };
    // Room for the name after the state symbol and a space.
    let name_room = usize::from(area.width.saturating_sub(fixed)).max(4) - 2;
    let rows = servers[shown.clone()].iter().enumerate().map(|(row, s)| {
        let i = shown.start + row;
        let color = state_color(s.state, theme);
        let name = Cell::from(Line::from(vec![
            Span::styled(state_symbol(s.state), Style::default().fg(color)),
            Span::raw(" "),
            Span::raw(truncate_chars(s.name.as_str(), name_room)),
        ]));
        let state_cell = Cell::from(Span::styled(s.state.label(), Style::default().fg(color)));
        let cells = if wide {
            vec![
                name,
                Cell::from(s.transport.label()),
                state_cell,
                Cell::from(s.tool_count.to_string()),
                Cell::from(s.resource_count.to_string()),
                Cell::from(s.prompt_count.to_string()),
                Cell::from(s.protocol_version.clone().unwrap_or_else(|| "-".into())),
                Cell::from(last_ping(s)),
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
            Constraint::Min(10),
            Constraint::Length(9),
            Constraint::Length(12),
            Constraint::Length(5),
            Constraint::Length(4),
            Constraint::Length(4),
            Constraint::Length(10),
            Constraint::Length(7),
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

fn state_line<'a>(s: &ServerSnapshot, now: Instant, theme: &Theme) -> Line<'a> {
    let mut spans = vec![
        Span::styled(s.name.to_string(), theme.accent()),
        Span::raw("  "),
        Span::styled(
            s.state.label(),
            Style::default().fg(state_color(s.state, theme)),
        ),
    ];
    if let Some(at) = s.retry_at {
        let attempt = if s.reconnect_attempts > 1 {
            format!(" (attempt {})", s.reconnect_attempts)
        } else {
            String::new()
        };
        spans.push(Span::styled(
            format!(
                " · next try in {}{attempt}",
                human_duration(at.saturating_duration_since(now))
            ),
            theme.muted(),
        ));
    }
    if !s.enabled {
        spans.push(Span::styled(" · disabled (d enables)", theme.muted()));
    }
    Line::from(spans)
}

/// The heartbeat: the last 60 round trips as a sparkline, then the latest one.
fn ping_line<'a>(s: &ServerSnapshot, width: usize, theme: &Theme) -> Option<Line<'a>> {
    if s.ping_samples.is_empty() && s.ping_failures == 0 {
        return None;
    }
    let latest = last_ping(s);
    // "ping: " + sparkline + " " + latest must fit on one line.
    let room = width
        .saturating_sub(7 + latest.chars().count())
        .min(SPARK_WIDTH);
    Some(Line::from(vec![
        Span::styled("ping: ", theme.muted()),
        Span::styled(
            sparkline(&s.ping_samples, room),
            Style::default().fg(theme.accent),
        ),
        Span::raw(format!(" {latest}")),
    ]))
}

fn health_line<'a>(s: &ServerSnapshot, now: Instant, theme: &Theme) -> Line<'a> {
    let mut parts = Vec::new();
    let mut calls = plural(s.calls as usize, "call", "calls");
    if s.call_errors > 0 {
        calls.push_str(&format!(" ({} failed)", s.call_errors));
    }
    parts.push(calls);
    if let (Some(p50), Some(p95)) = (s.call_p50, s.call_p95) {
        parts.push(format!("p50 {} p95 {}", millis(p50), millis(p95)));
    }
    parts.push(plural(s.restarts as usize, "restart", "restarts"));
    if s.ready_since.is_some() {
        parts.push(format!("up {}", uptime(s, now)));
    }
    label_value("health", parts.join(" · "), theme)
}

/// The last error; for a server that was stopped on purpose, the reason, plainly.
fn reason_line<'a>(s: &ServerSnapshot, theme: &Theme) -> Option<Line<'a>> {
    let reason = s.last_error.clone()?;
    Some(match s.state {
        ServerState::Stopped => Line::from(Span::styled(reason, theme.muted())),
        ServerState::Starting
        | ServerState::Initializing
        | ServerState::Ready
        | ServerState::Degraded
        | ServerState::Reconnecting
        | ServerState::NeedsAuth
        | ServerState::Failed => Line::from(vec![
            Span::styled("error: ", Style::default().fg(theme.error)),
            Span::raw(reason),
        ]),
    })
}

/// How to sign in to a server that wants it, and the sign-in under way.
fn sign_in_lines<'a>(
    s: &ServerSnapshot,
    sign_in: Option<&SignInStatus>,
    theme: &Theme,
) -> Vec<Line<'a>> {
    let key = |k: &'static str| Span::styled(k, Style::default().fg(theme.accent));
    match sign_in {
        Some(SignInStatus::Open { url }) => vec![
            Line::from(vec![
                Span::styled("sign in: ", theme.muted()),
                Span::raw("open this URL in your browser ("),
                key("y"),
                Span::raw(" copies it):"),
            ]),
            Line::from(Span::styled(url.clone(), Style::default().fg(theme.accent))),
        ],
        Some(SignInStatus::Failed(reason)) if s.state == ServerState::NeedsAuth => vec![
            Line::from(vec![
                Span::styled("sign-in failed: ", Style::default().fg(theme.error)),
                Span::raw(reason.clone()),
            ]),
            Line::from(vec![key("a"), Span::raw(" tries again")]),
        ],
        _ if s.state == ServerState::NeedsAuth => vec![Line::from(vec![
            Span::styled("sign in: ", theme.muted()),
            key("a"),
            Span::raw(" opens the browser to authorize mcpomni"),
        ])],
        _ => Vec::new(),
    }
}

/// What was lost on the way: notifications the server sent too fast, progress that came
/// after its call's result, log and stderr lines the dashboard could not keep up with.
fn dropped_lines<'a>(
    s: &ServerSnapshot,
    tails: Option<&ServerTails>,
    theme: &Theme,
) -> Vec<Line<'a>> {
    let warn = Style::default().fg(theme.warn);
    let mut lines = Vec::new();
    if s.dropped_notices > 0 {
        lines.push(Line::from(Span::styled(
            format!(
                "dropped {} notifications (the server sends them faster than they can be handled)",
                s.dropped_notices
            ),
            warn,
        )));
    }
    if s.dropped_progress > 0 {
        lines.push(Line::from(Span::styled(
            format!(
                "dropped {} progress notifications (they arrived after their call had finished)",
                s.dropped_progress
            ),
            warn,
        )));
    }
    if let Some(t) = tails
        && t.logs_dropped + t.stderr_dropped > 0
    {
        lines.push(Line::from(Span::styled(
            format!(
                "dropped {} log and {} stderr lines (they came faster than they could be shown)",
                t.logs_dropped, t.stderr_dropped
            ),
            warn,
        )));
    }
    lines
}

/// What the details of the selected server show besides its snapshot.
struct About<'a> {
    /// A sign-in started from the dashboard.
    sign_in: Option<&'a SignInStatus>,
    tails: Option<&'a ServerTails>,
    /// What its tool schemas cost per model request (with an LLM configured).
    schema_tokens: Option<crate::memory::tokens::TokenCount>,
    now: Instant,
    scroll: u16,
}

fn draw_details(frame: &mut Frame, area: Rect, s: &ServerSnapshot, about: &About, theme: &Theme) {
    let About {
        sign_in,
        tails,
        schema_tokens,
        now,
        scroll,
    } = *about;
    if area.height == 0 {
        return;
    }
    let mut lines = vec![state_line(s, now, theme)];
    lines.extend(reason_line(s, theme));
    lines.extend(sign_in_lines(s, sign_in, theme));
    if let Some(ping) = ping_line(s, usize::from(area.width), theme) {
        lines.push(ping);
    }
    lines.push(health_line(s, now, theme));
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
    if let Some(url) = &s.url {
        // Already shown by `redact::display_url`: no credentials.
        lines.push(label_value("url", url.clone(), theme));
    }
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
    lines.push(label_value("status", facts.join(" · "), theme));
    if let Some(count) = schema_tokens {
        let approx = if count.exact { "" } else { "~" };
        lines.push(label_value(
            "schemas",
            format!(
                "{approx}{} tokens in every request to the model",
                crate::agent::usage::compact(count.tokens)
            ),
            theme,
        ));
    }
    if !s.subscriptions.is_empty() {
        lines.push(label_value("watching", s.subscriptions.join(", "), theme));
    }
    lines.extend(dropped_lines(s, tails, theme));
    // The facts wrap; the log and stderr tails get the rows that are left, newest last.
    let width = usize::from(area.width);
    let facts_height: usize = lines
        .iter()
        .map(|l| {
            let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            wrapped_height(&text, width)
        })
        .sum();
    let facts_height = (facts_height as u16).min(area.height);
    let [facts_area, tails_area] = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Length(facts_height), Constraint::Min(0)])
        .areas(area);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        facts_area,
    );
    if let Some(tails) = tails {
        draw_tails(frame, tails_area, tails, theme);
    }
}

/// Log messages and stderr share the remaining rows (each its newest lines).
fn draw_tails(frame: &mut Frame, area: Rect, tails: &ServerTails, theme: &Theme) {
    // No section can show more lines than the area has rows: format only those.
    let rows = usize::from(area.height);
    let skip_logs = tails.logs.len().saturating_sub(rows);
    let skip_stderr = tails.stderr.len().saturating_sub(rows);
    let logs: Vec<String> = tails.logs.iter().skip(skip_logs).map(format_log).collect();
    let stderr: Vec<String> = tails.stderr.iter().skip(skip_stderr).cloned().collect();
    let sections: Vec<(&str, &[String])> = [
        ("log messages (newest last):", logs.as_slice()),
        ("stderr (newest last):", stderr.as_slice()),
    ]
    .into_iter()
    .filter(|(_, lines)| !lines.is_empty())
    .collect();
    if sections.is_empty() || area.height < 2 {
        return;
    }
    let share = area.height / sections.len() as u16;
    let constraints: Vec<Constraint> = sections.iter().map(|_| Constraint::Length(share)).collect();
    let rects = Layout::default()
        .direction(Direction::Vertical)
        .constraints(constraints)
        .split(area);
    for ((title, lines), rect) in sections.into_iter().zip(rects.iter()) {
        if rect.height < 2 {
            continue;
        }
        let room = usize::from(rect.height) - 1;
        let skip = lines.len().saturating_sub(room);
        let mut out = vec![Line::from(Span::styled(title, theme.muted()))];
        out.extend(
            lines[skip..]
                .iter()
                .map(|line| Line::from(Span::styled(format!("  {line}"), theme.muted()))),
        );
        frame.render_widget(Paragraph::new(out), *rect);
    }
}

/// `12:01:02Z warning [logger] text` (UTC: no time-zone database is needed).
fn format_log(line: &LogLine) -> String {
    let secs = line
        .at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_else(|_| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
        })
        .as_secs();
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    let logger = line
        .logger
        .as_deref()
        .map(|l| format!(" [{l}]"))
        .unwrap_or_default();
    format!("{h:02}:{m:02}:{s:02}Z {}{logger} {}", line.level, line.text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_between_min_and_max() {
        let samples: Vec<Duration> = [1, 2, 3, 4, 5, 6, 7, 8]
            .iter()
            .map(|ms| Duration::from_millis(*ms))
            .collect();
        assert_eq!(sparkline(&samples, 30), "▁▂▃▄▅▆▇█");
        assert_eq!(sparkline(&samples, 3), "▁▅█");
        assert_eq!(sparkline(&[Duration::from_millis(5); 3], 30), "▁▁▁");
        assert_eq!(sparkline(&[], 30), "");
    }

    #[test]
    fn log_lines_show_utc_time_level_and_logger() {
        let line = LogLine {
            at: UNIX_EPOCH + Duration::from_secs(3600 * 25 + 61),
            level: crate::runtime::messages::LogLevel::Warning,
            logger: Some("db".into()),
            text: "slow query".into(),
        };
        assert_eq!(format_log(&line), "01:01:01Z warning [db] slow query");
    }
}
