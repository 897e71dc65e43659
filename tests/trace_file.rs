//! Saved traces end to end, with the real binary: `mcpomni run --trace F` against the loopback
//! mock LLM and the demo server writes an owner-only JSON Lines file with no configured secret
//! in it; `mcpomni replay F` prints the same answer byte for byte with no LLM running (and
//! `--live` names a result that differs); `mcpomni trace F` opens the Trace pane in tmux with
//! the last step selected; a broken file is refused with its line number.

#[path = "support/llm_mock.rs"]
mod llm_mock;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use llm_mock::{MockCall, MockLlm, Reply};
use serde_json::{Value, json};
use support::tmux::Tmux;

/// A value the config marks secret (a stdio server's `env`): it must never reach the file.
const SECRET: &str = "sekret-env-value-0042";
const ANSWER: &str = "The server echoed it back.\nAll done.";

/// Writes `servers_config.json` with the demo server (carrying [`SECRET`] in its env) and,
/// given a mock, the mock as the LLM.
fn write_config(dir: &Path, mock: Option<&MockLlm>) {
    let mut config = json!({"mcpServers": {"demo": {
        "command": support::bin().display().to_string(),
        "args": ["demo-server"],
        "env": {"DEMO_TOKEN": SECRET},
    }}});
    if let Some(mock) = mock {
        config["LLM"] = json!({
            "provider": "openai",
            "model": "gpt-4o-mini",
            "base_url": format!("{}/v1", mock.base_url()),
        });
    }
    std::fs::write(dir.join("servers_config.json"), config.to_string()).expect("write config");
}

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(support::bin());
    command
        .args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
        .env("XDG_STATE_HOME", dir.join("xdg-state"))
        .env("HOME", dir)
        .env("LLM_API_KEY", "sk-test-trace-0123456789")
        .stdin(std::process::Stdio::null());
    command
}

async fn mcpomni(dir: &Path, args: &[&str]) -> Output {
    let mut command = command(dir, args);
    tokio::task::spawn_blocking(move || command.output().expect("binary runs"))
        .await
        .expect("join")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Records a run (an echo of the secret, then [`ANSWER`]) into `dir/run.jsonl`, over an
/// existing world-readable file; returns the run's output.
async fn record_run(dir: &Path) -> Output {
    let mock = MockLlm::start().await;
    write_config(dir, Some(&mock));
    let arguments = json!({ "message": format!("token {SECRET}") }).to_string();
    mock.push(Reply::tool_calls(
        vec![MockCall::new("c1", "demo__echo", &[arguments.as_str()])],
        (10, 5),
    ));
    mock.push(Reply::text(
        &["The server echoed it back.\n", "All done."],
        (30, 6),
    ));
    let file = dir.join("run.jsonl");
    std::fs::write(&file, "an old file\n").expect("old file");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = mcpomni(
        dir,
        &[
            "run",
            "echo my token",
            "--approve",
            "all",
            "--trace",
            "run.jsonl",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{ANSWER}\n"));
    out
}

#[tokio::test]
async fn a_recorded_run_is_private_scrubbed_and_replays_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = record_run(dir.path()).await;
    let file = dir.path().join("run.jsonl");
    let mode = std::fs::metadata(&file)
        .expect("trace file")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the existing 0644 file was made owner-only");
    let text = std::fs::read_to_string(&file).expect("read trace");
    assert!(!text.contains("an old file"), "the old file was replaced");
    assert!(
        !text.contains(SECRET),
        "the secret reached the trace:\n{text}"
    );
    assert!(!text.contains("sk-test-trace"), "the key reached the trace");
    assert!(text.ends_with('\n'));
    let mut kinds = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let step: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("line {} is not JSON ({e}): {line}", number + 1));
        assert_eq!(step["v"], 1, "{line}");
        kinds.push(step["kind"].as_str().expect("a kind").to_owned());
        if step["kind"] == "tool_call" {
            assert_eq!(step["arguments"]["message"], "token ***", "{line}");
        }
    }
    for kind in [
        "turn",
        "model_request",
        "model_reply",
        "tool_call",
        "tool_result",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "no {kind} step in {kinds:?}"
        );
    }

    // No LLM any more: the config's LLM points at a closed port, and no mock runs.
    let replay = mcpomni(dir.path(), &["replay", "run.jsonl"]).await;
    assert_eq!(replay.status.code(), Some(0), "{}", stderr(&replay));
    assert_eq!(replay.stdout, run.stdout, "the same answer, byte for byte");
    let err = stderr(&replay);
    assert!(err.contains("→ demo__echo"), "the call is reported: {err}");
    assert!(err.contains("replayed 1 turn and 1 tool call"), "{err}");

    // Live: the demo server echoes the same text, so nothing differs.
    let live = mcpomni(dir.path(), &["replay", "--live", "run.jsonl"]).await;
    assert_eq!(live.status.code(), Some(0), "{}", stderr(&live));
    assert_eq!(live.stdout, run.stdout);

    // A recorded result that is not what the server says now is named, with exit 1.
    let tampered: Vec<String> = text
        .lines()
        .map(|line| {
            let mut step: Value = serde_json::from_str(line).expect("JSON");
            if step["kind"] == "tool_result" {
                step["content"] = json!("something else");
            }
            step.to_string()
        })
        .collect();
    std::fs::write(
        dir.path().join("tampered.jsonl"),
        tampered.join("\n") + "\n",
    )
    .expect("write");
    let live = mcpomni(dir.path(), &["replay", "--live", "tampered.jsonl"]).await;
    assert_eq!(live.status.code(), Some(1), "{}", stderr(&live));
    let err = stderr(&live);
    assert!(
        err.contains("(demo__echo, call 1) differs from the recording"),
        "{err}"
    );
    assert!(
        err.contains("recorded `something else`, now `token ***`"),
        "{err}"
    );
}

#[tokio::test]
async fn a_broken_trace_is_refused_with_the_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), None);
    let step = r#"{"v":1,"id":1,"started_ms":1,"status":"ok","kind":"limit","reason":"x"}"#;
    std::fs::write(
        dir.path().join("cut.jsonl"),
        format!("{step}\n{}", &step[..30]),
    )
    .expect("write");
    std::fs::write(dir.path().join("notes.txt"), "hello\n").expect("write");
    for (file, expected) in [
        ("cut.jsonl", "cut.jsonl:2: the last line is cut short"),
        ("notes.txt", "notes.txt:1: not a trace file"),
    ] {
        for command in ["replay", "trace"] {
            let out = mcpomni(dir.path(), &[command, file]).await;
            assert_eq!(out.status.code(), Some(2), "{command} {file}");
            let err = stderr(&out);
            assert!(err.contains(expected), "{command} {file}: {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }
    // The dashboard's --trace before a subcommand is refused rather than ignored.
    let out = mcpomni(dir.path(), &["--trace", "x.jsonl", "servers"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("mcpomni run --trace FILE"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("x.jsonl").exists());
}

#[tokio::test]
async fn the_trace_command_opens_the_trace_pane_on_the_last_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    record_run(dir.path()).await;
    let home = dir.path().display().to_string();
    let command = format!(
        "cd '{home}' && '{}' trace run.jsonl",
        support::bin().display()
    );
    let env = [
        ("HOME", home.as_str()),
        ("XDG_CONFIG_HOME", home.as_str()),
        ("XDG_STATE_HOME", home.as_str()),
    ];
    // Large enough for the grid: the Trace pane still fills the screen.
    let tmux = Tmux::start("trace-view", 130, 36, &command, &env);
    let screen = tmux.wait_for("the Trace pane", Duration::from_secs(15), |s| {
        s.contains("reply · final answer") && s.contains("All done.")
    });
    let selected = screen
        .lines()
        .find(|line| line.contains('▶'))
        .unwrap_or_else(|| panic!("no selected row:\n{screen}"));
    assert!(selected.contains("reply · final answer"), "{screen}");
    let rows: Vec<&str> = screen.lines().filter(|l| l.contains(" reply · ")).collect();
    assert_eq!(rows.len(), 2, "both replies are rows: {screen}");
    assert!(
        screen.contains("tool call demo__echo") || screen.contains("demo__echo"),
        "{screen}"
    );
    assert!(
        !screen.contains("Servers ─"),
        "zoomed: no other pane is drawn:\n{screen}"
    );
    assert!(!screen.contains(SECRET), "{screen}");
    tmux.keys(&["q"]);
    tmux.wait_for_text("EXITED 0", Duration::from_secs(10));
}
