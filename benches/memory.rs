//! What the session stores cost (`cargo bench --bench memory`): appending one message (the
//! agent does this after every message; p50 and p99 of 2,000) and loading a 10,000-message
//! session (what `--resume` reads), for the file store and for Redis (a private
//! `redis-server` on loopback, skipped where none is installed). Targets: file append p50 <
//! 0.5 ms, Redis append p50 < 1 ms, either load < 100 ms. Name `file` or `redis` on the
//! command line to run one section.

#[path = "../tests/support/redis_server.rs"]
mod redis_server;

use std::time::{Duration, Instant};

use mcpomni::llm::{ChatMessage, ToolCall};
use mcpomni::memory::file::FileStore;
use mcpomni::memory::redis::RedisStore;
use mcpomni::memory::{MemoryStore, SessionEntry, SessionId};
use serde_json::json;

const APPENDS: usize = 2_000;
const LOADED: usize = 10_000;
const LOADS: usize = 7;

fn percentile(samples: &mut [Duration], pct: usize) -> Duration {
    samples.sort_unstable();
    let rank = (pct * samples.len()).div_ceil(100).max(1);
    samples[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// A conversation's worth of typical entries: questions, answers with a tool call, results.
fn message(n: usize) -> SessionEntry {
    match n % 3 {
        0 => SessionEntry::message(ChatMessage::user(format!(
            "question {n}: what does the config in ./servers_config.json say about timeouts?"
        ))),
        1 => SessionEntry::message(ChatMessage::Assistant {
            text: "Let me read it.".into(),
            tool_calls: vec![ToolCall {
                id: format!("call_{n}"),
                name: "filesystem__read_file".into(),
                arguments: json!({"path": "./servers_config.json"}),
            }],
            provider_state: None,
        }),
        _ => SessionEntry::message(ChatMessage::ToolResult {
            call_id: format!("call_{}", n - 1),
            name: "filesystem__read_file".into(),
            content: "{\"mcpServers\": {\"demo\": {\"command\": \"mcpomni\", \"timeout\": 30}}}"
                .repeat(4),
            is_error: false,
        }),
    }
}

async fn measure(name: &str, store: &dyn MemoryStore) {
    let session: SessionId = format!("bench-{name}").parse().expect("an id");
    let _ = store.delete(&session).await;
    store.open(&session).await.expect("open");
    let mut samples = Vec::with_capacity(APPENDS);
    for n in 0..APPENDS {
        let entry = [message(n)];
        let started = Instant::now();
        store.append(&session, &entry).await.expect("append");
        samples.push(started.elapsed());
    }
    let p50 = percentile(&mut samples, 50);
    let p99 = percentile(&mut samples, 99);
    println!(
        "{name}: append one message  p50 {}  p99 {}  ({APPENDS} appends)",
        ms(p50),
        ms(p99)
    );

    let big: SessionId = format!("bench-{name}-10k").parse().expect("an id");
    let _ = store.delete(&big).await;
    let entries: Vec<SessionEntry> = (0..LOADED).map(message).collect();
    for chunk in entries.chunks(500) {
        store.append(&big, chunk).await.expect("append");
    }
    let mut loads = Vec::with_capacity(LOADS);
    for _ in 0..LOADS {
        let started = Instant::now();
        let loaded = store.load(&big).await.expect("load");
        loads.push(started.elapsed());
        assert_eq!(loaded.entries.len(), LOADED);
    }
    let bytes: usize = entries.iter().map(|e| e.to_json_line().len() + 1).sum();
    println!(
        "{name}: load {LOADED} messages ({:.1} MB)  median {}",
        bytes as f64 / 1e6,
        ms(percentile(&mut loads, 50))
    );
    store.release(&session);
    let _ = store.delete(&session).await;
    let _ = store.delete(&big).await;
}

fn main() {
    // `cargo test --benches` asks for a list; there is nothing to list.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let words: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |section: &str| words.is_empty() || words.iter().any(|w| section.contains(w));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    runtime.block_on(async {
        if wanted("file") {
            let dir = tempfile::tempdir().expect("tempdir");
            measure("file", &FileStore::new(dir.path().to_path_buf())).await;
        }
        if wanted("redis") {
            let Some(server) = redis_server::RedisServer::start("bench", false) else {
                return;
            };
            let store = RedisStore::connect(&server.url(), None)
                .await
                .expect("connects");
            measure("redis", &store).await;
        }
    });
}
