//! Wall-clock time for signing requests.
//!
//! Sample timestamps come from whoever takes the samples (the sensor loop, a CSV file,
//! or the simulator's virtual time); signatures need the real time, since S3 refuses a
//! signature more than 15 minutes off. A node that has not synchronised its clock yet
//! (the ESP32 starts in 1970) must not sign: [`is_plausible`] tells.
//!
//! Until the first time sync, a node can still sample: [`TimeKeeper`] holds such samples
//! with their monotonic time (milliseconds since boot) and gives them UTC timestamps
//! once a synchronised reading anchors the monotonic clock. Nothing is named, dated or
//! signed with a 1970 time.
//!
//! ```
//! use lakenode::clock::{is_plausible, SystemClock, TimeKeeper, WallClock};
//! use lakenode::sample::Sample;
//! assert!(is_plausible(SystemClock.now()));
//! assert!(!is_plausible(jiff::Timestamp::UNIX_EPOCH));
//!
//! let mut keeper = TimeKeeper::new(720);
//! // 10 s after boot, before SNTP: the sample waits.
//! assert!(keeper.stamp(10_000, Sample::new(0)).is_empty());
//! // SNTP answers at 12 s after boot: 2026-01-01T00:00:02Z.
//! keeper.sync(12_000, "2026-01-01T00:00:02Z".parse()?);
//! let ready = keeper.stamp(15_000, Sample::new(0));
//! let times: Vec<i64> = ready.iter().map(|s| s.timestamp_ms).collect();
//! assert_eq!(times, [1_767_225_600_000, 1_767_225_605_000]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use jiff::{SignedDuration, Timestamp};

use crate::sample::Sample;

/// The date of this release, 2026-11-01T00:00:00Z (bumped with each release): a
/// server's `Date` before it is wrong, whatever the server says.
pub const RELEASE_FLOOR_MS: i64 = 1_793_491_200_000;

/// The furthest a server's `Date` may move the signing clock away from the node's own
/// synchronised clock. A real clock drifts seconds a day; a `Date` a day away comes
/// from a broken or hostile peer, not from S3.
pub const MAX_CLOCK_CORRECTION: SignedDuration = SignedDuration::from_hours(24);

/// How far a recorded sample may lie ahead of the wall clock before the node takes the
/// recorded timeline for the product of a bad clock (an SNTP or RTC glitch, a run with
/// `--start` in the future) and starts a new one instead of refusing every sample.
pub const FUTURE_TOLERANCE: SignedDuration = SignedDuration::from_hours(1);

/// The offset to apply to `local` (the node's synchronised clock) so that it reads
/// like a server whose `Date` said `server`; `None` if that `Date` cannot be trusted:
/// before [`RELEASE_FLOOR_MS`], or more than [`MAX_CLOCK_CORRECTION`] away.
#[must_use]
pub fn bounded_correction(server: Timestamp, local: Timestamp) -> Option<SignedDuration> {
    let offset = server.duration_since(local);
    (server.as_millisecond() >= RELEASE_FLOOR_MS && offset.abs() <= MAX_CLOCK_CORRECTION)
        .then_some(offset)
}

/// Earliest time accepted as a synchronised clock: 2025-01-01T00:00:00Z.
pub const MIN_PLAUSIBLE_MS: i64 = 1_735_689_600_000;

/// Earliest sample time the node records: 2001-01-01T00:00:00Z. Anything earlier comes
/// from an unset clock.
pub const MIN_SAMPLE_MS: i64 = 978_307_200_000;

/// First sample time the node refuses: 2100-01-01T00:00:00Z. Anything later comes from
/// a broken clock or a forged record.
pub const MAX_SAMPLE_MS: i64 = 4_102_444_800_000;

/// A source of the current UTC time.
pub trait WallClock {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The operating system's clock (`std::time::SystemTime`, which ESP-IDF backs with
/// its SNTP-synchronised RTC).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl WallClock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A fixed time, for deterministic signatures in tests.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub Timestamp);

impl WallClock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// Whether `t` can be a synchronised clock's reading (not the 1970 of an unset RTC).
#[must_use]
pub fn is_plausible(t: Timestamp) -> bool {
    t.as_millisecond() >= MIN_PLAUSIBLE_MS
}

/// Gives samples taken on a monotonic clock their UTC time, holding those taken before
/// the first synchronisation (up to a bound, oldest dropped first and counted).
#[derive(Debug, Clone)]
pub struct TimeKeeper {
    /// UTC ms minus monotonic ms, once known.
    offset_ms: Option<i64>,
    pending: Vec<(i64, Sample)>,
    max_pending: usize,
    dropped: u64,
}

impl TimeKeeper {
    /// A keeper holding at most `max_pending` samples before the first sync (size it
    /// for the longest expected wait: 720 samples is one hour at 5 s).
    #[must_use]
    pub fn new(max_pending: usize) -> Self {
        Self {
            offset_ms: None,
            pending: Vec::new(),
            max_pending: max_pending.max(1),
            dropped: 0,
        }
    }

    /// Records a synchronised wall-clock reading `wall` taken at monotonic `mono_ms`;
    /// ignored (returns false) if `wall` is not plausible (an unset RTC). Later syncs
    /// re-anchor, correcting drift.
    pub fn sync(&mut self, mono_ms: i64, wall: Timestamp) -> bool {
        if !is_plausible(wall) {
            return false;
        }
        self.offset_ms = Some(wall.as_millisecond() - mono_ms);
        true
    }

    /// Whether UTC time is known.
    #[must_use]
    pub const fn is_synced(&self) -> bool {
        self.offset_ms.is_some()
    }

    /// Samples dropped because the clock stayed unsynchronised too long.
    #[must_use]
    pub const fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Drops the samples held for want of a sync (the node stops before one), counting
    /// them as dropped; returns how many.
    pub fn drop_held(&mut self) -> usize {
        let n = self.pending.len();
        self.pending.clear();
        self.dropped += n as u64;
        n
    }

    /// Stamps a sample taken at monotonic `mono_ms` (its own timestamp is ignored).
    /// Returns the samples now ready to record, oldest first: none before the first
    /// sync, then any held ones followed by this one.
    pub fn stamp(&mut self, mono_ms: i64, sample: Sample) -> Vec<Sample> {
        match self.offset_ms {
            None => {
                if self.pending.len() == self.max_pending {
                    self.pending.remove(0);
                    self.dropped += 1;
                }
                self.pending.push((mono_ms, sample));
                Vec::new()
            }
            Some(offset) => {
                let mut ready: Vec<Sample> = self
                    .pending
                    .drain(..)
                    .map(|(mono, mut s)| {
                        s.timestamp_ms = mono + offset;
                        s
                    })
                    .collect();
                let mut s = sample;
                s.timestamp_ms = mono_ms + offset;
                ready.push(s);
                ready
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_servers_date_corrects_the_clock_only_within_bounds() {
        let ours: Timestamp = "2026-12-01T12:00:00Z".parse().expect("ts");
        let at = |s: &str| s.parse::<Timestamp>().expect("ts");
        assert_eq!(
            bounded_correction(at("2026-12-01T12:30:00Z"), ours),
            Some(SignedDuration::from_mins(30))
        );
        assert_eq!(
            bounded_correction(at("2026-12-01T11:20:00Z"), ours),
            Some(SignedDuration::from_mins(-40))
        );
        // A `Date` from 2001, from before this release, or days away: never.
        for bad in [
            "2001-01-01T00:00:00Z",
            "2026-10-31T23:59:59Z",
            "2026-12-03T12:00:00Z",
            "2099-12-31T23:50:00Z",
        ] {
            assert_eq!(bounded_correction(at(bad), ours), None, "{bad}");
        }
        assert!(
            RELEASE_FLOOR_MS <= Timestamp::now().as_millisecond(),
            "the release floor lies in the future"
        );
    }

    #[test]
    fn samples_wait_for_the_first_plausible_sync_and_keep_their_spacing() {
        let mut k = TimeKeeper::new(3);
        for mono in [1_000, 6_000, 11_000, 16_000] {
            assert!(k.stamp(mono, Sample::new(0)).is_empty());
        }
        assert_eq!(k.dropped(), 1, "the oldest is dropped beyond the bound");
        assert!(!k.sync(
            17_000,
            Timestamp::UNIX_EPOCH + jiff::SignedDuration::from_secs(17)
        ));
        assert!(!k.is_synced());
        assert!(k.sync(17_000, "2026-03-01T00:00:00Z".parse().expect("ts")));
        let t: Vec<i64> = k
            .stamp(21_000, Sample::new(0))
            .iter()
            .map(|s| s.timestamp_ms)
            .collect();
        let base = 1_772_323_200_000 - 17_000;
        assert_eq!(
            t,
            [base + 6_000, base + 11_000, base + 16_000, base + 21_000]
        );
        assert!(t.iter().all(|&ms| ms >= MIN_PLAUSIBLE_MS));
    }
}
