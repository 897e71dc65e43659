//! The `mcpomni` binary: parse the command line, load the config, then open the dashboard or
//! run a headless subcommand. Exit status: 0 success, 1 a server or tool failed, 2 usage or
//! config error, 101 a panic, 130 interrupted.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

use mcpomni::cli::{Cli, Cmd};
use mcpomni::config::{self, Config, LoadEnv};
use mcpomni::tracefile::{TraceWriter, config_secrets, read_trace};
use mcpomni::tui::theme::{Theme, no_color_requested};
use mcpomni::{headless, logging, tui};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Cmd::DemoServer) = cli.command {
        return run_demo_server();
    }
    if cli.trace.is_some() && cli.command.is_some() {
        eprintln!(
            "mcpomni: --trace before a subcommand saves the dashboard's trace; for `run`, put \
             it after the subcommand: mcpomni run --trace FILE \"QUERY\""
        );
        return ExitCode::from(2);
    }
    mcpomni::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("mcpomni: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    if let Some(Cmd::Conformance { url }) = &cli.command {
        // The suite's server is the only one: no config is read.
        let status = runtime.block_on(headless::conformance(url));
        runtime.shutdown_timeout(std::time::Duration::from_millis(200));
        return ExitCode::from(u8::try_from(status).unwrap_or(1));
    }
    let mut config = match load_config(cli.config.as_deref()) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("mcpomni: {message}");
            return ExitCode::from(2);
        }
    };
    if let Some(mode) = cli.mode {
        config.agent.mode = mode.agent_mode();
    }
    config.agent.step = cli.step;
    if let Some(memory) = cli.memory {
        config.memory.backend = memory.store_kind();
    }
    config.memory.session = match (cli.session.clone(), cli.resume_latest) {
        (Some(id), _) => mcpomni::memory::SessionChoice::Resume(id),
        (None, true) => mcpomni::memory::SessionChoice::Latest,
        (None, false) => mcpomni::memory::SessionChoice::New,
    };
    config.agent.breakpoints.extend(cli.breaks.iter().cloned());
    let logging = logging::init(mcpomni::redact::Secrets::for_config(&config));
    tracing::info!(source = %config.source.display_name(), "mcpomni {} starting", env!("CARGO_PKG_VERSION"));
    let status = match cli.command {
        Some(Cmd::Trace { file }) => view_trace(&runtime, &config, &file, logging.as_ref()),
        Some(command) => runtime.block_on(headless::run(command, &config, cli.elicit.policy())),
        None => run_dashboard(&runtime, &config, logging.as_ref(), cli.trace.as_deref()),
    };
    drop(logging);
    // Do not wait for blocking tasks (a stuck stdin read, a highlight job) on the way out.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    ExitCode::from(u8::try_from(status).unwrap_or(1))
}

/// The demo server answers one client over stdio: a single-threaded runtime starts faster
/// (no worker threads to spawn), which matters when a dashboard starts many of them at once.
fn run_demo_server() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("mcpomni demo-server: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(mcpomni::demo::run_stdio()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mcpomni demo-server: {error}");
            ExitCode::from(1)
        }
    }
}

fn load_theme(config: &Config) -> Result<Theme, String> {
    let no_color = no_color_requested(std::env::var("NO_COLOR").ok());
    let themes_dir = config::default_config_home().map(|home| home.join("mcpomni").join("themes"));
    Theme::load(&config.ui.theme, themes_dir.as_deref(), no_color)
        .map_err(|error| format!("UI.theme: {error}"))
}

fn run_dashboard(
    runtime: &tokio::runtime::Runtime,
    config: &Config,
    logging: Option<&logging::Logging>,
    trace: Option<&Path>,
) -> i32 {
    let theme = match load_theme(config) {
        Ok(theme) => theme,
        Err(message) => {
            eprintln!("mcpomni: {message}");
            return 2;
        }
    };
    let writer = match trace {
        None => None,
        Some(path) => match TraceWriter::create(path, config_secrets(config)) {
            Ok(writer) => Some(writer),
            Err(error) => {
                eprintln!(
                    "mcpomni: cannot create the trace file {}: {error}",
                    path.display()
                );
                return 2;
            }
        },
    };
    let log_file = logging.and_then(|l| l.stderr_file.as_ref());
    exit_status(
        runtime.block_on(tui::run(config, theme, log_file, writer)),
        logging,
    )
}

/// `mcpomni trace FILE`: the saved trace in the dashboard, nothing started.
fn view_trace(
    runtime: &tokio::runtime::Runtime,
    config: &Config,
    file: &Path,
    logging: Option<&logging::Logging>,
) -> i32 {
    let trace = match read_trace(file) {
        Ok(trace) => trace,
        Err(error) => {
            eprintln!("mcpomni trace: {error}");
            return 2;
        }
    };
    let theme = match load_theme(config) {
        Ok(theme) => theme,
        Err(message) => {
            eprintln!("mcpomni: {message}");
            return 2;
        }
    };
    let log_file = logging.and_then(|l| l.stderr_file.as_ref());
    let source = file.display().to_string();
    let outcome = tui::view_trace(&source, trace, theme, config.ui.mouse, log_file);
    exit_status(runtime.block_on(outcome), logging)
}

fn exit_status(outcome: anyhow::Result<tui::Outcome>, logging: Option<&logging::Logging>) -> i32 {
    match outcome {
        Ok(tui::Outcome::Quit) => 0,
        Ok(tui::Outcome::Signalled) => 130,
        Ok(tui::Outcome::Panicked) => {
            if let Some(logging) = logging {
                eprintln!("mcpomni: crashed; details are in {}", logging.dir.display());
            }
            101
        }
        Err(error) => {
            eprintln!("mcpomni: {error:#}");
            1
        }
    }
}

fn load_config(explicit: Option<&std::path::Path>) -> Result<Config, String> {
    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot read the working directory: {e}"))?;
    let self_exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("mcpomni"));
    let vars = |name: &str| std::env::var(name).ok();
    let env = LoadEnv {
        cwd: &cwd,
        config_home: config::default_config_home(),
        vars: &vars,
        self_exe,
    };
    config::load(explicit, &env).map_err(|e| e.to_string())
}
