//! Sensirion SCD40/SCD41 (CO2) over I2C, with the `scd4x` crate.
//!
//! Periodic measurement (a new value every 5 s) is started lazily and again after an
//! error. A sample taken before the sensor has a new value gets a null CO2, never the
//! previous value.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use super::{SensorHealth, SensorState};
use crate::sample::Sample;
use crate::schema::Measurement;

/// The SCD4x on an I2C bus (address 0x62).
pub struct Scd4x<I2C, D> {
    /// Always `Some` between calls; taken only to rebuild the driver after a bus error.
    device: Option<scd4x::Scd4x<I2C, D>>,
    delay: D,
    running: bool,
    /// State and failure count, for the health row.
    pub health: SensorHealth,
}

impl<I2C, D> std::fmt::Debug for Scd4x<I2C, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scd4x")
            .field("running", &self.running)
            .field("health", &self.health)
            .finish()
    }
}

impl<I2C: I2c, D: DelayNs + Clone> Scd4x<I2C, D> {
    /// The sensor on `i2c`; `delay` paces its command timings.
    pub fn new(i2c: I2C, delay: D) -> Self {
        Self {
            device: Some(scd4x::Scd4x::new(i2c, delay.clone())),
            delay,
            running: false,
            health: SensorHealth::default(),
        }
    }

    /// Reads the latest CO2 value into `sample` if one is ready.
    pub fn read(&mut self, sample: &mut Sample) {
        let Some(device) = self.device.as_mut() else {
            return;
        };
        if !self.running {
            if let Err(e) = device.start_periodic_measurement() {
                return self.fail(&e);
            }
            self.running = true;
        }
        let ready = match device.data_ready_status() {
            Ok(r) => r,
            Err(e) => return self.fail(&e),
        };
        if !ready {
            return;
        }
        match device.measurement() {
            Ok(m) => match sample.record(Measurement::Co2, f64::from(m.co2)) {
                Ok(_) => self.health.ok(),
                Err(_) => self.health.failed(SensorState::Failing),
            },
            Err(e) => self.fail(&e),
        }
    }

    fn fail<E>(&mut self, e: &scd4x::Error<E>) {
        let state = state_of(e);
        self.health.failed(state);
        if state == SensorState::Missing {
            // The sensor may have lost power and be idle again: rebuild the driver (its
            // running flag would refuse a new start) and start measuring next time.
            if let Some(old) = self.device.take() {
                self.device = Some(scd4x::Scd4x::new(old.destroy(), self.delay.clone()));
            }
            self.running = false;
        }
    }
}

fn state_of<E>(e: &scd4x::Error<E>) -> SensorState {
    match e {
        scd4x::Error::I2c(_) => SensorState::Missing,
        _ => SensorState::Failing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};

    /// A delay that does not wait (and is `Clone`, like esp-idf-hal's `FreeRtos`).
    #[derive(Clone)]
    struct NoopDelay;

    impl DelayNs for NoopDelay {
        fn delay_ns(&mut self, _: u32) {}
    }
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};

    const ADDR: u8 = 0x62;

    /// Sensirion's CRC-8 (polynomial 0x31, init 0xFF).
    fn crc8(data: &[u8]) -> u8 {
        data.iter().fold(0xFF, |mut crc, &b| {
            crc ^= b;
            for _ in 0..8 {
                crc = if crc & 0x80 != 0 {
                    (crc << 1) ^ 0x31
                } else {
                    crc << 1
                };
            }
            crc
        })
    }

    fn word(w: u16) -> Vec<u8> {
        let b = w.to_be_bytes();
        vec![b[0], b[1], crc8(&b)]
    }

    fn ready(is_ready: bool) -> Vec<T> {
        vec![
            T::write(ADDR, vec![0xE4, 0xB8]),
            T::read(ADDR, word(if is_ready { 0x8006 } else { 0x8000 })),
        ]
    }

    fn measurement(bytes: Vec<u8>) -> Vec<T> {
        vec![T::write(ADDR, vec![0xEC, 0x05]), T::read(ADDR, bytes)]
    }

    /// The datasheet's read_measurement example words (CO2 500 ppm, 25 C, 37 %RH), each
    /// followed by its CRC-8 (0x33, 0xA2, 0x3C).
    const EXAMPLE: [u8; 9] = [0x01, 0xF4, 0x33, 0x66, 0x67, 0xA2, 0x5E, 0xB9, 0x3C];

    #[test]
    fn crc_matches_sensirions_example() {
        assert_eq!(crc8(&[0xBE, 0xEF]), 0x92);
    }

    #[test]
    fn reads_co2_when_ready_and_null_when_not() {
        let mut e = vec![T::write(ADDR, vec![0x21, 0xB1])];
        e.extend(ready(true));
        e.extend(measurement(EXAMPLE.to_vec()));
        e.extend(ready(false));
        let mock = Mock::new(&e);
        let mut sensor = Scd4x::new(mock.clone(), NoopDelay);
        let mut a = Sample::new(0);
        sensor.read(&mut a);
        assert_eq!(a.count(Measurement::Co2), Some(500));
        assert_eq!(sensor.health.state, SensorState::Ok);
        let mut b = Sample::new(5_000);
        sensor.read(&mut b);
        assert_eq!(b.count(Measurement::Co2), None, "no stale value");
        let mut mock = mock;
        mock.done();
    }

    #[test]
    fn a_bad_crc_is_a_failure_and_the_next_reading_counts() {
        let mut bad = EXAMPLE.to_vec();
        bad[2] ^= 0xFF;
        let mut e = vec![T::write(ADDR, vec![0x21, 0xB1])];
        e.extend(ready(true));
        e.extend(measurement(bad));
        e.extend(ready(true));
        e.extend(measurement(EXAMPLE.to_vec()));
        let mock = Mock::new(&e);
        let mut sensor = Scd4x::new(mock.clone(), NoopDelay);
        let mut a = Sample::new(0);
        sensor.read(&mut a);
        assert_eq!(a.count(Measurement::Co2), None);
        assert_eq!(
            sensor.health,
            SensorHealth {
                state: SensorState::Failing,
                failures: 1
            }
        );
        let mut b = Sample::new(5_000);
        sensor.read(&mut b);
        assert_eq!(b.count(Measurement::Co2), Some(500));
        let mut mock = mock;
        mock.done();
    }

    #[test]
    fn an_absent_sensor_is_missing_and_is_started_when_it_appears() {
        let nack = ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address);
        let mut e = vec![T::write(ADDR, vec![0x21, 0xB1]).with_error(nack)];
        e.push(T::write(ADDR, vec![0x21, 0xB1]));
        e.extend(ready(true));
        e.extend(measurement(EXAMPLE.to_vec()));
        let mock = Mock::new(&e);
        let mut sensor = Scd4x::new(mock.clone(), NoopDelay);
        let mut a = Sample::new(0);
        sensor.read(&mut a);
        assert_eq!(sensor.health.state, SensorState::Missing);
        assert_eq!(a.count(Measurement::Co2), None);
        let mut b = Sample::new(5_000);
        sensor.read(&mut b);
        assert_eq!(b.count(Measurement::Co2), Some(500));
        let mut mock = mock;
        mock.done();
    }
}
