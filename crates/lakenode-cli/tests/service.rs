//! `lakenode run` as a systemd service (`packaging/lakenode.service`): a configuration
//! that can never work exits 2, the code the unit's `RestartPreventExitStatus=` names;
//! a sensor that cannot be opened at start does not stop the node and is picked up when
//! it appears; `Type=notify`: READY=1, watchdog pings and STOPPING=1 on the socket
//! named by `NOTIFY_SOCKET`.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::io::Write as _;
use std::os::unix::net::UnixDatagram;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use lakenode::schema::Measurement;

const STATION: &str = "0190f5c2-0000-7000-8000-0000000000d7";

#[test]
fn settings_that_can_never_work_exit_2_from_flags_and_from_the_config_file() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = tmp.path().join("spool");
    let base = ["--simulate", "1", "--duration", "1h"];
    for (extra, want) in [
        (&["--bucket", "Not_A_Bucket"][..], "invalid bucket"),
        (&["--station", "station-7"][..], "invalid station"),
        // The flag and its value as written, not milliseconds.
        (
            &["--window", "90s"][..],
            "error: --window 90s: must be a whole number of minutes that divides 24 h, like 5m, 15m or 1h (got 1m 30s)\n",
        ),
        (
            &["--interval", "1500ms"][..],
            "error: --interval 1500ms: must be a whole number of seconds, at least 1 s (got 1s 500ms)\n",
        ),
        (
            &["--interval", "7s"][..],
            "error: --window 15m: must be a multiple of --interval 7s\n",
        ),
        (&["--spool-limit", "4K"][..], "at least 65536"),
        (&["--timeout", "0s"][..], "--timeout must be 1s to 10m"),
        (
            &[
                "--spool-limit",
                "64K",
                "--upload-every",
                "24h",
                "--batch-high-water",
                "1M",
            ][..],
            "invalid batch_high_water: 1048576 bytes is above half the spool limit",
        ),
        (
            &[
                "--spool-limit",
                "64K",
                "--upload-every",
                "24h",
                "--batch-high-water",
                "63K",
            ][..],
            "give at most 32768",
        ),
    ] {
        let (out, _, stderr) = output(
            run_to("http://127.0.0.1:1", STATION, &spool)
                .args(base)
                .args(extra),
        );
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(want), "{extra:?}: {stderr}");
    }
    // No credentials: nothing to sign with, whatever restarts.
    let (out, _, stderr) = output(
        lakenode()
            .args([
                "run",
                "--endpoint",
                "http://127.0.0.1:1",
                "--bucket",
                "lake",
            ])
            .args(["--station", STATION, "--spool"])
            .arg(&spool)
            .args(base),
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no AWS credentials found"), "{stderr}");

    let good = "endpoint = \"http://127.0.0.1:1\"\nbucket = \"lake\"\npath_style = true\n\
                spool = \"spool\"\nsimulate = 1\nduration = \"1h\"\n";
    for (text, want) in [
        (
            format!("{good}station = \"nope\"\n"),
            "key `station`: invalid station",
        ),
        (
            format!("{good}station = \"{STATION}\"\nbucket_name = \"x\"\n"),
            "key `bucket_name`: not a setting of `run`",
        ),
        (
            format!("{good}station = \"{STATION}\"\nwindow = \"7m\"\n"),
            "station.toml: key `window`: --window 7m: must be a whole number of minutes",
        ),
        (
            format!("{good}station = \"{STATION}\"\nwindow = 15m\n"),
            "not valid TOML",
        ),
        // The core's setting, named as the file wrote it (either spelling).
        (
            format!("{good}station = \"{STATION}\"\nspool_limit = 1000\n"),
            "key `spool_limit`: invalid spool_limit",
        ),
        (
            format!("{good}station = \"{STATION}\"\nspool-limit = 1000\n"),
            "key `spool-limit`: invalid spool_limit",
        ),
        (
            format!(
                "{good}station = \"{STATION}\"\nspool_limit = \"64K\"\nupload_every = \"24h\"\nbatch-high-water = \"1M\"\n"
            ),
            "key `batch-high-water`: invalid batch_high_water",
        ),
        // `run`'s own check, named by key, the duration as written (adversarial review).
        (
            format!("{good}station = \"{STATION}\"\nupload-every = \"25h\"\n"),
            "station.toml: key `upload-every`: --upload-every 25h must",
        ),
        (
            format!("{good}station = \"{STATION}\"\ninterval = \"1500ms\"\n"),
            "station.toml: key `interval`: --interval 1500ms: must be a whole number of seconds",
        ),
        (
            format!("{good}station = \"{STATION}\"\nhealth = \"yes\"\n"),
            "key `health`: is a switch",
        ),
    ] {
        let config = tmp.path().join("station.toml");
        std::fs::write(&config, &text).unwrap();
        let (out, _, stderr) = output(
            lakenode_with_credentials()
                .args(["run", "--config"])
                .arg(&config),
        );
        assert_eq!(out.status.code(), Some(2), "{text}: {stderr}");
        assert!(stderr.contains(want), "{text}: {stderr}");
    }
    let (out, _, stderr) = output(
        lakenode_with_credentials()
            .args(["run", "--config"])
            .arg(tmp.path().join("missing.toml")),
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // The unit names that code.
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/lakenode.service"),
    )
    .unwrap();
    assert!(unit.contains("\nRestartPreventExitStatus=2\n"), "{unit}");
}

#[test]
fn the_service_manager_hears_ready_watchdog_pings_and_stopping() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = lake_server(&tmp.path().join("s3"));
    let socket_path = tmp.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let child = run_to(&s3.endpoint(), STATION, &tmp.path().join("spool"))
        .args([
            "--simulate",
            "3",
            "--interval",
            "1s",
            "--window",
            "1m",
            "--trust-clock",
        ])
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "2000000")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut messages: Vec<String> = Vec::new();
    let mut buf = [0u8; 4096];
    let started = Instant::now();
    while messages.iter().filter(|m| m.contains("WATCHDOG=1")).count() < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not READY and four watchdog pings: {messages:?}"
        );
        if let Ok(n) = socket.recv(&mut buf) {
            messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    let pinged = started.elapsed();
    let (_, out) = terminate(child);
    while let Ok(n) = socket.recv(&mut buf) {
        messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(messages[0].contains("READY=1"), "READY first: {messages:?}");
    assert_eq!(
        messages.iter().filter(|m| m.contains("READY=1")).count(),
        1,
        "{messages:?}"
    );
    // Half the 2 s timeout apart: four pings take at least 1.5 s.
    assert!(
        pinged >= Duration::from_millis(1500),
        "{pinged:?}: {messages:?}"
    );
    assert!(
        messages.last().is_some_and(|m| m.contains("STOPPING=1")),
        "{messages:?}"
    );
}

/// A PMS5003 data frame (32 bytes, big-endian words, checksum of the first 30 bytes).
fn frame(pm1: u16, pm25: u16, pm10: u16) -> Vec<u8> {
    let mut f = vec![0x42, 0x4d, 0x00, 0x1c];
    for v in [pm1, pm25, pm10, pm1, pm25, pm10, 0, 0, 0, 0, 0, 0, 0] {
        f.extend(v.to_be_bytes());
    }
    let sum: u16 = f.iter().map(|&b| u16::from(b)).sum();
    f.extend(sum.to_be_bytes());
    f
}

/// (pms5003 state, failures) of every health row under `dir`.
fn pms_health(dir: &std::path::Path) -> Vec<(String, i64)> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let mut out = Vec::new();
    for f in files_with_extension(dir, "parquet") {
        let reader =
            SerializedFileReader::new(bytes::Bytes::from(std::fs::read(&f).unwrap())).unwrap();
        for row in reader.get_row_iter(None).unwrap() {
            let row = row.unwrap();
            let (mut state, mut failures) = (String::new(), -1);
            for (name, field) in row.get_column_iter() {
                match (name.as_str(), field) {
                    ("pms5003", parquet::record::Field::Str(s)) => state.clone_from(s),
                    ("pms5003_failures", parquet::record::Field::Long(n)) => failures = *n,
                    _ => {}
                }
            }
            out.push((state, failures));
        }
    }
    out
}

#[test]
fn a_sensor_missing_at_start_gives_nulls_and_is_read_once_it_appears() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = lake_server(&tmp.path().join("s3"));
    let port = tmp.path().join("ttyPMS");
    let mut child = run_to(&s3.endpoint(), STATION, &tmp.path().join("spool"))
        .arg("--pms5003")
        .arg(&port)
        .args([
            "--health",
            "--interval",
            "1s",
            "--window",
            "1m",
            "--trust-clock",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The sensor appears a few seconds later: a pty pair behind the path given.
    std::thread::sleep(Duration::from_secs(3));
    let master =
        rustix::pty::openpt(rustix::pty::OpenptFlags::RDWR | rustix::pty::OpenptFlags::NOCTTY)
            .unwrap();
    rustix::pty::grantpt(&master).unwrap();
    rustix::pty::unlockpt(&master).unwrap();
    let slave = rustix::pty::ptsname(&master, Vec::new()).unwrap();
    std::os::unix::fs::symlink(slave.to_str().unwrap(), &port).unwrap();
    let mut master = std::fs::File::from(master);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if master.write_all(&frame(5, 12, 20)).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };

    // Until a data file holds readings: the node tried again a minute after start.
    let lake = tmp.path().join("s3/lake");
    let data = lake.join(format!("station={STATION}"));
    let read = |f: &std::path::PathBuf| {
        lakenode_lake::readback::decode(std::fs::read(f).unwrap()).unwrap()
    };
    let started = Instant::now();
    while !files_with_extension(&data, "parquet").iter().any(|f| {
        read(f)
            .samples
            .iter()
            .any(|s| s.count(Measurement::Pm25) == Some(12))
    }) {
        assert!(
            started.elapsed() < Duration::from_secs(200),
            "no readings after the sensor appeared"
        );
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            panic!("the node stopped ({status}): {stderr}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let resumed = started.elapsed();
    let (_, out) = terminate(child);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the node kept running: {stderr}"
    );
    assert_eq!(
        stderr.matches("cannot open the serial port").count(),
        1,
        "logged once: {stderr}"
    );
    assert!(stderr.contains("the PMS5003 is open"), "{stderr}");
    assert!(
        resumed >= Duration::from_secs(55),
        "tried again within the minute? {resumed:?}"
    );
    // Nulls while it was missing, counted in the health rows.
    let first = files_with_extension(&data, "parquet")
        .iter()
        .map(read)
        .min_by_key(|f| f.samples.first().map(|s| s.timestamp_ms))
        .unwrap();
    assert!(
        first
            .samples
            .iter()
            .all(|s| s.count(Measurement::Pm25).is_none()),
        "the first window has no readings"
    );
    let health = pms_health(&lake.join("health"));
    assert!(
        health.iter().any(|(state, n)| state == "missing" && *n > 0),
        "{health:?}"
    );
}

/// `serve` takes its credentials from the environment only: its hint must not name
/// `--credentials-file`, which it rejects.
#[test]
fn serve_without_credentials_names_the_variables_not_a_flag_it_rejects() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, _, stderr) = output(lakenode().arg("serve").arg("--data-dir").arg(tmp.path()));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "AWS_ACCESS_KEY_ID is not set: export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("--credentials-file"), "{stderr}");
}

/// A config file longer than its size said when checked (it grew; here a /proc file,
/// whose size reads 0) is refused, never cut at 64 KiB.
#[cfg(target_os = "linux")]
#[test]
fn a_config_that_grows_past_64_kib_while_read_is_refused_not_cut() {
    let (out, _, stderr) = output(
        lakenode_with_credentials()
            .env("LAKENODE_TEST_PAD", "x".repeat(70_000))
            .args(["run", "--config", "/proc/self/environ"]),
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("grew while being read"), "{stderr}");
}
