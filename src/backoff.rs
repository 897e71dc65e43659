//! Exponential backoff with random jitter: the one helper behind server restarts
//! (`runtime::server::health`) and LLM request retries (`llm::retry`).
//!
//! Jitter is real randomness (`fastrand`): clients that failed together must not retry in
//! lock-step. Callers that want a reproducible delay (tests) pass their own unit value to
//! [`Backoff::delay_with`].

use std::time::Duration;

/// `base · 2^attempt`, capped at `max`, then scaled by a random factor in `spread`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The delay before the first retry (attempt 0), before jitter.
    pub base: Duration,
    /// The largest delay before jitter.
    pub max: Duration,
    /// The factor range jitter draws from, e.g. `0.75..=1.25` (±25%) or `0.5..=1.0`
    /// ("equal jitter": never less than half the backoff).
    pub spread: (f64, f64),
}

/// ±25%: spreads many clients apart while keeping the expected delay.
pub const SPREAD_QUARTER: (f64, f64) = (0.75, 1.25);
/// "Equal jitter": between half and all of the backoff, so retries never bunch up at zero.
pub const SPREAD_EQUAL: (f64, f64) = (0.5, 1.0);

impl Backoff {
    /// The delay before retry number `attempt` (0 for the first), before jitter.
    pub fn exponential(&self, attempt: u32) -> Duration {
        // 2^16 × any sane base is past every sane max; stop doubling there.
        let factor = 1u32 << attempt.min(16);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The delay before retry number `attempt`, with random jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, jitter())
    }

    /// The delay before retry number `attempt`, with `unit` (in `0.0..=1.0`) choosing where in
    /// the spread it falls.
    pub fn delay_with(&self, attempt: u32, unit: f64) -> Duration {
        spread(self.exponential(attempt), self.spread, unit)
    }
}

/// `delay` scaled by a factor `unit` of the way from `low` to `high`.
pub fn spread(delay: Duration, (low, high): (f64, f64), unit: f64) -> Duration {
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.5
    };
    delay.mul_f64(low + (high - low) * unit)
}

/// A uniformly random number in `[0, 1)`.
pub fn jitter() -> f64 {
    fastrand::f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: Backoff = Backoff {
        base: Duration::from_millis(200),
        max: Duration::from_secs(30),
        spread: SPREAD_QUARTER,
    };

    #[test]
    fn exponential_doubles_and_is_capped() {
        let delays: Vec<_> = (0..10).map(|n| SERVER.exponential(n)).collect();
        assert_eq!(delays[0], Duration::from_millis(200));
        assert_eq!(delays[1], Duration::from_millis(400));
        assert_eq!(delays[4], Duration::from_millis(3200));
        assert_eq!(delays[8], Duration::from_secs(30));
        assert_eq!(SERVER.exponential(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn the_spread_bounds_the_jittered_delay() {
        assert_eq!(SERVER.delay_with(0, 0.0), Duration::from_millis(150));
        assert_eq!(SERVER.delay_with(0, 0.5), Duration::from_millis(200));
        assert_eq!(SERVER.delay_with(0, 1.0), Duration::from_millis(250));
        // Out-of-range units are clamped, not trusted.
        assert_eq!(SERVER.delay_with(0, 7.0), Duration::from_millis(250));
        assert_eq!(SERVER.delay_with(0, f64::NAN), Duration::from_millis(200));
        let equal = Backoff {
            spread: SPREAD_EQUAL,
            ..SERVER
        };
        for _ in 0..100 {
            let d = equal.delay(2);
            assert!(
                d >= Duration::from_millis(400) && d <= Duration::from_millis(800),
                "{d:?}"
            );
        }
    }

    #[test]
    fn jitter_is_random_and_in_range() {
        let values: Vec<f64> = (0..64).map(|_| jitter()).collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)), "{values:?}");
        let mut distinct = values.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        assert!(distinct.len() > 60, "{values:?}");
        // Both halves of the range are used (the old clock-based jitter was always 0 on
        // clocks with microsecond resolution).
        assert!(values.iter().any(|v| *v < 0.5) && values.iter().any(|v| *v >= 0.5));
    }

    #[test]
    fn jittered_delays_differ_across_calls() {
        let delays: Vec<Duration> = (0..16).map(|_| SERVER.delay(3)).collect();
        assert!(
            delays.iter().any(|d| *d != delays[0]),
            "all the same: {delays:?}"
        );
        assert!(
            delays
                .iter()
                .all(|d| *d >= Duration::from_millis(1200) && *d <= Duration::from_millis(2000))
        );
    }
}
