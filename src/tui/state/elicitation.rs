//! Servers' requests for input, waiting for the user: a queue (the runtime bounds it) whose
//! front request has the keyboard, shown as a form overlay (or, for a URL, the URL and its
//! server). The form holds what the user has typed per field, which field has focus, and the
//! errors found when they tried to accept. Pure, like the rest of the reducer: answering
//! becomes a `RuntimeCommand`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{AppState, Effect};
use crate::runtime::elicitation::{
    Answer, Asked, ElicitationId, ElicitationRequest, FieldKind, FieldValue, Form,
};
use crate::runtime::messages::RuntimeCommand;

/// One request on screen (or queued behind it).
#[derive(Debug, Clone, PartialEq)]
pub struct PendingInput {
    pub request: Arc<ElicitationRequest>,
    /// One value per form field (empty for a URL).
    pub values: Vec<FieldValue>,
    /// The field with the keyboard.
    pub focus: usize,
    /// The highlighted option of a many-of field.
    pub option: usize,
    /// Per field: what was wrong when the user last tried to accept.
    pub errors: Vec<Option<String>>,
    /// When it reached the front of the queue.
    pub shown_at: Instant,
}

impl PendingInput {
    fn new(request: Arc<ElicitationRequest>, now: Instant) -> Self {
        let values = match &request.asked {
            Asked::Form(form) => form.initial_values(),
            Asked::Url(_) => Vec::new(),
        };
        let errors = vec![None; values.len()];
        Self {
            request,
            values,
            focus: 0,
            option: 0,
            errors,
            shown_at: now,
        }
    }

    pub fn form(&self) -> Option<&Form> {
        match &self.request.asked {
            Asked::Form(form) => Some(form),
            Asked::Url(_) => None,
        }
    }

    /// The focused field is answered by choosing (Space, ←/→), not by typing.
    pub fn choosing(&self) -> bool {
        self.form()
            .and_then(|form| form.fields.get(self.focus))
            .is_some_and(|field| {
                !matches!(
                    field.kind,
                    FieldKind::Text { .. } | FieldKind::Number { .. }
                )
            })
    }

    fn move_focus(&mut self, delta: isize) {
        let count = self.values.len();
        if count == 0 {
            return;
        }
        let next = (self.focus as isize + delta).rem_euclid(count as isize);
        self.focus = next as usize;
        self.option = 0;
    }

    /// Space: flips a yes/no, steps a one-of through its options (and back to unset when it
    /// is optional), or toggles the highlighted option of a many-of.
    fn toggle(&mut self) {
        let Some(field) = self.form().and_then(|f| f.fields.get(self.focus)).cloned() else {
            return;
        };
        let option = self.option;
        let Some(value) = self.values.get_mut(self.focus) else {
            return;
        };
        match (&field.kind, value) {
            (FieldKind::Boolean { .. }, FieldValue::Bool(answer)) => {
                *answer = Some(!answer.unwrap_or(false));
            }
            (FieldKind::Choice { options, .. }, FieldValue::Choice(chosen)) => {
                *chosen = match *chosen {
                    None => Some(0),
                    Some(i) if i + 1 < options.len() => Some(i + 1),
                    Some(_) if field.required => Some(0),
                    Some(_) => None,
                };
            }
            (FieldKind::Multi { .. }, FieldValue::Multi(flags)) => {
                if let Some(flag) = flags.get_mut(option) {
                    *flag = !*flag;
                }
            }
            _ => return,
        }
        self.errors[self.focus] = None;
    }

    /// ←/→: the previous or next option.
    fn step_option(&mut self, delta: isize) {
        let Some(field) = self.form().and_then(|f| f.fields.get(self.focus)).cloned() else {
            return;
        };
        let Some(value) = self.values.get_mut(self.focus) else {
            return;
        };
        match (&field.kind, value) {
            (FieldKind::Choice { options, .. }, FieldValue::Choice(chosen)) => {
                let n = options.len() as isize;
                let current = chosen.map_or(if delta > 0 { -1 } else { n }, |i| i as isize);
                *chosen = Some((current + delta).rem_euclid(n) as usize);
                self.errors[self.focus] = None;
            }
            (FieldKind::Multi { options, .. }, FieldValue::Multi(_)) => {
                let n = options.len() as isize;
                self.option = (self.option as isize + delta).rem_euclid(n) as usize;
            }
            (FieldKind::Boolean { .. }, FieldValue::Bool(answer)) => {
                *answer = Some(delta > 0);
                self.errors[self.focus] = None;
            }
            _ => {}
        }
    }

    /// A key typed into the focused text or number field.
    fn type_key(&mut self, key: KeyEvent) {
        if self.choosing() {
            if key.code == KeyCode::Char(' ') {
                self.toggle();
            }
            return;
        }
        let Some(FieldValue::Text(text)) = self.values.get_mut(self.focus) else {
            return;
        };
        match key.code {
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => text.clear(),
            KeyCode::Char(c)
                if !key
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
                    && !c.is_control() =>
            {
                text.push(c);
            }
            _ => return,
        }
        self.errors[self.focus] = None;
    }

    fn paste(&mut self, pasted: &str) {
        if self.choosing() {
            return;
        }
        if let Some(FieldValue::Text(text)) = self.values.get_mut(self.focus) {
            text.extend(pasted.chars().filter(|c| !c.is_control()));
            self.errors[self.focus] = None;
        }
    }
}

/// The requests waiting for the user, oldest first.
#[derive(Debug, Default)]
pub struct InputRequests {
    pub queue: VecDeque<PendingInput>,
}

impl InputRequests {
    pub fn front(&self) -> Option<&PendingInput> {
        self.queue.front()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

/// A new request: queued behind the ones already waiting.
pub fn requested(state: &mut AppState, request: Arc<ElicitationRequest>) {
    let pending = PendingInput::new(request, state.now);
    state.input_requests.queue.push_back(pending);
}

/// The server withdrew request `id` (or its session ended): its form closes.
pub fn closed(state: &mut AppState, id: ElicitationId, reason: &str) {
    let Some(index) = state
        .input_requests
        .queue
        .iter()
        .position(|p| p.request.id == id)
    else {
        return;
    };
    if let Some(gone) = state.input_requests.queue.remove(index) {
        state.notice = Some(format!(
            "`{}`'s request for input closed: {reason}.",
            gone.request.server
        ));
    }
    if index == 0 {
        show_next(state);
    }
}

fn show_next(state: &mut AppState) {
    let now = state.now;
    if let Some(next) = state.input_requests.queue.front_mut() {
        next.shown_at = now;
    }
}

/// Answers the front request and shows the next.
fn answer(state: &mut AppState, answer: Answer, effects: &mut Vec<Effect>) {
    let Some(front) = state.input_requests.queue.pop_front() else {
        return;
    };
    state.notice = Some(format!(
        "{} `{}`'s request for input.",
        capitalized(answer.word()),
        front.request.server
    ));
    effects.push(Effect::Runtime(RuntimeCommand::AnswerElicitation {
        id: front.request.id,
        answer,
    }));
    show_next(state);
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Enter / Ctrl-S: send the form if it is valid; otherwise show what is wrong, at the first
/// wrong field.
pub fn accept(state: &mut AppState, effects: &mut Vec<Effect>) {
    let Some(front) = state.input_requests.queue.front_mut() else {
        return;
    };
    let Some(form) = front.form() else {
        answer(state, Answer::Accept(Default::default()), effects);
        return;
    };
    match form.validate(&front.values) {
        Ok(content) => answer(state, Answer::Accept(content), effects),
        Err(errors) => {
            front.errors = vec![None; front.values.len()];
            for (index, message) in &errors {
                if let Some(slot) = front.errors.get_mut(*index) {
                    *slot = Some(message.clone());
                }
            }
            if let Some((first, _)) = errors.first() {
                front.focus = *first;
            }
            state.notice = Some(format!(
                "Not sent: {} to fix.",
                crate::text::plural(errors.len(), "field", "fields")
            ));
        }
    }
}

pub fn decline(state: &mut AppState, effects: &mut Vec<Effect>) {
    answer(state, Answer::Decline, effects);
}

pub fn cancel(state: &mut AppState, effects: &mut Vec<Effect>) {
    answer(state, Answer::Cancel, effects);
}

/// `o` on a URL request: open it, and accept (the user went to the page).
pub fn open_url(state: &mut AppState, effects: &mut Vec<Effect>) {
    let Some(front) = state.input_requests.front() else {
        return;
    };
    if let Asked::Url(url) = &front.request.asked {
        effects.push(Effect::Runtime(RuntimeCommand::OpenUrl {
            server: front.request.server.clone(),
            url: url.clone(),
        }));
        answer(state, Answer::Accept(Default::default()), effects);
    }
}

pub fn next_field(state: &mut AppState, delta: isize) {
    if let Some(front) = state.input_requests.queue.front_mut() {
        front.move_focus(delta);
    }
}

pub fn toggle(state: &mut AppState) {
    if let Some(front) = state.input_requests.queue.front_mut() {
        front.toggle();
    }
}

pub fn step_option(state: &mut AppState, delta: isize) {
    if let Some(front) = state.input_requests.queue.front_mut() {
        front.step_option(delta);
    }
}

pub fn type_key(state: &mut AppState, key: KeyEvent) {
    if let Some(front) = state.input_requests.queue.front_mut() {
        front.type_key(key);
    }
}

pub fn paste(state: &mut AppState, text: &str) {
    if let Some(front) = state.input_requests.queue.front_mut() {
        front.paste(text);
    }
}
