//! Opening the configured store (`--memory` over the config's `memory.backend`).

use std::sync::Arc;

use super::in_memory::InMemoryStore;
use super::{MemoryError, SharedStore, StoreKind};
use crate::config::StoreConfig;

/// The store `config` names; `env` looks up environment variables (for the Redis URL).
pub async fn open_store(
    config: &StoreConfig,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<SharedStore, MemoryError> {
    let _ = env;
    match config.backend {
        StoreKind::InMemory => Ok(Arc::new(InMemoryStore::default())),
        kind @ (StoreKind::File | StoreKind::Redis) => Err(MemoryError::Unavailable {
            store: kind.label(),
            location: String::new(),
            reason: "not in this build yet".to_owned(),
        }),
    }
}
