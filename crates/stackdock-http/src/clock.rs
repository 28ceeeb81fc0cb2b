//! Time as the client sees it: injectable so retry waits can be tested exactly.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;

/// The source of time of an [`HttpClient`](crate::HttpClient).
///
/// The default, [`TokioClock`], uses the system clock and `tokio::time` (so it
/// follows paused tokio time in tests). [`ManualClock`] makes waits instantaneous
/// and records them, for tests that assert the exact waits of the retry policy.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Wall-clock time, to turn `Retry-After` dates and reset epochs into waits.
    fn now(&self) -> SystemTime;
    /// Monotonic time since an arbitrary fixed origin, to enforce `retry_timeout`.
    fn elapsed(&self) -> Duration;
    /// Wait for `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;

    /// Completes when an attempt started now has used up the `remaining`
    /// `retry_timeout` budget and must be cut off. Default: a tokio timer.
    fn deadline(&self, remaining: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(remaining))
    }
}

/// A shared clock (e.g. from a [`RestConfig`](crate::RestConfig)) is a clock.
impl Clock for Arc<dyn Clock> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
    fn elapsed(&self) -> Duration {
        (**self).elapsed()
    }
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        (**self).sleep(duration)
    }
    fn deadline(&self, remaining: Duration) -> BoxFuture<'static, ()> {
        (**self).deadline(remaining)
    }
}

/// The default [`Clock`]: `SystemTime::now` and `tokio::time`.
#[derive(Debug, Clone)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

impl TokioClock {
    /// A clock whose [`Clock::elapsed`] starts now.
    pub fn new() -> Self {
        TokioClock {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn elapsed(&self) -> Duration {
        self.origin.elapsed()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A [`Clock`] for tests: time moves only when the client sleeps, sleeping
/// returns at once, and every wait is recorded.
///
/// Cheap to clone; clones share the same time and record.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use stackdock_http::{Clock, ManualClock};
///
/// # futures::executor::block_on(async {
/// let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
/// clock.sleep(Duration::from_secs(2)).await;
/// assert_eq!(clock.sleeps(), vec![Duration::from_secs(2)]);
/// assert_eq!(clock.elapsed(), Duration::from_secs(2));
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    state: Arc<Mutex<ManualState>>,
}

#[derive(Debug)]
struct ManualState {
    start: SystemTime,
    elapsed: Duration,
    sleeps: Vec<Duration>,
}

impl ManualClock {
    /// A clock whose wall time starts at `start`.
    pub fn new(start: SystemTime) -> Self {
        ManualClock {
            state: Arc::new(Mutex::new(ManualState {
                start,
                elapsed: Duration::ZERO,
                sleeps: Vec::new(),
            })),
        }
    }

    /// Every wait requested so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    /// Move time forward without recording a sleep (e.g. to simulate slow responses).
    pub fn advance(&self, duration: Duration) {
        self.lock().elapsed += duration;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ManualState> {
        // A panic while holding this lock cannot leave the state inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        let state = self.lock();
        state.start + state.elapsed
    }

    fn elapsed(&self) -> Duration {
        self.lock().elapsed
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let mut state = self.lock();
        state.elapsed += duration;
        state.sleeps.push(duration);
        Box::pin(std::future::ready(()))
    }

    /// Never: on this clock attempts take no time (only sleeps and
    /// [`ManualClock::advance`] move it), so none outlives the budget.
    fn deadline(&self, _remaining: Duration) -> BoxFuture<'static, ()> {
        Box::pin(std::future::pending())
    }
}
