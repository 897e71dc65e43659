//! Where a replay's tool calls and approval prompts go: [`RecordedTools`] answers each call
//! with its recorded result, [`LiveTools`] (`--live`) sends it to the real servers and notes
//! the first result that differs from the recording, and [`RecordedApprover`] answers each
//! prompt with the recorded decision. A replayed call finds its recording by its place in the
//! run (`Recording::call`), and must call the tool the recording called there.

use std::sync::{Arc, Mutex, PoisonError};

use futures::future::BoxFuture;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject};

use super::recording::{RecordedCall, RecordedResult, replayed_call};
use crate::agent::tool_call::text_for_model;
use crate::agent::tool_runner::ToolRunner;
use crate::agent::turn::Approver;
use crate::protocol::{CallOutcome, Decision, ProposedCall, StepId, ToolCallId, TurnId};
use crate::redact::Secrets;
use crate::runtime::catalog::ToolEntry;
use crate::runtime::request::RequestError;
use crate::runtime::server::{CallError, CallOptions};
use crate::runtime::{RuntimeError, RuntimeHandle};

/// The first tool call of a replay that is not what the recording has.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// The recorded `tool_result` step (`None` when nothing was recorded for the call).
    pub step: Option<StepId>,
    /// The call's id in the recording (the replay's own, when the recording has no call here).
    pub call: ToolCallId,
    pub tool: String,
    pub recorded: String,
    pub replayed: String,
}

#[derive(Default)]
pub(super) struct FirstDifference(Mutex<Option<Difference>>);

impl FirstDifference {
    fn note(&self, difference: Difference) {
        let mut first = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if first.is_none() {
            *first = Some(difference);
        }
    }

    pub(super) fn get(&self) -> Option<Difference> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The recording's call at the replay's call `replayed`, if it called the same tool.
fn matching<'a>(
    calls: &'a [RecordedCall],
    replayed: ToolCallId,
    entry: &ToolEntry,
) -> Result<&'a RecordedCall, Difference> {
    match replayed_call(calls, replayed) {
        Some(recorded) if recorded.qualified_name == entry.qualified_name => Ok(recorded),
        other => Err(Difference {
            step: None,
            call: other.map_or(replayed, |recorded| recorded.call),
            tool: entry.qualified_name.clone(),
            recorded: other.map_or_else(
                || "(nothing)".to_owned(),
                |recorded| format!("a call to {}", recorded.qualified_name),
            ),
            replayed: format!("a call to {}", entry.qualified_name),
        }),
    }
}

/// Tool calls answered from the recording.
pub(super) struct RecordedTools {
    pub(super) calls: Arc<Vec<RecordedCall>>,
    pub(super) differences: Arc<FirstDifference>,
}

impl ToolRunner for RecordedTools {
    fn call(
        &self,
        call: ToolCallId,
        entry: &ToolEntry,
        _arguments: JsonObject,
        _options: CallOptions,
    ) -> BoxFuture<'static, Result<CallToolResult, RuntimeError>> {
        let recorded =
            matching(&self.calls, call, entry).and_then(|recorded| match &recorded.result {
                Some(result) => Ok(Some(result)),
                None if recorded.cancelled => Ok(None),
                None => Err(Difference {
                    step: None,
                    call: recorded.call,
                    tool: entry.qualified_name.clone(),
                    recorded: "(nothing)".to_owned(),
                    replayed: "the recording has no result for this call".to_owned(),
                }),
            });
        let answer = match recorded {
            Ok(Some(result)) => recorded_answer(result, entry),
            Ok(None) => Err(cancelled(entry)),
            Err(difference) => {
                self.differences.note(difference);
                Ok(CallToolResult::error(vec![ContentBlock::text(
                    "the recording has no result for this call",
                )]))
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
        return Err(cancelled(entry));
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

/// How a call cancelled at its server ends (the turn then ends cancelled, as it did).
fn cancelled(entry: &ToolEntry) -> RuntimeError {
    RuntimeError::Call(CallError::Request {
        server: entry.server.clone(),
        error: RequestError::Cancelled {
            method: "tools/call",
        },
    })
}

/// Tool calls sent to the real servers, each result compared with the recorded one (after
/// the same scrubbing the recording had).
pub(super) struct LiveTools {
    pub(super) runtime: RuntimeHandle,
    pub(super) calls: Arc<Vec<RecordedCall>>,
    pub(super) secrets: Secrets,
    pub(super) differences: Arc<FirstDifference>,
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
        let recorded = matching(&self.calls, call, entry)
            .map(|recorded| (recorded.call, recorded.result.clone()));
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
            match recorded {
                Err(difference) => differences.note(difference),
                Ok((recorded_call, result)) => {
                    let same = result.as_ref().is_some_and(|recorded| {
                        recorded.content == text && recorded.is_error() == is_error
                    });
                    if !same {
                        differences.note(Difference {
                            step: result.as_ref().map(|r| r.step),
                            call: recorded_call,
                            tool: entry.qualified_name.clone(),
                            recorded: result
                                .as_ref()
                                .map_or_else(|| "(nothing)".to_owned(), describe_recorded),
                            replayed: describe(&text, is_error),
                        });
                    }
                }
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
pub(super) struct RecordedApprover {
    pub(super) calls: Arc<Vec<RecordedCall>>,
}

impl Approver for RecordedApprover {
    fn ask(
        &self,
        _turn: TurnId,
        call: ProposedCall,
        _index: usize,
        _total: usize,
    ) -> BoxFuture<'static, Decision> {
        let decision = replayed_call(&self.calls, call.id)
            .filter(|recorded| recorded.qualified_name == call.qualified_name)
            .and_then(|recorded| recorded.decision.clone())
            .unwrap_or(Decision::Approve);
        Box::pin(async move { decision })
    }
}
