//! Rate limiting for warnings that a flood of queries could repeat.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Lets a warning through at most once per interval, so a container that
/// hammers a dead upstream cannot flood the daemon's log (moby's
/// `logInterval`, a `rate.Sometimes`). Lock-free: it sits on query paths.
pub(crate) struct LogThrottle {
    epoch: Instant,
    interval_ms: u64,
    /// Milliseconds since `epoch` before which nothing passes.
    next_ms: AtomicU64,
}

impl LogThrottle {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            epoch: Instant::now(),
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            next_ms: AtomicU64::new(0),
        }
    }

    pub(crate) fn allow(&self) -> bool {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let next = self.next_ms.load(Ordering::Relaxed);
        now >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now.saturating_add(self.interval_ms),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lets_one_through_per_interval() {
        let t = LogThrottle::new(Duration::from_secs(3600));
        assert!(t.allow());
        assert!(!t.allow());
        let t = LogThrottle::new(Duration::ZERO);
        assert!(t.allow());
        assert!(t.allow());
    }
}
