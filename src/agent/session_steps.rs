//! A session keeps its trace: each finished step is stored with the conversation, so a
//! resumed session shows its steps again. Model requests are stored without the history they
//! repeat (only the newest message), or a long session would store its conversation once per
//! request; a `--trace` file keeps whole requests.

use std::sync::Arc;

use super::trace::StepSink;
use crate::llm::{ChatRequest, ToolSpec};
use crate::memory::writer::SessionSink;
use crate::memory::{EntryBody, SessionEntry};
use crate::protocol::{StepBody, StepId, StepStatus, TraceStep, TurnId};

/// Stores finished steps in a session.
#[derive(Debug)]
pub struct SessionSteps {
    sink: SessionSink,
}

impl SessionSteps {
    pub fn new(sink: SessionSink) -> Self {
        Self { sink }
    }
}

impl StepSink for SessionSteps {
    fn save(&self, step: &TraceStep) {
        // Each step is stored once, finished; a step that never ends (a crash) is not kept.
        if step.status == StepStatus::Running {
            return;
        }
        let stored = Box::new(for_session(step));
        self.sink
            .write(vec![SessionEntry::now(EntryBody::Step { step: stored })]);
    }
}

/// Every step goes to each of several sinks (a trace file and the session).
#[derive(Debug)]
pub struct Fanout(pub Vec<Arc<dyn StepSink>>);

impl StepSink for Fanout {
    fn save(&self, step: &TraceStep) {
        for sink in &self.0 {
            sink.save(step);
        }
    }
}

/// One sink for whichever of `sinks` there are.
pub fn combine(
    sinks: impl IntoIterator<Item = Option<Arc<dyn StepSink>>>,
) -> Option<Arc<dyn StepSink>> {
    let mut sinks: Vec<Arc<dyn StepSink>> = sinks.into_iter().flatten().collect();
    match sinks.len() {
        0 => None,
        1 => sinks.pop(),
        _ => Some(Arc::new(Fanout(sinks))),
    }
}

/// How a stored request says what it left out; [`elided_messages`] reads the count back.
const ELIDED: (&str, &str) = (
    "(not stored in the session: the system prompt, the tool schemas and the ",
    " earlier messages of this request; a --trace file keeps whole requests)",
);

/// What is stored of `step`: a model request keeps its newest message and its tools' names.
fn for_session(step: &TraceStep) -> TraceStep {
    let mut stored = step.clone();
    if let StepBody::ModelRequest { request, .. } = &mut stored.body
        && request.messages.len() > 1
    {
        let earlier = request.messages.len() - 1;
        let newest = request.messages.last().cloned();
        let tools = request
            .tools
            .iter()
            .map(|tool| ToolSpec {
                name: tool.name.clone(),
                description: String::new(),
                parameters: serde_json::Value::Null,
            })
            .collect();
        *request = Arc::new(ChatRequest {
            system: Some(format!("{}{earlier}{}", ELIDED.0, ELIDED.1)),
            messages: newest.into_iter().collect(),
            tools,
            ..(**request).clone()
        });
    }
    stored
}

/// How many earlier messages a request restored from a session left out (none for a request
/// recorded whole).
pub fn elided_messages(request: &ChatRequest) -> Option<usize> {
    request
        .system
        .as_deref()?
        .strip_prefix(ELIDED.0)?
        .strip_suffix(ELIDED.1)?
        .parse()
        .ok()
}

/// The newest step and turn ids of a stored trace: a resumed session numbers its new steps
/// and turns after them.
pub fn last_ids(steps: &[TraceStep]) -> (StepId, TurnId) {
    let step = steps.iter().map(|s| s.id).max().unwrap_or(StepId(0));
    let turn = steps
        .iter()
        .filter_map(|s| s.turn)
        .max()
        .unwrap_or(TurnId(0));
    (step, turn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ChatMessage;
    use crate::memory::in_memory::InMemoryStore;
    use crate::memory::{MemoryStore, SessionId, history};

    #[tokio::test]
    async fn finished_steps_are_stored_and_requests_without_their_history() {
        let store = Arc::new(InMemoryStore::default());
        let id: SessionId = "s".parse().expect("id");
        let (sink, _) = crate::memory::writer::spawn(store.clone(), id.clone());
        let steps = SessionSteps::new(sink.clone());
        let request = ChatRequest {
            system: Some("the system prompt".into()),
            messages: vec![
                ChatMessage::user("first"),
                ChatMessage::assistant("answer"),
                ChatMessage::user("second"),
            ],
            ..ChatRequest::default()
        };
        let mut step = TraceStep::begin(
            StepId(4),
            None,
            Some(TurnId(2)),
            StepBody::ModelRequest {
                model: "openai/m".into(),
                request: Arc::new(request),
            },
        );
        steps.save(&step);
        step.end(StepStatus::Ok);
        steps.save(&step);
        sink.flush().await;
        let loaded = store.load(&id).await.expect("stored");
        let stored = history::steps(&loaded.entries);
        assert_eq!(stored.len(), 1, "only the finished version");
        let StepBody::ModelRequest { request, .. } = &stored[0].body else {
            panic!("a request");
        };
        assert_eq!(request.messages, [ChatMessage::user("second")]);
        assert_eq!(elided_messages(request), Some(2));
        assert_eq!(elided_messages(&ChatRequest::default()), None);
        assert_eq!(last_ids(&stored), (StepId(4), TurnId(2)));
    }
}
