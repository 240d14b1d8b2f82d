//! `lakenode provision`: the configuration of one device as the CSV that Espressif's
//! `esp-idf-nvs-partition-gen` turns into an (encrypted) NVS partition image for the
//! firmware's `lakenode` namespace. Every field is validated like `run` validates it.
//! Secrets come from environment variables and go only into the CSV, which is created
//! with mode 600; nothing secret is printed.

use std::io::Write as _;
use std::path::Path;

use crate::ProvisionArgs;
use crate::error::{CliError, CliResult};
use lakenode_lake::output::OutputFile;

/// Offset and size of the `lakenode` NVS partition in `firmware/esp32s3/partitions.csv`.
const PARTITION: (&str, &str) = ("0x11000", "0x6000");
/// Offset of the `nvs_keys` partition.
const KEYS_OFFSET: &str = "0xF000";

/// Runs `lakenode provision`.
///
/// # Errors
/// For an invalid field (named), a missing secret variable, or an unwritable output.
pub fn run(args: &ProvisionArgs) -> CliResult<()> {
    let (s3, prefix, station) = args.target.resolve()?;
    if s3.endpoint.scheme() != "https" {
        return Err(CliError::Usage(
            "--endpoint must be https:// for a device".into(),
        ));
    }
    let t = &args.target;
    if args.wifi_ssid.is_empty() || args.wifi_ssid.len() > 32 {
        return Err(CliError::Usage("--wifi-ssid must be 1 to 32 bytes".into()));
    }
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let need = |name: &str| var(name).ok_or_else(|| CliError::Usage(format!("{name} is not set")));
    let psk = need("LAKENODE_WIFI_PSK")?;
    if !(8..=64).contains(&psk.len()) {
        return Err(CliError::Usage(
            "LAKENODE_WIFI_PSK must be 8 to 64 characters (WPA2)".into(),
        ));
    }
    let mut entries: Vec<(&str, String)> = vec![
        ("wifi_ssid", args.wifi_ssid.clone()),
        ("wifi_psk", psk),
        ("station", station.to_string()),
        ("endpoint", t.endpoint.clone()),
        ("bucket", t.bucket.clone()),
        ("region", s3.region.clone()),
        ("path_style", t.path_style.to_string()),
        ("access_key", need("AWS_ACCESS_KEY_ID")?),
        ("secret_key", need("AWS_SECRET_ACCESS_KEY")?),
    ];
    if let Some(p) = prefix {
        entries.push(("prefix", p.as_str().to_owned()));
    }
    if let Some(seed) = args.simulate {
        entries.push(("simulate", seed.to_string()));
    }
    if let Some(every) = args.upload_every {
        entries.push(("upload_every", every.as_secs().to_string()));
    }
    if args.wifi_off_between_batches {
        entries.push(("wifi_off_between_batches", "true".to_owned()));
    }
    if let Some(t) = var("AWS_SESSION_TOKEN") {
        entries.push(("session_token", t));
    }
    // Exactly what the firmware will parse (lakenode::device): refuse what it would refuse.
    lakenode::device::DeviceConfig::from_lookup(|key| {
        Ok(entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone()))
    })?;
    debug_assert!(
        entries
            .iter()
            .all(|(k, _)| lakenode::device::KEYS.contains(k))
    );
    write_private(&args.output, &csv_text(&entries)?)?;
    let out = args.output.display();
    println!(
        "wrote {out}: {} entries in NVS namespace `lakenode`",
        entries.len()
    );
    println!("it holds secrets: keep it private and delete it once the device is flashed.");
    println!();
    println!("encrypted partition image (recommended; see firmware/esp32s3/README.md):");
    println!(
        "  python -m esp_idf_nvs_partition_gen encrypt {out} lakenode-nvs.bin {} --keygen --keyfile nvs_keys.bin",
        PARTITION.1
    );
    println!(
        "  espflash write-bin {} lakenode-nvs.bin && espflash write-bin {KEYS_OFFSET} keys/nvs_keys.bin",
        PARTITION.0
    );
    Ok(())
}

/// The NVS CSV: a namespace line, then one string entry per key.
fn csv_text(entries: &[(&str, String)]) -> CliResult<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| CliError::Usage(format!("cannot write the NVS CSV: {e}"));
    w.write_record(["key", "type", "encoding", "value"])
        .map_err(err)?;
    w.write_record([lakenode::device::NAMESPACE, "namespace", "", ""])
        .map_err(err)?;
    for (key, value) in entries {
        w.write_record([*key, "data", "string", value.as_str()])
            .map_err(err)?;
    }
    w.into_inner()
        .map_err(|e| CliError::Usage(format!("cannot write the NVS CSV: {}", e.error())))
}

/// Creates (or replaces) `path` readable by its owner only.
fn write_private(path: &Path, data: &[u8]) -> CliResult<()> {
    let mut out = OutputFile::create_private(path, &[])?;
    out.write_all(data).map_err(|e| out.error(e))?;
    Ok(out.commit()?)
}
