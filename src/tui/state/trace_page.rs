//! The whole of one trace step, as the pager shows it (Enter in the Trace pane): nothing cut.
//! A model request shows exactly what was sent — the parameters, the system prompt, every
//! message with its tool calls and results, every tool schema — and a reply its reasoning,
//! text and calls; tool arguments and results are pretty-printed JSON and whole text. The
//! provider's API key is a request header, never part of a request, so it cannot appear here.
//! Other kinds show their payload as JSON. Built once when the pager opens, never per frame.

use serde_json::Value;

use crate::llm::{ChatMessage, ChatRequest};
use crate::protocol::{CallOutcome, StepBody, TraceStep};
use crate::text::human_duration;

/// The pager's title and text for `step`, numbered `number` in the pane.
pub fn page(step: &TraceStep, number: usize, title: &str) -> (String, String) {
    let heading = format!("step {number} · {}", step.body.kind().replace('_', " "));
    let mut out = Page::default();
    out.line(title);
    out.line(&facts(step));
    match &step.body {
        StepBody::ModelRequest { model, request } => {
            out.section("model");
            out.line(model);
            request_text(&mut out, request);
        }
        StepBody::ModelReply {
            text,
            reasoning,
            tool_calls,
            stop_reason,
            first_token_ms,
            error,
        } => {
            if let Some(error) = error {
                out.section("error");
                out.line(error);
            }
            if let Some(reasoning) = reasoning {
                out.section("reasoning");
                out.line(reasoning);
            }
            out.section("text");
            out.line(if text.is_empty() { "(none)" } else { text });
            for call in tool_calls {
                out.section(&format!("tool call {} (id {})", call.name, call.id));
                out.json(&call.arguments);
            }
            out.section("reply");
            if let Some(reason) = stop_reason {
                out.line(&format!("stop reason: {reason}"));
            }
            if let Some(ms) = first_token_ms {
                out.line(&format!("first token after {ms} ms"));
            }
        }
        StepBody::ToolCall {
            call,
            server,
            tool,
            qualified_name,
            arguments,
            approved_by,
            model_arguments,
        } => {
            out.line(&format!(
                "{qualified_name} (tool {tool} of server {server}) · call {call}"
            ));
            if let Some(by) = approved_by {
                out.line(by.describe());
            }
            out.section("arguments");
            out.json(arguments);
            if let Some(original) = model_arguments {
                out.section("the model's arguments, before your edit");
                out.json(original);
            }
        }
        StepBody::ToolResult {
            outcome,
            content,
            structured,
            ..
        } => {
            out.section("outcome");
            out.line(&match outcome {
                CallOutcome::Ok { summary } => format!("ok: {summary}"),
                CallOutcome::Failed { error } => format!("failed: {error}"),
                CallOutcome::Denied => "denied: the server never saw it".to_owned(),
                CallOutcome::Refused { reason } => format!("not run: {reason}"),
                CallOutcome::Cancelled => "cancelled".to_owned(),
                CallOutcome::Unknown => "unknown".to_owned(),
            });
            out.section("the result as the model sees it");
            out.line(if content.is_empty() {
                "(empty)"
            } else {
                content
            });
            if let Some(structured) = structured {
                out.section("structured content");
                out.json(structured);
            }
        }
        StepBody::Sampling {
            server,
            request,
            reply,
        } => {
            out.line(&format!("a sampling request from server {server}"));
            out.section("request");
            out.json(request);
            out.section("reply");
            out.line(reply.as_deref().unwrap_or("(none)"));
        }
        other => {
            out.section("payload");
            out.json(&serde_json::to_value(other).unwrap_or(Value::Null));
        }
    }
    (heading, out.text)
}

fn facts(step: &TraceStep) -> String {
    let mut facts = vec![format!("status {:?}", step.status).to_lowercase()];
    if let Some(turn) = step.turn {
        facts.push(format!("turn {turn}"));
    }
    facts.push(format!("step id {}", step.id));
    if let Some(parent) = step.parent {
        facts.push(format!("under step id {parent}"));
    }
    if let Some(took) = step.duration() {
        facts.push(format!("took {}", human_duration(took)));
    }
    if let Some(tokens) = &step.tokens {
        facts.push(format!(
            "{} in / {} out tokens",
            tokens.input_tokens, tokens.output_tokens
        ));
    }
    if let Some(cost) = step.cost_usd {
        facts.push(format!("${cost:.6}"));
    }
    facts.join(" · ")
}

fn request_text(out: &mut Page, request: &ChatRequest) {
    out.section("parameters");
    let mut parameters = Vec::new();
    if let Some(max) = request.max_tokens {
        parameters.push(format!("max_tokens {max}"));
    }
    if let Some(t) = request.temperature {
        parameters.push(format!("temperature {t}"));
    }
    if let Some(p) = request.top_p {
        parameters.push(format!("top_p {p}"));
    }
    if !request.stop.is_empty() {
        parameters.push(format!("stop {:?}", request.stop));
    }
    out.line(&if parameters.is_empty() {
        "the provider's defaults".to_owned()
    } else {
        parameters.join(" · ")
    });
    out.section("system prompt");
    out.line(request.system.as_deref().unwrap_or("(none)"));
    out.section(&format!("messages ({})", request.messages.len()));
    for (i, message) in request.messages.iter().enumerate() {
        match message {
            ChatMessage::User(text) => {
                out.line(&format!("[{}] user", i + 1));
                out.line(text);
            }
            ChatMessage::Assistant {
                text,
                tool_calls,
                provider_state,
            } => {
                out.line(&format!("[{}] assistant", i + 1));
                if !text.is_empty() {
                    out.line(text);
                }
                for call in tool_calls {
                    out.line(&format!("→ calls {} (id {})", call.name, call.id));
                    out.json(&call.arguments);
                }
                if let Some(state) = provider_state {
                    out.line(&format!(
                        "(provider state echoed back: {} bytes)",
                        state.to_string().len()
                    ));
                }
            }
            ChatMessage::ToolResult {
                call_id,
                name,
                content,
                is_error,
            } => {
                let error = if *is_error { ", an error" } else { "" };
                out.line(&format!(
                    "[{}] result of {name} (call {call_id}{error})",
                    i + 1
                ));
                out.line(content);
            }
        }
        out.line("");
    }
    out.section(&format!("tools offered ({})", request.tools.len()));
    for tool in &request.tools {
        out.line(&format!("{} — {}", tool.name, tool.description));
        out.json(&tool.parameters);
    }
}

/// Text built section by section.
#[derive(Default)]
struct Page {
    text: String,
}

impl Page {
    fn line(&mut self, text: &str) {
        self.text.push_str(text);
        self.text.push('\n');
    }

    fn section(&mut self, name: &str) {
        self.text.push_str(&format!("\n── {name} ──\n"));
    }

    fn json(&mut self, value: &Value) {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
        self.line(&text);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::llm::{ToolCall, ToolSpec};
    use crate::protocol::{StepId, TurnId};

    #[test]
    fn a_model_request_page_has_every_message_and_schema_uncut() {
        let long = "word ".repeat(5_000);
        let request = ChatRequest {
            system: Some("You are terse.".into()),
            messages: vec![
                ChatMessage::user(long.clone()),
                ChatMessage::Assistant {
                    text: String::new(),
                    tool_calls: vec![ToolCall {
                        id: "c1".into(),
                        name: "demo__echo".into(),
                        arguments: json!({"message": "hi"}),
                    }],
                    provider_state: None,
                },
                ChatMessage::ToolResult {
                    call_id: "c1".into(),
                    name: "demo__echo".into(),
                    content: "hi".into(),
                    is_error: false,
                },
            ],
            tools: vec![ToolSpec {
                name: "demo__echo".into(),
                description: "Echoes".into(),
                parameters: json!({"type": "object", "properties": {"message": {"type": "string"}}}),
            }],
            max_tokens: Some(500),
            ..ChatRequest::default()
        };
        let step = TraceStep::begin(
            StepId(4),
            Some(StepId(1)),
            Some(TurnId(2)),
            StepBody::ModelRequest {
                model: "openai/gpt-4o".into(),
                request: Arc::new(request),
            },
        );
        let (heading, text) = page(&step, 3, "ask openai/gpt-4o");
        assert_eq!(heading, "step 3 · model request");
        assert!(text.contains(long.trim_end()), "the long message is whole");
        for expected in [
            "You are terse.",
            "max_tokens 500",
            "[2] assistant",
            "→ calls demo__echo (id c1)",
            "\"message\": \"hi\"",
            "[3] result of demo__echo (call c1)",
            "tools offered (1)",
            "demo__echo — Echoes",
            "\"properties\"",
            "turn 2",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
    }

    #[test]
    fn a_reply_page_shows_its_reasoning_and_calls() {
        let step = TraceStep::begin(
            StepId(5),
            Some(StepId(4)),
            Some(TurnId(2)),
            StepBody::ModelReply {
                text: "Let me check.".into(),
                reasoning: Some("The user wants the weather.".into()),
                tool_calls: vec![ToolCall {
                    id: "c9".into(),
                    name: "weather__now".into(),
                    arguments: json!({"city": "Oslo"}),
                }],
                stop_reason: Some("tool_calls".into()),
                first_token_ms: Some(120),
                error: None,
            },
        );
        let (_, text) = page(&step, 4, "reply");
        for expected in [
            "── reasoning ──\nThe user wants the weather.",
            "Let me check.",
            "tool call weather__now (id c9)",
            "\"city\": \"Oslo\"",
            "stop reason: tool_calls",
            "first token after 120 ms",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
    }
}
