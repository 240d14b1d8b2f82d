//! Clock-aligned windows: samples are batched into windows that start on UTC
//! boundaries (every 15 minutes by default), one file per window.
//!
//! A window is sealed when the first sample of a later window arrives, or when the
//! node flushes (end of input, shutdown). A window cut short still becomes a file of
//! its own; see [`crate::layout`] for how such files get distinct keys.
//!
//! ```
//! use lakenode::{sample::Sample, window::{WindowSpec, Windower}};
//!
//! let spec = WindowSpec::new(5_000, 900_000)?; // 5 s samples, 15 min windows
//! let mut w = Windower::new(spec);
//! assert!(w.push(Sample::new(899_995))?.is_none());
//! let sealed = w.push(Sample::new(900_000))?.expect("a new window seals the old one");
//! assert_eq!((sealed.start_ms, sealed.end_ms, sealed.samples.len()), (0, 900_000, 1));
//! # Ok::<(), lakenode::Error>(())
//! ```

use crate::sample::Sample;
use crate::{Error, Result};

const MS_PER_DAY: i64 = 86_400_000;

/// Sampling interval and window length, validated together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    interval_ms: i64,
    window_ms: i64,
}

impl Default for WindowSpec {
    /// A sample every 5 s, 15-minute windows.
    fn default() -> Self {
        Self {
            interval_ms: 5_000,
            window_ms: 900_000,
        }
    }
}

impl WindowSpec {
    /// Builds a spec.
    ///
    /// # Errors
    /// [`Error::Config`] unless the interval is a whole number of seconds (at least
    /// one), the window a whole number of minutes that divides a day (so windows line
    /// up with UTC midnight and keys can name them `HHMM`), and the window a multiple
    /// of the interval.
    pub fn new(interval_ms: i64, window_ms: i64) -> Result<Self> {
        // As people write durations ("1m 30s"), not milliseconds.
        let human = |ms: i64| format!("{:#}", jiff::SignedDuration::from_millis(ms));
        if interval_ms < 1000 || interval_ms % 1000 != 0 {
            return Err(Error::config(
                "interval",
                format!(
                    "must be a whole number of seconds, at least 1 s (got {})",
                    human(interval_ms)
                ),
            ));
        }
        if window_ms < 60_000 || window_ms % 60_000 != 0 || MS_PER_DAY % window_ms != 0 {
            return Err(Error::config(
                "window",
                format!(
                    "must be a whole number of minutes that divides 24 h, like 5m, 15m or 1h (got {})",
                    human(window_ms)
                ),
            ));
        }
        if window_ms % interval_ms != 0 {
            return Err(Error::config(
                "window",
                format!(
                    "must be a multiple of the interval ({} is not a multiple of {})",
                    human(window_ms),
                    human(interval_ms)
                ),
            ));
        }
        Ok(Self {
            interval_ms,
            window_ms,
        })
    }

    /// Milliseconds between samples.
    #[must_use]
    pub const fn interval_ms(self) -> i64 {
        self.interval_ms
    }

    /// Milliseconds per window.
    #[must_use]
    pub const fn window_ms(self) -> i64 {
        self.window_ms
    }

    /// Samples in a full window.
    #[must_use]
    pub const fn samples_per_window(self) -> i64 {
        self.window_ms / self.interval_ms
    }

    /// Start of the window holding `timestamp_ms` (floor, also before 1970).
    #[must_use]
    pub const fn window_start(self, timestamp_ms: i64) -> i64 {
        timestamp_ms.div_euclid(self.window_ms) * self.window_ms
    }
}

/// A window of samples: `[start_ms, end_ms)` in UTC milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Inclusive start, on a window boundary.
    pub start_ms: i64,
    /// Exclusive end: `start_ms + window length`.
    pub end_ms: i64,
    /// Samples in strictly increasing time order; never empty once sealed.
    pub samples: Vec<Sample>,
}

impl Window {
    /// Timestamp of the first sample.
    #[must_use]
    pub fn first_ms(&self) -> Option<i64> {
        self.samples.first().map(|s| s.timestamp_ms)
    }

    /// Timestamp of the last sample.
    #[must_use]
    pub fn last_ms(&self) -> Option<i64> {
        self.samples.last().map(|s| s.timestamp_ms)
    }

    /// Whether the window's data starts later than the window itself (the node started
    /// or restarted inside it): its file must then get a key of its own.
    #[must_use]
    pub fn starts_late(&self) -> bool {
        self.first_ms().is_some_and(|t| t != self.start_ms)
    }
}

/// Batches samples into windows; sans-IO, so it is driven by whoever has the samples.
#[derive(Debug)]
pub struct Windower {
    spec: WindowSpec,
    current: Option<Window>,
}

impl Windower {
    /// A windower with no open window.
    #[must_use]
    pub const fn new(spec: WindowSpec) -> Self {
        Self {
            spec,
            current: None,
        }
    }

    /// The spec in use.
    #[must_use]
    pub const fn spec(&self) -> WindowSpec {
        self.spec
    }

    /// The window being filled, if any.
    #[must_use]
    pub const fn open_window(&self) -> Option<&Window> {
        self.current.as_ref()
    }

    /// Adds a sample; returns the previous window if this sample sealed it.
    ///
    /// # Errors
    /// [`Error::OutOfOrder`] if the sample is not later than the previous one (the
    /// sample is dropped, the open window is untouched).
    pub fn push(&mut self, sample: Sample) -> Result<Option<Window>> {
        let start = self.spec.window_start(sample.timestamp_ms);
        if let Some(last) = self.current.as_ref().and_then(Window::last_ms)
            && sample.timestamp_ms <= last
        {
            return Err(Error::OutOfOrder {
                timestamp_ms: sample.timestamp_ms,
                previous_ms: last,
            });
        }
        let sealed = match &self.current {
            Some(open) if open.start_ms == start => None,
            _ => self.current.take(),
        };
        let spec = self.spec;
        let window = self.current.get_or_insert_with(|| Window {
            start_ms: start,
            end_ms: start + spec.window_ms,
            // Reserve a full window once: no regrowth while sampling.
            samples: Vec::with_capacity(usize::try_from(spec.samples_per_window()).unwrap_or(0)),
        });
        window.samples.push(sample);
        Ok(sealed.filter(|w| !w.samples.is_empty()))
    }

    /// Seals the open window now (end of input, shutdown), if it has samples.
    pub fn flush(&mut self) -> Option<Window> {
        self.current.take().filter(|w| !w.samples.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> WindowSpec {
        WindowSpec::new(5_000, 900_000).expect("valid spec")
    }

    #[test]
    fn spec_validation_names_the_field() {
        assert!(WindowSpec::new(5_000, 900_000).is_ok());
        assert!(WindowSpec::new(1_000, 60_000).is_ok());
        assert!(WindowSpec::new(60_000, 86_400_000).is_ok());
        // Durations as people write them, not milliseconds.
        let e = WindowSpec::new(1_500, 900_000).expect_err("not whole seconds");
        assert!(e.to_string().starts_with("invalid interval"), "{e}");
        assert!(e.to_string().ends_with("(got 1s 500ms)"), "{e}");
        let e = WindowSpec::new(5_000, 90_000).expect_err("not whole minutes");
        assert!(e.to_string().starts_with("invalid window"), "{e}");
        assert!(e.to_string().ends_with("(got 1m 30s)"), "{e}");
        let e = WindowSpec::new(5_000, 7 * 60_000).expect_err("7 min does not divide a day");
        assert!(e.to_string().ends_with("(got 7m)"), "{e}");
        let e = WindowSpec::new(7_000, 900_000).expect_err("not a multiple");
        assert!(
            e.to_string()
                .ends_with("multiple of the interval (15m is not a multiple of 7s)"),
            "{e}"
        );
        assert!(WindowSpec::new(5_000, 90_000 + 500).is_err());
    }

    #[test]
    fn window_start_floors_including_before_epoch() {
        let s = spec();
        assert_eq!(s.window_start(0), 0);
        assert_eq!(s.window_start(899_999), 0);
        assert_eq!(s.window_start(900_000), 900_000);
        assert_eq!(s.window_start(-1), -900_000);
    }

    #[test]
    fn two_hours_of_samples_make_eight_full_windows() {
        let mut w = Windower::new(spec());
        let mut sealed = Vec::new();
        for i in 0..1440 {
            sealed.extend(w.push(Sample::new(i * 5_000)).expect("in order"));
        }
        sealed.extend(w.flush());
        assert_eq!(sealed.len(), 8);
        assert!(
            sealed
                .iter()
                .all(|win| win.samples.len() == 180 && !win.starts_late())
        );
        assert_eq!(sealed[7].start_ms, 7 * 900_000);
        assert!(w.flush().is_none());
    }

    #[test]
    fn gaps_skip_windows_and_late_starts_are_flagged() {
        let mut w = Windower::new(spec());
        assert!(w.push(Sample::new(100_000)).expect("ok").is_none());
        let first = w
            .push(Sample::new(3 * 900_000 + 5_000))
            .expect("ok")
            .expect("sealed");
        assert_eq!(first.start_ms, 0);
        assert!(first.starts_late());
        let second = w.flush().expect("open window");
        assert_eq!(second.start_ms, 2_700_000);
        assert!(second.starts_late());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn spec() -> impl Strategy<Value = WindowSpec> {
            (
                prop::sample::select(vec![1i64, 2, 5, 10, 30, 60]),
                prop::sample::select(vec![1i64, 5, 15, 30, 60, 1440]),
            )
                .prop_map(|(s, m)| WindowSpec::new(s * 1000, m * 60_000).expect("valid spec"))
        }

        proptest! {
            #[test]
            fn window_start_is_aligned_and_holds_the_instant(spec in spec(), t in -4_000_000_000_000i64..4_000_000_000_000) {
                let start = spec.window_start(t);
                prop_assert_eq!(start.rem_euclid(spec.window_ms()), 0);
                prop_assert!(start <= t && t < start + spec.window_ms());
            }

            #[test]
            fn sealed_windows_hold_only_their_own_samples(spec in spec(), t0 in 0i64..4_000_000_000_000, steps in prop::collection::vec(1i64..2_000, 1..400)) {
                let mut w = Windower::new(spec);
                let mut t = t0;
                let mut sealed = Vec::new();
                let mut count = 0;
                for step in steps {
                    t += step * 1_000;
                    count += 1;
                    sealed.extend(w.push(Sample::new(t)).expect("increasing"));
                }
                sealed.extend(w.flush());
                let total: usize = sealed.iter().map(|x| x.samples.len()).sum();
                prop_assert_eq!(total, count);
                for win in &sealed {
                    prop_assert!(win.samples.iter().all(|s| spec.window_start(s.timestamp_ms) == win.start_ms));
                    prop_assert_eq!(win.end_ms - win.start_ms, spec.window_ms());
                }
                prop_assert!(sealed.windows(2).all(|p| p[0].start_ms < p[1].start_ms));
            }
        }
    }

    #[test]
    fn out_of_order_and_duplicate_samples_are_refused_without_damage() {
        let mut w = Windower::new(spec());
        w.push(Sample::new(10_000)).expect("ok");
        assert!(matches!(
            w.push(Sample::new(10_000)),
            Err(Error::OutOfOrder { .. })
        ));
        assert!(matches!(
            w.push(Sample::new(5_000)),
            Err(Error::OutOfOrder { .. })
        ));
        assert_eq!(w.flush().expect("open").samples.len(), 1);
    }
}
