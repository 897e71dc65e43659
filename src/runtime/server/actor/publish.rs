//! What an actor tells the supervisor: its snapshot (state changes at once; statistics, at
//! most every [`PUBLISH_EVERY`]) and, as their own bounded streams, the log messages and stderr
//! lines that arrived since the last publish. Snapshots never carry logs or stderr: a busy
//! server must not make every snapshot heavier, and a reader that falls behind loses old
//! lines (counted), never the server's state.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::{LOG_LINES, PUBLISH_EVERY, ServerActor};
use crate::runtime::messages::{LogLine, ServerState};
use crate::runtime::server::ServerUpdate;

/// Log lines received since the last publish, and how many were lost before them.
#[derive(Debug, Default)]
pub(super) struct LogBatch {
    lines: VecDeque<LogLine>,
    dropped: u64,
}

impl LogBatch {
    pub(super) fn push(&mut self, line: LogLine) {
        if self.lines.len() == LOG_LINES {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.lines.push_back(line);
    }

    fn take(&mut self) -> Option<(Vec<LogLine>, u64)> {
        if self.lines.is_empty() && self.dropped == 0 {
            return None;
        }
        let dropped = std::mem::take(&mut self.dropped);
        Some((self.lines.drain(..).collect(), dropped))
    }
}

impl ServerActor {
    pub(super) async fn set_state(&mut self, state: ServerState, error: Option<String>) {
        if state != self.snapshot.state {
            tracing::info!(
                parent: &self.connection_span,
                state = state.label(),
                "server state changed"
            );
        }
        self.snapshot.state = state;
        if let Some(error) = error {
            // Every reason a person reads passes here: no credential gets past.
            self.snapshot.last_error = Some(self.ctx.secrets.scrub_owned(error));
        }
        if state.is_settled() {
            self.snapshot.first_attempt_done = true;
        }
        self.publish().await;
    }

    /// The snapshot changed in a way worth showing, but not worth a message right now.
    pub(super) fn publish_soon(&mut self) {
        self.snapshot_dirty = true;
        self.flush_soon();
    }

    /// New log or stderr lines wait to go out.
    pub(super) fn flush_soon(&mut self) {
        if self.publish_due.is_none() {
            self.publish_due = Some(Instant::now() + PUBLISH_EVERY);
        }
    }

    pub(super) async fn on_publish_due(&mut self) {
        self.publish_due = None;
        let flooded = self.dropped.load(Ordering::Relaxed) != self.snapshot.dropped_notices;
        if self.snapshot_dirty || flooded {
            self.publish().await;
        } else {
            self.flush_streams().await;
        }
    }

    /// Sends the new log and stderr lines, then the snapshot.
    pub(super) async fn publish(&mut self) {
        self.publish_due = None;
        self.snapshot_dirty = false;
        self.flush_streams().await;
        let s = &mut self.snapshot;
        s.ping_samples = self.pings.samples.iter().copied().collect();
        s.ping_failures = self.pings.consecutive_failures;
        self.shared.stats_dirty.store(false, Ordering::Release);
        {
            let stats = self
                .shared
                .stats
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            s.calls = stats.calls;
            s.call_errors = stats.errors;
            s.call_p50 = stats.percentile(50);
            s.call_p95 = stats.percentile(95);
        }
        s.restarts = self.restarts.total;
        s.dropped_progress = self.shared.late_progress.count();
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped > s.dropped_notices && s.state == ServerState::Ready {
            // A flood is a fault worth showing; the next good heartbeat clears it.
            s.state = ServerState::Degraded;
            s.last_error = Some(format!(
                "the server floods notifications ({dropped} dropped; the newest are kept)"
            ));
        }
        s.dropped_notices = dropped;
        let snapshot = Arc::new(self.snapshot.clone());
        let _ = self
            .ctx
            .updates
            .send(ServerUpdate::Snapshot(self.ctx.index, snapshot))
            .await;
    }

    /// Sends the log and stderr lines that arrived since the last call, if any.
    async fn flush_streams(&mut self) {
        let index = self.ctx.index;
        if let Some((lines, dropped)) = self.logs.take() {
            let _ = self
                .ctx
                .updates
                .send(ServerUpdate::Logs {
                    index,
                    lines,
                    dropped,
                })
                .await;
        }
        let (lines, mark, dropped) = self.shared.stderr.read_from(self.stderr_mark);
        self.stderr_mark = mark;
        if !lines.is_empty() || dropped > 0 {
            let _ = self
                .ctx
                .updates
                .send(ServerUpdate::Stderr {
                    index,
                    lines,
                    dropped,
                })
                .await;
        }
    }
}
