//! How long to wait before sending a failed request again: exponential backoff with
//! jitter, or what the server asked for with `Retry-After`.

use std::time::Duration;

/// The first wait; each later one doubles, up to [`MAX_DELAY`].
const BASE_DELAY: Duration = Duration::from_millis(500);
const MAX_DELAY: Duration = Duration::from_secs(30);
/// A server asking for longer than this is not waited for beyond it.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// The wait before retry number `attempt` (1-based). `retry_after` wins when the server
/// sent one; otherwise base × 2^(attempt-1), scaled by a jitter in [0.5, 1.0) so that
/// many clients do not retry in step.
pub fn delay(attempt: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(wait) = retry_after {
        return wait.min(MAX_RETRY_AFTER);
    }
    let exponential = BASE_DELAY.saturating_mul(1 << attempt.saturating_sub(1).min(16));
    exponential.min(MAX_DELAY).mul_f64(0.5 + jitter() / 2.0)
}

/// A number in [0, 1) that differs from call to call.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_with_jitter_and_retry_after_wins() {
        for attempt in 1..=4 {
            let full = BASE_DELAY * (1 << (attempt - 1));
            let wait = delay(attempt, None);
            assert!(wait >= full / 2 && wait < full, "{attempt}: {wait:?}");
        }
        assert!(delay(40, None) <= MAX_DELAY);
        assert_eq!(
            delay(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(delay(1, Some(Duration::from_secs(9999))), MAX_RETRY_AFTER);
    }
}
