//! Runtime performance, measured side by side in one process (`cargo bench --bench runtime`):
//!
//! 1. tool-call overhead: `echo` on the demo server through mcpomni's runtime vs a bare rmcp
//!    client on its own demo-server process, interleaved in rounds (target: ≤ 10% at p50);
//! 2. startup: 10 stdio servers at once vs one (target: ≤ 1.5 × the slowest single start), for
//!    the demo server, a server whose start waits, and the official server-everything (needs
//!    `scripts/peers-setup`), with the floor the CPU they use sets on this machine's cores;
//! 3. connect + list tools to an already-running streamable HTTP server (target: < 100 ms);
//! 4. a killed stdio server: time until it is shown not Ready (target: < 100 ms) and until it
//!    is Ready again (target: < 2 s).
//!
//! Set `MCPOMNI_BIN` to measure another build of the binary (the demo server is this binary);
//! `cargo bench --bench runtime -- startup` runs only the named sections.

#![allow(clippy::disallowed_methods)] // the bare-rmcp baseline talks to rmcp directly, on purpose

mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use common::{median, ms, percentile};
use mcpomni::config::Config;
use mcpomni::runtime::messages::ServerState;
use mcpomni::runtime::{self, RuntimeHandle, RuntimeOptions};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

const ROUNDS: usize = 10;
const CALLS_PER_ROUND: usize = 300;
const STARTS: usize = 7;

fn args() -> rmcp::model::JsonObject {
    let mut map = rmcp::model::JsonObject::new();
    map.insert("message".into(), json!("hello"));
    map
}

async fn started(config: &Config) -> RuntimeHandle {
    let (handle, _events) = match runtime::start(config, RuntimeOptions::default()) {
        Ok(started) => started,
        Err(error) => panic!("start: {error}"),
    };
    handle.wait_settled().await;
    handle
}

async fn call_overhead() {
    let handle = started(&support::config(
        json!({"mcpServers": {"demo": support::demo()}}),
    ))
    .await;
    // The bare client speaks over the child's pipes, as rmcp's own child-process transport does.
    let mut child = match tokio::process::Command::new(support::bin())
        .arg("demo-server")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(error) => panic!("spawn: {error}"),
    };
    let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take()) else {
        panic!("the child's pipes");
    };
    let bare = match ().serve((stdout, stdin)).await {
        Ok(client) => client,
        Err(error) => panic!("bare client: {error}"),
    };
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let (mut ours_total, mut theirs_total) = (Duration::ZERO, Duration::ZERO);
    for round in 0..ROUNDS {
        // Alternate which goes first so warm-up and noise fall on both sides.
        for side in [round % 2, 1 - round % 2] {
            let started = Instant::now();
            for _ in 0..CALLS_PER_ROUND {
                let t = Instant::now();
                if side == 0 {
                    if let Err(error) = handle.call_tool("demo", "echo", args(), None).await {
                        panic!("{error}");
                    }
                    ours.push(t.elapsed());
                } else {
                    let params = CallToolRequestParams::new("echo").with_arguments(args());
                    if let Err(error) = bare.call_tool(params).await {
                        panic!("{error}");
                    }
                    theirs.push(t.elapsed());
                }
            }
            if side == 0 {
                ours_total += started.elapsed();
            } else {
                theirs_total += started.elapsed();
            }
        }
    }
    let n = (ROUNDS * CALLS_PER_ROUND) as f64;
    let (ours_p50, theirs_p50) = (median(&mut ours), median(&mut theirs));
    println!(
        "tool-call overhead ({} echo calls each, interleaved):",
        ROUNDS * CALLS_PER_ROUND
    );
    println!(
        "  mcpomni runtime: {:>8.0} calls/s  p50 {}  p99 {}",
        n / ours_total.as_secs_f64(),
        ms(ours_p50),
        ms(percentile(&mut ours, 99))
    );
    println!(
        "  bare rmcp      : {:>8.0} calls/s  p50 {}  p99 {}",
        n / theirs_total.as_secs_f64(),
        ms(theirs_p50),
        ms(percentile(&mut theirs, 99))
    );
    println!(
        "  overhead at p50: {:+.1}%  (target ≤ +10%)",
        (ours_p50.as_secs_f64() / theirs_p50.as_secs_f64() - 1.0) * 100.0
    );
    let _ = bare.cancel().await;
    handle.shutdown().await;
}

/// A stdio server whose start is dominated by waiting, like `npx` resolving a package or a
/// server opening a database: half a second of waiting, then the demo server.
fn slow_start_entry() -> Value {
    json!({"command": "sh", "args": ["-c", "sleep 0.5; exec \"$0\" demo-server", "${MCPOMNI_EXE}"]})
}

async fn startup() {
    startup_of("demo server (CPU-bound start)", support::demo, STARTS).await;
    startup_of(
        "a server that waits 0.5 s, then starts",
        slow_start_entry,
        STARTS,
    )
    .await;
    // A real peer: Node's start is CPU-bound too (~0.5 s of CPU each), so fewer runs.
    startup_of(
        "the official server-everything (Node)",
        support::peers::everything_stdio_entry,
        3,
    )
    .await;
}

async fn startup_of(label: &str, entry: fn() -> Value, runs: usize) {
    let time_start = |servers: usize| async move {
        let entries: serde_json::Map<String, Value> =
            (0..servers).map(|i| (format!("s{i}"), entry())).collect();
        let config = support::config(json!({"mcpServers": entries}));
        let own_before = own_cpu();
        let t = Instant::now();
        let handle = started(&config).await;
        let took = t.elapsed();
        let snapshots = handle.snapshots();
        assert!(snapshots.iter().all(|s| s.state == ServerState::Ready));
        // Read while the servers still run: what the start cost mcpomni and every server.
        let cpu = own_cpu().saturating_sub(own_before)
            + snapshots
                .iter()
                .filter_map(|s| s.pid)
                .map(process_cpu)
                .sum::<Duration>();
        handle.shutdown().await;
        (took, cpu)
    };
    let mut single = Vec::new();
    let mut ten = Vec::new();
    let mut ten_cpu = Vec::new();
    for _ in 0..runs {
        single.push(time_start(1).await.0);
        let (took, cpu) = time_start(10).await;
        ten.push(took);
        ten_cpu.push(cpu);
    }
    let slowest_single = single.iter().max().copied().unwrap_or_default();
    let ten_median = median(&mut ten);
    println!("startup, spawn → Ready ({label}, {runs} runs each):");
    println!(
        "  one server : median {}  slowest {}",
        ms(median(&mut single)),
        ms(slowest_single)
    );
    println!(
        "  ten servers: median {}  = {:.2} × the slowest single start (target ≤ 1.5)",
        ms(ten_median),
        ten_median.as_secs_f64() / slowest_single.as_secs_f64()
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = median(&mut ten_cpu);
    let floor = cpu / cores as u32;
    println!(
        "               CPU the ten starts used (mcpomni + servers, spawn → Ready): {} → no \
         schedule finishes them in less than {} on {cores} cores = {:.2} × the slowest single start",
        ms(cpu),
        ms(floor),
        floor.as_secs_f64() / slowest_single.as_secs_f64()
    );
    println!(
        "  ten servers vs that CPU floor: {:.2} × (target ≤ 1.1)",
        ten_median.as_secs_f64() / floor.as_secs_f64().max(f64::MIN_POSITIVE)
    );
}

/// CPU time (user + system) this process has used so far, all threads.
fn own_cpu() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_SELF).map_or(Duration::ZERO, |usage| {
        let user = usage.user_time();
        let system = usage.system_time();
        Duration::from_secs((user.tv_sec() + system.tv_sec()).max(0) as u64)
            + Duration::from_micros((user.tv_usec() + system.tv_usec()).max(0) as u64)
    })
}

/// CPU time a running process has used, summed over its threads from the scheduler's
/// nanosecond counters (`/proc/PID/task/TID/schedstat`; `/proc/PID/stat` counts in 10 ms
/// ticks, too coarse for a start of a few milliseconds). Includes the time between fork and
/// exec, which the kernel charges to the child.
fn process_cpu(pid: u32) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .map(Duration::from_nanos)
        .sum()
}

async fn http_connect() {
    let server = support::peers::PeerProcess::everything_http().await;
    let config = support::config(json!({"mcpServers": {
        "http": {"transport_type": "streamable_http", "url": server.url()}
    }}));
    let mut times = Vec::new();
    for _ in 0..(STARTS + 1) {
        let t = Instant::now();
        let handle = started(&config).await;
        times.push(t.elapsed());
        assert_eq!(handle.snapshots()[0].state, ServerState::Ready);
        assert!(handle.catalog().tools.len() >= 10);
        handle.shutdown().await;
    }
    times.remove(0); // the first connection also warms the Node server's JIT
    println!(
        "connect + initialize + list to a running streamable HTTP server (server-everything):"
    );
    println!(
        "  median {}  slowest {}  (target < 100 ms)",
        ms(median(&mut times)),
        ms(times.iter().max().copied().unwrap_or_default())
    );
}

async fn kill_and_recover() {
    let handle = started(&support::config(
        json!({"mcpServers": {"demo": support::demo()}}),
    ))
    .await;
    let mut down = Vec::new();
    let mut up = Vec::new();
    for _ in 0..STARTS {
        let pid = handle.snapshots()[0].pid.unwrap_or_default();
        let t = Instant::now();
        runtime::stdio::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
        while handle.snapshots()[0].state == ServerState::Ready {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        down.push(t.elapsed());
        while handle.snapshots()[0].state != ServerState::Ready {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        up.push(t.elapsed());
        // Let it count as stable so the next kill gets the first backoff step again.
        handle.restart("demo").await.ok();
        while handle.snapshots()[0].state != ServerState::Ready {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    println!("a killed stdio server ({STARTS} kills):");
    println!(
        "  shown not Ready after: median {}  slowest {}  (target < 100 ms)",
        ms(median(&mut down)),
        ms(down.iter().max().copied().unwrap_or_default())
    );
    println!(
        "  Ready again after    : median {}  slowest {}  (target < 2 s)",
        ms(median(&mut up)),
        ms(up.iter().max().copied().unwrap_or_default())
    );
    handle.shutdown().await;
}

fn main() {
    // `cargo bench --bench runtime -- startup` runs only the sections whose names contain
    // one of the words given.
    let wanted = common::wanted_sections();
    common::run(async {
        if wanted("call_overhead") {
            call_overhead().await;
        }
        if wanted("startup") {
            startup().await;
        }
        if wanted("kill_and_recover") {
            kill_and_recover().await;
        }
        if wanted("http_connect") {
            http_connect().await;
        }
    });
}
