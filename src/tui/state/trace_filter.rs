//! The Trace pane's filter: what `/` types. Words separated by spaces, every one of which a
//! step must match: `kind:K` (a kind containing K: `tool` matches tool calls and results),
//! `turn:N`, `tool:GLOB` (the call's qualified name, for its call, approval and result),
//! `status:S` (running, ok, error, cancelled, denied), and any other word is searched for in
//! the step's title and detail, ignoring case.

use crate::protocol::debug::glob_matches;
use crate::protocol::{StepStatus, TurnId};

use super::trace::TraceRow;

#[derive(Debug, Clone, PartialEq)]
pub struct TraceFilter {
    /// As typed, for the pane's title.
    pub text: String,
    terms: Vec<Term>,
}

#[derive(Debug, Clone, PartialEq)]
enum Term {
    Kind(String),
    Turn(TurnId),
    Tool(String),
    Status(StepStatus),
    /// Lower-cased.
    Word(String),
}

impl TraceFilter {
    /// Reads a filter; `None` when it is blank (everything shows). The error names the word
    /// that could not be read.
    pub fn parse(text: &str) -> Result<Option<Self>, String> {
        let mut terms = Vec::new();
        for word in text.split_whitespace() {
            let term = match word.split_once(':') {
                Some(("kind", kind)) if !kind.is_empty() => Term::Kind(kind.to_lowercase()),
                Some(("turn", number)) => match number.parse::<u64>() {
                    Ok(n) => Term::Turn(TurnId(n)),
                    Err(_) => return Err(format!("{word}: a turn is a number, like turn:2")),
                },
                Some(("tool", glob)) if !glob.is_empty() => Term::Tool(glob.to_owned()),
                Some(("status", status)) => {
                    Term::Status(parse_status(status).ok_or_else(|| {
                        format!("{word}: the statuses are running, ok, error, cancelled and denied")
                    })?)
                }
                _ => Term::Word(word.to_lowercase()),
            };
            terms.push(term);
        }
        Ok((!terms.is_empty()).then(|| Self {
            text: text.trim().to_owned(),
            terms,
        }))
    }

    pub fn matches(&self, row: &TraceRow) -> bool {
        self.terms.iter().all(|term| match term {
            Term::Kind(kind) => row.step.body.kind().contains(kind.as_str()),
            Term::Turn(turn) => row.step.turn == Some(*turn),
            Term::Tool(glob) => row.tool.as_deref().is_some_and(|t| glob_matches(glob, t)),
            Term::Status(status) => row.step.status == *status,
            Term::Word(word) => row.search.contains(word.as_str()),
        })
    }
}

fn parse_status(text: &str) -> Option<StepStatus> {
    Some(match text {
        "running" => StepStatus::Running,
        "ok" => StepStatus::Ok,
        "error" | "failed" => StepStatus::Error,
        "cancelled" => StepStatus::Cancelled,
        "denied" => StepStatus::Denied,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::protocol::{CallOutcome, StepBody, StepId, ToolCallId, TraceStep};

    fn row(body: StepBody, turn: u64, tool: Option<&str>, status: StepStatus) -> TraceRow {
        let mut step = TraceStep::begin(StepId(1), None, Some(TurnId(turn)), body);
        step.status = status;
        TraceRow::new(Arc::new(step), 0, tool.map(str::to_owned))
    }

    fn result(turn: u64, tool: &str, text: &str, status: StepStatus) -> TraceRow {
        row(
            StepBody::ToolResult {
                call: ToolCallId(1),
                outcome: CallOutcome::Ok {
                    summary: text.into(),
                },
                content: text.into(),
                structured: None,
            },
            turn,
            Some(tool),
            status,
        )
    }

    fn shows(filter: &str, row: &TraceRow) -> bool {
        TraceFilter::parse(filter)
            .expect("a filter")
            .expect("not blank")
            .matches(row)
    }

    #[test]
    fn every_word_must_match() {
        let weather = result(2, "weather__forecast", "Sunny in Paris", StepStatus::Ok);
        assert!(shows("kind:tool", &weather));
        assert!(shows("kind:result turn:2", &weather));
        assert!(!shows("kind:model", &weather));
        assert!(!shows("turn:1", &weather));
        assert!(shows("tool:weather__*", &weather));
        assert!(!shows("tool:files__*", &weather));
        assert!(shows("PARIS", &weather), "words ignore case");
        assert!(!shows("paris london", &weather));
        assert!(shows("status:ok", &weather));
        assert!(!shows("status:error", &weather));
    }

    #[test]
    fn a_step_without_a_tool_never_matches_a_tool_glob() {
        let limit = row(
            StepBody::Limit {
                reason: "tokens".into(),
            },
            1,
            None,
            StepStatus::Error,
        );
        assert!(!shows("tool:*", &limit));
        assert!(shows("status:error", &limit));
    }

    #[test]
    fn blank_is_no_filter_and_bad_words_say_why() {
        assert_eq!(TraceFilter::parse("   "), Ok(None));
        let error = TraceFilter::parse("kind:tool turn:two").expect_err("not a number");
        assert!(error.starts_with("turn:two"), "{error}");
        let error = TraceFilter::parse("status:broken").expect_err("no such status");
        assert!(error.contains("running, ok, error"), "{error}");
        // An unknown prefix is just a word (URLs have colons).
        assert!(TraceFilter::parse("http://x").expect("a word").is_some());
    }
}
