//! A circuit breaker per host: stop calling a host that keeps failing, probe it later.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use stackdock_core::{Error, ErrorKind};

use crate::config::CircuitBreakerConfig;

/// Breaker state of every host a client has called. Times are [`Clock::elapsed`](crate::Clock::elapsed)
/// values, so tests drive the cool-down with a [`ManualClock`](crate::ManualClock).
#[derive(Debug, Default)]
pub(crate) struct Breakers {
    hosts: Mutex<HashMap<String, HostState>>,
}

#[derive(Debug, Clone, Copy)]
enum HostState {
    /// Calls go through; `failures` consecutive failures so far.
    Closed { failures: u32 },
    /// Calls fail fast until `until`.
    Open { until: Duration, failures: u32 },
    /// One probe is in flight; others fail fast until it reports (or until
    /// `reprobe_at`, one cool-down later, in case the probe was cancelled).
    HalfOpen { reprobe_at: Duration, failures: u32 },
}

impl Breakers {
    /// May an attempt to `host` go out at `now`? `Err` is the fail-fast [`ErrorKind::Unavailable`].
    pub(crate) fn admit(
        &self,
        config: &CircuitBreakerConfig,
        host: &str,
        now: Duration,
    ) -> Result<(), Error> {
        if config.failure_threshold == 0 {
            return Ok(());
        }
        let mut hosts = self.lock();
        // A host that never failed has no entry: the hot path allocates nothing.
        let Some(state) = hosts.get_mut(host) else {
            return Ok(());
        };
        match *state {
            HostState::Closed { .. } => Ok(()),
            HostState::Open { until, failures }
            | HostState::HalfOpen {
                reprobe_at: until,
                failures,
            } if now >= until => {
                // Cool-down over (or the last probe never reported): let one probe through.
                *state = HostState::HalfOpen {
                    reprobe_at: now + config.cool_down,
                    failures,
                };
                Ok(())
            }
            HostState::Open { until, failures }
            | HostState::HalfOpen {
                reprobe_at: until,
                failures,
            } => Err(open_error(failures, until - now)),
        }
    }

    /// Report how an attempt to `host` went: `failed` for connection failures,
    /// time-outs and 5xx (except 501); anything else proves the host is up.
    pub(crate) fn record(
        &self,
        config: &CircuitBreakerConfig,
        host: &str,
        failed: bool,
        now: Duration,
    ) {
        if config.failure_threshold == 0 {
            return;
        }
        let mut hosts = self.lock();
        if !failed {
            // Healthy again: forget the host (the hot path then allocates nothing).
            hosts.remove(host);
            return;
        }
        let state = hosts
            .entry(host.to_owned())
            .or_insert(HostState::Closed { failures: 0 });
        let failures = match *state {
            HostState::Closed { failures }
            | HostState::Open { failures, .. }
            | HostState::HalfOpen { failures, .. } => failures.saturating_add(1),
        };
        let tripped =
            matches!(state, HostState::HalfOpen { .. }) || failures >= config.failure_threshold;
        *state = if tripped {
            tracing::debug!(host, failures, "http circuit open");
            HostState::Open {
                until: now + config.cool_down,
                failures,
            }
        } else {
            HostState::Closed { failures }
        };
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HostState>> {
        // The map stays consistent even if a holder panicked: every update is one assignment.
        self.hosts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn open_error(failures: u32, retry_in: Duration) -> Error {
    Error::new(ErrorKind::Unavailable)
        .with_message(format!(
            "circuit open after {failures} consecutive failures; not calling the host for {} ms",
            retry_in.as_millis()
        ))
        .with_retry_after(retry_in)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn opens_after_threshold_then_probes_once() {
        let config = CircuitBreakerConfig {
            failure_threshold: 3,
            cool_down: 10 * S,
        };
        let b = Breakers::default();
        for _ in 0..2 {
            b.admit(&config, "h", S).unwrap();
            b.record(&config, "h", true, S);
        }
        b.admit(&config, "h", S).unwrap();
        b.record(&config, "h", true, S);
        let err = b.admit(&config, "h", 2 * S).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Unavailable);
        assert_eq!(err.retry_after(), Some(9 * S));
        b.admit(&config, "other", 2 * S).unwrap();
        // Half-open: one probe, the others still fail fast.
        b.admit(&config, "h", 11 * S).unwrap();
        assert!(b.admit(&config, "h", 11 * S).is_err());
        // A failed probe opens again for a whole cool-down.
        b.record(&config, "h", true, 12 * S);
        assert!(b.admit(&config, "h", 21 * S).is_err());
        b.admit(&config, "h", 22 * S).unwrap();
        b.record(&config, "h", false, 22 * S);
        b.admit(&config, "h", 22 * S).unwrap();
        b.admit(&config, "h", 22 * S).unwrap();
    }

    #[test]
    fn a_success_resets_the_count_and_zero_disables() {
        let config = CircuitBreakerConfig {
            failure_threshold: 2,
            cool_down: S,
        };
        let b = Breakers::default();
        b.record(&config, "h", true, S);
        b.record(&config, "h", false, S);
        b.record(&config, "h", true, S);
        b.admit(&config, "h", S).unwrap();
        let off = CircuitBreakerConfig {
            failure_threshold: 0,
            cool_down: S,
        };
        for _ in 0..10 {
            b.record(&off, "x", true, S);
        }
        b.admit(&off, "x", S).unwrap();
    }
}
