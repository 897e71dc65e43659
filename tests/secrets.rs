//! No configured credential reaches any output of the binary: stdout and stderr of `servers`
//! and `servers --json`, and the log file — for a server whose URL carries userinfo and an
//! `api_key` and refuses the connection, servers whose error body echoes the configured
//! headers (streamable HTTP and SSE), and a stdio server that prints its env token. Also: each
//! MCP request leaves a span line (method, duration, outcome) in the log file.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Every secret the configs below carry.
const SECRETS: [&str; 6] = [
    "SECRET123",
    "user:pw",
    "SECRET456",
    "BEARER789",
    "ENVSECRET42",
    "ENVSECRET77",
];

/// Runs the binary in `dir` with `config`, its state (logs) under `dir/state`.
fn run_in(dir: &Path, config: &Value, args: &[&str]) -> Output {
    std::fs::write(dir.join("servers_config.json"), config.to_string()).expect("write config");
    Command::new(support::bin())
        .args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("HOME", dir)
        .env("MCPOMNI_LOG", "debug")
        .output()
        .expect("binary runs")
}

/// Everything in the log directory, as one text.
fn logs(dir: &Path) -> String {
    let log_dir: PathBuf = dir.join("state").join("mcpomni").join("logs");
    let mut text = String::new();
    for entry in std::fs::read_dir(&log_dir).expect("the log directory exists") {
        let path = entry.expect("entry").path();
        text.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
    }
    text
}

fn assert_no_secret(surface: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} in {surface}:\n{text}");
    }
}

/// Answers every request with `400 Bad Request` and the request's header lines as the body:
/// a server that echoes what it was sent in its error.
async fn echo_headers_server() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                let head = request.split("\r\n\r\n").next().unwrap_or_default();
                // The credentials first, so they fit in any quoted prefix of the body.
                let mut lines: Vec<&str> = head.lines().skip(1).collect();
                lines.sort_by_key(|l| {
                    let l = l.to_ascii_lowercase();
                    !(l.starts_with("x-api-key") || l.starts_with("authorization"))
                });
                let body = lines.join("; ");
                let response = format!(
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    (port, task)
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr").port()
}

#[tokio::test(flavor = "multi_thread")]
async fn servers_and_the_log_never_show_configured_credentials() {
    let (echo, _server) = echo_headers_server().await;
    let refused = closed_port().await;
    let config = json!({"mcpServers": {
        "refused": {"url": format!("http://user:pw@127.0.0.1:{refused}/mcp?api_key=SECRET123")},
        "echo-http": {"url": format!("http://127.0.0.1:{echo}/mcp"),
                      "transport": "streamable_http",
                      "headers": {"X-Api-Key": "SECRET456"}},
        "echo-sse": {"url": format!("http://127.0.0.1:{echo}/sse"),
                     "transport": "sse",
                     "headers": {"X-Api-Key": "SECRET456"},
                     "auth": {"method": "bearer", "token": "BEARER789"}},
        "leaky": {"command": "sh",
                  "args": ["-c", "echo \"starting with token=$MY_TOKEN\" >&2; exit 3"],
                  "env": {"MY_TOKEN": "ENVSECRET42"}},
    }});
    let dir = tempfile::tempdir().expect("tempdir");
    let dir_path = dir.path().to_owned();
    let (table, json_out) = tokio::task::spawn_blocking(move || {
        (
            run_in(&dir_path, &config, &["servers"]),
            run_in(&dir_path, &config, &["servers", "--json"]),
        )
    })
    .await
    .expect("runs");

    for (name, out) in [("servers", &table), ("servers --json", &json_out)] {
        assert_eq!(out.status.code(), Some(1), "{name}: the servers failed");
        assert_no_secret(
            &format!("{name} stdout"),
            &String::from_utf8_lossy(&out.stdout),
        );
        assert_no_secret(
            &format!("{name} stderr"),
            &String::from_utf8_lossy(&out.stderr),
        );
    }
    let log = logs(dir.path());
    assert!(log.contains("starting"), "the log was written:\n{log}");
    assert_no_secret("the log file", &log);

    // The outputs say what happened, with the credentials shown as `***`.
    let list: Vec<Value> = serde_json::from_slice(&json_out.stdout).expect("json");
    let server = |name: &str| {
        list.iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name} listed"))
            .clone()
    };
    assert_eq!(
        server("refused")["url"],
        format!("http://***@127.0.0.1:{refused}/mcp?api_key=***")
    );
    let error = |name: &str| server(name)["last_error"].as_str().unwrap_or("").to_owned();
    assert!(error("refused").contains("refused"), "{}", error("refused"));
    for echoed in ["echo-http", "echo-sse"] {
        let error = error(echoed);
        assert!(error.contains("x-api-key: ***"), "{echoed}: {error}");
    }
    assert!(
        error("echo-sse").contains("authorization: Bearer ***"),
        "{}",
        error("echo-sse")
    );
    assert!(error("leaky").contains("token=***"), "{}", error("leaky"));
    assert_eq!(
        server("leaky")["stderr_tail"],
        json!(["starting with token=***"])
    );
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("token=***"), "{table}");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_request_logs_a_span_with_method_duration_and_outcome() {
    let config = json!({"mcpServers": {
        "demo": {"command": support::bin(), "args": ["demo-server"],
                 "env": {"DEMO_TOKEN": "ENVSECRET77"}},
    }});
    let dir = tempfile::tempdir().expect("tempdir");
    let dir_path = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        run_in(
            &dir_path,
            &config,
            &[
                "call",
                "demo",
                "echo",
                "--args",
                r#"{"message":"ENVSECRET77"}"#,
            ],
        )
    })
    .await
    .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = logs(dir.path());
    let call = log
        .lines()
        .find(|line| line.contains("mcp_request") && line.contains("tools/call"))
        .unwrap_or_else(|| panic!("no span line for tools/call in:\n{log}"));
    for part in ["server=demo", "id=", "duration_ms=", "outcome=\"ok\""] {
        assert!(call.contains(part), "{part} missing from {call}");
    }
    assert!(
        log.lines()
            .any(|line| line.contains("mcp_request") && line.contains("tools/list")),
        "{log}"
    );
    // Neither the arguments nor the result are logged (the echoed text is a secret here).
    assert_no_secret("the log file", &log);
}

#[tokio::test(flavor = "multi_thread")]
async fn request_errors_that_echo_a_secret_are_scrubbed() {
    let config = json!({"mcpServers": {
        "demo": {"command": support::bin(), "args": ["demo-server"],
                 "env": {"DEMO_TOKEN": "ENVSECRET77"}},
    }});
    let dir = tempfile::tempdir().expect("tempdir");
    let dir_path = dir.path().to_owned();
    // The server's error quotes the name asked for, which here is the server's own token.
    let out = tokio::task::spawn_blocking(move || {
        run_in(&dir_path, &config, &["prompt", "demo", "ENVSECRET77"])
    })
    .await
    .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        "mcpomni: server `demo`: prompts/get: server error -32602: unknown prompt: ***\n"
    );
    assert_no_secret("the log file", &logs(dir.path()));
}
