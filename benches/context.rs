//! What fitting the history to the context costs (`cargo bench --bench context`): loading the
//! token encoder once (time, and the memory it adds to the process), the first fit of a
//! 10,000-message history (every message counted), and the fit every later request makes
//! (counts cached). Target: the cached fit under 2 ms. The encoder load is printed first, once;
//! name `first` or `cached` on the command line to run one of the timed parts.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use serde_json::json;

use mcpomni::config::MemoryMode;
use mcpomni::llm::{ChatMessage, ToolCall, ToolSpec};
use mcpomni::memory::context::{ContextFitter, ContextPolicy, FitRequest};
use mcpomni::memory::tokens;

const MESSAGES: usize = 10_000;

/// A conversation's worth of typical messages: questions, answers, calls and their results.
fn history() -> Vec<ChatMessage> {
    (0..MESSAGES)
        .map(|n| match n % 4 {
            0 => ChatMessage::user(format!(
                "question {n}: what does the config in ./servers_config.json say about timeouts?"
            )),
            1 => ChatMessage::Assistant {
                text: "Let me read it.".into(),
                tool_calls: vec![ToolCall {
                    id: format!("call_{n}"),
                    name: "filesystem__read_file".into(),
                    arguments: json!({"path": "./servers_config.json"}),
                }],
                provider_state: None,
            },
            2 => ChatMessage::ToolResult {
                call_id: format!("call_{}", n - 1),
                name: "filesystem__read_file".into(),
                content: format!(
                    "{{\n  \"mcpServers\": {{\n    \"demo\": {{\n      \"command\": \"mcpomni\",\n      \"timeout\": {n}\n    }}\n  }}\n}}"
                )
                .repeat(4),
                is_error: false,
            },
            _ => ChatMessage::assistant(format!(
                "The timeout of server demo is {n} seconds; requests slower than that fail, and \
                 tool calls get AgentConfig.tool_call_timeout instead."
            )),
        })
        .collect()
}

/// Twenty tools with small schemas, as a couple of servers offer.
fn tools() -> Vec<ToolSpec> {
    (0..20)
        .map(|i| ToolSpec {
            name: format!("server__tool_{i}"),
            description: format!("Does thing number {i} to the file at `path`, carefully."),
            parameters: json!({
                "type": "object",
                "properties": {"path": {"type": "string", "description": "where"}},
                "required": ["path"]
            }),
        })
        .collect()
}

/// A 128k window with 4k kept for the reply, the default sliding window of 10,000 messages:
/// the 10,000-message history does not fit, so the fit really drops turns.
fn fitter() -> ContextFitter {
    ContextFitter::new(ContextPolicy {
        mode: MemoryMode::SlidingWindow,
        value: 10_000,
        window: Some(128_000),
        reply_reserve: 4_096,
    })
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Loading the encoder happens once per process, so it is timed once, not sampled.
fn encoder_load() {
    let before = rss_kib();
    let started = Instant::now();
    let loaded = tokens::load_blocking();
    let took = started.elapsed();
    let after = rss_kib();
    println!(
        "context/encoder load: {:.1} ms (loaded: {loaded}); RSS {} KiB -> {} KiB (+{:.1} MiB)",
        took.as_secs_f64() * 1000.0,
        before.unwrap_or(0),
        after.unwrap_or(0),
        after.unwrap_or(0).saturating_sub(before.unwrap_or(0)) as f64 / 1024.0
    );
}

fn bench_context(c: &mut Criterion) {
    encoder_load();
    let history = history();
    let tools = tools();
    let system = "You are a helpful assistant with tools. ".repeat(40);
    let request = || FitRequest {
        system: &system,
        tools: &tools,
        messages: &history,
        turn_start: MESSAGES - 4,
    };
    let bytes: usize = history.iter().map(|m| tokens::main_text(m).len()).sum();
    let first = fitter().fit_now(request());
    println!(
        "context: {MESSAGES} messages, {:.1} MiB of text; the fit keeps {} ({} tokens of a 128k window)",
        bytes as f64 / (1024.0 * 1024.0),
        first.report.kept_messages,
        first.report.estimate
    );

    let mut group = c.benchmark_group("context");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("first fit, 10k messages uncached", |b| {
        b.iter_batched(
            fitter,
            |fitter| black_box(fitter.fit_now(request())),
            BatchSize::PerIteration,
        );
    });
    group.finish();

    let warm = fitter();
    let _ = warm.fit_now(request());
    let mut group = c.benchmark_group("context");
    group.sample_size(50);
    group.bench_function("cached fit, 10k messages", |b| {
        b.iter(|| black_box(warm.fit_now(request())));
    });
    group.bench_function("cached fit + the request's messages, 10k messages", |b| {
        b.iter(|| {
            let fitted = warm.fit_now(request());
            black_box(fitted.messages(&history))
        });
    });
    group.finish();
}

criterion_group!(benches, bench_context);
criterion_main!(benches);
