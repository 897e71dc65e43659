//! Headless commands report after each server's first attempt and never wait for retries; a
//! server that needs authorization fails the command with a reason on stderr.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn run_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(support::bin())
        .args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
        .env("XDG_STATE_HOME", dir.join("xdg-state"))
        .env("XDG_DATA_HOME", dir.join("xdg-data"))
        .env("HOME", dir)
        .output()
        .expect("binary runs")
}

fn write_config(dir: &Path, config: &Value) {
    std::fs::write(dir.join("servers_config.json"), config.to_string()).expect("write");
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn servers_reports_after_the_first_attempt_without_waiting_for_retries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("flaky-ran");
    let script = support::black_hole_script().display().to_string();
    let answer = "initialize,tools/list,resources/list,prompts/list";
    // `flaky` comes up, dies at its first heartbeat, and every restart crashes: its retries
    // (200 ms, 400 ms, … under a budget of 5) take about six seconds to give up. `slow` takes
    // a second and a half to start, so `servers` reports while `flaky` is retrying.
    let config = json!({
        "AgentConfig": {"ping_interval": 0.05},
        "mcpServers": {
            "flaky": {"command": "python3", "args": [
                &script, "--answer", answer, "--exit-on", "ping",
                "--crash-if-exists", marker.display().to_string(),
            ]},
            "slow": {"command": "python3", "args": [&script, "--answer", answer, "--delay-init", "1.5"]},
        }
    });
    write_config(dir.path(), &config);
    let started = Instant::now();
    let out = run_in(dir.path(), &["servers", "--json"]);
    let took = started.elapsed();
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).expect("a JSON array");
    let flaky = &list[0];
    assert_eq!(flaky["name"], "flaky");
    let error = flaky["last_error"].as_str().unwrap_or_default();
    assert!(
        !error.starts_with("gave up"),
        "it reported after the first attempt, not after the retries: {flaky}"
    );
    assert_ne!(flaky["state"], "Failed", "{flaky}");
    assert_eq!(list[1]["state"], "Ready", "{}", list[1]);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // The fields the README lists, in this order.
    let keys: Vec<&String> = flaky.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        [
            "name",
            "transport",
            "url",
            "state",
            "tools",
            "resources",
            "prompts",
            "protocol_version",
            "server_name",
            "server_version",
            "last_error",
            "stderr_tail",
        ]
    );
    let readme = include_str!("../README.md");
    for key in keys {
        assert!(readme.contains(&format!("`{key}`")), "README lists `{key}`");
    }
}

/// A server that answers every request with 401 and a challenge (closing each connection).
fn always_unauthorized() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(200)));
            let mut buffer = [0u8; 8192];
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Bearer realm=\"mcp\"\r\n\
                  content-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    format!("http://127.0.0.1:{port}/mcp")
}

/// Without a terminal nothing starts a browser sign-in: every command reports NeedsAuth and
/// exits 1 (a listing would never sign in, even at a terminal).
#[test]
fn a_server_that_needs_authorization_fails_headless_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(
        dir.path(),
        &json!({"mcpServers": {
            "secure": {"url": always_unauthorized(), "auth": {"method": "oauth"}},
        }}),
    );
    for args in [
        &["tools", "--json"][..],
        &["resources", "--json"],
        &["prompts"],
        &["servers"],
    ] {
        let out = run_in(dir.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let said = stderr(&out);
        assert!(
            said.starts_with("mcpomni: server `secure` needs authorization (NeedsAuth): ")
                && said.contains("run `mcpomni auth secure`"),
            "{args:?}: {said}"
        );
    }
    let out = run_in(dir.path(), &["call", "secure", "anything"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("NeedsAuth"), "{}", stderr(&out));
}
