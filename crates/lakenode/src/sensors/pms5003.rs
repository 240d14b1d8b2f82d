//! Plantower PMS5003 particulate sensor: decoding its 32-byte UART frames.
//!
//! Written by hand because the frame is trivial and the crates on crates.io wrap it in
//! their own UART handling; here the decoder is a byte-at-a-time state machine that
//! any transport (esp-idf UART, a host serial port, a test vector) can feed, which
//! resynchronises after noise and never panics on garbage.
//!
//! Frame: `0x42 0x4D`, length (u16 BE, = 28), thirteen u16 BE data words, checksum (u16
//! BE, sum of the first 30 bytes). Words 3-5 are PM1.0, PM2.5 and PM10 in ug/m3 under
//! atmospheric conditions, the values meant for ambient air.
//!
//! ```
//! use lakenode::sensors::pms5003::{FrameDecoder, PmReading};
//! let mut frame = [0u8; 32];
//! frame[..4].copy_from_slice(&[0x42, 0x4D, 0, 28]);
//! frame[13] = 7; // data word 4 (bytes 12-13): PM2.5, atmospheric, = 7 ug/m3
//! let sum: u16 = frame[..30].iter().map(|&b| u16::from(b)).sum();
//! frame[30..].copy_from_slice(&sum.to_be_bytes());
//! let mut decoder = FrameDecoder::new();
//! let reading = frame.iter().find_map(|&b| decoder.push(b)).expect("a frame");
//! assert_eq!(reading, Ok(PmReading { pm1: 0, pm25: 7, pm10: 0 }));
//! ```

/// Bytes in a frame.
pub const FRAME_LEN: usize = 32;
const START: [u8; 2] = [0x42, 0x4D];
const BODY_LEN: u16 = 28;

/// Particulate concentrations, ug/m3 (atmospheric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PmReading {
    /// PM1.0.
    pub pm1: u16,
    /// PM2.5.
    pub pm25: u16,
    /// PM10.
    pub pm10: u16,
}

/// Why a complete frame was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The length field was not 28.
    BadLength(u16),
    /// The checksum did not match.
    BadChecksum {
        /// Sum of the received bytes.
        computed: u16,
        /// Checksum in the frame.
        received: u16,
    },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadLength(n) => write!(f, "PMS5003 frame length {n}, expected 28"),
            Self::BadChecksum { computed, received } => {
                write!(
                    f,
                    "PMS5003 checksum {received:#06x}, computed {computed:#06x}"
                )
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// A streaming frame decoder.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    buf: [u8; FRAME_LEN],
    len: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder waiting for a start sequence.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            buf: [0; FRAME_LEN],
            len: 0,
        }
    }

    /// Feeds one byte; returns a result when a frame is complete.
    pub fn push(&mut self, byte: u8) -> Option<Result<PmReading, FrameError>> {
        match self.len {
            0 if byte != START[0] => return None,
            1 if byte != START[1] => {
                // Not a start sequence; this byte may begin the next one.
                self.len = usize::from(byte == START[0]);
                return None;
            }
            _ => {}
        }
        self.buf[self.len] = byte;
        self.len += 1;
        if self.len == 4 {
            let length = u16::from_be_bytes([self.buf[2], self.buf[3]]);
            if length != BODY_LEN {
                self.len = 0;
                return Some(Err(FrameError::BadLength(length)));
            }
        }
        if self.len < FRAME_LEN {
            return None;
        }
        self.len = 0;
        Some(decode(&self.buf))
    }
}

/// Decodes one complete frame.
///
/// # Errors
/// [`FrameError`] for a wrong length field or checksum.
pub fn decode(frame: &[u8; FRAME_LEN]) -> Result<PmReading, FrameError> {
    let word = |i: usize| u16::from_be_bytes([frame[4 + 2 * i], frame[5 + 2 * i]]);
    let length = u16::from_be_bytes([frame[2], frame[3]]);
    if length != BODY_LEN {
        return Err(FrameError::BadLength(length));
    }
    let computed = frame[..30]
        .iter()
        .fold(0u16, |s, &b| s.wrapping_add(u16::from(b)));
    let received = u16::from_be_bytes([frame[30], frame[31]]);
    if computed != received {
        return Err(FrameError::BadChecksum { computed, received });
    }
    Ok(PmReading {
        pm1: word(3),
        pm25: word(4),
        pm10: word(5),
    })
}

/// The PMS5003 on a UART: feed it what the UART received, read the latest frame into
/// each sample.
#[derive(Debug, Clone, Default)]
pub struct Pms5003 {
    decoder: FrameDecoder,
    latest: Option<PmReading>,
    /// State and failure count, for the health row.
    pub health: super::SensorHealth,
}

impl Pms5003 {
    /// A sensor with no frame received yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes received bytes; a damaged frame counts as a failure.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match self.decoder.push(b) {
                Some(Ok(reading)) => self.latest = Some(reading),
                Some(Err(_)) => self.health.failed(super::SensorState::Failing),
                None => {}
            }
        }
    }

    /// Reads whatever the UART has ready, without blocking.
    ///
    /// # Errors
    /// The UART's error.
    pub fn poll<R: embedded_io::Read + embedded_io::ReadReady>(
        &mut self,
        uart: &mut R,
    ) -> Result<(), R::Error> {
        let mut buf = [0u8; 64];
        while uart.read_ready()? {
            let n = uart.read(&mut buf)?;
            if n == 0 {
                break;
            }
            self.feed(&buf[..n]);
        }
        Ok(())
    }

    /// Records the newest frame since the last sample; none means the sensor is silent
    /// (missing, or asleep) and the three values stay null.
    pub fn read(&mut self, sample: &mut crate::sample::Sample) {
        use crate::schema::Measurement::{Pm1, Pm10, Pm25};
        match self.latest.take() {
            Some(r) => {
                let recorded = [(Pm1, r.pm1), (Pm25, r.pm25), (Pm10, r.pm10)]
                    .map(|(m, v)| sample.record(m, f64::from(v)).is_ok());
                if recorded.iter().all(|ok| *ok) {
                    self.health.ok();
                } else {
                    self.health.failed(super::SensorState::Failing);
                }
            }
            None => self.health.failed(super::SensorState::Missing),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Sample;
    use crate::schema::Measurement;
    use crate::sensors::SensorState;

    /// A frame as the sensor sends it (values from a real capture's layout).
    fn frame(pm1: u16, pm25: u16, pm10: u16) -> [u8; FRAME_LEN] {
        let mut f = [0u8; FRAME_LEN];
        f[..4].copy_from_slice(&[0x42, 0x4D, 0x00, 0x1C]);
        let words = [
            pm1 + 1,
            pm25 + 1,
            pm10 + 2,
            pm1,
            pm25,
            pm10,
            1200,
            350,
            60,
            8,
            2,
            1,
            0x9700,
        ];
        for (i, w) in words.iter().enumerate() {
            f[4 + 2 * i..6 + 2 * i].copy_from_slice(&w.to_be_bytes());
        }
        let sum = f[..30]
            .iter()
            .fold(0u16, |s, &b| s.wrapping_add(u16::from(b)));
        f[30..].copy_from_slice(&sum.to_be_bytes());
        f
    }

    fn feed(d: &mut FrameDecoder, bytes: &[u8]) -> Vec<Result<PmReading, FrameError>> {
        bytes.iter().filter_map(|&b| d.push(b)).collect()
    }

    #[test]
    fn decodes_atmospheric_values_and_resyncs_after_noise() {
        let mut stream = vec![0x00, 0x42, 0x42, 0x13, 0x4D];
        stream.extend_from_slice(&frame(5, 9, 14));
        stream.extend_from_slice(&[0x42]);
        stream.extend_from_slice(&frame(6, 10, 15));
        let out = feed(&mut FrameDecoder::new(), &stream);
        assert_eq!(
            out,
            [
                Ok(PmReading {
                    pm1: 5,
                    pm25: 9,
                    pm10: 14
                }),
                Ok(PmReading {
                    pm1: 6,
                    pm25: 10,
                    pm10: 15
                })
            ]
        );
    }

    #[test]
    fn bad_checksum_and_length_are_reported_and_the_next_frame_decodes() {
        let mut bad = frame(5, 9, 14);
        bad[12] ^= 0x01;
        let mut stream = bad.to_vec();
        stream.extend_from_slice(&[0x42, 0x4D, 0x00, 0x14]); // length 20: a PMS7003-style frame
        stream.extend_from_slice(&frame(1, 2, 3));
        let out = feed(&mut FrameDecoder::new(), &stream);
        assert!(matches!(out[0], Err(FrameError::BadChecksum { .. })));
        assert_eq!(out[1], Err(FrameError::BadLength(20)));
        assert_eq!(
            out[2],
            Ok(PmReading {
                pm1: 1,
                pm25: 2,
                pm10: 3
            })
        );
    }

    #[test]
    fn the_sensor_records_the_newest_frame_once_then_reports_silence() {
        let mut pms = Pms5003::new();
        let mut uart: &[u8] = &[frame(3, 5, 8), frame(4, 6, 9)].concat();
        pms.poll(&mut uart).expect("slice reads never fail");
        let mut a = Sample::new(0);
        pms.read(&mut a);
        assert_eq!(
            (
                a.count(Measurement::Pm1),
                a.count(Measurement::Pm25),
                a.count(Measurement::Pm10)
            ),
            (Some(4), Some(6), Some(9))
        );
        assert_eq!(pms.health.state, SensorState::Ok);
        let mut b = Sample::new(5_000);
        pms.read(&mut b);
        assert_eq!(b.count(Measurement::Pm25), None, "no stale value");
        assert_eq!(pms.health.state, SensorState::Missing);
        // Out of the sensor's range (a corrupted but checksum-valid frame): null, failing.
        pms.feed(&frame(3, 4000, 8));
        let mut c = Sample::new(10_000);
        pms.read(&mut c);
        assert_eq!(c.count(Measurement::Pm25), None);
        assert_eq!(pms.health.state, SensorState::Failing);
    }

    #[test]
    fn random_garbage_never_panics_and_rarely_decodes() {
        let mut d = FrameDecoder::new();
        let mut x = 0x1234_5678_u64;
        let mut ok = 0;
        for _ in 0..200_000 {
            x = crate::sim::mix64(x);
            if let Some(Ok(_)) = d.push((x >> 56) as u8) {
                ok += 1;
            }
        }
        assert!(ok <= 1, "{ok} frames decoded from noise");
    }
}
