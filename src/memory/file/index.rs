//! The file store's index: one small `<id>.meta` beside each `<id>.jsonl` with what
//! `sessions list` shows, rewritten (write to a temporary file, then rename) after every
//! append. One file per session rather than one shared `index.json`: only the process holding
//! a session's lock writes its meta, so two processes working on different sessions never
//! race on a shared file. Each meta records the session file's length when it was written; a
//! meta that does not match the file (a crash between the two writes, a hand edit) is
//! ignored and the session is read whole instead.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::super::{SessionId, SessionInfo, StoreKind};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Meta {
    title: String,
    messages: u64,
    tokens: u64,
    updated: u64,
    /// The session file's length this describes.
    bytes: u64,
}

/// Writes the meta of a session whose file is `bytes` long.
pub(super) fn write(meta_path: &Path, info: &SessionInfo, bytes: u64) -> io::Result<()> {
    let meta = Meta {
        title: info.title.clone(),
        messages: info.messages,
        tokens: info.tokens,
        updated: info.updated,
        bytes,
    };
    let text = serde_json::to_vec(&meta).map_err(io::Error::other)?;
    let temporary = meta_path.with_extension("meta.tmp");
    let mut file = super::private::open(
        &temporary,
        OpenOptions::new().write(true).create(true).truncate(true),
    )?;
    file.write_all(&text)?;
    drop(file);
    std::fs::rename(&temporary, meta_path)
}

/// The session info a meta holds, if it exists, reads, and describes a file `bytes` long.
pub(super) fn read(meta_path: &Path, id: &SessionId, bytes: u64) -> Option<SessionInfo> {
    let text = std::fs::read(meta_path).ok()?;
    let meta: Meta = serde_json::from_slice(&text).ok()?;
    (meta.bytes == bytes).then(|| SessionInfo {
        id: id.clone(),
        title: meta.title,
        messages: meta.messages,
        tokens: meta.tokens,
        updated: meta.updated,
        store: StoreKind::File.label(),
    })
}
