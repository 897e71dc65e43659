//! What the measured-script benches share: the tokio runtime they run on, and how they
//! summarise samples. (`benches/common/mod.rs` is not a bench target of its own.)

use std::future::Future;
use std::time::Duration;

/// Runs `bench` on a multi-threaded runtime, after naming the binary under test. Does nothing
/// for `--list` (what `cargo test --benches` asks).
pub fn run(bench: impl Future<Output = ()>) {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    mcpomni::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => panic!("tokio: {error}"),
    };
    println!("binary under test: {}", crate::support::bin().display());
    runtime.block_on(bench);
}

/// The `pct` percentile (nearest rank) of `samples`, which it sorts.
pub fn percentile(samples: &mut [Duration], pct: usize) -> Duration {
    samples.sort_unstable();
    let rank = (pct * samples.len()).div_ceil(100).max(1);
    samples[rank - 1]
}

/// Which sections to run: those whose names contain one of the words on the command line
/// (all of them when none is given; cargo's own `--` flags are not words).
pub fn wanted_sections() -> impl Fn(&str) -> bool {
    let words: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    move |section: &str| words.is_empty() || words.iter().any(|w| section.contains(w))
}

pub fn median(samples: &mut [Duration]) -> Duration {
    percentile(samples, 50)
}

pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}
