//! Re-running a recorded run (`mcpomni replay`): the agent's own turn loop runs again, but
//! the model is [`ReplayProvider`] (the recorded replies, in order) and tool calls go to
//! [`RecordedTools`] (the recorded results, by call id) — or, with `--live`, to the real
//! servers through [`LiveTools`], which notes the first result that differs from the
//! recording. Approval prompts are answered with the recorded decisions ([`RecordedApprover`]),
//! so denied and edited calls replay as they happened.
//!
//! Limits: a reply recorded as cancelled replays as a finished reply with its partial text,
//! and a turn stopped by a request or token limit replays until its recorded replies run out.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::recording::{RecordedReply, RecordedResult, RecordedTurn, Recording};
use crate::agent::debugger::Debugger;
use crate::agent::policy::ApprovalPolicy;
use crate::agent::prompt;
use crate::agent::tool_call::text_for_model;
use crate::agent::tool_runner::ToolRunner;
use crate::agent::trace::Tracer;
use crate::agent::turn::{Approver, ToolProtocol, TurnContext, TurnRecord, run_turn};
use crate::agent::usage::UsageMeter;
use crate::config::ApprovalConfig;
use crate::llm::{ChatRequest, LlmError, LlmProvider, StreamEvent};
use crate::protocol::{
    AgentEvent, AgentMode, CallOutcome, Decision, IdSource, ProposedCall, StepId, ToolCallId,
    TurnId,
};
use crate::redact::Secrets;
use crate::runtime::catalog::ToolEntry;
use crate::runtime::request::RequestError;
use crate::runtime::server::{CallError, CallOptions};
use crate::runtime::{RuntimeError, RuntimeHandle};

/// How long a replayed call may take when nothing is recorded about the config.
const OFFLINE_CALL_TIMEOUT: Duration = Duration::from_secs(60);

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
            Some(RecordedReply {
                error: Some(error), ..
            }) => vec![Err(LlmError::Config {
                message: format!("the recorded request failed: {error}"),
            })],
            Some(reply) => {
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
        };
        futures::stream::iter(events).boxed()
    }
}

/// The first tool result of a replay that is not what the recording has.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// The recorded `tool_result` step (`None` when nothing was recorded for the call).
    pub step: Option<StepId>,
    pub call: ToolCallId,
    pub tool: String,
    pub recorded: String,
    pub replayed: String,
}

#[derive(Default)]
struct FirstDifference(Mutex<Option<Difference>>);

impl FirstDifference {
    fn note(&self, difference: Difference) {
        let mut first = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if first.is_none() {
            *first = Some(difference);
        }
    }

    fn get(&self) -> Option<Difference> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Tool calls answered from the recording, by call id.
pub struct RecordedTools {
    results: HashMap<ToolCallId, RecordedResult>,
    differences: Arc<FirstDifference>,
}

impl ToolRunner for RecordedTools {
    fn call(
        &self,
        call: ToolCallId,
        entry: &ToolEntry,
        _arguments: JsonObject,
        _options: CallOptions,
    ) -> BoxFuture<'static, Result<CallToolResult, RuntimeError>> {
        let answer = match self.results.get(&call) {
            Some(recorded) => recorded_answer(recorded, entry),
            None => {
                let text = "the recording has no result for this call".to_owned();
                self.differences.note(Difference {
                    step: None,
                    call,
                    tool: entry.qualified_name.clone(),
                    recorded: "(nothing)".to_owned(),
                    replayed: text.clone(),
                });
                Ok(CallToolResult::error(vec![ContentBlock::text(text)]))
            }
        };
        Box::pin(async move { answer })
    }
}

fn recorded_answer(
    recorded: &RecordedResult,
    entry: &ToolEntry,
) -> Result<CallToolResult, RuntimeError> {
    if recorded.outcome == CallOutcome::Cancelled {
        return Err(RuntimeError::Call(CallError::Request {
            server: entry.server.clone(),
            error: RequestError::Cancelled {
                method: "tools/call",
            },
        }));
    }
    let content = if recorded.content.is_empty() {
        Vec::new()
    } else {
        vec![ContentBlock::text(recorded.content.clone())]
    };
    let mut result = if recorded.is_error() {
        CallToolResult::error(content)
    } else {
        CallToolResult::success(content)
    };
    result.structured_content = recorded.structured.clone();
    Ok(result)
}

/// Tool calls sent to the real servers, each result compared with the recorded one (after
/// the same scrubbing the recording had).
pub struct LiveTools {
    runtime: RuntimeHandle,
    results: Arc<HashMap<ToolCallId, RecordedResult>>,
    secrets: Secrets,
    differences: Arc<FirstDifference>,
}

impl ToolRunner for LiveTools {
    fn call(
        &self,
        call: ToolCallId,
        entry: &ToolEntry,
        arguments: JsonObject,
        options: CallOptions,
    ) -> BoxFuture<'static, Result<CallToolResult, RuntimeError>> {
        let runtime = self.runtime.clone();
        let results = self.results.clone();
        let secrets = self.secrets.clone();
        let differences = self.differences.clone();
        let entry = entry.clone();
        Box::pin(async move {
            let live = runtime
                .call_tool_with(entry.server.as_str(), &entry.name, arguments, options)
                .await;
            let (text, is_error) = match &live {
                Ok(result) => (text_for_model(result), result.is_error.unwrap_or(false)),
                Err(error) => (error.to_string(), true),
            };
            let text = secrets.scrub_owned(text);
            let recorded = results.get(&call);
            let same = recorded.is_some_and(|recorded| {
                recorded.content == text && recorded.is_error() == is_error
            });
            if !same {
                differences.note(Difference {
                    step: recorded.map(|r| r.step),
                    call,
                    tool: entry.qualified_name.clone(),
                    recorded: recorded.map_or_else(|| "(nothing)".to_owned(), describe_recorded),
                    replayed: describe(&text, is_error),
                });
            }
            live
        })
    }
}

fn describe_recorded(recorded: &RecordedResult) -> String {
    describe(&recorded.content, recorded.is_error())
}

fn describe(text: &str, is_error: bool) -> String {
    if is_error {
        format!("error: {text}")
    } else {
        text.to_owned()
    }
}

/// Answers approval prompts with the recorded decisions (approve when none was recorded: the
/// call ran by policy then).
pub struct RecordedApprover {
    decisions: HashMap<ToolCallId, Decision>,
}

impl Approver for RecordedApprover {
    fn ask(
        &self,
        _turn: TurnId,
        call: ProposedCall,
        _index: usize,
        _total: usize,
    ) -> BoxFuture<'static, Decision> {
        let decision = self
            .decisions
            .get(&call.id)
            .cloned()
            .unwrap_or(Decision::Approve);
        Box::pin(async move { decision })
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
    /// The first tool result that differed from the recording.
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
    let (runtime, runner): (RuntimeHandle, Arc<dyn ToolRunner>) = match tools {
        Tools::Recorded => (
            RuntimeHandle::offline(recording.catalog.clone(), OFFLINE_CALL_TIMEOUT),
            Arc::new(RecordedTools {
                results: recording.results.clone(),
                differences: differences.clone(),
            }),
        ),
        Tools::Live { runtime, secrets } => (
            runtime.clone(),
            Arc::new(LiveTools {
                runtime,
                results: Arc::new(recording.results.clone()),
                secrets,
                differences: differences.clone(),
            }),
        ),
    };
    let ids = Arc::new(IdSource::default());
    // Limits were the recording's business: its replies decide how far each turn goes.
    let usage = Arc::new(Mutex::new(UsageMeter::new(None, 0, 0)));
    // Every call is asked about, and answered as it was answered then.
    let policy = Arc::new(Mutex::new(ApprovalPolicy::new(ApprovalConfig::default())));
    let approver = Arc::new(RecordedApprover {
        decisions: recording.decisions.clone(),
    });
    let model = recording
        .model
        .clone()
        .unwrap_or_else(|| "recorded".to_owned());
    let mut history = Vec::new();
    let mut turns = Vec::new();
    for recorded in &recording.turns {
        let ctx = TurnContext {
            turn: recorded.turn,
            mode: AgentMode::Chat,
            provider: Arc::new(ReplayProvider::new(model.clone(), recorded.replies.clone())),
            runtime: runtime.clone(),
            tools: runner.clone(),
            events: events.clone(),
            tracer: Tracer::new(ids.clone(), events.clone(), Some(recorded.turn)),
            approver: approver.clone(),
            policy: policy.clone(),
            usage: usage.clone(),
            max_steps: u32::try_from(recorded.replies.len().max(1)).unwrap_or(u32::MAX),
            system_prompt: prompt::system_prompt(recorded.mode),
            cancel: cancel.clone(),
            stream_text: true,
            // Recorded replies are replayed as they came; a text-protocol run's actions are
            // not parsed again (not replayed yet).
            protocol: ToolProtocol::Native,
            fallback: false,
            debugger: Arc::new(Debugger::off()),
        };
        let record = run_turn(&ctx, history.clone(), recorded.user_text.clone()).await;
        history.extend(record.messages.iter().cloned());
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
    use crate::protocol::{StepBody, StepStatus, TraceStep, TurnOutcome};
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
        assert_eq!(recording.turns[0].answer(), Some("It said hi."));
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
    async fn the_model_running_out_of_recorded_replies_fails_the_turn_without_a_panic() {
        let provider = ReplayProvider::new("m".into(), Vec::new());
        let mut stream = provider.stream(ChatRequest::default());
        let first = stream.next().await.expect("one event");
        assert!(first.is_err());
        assert!(stream.next().await.is_none());
    }
}
