//! Typed trace steps: what an agent run did, as a tree (a turn → its model requests → each
//! reply → the tool calls it asked for → their approvals and results), with times, tokens,
//! cost and a structured payload — the exact model request and reply, tool arguments and
//! results. The Trace pane renders them; saved runs are one JSON object per line.
//!
//! Forward compatibility: every line carries the format version `v`; fields added later are
//! optional (`#[serde(default)]`), unknown fields are ignored, and a step or outcome kind this
//! build does not know reads as `Unknown` instead of failing the whole file.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::agent::{AgentMode, ApprovedBy, CallOutcome, Decision, TurnOutcome};
use super::ids::{StepId, ToolCallId, TurnId};
use crate::llm::{ChatRequest, ToolCall, Usage};

/// The format version written into every step.
pub const TRACE_FORMAT_VERSION: u32 = 1;

fn format_version() -> u32 {
    TRACE_FORMAT_VERSION
}

/// One step of an agent run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceStep {
    #[serde(default = "format_version")]
    pub v: u32,
    pub id: StepId,
    /// The step this one belongs to (`None` for a turn or a server's sampling request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<StepId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<TurnId>,
    /// Wall-clock milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// `None` while the step runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_ms: Option<u64>,
    #[serde(default)]
    pub status: StepStatus,
    /// Tokens the step used, where the provider said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<Usage>,
    /// US dollars, where the config has a price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// What kind of step, and its payload (`"kind"` names the variant).
    #[serde(flatten)]
    pub body: StepBody,
}

/// Where a step is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    #[default]
    Running,
    Ok,
    Error,
    Cancelled,
    Denied,
    #[serde(other)]
    Unknown,
}

/// The kind of a step and what it carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepBody {
    /// One user message and everything done to answer it.
    Turn {
        user_text: String,
        mode: AgentMode,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outcome: Option<TurnOutcome>,
    },
    /// A request to the model: exactly what was sent (the provider's keys are never part of
    /// it). Shared, because a long conversation is large and the step is cloned per update.
    ModelRequest {
        /// `provider/model` as the status bar shows it.
        model: String,
        request: Arc<ChatRequest>,
    },
    /// What the model answered to its parent request.
    ModelReply {
        text: String,
        /// The model's reasoning ("thinking") text, where the provider sends it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reasoning: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stop_reason: Option<String>,
        /// Milliseconds from sending the request to the first piece of the reply.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        first_token_ms: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// One tool call the model asked for, with the arguments it runs with.
    ToolCall {
        call: ToolCallId,
        server: String,
        tool: String,
        qualified_name: String,
        arguments: serde_json::Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        approved_by: Option<ApprovedBy>,
        /// The model's own arguments, when the user edited them before the call ran.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model_arguments: Option<serde_json::Value>,
    },
    /// The user's answer to the call's approval prompt.
    Approval {
        call: ToolCallId,
        decision: Decision,
    },
    /// What came back from the server (or why nothing did).
    ToolResult {
        call: ToolCallId,
        outcome: CallOutcome,
        /// The result's text as the model sees it.
        #[serde(default)]
        content: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        structured: Option<serde_json::Value>,
    },
    /// A server's `sampling/createMessage` request and what became of it.
    Sampling {
        server: String,
        request: serde_json::Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply: Option<String>,
    },
    /// The orchestrator's planning request and the plan it got (`plan` once it was read;
    /// `error` says what was wrong with the reply).
    Plan {
        attempt: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plan: Option<serde_json::Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// One phase of the plan: its sub-agents are its children.
    Phase {
        index: u32,
        #[serde(default)]
        name: String,
    },
    /// A sub-agent working on one task; its model requests and tool calls are its children.
    SubAgent {
        index: u32,
        goal: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tools: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer: Option<String>,
    },
    /// A change the user made in the debugger to what ran next.
    Edit {
        /// `tool_arguments`, `last_tool_result` or `messages`.
        target: String,
        before: serde_json::Value,
        after: serde_json::Value,
    },
    /// This turn re-runs an earlier run from its model request `from`.
    Fork {
        from: StepId,
    },
    /// An attempt at its parent model request failed (429, 5xx, a dropped connection) and is
    /// tried again after `wait_ms`.
    Retry {
        attempt: u32,
        max_retries: u32,
        wait_ms: u64,
        reason: String,
    },
    /// A limit stopped the run.
    Limit {
        reason: String,
    },
    Error {
        message: String,
    },
    /// A step kind from a newer version.
    #[serde(other)]
    Unknown,
}

impl StepStatus {
    /// How a run that ended with `outcome` is marked.
    pub fn of_outcome(outcome: &TurnOutcome) -> Self {
        match outcome {
            TurnOutcome::Answered => StepStatus::Ok,
            TurnOutcome::Cancelled => StepStatus::Cancelled,
            TurnOutcome::Limit(_) | TurnOutcome::Failed(_) => StepStatus::Error,
        }
    }
}

impl StepBody {
    /// The `kind` word a saved line carries.
    pub fn kind(&self) -> &'static str {
        match self {
            StepBody::Turn { .. } => "turn",
            StepBody::ModelRequest { .. } => "model_request",
            StepBody::ModelReply { .. } => "model_reply",
            StepBody::ToolCall { .. } => "tool_call",
            StepBody::Approval { .. } => "approval",
            StepBody::ToolResult { .. } => "tool_result",
            StepBody::Sampling { .. } => "sampling",
            StepBody::Plan { .. } => "plan",
            StepBody::Phase { .. } => "phase",
            StepBody::SubAgent { .. } => "sub_agent",
            StepBody::Edit { .. } => "edit",
            StepBody::Fork { .. } => "fork",
            StepBody::Retry { .. } => "retry",
            StepBody::Limit { .. } => "limit",
            StepBody::Error { .. } => "error",
            StepBody::Unknown => "unknown",
        }
    }
}

impl TraceStep {
    /// A step that starts now.
    pub fn begin(id: StepId, parent: Option<StepId>, turn: Option<TurnId>, body: StepBody) -> Self {
        Self {
            v: TRACE_FORMAT_VERSION,
            id,
            parent,
            turn,
            started_ms: now_ms(),
            ended_ms: None,
            status: StepStatus::Running,
            tokens: None,
            cost_usd: None,
            body,
        }
    }

    /// Marks the step ended now with `status`.
    pub fn end(&mut self, status: StepStatus) {
        self.ended_ms = Some(now_ms().max(self.started_ms));
        self.status = status;
    }

    /// How long it took (or has taken so far, `None` while running).
    pub fn duration(&self) -> Option<Duration> {
        self.ended_ms
            .map(|end| Duration::from_millis(end.saturating_sub(self.started_ms)))
    }

    /// One line of JSON (no newline inside), for a saved trace.
    pub fn to_json_line(&self) -> String {
        // Serialising plain data with string keys cannot fail; an empty object keeps the
        // line count right if it ever did.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    pub fn from_json_line(line: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(line)
    }
}

/// The wall clock in milliseconds since the Unix epoch, as steps record times.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ChatMessage;
    use serde_json::json;

    fn request_step() -> TraceStep {
        let mut step = TraceStep::begin(
            StepId(2),
            Some(StepId(1)),
            Some(TurnId(1)),
            StepBody::ModelRequest {
                model: "openai/gpt-4o".into(),
                request: Arc::new(ChatRequest {
                    system: Some("be brief".into()),
                    messages: vec![ChatMessage::user("add 2 and 40")],
                    ..ChatRequest::default()
                }),
            },
        );
        step.tokens = Some(Usage {
            input_tokens: 12,
            output_tokens: 3,
        });
        step.end(StepStatus::Ok);
        step
    }

    #[test]
    fn a_step_round_trips_through_one_json_line() {
        let step = request_step();
        let line = step.to_json_line();
        assert!(!line.contains('\n'));
        assert!(line.contains(r#""kind":"model_request""#), "{line}");
        assert!(line.contains(r#""v":1"#), "{line}");
        assert_eq!(TraceStep::from_json_line(&line).expect("parses"), step);
    }

    #[test]
    fn every_kind_round_trips() {
        let bodies = vec![
            StepBody::Turn {
                user_text: "hi".into(),
                mode: AgentMode::Chat,
                outcome: Some(TurnOutcome::Limit("max_steps".into())),
            },
            StepBody::ModelReply {
                text: "ok".into(),
                tool_calls: vec![ToolCall {
                    id: "c1".into(),
                    name: "demo__add".into(),
                    arguments: json!({"a": 1}),
                }],
                reasoning: Some("The user wants a sum.".into()),
                stop_reason: Some("tool_calls".into()),
                first_token_ms: Some(40),
                error: None,
            },
            StepBody::ToolCall {
                call: ToolCallId(3),
                server: "demo".into(),
                tool: "add".into(),
                qualified_name: "demo__add".into(),
                arguments: json!({"a": 1}),
                approved_by: Some(ApprovedBy::User),
                model_arguments: Some(json!({"a": 2})),
            },
            StepBody::Approval {
                call: ToolCallId(3),
                decision: Decision::Edited(serde_json::Map::from_iter([(
                    "a".to_owned(),
                    json!(1),
                )])),
            },
            StepBody::ToolResult {
                call: ToolCallId(3),
                outcome: CallOutcome::Failed {
                    error: "boom".into(),
                },
                content: "boom".into(),
                structured: Some(json!({"x": 1})),
            },
            StepBody::Sampling {
                server: "demo".into(),
                request: json!({"messages": []}),
                reply: Some("hello".into()),
            },
            StepBody::Retry {
                attempt: 1,
                max_retries: 3,
                wait_ms: 1000,
                reason: "HTTP 429: slow down".into(),
            },
            StepBody::Limit {
                reason: "tokens".into(),
            },
            StepBody::Error {
                message: "HTTP 500".into(),
            },
        ];
        for body in bodies {
            let step = TraceStep::begin(StepId(9), None, None, body);
            let line = step.to_json_line();
            assert_eq!(
                TraceStep::from_json_line(&line).expect("parses"),
                step,
                "{line}"
            );
        }
    }

    #[test]
    fn a_line_from_a_newer_version_still_reads() {
        let line = r#"{"v":7,"id":5,"parent":1,"started_ms":10,"status":"paused",
            "kind":"checkpoint","snapshot":{"x":1},"new_field":true}"#;
        let step = TraceStep::from_json_line(line).expect("parses");
        assert_eq!(step.v, 7);
        assert_eq!(step.id, StepId(5));
        assert_eq!(step.parent, Some(StepId(1)));
        assert_eq!(step.status, StepStatus::Unknown);
        assert_eq!(step.body, StepBody::Unknown);

        let result = r#"{"id":6,"started_ms":10,"kind":"tool_result","call":2,
            "outcome":{"status":"retried_elsewhere","where":"x"}}"#;
        let step = TraceStep::from_json_line(result).expect("parses");
        assert_eq!(step.v, TRACE_FORMAT_VERSION, "a missing version is today's");
        match step.body {
            StepBody::ToolResult { outcome, .. } => assert_eq!(outcome, CallOutcome::Unknown),
            other => panic!("expected a tool result, got {other:?}"),
        }
    }

    #[test]
    fn durations_come_from_the_recorded_times() {
        let mut step = TraceStep::begin(StepId(1), None, None, StepBody::Unknown);
        assert_eq!(step.duration(), None);
        step.started_ms = 1_000;
        step.ended_ms = Some(1_250);
        assert_eq!(step.duration(), Some(Duration::from_millis(250)));
    }
}
