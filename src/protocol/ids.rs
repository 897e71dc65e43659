//! Newtype ids for everything the agent starts and reports on later: turns, approval and
//! sampling prompts, tool calls and trace steps. Every asynchronous result carries the id of
//! what started it, so a client matches results to requests (never by tool name) and can drop
//! stale ones.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id_type!(
    /// One user message and everything the agent does to answer it.
    TurnId
);
id_type!(
    /// One approval prompt (a tool call waiting for the user's keystroke).
    ApprovalId
);
id_type!(
    /// One `sampling/createMessage` request from a server, waiting for the user.
    SamplingId
);
id_type!(
    /// One tool call the model asked for, from the approval prompt to its result.
    ToolCallId
);
id_type!(
    /// One step of an agent run in the trace.
    StepId
);

/// Hands out tool-call and step ids, unique within one agent (all its turns). Shared by the
/// agent's tasks; numbering starts at 1 so that 0 never names anything.
#[derive(Debug, Default)]
pub struct IdSource {
    calls: AtomicU64,
    steps: AtomicU64,
}

impl IdSource {
    pub fn next_call(&self) -> ToolCallId {
        ToolCallId(self.calls.fetch_add(1, Ordering::Relaxed) + 1)
    }

    pub fn next_step(&self) -> StepId {
        StepId(self.steps.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// New steps get ids above `step` (a resumed session's stored steps keep theirs).
    pub fn steps_after(&self, step: StepId) {
        self.steps.fetch_max(step.0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_serialise_as_plain_numbers() {
        let ids = IdSource::default();
        assert_eq!(ids.next_call(), ToolCallId(1));
        assert_eq!(ids.next_call(), ToolCallId(2));
        assert_eq!(ids.next_step(), StepId(1));
        assert_eq!(serde_json::to_string(&StepId(7)).ok().as_deref(), Some("7"));
    }
}
