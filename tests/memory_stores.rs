//! The session stores against the real thing: generated histories of every entry kind come
//! back unchanged from each backend; the file store's lock holds between processes and dies
//! with a killed one; the Redis store (a private `redis-server` per test, on a free port)
//! survives a server restart without losing or doubling an entry, fails fast and without the
//! password when Redis is down, and lets two "machines" share sessions.
//!
//! The Redis tests are skipped, saying so, only where `redis-server` is not installed; with
//! `CI` or `MCPOMNI_REQUIRE_REDIS=1` set, a missing `redis-server` fails them.

#[path = "support/redis_server.rs"]
mod redis_server;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mcpomni::llm::{ChatMessage, ToolCall, Usage};
use mcpomni::memory::file::FileStore;
use mcpomni::memory::in_memory::InMemoryStore;
use mcpomni::memory::redis::RedisStore;
use mcpomni::memory::{
    EntryBody, MemoryError, MemoryStore, SESSION_FORMAT_VERSION, SessionEntry, SessionId,
    StoreKind, summarize,
};
use mcpomni::protocol::{CallOutcome, StepBody, StepId, StepStatus, ToolCallId, TraceStep};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use redis_server::RedisServer;
use serde_json::{Map, Value};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn id(text: &str) -> SessionId {
    text.parse().expect("a valid id")
}

fn user(text: &str, at_ms: u64) -> SessionEntry {
    SessionEntry {
        v: SESSION_FORMAT_VERSION,
        at_ms,
        body: EntryBody::Message {
            message: ChatMessage::user(text),
            structured: None,
        },
    }
}

// ---------------------------------------------------------------------------------------
// Generated histories

/// Characters that stress JSON and line-based storage, then any character at all.
fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(vec![
            '\n', '\r', '\t', '"', '\\', '/', '\u{0}', '\u{1b}', '\u{7f}', '\u{85}', '\u{2028}',
            '\u{2029}', '\u{feff}', 'é', '界', '😀', '\u{301}', '{', '}', ':', ',', 'a', ' ',
        ]),
        1 => any::<char>(),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(tricky_char(), 0..24).prop_map(String::from_iter)
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::sample::select(vec![u64::MAX, 0, 1 << 53, (1 << 53) + 1]).prop_map(Value::from),
        Just(Value::from(i64::MIN)),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        prop::sample::select(vec![f64::MAX, f64::MIN_POSITIVE, 1e-300, 0.1, -0.0, 2.5e20])
            .prop_map(Value::from),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..4)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An optional value of a type outside the session format, where `null` and absent are
/// one thing (`provider_state`, a trace step's `structured`): never `Some(null)`.
fn optional_json() -> impl Strategy<Value = Option<Value>> {
    prop::option::of(json().prop_filter("null is absent", |value| !value.is_null()))
}

fn tool_call() -> impl Strategy<Value = ToolCall> {
    (text(), text(), json()).prop_map(|(id, name, arguments)| ToolCall {
        id,
        name,
        arguments,
    })
}

fn message() -> impl Strategy<Value = ChatMessage> {
    prop_oneof![
        text().prop_map(ChatMessage::User),
        (
            text(),
            prop::collection::vec(tool_call(), 0..3),
            optional_json()
        )
            .prop_map(
                |(text, tool_calls, provider_state)| ChatMessage::Assistant {
                    text,
                    tool_calls,
                    provider_state,
                }
            ),
        (text(), text(), text(), any::<bool>()).prop_map(|(call_id, name, content, is_error)| {
            ChatMessage::ToolResult {
                call_id,
                name,
                content,
                is_error,
            }
        }),
    ]
}

fn step() -> impl Strategy<Value = TraceStep> {
    let body = prop_oneof![
        (any::<u64>(), text(), text(), json()).prop_map(|(call, server, tool, arguments)| {
            StepBody::ToolCall {
                call: ToolCallId(call),
                qualified_name: format!("{server}__{tool}"),
                server,
                tool,
                arguments,
                approved_by: None,
                model_arguments: None,
            }
        }),
        (any::<u64>(), text(), optional_json()).prop_map(|(call, content, structured)| {
            StepBody::ToolResult {
                call: ToolCallId(call),
                outcome: CallOutcome::Failed {
                    error: content.clone(),
                },
                content,
                structured,
            }
        }),
        (text(), prop::collection::vec(tool_call(), 0..2)).prop_map(|(text, tool_calls)| {
            StepBody::ModelReply {
                text,
                reasoning: None,
                tool_calls,
                stop_reason: Some("tool_use".into()),
                first_token_ms: Some(12),
                error: None,
            }
        }),
        text().prop_map(|message| StepBody::Error { message }),
    ];
    (
        any::<u64>(),
        prop::option::of(any::<u64>()),
        0u64..1 << 40,
        prop::option::of((0u64..1 << 32, 0u64..1 << 32)),
        body,
    )
        .prop_map(|(id, parent, started_ms, tokens, body)| TraceStep {
            v: 1,
            id: StepId(id),
            parent: parent.map(StepId),
            turn: None,
            started_ms,
            ended_ms: Some(started_ms + 5),
            status: StepStatus::Ok,
            tokens: tokens.map(|(input_tokens, output_tokens)| Usage {
                input_tokens,
                output_tokens,
            }),
            cost_usd: Some(0.0125),
            body,
        })
}

fn entry_body() -> impl Strategy<Value = EntryBody> {
    prop_oneof![
        4 => (message(), prop::option::of(json()))
            .prop_map(|(message, structured)| EntryBody::Message { message, structured }),
        1 => (text(), any::<u64>()).prop_map(|(text, replaces)| EntryBody::Summary { text, replaces }),
        1 => (text(), json(), prop::option::of(text()))
            .prop_map(|(server, request, reply)| EntryBody::Sampling { server, request, reply }),
        // Token counts an i64 sum cannot overflow (Redis adds them up as i64).
        1 => (0u64..1 << 32, 0u64..1 << 32, prop::option::of(0.0f64..100.0)).prop_map(
            |(input_tokens, output_tokens, cost_usd)| EntryBody::Usage {
                input_tokens,
                output_tokens,
                cost_usd,
            }
        ),
        1 => step().prop_map(|step| EntryBody::Step { step: Box::new(step) }),
    ]
}

/// A history and where it is cut into append batches. Times stay below 2^53, where a Redis
/// score (an f64) is exact; real ones are ~2^41.
fn history() -> impl Strategy<Value = (Vec<SessionEntry>, Vec<usize>)> {
    prop::collection::vec((0u64..1 << 53, entry_body()), 1..24)
        .prop_map(|entries| {
            entries
                .into_iter()
                .map(|(at_ms, body)| SessionEntry {
                    v: SESSION_FORMAT_VERSION,
                    at_ms,
                    body,
                })
                .collect::<Vec<_>>()
        })
        .prop_flat_map(|entries| {
            let len = entries.len();
            (
                Just(entries),
                prop::collection::vec(1..=len, 0..4).prop_map(move |mut cuts| {
                    cuts.sort_unstable();
                    cuts.dedup();
                    cuts.retain(|cut| *cut < len);
                    cuts
                }),
            )
        })
}

/// Appends `entries` in the batches `cuts` marks, then checks load, open and list.
async fn round_trip(
    store: &dyn MemoryStore,
    session: &SessionId,
    entries: &[SessionEntry],
    cuts: &[usize],
) -> Result<(), TestCaseError> {
    let mut start = 0;
    for end in cuts.iter().copied().chain([entries.len()]) {
        store
            .append(session, &entries[start..end])
            .await
            .map_err(|error| TestCaseError::fail(error.to_string()))?;
        start = end;
    }
    let kind = store.kind().label();
    let loaded = store
        .load(session)
        .await
        .map_err(|error| TestCaseError::fail(error.to_string()))?;
    prop_assert_eq!(&loaded.entries, &entries.to_vec(), "{} load", kind);
    prop_assert!(
        loaded.warnings.is_empty(),
        "{}: {:?}",
        kind,
        loaded.warnings
    );
    let opened = store
        .open(session)
        .await
        .map_err(|error| TestCaseError::fail(error.to_string()))?;
    store.release(session);
    prop_assert_eq!(&opened.entries, &entries.to_vec(), "{} open", kind);
    let listed = store
        .list()
        .await
        .map_err(|error| TestCaseError::fail(error.to_string()))?;
    let info = listed.into_iter().find(|info| &info.id == session);
    prop_assert_eq!(
        info,
        Some(summarize(session, entries, store.kind())),
        "{} list",
        kind
    );
    Ok(())
}

#[test]
fn every_store_gives_back_exactly_what_was_appended() {
    let runtime = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let redis = RedisServer::start("round trip", false);
    let mut stores: Vec<Arc<dyn MemoryStore>> = vec![
        Arc::new(InMemoryStore::default()),
        Arc::new(FileStore::new(dir.path().join("sessions"))),
    ];
    if let Some(redis) = &redis {
        let store = runtime
            .block_on(RedisStore::connect(&redis.url(), None))
            .expect("connects");
        stores.push(Arc::new(store));
    }
    let sessions = AtomicU64::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&history(), |(entries, cuts)| {
        let session = id(&format!(
            "case-{}",
            sessions.fetch_add(1, Ordering::Relaxed)
        ));
        for store in &stores {
            runtime.block_on(round_trip(store.as_ref(), &session, &entries, &cuts))?;
        }
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
    assert_eq!(stores.len(), if redis.is_some() { 3 } else { 2 });
}

// ---------------------------------------------------------------------------------------
// File store: other processes

/// Not a test of its own: what the child processes below run (this test binary, started
/// again with `MCPOMNI_MEMORY_CHILD` set). Without the variable it does nothing.
#[test]
fn child_process() {
    let Ok(task) = std::env::var("MCPOMNI_MEMORY_CHILD") else {
        return;
    };
    let (what, dir) = task.split_once(':').expect("WHAT:DIR");
    let store = FileStore::new(dir.into());
    let session = id("shared");
    let runtime = runtime();
    let mut out = std::io::stdout().lock();
    match what {
        // Holds the session until the parent closes our stdin (or kills us).
        "hold" => {
            runtime.block_on(store.open(&session)).expect("child opens");
            writeln!(out, "child: opened").expect("stdout");
            out.flush().expect("stdout");
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        }
        // Appends numbered entries (each a few KiB) until killed, saying which are stored.
        "append" => {
            runtime.block_on(store.open(&session)).expect("child opens");
            let padding = "x".repeat(4096);
            for n in 0u64.. {
                let entry = user(&format!("{n} {padding}"), n);
                runtime
                    .block_on(store.append(&session, &[entry]))
                    .expect("child appends");
                writeln!(out, "child: {n}").expect("stdout");
                out.flush().expect("stdout");
            }
        }
        other => panic!("unknown child task {other}"),
    }
}

fn spawn_child(what: &str, dir: &std::path::Path) -> std::process::Child {
    Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MCPOMNI_MEMORY_CHILD", format!("{what}:{}", dir.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawns the child")
}

/// What the child says (after `child: `; the test harness prints on the same lines). Keep
/// it until the child is killed: a child writing to a closed pipe fails instead of being
/// killed.
fn child_lines(child: &mut std::process::Child) -> impl Iterator<Item = String> + use<> {
    let stdout = child.stdout.take().expect("piped stdout");
    BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| line.rsplit_once("child: ").map(|(_, said)| said.to_owned()))
}

#[test]
fn a_session_open_in_another_process_is_refused_naming_it_until_it_dies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = spawn_child("hold", dir.path());
    let mut lines = child_lines(&mut child);
    assert_eq!(lines.next().as_deref(), Some("opened"));

    let runtime = runtime();
    let store = FileStore::new(dir.path().to_path_buf());
    let session = id("shared");
    let locked = MemoryError::Locked {
        id: session.clone(),
        pid: child.id(),
    };
    assert_eq!(runtime.block_on(store.open(&session)), Err(locked.clone()));
    assert!(locked.to_string().contains(&child.id().to_string()));
    assert_eq!(
        runtime.block_on(store.append(&session, &[user("x", 1)])),
        Err(locked)
    );

    // kill -9: no chance to clean up, yet the lock goes with the process.
    child.kill().expect("kill");
    child.wait().expect("wait");
    runtime
        .block_on(store.open(&session))
        .expect("a dead process's lock does not block");
}

#[test]
fn a_process_killed_mid_append_leaves_a_session_that_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = spawn_child("append", dir.path());
    let mut lines = child_lines(&mut child);
    let mut acknowledged = None;
    for line in lines.by_ref() {
        let n: u64 = line.parse().expect("a number");
        acknowledged = Some(n);
        if n >= 200 {
            break;
        }
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
    drop(lines);
    let acknowledged = acknowledged.expect("the child appended");

    let runtime = runtime();
    let store = FileStore::new(dir.path().to_path_buf());
    let session = id("shared");
    let loaded = runtime.block_on(store.open(&session)).expect("opens");
    // Everything the child was told was stored is there, in order, once (it went on
    // appending until the kill landed), and at most one torn line is reported.
    let stored: Vec<u64> = loaded.entries.iter().map(|e| e.at_ms).collect();
    assert!(
        stored.len() as u64 > acknowledged,
        "{} stored, {acknowledged} acknowledged",
        stored.len()
    );
    assert!(stored.iter().copied().eq(0..stored.len() as u64));
    assert!(loaded.warnings.len() <= 1, "{:?}", loaded.warnings);

    let next = user("resumed", 1_000_000);
    runtime
        .block_on(store.append(&session, std::slice::from_ref(&next)))
        .expect("appends after the crash");
    let reloaded = runtime.block_on(store.load(&session)).expect("loads");
    assert_eq!(reloaded.entries.len(), stored.len() + 1);
    assert_eq!(reloaded.entries.last(), Some(&next));
    assert_eq!(&reloaded.entries[..stored.len()], &loaded.entries[..]);
}

// ---------------------------------------------------------------------------------------
// Redis store

#[test]
fn redis_two_machines_share_sessions() {
    let Some(redis) = RedisServer::start("two machines", false) else {
        return;
    };
    let runtime = runtime();
    runtime.block_on(async {
        let here = RedisStore::connect(&redis.url(), None).await.expect("here");
        let there = RedisStore::connect(&redis.url(), None)
            .await
            .expect("there");
        let session = id("shared");
        here.open(&session).await.expect("open here");
        there.open(&session).await.expect("open there too: no lock");
        here.append(&session, &[user("from here", 1)])
            .await
            .expect("append here");
        there
            .append(&session, &[user("from there", 2)])
            .await
            .expect("append there");
        let expected = vec![user("from here", 1), user("from there", 2)];
        for store in [&here, &there] {
            assert_eq!(
                store.load(&session).await.map(|l| l.entries).as_ref(),
                Ok(&expected)
            );
            let listed = store.list().await.expect("list");
            assert_eq!(listed.len(), 1);
            assert_eq!(listed[0].title, "from here");
            assert_eq!(listed[0].messages, 2);
            assert_eq!(listed[0].updated, 2);
            assert_eq!(listed[0].store, "redis");
        }
        assert_eq!(there.delete(&session).await, Ok(true));
        assert_eq!(
            here.load(&session).await,
            Err(MemoryError::NotFound(session.clone()))
        );
        assert_eq!(here.list().await, Ok(Vec::new()));
        assert_eq!(here.delete(&session).await, Ok(false));
        assert_eq!(
            here.open(&session).await.map(|l| l.entries.len()),
            Ok(0),
            "opening a new session is not an error"
        );
    });
}

#[test]
fn redis_keys_are_prefixed_and_items_that_are_not_entries_are_named() {
    let Some(redis) = RedisServer::start("keys", false) else {
        return;
    };
    let runtime = runtime();
    runtime.block_on(async {
        let store = RedisStore::connect(&redis.url(), None)
            .await
            .expect("store");
        let session = id("keys");
        store
            .append(&session, &[user("one", 1)])
            .await
            .expect("append");
        let mut raw = redis::Client::open(redis.url())
            .expect("client")
            .get_multiplexed_async_connection()
            .await
            .expect("raw connection");
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut raw)
            .await
            .expect("KEYS");
        keys.sort();
        assert_eq!(
            keys,
            [
                "mcpomni:session:keys",
                "mcpomni:session:keys:meta",
                "mcpomni:sessions"
            ]
        );
        let _: i64 = redis::cmd("RPUSH")
            .arg("mcpomni:session:keys")
            .arg("{not json")
            .query_async(&mut raw)
            .await
            .expect("RPUSH");
        store
            .append(&session, &[user("two", 2)])
            .await
            .expect("append");
        let loaded = store.load(&session).await.expect("load");
        assert_eq!(loaded.entries, vec![user("one", 1), user("two", 2)]);
        assert_eq!(loaded.warnings.len(), 1);
        assert!(
            loaded.warnings[0].contains("mcpomni:session:keys[1]: not a session entry"),
            "{:?}",
            loaded.warnings
        );
        let _: i64 = redis::cmd("RPUSH")
            .arg("mcpomni:session:keys")
            .arg(r#"{"v":7,"at_ms":3,"kind":"message"}"#)
            .query_async(&mut raw)
            .await
            .expect("RPUSH");
        assert_eq!(
            store.load(&session).await,
            Err(MemoryError::Newer {
                id: session.clone(),
                version: 7
            })
        );
    });
}

#[test]
fn redis_a_batch_sent_twice_is_stored_once() {
    let Some(redis) = RedisServer::start("retried batch", false) else {
        return;
    };
    let runtime = runtime();
    runtime.block_on(async {
        let store = RedisStore::connect(&redis.url(), None)
            .await
            .expect("store");
        let session = id("retried");
        let batch = [user("once", 1)];
        // What a retry after a lost reply sends: the same batch, the same token.
        assert_eq!(store.append_batch(&session, &batch, "t1").await, Ok(true));
        assert_eq!(store.append_batch(&session, &batch, "t1").await, Ok(false));
        assert_eq!(store.append_batch(&session, &batch, "t2").await, Ok(true));
        let loaded = store.load(&session).await.expect("load");
        assert_eq!(loaded.entries, vec![user("once", 1), user("once", 1)]);
        assert_eq!(store.list().await.expect("list")[0].messages, 2);
    });
}

#[test]
fn redis_restarting_mid_session_loses_nothing() {
    // The server keeps an append-only file, as a Redis holding sessions should: what it
    // acknowledged survives its restart. "Nothing lost" is then: every append that returned
    // Ok is there once, in order; the one made while the server was down failed, saying so,
    // and is not there; the first append after the restart succeeds (the connection is
    // rebuilt under it).
    let Some(mut redis) = RedisServer::start("restart", true) else {
        return;
    };
    let runtime = runtime();
    runtime.block_on(async {
        let store = RedisStore::connect(&redis.url(), None)
            .await
            .expect("store");
        let session = id("restarted");
        let before = [user("before 1", 1), user("before 2", 2)];
        store.append(&session, &before[..1]).await.expect("append");
        store.append(&session, &before[1..]).await.expect("append");

        redis.kill();
        let started = Instant::now();
        let error = store
            .append(&session, &[user("while down", 3)])
            .await
            .expect_err("Redis is down");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(error.to_string().contains(&redis.url()), "{error}");

        redis.restart();
        let after = user("after", 4);
        store
            .append(&session, std::slice::from_ref(&after))
            .await
            .expect("the append after the restart reconnects");
        let expected = vec![before[0].clone(), before[1].clone(), after];
        assert_eq!(
            store.load(&session).await.map(|l| l.entries).as_ref(),
            Ok(&expected)
        );
        let fresh = RedisStore::connect(&redis.url(), None)
            .await
            .expect("fresh");
        assert_eq!(
            fresh.load(&session).await.map(|l| l.entries).as_ref(),
            Ok(&expected)
        );
        assert_eq!(fresh.list().await.expect("list")[0].messages, 3);

        // A restart between two appends, with no failed append to warn the client: the
        // connection in hand is dead, the append still succeeds (the retry).
        redis.kill();
        redis.restart();
        let last = user("last", 5);
        store
            .append(&session, std::slice::from_ref(&last))
            .await
            .expect("the first command on a dead connection is retried");
        let loaded = store.load(&session).await.expect("load").entries;
        assert_eq!(loaded.len(), 4);
        assert_eq!(loaded.last(), Some(&last));
    });
}

#[test]
fn redis_down_at_open_fails_within_5_s_naming_the_url_without_the_password() {
    let Some(redis) = RedisServer::start("down", false) else {
        return;
    };
    // A port nobody listens on: this server's, once it is gone.
    let port = redis.port();
    drop(redis);
    let runtime = runtime();
    let url = format!("redis://:hunter2-secret@127.0.0.1:{port}/0");
    let started = Instant::now();
    let error = runtime
        .block_on(RedisStore::connect(&url, None))
        .expect_err("nothing listens");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let text = error.to_string();
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}/0")), "{text}");
    assert!(
        matches!(&error, MemoryError::Unavailable { store: "redis", location, .. }
            if location == &format!("redis://***@127.0.0.1:{port}/0")),
        "{error:?}"
    );

    // An address that never answers (a blackhole) is bounded by the same deadline.
    let started = Instant::now();
    let error = runtime
        .block_on(RedisStore::connect("redis://:pw-x@10.255.255.1:6379", None))
        .expect_err("nothing answers");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(!error.to_string().contains("pw-x"), "{error}");
}

#[test]
fn redis_sessions_expire_after_their_ttl_and_leave_the_list() {
    let Some(redis) = RedisServer::start("ttl", false) else {
        return;
    };
    let runtime = runtime();
    runtime.block_on(async {
        let store = RedisStore::connect(&redis.url(), Some(1))
            .await
            .expect("store");
        let lasting = RedisStore::connect(&redis.url(), None)
            .await
            .expect("store");
        let (brief, kept) = (id("brief"), id("kept"));
        store
            .append(&brief, &[user("soon gone", 1)])
            .await
            .expect("append");
        lasting
            .append(&kept, &[user("stays", 2)])
            .await
            .expect("append");
        let mut raw = redis::Client::open(redis.url())
            .expect("client")
            .get_multiplexed_async_connection()
            .await
            .expect("raw connection");
        for key in ["mcpomni:session:brief", "mcpomni:session:brief:meta"] {
            let ttl: i64 = redis::cmd("PTTL")
                .arg(key)
                .query_async(&mut raw)
                .await
                .expect("PTTL");
            assert!((1..=1000).contains(&ttl), "{key}: {ttl}");
        }
        let ttl: i64 = redis::cmd("TTL")
            .arg("mcpomni:session:kept")
            .query_async(&mut raw)
            .await
            .expect("TTL");
        assert_eq!(ttl, -1, "no TTL configured, none set");
        tokio::time::sleep(Duration::from_millis(1300)).await;
        let listed = store.list().await.expect("list");
        assert_eq!(
            listed.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            ["kept"]
        );
        let indexed: i64 = redis::cmd("ZCARD")
            .arg("mcpomni:sessions")
            .query_async(&mut raw)
            .await
            .expect("ZCARD");
        assert_eq!(indexed, 1, "the expired session left the index");
        assert_eq!(
            store.load(&brief).await,
            Err(MemoryError::NotFound(brief.clone()))
        );
    });
}

#[test]
fn open_store_builds_each_backend() {
    let runtime = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let options = mcpomni::memory::StoreOptions {
        dir: Some(dir.path().to_path_buf()),
        redis_url: None,
        ttl_seconds: None,
    };
    for kind in [StoreKind::InMemory, StoreKind::File] {
        let store = runtime
            .block_on(mcpomni::memory::open_backend(kind, &options))
            .expect("opens");
        assert_eq!(store.kind(), kind);
    }
    let Some(redis) = RedisServer::start("open_store", false) else {
        return;
    };
    let options = mcpomni::memory::StoreOptions {
        redis_url: Some(redis.url()),
        ..options
    };
    let store = runtime
        .block_on(mcpomni::memory::open_backend(StoreKind::Redis, &options))
        .expect("opens");
    assert_eq!(store.location(), redis.url());
}
