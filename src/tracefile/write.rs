//! Writing a trace while the run happens: [`TraceWriter`] creates the file owner-only (mode
//! 0600, also when it replaces an existing file), scrubs configured secret values from every
//! string of a step (tool arguments and results, model requests and replies) and appends the
//! step as one line, written to the OS at once so a crash loses at most the line being
//! written. [`TraceSink`] shares a writer with an agent, whose tracer writes each step itself
//! before sending the step's event.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::request_lines::RequestLines;
use super::scrub_json::Scrubber;
use crate::agent::trace::StepSink;
use crate::config::Config;
use crate::llm::GENERIC_KEY_VAR;
use crate::protocol::TraceStep;
use crate::redact::Secrets;

/// Owner read and write only: a trace holds whole conversations and tool results.
pub const TRACE_FILE_MODE: u32 = 0o600;

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
    scrubber: Scrubber,
    requests: RequestLines,
    /// The line being written, kept so its allocation serves every line.
    line: Vec<u8>,
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
            scrubber: Scrubber::new(secrets),
            requests: RequestLines::default(),
            line: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends the step's newest version as one line, in one write (the file is unbuffered,
    /// so the line is with the OS when this returns).
    pub fn write(&mut self, step: &TraceStep) -> io::Result<()> {
        self.line.clear();
        // A model request's end line reuses the JSON of the request its begin line wrote.
        let written = match self.requests.push(&mut self.line, step, &self.scrubber) {
            Ok(true) => Ok(()),
            Ok(false) => self.scrubber.write(&mut self.line, step),
            Err(error) => Err(error),
        };
        if written.is_err() {
            empty_object(&mut self.line);
        }
        self.line.push(b'\n');
        self.file.write_all(&self.line)?;
        self.file.flush()
    }

    /// The step as one JSON line with every string scrubbed (values are scrubbed after
    /// decoding, so an escaped secret cannot slip through).
    pub fn line(&self, step: &TraceStep) -> String {
        let mut line = Vec::new();
        if self.scrubber.write(&mut line, step).is_err() {
            empty_object(&mut line);
        }
        String::from_utf8(line).unwrap_or_else(|_| "{}".to_owned())
    }
}

/// Serialising plain data with string keys cannot fail; an empty object keeps the line count
/// right if it ever did.
fn empty_object(line: &mut Vec<u8>) {
    line.clear();
    line.extend_from_slice(b"{}");
}

/// A trace file an agent writes to from its own tasks: the agent's tracer hands each step
/// here before it sends the step's event, so no extra task sits between the agent and its
/// events, and a step is in the file by the time anyone hears of it. The first write error
/// is logged once and kept for [`TraceSink::failure`]; writing stops there, the run goes on.
#[derive(Clone)]
pub struct TraceSink {
    state: Arc<Mutex<SinkState>>,
}

struct SinkState {
    writer: TraceWriter,
    failed: Option<String>,
}

impl TraceSink {
    pub fn new(writer: TraceWriter) -> Self {
        Self {
            state: Arc::new(Mutex::new(SinkState {
                writer,
                failed: None,
            })),
        }
    }

    /// Why writing stopped, if it did.
    pub fn failure(&self) -> Option<String> {
        self.lock().failed.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SinkState> {
        // A panic mid-write leaves at worst a cut-short last line, which readers report.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for TraceSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceSink").finish_non_exhaustive()
    }
}

impl StepSink for TraceSink {
    /// A small append to a local file, done in place on the agent's task: cheaper than
    /// handing the step to another task or thread, and the step is written before the
    /// agent goes on (a kill right after the step ends still finds it in the file).
    fn save(&self, step: &TraceStep) {
        let mut state = self.lock();
        if state.failed.is_some() {
            return;
        }
        if let Err(error) = state.writer.write(step) {
            let message = format!(
                "cannot write the trace to {}: {error}; it stops here",
                state.writer.path().display()
            );
            tracing::warn!("{message}");
            state.failed = Some(message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::llm::ChatRequest;
    use crate::protocol::{StepBody, StepId, StepStatus, ToolCallId, TurnId};
    use serde_json::{Value, json};

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

    fn read_steps(path: &Path) -> Vec<TraceStep> {
        std::fs::read_to_string(path)
            .expect("read")
            .lines()
            .map(|line| TraceStep::from_json_line(line).expect("a step"))
            .collect()
    }

    #[tokio::test]
    async fn a_tracer_with_a_sink_writes_each_step_before_sending_it() {
        use crate::agent::trace::Tracer;
        use crate::protocol::{AgentEvent, IdSource};

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run.jsonl");
        let writer = TraceWriter::create(&path, Secrets::from_values([SECRET])).expect("create");
        let sink = TraceSink::new(writer);
        // A full channel: the tracer's send waits until the event below is taken.
        let (tx, mut events) = tokio::sync::mpsc::channel(1);
        tx.send(AgentEvent::UsageChanged(Default::default()))
            .await
            .expect("send");
        let tracer = Tracer::new(Arc::new(IdSource::default()), tx, Some(TurnId(1)))
            .saving_to(Some(Arc::new(sink.clone())));
        let begin = tokio::spawn({
            let tracer = tracer.clone();
            async move {
                tracer
                    .begin(
                        None,
                        StepBody::Error {
                            message: format!("leaked {SECRET}"),
                        },
                    )
                    .await
            }
        });
        // The tracer runs until its send waits for room: by then the step is in the file.
        for _ in 0..100 {
            if !read_steps(&path).is_empty() {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(read_steps(&path).len(), 1, "written before it is sent");
        assert!(!begin.is_finished(), "the send is still waiting for room");
        assert!(matches!(
            events.recv().await,
            Some(AgentEvent::UsageChanged(_))
        ));
        let mut step = begin.await.expect("join");
        let Some(AgentEvent::Trace(sent)) = events.recv().await else {
            panic!("the step is sent");
        };
        assert_eq!(
            *sent, step,
            "the event keeps the secret: only the file is scrubbed"
        );
        tracer.finish(&mut step, StepStatus::Ok).await;
        assert!(matches!(events.recv().await, Some(AgentEvent::Trace(_))));
        let written = read_steps(&path);
        assert_eq!(
            written.len(),
            2,
            "written when it begins and again when it ends"
        );
        assert_eq!(written[0].status, StepStatus::Running);
        assert_eq!(written[1].status, StepStatus::Ok);
        assert_eq!(
            written[1].body,
            StepBody::Error {
                message: "leaked ***".into()
            }
        );
        assert_eq!(sink.failure(), None);
    }

    #[tokio::test]
    async fn a_write_error_stops_the_file_but_not_the_run() {
        use crate::agent::trace::Tracer;
        use crate::protocol::{AgentEvent, IdSource};

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run.jsonl");
        let mut writer = TraceWriter::create(&path, Secrets::default()).expect("create");
        // Opened for reading only: every write fails.
        writer.file = File::open(&path).expect("open");
        let sink = TraceSink::new(writer);
        let (tx, mut events) = tokio::sync::mpsc::channel(8);
        let tracer = Tracer::new(Arc::new(IdSource::default()), tx, Some(TurnId(1)))
            .saving_to(Some(Arc::new(sink.clone())));
        tracer
            .record(None, StepBody::Limit { reason: "a".into() }, StepStatus::Ok)
            .await;
        let failure = sink.failure().expect("the failure is kept");
        assert!(failure.contains("cannot write the trace to"), "{failure}");
        assert!(failure.contains("run.jsonl"), "{failure}");
        // Writing stopped: a file that would take the line now gets nothing.
        sink.lock().writer.file = OpenOptions::new().append(true).open(&path).expect("open");
        tracer
            .record(None, StepBody::Limit { reason: "b".into() }, StepStatus::Ok)
            .await;
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "");
        assert_eq!(
            sink.failure(),
            Some(failure),
            "the first error is the one kept"
        );
        // Every event still went out.
        for _ in 0..2 {
            assert!(matches!(events.recv().await, Some(AgentEvent::Trace(_))));
        }
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
