//! Real third-party MCP servers for the interop tests, installed by `scripts/peers-setup` into
//! `tests/peers/`: the official Node `server-everything` and our small server on the official
//! Python SDK (`tests/peers/py_server.py`).
//!
//! Stdio peers are described by server entries for a `servers_config.json`; HTTP peers run as a
//! [`PeerProcess`] on a free 127.0.0.1 port, in their own process group, killed on drop.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a peer may take to accept connections (Node needs 2–4 s, Python ~2 s; CI is slow).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// `tests/peers/`.
pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

fn require(path: PathBuf, what: &str) -> PathBuf {
    if !path.exists() {
        panic!(
            "{what} not found at {}: run scripts/peers-setup",
            path.display()
        );
    }
    path
}

/// The `node` on `PATH`, as an absolute path.
pub fn node_bin() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("node"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("node is not on PATH (Node 20+ is needed): run scripts/peers-setup")
        })
}

/// `server-everything`'s entry script.
pub fn everything_script() -> PathBuf {
    require(
        peers_dir().join("node_modules/@modelcontextprotocol/server-everything/dist/index.js"),
        "server-everything",
    )
}

/// The Python of the peers' venv (it has `mcp` 2.3.0).
pub fn venv_python() -> PathBuf {
    require(
        peers_dir().join("venv/bin/python"),
        "the peers' Python venv",
    )
}

/// `tests/peers/py_server.py`.
pub fn py_server_script() -> PathBuf {
    require(peers_dir().join("py_server.py"), "py_server.py")
}

fn entry(command: PathBuf, args: &[String]) -> serde_json::Value {
    serde_json::json!({"command": command.display().to_string(), "args": args})
}

/// A stdio server entry running `server-everything`.
pub fn everything_stdio_entry() -> serde_json::Value {
    entry(
        node_bin(),
        &[everything_script().display().to_string(), "stdio".into()],
    )
}

/// A stdio server entry running the Python peer.
pub fn py_stdio_entry() -> serde_json::Value {
    entry(
        venv_python(),
        &[py_server_script().display().to_string(), "stdio".into()],
    )
}

/// Which server a [`PeerProcess`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// `@modelcontextprotocol/server-everything` (Node).
    Everything,
    /// `tests/peers/py_server.py` (Python `mcp`).
    Python,
}

/// Which HTTP transport a [`PeerProcess`] serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpTransport {
    /// Legacy HTTP+SSE (2024-11-05): `GET /sse`, then POST to the announced endpoint.
    Sse,
    /// Streamable HTTP: `/mcp`.
    StreamableHttp,
    /// Streamable HTTP without sessions, answering with JSON (Python peer only).
    StatelessHttp,
}

/// A peer serving HTTP on 127.0.0.1. The process (and anything it spawned) runs in its own
/// process group, which is killed on drop, so a failing test leaves no server behind.
pub struct PeerProcess {
    peer: Peer,
    transport: HttpTransport,
    port: u16,
    child: Option<Child>,
    /// stdout and stderr of every start, for panic messages.
    output: Arc<Mutex<String>>,
}

impl PeerProcess {
    /// Start `peer` on a free port and wait until it accepts connections.
    pub async fn start(peer: Peer, transport: HttpTransport) -> Self {
        let mut process = Self {
            peer,
            transport,
            port: free_port(),
            child: None,
            output: Arc::default(),
        };
        process.spawn_and_wait().await;
        process
    }

    /// `server-everything` over legacy SSE.
    pub async fn everything_sse() -> Self {
        Self::start(Peer::Everything, HttpTransport::Sse).await
    }

    /// `server-everything` over streamable HTTP.
    pub async fn everything_http() -> Self {
        Self::start(Peer::Everything, HttpTransport::StreamableHttp).await
    }

    /// The Python peer over legacy SSE.
    pub async fn py_sse() -> Self {
        Self::start(Peer::Python, HttpTransport::Sse).await
    }

    /// The Python peer over streamable HTTP.
    pub async fn py_http() -> Self {
        Self::start(Peer::Python, HttpTransport::StreamableHttp).await
    }

    /// The Python peer over streamable HTTP without sessions.
    pub async fn py_stateless_http() -> Self {
        Self::start(Peer::Python, HttpTransport::StatelessHttp).await
    }

    /// `http://127.0.0.1:PORT/sse` or `http://127.0.0.1:PORT/mcp`.
    pub fn url(&self) -> String {
        let path = match self.transport {
            HttpTransport::Sse => "sse",
            HttpTransport::StreamableHttp | HttpTransport::StatelessHttp => "mcp",
        };
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's pid (also its process group id), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Everything the process printed so far (stdout and stderr, all starts).
    pub fn output(&self) -> String {
        self.output
            .lock()
            .map(|text| text.clone())
            .unwrap_or_default()
    }

    /// Kill the server (all sessions are lost) and start it again on the same port.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn_and_wait().await;
    }

    /// Start the server again on the same port after [`PeerProcess::kill`] (an endpoint that
    /// was down comes back).
    pub async fn start_again(&mut self) {
        if self.child.is_none() {
            self.spawn_and_wait().await;
        }
    }

    /// Kill the server and wait for it to exit (also done on drop).
    pub fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // std cannot signal a process group, so ask kill(1): a negative pid is the group
        // (the child's pid is its group id, see `process_group(0)`).
        let group_killed = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !group_killed {
            let _ = child.kill();
        }
        let _ = child.wait();
    }

    fn command(&self) -> Command {
        let mut command = match self.peer {
            Peer::Everything => {
                let mut command = Command::new(node_bin());
                let mode = match self.transport {
                    HttpTransport::Sse => "sse",
                    HttpTransport::StreamableHttp | HttpTransport::StatelessHttp => {
                        "streamableHttp"
                    }
                };
                // server-everything takes its port only from the environment.
                command
                    .arg(everything_script())
                    .arg(mode)
                    .env("PORT", self.port.to_string());
                command
            }
            Peer::Python => {
                let mut command = Command::new(venv_python());
                let mode = match self.transport {
                    HttpTransport::Sse => "sse",
                    HttpTransport::StreamableHttp => "streamable-http",
                    HttpTransport::StatelessHttp => "streamable-http-stateless",
                };
                command
                    .arg(py_server_script())
                    .arg(mode)
                    .arg(self.port.to_string())
                    .env("PYTHONUNBUFFERED", "1");
                command
            }
        };
        command
            .current_dir(peers_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command
    }

    async fn spawn_and_wait(&mut self) {
        let mut child = match self.command().spawn() {
            Ok(child) => child,
            Err(e) => panic!("could not start {:?} {:?}: {e}", self.peer, self.transport),
        };
        if let Some(stdout) = child.stdout.take() {
            collect(stdout, self.output.clone());
        }
        if let Some(stderr) = child.stderr.take() {
            collect(stderr, self.output.clone());
        }
        self.child = Some(child);

        let started = Instant::now();
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.child = None;
                panic!(
                    "{:?} {:?} exited ({status}) before listening on port {}; output:\n{}",
                    self.peer,
                    self.transport,
                    self.port,
                    self.output()
                );
            }
            if started.elapsed() > STARTUP_TIMEOUT {
                self.kill();
                panic!(
                    "{:?} {:?} did not listen on port {} within {:?}; output:\n{}",
                    self.peer,
                    self.transport,
                    self.port,
                    STARTUP_TIMEOUT,
                    self.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Copy a pipe into `sink` on a thread (it ends when the process group is gone).
fn collect(mut pipe: impl Read + Send + 'static, sink: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buffer) {
            if n == 0 {
                break;
            }
            if let Ok(mut text) = sink.lock() {
                text.push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        }
    });
}

/// A port that is free on 127.0.0.1 right now (the OS picks it; the listener is closed again).
pub fn free_port() -> u16 {
    match std::net::TcpListener::bind(("127.0.0.1", 0)).and_then(|l| l.local_addr()) {
        Ok(address) => address.port(),
        Err(e) => panic!("no free port on 127.0.0.1: {e}"),
    }
}
