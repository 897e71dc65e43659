//! A private `redis-server` for one test or bench: a free loopback port, its own directory,
//! no snapshots (an append-only file only where a test restarts the server and wants its
//! data back), stopped by pid when dropped.
//!
//! Where `redis-server` is not installed the Redis tests are skipped, saying so — unless
//! `CI` or `MCPOMNI_REQUIRE_REDIS=1` is set: then a missing server fails them.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    append_only: bool,
}

fn installed() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn required() -> bool {
    std::env::var_os("CI").is_some_and(|ci| !ci.is_empty())
        || std::env::var("MCPOMNI_REQUIRE_REDIS").is_ok_and(|value| value == "1")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

impl RedisServer {
    /// A running server, or `None` (after saying why) where Redis tests are skipped.
    pub fn start(test: &str, append_only: bool) -> Option<Self> {
        if !installed() {
            assert!(
                !required(),
                "redis-server is not installed, and CI (or MCPOMNI_REQUIRE_REDIS=1) requires \
                 the Redis tests: install it (apt-get install redis-server)"
            );
            // Past the test harness's capture, so the skip shows in a passing run.
            let _ = writeln!(
                std::io::stderr(),
                "skipped ({test}): redis-server is not installed (set MCPOMNI_REQUIRE_REDIS=1 to fail instead)"
            );
            return None;
        }
        let mut server = Self {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().expect("a directory for redis"),
            append_only,
        };
        server.restart();
        Some(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server the hard way (SIGKILL: no shutdown save).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on the same port and directory; returns once it answers.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--save", ""])
            .args(["--appendonly", if self.append_only { "yes" } else { "no" }])
            .args(["--appendfsync", "always"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.answers() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not answer PING", self.port);
    }

    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
