//! Re-running a recorded run (`mcpomni replay`): the agent's own code runs again — the tool
//! loop, the orchestrator, a fork — but the model is [`ReplayProvider`] (the recorded
//! replies, in order) and tool calls go to the recorded results — or, with `--live`, to the
//! real servers, noting the first result that differs from the recording
//! (`replay_tools.rs`). Approval prompts are answered with the recorded decisions, so denied
//! and edited calls replay as they happened.
//!
//! Each turn replays as it was recorded: a chat or auto turn through the tool loop, an
//! orchestrated one through the planner and its sub-agents, a fork from the conversation its
//! first request sent (and, like a fork in the dashboard, without adding to the conversation
//! of the turns after it). The tool protocol is the recorded one: a turn whose requests taught
//! the text protocol replays under it, its replies parsed again for `Action:` and
//! `Final Answer:`, and a request the provider refused for its tools is refused again, so an
//! `auto` run switches to text at the same step.
//!
//! Sub-agents replay one at a time. A recorded phase ran them at the same time, so their
//! requests reached the model in an order that depended on timing, and the recorded replies
//! interleave accordingly; one at a time, in plan order, is an order a replay can always
//! meet, and the recording is read in that order (`order.rs`). Matching replies to requests
//! by their content instead would break on the first request that differs (a `--live`
//! result, a catalog smaller than the recorded one); this keeps every branch on its own
//! replies whatever the replay's requests look like.
//!
//! Limits — what does not replay as it happened:
//! - sub-agents of a phase run one after another, so the replayed trace has their steps in
//!   sequence, and with `--live` slow calls take the sum of their times;
//! - a reply recorded as cancelled replays as a finished reply with its partial text;
//! - a turn stopped by a request or token limit, or by the user in the debugger, replays
//!   until its recorded replies run out;
//! - edits made in the debugger are not made again (offline the recorded results come back
//!   anyway; `--live` sends the model's own arguments), nor are servers' sampling requests;
//! - offline, the catalog holds only the tools the recording offered natively, called or
//!   named in a plan, so prompts listing tools (text protocol, planner) list fewer of them;
//! - a replayed fork's `fork` step names the recorded step it re-ran: the replay's own steps
//!   have ids of their own.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::recording::{RecordedReply, RecordedTurn, Recording};
pub use super::replay_tools::Difference;
use super::replay_tools::{FirstDifference, LiveTools, RecordedApprover, RecordedTools};
use crate::agent::debugger::Debugger;
use crate::agent::policy::ApprovalPolicy;
use crate::agent::prompt;
use crate::agent::run_turn_in_mode;
use crate::agent::tool_runner::ToolRunner;
use crate::agent::trace::Tracer;
use crate::agent::turn::{TurnContext, TurnRecord, run_fork};
use crate::agent::usage::UsageMeter;
use crate::config::ApprovalConfig;
use crate::llm::{ChatRequest, LlmError, LlmProvider, StreamEvent};
use crate::protocol::{AgentEvent, AgentMode, IdSource};
use crate::redact::Secrets;
use crate::runtime::RuntimeHandle;

/// How long a replayed call may take when nothing is recorded about the config.
const OFFLINE_CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Sub-agents replayed at once: one, in plan order (see the module comment).
const REPLAYED_PARALLEL_AGENTS: usize = 1;

/// The model, played back: each request gets the next recorded reply of the turn.
#[derive(Debug)]
pub struct ReplayProvider {
    model: String,
    replies: Mutex<VecDeque<RecordedReply>>,
}

impl ReplayProvider {
    pub fn new(model: String, replies: Vec<RecordedReply>) -> Self {
        Self {
            model,
            replies: Mutex::new(replies.into()),
        }
    }

    /// The error a recorded failure replays as.
    fn failure(&self, reply: &RecordedReply, error: &str) -> LlmError {
        if !reply.tools_rejected {
            return LlmError::Config {
                message: format!("the recorded request failed: {error}"),
            };
        }
        let (provider, model) = self
            .model
            .split_once('/')
            .unwrap_or(("recorded", self.model.as_str()));
        // The recorded text is this error's whole message; keep only the provider's part.
        let prefix = format!("{provider}/{model} does not accept tool definitions: ");
        LlmError::ToolsUnsupported {
            provider: provider.to_owned(),
            model: model.to_owned(),
            message: error.strip_prefix(&prefix).unwrap_or(error).to_owned(),
        }
    }
}

impl LlmProvider for ReplayProvider {
    fn describe(&self) -> String {
        format!("{} (replay)", self.model)
    }

    fn stream(&self, _request: ChatRequest) -> BoxStream<'static, Result<StreamEvent, LlmError>> {
        let next = self
            .replies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front();
        let events = match next {
            None => vec![Err(LlmError::Config {
                message: "the recording has no more model replies for this turn".to_owned(),
            })],
            Some(reply) => match &reply.error {
                Some(error) => vec![Err(self.failure(&reply, error))],
                None => {
                    let mut events = Vec::new();
                    if !reply.text.is_empty() {
                        events.push(Ok(StreamEvent::TextDelta(reply.text.clone())));
                    }
                    events.push(Ok(StreamEvent::Finished {
                        text: reply.text,
                        reasoning: None,
                        tool_calls: reply.tool_calls,
                        usage: reply.tokens,
                        stop_reason: reply.stop_reason,
                        provider_state: None,
                    }));
                    events
                }
            },
        };
        futures::stream::iter(events).boxed()
    }
}

/// Where a replay's tool calls go.
pub enum Tools {
    /// The recorded results; no server runs.
    Recorded,
    /// The real servers (`--live`); results are scrubbed with `secrets` before comparing.
    Live {
        runtime: RuntimeHandle,
        secrets: Secrets,
    },
}

/// One replayed turn beside its recording.
#[derive(Debug, Clone)]
pub struct ReplayedTurn {
    pub recorded: RecordedTurn,
    pub record: TurnRecord,
}

#[derive(Debug, Clone)]
pub struct Replay {
    pub turns: Vec<ReplayedTurn>,
    /// The first tool call that differed from the recording.
    pub difference: Option<Difference>,
}

/// Replays every recorded turn in order; agent events (tool calls, trace steps) go to
/// `events`.
pub async fn replay(
    recording: &Recording,
    tools: Tools,
    events: mpsc::Sender<AgentEvent>,
    cancel: CancellationToken,
) -> Replay {
    let differences = Arc::new(FirstDifference::default());
    let calls = Arc::new(recording.calls.clone());
    let (runtime, runner): (RuntimeHandle, Arc<dyn ToolRunner>) = match tools {
        Tools::Recorded => (
            RuntimeHandle::offline(recording.catalog.clone(), OFFLINE_CALL_TIMEOUT),
            Arc::new(RecordedTools {
                calls: calls.clone(),
                differences: differences.clone(),
            }),
        ),
        Tools::Live { runtime, secrets } => (
            runtime.clone(),
            Arc::new(LiveTools {
                runtime,
                calls: calls.clone(),
                secrets,
                differences: differences.clone(),
            }),
        ),
    };
    // One id source for the whole replay: its calls are numbered 1, 2, … in the order they
    // are made, which is how `Recording::call` finds each one's recording.
    let ids = Arc::new(IdSource::default());
    // Limits were the recording's business: its replies decide how far each turn goes.
    let usage = Arc::new(Mutex::new(UsageMeter::new(None, 0, 0)));
    // Every call is asked about, and answered as it was answered then.
    let policy = Arc::new(Mutex::new(ApprovalPolicy::new(ApprovalConfig::default())));
    let approver = Arc::new(RecordedApprover { calls });
    let model = recording
        .model
        .clone()
        .unwrap_or_else(|| "recorded".to_owned());
    let mut history = Vec::new();
    let mut turns = Vec::new();
    for recorded in &recording.turns {
        let mode = match recorded.mode {
            AgentMode::Orchestrator => AgentMode::Orchestrator,
            // Auto mode would run calls without asking: chat mode asks, and the recorded
            // approver answers as the recording did.
            AgentMode::Chat | AgentMode::Auto => AgentMode::Chat,
        };
        let ctx = TurnContext {
            turn: recorded.turn,
            mode,
            provider: Arc::new(ReplayProvider::new(model.clone(), recorded.replies.clone())),
            runtime: runtime.clone(),
            tools: runner.clone(),
            events: events.clone(),
            tracer: Tracer::new(ids.clone(), events.clone(), Some(recorded.turn)),
            approver: approver.clone(),
            policy: policy.clone(),
            usage: usage.clone(),
            max_steps: recorded.max_steps(),
            system_prompt: prompt::system_prompt(recorded.mode),
            cancel: cancel.clone(),
            stream_text: true,
            protocol: recorded.protocol,
            // Only a reply recorded as a refusal of the tools makes the switch.
            fallback: true,
            debugger: Arc::new(Debugger::off()),
        };
        let record = match &recorded.fork {
            Some(fork) => run_fork(&ctx, fork.from, fork.messages.clone()).await,
            None => {
                let text = recorded.user_text.clone();
                let record =
                    run_turn_in_mode(&ctx, history.clone(), text, REPLAYED_PARALLEL_AGENTS).await;
                history.extend(record.messages.iter().cloned());
                record
            }
        };
        let stop = cancel.is_cancelled();
        turns.push(ReplayedTurn {
            recorded: recorded.clone(),
            record,
        });
        if stop {
            break;
        }
    }
    Replay {
        turns,
        difference: differences.get(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ToolCall;
    use crate::protocol::{
        CallOutcome, Decision, StepBody, StepId, StepStatus, ToolCallId, TraceStep, TurnId,
        TurnOutcome,
    };
    use crate::tracefile::Trace;
    use serde_json::json;

    fn step(id: u64, parent: Option<u64>, body: StepBody) -> TraceStep {
        let mut step = TraceStep::begin(StepId(id), parent.map(StepId), Some(TurnId(1)), body);
        step.end(StepStatus::Ok);
        step
    }

    fn reply(text: &str, calls: &[(&str, &str)]) -> StepBody {
        StepBody::ModelReply {
            text: text.into(),
            reasoning: None,
            tool_calls: calls
                .iter()
                .map(|(id, name)| ToolCall {
                    id: (*id).into(),
                    name: (*name).into(),
                    arguments: json!({"message": "hi"}),
                })
                .collect(),
            stop_reason: None,
            first_token_ms: None,
            error: None,
        }
    }

    fn call(call: u64, tool: &str) -> StepBody {
        StepBody::ToolCall {
            call: ToolCallId(call),
            server: "demo".into(),
            tool: tool.into(),
            qualified_name: format!("demo__{tool}"),
            arguments: json!({"message": "hi"}),
            approved_by: None,
            model_arguments: None,
        }
    }

    /// A chat-mode turn: the model calls echo (approved) and delete (denied), then answers.
    fn recorded() -> Recording {
        let steps = vec![
            step(
                1,
                None,
                StepBody::Turn {
                    user_text: "echo hi".into(),
                    mode: AgentMode::Chat,
                    outcome: Some(TurnOutcome::Answered),
                },
            ),
            step(
                3,
                Some(1),
                reply("", &[("a", "demo__echo"), ("b", "demo__delete")]),
            ),
            step(4, Some(3), call(1, "echo")),
            step(
                5,
                Some(4),
                StepBody::ToolResult {
                    call: ToolCallId(1),
                    outcome: CallOutcome::Ok {
                        summary: "hi".into(),
                    },
                    content: "hi".into(),
                    structured: None,
                },
            ),
            step(6, Some(3), call(2, "delete")),
            step(
                7,
                Some(6),
                StepBody::Approval {
                    call: ToolCallId(2),
                    decision: Decision::Deny,
                },
            ),
            step(9, Some(1), reply("It said hi.", &[])),
        ];
        Recording::from_trace(&Trace {
            steps,
            warning: None,
        })
    }

    #[tokio::test]
    async fn a_recorded_turn_replays_to_its_answer_with_its_decisions() {
        let recording = recorded();
        assert_eq!(recording.turns.len(), 1);
        assert_eq!(recording.turns[0].answer().as_deref(), Some("It said hi."));
        let (events, mut seen) = mpsc::channel(256);
        let replayed = replay(
            &recording,
            Tools::Recorded,
            events,
            CancellationToken::new(),
        )
        .await;
        assert_eq!(replayed.difference, None);
        let record = &replayed.turns[0].record;
        assert_eq!(record.outcome, TurnOutcome::Answered);
        assert_eq!(record.answer, "It said hi.");
        assert_eq!(record.calls.len(), 2);
        assert_eq!(record.calls[0].outcome, Ok("hi".to_owned()));
        assert!(record.calls[1].denied, "denied again, as recorded");
        let mut traced = 0;
        while let Ok(event) = seen.try_recv() {
            traced += usize::from(matches!(event, AgentEvent::Trace(_)));
        }
        assert!(traced > 0, "the replay is traced like a run");
    }

    #[tokio::test]
    async fn a_call_cancelled_while_it_ran_cancels_the_replayed_turn_again() {
        let mut turn = step(
            1,
            None,
            StepBody::Turn {
                user_text: "echo hi".into(),
                mode: AgentMode::Chat,
                outcome: Some(TurnOutcome::Cancelled),
            },
        );
        turn.status = StepStatus::Cancelled;
        let mut cancelled = step(3, Some(2), call(1, "echo"));
        cancelled.status = StepStatus::Cancelled;
        let recording = Recording::from_trace(&Trace {
            steps: vec![
                turn,
                step(2, Some(1), reply("", &[("a", "demo__echo")])),
                cancelled,
            ],
            warning: None,
        });
        let (events, _seen) = mpsc::channel(256);
        let replayed = replay(
            &recording,
            Tools::Recorded,
            events,
            CancellationToken::new(),
        )
        .await;
        assert_eq!(replayed.difference, None);
        assert_eq!(replayed.turns[0].record.outcome, TurnOutcome::Cancelled);
    }

    #[tokio::test]
    async fn a_refusal_of_the_tools_replays_as_one() {
        let refused = RecordedReply {
            text: String::new(),
            tool_calls: Vec::new(),
            stop_reason: None,
            error: Some(
                "openai/gpt-4o does not accept tool definitions: model does not support tools"
                    .into(),
            ),
            tokens: None,
            branch: None,
            protocol: crate::agent::turn::ToolProtocol::Native,
            offered_tools: true,
            tools_rejected: true,
        };
        let provider = ReplayProvider::new("openai/gpt-4o".into(), vec![refused]);
        let mut stream = provider.stream(ChatRequest::default());
        match stream.next().await {
            Some(Err(error @ LlmError::ToolsUnsupported { .. })) => assert_eq!(
                error.to_string(),
                "openai/gpt-4o does not accept tool definitions: model does not support tools"
            ),
            other => panic!("expected a refusal of the tools, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_model_running_out_of_recorded_replies_fails_the_turn_without_a_panic() {
        let provider = ReplayProvider::new("m".into(), Vec::new());
        let mut stream = provider.stream(ChatRequest::default());
        let first = stream.next().await.expect("one event");
        assert!(first.is_err());
        assert!(stream.next().await.is_none());
    }
}
