//! Wall-clock time for signing requests.
//!
//! Sample timestamps come from whoever takes the samples (the sensor loop, a CSV file,
//! or the simulator's virtual time); signatures need the real time, since S3 refuses a
//! signature more than 15 minutes off. A node that has not synchronised its clock yet
//! (the ESP32 starts in 1970) must not sign: [`is_plausible`] tells.
//!
//! ```
//! use lakenode::clock::{is_plausible, SystemClock, WallClock};
//! assert!(is_plausible(SystemClock.now()));
//! assert!(!is_plausible(jiff::Timestamp::UNIX_EPOCH));
//! ```

use jiff::Timestamp;

/// Earliest time accepted as a synchronised clock: 2025-01-01T00:00:00Z.
pub const MIN_PLAUSIBLE_MS: i64 = 1_735_689_600_000;

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
