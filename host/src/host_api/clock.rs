//! A call's clock: the time a call has used against its deadline — the guest's own time
//! and host work without a bound of its own (WASI file operations) — leaving out waits
//! that have their own bound (commands, fetches) or are a person's (questions).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Shared by the call's Store (whose epoch callback interrupts the guest) and the
/// dispatcher (which gives up on a call stuck in host work, where no interrupt reaches).
#[derive(Debug, Clone, Default)]
pub struct CallClock(Arc<Mutex<Reading>>);

#[derive(Debug, Default)]
struct Reading {
    started: Option<Instant>,
    excluded: Duration,
    waiting_since: Option<Instant>,
}

impl CallClock {
    /// Starts (or restarts) counting: the call begins.
    pub fn start(&self) {
        *self.lock() = Reading {
            started: Some(Instant::now()),
            ..Reading::default()
        };
    }

    /// Runs `wait` without counting its time.
    pub fn excluding<T>(&self, wait: impl FnOnce() -> T) -> T {
        let since = Instant::now();
        self.lock().waiting_since = Some(since);
        let result = wait();
        let mut reading = self.lock();
        reading.waiting_since = None;
        reading.excluded += since.elapsed();
        result
    }

    /// The time used so far (zero before the call starts).
    pub fn used(&self) -> Duration {
        let reading = self.lock();
        let Some(started) = reading.started else {
            return Duration::ZERO;
        };
        let waiting = reading
            .waiting_since
            .map_or(Duration::ZERO, |w| w.elapsed());
        started
            .elapsed()
            .saturating_sub(reading.excluded)
            .saturating_sub(waiting)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Reading> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_left_out_and_nothing_counts_before_the_start() {
        let clock = CallClock::default();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(clock.used(), Duration::ZERO);
        let outer = Instant::now();
        clock.start();
        let during = clock.excluding(|| {
            std::thread::sleep(Duration::from_millis(50));
            clock.used()
        });
        // The wait took at least 50 ms, none of which counts.
        let bound = outer.elapsed() - Duration::from_millis(50);
        assert!(during <= bound, "{during:?} > {bound:?}");
        assert!(clock.used() <= outer.elapsed() - Duration::from_millis(50));
        // Time outside waits counts.
        std::thread::sleep(Duration::from_millis(60));
        assert!(clock.used() >= Duration::from_millis(60));
    }
}
