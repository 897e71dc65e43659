//! One entry of a stored session, as one JSON object (one line in a session file, one item in
//! a Redis list). Like trace steps, every entry carries the format version `v`; fields added
//! later are optional; an unknown `kind` reads as `Unknown` and is skipped, while an entry
//! from a newer `v` refuses the whole session (it may mean something this build would get
//! wrong).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::llm::ChatMessage;
use crate::protocol::TraceStep;

/// The format version written into every entry.
pub const SESSION_FORMAT_VERSION: u32 = 1;

fn format_version() -> u32 {
    SESSION_FORMAT_VERSION
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionEntry {
    #[serde(default = "format_version")]
    pub v: u32,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    #[serde(flatten)]
    pub body: EntryBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EntryBody {
    /// A message of the conversation exactly as the model sees it (a denied call is a tool
    /// result saying so, as it was sent).
    Message {
        message: ChatMessage,
        /// A tool result's structured content, kept beside the text the model saw.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        structured: Option<Value>,
    },
    /// `/compact`: in the model's context, this summary stands for the first `replaces`
    /// messages of the session; the store keeps them all.
    Summary { text: String, replaces: u64 },
    /// A server's `sampling/createMessage` request and the reply it got (if any).
    Sampling {
        server: String,
        request: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply: Option<String>,
    },
    /// What one turn cost.
    Usage {
        input_tokens: u64,
        output_tokens: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cost_usd: Option<f64>,
    },
    /// A finished trace step (so a resumed session shows its trace).
    Step { step: Box<TraceStep> },
    /// An entry kind from a newer mcpomni of the same format version.
    #[serde(other)]
    Unknown,
}

impl SessionEntry {
    /// An entry stamped now.
    pub fn now(body: EntryBody) -> Self {
        Self {
            v: SESSION_FORMAT_VERSION,
            at_ms: crate::protocol::trace::now_ms(),
            body,
        }
    }

    pub fn message(message: ChatMessage) -> Self {
        Self::now(EntryBody::Message {
            message,
            structured: None,
        })
    }

    /// One line of JSON (no newline inside).
    pub fn to_json_line(&self) -> String {
        // Plain data with string keys: serialising cannot fail; `{}` keeps line counts right.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ToolCall;
    use serde_json::json;

    #[test]
    fn entries_round_trip_through_one_line() {
        let entries = [
            SessionEntry::message(ChatMessage::user("hi\nthere")),
            SessionEntry::message(ChatMessage::Assistant {
                text: String::new(),
                tool_calls: vec![ToolCall {
                    id: "c1".into(),
                    name: "demo__add".into(),
                    arguments: json!({"a": 1.5, "b": [1, 2]}),
                }],
                provider_state: Some(json!({"anthropic": {"thinking_blocks": []}})),
            }),
            SessionEntry::now(EntryBody::Message {
                message: ChatMessage::ToolResult {
                    call_id: "c1".into(),
                    name: "demo__add".into(),
                    content: "Error: denied by the user".into(),
                    is_error: true,
                },
                structured: Some(json!({"sum": 2.5})),
            }),
            SessionEntry::now(EntryBody::Summary {
                text: "We added numbers.".into(),
                replaces: 3,
            }),
            SessionEntry::now(EntryBody::Usage {
                input_tokens: 10,
                output_tokens: 2,
                cost_usd: Some(0.001),
            }),
        ];
        for entry in entries {
            let line = entry.to_json_line();
            assert!(!line.contains('\n'));
            let back: SessionEntry = serde_json::from_str(&line).expect("reads back");
            assert_eq!(back, entry);
        }
    }

    #[test]
    fn an_unknown_kind_reads_as_unknown() {
        let entry: SessionEntry =
            serde_json::from_str(r#"{"v":1,"at_ms":5,"kind":"bookmark","name":"x"}"#)
                .expect("reads");
        assert_eq!(entry.body, EntryBody::Unknown);
    }
}
