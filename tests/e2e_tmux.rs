//! End to end in a real terminal: the binary (the release build when `MCPOMNI_BIN` is set, as
//! `scripts/test` does) runs in a fixed-size tmux window with no config file present, so it
//! falls back to the bundled config and the demo server (one test writes its own config).
//! Tests drive it with keys, poll the screen, and check that every way out — `q`, Ctrl-C,
//! SIGTERM, SIGHUP, a panic in the UI or in a runtime task — gives the terminal back
//! (alternate screen and mouse modes off) and leaves no server process behind. The panics are
//! provoked with `MCPOMNI_TEST_PANIC`, which only debug builds read, so those two tests run the
//! debug build cargo makes for the test run.

mod support;

use std::path::Path;
use std::time::Duration;

use support::tmux::Tmux;

const STARTUP: Duration = Duration::from_secs(15);
const EXIT: Duration = Duration::from_secs(10);
const RESTORED: &str =
    "alt=0 mouse_any=0 mouse_button=0 mouse_standard=0 mouse_all=0 mouse_sgr=0 keypad=0";

/// Starts the dashboard in an empty working directory with a private HOME and XDG dirs.
fn start(
    name: &str,
    width: u16,
    height: u16,
    extra_env: &[(&str, &str)],
) -> (Tmux, tempfile::TempDir) {
    launch(
        tempfile::tempdir().expect("tempdir"),
        name,
        width,
        height,
        &support::bin(),
        extra_env,
    )
}

/// [`start`] at 80×24 with `MCPOMNI_TEST_PANIC=which`, running the debug build cargo made for
/// this test run whatever `MCPOMNI_BIN` says: release builds do not have that switch.
fn start_panicking(name: &str, which: &str) -> (Tmux, tempfile::TempDir) {
    if !cfg!(debug_assertions) {
        panic!("MCPOMNI_TEST_PANIC exists only in debug builds: run this test without --release");
    }
    launch(
        tempfile::tempdir().expect("tempdir"),
        name,
        80,
        24,
        Path::new(env!("CARGO_BIN_EXE_mcpomni")),
        &[("MCPOMNI_TEST_PANIC", which)],
    )
}

/// [`start`] with `config` as the working directory's `servers_config.json`.
fn start_with_config(
    name: &str,
    width: u16,
    height: u16,
    config: &serde_json::Value,
) -> (Tmux, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("servers_config.json"), config.to_string()).expect("config");
    launch(dir, name, width, height, &support::bin(), &[])
}

fn launch(
    dir: tempfile::TempDir,
    name: &str,
    width: u16,
    height: u16,
    bin: &Path,
    extra_env: &[(&str, &str)],
) -> (Tmux, tempfile::TempDir) {
    let home = dir.path().display().to_string();
    let mut env: Vec<(&str, &str)> = vec![
        // A backtrace would scroll the panic message off the small test screen.
        ("RUST_BACKTRACE", "0"),
        ("HOME", &home),
        ("XDG_CONFIG_HOME", &home),
        ("XDG_STATE_HOME", &home),
        ("XDG_DATA_HOME", &home),
    ];
    env.extend_from_slice(extra_env);
    let command = format!("cd '{home}' && '{}'", bin.display());
    let tmux = Tmux::start(name, width, height, &command, &env);
    (tmux, dir)
}

/// The number after "pid " when the whole "pid N ·" is on screen.
fn pid_on(screen: &str) -> Option<u32> {
    let after = screen.split("pid ").nth(1)?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    after[digits.len()..]
        .starts_with(" ·")
        .then(|| digits.parse().ok())
        .flatten()
}

/// The demo server's pid, read from the Servers pane details.
fn demo_pid(tmux: &Tmux) -> u32 {
    tmux.keys(&["Escape"]);
    tmux.keys(&["2"]);
    let screen = tmux.wait_for("the demo server's pid", STARTUP, |s| pid_on(s).is_some());
    pid_on(&screen).expect("a pid number")
}

fn assert_restored_and_exited(tmux: &Tmux, status: &str, server_pid: u32) {
    let screen = tmux.wait_for_text(&format!("EXITED {status}"), EXIT);
    assert!(!screen.contains("Chat"), "the dashboard is gone:\n{screen}");
    assert_eq!(tmux.terminal_modes(), RESTORED);
    assert!(
        !support::group_alive(server_pid),
        "the demo server (pid {server_pid}) was stopped"
    );
}

#[test]
fn dashboard_shows_the_demo_server_switches_panes_and_quits_cleanly() {
    let (tmux, _dir) = start("main", 100, 30, &[]);
    tmux.wait_for_text("1/1 ready", STARTUP);
    let screen = tmux.screen();
    assert!(screen.contains("No LLM is configured"), "{screen}");
    assert!(
        screen.contains("TYPING"),
        "the keyboard starts in the chat input"
    );
    assert_eq!(
        tmux.display("#{alternate_on}"),
        "1",
        "the dashboard uses the alternate screen"
    );

    // Typing goes to the input at once; without an LLM the message is kept and explained.
    tmux.text("hello q");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the message and the guidance", EXIT, |s| {
        s.contains("Not sent.") && s.contains("hello q")
    });

    tmux.keys(&["Escape"]);
    tmux.wait_for_text(" KEYS ", EXIT);
    tmux.keys(&["2"]);
    // Poll for the whole picture: a capture can catch a frame half drawn.
    tmux.wait_for("the Servers pane", EXIT, |s| {
        s.contains("mcpomni-demo")
            && s.contains("● demo")
            && s.contains("Ready")
            && s.contains("2025-11-25")
    });

    tmux.keys(&["3"]);
    tmux.wait_for("the Tools pane", EXIT, |s| {
        s.contains("count_with_progress") && s.contains("input schema")
    });
    tmux.keys(&["/"]);
    tmux.text("lor");
    tmux.wait_for("the filtered list", EXIT, |s| {
        s.contains("1 of 6") && s.contains("lorem")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for_text("Tools · 6", EXIT);

    tmux.keys(&["4"]);
    tmux.wait_for_text("No reasoning steps yet", EXIT);
    tmux.keys(&["Tab"]);
    tmux.wait_for_text("TYPING", EXIT);
    tmux.keys(&["Escape"]);
    tmux.keys(&["?"]);
    tmux.wait_for_text("Keys · j/k scroll", EXIT);
    tmux.keys(&["Escape"]);
    tmux.wait_for("help to close", EXIT, |s| !s.contains("Keys · j/k scroll"));

    let pid = demo_pid(&tmux);
    tmux.keys(&["q"]);
    assert_restored_and_exited(&tmux, "0", pid);
}

/// A bracketed paste arrives with CR line breaks (as from most terminals): each line stays a
/// line in the input.
#[test]
fn a_pasted_block_keeps_its_lines_in_the_chat_input() {
    let (tmux, _dir) = start("paste", 80, 24, &[]);
    tmux.wait_for_text("1/1 ready", STARTUP);
    tmux.paste("first pasted line\nsecond pasted line\nthird pasted line");
    let screen = tmux.wait_for("the pasted lines", EXIT, |s| {
        s.contains("third pasted line")
    });
    let lines: Vec<&str> = screen.lines().collect();
    let row = |text: &str| {
        lines
            .iter()
            .position(|line| line.contains(text))
            .unwrap_or_else(|| panic!("{text} on screen:\n{screen}"))
    };
    assert_eq!(
        row("second pasted line"),
        row("first pasted line") + 1,
        "{screen}"
    );
    assert_eq!(
        row("third pasted line"),
        row("second pasted line") + 1,
        "{screen}"
    );
    tmux.keys(&["C-c"]);
    tmux.wait_for_text("EXITED", EXIT);
}

#[test]
fn ctrl_c_quits_from_the_chat_input() {
    let (tmux, _dir) = start("ctrlc", 80, 24, &[]);
    tmux.wait_for_text("1/1 ready", STARTUP);
    let pid = demo_pid(&tmux);
    tmux.keys(&["1"]);
    tmux.wait_for_text("TYPING", EXIT);
    tmux.keys(&["C-c"]);
    assert_restored_and_exited(&tmux, "0", pid);
}

#[test]
fn sigterm_restores_the_terminal_and_stops_servers() {
    let (tmux, _dir) = start("term", 80, 24, &[]);
    tmux.wait_for_text("1/1 ready", STARTUP);
    let pid = demo_pid(&tmux);
    signal_app(&tmux, "TERM");
    assert_restored_and_exited(&tmux, "130", pid);
}

#[test]
fn sighup_restores_the_terminal_and_stops_servers() {
    let (tmux, _dir) = start("hup", 80, 24, &[]);
    tmux.wait_for_text("1/1 ready", STARTUP);
    let pid = demo_pid(&tmux);
    signal_app(&tmux, "HUP");
    assert_restored_and_exited(&tmux, "130", pid);
}

#[test]
fn a_panic_in_the_ui_restores_the_terminal() {
    let (tmux, _dir) = start_panicking("panic-ui", "ui");
    tmux.wait_for_text("1/1 ready", STARTUP);
    let pid = demo_pid(&tmux);
    let screen = tmux.wait_for_text("EXITED 101", EXIT);
    assert!(screen.contains("test panic in the UI task"), "{screen}");
    assert!(
        screen.contains("mcpomni: crashed; details are in"),
        "{screen}"
    );
    assert_restored_and_exited(&tmux, "101", pid);
}

#[test]
fn a_panic_in_a_runtime_task_restores_the_terminal() {
    let (tmux, _dir) = start_panicking("panic-rt", "runtime");
    tmux.wait_for_text("1/1 ready", STARTUP);
    let pid = demo_pid(&tmux);
    let screen = tmux.wait_for_text("EXITED 101", EXIT);
    assert!(screen.contains("test panic in a runtime task"), "{screen}");
    assert_restored_and_exited(&tmux, "101", pid);
}

#[test]
fn a_tiny_terminal_gets_a_message_and_recovers_when_enlarged() {
    let (tmux, _dir) = start("tiny", 30, 8, &[]);
    tmux.wait_for_text("Terminal too small", STARTUP);
    tmux.resize(100, 30);
    tmux.wait_for_text("1/1 ready", STARTUP);
    tmux.keys(&["C-c"]);
    tmux.wait_for_text("EXITED 0", EXIT);
    assert_eq!(tmux.terminal_modes(), RESTORED);
}

#[test]
fn servers_are_listed_in_config_order_whichever_reports_first() {
    // Rows must not jump around as servers come and go: an operator reads them by position.
    // The file lists them against name order, and they report in an order of their own:
    // HTTP servers nobody listens for, one that waits a second before it starts, and quick
    // stdio ones, interleaved.
    let bin = support::bin().display().to_string();
    let demo = serde_json::json!({"command": bin, "args": ["demo-server"]});
    let unreachable = serde_json::json!({"url": "http://127.0.0.1:9/mcp"});
    let order = [
        "zeta", "yak", "xray", "wolf", "vole", "urchin", "tern", "mid",
    ];
    let mut servers = serde_json::Map::new();
    for (i, name) in order.iter().enumerate() {
        let entry = match (*name, i % 2) {
            ("mid", _) => serde_json::json!({
                "command": "sh", "args": ["-c", "sleep 1; exec \"$0\" demo-server", bin]
            }),
            (_, 0) => unreachable.clone(),
            _ => demo.clone(),
        };
        servers.insert((*name).to_owned(), entry);
    }
    let config = serde_json::json!({ "mcpServers": servers });
    let (tmux, _dir) = start_with_config("order", 100, 40, &config);
    tmux.wait_for_text("TYPING", STARTUP);
    tmux.keys(&["Escape"]);
    tmux.wait_for_text(" KEYS ", EXIT);
    tmux.keys(&["2"]);
    let rows = |screen: &str| -> Vec<&'static str> {
        let mut found: Vec<(usize, &'static str)> = order
            .into_iter()
            .filter_map(|server| {
                let row = screen.lines().position(|line| {
                    ["●", "◌", "◐", "✗", "○"]
                        .iter()
                        .any(|symbol| line.contains(&format!("{symbol} {server} ")))
                })?;
                Some((row, server))
            })
            .collect();
        found.sort_unstable();
        found.into_iter().map(|(_, server)| server).collect()
    };
    let first = tmux.wait_for("a row for every server", STARTUP, |s| {
        rows(s).len() == order.len()
    });
    assert_eq!(rows(&first), order, "{first}");
    let ready = tmux.wait_for_text("4/8 ready", STARTUP);
    assert_eq!(rows(&ready), order, "{ready}");
    tmux.keys(&["q"]);
    tmux.wait_for_text("EXITED 0", EXIT);
}

#[test]
fn mouse_toggle_turns_capture_off_and_on() {
    let (tmux, _dir) = start("mouse", 80, 24, &[]);
    tmux.wait_for_text("1/1 ready", STARTUP);
    assert_eq!(tmux.display("#{mouse_any_flag}#{mouse_sgr_flag}"), "11");
    tmux.keys(&["Escape"]);
    tmux.keys(&["m"]);
    tmux.wait_for_text("mouse off", EXIT);
    assert_eq!(tmux.display("#{mouse_any_flag}"), "0");
    tmux.keys(&["m"]);
    tmux.wait_for_text("mouse on", EXIT);
    assert_eq!(tmux.display("#{mouse_any_flag}"), "1");
    tmux.keys(&["q"]);
    tmux.wait_for_text("EXITED 0", EXIT);
    assert_eq!(tmux.terminal_modes(), RESTORED);
}

/// Sends `signal` to the mcpomni process (the child of the pane's shell).
fn signal_app(tmux: &Tmux, signal: &str) {
    let shell = tmux.pane_pid();
    let out = std::process::Command::new("pkill")
        .args([
            &format!("-{signal}"),
            "-P",
            &shell.to_string(),
            "-x",
            "mcpomni",
        ])
        .output()
        .expect("pkill runs");
    assert!(out.status.success(), "pkill found mcpomni: {out:?}");
}

#[test]
fn calling_a_tool_by_hand_with_progress_pager_and_cancel() {
    let (tmux, _dir) = start("call", 100, 30, &[]);
    tmux.wait_for_text("1/1 ready", STARTUP);
    tmux.keys(&["Escape"]);
    tmux.wait_for_text(" KEYS ", EXIT);
    tmux.keys(&["3"]);
    tmux.wait_for_text("count_with_progress", EXIT);
    // Select `lorem` with the filter, open the editor, replace the skeleton, run.
    tmux.keys(&["/"]);
    tmux.text("lorem");
    tmux.keys(&["Enter"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the editor", EXIT, |s| {
        s.contains("Call demo__lorem") && s.contains("\"bytes\"")
    });
    tmux.keys(&["C-a"]);
    for _ in 0..3 {
        tmux.keys(&["C-k", "C-k"]);
    }
    tmux.text(r#"{"bytes": 300000}"#);
    tmux.keys(&["C-s"]);
    tmux.wait_for("the result preview", EXIT, |s| {
        s.contains("ok · showing the start of") && s.contains("p reads it all")
    });
    tmux.keys(&["p"]);
    tmux.wait_for("the pager", EXIT, |s| s.contains("demo__lorem · lines 1–"));
    tmux.keys(&["G"]);
    tmux.wait_for("the end of the result", EXIT, |s| {
        let Some(title) = s.lines().find(|l| l.contains("lines ")) else {
            return false;
        };
        // "lines A–B of B": at the bottom the last shown line is the last line.
        let numbers: Vec<&str> = title
            .split(|c: char| !c.is_ascii_digit())
            .filter(|n| !n.is_empty())
            .collect();
        numbers.len() >= 3 && numbers[numbers.len() - 2] == numbers[numbers.len() - 1]
    });
    tmux.keys(&["q"]);
    tmux.wait_for_text(" RESULT ", EXIT);
    tmux.keys(&["Escape"]);
    tmux.wait_for_text(" KEYS ", EXIT);

    // A long call cancelled with Esc (first Esc clears the old filter).
    tmux.keys(&["Escape"]);
    tmux.wait_for_text("Tools · 6 ", EXIT);
    tmux.keys(&["/"]);
    tmux.text("sleep");
    tmux.keys(&["Enter"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Call demo__sleep", EXIT);
    tmux.keys(&["C-a"]);
    for _ in 0..3 {
        tmux.keys(&["C-k", "C-k"]);
    }
    tmux.text(r#"{"ms": 60000}"#);
    tmux.keys(&["C-s"]);
    tmux.wait_for_text("running · Esc cancels", EXIT);
    tmux.keys(&["Escape"]);
    tmux.wait_for("the cancelled call", EXIT, |s| {
        s.contains("tools/call: cancelled")
    });
    tmux.keys(&["Escape"]);
    tmux.keys(&["q"]);
    tmux.wait_for_text("EXITED 0", EXIT);
    assert_eq!(tmux.terminal_modes(), RESTORED);
}
