//! The supervisor gathers what the server actors report into the published snapshots and
//! catalog (`watch` channels: always current, whoever reads them) and the event stream.
//!
//! It never waits for a slow reader of the event stream (a reader that keeps up sees every
//! snapshot): what it owes the stream is kept as "latest wins" state — the servers whose snapshot changed since the stream last had it, the
//! catalog, and per server bounded backlogs of log and stderr lines (the oldest are dropped
//! and counted when a backlog is full) — and handed over whenever the stream has room. So an
//! actor's reports are always taken at once, and a stalled dashboard cannot stall a server.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, watch};

use super::Snapshots;
use super::catalog::{Catalog, ServerListing};
use super::messages::{LogLine, RuntimeEvent, ServerName, ServerSnapshot};
use super::server::ServerUpdate;

/// Log or stderr lines kept per server while the event stream is full.
pub(super) const LINE_BACKLOG: usize = 1000;
/// Resource updates kept while the event stream is full.
const RESOURCE_BACKLOG: usize = 256;

/// Lines waiting for room in the event stream, oldest first, and how many were dropped
/// before the first of them.
#[derive(Debug)]
struct Backlog<T> {
    lines: VecDeque<T>,
    dropped: u64,
}

impl<T> Default for Backlog<T> {
    fn default() -> Self {
        Self {
            lines: VecDeque::new(),
            dropped: 0,
        }
    }
}

impl<T> Backlog<T> {
    fn extend(&mut self, dropped: u64, lines: Vec<T>) {
        self.dropped += dropped;
        for line in lines {
            if self.lines.len() == LINE_BACKLOG {
                self.lines.pop_front();
                self.dropped += 1;
            }
            self.lines.push_back(line);
        }
    }

    fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.dropped == 0
    }

    fn take(&mut self) -> (Vec<T>, u64) {
        (
            self.lines.drain(..).collect(),
            std::mem::take(&mut self.dropped),
        )
    }
}

pub(super) struct Supervisor {
    snapshots: Vec<Arc<ServerSnapshot>>,
    listings: Vec<Arc<ServerListing>>,
    catalog_version: u64,
    snapshots_tx: watch::Sender<Snapshots>,
    catalog_tx: watch::Sender<Arc<Catalog>>,
    events: mpsc::Sender<RuntimeEvent>,
    resource_updates: broadcast::Sender<(ServerName, String)>,
    /// Servers whose newest snapshot the event stream has not had yet, in the order they changed.
    changed: VecDeque<usize>,
    catalog_changed: bool,
    resources: VecDeque<(ServerName, String)>,
    logs: Vec<Backlog<LogLine>>,
    stderr: Vec<Backlog<String>>,
    /// Nobody reads the event stream any more (headless commands drop it).
    stream_closed: bool,
}

impl Supervisor {
    pub(super) fn new(
        snapshots: Vec<Arc<ServerSnapshot>>,
        snapshots_tx: watch::Sender<Snapshots>,
        catalog_tx: watch::Sender<Arc<Catalog>>,
        events: mpsc::Sender<RuntimeEvent>,
        resource_updates: broadcast::Sender<(ServerName, String)>,
    ) -> Self {
        let count = snapshots.len();
        Self {
            listings: (0..count)
                .map(|_| Arc::new(ServerListing::default()))
                .collect(),
            logs: (0..count).map(|_| Backlog::default()).collect(),
            stderr: (0..count).map(|_| Backlog::default()).collect(),
            snapshots,
            catalog_version: 0,
            snapshots_tx,
            catalog_tx,
            events,
            resource_updates,
            changed: VecDeque::new(),
            catalog_changed: false,
            resources: VecDeque::new(),
            stream_closed: false,
        }
    }

    pub(super) async fn run(mut self, mut updates: mpsc::Receiver<ServerUpdate>) {
        let events = self.events.clone();
        loop {
            let owed = !self.stream_closed && self.owes_events();
            // Hand over what is owed first: a reader that keeps up sees every snapshot;
            // only one that falls behind gets them coalesced.
            tokio::select! {
                biased;
                permit = events.reserve(), if owed => match permit {
                    Ok(permit) => {
                        if let Some(event) = self.next_event() {
                            permit.send(event);
                        }
                    }
                    Err(_) => self.stream_closed = true,
                },
                update = updates.recv() => match update {
                    Some(update) => self.apply(update),
                    None => break,
                },
            }
        }
        // The actors are gone; hand over what is still owed while someone listens.
        while !self.stream_closed && self.owes_events() {
            match events.reserve().await {
                Ok(permit) => {
                    if let Some(event) = self.next_event() {
                        permit.send(event);
                    }
                }
                Err(_) => self.stream_closed = true,
            }
        }
    }

    fn owes_events(&self) -> bool {
        !self.changed.is_empty()
            || self.catalog_changed
            || !self.resources.is_empty()
            || self.logs.iter().any(|b| !b.is_empty())
            || self.stderr.iter().any(|b| !b.is_empty())
    }

    /// Takes one actor report: the `watch` channels change at once; the event stream is owed.
    fn apply(&mut self, update: ServerUpdate) {
        match update {
            ServerUpdate::Snapshot(index, snapshot) => {
                let Some(slot) = self.snapshots.get_mut(index) else {
                    return;
                };
                *slot = snapshot;
                self.snapshots_tx
                    .send_replace(Arc::new(self.snapshots.clone()));
                if !self.changed.contains(&index) {
                    self.changed.push_back(index);
                }
            }
            ServerUpdate::ResourceUpdated(index, uri) => {
                let Some(snapshot) = self.snapshots.get(index) else {
                    return;
                };
                let server = snapshot.name.clone();
                let _ = self.resource_updates.send((server.clone(), uri.clone()));
                if self.resources.len() == RESOURCE_BACKLOG {
                    self.resources.pop_front();
                }
                self.resources.push_back((server, uri));
            }
            ServerUpdate::Listing(index, listing) => {
                let Some(slot) = self.listings.get_mut(index) else {
                    return;
                };
                if **slot == *listing {
                    return;
                }
                *slot = listing;
                self.catalog_version += 1;
                let named: Vec<_> = self
                    .snapshots
                    .iter()
                    .zip(&self.listings)
                    .map(|(snap, listing)| (snap.name.clone(), listing.clone()))
                    .collect();
                let catalog = Arc::new(Catalog::build(self.catalog_version, &named));
                self.catalog_tx.send_replace(catalog);
                self.catalog_changed = true;
            }
            ServerUpdate::Logs {
                index,
                lines,
                dropped,
            } => {
                if let Some(backlog) = self.logs.get_mut(index) {
                    backlog.extend(dropped, lines);
                }
            }
            ServerUpdate::Stderr {
                index,
                lines,
                dropped,
            } => {
                if let Some(backlog) = self.stderr.get_mut(index) {
                    backlog.extend(dropped, lines);
                }
            }
        }
    }

    /// The next event the stream is owed: snapshots first (in the order servers changed),
    /// then the catalog, resource updates, and lines.
    fn next_event(&mut self) -> Option<RuntimeEvent> {
        if let Some(index) = self.changed.pop_front() {
            return self
                .snapshots
                .get(index)
                .map(|s| RuntimeEvent::ServerChanged(s.clone()));
        }
        if std::mem::take(&mut self.catalog_changed) {
            return Some(RuntimeEvent::CatalogChanged(
                self.catalog_tx.borrow().clone(),
            ));
        }
        if let Some((server, uri)) = self.resources.pop_front() {
            return Some(RuntimeEvent::ResourceUpdated { server, uri });
        }
        for (index, backlog) in self.logs.iter_mut().enumerate() {
            if !backlog.is_empty() {
                let (lines, dropped) = backlog.take();
                let server = self.snapshots.get(index)?.name.clone();
                return Some(RuntimeEvent::LogLinesReceived {
                    server,
                    lines,
                    dropped,
                });
            }
        }
        for (index, backlog) in self.stderr.iter_mut().enumerate() {
            if !backlog.is_empty() {
                let (lines, dropped) = backlog.take();
                let server = self.snapshots.get(index)?.name.clone();
                return Some(RuntimeEvent::StderrLinesReceived {
                    server,
                    lines,
                    dropped,
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::runtime::messages::ServerState;

    fn supervisor(
        servers: usize,
        room: usize,
    ) -> (
        Supervisor,
        watch::Receiver<Snapshots>,
        mpsc::Receiver<RuntimeEvent>,
    ) {
        let initial: Vec<_> = (0..servers)
            .map(|i| {
                Arc::new(ServerSnapshot::new(
                    ServerName::new(&format!("s{i}")),
                    crate::runtime::messages::TransportKind::Stdio,
                ))
            })
            .collect();
        let (snapshots_tx, snapshots) = watch::channel(Arc::new(initial.clone()));
        let (catalog_tx, _) = watch::channel(Arc::new(Catalog::default()));
        let (events_tx, events) = mpsc::channel(room);
        let (resource_updates, _) = broadcast::channel(4);
        let supervisor = Supervisor::new(
            initial,
            snapshots_tx,
            catalog_tx,
            events_tx,
            resource_updates,
        );
        (supervisor, snapshots, events)
    }

    fn snapshot(index: usize, calls: u64) -> ServerUpdate {
        let mut s = ServerSnapshot::new(
            ServerName::new(&format!("s{index}")),
            crate::runtime::messages::TransportKind::Stdio,
        );
        s.state = ServerState::Ready;
        s.calls = calls;
        ServerUpdate::Snapshot(index, Arc::new(s))
    }

    fn log(text: String) -> LogLine {
        LogLine {
            at: std::time::SystemTime::UNIX_EPOCH,
            level: crate::runtime::messages::LogLevel::Info,
            logger: None,
            text,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_does_not_read_never_stalls_the_actors() {
        let (supervisor, snapshots, mut events) = supervisor(2, 1);
        let (updates_tx, updates) = mpsc::channel(8);
        let task = tokio::spawn(supervisor.run(updates));
        // Far more reports than the event stream and the update queue together can hold.
        for calls in 1..=5_000 {
            tokio::time::timeout(Duration::from_secs(1), updates_tx.send(snapshot(0, calls)))
                .await
                .expect("the supervisor takes every report at once")
                .expect("running");
        }
        updates_tx
            .send(snapshot(1, 7))
            .await
            .expect("the supervisor takes the report");
        tokio::task::yield_now().await;
        let current = snapshots.borrow().clone();
        assert_eq!(current[0].calls, 5_000, "the watch is current");
        assert_eq!(current[1].calls, 7);
        // The stream holds one (old) event; after it, only the newest of each server.
        let mut seen = Vec::new();
        drop(updates_tx);
        while let Some(event) = events.recv().await {
            match event {
                RuntimeEvent::ServerChanged(s) => seen.push((s.name.to_string(), s.calls)),
                other => panic!("unexpected {other:?}"),
            }
        }
        task.await.expect("the supervisor ends");
        assert!(seen.len() <= 3, "coalesced: {seen:?}");
        assert_eq!(seen.last(), Some(&("s1".to_owned(), 7)));
        assert!(seen.contains(&("s0".to_owned(), 5_000)), "{seen:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn lines_arrive_in_order_and_drops_are_counted() {
        let (supervisor, _snapshots, mut events) = supervisor(1, 1);
        let (updates_tx, updates) = mpsc::channel(8);
        let task = tokio::spawn(supervisor.run(updates));
        let total = 3 * LINE_BACKLOG as u64;
        for batch in 0..30u64 {
            let lines = (0..100)
                .map(|i| log(format!("{}", batch * 100 + i)))
                .collect();
            updates_tx
                .send(ServerUpdate::Logs {
                    index: 0,
                    lines,
                    dropped: 0,
                })
                .await
                .expect("running");
            updates_tx
                .send(ServerUpdate::Stderr {
                    index: 0,
                    lines: vec![format!("err {batch}")],
                    dropped: 1,
                })
                .await
                .expect("running");
        }
        drop(updates_tx);
        let (mut logs, mut log_drops, mut stderr, mut stderr_drops) = (vec![], 0, vec![], 0);
        while let Some(event) = events.recv().await {
            match event {
                RuntimeEvent::LogLinesReceived { lines, dropped, .. } => {
                    log_drops += dropped;
                    logs.extend(lines.into_iter().map(|l| l.text.parse::<u64>().expect("n")));
                }
                RuntimeEvent::StderrLinesReceived { lines, dropped, .. } => {
                    stderr_drops += dropped;
                    stderr.extend(lines);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        task.await.expect("the supervisor ends");
        assert!(logs.windows(2).all(|w| w[0] < w[1]), "in order");
        assert_eq!(
            logs.len() as u64 + log_drops,
            total,
            "every line is seen or counted"
        );
        assert_eq!(logs.last(), Some(&(total - 1)), "the newest lines are kept");
        assert_eq!(stderr.len() as u64 + stderr_drops, 60);
        assert_eq!(stderr.last().map(String::as_str), Some("err 29"));
    }
}
