//! Reading a saved trace: every line is one step's newest version; the last line of each id
//! wins, in the order ids first appear. A file that is not a trace, a line that is not a
//! step, or a last line cut short (the writer was killed mid-line) is an error naming the
//! file and the line. Lines from a newer format version are read as far as this build
//! understands them (unknown kinds show as `unknown`), with one warning.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::protocol::trace::TRACE_FORMAT_VERSION;
use crate::protocol::{StepId, TraceStep};

/// A trace as read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Each step's newest version, in the order steps first appeared.
    pub steps: Vec<TraceStep>,
    /// Said once when some line came from a newer format version.
    pub warning: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: cannot read the trace: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: the file is empty: not a trace (one JSON object per line)", path.display())]
    Empty { path: PathBuf },
    #[error(
        "{}:{line}: not a trace file: expected one JSON step per line (with \"v\", \"id\", \
         \"kind\"): {why}", path.display()
    )]
    NotATrace {
        path: PathBuf,
        line: usize,
        why: String,
    },
    #[error(
        "{}:{line}: the last line is cut short (was the run killed while writing it?): {why}",
        path.display()
    )]
    Truncated {
        path: PathBuf,
        line: usize,
        why: String,
    },
    #[error("{}:{line}: not a trace step: {why}", path.display())]
    BadLine {
        path: PathBuf,
        line: usize,
        why: String,
    },
}

/// Reads the trace in `path`.
pub fn read_trace(path: &Path) -> Result<Trace, ReadError> {
    let bytes = std::fs::read(path).map_err(|error| ReadError::Io {
        path: path.to_owned(),
        error,
    })?;
    let text = String::from_utf8_lossy(&bytes);
    parse_trace(&text, path)
}

/// Reads trace text; `path` names it in errors.
pub fn parse_trace(text: &str, path: &Path) -> Result<Trace, ReadError> {
    let mut steps: Vec<TraceStep> = Vec::new();
    let mut index: HashMap<StepId, usize> = HashMap::new();
    let mut warning = None;
    let last_line = text.lines().count();
    let mut seen_step = false;
    for (number, line) in text.lines().enumerate().map(|(i, line)| (i + 1, line)) {
        if line.trim().is_empty() {
            continue;
        }
        let step = match TraceStep::from_json_line(line) {
            Ok(step) => step,
            Err(error) => {
                let why = reason(&error);
                let path = path.to_owned();
                return Err(if error.is_eof() && number == last_line {
                    ReadError::Truncated {
                        path,
                        line: number,
                        why,
                    }
                } else if !seen_step || !is_object(line) {
                    ReadError::NotATrace {
                        path,
                        line: number,
                        why,
                    }
                } else {
                    ReadError::BadLine {
                        path,
                        line: number,
                        why,
                    }
                });
            }
        };
        seen_step = true;
        if step.v > TRACE_FORMAT_VERSION && warning.is_none() {
            warning = Some(format!(
                "{}:{number}: written by a newer mcpomni (trace format v{}; this build reads \
                 v{TRACE_FORMAT_VERSION}): what it does not know shows as \"unknown\"",
                path.display(),
                step.v
            ));
        }
        match index.get(&step.id) {
            Some(&at) => steps[at] = step,
            None => {
                index.insert(step.id, steps.len());
                steps.push(step);
            }
        }
    }
    if steps.is_empty() {
        return Err(ReadError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(Trace { steps, warning })
}

/// serde's message without its "at line 1 column N" (every line is line 1 to serde; the
/// file's line is in the error already).
fn reason(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match text.strip_suffix(&suffix) {
        Some(message) => format!("{message} (column {})", error.column()),
        None => text,
    }
}

fn is_object(line: &str) -> bool {
    matches!(serde_json::from_str::<Value>(line), Ok(Value::Object(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{StepBody, StepStatus};

    fn limit(id: u64, status: StepStatus) -> String {
        let mut step = TraceStep::begin(
            StepId(id),
            None,
            None,
            StepBody::Limit {
                reason: format!("step {id}"),
            },
        );
        if status != StepStatus::Running {
            step.end(status);
        }
        step.to_json_line()
    }

    fn parse(text: &str) -> Result<Trace, ReadError> {
        parse_trace(text, Path::new("saved.jsonl"))
    }

    #[test]
    fn the_newest_version_of_each_step_wins_in_first_seen_order() {
        let text = [
            limit(1, StepStatus::Running),
            limit(2, StepStatus::Running),
            limit(1, StepStatus::Ok),
            String::new(),
            limit(2, StepStatus::Error),
        ]
        .join("\n");
        let trace = parse(&text).expect("reads");
        let got: Vec<(u64, StepStatus)> = trace.steps.iter().map(|s| (s.id.0, s.status)).collect();
        assert_eq!(got, vec![(1, StepStatus::Ok), (2, StepStatus::Error)]);
        assert_eq!(trace.warning, None);
    }

    #[test]
    fn a_truncated_last_line_names_the_file_and_line() {
        let whole = limit(2, StepStatus::Ok);
        let text = format!(
            "{}\n{}",
            limit(1, StepStatus::Ok),
            &whole[..whole.len() / 2]
        );
        let error = parse(&text).expect_err("cut short");
        assert!(
            matches!(error, ReadError::Truncated { line: 2, .. }),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.starts_with("saved.jsonl:2: the last line is cut short"),
            "{message}"
        );
    }

    #[test]
    fn a_newer_version_is_read_with_one_warning() {
        let newer = r#"{"v":9,"id":2,"parent":1,"started_ms":5,"status":"paused","kind":"checkpoint","x":1}"#;
        let text = format!(
            "{}\n{newer}\n{}\n",
            limit(1, StepStatus::Ok),
            newer.replace("\"id\":2", "\"id\":3")
        );
        let trace = parse(&text).expect("reads what it can");
        assert_eq!(trace.steps.len(), 3);
        assert_eq!(trace.steps[1].body, StepBody::Unknown);
        let warning = trace.warning.expect("a warning");
        assert!(
            warning.starts_with("saved.jsonl:2: written by a newer mcpomni (trace format v9"),
            "{warning}"
        );
    }

    #[test]
    fn a_file_that_is_not_a_trace_is_refused_with_its_line() {
        for (text, line) in [
            ("# just notes\nmore notes\n", 1),
            ("{\"name\": \"demo\", \"tools\": []}\n", 1),
            ("[1, 2, 3]\n", 1),
        ] {
            let error = parse(text).expect_err(text);
            assert!(
                matches!(error, ReadError::NotATrace { line: l, .. } if l == line),
                "{error:?}"
            );
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("saved.jsonl:{line}: not a trace file")),
                "{error}"
            );
        }
        let error = parse(&format!(
            "{}\nnot json\n{}\n",
            limit(1, StepStatus::Ok),
            limit(2, StepStatus::Ok)
        ))
        .expect_err("a bad line");
        assert!(
            error
                .to_string()
                .starts_with("saved.jsonl:2: not a trace file"),
            "{error}"
        );
        let error = parse(&format!(
            "{}\n{{\"id\": \"x\"}}\n",
            limit(1, StepStatus::Ok)
        ))
        .expect_err("bad step");
        assert!(
            error
                .to_string()
                .starts_with("saved.jsonl:2: not a trace step"),
            "{error}"
        );
        assert!(
            !error.to_string().contains("line 1"),
            "serde's own line number is dropped: {error}"
        );
        assert!(matches!(parse("\n\n"), Err(ReadError::Empty { .. })));
    }
}
