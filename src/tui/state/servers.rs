//! Servers pane state: the latest snapshot of every server (in config order), which row is
//! selected, each server's recent log messages and stderr lines (ring buffers fed by their own
//! event streams: snapshots do not carry them), and the operator's action in progress, whose
//! status-bar message clears when the server has settled after it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::runtime::messages::{LogLine, ServerName, ServerSnapshot, ServerState};

/// Log messages and stderr lines kept per server.
pub const TAIL_LINES: usize = 200;

#[derive(Debug, Default)]
pub struct ServersState {
    pub servers: Vec<Arc<ServerSnapshot>>,
    pub selected: usize,
    /// Lines scrolled in the details of the selected server.
    pub detail_scroll: u16,
    /// Recent log messages and stderr lines, per server.
    pub tails: HashMap<ServerName, ServerTails>,
    /// The operator's reconnect / restart / enable / disable that has not finished yet.
    pub action: Option<PendingAction>,
    /// Sign-ins started from the dashboard, per server, as they last reported.
    pub sign_ins: HashMap<ServerName, crate::runtime::messages::SignInStatus>,
}

/// A server's newest log messages and stderr lines, oldest first, and how many were lost
/// (the server or the runtime outran the dashboard).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ServerTails {
    pub logs: VecDeque<LogLine>,
    pub stderr: VecDeque<String>,
    pub logs_dropped: u64,
    pub stderr_dropped: u64,
}

/// What the operator asked a server to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    /// Reconnect, restart or enable: done when the server has been through a start.
    Start,
    /// Disable: done when the server is stopped.
    Disable,
}

/// An action whose status-bar message waits for the server to settle.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingAction {
    pub server: ServerName,
    pub kind: ActionKind,
    /// The status-bar message it put up (cleared only if it is still the one shown).
    pub notice: String,
    /// A snapshot in a starting state has been seen since the command.
    pub started: bool,
}

impl PendingAction {
    /// Whether `snapshot` shows the action finished.
    fn finished_by(&mut self, snapshot: &ServerSnapshot) -> bool {
        if snapshot.name != self.server {
            return false;
        }
        match self.kind {
            ActionKind::Start => {
                if !snapshot.state.is_settled() {
                    self.started = true;
                    false
                } else {
                    // A settled snapshot from before the command does not count.
                    self.started
                }
            }
            ActionKind::Disable => !snapshot.enabled && snapshot.state == ServerState::Stopped,
        }
    }
}

fn push_bounded<T>(ring: &mut VecDeque<T>, lines: impl IntoIterator<Item = T>) -> u64 {
    let mut pushed_out = 0;
    for line in lines {
        if ring.len() == TAIL_LINES {
            ring.pop_front();
            pushed_out += 1;
        }
        ring.push_back(line);
    }
    pushed_out
}

impl ServersState {
    /// Puts `snapshot` in its row (by name), adding a row for a server not seen before.
    /// Returns the status-bar message of an action that this snapshot shows finished.
    pub fn upsert(&mut self, snapshot: Arc<ServerSnapshot>) -> Option<String> {
        let finished = self
            .action
            .as_mut()
            .is_some_and(|action| action.finished_by(&snapshot));
        match self.servers.iter_mut().find(|s| s.name == snapshot.name) {
            Some(slot) => *slot = snapshot,
            None => self.servers.push(snapshot),
        }
        if finished {
            self.action.take().map(|action| action.notice)
        } else {
            None
        }
    }

    /// Log messages from `server`; `dropped` were lost right before them.
    pub fn add_logs(&mut self, server: ServerName, lines: Vec<LogLine>, dropped: u64) {
        let tails = self.tails.entry(server).or_default();
        tails.logs_dropped += dropped;
        push_bounded(&mut tails.logs, lines);
    }

    /// Stderr lines from `server`; `dropped` were lost right before them.
    pub fn add_stderr(&mut self, server: ServerName, lines: Vec<String>, dropped: u64) {
        let tails = self.tails.entry(server).or_default();
        tails.stderr_dropped += dropped;
        push_bounded(&mut tails.stderr, lines);
    }

    pub fn tails_of(&self, server: &ServerName) -> Option<&ServerTails> {
        self.tails.get(server)
    }

    pub fn selected(&self) -> Option<&Arc<ServerSnapshot>> {
        self.servers.get(self.selected)
    }

    pub fn select(&mut self, index: usize) {
        let last = self.servers.len().saturating_sub(1);
        let index = index.min(last);
        if index != self.selected {
            self.selected = index;
            self.detail_scroll = 0;
        }
    }

    pub fn ready_count(&self) -> usize {
        self.servers
            .iter()
            .filter(|s| s.state == ServerState::Ready)
            .count()
    }
}
