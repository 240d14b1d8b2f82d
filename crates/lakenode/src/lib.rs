//! lakenode core: sensor samples to clock-aligned Snappy Parquet windows, written
//! straight into an S3 bucket with requests the node signs itself.
//!
//! The data flows one way:
//!
//! ```text
//! sensors -> Sample -> Window (UTC aligned) -> Parquet bytes -> Spool (key fixed)
//!         -> presign (SigV4) -> PUT (Content-Length, <= 8 KiB writes) -> ack -> remove
//! ```
//!
//! This crate is platform independent and does no network IO of its own (sans-IO): the
//! [`Station`] state machine journals, windows, seals, schedules and signs, and
//! interprets replies, while a small [`Transport`] implemented by the host CLI (ureq)
//! or the firmware (esp-idf-svc) sends what it hands out. [`driver`] is the one adapter
//! loop both platforms run. The only IO the core performs itself is on its own files
//! (journal, spool, state), through the small [`storage::Storage`] seam: `std::fs` on a
//! PC and on the device (esp_littlefs in ESP-IDF's VFS), LittleFS's own C code under
//! the device's rules in the tests.
//!
//! ```
//! use lakenode::{encode, layout, sample::Sample, schema::{Measurement, Schema}, window};
//!
//! let spec = window::WindowSpec::new(5_000, 900_000)?;
//! let mut windower = window::Windower::new(spec);
//! let t0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
//! for i in 0..181 {
//!     let mut sample = Sample::new(t0 + i * 5_000);
//!     sample.record(Measurement::Temperature, 21.5);
//!     if let Some(sealed) = windower.push(sample)? {
//!         let station = layout::StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e")?;
//!         let key = layout::ObjectKey::for_window(None, &station, &sealed);
//!         assert_eq!(
//!             key.as_str(),
//!             "station=0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e/year=2026/month=01/day=01/data_0000.parquet"
//!         );
//!         let meta = encode::FileMetadata::new(&station, spec, &sealed);
//!         let bytes = encode::encode_window(&Schema::default(), encode::WriterProfile::Compat, &sealed, &meta)?;
//!         assert_eq!(&bytes[..4], b"PAR1");
//!     }
//! }
//! # Ok::<(), lakenode::Error>(())
//! ```

#![forbid(unsafe_code)]

pub mod clock;
pub mod device;
pub mod digest;
pub mod driver;
pub mod encode;
mod error;
pub mod esp_client;
pub mod health;
mod health_due;
pub(crate) mod journal;
pub mod layout;
pub(crate) mod recorder;
pub mod s3;
pub mod sample;
pub mod schedule;
pub mod schema;
pub mod sensors;
pub mod sim;
pub(crate) mod spool;
pub mod station;
pub mod storage;
pub mod transport;
pub mod window;

pub use error::{Error, Result};

/// The journal, spool and recorder underneath [`Station`], for the fuzz targets and the
/// integration tests only: adapters go through [`Station`] (and [`Station::status`]),
/// so these can change without breaking them. Not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::journal::{Durability, Journal, Replay};
    pub use crate::recorder::{Recorder, RecorderConfig, SealedFile};
    pub use crate::spool::{
        DroppedFile, MIN_LIMIT, Spool, SpoolEntry, SpoolLock, SpoolStats, decode_entry,
        encode_entry,
    };
}

// What an adapter (the CLI, the firmware) needs, at the root.
pub use driver::{Adapter, BatchEnd, Link, ThreadLink, run_batch, run_live};
pub use health::HealthRow;
pub use layout::{Prefix, StationId};
pub use s3::{CredentialSource, Credentials, S3Client, S3Config};
pub use sample::Sample;
pub use station::{Counters, Event, Level, Now, RecorderConfig, Station, StationConfig, Status};
pub use transport::{HttpRequest, HttpResponse, Method, Transport, TransportError};
