//! Counting what the model costs: requests and tokens per turn and per session, money when the
//! config has a price, and the session limits (`request_limit`, `total_tokens_limit`) checked
//! before every request. A request is reserved before it is sent, with its estimated input
//! (`memory::context`): one that would take the session past `total_tokens_limit` is not sent
//! at all, rather than noticed after its reply. Requests sent at the same time (an
//! orchestrator's parallel sub-agents) reserve their share first, so together they cannot race
//! past a limit: a reservation counts as a request and as its estimate (or the average tokens
//! of a request so far, if that is more) until its reply is recorded. Every request to the
//! model counts once (retries of the same request inside the provider do not), sampling
//! requests included.

use crate::config::Price;
use crate::llm::Usage;
use crate::protocol::UsageTotals;

#[derive(Debug, Clone)]
pub struct UsageMeter {
    pub session: UsageTotals,
    price: Option<Price>,
    /// 0 = unlimited.
    request_limit: u64,
    /// 0 = unlimited.
    token_limit: u64,
    /// Requests reserved and not yet recorded.
    in_flight: u64,
    /// Their estimated input tokens, together.
    in_flight_tokens: u64,
}

/// A request allowed to go out; ends with [`UsageMeter::record_reserved`] when its reply
/// came, or [`UsageMeter::release`] when it was not sent after all.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a reservation holds its share of the limits until it is recorded or released"]
pub struct Reservation {
    estimate: u64,
}

impl UsageMeter {
    pub fn new(price: Option<Price>, request_limit: u64, token_limit: u64) -> Self {
        Self {
            session: UsageTotals {
                cost: price.map(|_| 0.0),
                ..UsageTotals::default()
            },
            price,
            request_limit,
            token_limit,
            in_flight: 0,
            in_flight_tokens: 0,
        }
    }

    /// Checks the limits counting the requests in flight and this request's `estimate`d input
    /// tokens (0 when unknown), and reserves it.
    pub fn reserve(&mut self, estimate: u64) -> Result<Reservation, String> {
        self.check()?;
        if self.request_limit > 0 && self.session.requests + self.in_flight >= self.request_limit {
            return Err(format!(
                "the session reached its limit of {} requests to the model \
                 (AgentConfig.request_limit; {} still running)",
                self.request_limit, self.in_flight
            ));
        }
        if self.token_limit > 0 {
            let used = self.session.tokens();
            let average = used / self.session.requests.max(1);
            let running = self.in_flight_tokens.max(average * self.in_flight);
            if used.saturating_add(estimate) > self.token_limit {
                return Err(format!(
                    "the next request (about {} tokens) would take the session past its limit \
                     of {} tokens ({} used; AgentConfig.total_tokens_limit)",
                    compact(estimate),
                    self.token_limit,
                    used
                ));
            }
            if self.in_flight > 0 && used + running + estimate >= self.token_limit {
                return Err(format!(
                    "the session would pass its limit of {} tokens with the {} requests \
                     still running ({} used; AgentConfig.total_tokens_limit)",
                    self.token_limit, self.in_flight, used
                ));
            }
        }
        self.in_flight += 1;
        self.in_flight_tokens = self.in_flight_tokens.saturating_add(estimate);
        Ok(Reservation { estimate })
    }

    /// A reserved request was not sent (the user stopped the run first).
    pub fn release(&mut self, reservation: Reservation) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.in_flight_tokens = self.in_flight_tokens.saturating_sub(reservation.estimate);
    }

    /// A reserved request's reply came (or it failed): record it and end the reservation.
    pub fn record_reserved(
        &mut self,
        reservation: Reservation,
        usage: Option<Usage>,
        turn: &mut UsageTotals,
    ) {
        self.release(reservation);
        self.record(usage, turn);
    }

    /// Why the next request may not be sent, if a limit is reached.
    pub fn check(&self) -> Result<(), String> {
        if self.request_limit > 0 && self.session.requests >= self.request_limit {
            return Err(format!(
                "the session reached its limit of {} requests to the model (AgentConfig.request_limit)",
                self.request_limit
            ));
        }
        if self.token_limit > 0 && self.session.tokens() >= self.token_limit {
            return Err(format!(
                "the session reached its limit of {} tokens ({} used; AgentConfig.total_tokens_limit)",
                self.token_limit,
                self.session.tokens()
            ));
        }
        Ok(())
    }

    /// One request was sent; `usage` is what the provider reported for it (if anything).
    pub fn record(&mut self, usage: Option<Usage>, turn: &mut UsageTotals) {
        for totals in [&mut self.session, turn] {
            totals.requests += 1;
            if let Some(usage) = usage {
                totals.input_tokens += usage.input_tokens;
                totals.output_tokens += usage.output_tokens;
            }
            if let Some(price) = self.price {
                totals.cost = Some(cost(price, totals));
            }
        }
    }

    /// What one reply cost, when the config has a price.
    pub fn cost_of(&self, usage: Option<Usage>) -> Option<f64> {
        let price = self.price?;
        let usage = usage.unwrap_or_default();
        Some(cost(
            price,
            &UsageTotals {
                input_tokens: usage.input_tokens,
                output_tokens: usage.output_tokens,
                ..UsageTotals::default()
            },
        ))
    }

    /// A turn's totals start at zero (with a cost of zero when there is a price).
    pub fn new_turn(&self) -> UsageTotals {
        UsageTotals {
            cost: self.price.map(|_| 0.0),
            ..UsageTotals::default()
        }
    }
}

fn cost(price: Price, totals: &UsageTotals) -> f64 {
    (totals.input_tokens as f64 * price.input + totals.output_tokens as f64 * price.output)
        / 1_000_000.0
}

/// `3 requests · 1.2k tokens (900 in, 300 out) · $0.0012`
pub fn describe(totals: &UsageTotals) -> String {
    let mut out = format!(
        "{} request{} · {} tokens ({} in, {} out)",
        totals.requests,
        if totals.requests == 1 { "" } else { "s" },
        compact(totals.tokens()),
        compact(totals.input_tokens),
        compact(totals.output_tokens)
    );
    if let Some(cost) = totals.cost {
        out.push_str(&format!(" · {}", dollars(cost)));
    }
    out
}

/// `$0.0031` below a dollar (small sums matter when a turn costs fractions of a cent),
/// `$12.40` above.
pub fn dollars(cost: f64) -> String {
    if cost < 1.0 {
        format!("${cost:.4}")
    } else {
        format!("${cost:.2}")
    }
}

/// `950`, `1.2k`, `3.4M`.
pub fn compact(n: u64) -> String {
    match n {
        n if n < 1_000 => n.to_string(),
        n if n < 1_000_000 => format!("{:.1}k", n as f64 / 1_000.0),
        n => format!("{:.1}M", n as f64 / 1_000_000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_tokens_and_cost_per_turn_and_session() {
        let mut meter = UsageMeter::new(
            Some(Price {
                input: 1.0,
                output: 2.0,
            }),
            0,
            0,
        );
        let mut turn = meter.new_turn();
        meter.record(
            Some(Usage {
                input_tokens: 1_000,
                output_tokens: 500,
            }),
            &mut turn,
        );
        meter.record(None, &mut turn);
        assert_eq!(turn.requests, 2);
        assert_eq!(turn.tokens(), 1_500);
        assert_eq!(turn.cost, Some(0.002));
        assert_eq!(meter.session, turn);
        let mut second = meter.new_turn();
        meter.record(
            Some(Usage {
                input_tokens: 10,
                output_tokens: 0,
            }),
            &mut second,
        );
        assert_eq!(second.requests, 1);
        assert_eq!(meter.session.requests, 3);
        assert_eq!(
            describe(&meter.session),
            "3 requests · 1.5k tokens (1.0k in, 500 out) · $0.0020"
        );
    }

    #[test]
    fn limits_are_checked_before_each_request() {
        let mut meter = UsageMeter::new(None, 2, 0);
        let mut turn = meter.new_turn();
        assert_eq!(meter.check(), Ok(()));
        meter.record(None, &mut turn);
        assert_eq!(meter.check(), Ok(()));
        meter.record(None, &mut turn);
        assert_eq!(
            meter.check(),
            Err("the session reached its limit of 2 requests to the model (AgentConfig.request_limit)".into())
        );
        let mut tokens = UsageMeter::new(None, 0, 100);
        tokens.record(
            Some(Usage {
                input_tokens: 60,
                output_tokens: 40,
            }),
            &mut turn,
        );
        assert!(
            tokens
                .check()
                .is_err_and(|e| e.contains("limit of 100 tokens (100 used"))
        );
        assert_eq!(
            describe(&tokens.session),
            "1 request · 100 tokens (60 in, 40 out)"
        );
    }

    #[test]
    fn requests_in_flight_count_against_the_limits() {
        let mut meter = UsageMeter::new(None, 3, 0);
        let mut turn = meter.new_turn();
        let first = meter.reserve(0).expect("first");
        let _second = meter.reserve(0).expect("second");
        let _third = meter.reserve(0).expect("third");
        let refused = meter.reserve(0).unwrap_err();
        assert!(refused.contains("limit of 3 requests"), "{refused}");
        assert!(refused.contains("3 still running"), "{refused}");
        meter.record_reserved(first, None, &mut turn);
        let refused = meter.reserve(0).unwrap_err();
        assert!(refused.contains("2 still running"), "{refused}");

        // 100 tokens a request so far: 100 used and three in flight are expected to reach
        // 400, past 350, so a fourth waits.
        let mut tokens = UsageMeter::new(None, 0, 350);
        let usage = Some(Usage {
            input_tokens: 60,
            output_tokens: 40,
        });
        let first = tokens.reserve(0).expect("first");
        tokens.record_reserved(first, usage, &mut turn);
        let a = tokens.reserve(0).expect("a");
        let b = tokens.reserve(0).expect("b");
        let _c = tokens.reserve(0).expect("c");
        let refused = tokens.reserve(0).unwrap_err();
        assert!(refused.contains("limit of 350 tokens"), "{refused}");
        tokens.record_reserved(a, usage, &mut turn);
        tokens.record_reserved(b, usage, &mut turn);
        assert!(
            tokens.reserve(0).is_err(),
            "300 used + one more in flight is past 350"
        );
    }

    #[test]
    fn a_request_that_would_pass_the_token_limit_is_not_sent() {
        // The case that used to slip through: 10,000 used of 12,000, and a request of about
        // 5,000 tokens went out and ended at 15,000.
        let mut meter = UsageMeter::new(None, 0, 12_000);
        let mut turn = meter.new_turn();
        let first = meter.reserve(4_000).expect("fits");
        meter.record_reserved(
            first,
            Some(Usage {
                input_tokens: 8_000,
                output_tokens: 2_000,
            }),
            &mut turn,
        );
        let refused = meter.reserve(5_000).unwrap_err();
        assert!(
            refused.contains("the next request (about 5.0k tokens) would take the session past its limit of 12000 tokens (10000 used"),
            "{refused}"
        );
        // Exactly at the limit still goes; one more does not.
        let at = meter.reserve(2_000).expect("exactly at the limit");
        meter.release(at);
        assert!(meter.reserve(2_001).is_err());
        // Estimates of requests in flight count too.
        let mut parallel = UsageMeter::new(None, 0, 10_000);
        let one = parallel.reserve(4_000).expect("one");
        let _two = parallel.reserve(4_000).expect("two");
        let refused = parallel.reserve(3_000).unwrap_err();
        assert!(refused.contains("2 requests still running"), "{refused}");
        parallel.release(one);
        let _three = parallel.reserve(3_000).expect("room again");
    }
}
