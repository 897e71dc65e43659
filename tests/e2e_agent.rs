//! The approval flow end to end in a real terminal: the dashboard runs in tmux with a config
//! whose LLM is a mock hosted by this test (OpenAI wire format) and whose servers are the demo
//! server and the black hole with `--record` (what it received is the proof of what ran).
//! The user denies, approves, always-allows, edits and cancels tool calls with keystrokes.

#[path = "support/llm_mock.rs"]
mod llm_mock;
mod support;

use std::path::Path;
use std::time::Duration;

use llm_mock::{MockCall, MockLlm, Reply};
use serde_json::json;
use support::tmux::Tmux;

const STARTUP: Duration = Duration::from_secs(20);
const STEP: Duration = Duration::from_secs(15);

fn call(id: &str, name: &str, args: &str) -> Reply {
    Reply::tool_calls(vec![MockCall::new(id, name, &[args])], (10, 5))
}

fn reply(text: &str) -> Reply {
    Reply::text(&[text], (20, 4))
}

fn hole_calls(record: &Path) -> Vec<String> {
    std::fs::read_to_string(record)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("tools/call"))
        .map(str::to_owned)
        .collect()
}

/// The status bar: the last line of the screen.
fn status_line(screen: &str) -> &str {
    screen
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("")
}

/// The status bar's "Ignored y: the prompt appeared only N ms ago" notice, up to the number.
fn ignored_notice(screen: &str) -> Option<&str> {
    let status = status_line(screen);
    let start = status.find("Ignored ")?;
    let end = start + status[start..].find(" ms ago")?;
    Some(&status[start..end])
}

/// Answers the approval prompt with `key`. A key pressed within 250 ms of a prompt appearing
/// is ignored (it was meant for the chat input) with a notice saying how long the prompt has
/// been up; so, like a person, the test presses again while its key is being ignored, and
/// each time waits until the dashboard has read the key: the prompt is gone, or a new notice
/// is shown.
fn answer(tmux: &Tmux, key: &str) {
    let mut last_notice = String::new();
    loop {
        tmux.keys(&[key]);
        let screen = tmux.wait_for(&format!("{key} to be read"), STEP, |screen| {
            !status_line(screen).contains("APPROVE")
                || ignored_notice(screen).is_some_and(|notice| notice != last_notice)
        });
        match ignored_notice(&screen) {
            Some(notice) if status_line(&screen).contains("APPROVE") => {
                last_notice = notice.to_owned();
            }
            _ => return,
        }
    }
}

/// Waits until the model's answer `text` is on screen and its turn has ended (the status bar
/// no longer says the model is answering): only then does the next message go out.
fn answered(tmux: &Tmux, text: &str) -> String {
    tmux.wait_for(&format!("{text} (turn ended)"), STEP, |screen| {
        screen.contains(text) && !screen.contains("ANSWERING")
    })
}

/// Types a message into the chat input and sends it.
fn say(tmux: &Tmux, text: &str) {
    tmux.text(text);
    tmux.keys(&["Enter"]);
}

/// A mock LLM (on its own runtime: the tests drive the terminal synchronously), a working
/// directory with a `servers_config.json` naming the demo server, the black hole recording
/// into `received.txt`, and the mock as the LLM; then `args` run in a tmux window.
struct Session {
    _runtime: tokio::runtime::Runtime,
    mock: MockLlm,
    tmux: Tmux,
    record: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// The dashboard (or `args`) in a tmux window of `size`, with `home` as its working
/// directory, HOME and XDG directories.
fn launch(name: &str, size: (u16, u16), home: &str, args: &str) -> Tmux {
    let env = [
        ("RUST_BACKTRACE", "0"),
        ("HOME", home),
        ("XDG_CONFIG_HOME", home),
        ("XDG_STATE_HOME", home),
        ("XDG_DATA_HOME", home),
        ("LLM_API_KEY", "sk-e2e-0123456789"),
    ];
    let command = format!("cd '{home}' && '{}' {args}", support::bin().display());
    Tmux::start(name, size.0, size.1, &command, &env)
}

fn session(name: &str, args: &str) -> Session {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mock = runtime.block_on(MockLlm::start());
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().display().to_string();
    let record = dir.path().join("received.txt");
    let config = json!({
        "mcpServers": {
            "demo": {"command": support::bin().display().to_string(), "args": ["demo-server"]},
            "hole": support::black_hole(&[
                "--answer", "initialize,tools/list,resources/list,prompts/list,tools/call,ping",
                "--record", &record.display().to_string(),
            ]),
        },
        "LLM": {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "base_url": format!("{}/v1", mock.base_url()),
        },
    });
    std::fs::write(dir.path().join("servers_config.json"), config.to_string()).expect("config");
    let tmux = launch(name, (110, 34), &home, args);
    Session {
        _runtime: runtime,
        mock,
        tmux,
        record,
        _dir: dir,
    }
}

#[test]
fn deny_approve_always_edit_and_cancel_by_keystroke() {
    let session = session("agent", "");
    let Session {
        mock, tmux, record, ..
    } = &session;
    let screen = tmux.wait_for_text("2/2 ready", STARTUP);
    assert!(screen.contains("openai/gpt-4o-mini"), "{screen}");

    // Deny: the model is told, answers anyway, and the server never sees the call.
    mock.push(call("c1", "hole__hang", r#"{"path": "/etc/passwd"}"#));
    mock.push(reply("Understood, I did not touch it."));
    say(tmux, "remove the password file");
    // Wait for the whole frame: a capture can land while the prompt is half drawn.
    let screen = tmux.wait_for("the approval prompt", STEP, |screen| {
        screen.contains("Run hole__hang?") && status_line(screen).contains("APPROVE")
    });
    assert!(screen.contains(r#""path": "/etc/passwd""#), "{screen}");
    assert!(screen.contains("server hole · tool hang"), "{screen}");
    assert!(
        screen.contains("APPROVE"),
        "the status bar says so:\n{screen}"
    );
    answer(tmux, "n");
    let screen = answered(tmux, "Understood, I did not touch it.");
    assert!(screen.contains("denied by you"), "{screen}");
    assert!(hole_calls(record).is_empty(), "{:?}", hole_calls(record));

    // Approve once: read-only hint shown, the call runs, its result is in the chat.
    mock.push(call(
        "c2",
        "demo__echo",
        r#"{"message": "from the e2e test"}"#,
    ));
    mock.push(reply("The echo worked."));
    say(tmux, "echo something");
    let screen = tmux.wait_for_text("Run demo__echo?", STEP);
    assert!(screen.contains("read-only"), "{screen}");
    assert!(screen.contains("“Echo”"), "{screen}");
    answer(tmux, "y");
    let screen = answered(tmux, "The echo worked.");
    assert!(screen.contains("approved by you"), "{screen}");
    assert!(screen.contains("→ ok in"), "{screen}");

    // Always: the next call of the same tool runs without a prompt.
    mock.push(call("c3", "hole__hang", r#"{"n": 1}"#));
    mock.push(reply("First hang done."));
    say(tmux, "hang once");
    tmux.wait_for_text("Run hole__hang?", STEP);
    answer(tmux, "a");
    answered(tmux, "First hang done.");
    mock.push(call("c4", "hole__hang", r#"{"n": 2}"#));
    mock.push(reply("Second hang done."));
    say(tmux, "hang again");
    let screen = answered(tmux, "Second hang done.");
    assert!(screen.contains("always allowed this session"), "{screen}");
    let calls = hole_calls(record);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[1].contains(r#""n": 2"#), "{calls:?}");

    // Edit: the server receives the edited arguments.
    mock.push(call("c5", "demo__echo", r#"{"message": "original"}"#));
    mock.push(reply("Edited echo done."));
    say(tmux, "echo the original");
    tmux.wait_for_text("Run demo__echo?", STEP);
    answer(tmux, "e");
    tmux.wait_for_text("Edit arguments for demo__echo", STEP);
    // Line 2 is `  "message": "original"`: replace `original"` with `edited"`.
    tmux.keys(&["Down", "End"]);
    for _ in 0.."original\"".len() {
        tmux.keys(&["BSpace"]);
    }
    tmux.text("edited\"");
    tmux.keys(&["C-s"]);
    let screen = answered(tmux, "Edited echo done.");
    assert!(screen.contains(": edited"), "{screen}");
    let last = mock.journal().last().expect("a request").body.to_string();
    assert!(last.contains(r#""content":"edited""#), "{last}");

    // Esc at the prompt cancels the whole turn.
    mock.push(call("c6", "demo__add", r#"{"a": 1, "b": 2}"#));
    say(tmux, "add");
    tmux.wait_for_text("Run demo__add?", STEP);
    answer(tmux, "Escape");
    tmux.wait_for_text("Stopped: you cancelled the turn.", STEP);

    // The session's usage is on the status bar and in /api_stats.
    say(tmux, "/api_stats");
    let screen = tmux.wait_for_text("This session:", STEP);
    assert!(screen.contains("11 requests"), "{screen}");
    assert!(
        !screen.contains("sk-e2e"),
        "the key is never shown:\n{screen}"
    );

    tmux.keys(&["Escape", "q"]);
    tmux.wait_for_text("EXITED 0", STEP);
}

#[test]
fn headless_run_asks_on_the_terminal() {
    let session = session("run", "run 'echo hi please'");
    let Session { mock, tmux, .. } = &session;
    mock.push(call("c1", "demo__echo", r#"{"message": "hi"}"#));
    mock.push(reply("Echoed hi."));
    let choices = "[y]es / [N]o / [a]lways / [c]ancel the run (default: no):";
    let screen = tmux.wait_for_text(choices, STARTUP);
    assert!(
        screen.contains("The model wants to call demo__echo (1 of 1) with:"),
        "{screen}"
    );
    assert!(screen.contains(r#""message": "hi""#), "{screen}");
    // Something that is not an answer is asked again, never taken as one.
    tmux.text("maybe");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for_text("`maybe` is not an answer", STEP);
    assert_eq!(screen.matches(choices).count(), 2, "{screen}");
    tmux.text("y");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for_text("EXITED 0", STEP);
    assert!(screen.contains("← demo__echo: ok"), "{screen}");
    assert!(screen.contains("Echoed hi."), "{screen}");
}

#[test]
fn headless_run_cancelled_at_the_prompt_says_so() {
    let session = session("runc", "run 'echo hi please'");
    let Session {
        mock, tmux, record, ..
    } = &session;
    mock.push(call("c1", "hole__hang", r#"{"x": 1}"#));
    tmux.wait_for_text("[c]ancel the run", STARTUP);
    tmux.text("c");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for_text("EXITED 130", STEP);
    assert!(
        screen.contains("mcpomni run: cancelled: the run stops here."),
        "{screen}"
    );
    assert!(hole_calls(record).is_empty());
}

#[test]
fn stepping_through_a_turn_and_editing_arguments_while_paused() {
    let session = session("debugger", "--mode auto --step");
    let Session { mock, tmux, .. } = &session;
    tmux.wait_for_text("2/2 ready", STARTUP);
    mock.push(call("c1", "demo__echo", r#"{"message": "original"}"#));
    mock.push(reply("The edited echo came back."));
    say(tmux, "echo something");

    // Paused before the first model request: nothing has been sent yet.
    let screen = tmux.wait_for_text("Paused at step 1", STEP);
    assert!(status_line(&screen).contains("PAUSED"), "{screen}");
    assert!(mock.journal().is_empty(), "the request waits for the step");
    tmux.keys(&["n"]);

    // Paused before the tool call, with the model's arguments shown.
    let screen = tmux.wait_for_text("Paused at step 2", STEP);
    assert!(
        screen.contains("before the tool call demo__echo"),
        "{screen}"
    );
    tmux.keys(&["e"]);
    tmux.wait_for_text("Edit the call's arguments", STEP);
    // `{`, `  "message": "original"`, `}`: replace `original"` on the second line.
    tmux.keys(&["Down", "End"]);
    for _ in 0.."original\"".len() {
        tmux.keys(&["BSpace"]);
    }
    tmux.text("edited by hand\"");
    tmux.keys(&["C-s"]);

    // The edited call ran (the demo server echoed it), then the next step paused again.
    let screen = tmux.wait_for_text("Paused at step 3", STEP);
    assert!(screen.contains("edited by hand"), "{screen}");
    tmux.keys(&["c"]);
    // The pause brought the Trace pane forward: the edit and the call are steps in it.
    let screen = answered(tmux, "The edited echo came back.");
    assert!(screen.contains("edit: tool arguments"), "{screen}");
    assert!(screen.contains("result: ok · edited by hand"), "{screen}");
    let sent = mock.journal()[1].body.to_string();
    assert!(
        sent.contains("edited by hand"),
        "the model saw the edited call's result: {sent}"
    );
    assert!(!sent.contains("\"original\""), "{sent}");
}

#[test]
fn a_saved_session_is_resumed_from_the_picker_and_by_the_next_launch() {
    let session = session("sessions", "");
    let Session {
        mock, tmux, _dir, ..
    } = &session;
    tmux.resize(140, 45);
    let screen = tmux.wait_for("the session in the status bar", STARTUP, |screen| {
        screen.contains("2/2 ready") && status_line(screen).contains("session ")
    });
    let id = status_line(&screen)
        .split("session ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the status bar names the session:\n{screen}"))
        .to_owned();
    mock.push(call("c1", "demo__echo", r#"{"message": "Ada"}"#));
    mock.push(reply("Hello Ada, I echoed your name."));
    say(tmux, "my name is Ada");
    tmux.wait_for_text("Run demo__echo?", STEP);
    answer(tmux, "y");
    answered(tmux, "Hello Ada, I echoed your name.");

    // /clear starts a new session; the picker offers the old one, Enter brings it back.
    say(tmux, "/clear");
    // Compared as whole words: a session made in the same second is `<id>-2`.
    let screen = tmux.wait_for("a new session", STEP, |screen| {
        screen.contains("New session")
            && !status_line(screen)
                .split_whitespace()
                .any(|word| word.trim_matches(|c: char| !c.is_ascii_alphanumeric()) == id)
    });
    assert!(!screen.contains("Hello Ada"), "{screen}");
    tmux.keys(&["Escape", "S"]);
    let screen = tmux.wait_for("the sessions listed", STEP, |screen| {
        screen.contains("Enter resumes") && screen.contains("my name is Ada")
    });
    assert!(screen.contains(&id), "{screen}");
    // The new session holds nothing yet, so the old one may be all there is; move to it.
    let rows: Vec<&str> = screen.lines().filter(|l| l.contains(" msgs · ")).collect();
    let is_id = |word: &str| word.trim_matches(|c: char| !c.is_ascii_alphanumeric()) == id;
    let position = rows
        .iter()
        .position(|row| row.split_whitespace().any(is_id))
        .unwrap_or_else(|| panic!("{screen}"));
    for _ in 0..position {
        tmux.keys(&["j"]);
    }
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for(&format!("session {id} resumed"), STEP, |screen| {
        screen.contains("Resumed session") && status_line(screen).split_whitespace().any(is_id)
    });
    assert!(
        screen.contains("Hello Ada, I echoed your name."),
        "{screen}"
    );
    assert!(screen.contains("demo__echo"), "{screen}");
    // Its trace is back too.
    tmux.keys(&["4"]);
    let screen = tmux.wait_for_text("my name is Ada", STEP);
    assert!(screen.contains("demo__echo"), "{screen}");

    // A second launch with --continue takes the most recent session: the resumed one.
    tmux.keys(&["q"]);
    let home = _dir.path().display().to_string();
    let again = launch("sessions-again", (80, 24), &home, "--continue");
    let screen = again.wait_for_text("Hello Ada, I echoed your name.", STARTUP);
    // At 80 columns the typing hints leave the status bar no room for the id: the chat names it.
    assert!(
        screen.contains(&format!("Resumed session {id}")),
        "{screen}"
    );
    mock.push(reply("Your name is Ada."));
    say(&again, "what is my name?");
    answered(&again, "Your name is Ada.");
    let sent = mock.journal().last().expect("a request").body.to_string();
    assert!(sent.contains("my name is Ada"), "{sent}");
}
