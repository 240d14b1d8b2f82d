//! The Debian package's example config (`packaging/station.toml.example`, installed as
//! `/etc/lakenode/station.toml.example`): `lakenode run --config` accepts it as the
//! unit would run it, so the documented example cannot rot. Building the package
//! itself is CI's (`scripts/package-deb.sh`, `.ci/run`).
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

fn packaging(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../packaging")
        .join(file)
}

/// Every key of the example goes through the real parser (`config::expand`, clap,
/// `run`'s checks) and the station starts: READY=1, then SIGTERM ends it with exit 0.
/// Only what cannot be used here is overridden on the command line, as the unit
/// overrides `spool`: the endpoint and bucket (the embedded server's), path style, and
/// the clock (this machine's may not be NTP-synchronised). Its sensors do not exist
/// here: they give nulls, as on a Pi whose sensor is missing.
#[test]
fn the_packaged_example_config_starts_a_station() {
    let example = packaging("station.toml.example");
    let text = std::fs::read_to_string(&example).unwrap();
    // The keys the unit and README rely on are set in it, not commented out.
    for key in [
        "endpoint", "bucket", "station", "bme280", "pms5003", "health",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{key} = "))),
            "{key} missing from the example"
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let s3 = lake_server(&tmp.path().join("s3"));
    let socket_path = tmp.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut child = lakenode_with_credentials()
        .args(["run", "--config"])
        .arg(&example)
        .args([
            "--endpoint",
            &s3.endpoint(),
            "--bucket",
            "lake",
            "--path-style",
        ])
        .arg("--spool")
        .arg(tmp.path().join("spool"))
        .arg("--trust-clock")
        .env("NOTIFY_SOCKET", &socket_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    let mut ready = false;
    // Until READY=1, or the node exits (a bad key: exit 2 at once).
    while !ready
        && started.elapsed() < Duration::from_secs(30)
        && child.try_wait().unwrap().is_none()
    {
        if let Ok(n) = socket.recv(&mut buf) {
            ready = String::from_utf8_lossy(&buf[..n]).contains("READY=1");
        }
    }
    let (_, out) = terminate(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(ready, "no READY=1: {stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // The example's sensors were the source (they are missing here), not a default.
    assert!(
        stderr.contains("/dev/i2c-1") && stderr.contains("/dev/serial0"),
        "{stderr}"
    );
}

/// The unit the package installs runs the packaged binary with the example's final
/// place as its config.
#[test]
fn the_unit_runs_the_packaged_binary_with_the_packaged_config() {
    let unit = std::fs::read_to_string(packaging("lakenode.service")).unwrap();
    assert!(
        unit.contains("\nExecStart=/usr/bin/lakenode run --config /etc/lakenode/station.toml "),
        "{unit}"
    );
    assert!(unit.contains("\nStateDirectory=lakenode\n"), "{unit}");
    let manifest =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .unwrap();
    assert!(
        manifest.contains(r#"["../../packaging/station.toml.example", "etc/lakenode/", "644"]"#),
        "{manifest}"
    );
}
