//! Where conversations are kept between launches. A session is a list of [`SessionEntry`]s
//! appended as the conversation happens — messages exactly as the model sees them, summaries
//! from `/compact`, servers' sampling exchanges, each turn's usage, and the finished trace
//! steps — so resuming it gives back the conversation, its trace and its token count.
//!
//! One [`MemoryStore`] trait, three backends: `file` (the default; one JSON Lines file per
//! session in the data directory), `redis` (one list per session plus an index, shareable
//! between machines) and `in_memory` (throwaway). The agent never waits on a store in a frame:
//! stores are cloneable handles used from tasks.
//!
//! Also how much of a conversation the model sees: `context` fits the history to the model's
//! window before every request, with token counts from `tokens` (cached per message in
//! `counts`) and over-long messages cut by `cut`.

pub mod context;
pub mod counts;
pub mod cut;
pub mod entry;
pub mod file;
pub mod history;
pub mod id;
pub mod in_memory;
mod open;
pub mod redis;
pub mod session;
pub mod tokens;
pub mod writer;

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;

pub use entry::{DecodeError, EntryBody, SESSION_FORMAT_VERSION, SessionEntry};
pub use id::SessionId;
pub use open::{open_backend, open_store};

/// Which session a launch continues.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SessionChoice {
    /// A new session with a generated id.
    #[default]
    New,
    /// `--session ID`: that session, created when it does not exist.
    Resume(SessionId),
    /// `--continue`: the most recently updated session (a new one when there is none).
    Latest,
}

/// Which backend a store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    InMemory,
    File,
    Redis,
}

impl StoreKind {
    /// The word `--memory` and `memory.backend` take.
    pub fn label(self) -> &'static str {
        match self {
            StoreKind::InMemory => "in_memory",
            StoreKind::File => "file",
            StoreKind::Redis => "redis",
        }
    }
}

/// What a session holds, read back; lines or items that could not be read are skipped and
/// named in `warnings` (a torn last line after a crash, a line edited into invalid JSON).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loaded {
    pub entries: Vec<SessionEntry>,
    pub warnings: Vec<String>,
}

/// One line of `mcpomni sessions`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SessionInfo {
    pub id: SessionId,
    /// The first user message, cut to one line.
    pub title: String,
    pub messages: u64,
    pub tokens: u64,
    /// Milliseconds since the Unix epoch of the last entry.
    pub updated: u64,
    pub store: &'static str,
}

/// Why a store could not do what was asked. Every message names the session, the file or the
/// (redacted) URL involved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MemoryError {
    /// Another process has the session open (file store).
    #[error("session {id} is open in process {pid}")]
    Locked { id: SessionId, pid: u32 },
    #[error("no session {0}")]
    NotFound(SessionId),
    /// The session was written by a newer mcpomni.
    #[error(
        "session {id} was written by a newer mcpomni (format version {version}; this one reads up to {SESSION_FORMAT_VERSION})"
    )]
    Newer { id: SessionId, version: u32 },
    /// The store cannot be reached or written (Redis down, an unwritable directory, a full
    /// disk).
    #[error("the {store} memory store at {location} cannot be used: {reason}")]
    Unavailable {
        store: &'static str,
        location: String,
        reason: String,
    },
}

/// A place sessions are kept.
pub trait MemoryStore: Send + Sync + std::fmt::Debug {
    fn kind(&self) -> StoreKind;

    /// Where the store is, for messages (a path, or a URL without its password).
    fn location(&self) -> String;

    /// Takes session `id` for this process — held until [`MemoryStore::release`] or the end
    /// of the process, so that two processes never interleave writes — and reads what it
    /// holds (nothing, for a new session).
    fn open<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<Loaded, MemoryError>>;

    /// Adds `entries` at the end of the session (creating it), durably before it returns.
    fn append<'a>(
        &'a self,
        id: &'a SessionId,
        entries: &'a [SessionEntry],
    ) -> BoxFuture<'a, Result<(), MemoryError>>;

    /// Reads a session without taking it (`sessions show`, `export`).
    fn load<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<Loaded, MemoryError>>;

    /// Every session, most recently updated first.
    fn list(&self) -> BoxFuture<'_, Result<Vec<SessionInfo>, MemoryError>>;

    /// Deletes a session's stored history; false when there was none.
    fn delete<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<bool, MemoryError>>;

    /// Gives session `id` back (another process may open it now).
    fn release(&self, id: &SessionId);
}

/// A store shared by the agent, the dashboard and the headless commands.
pub type SharedStore = Arc<dyn MemoryStore>;

/// A [`SessionInfo`] worked out from a session's entries (stores that keep no index use it).
pub fn summarize(id: &SessionId, entries: &[SessionEntry], store: StoreKind) -> SessionInfo {
    let mut info = SessionInfo {
        id: id.clone(),
        title: String::new(),
        messages: 0,
        tokens: 0,
        updated: 0,
        store: store.label(),
    };
    info.add(entries);
    info
}

impl SessionInfo {
    /// Counts `entries` appended after what `self` describes (stores that keep an index
    /// update it this way, so it always equals [`summarize`] of the whole session).
    pub fn add(&mut self, entries: &[SessionEntry]) {
        for entry in entries {
            self.updated = self.updated.max(entry.at_ms);
            match &entry.body {
                EntryBody::Message { message, .. } => {
                    self.messages += 1;
                    if self.title.is_empty()
                        && let crate::llm::ChatMessage::User(text) = message
                    {
                        self.title =
                            crate::text::truncate_chars(&crate::text::sanitize_line(text), 80);
                    }
                }
                EntryBody::Usage {
                    input_tokens,
                    output_tokens,
                    ..
                } => {
                    self.tokens = self
                        .tokens
                        .saturating_add(input_tokens.saturating_add(*output_tokens));
                }
                EntryBody::Summary { .. }
                | EntryBody::Sampling { .. }
                | EntryBody::Step { .. }
                | EntryBody::Unknown => {}
            }
        }
    }
}

/// What [`open_store`] needs besides the backend (the `memory` section of the config).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// The sessions directory of the file store; `None` for the default
    /// ([`file::FileStore::default_dir`]).
    pub dir: Option<PathBuf>,
    /// `memory.redis_url`; `None` falls back to the environment ([`redis::resolve_url`]).
    pub redis_url: Option<String>,
    /// Redis only: sessions untouched this long expire (refreshed on every append).
    pub ttl_seconds: Option<u64>,
}
