//! The file store's per-session lock: `<id>.lock`, held with an exclusive `flock` (what
//! `File::try_lock` uses on Linux) for as long as a process has the session open, and
//! holding that process's pid so the one refused can say who has it. The kernel drops the
//! lock when its process dies however it dies, so a crash never leaves a session blocked.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::time::Duration;

/// A held session lock; dropping it releases the session.
#[derive(Debug)]
pub(super) struct SessionLock {
    _file: File,
}

#[derive(Debug)]
pub(super) enum LockError {
    /// Another process (or another store in this one) holds it.
    Held {
        pid: u32,
    },
    Io(io::Error),
}

impl From<io::Error> for LockError {
    fn from(error: io::Error) -> Self {
        LockError::Io(error)
    }
}

impl SessionLock {
    /// Takes the lock at `path` without waiting.
    pub(super) fn acquire(path: &Path) -> Result<Self, LockError> {
        // Deleting a session removes its lock file: a process that opened the file just
        // before that would hold a lock on a file nobody else can see, so the lock only
        // counts once the path still names the file it is on.
        for _ in 0..3 {
            let mut file =
                super::private::open(path, OpenOptions::new().read(true).write(true).create(true))?;
            try_lock(&file).map_err(|error| match error {
                LockError::Held { .. } => LockError::Held {
                    pid: holder_pid(&mut file),
                },
                LockError::Io(error) => LockError::Io(error),
            })?;
            let still_there = std::fs::metadata(path).is_ok_and(|on_disk| {
                file.metadata()
                    .is_ok_and(|held| held.ino() == on_disk.ino() && held.dev() == on_disk.dev())
            });
            if !still_there {
                continue;
            }
            file.set_len(0)?;
            file.write_all_at(std::process::id().to_string().as_bytes(), 0)?;
            return Ok(Self { _file: file });
        }
        Err(LockError::Io(io::Error::other(
            "its lock file kept being replaced while it was being taken",
        )))
    }
}

/// Takes the lock on `file`, trying for a moment before giving up: a child process this
/// one forks (an MCP server starting) holds copies of our descriptors until it execs, and
/// with them a lock we have just released.
fn try_lock(file: &File) -> Result<(), LockError> {
    for _ in 0..LOCK_TRIES {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) => std::thread::sleep(Duration::from_millis(5)),
            Err(TryLockError::Error(error)) => return Err(LockError::Io(error)),
        }
    }
    Err(LockError::Held { pid: 0 })
}

/// How many times (5 ms apart) a held lock is tried: 100 ms.
const LOCK_TRIES: usize = 20;

/// The pid in a lock file another process holds; 0 when it cannot be read.
fn holder_pid(file: &mut File) -> u32 {
    // The holder writes its pid just after taking the lock: give it a moment.
    for _ in 0..10 {
        let mut text = String::new();
        let read = file
            .seek(SeekFrom::Start(0))
            .and_then(|_| file.read_to_string(&mut text));
        if read.is_ok()
            && let Ok(pid) = text.trim().parse::<u32>()
        {
            return pid;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    0
}
