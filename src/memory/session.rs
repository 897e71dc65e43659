//! Which session a launch continues: a new one, `--session ID` (created when it does not
//! exist), or `--continue` (the most recent, or a new one — said so — when there is none).

use super::{Loaded, MemoryError, SessionChoice, SessionId, SharedStore};

/// The session this launch writes to, what it already holds, and anything to tell the user.
#[derive(Debug)]
pub struct Started {
    pub id: SessionId,
    pub loaded: Loaded,
    /// E.g. "no earlier session: starting X".
    pub note: Option<String>,
}

pub async fn start(store: &SharedStore, choice: &SessionChoice) -> Result<Started, MemoryError> {
    let (id, note) = match choice {
        SessionChoice::New => (SessionId::generate(), None),
        SessionChoice::Resume(id) => (id.clone(), None),
        SessionChoice::Latest => match store.list().await?.into_iter().next() {
            Some(latest) => (latest.id, None),
            None => {
                let id = SessionId::generate();
                let note = format!(
                    "--continue: no earlier session in the {} store; starting session {id}",
                    store.kind().label()
                );
                (id, Some(note))
            }
        },
    };
    let loaded = store.open(&id).await?;
    Ok(Started { id, loaded, note })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::llm::ChatMessage;
    use crate::memory::SessionEntry;
    use crate::memory::in_memory::InMemoryStore;

    #[tokio::test]
    async fn continue_takes_the_latest_or_says_it_starts_anew() {
        let store: SharedStore = Arc::new(InMemoryStore::default());
        let started = start(&store, &SessionChoice::Latest).await.expect("starts");
        assert!(started.loaded.entries.is_empty());
        assert!(
            started
                .note
                .as_deref()
                .is_some_and(|n| n.contains("no earlier session")),
            "{:?}",
            started.note
        );
        let old: SessionId = "old".parse().expect("id");
        let mut first = SessionEntry::message(ChatMessage::user("first"));
        first.at_ms = 1;
        store.append(&old, &[first]).await.expect("stored");
        let recent: SessionId = "recent".parse().expect("id");
        let mut second = SessionEntry::message(ChatMessage::user("second"));
        second.at_ms = 2;
        store.append(&recent, &[second]).await.expect("stored");
        let started = start(&store, &SessionChoice::Latest).await.expect("starts");
        assert_eq!(started.id, recent);
        assert_eq!(started.loaded.entries.len(), 1);
        assert_eq!(started.note, None);
        let named = start(&store, &SessionChoice::Resume(old.clone()))
            .await
            .expect("starts");
        assert_eq!(named.id, old);
        let new = start(&store, &SessionChoice::New).await.expect("starts");
        assert!(new.loaded.entries.is_empty());
    }
}
