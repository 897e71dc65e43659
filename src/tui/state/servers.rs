//! Servers pane state: the latest snapshot of every server (in config order) and which row is
//! selected. Snapshots arrive whole from the runtime and replace the old ones.

use std::sync::Arc;

use crate::runtime::messages::{ServerSnapshot, ServerState};

#[derive(Debug, Default)]
pub struct ServersState {
    pub servers: Vec<Arc<ServerSnapshot>>,
    pub selected: usize,
    /// Lines scrolled in the details of the selected server.
    pub detail_scroll: u16,
}

impl ServersState {
    /// Puts `snapshot` in its row (by name), adding a row for a server not seen before.
    pub fn upsert(&mut self, snapshot: Arc<ServerSnapshot>) {
        match self.servers.iter_mut().find(|s| s.name == snapshot.name) {
            Some(slot) => *slot = snapshot,
            None => self.servers.push(snapshot),
        }
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
