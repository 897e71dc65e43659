//! What the Trace pane says about each typed step: a one-line title (what happened, how it
//! ended, how long it took, tokens and cost) and a detail (the request, the reply's text and
//! calls, the arguments, the result). Worked out once per step version by the reducer, never
//! per frame. Details are capped so one huge reply or result cannot flood the pane; the chat
//! and the call view keep the whole text.

use serde_json::Value;

use crate::agent::usage::{compact, dollars};
use crate::llm::ChatMessage;
use crate::protocol::{CallOutcome, Decision, StepBody, StepStatus, TraceStep, TurnOutcome};
use crate::text::{human_duration, plural, sanitize, sanitize_line, truncate_chars};

/// Lines of a reply's text or a tool result shown in a step's detail.
const EXCERPT_LINES: usize = 12;
/// Characters of one argument object shown in a title.
const ARGUMENT_CHARS: usize = 120;

pub fn title(step: &TraceStep) -> String {
    // A call's arguments go last: a title cut at the pane's edge keeps its time.
    let mut arguments_shown = None;
    let what = match &step.body {
        StepBody::Turn {
            user_text, outcome, ..
        } => {
            let ask = truncate_chars(&sanitize_line(user_text), 60);
            // The number is what the filter's `turn:N` takes.
            let turn = step
                .turn
                .map(|t| format!("turn {t}"))
                .unwrap_or("turn".into());
            match outcome {
                Some(outcome) => format!("{turn} “{ask}” · {}", outcome_words(outcome)),
                None => format!("{turn} “{ask}”"),
            }
        }
        StepBody::ModelRequest { model, request } => {
            // A request restored from a session kept only its newest message.
            let messages = match crate::agent::session_steps::elided_messages(request) {
                Some(earlier) => format!(
                    "{} (newest stored)",
                    plural(request.messages.len() + earlier, "message", "messages")
                ),
                None => plural(request.messages.len(), "message", "messages"),
            };
            format!(
                "ask {} · {messages}, {}",
                sanitize_line(model),
                plural(request.tools.len(), "tool", "tools")
            )
        }
        StepBody::ModelReply {
            tool_calls,
            error,
            first_token_ms,
            ..
        } => {
            let mut words = match (error, tool_calls.len()) {
                (Some(error), _) => format!("reply failed: {}", sanitize_line(error)),
                (None, 0) => "reply · final answer".to_owned(),
                (None, 1) => "reply · 1 tool call".to_owned(),
                (None, n) => format!("reply · {n} tool calls"),
            };
            if let Some(ms) = first_token_ms {
                words.push_str(&format!(" · first token {}", human_ms(*ms)));
            }
            words
        }
        StepBody::ToolCall {
            qualified_name,
            arguments,
            approved_by,
            model_arguments,
            ..
        } => {
            let mut words = format!("tool {}", sanitize_line(qualified_name));
            arguments_shown = Some(one_line(arguments, ARGUMENT_CHARS));
            if let Some(by) = approved_by {
                words.push_str(&format!(" · {}", by.describe()));
            }
            if model_arguments.is_some() {
                words.push_str(" · edited");
            }
            words
        }
        StepBody::Approval { decision, .. } => format!("approval: {}", decision_words(decision)),
        StepBody::ToolResult { outcome, .. } => match outcome {
            CallOutcome::Ok { summary } => format!("result: ok · {}", sanitize_line(summary)),
            CallOutcome::Failed { error } => format!("result: error · {}", sanitize_line(error)),
            CallOutcome::Denied => "result: denied, not run".to_owned(),
            CallOutcome::Refused { reason } => format!("not run: {}", sanitize_line(reason)),
            CallOutcome::Cancelled => "result: cancelled".to_owned(),
            CallOutcome::Unknown => "result".to_owned(),
        },
        StepBody::Sampling { server, .. } => {
            format!("sampling request from {}", sanitize_line(server))
        }
        StepBody::Plan {
            attempt,
            plan,
            error,
        } => match (plan, error) {
            (_, Some(error)) => {
                format!("plan (attempt {attempt}) refused: {}", sanitize_line(error))
            }
            (Some(plan), None) => format!("plan · {}", plan_size(plan)),
            (None, None) => format!("planning (attempt {attempt})"),
        },
        StepBody::Phase { index, name } if name.is_empty() => format!("phase {}", index + 1),
        StepBody::Phase { index, name } => {
            format!(
                "phase {} · {}",
                index + 1,
                truncate_chars(&sanitize_line(name), 60)
            )
        }
        StepBody::SubAgent { index, goal, .. } => format!(
            "sub-agent {} · {}",
            index + 1,
            truncate_chars(&sanitize_line(goal), 80)
        ),
        StepBody::Edit { target, .. } => format!("edit: {}", target.replace('_', " ")),
        StepBody::Fork { from } => format!("fork of step {from}"),
        StepBody::Retry {
            attempt,
            max_retries,
            wait_ms,
            reason,
        } => format!(
            "retry {attempt}/{max_retries} in {} · {}",
            human_ms(*wait_ms),
            sanitize_line(reason)
        ),
        StepBody::Context {
            estimate,
            window,
            dropped_messages,
            dropped_tokens,
            cut,
            ..
        } => {
            let mut what = vec!["context:".to_owned()];
            if *dropped_messages > 0 {
                what.push(format!(
                    "dropped {} ({} tokens)",
                    plural(
                        usize::try_from(*dropped_messages).unwrap_or(usize::MAX),
                        "message",
                        "messages"
                    ),
                    compact(*dropped_tokens)
                ));
            }
            if !cut.is_empty() {
                let taken: u64 = cut.iter().map(|c| c.tokens).sum();
                what.push(format!(
                    "cut {} ({} tokens)",
                    plural(cut.len(), "message", "messages"),
                    compact(taken)
                ));
            }
            let size = match window {
                Some(window) => format!("{}/{} tokens", compact(*estimate), compact(*window)),
                None => format!("{} tokens", compact(*estimate)),
            };
            format!("{} · {size}", what.join(" "))
        }
        StepBody::Limit { reason } => format!("limit: {}", sanitize_line(reason)),
        StepBody::Error { message } => format!("error: {}", sanitize_line(message)),
        StepBody::Unknown => "a step of a newer mcpomni".to_owned(),
    };
    let mut parts = vec![what];
    match step.duration() {
        Some(took) => parts.push(human_duration(took)),
        None if step.status == StepStatus::Running => parts.push("running…".to_owned()),
        None => {}
    }
    if let Some(tokens) = &step.tokens {
        parts.push(format!(
            "{} in / {} out tokens",
            compact(tokens.input_tokens),
            compact(tokens.output_tokens)
        ));
    }
    if let Some(cost) = step.cost_usd {
        parts.push(dollars(cost));
    }
    parts.extend(arguments_shown);
    parts.join(" · ")
}

pub fn detail(step: &TraceStep) -> String {
    let lines: Vec<String> = match &step.body {
        StepBody::Turn { user_text, .. } => vec![format!("you: {}", excerpt(user_text))],
        StepBody::ModelRequest { request, .. } => {
            let mut lines = Vec::new();
            if let Some(system) = &request.system {
                lines.push(format!(
                    "system: {}",
                    truncate_chars(&sanitize_line(system), 200)
                ));
            }
            if let Some(last) = request.messages.last() {
                lines.push(format!("last message: {}", message_words(last)));
            }
            if !request.tools.is_empty() {
                let names: Vec<&str> = request.tools.iter().map(|t| t.name.as_str()).collect();
                lines.push(format!(
                    "tools: {}",
                    truncate_chars(&sanitize_line(&names.join(", ")), 300)
                ));
            }
            lines
        }
        StepBody::ModelReply {
            text,
            reasoning,
            tool_calls,
            stop_reason,
            error,
            ..
        } => {
            let mut lines = Vec::new();
            if let Some(error) = error {
                lines.push(format!("error: {}", excerpt(error)));
            }
            if let Some(reasoning) = reasoning {
                lines.push(format!("reasoning: {}", excerpt(reasoning.trim())));
            }
            if !text.trim().is_empty() {
                lines.push(format!("text: {}", excerpt(text.trim())));
            }
            lines.extend(tool_calls.iter().map(|call| {
                format!(
                    "→ {} {}",
                    sanitize_line(&call.name),
                    one_line(&call.arguments, 300)
                )
            }));
            if let Some(reason) = stop_reason {
                lines.push(format!("stop reason: {}", sanitize_line(reason)));
            }
            lines
        }
        StepBody::ToolCall {
            server,
            tool,
            arguments,
            model_arguments,
            ..
        } => {
            let mut lines = vec![format!(
                "server {} · tool {}",
                sanitize_line(server),
                sanitize_line(tool)
            )];
            lines.push(format!("arguments: {}", pretty(arguments)));
            if let Some(original) = model_arguments {
                lines.push(format!("the model's arguments: {}", pretty(original)));
            }
            lines
        }
        StepBody::Approval { decision, .. } => vec![decision_words(decision)],
        StepBody::ToolResult {
            content,
            structured,
            ..
        } => {
            let mut lines = vec![excerpt(content)];
            if let Some(structured) = structured {
                lines.push(format!("structured: {}", one_line(structured, 300)));
            }
            lines
        }
        StepBody::Sampling { request, reply, .. } => {
            let mut lines = vec![format!("request: {}", one_line(request, 300))];
            if let Some(reply) = reply {
                lines.push(format!("reply: {}", excerpt(reply)));
            }
            lines
        }
        StepBody::Plan { plan, error, .. } => {
            let mut lines = Vec::new();
            if let Some(plan) = plan {
                lines.push(excerpt(
                    &serde_json::to_string_pretty(plan).unwrap_or_default(),
                ));
            }
            if let Some(error) = error {
                lines.push(format!("refused: {}", sanitize(error)));
            }
            lines
        }
        StepBody::Phase { name, .. } => vec![sanitize(name)],
        StepBody::SubAgent {
            goal,
            tools,
            answer,
            ..
        } => {
            let mut lines = vec![format!("goal: {}", excerpt(goal))];
            if !tools.is_empty() {
                lines.push(format!("tools: {}", sanitize_line(&tools.join(", "))));
            }
            if let Some(answer) = answer {
                lines.push(format!("answer: {}", excerpt(answer)));
            }
            lines
        }
        StepBody::Edit { before, after, .. } => vec![
            format!("before: {}", one_line(before, 300)),
            format!("after: {}", one_line(after, 300)),
        ],
        StepBody::Fork { from } => vec![format!("re-runs step {from} with its messages as edited")],
        StepBody::Retry { reason, .. } => vec![sanitize(reason)],
        StepBody::Context {
            mode,
            estimate,
            window,
            kept_messages,
            dropped_messages,
            dropped_tokens,
            cut,
        } => {
            let mut lines = vec![match window {
                Some(window) => format!(
                    "the next request takes about {estimate} of the model's {window} tokens \
                     (memory mode {})",
                    sanitize_line(mode)
                ),
                None => format!(
                    "the next request takes about {estimate} tokens (memory mode {})",
                    sanitize_line(mode)
                ),
            }];
            if *dropped_messages > 0 {
                lines.push(format!(
                    "the oldest {dropped_messages} messages (about {dropped_tokens} tokens) were \
                     left out; {kept_messages} sent"
                ));
            }
            for c in cut {
                lines.push(format!(
                    "message {} of the request was cut: about {} tokens ({} characters) taken out",
                    c.index + 1,
                    c.tokens,
                    c.chars
                ));
            }
            lines
        }
        StepBody::Limit { reason } => vec![sanitize(reason)],
        StepBody::Error { message } => vec![sanitize(message)],
        StepBody::Unknown => Vec::new(),
    };
    lines.join("\n")
}

fn outcome_words(outcome: &TurnOutcome) -> String {
    match outcome {
        TurnOutcome::Answered => "answered".to_owned(),
        TurnOutcome::Cancelled => "cancelled by you".to_owned(),
        TurnOutcome::Limit(why) => format!("stopped: {}", sanitize_line(why)),
        TurnOutcome::Failed(why) => format!("failed: {}", sanitize_line(why)),
    }
}

/// An approval in words.
pub fn decision_words(decision: &Decision) -> String {
    match decision {
        Decision::Approve => "approved by you".to_owned(),
        Decision::Always => "approved by you, and allowed for the rest of the session".to_owned(),
        Decision::Edited(edited) => format!(
            "approved by you with edited arguments: {}",
            one_line(&Value::Object(edited.clone()), 300)
        ),
        Decision::Deny => "denied by you: not run, and the model is told".to_owned(),
        Decision::CancelTurn => "you stopped the turn".to_owned(),
    }
}

fn message_words(message: &ChatMessage) -> String {
    match message {
        ChatMessage::User(text) => format!("user: {}", truncate_chars(&sanitize_line(text), 200)),
        ChatMessage::Assistant {
            text, tool_calls, ..
        } => format!(
            "assistant: {} ({} tool calls)",
            truncate_chars(&sanitize_line(text), 160),
            tool_calls.len()
        ),
        ChatMessage::ToolResult { name, content, .. } => format!(
            "result of {}: {}",
            sanitize_line(name),
            truncate_chars(&sanitize_line(content), 160)
        ),
    }
}

fn one_line(value: &Value, max: usize) -> String {
    truncate_chars(&sanitize_line(&value.to_string()), max)
}

fn pretty(value: &Value) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    excerpt(&text)
}

fn human_ms(ms: u64) -> String {
    human_duration(std::time::Duration::from_millis(ms))
}

/// The first lines of `text`, saying how many more there are.
fn excerpt(text: &str) -> String {
    let text = sanitize(text);
    let total = text.lines().count();
    let mut shown: Vec<String> = text
        .lines()
        .take(EXCERPT_LINES)
        .map(|line| truncate_chars(line, 500))
        .collect();
    let more = total.saturating_sub(shown.len());
    if more > 0 {
        shown.push(format!("… {more} more lines"));
    }
    shown.join("\n")
}

/// "2 phases, 5 tasks" for a plan as the orchestrator wrote it.
fn plan_size(plan: &serde_json::Value) -> String {
    let phases = plan["phases"].as_array().map_or(&[][..], Vec::as_slice);
    let tasks: usize = phases
        .iter()
        .map(|phase| phase["tasks"].as_array().map_or(0, Vec::len))
        .sum();
    format!(
        "{}, {}",
        plural(phases.len(), "phase", "phases"),
        plural(tasks, "task", "tasks")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{ToolCall, Usage};
    use crate::protocol::{ApprovedBy, StepId, ToolCallId};
    use serde_json::json;

    #[test]
    fn a_reply_says_what_it_asked_for_with_its_time_and_tokens() {
        let mut step = TraceStep::begin(
            StepId(1),
            None,
            None,
            StepBody::ModelReply {
                text: "Let me add them.".into(),
                reasoning: None,
                tool_calls: vec![ToolCall {
                    id: "c1".into(),
                    name: "demo__add".into(),
                    arguments: json!({"a": 2, "b": 40}),
                }],
                stop_reason: None,
                first_token_ms: Some(40),
                error: None,
            },
        );
        step.started_ms = 1_000;
        step.ended_ms = Some(1_300);
        step.status = StepStatus::Ok;
        step.tokens = Some(Usage {
            input_tokens: 1_200,
            output_tokens: 30,
        });
        step.cost_usd = Some(0.0012);
        assert_eq!(
            title(&step),
            "reply · 1 tool call · first token 40ms · 300ms · 1.2k in / 30 out tokens · $0.0012"
        );
        assert_eq!(
            detail(&step),
            "text: Let me add them.\n→ demo__add {\"a\":2,\"b\":40}"
        );
    }

    #[test]
    fn a_running_call_says_so_and_an_edited_one_shows_both_arguments() {
        let step = TraceStep::begin(
            StepId(2),
            None,
            None,
            StepBody::ToolCall {
                call: ToolCallId(1),
                server: "demo".into(),
                tool: "add".into(),
                qualified_name: "demo__add".into(),
                arguments: json!({"a": 1}),
                approved_by: Some(ApprovedBy::User),
                model_arguments: Some(json!({"a": 9})),
            },
        );
        assert_eq!(
            title(&step),
            "tool demo__add · approved by you · edited · running… · {\"a\":1}"
        );
        assert!(detail(&step).contains("the model's arguments: {\n  \"a\": 9\n}"));
    }

    #[test]
    fn long_results_are_cut_with_a_count_of_what_is_left() {
        let result: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        let text = excerpt(&result);
        assert!(text.starts_with("line 1\n"));
        assert!(text.ends_with("line 12\n… 8 more lines"), "{text}");
    }

    #[test]
    fn a_context_step_says_what_was_left_out() {
        let mut step = TraceStep::begin(
            StepId(4),
            Some(StepId(1)),
            None,
            StepBody::Context {
                mode: "sliding_window".into(),
                estimate: 7_900,
                window: Some(8_000),
                kept_messages: 3,
                dropped_messages: 12,
                dropped_tokens: 4_100,
                cut: vec![crate::protocol::CutMessage {
                    index: 2,
                    tokens: 30_000,
                    chars: 120_000,
                }],
            },
        );
        step.end(StepStatus::Ok);
        let title = title(&step);
        assert!(
            title.starts_with(
                "context: dropped 12 messages (4.1k tokens) cut 1 message (30.0k tokens) · 7.9k/8.0k tokens"
            ),
            "{title}"
        );
        let detail = detail(&step);
        assert!(
            detail.contains("about 7900 of the model's 8000 tokens (memory mode sliding_window)")
        );
        assert!(
            detail.contains("the oldest 12 messages (about 4100 tokens) were left out; 3 sent")
        );
        assert!(
            detail.contains(
                "message 3 of the request was cut: about 30000 tokens (120000 characters)"
            )
        );
    }

    #[test]
    fn decisions_read_as_words() {
        let mut edited = rmcp::model::JsonObject::new();
        edited.insert("a".into(), json!(1));
        assert_eq!(
            decision_words(&Decision::Edited(edited)),
            "approved by you with edited arguments: {\"a\":1}"
        );
    }
}
