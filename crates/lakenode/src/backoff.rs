//! Exponential backoff with jitter and a cap, for retrying uploads.
//!
//! The delay before retry `n` is drawn uniformly from `[d/2, d]` where
//! `d = min(cap, base * 2^n)` ("equal jitter"): nodes that lost the network together
//! do not come back in lockstep, and each retry still waits at least half the nominal
//! delay.
//!
//! ```
//! use std::time::Duration;
//! use lakenode::backoff::Backoff;
//!
//! let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60), 42);
//! let first = b.next_delay();
//! assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
//! for _ in 0..20 { assert!(b.next_delay() <= Duration::from_secs(60)); }
//! b.reset();
//! assert!(b.next_delay() <= Duration::from_secs(1));
//! ```

use std::time::Duration;

use crate::sim::mix64;

/// Backoff state: policy plus the number of retries so far.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
    jitter_state: u64,
}

impl Backoff {
    /// A backoff starting at `base`, never above `cap`; `seed` varies the jitter
    /// between nodes (use something per-node, such as a hash of the station id).
    #[must_use]
    pub fn new(base: Duration, cap: Duration, seed: u64) -> Self {
        Self {
            base,
            cap: cap.max(base),
            attempt: 0,
            jitter_state: seed,
        }
    }

    /// Retries since the last [`Backoff::reset`].
    #[must_use]
    pub const fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The delay to wait before the next retry; advances the state.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        let nominal = self.base.saturating_mul(factor).min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        self.jitter_state = mix64(self.jitter_state.wrapping_add(0x9E37_79B9_7F4A_7C15));
        // Fraction in [0, 1] from the top 24 bits.
        #[allow(clippy::cast_precision_loss)]
        let frac = (self.jitter_state >> 40) as f64 / f64::from((1u32 << 24) - 1);
        nominal.mul_f64(0.5 + 0.5 * frac)
    }

    /// Back to the first delay, after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_then_cap_and_stay_within_jitter_bounds() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(5);
        let mut b = Backoff::new(base, cap, 7);
        for n in 0..30u32 {
            let nominal = base.saturating_mul(1 << n.min(20)).min(cap);
            let d = b.next_delay();
            assert!(
                d >= nominal / 2 && d <= nominal,
                "retry {n}: {d:?} vs {nominal:?}"
            );
        }
        assert_eq!(b.attempts(), 30);
    }

    #[test]
    fn jitter_differs_between_seeds() {
        let delays = |seed| {
            let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60), seed);
            (0..5).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        assert_ne!(delays(1), delays(2));
        assert_eq!(delays(3), delays(3));
    }
}
