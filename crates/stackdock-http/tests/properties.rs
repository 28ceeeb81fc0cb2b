//! Property tests for the parsers and encoders.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use reqwest::header::{HeaderMap, HeaderValue};
use stackdock_http::{encode_path_segment, parse_retry_after, RetryConfig};

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn with(name: &'static str, value: &str) -> Option<HeaderMap> {
    let mut headers = HeaderMap::new();
    headers.insert(name, HeaderValue::from_str(value).ok()?);
    Some(headers)
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

proptest! {
    #[test]
    fn retry_after_seconds_round_trip(secs in 0u64..10_000_000) {
        let headers = with("retry-after", &secs.to_string()).unwrap();
        prop_assert_eq!(parse_retry_after(&headers, now()), Some(Duration::from_secs(secs)));
    }

    #[test]
    fn retry_after_dates_round_trip(secs in 0u64..10_000_000) {
        let date = httpdate::fmt_http_date(now() + Duration::from_secs(secs));
        let headers = with("retry-after", &date).unwrap();
        prop_assert_eq!(parse_retry_after(&headers, now()), Some(Duration::from_secs(secs)));
    }

    #[test]
    fn reset_epochs_round_trip(secs in 0u64..10_000_000) {
        let headers = with("x-ratelimit-reset", &(1_700_000_000 + secs).to_string()).unwrap();
        prop_assert_eq!(parse_retry_after(&headers, now()), Some(Duration::from_secs(secs)));
    }

    #[test]
    fn arbitrary_header_values_never_panic(value in "\\PC*") {
        if let Some(headers) = with("retry-after", &value) {
            let _ = parse_retry_after(&headers, now());
        }
        if let Some(headers) = with("x-ratelimit-reset", &value) {
            let _ = parse_retry_after(&headers, now());
        }
    }

    #[test]
    fn path_segments_are_opaque_and_reversible(segment in "\\PC*") {
        let encoded = encode_path_segment(&segment);
        prop_assert!(!encoded.contains(['/', '?', '#', ' ']));
        prop_assert_eq!(percent_decode(&encoded), segment.as_bytes());
    }

    #[test]
    fn backoff_never_exceeds_its_ceiling(
        retry in 1u32..64,
        initial_ms in 0u64..5_000,
        max_ms in 0u64..120_000,
    ) {
        let config = RetryConfig {
            initial_backoff: Duration::from_millis(initial_ms),
            max_backoff: Duration::from_millis(max_ms),
            ..RetryConfig::default()
        };
        let ceiling = config.backoff_ceiling(retry);
        prop_assert!(ceiling <= config.max_backoff);
        prop_assert!(config.backoff(retry) <= ceiling);
    }
}
