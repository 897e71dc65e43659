//! A saved trace seen as a run to replay: its turns in recorded order (forks among them), each
//! with the user's text and the model's replies in the order a replay asks for them
//! (`order.rs`); every tool call in that order with its recorded result and approval
//! decision; and a catalog of the tools the recording offered and called, so a replay offers
//! and finds them without any server.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::catalog::Tools;
use super::order::replay_order;
use super::read::Trace;
use crate::agent::orchestrator::plan::Plan;
use crate::agent::react_text::{self, Move};
use crate::agent::turn::ToolProtocol;
use crate::llm::{ChatMessage, ChatRequest, ToolCall, Usage};
use crate::protocol::{
    AgentMode, CallOutcome, Decision, StepBody, StepId, StepStatus, ToolCallId, TraceStep, TurnId,
    TurnOutcome,
};
use crate::runtime::catalog::Catalog;

/// One model reply as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedReply {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub stop_reason: Option<String>,
    /// Why the request failed, when it did.
    pub error: Option<String>,
    pub tokens: Option<Usage>,
    /// The step whose run asked for it: the turn, a sub-agent or a plan attempt.
    pub branch: Option<StepId>,
    /// The protocol its request was made under (text: the reply is `Thought:` / `Action:` /
    /// `Final Answer:` text).
    pub protocol: ToolProtocol,
    /// The request offered tool definitions.
    pub offered_tools: bool,
    /// The provider refused the request's tool definitions, and the run went on under the
    /// text protocol (`LLM.tool_calling: auto`).
    pub tools_rejected: bool,
}

/// A turn that re-ran an earlier model request (the dashboard's fork).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedFork {
    /// The recorded model request it re-ran.
    pub from: StepId,
    /// The conversation it started from (as its first request sent it).
    pub messages: Vec<ChatMessage>,
}

/// One turn as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedTurn {
    pub turn: TurnId,
    /// The turn's own step.
    pub step: StepId,
    pub user_text: String,
    pub mode: AgentMode,
    /// `None` when the recording stopped before the turn ended.
    pub outcome: Option<TurnOutcome>,
    pub replies: Vec<RecordedReply>,
    /// The protocol the turn started with.
    pub protocol: ToolProtocol,
    /// Set when the turn is a fork.
    pub fork: Option<RecordedFork>,
}

impl RecordedTurn {
    /// The final answer the recorded turn printed: its last own reply (not a sub-agent's or a
    /// plan's) — its `Final Answer:` under the text protocol, else its text.
    pub fn answer(&self) -> Option<String> {
        if self.outcome != Some(TurnOutcome::Answered) {
            return None;
        }
        let reply = self
            .replies
            .iter()
            .rev()
            .find(|reply| reply.branch.is_none_or(|branch| branch == self.step))?;
        if reply.error.is_some() {
            return None;
        }
        match reply.protocol {
            ToolProtocol::Text => match react_text::parse_reply(&reply.text) {
                Ok(Move::Final(answer)) => Some(answer),
                Ok(Move::Action { .. }) | Err(_) => None,
            },
            ToolProtocol::Native => reply.tool_calls.is_empty().then(|| reply.text.clone()),
        }
    }

    /// The most model requests one tool loop of the turn made (its own, or one sub-agent's):
    /// the step budget its replay needs. A request the provider refused for its tools is
    /// retried without using up a step, so it does not count.
    pub fn max_steps(&self) -> u32 {
        let mut per_branch: HashMap<Option<StepId>, u32> = HashMap::new();
        for reply in self.replies.iter().filter(|reply| !reply.tools_rejected) {
            *per_branch.entry(reply.branch).or_default() += 1;
        }
        per_branch.into_values().max().unwrap_or(0).max(1)
    }
}

/// What one tool call gave back in the recording.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedResult {
    /// The `tool_result` step (named when a live replay differs).
    pub step: StepId,
    pub outcome: CallOutcome,
    pub content: String,
    pub structured: Option<Value>,
}

impl RecordedResult {
    pub fn is_error(&self) -> bool {
        matches!(self.outcome, CallOutcome::Failed { .. })
    }
}

/// One tool call as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedCall {
    /// Its id in the recording.
    pub call: ToolCallId,
    pub qualified_name: String,
    /// `None` when it did not run (denied, cancelled before it ran).
    pub result: Option<RecordedResult>,
    /// The answer to its approval prompt, when there was one.
    pub decision: Option<Decision>,
    /// The turn was cancelled while the call ran: nothing came back.
    pub cancelled: bool,
}

/// Everything a replay needs from a trace.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    pub turns: Vec<RecordedTurn>,
    /// Every tool call, in the order a replay makes them (`order.rs`).
    pub calls: Vec<RecordedCall>,
    pub catalog: Catalog,
    /// `provider/model` of the recorded requests.
    pub model: Option<String>,
}

impl Recording {
    pub fn from_trace(trace: &Trace) -> Self {
        let mut reader = Reader {
            steps: trace.steps.iter().map(|step| (step.id, step)).collect(),
            recording: Recording::default(),
            calls: HashMap::new(),
            tools: Tools::default(),
            protocol_known: HashSet::new(),
        };
        for step in replay_order(&trace.steps) {
            reader.take(step);
        }
        reader.finish()
    }

    /// The recorded call that a replay's call `replayed` stands for. A replay hands out call
    /// ids from 1 in the order it makes the calls, which is the order of [`Recording::calls`]:
    /// the n-th call of the replay is the n-th call recorded. (The recorded ids themselves
    /// follow the order the calls happened in, which parallel sub-agents shuffle.)
    pub fn call(&self, replayed: ToolCallId) -> Option<&RecordedCall> {
        replayed_call(&self.calls, replayed)
    }
}

/// [`Recording::call`] over the recording's calls alone.
pub fn replayed_call(calls: &[RecordedCall], replayed: ToolCallId) -> Option<&RecordedCall> {
    let index = usize::try_from(replayed.0).ok()?.checked_sub(1)?;
    calls.get(index)
}

/// Reads a trace's steps in replay order into a [`Recording`].
struct Reader<'a> {
    steps: HashMap<StepId, &'a TraceStep>,
    recording: Recording,
    /// Where each recorded call id is in `recording.calls`.
    calls: HashMap<ToolCallId, usize>,
    tools: Tools,
    /// Turns whose protocol one of their requests told.
    protocol_known: HashSet<StepId>,
}

impl Reader<'_> {
    fn take(&mut self, step: &TraceStep) {
        match &step.body {
            StepBody::Turn {
                user_text,
                mode,
                outcome,
            } => {
                if let Some(turn) = step.turn {
                    self.recording.turns.push(RecordedTurn {
                        turn,
                        step: step.id,
                        user_text: user_text.clone(),
                        mode: *mode,
                        outcome: outcome.clone(),
                        replies: Vec::new(),
                        protocol: ToolProtocol::Native,
                        fork: None,
                    });
                }
            }
            StepBody::Fork { from } => {
                if let Some(turn) = self.turn_of(step) {
                    turn.fork = Some(RecordedFork {
                        from: *from,
                        messages: Vec::new(),
                    });
                }
            }
            StepBody::ModelRequest { model, request } => self.take_request(step, model, request),
            StepBody::ModelReply {
                text,
                tool_calls,
                stop_reason,
                error,
                ..
            } => {
                let request = step
                    .parent
                    .and_then(|parent| self.steps.get(&parent).copied())
                    .and_then(|parent| match &parent.body {
                        StepBody::ModelRequest { request, .. } => Some((parent, request.clone())),
                        _ => None,
                    });
                let branch = match &request {
                    Some((request_step, _)) => request_step.parent,
                    None => step.parent,
                };
                let protocol = match &request {
                    Some((_, request)) if react_text::is_text_request(request) => {
                        ToolProtocol::Text
                    }
                    _ => ToolProtocol::Native,
                };
                let offered_tools = request
                    .as_ref()
                    .is_some_and(|(_, request)| !request.tools.is_empty());
                let error = error.clone().or_else(|| {
                    (step.status == StepStatus::Error).then(|| "the request failed".to_owned())
                });
                // Replies to servers' sampling requests belong to no turn.
                let Some(turn) = self.turn_of(step) else {
                    return;
                };
                turn.replies.push(RecordedReply {
                    text: text.clone(),
                    tool_calls: tool_calls.clone(),
                    stop_reason: stop_reason.clone(),
                    error,
                    tokens: step.tokens,
                    branch,
                    protocol,
                    offered_tools,
                    tools_rejected: false,
                });
            }
            StepBody::ToolCall {
                call,
                server,
                tool,
                qualified_name,
                ..
            } => {
                self.calls.insert(*call, self.recording.calls.len());
                self.recording.calls.push(RecordedCall {
                    call: *call,
                    qualified_name: qualified_name.clone(),
                    result: None,
                    decision: None,
                    cancelled: step.status == StepStatus::Cancelled,
                });
                // A call refused as an unknown tool has no server: the replay refuses it too.
                if !server.is_empty() {
                    self.tools.called(server, tool, qualified_name);
                }
            }
            StepBody::Approval { call, decision } => {
                if let Some(&at) = self.calls.get(call) {
                    self.recording.calls[at].decision = Some(decision.clone());
                }
            }
            StepBody::ToolResult {
                call,
                outcome,
                content,
                structured,
            } => {
                if let Some(&at) = self.calls.get(call) {
                    self.recording.calls[at].result = Some(RecordedResult {
                        step: step.id,
                        outcome: outcome.clone(),
                        content: content.clone(),
                        structured: structured.clone(),
                    });
                }
            }
            StepBody::Plan {
                plan: Some(plan), ..
            } => {
                if let Ok(plan) = serde_json::from_value::<Plan>(plan.clone()) {
                    for task in plan.phases.iter().flat_map(|phase| &phase.tasks) {
                        self.tools.planned.extend(task.tools.iter().cloned());
                    }
                }
            }
            // Shown in the Trace pane; a replay makes its own.
            StepBody::Plan { plan: None, .. }
            | StepBody::Sampling { .. }
            | StepBody::Phase { .. }
            | StepBody::SubAgent { .. }
            | StepBody::Edit { .. }
            | StepBody::Retry { .. }
            | StepBody::Limit { .. }
            | StepBody::Error { .. }
            | StepBody::Unknown => {}
        }
    }

    fn take_request(&mut self, step: &TraceStep, model: &str, request: &ChatRequest) {
        if step.turn.is_none() {
            return;
        }
        if self.recording.model.is_none() {
            self.recording.model = Some(model.to_owned());
        }
        self.tools.offered(&request.tools);
        let Some(turn_step) = self.turn_of(step).map(|turn| turn.step) else {
            return;
        };
        let protocol = if react_text::is_text_request(request) {
            Some(ToolProtocol::Text)
        } else if !request.tools.is_empty() {
            Some(ToolProtocol::Native)
        } else {
            // A plan or a report: no tools either way.
            None
        };
        let first_known = protocol.is_some() && self.protocol_known.insert(turn_step);
        let Some(turn) = self.turn_of(step) else {
            return;
        };
        if let (true, Some(protocol)) = (first_known, protocol) {
            turn.protocol = protocol;
        }
        // A fork's first request of its own sent the conversation it started from.
        if let Some(fork) = &mut turn.fork
            && fork.messages.is_empty()
            && step.parent == Some(turn.step)
        {
            fork.messages = request.messages.clone();
        }
    }

    /// The recorded turn `step` belongs to.
    fn turn_of(&mut self, step: &TraceStep) -> Option<&mut RecordedTurn> {
        let turn = step.turn?;
        self.recording
            .turns
            .iter_mut()
            .rev()
            .find(|recorded| recorded.turn == turn)
    }

    fn finish(mut self) -> Recording {
        for turn in &mut self.recording.turns {
            mark_rejected_tools(&mut turn.replies);
            if let Some(fork) = &mut turn.fork
                && fork.messages.is_empty()
            {
                fork.messages = vec![ChatMessage::user(turn.user_text.clone())];
            }
        }
        self.recording.catalog.tools = self.tools.entries();
        self.recording
    }
}

/// A failed reply to a request with tool definitions, followed in its branch by a request
/// under the text protocol, is the provider refusing the tools: that is what made the run
/// switch (an error message alone does not say so reliably).
fn mark_rejected_tools(replies: &mut [RecordedReply]) {
    for at in 0..replies.len() {
        let reply = &replies[at];
        if reply.error.is_none() || !reply.offered_tools {
            continue;
        }
        let next = replies[at + 1..]
            .iter()
            .find(|later| later.branch == reply.branch);
        if next.is_some_and(|next| next.protocol == ToolProtocol::Text) {
            replies[at].tools_rejected = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::llm::ToolSpec;
    use serde_json::json;

    fn step(id: u64, parent: Option<u64>, body: StepBody) -> TraceStep {
        let mut step = TraceStep::begin(StepId(id), parent.map(StepId), Some(TurnId(1)), body);
        step.end(StepStatus::Ok);
        step
    }

    fn request(system: &str, tools: &[&str]) -> StepBody {
        StepBody::ModelRequest {
            model: "openai/gpt-4o".into(),
            request: Arc::new(ChatRequest {
                system: Some(system.into()),
                messages: vec![ChatMessage::user("echo hi")],
                tools: tools
                    .iter()
                    .map(|name| ToolSpec {
                        name: (*name).into(),
                        description: format!("{name} it"),
                        parameters: json!({"type": "object"}),
                    })
                    .collect(),
                ..ChatRequest::default()
            }),
        }
    }

    fn reply(text: &str, error: Option<&str>) -> StepBody {
        StepBody::ModelReply {
            text: text.into(),
            reasoning: None,
            tool_calls: Vec::new(),
            stop_reason: None,
            first_token_ms: None,
            error: error.map(str::to_owned),
        }
    }

    fn turn(mode: AgentMode) -> StepBody {
        StepBody::Turn {
            user_text: "echo hi".into(),
            mode,
            outcome: Some(TurnOutcome::Answered),
        }
    }

    fn read(steps: Vec<TraceStep>) -> Recording {
        Recording::from_trace(&Trace {
            steps,
            warning: None,
        })
    }

    #[test]
    fn a_switch_to_the_text_protocol_is_read_from_the_requests() {
        let text_system = format!("be brief\n\n{}", react_text::instructions(&[]));
        let recording = read(vec![
            step(1, None, turn(AgentMode::Chat)),
            step(2, Some(1), request("be brief", &["demo__echo"])),
            step(3, Some(2), reply("", Some("no tools here"))),
            step(4, Some(1), request(&text_system, &[])),
            step(5, Some(4), reply("Thought: done\nFinal Answer: hi", None)),
        ]);
        let turn = &recording.turns[0];
        assert_eq!(turn.protocol, ToolProtocol::Native, "it began natively");
        assert!(turn.replies[0].tools_rejected);
        assert_eq!(turn.replies[1].protocol, ToolProtocol::Text);
        assert_eq!(turn.answer().as_deref(), Some("hi"));
        assert_eq!(turn.max_steps(), 1, "the refused request used no step");
        let tool = recording
            .catalog
            .tool_by_qualified("demo__echo")
            .expect("the offered tool is in the catalog");
        assert_eq!((tool.server.as_str(), tool.name.as_str()), ("demo", "echo"));
        assert_eq!(tool.description, "demo__echo it");
    }

    #[test]
    fn an_orchestrated_turn_answers_with_its_report_and_knows_its_planned_tools() {
        let plan = json!({"phases": [{"name": "look", "tasks": [
            {"goal": "a", "tools": ["files__read"]}, {"goal": "b", "tools": ["web__*"]}
        ]}]});
        let recording = read(vec![
            step(1, None, turn(AgentMode::Orchestrator)),
            step(
                2,
                Some(1),
                StepBody::Plan {
                    attempt: 1,
                    plan: Some(plan),
                    error: None,
                },
            ),
            step(3, Some(2), request("plan it", &[])),
            step(4, Some(3), reply("{\"phases\": []}", None)),
            step(
                5,
                Some(2),
                StepBody::Phase {
                    index: 0,
                    name: "look".into(),
                },
            ),
            step(
                6,
                Some(5),
                StepBody::SubAgent {
                    index: 0,
                    goal: "a".into(),
                    tools: Vec::new(),
                    answer: None,
                },
            ),
            step(7, Some(6), request("work", &["files__read"])),
            step(8, Some(7), reply("read it", None)),
            step(9, Some(1), request("report", &[])),
            step(10, Some(9), reply("The report.", None)),
        ]);
        let turn = &recording.turns[0];
        assert_eq!(turn.answer().as_deref(), Some("The report."));
        assert_eq!(turn.replies.len(), 3);
        assert_eq!(turn.replies[1].branch, Some(StepId(6)));
        let names: Vec<&str> = recording
            .catalog
            .tools
            .iter()
            .map(|tool| tool.qualified_name.as_str())
            .collect();
        assert_eq!(names, vec!["files__read", "web__"]);
    }

    #[test]
    fn a_fork_starts_from_the_messages_of_its_first_request() {
        let recording = read(vec![
            step(1, None, turn(AgentMode::Chat)),
            step(2, Some(1), StepBody::Fork { from: StepId(40) }),
            step(3, Some(1), request("be brief", &["demo__echo"])),
            step(4, Some(3), reply("hi", None)),
        ]);
        let fork = recording.turns[0].fork.as_ref().expect("a fork");
        assert_eq!(fork.from, StepId(40));
        assert_eq!(fork.messages, vec![ChatMessage::user("echo hi")]);
    }
}
