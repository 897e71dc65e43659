//! Opening the configured store (`--memory` over the config's `memory.backend`).

use std::sync::Arc;

use super::in_memory::InMemoryStore;
use super::{MemoryError, SharedStore, StoreKind, StoreOptions, file, redis};
use crate::config::StoreConfig;

/// The store `config` names; `env` looks up environment variables (for the Redis URL, so a
/// `.env` file next to the config counts as it does for servers).
pub async fn open_store(
    config: &StoreConfig,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<SharedStore, MemoryError> {
    let options = StoreOptions {
        dir: None,
        redis_url: Some(redis::resolve_url(config.redis_url.as_deref(), env)),
        ttl_seconds: config.ttl_seconds,
    };
    open_backend(config.backend, &options).await
}

/// The store `kind` with `options`; Redis is connected to (within 5 seconds) before this
/// returns, so an unreachable server is reported at start, not at the first message.
pub async fn open_backend(
    kind: StoreKind,
    options: &StoreOptions,
) -> Result<SharedStore, MemoryError> {
    match kind {
        StoreKind::InMemory => Ok(Arc::new(InMemoryStore::default())),
        StoreKind::File => {
            let dir = match &options.dir {
                Some(dir) => dir.clone(),
                None => file::FileStore::default_dir().ok_or_else(|| MemoryError::Unavailable {
                    store: StoreKind::File.label(),
                    location: "the data directory".to_owned(),
                    reason: "no home directory to put it in".to_owned(),
                })?,
            };
            Ok(Arc::new(file::FileStore::new(dir)))
        }
        StoreKind::Redis => {
            let url = redis::resolve_url(options.redis_url.as_deref(), |name| {
                std::env::var(name).ok()
            });
            let store = redis::RedisStore::connect(&url, options.ttl_seconds).await?;
            Ok(Arc::new(store))
        }
    }
}
