//! The throwaway store (`--memory in_memory`): sessions live as long as the process. Tests
//! and one-off runs use it; nothing reaches the disk.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use futures::future::BoxFuture;

use super::{Loaded, MemoryError, MemoryStore, SessionEntry, SessionId, SessionInfo, StoreKind};

#[derive(Debug, Default)]
pub struct InMemoryStore {
    sessions: Mutex<HashMap<SessionId, Vec<SessionEntry>>>,
}

impl InMemoryStore {
    fn entries(&self, id: &SessionId) -> Option<Vec<SessionEntry>> {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }
}

impl MemoryStore for InMemoryStore {
    fn kind(&self) -> StoreKind {
        StoreKind::InMemory
    }

    fn location(&self) -> String {
        "memory".to_owned()
    }

    fn open<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<Loaded, MemoryError>> {
        let entries = self.entries(id).unwrap_or_default();
        Box::pin(async move {
            Ok(Loaded {
                entries,
                warnings: Vec::new(),
            })
        })
    }

    fn append<'a>(
        &'a self,
        id: &'a SessionId,
        entries: &'a [SessionEntry],
    ) -> BoxFuture<'a, Result<(), MemoryError>> {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id.clone())
            .or_default()
            .extend_from_slice(entries);
        Box::pin(async { Ok(()) })
    }

    fn load<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<Loaded, MemoryError>> {
        let found = self.entries(id);
        Box::pin(async move {
            match found {
                Some(entries) => Ok(Loaded {
                    entries,
                    warnings: Vec::new(),
                }),
                None => Err(MemoryError::NotFound(id.clone())),
            }
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<SessionInfo>, MemoryError>> {
        let mut infos: Vec<SessionInfo> = self
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(id, entries)| super::summarize(id, entries, StoreKind::InMemory))
            .collect();
        infos.sort_by(|a, b| b.updated.cmp(&a.updated).then(a.id.cmp(&b.id)));
        Box::pin(async move { Ok(infos) })
    }

    fn delete<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<bool, MemoryError>> {
        let removed = self
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id)
            .is_some();
        Box::pin(async move { Ok(removed) })
    }

    fn release(&self, _id: &SessionId) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ChatMessage;

    #[tokio::test]
    async fn sessions_are_kept_listed_and_deleted() {
        let store = InMemoryStore::default();
        let id: SessionId = "s1".parse().expect("id");
        assert_eq!(store.open(&id).await.map(|l| l.entries.len()), Ok(0));
        let entries = [
            SessionEntry::message(ChatMessage::user("what is 2+2?")),
            SessionEntry::message(ChatMessage::assistant("4")),
        ];
        store.append(&id, &entries).await.expect("appended");
        assert_eq!(
            store.load(&id).await.map(|l| l.entries),
            Ok(entries.to_vec())
        );
        let list = store.list().await.expect("listed");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].title, "what is 2+2?");
        assert_eq!(list[0].messages, 2);
        assert_eq!(store.delete(&id).await, Ok(true));
        assert_eq!(store.delete(&id).await, Ok(false));
        assert_eq!(store.load(&id).await, Err(MemoryError::NotFound(id)));
    }
}
