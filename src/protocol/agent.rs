//! The agent's vocabulary: what a client (the dashboard, `mcpomni run`) asks the agent to do
//! ([`AgentCommand`], imperative) and what the agent reports ([`AgentEvent`], past tense),
//! with the plain data both carry. The runtime's own commands and events (servers, manual tool
//! calls) are in `runtime::messages`; nothing here touches a server or a terminal.

// rmcp marks sampling deprecated (SEP-2577); servers on 2025-11-25 and older use it.
#![allow(deprecated)]

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::JsonObject;
use serde::{Deserialize, Serialize};

use super::debug::{DebugCommand, Paused};
use super::ids::{ApprovalId, SamplingId, StepId, ToolCallId, TurnId};
use super::trace::TraceStep;
use crate::runtime::messages::ServerName;

/// How the agent treats tool calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentMode {
    /// Every tool call waits for the user's approval (unless the config or "always" allows it).
    Chat,
    /// Tool calls run without approval.
    Auto,
    /// The model writes a plan; each phase's sub-tasks run as parallel sub-agents (their tool
    /// calls are approved as in chat mode).
    Orchestrator,
}

impl AgentMode {
    pub const ALL: [AgentMode; 3] = [AgentMode::Chat, AgentMode::Auto, AgentMode::Orchestrator];

    pub fn label(self) -> &'static str {
        match self {
            AgentMode::Chat => "chat",
            AgentMode::Auto => "auto",
            AgentMode::Orchestrator => "orchestrator",
        }
    }

    /// The mode a word names (`chat`, `auto`, `orchestrator`).
    pub fn from_label(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|mode| mode.label() == word)
    }
}

/// A tool call the model asked for, as the approval prompt and the chat show it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProposedCall {
    pub id: ToolCallId,
    pub server: ServerName,
    /// The server's own tool name.
    pub tool: String,
    pub qualified_name: String,
    pub arguments: serde_json::Value,
    pub title: Option<String>,
    pub read_only: Option<bool>,
    pub destructive: Option<bool>,
    /// The tool's JSON Schema for its arguments (edited arguments are checked against it).
    pub input_schema: Arc<JsonObject>,
}

/// The user's answer to an approval prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Run it this once.
    Approve,
    /// Do not run it; the model is told it was denied.
    Deny,
    /// Run it, and run this tool without asking for the rest of the session (until its
    /// schema or description changes).
    Always,
    /// Run it with these arguments instead.
    Edited(JsonObject),
    /// Stop the whole turn.
    CancelTurn,
}

/// Who let a tool call run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovedBy {
    User,
    /// "Always allow" earlier in this session.
    Session,
    /// `auto_approve` or `auto_approve_read_only` in the config.
    Config,
    /// Auto mode.
    AutoMode,
    /// `mcpomni run --approve all`: nobody was asked.
    ApproveAllFlag,
}

impl ApprovedBy {
    /// How the chat, the trace and `mcpomni run` say it.
    pub fn describe(self) -> &'static str {
        match self {
            ApprovedBy::User => "approved by you",
            ApprovedBy::Session => "always allowed this session",
            ApprovedBy::Config => "allowed by the config",
            ApprovedBy::AutoMode => "auto mode",
            ApprovedBy::ApproveAllFlag => "approved by --approve all",
        }
    }

    /// The word `mcpomni run --json` uses.
    pub fn json_name(self) -> &'static str {
        match self {
            ApprovedBy::User => "user",
            ApprovedBy::Session => "session",
            ApprovedBy::Config => "config",
            ApprovedBy::AutoMode => "auto_mode",
            ApprovedBy::ApproveAllFlag => "approve_all_flag",
        }
    }
}

/// Tokens, requests and (with a price in the config) money.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageTotals {
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// US dollars, when the config has a price.
    pub cost: Option<f64>,
}

impl UsageTotals {
    pub fn tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// How a turn ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnOutcome {
    /// The model gave its final answer.
    Answered,
    Cancelled,
    /// A limit stopped it (which one, in words).
    Limit(String),
    Failed(String),
}

/// What became of one tool call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CallOutcome {
    /// It ran and the server returned a result; `summary` is its first line.
    Ok { summary: String },
    /// It ran and failed: an error result (`isError`) or a request error.
    Failed { error: String },
    /// The user denied it (or `--approve none` did): the server was not called.
    Denied,
    /// It could not run as the model made it (an unknown tool, arguments that are not an
    /// object): the model is told why.
    Refused { reason: String },
    /// The turn was cancelled before or while it ran.
    Cancelled,
    /// A step of a newer version this build does not know.
    #[serde(other)]
    Unknown,
}

impl CallOutcome {
    /// True when the call reached the server and succeeded.
    pub fn is_ok(&self) -> bool {
        matches!(self, CallOutcome::Ok { .. })
    }
}

/// A message from the agent for the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentNotice {
    /// A message was sent while a turn was still running.
    TurnBusy,
    /// `/clear` while a turn was running: nothing was cleared.
    ClearRefused,
    /// The conversation was forgotten.
    ConversationCleared,
    /// A server gave up on its sampling request while the model was answering it.
    SamplingAbandoned { server: ServerName },
    /// The orchestrator's plan was accepted (its phases and tasks, in words).
    Planned { summary: String },
    /// The provider rejected tool definitions (`reason` is its error), so the session now
    /// calls tools through the text protocol (`LLM.tool_calling: "auto"`).
    TextToolProtocol { reason: String },
}

impl AgentNotice {
    pub fn text(&self) -> String {
        match self {
            AgentNotice::TurnBusy => {
                "The previous answer is still coming: wait for it, or press Esc to cancel it."
                    .to_owned()
            }
            AgentNotice::ClearRefused => {
                "Not cleared: a turn is running. Press Esc to stop it, then /clear.".to_owned()
            }
            AgentNotice::ConversationCleared => {
                "The conversation was cleared; usage totals are kept.".to_owned()
            }
            AgentNotice::Planned { summary } => format!(
                "Plan: {summary}. Each phase's tasks run side by side as sub-agents; the Trace \
                 pane shows each of them."
            ),
            AgentNotice::SamplingAbandoned { server } => format!(
                "Server `{server}` stopped waiting for its sampling request; the LLM request \
                 was stopped."
            ),
            AgentNotice::TextToolProtocol { reason } => format!(
                "The model does not take tool definitions ({reason}); tools are offered as \
                 text (Thought / Action / Final Answer) for the rest of the session."
            ),
        }
    }
}

/// What a client asks the agent to do.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentCommand {
    /// A user message.
    StartTurn {
        turn: TurnId,
        text: String,
        mode: AgentMode,
    },
    /// Answer an approval prompt.
    Decide {
        approval: ApprovalId,
        decision: Decision,
    },
    CancelTurn {
        turn: TurnId,
    },
    /// Answer a server's sampling request: approve (with the request, possibly edited) or deny.
    DecideSampling {
        id: SamplingId,
        approved: Option<Box<rmcp::model::CreateMessageRequestParams>>,
    },
    /// Forget the conversation (the session's usage stays). Refused while a turn runs.
    ClearConversation,
    /// Step mode, breakpoints, and answers to pauses.
    Debug(DebugCommand),
    /// Run again from a past model request with these messages (edited or not): a new turn
    /// whose trace branch sits beside the old one, which is kept. The conversation goes on
    /// from the original branch.
    Fork {
        turn: TurnId,
        from: StepId,
        messages: Vec<crate::llm::ChatMessage>,
    },
    /// Sessions: list, resume, delete, start anew, save, load, compact.
    Session(super::session::SessionCommand),
}

/// What the agent did.
#[derive(Debug, Clone)]
pub enum AgentEvent {
    /// More of the model's answer.
    AssistantDelta {
        turn: TurnId,
        text: String,
    },
    /// A tool call waits for the user (`index` of `total` calls in this reply).
    ApprovalRequested {
        turn: TurnId,
        approval: ApprovalId,
        call: ProposedCall,
        index: usize,
        total: usize,
    },
    /// A tool call was sent to its server (with the arguments it got, edited or not).
    ToolCallStarted {
        turn: TurnId,
        call: ProposedCall,
        approved_by: ApprovedBy,
        /// The user changed the model's arguments before it ran.
        edited: bool,
    },
    /// A running call's progress went up (stale and out-of-order progress is not reported).
    ToolCallProgress {
        turn: TurnId,
        call: ToolCallId,
        progress: f64,
        total: Option<f64>,
        message: Option<String>,
    },
    /// A proposed call ended: ran (ok or error), was denied, refused or cancelled.
    ToolCallFinished {
        turn: TurnId,
        call: ToolCallId,
        qualified_name: String,
        outcome: CallOutcome,
        elapsed: Duration,
    },
    TurnFinished {
        turn: TurnId,
        outcome: TurnOutcome,
        turn_usage: UsageTotals,
        session_usage: UsageTotals,
    },
    /// A trace step began or changed (the newest version of the step with this id).
    Trace(Arc<TraceStep>),
    /// A server asks the user's LLM for a completion.
    SamplingRequested {
        id: SamplingId,
        server: ServerName,
        params: Box<rmcp::model::CreateMessageRequestParams>,
    },
    /// The server stopped waiting for a sampling request before the user answered it (its
    /// deadline passed, it cancelled, or it disconnected): the prompt is withdrawn.
    SamplingWithdrawn {
        id: SamplingId,
        server: ServerName,
    },
    Notice(AgentNotice),
    /// The answer to a session command, or the session's save state changing.
    Session(super::session::SessionEvent),
    /// The run paused in the debugger and waits for a `Debug(Resume)`.
    Paused(Box<Paused>),
    /// The session's usage changed outside a turn (a sampling request was answered).
    UsageChanged(UsageTotals),
    /// The conversation was fitted to the model's context for the next request: what that
    /// request is estimated to take (system prompt, tool definitions, history sent) and the
    /// window (`LLM.max_context_length`; `None` when it is not set).
    ContextMeasured {
        turn: TurnId,
        estimate: u64,
        window: Option<u64>,
    },
}
