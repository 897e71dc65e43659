//! The bookkeeping behind a server's health, kept free of IO so it can be tested with made-up
//! clocks: heartbeat latency samples, tool-call latency percentiles and error counts, and the
//! restart policy (exponential backoff with jitter, under a budget of restarts per window).
//! Time is tokio's (`tokio::time::Instant`), so tests can run it on a paused clock.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::backoff::{Backoff, SPREAD_QUARTER};
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
/// The longest wait between two attempts to reach a remote server, jitter included.
pub const REMOTE_RETRY_CEILING: Duration = Duration::from_secs(60);
/// A remote server's backoff stops growing here, so that with +25% jitter it stays within
/// [`REMOTE_RETRY_CEILING`].
const REMOTE_BACKOFF_MAX: Duration = Duration::from_secs(48);

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

/// What ended a connection, for the restart policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// A connection that was up went away: a new outage begins.
    ConnectionLost,
    /// A reconnect attempt failed: the outage goes on.
    AttemptFailed,
}

/// What the restart policy decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Try again after this long.
    After(Duration),
    /// The budget is spent, but a remote endpoint is polled anyway, this long apart (at most
    /// a minute): it comes back by itself when the endpoint answers again.
    Polling(Duration),
    /// The budget is spent: stay Failed until the operator acts.
    GiveUp,
}

/// When and whether to reconnect after a connection is lost.
///
/// A stdio server counts every restart (each one spawns a process) against a budget of
/// restarts per window and is given up when the budget is spent. A remote (HTTP/SSE) server
/// counts one restart per outage however many attempts the outage takes, and is never given
/// up: with the budget spent it is polled at most [`REMOTE_RETRY_CEILING`] apart.
#[derive(Debug, Clone)]
pub struct RestartPolicy {
    config: HealthConfig,
    remote: bool,
    /// Times of recent counted restarts (within the window).
    recent: VecDeque<Instant>,
    /// Attempts since the server last stayed up, for the backoff exponent.
    streak: u32,
    /// A remote server's current outage found the budget spent.
    polling: bool,
    /// Counted restarts since mcpomni started.
    pub total: u32,
    /// Reconnect attempts in the current outage (0 while connected).
    pub attempts: u32,
}

impl RestartPolicy {
    pub fn new(config: HealthConfig) -> Self {
        Self {
            config,
            remote: false,
            recent: VecDeque::new(),
            streak: 0,
            polling: false,
            total: 0,
            attempts: 0,
        }
    }

    /// The policy for a remote (HTTP or SSE) server.
    pub fn remote(config: HealthConfig) -> Self {
        Self {
            remote: true,
            ..Self::new(config)
        }
    }

    fn backoff(&self) -> Backoff {
        Backoff {
            base: BACKOFF_BASE,
            max: if self.remote {
                REMOTE_BACKOFF_MAX
            } else {
                BACKOFF_MAX
            },
            spread: SPREAD_QUARTER,
        }
    }

    fn forget_old(&mut self, now: Instant) {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > HealthConfig::RESTART_WINDOW)
        {
            self.recent.pop_front();
        }
    }

    /// The delay before the next automatic reconnect, or `None` when the budget is spent.
    /// Every call counts one restart. `jitter` in `0.0..1.0` spreads reconnects of many
    /// servers apart (±25%).
    pub fn next_delay(&mut self, now: Instant, jitter: f64) -> Option<Duration> {
        self.forget_old(now);
        if self.recent.len() >= self.config.max_restarts as usize {
            return None;
        }
        self.recent.push_back(now);
        self.total += 1;
        self.attempts += 1;
        let delay = self.backoff().delay_with(self.streak, jitter);
        self.streak += 1;
        Some(delay)
    }

    /// What to do after `loss`.
    pub fn after(&mut self, loss: Loss, now: Instant, jitter: f64) -> Retry {
        if !self.remote {
            return match self.next_delay(now, jitter) {
                Some(delay) => Retry::After(delay),
                None => Retry::GiveUp,
            };
        }
        if loss == Loss::ConnectionLost || self.attempts == 0 {
            // One outage, one restart, however many attempts it takes.
            self.forget_old(now);
            self.polling = self.recent.len() >= self.config.max_restarts as usize;
            if !self.polling {
                self.recent.push_back(now);
            }
            self.total += 1;
        }
        self.attempts += 1;
        let backoff = self.backoff();
        if self.polling {
            return Retry::Polling(backoff.delay_with(u32::MAX, jitter));
        }
        let delay = backoff.delay_with(self.streak, jitter);
        self.streak += 1;
        Retry::After(delay)
    }

    /// A connection is up again: the outage is over.
    pub fn connected(&mut self) {
        self.attempts = 0;
        self.polling = false;
    }

    /// The server came up and stayed up: the next failure starts the backoff from the start.
    pub fn stable(&mut self) {
        self.streak = 0;
    }

    /// The user asked for a fresh start: forget the budget and the streak.
    pub fn reset(&mut self) {
        self.recent.clear();
        self.streak = 0;
        self.attempts = 0;
        self.polling = false;
    }

    pub fn max_restarts(&self) -> u32 {
        self.config.max_restarts
    }
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

    #[tokio::test(start_paused = true)]
    async fn the_budget_refills_as_the_window_passes_on_paused_time() {
        let mut p = policy(2);
        assert!(p.next_delay(Instant::now(), 0.5).is_some());
        tokio::time::advance(Duration::from_secs(300)).await;
        assert!(p.next_delay(Instant::now(), 0.5).is_some());
        assert_eq!(
            p.next_delay(Instant::now(), 0.5),
            None,
            "two in ten minutes"
        );
        tokio::time::advance(Duration::from_secs(301)).await;
        assert!(
            p.next_delay(Instant::now(), 0.5).is_some(),
            "the first left the window"
        );
        assert_eq!(p.next_delay(Instant::now(), 0.5), None);
        assert_eq!(
            p.after(Loss::ConnectionLost, Instant::now(), 0.5),
            Retry::GiveUp
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_remote_outage_counts_once_and_retries_at_most_a_minute_apart() {
        let mut p = RestartPolicy::remote(HealthConfig {
            max_restarts: 2,
            ..HealthConfig::default()
        });
        let mut delays = Vec::new();
        let mut loss = Loss::ConnectionLost;
        for _ in 0..30 {
            match p.after(loss, Instant::now(), 1.0) {
                Retry::After(delay) => delays.push(delay),
                other => panic!("within the budget: {other:?}"),
            }
            loss = Loss::AttemptFailed;
        }
        assert_eq!(p.total, 1, "one outage, one restart");
        assert_eq!(p.attempts, 30);
        assert_eq!(delays[0], Duration::from_millis(250));
        assert_eq!(delays.last(), Some(&REMOTE_RETRY_CEILING));
        assert!(delays.iter().all(|d| *d <= REMOTE_RETRY_CEILING));
        p.connected();
        p.stable();
        assert_eq!(p.attempts, 0);
        // A second outage: still within the budget of two.
        assert!(matches!(
            p.after(Loss::ConnectionLost, Instant::now(), 0.0),
            Retry::After(d) if d == Duration::from_millis(150)
        ));
        p.connected();
        // A third within ten minutes: the budget is spent, but the endpoint is still polled.
        for loss in [
            Loss::ConnectionLost,
            Loss::AttemptFailed,
            Loss::AttemptFailed,
        ] {
            match p.after(loss, Instant::now(), 0.0) {
                Retry::Polling(delay) => assert_eq!(delay, Duration::from_secs(36)),
                other => panic!("polling expected: {other:?}"),
            }
        }
        assert_eq!(p.total, 3);
        // Ten minutes on, the budget is back: quick retries again.
        p.connected();
        tokio::time::advance(HealthConfig::RESTART_WINDOW + Duration::from_secs(1)).await;
        assert!(matches!(
            p.after(Loss::ConnectionLost, Instant::now(), 0.5),
            Retry::After(_)
        ));
    }

    #[test]
    fn stdio_keeps_counting_every_restart() {
        let mut p = policy(2);
        let now = Instant::now();
        assert!(matches!(
            p.after(Loss::ConnectionLost, now, 0.5),
            Retry::After(_)
        ));
        assert!(matches!(
            p.after(Loss::AttemptFailed, now, 0.5),
            Retry::After(_)
        ));
        assert_eq!(p.after(Loss::AttemptFailed, now, 0.5), Retry::GiveUp);
        assert_eq!(p.total, 2);
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
