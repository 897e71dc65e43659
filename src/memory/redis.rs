//! The Redis store: sessions shareable between machines. Every key starts with `mcpomni:`:
//!
//! - `mcpomni:session:<id>` — a list, one entry's JSON per item, in order;
//! - `mcpomni:session:<id>:meta` — a hash with what `sessions list` shows (`title`,
//!   `messages`, `tokens`) and the token of the last batch appended (`batch`);
//! - `mcpomni:sessions` — a sorted set of session ids scored by their last entry's time.
//!
//! An append is one Lua script, so the list and its index never disagree, and it carries a
//! batch token, so sending it again after a lost reply does not store it twice. A
//! [`ConnectionManager`] reconnects by itself after a server restart, but the command in
//! flight fails ("broken pipe"): each operation is tried once more on a connection error.
//! With `ttl_seconds`, a session's keys expire that long after its last append; ids whose keys
//! expired are dropped from the index the next time it is listed.
//!
//! There is no per-process lock: a session is meant to be opened from several machines.

mod resolve;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, RedisResult};

pub use self::resolve::resolve_url;
use super::{
    DecodeError, Loaded, MemoryError, MemoryStore, SessionEntry, SessionId, SessionInfo, StoreKind,
};
use crate::redact::{Secrets, display_url};

/// What every key starts with.
pub const KEY_PREFIX: &str = "mcpomni:";

/// The promise made to the user: an unreachable Redis is reported within 5 seconds.
const CONNECT_DEADLINE: Duration = Duration::from_millis(4500);

/// Adds a batch to a session and its index, unless this batch is the last one added.
/// KEYS: list, meta hash, index. ARGV: batch token, id, updated ms, messages, tokens, title
/// ('' for none), ttl seconds (0 for none), then the entries.
const APPEND_SCRIPT: &str = r"
if redis.call('HGET', KEYS[2], 'batch') == ARGV[1] then
  return 0
end
for i = 8, #ARGV, 4000 do
  redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 3999, #ARGV)))
end
redis.call('HSET', KEYS[2], 'batch', ARGV[1])
redis.call('HINCRBY', KEYS[2], 'messages', ARGV[4])
redis.call('HINCRBY', KEYS[2], 'tokens', ARGV[5])
if ARGV[6] ~= '' then
  redis.call('HSETNX', KEYS[2], 'title', ARGV[6])
end
redis.call('ZADD', KEYS[3], 'GT', ARGV[3], ARGV[2])
local ttl = tonumber(ARGV[7])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
return 1
";

/// Sessions in one Redis database.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    /// The URL as it may be shown (no password).
    shown: String,
    /// The password in every form it may take in an error message.
    secrets: Secrets,
    ttl_seconds: Option<u64>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.shown)
            .field("ttl_seconds", &self.ttl_seconds)
            .finish_non_exhaustive()
    }
}

fn list_key(id: &SessionId) -> String {
    format!("{KEY_PREFIX}session:{id}")
}

fn meta_key(id: &SessionId) -> String {
    format!("{KEY_PREFIX}session:{id}:meta")
}

fn index_key() -> String {
    format!("{KEY_PREFIX}sessions")
}

/// A token no other batch has: a random number, this process and a counter.
fn batch_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{:016x}-{}-{}",
        fastrand::u64(..),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Errors worth one more try: the connection broke (a restarted server), not the command.
fn is_connection_error(error: &RedisError) -> bool {
    error.is_io_error() || error.is_connection_dropped() || error.is_unrecoverable_error()
}

impl RedisStore {
    /// Connects to `url`; fails within 5 seconds when the server cannot be reached.
    /// `ttl_seconds` (0 or `None`: never) makes untouched sessions expire.
    pub async fn connect(url: &str, ttl_seconds: Option<u64>) -> Result<Self, MemoryError> {
        let shown = display_url(url);
        let password = url::Url::parse(url)
            .ok()
            .and_then(|parsed| parsed.password().map(str::to_owned));
        let secrets = match &password {
            Some(password) => {
                let decoded = percent_encoding::percent_decode_str(password)
                    .decode_utf8_lossy()
                    .into_owned();
                Secrets::from_values([password.as_str(), decoded.as_str()])
            }
            None => Secrets::default(),
        };
        let failed = |reason: String| MemoryError::Unavailable {
            store: StoreKind::Redis.label(),
            location: shown.clone(),
            reason: secrets.scrub_owned(reason),
        };
        let client = redis::Client::open(url).map_err(|error| failed(error.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            // Enough tries to ride out a restart (~1.5 s of backoff), few enough to report
            // a server that is down within the deadline.
            .set_number_of_retries(3)
            .set_min_delay(Duration::from_millis(100))
            .set_max_delay(Duration::from_secs(1));
        let connection = tokio::time::timeout(
            CONNECT_DEADLINE,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| failed("no answer within 5 seconds".to_owned()))?
        .map_err(|error| failed(error.to_string()))?;
        Ok(Self {
            connection,
            shown,
            secrets,
            ttl_seconds: ttl_seconds.filter(|ttl| *ttl > 0),
        })
    }

    fn unavailable(&self, error: &RedisError) -> MemoryError {
        MemoryError::Unavailable {
            store: StoreKind::Redis.label(),
            location: self.shown.clone(),
            reason: self.secrets.scrub_owned(error.to_string()),
        }
    }

    /// Runs `command`, once more if the connection broke under it.
    async fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> RedisResult<T> {
        let mut connection = self.connection.clone();
        match command.query_async(&mut connection).await {
            Err(error) if is_connection_error(&error) => {
                tracing::debug!(url = %self.shown, %error, "redis: retrying after a connection error");
                command.query_async(&mut connection).await
            }
            result => result,
        }
    }

    /// [`RedisStore::query`] for an atomic pipeline.
    async fn query_pipe<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> RedisResult<T> {
        let mut connection = self.connection.clone();
        match pipe.query_async(&mut connection).await {
            Err(error) if is_connection_error(&error) => {
                tracing::debug!(url = %self.shown, %error, "redis: retrying after a connection error");
                pipe.query_async(&mut connection).await
            }
            result => result,
        }
    }

    /// Adds `entries` to session `id` as the batch `token` (a second call with the same token
    /// stores nothing). Public so tests can check that a retried batch is not doubled.
    pub async fn append_batch(
        &self,
        id: &SessionId,
        entries: &[SessionEntry],
        token: &str,
    ) -> Result<bool, MemoryError> {
        if entries.is_empty() {
            return Ok(false);
        }
        let batch = super::summarize(id, entries, StoreKind::Redis);
        let mut command = redis::cmd("EVAL");
        command
            .arg(APPEND_SCRIPT)
            .arg(3)
            .arg(list_key(id))
            .arg(meta_key(id))
            .arg(index_key())
            .arg(token)
            .arg(id.as_str())
            .arg(batch.updated)
            .arg(batch.messages)
            .arg(batch.tokens)
            .arg(&batch.title)
            .arg(self.ttl_seconds.unwrap_or(0));
        for entry in entries {
            command.arg(entry.to_json_line());
        }
        let added: i64 = self
            .query(&command)
            .await
            .map_err(|error| self.unavailable(&error))?;
        Ok(added == 1)
    }

    /// The session's items, or `None` when it has none.
    async fn read(&self, id: &SessionId) -> Result<Option<Loaded>, MemoryError> {
        let key = list_key(id);
        let mut command = redis::cmd("LRANGE");
        command.arg(&key).arg(0).arg(-1);
        let items: Vec<String> = self
            .query(&command)
            .await
            .map_err(|error| self.unavailable(&error))?;
        if items.is_empty() {
            return Ok(None);
        }
        let mut loaded = Loaded {
            entries: Vec::with_capacity(items.len()),
            warnings: Vec::new(),
        };
        for (index, item) in items.iter().enumerate() {
            match SessionEntry::from_json_line(item) {
                Ok(entry) => loaded.entries.push(entry),
                Err(DecodeError::Newer(version)) => {
                    return Err(MemoryError::Newer {
                        id: id.clone(),
                        version,
                    });
                }
                Err(DecodeError::Invalid(error)) => loaded.warnings.push(format!(
                    "{} {key}[{index}]: not a session entry ({error}); skipped",
                    self.shown
                )),
            }
        }
        Ok(Some(loaded))
    }

    async fn list_sessions(&self) -> Result<Vec<SessionInfo>, MemoryError> {
        let mut command = redis::cmd("ZRANGE");
        command.arg(index_key()).arg(0).arg(-1).arg("WITHSCORES");
        let scored: Vec<(String, f64)> = self
            .query(&command)
            .await
            .map_err(|error| self.unavailable(&error))?;
        let ids: Vec<(SessionId, f64)> = scored
            .into_iter()
            .filter_map(|(id, score)| id.parse().ok().map(|id| (id, score)))
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for (id, _) in &ids {
            pipe.cmd("HMGET")
                .arg(meta_key(id))
                .arg("title")
                .arg("messages")
                .arg("tokens");
        }
        type Fields = (Option<String>, Option<u64>, Option<u64>);
        let metas: Vec<Fields> = self
            .query_pipe(&pipe)
            .await
            .map_err(|error| self.unavailable(&error))?;
        let mut infos = Vec::with_capacity(ids.len());
        let mut expired = Vec::new();
        for ((id, score), (title, messages, tokens)) in ids.into_iter().zip(metas) {
            let Some(messages) = messages else {
                // Its keys expired (or were deleted by hand): forget it.
                expired.push(id);
                continue;
            };
            infos.push(SessionInfo {
                id,
                title: title.unwrap_or_default(),
                messages,
                tokens: tokens.unwrap_or(0),
                // Scores are milliseconds, exact in an f64 for the next 280,000 years.
                updated: score.max(0.0) as u64,
                store: StoreKind::Redis.label(),
            });
        }
        if !expired.is_empty() {
            let mut command = redis::cmd("ZREM");
            command.arg(index_key());
            for id in &expired {
                command.arg(id.as_str());
            }
            // Only tidying: the list is right without it.
            if let Err(error) = self.query::<i64>(&command).await {
                tracing::debug!(url = %self.shown, %error, "redis: could not drop expired sessions from the index");
            }
        }
        infos.sort_by(|a, b| b.updated.cmp(&a.updated).then(a.id.cmp(&b.id)));
        Ok(infos)
    }

    async fn delete_session(&self, id: &SessionId) -> Result<bool, MemoryError> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .del(list_key(id))
            .del(meta_key(id))
            .zrem(index_key(), id.as_str());
        let (lists, _, _): (i64, i64, i64) = self
            .query_pipe(&pipe)
            .await
            .map_err(|error| self.unavailable(&error))?;
        Ok(lists > 0)
    }
}

impl MemoryStore for RedisStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Redis
    }

    fn location(&self) -> String {
        self.shown.clone()
    }

    fn open<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<Loaded, MemoryError>> {
        Box::pin(async move { Ok(self.read(id).await?.unwrap_or_default()) })
    }

    fn append<'a>(
        &'a self,
        id: &'a SessionId,
        entries: &'a [SessionEntry],
    ) -> BoxFuture<'a, Result<(), MemoryError>> {
        Box::pin(async move {
            self.append_batch(id, entries, &batch_token()).await?;
            Ok(())
        })
    }

    fn load<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<Loaded, MemoryError>> {
        Box::pin(async move {
            self.read(id)
                .await?
                .ok_or_else(|| MemoryError::NotFound(id.clone()))
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<SessionInfo>, MemoryError>> {
        Box::pin(self.list_sessions())
    }

    fn delete<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<bool, MemoryError>> {
        Box::pin(self.delete_session(id))
    }

    fn release(&self, _id: &SessionId) {}
}
