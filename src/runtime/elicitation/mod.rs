//! Elicitation: a server asking the user for input in the middle of a request
//! (`elicitation/create`), either as a form described by a JSON schema or as a URL to visit.
//!
//! `form.rs` parses the schema into fields (and gives [`accept_defaults`]); `values.rs` holds
//! and checks what the user fills in; `formats.rs` checks the string formats; `url.rs` refuses anything but http(s) URLs and opens them on request.
//! [`ElicitationRouter`] (one per runtime, shared by every connection's `McpClient`) decides
//! who answers: the headless policy at once (decline, or accept with the defaults, said on
//! stderr), or the dashboard, which gets an event and answers with
//! `RuntimeHandle::answer_elicitation`. Requests waiting for the dashboard are parked on
//! `oneshot`s keyed by [`ElicitationId`]; at most [`MAX_WAITING`] wait, the rest are declined.
//! Values the user typed are never logged: only field names are.

pub mod form;
mod formats;
pub mod url;
pub mod values;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rmcp::model::{ElicitRequestParams, ElicitResult, ElicitationAction};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

pub use form::{Field, FieldKind, Form, Unrenderable, accept_defaults};
pub use values::FieldValue;

use super::messages::{RuntimeEvent, ServerName};
use crate::text::{sanitize, truncate_chars};

/// Requests that may wait for the dashboard at once; more are declined with a reason.
pub const MAX_WAITING: usize = 8;
/// How long a request may wait for the user before it is cancelled.
pub const ELICITATION_DEADLINE: Duration = Duration::from_secs(600);

/// Identifies one request waiting for the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ElicitationId(pub u64);

/// What the server asks for, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Asked {
    Form(Form),
    /// An http(s) URL to visit.
    Url(String),
}

/// One request, as the user sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ElicitationRequest {
    pub id: ElicitationId,
    pub server: ServerName,
    /// The server's message, sanitized.
    pub message: String,
    pub asked: Asked,
}

/// The user's answer.
#[derive(Clone, PartialEq)]
pub enum Answer {
    /// With the form's content (empty for a URL).
    Accept(Map<String, Value>),
    Decline,
    Cancel,
}

// The content may hold secrets: only the field names are printed.
impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Accept(content) => f
                .debug_tuple("Accept")
                .field(&content.keys().collect::<Vec<_>>())
                .finish(),
            Answer::Decline => f.write_str("Decline"),
            Answer::Cancel => f.write_str("Cancel"),
        }
    }
}

impl Answer {
    pub fn word(&self) -> &'static str {
        match self {
            Answer::Accept(_) => "accepted",
            Answer::Decline => "declined",
            Answer::Cancel => "cancelled",
        }
    }

    fn into_result(self, url_mode: bool) -> ElicitResult {
        match self {
            Answer::Accept(_) if url_mode => ElicitResult::new(ElicitationAction::Accept),
            Answer::Accept(content) => {
                ElicitResult::new(ElicitationAction::Accept).with_content(Value::Object(content))
            }
            Answer::Decline => ElicitResult::new(ElicitationAction::Decline),
            Answer::Cancel => ElicitResult::new(ElicitationAction::Cancel),
        }
    }
}

/// Who answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Decline every request (headless default).
    #[default]
    Decline,
    /// Accept forms with the schema's defaults (declined when a required field has none);
    /// URLs are declined (nobody can visit them).
    AcceptDefaults,
    /// The dashboard asks the user.
    Ask,
}

/// Where headless commands say what was asked and answered (stderr).
#[derive(Clone)]
pub struct Reporter(Arc<dyn Fn(&str) + Send + Sync>);

impl Reporter {
    pub fn new(say: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self(Arc::new(say))
    }

    /// Lines on stderr, each after `mcpomni: `.
    pub fn stderr() -> Self {
        Self::new(|line| eprintln!("mcpomni: {line}"))
    }

    pub fn say(&self, text: &str) {
        (self.0)(text);
    }
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reporter")
    }
}

/// How the runtime answers elicitation requests.
#[derive(Clone, Default)]
pub struct ElicitationOptions {
    pub policy: Policy,
    pub report: Option<Reporter>,
}

/// Routes every connection's elicitation requests. Cheap to clone.
#[derive(Clone)]
pub struct ElicitationRouter {
    inner: Arc<Inner>,
}

struct Inner {
    policy: Policy,
    report: Option<Reporter>,
    events: mpsc::Sender<RuntimeEvent>,
    pending: Mutex<HashMap<ElicitationId, oneshot::Sender<Answer>>>,
    next: AtomicU64,
}

impl std::fmt::Debug for ElicitationRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElicitationRouter")
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

/// A request as it arrived, before it is checked.
pub enum Incoming {
    Form { message: String, schema: Value },
    Url { message: String, url: String },
}

impl Incoming {
    /// From rmcp's typed parameters.
    pub fn from_params(params: ElicitRequestParams) -> Option<Self> {
        match params {
            ElicitRequestParams::FormElicitationParams {
                message,
                requested_schema,
                ..
            } => Some(Incoming::Form {
                message,
                schema: serde_json::to_value(requested_schema).unwrap_or(Value::Null),
            }),
            ElicitRequestParams::UrlElicitationParams { message, url, .. } => {
                Some(Incoming::Url { message, url })
            }
            // rmcp's enum is non-exhaustive; a mode it learns later is not one we can show.
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// From the raw parameters of a request rmcp could not type (a schema outside MCP's
    /// subset, such as a nested object, fails rmcp's parsing and arrives this way).
    pub fn from_raw(params: &Value) -> Self {
        let message = params
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        match (
            params.get("mode").and_then(Value::as_str),
            params.get("url").and_then(Value::as_str),
        ) {
            (Some("url"), Some(url)) => Incoming::Url {
                message,
                url: url.to_owned(),
            },
            _ => Incoming::Form {
                message,
                schema: params
                    .get("requestedSchema")
                    .cloned()
                    .unwrap_or(Value::Null),
            },
        }
    }
}

impl ElicitationRouter {
    pub fn new(options: ElicitationOptions, events: mpsc::Sender<RuntimeEvent>) -> Self {
        Self {
            inner: Arc::new(Inner {
                policy: options.policy,
                report: options.report,
                events,
                pending: Mutex::default(),
                next: AtomicU64::new(0),
            }),
        }
    }

    pub fn policy(&self) -> Policy {
        self.inner.policy
    }

    fn pending(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<ElicitationId, oneshot::Sender<Answer>>> {
        self.inner
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// How many requests wait for the dashboard.
    pub fn waiting(&self) -> usize {
        self.pending().len()
    }

    /// Something the user must know (a refused request): stderr headless, a notice in the
    /// dashboard, and the log (never with values).
    async fn notice(&self, server: &ServerName, text: String) {
        tracing::warn!(server = %server, "{text}");
        if let Some(report) = &self.inner.report {
            report.say(&text);
        }
        if self.inner.policy == Policy::Ask {
            let _ = self
                .inner
                .events
                .send(RuntimeEvent::ElicitationNotice {
                    server: server.clone(),
                    text,
                })
                .await;
        }
    }

    fn report(&self, text: &str) {
        if let Some(report) = &self.inner.report {
            report.say(text);
        }
    }

    /// Answers one request; `cancelled` fires when the server withdraws it or the session
    /// ends.
    pub async fn handle(
        &self,
        server: &ServerName,
        incoming: Incoming,
        cancelled: CancellationToken,
    ) -> ElicitResult {
        let (message, asked) = match incoming {
            Incoming::Form { message, schema } => match Form::parse(&schema) {
                Ok(form) => (message, Asked::Form(form)),
                Err(why) => {
                    self.notice(
                        server,
                        format!(
                            "server `{server}` asked for input mcpomni cannot show ({why}): \
                             declined"
                        ),
                    )
                    .await;
                    return ElicitResult::new(ElicitationAction::Decline);
                }
            },
            Incoming::Url { message, url } => match url::check_url(server.as_str(), &url) {
                Ok(url) => (message, Asked::Url(url.to_string())),
                Err(why) => {
                    self.notice(server, format!("{why}: declined")).await;
                    return ElicitResult::new(ElicitationAction::Decline);
                }
            },
        };
        let url_mode = matches!(asked, Asked::Url(_));
        let message = sanitize(&message);
        tracing::info!(server = %server, fields = %describe_asked(&asked), "elicitation request");
        let answer = match self.inner.policy {
            Policy::Decline => {
                self.report(&format!(
                    "server `{server}` asked: \"{}\" ({}) — declined (the default; \
                     `--elicit accept-defaults` accepts forms with their defaults)",
                    truncate_chars(&message, 200),
                    describe_asked(&asked)
                ));
                Answer::Decline
            }
            Policy::AcceptDefaults => self.accept_defaults(server, &message, &asked),
            Policy::Ask => self.ask(server, message, asked, cancelled).await,
        };
        tracing::info!(server = %server, answer = answer.word(), "elicitation answered");
        answer.into_result(url_mode)
    }

    fn accept_defaults(&self, server: &ServerName, message: &str, asked: &Asked) -> Answer {
        let asked_text = format!(
            "server `{server}` asked: \"{}\" ({})",
            truncate_chars(message, 200),
            describe_asked(asked)
        );
        match asked {
            Asked::Url(_) => {
                self.report(&format!(
                    "{asked_text} — declined: a headless command cannot visit a URL"
                ));
                Answer::Decline
            }
            Asked::Form(form) => {
                let lacking = form.required_without_default();
                if !lacking.is_empty() {
                    let names: Vec<String> =
                        lacking.iter().map(|f| format!("`{}`", f.name)).collect();
                    self.report(&format!(
                        "{asked_text} — declined: required {} no default ({})",
                        if names.len() == 1 {
                            "field has"
                        } else {
                            "fields have"
                        },
                        names.join(", ")
                    ));
                    return Answer::Decline;
                }
                let content = form.defaults();
                let names: Vec<&str> = content.keys().map(String::as_str).collect();
                self.report(&format!(
                    "{asked_text} — accepted with the schema's defaults ({})",
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                ));
                Answer::Accept(content)
            }
        }
    }

    async fn ask(
        &self,
        server: &ServerName,
        message: String,
        asked: Asked,
        cancelled: CancellationToken,
    ) -> Answer {
        let id = ElicitationId(self.inner.next.fetch_add(1, Ordering::Relaxed) + 1);
        let (reply, answer) = oneshot::channel();
        if !self.park(id, reply) {
            self.notice(
                server,
                format!(
                    "server `{server}` sent another request for input while {MAX_WAITING} \
                     wait for an answer: declined"
                ),
            )
            .await;
            return Answer::Decline;
        }
        let request = ElicitationRequest {
            id,
            server: server.clone(),
            message,
            asked,
        };
        let sent = self
            .inner
            .events
            .send(RuntimeEvent::ElicitationRequested(Arc::new(request)))
            .await;
        if sent.is_err() {
            self.pending().remove(&id);
            return Answer::Decline;
        }
        let closed = |reason: &str| {
            self.pending().remove(&id);
            let events = self.inner.events.clone();
            let reason = reason.to_owned();
            async move {
                let _ = events
                    .send(RuntimeEvent::ElicitationClosed { id, reason })
                    .await;
            }
        };
        tokio::select! {
            answer = answer => answer.unwrap_or(Answer::Cancel),
            () = cancelled.cancelled() => {
                closed("the server withdrew the request (or its session ended)").await;
                Answer::Cancel
            }
            () = tokio::time::sleep(ELICITATION_DEADLINE) => {
                closed("nobody answered in time").await;
                Answer::Cancel
            }
        }
    }

    /// Parks `reply` under `id`, unless [`MAX_WAITING`] requests wait already.
    fn park(&self, id: ElicitationId, reply: oneshot::Sender<Answer>) -> bool {
        let mut pending = self.pending();
        if pending.len() >= MAX_WAITING {
            return false;
        }
        pending.insert(id, reply);
        true
    }

    /// The dashboard's answer to request `id`; false when it no longer waits.
    pub fn answer(&self, id: ElicitationId, answer: Answer) -> bool {
        match self.pending().remove(&id) {
            Some(reply) => reply.send(answer).is_ok(),
            None => false,
        }
    }
}

/// `a form of 3 fields (name*, age, email)` or `a URL to visit: https://…` (field names
/// only: never values; `*` marks required fields).
pub fn describe_asked(asked: &Asked) -> String {
    match asked {
        Asked::Url(url) => format!("a URL to visit: {}", crate::redact::display_url(url)),
        Asked::Form(form) => {
            let names: Vec<String> = form
                .fields
                .iter()
                .map(|f| {
                    if f.required {
                        format!("{}*", f.name)
                    } else {
                        f.name.clone()
                    }
                })
                .collect();
            format!(
                "a form of {}{}",
                crate::text::plural(names.len(), "field", "fields"),
                if names.is_empty() {
                    String::new()
                } else {
                    format!(": {}", names.join(", "))
                }
            )
        }
    }
}

#[cfg(test)]
mod tests;
