//! Writing a trace while the run happens: [`TraceWriter`] creates the file owner-only (mode
//! 0600, also when it replaces an existing file), scrubs configured secret values from every
//! string of a step (tool arguments and results, model requests and replies) and appends the
//! step as one line, written to the OS at once so a crash loses at most the line being
//! written. [`tee`] puts a writer on an agent's event stream.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::llm::GENERIC_KEY_VAR;
use crate::protocol::{AgentEvent, TraceStep};
use crate::redact::Secrets;

/// Owner read and write only: a trace holds whole conversations and tool results.
pub const TRACE_FILE_MODE: u32 = 0o600;
/// Room between the agent and whoever reads its events after the writer.
const TEE_QUEUE: usize = 1024;

/// The values a trace must never contain: every server's configured secrets (headers,
/// tokens, URL credentials, stdio `env` values) and the LLM key in `LLM_API_KEY`.
pub fn config_secrets(config: &Config) -> Secrets {
    let key = config.env_var(GENERIC_KEY_VAR);
    Secrets::for_config(config).with_values(key.as_deref())
}

/// Appends steps to one trace file.
pub struct TraceWriter {
    file: File,
    path: PathBuf,
    secrets: Secrets,
}

impl std::fmt::Debug for TraceWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceWriter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl TraceWriter {
    /// Creates (or empties) `path` with mode 0600; `secrets` are scrubbed from every step.
    pub fn create(path: &Path, secrets: Secrets) -> io::Result<Self> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(TRACE_FILE_MODE)
            .open(path)?;
        // `mode` only applies to a file this call created: an existing one keeps its mode
        // until it is set here, before anything is written to it.
        file.set_permissions(Permissions::from_mode(TRACE_FILE_MODE))?;
        Ok(Self {
            file,
            path: path.to_owned(),
            secrets,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends the step's newest version as one line.
    pub fn write(&mut self, step: &TraceStep) -> io::Result<()> {
        let mut line = self.line(step);
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.file.flush()
    }

    /// The step as one JSON line with every string scrubbed (values are scrubbed after
    /// decoding, so an escaped secret cannot slip through).
    pub fn line(&self, step: &TraceStep) -> String {
        match serde_json::to_value(step) {
            Ok(mut value) => {
                scrub_value(&mut value, &self.secrets);
                serde_json::to_string(&value).unwrap_or_else(|_| "{}".to_owned())
            }
            Err(_) => "{}".to_owned(),
        }
    }
}

/// Every string in `value` (object keys too) with secrets and credential URLs hidden.
fn scrub_value(value: &mut Value, secrets: &Secrets) {
    match value {
        Value::String(text) => {
            let scrubbed = secrets.scrub_owned(std::mem::take(text));
            *text = scrubbed;
        }
        Value::Array(items) => items.iter_mut().for_each(|item| scrub_value(item, secrets)),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut item) in entries {
                scrub_value(&mut item, secrets);
                map.insert(secrets.scrub_owned(key), item);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Writes every trace step of `events` to `writer` and passes all events on. The task ends
/// when `events` closes and returns the first write error (writing stops after it; the
/// events still flow). Writes are small appends to a local file, done in place.
pub fn tee(
    mut events: mpsc::Receiver<AgentEvent>,
    mut writer: TraceWriter,
) -> (mpsc::Receiver<AgentEvent>, JoinHandle<Option<String>>) {
    let (out, passed) = mpsc::channel(TEE_QUEUE);
    let task = tokio::spawn(async move {
        let mut failed = None;
        while let Some(event) = events.recv().await {
            if let AgentEvent::Trace(step) = &event
                && failed.is_none()
                && let Err(error) = writer.write(step)
            {
                let message = format!(
                    "cannot write the trace to {}: {error}; it stops here",
                    writer.path().display()
                );
                tracing::warn!("{message}");
                failed = Some(message);
            }
            // Nobody reading the events any more is fine: the trace is still written.
            let _ = out.send(event).await;
        }
        failed
    });
    (passed, task)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::llm::ChatRequest;
    use crate::protocol::{StepBody, StepId, StepStatus, ToolCallId, TurnId};
    use serde_json::json;

    const SECRET: &str = "tok-s3cr3t-value-42";

    fn call_step(id: u64, arguments: Value) -> TraceStep {
        let mut step = TraceStep::begin(
            StepId(id),
            Some(StepId(1)),
            Some(TurnId(1)),
            StepBody::ToolCall {
                call: ToolCallId(1),
                server: "demo".into(),
                tool: "echo".into(),
                qualified_name: "demo__echo".into(),
                arguments,
                approved_by: None,
                model_arguments: None,
            },
        );
        step.end(StepStatus::Ok);
        step
    }

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn a_new_file_is_owner_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run.jsonl");
        TraceWriter::create(&path, Secrets::default()).expect("create");
        assert_eq!(mode_of(&path), 0o600);
    }

    #[test]
    fn an_existing_world_readable_file_is_replaced_and_made_owner_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run.jsonl");
        std::fs::write(&path, "old content that is longer than one step\n").expect("write");
        std::fs::set_permissions(&path, Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(mode_of(&path), 0o644);
        let mut writer = TraceWriter::create(&path, Secrets::default()).expect("create");
        writer.write(&call_step(2, json!({"a": 1}))).expect("write");
        assert_eq!(mode_of(&path), 0o600);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains("old content"), "{text}");
        assert_eq!(text.lines().count(), 1);
    }

    #[test]
    fn every_line_is_one_json_object_that_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run.jsonl");
        let mut writer = TraceWriter::create(&path, Secrets::default()).expect("create");
        let steps = [
            call_step(2, json!({"text": "two\nlines"})),
            call_step(3, json!({"b": [1, 2]})),
        ];
        for step in &steps {
            writer.write(step).expect("write");
        }
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.ends_with('\n'));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        for (line, step) in lines.iter().zip(&steps) {
            let value: Value = serde_json::from_str(line).expect("JSON");
            assert!(value.is_object(), "{line}");
            assert_eq!(&TraceStep::from_json_line(line).expect("a step"), step);
        }
    }

    #[test]
    fn secrets_are_scrubbed_inside_tool_arguments_and_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run.jsonl");
        let mut writer =
            TraceWriter::create(&path, Secrets::from_values([SECRET])).expect("create");
        let arguments = json!({
            "message": format!("use {SECRET} please"),
            "nested": [{"deep": SECRET}],
            SECRET: "as a key",
            "quoted": format!("\"{SECRET}\""),
        });
        writer.write(&call_step(2, arguments)).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains(SECRET), "{text}");
        assert!(text.contains("use *** please"), "{text}");
        let step = TraceStep::from_json_line(text.trim_end()).expect("still a step");
        match step.body {
            StepBody::ToolCall { arguments, .. } => {
                assert_eq!(arguments["nested"][0]["deep"], "***");
                assert_eq!(arguments["***"], "as a key");
            }
            other => panic!("expected a tool call, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn tee_writes_steps_and_passes_every_event_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run.jsonl");
        let writer = TraceWriter::create(&path, Secrets::default()).expect("create");
        let (tx, rx) = mpsc::channel(8);
        let (mut passed, task) = tee(rx, writer);
        let step = std::sync::Arc::new(call_step(2, json!({})));
        tx.send(AgentEvent::Trace(step.clone()))
            .await
            .expect("send");
        tx.send(AgentEvent::UsageChanged(Default::default()))
            .await
            .expect("send");
        drop(tx);
        assert!(matches!(passed.recv().await, Some(AgentEvent::Trace(_))));
        assert!(matches!(
            passed.recv().await,
            Some(AgentEvent::UsageChanged(_))
        ));
        assert_eq!(task.await.expect("join"), None);
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 1);
        assert_eq!(
            TraceStep::from_json_line(text.trim_end()).expect("a step"),
            *step
        );
    }

    #[test]
    fn a_request_written_when_it_begins_and_ends_reads_back_scrubbed_both_times() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.jsonl");
        let mut writer =
            TraceWriter::create(&path, Secrets::from_values([SECRET])).expect("create");
        let request = Arc::new(ChatRequest {
            system: Some("be brief".into()),
            messages: vec![crate::llm::ChatMessage::user(format!("my key is {SECRET}"))],
            ..ChatRequest::default()
        });
        let mut step = TraceStep::begin(
            StepId(2),
            Some(StepId(1)),
            Some(TurnId(1)),
            StepBody::ModelRequest {
                model: "openai/gpt-4o".into(),
                request: request.clone(),
            },
        );
        writer.write(&step).expect("begin");
        step.end(StepStatus::Ok);
        writer.write(&step).expect("end");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains(SECRET), "{text}");
        let lines: Vec<TraceStep> = text
            .lines()
            .map(|line| TraceStep::from_json_line(line).expect("a step"))
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].status, StepStatus::Ok);
        for line in &lines {
            match &line.body {
                StepBody::ModelRequest { model, request } => {
                    assert_eq!(model, "openai/gpt-4o");
                    assert_eq!(request.system.as_deref(), Some("be brief"));
                    assert_eq!(
                        request.messages,
                        vec![crate::llm::ChatMessage::user("my key is ***")]
                    );
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
