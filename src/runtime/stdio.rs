//! Starting a stdio MCP server as a child process.
//!
//! The child runs in its own process group, so shutdown can reach everything it started (an
//! `npx` wrapper and the `node` it runs) and a Ctrl-C in the terminal goes to us, not to it.
//! It gets a small allow-listed environment plus the config's `env`: our own secrets (LLM API
//! keys, tokens) never leak into servers. Its stderr is read line by line, with the config's
//! `env` values scrubbed out, into a bounded ring buffer that the Servers pane shows; its exit
//! is reported at once.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{ChildStdin, ChildStdout, Command};
use tokio::sync::{Notify, oneshot};

use crate::config::StdioConfig;
use crate::redact::Secrets;
use crate::text::{sanitize_line, truncate_chars};

/// Variables a stdio server inherits from our environment; everything else is withheld.
pub const INHERITED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TERM",
    "TZ",
    "TMPDIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_STATE_HOME",
    "XDG_RUNTIME_DIR",
];

/// Lines kept from a server's stderr.
pub const STDERR_LINES: usize = 200;
/// Characters kept of one stderr line.
const STDERR_LINE_CHARS: usize = 1000;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpawnError {
    #[error("command `{0}` was not found on PATH")]
    NotOnPath(String),
    #[error("command `{0}` does not exist")]
    Missing(String),
    #[error("command `{0}` is not executable")]
    NotExecutable(String),
    #[error("working directory `{0}` does not exist")]
    BadCwd(String),
    #[error("cannot start `{command}`: {message}")]
    Other { command: String, message: String },
}

/// The newest lines of a child's stderr, shared between the reader task and the actor.
#[derive(Debug, Default)]
pub struct StderrRing {
    lines: Mutex<Lines>,
    pub changed: Notify,
}

#[derive(Debug, Default)]
struct Lines {
    kept: VecDeque<String>,
    /// Lines pushed since the ring was made (kept or not): marks where a process began.
    pushed: usize,
}

impl StderrRing {
    pub fn push(&self, line: String) {
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        if lines.kept.len() == STDERR_LINES {
            lines.kept.pop_front();
        }
        lines.kept.push_back(line);
        lines.pushed += 1;
        drop(lines);
        self.changed.notify_one();
    }

    /// A mark for [`StderrRing::since`]: how many lines were pushed so far.
    pub fn mark(&self) -> usize {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pushed
    }

    /// The last `n` lines pushed after `mark` (still kept), oldest first: what one run of a
    /// restarted server wrote, without its predecessors' lines.
    pub fn since(&self, mark: usize, n: usize) -> Vec<String> {
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let new = lines.pushed.saturating_sub(mark).min(lines.kept.len());
        lines
            .kept
            .iter()
            .skip(lines.kept.len() - new.min(n))
            .cloned()
            .collect()
    }

    /// The last `n` lines, oldest first.
    pub fn tail(&self, n: usize) -> Vec<String> {
        self.since(0, n)
    }

    /// Every line pushed after `mark` that is still kept, oldest first; the mark to read from
    /// next time; and how many lines after `mark` were pushed out of the ring unread.
    pub fn read_from(&self, mark: usize) -> (Vec<String>, usize, u64) {
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let new = lines.pushed.saturating_sub(mark);
        let kept = new.min(lines.kept.len());
        let read = lines
            .kept
            .iter()
            .skip(lines.kept.len() - kept)
            .cloned()
            .collect();
        (read, lines.pushed, (new - kept) as u64)
    }
}

/// A started child: the pipes rmcp will speak over, its pid, and how it ended.
pub struct SpawnedServer {
    pub stdout: ChildStdout,
    pub stdin: ChildStdin,
    pub pid: u32,
    /// Resolves with the exit status (as text) once the process is gone.
    pub exited: oneshot::Receiver<String>,
    /// The ring its stderr lines go to, and where this process's lines begin in it.
    pub stderr: Arc<StderrRing>,
    pub stderr_mark: usize,
    /// Ends when the process's stderr is closed and every line of it is in the ring.
    pub stderr_read: tokio::task::JoinHandle<()>,
}

/// Starts the server process described by `config`.
pub fn spawn(
    config: &StdioConfig,
    parent_env: &dyn Fn(&str) -> Option<String>,
    stderr_ring: Arc<StderrRing>,
) -> Result<SpawnedServer, SpawnError> {
    let env = child_env(parent_env, &config.env);
    let program = resolve_program(&config.command, env.get("PATH").map(String::as_str))?;
    if let Some(cwd) = &config.cwd
        && !cwd.is_dir()
    {
        return Err(SpawnError::BadCwd(cwd.display().to_string()));
    }
    let mut command = Command::new(&program);
    command
        .args(&config.args)
        .env_clear()
        .envs(&env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(cwd) = &config.cwd {
        command.current_dir(cwd);
    }
    let mut child = command.spawn().map_err(|e| SpawnError::Other {
        command: config.command.clone(),
        message: e.to_string(),
    })?;
    let missing_pipe = |what: &str| SpawnError::Other {
        command: config.command.clone(),
        message: format!("no {what} pipe"),
    };
    let pid = child.id().ok_or_else(|| missing_pipe("pid"))?;
    let stdin = child.stdin.take().ok_or_else(|| missing_pipe("stdin"))?;
    let stdout = child.stdout.take().ok_or_else(|| missing_pipe("stdout"))?;
    let stderr = child.stderr.take().ok_or_else(|| missing_pipe("stderr"))?;
    process_groups().insert(pid);
    let stderr_mark = stderr_ring.mark();
    // A server that prints its environment must not show its tokens in the Servers pane.
    let secrets = Secrets::for_stdio(config);
    let stderr_read = tokio::spawn(read_stderr(stderr, stderr_ring.clone(), secrets));
    let (exit_tx, exited) = oneshot::channel();
    tokio::spawn(async move {
        let status = match child.wait().await {
            Ok(status) => describe_exit(status),
            Err(e) => format!("could not wait for the process: {e}"),
        };
        let _ = exit_tx.send(status);
    });
    Ok(SpawnedServer {
        stdout,
        stdin,
        pid,
        exited,
        stderr: stderr_ring,
        stderr_mark,
        stderr_read,
    })
}

/// The environment a server starts with: the allow-list, then the config's `env` on top.
pub fn child_env(
    parent_env: &dyn Fn(&str) -> Option<String>,
    configured: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = INHERITED_ENV
        .iter()
        .filter_map(|name| parent_env(name).map(|value| ((*name).to_owned(), value)))
        .collect();
    env.extend(configured.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// Finds the program the way `execvp` would, so a missing command gets a clear message
/// instead of a bare "No such file or directory".
fn resolve_program(command: &str, path: Option<&str>) -> Result<PathBuf, SpawnError> {
    if command.contains('/') {
        let candidate = Path::new(command);
        return if !candidate.exists() {
            Err(SpawnError::Missing(command.to_owned()))
        } else if !is_executable(candidate) {
            Err(SpawnError::NotExecutable(command.to_owned()))
        } else {
            Ok(candidate.to_path_buf())
        };
    }
    path.unwrap_or_default()
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(command))
        .find(|candidate| candidate.is_file() && is_executable(candidate))
        .ok_or_else(|| SpawnError::NotOnPath(command.to_owned()))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn describe_exit(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("the process exited with status {code}"),
        (None, Some(signal)) => {
            let name = Signal::try_from(signal)
                .map(|s| s.as_str())
                .unwrap_or("unknown");
            format!("the process was killed by signal {signal} ({name})")
        }
        (None, None) => "the process exited".to_owned(),
    }
}

async fn read_stderr(stderr: impl AsyncRead + Unpin, ring: Arc<StderrRing>, secrets: Secrets) {
    let mut reader = BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        // A server that never writes a newline must not grow this buffer without bound.
        match read_line_capped(&mut reader, &mut buf, STDERR_LINE_CHARS * 4).await {
            Ok(0) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&buf);
                let line = secrets.scrub_owned(sanitize_line(text.trim_end()));
                let line = truncate_chars(&line, STDERR_LINE_CHARS);
                ring.push(line);
            }
            Err(_) => return,
        }
    }
}

/// Reads up to and including `\n`, keeping at most `cap` bytes (the rest of a long line is
/// consumed and dropped). Returns the number of bytes consumed, 0 at end of stream.
async fn read_line_capped<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<usize> {
    let mut consumed = 0;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(consumed);
        }
        let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let room = cap.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let n = chunk.len();
        reader.consume(n);
        consumed += n;
        if done {
            return Ok(consumed);
        }
    }
}

/// Process groups of running servers, so every exit path — including a panic — can stop them.
fn process_groups() -> std::sync::MutexGuard<'static, BTreeSet<u32>> {
    static GROUPS: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());
    GROUPS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sends `signal` to the server's whole process group.
pub fn signal_group(pid: u32, signal: Signal) {
    if let Ok(raw) = i32::try_from(pid) {
        // ESRCH (already gone) is the common, harmless case.
        let _ = killpg(Pid::from_raw(raw), signal);
    }
}

/// True while any process of the group is still around.
pub fn group_alive(pid: u32) -> bool {
    i32::try_from(pid).is_ok_and(|raw| killpg(Pid::from_raw(raw), None).is_ok())
}

/// Forgets a group once it has been stopped.
pub fn forget_group(pid: u32) {
    process_groups().remove(&pid);
}

/// Last resort on abnormal exit (panic, fatal signal): SIGKILL every server group we started.
pub fn kill_all_groups() {
    let groups: Vec<u32> = process_groups().iter().copied().collect();
    for pid in groups {
        signal_group(pid, Signal::SIGKILL);
        forget_group(pid);
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_env_keeps_only_the_allow_list_and_config_env() {
        let parent = |name: &str| match name {
            "PATH" => Some("/bin".to_owned()),
            "HOME" => Some("/home/u".to_owned()),
            "LLM_API_KEY" => Some("sk-secret".to_owned()),
            _ => None,
        };
        let configured = BTreeMap::from([("TOKEN".to_owned(), "abc".to_owned())]);
        let env = child_env(&parent, &configured);
        assert_eq!(
            env.keys().map(String::as_str).collect::<Vec<_>>(),
            ["HOME", "PATH", "TOKEN"]
        );
        assert!(!env.values().any(|v| v.contains("sk-secret")));
    }

    #[test]
    fn missing_commands_get_specific_errors() {
        assert_eq!(
            resolve_program("no-such-command-xyz", Some("/usr/bin:/bin")),
            Err(SpawnError::NotOnPath("no-such-command-xyz".into()))
        );
        assert_eq!(
            resolve_program("/nonexistent/server", Some("/bin")),
            Err(SpawnError::Missing("/nonexistent/server".into()))
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let plain = dir.path().join("not-a-program");
        std::fs::write(&plain, "data").expect("write");
        let plain = plain.display().to_string();
        assert_eq!(
            resolve_program(&plain, Some("/bin")),
            Err(SpawnError::NotExecutable(plain.clone()))
        );
        assert!(resolve_program("sh", Some("/nonexistent:/bin:/usr/bin")).is_ok());
    }

    #[test]
    fn stderr_ring_keeps_the_newest_lines() {
        let ring = StderrRing::default();
        for i in 0..(STDERR_LINES + 5) {
            ring.push(format!("line {i}"));
        }
        let tail = ring.tail(3);
        assert_eq!(tail, ["line 202", "line 203", "line 204"]);
        assert_eq!(ring.tail(10_000).len(), STDERR_LINES);
    }

    #[test]
    fn lines_since_a_mark_leave_out_earlier_runs() {
        let ring = StderrRing::default();
        ring.push("first run".into());
        let mark = ring.mark();
        assert!(ring.since(mark, 3).is_empty(), "nothing new yet");
        for i in 0..5 {
            ring.push(format!("second run {i}"));
        }
        assert_eq!(
            ring.since(mark, 3),
            ["second run 2", "second run 3", "second run 4"]
        );
        assert_eq!(
            ring.since(mark, 10).len(),
            5,
            "never reaches back before the mark"
        );
        // Once the ring has dropped lines, a mark still counts from where it was.
        for i in 0..STDERR_LINES {
            ring.push(format!("third run {i}"));
        }
        assert_eq!(ring.since(mark, STDERR_LINES * 2).len(), STDERR_LINES);
    }

    #[test]
    fn reading_from_a_mark_returns_new_lines_once_and_counts_the_lost() {
        let ring = StderrRing::default();
        ring.push("a".into());
        ring.push("b".into());
        let (lines, mark, lost) = ring.read_from(0);
        assert_eq!((lines, lost), (vec!["a".to_owned(), "b".to_owned()], 0));
        let (lines, same, lost) = ring.read_from(mark);
        assert!(lines.is_empty() && same == mark && lost == 0);
        for i in 0..(STDERR_LINES + 7) {
            ring.push(format!("line {i}"));
        }
        let (lines, _, lost) = ring.read_from(mark);
        assert_eq!(lines.len(), STDERR_LINES);
        assert_eq!(lines.first().map(String::as_str), Some("line 7"));
        assert_eq!(lost, 7, "pushed out of the ring before they were read");
    }

    #[tokio::test]
    async fn long_stderr_lines_are_capped() {
        let data = format!("{}\nshort\n", "x".repeat(100_000));
        let ring = Arc::new(StderrRing::default());
        read_stderr(data.as_bytes(), ring.clone(), Secrets::default()).await;
        let tail = ring.tail(2);
        assert_eq!(tail[0].chars().count(), STDERR_LINE_CHARS);
        assert_eq!(tail[1], "short");
    }

    #[tokio::test]
    async fn stderr_lines_have_secrets_scrubbed() {
        let data = "token is envsecret99\nurl http://u:pw@h/?key=k1\n";
        let ring = Arc::new(StderrRing::default());
        let secrets = Secrets::from_values(["envsecret99"]);
        read_stderr(data.as_bytes(), ring.clone(), secrets).await;
        assert_eq!(ring.tail(2), ["token is ***", "url http://***@h/?key=***"]);
    }
}
