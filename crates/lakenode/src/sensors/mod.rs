//! Sensor glue that runs and is tested on the host: drivers over embedded-hal 1.0 traits
//! (the firmware hands them esp-idf-hal's I2C and UART), and the PMS5003 frame decoder.
//!
//! A missing or failing sensor never stops the node: its measurements are null in that
//! sample and its [`SensorHealth`] says what happened, for the health row.
//!
//! Wiring on a station: BME280 (temperature, humidity, pressure) and SCD4x (CO2) share
//! one I2C bus; the PMS5003 (PM1, PM2.5, PM10) streams frames on a UART.

pub mod bme280;
pub mod pms5003;
pub mod scd4x;

/// What a sensor did lately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SensorState {
    /// Not read yet.
    #[default]
    Unknown,
    /// The last read gave valid values.
    Ok,
    /// The device does not answer (absent, unpowered, wrong address or wiring).
    Missing,
    /// The device answers with errors, bad checksums or out-of-range values.
    Failing,
}

impl SensorState {
    /// Short name for health rows and logs.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Ok => "ok",
            Self::Missing => "missing",
            Self::Failing => "failing",
        }
    }
}

/// A sensor's state and failure counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SensorHealth {
    /// The state after the last read.
    pub state: SensorState,
    /// Reads that failed since the node started.
    pub failures: u32,
}

impl SensorHealth {
    pub(crate) fn ok(&mut self) {
        self.state = SensorState::Ok;
    }

    pub(crate) fn failed(&mut self, state: SensorState) {
        self.state = state;
        self.failures = self.failures.saturating_add(1);
    }
}
