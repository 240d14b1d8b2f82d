//! Real sensors on a Linux gateway (a Raspberry Pi with an Enviro+-style board): the
//! core's drivers (BME280 and SCD4x over embedded-hal I2C, the PMS5003 frame decoder)
//! wired to Linux's `/dev/i2c-N` (`linux-embedded-hal`) and a serial port (`serialport`).
//!
//! Only wiring lives here; the drivers and their failure handling are the firmware's
//! (`lakenode::sensors`). A sensor that is absent or failing gives nulls for its
//! measurements and counts in the health row; when it answers again it is read again.
//!
//! ```no_run
//! use lakenode_cli::sensors::{SensorArgs, open};
//! let args = SensorArgs { bme280: Some("/dev/i2c-1:0x76".into()), scd4x: None, pms5003: None };
//! let mut sensors = open(&args)?.expect("a sensor was given");
//! let sample = sensors.read(1_767_225_600_000);
//! # Ok::<(), lakenode_cli::error::CliError>(())
//! ```

use std::path::PathBuf;

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;
use lakenode::Sample;
use lakenode::health::HealthRow;
use lakenode::schema::Measurement;
use lakenode::sensors::bme280::Bme280;
use lakenode::sensors::pms5003::Pms5003;
use lakenode::sensors::scd4x::Scd4x;
use lakenode::sensors::{SensorHealth, SensorState};

use crate::error::{CliError, CliResult};

/// Which sensors `run` reads, as given on the command line or in the config file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SensorArgs {
    /// BME280 (temperature, humidity, pressure) on this I2C bus, e.g. /dev/i2c-1 or
    /// /dev/i2c-1:0x77 (default address 0x76).
    #[arg(long)]
    pub bme280: Option<String>,
    /// SCD4x (CO2) on this I2C bus (address 0x62), e.g. /dev/i2c-1.
    #[arg(long)]
    pub scd4x: Option<String>,
    /// PMS5003 (PM1, PM2.5, PM10) on this serial port (9600 baud), e.g. /dev/ttyAMA0.
    #[arg(long)]
    pub pms5003: Option<String>,
}

impl SensorArgs {
    /// Whether any sensor is given.
    #[must_use]
    pub const fn any(&self) -> bool {
        self.bme280.is_some() || self.scd4x.is_some() || self.pms5003.is_some()
    }

    /// The measurements the given sensors provide, in schema order.
    #[must_use]
    pub fn measurements(&self) -> Vec<Measurement> {
        use Measurement::{Co2, Humidity, Pm1, Pm10, Pm25, Pressure, Temperature};
        let mut out = Vec::new();
        if self.bme280.is_some() {
            out.extend([Temperature, Humidity, Pressure]);
        }
        if self.pms5003.is_some() {
            out.extend([Pm1, Pm25, Pm10]);
        }
        if self.scd4x.is_some() {
            out.push(Co2);
        }
        out
    }
}

/// `/dev/i2c-1` or `/dev/i2c-1:0x76`: the bus device and the address (or `default`).
///
/// # Errors
/// A message naming the flag for a malformed address.
pub fn parse_i2c(flag: &str, text: &str, default: u8) -> CliResult<(PathBuf, u8)> {
    let (path, address) = match text.rsplit_once(':') {
        Some((path, addr)) => {
            let digits = addr.strip_prefix("0x").or_else(|| addr.strip_prefix("0X"));
            let parsed = match digits {
                Some(hex) => u8::from_str_radix(hex, 16).ok(),
                None => addr.parse().ok(),
            };
            let address = parsed
                .filter(|a| (0x03..=0x77).contains(a))
                .ok_or_else(|| {
                    CliError::Usage(format!(
                        "--{flag} {text}: {addr:?} is not a 7-bit I2C address (0x03 to 0x77)"
                    ))
                })?;
            (path, address)
        }
        None => (text, default),
    };
    if path.is_empty() {
        return Err(CliError::Usage(format!("--{flag} {text}: no device path")));
    }
    Ok((PathBuf::from(path), address))
}

/// Bytes from the PMS5003's serial port, whatever has arrived, without waiting.
pub trait ByteSource {
    /// Reads what is ready into `buf`; 0 when nothing is.
    ///
    /// # Errors
    /// The port's error.
    fn read_ready(&mut self, buf: &mut [u8]) -> std::io::Result<usize>;
}

/// How often a sensor whose device could not be opened is tried again.
pub const REOPEN_EVERY_MS: i64 = 60_000;

/// Opens a sensor's device and puts its driver on it, or says why it cannot.
pub type Opener<T> = Box<dyn FnMut() -> Result<T, String>>;

/// A fitted sensor: its driver once its device is open; until then, how to open it,
/// when to try next, and the reads missed meanwhile (each a failure in health rows).
struct Fitted<T> {
    name: &'static str,
    driver: Option<T>,
    opener: Option<Opener<T>>,
    next_try_ms: i64,
    missed: u32,
}

impl<T> Fitted<T> {
    const fn open(name: &'static str, driver: T) -> Self {
        Self {
            name,
            driver: Some(driver),
            opener: None,
            next_try_ms: i64::MIN,
            missed: 0,
        }
    }

    /// Tries `opener` now; on failure the error is logged once, here, and the device
    /// is tried again every [`REOPEN_EVERY_MS`] from the first read on.
    fn opening(name: &'static str, mut opener: Opener<T>) -> Self {
        match opener() {
            Ok(driver) => Self::open(name, driver),
            Err(e) => {
                tracing::warn!(
                    "{e}; the {name}'s columns are null and its failures counted in health rows \
                     until it opens (tried again every {} s)",
                    REOPEN_EVERY_MS / 1000
                );
                Self {
                    name,
                    driver: None,
                    opener: Some(opener),
                    next_try_ms: i64::MIN,
                    missed: 0,
                }
            }
        }
    }

    /// The driver for a read at `at_ms`, opening the device if it is time to try; a
    /// read without one counts as missed.
    fn get(&mut self, at_ms: i64) -> Option<&mut T> {
        if self.driver.is_none()
            && at_ms >= self.next_try_ms
            && let Some(opener) = &mut self.opener
        {
            if self.next_try_ms == i64::MIN {
                // The first read: the device was just tried at start.
                self.next_try_ms = at_ms.saturating_add(REOPEN_EVERY_MS);
            } else {
                match opener() {
                    Ok(driver) => {
                        tracing::info!("the {} is open; reading it again", self.name);
                        self.driver = Some(driver);
                        self.opener = None;
                    }
                    Err(e) => {
                        tracing::debug!("{e}");
                        self.next_try_ms = at_ms.saturating_add(REOPEN_EVERY_MS);
                    }
                }
            }
        }
        if self.driver.is_none() {
            self.missed = self.missed.saturating_add(1);
        }
        self.driver.as_mut()
    }

    /// Its health: the driver's, with the reads missed before the device opened.
    fn health(&self, of: impl Fn(&T) -> SensorHealth) -> SensorHealth {
        self.driver.as_ref().map_or(
            SensorHealth {
                state: SensorState::Missing,
                failures: self.missed,
            },
            |d| {
                let mut h = of(d);
                h.failures = h.failures.saturating_add(self.missed);
                h
            },
        )
    }
}

/// The station's sensors on a host: any subset, generic over the bus so tests can put a
/// fake device behind the same traits (there is no I2C bus on a PC). A sensor whose
/// device cannot be opened is given by its [`Opener`]: its measurements are null and
/// counted as failures until the device opens (tried every [`REOPEN_EVERY_MS`]).
pub struct HostSensors<I, D, U> {
    bme280: Option<Fitted<Bme280<I>>>,
    scd4x: Option<Fitted<Scd4x<I, D>>>,
    pms5003: Option<Fitted<(Pms5003, U)>>,
    delay: D,
}

impl<I, D, U> std::fmt::Debug for HostSensors<I, D, U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open = |d: bool, fitted: bool| match (fitted, d) {
            (false, _) => "not fitted",
            (true, true) => "open",
            (true, false) => "not open",
        };
        f.debug_struct("HostSensors")
            .field(
                "bme280",
                &open(
                    self.bme280.as_ref().is_some_and(|s| s.driver.is_some()),
                    self.bme280.is_some(),
                ),
            )
            .field(
                "scd4x",
                &open(
                    self.scd4x.as_ref().is_some_and(|s| s.driver.is_some()),
                    self.scd4x.is_some(),
                ),
            )
            .field(
                "pms5003",
                &open(
                    self.pms5003.as_ref().is_some_and(|s| s.driver.is_some()),
                    self.pms5003.is_some(),
                ),
            )
            .finish()
    }
}

impl<I: I2c, D: DelayNs + Clone, U: ByteSource> HostSensors<I, D, U> {
    /// Sensors on the given buses (`None`: not fitted).
    pub fn new(bme280: Option<(I, u8)>, scd4x: Option<I>, pms5003: Option<U>, delay: D) -> Self {
        Self {
            bme280: bme280
                .map(|(bus, address)| Fitted::open("BME280", Bme280::with_address(bus, address))),
            scd4x: scd4x.map(|bus| Fitted::open("SCD4x", Scd4x::new(bus, delay.clone()))),
            pms5003: pms5003.map(|port| Fitted::open("PMS5003", (Pms5003::new(), port))),
            delay,
        }
    }

    /// Sensors whose devices are opened by these openers (`None`: not fitted). Each is
    /// tried now; one that cannot be opened is logged once and tried again every
    /// [`REOPEN_EVERY_MS`] of the reads' time.
    pub fn opening(
        bme280: Option<Opener<Bme280<I>>>,
        scd4x: Option<Opener<Scd4x<I, D>>>,
        pms5003: Option<Opener<(Pms5003, U)>>,
        delay: D,
    ) -> Self {
        Self {
            bme280: bme280.map(|o| Fitted::opening("BME280", o)),
            scd4x: scd4x.map(|o| Fitted::opening("SCD4x", o)),
            pms5003: pms5003.map(|o| Fitted::opening("PMS5003", o)),
            delay,
        }
    }

    /// One sample of every fitted sensor at `at_ms` (nulls where one fails or is not
    /// open).
    pub fn read(&mut self, at_ms: i64) -> Sample {
        let mut sample = Sample::new(at_ms);
        if let Some(b) = self.bme280.as_mut().and_then(|f| f.get(at_ms)) {
            b.read(&mut self.delay, &mut sample);
        }
        if let Some(s) = self.scd4x.as_mut().and_then(|f| f.get(at_ms)) {
            s.read(&mut sample);
        }
        if let Some((pms, port)) = self.pms5003.as_mut().and_then(|f| f.get(at_ms)) {
            let mut buf = [0u8; 256];
            loop {
                match port.read_ready(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => pms.feed(&buf[..n]),
                    Err(e) => {
                        tracing::debug!("PMS5003 serial port: {e}");
                        break;
                    }
                }
            }
            pms.read(&mut sample);
        }
        sample
    }

    /// Each fitted sensor's state and failure count into a health row.
    pub fn fill_health(&self, row: &mut HealthRow) {
        row.bme280 = self.bme280.as_ref().map(|f| f.health(|b| b.health));
        row.scd4x = self.scd4x.as_ref().map(|f| f.health(|s| s.health));
        row.pms5003 = self.pms5003.as_ref().map(|f| f.health(|(p, _)| p.health));
    }
}

/// Sensors a host adapter reads, whatever their buses.
pub trait SensorSet {
    /// One sample at `at_ms`.
    fn read(&mut self, at_ms: i64) -> Sample;
    /// Their health into a row.
    fn fill_health(&self, row: &mut HealthRow);
}

impl<I: I2c, D: DelayNs + Clone, U: ByteSource> SensorSet for HostSensors<I, D, U> {
    fn read(&mut self, at_ms: i64) -> Sample {
        Self::read(self, at_ms)
    }
    fn fill_health(&self, row: &mut HealthRow) {
        Self::fill_health(self, row);
    }
}

/// Waits by sleeping the thread (the drivers wait a few ms for a conversion).
#[derive(Debug, Clone, Copy, Default)]
pub struct SleepDelay;

impl DelayNs for SleepDelay {
    fn delay_ns(&mut self, ns: u32) {
        std::thread::sleep(std::time::Duration::from_nanos(u64::from(ns)));
    }
}

/// The sensors of a Linux host.
#[cfg(target_os = "linux")]
pub type LinuxSensors = HostSensors<linux_embedded_hal::I2cdev, SleepDelay, SerialSource>;

/// A serial port as a [`ByteSource`].
#[cfg(target_os = "linux")]
pub struct SerialSource(Box<dyn serialport::SerialPort>);

#[cfg(target_os = "linux")]
impl ByteSource for SerialSource {
    fn read_ready(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let ready = self.0.bytes_to_read().map_err(std::io::Error::other)?;
        if ready == 0 {
            return Ok(0);
        }
        let n = usize::try_from(ready).unwrap_or(usize::MAX).min(buf.len());
        std::io::Read::read(&mut self.0, &mut buf[..n])
    }
}

/// Opens the sensors `args` name; `None` if none is given. A device that cannot be
/// opened (missing, no permission) does not stop the node: the error is logged once,
/// the sensor's columns are null and counted in health rows, and the device is tried
/// again every minute until it opens.
///
/// # Errors
/// [`CliError::Usage`] for a malformed flag (an I2C address out of range): a setting
/// that can never work.
#[cfg(target_os = "linux")]
pub fn open(args: &SensorArgs) -> CliResult<Option<LinuxSensors>> {
    if !args.any() {
        return Ok(None);
    }
    fn bus(path: &std::path::Path) -> Result<linux_embedded_hal::I2cdev, String> {
        linux_embedded_hal::I2cdev::new(path)
            .map_err(|e| format!("cannot open the I2C bus {}: {e}", path.display()))
    }
    let bme280: Option<Opener<Bme280<linux_embedded_hal::I2cdev>>> = match &args.bme280 {
        Some(text) => {
            let (path, address) = parse_i2c("bme280", text, 0x76)?;
            Some(Box::new(move || {
                bus(&path).map(|b| Bme280::with_address(b, address))
            }))
        }
        None => None,
    };
    let scd4x: Option<Opener<Scd4x<linux_embedded_hal::I2cdev, SleepDelay>>> = match &args.scd4x {
        Some(text) => {
            let (path, address) = parse_i2c("scd4x", text, 0x62)?;
            if address != 0x62 {
                return Err(CliError::Usage(format!(
                    "--scd4x {text}: the SCD4x answers at 0x62 only"
                )));
            }
            Some(Box::new(move || {
                bus(&path).map(|b| Scd4x::new(b, SleepDelay))
            }))
        }
        None => None,
    };
    let pms5003: Option<Opener<(Pms5003, SerialSource)>> = match &args.pms5003 {
        Some(path) => {
            if path.is_empty() {
                return Err(CliError::Usage("--pms5003: no device path".into()));
            }
            let path = path.clone();
            Some(Box::new(move || {
                serialport::new(&path, 9600)
                    .timeout(std::time::Duration::from_millis(10))
                    .open()
                    .map(|port| (Pms5003::new(), SerialSource(port)))
                    .map_err(|e| format!("cannot open the serial port {path}: {e}"))
            }))
        }
        None => None,
    };
    Ok(Some(HostSensors::opening(
        bme280, scd4x, pms5003, SleepDelay,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::{ErrorKind, ErrorType, NoAcknowledgeSource, Operation};

    /// A bus on which nothing answers (a sensor unplugged), or, once `answering`, a
    /// minimal BME280 register map: chip id, zeroed calibration except the factors a
    /// reading needs, and one raw measurement.
    #[derive(Clone, Default)]
    struct FakeBus {
        answering: std::rc::Rc<std::cell::Cell<bool>>,
        register: u8,
    }

    #[derive(Debug)]
    struct Nack;

    impl embedded_hal::i2c::Error for Nack {
        fn kind(&self) -> ErrorKind {
            ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address)
        }
    }

    impl ErrorType for FakeBus {
        type Error = Nack;
    }

    impl FakeBus {
        fn byte(reg: u8) -> u8 {
            match reg {
                0xD0 => 0x60, // chip id
                // dig_T1 = 27504, dig_T2 = 26435, dig_T3 = -1000 (datasheet example)
                0x88 => 0x70,
                0x89 => 0x6B,
                0x8A => 0x43,
                0x8B => 0x67,
                0x8C => 0x18,
                0x8D => 0xFC,
                // dig_P1 = 36477 (non-zero, or the pressure formula divides by zero)
                0x8E => 0x7D,
                0x8F => 0x8E,
                // status: not measuring
                0xF3 => 0x00,
                // raw pressure, temperature (519888 as in the datasheet), humidity
                0xF7 => 0x65,
                0xF8 => 0x5A,
                0xF9 => 0xC0,
                0xFA => 0x7E,
                0xFB => 0xED,
                0xFC => 0x00,
                0xFD => 0x66,
                0xFE => 0x00,
                _ => 0x00,
            }
        }
    }

    impl I2c for FakeBus {
        fn transaction(&mut self, _: u8, ops: &mut [Operation<'_>]) -> Result<(), Nack> {
            if !self.answering.get() {
                return Err(Nack);
            }
            for op in ops {
                match op {
                    Operation::Write(bytes) => {
                        if let Some(&r) = bytes.first() {
                            self.register = r;
                        }
                    }
                    Operation::Read(buf) => {
                        for b in buf.iter_mut() {
                            *b = Self::byte(self.register);
                            self.register = self.register.wrapping_add(1);
                        }
                    }
                }
            }
            Ok(())
        }
    }

    #[derive(Clone)]
    struct NoDelay;
    impl DelayNs for NoDelay {
        fn delay_ns(&mut self, _: u32) {}
    }

    struct Bytes(Vec<u8>);
    impl ByteSource for Bytes {
        fn read_ready(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0.drain(..n);
            Ok(n)
        }
    }

    fn pms_frame(pm1: u16, pm25: u16, pm10: u16) -> Vec<u8> {
        let mut f = vec![0x42, 0x4d, 0x00, 0x1c];
        for v in [pm1, pm25, pm10, pm1, pm25, pm10, 0, 0, 0, 0, 0, 0, 0] {
            f.extend(v.to_be_bytes());
        }
        let sum: u16 = f.iter().map(|&b| u16::from(b)).sum();
        f.extend(sum.to_be_bytes());
        f
    }

    #[test]
    fn an_absent_sensor_gives_nulls_and_counts_then_is_picked_up_when_it_answers() {
        let bus = FakeBus::default();
        let answering = bus.answering.clone();
        let mut sensors: HostSensors<FakeBus, NoDelay, Bytes> = HostSensors::new(
            Some((bus, 0x76)),
            None,
            Some(Bytes(pms_frame(3, 7, 11))),
            NoDelay,
        );
        let s = sensors.read(1_000);
        assert_eq!(s.value(Measurement::Temperature), None);
        assert_eq!(s.count(Measurement::Pm25), Some(7));
        let mut row = HealthRow::new(0);
        sensors.fill_health(&mut row);
        let bme = row.bme280.expect("fitted");
        assert_eq!((bme.state.name(), bme.failures), ("missing", 1));
        assert_eq!(row.scd4x, None, "not fitted: no health");

        answering.set(true);
        let s = sensors.read(2_000);
        let t = s
            .value(Measurement::Temperature)
            .expect("read once it answers");
        assert!(
            (t - 25.08).abs() < 0.01,
            "datasheet example: 25.08 C, got {t}"
        );
        assert_eq!(s.count(Measurement::Pm25), None, "no new frame: silent");
        sensors.fill_health(&mut row);
        assert_eq!(row.bme280.expect("fitted").state.name(), "ok");
        assert_eq!(row.pms5003.expect("fitted").state.name(), "missing");
    }

    #[test]
    fn a_device_that_cannot_be_opened_gives_nulls_and_is_tried_again_every_minute() {
        let present = std::rc::Rc::new(std::cell::Cell::new(false));
        let tries = std::rc::Rc::new(std::cell::Cell::new(0));
        let opener: Opener<(Pms5003, Bytes)> = {
            let (present, tries) = (present.clone(), tries.clone());
            Box::new(move || {
                tries.set(tries.get() + 1);
                if present.get() {
                    Ok((Pms5003::new(), Bytes(pms_frame(3, 7, 11))))
                } else {
                    Err("cannot open the serial port /dev/ttyX: No such file".into())
                }
            })
        };
        let mut sensors: HostSensors<FakeBus, NoDelay, Bytes> =
            HostSensors::opening(None, None, Some(opener), NoDelay);
        assert_eq!(tries.get(), 1, "tried at start");
        let t0 = 1_767_225_600_000;
        for i in 0..12 {
            let s = sensors.read(t0 + i * 5_000);
            assert_eq!(s.count(Measurement::Pm25), None);
        }
        assert_eq!(tries.get(), 1, "not tried again within the minute");
        let mut row = HealthRow::new(0);
        sensors.fill_health(&mut row);
        let h = row.pms5003.expect("fitted");
        assert_eq!((h.state.name(), h.failures), ("missing", 12));

        present.set(true);
        let s = sensors.read(t0 + 60_000);
        assert_eq!(tries.get(), 2, "tried again after a minute");
        assert_eq!(s.count(Measurement::Pm25), Some(7), "readings resume");
        sensors.fill_health(&mut row);
        let h = row.pms5003.expect("fitted");
        assert_eq!((h.state.name(), h.failures), ("ok", 12));
        sensors.read(t0 + 200_000);
        assert_eq!(tries.get(), 2, "an open device is not opened again");
    }

    #[test]
    fn i2c_arguments_parse_with_or_without_an_address() {
        assert_eq!(
            parse_i2c("bme280", "/dev/i2c-1", 0x76).unwrap(),
            (PathBuf::from("/dev/i2c-1"), 0x76)
        );
        assert_eq!(
            parse_i2c("bme280", "/dev/i2c-1:0x77", 0x76).unwrap(),
            (PathBuf::from("/dev/i2c-1"), 0x77)
        );
        for bad in ["/dev/i2c-1:0x80", "/dev/i2c-1:zz", ":0x76"] {
            let err = parse_i2c("bme280", bad, 0x76).unwrap_err().to_string();
            assert!(err.contains("--bme280"), "{err}");
        }
    }
}
