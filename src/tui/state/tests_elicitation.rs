//! Reducer tests for servers' requests for input: the form takes the keyboard, defaults are
//! prefilled, Tab moves between fields, Space chooses, errors show in place and nothing is
//! sent until the form is valid, Esc cancels, Ctrl-D declines, a withdrawn request closes.

use std::sync::Arc;
use std::time::Duration;

use ratatui::crossterm::event::KeyCode;
use serde_json::json;

use super::*;
use crate::runtime::elicitation::{
    Answer, Asked, ElicitationId, ElicitationRequest, FieldValue, Form,
};
use crate::runtime::messages::ServerName;
use crate::tui::test_support::{app_state, ch, ctrl, key, update};

pub(crate) fn signup_schema() -> serde_json::Value {
    json!({"type": "object", "properties": {
        "email": {"type": "string", "format": "email", "title": "Email"},
        "password": {"type": "string", "description": "Never shown"},
        "age": {"type": "integer", "minimum": 18, "maximum": 120, "default": 30},
        "news": {"type": "boolean", "title": "Newsletter", "default": false},
        "plan": {"type": "string", "oneOf": [{"const": "free", "title": "Free"}, {"const": "pro", "title": "Pro"}]}
    }, "required": ["email", "password"]})
}

pub(crate) fn request(id: u64, schema: serde_json::Value) -> Msg {
    let form = Form::parse(&schema).expect("renderable");
    Msg::Runtime(RuntimeEvent::ElicitationRequested(Arc::new(
        ElicitationRequest {
            id: ElicitationId(id),
            server: ServerName::new("shop"),
            message: "Create your account".into(),
            asked: Asked::Form(form),
        },
    )))
}

/// A state with the signup form up (and its grace period over).
pub(crate) fn with_form() -> AppState {
    let mut state = app_state(None);
    update(&mut state, request(1, signup_schema()));
    state.now += Duration::from_secs(1);
    state
}

fn typed(state: &mut AppState, text: &str) {
    for c in text.chars() {
        update(state, ch(c));
    }
}

fn answers(effects: Vec<Effect>) -> Vec<(ElicitationId, Answer)> {
    effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::Runtime(RuntimeCommand::AnswerElicitation { id, answer }) => Some((id, answer)),
            _ => None,
        })
        .collect()
}

fn values(state: &AppState) -> Vec<FieldValue> {
    state.input_requests.front().expect("a form").values.clone()
}

#[test]
fn the_form_takes_the_keyboard_with_defaults_prefilled() {
    let mut state = with_form();
    assert!(state.scopes().contains(&Scope::InputForm));
    assert_eq!(values(&state)[2], FieldValue::Text("30".into()));
    // `q` is text here, not quit.
    typed(&mut state, "q@x.io");
    assert!(!state.quitting);
    assert_eq!(values(&state)[0], FieldValue::Text("q@x.io".into()));
}

#[test]
fn keys_typed_right_after_the_form_appears_are_ignored() {
    let mut state = app_state(None);
    update(&mut state, request(1, signup_schema()));
    typed(&mut state, "y");
    assert_eq!(values(&state)[0], FieldValue::Text(String::new()));
    assert!(state.notice.as_deref().unwrap_or("").contains("Ignored"));
}

#[test]
fn errors_show_in_place_and_nothing_is_sent_until_the_form_is_valid() {
    let mut state = with_form();
    typed(&mut state, "not-an-email");
    assert!(answers(update(&mut state, key(KeyCode::Enter))).is_empty());
    let front = state.input_requests.front().expect("still open");
    assert_eq!(
        front.errors[0].as_deref(),
        Some("expected an email address")
    );
    assert_eq!(front.errors[1].as_deref(), Some("required"));
    assert_eq!(front.focus, 0, "the first wrong field has the keyboard");
    // Fix both: Ctrl-U clears the field, Tab moves on.
    update(&mut state, ctrl('u'));
    typed(&mut state, "ada@example.org");
    assert_eq!(state.input_requests.front().expect("open").errors[0], None);
    update(&mut state, key(KeyCode::Tab));
    typed(&mut state, "hunter2");
    // Down to the newsletter (a yes/no): Space flips it; Right picks the next plan.
    update(&mut state, key(KeyCode::Down));
    update(&mut state, key(KeyCode::Down));
    assert!(state.scopes().contains(&Scope::InputChoice));
    update(&mut state, ch(' '));
    update(&mut state, key(KeyCode::Tab));
    update(&mut state, key(KeyCode::Right));
    update(&mut state, key(KeyCode::Right));
    let sent = answers(update(&mut state, ctrl('s')));
    let [(id, Answer::Accept(content))] = sent.as_slice() else {
        panic!("{sent:?}");
    };
    assert_eq!(*id, ElicitationId(1));
    assert_eq!(
        serde_json::Value::Object(content.clone()),
        json!({"email": "ada@example.org", "password": "hunter2", "age": 30, "news": true, "plan": "pro"})
    );
    assert!(state.input_requests.is_empty());
}

#[test]
fn esc_cancels_and_ctrl_d_declines_and_the_next_request_follows() {
    let mut state = with_form();
    update(&mut state, request(2, json!({"type": "object"})));
    let sent = answers(update(&mut state, key(KeyCode::Esc)));
    assert_eq!(sent, [(ElicitationId(1), Answer::Cancel)]);
    // The next one is shown now: keys wait for its grace period.
    state.now += Duration::from_secs(1);
    let sent = answers(update(&mut state, ctrl('d')));
    assert_eq!(sent, [(ElicitationId(2), Answer::Decline)]);
    assert!(state.input_requests.is_empty());
}

#[test]
fn a_withdrawn_request_closes_its_form() {
    let mut state = with_form();
    update(&mut state, request(2, json!({"type": "object"})));
    update(
        &mut state,
        Msg::Runtime(RuntimeEvent::ElicitationClosed {
            id: ElicitationId(1),
            reason: "the server withdrew the request".into(),
        }),
    );
    assert_eq!(state.input_requests.queue.len(), 1);
    assert_eq!(
        state.input_requests.front().expect("next").request.id,
        ElicitationId(2)
    );
    assert!(state.notice.as_deref().unwrap_or("").contains("withdrew"));
}

#[test]
fn a_url_request_opens_only_on_request() {
    let mut state = app_state(None);
    update(
        &mut state,
        Msg::Runtime(RuntimeEvent::ElicitationRequested(Arc::new(
            ElicitationRequest {
                id: ElicitationId(7),
                server: ServerName::new("pay"),
                message: "Pay here".into(),
                asked: Asked::Url("https://pay.example.com/checkout".into()),
            },
        ))),
    );
    state.now += Duration::from_secs(1);
    assert!(state.scopes().contains(&Scope::InputUrl));
    let effects = update(&mut state, ch('o'));
    assert!(effects.contains(&Effect::Runtime(RuntimeCommand::OpenUrl {
        server: ServerName::new("pay"),
        url: "https://pay.example.com/checkout".into(),
    })));
    assert_eq!(
        answers(effects),
        [(ElicitationId(7), Answer::Accept(Default::default()))]
    );
}

#[test]
fn roots_slash_commands_go_to_the_runtime() {
    let mut state = app_state(None);
    let effects = super::tests_agent::send(&mut state, "/roots:add ../docs");
    assert!(
        effects.contains(&Effect::Runtime(RuntimeCommand::ChangeRoot {
            path: "../docs".into(),
            add: true
        }))
    );
    let effects = super::tests_agent::send(&mut state, "/roots");
    assert!(effects.contains(&Effect::Runtime(RuntimeCommand::ShowRoots)));
    let effects = super::tests_agent::send(&mut state, "/roots:remove /srv");
    assert!(
        effects.contains(&Effect::Runtime(RuntimeCommand::ChangeRoot {
            path: "/srv".into(),
            add: false
        }))
    );
}
