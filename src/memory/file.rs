//! The file store (the default backend): one JSON Lines file per session, `<id>.jsonl`, in
//! the sessions directory (`$XDG_DATA_HOME/mcpomni/sessions/`), one entry per line, appended
//! and flushed before `append` returns. Beside it: `<id>.lock` (`file/lock.rs`), held while
//! a process has the session open so two processes never interleave their writes, and
//! `<id>.meta` (`file/index.rs`), what `sessions list` shows without reading every session.
//!
//! Reading is forgiving line by line: a torn last line (mcpomni killed mid-write) and lines
//! that are not entries (hand edits) are skipped and named `file:line` in
//! [`Loaded::warnings`]; only an entry from a newer format version refuses the session.
//!
//! File IO runs on tokio's blocking pool, so a slow disk never stalls the caller's task.

mod index;
mod lock;
pub(crate) mod private;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use futures::future::BoxFuture;

use self::lock::{LockError, SessionLock};
use super::{
    DecodeError, Loaded, MemoryError, MemoryStore, SessionEntry, SessionId, SessionInfo, StoreKind,
};

/// How a batch of lines reaches a session file. The default ([`PlainWriter`]) writes and
/// flushes; tests put in one that fails like a full disk or a revoked permission.
pub trait SessionWriter: Send + Sync {
    fn write(&self, file: &mut File, bytes: &[u8]) -> io::Result<()>;
}

/// Writes the whole batch with one `write` where the kernel allows, then flushes.
#[derive(Debug, Default, Clone, Copy)]
pub struct PlainWriter;

impl SessionWriter for PlainWriter {
    fn write(&self, file: &mut File, bytes: &[u8]) -> io::Result<()> {
        file.write_all(bytes)?;
        file.flush()
    }
}

/// Sessions as files in one directory.
#[derive(Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    writer: Arc<dyn SessionWriter>,
    /// The sessions this store has open, each with its lock.
    held: Mutex<HashMap<SessionId, Held>>,
}

/// A session this process holds.
struct Held {
    lock: SessionLock,
    /// The session file opened for appending, once it exists.
    log: Option<File>,
    tail: Tail,
    /// What the index says about the session, kept up to date on every append.
    info: SessionInfo,
}

/// How a session file ends: its length, and whether a torn line needs closing before the
/// next append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tail {
    len: u64,
    ends_with_newline: bool,
}

impl Tail {
    const EMPTY: Tail = Tail {
        len: 0,
        ends_with_newline: true,
    };

    /// Read from the file itself (after a failed write left it in an unknown state).
    fn of(file: &File) -> io::Result<Tail> {
        let len = file.metadata()?.len();
        if len == 0 {
            return Ok(Tail::EMPTY);
        }
        let mut last = [0u8; 1];
        file.read_exact_at(&mut last, len - 1)?;
        Ok(Tail {
            len,
            ends_with_newline: last[0] == b'\n',
        })
    }
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

impl FileStore {
    /// A store keeping its sessions in `dir` (created, 0700, when first written to).
    pub fn new(dir: PathBuf) -> Self {
        Self::with_writer(dir, Arc::new(PlainWriter))
    }

    /// A store whose session writes go through `writer` (tests simulate failing disks).
    pub fn with_writer(dir: PathBuf, writer: Arc<dyn SessionWriter>) -> Self {
        Self {
            inner: Arc::new(Inner {
                dir,
                writer,
                held: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The sessions directory under the user's data directory (XDG on Unix).
    pub fn default_dir() -> Option<PathBuf> {
        use etcetera::BaseStrategy;
        etcetera::choose_base_strategy()
            .ok()
            .map(|strategy| strategy.data_dir().join("mcpomni").join("sessions"))
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The file session `id` is kept in.
    pub fn session_path(&self, id: &SessionId) -> PathBuf {
        self.inner.path(id, "jsonl")
    }

    /// Runs `work` on the blocking pool.
    fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T, MemoryError> + Send + 'static,
    ) -> BoxFuture<'static, Result<T, MemoryError>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let dir = inner.dir.clone();
            tokio::task::spawn_blocking(move || work(&inner))
                .await
                .unwrap_or_else(|error| {
                    Err(unavailable(
                        &dir,
                        &io::Error::other(format!("its worker thread failed: {error}")),
                    ))
                })
        })
    }
}

fn unavailable(path: &Path, error: &io::Error) -> MemoryError {
    MemoryError::Unavailable {
        store: StoreKind::File.label(),
        location: path.display().to_string(),
        reason: error.to_string(),
    }
}

impl Inner {
    fn path(&self, id: &SessionId, extension: &str) -> PathBuf {
        self.dir.join(format!("{id}.{extension}"))
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes session `id`'s lock (creating the directory).
    fn lock(&self, id: &SessionId) -> Result<SessionLock, MemoryError> {
        private::create_dir(&self.dir).map_err(|error| unavailable(&self.dir, &error))?;
        let lock_path = self.path(id, "lock");
        SessionLock::acquire(&lock_path).map_err(|error| match error {
            LockError::Held { pid } => MemoryError::Locked {
                id: id.clone(),
                pid,
            },
            LockError::Io(error) => unavailable(&lock_path, &error),
        })
    }

    /// Locks session `id` for this store and reads it.
    fn take(&self, id: &SessionId) -> Result<(Held, Loaded), MemoryError> {
        let lock = self.lock(id)?;
        let path = self.path(id, "jsonl");
        let (loaded, tail) = read_session(&path, id)?.unwrap_or((Loaded::default(), Tail::EMPTY));
        let log = if tail.len > 0 {
            Some(open_log(&path)?)
        } else {
            None
        };
        let info = super::summarize(id, &loaded.entries, StoreKind::File);
        let held = Held {
            lock,
            log,
            tail,
            info,
        };
        Ok((held, loaded))
    }

    fn open(&self, id: &SessionId) -> Result<Loaded, MemoryError> {
        if self.held().contains_key(id) {
            // Already ours: read it again, keep the lock.
            return Ok(read_session(&self.path(id, "jsonl"), id)?
                .map(|(loaded, _)| loaded)
                .unwrap_or_default());
        }
        let (held, loaded) = self.take(id)?;
        self.held().insert(id.clone(), held);
        Ok(loaded)
    }

    fn append(&self, id: &SessionId, entries: &[SessionEntry]) -> Result<(), MemoryError> {
        if entries.is_empty() {
            return Ok(());
        }
        {
            let mut held = self.held();
            if let Some(session) = held.get_mut(id) {
                return self.write_batch(id, session, entries);
            }
        }
        // Not opened by this store: take the lock for this one write, so an append never
        // interleaves with a process that has the session open.
        let (mut session, _) = self.take(id)?;
        self.write_batch(id, &mut session, entries)
    }

    fn write_batch(
        &self,
        id: &SessionId,
        session: &mut Held,
        entries: &[SessionEntry],
    ) -> Result<(), MemoryError> {
        let path = self.path(id, "jsonl");
        let mut batch = Vec::with_capacity(256 * entries.len());
        if !session.tail.ends_with_newline {
            // Close a torn line, so the first new entry starts a line of its own.
            batch.push(b'\n');
        }
        for entry in entries {
            batch.extend_from_slice(entry.to_json_line().as_bytes());
            batch.push(b'\n');
        }
        let log = match &mut session.log {
            Some(log) => log,
            None => session.log.insert(open_log(&path)?),
        };
        if let Err(error) = self.writer.write(log, &batch) {
            // Part of the batch may have reached the file (a disk that filled up halfway):
            // cut it off, so that an append that failed stored nothing and trying it again
            // stores it once. If even that fails, the next append closes whatever line was
            // left open.
            if log.set_len(session.tail.len).is_err() {
                session.tail = Tail::of(log).unwrap_or(Tail {
                    len: 0,
                    ends_with_newline: false,
                });
            }
            return Err(unavailable(&path, &error));
        }
        session.tail = Tail {
            len: session.tail.len + batch.len() as u64,
            ends_with_newline: true,
        };
        session.info.add(entries);
        let meta_path = self.path(id, "meta");
        if let Err(error) = index::write(&meta_path, &session.info, session.tail.len) {
            // The entries are safe; a stale meta only makes `list` read this session whole.
            tracing::warn!(path = %meta_path.display(), %error, "could not update a session's index");
        }
        Ok(())
    }

    fn load(&self, id: &SessionId) -> Result<Loaded, MemoryError> {
        read_session(&self.path(id, "jsonl"), id)?
            .map(|(loaded, _)| loaded)
            .ok_or_else(|| MemoryError::NotFound(id.clone()))
    }

    fn list(&self) -> Result<Vec<SessionInfo>, MemoryError> {
        let dir = match std::fs::read_dir(&self.dir) {
            Ok(dir) => dir,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(unavailable(&self.dir, &error)),
        };
        let mut infos = Vec::new();
        for item in dir {
            let item = item.map_err(|error| unavailable(&self.dir, &error))?;
            let name = item.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|name| name.strip_suffix(".jsonl"))
                .and_then(|stem| stem.parse::<SessionId>().ok())
            else {
                continue;
            };
            // A session deleted while we look is simply not listed.
            let Ok(metadata) = item.metadata() else {
                continue;
            };
            let info = index::read(&self.path(&id, "meta"), &id, metadata.len())
                .unwrap_or_else(|| self.summarize_whole(&id, &metadata));
            infos.push(info);
        }
        infos.sort_by(|a, b| b.updated.cmp(&a.updated).then(a.id.cmp(&b.id)));
        Ok(infos)
    }

    /// A session's info read from the whole file (its meta is missing or stale).
    fn summarize_whole(&self, id: &SessionId, metadata: &std::fs::Metadata) -> SessionInfo {
        match read_session(&self.path(id, "jsonl"), id) {
            Ok(Some((loaded, _))) => super::summarize(id, &loaded.entries, StoreKind::File),
            Ok(None) | Err(_) => {
                let modified = metadata
                    .modified()
                    .ok()
                    .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |since| {
                        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
                    });
                SessionInfo {
                    id: id.clone(),
                    title: "(cannot be read by this mcpomni)".to_owned(),
                    messages: 0,
                    tokens: 0,
                    updated: modified,
                    store: StoreKind::File.label(),
                }
            }
        }
    }

    fn delete(&self, id: &SessionId) -> Result<bool, MemoryError> {
        if !self.dir.exists() {
            return Ok(false);
        }
        // Our own hold (if any) is kept until the files are gone.
        let ours = self.held().remove(id);
        let _lock = match ours {
            Some(held) => held.lock,
            None => self.lock(id)?,
        };
        let path = self.path(id, "jsonl");
        let existed = match std::fs::remove_file(&path) {
            Ok(()) => true,
            Err(error) if error.kind() == io::ErrorKind::NotFound => false,
            Err(error) => return Err(unavailable(&path, &error)),
        };
        for extension in ["meta", "lock"] {
            let path = self.path(id, extension);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(unavailable(&path, &error)),
            }
        }
        Ok(existed)
    }
}

fn open_log(path: &Path) -> Result<File, MemoryError> {
    private::open(path, OpenOptions::new().append(true).create(true))
        .map_err(|error| unavailable(path, &error))
}

/// Reads a session file: `None` when it does not exist.
fn read_session(path: &Path, id: &SessionId) -> Result<Option<(Loaded, Tail)>, MemoryError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(unavailable(path, &error)),
    };
    let tail = Tail {
        len: bytes.len() as u64,
        ends_with_newline: bytes.last().is_none_or(|last| *last == b'\n'),
    };
    let mut loaded = Loaded::default();
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    let count = lines.len();
    for (index, line) in lines.into_iter().enumerate() {
        let number = index + 1;
        let torn = index + 1 == count && !tail.ends_with_newline;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let decoded = std::str::from_utf8(line)
            .map_err(|error| DecodeError::Invalid(error.to_string()))
            .and_then(SessionEntry::from_json_line);
        match decoded {
            Ok(entry) => loaded.entries.push(entry),
            Err(DecodeError::Newer(version)) => {
                return Err(MemoryError::Newer {
                    id: id.clone(),
                    version,
                });
            }
            Err(DecodeError::Invalid(_)) if torn => loaded.warnings.push(format!(
                "{}:{number}: the last line is incomplete (mcpomni stopped while writing it?); skipped",
                path.display()
            )),
            Err(DecodeError::Invalid(error)) => loaded.warnings.push(format!(
                "{}:{number}: not a session entry ({error}); skipped",
                path.display()
            )),
        }
    }
    Ok(Some((loaded, tail)))
}

impl MemoryStore for FileStore {
    fn kind(&self) -> StoreKind {
        StoreKind::File
    }

    fn location(&self) -> String {
        self.inner.dir.display().to_string()
    }

    fn open<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<Loaded, MemoryError>> {
        let id = id.clone();
        self.blocking(move |inner| inner.open(&id))
    }

    fn append<'a>(
        &'a self,
        id: &'a SessionId,
        entries: &'a [SessionEntry],
    ) -> BoxFuture<'a, Result<(), MemoryError>> {
        let id = id.clone();
        let entries = entries.to_vec();
        self.blocking(move |inner| inner.append(&id, &entries))
    }

    fn load<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<Loaded, MemoryError>> {
        let id = id.clone();
        self.blocking(move |inner| inner.load(&id))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<SessionInfo>, MemoryError>> {
        self.blocking(|inner| inner.list())
    }

    fn delete<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<bool, MemoryError>> {
        let id = id.clone();
        self.blocking(move |inner| inner.delete(&id))
    }

    fn release(&self, id: &SessionId) {
        self.inner.held().remove(id);
    }
}
