//! Logging to files in the XDG state directory (`~/.local/state/mcpomni/logs`), never to the
//! screen: the dashboard owns the terminal and headless output must stay clean. `MCPOMNI_LOG`
//! sets the filter (tracing's `EnvFilter` syntax), default `info`. Secrets are never logged:
//! config types redact them in `Debug`.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::EnvFilter;

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

/// Starts file logging. Failing to set it up is not fatal: the program runs without logs.
pub fn init() -> Option<Logging> {
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
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
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
