//! A stored session read back as what the agent needs: the conversation the model sees next
//! (a `/compact` summary standing for what it replaced), the trace steps to show, and the
//! tokens used so far. A tool call whose result never came (the process died mid-call) gets
//! an "interrupted" result, because providers refuse a call without its result.

use crate::llm::ChatMessage;
use crate::protocol::TraceStep;

use super::{EntryBody, SessionEntry};

/// What the model is told a call whose result was never stored returned.
pub const INTERRUPTED: &str = "Error: interrupted — mcpomni stopped before this call finished; \
                               its result is unknown.";

/// The conversation to continue from `entries`.
pub fn conversation(entries: &[SessionEntry]) -> Vec<ChatMessage> {
    let mut messages: Vec<ChatMessage> = Vec::new();
    for entry in entries {
        match &entry.body {
            EntryBody::Message { message, .. } => {
                if !matches!(message, ChatMessage::ToolResult { .. }) {
                    close_open_calls(&mut messages);
                }
                messages.push(message.clone());
            }
            EntryBody::Summary { text, replaces } => {
                // The summary stands for the messages it replaced (an interrupted call
                // among them is part of what it summarised).
                let replaced = usize::try_from(*replaces)
                    .unwrap_or(usize::MAX)
                    .min(messages.len());
                messages.drain(..replaced);
                messages.insert(0, summary_message(text));
            }
            EntryBody::Sampling { .. }
            | EntryBody::Usage { .. }
            | EntryBody::Step { .. }
            | EntryBody::Unknown => {}
        }
    }
    close_open_calls(&mut messages);
    messages
}

/// One line describing a message (`/history`).
pub fn describe(message: &ChatMessage) -> String {
    use crate::text::{sanitize_line, truncate_chars};
    let short = |text: &str| truncate_chars(&sanitize_line(text), 100);
    match message {
        ChatMessage::User(text) => format!("user: {}", short(text)),
        ChatMessage::Assistant {
            text, tool_calls, ..
        } => {
            let mut line = format!("assistant: {}", short(text));
            for call in tool_calls {
                line.push_str(&format!(" [calls {}]", call.name));
            }
            line
        }
        ChatMessage::ToolResult {
            name,
            content,
            is_error,
            ..
        } => {
            let kind = if *is_error { "error" } else { "result" };
            format!("{name} {kind}: {}", short(content))
        }
    }
}

/// How a `/compact` summary stands in the conversation: the first message, from the user.
pub fn summary_message(text: &str) -> ChatMessage {
    ChatMessage::user(format!(
        "Summary of the earlier part of our conversation:\n{text}"
    ))
}

/// The trace steps stored in a session, in order (a step's later versions replace earlier
/// ones, though sessions store each step once, finished).
pub fn steps(entries: &[SessionEntry]) -> Vec<TraceStep> {
    let mut steps: Vec<TraceStep> = Vec::new();
    let mut at: std::collections::HashMap<crate::protocol::StepId, usize> = Default::default();
    for entry in entries {
        if let EntryBody::Step { step } = &entry.body {
            match at.get(&step.id) {
                Some(&index) => steps[index] = (**step).clone(),
                None => {
                    at.insert(step.id, steps.len());
                    steps.push((**step).clone());
                }
            }
        }
    }
    // Steps are stored when they end, children before their parents; ids are given when
    // steps begin, so in id order every parent comes before its children.
    steps.sort_by_key(|step| step.id);
    steps
}

/// Every message of a session as it was said, for the screen: what `/compact` summaries
/// replaced in the model's context is still shown.
pub fn said(entries: &[SessionEntry]) -> Vec<ChatMessage> {
    entries
        .iter()
        .filter_map(|entry| match &entry.body {
            EntryBody::Message { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

/// Gives every call of the last assistant message that has no result an interrupted one.
fn close_open_calls(messages: &mut Vec<ChatMessage>) {
    let Some(start) = messages
        .iter()
        .rposition(|m| matches!(m, ChatMessage::Assistant { .. }))
    else {
        return;
    };
    let ChatMessage::Assistant { tool_calls, .. } = &messages[start] else {
        return;
    };
    let answered: Vec<&str> = messages[start + 1..]
        .iter()
        .filter_map(|m| match m {
            ChatMessage::ToolResult { call_id, .. } => Some(call_id.as_str()),
            _ => None,
        })
        .collect();
    // Only results right after the call count: a later user message ends the exchange.
    if messages[start + 1..]
        .iter()
        .any(|m| !matches!(m, ChatMessage::ToolResult { .. }))
    {
        return;
    }
    let missing: Vec<ChatMessage> = tool_calls
        .iter()
        .filter(|call| !answered.contains(&call.id.as_str()))
        .map(|call| ChatMessage::ToolResult {
            call_id: call.id.clone(),
            name: call.name.clone(),
            content: INTERRUPTED.to_owned(),
            is_error: true,
        })
        .collect();
    messages.extend(missing);
}

/// The finished trace steps stored in the session, in order.
pub fn trace(entries: &[SessionEntry]) -> Vec<TraceStep> {
    entries
        .iter()
        .filter_map(|entry| match &entry.body {
            EntryBody::Step { step } => Some((**step).clone()),
            _ => None,
        })
        .collect()
}

/// Input and output tokens of every stored turn.
pub fn tokens(entries: &[SessionEntry]) -> (u64, u64) {
    entries
        .iter()
        .fold((0, 0), |(i, o), entry| match &entry.body {
            EntryBody::Usage {
                input_tokens,
                output_tokens,
                ..
            } => (i + input_tokens, o + output_tokens),
            _ => (i, o),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ToolCall;
    use serde_json::json;

    fn call(id: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: "demo__sleep".into(),
            arguments: json!({"ms": 10}),
        }
    }

    fn asked(ids: &[&str]) -> SessionEntry {
        SessionEntry::message(ChatMessage::Assistant {
            text: String::new(),
            tool_calls: ids.iter().map(|id| call(id)).collect(),
            provider_state: None,
        })
    }

    fn result(id: &str) -> SessionEntry {
        SessionEntry::message(ChatMessage::ToolResult {
            call_id: id.into(),
            name: "demo__sleep".into(),
            content: "slept".into(),
            is_error: false,
        })
    }

    #[test]
    fn a_call_without_its_result_gets_an_interrupted_one() {
        let entries = [
            SessionEntry::message(ChatMessage::user("sleep twice")),
            asked(&["c1", "c2"]),
            result("c1"),
        ];
        let history = conversation(&entries);
        assert_eq!(history.len(), 4);
        assert!(matches!(
            &history[3],
            ChatMessage::ToolResult { call_id, is_error: true, content, .. }
                if call_id == "c2" && content == INTERRUPTED
        ));
        // A later message closes the exchange before it.
        let mut more = entries.to_vec();
        more.push(SessionEntry::message(ChatMessage::user("again")));
        let history = conversation(&more);
        assert!(matches!(&history[3], ChatMessage::ToolResult { call_id, .. } if call_id == "c2"));
        assert!(matches!(&history[4], ChatMessage::User(text) if text == "again"));
    }

    #[test]
    fn a_summary_stands_for_what_it_replaced() {
        let entries = [
            SessionEntry::message(ChatMessage::user("one")),
            SessionEntry::message(ChatMessage::assistant("two")),
            SessionEntry::message(ChatMessage::user("three")),
            SessionEntry::now(EntryBody::Summary {
                text: "We counted.".into(),
                replaces: 2,
            }),
            SessionEntry::message(ChatMessage::assistant("four")),
        ];
        let history = conversation(&entries);
        assert_eq!(history.len(), 3);
        assert!(matches!(&history[0], ChatMessage::User(text) if text.ends_with("We counted.")));
        assert!(matches!(&history[1], ChatMessage::User(text) if text == "three"));
    }

    #[test]
    fn stored_steps_come_back_parents_first_and_the_screen_gets_every_message() {
        use crate::protocol::{StepBody, StepId, StepStatus, TurnId};
        let step = |id: u64, parent: Option<u64>| {
            let mut step = TraceStep::begin(
                StepId(id),
                parent.map(StepId),
                Some(TurnId(1)),
                StepBody::Limit {
                    reason: format!("step {id}"),
                },
            );
            step.end(StepStatus::Ok);
            SessionEntry::now(EntryBody::Step {
                step: Box::new(step),
            })
        };
        // Children end (and are stored) before their parent.
        let entries = vec![
            step(2, Some(1)),
            SessionEntry::message(ChatMessage::user("one")),
            SessionEntry::message(ChatMessage::assistant("a")),
            step(1, None),
            SessionEntry::now(EntryBody::Summary {
                text: "they said one".into(),
                replaces: 2,
            }),
            SessionEntry::message(ChatMessage::user("two")),
        ];
        let ids: Vec<u64> = steps(&entries).iter().map(|s| s.id.0).collect();
        assert_eq!(ids, [1, 2]);
        assert_eq!(
            said(&entries),
            [
                ChatMessage::user("one"),
                ChatMessage::assistant("a"),
                ChatMessage::user("two")
            ]
        );
        assert_eq!(
            conversation(&entries).len(),
            2,
            "the summary and the new message"
        );
    }
}
