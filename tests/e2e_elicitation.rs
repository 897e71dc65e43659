//! A server's request for input, end to end in a real 80×24 terminal: the dashboard (with
//! `--trace`) calls the Python peer's `sign_up` tool by hand, the form opens, a wrong email is
//! refused in place, a password typed into the masked field shows only as dots, the corrected
//! form is sent and the server reports what it received. The password never appears on screen,
//! in the trace file or in the log.

mod support;

use std::time::Duration;

use serde_json::json;
use support::peers;
use support::tmux::Tmux;

const STARTUP: Duration = Duration::from_secs(20);
const STEP: Duration = Duration::from_secs(10);
const SECRET: &str = "hunter2-secret";

/// Types `first` until the form takes it: keys within 250 ms of the form appearing are
/// ignored (meant for whatever had the keyboard before), with a notice; like a person, the
/// test presses again while that happens.
fn first_key(tmux: &Tmux, first: &str) {
    for _ in 0..50 {
        let before = tmux.screen();
        tmux.text(first);
        let screen = tmux.wait_for("the key to be read", STEP, |s| s != before);
        if screen.contains(&format!("{first}▏")) {
            return;
        }
    }
    panic!("the form never took a key:\n{}", tmux.screen());
}

#[test]
fn a_form_is_filled_validated_and_sent_and_its_secret_stays_hidden() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().display().to_string();
    let config = json!({"mcpServers": {"py": peers::py_stdio_entry()}});
    std::fs::write(dir.path().join("servers_config.json"), config.to_string()).expect("config");
    let trace = dir.path().join("trace.jsonl");
    let command = format!(
        "cd '{home}' && '{}' --trace '{}'",
        support::bin().display(),
        trace.display()
    );
    let env = [
        ("RUST_BACKTRACE", "0"),
        ("HOME", home.as_str()),
        ("XDG_CONFIG_HOME", home.as_str()),
        ("XDG_STATE_HOME", home.as_str()),
        ("XDG_DATA_HOME", home.as_str()),
    ];
    let tmux = Tmux::start("elicit", 80, 24, &command, &env);
    tmux.wait_for_text("1/1 ready", STARTUP);
    tmux.keys(&["Escape"]);
    tmux.wait_for_text(" KEYS ", STEP);
    tmux.keys(&["3"]);
    tmux.wait_for_text("sign_up", STEP);
    tmux.keys(&["/"]);
    tmux.text("sign_up");
    tmux.keys(&["Enter"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Call py__sign_up", STEP);
    tmux.keys(&["C-s"]);
    tmux.wait_for("the form", STEP, |s| {
        s.contains("`py` asks for input") && s.contains("Create your account")
    });

    // A wrong email and the password; Enter refuses to send and says why in place.
    first_key(&tmux, "a");
    tmux.text("da@");
    tmux.keys(&["Tab"]);
    tmux.text(SECRET);
    tmux.wait_for("the masked password", STEP, |s| {
        s.contains(&"•".repeat(SECRET.chars().count()))
    });
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the error in place", STEP, |s| {
        s.contains("✗ expected an email address") && s.contains("Not sent: 1 field to fix")
    });
    assert!(!screen.contains(SECRET), "{screen}");
    assert!(
        screen.contains("age"),
        "the defaulted field is there: {screen}"
    );

    // The wrong field has the keyboard: finish the address and send.
    tmux.text("example.org");
    tmux.wait_for_text("ada@example.org▏", STEP);
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the server's answer", STEP, |s| {
        s.contains("signed up ada@example.org, age 30")
    });
    assert!(!screen.contains(SECRET), "{screen}");
    let result = screen.replace('\n', " ");
    assert!(
        result.contains("password of 14 characters"),
        "the server got the password: {screen}"
    );

    tmux.keys(&["Escape"]);
    tmux.keys(&["q"]);
    tmux.wait_for_text("EXITED 0", STEP);
    let written = support::all_text_under(dir.path(), None);
    assert!(trace.exists(), "the trace file was written");
    assert!(
        !written.contains(SECRET),
        "the password is in a file under the test's home (trace, log, session)"
    );
}
