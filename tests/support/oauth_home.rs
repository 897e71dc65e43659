//! A throwaway home for running the mcpomni binary against the loopback OAuth server
//! ([`super::oauth_server`]): a `servers_config.json` naming one server `srv`, the XDG data
//! (tokens), state (logs) and config directories inside it, and a fake `xdg-open` that plays
//! the browser (it fetches the authorization URL with curl and follows the redirects back to
//! mcpomni's loopback callback, recording that it ran). Every run is bounded by a timeout
//! and its child is killed when the test ends.

#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};

/// The longest a single mcpomni run may take in these tests.
pub const RUN_LIMIT: Duration = Duration::from_secs(20);

pub struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    /// A home whose config has server `srv` at `url` with `"auth": {"method": "oauth"}` plus
    /// `auth` (an object of more keys).
    pub fn new(url: &str, auth: Value) -> Self {
        Self::with_transport(url, auth, "streamable_http")
    }

    /// Like [`Home::new`], over `transport` (`sse` for legacy HTTP+SSE).
    pub fn with_transport(url: &str, auth: Value, transport: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut auth_block = json!({"method": "oauth"});
        if let (Some(block), Value::Object(more)) = (auth_block.as_object_mut(), auth) {
            block.extend(more);
        }
        let config = json!({
            "AgentConfig": {"startup_timeout": 10},
            "mcpServers": {
                "srv": {"transport_type": transport, "url": url, "auth": auth_block},
            },
        });
        std::fs::write(dir.path().join("servers_config.json"), config.to_string())
            .expect("write the config");
        let bin = dir.path().join("fakebin");
        std::fs::create_dir(&bin).expect("fakebin");
        let browser = bin.join("xdg-open");
        std::fs::write(
            &browser,
            "#!/bin/sh\n\
             echo opened >> \"$(dirname \"$0\")/opened\"\n\
             exec curl --silent --show-error --location --max-time 10 --output /dev/null \"$1\"\n",
        )
        .expect("write the fake browser");
        std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755))
            .expect("chmod the fake browser");
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `$XDG_DATA_HOME/mcpomni/tokens`.
    pub fn token_dir(&self) -> PathBuf {
        self.dir.path().join("data").join("mcpomni").join("tokens")
    }

    /// The token files (`*.json`) kept so far.
    pub fn token_files(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.token_dir()) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The one token file.
    pub fn token_file(&self) -> PathBuf {
        let files = self.token_files();
        assert_eq!(files.len(), 1, "one token file: {files:?}");
        files.into_iter().next().expect("one file")
    }

    /// How many times the fake browser was started.
    pub fn browser_opened(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("fakebin").join("opened"))
            .map(|text| text.lines().count())
            .unwrap_or(0)
    }

    /// Everything in the log directory, as one text.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        let dir = self.dir.path().join("state").join("mcpomni").join("logs");
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.filter_map(Result::ok) {
                text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        text
    }

    /// The command for `mcpomni ARGS` in this home (the fake browser first on PATH).
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let dir = self.dir.path();
        let path = format!(
            "{}:{}",
            dir.join("fakebin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = tokio::process::Command::new(crate::support::bin());
        command
            .args(args)
            .current_dir(dir)
            .env("PATH", path)
            .env("HOME", dir)
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_STATE_HOME", dir.join("state"))
            .env("MCPOMNI_LOG", "debug")
            .env_remove("BROWSER")
            .env_remove("DISPLAY")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Runs `mcpomni ARGS` to its end (at most [`RUN_LIMIT`]).
    pub async fn run(&self, args: &[&str]) -> Output {
        finish(self.command(args), args).await
    }
}

/// Runs `command` to its end (at most [`RUN_LIMIT`]); panics if it does not end in time.
pub async fn finish(mut command: tokio::process::Command, args: &[&str]) -> Output {
    let child = command.output();
    match tokio::time::timeout(RUN_LIMIT, child).await {
        Ok(output) => output.expect("the binary runs"),
        Err(_) => panic!("mcpomni {args:?} did not end within {RUN_LIMIT:?}"),
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
