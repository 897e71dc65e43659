//! Saving the dashboard's trace on request (a key in the Trace pane): every step the session
//! has seen, newest version of each, to `$XDG_DATA_HOME/mcpomni/traces/<session>-<time>.jsonl`
//! — the directory 0700, the file 0600, secrets scrubbed like `--trace` does.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::write::TraceWriter;
use crate::protocol::TraceStep;
use crate::redact::Secrets;

/// Where and how the dashboard saves traces.
#[derive(Debug, Clone)]
pub struct TraceSaver {
    dir: PathBuf,
    session: String,
    secrets: Secrets,
}

impl TraceSaver {
    /// `dir` is the traces directory; `session` names the files (letters, digits, `-`, `_`
    /// kept; anything else becomes `_`).
    pub fn new(dir: PathBuf, session: &str, secrets: Secrets) -> Self {
        let session: String = session
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Self {
            dir,
            session,
            secrets,
        }
    }

    /// The traces directory under the user's data directory (XDG on Unix).
    pub fn default_dir() -> Option<PathBuf> {
        use etcetera::BaseStrategy;
        etcetera::choose_base_strategy()
            .ok()
            .map(|strategy| strategy.data_dir().join("mcpomni").join("traces"))
    }

    /// Writes `steps` to a new file and returns its path.
    pub fn save(&self, steps: &[Arc<TraceStep>]) -> io::Result<PathBuf> {
        create_private_dir(&self.dir)?;
        let path = self
            .dir
            .join(format!("{}-{}.jsonl", self.session, timestamp()));
        let mut writer = TraceWriter::create(&path, self.secrets.clone())?;
        for step in steps {
            writer.write(step)?;
        }
        Ok(path)
    }
}

fn create_private_dir(dir: &std::path::Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Seconds and milliseconds since the epoch: sortable, unique enough for a key press.
fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}{:03}", now.as_secs(), now.subsec_millis())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{StepBody, StepId, TurnId};

    #[test]
    fn saved_traces_are_private_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let traces = dir.path().join("data").join("traces");
        let saver = TraceSaver::new(traces.clone(), "my session/1", Secrets::default());
        let step = Arc::new(TraceStep::begin(
            StepId(1),
            None,
            Some(TurnId(1)),
            StepBody::Error {
                message: "boom".into(),
            },
        ));
        let path = saver.save(&[step]).expect("saved");
        assert_eq!(path.parent(), Some(traces.as_path()));
        let name = path.file_name().and_then(|n| n.to_str()).expect("a name");
        assert!(
            name.starts_with("my_session_1-") && name.ends_with(".jsonl"),
            "{name}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &std::path::Path| {
                std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
            };
            assert_eq!(mode(&traces), 0o700);
            assert_eq!(mode(&path), 0o600);
        }
        let trace = crate::tracefile::read_trace(&path).expect("reads back");
        assert_eq!(trace.steps.len(), 1);
    }
}
