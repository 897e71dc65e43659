//! The bookkeeping behind a server's health, kept free of IO so it can be tested with made-up
//! clocks: heartbeat latency samples, tool-call latency percentiles and error counts, and the
//! restart policy (exponential backoff with jitter, under a budget of restarts per window).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::HealthConfig;

/// Ping samples kept for the sparkline.
pub const PING_SAMPLES: usize = 60;
/// Tool-call latencies kept for the percentiles.
const CALL_SAMPLES: usize = 1000;
/// Consecutive failed pings after which the connection is considered dead.
pub const DEAD_AFTER_FAILED_PINGS: u32 = 3;
/// The first automatic reconnect waits about this long; each next one twice as long.
const BACKOFF_BASE: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Heartbeat results.
#[derive(Debug, Default, Clone)]
pub struct PingStats {
    /// Round trips of recent successful pings, oldest first.
    pub samples: VecDeque<Duration>,
    pub consecutive_failures: u32,
    pub last: Option<Result<Duration, String>>,
}

impl PingStats {
    pub fn record_ok(&mut self, rtt: Duration) {
        if self.samples.len() == PING_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(rtt);
        self.consecutive_failures = 0;
        self.last = Some(Ok(rtt));
    }

    pub fn record_failure(&mut self, reason: String) {
        self.consecutive_failures += 1;
        self.last = Some(Err(reason));
    }

    pub fn is_dead(&self) -> bool {
        self.consecutive_failures >= DEAD_AFTER_FAILED_PINGS
    }
}

/// Tool calls through this server.
#[derive(Debug, Default, Clone)]
pub struct CallStats {
    pub calls: u64,
    pub errors: u64,
    latencies: VecDeque<Duration>,
}

impl CallStats {
    pub fn record(&mut self, latency: Duration, ok: bool) {
        self.calls += 1;
        if !ok {
            self.errors += 1;
        }
        if self.latencies.len() == CALL_SAMPLES {
            self.latencies.pop_front();
        }
        self.latencies.push_back(latency);
    }

    /// The `pct`-th percentile (nearest rank) of recent call latencies.
    pub fn percentile(&self, pct: u32) -> Option<Duration> {
        if self.latencies.is_empty() {
            return None;
        }
        let mut sorted: Vec<Duration> = self.latencies.iter().copied().collect();
        sorted.sort_unstable();
        let rank = (pct as usize * sorted.len()).div_ceil(100).max(1);
        sorted.get(rank - 1).copied()
    }
}

/// When and whether to reconnect after a connection is lost.
#[derive(Debug, Clone)]
pub struct RestartPolicy {
    config: HealthConfig,
    /// Times of recent automatic restarts (within the window).
    recent: VecDeque<Instant>,
    /// Restarts since the server last stayed up, for the backoff exponent.
    streak: u32,
    pub total: u32,
}

impl RestartPolicy {
    pub fn new(config: HealthConfig) -> Self {
        Self {
            config,
            recent: VecDeque::new(),
            streak: 0,
            total: 0,
        }
    }

    /// The delay before the next automatic reconnect, or `None` when the budget is spent.
    /// `jitter` in `0.0..1.0` spreads reconnects of many servers apart (±25%).
    pub fn next_delay(&mut self, now: Instant, jitter: f64) -> Option<Duration> {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > HealthConfig::RESTART_WINDOW)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= self.config.max_restarts as usize {
            return None;
        }
        self.recent.push_back(now);
        self.total += 1;
        let exponent = self.streak.min(16);
        self.streak += 1;
        let base = BACKOFF_BASE.saturating_mul(1 << exponent).min(BACKOFF_MAX);
        let factor = 0.75 + 0.5 * jitter.clamp(0.0, 1.0);
        Some(base.mul_f64(factor))
    }

    /// The server came up and stayed up: the next failure starts the backoff from the start.
    pub fn stable(&mut self) {
        self.streak = 0;
    }

    /// The user asked for a fresh start: forget the budget and the streak.
    pub fn reset(&mut self) {
        self.recent.clear();
        self.streak = 0;
    }

    pub fn max_restarts(&self) -> u32 {
        self.config.max_restarts
    }
}

/// A cheap jitter source (no RNG crate needed): the sub-second nanos of the wall clock.
pub fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1000) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_restarts: u32) -> RestartPolicy {
        RestartPolicy::new(HealthConfig {
            max_restarts,
            ..HealthConfig::default()
        })
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let mut p = policy(100);
        let now = Instant::now();
        let delays: Vec<_> = (0..10).map(|_| p.next_delay(now, 0.5)).collect();
        assert_eq!(delays[0], Some(Duration::from_millis(200)));
        assert_eq!(delays[1], Some(Duration::from_millis(400)));
        assert_eq!(delays[2], Some(Duration::from_millis(800)));
        assert_eq!(delays[9], Some(Duration::from_secs(30)));
        assert_eq!(p.next_delay(now, 0.0), Some(Duration::from_millis(22_500)));
        assert_eq!(p.next_delay(now, 1.0), Some(Duration::from_millis(37_500)));
    }

    #[test]
    fn budget_is_per_window_and_reset_clears_it() {
        let mut p = policy(2);
        let t0 = Instant::now();
        assert!(p.next_delay(t0, 0.5).is_some());
        assert!(p.next_delay(t0, 0.5).is_some());
        assert_eq!(p.next_delay(t0, 0.5), None, "budget spent");
        let later = t0 + HealthConfig::RESTART_WINDOW + Duration::from_secs(1);
        assert!(
            p.next_delay(later, 0.5).is_some(),
            "old restarts left the window"
        );
        p.reset();
        assert!(p.next_delay(later, 0.5).is_some());
        assert_eq!(p.total, 4);
    }

    #[test]
    fn stability_restarts_the_backoff() {
        let mut p = policy(10);
        let now = Instant::now();
        p.next_delay(now, 0.5);
        p.next_delay(now, 0.5);
        p.stable();
        assert_eq!(p.next_delay(now, 0.5), Some(Duration::from_millis(200)));
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut stats = CallStats::default();
        assert_eq!(stats.percentile(50), None);
        for ms in 1..=100 {
            stats.record(Duration::from_millis(ms), ms % 10 != 0);
        }
        assert_eq!(stats.percentile(50), Some(Duration::from_millis(50)));
        assert_eq!(stats.percentile(95), Some(Duration::from_millis(95)));
        assert_eq!((stats.calls, stats.errors), (100, 10));
    }

    #[test]
    fn pings_keep_sixty_samples_and_count_failures() {
        let mut pings = PingStats::default();
        for ms in 0..70 {
            pings.record_ok(Duration::from_millis(ms));
        }
        assert_eq!(pings.samples.len(), PING_SAMPLES);
        assert_eq!(pings.samples.front(), Some(&Duration::from_millis(10)));
        pings.record_failure("timeout".into());
        pings.record_failure("timeout".into());
        assert!(!pings.is_dead());
        pings.record_failure("timeout".into());
        assert!(pings.is_dead());
        pings.record_ok(Duration::from_millis(1));
        assert!(!pings.is_dead());
    }
}
