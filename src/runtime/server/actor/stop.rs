//! Stopping a server: close the session politely, then make sure its process group is gone
//! (SIGTERM, a short grace, SIGKILL).

use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::time::{Instant, timeout};

use super::{Link, ServerActor};
use crate::runtime::messages::ServerState;
use crate::runtime::stdio;

/// How long a server gets to exit by itself after its stdin closes.
const EXIT_GRACE: Duration = Duration::from_millis(500);
/// How long it gets after SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_millis(300);
/// How long to wait for a SIGKILLed process to be reaped.
const KILL_GRACE: Duration = Duration::from_millis(200);

impl ServerActor {
    /// Closes the session politely (stdin closed, or the HTTP session ended) and then makes
    /// sure the process group is gone.
    pub(super) async fn close_politely(&mut self) {
        match std::mem::replace(&mut self.link, Link::Down) {
            Link::Up(mut connection) => {
                connection.service_cancel.cancel();
                match connection.exited.as_mut() {
                    Some(exited) => {
                        let _ = timeout(EXIT_GRACE, exited).await;
                    }
                    None => {
                        let _ = timeout(EXIT_GRACE, &mut connection.service_done).await;
                    }
                }
            }
            // Dropping the handshake future closes the pipes; the kill below does the rest.
            Link::Connecting(_) | Link::Down => {}
        }
        self.drop_connection().await;
    }

    pub(super) async fn stop(&mut self) {
        self.retry_due = None;
        self.snapshot.retry_at = None;
        self.close_politely().await;
        self.set_state(ServerState::Stopped, None).await;
    }

    /// Ends whatever is left of the server's process group: SIGTERM, a short grace, SIGKILL.
    pub(super) async fn kill_process(&mut self) {
        let Some(pid) = self.pid.take() else {
            return;
        };
        if stdio::group_alive(pid) {
            stdio::signal_group(pid, Signal::SIGTERM);
            wait_for_group_exit(pid, TERM_GRACE).await;
        }
        if stdio::group_alive(pid) {
            stdio::signal_group(pid, Signal::SIGKILL);
            // SIGKILL cannot be refused; this only waits for the zombie to be reaped.
            wait_for_group_exit(pid, KILL_GRACE).await;
        }
        stdio::forget_group(pid);
    }
}

async fn wait_for_group_exit(pid: u32, limit: Duration) {
    let deadline = Instant::now() + limit;
    while stdio::group_alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
