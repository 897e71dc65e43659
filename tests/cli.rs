//! The headless subcommands, run as the real binary: output formats, exit codes (0 ok,
//! 1 server/tool failure, 2 usage/config error) and error messages.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// Runs the binary in `dir` with a clean config environment (no user config is picked up).
fn run_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(support::bin())
        .args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
        .env("XDG_STATE_HOME", dir.join("xdg-state"))
        .env("XDG_DATA_HOME", dir.join("xdg-data"))
        .env("HOME", dir)
        .env_remove("NO_COLOR")
        .output()
        .expect("binary runs")
}

fn run(args: &[&str]) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_in(dir.path(), args);
    (out, dir)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn tools_json_uses_the_bundled_demo_server() {
    let (out, _dir) = run(&["tools", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let tools: Vec<Value> = serde_json::from_slice(&out.stdout).expect("a JSON array");
    assert_eq!(tools.len(), 6);
    let echo = tools
        .iter()
        .find(|t| t["name"] == "echo")
        .expect("echo is listed");
    assert_eq!(echo["server"], "demo");
    assert_eq!(echo["qualified_name"], "demo__echo");
    assert!(echo["description"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(echo["input_schema"]["type"], "object");
    assert_eq!(
        echo["input_schema"]["required"],
        serde_json::json!(["message"])
    );
    let keys: Vec<&String> = echo.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        [
            "server",
            "name",
            "qualified_name",
            "description",
            "input_schema"
        ]
    );
}

#[test]
fn call_prints_the_result_text() {
    let (out, _dir) = run(&[
        "call",
        "demo",
        "echo",
        "--args",
        r#"{"message":"hi there"}"#,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hi there\n");
    let (out, _dir) = run(&[
        "call",
        "demo",
        "demo__add",
        "--args",
        r#"{"a":1,"b":2}"#,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let result: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(result["structuredContent"]["sum"], 3.0);
    assert_eq!(result["content"][0]["text"], "1 + 2 = 3");
}

#[test]
fn arguments_may_follow_the_tool_without_args() {
    let (out, _dir) = run(&["call", "demo", "echo", r#"{"message":"positional"}"#]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "positional\n");
    let (out, _dir) = run(&[
        "prompt",
        "demo",
        "review_code",
        r#"{"code":"fn otters() {}"}"#,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("otters"), "{}", stdout(&out));
    // Both at once is ambiguous.
    let (out, _dir) = run(&["call", "demo", "echo", "{}", "--args", "{}"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
    let (out, _dir) = run(&["call", "demo", "echo", "[1]"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "mcpomni: arguments: expected a JSON object like '{\"key\": \"value\"}', got an array\n"
    );
}

#[test]
fn call_args_default_to_an_empty_object() {
    // `fail` needs no arguments.
    let (out, _dir) = run(&["call", "demo", "fail"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "mcpomni: demo/fail returned an error: demo tool failed on purpose: no reason given\n"
    );
}

#[test]
fn call_failures_exit_1_with_the_reason() {
    let (out, _dir) = run(&["call", "demo", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "mcpomni: server `demo` has no tool `nope` (tools: add, count_with_progress, echo, fail, lorem, sleep)\n"
    );
    let (out, _dir) = run(&["call", "demo", "echo", "--args", r#"{"message": 5}"#]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a type error is the tool's failure"
    );
}

#[test]
fn usage_errors_exit_2() {
    let (out, _dir) = run(&["call", "demo", "echo", "--args", "[1, 2]"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "mcpomni: --args: expected a JSON object like '{\"key\": \"value\"}', got an array\n"
    );
    let (out, _dir) = run(&["call", "demo", "echo", "--args", "{oops"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("mcpomni: --args: not valid JSON: "));
    let (out, _dir) = run(&["call", "nosuch", "echo"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "mcpomni: no server named `nosuch` in the config (servers: demo)\n"
    );
    let (out, _dir) = run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn config_errors_name_file_line_column_and_key_and_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.json"),
        r#"{"mcpServers": {"x": {"command": 5}}}"#,
    )
    .expect("write");
    let out = run_in(dir.path(), &["--config", "bad.json", "servers"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "mcpomni: bad.json:1:34: mcpServers.x.command: expected a string\n"
    );

    std::fs::write(
        dir.path().join("servers_config.json"),
        "{\n  \"mcpServers\": {\n    \"x\": {\"transport_type\": \"websocket\", \"url\": \"http://127.0.0.1:1\"}\n  }\n}\n",
    )
    .expect("write");
    let out = run_in(dir.path(), &["servers"]);
    assert_eq!(out.status.code(), Some(2));
    let message = stderr(&out);
    assert!(
        message.contains("servers_config.json:3:29: mcpServers.x.transport_type: "),
        "{message}"
    );
    assert!(message.contains("websocket"), "{message}");

    let out = run_in(dir.path(), &["--config", "missing.json", "tools"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing.json"), "{}", stderr(&out));
}

#[test]
fn servers_lists_state_and_failures_exit_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = serde_json::json!({
        "mcpServers": {
            "demo": {"command": support::bin(), "args": ["demo-server"]},
            "ghost": {"command": "no-such-mcp-server-xyz"},
        }
    });
    std::fs::write(dir.path().join("servers_config.json"), config.to_string()).expect("write");
    let out = run_in(dir.path(), &["servers"]);
    assert_eq!(out.status.code(), Some(1));
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("SERVER  STATE   TRANSPORT  T/R/P  PROTOCOL"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("demo    Ready   stdio      6/2/1  2025-11-25  mcpomni-demo"),
        "{table}"
    );
    assert!(lines[2].starts_with("ghost   Failed  stdio"), "{table}");
    assert_eq!(
        stderr(&out),
        "mcpomni: server `ghost` is Failed: command `no-such-mcp-server-xyz` was not found on PATH\n"
    );
    let out = run_in(dir.path(), &["servers", "--json"]);
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(list[0]["state"], "Ready");
    assert_eq!(list[0]["protocol_version"], "2025-11-25");
    assert_eq!(list[1]["state"], "Failed");
    // `tools --server demo` starts only demo, so the broken one does not fail it.
    let out = run_in(dir.path(), &["tools", "--server", "demo"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn resources_read_prompts_and_prompt() {
    let (out, _dir) = run(&["resources"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("demo://readme"));
    let (out, _dir) = run(&["read", "demo", "demo://config.json"]);
    assert_eq!(out.status.code(), Some(0));
    let parsed: Value = serde_json::from_slice(&out.stdout).expect("the resource is JSON");
    assert_eq!(parsed["server"], "mcpomni-demo");
    let (out, _dir) = run(&["read", "demo", "demo://nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("resource not found: demo://nope"));
    let (out, _dir) = run(&["prompts", "--json"]);
    let prompts: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(prompts[0]["name"], "review_code");
    assert_eq!(prompts[0]["arguments"][0]["name"], "code");
    assert_eq!(prompts[0]["arguments"][0]["required"], true);
    let (out, _dir) = run(&[
        "prompt",
        "demo",
        "review_code",
        "--args",
        r#"{"code":"x = 1"}"#,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("user: Please review"),
        "{}",
        stdout(&out)
    );
    let (out, _dir) = run(&["prompt", "demo", "review_code"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("missing required argument: code"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn version_flag() {
    let (out, _dir) = run(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        format!("mcpomni {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn large_results_are_printed_whole_and_a_closed_pipe_is_quiet() {
    let (out, _dir) = run(&["call", "demo", "lorem", "--args", r#"{"bytes": 3000000}"#]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout.len(), 3_000_001, "the text plus a newline");
    let dir = tempfile::tempdir().expect("tempdir");
    let shell = format!(
        "'{}' call demo lorem --args '{{\"bytes\": 3000000}}' | head -c 10 >/dev/null; echo ${{PIPESTATUS:-0}}",
        support::bin().display()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(&shell)
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .env("XDG_STATE_HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .output()
        .expect("sh");
    assert!(
        !stderr(&out).contains("panicked"),
        "a closed pipe must not panic: {}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("Broken pipe"), "{}", stderr(&out));
}

#[test]
fn env_and_dotenv_interpolate_into_server_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(".env"), "DEMO_ARG=demo-server\n").expect("write");
    let config = serde_json::json!({
        "mcpServers": {"demo": {"command": "${MCPOMNI_EXE}", "args": ["${DEMO_ARG}"]}}
    });
    std::fs::write(dir.path().join("servers_config.json"), config.to_string()).expect("write");
    let out = run_in(
        dir.path(),
        &[
            "call",
            "demo",
            "echo",
            "--args",
            r#"{"message":"via .env"}"#,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "via .env\n");
}

#[test]
fn ctrl_c_interrupts_a_call_and_exits_130() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().expect("tempdir");
    let record = dir.path().join("sent.jsonl");
    let config = serde_json::json!({"mcpServers": {"demo": support::demo_recorded(&record)}});
    std::fs::write(dir.path().join("servers_config.json"), config.to_string()).expect("write");
    let child = Command::new(support::bin())
        .args(["call", "demo", "sleep", "--args", r#"{"ms": 30000}"#])
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .env("XDG_STATE_HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Interrupt once the call is with the server.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !support::recorded(&record, "tools/call") {
        assert!(
            Instant::now() < deadline,
            "the call never reached the server"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
    let sent = Instant::now();
    kill(pid, Signal::SIGINT).expect("SIGINT");
    let out = child.wait_with_output().expect("wait");
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "took {:?}",
        sent.elapsed()
    );
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(stderr(&out), "mcpomni: interrupted\n");
}

#[test]
fn ctrl_c_tells_the_server_the_call_is_cancelled() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use std::time::Duration;

    let dir = tempfile::tempdir().expect("tempdir");
    let record = dir.path().join("received.txt");
    let config = serde_json::json!({"mcpServers": {"hole": {
        "command": "python3",
        "args": [
            support::black_hole_script(),
            "--answer", "initialize,tools/list,resources/list,prompts/list",
            "--record", record,
        ]
    }}});
    std::fs::write(dir.path().join("servers_config.json"), config.to_string()).expect("write");
    let child = Command::new(support::bin())
        .args(["call", "hole", "hang"])
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .env("XDG_STATE_HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait until the call has reached the server.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&record).is_ok_and(|r| r.contains("tools/call")) {
        assert!(
            std::time::Instant::now() < deadline,
            "the call never arrived"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(
        Pid::from_raw(i32::try_from(child.id()).expect("pid")),
        Signal::SIGINT,
    )
    .expect("SIGINT");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130));
    let received = std::fs::read_to_string(&record).expect("record");
    let lines: Vec<&str> = received.lines().collect();
    let call = lines
        .iter()
        .position(|l| l.starts_with("tools/call"))
        .expect("call");
    assert!(
        lines[call..].contains(&"notifications/cancelled"),
        "the server was told: {lines:?}"
    );
}

#[test]
fn auth_and_logout_name_servers_they_cannot_sign_in_to() {
    let (out, _dir) = run(&["auth", "nosuch"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "mcpomni: no server named `nosuch` in the config (servers: demo)\n"
    );
    // The bundled demo server runs over stdio: there is nothing to sign in to.
    let (out, _dir) = run(&["logout", "demo"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`demo` is not an HTTP server without a token of its own"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn logout_forgets_a_servers_kept_tokens_and_says_when_there_were_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("servers_config.json"),
        r#"{"mcpServers": {"remote": {"url": "http://127.0.0.1:9/mcp", "auth": {"method": "oauth"}}}}"#,
    )
    .expect("config");
    let out = run_in(dir.path(), &["logout", "remote"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "mcpomni: no tokens were kept for `remote`\n");
    let tokens = dir.path().join("xdg-data/mcpomni/tokens");
    std::fs::create_dir_all(&tokens).expect("tokens dir");
    let kept: Vec<_> = std::fs::read_dir(&tokens).expect("dir").collect();
    assert!(kept.is_empty());
    // A file under the name the store uses for this server and URL.
    let name = format!(
        "remote-{:016x}.json",
        mcpomni::hash::fnv1a("http://127.0.0.1:9/mcp".bytes())
    );
    std::fs::write(tokens.join(&name), "{}").expect("token file");
    let out = run_in(dir.path(), &["logout", "remote"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "mcpomni: forgot the tokens of `remote`\n");
    assert!(!tokens.join(&name).exists());
}

#[test]
fn conformance_refuses_an_unknown_scenario_with_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(support::bin())
        .args(["conformance", "http://127.0.0.1:9/mcp"])
        .current_dir(dir.path())
        .env("MCP_CONFORMANCE_SCENARIO", "no-such-scenario")
        .output()
        .expect("binary runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("mcpomni conformance: unknown scenario `no-such-scenario`"),
        "{}",
        stderr(&out)
    );
    let out = Command::new(support::bin())
        .args(["conformance", "http://127.0.0.1:9/mcp"])
        .current_dir(dir.path())
        .env_remove("MCP_CONFORMANCE_SCENARIO")
        .output()
        .expect("binary runs");
    assert_eq!(out.status.code(), Some(2));
}
