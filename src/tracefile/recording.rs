//! A saved trace seen as a run to replay: its turns in recorded order, each with the user's
//! text and the model's replies in order; every tool call's recorded result and approval
//! decision (by call id); and a catalog of the tools the recording called, so a replay offers
//! and finds them without any server.

use std::collections::HashMap;
use std::sync::Arc;

use rmcp::model::JsonObject;
use serde_json::Value;

use super::read::Trace;
use crate::llm::{ToolCall, Usage};
use crate::protocol::{
    AgentMode, CallOutcome, Decision, StepBody, StepId, StepStatus, ToolCallId, TraceStep, TurnId,
    TurnOutcome,
};
use crate::runtime::catalog::{Catalog, ToolEntry};
use crate::runtime::messages::ServerName;

/// One model reply as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedReply {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub stop_reason: Option<String>,
    /// Why the request failed, when it did.
    pub error: Option<String>,
    pub tokens: Option<Usage>,
}

/// One turn as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedTurn {
    pub turn: TurnId,
    pub user_text: String,
    pub mode: AgentMode,
    /// `None` when the recording stopped before the turn ended.
    pub outcome: Option<TurnOutcome>,
    pub replies: Vec<RecordedReply>,
}

impl RecordedTurn {
    /// The final answer the recorded turn printed: its last reply without tool calls.
    pub fn answer(&self) -> Option<&str> {
        match self.outcome {
            Some(TurnOutcome::Answered) => self
                .replies
                .iter()
                .rev()
                .find(|reply| reply.tool_calls.is_empty() && reply.error.is_none())
                .map(|reply| reply.text.as_str()),
            _ => None,
        }
    }
}

/// What one tool call gave back in the recording.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedResult {
    /// The `tool_result` step (named when a live replay differs).
    pub step: StepId,
    pub qualified_name: String,
    pub outcome: CallOutcome,
    pub content: String,
    pub structured: Option<Value>,
}

impl RecordedResult {
    pub fn is_error(&self) -> bool {
        matches!(self.outcome, CallOutcome::Failed { .. })
    }
}

/// Everything a replay needs from a trace.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    pub turns: Vec<RecordedTurn>,
    pub results: HashMap<ToolCallId, RecordedResult>,
    pub decisions: HashMap<ToolCallId, Decision>,
    pub catalog: Catalog,
    /// `provider/model` of the recorded requests.
    pub model: Option<String>,
}

impl Recording {
    pub fn from_trace(trace: &Trace) -> Self {
        let mut recording = Recording::default();
        let mut names: HashMap<ToolCallId, String> = HashMap::new();
        let mut schemas: HashMap<String, (String, Value)> = HashMap::new();
        for step in &trace.steps {
            recording.take(step, &mut names, &mut schemas);
        }
        for (call, result) in &mut recording.results {
            if let Some(name) = names.get(call) {
                result.qualified_name = name.clone();
            }
        }
        for entry in &mut recording.catalog.tools {
            if let Some((description, Value::Object(schema))) = schemas.get(&entry.qualified_name) {
                entry.description = description.clone();
                entry.input_schema = Arc::new(schema.clone());
            }
        }
        recording
    }

    fn take(
        &mut self,
        step: &TraceStep,
        names: &mut HashMap<ToolCallId, String>,
        schemas: &mut HashMap<String, (String, Value)>,
    ) {
        match &step.body {
            StepBody::Turn {
                user_text,
                mode,
                outcome,
            } => {
                if let Some(turn) = step.turn {
                    self.turns.push(RecordedTurn {
                        turn,
                        user_text: user_text.clone(),
                        mode: *mode,
                        outcome: outcome.clone(),
                        replies: Vec::new(),
                    });
                }
            }
            StepBody::ModelRequest { model, request } => {
                if step.turn.is_some() && self.model.is_none() {
                    self.model = Some(model.clone());
                }
                for tool in &request.tools {
                    schemas
                        .entry(tool.name.clone())
                        .or_insert_with(|| (tool.description.clone(), tool.parameters.clone()));
                }
            }
            StepBody::ModelReply {
                text,
                tool_calls,
                stop_reason,
                error,
                ..
            } => {
                // Replies to servers' sampling requests belong to no turn.
                let Some(turn) = step.turn else { return };
                let Some(recorded) = self.turns.iter_mut().rev().find(|t| t.turn == turn) else {
                    return;
                };
                let error = error.clone().or_else(|| {
                    (step.status == StepStatus::Error).then(|| "the request failed".to_owned())
                });
                recorded.replies.push(RecordedReply {
                    text: text.clone(),
                    tool_calls: tool_calls.clone(),
                    stop_reason: stop_reason.clone(),
                    error,
                    tokens: step.tokens,
                });
            }
            StepBody::ToolCall {
                call,
                server,
                tool,
                qualified_name,
                ..
            } => {
                names.insert(*call, qualified_name.clone());
                // A call refused as an unknown tool has no server: the replay refuses it too.
                if !server.is_empty() && self.catalog.tool_by_qualified(qualified_name).is_none() {
                    self.catalog.tools.push(ToolEntry {
                        server: ServerName::new(server),
                        name: tool.clone(),
                        qualified_name: qualified_name.clone(),
                        title: None,
                        description: String::new(),
                        input_schema: Arc::new(JsonObject::new()),
                        output_schema: None,
                        annotations: None,
                    });
                }
            }
            StepBody::Approval { call, decision } => {
                self.decisions.insert(*call, decision.clone());
            }
            StepBody::ToolResult {
                call,
                outcome,
                content,
                structured,
            } => {
                self.results.insert(
                    *call,
                    RecordedResult {
                        step: step.id,
                        qualified_name: String::new(),
                        outcome: outcome.clone(),
                        content: content.clone(),
                        structured: structured.clone(),
                    },
                );
            }
            // Orchestrated runs and forks are shown but not replayed yet (see replay.rs).
            StepBody::Sampling { .. }
            | StepBody::Plan { .. }
            | StepBody::Phase { .. }
            | StepBody::SubAgent { .. }
            | StepBody::Edit { .. }
            | StepBody::Fork { .. }
            | StepBody::Retry { .. }
            | StepBody::Limit { .. }
            | StepBody::Error { .. }
            | StepBody::Unknown => {}
        }
    }
}
