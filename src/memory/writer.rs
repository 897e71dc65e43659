//! Writes one session's entries in order, off the agent's task: the agent hands over a batch
//! per turn and goes on. A batch the store refuses (Redis down, a full disk) is kept in
//! memory and written, in order, with the next batch or on the next retry tick — so nothing
//! is lost while the store is away, and the state says "not saved" until it is back.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use super::{SessionEntry, SessionId, SharedStore};

/// How often entries that could not be written are tried again.
const RETRY_EVERY: Duration = Duration::from_secs(5);

/// Whether everything handed over has reached the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveState {
    Saved,
    /// `pending` entries wait in memory; `reason` is the store's last error.
    NotSaved {
        pending: usize,
        reason: String,
    },
}

/// The agent's end: hand over entries to be written.
#[derive(Debug, Clone)]
pub struct SessionSink {
    pub id: SessionId,
    tx: mpsc::UnboundedSender<Request>,
    state: watch::Receiver<SaveState>,
}

#[derive(Debug)]
enum Request {
    Write(Vec<SessionEntry>),
    /// Answer once everything handed over before has been tried (a process about to exit).
    Flush(oneshot::Sender<SaveState>),
}

impl SessionSink {
    pub fn write(&self, entries: Vec<SessionEntry>) {
        if !entries.is_empty() {
            // The writer ends only when every sink is gone.
            let _ = self.tx.send(Request::Write(entries));
        }
    }

    /// Whether everything handed over has been written, as it changes.
    pub fn state(&self) -> watch::Receiver<SaveState> {
        self.state.clone()
    }

    /// Waits until everything handed over so far has been written (or refused: the state
    /// says which).
    pub async fn flush(&self) -> SaveState {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Request::Flush(tx)).is_err() {
            return SaveState::Saved;
        }
        rx.await.unwrap_or(SaveState::Saved)
    }
}

/// Starts the writer task for session `id` of `store`.
pub fn spawn(store: SharedStore, id: SessionId) -> (SessionSink, watch::Receiver<SaveState>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (state_tx, state_rx) = watch::channel(SaveState::Saved);
    tokio::spawn(run(store, id.clone(), rx, state_tx));
    let sink = SessionSink {
        id,
        tx,
        state: state_rx.clone(),
    };
    (sink, state_rx)
}

async fn run(
    store: SharedStore,
    id: SessionId,
    mut rx: mpsc::UnboundedReceiver<Request>,
    state: watch::Sender<SaveState>,
) {
    let mut pending: Vec<SessionEntry> = Vec::new();
    loop {
        let next = if pending.is_empty() {
            rx.recv().await
        } else {
            tokio::select! {
                batch = rx.recv() => batch,
                () = tokio::time::sleep(RETRY_EVERY) => Some(Request::Write(Vec::new())),
            }
        };
        let Some(request) = next else {
            // Every sink is gone: one last try, then give up what cannot be written.
            if !pending.is_empty() && store.append(&id, &pending).await.is_err() {
                tracing::warn!(session = %id, lost = pending.len(), "entries never reached the store");
            }
            store.release(&id);
            return;
        };
        let flushed = match request {
            Request::Write(batch) => {
                pending.extend(batch);
                None
            }
            Request::Flush(done) => Some(done),
        };
        if pending.is_empty() {
            if let Some(done) = flushed {
                let _ = done.send(SaveState::Saved);
            }
            continue;
        }
        match store.append(&id, &pending).await {
            Ok(()) => {
                pending.clear();
                state.send_replace(SaveState::Saved);
            }
            Err(error) => {
                state.send_replace(SaveState::NotSaved {
                    pending: pending.len(),
                    reason: error.to_string(),
                });
            }
        }
        if let Some(done) = flushed {
            let _ = done.send(state.borrow().clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use futures::future::BoxFuture;

    use super::*;
    use crate::llm::ChatMessage;
    use crate::memory::in_memory::InMemoryStore;
    use crate::memory::{Loaded, MemoryError, MemoryStore, SessionInfo, StoreKind};

    /// An in-memory store that refuses writes while `down` is set.
    #[derive(Debug, Default)]
    struct Flaky {
        inner: InMemoryStore,
        down: AtomicBool,
    }

    impl MemoryStore for Flaky {
        fn kind(&self) -> StoreKind {
            StoreKind::Redis
        }
        fn location(&self) -> String {
            "redis://127.0.0.1:1".into()
        }
        fn open<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<Loaded, MemoryError>> {
            self.inner.open(id)
        }
        fn append<'a>(
            &'a self,
            id: &'a SessionId,
            entries: &'a [SessionEntry],
        ) -> BoxFuture<'a, Result<(), MemoryError>> {
            if self.down.load(Ordering::SeqCst) {
                return Box::pin(async {
                    Err(MemoryError::Unavailable {
                        store: "redis",
                        location: "redis://127.0.0.1:1".into(),
                        reason: "connection refused".into(),
                    })
                });
            }
            self.inner.append(id, entries)
        }
        fn load<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<Loaded, MemoryError>> {
            self.inner.load(id)
        }
        fn list(&self) -> BoxFuture<'_, Result<Vec<SessionInfo>, MemoryError>> {
            self.inner.list()
        }
        fn delete<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<bool, MemoryError>> {
            self.inner.delete(id)
        }
        fn release(&self, _id: &SessionId) {}
    }

    fn said(text: &str) -> SessionEntry {
        SessionEntry::message(ChatMessage::user(text))
    }

    #[tokio::test(start_paused = true)]
    async fn entries_wait_while_the_store_is_down_and_arrive_in_order() {
        let store = Arc::new(Flaky::default());
        let id: SessionId = "s".parse().expect("id");
        let (sink, mut state) = spawn(store.clone(), id.clone());
        sink.write(vec![said("one")]);
        state.changed().await.expect("state");
        assert_eq!(*state.borrow(), SaveState::Saved);

        store.down.store(true, Ordering::SeqCst);
        sink.write(vec![said("two")]);
        state.changed().await.expect("state");
        assert!(matches!(
            &*state.borrow(),
            SaveState::NotSaved { pending: 1, reason } if reason.contains("connection refused")
        ));
        sink.write(vec![said("three")]);
        state.changed().await.expect("state");
        assert!(matches!(
            &*state.borrow(),
            SaveState::NotSaved { pending: 2, .. }
        ));

        assert!(matches!(
            sink.flush().await,
            SaveState::NotSaved { pending: 2, .. }
        ));
        // Back: the retry tick writes what waited, in order.
        store.down.store(false, Ordering::SeqCst);
        state
            .wait_for(|s| *s == SaveState::Saved)
            .await
            .expect("saved once the store is back");
        let texts: Vec<String> = store
            .load(&id)
            .await
            .expect("loads")
            .entries
            .into_iter()
            .filter_map(|e| match e.body {
                crate::memory::EntryBody::Message {
                    message: ChatMessage::User(text),
                    ..
                } => Some(text),
                _ => None,
            })
            .collect();
        assert_eq!(texts, ["one", "two", "three"]);
    }
}
