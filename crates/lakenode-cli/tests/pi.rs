//! The Raspberry Pi station, with what can be had on a PC: a PMS5003 behind a
//! pseudo-terminal pair. A fake sensor writes real frames into one end (with garbage
//! between frames and one frame with a bad checksum); `run --pms5003 <other end>`
//! samples it in real time against the embedded S3 server; the values must land in the
//! lake exactly, and SIGTERM must stop the run cleanly (exit 0, the open window kept in
//! the journal for the next start). There is no I2C bus here: the I2C wiring is covered
//! by a fake device behind the same traits (`sensors::tests`).
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use lakenode::schema::Measurement;

const STATION: &str = "0190f5c2-0000-7000-8000-0000000000e1";

/// A PMS5003 data frame (32 bytes, big-endian words, checksum of the first 30 bytes).
fn frame(pm1: u16, pm25: u16, pm10: u16, good_checksum: bool) -> Vec<u8> {
    let mut f = vec![0x42, 0x4d, 0x00, 0x1c];
    for v in [pm1, pm25, pm10, pm1, pm25, pm10, 0, 0, 0, 0, 0, 0, 0] {
        f.extend(v.to_be_bytes());
    }
    let sum: u16 = f.iter().map(|&b| u16::from(b)).sum();
    f.extend((if good_checksum { sum } else { sum ^ 0x5a5a }).to_be_bytes());
    f
}

#[test]
fn pms5003_over_a_pty_lands_in_the_lake_exactly_and_sigterm_stops_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = lake_server(&tmp.path().join("s3"));
    let master =
        rustix::pty::openpt(rustix::pty::OpenptFlags::RDWR | rustix::pty::OpenptFlags::NOCTTY)
            .unwrap();
    rustix::pty::grantpt(&master).unwrap();
    rustix::pty::unlockpt(&master).unwrap();
    let slave = rustix::pty::ptsname(&master, Vec::new()).unwrap();
    let slave = slave.to_str().unwrap().to_owned();
    let mut master = std::fs::File::from(master);

    // The fake sensor: a frame every 200 ms, garbage between, one bad frame early on.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let mut bytes = vec![0x00, 0x42, 0x13, 0x4d, 0xff];
                if n == 3 {
                    bytes.extend(frame(999, 999, 999, false));
                }
                bytes.extend(frame(5, 12, 20, true));
                if master.write_all(&bytes).is_err() {
                    break;
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };

    let spool = tmp.path().join("spool");
    let child = run_to(&s3.endpoint(), STATION, &spool)
        .args(["--pms5003", &slave, "--health", "--trust-clock"])
        .args(["--interval", "1s", "--window", "1m"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Until a window (at most a minute, aligned to the clock) has been uploaded.
    let lake = tmp.path().join("s3/lake");
    let started = Instant::now();
    while files_with_extension(&lake.join(format!("station={STATION}")), "parquet").is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "no window was uploaded"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(3));
    let (_, out) = terminate(child);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "SIGTERM must end the run cleanly: {stderr}"
    );
    assert!(
        stdout.contains(&format!("station {STATION}:")),
        "summary missing: {stdout}"
    );

    let mut rows = 0;
    for f in files_with_extension(&lake.join(format!("station={STATION}")), "parquet") {
        let file = lakenode_lake::readback::decode(std::fs::read(&f).unwrap()).unwrap();
        assert_eq!(
            file.columns,
            [Measurement::Pm1, Measurement::Pm25, Measurement::Pm10]
        );
        for s in &file.samples {
            let values = (
                s.count(Measurement::Pm1),
                s.count(Measurement::Pm25),
                s.count(Measurement::Pm10),
            );
            // Nulls only when no frame came in since the previous sample.
            assert!(
                values == (Some(5), Some(12), Some(20)) || values == (None, None, None),
                "{}: {values:?}",
                f.display()
            );
            rows += usize::from(values.0.is_some());
        }
    }
    assert!(rows >= 3, "only {rows} rows with readings");
    // The health tree counts the bad frame as a failure of the PMS5003.
    assert!(!files_with_extension(&lake.join("health"), "parquet").is_empty());
    // The open window stays in the journal: the next start continues it.
    let (_, replay) = lakenode::fuzzing::Journal::open(&spool).unwrap();
    assert!(!replay.samples.is_empty(), "the open window was lost");
}

/// `--config station.toml`: the whole `run` from a file, a flag overriding it, errors
/// naming the key, secrets refused.
#[test]
fn run_takes_its_settings_from_a_config_file_and_flags_override_it() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = lake_server(&tmp.path().join("s3"));
    let config = tmp.path().join("station.toml");
    std::fs::write(
        &config,
        format!(
            "endpoint = \"{}\"\nbucket = \"lake\"\npath_style = true\nstation = \"{STATION}\"\n\
             spool = \"spool\"\nsimulate = 4\nstart = \"2026-11-20T00:00:00Z\"\nduration = \"1h\"\n\
             window = \"30m\"\n",
            s3.endpoint()
        ),
    )
    .unwrap();
    // The file says 30 minute windows; the command line says 15.
    let stdout = success(
        lakenode_with_credentials()
            .args(["run", "--config"])
            .arg(&config)
            .args(["--window", "15m"]),
    );
    assert!(stdout.contains("720 samples, 4 files uploaded"), "{stdout}");
    assert!(
        tmp.path().join("spool/journal.lkj").exists(),
        "spool is relative to the file"
    );

    for (extra, want) in [
        (
            "window = \"7m\"\n",
            "bad.toml: key `window`: --window 7m: must be a whole number of minutes",
        ),
        (
            "colums = \"pm25\"\n",
            "key `colums`: not a setting of `run`",
        ),
        (
            "aws_secret_access_key = \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"\n",
            "secrets are not read",
        ),
    ] {
        let text = std::fs::read_to_string(&config)
            .unwrap()
            .replace("window = \"30m\"\n", "");
        let bad = tmp.path().join("bad.toml");
        std::fs::write(&bad, format!("{text}{extra}")).unwrap();
        let (out, _, stderr) = output(
            lakenode_with_credentials()
                .args(["run", "--config"])
                .arg(&bad),
        );
        assert_eq!(out.status.code(), Some(2), "{extra}: {stderr}");
        assert!(stderr.contains(want), "{extra}: {stderr}");
        assert!(!stderr.contains("EXAMPLEKEY"));
    }
}
