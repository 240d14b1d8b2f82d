//! Bosch BME280 (temperature, humidity, pressure) over I2C, with the `bme280` crate.
//!
//! The device is initialised lazily and again after any error, so a sensor plugged in
//! late or recovering from a brown-out comes back by itself.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use super::{SensorHealth, SensorState};
use crate::sample::Sample;
use crate::schema::Measurement;

/// The BME280 on an I2C bus.
pub struct Bme280<I2C> {
    device: bme280::i2c::BME280<I2C>,
    ready: bool,
    /// State and failure count, for the health row.
    pub health: SensorHealth,
}

impl<I2C> std::fmt::Debug for Bme280<I2C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bme280")
            .field("ready", &self.ready)
            .field("health", &self.health)
            .finish()
    }
}

impl<I2C: I2c> Bme280<I2C> {
    /// A BME280 at the primary address 0x76 (SDO to GND).
    pub fn new(i2c: I2C) -> Self {
        Self::with_address(i2c, 0x76)
    }

    /// A BME280 at `address` (0x77 with SDO to VDDIO).
    pub fn with_address(i2c: I2C, address: u8) -> Self {
        Self {
            device: bme280::i2c::BME280::new(i2c, address),
            ready: false,
            health: SensorHealth::default(),
        }
    }

    /// Takes a forced-mode measurement into `sample` (temperature, humidity, pressure in
    /// hPa). On any failure the three stay null and the health records why.
    pub fn read<D: DelayNs>(&mut self, delay: &mut D, sample: &mut Sample) {
        if !self.ready {
            match self.device.init(delay) {
                Ok(()) => self.ready = true,
                Err(e) => {
                    // No answer to the chip-id read means no device on the bus.
                    let state = match e {
                        bme280::Error::Bus(_) => SensorState::Missing,
                        _ => SensorState::Failing,
                    };
                    self.health.failed(state);
                    return;
                }
            }
        }
        match self.device.measure(delay) {
            Ok(m) => {
                let t = sample.record(Measurement::Temperature, f64::from(m.temperature));
                let h = sample.record(Measurement::Humidity, f64::from(m.humidity));
                let p = sample.record(Measurement::Pressure, f64::from(m.pressure) / 100.0);
                if t.is_ok() && h.is_ok() && p.is_ok() {
                    self.health.ok();
                } else {
                    self.health.failed(SensorState::Failing);
                }
            }
            Err(_) => {
                self.ready = false;
                self.health.failed(SensorState::Failing);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};

    const ADDR: u8 = 0x76;

    /// Calibration from the worked example in Bosch's BMP280 datasheet (section 3.12),
    /// plus typical humidity coefficients.
    fn calibration() -> (Vec<u8>, Vec<u8>) {
        let words: [i32; 12] = [
            27504, 26435, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000,
        ];
        let mut pt: Vec<u8> = words
            .iter()
            .flat_map(|w| (*w as u16).to_le_bytes())
            .collect();
        pt.extend_from_slice(&[0x00, 75]); // reserved, dig_H1
        // dig_H2 = 362, dig_H3 = 0, dig_H4 = 324, dig_H5 = 0, dig_H6 = 30.
        let h = vec![0x6A, 0x01, 0x00, 0x14, 0x04, 0x00, 0x1E];
        (pt, h)
    }

    fn init() -> Vec<T> {
        let (pt, h) = calibration();
        vec![
            T::write_read(ADDR, vec![0xD0], vec![0x60]), // chip id
            T::write(ADDR, vec![0xE0, 0xB6]),            // soft reset
            T::write_read(ADDR, vec![0x88], pt),
            T::write_read(ADDR, vec![0xE1], h),
            T::write_read(ADDR, vec![0xF4], vec![0x00]), // mode: sleep
            T::write(ADDR, vec![0xF2, 0x01]),            // humidity x1
            T::write_read(ADDR, vec![0xF4], vec![0x00]),
            T::write(ADDR, vec![0xF4, 0x54]), // pressure x16, temperature x2
            T::write_read(ADDR, vec![0xF5], vec![0x00]),
            T::write(ADDR, vec![0xF5, 0x10]), // IIR filter 16
        ]
    }

    fn measure(adc_p: u32, adc_t: u32, adc_h: u16) -> Vec<T> {
        let data = vec![
            (adc_p >> 12) as u8,
            (adc_p >> 4) as u8,
            ((adc_p & 0xF) << 4) as u8,
            (adc_t >> 12) as u8,
            (adc_t >> 4) as u8,
            ((adc_t & 0xF) << 4) as u8,
            (adc_h >> 8) as u8,
            adc_h as u8,
        ];
        vec![
            T::write_read(ADDR, vec![0xF4], vec![0x54]), // mode: sleep
            T::write_read(ADDR, vec![0xF4], vec![0x54]),
            T::write(ADDR, vec![0xF4, 0x55]), // forced
            T::write_read(ADDR, vec![0xF7], data),
        ]
    }

    #[test]
    fn reads_the_datasheet_example_exactly() {
        let mut expectations = init();
        // The datasheet's raw values: adc_T = 519888 -> 25.08 C, adc_P = 415148 -> 100653.27 Pa.
        expectations.extend(measure(415_148, 519_888, 27_000));
        let mock = Mock::new(&expectations);
        let mut sensor = Bme280::new(mock.clone());
        let mut sample = Sample::new(0);
        sensor.read(&mut NoopDelay::new(), &mut sample);
        assert_eq!(sample.count(Measurement::Temperature), Some(2508));
        assert_eq!(sample.count(Measurement::Pressure), Some(100_653));
        let rh = sample.value(Measurement::Humidity).expect("humidity");
        assert!((0.0..=100.0).contains(&rh), "{rh}");
        assert_eq!(sensor.health.state, SensorState::Ok);
        let mut mock = mock;
        mock.done();
    }

    #[test]
    fn an_absent_device_gives_nulls_and_a_missing_flag_then_recovers() {
        let nack = ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address);
        let mut expectations = vec![T::write_read(ADDR, vec![0xD0], vec![0x00]).with_error(nack)];
        expectations.extend(init());
        expectations.extend(measure(415_148, 519_888, 27_000));
        let mock = Mock::new(&expectations);
        let mut sensor = Bme280::new(mock.clone());
        let mut first = Sample::new(0);
        sensor.read(&mut NoopDelay::new(), &mut first);
        assert_eq!(first.count(Measurement::Temperature), None);
        assert_eq!(
            sensor.health,
            SensorHealth {
                state: SensorState::Missing,
                failures: 1
            }
        );
        let mut second = Sample::new(5_000);
        sensor.read(&mut NoopDelay::new(), &mut second);
        assert_eq!(second.count(Measurement::Temperature), Some(2508));
        assert_eq!(sensor.health.state, SensorState::Ok);
        let mut mock = mock;
        mock.done();
    }

    #[test]
    fn a_wrong_chip_id_is_a_failing_sensor() {
        let expectations = [T::write_read(ADDR, vec![0xD0], vec![0x55])];
        let mock = Mock::new(&expectations);
        let mut sensor = Bme280::new(mock.clone());
        let mut s = Sample::new(0);
        sensor.read(&mut NoopDelay::new(), &mut s);
        assert_eq!(sensor.health.state, SensorState::Failing);
        assert_eq!(s.count(Measurement::Pressure), None);
        let mut mock = mock;
        mock.done();
    }
}
