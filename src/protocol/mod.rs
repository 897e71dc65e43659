//! The vocabulary shared by the agent and its clients (the dashboard and `mcpomni run`): ids,
//! the agent's commands and events, and typed trace steps. Plain data only — no IO, no
//! terminal — so both sides import it without depending on each other. The runtime's own
//! commands and events (servers, manual tool calls) live in `runtime::messages`.

pub mod agent;
pub mod debug;
pub mod ids;
pub mod session;
pub mod trace;

pub use agent::{
    AgentCommand, AgentEvent, AgentMode, AgentNotice, ApprovedBy, CallOutcome, Decision,
    ProposedCall, TurnOutcome, UsageTotals,
};
pub use ids::{ApprovalId, IdSource, SamplingId, StepId, ToolCallId, TurnId};
pub use trace::{CutMessage, StepBody, StepStatus, TraceStep};
