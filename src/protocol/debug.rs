//! The debugger's vocabulary: breakpoints (before model requests, before tool calls matching a
//! glob, on errors, at step N), where a paused run stands, and how the user resumes it — one
//! step, to the next breakpoint, or stop — optionally with an edit to what runs next.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use rmcp::model::JsonObject;
use serde::{Deserialize, Serialize};

use super::ids::{StepId, TurnId};
use crate::llm::{ChatMessage, ChatRequest, ToolCall};

/// Where a run pauses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Breakpoint {
    /// Before every request to the model.
    Model,
    /// Before a tool call whose qualified name matches the glob (`files__*`, `*__delete`).
    Tool(String),
    /// After anything failed: a tool call's error, a refused call.
    Error,
    /// Before the turn's step N (model requests and tool calls counted from 1).
    Step(u32),
}

impl FromStr for Breakpoint {
    type Err = String;

    /// `model`, `tool:GLOB`, `error`, `step:N` (N ≥ 1).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (kind, value) = match text.split_once(':') {
            Some((kind, value)) => (kind, Some(value)),
            None => (text, None),
        };
        match (kind, value) {
            ("model", None) => Ok(Breakpoint::Model),
            ("error", None) => Ok(Breakpoint::Error),
            ("tool", Some(glob)) if !glob.is_empty() => Ok(Breakpoint::Tool(glob.to_owned())),
            ("tool", _) => Err("`tool` needs a glob: tool:files__* or tool:demo__echo".into()),
            ("step", Some(n)) => match n.parse::<u32>() {
                Ok(0) => Err("steps count from 1: step:0 never comes".into()),
                Ok(n) => Ok(Breakpoint::Step(n)),
                Err(_) => Err(format!("`{n}` is not a step number: write step:5")),
            },
            ("model" | "error", Some(_)) => Err(format!("`{kind}` takes no value")),
            _ => Err(format!(
                "unknown breakpoint `{text}`; expected model, tool:GLOB, error or step:N"
            )),
        }
    }
}

impl fmt::Display for Breakpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Breakpoint::Model => f.write_str("model"),
            Breakpoint::Tool(glob) => write!(f, "tool:{glob}"),
            Breakpoint::Error => f.write_str("error"),
            Breakpoint::Step(n) => write!(f, "step:{n}"),
        }
    }
}

/// Whether `glob` (`*` matches any run of characters) matches all of `name`.
pub fn glob_matches(glob: &str, name: &str) -> bool {
    let parts: Vec<&str> = glob.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return glob == name;
    };
    if parts.len() == 1 {
        return glob == name;
    }
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// What the run is about to do (or what just failed) where it paused.
#[derive(Debug, Clone, PartialEq)]
pub enum PauseAt {
    /// The next request to the model, exactly as it will be sent.
    Model { request: Arc<ChatRequest> },
    /// The next tool call, with the arguments it will run with.
    Tool { call: ToolCall },
    /// Something failed; `last_result` is the tool result the model will see next, if any.
    Error {
        message: String,
        last_result: Option<String>,
    },
}

impl PauseAt {
    pub fn describe(&self) -> String {
        match self {
            PauseAt::Model { request } => format!(
                "before a model request ({}, {})",
                crate::text::plural(request.messages.len(), "message", "messages"),
                crate::text::plural(request.tools.len(), "tool", "tools")
            ),
            PauseAt::Tool { call } => format!("before the tool call {}", call.name),
            PauseAt::Error { message, .. } => format!("after an error: {message}"),
        }
    }
}

/// Why the run paused there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PauseReason {
    Stepping,
    Breakpoint(Breakpoint),
}

/// How the user resumes a paused run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebugAction {
    /// Run the next step and pause again.
    Step,
    /// Run to the next breakpoint.
    Continue,
    /// End the turn here.
    Stop,
}

/// A change to what runs next, made while paused; recorded in the trace as an edit.
#[derive(Debug, Clone, PartialEq)]
pub enum DebugEdit {
    /// The pending tool call's arguments.
    ToolArguments(JsonObject),
    /// The text of the last tool result the model will see.
    LastToolResult(String),
    /// The next model request's messages.
    Messages(Vec<ChatMessage>),
}

impl DebugEdit {
    /// The word the trace's edit step carries.
    pub fn target(&self) -> &'static str {
        match self {
            DebugEdit::ToolArguments(_) => "tool_arguments",
            DebugEdit::LastToolResult(_) => "last_tool_result",
            DebugEdit::Messages(_) => "messages",
        }
    }
}

/// One pause, answered once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PauseId(pub u64);

/// What a client asks the debugger.
#[derive(Debug, Clone, PartialEq)]
pub enum DebugCommand {
    /// Pause before every model request and tool call (or stop doing so).
    SetStepMode(bool),
    SetBreakpoints(Vec<Breakpoint>),
    Resume {
        pause: PauseId,
        action: DebugAction,
        edit: Option<DebugEdit>,
    },
}

/// The run paused: what it is about to do, and why it stopped there.
#[derive(Debug, Clone, PartialEq)]
pub struct Paused {
    pub turn: TurnId,
    pub pause: PauseId,
    /// The turn's step number (model requests and tool calls counted from 1).
    pub step: u32,
    /// The trace step the pause belongs under.
    pub parent: StepId,
    pub at: PauseAt,
    pub reason: PauseReason,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breakpoints_parse_and_bad_ones_say_why() {
        assert_eq!("model".parse(), Ok(Breakpoint::Model));
        assert_eq!("error".parse(), Ok(Breakpoint::Error));
        assert_eq!("step:5".parse(), Ok(Breakpoint::Step(5)));
        assert_eq!(
            "tool:files__*".parse(),
            Ok(Breakpoint::Tool("files__*".into()))
        );
        let step0 = "step:0".parse::<Breakpoint>().unwrap_err();
        assert!(step0.contains("count from 1"), "{step0}");
        let unknown = "tools:x".parse::<Breakpoint>().unwrap_err();
        assert!(
            unknown.contains("unknown breakpoint `tools:x`"),
            "{unknown}"
        );
        assert!("tool:".parse::<Breakpoint>().is_err());
        assert!("step:x".parse::<Breakpoint>().is_err());
        assert!("model:1".parse::<Breakpoint>().is_err());
        for text in ["model", "error", "step:3", "tool:a__*"] {
            assert_eq!(
                text.parse::<Breakpoint>().map(|b| b.to_string()),
                Ok(text.into())
            );
        }
    }

    #[test]
    fn globs_match_whole_names() {
        assert!(glob_matches("files__*", "files__read"));
        assert!(!glob_matches("files__*", "myfiles__read"));
        assert!(glob_matches("*__delete", "files__delete"));
        assert!(!glob_matches("*__delete", "files__delete_all"));
        assert!(glob_matches("*", "anything"));
        assert!(glob_matches("a*b*c", "a__b__c"));
        assert!(!glob_matches("a*b*c", "a__c__b"));
        assert!(glob_matches("demo__echo", "demo__echo"));
        assert!(!glob_matches("demo__echo", "demo__echo2"));
        assert!(!glob_matches("ab*ba", "aba"), "the parts may not overlap");
    }
}
