//! The request-for-input overlay at 80×24 and 140×45: a form with its defaults, errors in
//! place, a secret field shown as dots, a long form scrolled to its focused field, and a URL.

use std::sync::Arc;
use std::time::Duration;

use ratatui::crossterm::event::KeyCode;
use serde_json::json;

use super::tests::screen;
use crate::runtime::elicitation::{Asked, ElicitationId, ElicitationRequest};
use crate::runtime::messages::{RuntimeEvent, ServerName};
use crate::tui::state::Msg;
use crate::tui::state::tests_elicitation::{request, with_form};
use crate::tui::test_support::{app_state, ch, key, update};

#[test]
fn form_with_errors_and_a_masked_secret_at_80x24() {
    let mut state = with_form();
    for c in "ada@".chars() {
        update(&mut state, ch(c));
    }
    update(&mut state, key(KeyCode::Tab));
    for c in "hunter2-secret".chars() {
        update(&mut state, ch(c));
    }
    update(&mut state, key(KeyCode::Enter));
    let shown = screen(&state);
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("••••••••••••••"), "{shown}");
    assert!(shown.contains("✗ expected an email address"), "{shown}");
    assert!(
        shown.contains("Esc cancel"),
        "the keys are on screen: {shown}"
    );
    insta::assert_snapshot!("elicitation_form_80x24", shown);
}

#[test]
fn form_at_140x45() {
    let mut state = with_form();
    state.size = (140, 45);
    insta::assert_snapshot!("elicitation_form_140x45", screen(&state));
}

#[test]
fn a_long_form_scrolls_to_the_focused_field() {
    let mut state = app_state(None);
    let properties: serde_json::Map<String, serde_json::Value> = (1..=15)
        .map(|i| {
            (
                format!("field{i}"),
                json!({"type": "string", "description": format!("Description of field {i}")}),
            )
        })
        .collect();
    update(
        &mut state,
        request(3, json!({"type": "object", "properties": properties})),
    );
    state.now += Duration::from_secs(1);
    for _ in 0..14 {
        update(&mut state, key(KeyCode::Tab));
    }
    let shown = screen(&state);
    assert!(shown.contains("▸ field15"), "{shown}");
    assert!(shown.contains("more lines above"), "{shown}");
    assert!(shown.contains("Enter send"), "{shown}");
    insta::assert_snapshot!("elicitation_long_form_80x24", shown);
}

#[test]
fn url_request_at_80x24() {
    let mut state = app_state(None);
    update(
        &mut state,
        Msg::Runtime(RuntimeEvent::ElicitationRequested(Arc::new(
            ElicitationRequest {
                id: ElicitationId(1),
                server: ServerName::new("pay"),
                message: "Finish the payment in your browser.".into(),
                asked: Asked::Url("https://pay.example.com/checkout/abc".into()),
            },
        ))),
    );
    let shown = screen(&state);
    assert!(shown.contains("`pay` asks for input"), "{shown}");
    assert!(
        shown.contains("https://pay.example.com/checkout/abc"),
        "{shown}"
    );
    insta::assert_snapshot!("elicitation_url_80x24", shown);
}
