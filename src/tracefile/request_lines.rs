//! A model request's lines without serialising its request twice. The request is most of a
//! trace's bytes (the whole conversation and every tool's schema), and its step is written
//! when it begins and again, unchanged but for its status, times and tokens, when it ends.
//! So the request's scrubbed JSON is kept from the first line for the second: the step is
//! written with an empty request in its place, and that empty request, the line's last value,
//! is swapped for the kept JSON.

use std::sync::{Arc, LazyLock};

use super::scrub_json::Scrubber;
use crate::llm::ChatRequest;
use crate::protocol::{StepBody, StepId, StepStatus, TraceStep};

/// Requests kept at once: one per request in flight (sub-agents run side by side).
const KEPT: usize = 8;

/// The placeholder request and its JSON (it has no string to scrub).
static EMPTY: LazyLock<(Arc<ChatRequest>, Vec<u8>)> = LazyLock::new(|| {
    let request = ChatRequest::default();
    let json = serde_json::to_vec(&request).unwrap_or_default();
    (Arc::new(request), json)
});

/// The scrubbed JSON of the requests whose steps are still running.
#[derive(Default)]
pub struct RequestLines {
    /// Oldest first; the `Arc` keeps the request alive, so its address names it.
    kept: Vec<(StepId, Arc<ChatRequest>, Vec<u8>)>,
}

impl RequestLines {
    /// Appends `step`'s line to `out` if it is a model request; `false` (and nothing
    /// appended) for any other step.
    pub fn push(
        &mut self,
        out: &mut Vec<u8>,
        step: &TraceStep,
        scrubber: &Scrubber,
    ) -> serde_json::Result<bool> {
        let StepBody::ModelRequest { model, request } = &step.body else {
            return Ok(false);
        };
        let start = out.len();
        let head = TraceStep {
            body: StepBody::ModelRequest {
                model: model.clone(),
                request: EMPTY.0.clone(),
            },
            ..step.clone()
        };
        scrubber.write(out, &head)?;
        let (_, placeholder) = &*EMPTY;
        let placeholder_at = out.len().saturating_sub(placeholder.len() + 1);
        if !out[placeholder_at..].starts_with(placeholder) || !out.ends_with(b"}") {
            // The request is not the line's last value any more: write the step as it is.
            out.truncate(start);
            scrubber.write(out, step)?;
            return Ok(true);
        }
        out.truncate(placeholder_at);
        let kept = self
            .kept
            .iter()
            .position(|(id, kept, _)| *id == step.id && Arc::ptr_eq(kept, request));
        match kept {
            Some(at) if step.status == StepStatus::Running => {
                out.extend_from_slice(&self.kept[at].2)
            }
            // Its last line: the request is not needed again.
            Some(at) => out.extend_from_slice(&self.kept.remove(at).2),
            None => {
                let request_start = out.len();
                scrubber.write(out, &**request)?;
                if step.status == StepStatus::Running {
                    if self.kept.len() == KEPT {
                        self.kept.remove(0);
                    }
                    let json = out[request_start..].to_vec();
                    self.kept.push((step.id, request.clone(), json));
                }
            }
        }
        out.push(b'}');
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{ChatMessage, ToolSpec};
    use crate::protocol::TurnId;
    use crate::redact::Secrets;
    use serde_json::json;

    const SECRET: &str = "sk-live-0123456789";

    fn request_step(id: u64) -> TraceStep {
        TraceStep::begin(
            StepId(id),
            Some(StepId(1)),
            Some(TurnId(1)),
            StepBody::ModelRequest {
                model: format!("openai/{SECRET}"),
                request: Arc::new(ChatRequest {
                    system: Some("be \"brief\"\n".into()),
                    messages: vec![ChatMessage::user(format!("my key is {SECRET}"))],
                    tools: vec![ToolSpec {
                        name: "demo__echo".into(),
                        description: "see https://example.com/docs".into(),
                        parameters: json!({"type": "object", "properties": {SECRET: {}}}),
                    }],
                    temperature: Some(0.5),
                    ..ChatRequest::default()
                }),
            },
        )
    }

    fn line(lines: &mut RequestLines, step: &TraceStep, scrubber: &Scrubber) -> String {
        let mut out = Vec::new();
        assert!(lines.push(&mut out, step, scrubber).expect("serialises"));
        String::from_utf8(out).expect("UTF-8")
    }

    fn plain(step: &TraceStep, scrubber: &Scrubber) -> String {
        let mut out = Vec::new();
        scrubber.write(&mut out, step).expect("serialises");
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn both_lines_are_the_step_as_serialised_whole_and_the_request_is_let_go() {
        let scrubber = Scrubber::new(Secrets::from_values([SECRET]));
        let mut lines = RequestLines::default();
        let mut step = request_step(2);
        let begun = line(&mut lines, &step, &scrubber);
        assert_eq!(begun, plain(&step, &scrubber));
        assert!(!begun.contains(SECRET), "{begun}");
        assert_eq!(lines.kept.len(), 1);
        step.tokens = Some(crate::llm::Usage {
            input_tokens: 10,
            output_tokens: 5,
        });
        step.cost_usd = Some(0.25);
        step.end(StepStatus::Ok);
        let ended = line(&mut lines, &step, &scrubber);
        assert_eq!(ended, plain(&step, &scrubber));
        assert!(lines.kept.is_empty(), "an ended request is not kept");
    }

    #[test]
    fn another_request_under_the_same_id_is_serialised_afresh() {
        let scrubber = Scrubber::new(Secrets::default());
        let mut lines = RequestLines::default();
        let mut step = request_step(2);
        line(&mut lines, &step, &scrubber);
        step.body = StepBody::ModelRequest {
            model: "openai/gpt-4o".into(),
            request: Arc::new(ChatRequest::default()),
        };
        step.end(StepStatus::Error);
        assert_eq!(line(&mut lines, &step, &scrubber), plain(&step, &scrubber));
    }

    #[test]
    fn other_steps_are_left_to_the_caller_and_few_requests_are_kept() {
        let scrubber = Scrubber::new(Secrets::default());
        let mut lines = RequestLines::default();
        let other = TraceStep::begin(
            StepId(1),
            None,
            None,
            StepBody::Limit { reason: "x".into() },
        );
        let mut out = Vec::new();
        assert!(!lines.push(&mut out, &other, &scrubber).expect("ok"));
        assert!(out.is_empty());
        for id in 0..20 {
            line(&mut lines, &request_step(id), &scrubber);
        }
        assert_eq!(lines.kept.len(), KEPT);
    }
}
