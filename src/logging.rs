//! Logging to files in the XDG state directory (`~/.local/state/mcpomni/logs`), never to the
//! screen: the dashboard owns the terminal and headless output must stay clean. `MCPOMNI_LOG`
//! sets the filter (tracing's `EnvFilter` syntax), default `info`; at `debug` every MCP request
//! logs its span (server, method, id) with its duration and outcome.
//!
//! Secrets are never logged: config types redact them in `Debug`, and every line passes
//! through the configured servers' [`Secrets`] on its way to the file (URLs shown by
//! `redact::display_url`, credential values replaced), whoever wrote it — rmcp and reqwest
//! included. Secrets nobody configured (an OAuth authorization code, which rmcp logs at
//! DEBUG) are kept out by capping rmcp's OAuth module at INFO.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::redact::Secrets;

/// Keep this alive for the whole run: dropping it flushes and stops the log writer.
pub struct Logging {
    _guard: WorkerGuard,
    pub dir: PathBuf,
    /// Where stderr goes while the dashboard runs (see `tui::terminal`).
    pub stderr_file: Option<File>,
}

pub fn log_dir() -> Option<PathBuf> {
    use etcetera::BaseStrategy;
    let strategy = etcetera::choose_base_strategy().ok()?;
    let base = strategy.state_dir().unwrap_or_else(|| strategy.data_dir());
    Some(base.join("mcpomni").join("logs"))
}

/// Starts file logging, scrubbing `secrets` from every line. Failing to set it up is not
/// fatal: the program runs without logs.
pub fn init(secrets: Secrets) -> Option<Logging> {
    let dir = log_dir()?;
    std::fs::create_dir_all(&dir).ok()?;
    let appender = Builder::new()
        .rotation(Rotation::DAILY)
        .filename_prefix("mcpomni")
        .filename_suffix("log")
        .max_log_files(7)
        .build(&dir)
        .ok()?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    // genai logs provider error bodies at ERROR level, and a 401 body can echo part of the API
    // key: keep it out of the log whatever MCPOMNI_LOG says.
    let mut filter =
        EnvFilter::try_from_env("MCPOMNI_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    if let Ok(quiet) = "genai=off".parse() {
        filter = filter.add_directive(quiet);
    }
    // rmcp's OAuth module logs the authorization code at DEBUG ("start exchange code for
    // token"), a secret nobody configured: it stays at INFO whatever MCPOMNI_LOG says.
    if filter
        .max_level_hint()
        .is_none_or(|level| level > tracing_subscriber::filter::LevelFilter::INFO)
        && let Ok(capped) = "rmcp::transport::auth=info".parse()
    {
        filter = filter.add_directive(capped);
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(ScrubbingWriter {
            inner: writer,
            secrets: Arc::new(secrets),
        })
        .with_ansi(false)
        .try_init()
        .ok()?;
    let stderr_file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("stderr.log"))
        .ok();
    Some(Logging {
        _guard: guard,
        dir,
        stderr_file,
    })
}

/// The log file's writer, scrubbing each line before it is queued for the file.
#[derive(Clone)]
struct ScrubbingWriter {
    inner: NonBlocking,
    secrets: Arc<Secrets>,
}

impl<'a> MakeWriter<'a> for ScrubbingWriter {
    type Writer = ScrubbingWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// tracing-subscriber formats a whole event and hands it over in one `write_all`, so each
/// `write` sees complete lines and a secret cannot straddle two calls.
impl io::Write for ScrubbingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let scrubbed = self.secrets.scrub(&text);
        self.inner.write_all(scrubbed.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn lines_are_scrubbed_on_their_way_to_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.log");
        let file = File::create(&path).expect("create");
        let (inner, guard) = tracing_appender::non_blocking(file);
        let mut writer = ScrubbingWriter {
            inner,
            secrets: Arc::new(Secrets::from_values(["SECRET123"])),
        };
        writer
            .write_all(b"url=http://u:pw@h/mcp?token=abc header SECRET123\n")
            .expect("write");
        drop(writer);
        drop(guard);
        let written = std::fs::read_to_string(&path).expect("read");
        assert_eq!(written, "url=http://***@h/mcp?token=*** header ***\n");
    }
}
