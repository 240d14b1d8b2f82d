//! The device's configuration: the `lakenode` NVS namespace (written by `lakenode
//! provision`), or, in development builds with the `dev-credentials` feature, values
//! captured from the build environment. Parsed and validated by the core.

use esp_idf_svc::nvs::{EspNvs, EspNvsPartition, NvsPartitionId};
use lakenode::device::{DeviceConfig, NAMESPACE};

/// Reads the configuration from NVS; the error names the first missing or bad key.
pub fn from_nvs<T: NvsPartitionId>(part: EspNvsPartition<T>) -> Result<DeviceConfig, String> {
    // A namespace never written (a board not provisioned) gives ESP_ERR_NVS_NOT_FOUND.
    let nvs = EspNvs::new(part, NAMESPACE, false)
        .map_err(|e| format!("NVS namespace {NAMESPACE}: {e} (written by lakenode provision)"))?;
    // STS session tokens run past 2 KB; a truncated one would fail every upload.
    let mut buf = vec![0u8; 4096];
    DeviceConfig::from_lookup(|key| {
        let value = nvs.get_str(key, &mut buf).map_err(|e| e.to_string())?;
        Ok(value.map(str::to_owned))
    })
    .map_err(|e| e.to_string())
}

/// Development fallback: `LAKENODE_DEV_CONFIG` at build time, `key=value;...` with
/// the NVS keys (see the README). Only with `--features dev-credentials`, never shipped.
#[cfg(feature = "dev-credentials")]
pub fn from_build_env() -> Option<DeviceConfig> {
    let pairs: Vec<_> = option_env!("LAKENODE_DEV_CONFIG")?
        .split(';')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let get = |key: &str| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| (*v).to_owned());
    DeviceConfig::from_lookup(|key| Ok(get(key))).ok()
}

#[cfg(not(feature = "dev-credentials"))]
pub fn from_build_env() -> Option<DeviceConfig> {
    None
}
