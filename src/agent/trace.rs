//! Recording an agent run as typed trace steps (`protocol::trace`): each step is sent when it
//! begins and again when it ends, as the newest version of the step with its id, so a client
//! shows running steps live and finished ones with their times, tokens and results. A
//! [`StepSink`] (a trace file) gets every step too, from the tracer itself, just before the
//! step's event is sent.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::protocol::{AgentEvent, IdSource, StepBody, StepId, StepStatus, TraceStep, TurnId};

/// Where a run's steps are saved as they happen, besides being sent as events (`--trace
/// FILE`: `crate::tracefile::TraceSink`).
pub trait StepSink: Send + Sync + std::fmt::Debug {
    /// Saves the step's newest version. Called on the agent's task before the step's event is
    /// sent, so it must be quick (a small append to a local file) and must not fail the run.
    fn save(&self, step: &TraceStep);
}

/// Sends one run's steps.
#[derive(Clone)]
pub struct Tracer {
    ids: Arc<IdSource>,
    events: mpsc::Sender<AgentEvent>,
    turn: Option<TurnId>,
    sink: Option<Arc<dyn StepSink>>,
}

impl Tracer {
    pub fn new(ids: Arc<IdSource>, events: mpsc::Sender<AgentEvent>, turn: Option<TurnId>) -> Self {
        Self {
            ids,
            events,
            turn,
            sink: None,
        }
    }

    /// This tracer also saving every step to `sink`, when there is one.
    pub fn saving_to(mut self, sink: Option<Arc<dyn StepSink>>) -> Self {
        self.sink = sink;
        self
    }

    pub fn ids(&self) -> &IdSource {
        &self.ids
    }

    /// Where the run's other events go (the same stream as its steps).
    pub fn events(&self) -> &mpsc::Sender<AgentEvent> {
        &self.events
    }

    /// A step begins now under `parent`; the returned step is updated and sent again with
    /// [`Tracer::finish`] or [`Tracer::send`].
    pub async fn begin(&self, parent: Option<StepId>, body: StepBody) -> TraceStep {
        let step = TraceStep::begin(self.ids.next_step(), parent, self.turn, body);
        self.send(&step).await;
        step
    }

    /// Ends `step` now with `status` and sends it.
    pub async fn finish(&self, step: &mut TraceStep, status: StepStatus) {
        step.end(status);
        self.send(step).await;
    }

    /// A step that begins and ends at once.
    pub async fn record(&self, parent: Option<StepId>, body: StepBody, status: StepStatus) {
        let mut step = TraceStep::begin(self.ids.next_step(), parent, self.turn, body);
        step.end(status);
        self.send(&step).await;
    }

    /// Saves and sends the step as it is now. A closed channel (nobody is watching) is fine.
    pub async fn send(&self, step: &TraceStep) {
        // Written here rather than by a reader of the events: no extra hop between the agent
        // and whoever reads them, and the step is in the file before anyone hears of it.
        if let Some(sink) = &self.sink {
            sink.save(step);
        }
        let _ = self
            .events
            .send(AgentEvent::Trace(Arc::new(step.clone())))
            .await;
    }
}
