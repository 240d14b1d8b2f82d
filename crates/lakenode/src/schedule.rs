//! The upload schedule: what to do after a failed upload, as a pure function of the
//! kind of failure, the attempt number and the time.
//!
//! Following Vector's retry split, three pieces stay apart: [`crate::s3::reply`] turns a
//! reply into a [`Fault`] (retriable, refused, rejected...), this module decides *when*
//! and *how* to go on ([`RetryPolicy::decide`]), and the adapters' driver
//! ([`crate::driver`]) does the waiting. Nothing here sleeps, sends or reads a clock.
//!
//! Retries back off exponentially with "equal jitter": the delay before retry `n` is
//! drawn from `[d/2, d]`, `d = min(cap, base * 2^n)`, the draw derived from the station's
//! own seed and the attempt number. Stations that lost the network together therefore
//! come back spread out, and one station's schedule is reproducible.
//!
//! ```
//! use std::time::Duration;
//! use lakenode::schedule::{Decision, Fault, RetryPolicy};
//!
//! let policy = RetryPolicy::new(0x5eed);
//! // A timeout on the first attempt at t = 10 s: retry after 0.5 to 1 s.
//! let Decision::RetryAt(t) = policy.decide(Fault::Transient, 1, 10_000, None) else { panic!() };
//! assert!((10_500..=11_000).contains(&t));
//! // Refused credentials pause uploads; a file S3 rejects as a file is quarantined.
//! assert_eq!(policy.decide(Fault::Refused, 1, 10_000, None), Decision::PauseUntil(310_000));
//! assert_eq!(policy.decide(Fault::Rejected, 1, 10_000, None), Decision::Quarantine);
//! // A finite run retries one last time at its deadline, and gives up after that.
//! assert_eq!(policy.decide(Fault::Transient, 9, 10_000, Some(12_000)), Decision::RetryAt(12_000));
//! assert_eq!(policy.decide(Fault::Transient, 10, 12_000, Some(12_000)), Decision::GiveUp);
//! ```

use std::time::Duration;

use crate::sim::mix64;

/// What went wrong with an attempt, as far as the schedule cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No reply, a 5xx, throttling, or a 2xx that did not prove the object stored.
    Transient,
    /// The signing clock was wrong and has just been corrected from S3's `Date`.
    ClockCorrected,
    /// S3 found the body damaged (`BadDigest`): read it from the spool again.
    BadDigest,
    /// Credentials, permissions, bucket or endpoint are wrong, or the reply is not S3's.
    Refused,
    /// S3 refuses the file itself (`EntityTooLarge`...).
    Rejected,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try the same file again at this monotonic instant (ms).
    RetryAt(u64),
    /// Read the file from the spool again and send it now.
    ResendNow,
    /// Move the file to `quarantine/` and go on with the next.
    Quarantine,
    /// Send nothing until this monotonic instant (ms); sampling goes on.
    PauseUntil(u64),
    /// The run's deadline would pass before the next attempt: stop uploading, keep the
    /// data in the spool.
    GiveUp,
}

/// When to retry and how long to pause. One policy for every adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Nominal delay before the first retry.
    pub base: Duration,
    /// Longest delay between retries.
    pub cap: Duration,
    /// How long uploads pause after a refusal (credentials, permissions, bucket, a reply
    /// that is not from S3).
    pub pause: Duration,
    /// Immediate resends after `BadDigest` or a clock correction before backing off.
    pub max_quick_resends: u32,
    /// Seed of the jitter; per station (see [`RetryPolicy::for_station`]).
    pub jitter_seed: u64,
}

/// How long uploads pause after S3 refused the credentials, permissions or bucket.
pub const REFUSED_PAUSE: Duration = Duration::from_secs(300);

impl RetryPolicy {
    /// The default policy (1 s doubling to 5 minutes, 5-minute pauses, 2 quick
    /// resends) with the given jitter seed.
    #[must_use]
    pub const fn new(jitter_seed: u64) -> Self {
        Self {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
            pause: REFUSED_PAUSE,
            max_quick_resends: 2,
            jitter_seed,
        }
    }

    /// The default policy seeded from a station id, so that every station has its own
    /// jitter (a fleet never retries in lockstep after an outage).
    #[must_use]
    pub fn for_station(station: &str) -> Self {
        Self::new(
            station
                .bytes()
                .fold(0x6c61_6b65_6e6f_6465, |h, b| mix64(h ^ u64::from(b))),
        )
    }

    /// The delay before retry number `attempt` (1 = the first retry), jittered.
    #[must_use]
    pub fn delay(&self, attempt: u32) -> Duration {
        let n = attempt.saturating_sub(1).min(20);
        let nominal = self
            .base
            .saturating_mul(1 << n)
            .min(self.cap.max(self.base));
        let draw = mix64(self.jitter_seed ^ mix64(u64::from(attempt)));
        // Fraction in [0, 1] from the top 24 bits.
        let frac = f64::from(u32::try_from(draw >> 40).unwrap_or(0)) / f64::from((1u32 << 24) - 1);
        nominal.mul_f64(0.5 + 0.5 * frac)
    }

    /// The decision after attempt number `attempt` (1 = the first) of a file failed
    /// with `fault` at monotonic time `now_ms` (for [`Fault::BadDigest`] and
    /// [`Fault::ClockCorrected`], `attempt` counts those faults in a row). `deadline_ms` is the instant a finite
    /// run gives up at (none for a node that runs until stopped).
    #[must_use]
    pub fn decide(
        &self,
        fault: Fault,
        attempt: u32,
        now_ms: u64,
        deadline_ms: Option<u64>,
    ) -> Decision {
        let after =
            |d: Duration| now_ms.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        // Within a finite run's deadline the last retry goes out at the deadline itself;
        // only a failure at or after it gives up.
        let retry = |attempt| {
            let at = after(self.delay(attempt));
            match deadline_ms {
                Some(deadline) if now_ms >= deadline => Decision::GiveUp,
                Some(deadline) => Decision::RetryAt(at.min(deadline)),
                None => Decision::RetryAt(at),
            }
        };
        match fault {
            Fault::Rejected => Decision::Quarantine,
            Fault::Refused => Decision::PauseUntil(after(self.pause)),
            Fault::BadDigest | Fault::ClockCorrected if attempt <= self.max_quick_resends => {
                match deadline_ms {
                    Some(deadline) if now_ms >= deadline => Decision::GiveUp,
                    _ => Decision::ResendNow,
                }
            }
            // A damaged body or a clock that will not settle, again and again: back off
            // like any transient failure.
            Fault::BadDigest | Fault::ClockCorrected => retry(attempt - self.max_quick_resends),
            Fault::Transient => retry(attempt),
        }
    }
}

/// The quick resends in a row: `BadDigest`s and clock corrections are resent at once
/// (up to [`RetryPolicy::max_quick_resends`]) and count their own streak, apart from the
/// file's attempts, so a file that failed through an outage is still resent at once when
/// S3 shows the clock was off. Any other fault or a stored file ends the streak.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResendStreak {
    in_a_row: u32,
}

impl ResendStreak {
    /// The decision after attempt `attempt` of a file failed with `fault` (see
    /// [`RetryPolicy::decide`]), and the attempt number it was taken for: the streak's
    /// length for a quick-resend fault, else `attempt`.
    pub fn decide(
        &mut self,
        policy: &RetryPolicy,
        fault: Fault,
        attempt: u32,
        now_ms: u64,
        deadline_ms: Option<u64>,
    ) -> (u32, Decision) {
        let attempt = if matches!(fault, Fault::BadDigest | Fault::ClockCorrected) {
            self.in_a_row += 1;
            self.in_a_row
        } else {
            self.in_a_row = 0;
            attempt
        };
        (attempt, policy.decide(fault, attempt, now_ms, deadline_ms))
    }

    /// A file was stored: the streak ends.
    pub const fn reset(&mut self) {
        self.in_a_row = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_then_cap_and_stay_within_jitter_bounds() {
        let p = RetryPolicy::new(7);
        for attempt in 1..40u32 {
            let nominal = p.base.saturating_mul(1 << (attempt - 1).min(20)).min(p.cap);
            let d = p.delay(attempt);
            assert!(
                d >= nominal / 2 && d <= nominal,
                "retry {attempt}: {d:?} vs {nominal:?}"
            );
        }
        assert_eq!(
            p.delay(3),
            p.delay(3),
            "a pure function of seed and attempt"
        );
    }

    #[test]
    fn stations_get_their_own_jitter() {
        let a = RetryPolicy::for_station("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e");
        let b = RetryPolicy::for_station("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2f");
        let delays = |p: RetryPolicy| (1..6).map(|n| p.delay(n)).collect::<Vec<_>>();
        assert_ne!(delays(a), delays(b));
        assert_ne!(a.jitter_seed, b.jitter_seed);
        // A fleet of 100 stations after one outage: their first retries spread out.
        let mut firsts: Vec<u128> = (0..100)
            .map(|i| {
                RetryPolicy::for_station(&format!("0190f5c2-7a4e-7b3c-9d2e-{i:012}"))
                    .delay(4)
                    .as_millis()
            })
            .collect();
        firsts.sort_unstable();
        firsts.dedup();
        assert!(firsts.len() > 90, "only {} distinct delays", firsts.len());
    }

    #[test]
    fn each_fault_has_one_decision() {
        let p = RetryPolicy::new(1);
        assert_eq!(p.decide(Fault::Rejected, 1, 0, None), Decision::Quarantine);
        assert_eq!(
            p.decide(Fault::Refused, 3, 1_000, None),
            Decision::PauseUntil(301_000)
        );
        assert_eq!(p.decide(Fault::BadDigest, 1, 0, None), Decision::ResendNow);
        assert_eq!(
            p.decide(Fault::ClockCorrected, 2, 0, None),
            Decision::ResendNow
        );
        assert!(
            matches!(p.decide(Fault::BadDigest, 3, 0, None), Decision::RetryAt(t) if (500..=1_000).contains(&t))
        );
        assert!(
            matches!(p.decide(Fault::Transient, 30, 0, None), Decision::RetryAt(t) if (150_000..=300_000).contains(&t))
        );
    }

    #[test]
    fn a_deadline_brings_the_last_retry_forward_then_gives_up() {
        let p = RetryPolicy::new(1);
        // First retry within 1 s: fits a deadline 2 s away; one 0.4 s away gets a last
        // attempt at 0.4 s; a failure at or after the deadline gives up.
        let first = p.decide(Fault::Transient, 1, 0, Some(2_000));
        assert!(
            matches!(first, Decision::RetryAt(t) if t <= 1_000),
            "{first:?}"
        );
        assert_eq!(
            p.decide(Fault::Transient, 1, 0, Some(400)),
            Decision::RetryAt(400)
        );
        assert_eq!(
            p.decide(Fault::Transient, 2, 400, Some(400)),
            Decision::GiveUp
        );
        assert_eq!(
            p.decide(Fault::BadDigest, 1, 500, Some(400)),
            Decision::GiveUp
        );
        // Pauses and quarantines do not depend on the deadline.
        assert_eq!(
            p.decide(Fault::Refused, 1, 0, Some(1)),
            Decision::PauseUntil(300_000)
        );
    }

    #[test]
    fn quick_resends_count_their_own_streak() {
        let p = RetryPolicy::new(1);
        let mut streak = ResendStreak::default();
        // A file failing through an outage (attempt 7) is still resent at once when its
        // digest or the clock was the problem, twice, then backs off.
        assert!(matches!(
            streak.decide(&p, Fault::Transient, 7, 0, None),
            (7, Decision::RetryAt(_))
        ));
        assert_eq!(
            streak.decide(&p, Fault::BadDigest, 8, 0, None),
            (1, Decision::ResendNow)
        );
        assert_eq!(
            streak.decide(&p, Fault::ClockCorrected, 9, 0, None),
            (2, Decision::ResendNow)
        );
        assert!(matches!(
            streak.decide(&p, Fault::BadDigest, 10, 0, None),
            (3, Decision::RetryAt(_))
        ));
        // A transient fault ends the streak; so does a stored file.
        streak.decide(&p, Fault::Transient, 11, 0, None);
        assert_eq!(
            streak.decide(&p, Fault::BadDigest, 12, 0, None),
            (1, Decision::ResendNow)
        );
        streak.reset();
        assert_eq!(
            streak.decide(&p, Fault::BadDigest, 1, 0, None),
            (1, Decision::ResendNow)
        );
    }
}
