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

    /// The state of a [`SensorState::name`]; `None` for any other text.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Unknown, Self::Ok, Self::Missing, Self::Failing]
            .into_iter()
            .find(|s| s.name() == name)
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

/// The usual station: a BME280 and an SCD4x on I2C (two handles to one bus, e.g.
/// `embedded-hal-bus` devices), a PMS5003 whose UART bytes are [`StationSensors::feed`],
/// or, in bench mode, the core's simulator instead of all three.
///
/// ```
/// use embedded_hal_mock::eh1::i2c::Mock;
/// use lakenode::sensors::StationSensors;
/// #[derive(Clone)]
/// struct NoopDelay;
/// impl embedded_hal::delay::DelayNs for NoopDelay {
///     fn delay_ns(&mut self, _: u32) {}
/// }
/// let (mut bme, mut scd) = (Mock::new(&[]), Mock::new(&[]));
/// let mut sensors = StationSensors::simulated(7, bme.clone(), scd.clone(), NoopDelay);
/// let sample = sensors.read(1_767_225_600_000);
/// assert!(sample.value(lakenode::schema::Measurement::Temperature).is_some());
/// bme.done(); // bench mode touched no bus
/// scd.done();
/// ```
pub struct StationSensors<B, S, D> {
    /// Temperature, humidity, pressure.
    pub bme280: bme280::Bme280<B>,
    /// CO2.
    pub scd4x: scd4x::Scd4x<S, D>,
    /// PM1, PM2.5, PM10.
    pub pms5003: pms5003::Pms5003,
    /// Bench mode: simulated readings instead of the sensors.
    pub simulator: Option<crate::sim::Simulator>,
    delay: D,
}

impl<B, S, D> StationSensors<B, S, D>
where
    B: embedded_hal::i2c::I2c,
    S: embedded_hal::i2c::I2c,
    D: embedded_hal::delay::DelayNs + Clone,
{
    /// The three sensors (BME280 at 0x76, SCD4x at 0x62).
    pub fn new(bme280: B, scd4x: S, delay: D) -> Self {
        Self {
            bme280: bme280::Bme280::new(bme280),
            scd4x: scd4x::Scd4x::new(scd4x, delay.clone()),
            pms5003: pms5003::Pms5003::new(),
            simulator: None,
            delay,
        }
    }

    /// Bench mode: [`StationSensors::read`] gives the simulator's readings of `seed`.
    pub fn simulated(seed: u64, bme280: B, scd4x: S, delay: D) -> Self {
        Self {
            simulator: Some(crate::sim::Simulator::new(seed)),
            ..Self::new(bme280, scd4x, delay)
        }
    }

    /// Bytes from the PMS5003's UART.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.pms5003.feed(bytes);
    }

    /// A sample of every sensor (nulls where one fails; its health says why), for the
    /// instant `at_ms` (only the simulator uses it: the station dates samples).
    pub fn read(&mut self, at_ms: i64) -> crate::sample::Sample {
        if let Some(sim) = &self.simulator {
            return sim.sample_at(at_ms);
        }
        let mut sample = crate::sample::Sample::new(at_ms);
        self.bme280.read(&mut self.delay, &mut sample);
        self.scd4x.read(&mut sample);
        self.pms5003.read(&mut sample);
        sample
    }

    /// Each sensor's state and failure count into a health row.
    pub fn fill_health(&self, row: &mut crate::health::HealthRow) {
        row.bme280 = Some(self.bme280.health);
        row.scd4x = Some(self.scd4x.health);
        row.pms5003 = Some(self.pms5003.health);
    }
}
