//! What the Trace pane says about each step of a turn: the model's reply (its text and the
//! calls it asked for), each approval in words, and each tool call with who let it run, its
//! arguments, its result and its time. Details are capped so that one huge reply or result
//! cannot flood the pane; the chat and the call view keep the whole text.

use std::time::Duration;

use serde_json::Value;

use crate::llm::{ToolCall, Usage};
use crate::runtime::messages::{ApprovedBy, Decision};
use crate::text::{human_duration, truncate_chars};

/// Lines of a reply's text or a tool result shown in a step's detail.
const EXCERPT_LINES: usize = 12;
/// Characters of one argument object shown in a step's detail.
const ARGUMENT_CHARS: usize = 300;

/// The detail of a "reply" step: what the model answered and which tools it asked for.
pub(super) fn reply_detail(text: &str, calls: &[ToolCall], usage: Option<&Usage>) -> String {
    let what = match calls.len() {
        0 => "final answer".to_owned(),
        1 => "1 tool call".to_owned(),
        n => format!("{n} tool calls"),
    };
    let mut lines = vec![match usage {
        Some(u) => format!(
            "{what} · {} in, {} out tokens",
            u.input_tokens, u.output_tokens
        ),
        None => what,
    }];
    if !text.trim().is_empty() {
        lines.push(format!("text: {}", excerpt(text.trim())));
    }
    lines.extend(
        calls
            .iter()
            .map(|call| format!("→ {} {}", call.name, arguments(&call.arguments))),
    );
    lines.join("\n")
}

/// The detail of an "approval" step, in words.
pub(super) fn decision_detail(decision: &Decision) -> String {
    match decision {
        Decision::Approve => "approved by you".to_owned(),
        Decision::Always => "approved by you, and allowed for the rest of the session".to_owned(),
        Decision::Edited(edited) => format!(
            "approved by you with edited arguments: {}",
            arguments(&Value::Object(edited.clone()))
        ),
        Decision::Deny => "denied by you: not run, and the model is told".to_owned(),
        Decision::CancelTurn => "you stopped the turn".to_owned(),
    }
}

/// The title of a tool-call step: `tool demo__add: ok in 3ms`.
pub(super) fn call_title(qualified_name: &str, is_error: bool, elapsed: Duration) -> String {
    let how = if is_error { "error" } else { "ok" };
    format!(
        "tool {qualified_name}: {how} in {}",
        human_duration(elapsed)
    )
}

/// The detail of a tool-call step: who let it run, what it was given, what came back.
pub(super) fn call_detail(approved_by: ApprovedBy, args: &Value, result: &str) -> String {
    format!(
        "{}\narguments: {}\nresult: {}",
        approved_by.describe(),
        arguments(args),
        excerpt(result)
    )
}

fn arguments(value: &Value) -> String {
    truncate_chars(&value.to_string(), ARGUMENT_CHARS)
}

/// The first lines of `text`, saying how many more there are.
fn excerpt(text: &str) -> String {
    let total = text.lines().count();
    let mut shown: Vec<&str> = text.lines().take(EXCERPT_LINES).collect();
    let more = total.saturating_sub(shown.len());
    let tail;
    if more > 0 {
        tail = format!("… {more} more lines");
        shown.push(&tail);
    }
    shown
        .iter()
        .map(|line| truncate_chars(line, 500))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_reply_shows_its_text_and_the_calls_it_asked_for() {
        let calls = [ToolCall {
            id: "c1".into(),
            name: "demo__add".into(),
            arguments: json!({"a": 2, "b": 40}),
        }];
        let usage = Usage {
            input_tokens: 120,
            output_tokens: 30,
        };
        assert_eq!(
            reply_detail("Let me add them.", &calls, Some(&usage)),
            "1 tool call · 120 in, 30 out tokens\ntext: Let me add them.\n\
             → demo__add {\"a\":2,\"b\":40}"
        );
        assert_eq!(reply_detail("  ", &[], None), "final answer");
    }

    #[test]
    fn long_results_are_cut_with_a_count_of_what_is_left() {
        let result: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        let detail = call_detail(ApprovedBy::Config, &json!({}), &result);
        assert!(detail.starts_with("allowed by the config\narguments: {}\nresult: line 1\n"));
        assert!(detail.ends_with("line 12\n… 8 more lines"), "{detail}");
    }

    #[test]
    fn decisions_read_as_words() {
        let mut edited = rmcp::model::JsonObject::new();
        edited.insert("a".into(), json!(1));
        assert_eq!(
            decision_detail(&Decision::Edited(edited)),
            "approved by you with edited arguments: {\"a\":1}"
        );
        assert_eq!(
            call_title("demo__add", false, Duration::from_millis(3)),
            "tool demo__add: ok in 3ms"
        );
    }
}
