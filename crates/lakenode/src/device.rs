//! A device's configuration as key/value strings: what `lakenode provision` writes into
//! the firmware's NVS namespace and what the firmware reads back. One list of keys, and
//! one parser with every check, so that what the host writes is exactly what a device
//! accepts, and the parsing is tested here rather than on the device.
//!
//! ```
//! use lakenode::device::DeviceConfig;
//! let nvs = [
//!     ("wifi_ssid", "attic"), ("wifi_psk", "correct horse"),
//!     ("station", "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e"),
//!     ("endpoint", "https://s3.eu-central-1.amazonaws.com"), ("bucket", "lake"),
//!     ("region", "eu-central-1"), ("access_key", "AKIAIOSFODNN7EXAMPLE"),
//!     ("secret_key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
//! ];
//! let get = |key: &str| Ok(nvs.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string()));
//! let config = DeviceConfig::from_lookup(get)?;
//! assert_eq!(config.station.recorder.station.as_str(), "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e");
//! assert!(format!("{config:?}").contains("<redacted>"));
//! # Ok::<(), lakenode::Error>(())
//! ```

use crate::layout::{Prefix, StationId};
use crate::s3::{Credentials, S3Client, S3Config};
use crate::station::StationConfig;
use crate::{Error, Result};

/// The NVS namespace of the device's configuration.
pub const NAMESPACE: &str = "lakenode";

/// Stack of the thread that runs the node loop ([`crate::run_live`]) on a device; the
/// firmware spawns it with this size. The loop (sealing and encoding a window, its
/// health row, signing uploads) peaks at 19,999 B on a 32-bit build with the firmware's
/// profile (`tests/loop_stack.rs`): this is 2x that, a 50% margin plus room for the C
/// code a host cannot measure (LittleFS, VFS, I2C, log output).
pub const LOOP_STACK: usize = 40 * 1024;

/// Block size of the spool's LittleFS (esp_littlefs's `CONFIG_LITTLEFS_BLOCK_SIZE`).
pub const LITTLEFS_BLOCK: usize = 4096;

/// Bytes to read at the start of blocks 0 and 1 for [`holds_littlefs`].
pub const LITTLEFS_HEAD: usize = 16;

/// Whether a partition holds a LittleFS, from the first bytes of its blocks 0 and 1:
/// the superblock's metadata pair, each block a revision count, a tag, then the magic
/// `littlefs` at offset 8. One copy is enough (the other may be mid-erase after a power
/// cut). The firmware formats the spool only when this is false: a blank partition.
#[must_use]
pub fn holds_littlefs(block0: &[u8], block1: &[u8]) -> bool {
    [block0, block1]
        .iter()
        .any(|head| head.get(8..16) == Some(b"littlefs".as_slice()))
}

/// Every key, required ones first.
pub const KEYS: [&str; 14] = [
    "wifi_ssid",
    "wifi_psk",
    "station",
    "endpoint",
    "bucket",
    "region",
    "access_key",
    "secret_key",
    "path_style",
    "prefix",
    "session_token",
    "simulate",
    "upload_every",
    "wifi_off_between_batches",
];

/// A device's validated configuration. `Debug` redacts the secrets.
pub struct DeviceConfig {
    /// WiFi network name (1 to 32 bytes).
    pub wifi_ssid: String,
    /// WPA2 passphrase (8 to 64 bytes).
    pub wifi_psk: String,
    /// The station: id, prefix, S3 target and credentials (https only).
    pub station: StationConfig,
    /// Bench mode: simulated readings from this seed instead of the sensors.
    pub simulate: Option<u64>,
    /// With batched uploads (`upload_every`, seconds, in `station`): stop WiFi between
    /// batches, and bring WiFi and SNTP back for each.
    pub wifi_off_between_batches: bool,
}

impl std::fmt::Debug for DeviceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceConfig")
            .field("wifi_ssid", &self.wifi_ssid)
            .field("wifi_psk", &"<redacted>")
            .field("station", &self.station.recorder.station)
            .field("simulate", &self.simulate)
            .field("upload_every", &self.station.upload_every)
            .field("wifi_off_between_batches", &self.wifi_off_between_batches)
            .finish_non_exhaustive()
    }
}

impl DeviceConfig {
    /// Reads and validates every key through `get` (an NVS read on the device, a map in
    /// tests): `Ok(None)` for a missing key, `Err` for a failed read.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key that is missing, unreadable or invalid.
    pub fn from_lookup(
        mut get: impl FnMut(&'static str) -> std::result::Result<Option<String>, String>,
    ) -> Result<Self> {
        let mut value = |key: &'static str| {
            get(key)
                .map(|v| v.filter(|s| !s.is_empty()))
                .map_err(|e| Error::config(key, format!("cannot be read: {e}")))
        };
        let mut need = |key: &'static str| {
            value(key)?.ok_or_else(|| {
                Error::config(
                    key,
                    format!("{NAMESPACE}/{key} is not set (run lakenode provision)"),
                )
            })
        };
        let (wifi_ssid, wifi_psk) = (need("wifi_ssid")?, need("wifi_psk")?);
        let station = StationId::new(need("station")?)?;
        let (endpoint, bucket, region) = (need("endpoint")?, need("bucket")?, need("region")?);
        let (key, secret) = (need("access_key")?, need("secret_key")?);
        if wifi_ssid.len() > 32 {
            return Err(Error::config("wifi_ssid", "must be 1 to 32 bytes"));
        }
        if !(8..=64).contains(&wifi_psk.len()) {
            return Err(Error::config("wifi_psk", "must be 8 to 64 bytes (WPA2)"));
        }
        let mut switch = |key: &'static str| match value(key)?.as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(Error::config(
                key,
                format!("{other:?} is not true or false"),
            )),
        };
        let path_style = switch("path_style")?;
        let wifi_off_between_batches = switch("wifi_off_between_batches")?;
        let s3 = S3Config::new(&endpoint, &bucket, &region, path_style)?;
        if s3.endpoint.scheme() != "https" {
            return Err(Error::config("endpoint", "must be https:// on a device"));
        }
        let prefix = value("prefix")?.as_deref().map(Prefix::new).transpose()?;
        let token = value("session_token")?;
        let simulate = match value("simulate")? {
            None => None,
            Some(s) => Some(
                s.parse()
                    .map_err(|_| Error::config("simulate", format!("{s:?} is not a seed")))?,
            ),
        };
        let upload_every = value("upload_every")?;
        let client = S3Client::new(&s3, Credentials::new(key, secret, token))?;
        let mut station = StationConfig::new(station, client);
        station.recorder.prefix = prefix;
        station.upload_every = upload_every
            .map(|s| batch_period(&s, station.recorder.spec.window_ms()))
            .transpose()?;
        if wifi_off_between_batches && station.upload_every.is_none() {
            return Err(Error::config(
                "wifi_off_between_batches",
                "needs upload_every (WiFi stays on without batches)",
            ));
        }
        Ok(Self {
            wifi_ssid,
            wifi_psk,
            station,
            simulate,
            wifi_off_between_batches,
        })
    }
}

/// `upload_every`: whole seconds, at least the window, at most a day and dividing it
/// (as `lakenode run --upload-every` requires).
fn batch_period(text: &str, window_ms: i64) -> Result<std::time::Duration> {
    let bad = || {
        Error::config(
            "upload_every",
            format!(
                "{text:?} must be whole seconds, at least the window ({} s), at most 86400 and dividing it",
                window_ms / 1000
            ),
        )
    };
    let secs: u64 = text.parse().map_err(|_| bad())?;
    let window = u64::try_from(window_ms / 1000).unwrap_or(u64::MAX);
    if secs < window || secs > 86_400 || !86_400_u64.is_multiple_of(secs.max(1)) {
        return Err(bad());
    }
    Ok(std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn complete() -> HashMap<&'static str, String> {
        [
            ("wifi_ssid", "attic"),
            ("wifi_psk", "correct horse"),
            ("station", "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e"),
            ("endpoint", "https://s3.eu-central-1.amazonaws.com"),
            ("bucket", "lake"),
            ("region", "eu-central-1"),
            ("access_key", "AKIAIOSFODNN7EXAMPLE"),
            ("secret_key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            ("path_style", "true"),
            ("prefix", "raw"),
            ("simulate", "7"),
            ("upload_every", "1800"),
            ("wifi_off_between_batches", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect()
    }

    fn parse(map: &HashMap<&'static str, String>) -> Result<DeviceConfig> {
        DeviceConfig::from_lookup(|k| {
            assert!(KEYS.contains(&k), "{k} is not in KEYS");
            Ok(map.get(k).cloned())
        })
    }

    #[test]
    fn a_complete_namespace_parses() {
        let c = parse(&complete()).expect("valid");
        assert_eq!(c.simulate, Some(7));
        assert_eq!(
            c.station.upload_every,
            Some(std::time::Duration::from_secs(1800))
        );
        assert!(c.wifi_off_between_batches);
        assert_eq!(
            c.station.recorder.prefix.as_ref().map(Prefix::as_str),
            Some("raw")
        );
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("correct horse") && !dbg.contains("EXAMPLEKEY"),
            "{dbg}"
        );
    }

    #[test]
    fn only_a_partition_without_a_superblock_counts_as_blank() {
        let erased = [0xFF; LITTLEFS_HEAD];
        let zeroed = [0; LITTLEFS_HEAD];
        let mut superblock = [0; LITTLEFS_HEAD];
        superblock[..4].copy_from_slice(&3u32.to_le_bytes()); // revision count
        superblock[4..8].copy_from_slice(&[0x0f, 0xf0, 0x00, 0x10]); // a tag
        superblock[8..].copy_from_slice(b"littlefs");
        assert!(!holds_littlefs(&erased, &erased), "never written");
        assert!(!holds_littlefs(&zeroed, &erased));
        assert!(holds_littlefs(&superblock, &erased), "block 1 mid-erase");
        assert!(holds_littlefs(&erased, &superblock), "block 0 mid-erase");
        assert!(holds_littlefs(&superblock, &superblock));
        let mut shifted = [0xFF; LITTLEFS_HEAD];
        shifted[..8].copy_from_slice(b"littlefs");
        assert!(
            !holds_littlefs(&shifted, &erased),
            "the magic is at offset 8"
        );
        assert!(
            !holds_littlefs(&superblock[..12], &[]),
            "short reads hold nothing"
        );
    }

    #[test]
    fn every_problem_names_its_key() {
        for (key, bad) in [
            ("station", None),
            ("secret_key", None),
            ("wifi_psk", Some("short")),
            ("wifi_ssid", Some("a-network-name-longer-than-32-bytes")),
            ("endpoint", Some("http://192.0.2.1:9000")),
            ("path_style", Some("yes")),
            ("simulate", Some("-1")),
            ("prefix", Some("a/../b")),
            ("upload_every", Some("60")),
            ("upload_every", Some("7000")),
            ("wifi_off_between_batches", Some("yes")),
        ] {
            let mut map = complete();
            match bad {
                Some(v) => map.insert(key, v.to_owned()),
                None => map.remove(key),
            };
            let e = parse(&map).expect_err(key);
            assert!(
                e.to_string().starts_with(&format!("invalid {key}")),
                "{key}: {e}"
            );
        }
        let mut map = complete();
        map.remove("upload_every");
        let e = parse(&map).expect_err("radio off without batches");
        assert!(
            e.to_string()
                .starts_with("invalid wifi_off_between_batches"),
            "{e}"
        );
        let e = DeviceConfig::from_lookup(|_| Err("ESP_ERR_NVS_INVALID_LENGTH".into()))
            .expect_err("read");
        assert!(e.to_string().contains("ESP_ERR_NVS_INVALID_LENGTH"), "{e}");
    }
}
