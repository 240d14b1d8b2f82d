//! The node's configuration: read from the `lakenode` NVS namespace (written by
//! `lakenode provision`), or, in development builds with the `dev-credentials` feature,
//! from environment variables captured at build time. Never from committed values.

use esp_idf_svc::nvs::{EspNvs, EspNvsPartition, NvsPartitionId};
use lakenode::{Credentials, Prefix, S3Client, S3Config, StationConfig, StationId};

/// What the node needs to run. `Debug` is not derived: it holds secrets.
pub struct Config {
    pub wifi_ssid: String,
    pub wifi_psk: String,
    pub station: String,
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub path_style: bool,
    pub prefix: Option<String>,
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
    /// Bench mode: simulated readings from this seed instead of the sensors.
    pub simulate: Option<u64>,
}

/// The NVS namespace `lakenode provision` writes.
pub const NAMESPACE: &str = "lakenode";

/// Reads the configuration from NVS; names the first missing key.
pub fn from_nvs<T: NvsPartitionId>(partition: EspNvsPartition<T>) -> Result<Config, String> {
    let nvs = EspNvs::new(partition, NAMESPACE, false)
        .map_err(|e| format!("NVS namespace {NAMESPACE}: {e}"))?;
    // STS session tokens run past 2 KB; a truncated one fails every upload.
    let mut buf = vec![0u8; 4096];
    let mut get = |key: &str| -> Result<Option<String>, String> {
        nvs.get_str(key, &mut buf)
            .map(|v| v.map(str::to_owned).filter(|s| !s.is_empty()))
            .map_err(|e| format!("NVS key {key}: {e}"))
    };
    let mut need = |key: &str| {
        get(key)?
            .ok_or_else(|| format!("NVS key {NAMESPACE}/{key} is not set (run lakenode provision)"))
    };
    Ok(Config {
        wifi_ssid: need("wifi_ssid")?,
        wifi_psk: need("wifi_psk")?,
        station: need("station")?,
        endpoint: need("endpoint")?,
        bucket: need("bucket")?,
        region: need("region")?,
        access_key: need("access_key")?,
        secret_key: need("secret_key")?,
        path_style: get("path_style")?.is_some_and(|v| v == "true"),
        prefix: get("prefix")?,
        session_token: get("session_token")?,
        simulate: get("simulate")?.and_then(|s| s.parse().ok()),
    })
}

/// Development fallback: values from the environment at build time
/// (`LAKENODE_WIFI_SSID`, ... see the README). Only with `--features dev-credentials`.
#[cfg(feature = "dev-credentials")]
pub fn from_build_env() -> Option<Config> {
    Some(Config {
        wifi_ssid: option_env!("LAKENODE_WIFI_SSID")?.into(),
        wifi_psk: option_env!("LAKENODE_WIFI_PSK")?.into(),
        station: option_env!("LAKENODE_STATION")?.into(),
        endpoint: option_env!("LAKENODE_ENDPOINT")?.into(),
        bucket: option_env!("LAKENODE_BUCKET")?.into(),
        region: option_env!("LAKENODE_REGION").unwrap_or("us-east-1").into(),
        path_style: option_env!("LAKENODE_PATH_STYLE") == Some("true"),
        prefix: option_env!("LAKENODE_PREFIX").map(Into::into),
        access_key: option_env!("AWS_ACCESS_KEY_ID")?.into(),
        secret_key: option_env!("AWS_SECRET_ACCESS_KEY")?.into(),
        session_token: option_env!("AWS_SESSION_TOKEN").map(Into::into),
        simulate: option_env!("LAKENODE_SIMULATE").and_then(|s| s.parse().ok()),
    })
}

#[cfg(not(feature = "dev-credentials"))]
pub fn from_build_env() -> Option<Config> {
    None
}

/// The station's configuration, validated by the core (https only on a device).
pub fn station_config(c: &Config) -> Result<StationConfig, Box<dyn std::error::Error>> {
    let s3 = S3Config::new(&c.endpoint, &c.bucket, &c.region, c.path_style)?;
    if s3.endpoint.scheme() != "https" {
        return Err("the endpoint must be https:// on a device".into());
    }
    let creds = Credentials::new(
        c.access_key.clone(),
        c.secret_key.clone(),
        c.session_token.clone(),
    );
    Ok(StationConfig {
        prefix: c.prefix.as_deref().map(Prefix::new).transpose()?,
        ..StationConfig::new(
            StationId::new(c.station.clone())?,
            S3Client::new(&s3, creds)?,
        )
    })
}
