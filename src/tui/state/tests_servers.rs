//! Reducer tests for the Servers pane's runtime events: action messages that clear when the
//! server has settled, and the log and stderr tails kept apart from snapshots.

use std::sync::Arc;

use ratatui::crossterm::event::KeyCode;

use super::*;
use crate::runtime::messages::{LogLine, RuntimeEvent, ServerName, ServerSnapshot, ServerState};
use crate::tui::state::servers::TAIL_LINES;
use crate::tui::test_support::{app_state, key, update};

fn snapshot(state: ServerState, enabled: bool) -> Msg {
    let mut s = ServerSnapshot::new(
        ServerName::new("a"),
        crate::runtime::messages::TransportKind::Stdio,
    );
    s.state = state;
    s.enabled = enabled;
    Msg::Runtime(RuntimeEvent::ServerChanged(Arc::new(s)))
}

/// A dashboard with server `a` Ready and the Servers pane focused.
fn servers_pane() -> AppState {
    let mut s = app_state(None);
    update(&mut s, snapshot(ServerState::Ready, true));
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, key(KeyCode::Char('2')));
    s
}

#[test]
fn a_restart_message_clears_when_the_server_has_come_back() {
    let mut s = servers_pane();
    update(&mut s, key(KeyCode::Char('R')));
    assert_eq!(s.notice.as_deref(), Some("restarting a…"));
    // A snapshot published before the command took effect does not end it.
    update(&mut s, snapshot(ServerState::Ready, true));
    assert_eq!(s.notice.as_deref(), Some("restarting a…"));
    update(&mut s, snapshot(ServerState::Starting, true));
    update(&mut s, snapshot(ServerState::Initializing, true));
    assert_eq!(s.notice.as_deref(), Some("restarting a…"));
    update(&mut s, snapshot(ServerState::Ready, true));
    assert_eq!(s.notice, None);
}

#[test]
fn a_reconnect_that_fails_also_ends_its_message() {
    let mut s = servers_pane();
    update(&mut s, key(KeyCode::Char('r')));
    assert_eq!(s.notice.as_deref(), Some("reconnecting a…"));
    update(&mut s, snapshot(ServerState::Starting, true));
    update(&mut s, snapshot(ServerState::Failed, true));
    assert_eq!(s.notice, None);
}

#[test]
fn a_disable_message_clears_when_the_server_is_stopped() {
    let mut s = servers_pane();
    update(&mut s, key(KeyCode::Char('d')));
    assert_eq!(s.notice.as_deref(), Some("disabling a…"));
    update(&mut s, snapshot(ServerState::Ready, true));
    assert_eq!(s.notice.as_deref(), Some("disabling a…"));
    update(&mut s, snapshot(ServerState::Stopped, false));
    assert_eq!(s.notice, None);
    // Enabling again: done once it has been through a start.
    update(&mut s, key(KeyCode::Char('d')));
    assert_eq!(s.notice.as_deref(), Some("enabling a…"));
    update(&mut s, snapshot(ServerState::Starting, true));
    update(&mut s, snapshot(ServerState::Ready, true));
    assert_eq!(s.notice, None);
}

#[test]
fn a_newer_message_is_not_cleared_by_an_older_action() {
    let mut s = servers_pane();
    update(&mut s, key(KeyCode::Char('r')));
    s.notice = Some("demo://readme changed".into());
    update(&mut s, snapshot(ServerState::Starting, true));
    update(&mut s, snapshot(ServerState::Ready, true));
    assert_eq!(s.notice.as_deref(), Some("demo://readme changed"));
}

#[test]
fn log_and_stderr_lines_are_kept_per_server_bounded_with_drops_counted() {
    let mut s = servers_pane();
    let name = ServerName::new("a");
    let lines: Vec<LogLine> = (0..150)
        .map(|i| LogLine {
            at: std::time::UNIX_EPOCH,
            level: crate::runtime::messages::LogLevel::Info,
            logger: None,
            text: format!("log {i}"),
        })
        .collect();
    for (batch, dropped) in [(lines.clone(), 0), (lines, 7)] {
        update(
            &mut s,
            Msg::Runtime(RuntimeEvent::LogLinesReceived {
                server: name.clone(),
                lines: batch,
                dropped,
            }),
        );
    }
    update(
        &mut s,
        Msg::Runtime(RuntimeEvent::StderrLinesReceived {
            server: name.clone(),
            lines: vec!["oops".into()],
            dropped: 2,
        }),
    );
    let tails = s.servers.tails_of(&name).expect("tails");
    assert_eq!(tails.logs.len(), TAIL_LINES);
    assert_eq!(tails.logs.back().map(|l| l.text.as_str()), Some("log 149"));
    assert_eq!(
        tails.logs_dropped, 7,
        "lost on the way (rolling off the ring is not a loss)"
    );
    assert_eq!(tails.stderr, ["oops"]);
    assert_eq!(tails.stderr_dropped, 2);
    // Snapshots do not touch the tails.
    update(&mut s, snapshot(ServerState::Degraded, true));
    assert_eq!(
        s.servers.tails_of(&name).map(|t| t.logs.len()),
        Some(TAIL_LINES)
    );
}

#[test]
fn a_signs_in_and_y_copies_the_url_once_the_sign_in_shows_one() {
    use crate::runtime::messages::{RuntimeCommand, SignInStatus};
    let mut s = servers_pane();
    update(&mut s, snapshot(ServerState::NeedsAuth, true));
    // Nothing to copy before a sign-in has started.
    let effects = update(&mut s, key(KeyCode::Char('y')));
    assert!(effects.is_empty(), "{effects:?}");
    assert_eq!(
        s.notice.as_deref(),
        Some("No sign-in is waiting for this server (a starts one).")
    );
    let effects = update(&mut s, key(KeyCode::Char('a')));
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Runtime(RuntimeCommand::SignIn { server })] if server.as_str() == "a"
        ),
        "{effects:?}"
    );
    let url = "https://as.example/authorize?state=s";
    update(
        &mut s,
        Msg::Runtime(RuntimeEvent::SignIn {
            server: ServerName::new("a"),
            status: SignInStatus::Open { url: url.into() },
        }),
    );
    assert_eq!(
        s.notice.as_deref(),
        Some("Sign in to a in the browser (y copies the URL).")
    );
    let effects = update(&mut s, key(KeyCode::Char('y')));
    assert!(
        matches!(effects.as_slice(), [Effect::Copy(copied)] if copied == url),
        "{effects:?}"
    );
    update(
        &mut s,
        Msg::Runtime(RuntimeEvent::SignIn {
            server: ServerName::new("a"),
            status: SignInStatus::Done,
        }),
    );
    assert_eq!(s.notice.as_deref(), Some("Signed in to a; reconnecting."));
    // The URL of a finished sign-in is not offered any more.
    let effects = update(&mut s, key(KeyCode::Char('y')));
    assert!(effects.is_empty(), "{effects:?}");
}
