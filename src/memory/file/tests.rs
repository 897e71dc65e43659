use std::fs::Permissions;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, Ordering};

use super::*;
use crate::llm::ChatMessage;
use crate::memory::EntryBody;

fn id(text: &str) -> SessionId {
    text.parse().expect("a valid id")
}

fn user(text: &str, at_ms: u64) -> SessionEntry {
    SessionEntry {
        v: crate::memory::SESSION_FORMAT_VERSION,
        at_ms,
        body: EntryBody::Message {
            message: ChatMessage::user(text),
            structured: None,
        },
    }
}

fn usage(input_tokens: u64, output_tokens: u64, at_ms: u64) -> SessionEntry {
    SessionEntry {
        v: crate::memory::SESSION_FORMAT_VERSION,
        at_ms,
        body: EntryBody::Usage {
            input_tokens,
            output_tokens,
            cost_usd: None,
        },
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

fn append_raw(path: &Path, text: &str) {
    let mut file = OpenOptions::new()
        .append(true)
        .open(path)
        .expect("opens for a hand edit");
    file.write_all(text.as_bytes()).expect("hand edit");
}

#[tokio::test]
async fn a_torn_last_line_is_skipped_and_closed_before_the_next_append() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = FileStore::new(dir.path().join("sessions"));
    let s = id("torn");
    store.append(&s, &[user("first", 1)]).await.expect("append");
    let path = store.session_path(&s);
    // What a crash halfway through writing the next entry leaves.
    let whole = user("second", 2).to_json_line();
    append_raw(&path, &whole[..whole.len() / 2]);

    let loaded = store.open(&s).await.expect("a torn line is not fatal");
    assert_eq!(loaded.entries, vec![user("first", 1)]);
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    let warning = &loaded.warnings[0];
    assert!(
        warning.contains(&format!("{}:2:", path.display())) && warning.contains("incomplete"),
        "{warning}"
    );

    store.append(&s, &[user("third", 3)]).await.expect("append");
    let loaded = store.load(&s).await.expect("load");
    assert_eq!(loaded.entries, vec![user("first", 1), user("third", 3)]);
    // The torn text is kept on a line of its own, named like any other bad line.
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].contains(":2: not a session entry"));
    let text = std::fs::read_to_string(&path).expect("read");
    assert_eq!(text.lines().count(), 3);
    assert!(text.ends_with('\n'));
}

#[tokio::test]
async fn a_torn_line_from_another_process_is_closed_too() {
    // The session was not open here when the line was torn: the append reads the tail.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = FileStore::new(dir.path().to_path_buf());
    let s = id("torn-elsewhere");
    store.append(&s, &[user("first", 1)]).await.expect("append");
    append_raw(&store.session_path(&s), r#"{"v":1,"at_ms":2,"kind":"mess"#);
    store
        .append(&s, &[user("second", 3)])
        .await
        .expect("append");
    let loaded = store.load(&s).await.expect("load");
    assert_eq!(loaded.entries, vec![user("first", 1), user("second", 3)]);
    assert_eq!(loaded.warnings.len(), 1);
}

#[tokio::test]
async fn lines_that_are_not_entries_are_named_and_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = FileStore::new(dir.path().to_path_buf());
    let s = id("edited");
    store.append(&s, &[user("one", 1)]).await.expect("append");
    let path = store.session_path(&s);
    append_raw(&path, "this was typed by hand\n\n{\"v\":1}\n");
    store.append(&s, &[user("two", 2)]).await.expect("append");

    let loaded = store.load(&s).await.expect("load");
    assert_eq!(loaded.entries, vec![user("one", 1), user("two", 2)]);
    let shown = path.display().to_string();
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].starts_with(&format!("{shown}:2: not a session entry")));
    // The blank line 3 is not worth a warning.
    assert!(loaded.warnings[1].starts_with(&format!("{shown}:4: not a session entry")));
}

#[tokio::test]
async fn a_session_from_a_newer_version_is_refused_and_not_kept_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = FileStore::new(dir.path().to_path_buf());
    let s = id("future");
    store.append(&s, &[user("old", 1)]).await.expect("append");
    append_raw(
        &store.session_path(&s),
        "{\"v\":2,\"at_ms\":2,\"kind\":\"message\",\"message\":{\"User\":\"new\"}}\n",
    );
    let newer = MemoryError::Newer {
        id: s.clone(),
        version: 2,
    };
    assert_eq!(store.load(&s).await, Err(newer.clone()));
    assert_eq!(store.open(&s).await, Err(newer.clone()));
    // Refused, so not held: another store is refused for the same reason, not a lock.
    let other = FileStore::new(dir.path().to_path_buf());
    assert_eq!(other.open(&s).await, Err(newer.clone()));
    // Nor appended to.
    assert_eq!(store.append(&s, &[user("more", 3)]).await, Err(newer));
}

#[tokio::test]
async fn files_are_0600_and_directories_0700_even_when_they_were_wider() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let sessions = data.join("mcpomni").join("sessions");
    let store = FileStore::new(sessions.clone());
    let s = id("private");
    store.open(&s).await.expect("open");
    store
        .append(&s, &[user("secret", 1)])
        .await
        .expect("append");
    assert_eq!(mode(&data), 0o700, "a parent we created");
    assert_eq!(mode(&sessions), 0o700);
    for extension in ["jsonl", "lock", "meta"] {
        let path = sessions.join(format!("private.{extension}"));
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    store.release(&s);

    // Left wider by something else: narrowed when next used.
    std::fs::set_permissions(&sessions, Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(
        sessions.join("private.jsonl"),
        Permissions::from_mode(0o644),
    )
    .expect("chmod");
    std::fs::set_permissions(sessions.join("private.lock"), Permissions::from_mode(0o666))
        .expect("chmod");
    store.open(&s).await.expect("open");
    assert_eq!(mode(&sessions), 0o700);
    assert_eq!(mode(&sessions.join("private.jsonl")), 0o600);
    assert_eq!(mode(&sessions.join("private.lock")), 0o600);
}

/// Fails like a full disk (after writing half the batch) or a revoked permission, while
/// `failing` is set.
struct BrokenDisk {
    failing: AtomicBool,
    kind: io::ErrorKind,
}

impl SessionWriter for BrokenDisk {
    fn write(&self, file: &mut File, bytes: &[u8]) -> io::Result<()> {
        if !self.failing.load(Ordering::SeqCst) {
            return PlainWriter.write(file, bytes);
        }
        if self.kind == io::ErrorKind::StorageFull {
            file.write_all(&bytes[..bytes.len() / 2])?;
        }
        Err(io::Error::from(self.kind))
    }
}

#[tokio::test]
async fn a_failing_disk_is_an_error_naming_the_file_and_the_session_survives_it() {
    for kind in [io::ErrorKind::StorageFull, io::ErrorKind::PermissionDenied] {
        let dir = tempfile::tempdir().expect("tempdir");
        let disk = Arc::new(BrokenDisk {
            failing: AtomicBool::new(false),
            kind,
        });
        let store = FileStore::with_writer(dir.path().to_path_buf(), disk.clone());
        let s = id("disk");
        store.open(&s).await.expect("open");
        store.append(&s, &[user("kept", 1)]).await.expect("append");

        disk.failing.store(true, Ordering::SeqCst);
        let error = store
            .append(&s, &[user("lost", 2), user("lost too", 3)])
            .await
            .expect_err("the disk fails");
        let path = store.session_path(&s);
        match &error {
            MemoryError::Unavailable {
                store: "file",
                location,
                reason,
            } => {
                assert_eq!(location, &path.display().to_string());
                assert_eq!(reason, &io::Error::from(kind).to_string());
            }
            other => panic!("{kind:?}: {other:?}"),
        }
        assert!(error.to_string().contains(&path.display().to_string()));

        disk.failing.store(false, Ordering::SeqCst);
        store.append(&s, &[user("after", 4)]).await.expect("append");
        let loaded = store.load(&s).await.expect("load");
        assert_eq!(
            loaded.entries,
            vec![user("kept", 1), user("after", 4)],
            "{kind:?}"
        );
        // The half-written batch was cut off again: nothing of it is stored.
        assert!(
            loaded.warnings.is_empty(),
            "{kind:?}: {:?}",
            loaded.warnings
        );
    }
}

#[tokio::test]
async fn a_directory_that_cannot_be_made_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").expect("write");
    let sessions = file.join("sessions");
    let store = FileStore::new(sessions.clone());
    let s = id("nowhere");
    for result in [
        store.open(&s).await.map(|_| ()),
        store.append(&s, &[user("x", 1)]).await,
    ] {
        match result {
            Err(MemoryError::Unavailable { location, .. }) => {
                assert_eq!(location, sessions.display().to_string());
            }
            other => panic!("{other:?}"),
        }
    }
    // Reading a directory that is not there is just "nothing stored".
    let absent = FileStore::new(dir.path().join("absent"));
    assert_eq!(absent.list().await, Ok(Vec::new()));
    assert_eq!(absent.load(&s).await, Err(MemoryError::NotFound(s.clone())));
    assert_eq!(absent.delete(&s).await, Ok(false));
}

#[tokio::test]
async fn a_session_open_in_one_store_is_refused_to_another_until_released() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = FileStore::new(dir.path().to_path_buf());
    let second = FileStore::new(dir.path().to_path_buf());
    let s = id("shared");
    first.open(&s).await.expect("open");
    first.open(&s).await.expect("opening it again is fine");
    let locked = MemoryError::Locked {
        id: s.clone(),
        pid: std::process::id(),
    };
    assert_eq!(second.open(&s).await, Err(locked.clone()));
    assert_eq!(
        second.append(&s, &[user("x", 1)]).await,
        Err(locked.clone())
    );
    assert_eq!(second.delete(&s).await, Err(locked));
    // Reading does not need the lock.
    first.append(&s, &[user("mine", 1)]).await.expect("append");
    assert_eq!(
        second.load(&s).await.map(|l| l.entries),
        Ok(vec![user("mine", 1)])
    );
    first.release(&s);
    second.open(&s).await.expect("free once released");
}

#[tokio::test]
async fn list_reads_the_index_and_rebuilds_a_stale_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = FileStore::new(dir.path().to_path_buf());
    let (a, b) = (id("a"), id("b"));
    let a_entries = [
        user("first\nquestion", 10),
        usage(100, 20, 11),
        user("next", 12),
    ];
    store.append(&a, &a_entries[..1]).await.expect("append");
    store.append(&a, &a_entries[1..]).await.expect("append");
    let b_entries = [usage(1, 2, 50), user("later one", 60)];
    store.append(&b, &b_entries).await.expect("append");
    let expected = vec![
        crate::memory::summarize(&b, &b_entries, StoreKind::File),
        crate::memory::summarize(&a, &a_entries, StoreKind::File),
    ];
    assert_eq!(store.list().await.as_ref(), Ok(&expected));
    assert_eq!(expected[1].title, "first question");
    assert_eq!(expected[1].tokens, 120);

    // The index is what is read: a meta that matches its file is believed.
    let meta_path = dir.path().join("a.meta");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).expect("a meta")).expect("json");
    meta["title"] = "from the index".into();
    std::fs::write(&meta_path, meta.to_string()).expect("write");
    let listed = store.list().await.expect("list");
    assert_eq!(listed[1].title, "from the index");

    // A meta that no longer matches its file (written to behind its back) is not.
    append_raw(&store.session_path(&a), &user("by hand", 99).to_json_line());
    append_raw(&store.session_path(&a), "\n");
    let listed = store.list().await.expect("list");
    assert_eq!(listed[0].id, a);
    assert_eq!(listed[0].messages, 3);
    assert_eq!(listed[0].title, "first question");
    assert_eq!(listed[0].updated, 99);
    // Nor is a missing or unreadable one.
    std::fs::write(&meta_path, "{").expect("write");
    assert_eq!(store.list().await.expect("list")[0].messages, 3);
    std::fs::remove_file(&meta_path).expect("remove");
    assert_eq!(store.list().await.expect("list")[0].messages, 3);
}

#[tokio::test]
async fn delete_removes_the_files_and_frees_the_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = FileStore::new(dir.path().to_path_buf());
    let s = id("gone");
    store.open(&s).await.expect("open");
    store.append(&s, &[user("x", 1)]).await.expect("append");
    assert_eq!(store.delete(&s).await, Ok(true));
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(store.load(&s).await, Err(MemoryError::NotFound(s.clone())));
    assert_eq!(store.list().await, Ok(Vec::new()));
    assert_eq!(store.delete(&s).await, Ok(false));
    // Not held any more: another store may open it.
    FileStore::new(dir.path().to_path_buf())
        .open(&s)
        .await
        .expect("open");
}
