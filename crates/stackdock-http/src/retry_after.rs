//! How long a provider asked us to wait.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// The wait a response asks for, if it says.
///
/// In order of preference:
/// 1. `Retry-After` as delay-seconds (`120`, fractional values accepted);
/// 2. `Retry-After` as an HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`), minus `now`;
/// 3. `X-RateLimit-Reset` as Unix epoch seconds, minus `now`. Values below
///    10⁹ (before 2001) cannot be epochs and are read as delay-seconds, which
///    is what some providers send.
///
/// A time in the past yields `Duration::ZERO`. Unparseable values are ignored.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use reqwest::header::{HeaderMap, HeaderValue};
/// use stackdock_http::parse_retry_after;
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
/// let mut headers = HeaderMap::new();
/// headers.insert("retry-after", HeaderValue::from_static("Wed, 21 Oct 2015 07:28:05 GMT"));
/// assert_eq!(parse_retry_after(&headers, now), Some(Duration::from_secs(5)));
/// ```
pub fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(wait) = retry_after_only(headers, now) {
        return Some(wait);
    }
    let reset = headers
        .get("x-ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())?;
    if reset < 1_000_000_000 {
        return Some(Duration::from_secs(reset));
    }
    let reset = UNIX_EPOCH + Duration::from_secs(reset);
    Some(reset.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `Retry-After` alone, without the `X-RateLimit-Reset` fallback: for 5xx, where
/// the reset header (sent on every response by some providers) only describes the
/// rate-limit window and says nothing about when the server recovers.
pub(crate) fn retry_after_only(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Some(seconds) = parse_seconds(value) {
        return Some(seconds);
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

fn parse_seconds(value: &str) -> Option<Duration> {
    if !value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let seconds: f64 = value.parse().ok()?;
    Duration::try_from_secs_f64(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    const NOW: u64 = 1_445_412_480; // Wed, 21 Oct 2015 07:28:00 GMT

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    #[test]
    fn seconds_form() {
        let h = headers(&[("retry-after", "2")]);
        assert_eq!(parse_retry_after(&h, now()), Some(Duration::from_secs(2)));
        let h = headers(&[("retry-after", " 0.5 ")]);
        assert_eq!(
            parse_retry_after(&h, now()),
            Some(Duration::from_millis(500))
        );
        let h = headers(&[("retry-after", "0")]);
        assert_eq!(parse_retry_after(&h, now()), Some(Duration::ZERO));
    }

    #[test]
    fn date_form_future_and_past() {
        let h = headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:30 GMT")]);
        assert_eq!(parse_retry_after(&h, now()), Some(Duration::from_secs(30)));
        let h = headers(&[("retry-after", "Wed, 21 Oct 2015 07:27:00 GMT")]);
        assert_eq!(parse_retry_after(&h, now()), Some(Duration::ZERO));
    }

    #[test]
    fn garbage_is_ignored() {
        for bad in ["soon", "-1", "1e3", "NaN", ""] {
            let h = headers(&[("retry-after", bad)]);
            assert_eq!(parse_retry_after(&h, now()), None, "{bad}");
        }
        assert_eq!(parse_retry_after(&HeaderMap::new(), now()), None);
    }

    #[test]
    fn rate_limit_reset_fallback() {
        let h = headers(&[("x-ratelimit-reset", "1445412487")]);
        assert_eq!(parse_retry_after(&h, now()), Some(Duration::from_secs(7)));
        // a reset in the past means "now"
        let h = headers(&[("x-ratelimit-reset", "1445412000")]);
        assert_eq!(parse_retry_after(&h, now()), Some(Duration::ZERO));
        // small values are delays, not epochs
        let h = headers(&[("x-ratelimit-reset", "42")]);
        assert_eq!(parse_retry_after(&h, now()), Some(Duration::from_secs(42)));
        // Retry-After wins over the reset header
        let h = headers(&[("retry-after", "3"), ("x-ratelimit-reset", "1445412487")]);
        assert_eq!(parse_retry_after(&h, now()), Some(Duration::from_secs(3)));
        // an unparseable Retry-After falls back to the reset header
        let h = headers(&[
            ("retry-after", "later"),
            ("x-ratelimit-reset", "1445412490"),
        ]);
        assert_eq!(parse_retry_after(&h, now()), Some(Duration::from_secs(10)));
    }
}
