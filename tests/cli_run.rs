//! `mcpomni run "QUERY"`, run as the real binary against a mock LLM hosted by the test and
//! real MCP servers: the answer on stdout, tool calls on stderr, `--json`, `--approve`,
//! `--mode`, the global `--memory`/`--session` flags, sampling through `--approve`, and the
//! exit codes.

#[path = "support/llm_mock.rs"]
mod llm_mock;
mod support;

use std::path::Path;
use std::process::{Command, Output};

use llm_mock::{MockCall, MockLlm, Reply};
use serde_json::{Value, json};

/// Writes `servers_config.json` into `dir` with the mock as an OpenAI-compatible LLM.
fn write_config(dir: &Path, mock: Option<&MockLlm>, servers: Value) {
    let mut config = json!({"mcpServers": servers});
    if let Some(mock) = mock {
        config["LLM"] = json!({
            "provider": "openai",
            "model": "gpt-4o-mini",
            "base_url": format!("{}/v1", mock.base_url()),
        });
    }
    std::fs::write(dir.join("servers_config.json"), config.to_string()).expect("write config");
}

fn demo_entry() -> Value {
    json!({"command": support::bin().display().to_string(), "args": ["demo-server"]})
}

/// Runs the binary in `dir` off the async runtime (the mock LLM lives on it).
async fn mcpomni(dir: &Path, args: &[&str]) -> Output {
    let dir = dir.to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(support::bin())
            .args(&args)
            .current_dir(&dir)
            .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
            .env("XDG_STATE_HOME", dir.join("xdg-state"))
            .env("XDG_DATA_HOME", dir.join("xdg-data"))
            .env("HOME", &dir)
            .env("LLM_API_KEY", "sk-test-cli-0123456789")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("binary runs")
    })
    .await
    .expect("join")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn approved_run_prints_the_answer_and_reports_the_call() {
    let mock = MockLlm::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), Some(&mock), json!({"demo": demo_entry()}));
    mock.push(Reply::tool_calls(
        vec![MockCall::new("c1", "demo__add", &[r#"{"a": 2, "b": 40}"#])],
        (10, 5),
    ));
    mock.push(Reply::text(&["The sum ", "is 42."], (30, 6)));
    let out = mcpomni(dir.path(), &["run", "what is 2 + 40?", "--approve", "all"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "The sum is 42.\n");
    let err = stderr(&out);
    assert!(err.contains("→ demo__add"), "{err}");
    assert!(
        err.contains("(approved by --approve all)"),
        "the flag approved it, not the user: {err}"
    );
    assert!(err.contains("← demo__add: ok"), "{err}");
    assert!(err.contains("2 requests"), "{err}");
    assert!(!err.contains("sk-test-cli"), "the key leaked: {err}");
    // The key went to the LLM, and only there.
    let journal = mock.journal();
    assert_eq!(
        journal[0].header("authorization"),
        Some("Bearer sk-test-cli-0123456789")
    );
}

/// Scripts the model: one `demo__echo` call with `message` (10 + 5 tokens), then `answer`
/// (30 + 6 tokens).
fn echo_then_answer(mock: &MockLlm, message: &str, answer: &str) {
    let arguments = json!({ "message": message }).to_string();
    mock.push(Reply::tool_calls(
        vec![MockCall::new("c1", "demo__echo", &[arguments.as_str()])],
        (10, 5),
    ));
    mock.push(Reply::text(&[answer], (30, 6)));
}

#[tokio::test]
async fn json_output_has_answer_tool_calls_and_usage() {
    let mock = MockLlm::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), Some(&mock), json!({"demo": demo_entry()}));
    echo_then_answer(&mock, "ping", "pong");
    let out = mcpomni(
        dir.path(),
        &["run", "echo ping", "--approve", "all", "--json"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(report["answer"], "pong");
    assert_eq!(report["outcome"], "answered");
    assert_eq!(
        report["tool_calls"],
        json!([{
            "name": "demo__echo",
            "arguments": {"message": "ping"},
            "approved_by": "approve_all_flag",
            "denied": false,
            "result": "ping",
        }])
    );
    assert_eq!(
        report["usage"],
        json!({"requests": 2, "input_tokens": 40, "output_tokens": 11, "total_tokens": 51})
    );
}

#[tokio::test]
async fn without_a_terminal_ask_means_none_and_the_server_never_sees_the_call() {
    let mock = MockLlm::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let record = dir.path().join("received.txt");
    let record_arg = record.display().to_string();
    write_config(
        dir.path(),
        Some(&mock),
        json!({"hole": support::black_hole(&[
            "--answer", "initialize,tools/list,resources/list,prompts/list,tools/call,ping",
            "--record", &record_arg,
        ])}),
    );
    mock.push(Reply::tool_calls(
        vec![
            MockCall::new("c1", "hole__hang", &[r#"{}"#]),
            MockCall::new("c2", "hole__hang", &[r#"{"again": true}"#]),
        ],
        (10, 5),
    ));
    mock.push(Reply::text(&["I was not allowed to run it."], (30, 6)));
    // No --approve: the default is `ask`, and stdin is not a terminal.
    let out = mcpomni(dir.path(), &["run", "run hang", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["answer"], "I was not allowed to run it.");
    assert_eq!(report["tool_calls"][0]["denied"], true);
    assert_eq!(report["tool_calls"][1]["denied"], true);
    let err = stderr(&out);
    assert!(err.contains("denied"), "{err}");
    // Why, said once for both calls.
    assert_eq!(
        err.matches("stdin is not a terminal, so nobody can approve tool calls")
            .count(),
        1,
        "{err}"
    );
    let received = std::fs::read_to_string(&record).unwrap_or_default();
    assert!(received.contains("initialize"), "{received}");
    assert!(!received.contains("tools/call"), "{received}");
    assert!(
        mock.journal()[1]
            .body
            .to_string()
            .contains("The user denied this tool call")
    );
}

#[tokio::test]
async fn auto_mode_runs_calls_without_approval() {
    let mock = MockLlm::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), Some(&mock), json!({"demo": demo_entry()}));
    echo_then_answer(&mock, "auto", "done");
    let out = mcpomni(
        dir.path(),
        &["run", "go", "--mode", "auto", "--approve", "none", "--json"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["tool_calls"][0]["approved_by"], "auto_mode");
    assert_eq!(report["tool_calls"][0]["result"], "auto");
}

/// A config in `dir` with server-everything and a fresh mock LLM whose first reply calls
/// `trigger-sampling-request` with `arguments`; the server will then ask for a sample.
async fn model_asks_for_a_sample(dir: &std::path::Path, arguments: &str) -> MockLlm {
    let mock = MockLlm::start().await;
    write_config(
        dir,
        Some(&mock),
        json!({"everything": support::peers::everything_stdio_entry()}),
    );
    mock.push(Reply::tool_calls(
        vec![MockCall::new(
            "c1",
            "everything__trigger-sampling-request",
            &[arguments],
        )],
        (10, 5),
    ));
    mock
}

#[tokio::test]
async fn sampling_follows_approve() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The model calls the tool; the server samples; the model answers both.
    let mock = model_asks_for_a_sample(
        dir.path(),
        r#"{"prompt": "name a colour", "maxTokens": 16}"#,
    )
    .await;
    mock.push(Reply::text(&["teal"], (4, 1)));
    mock.push(Reply::text(&["The server's model said teal."], (30, 6)));
    let out = mcpomni(dir.path(), &["run", "sample", "--approve", "all", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["answer"], "The server's model said teal.");
    let result = report["tool_calls"][0]["result"].as_str().expect("result");
    assert!(result.contains("teal"), "{result}");
    let journal = mock.journal();
    assert_eq!(journal.len(), 3);
    assert_eq!(journal[1].body["max_tokens"], json!(16));
    assert!(journal[1].body.to_string().contains("name a colour"));

    // With --approve none the server's request is refused and the model is not asked.
    let mock = model_asks_for_a_sample(dir.path(), r#"{"prompt": "name a colour"}"#).await;
    mock.push(Reply::text(&["It was refused."], (30, 6)));
    let out = mcpomni(
        dir.path(),
        &[
            "run",
            "sample",
            "--mode",
            "auto",
            "--approve",
            "none",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let error = report["tool_calls"][0]["error"].as_str().expect("an error");
    assert!(error.contains("declined"), "{error}");
    assert_eq!(mock.journal().len(), 2);
}

#[tokio::test]
async fn a_model_failure_exits_1_with_the_reason() {
    let mock = MockLlm::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), Some(&mock), json!({}));
    mock.push(Reply::status(
        404,
        json!({"error": {"message": "The model `gpt-4o-mini` does not exist", "type": "invalid_request_error", "code": "model_not_found"}}),
    ));
    let out = mcpomni(dir.path(), &["run", "hi"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    let err = stderr(&out);
    assert!(
        err.contains("stopped:") && err.contains("gpt-4o-mini"),
        "{err}"
    );
}

#[tokio::test]
async fn no_llm_a_bad_store_or_a_bad_session_id_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), None, json!({"demo": demo_entry()}));
    let out = mcpomni(dir.path(), &["run", "hi"]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("no LLM is configured in"), "{err}");
    assert!(err.contains("servers_config.json"), "{err}");

    let out = mcpomni(dir.path(), &["--memory", "disk", "tools"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("in_memory"), "{}", stderr(&out));
    for (id, why) in [("../escape", "not '/'"), ("a..b", "\"..\""), ("", "empty")] {
        let out = mcpomni(dir.path(), &["--session", id, "sessions"]).await;
        assert_eq!(out.status.code(), Some(2), "{id:?}");
        assert!(stderr(&out).contains(why), "{id:?}: {}", stderr(&out));
    }
    let long = "x".repeat(129);
    let out = mcpomni(dir.path(), &["--session", &long, "tools"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("at most 128"), "{}", stderr(&out));
    let out = mcpomni(dir.path(), &["--session", "a", "--continue", "tools"]).await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "--session and --continue exclude each other"
    );
    // Accepted: a store and a session id.
    let out = mcpomni(
        dir.path(),
        &[
            "--memory",
            "in_memory",
            "--session",
            "s1",
            "tools",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = mcpomni(dir.path(), &["--memory", "in_memory", "sessions", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
}

#[tokio::test]
async fn a_bad_llm_block_is_reported_before_any_server_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = json!({
        "mcpServers": {},
        "LLM": {"provider": "no-such-provider", "model": "m"},
    });
    std::fs::write(dir.path().join("servers_config.json"), config.to_string()).expect("write");
    let out = mcpomni(dir.path(), &["run", "hi"]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("cannot be used"), "{err}");
    assert!(err.contains("no-such-provider"), "{err}");
}

#[tokio::test]
async fn debugger_flags_are_checked_and_need_a_terminal() {
    let mock = MockLlm::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), Some(&mock), json!({"demo": demo_entry()}));
    for (bad, why) in [
        ("step:0", "count from 1"),
        ("tools:x", "unknown breakpoint `tools:x`"),
    ] {
        let out = mcpomni(dir.path(), &["run", "hi", "--break", bad]).await;
        assert_eq!(
            out.status.code(),
            Some(2),
            "--break {bad}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(why),
            "--break {bad}: {}",
            stderr(&out)
        );
    }
    let out = mcpomni(dir.path(), &["--break", "step:0", "servers"]).await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "the dashboard's --break is checked too"
    );
    // stdin is not a terminal here: nobody could answer a pause.
    let out = mcpomni(dir.path(), &["run", "hi", "--step"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stdin is not one"),
        "{}",
        stderr(&out)
    );
    assert!(mock.journal().is_empty(), "refused before asking the model");
}

#[tokio::test]
async fn runs_are_saved_to_files_by_default_and_continued_across_processes() {
    let mock = MockLlm::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), Some(&mock), json!({}));
    mock.push(Reply::text(&["Hello Ada."], (10, 3)));
    let out = mcpomni(dir.path(), &["run", "my name is Ada"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let id = err
        .lines()
        .find_map(|line| line.strip_prefix("mcpomni run: session "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the session id on stderr: {err}"))
        .to_owned();
    assert!(err.contains("(file store)"), "{err}");
    // One JSON Lines file per session, private to its owner, in the data directory.
    let file = dir
        .path()
        .join("xdg-data/mcpomni/sessions")
        .join(format!("{id}.jsonl"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file)
        .expect("the session file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    let dir_mode = std::fs::metadata(file.parent().expect("dir"))
        .expect("dir")
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);

    // --continue takes the latest session: the model sees the earlier exchange.
    mock.push(Reply::text(&["Ada."], (20, 2)));
    let out = mcpomni(dir.path(), &["--continue", "run", "what is my name?"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("session {id}")),
        "{}",
        stderr(&out)
    );
    let sent = mock.journal().last().expect("a request").body.to_string();
    assert!(
        sent.contains("my name is Ada") && sent.contains("Hello Ada."),
        "{sent}"
    );

    let out = mcpomni(dir.path(), &["sessions", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let listed: Value = serde_json::from_slice(&out.stdout).expect("json");
    let first = &listed[0];
    assert_eq!(first["id"], json!(id));
    assert_eq!(first["title"], json!("my name is Ada"));
    assert_eq!(first["messages"], json!(4));
    assert_eq!(first["tokens"], json!(35));
    assert_eq!(first["store"], json!("file"));

    // A session open in another process (here: this test) is refused, naming it.
    let store = mcpomni::memory::file::FileStore::new(dir.path().join("xdg-data/mcpomni/sessions"));
    let held: mcpomni::memory::SessionId = "held".parse().expect("id");
    use mcpomni::memory::MemoryStore;
    store.open(&held).await.expect("opened here");
    let out = mcpomni(dir.path(), &["--session", "held", "run", "hi"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "session held is open in process {}",
            std::process::id()
        )),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn redis_down_exits_2_in_time_naming_the_url_without_its_password() {
    let mock = MockLlm::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), Some(&mock), json!({}));
    // Nothing listens on port 9 (discard) on the loopback here.
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("servers_config.json")).expect("read"),
    )
    .expect("json");
    let mut config = config;
    config["memory"] =
        json!({"backend": "redis", "redis_url": "redis://:hunter2-secret@127.0.0.1:9/0"});
    std::fs::write(dir.path().join("servers_config.json"), config.to_string()).expect("write");
    let started = std::time::Instant::now();
    let out = mcpomni(dir.path(), &["run", "hi"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    let err = stderr(&out);
    assert!(err.contains("127.0.0.1:9"), "{err}");
    assert!(!err.contains("hunter2-secret"), "{err}");
    assert!(mock.journal().is_empty(), "nothing was sent to the model");
}
