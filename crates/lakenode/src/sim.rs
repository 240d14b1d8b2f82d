//! A deterministic, realistic sensor simulator for bench tests, demos and the host CLI.
//!
//! The reading at time `t` is a pure function of `(seed, t)`: noise comes from a
//! counter-based generator (a hash of seed, stream and time) instead of a stateful
//! RNG, so a simulation can stop and resume anywhere, and a test can recompute what
//! any sample must contain without replaying history.
//!
//! The model: diurnal temperature (peak mid-afternoon UTC) with weather drift,
//! humidity moving against temperature, slow pressure systems, particulate episodes
//! that rise sharply and decay over tens of minutes, CO2 swings, a VOC index, and a
//! solar-charged battery that sags at night. Values are quantized to what the real
//! sensors report. About 0.3% of readings fail (NaN, or a glitch outside the sensor's
//! range) and are stored as null, like on real hardware.
//!
//! ```
//! use lakenode::sim::Simulator;
//! use lakenode::schema::Measurement;
//!
//! let sim = Simulator::new(7);
//! let a = sim.sample_at(1_767_225_600_000);
//! assert_eq!(a, sim.sample_at(1_767_225_600_000)); // pure function of (seed, t)
//! let t = a.value(Measurement::Temperature);
//! assert!(t.is_none() || (-40.0..=85.0).contains(&t.unwrap_or_default()));
//! ```

use std::f64::consts::TAU;

use crate::sample::Sample;
use crate::schema::Measurement;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// SplitMix64's finalizer: a fast, well-mixed 64-bit hash. Written out here because it
/// is six lines and a counter-based generator needs exactly this (RNG crates are
/// stateful streams).
#[must_use]
pub const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Noise streams, one per independent quantity.
#[derive(Debug, Clone, Copy)]
#[repr(u64)]
enum Stream {
    Temperature = 1,
    TemperatureFast,
    Humidity,
    Pressure,
    PressureFast,
    Particles,
    Episode,
    Co2,
    Voc,
    Battery,
    Failure,
    White,
}

/// A simulated station.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Simulator {
    seed: u64,
}

impl Simulator {
    /// A station whose readings are determined by `seed`.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self {
            seed: mix64(seed ^ 0x6C61_6B65_6E6F_6465),
        }
    }

    /// Uniform in `[0, 1)` for `(stream, counter)`.
    #[allow(clippy::cast_precision_loss, clippy::cast_sign_loss)]
    fn uniform(&self, stream: Stream, counter: i64) -> f64 {
        let h = mix64(
            self.seed ^ mix64((stream as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ counter as u64),
        );
        (h >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal for `(stream, counter)` (Box-Muller).
    fn normal(&self, stream: Stream, counter: i64) -> f64 {
        let u1 = self
            .uniform(stream, counter.wrapping_mul(2))
            .max(f64::MIN_POSITIVE);
        let u2 = self.uniform(stream, counter.wrapping_mul(2).wrapping_add(1));
        (-2.0 * u1.ln()).sqrt() * (TAU * u2).cos()
    }

    /// Smooth value noise in about `[-1, 1]` varying over `period_ms`.
    #[allow(clippy::cast_precision_loss)]
    fn smooth(&self, stream: Stream, t: i64, period_ms: i64) -> f64 {
        let cell = t.div_euclid(period_ms);
        let frac = t.rem_euclid(period_ms) as f64 / period_ms as f64;
        let a = self.uniform(stream, cell) * 2.0 - 1.0;
        let b = self.uniform(stream, cell + 1) * 2.0 - 1.0;
        let w = (1.0 - (frac * std::f64::consts::PI).cos()) / 2.0;
        a + (b - a) * w
    }

    /// Particulate episodes (ug/m3 of PM2.5 above background): each hour may start one
    /// at a random minute; it decays with a 40-minute time constant.
    #[allow(clippy::cast_precision_loss)]
    fn episodes(&self, t: i64) -> f64 {
        let hour = t.div_euclid(HOUR);
        (hour - 4..=hour)
            .filter(|&h| self.uniform(Stream::Episode, h * 3) < 0.15)
            .map(|h| {
                let start =
                    h * HOUR + (self.uniform(Stream::Episode, h * 3 + 1) * HOUR as f64) as i64;
                if t < start {
                    return 0.0;
                }
                let peak = 10.0 + 70.0 * self.uniform(Stream::Episode, h * 3 + 2).powi(2);
                peak * (-((t - start) as f64) / (40.0 * MINUTE as f64)).exp()
            })
            .sum()
    }

    /// The raw (unquantized, never failing) values at `t`, in canonical order: what an
    /// ideal sensor would report before rounding to its resolution.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn raw_values(&self, t: i64) -> [f64; Measurement::COUNT] {
        let hour_of_day = t.rem_euclid(DAY) as f64 / HOUR as f64;
        let diurnal = (TAU * (hour_of_day - 15.0) / 24.0).cos(); // 1 at 15:00 UTC
        let sun = (TAU * (hour_of_day - 6.0) / 24.0).sin().max(0.0); // daylight 06-18
        let step = t.div_euclid(1000);

        let temperature = 11.0
            + 6.0 * diurnal
            + 3.0 * self.smooth(Stream::Temperature, t, 6 * HOUR)
            + 0.8 * self.smooth(Stream::TemperatureFast, t, 45 * MINUTE)
            + 0.03 * self.normal(Stream::White, step * 16);
        let humidity = (65.0 - 2.2 * (temperature - 11.0)
            + 10.0 * self.smooth(Stream::Humidity, t, 8 * HOUR)
            + 0.2 * self.normal(Stream::White, step * 16 + 1))
        .clamp(8.0, 100.0);
        let pressure = 1013.0
            + 12.0 * self.smooth(Stream::Pressure, t, 3 * DAY)
            + 3.0 * self.smooth(Stream::PressureFast, t, 12 * HOUR)
            + 0.02 * self.normal(Stream::White, step * 16 + 2);
        let pm25 = (5.0
            + 3.0 * self.smooth(Stream::Particles, t, 10 * HOUR)
            + self.episodes(t)
            + 0.7 * self.normal(Stream::White, step * 16 + 3))
        .max(0.0);
        let pm1 = (0.68 * pm25 + 0.4 * self.normal(Stream::White, step * 16 + 4)).max(0.0);
        let pm10 = (1.35 * pm25 + 2.0 + 1.5 * self.normal(Stream::White, step * 16 + 5)).max(0.0);
        let co2 = 430.0
            + 25.0 * self.smooth(Stream::Co2, t, 5 * HOUR).abs()
            + 140.0
                * (TAU * (hour_of_day - 8.0) / 24.0).sin().max(0.0)
                * (0.6 + 0.4 * self.smooth(Stream::Co2, t, 2 * HOUR))
            + 4.0 * self.normal(Stream::White, step * 16 + 6);
        let voc = (100.0
            + 35.0 * self.smooth(Stream::Voc, t, 3 * HOUR)
            + 0.8 * self.episodes(t)
            + 2.0 * self.normal(Stream::White, step * 16 + 7))
        .clamp(1.0, 500.0);
        let battery = 3.78 + 0.32 * sun - 0.05 * self.smooth(Stream::Battery, t, 2 * DAY)
            + 0.002 * self.normal(Stream::White, step * 16 + 8);
        [
            temperature,
            humidity,
            pressure,
            pm1,
            pm25,
            pm10,
            co2,
            voc,
            battery,
        ]
    }

    /// The sample a station with this seed takes at `timestamp_ms`.
    #[must_use]
    pub fn sample_at(&self, timestamp_ms: i64) -> Sample {
        let mut sample = Sample::new(timestamp_ms);
        let raw = self.raw_values(timestamp_ms);
        let step = timestamp_ms.div_euclid(1000);
        for m in Measurement::ALL {
            let i = i64::try_from(m.index()).unwrap_or_default();
            let fate = self.uniform(Stream::Failure, step * 16 + i);
            let reading = if fate < 0.002 {
                f64::NAN // the sensor did not answer
            } else if fate < 0.003 {
                // A corrupted frame: far outside the physical range, rejected by validation.
                m.range().1 * 100.0 + 1.0
            } else {
                raw[m.index()]
            };
            // An invalid reading becomes null inside `record`; nothing else to do here.
            let _ = sample.record(m, reading);
        }
        sample
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    #[test]
    fn deterministic_per_seed_and_different_across_seeds() {
        let a = Simulator::new(1);
        let b = Simulator::new(2);
        assert_eq!(
            a.sample_at(T0 + 5_000),
            Simulator::new(1).sample_at(T0 + 5_000)
        );
        let differs = (0..100).any(|i| a.sample_at(T0 + i * 5_000) != b.sample_at(T0 + i * 5_000));
        assert!(differs);
    }

    #[test]
    fn a_day_is_realistic_and_has_a_few_failed_readings() {
        let sim = Simulator::new(42);
        let samples: Vec<_> = (0..17_280).map(|i| sim.sample_at(T0 + i * 5_000)).collect();
        let values = |m: Measurement| samples.iter().filter_map(move |s| s.value(m));
        let nulls: usize = Measurement::ALL
            .iter()
            .map(|&m| samples.len() - values(m).count())
            .sum();
        let total = samples.len() * Measurement::COUNT;
        // ~0.3% of readings fail; allow generous statistical slack.
        assert!(
            nulls > total / 1000 && nulls < total / 100,
            "{nulls} nulls of {total}"
        );

        let (tmin, tmax) = values(Measurement::Temperature)
            .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
        assert!(
            tmax - tmin > 5.0 && tmin > -20.0 && tmax < 40.0,
            "temperature {tmin}..{tmax}"
        );
        let pmax = values(Measurement::Pm25).fold(0.0, f64::max);
        assert!(pmax > 15.0, "expected a PM episode in a day, max {pmax}");
        assert!(values(Measurement::Pressure).all(|p| (950.0..1080.0).contains(&p)));
        assert!(values(Measurement::Battery).all(|v| (3.5..4.3).contains(&v)));
        // Quantized to sensor resolution.
        assert!(values(Measurement::Pm25).all(|v| v.fract() == 0.0));
        for s in &samples[..100] {
            if let Some(c) = s.count(Measurement::Temperature) {
                assert!(
                    (s.value(Measurement::Temperature).unwrap_or_default() * 100.0 - f64::from(c))
                        .abs()
                        < 1e-6
                );
            }
        }
    }
}
