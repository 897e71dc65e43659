//! Orchestrator mode: the model writes a plan (`plan.rs`), each phase's tasks run as parallel
//! sub-agents — each with its own history, step budget, tool scope and trace branch — and the
//! results of a phase are handed to the next. A failed task is reported and the rest of the
//! work may be re-planned once; a final request writes the report the user reads.
//!
//! The trace is a tree: turn → plan → phase → sub-agent → its model requests and tool calls.
//! Sub-agents share the turn's cancellation (cancelling stops all of them, and their running
//! tool calls are cancelled at their servers), its approver (their prompts queue in one place)
//! and the session's usage meter, which reserves each request before it is sent so parallel
//! sub-agents cannot race past a limit together.

pub mod plan;

use std::collections::VecDeque;

use futures::StreamExt;

use super::ask::{Reply, ask_model};
use super::prompt;
use super::turn::{
    CallRecord, LoopEnd, LoopScope, ToolProtocol, TurnContext, TurnRecord, finish_turn_step,
    last_user_text, run_loop,
};
use crate::llm::{ChatMessage, ChatRequest};
use crate::protocol::{AgentEvent, AgentNotice};
use crate::protocol::{
    AgentMode, StepBody, StepId, StepStatus, TraceStep, TurnOutcome, UsageTotals,
};
use crate::runtime::catalog::Catalog;
use crate::text::truncate_chars;
use plan::{Phase, Plan, Task, parse_plan, planner_prompt};

/// How much of one sub-agent's answer the next phases and the report see.
const MAX_RESULT_CHARS: usize = 20_000;

/// How a planning or report request ended the turn early.
struct Ended {
    answer: String,
    outcome: TurnOutcome,
}

/// What one sub-task came to.
#[derive(Debug, Clone)]
struct TaskResult {
    phase: usize,
    goal: String,
    /// The sub-agent's answer, or why there is none.
    answer: Result<String, String>,
}

/// What a phase's sub-agents did together.
struct PhaseEnd {
    results: Vec<TaskResult>,
    /// Text when a sub-agent's provider rejected tools (the session keeps to text then).
    protocol: Option<ToolProtocol>,
    usage: UsageTotals,
    calls: Vec<CallRecord>,
    cancelled: bool,
}

/// Runs one orchestrated turn to its end.
pub async fn run_orchestration(
    ctx: &TurnContext,
    history: Vec<ChatMessage>,
    text: String,
    max_parallel: usize,
) -> TurnRecord {
    let mut turn_step = ctx
        .tracer
        .begin(
            None,
            StepBody::Turn {
                user_text: text.clone(),
                mode: AgentMode::Orchestrator,
                outcome: None,
            },
        )
        .await;
    let mut conversation = history;
    conversation.push(ChatMessage::user(text.clone()));
    let mut run = Run {
        ctx,
        turn_step: turn_step.id,
        usage: ctx.usage().new_turn(),
        calls: Vec::new(),
        max_parallel: max_parallel.max(1),
        protocol: ctx.protocol,
    };
    let (answer, outcome) = run.orchestrate(&conversation).await;
    let mut messages = vec![ChatMessage::user(text)];
    if !answer.is_empty() {
        messages.push(ChatMessage::assistant(answer.clone()));
    }
    finish_turn_step(ctx, &mut turn_step, &outcome, run.usage).await;
    TurnRecord {
        messages,
        answer,
        outcome,
        usage: run.usage,
        calls: run.calls,
        protocol: run.protocol,
    }
}

struct Run<'a> {
    ctx: &'a TurnContext,
    turn_step: StepId,
    usage: UsageTotals,
    calls: Vec<CallRecord>,
    max_parallel: usize,
    protocol: ToolProtocol,
}

impl Run<'_> {
    async fn orchestrate(&mut self, conversation: &[ChatMessage]) -> (String, TurnOutcome) {
        let catalog = self.ctx.runtime.catalog();
        let (plan, plan_step) = match self.plan(conversation.to_vec(), &catalog).await {
            Ok(planned) => planned,
            Err(end) => return (end.answer, end.outcome),
        };
        let mut phases: VecDeque<Phase> = plan.phases.into();
        let mut results: Vec<TaskResult> = Vec::new();
        let mut replanned = false;
        let mut plan_step = plan_step;
        let mut phase_index = 0;
        while let Some(phase) = phases.pop_front() {
            let end = self
                .run_phase(plan_step, phase_index, &phase, conversation, &results)
                .await;
            self.add_usage(end.usage);
            self.calls.extend(end.calls);
            if let Some(protocol) = end.protocol {
                self.protocol = protocol;
            }
            if end.cancelled {
                return (String::new(), TurnOutcome::Cancelled);
            }
            let failed: Vec<TaskResult> = end
                .results
                .iter()
                .filter(|result| result.answer.is_err())
                .cloned()
                .collect();
            results.extend(end.results);
            phase_index += 1;
            if !failed.is_empty() && !replanned {
                // One chance to work around what failed: the model re-plans the rest.
                replanned = true;
                let mut request = conversation.to_vec();
                request.push(ChatMessage::user(replan_request(
                    &results, &failed, &phases,
                )));
                match self.plan(request, &catalog).await {
                    Ok((plan, step)) => {
                        phases = plan.phases.into();
                        plan_step = step;
                    }
                    Err(end) if end.outcome == TurnOutcome::Cancelled => {
                        return (end.answer, end.outcome);
                    }
                    // No usable new plan: carry on with the old one; the report says what failed.
                    Err(_) => {}
                }
            }
        }
        self.report(conversation, &results).await
    }

    fn add_usage(&mut self, usage: UsageTotals) {
        self.usage.requests += usage.requests;
        self.usage.input_tokens += usage.input_tokens;
        self.usage.output_tokens += usage.output_tokens;
        if let Some(cost) = usage.cost {
            self.usage.cost = Some(self.usage.cost.unwrap_or(0.0) + cost);
        }
    }

    /// The planning request, retried once with the model told what was wrong. Returns the
    /// plan and its step (the phases' parent), or how the turn ends.
    async fn plan(
        &mut self,
        mut messages: Vec<ChatMessage>,
        catalog: &Catalog,
    ) -> Result<(Plan, StepId), Ended> {
        let mut last_error = String::new();
        for attempt in 1..=2 {
            let mut step = self
                .ctx
                .tracer
                .begin(
                    Some(self.turn_step),
                    StepBody::Plan {
                        attempt,
                        plan: None,
                        error: None,
                    },
                )
                .await;
            let request = ChatRequest {
                system: Some(planner_prompt(catalog)),
                messages: messages.clone(),
                ..ChatRequest::default()
            };
            let reply = match self.ask(step.id, request).await {
                Ok(reply) => reply,
                Err(end) => {
                    let status = match end.outcome {
                        TurnOutcome::Cancelled => StepStatus::Cancelled,
                        _ => StepStatus::Error,
                    };
                    self.ctx.tracer.finish(&mut step, status).await;
                    return Err(end);
                }
            };
            match parse_plan(&reply, catalog) {
                Ok(plan) => {
                    step.body = StepBody::Plan {
                        attempt,
                        plan: serde_json::to_value(&plan).ok(),
                        error: None,
                    };
                    self.ctx.tracer.finish(&mut step, StepStatus::Ok).await;
                    self.ctx
                        .emit(AgentEvent::Notice(AgentNotice::Planned {
                            summary: plan_summary(&plan),
                        }))
                        .await;
                    return Ok((plan, step.id));
                }
                Err(error) => {
                    step.body = StepBody::Plan {
                        attempt,
                        plan: None,
                        error: Some(error.clone()),
                    };
                    self.ctx.tracer.finish(&mut step, StepStatus::Error).await;
                    messages.push(ChatMessage::assistant(reply));
                    messages.push(ChatMessage::user(format!(
                        "{error} Write the whole plan again."
                    )));
                    last_error = error;
                }
            }
        }
        Err(Ended {
            answer: String::new(),
            outcome: TurnOutcome::Failed(format!(
                "the model's plan could not be used after 2 attempts: {last_error}"
            )),
        })
    }

    /// One model request without tools under `parent`, reserved against the limits; its text,
    /// or how the turn ends.
    async fn ask(&mut self, parent: StepId, request: ChatRequest) -> Result<String, Ended> {
        if let Err(limit) = self.ctx.usage().reserve() {
            return Err(Ended {
                answer: String::new(),
                outcome: TurnOutcome::Limit(limit),
            });
        }
        // A plan is JSON for the orchestrator, not prose for the chat.
        let mut quiet = self.ctx.clone();
        quiet.stream_text = false;
        let (streamed, _) = ask_model(&quiet, parent, request, &mut self.usage).await;
        match streamed.reply {
            Reply::Done { text, .. } => Ok(text),
            Reply::Cancelled { partial } => Err(Ended {
                answer: partial,
                outcome: TurnOutcome::Cancelled,
            }),
            Reply::Failed { message, .. } => Err(Ended {
                answer: String::new(),
                outcome: TurnOutcome::Failed(message),
            }),
        }
    }

    /// Runs a phase's tasks as sub-agents, at most `max_parallel` at once; results in task
    /// order.
    async fn run_phase(
        &self,
        plan_step: StepId,
        index: usize,
        phase: &Phase,
        conversation: &[ChatMessage],
        earlier: &[TaskResult],
    ) -> PhaseEnd {
        let mut step = self
            .ctx
            .tracer
            .begin(
                Some(plan_step),
                StepBody::Phase {
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                    name: phase.name.clone(),
                },
            )
            .await;
        let briefing = briefing(conversation, earlier);
        // Each sub-agent owns what it uses, so the futures can run side by side on this task.
        let phase_step = step.id;
        let sub_agents: Vec<_> = phase
            .tasks
            .iter()
            .cloned()
            .enumerate()
            .map(|(task_index, task)| {
                let mut ctx = self.ctx.clone();
                // A provider that rejected tools in an earlier phase would reject them again:
                // every later sub-agent starts with the text protocol at once.
                ctx.protocol = self.protocol;
                let briefing = briefing.clone();
                async move { run_sub_agent(&ctx, phase_step, task_index, &task, &briefing).await }
            })
            .collect();
        let ends: Vec<SubAgentEnd> = futures::stream::iter(sub_agents)
            .buffered(self.max_parallel)
            .collect()
            .await;
        let mut end = PhaseEnd {
            results: Vec::new(),
            protocol: None,
            usage: UsageTotals::default(),
            calls: Vec::new(),
            cancelled: false,
        };
        for sub in ends {
            if sub.protocol != self.protocol {
                end.protocol = Some(sub.protocol);
            }
            end.cancelled |= sub.outcome == TurnOutcome::Cancelled;
            end.usage.requests += sub.usage.requests;
            end.usage.input_tokens += sub.usage.input_tokens;
            end.usage.output_tokens += sub.usage.output_tokens;
            if let Some(cost) = sub.usage.cost {
                end.usage.cost = Some(end.usage.cost.unwrap_or(0.0) + cost);
            }
            end.calls.extend(sub.calls);
            end.results.push(TaskResult {
                phase: index,
                goal: sub.goal,
                answer: match sub.outcome {
                    TurnOutcome::Answered => Ok(sub.answer),
                    TurnOutcome::Cancelled => Err("cancelled".to_owned()),
                    TurnOutcome::Limit(reason) | TurnOutcome::Failed(reason) => Err(reason),
                },
            });
        }
        let status = if end.cancelled {
            StepStatus::Cancelled
        } else if end.results.iter().any(|result| result.answer.is_err()) {
            StepStatus::Error
        } else {
            StepStatus::Ok
        };
        self.ctx.tracer.finish(&mut step, status).await;
        end
    }

    /// The final request: the model writes the answer from every sub-agent's result, streamed
    /// to the chat like any answer.
    async fn report(
        &mut self,
        conversation: &[ChatMessage],
        results: &[TaskResult],
    ) -> (String, TurnOutcome) {
        let mut messages = conversation.to_vec();
        messages.push(ChatMessage::user(format!(
            "The work on my request above was done by several agents. Their results:\n\n{}\n\n\
             Write the final answer to my request from these results. Say plainly which parts \
             failed, if any.",
            results_text(results)
        )));
        let request = ChatRequest {
            system: Some(self.ctx.system_prompt.clone()),
            messages,
            ..ChatRequest::default()
        };
        let mut report_ctx = self.ctx.clone();
        report_ctx.stream_text = true;
        if let Err(limit) = report_ctx.usage().reserve() {
            return (String::new(), TurnOutcome::Limit(limit));
        }
        let (streamed, _) = ask_model(&report_ctx, self.turn_step, request, &mut self.usage).await;
        match streamed.reply {
            Reply::Done { text, .. } => (text, TurnOutcome::Answered),
            Reply::Cancelled { partial } => (partial, TurnOutcome::Cancelled),
            Reply::Failed { message, .. } => (String::new(), TurnOutcome::Failed(message)),
        }
    }
}

/// What one sub-agent came to.
struct SubAgentEnd {
    goal: String,
    protocol: ToolProtocol,
    answer: String,
    outcome: TurnOutcome,
    usage: UsageTotals,
    calls: Vec<CallRecord>,
}

/// One sub-agent: its own history (the briefing and its goal), the tools its task allows, the
/// configured step budget, and a trace branch under its phase.
async fn run_sub_agent(
    ctx: &TurnContext,
    phase_step: StepId,
    index: usize,
    task: &Task,
    briefing: &str,
) -> SubAgentEnd {
    let mut step: TraceStep = ctx
        .tracer
        .begin(
            Some(phase_step),
            StepBody::SubAgent {
                index: u32::try_from(index).unwrap_or(u32::MAX),
                goal: task.goal.clone(),
                tools: task.tools.clone(),
                answer: None,
            },
        )
        .await;
    let mut sub_ctx = ctx.clone();
    sub_ctx.stream_text = false;
    sub_ctx.system_prompt = prompt::system_prompt(AgentMode::Orchestrator);
    let scope = LoopScope {
        parent: step.id,
        tools: (!task.tools.is_empty()).then(|| task.tools.clone()),
    };
    let mut messages = vec![ChatMessage::user(format!(
        "{briefing}\n\nYour task: {}",
        task.goal
    ))];
    let mut usage = ctx.usage().new_turn();
    let mut calls = Vec::new();
    let LoopEnd {
        answer,
        outcome,
        protocol,
    } = run_loop(&sub_ctx, &scope, &mut messages, &mut usage, &mut calls).await;
    if let StepBody::SubAgent { answer: slot, .. } = &mut step.body {
        *slot = Some(answer.clone());
    }
    step.tokens = Some(crate::llm::Usage {
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
    });
    step.cost_usd = usage.cost;
    ctx.tracer
        .finish(&mut step, StepStatus::of_outcome(&outcome))
        .await;
    SubAgentEnd {
        goal: task.goal.clone(),
        protocol,
        answer,
        outcome,
        usage,
        calls,
    }
}

/// "phase 1 gather: 3 tasks · phase 2 sum up: 1 task", for the chat.
fn plan_summary(plan: &Plan) -> String {
    plan.phases
        .iter()
        .enumerate()
        .map(|(i, phase)| {
            let tasks = crate::text::plural(phase.tasks.len(), "task", "tasks");
            if phase.name.is_empty() {
                format!("phase {}: {tasks}", i + 1)
            } else {
                format!(
                    "phase {} {}: {tasks}",
                    i + 1,
                    truncate_chars(&phase.name, 40)
                )
            }
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// What every sub-agent is told: the user's request and the results of the earlier phases.
fn briefing(conversation: &[ChatMessage], earlier: &[TaskResult]) -> String {
    let request = last_user_text(conversation);
    let mut text =
        format!("You are one agent of a team working on this request from the user:\n\n{request}");
    if !earlier.is_empty() {
        text.push_str("\n\nResults of the earlier phases:\n\n");
        text.push_str(&results_text(earlier));
    }
    text
}

fn results_text(results: &[TaskResult]) -> String {
    results
        .iter()
        .map(|result| match &result.answer {
            Ok(answer) => format!(
                "Phase {} · {}\nResult: {}",
                result.phase + 1,
                result.goal,
                truncate_chars(answer, MAX_RESULT_CHARS)
            ),
            Err(reason) => format!(
                "Phase {} · {}\nFAILED: {reason}",
                result.phase + 1,
                result.goal
            ),
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Asks for a new plan for the rest of the work after sub-tasks failed.
fn replan_request(
    results: &[TaskResult],
    failed: &[TaskResult],
    remaining: &VecDeque<Phase>,
) -> String {
    let remaining = serde_json::to_string(&Plan {
        phases: remaining.iter().cloned().collect(),
    })
    .unwrap_or_default();
    format!(
        "Some tasks of the plan failed:\n\n{}\n\nWhat was done so far:\n\n{}\n\nThe phases not \
         run yet were: {remaining}\n\nWrite a new plan for the rest of the work, working \
         around what failed (in the same JSON shape).",
        results_text(failed),
        results_text(results)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(phase: usize, goal: &str, answer: Result<&str, &str>) -> TaskResult {
        TaskResult {
            phase,
            goal: goal.to_owned(),
            answer: answer.map(str::to_owned).map_err(str::to_owned),
        }
    }

    #[test]
    fn sub_agents_are_briefed_with_the_request_and_earlier_results() {
        let conversation = vec![
            ChatMessage::user("an old question"),
            ChatMessage::assistant("an old answer"),
            ChatMessage::user("compare the weather in Oslo and Rome"),
        ];
        let text = briefing(
            &conversation,
            &[
                result(0, "weather in Oslo", Ok("4 °C")),
                result(0, "weather in Rome", Err("the server is down")),
            ],
        );
        assert!(text.contains("compare the weather in Oslo and Rome"));
        assert!(!text.contains("an old question"));
        assert!(text.contains("Phase 1 · weather in Oslo\nResult: 4 °C"));
        assert!(text.contains("Phase 1 · weather in Rome\nFAILED: the server is down"));
    }

    #[test]
    fn a_replan_request_names_the_failures_and_the_remaining_phases() {
        let failed = [result(0, "fetch", Err("timed out"))];
        let remaining: VecDeque<Phase> = vec![Phase {
            name: "sum up".into(),
            tasks: vec![Task {
                goal: "write it".into(),
                tools: Vec::new(),
            }],
        }]
        .into();
        let text = replan_request(&failed, &failed, &remaining);
        assert!(text.contains("FAILED: timed out"));
        assert!(text.contains("\"goal\":\"write it\""));
    }
}
