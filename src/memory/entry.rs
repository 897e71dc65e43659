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
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "present"
        )]
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

/// A field that is there, even as `null`, is `Some`: a server's structured content of `null`
/// reads back as it was stored (the field is left out for `None`).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
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

    /// Reads one stored entry back, telling an entry from a newer format version (which
    /// refuses the session) apart from text that is not an entry at all (which is skipped).
    pub fn from_json_line(line: &str) -> Result<Self, DecodeError> {
        match serde_json::from_str::<SessionEntry>(line) {
            Ok(entry) if entry.v > SESSION_FORMAT_VERSION => Err(DecodeError::Newer(entry.v)),
            Ok(entry) => Ok(entry),
            Err(error) => {
                // Parsed again only on failure, so the common path reads each line once: a
                // newer version may have changed a field this build cannot read.
                match serde_json::from_str::<VersionOnly>(line) {
                    Ok(VersionOnly { v }) if v > SESSION_FORMAT_VERSION => {
                        Err(DecodeError::Newer(v))
                    }
                    _ => Err(DecodeError::Invalid(error.to_string())),
                }
            }
        }
    }
}

/// Why a stored line is not an entry this build can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Written by a newer mcpomni (this format version).
    Newer(u32),
    /// Not a session entry (what the JSON parser said).
    Invalid(String),
}

#[derive(Deserialize)]
struct VersionOnly {
    #[serde(default)]
    v: u32,
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
            SessionEntry::now(EntryBody::Message {
                message: ChatMessage::ToolResult {
                    call_id: "c2".into(),
                    name: "demo__nothing".into(),
                    content: "null".into(),
                    is_error: false,
                },
                structured: Some(Value::Null),
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
    fn lines_from_a_newer_version_are_told_apart_from_junk() {
        let newer = r#"{"v":2,"at_ms":5,"kind":"summary","text":"x","replaces":1}"#;
        assert_eq!(
            SessionEntry::from_json_line(newer),
            Err(DecodeError::Newer(2))
        );
        // A newer entry this build cannot even read is still "newer", not junk.
        let changed = r#"{"v":3,"at_ms":"yesterday","kind":"summary"}"#;
        assert_eq!(
            SessionEntry::from_json_line(changed),
            Err(DecodeError::Newer(3))
        );
        for junk in [
            r#"{"v":1,"at_ms":"#,
            "not json",
            r#"{"v":1,"kind":"summary"}"#,
        ] {
            assert!(
                matches!(
                    SessionEntry::from_json_line(junk),
                    Err(DecodeError::Invalid(_))
                ),
                "{junk}"
            );
        }
        let current = SessionEntry::message(ChatMessage::user("hi"));
        assert_eq!(
            SessionEntry::from_json_line(&current.to_json_line()),
            Ok(current)
        );
    }

    #[test]
    fn an_unknown_kind_reads_as_unknown() {
        let entry: SessionEntry =
            serde_json::from_str(r#"{"v":1,"at_ms":5,"kind":"bookmark","name":"x"}"#)
                .expect("reads");
        assert_eq!(entry.body, EntryBody::Unknown);
    }
}
