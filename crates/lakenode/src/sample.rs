//! One reading of all sensors at one instant, validated and quantized.
//!
//! A raw reading becomes an integer count at the sensor's resolution, or null when it
//! is not a number or outside the sensor's physical range: a failed reading is never
//! replaced by a made-up value.
//!
//! ```
//! use lakenode::sample::{InvalidReading, Sample};
//! use lakenode::schema::Measurement::{Humidity, Temperature};
//!
//! let mut s = Sample::new(1_767_225_600_000);
//! assert_eq!(s.record(Temperature, 21.374), Ok(2137));
//! assert_eq!(s.value(Temperature), Some(21.37));
//! assert!(matches!(s.record(Humidity, f64::NAN), Err(InvalidReading::NotFinite)));
//! assert_eq!(s.count(Humidity), None);
//! ```

use crate::schema::Measurement;

/// Why a raw reading was stored as null.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InvalidReading {
    /// NaN or infinite.
    NotFinite,
    /// Outside the sensor's physical range.
    OutOfRange {
        /// The rejected value, in the measurement's unit.
        value: f64,
        /// Lowest valid value.
        min: f64,
        /// Highest valid value.
        max: f64,
    },
}

impl std::fmt::Display for InvalidReading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFinite => f.write_str("not a finite number"),
            Self::OutOfRange { value, min, max } => {
                write!(f, "{value} is outside the sensor range {min}..={max}")
            }
        }
    }
}

impl std::error::Error for InvalidReading {}

/// Validates and quantizes a raw reading to an integer count of the sensor resolution.
///
/// # Errors
/// [`InvalidReading`] for NaN, infinities and values outside [`Measurement::range`].
pub fn quantize(m: Measurement, raw: f64) -> Result<i32, InvalidReading> {
    if !raw.is_finite() {
        return Err(InvalidReading::NotFinite);
    }
    let (min, max) = m.range();
    if raw < min || raw > max {
        return Err(InvalidReading::OutOfRange {
            value: raw,
            min,
            max,
        });
    }
    // In range, so the product is far inside i32 (largest: 40_000 ppm x 1).
    #[allow(clippy::cast_possible_truncation)]
    Ok((raw * f64::from(m.scale())).round() as i32)
}

/// Converts a count back to units, as f64 (exact to the resolution's decimals when
/// printed with them).
#[must_use]
pub fn count_to_f64(m: Measurement, count: i32) -> f64 {
    f64::from(count) / f64::from(m.scale())
}

/// Converts a count to the f32 written in FLOAT columns: the f32 nearest to the value.
#[must_use]
#[allow(clippy::cast_precision_loss)] // counts stay below 2^24, exact in f32
pub fn count_to_f32(m: Measurement, count: i32) -> f32 {
    count as f32 / m.scale() as f32
}

/// A sample: UTC time in milliseconds and one optional count per measurement.
///
/// Fixed size, no heap: a window of samples is one contiguous allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Milliseconds since the Unix epoch, UTC.
    pub timestamp_ms: i64,
    values: [Option<i32>; Measurement::COUNT],
}

impl Sample {
    /// A sample at `timestamp_ms` with every measurement null.
    #[must_use]
    pub const fn new(timestamp_ms: i64) -> Self {
        Self {
            timestamp_ms,
            values: [None; Measurement::COUNT],
        }
    }

    /// Records a raw reading: stores its count, or null if it is invalid.
    ///
    /// # Errors
    /// Returns why the reading was stored as null, for logging and health counters.
    pub fn record(&mut self, m: Measurement, raw: f64) -> Result<i32, InvalidReading> {
        let q = quantize(m, raw);
        self.values[m.index()] = q.ok();
        q
    }

    /// Stores an already quantized count (or null), e.g. when replaying stored samples.
    pub fn set_count(&mut self, m: Measurement, count: Option<i32>) {
        self.values[m.index()] = count;
    }

    /// The count of `m`, or `None` if the reading failed or was not taken.
    #[must_use]
    pub const fn count(&self, m: Measurement) -> Option<i32> {
        self.values[m.index()]
    }

    /// Why this sample cannot have been recorded by a sensor, if it cannot: a count
    /// outside its measurement's physical range (counts are set unchecked when stored
    /// samples are replayed; a forged or damaged record must not reach a file, where an
    /// overflowing count would read as another number).
    #[must_use]
    pub fn implausible(&self) -> Option<&'static str> {
        Measurement::ALL.iter().find_map(|&m| {
            let count = self.count(m)?;
            let (min, max) = m.range();
            let value = count_to_f64(m, count);
            (value < min || value > max).then_some("a reading outside its sensor's range")
        })
    }

    /// The value of `m` in its unit.
    #[must_use]
    pub fn value(&self, m: Measurement) -> Option<f64> {
        self.count(m).map(|c| count_to_f64(m, c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Measurement::*;

    #[test]
    fn quantizes_to_resolution_with_rounding() {
        assert_eq!(quantize(Temperature, 21.374), Ok(2137));
        assert_eq!(quantize(Temperature, -0.005), Ok(-1));
        assert_eq!(quantize(Pressure, 1013.254), Ok(101_325));
        assert_eq!(quantize(Pm25, 12.5), Ok(13));
        assert_eq!(quantize(Battery, 3.7016), Ok(3702));
    }

    #[test]
    fn rejects_non_finite_and_out_of_range() {
        assert_eq!(
            quantize(Temperature, f64::NAN),
            Err(InvalidReading::NotFinite)
        );
        assert_eq!(quantize(Co2, f64::INFINITY), Err(InvalidReading::NotFinite));
        assert!(matches!(
            quantize(Humidity, 100.5),
            Err(InvalidReading::OutOfRange { .. })
        ));
        assert!(matches!(
            quantize(Temperature, -41.0),
            Err(InvalidReading::OutOfRange { .. })
        ));
        assert!(matches!(
            quantize(VocIndex, 0.0),
            Err(InvalidReading::OutOfRange { .. })
        ));
        // The range is inclusive.
        assert_eq!(quantize(Humidity, 100.0), Ok(10_000));
    }

    #[test]
    fn invalid_reading_clears_a_previous_value() {
        let mut s = Sample::new(0);
        s.record(Pm10, 20.0).expect("valid");
        assert!(s.record(Pm10, -3.0).is_err());
        assert_eq!(s.count(Pm10), None);
    }

    #[test]
    fn f32_conversion_round_trips_at_resolution_over_each_range() {
        for m in Measurement::ALL {
            let (min, max) = m.range();
            let scale = f64::from(m.scale());
            let (lo, hi) = ((min * scale) as i32, (max * scale) as i32);
            let step = ((hi - lo) / 5000).max(1);
            for c in (lo..=hi).step_by(step as usize) {
                let back = (f64::from(count_to_f32(m, c)) * scale).round() as i32;
                assert_eq!(back, c, "{m} count {c}");
            }
        }
    }
}
