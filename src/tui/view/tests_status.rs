//! The context meter in the status bar: shown beside the mode once the agent has measured a
//! request, fitting at 80 columns with the rest of the bar (the hints give way to it), and in
//! the warning colour when the request nearly fills the window.

use crate::protocol::{AgentEvent, AgentNotice, TurnId};
use crate::tui::state::{Msg, Pane};
use crate::tui::test_support::update;

use super::tests::{agent_state, render};

/// The bottom line of the screen.
fn status_line(state: &crate::tui::state::AppState) -> String {
    let terminal = render(state);
    let buffer = terminal.backend().buffer();
    let y = buffer.area.height - 1;
    (0..buffer.area.width)
        .map(|x| buffer[(x, y)].symbol().to_owned())
        .collect()
}

fn measured(estimate: u64, window: Option<u64>) -> Msg {
    Msg::Agent(AgentEvent::ContextMeasured {
        turn: TurnId(1),
        estimate,
        window,
    })
}

#[test]
fn the_meter_fits_at_80_columns_beside_the_mode() {
    let mut state = agent_state();
    state.focus = Pane::Servers;
    let before = status_line(&state);
    assert!(
        !before.contains("ctx"),
        "no meter before a request: {before}"
    );
    update(&mut state, measured(12_345, Some(128_000)));
    let keys = status_line(&state);
    state.focus = Pane::Chat;
    state.typing = true;
    let typing = status_line(&state);
    state.size = (40, 12);
    let narrow = status_line(&state);
    insta::assert_snapshot!(
        "status_context_meter",
        format!("{before}\n{keys}\n{typing}\n{narrow}")
    );
    for line in [&keys, &typing] {
        assert_eq!(line.chars().count(), 80);
        assert!(line.ends_with("ctx 12.3k/128k · chat "), "{line}");
    }
    assert!(keys.contains("m mouse"), "the hints are whole: {keys}");
    assert!(
        typing.contains("Ctrl-C quit"),
        "the hints are whole: {typing}"
    );
    assert!(narrow.contains("ctx 12.3k/128k · chat"), "{narrow}");
}

#[test]
fn without_a_window_the_meter_shows_the_estimate_and_clear_hides_it() {
    let mut state = agent_state();
    state.focus = Pane::Servers;
    update(&mut state, measured(900, None));
    assert!(status_line(&state).contains(" ctx 900 · chat "));
    update(&mut state, measured(1_234_567, Some(131_072)));
    assert!(status_line(&state).contains(" ctx 1.2M/131k · chat "));
    update(
        &mut state,
        Msg::Agent(AgentEvent::Notice(AgentNotice::ConversationCleared)),
    );
    let cleared = status_line(&state);
    assert!(
        !cleared.contains("ctx") && cleared.contains("chat mode"),
        "{cleared}"
    );
}

#[test]
fn a_nearly_full_window_is_shown_in_the_warning_colour() {
    let mut state = agent_state();
    state.focus = Pane::Servers;
    let colour_of_meter = |state: &crate::tui::state::AppState| {
        let terminal = render(state);
        let buffer = terminal.backend().buffer();
        let y = buffer.area.height - 1;
        let line: String = (0..buffer.area.width)
            .map(|x| buffer[(x, y)].symbol().to_owned())
            .collect();
        let at = line.find("ctx").expect("a meter");
        let x = u16::try_from(line[..at].chars().count()).expect("on screen");
        buffer[(x, y)].fg
    };
    update(&mut state, measured(100_000, Some(128_000)));
    let calm = colour_of_meter(&state);
    update(&mut state, measured(120_000, Some(128_000)));
    let full = colour_of_meter(&state);
    assert_ne!(calm, full);
    assert_eq!(full, state.theme.warn);
}
