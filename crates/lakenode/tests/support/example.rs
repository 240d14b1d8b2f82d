//! The example station the core's tests sign for: bucket `lake` in eu-central-1,
//! path-style, AWS's documented example keys, one station id. Each test binary
//! includes it (`#[path = "support/example.rs"] mod example;`) and uses a part.
#![allow(dead_code, clippy::unwrap_used)] // each test binary uses a part; constants

use lakenode::s3::{Credentials, S3Client, S3Config};
use lakenode::{StationConfig, StationId};

/// AWS's documented example access key id.
pub const ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
/// AWS's documented example secret access key.
pub const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// AWS's regional endpoint for the example bucket.
pub const AWS_ENDPOINT: &str = "https://s3.eu-central-1.amazonaws.com";
/// The example station.
pub const STATION: &str = "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e";

/// The example station's id.
pub fn station_id() -> StationId {
    StationId::new(STATION).unwrap()
}

/// A client of bucket `lake` (eu-central-1, path-style) at `endpoint`, signing with
/// AWS's example keys, and the STS session `token` if given.
pub fn example_client(endpoint: &str, token: Option<String>) -> S3Client {
    let s3 = S3Config::new(endpoint, "lake", "eu-central-1", true).unwrap();
    let creds = Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, token);
    S3Client::new(&s3, creds).unwrap()
}

/// The example station uploading to `endpoint` with health rows on, the rest the
/// core's defaults.
pub fn example_station_s3(endpoint: &str, token: Option<String>) -> StationConfig {
    StationConfig {
        health: true,
        ..StationConfig::new(station_id(), example_client(endpoint, token))
    }
}

/// [`example_station_s3`] as the firmware configures it (firmware/esp32s3/src/main.rs):
/// a 3 MB spool limit counted in 4 KiB flash blocks.
pub fn device_station_s3(endpoint: &str, token: Option<String>) -> StationConfig {
    StationConfig {
        spool_limit: Some(3_000_000),
        spool_block: Some(4096),
        ..example_station_s3(endpoint, token)
    }
}
