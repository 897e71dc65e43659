//! When to send a failed request again: exponential backoff with jitter, or the provider's own
//! `Retry-After` (seconds or an HTTP date) when it sent one and it is not absurdly long.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

use crate::backoff::{self, Backoff};

/// Retries of 429 and 5xx responses. Only a request that has not yet delivered any stream event
/// is retried: after that the caller has seen part of a reply and a fresh one would repeat it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so `max_retries + 1` requests at most).
    pub max_retries: u32,
    /// Backoff before the first retry; doubled for each further one.
    pub base_delay: Duration,
    /// Upper bound of the exponential backoff.
    pub max_delay: Duration,
    /// The longest `Retry-After` we wait for; a longer one fails at once with
    /// [`LlmError::RateLimited`](super::LlmError::RateLimited) carrying the asked-for wait.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(1000),
            max_delay: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// How long to wait before retry number `retry` (0 for the first), or `None` to give up.
    pub(crate) fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if retry >= self.max_retries {
            return None;
        }
        if let Some(asked) = retry_after {
            if asked > self.max_retry_after {
                return None;
            }
            // The server's wait is a minimum; a little jitter keeps parallel clients apart.
            let spread = (asked / 10).min(Duration::from_millis(250));
            return Some(asked + backoff::spread(spread, (0.0, 1.0), backoff::jitter()));
        }
        let backoff = Backoff {
            base: self.base_delay,
            max: self.max_delay,
            spread: backoff::SPREAD_EQUAL,
        };
        Some(backoff.delay(retry))
    }
}

/// The wait a response asks for: `retry-after-ms` (OpenAI, Anthropic) first, then `Retry-After`
/// as delta-seconds or an HTTP date (a date in the past means "now").
pub(crate) fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = text("retry-after")?;
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    // RFC 9110 asks recipients to accept the two obsolete date formats too; httpdate does.
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn retry_after_seconds_date_and_ms() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_767); // Sun, 06 Nov 1994 08:49:27 GMT
        let h = headers(&[("retry-after", "7")]);
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_secs(7)));
        let h = headers(&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")]);
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_secs(10)));
        let h = headers(&[("retry-after", "Sat, 05 Nov 1994 08:49:37 GMT")]);
        assert_eq!(parse_retry_after(&h, now), Some(Duration::ZERO));
        let h = headers(&[("retry-after-ms", "1500"), ("retry-after", "9")]);
        assert_eq!(
            parse_retry_after(&h, now),
            Some(Duration::from_millis(1500))
        );
        let h = headers(&[("retry-after", "soon")]);
        assert_eq!(parse_retry_after(&h, now), None);
        assert_eq!(parse_retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn retry_after_dates_in_every_format_rfc_9110_allows() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_767); // Sun, 06 Nov 1994 08:49:27 GMT
        for date in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            let h = HeaderMap::from_iter([(
                reqwest::header::RETRY_AFTER,
                HeaderValue::from_static(date),
            )]);
            assert_eq!(
                parse_retry_after(&h, now),
                Some(Duration::from_secs(10)),
                "{date}"
            );
        }
        // A leap day, far from the epoch.
        let leap = UNIX_EPOCH + Duration::from_secs(19_782 * 86_400);
        let h = headers(&[("retry-after", "Thu, 29 Feb 2024 00:01:00 GMT")]);
        assert_eq!(parse_retry_after(&h, leap), Some(Duration::from_secs(60)));
        for bad in [
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
        ] {
            let h = HeaderMap::from_iter([(
                reqwest::header::RETRY_AFTER,
                HeaderValue::from_static(bad),
            )]);
            assert_eq!(parse_retry_after(&h, now), None, "{bad}");
        }
    }

    #[test]
    fn jittered_retries_differ() {
        let policy = RetryPolicy::default();
        let delays: Vec<_> = (0..16).map(|_| policy.delay(1, None)).collect();
        assert!(delays.iter().any(|d| *d != delays[0]), "{delays:?}");
    }

    #[test]
    fn backoff_grows_within_bounds_and_gives_up() {
        let policy = RetryPolicy::default();
        for retry in 0..3 {
            let full = Duration::from_secs(1) * 2u32.pow(retry);
            let delay = policy.delay(retry, None).unwrap();
            assert!(delay >= full / 2 && delay <= full, "{retry}: {delay:?}");
        }
        assert_eq!(policy.delay(3, None), None);
        let honoured = policy.delay(0, Some(Duration::from_secs(2))).unwrap();
        assert!(honoured >= Duration::from_secs(2) && honoured <= Duration::from_millis(2200));
        assert_eq!(policy.delay(0, Some(Duration::from_secs(61))), None);
    }
}
