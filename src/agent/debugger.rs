//! The debugger inside the agent loop: before every model request and tool call (and after an
//! error) the loop asks [`Debugger::checkpoint`] whether to pause. A pause goes to a
//! [`PauseHandler`] — the dashboard (an `AgentEvent::Paused`, answered by a `Resume` command)
//! or the terminal of `mcpomni run --step` — and the run waits for its answer: one step, on to
//! the next breakpoint, or stop, optionally with an edit that the loop applies and records in
//! the trace.
//!
//! Step mode and breakpoints are session settings; whether a run was told to continue (and so
//! pauses only at breakpoints) and its step count belong to one run of the loop ([`RunDebug`]),
//! so parallel sub-agents each count their own steps.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use crate::protocol::debug::{
    Breakpoint, DebugAction, DebugEdit, PauseAt, PauseId, PauseReason, Paused, glob_matches,
};
use crate::protocol::{AgentEvent, StepId, TurnId};

/// How the user answered a pause.
#[derive(Debug, Clone, PartialEq)]
pub struct Resume {
    pub action: DebugAction,
    pub edit: Option<DebugEdit>,
}

/// Shows a pause to the user and returns their answer.
pub trait PauseHandler: Send + Sync {
    fn ask(&self, paused: Paused) -> BoxFuture<'static, Resume>;
}

/// The session's debugger settings and the pauses waiting for an answer.
pub struct Debugger {
    settings: Mutex<Settings>,
    handler: Arc<dyn PauseHandler>,
    next_pause: AtomicU64,
}

#[derive(Debug, Clone, Default)]
struct Settings {
    step_mode: bool,
    breakpoints: Vec<Breakpoint>,
}

/// One run's place in the debugger.
#[derive(Debug, Clone, Default)]
pub struct RunDebug {
    /// Model requests and tool calls so far, counted from 1.
    pub steps: u32,
    /// "Continue" was chosen: pause only at breakpoints from now on.
    free: bool,
    /// "Step" was chosen: pause at the next step, step mode or not.
    stepping: bool,
}

impl Debugger {
    pub fn new(handler: Arc<dyn PauseHandler>) -> Self {
        Self {
            settings: Mutex::new(Settings::default()),
            handler,
            next_pause: AtomicU64::new(0),
        }
    }

    /// A debugger that never pauses until step mode or a breakpoint is set (and then cannot
    /// ask anybody: every pause continues).
    pub fn off() -> Self {
        Self::new(Arc::new(NobodyToAsk))
    }

    fn settings(&self) -> std::sync::MutexGuard<'_, Settings> {
        self.settings.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set_step_mode(&self, on: bool) {
        self.settings().step_mode = on;
    }

    pub fn step_mode(&self) -> bool {
        self.settings().step_mode
    }

    /// Whether any pause can happen (step mode or a breakpoint): when not, the loop skips
    /// building what a pause would show.
    pub fn is_active(&self) -> bool {
        let settings = self.settings();
        settings.step_mode || !settings.breakpoints.is_empty()
    }

    pub fn set_breakpoints(&self, breakpoints: Vec<Breakpoint>) {
        self.settings().breakpoints = breakpoints;
    }

    /// Why the run should pause at `at`, if it should.
    fn reason(&self, run: &RunDebug, at: &PauseAt) -> Option<PauseReason> {
        let settings = self.settings();
        let hit = settings
            .breakpoints
            .iter()
            .find(|breakpoint| match (breakpoint, at) {
                (Breakpoint::Model, PauseAt::Model { .. }) => true,
                (Breakpoint::Tool(glob), PauseAt::Tool { call }) => glob_matches(glob, &call.name),
                (Breakpoint::Error, PauseAt::Error { .. }) => true,
                (Breakpoint::Step(n), PauseAt::Model { .. } | PauseAt::Tool { .. }) => {
                    *n == run.steps
                }
                _ => false,
            });
        match hit {
            Some(breakpoint) => Some(PauseReason::Breakpoint(breakpoint.clone())),
            None if (run.stepping || (settings.step_mode && !run.free))
                && !matches!(at, PauseAt::Error { .. }) =>
            {
                Some(PauseReason::Stepping)
            }
            None => None,
        }
    }

    /// The loop is about to do `at` (a model request or tool call counts as the run's next
    /// step; an error does not). Pauses when step mode or a breakpoint says so and returns the
    /// user's answer; `None` means go on untouched.
    pub async fn checkpoint(
        &self,
        run: &mut RunDebug,
        turn: TurnId,
        parent: StepId,
        at: PauseAt,
    ) -> Option<Resume> {
        if !matches!(at, PauseAt::Error { .. }) {
            run.steps += 1;
        }
        let reason = self.reason(run, &at)?;
        let pause = PauseId(self.next_pause.fetch_add(1, Ordering::Relaxed) + 1);
        let resume = self
            .handler
            .ask(Paused {
                turn,
                pause,
                step: run.steps,
                parent,
                at,
                reason,
            })
            .await;
        match resume.action {
            DebugAction::Continue => {
                run.free = true;
                run.stepping = false;
            }
            DebugAction::Step => {
                run.free = false;
                run.stepping = true;
            }
            DebugAction::Stop => {}
        }
        Some(resume)
    }
}

/// Without anybody to ask, a pause continues.
struct NobodyToAsk;

impl PauseHandler for NobodyToAsk {
    fn ask(&self, _paused: Paused) -> BoxFuture<'static, Resume> {
        Box::pin(async {
            Resume {
                action: DebugAction::Continue,
                edit: None,
            }
        })
    }
}

/// Pauses shown in the dashboard: an `AgentEvent::Paused` out, the user's `Resume` back.
pub struct UiPauses {
    events: mpsc::Sender<AgentEvent>,
    waiting: Mutex<HashMap<PauseId, oneshot::Sender<Resume>>>,
}

impl UiPauses {
    pub fn new(events: mpsc::Sender<AgentEvent>) -> Self {
        Self {
            events,
            waiting: Mutex::new(HashMap::new()),
        }
    }

    /// The user's answer to a pause (an answer to a pause that is gone is dropped).
    pub fn resume(&self, pause: PauseId, resume: Resume) {
        let waiting = self
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&pause);
        if let Some(reply) = waiting {
            let _ = reply.send(resume);
        }
    }

    /// Every open pause belongs to a run that ended.
    pub fn forget_all(&self) {
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

impl PauseHandler for UiPauses {
    fn ask(&self, paused: Paused) -> BoxFuture<'static, Resume> {
        let (reply, answer) = oneshot::channel();
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(paused.pause, reply);
        let events = self.events.clone();
        Box::pin(async move {
            let _ = events.send(AgentEvent::Paused(Box::new(paused))).await;
            // The dashboard closing (the answer dropped) stops the run rather than running on.
            answer.await.unwrap_or(Resume {
                action: DebugAction::Stop,
                edit: None,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::llm::{ChatRequest, ToolCall};

    /// Answers every pause with the next scripted action and remembers what it saw.
    struct Script {
        answers: Mutex<Vec<DebugAction>>,
        seen: Mutex<Vec<(u32, PauseReason)>>,
    }

    impl PauseHandler for Script {
        fn ask(&self, paused: Paused) -> BoxFuture<'static, Resume> {
            self.seen
                .lock()
                .expect("lock")
                .push((paused.step, paused.reason));
            let action = self.answers.lock().expect("lock").remove(0);
            Box::pin(async move { Resume { action, edit: None } })
        }
    }

    fn model() -> PauseAt {
        PauseAt::Model {
            request: Arc::new(ChatRequest::default()),
        }
    }

    fn tool(name: &str) -> PauseAt {
        PauseAt::Tool {
            call: ToolCall {
                id: "c".into(),
                name: name.into(),
                arguments: serde_json::json!({}),
            },
        }
    }

    fn debugger(answers: &[DebugAction]) -> (Debugger, Arc<Script>) {
        let script = Arc::new(Script {
            answers: Mutex::new(answers.to_vec()),
            seen: Mutex::new(Vec::new()),
        });
        (Debugger::new(script.clone()), script)
    }

    async fn pass(debugger: &Debugger, run: &mut RunDebug, at: PauseAt) -> Option<DebugAction> {
        debugger
            .checkpoint(run, TurnId(1), StepId(1), at)
            .await
            .map(|resume| resume.action)
    }

    #[tokio::test]
    async fn step_mode_pauses_at_every_step_until_continue() {
        let (debugger, script) = debugger(&[DebugAction::Step, DebugAction::Continue]);
        debugger.set_step_mode(true);
        let mut run = RunDebug::default();
        assert_eq!(
            pass(&debugger, &mut run, model()).await,
            Some(DebugAction::Step)
        );
        assert_eq!(
            pass(&debugger, &mut run, tool("demo__echo")).await,
            Some(DebugAction::Continue)
        );
        assert_eq!(
            pass(&debugger, &mut run, model()).await,
            None,
            "continue runs on"
        );
        let seen = script.seen.lock().expect("lock").clone();
        assert_eq!(
            seen,
            vec![(1, PauseReason::Stepping), (2, PauseReason::Stepping)]
        );
        // A new run starts stepping again.
        let mut next = RunDebug::default();
        debugger.set_step_mode(false);
        assert_eq!(pass(&debugger, &mut next, model()).await, None);
    }

    #[tokio::test]
    async fn each_breakpoint_kind_pauses_where_it_says() {
        let (debugger, script) = debugger(&[DebugAction::Continue; 4]);
        debugger.set_breakpoints(vec![
            Breakpoint::Tool("files__*".into()),
            Breakpoint::Step(3),
            Breakpoint::Error,
        ]);
        let mut run = RunDebug::default();
        assert_eq!(pass(&debugger, &mut run, model()).await, None);
        assert_eq!(pass(&debugger, &mut run, tool("demo__echo")).await, None);
        assert!(pass(&debugger, &mut run, model()).await.is_some(), "step 3");
        assert!(
            pass(&debugger, &mut run, tool("files__read"))
                .await
                .is_some()
        );
        let error = PauseAt::Error {
            message: "boom".into(),
            last_result: None,
        };
        assert!(pass(&debugger, &mut run, error).await.is_some());
        debugger.set_breakpoints(vec![Breakpoint::Model]);
        assert!(pass(&debugger, &mut run, model()).await.is_some());
        let seen: Vec<PauseReason> = script
            .seen
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, reason)| reason.clone())
            .collect();
        assert_eq!(
            seen,
            vec![
                PauseReason::Breakpoint(Breakpoint::Step(3)),
                PauseReason::Breakpoint(Breakpoint::Tool("files__*".into())),
                PauseReason::Breakpoint(Breakpoint::Error),
                PauseReason::Breakpoint(Breakpoint::Model),
            ]
        );
    }
}
