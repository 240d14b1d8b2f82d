//! Delivery under faults: the real binary uploads a 6-hour simulated run (5-minute
//! windows, so 72 uploads meet the faults) through a
//! fault-injecting proxy (resets, 503 SlowDown, stalls past the timeout, the server
//! down for a while, a flipped body byte that S3 must refuse) to the embedded S3, and is SIGKILLed at random instants and
//! started again with the same arguments, 12 times. Afterwards every object must read
//! back, no timestamp may appear twice, at most one sample may be lost per kill, and
//! the spool must be empty. Loopback only.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::proxy::{FaultPlan, FaultProxy};
use common::*;
use lakenode::sim::{Simulator, mix64};

const START: &str = "2026-01-01T00:00:00Z";
const START_MS: i64 = 1_767_225_600_000;
const SAMPLES: i64 = 6 * 720; // 6 h at 5 s
const SEED: u64 = 21;
const KILLS: u32 = 12;

#[test]
fn faults_and_kills_lose_at_most_one_sample_per_kill_and_duplicate_none() {
    let log = faults_and_kills(&[]);
    assert!(
        !log.contains("batch of uploads"),
        "no batches without --upload-every"
    );
}

/// The same with batched uploads: the windows wait in the spool until 40 KB (about 9
/// files) open a batch, or the end of the input sends what waits in a last one, so
/// every kill lands inside a batch, between or during its requests, and each restart
/// opens a batch that goes on where the last one stopped.
#[test]
fn faults_and_kills_with_batched_uploads_lose_and_duplicate_nothing_more() {
    let log = faults_and_kills(&[
        "--upload-every",
        "1h",
        "--batch-high-water",
        "40K",
        "--log",
        "info",
    ]);
    let opened = log.matches("batch of uploads opened").count();
    let closed = log.matches("batch of uploads closed").count();
    assert!(
        opened >= 10 && closed >= 1,
        "{opened} batches opened, {closed} closed:\n{log}"
    );
}

/// The fault run with `extra` flags; see the module docs. Returns the runs' log.
fn faults_and_kills(extra: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("s3");
    let s3 = lake_server(&data);
    let proxy = FaultProxy::start(
        s3.addr(),
        FaultPlan {
            reset: 0.15,
            slowdown: 0.12,
            stall: 0.08,
            corrupt: 0.04,
            internal: 0.0,
            lost_reply: 0.0,
            stall_for: Duration::from_secs(3),
            outage: Some((40, Duration::from_secs(3))),
            seed: 7,
            refuse_path: None,
            slow_path: None,
        },
    );
    let spool = tmp.path().join("spool");
    let endpoint = proxy.endpoint();
    let args = [
        "run",
        "--endpoint",
        &endpoint,
        "--bucket",
        "lake",
        "--path-style",
        "--station",
        "0190f5c2-0000-7000-8000-000000000006",
        "--spool",
        spool.to_str().unwrap(),
        "--simulate",
        "21",
        "--start",
        START,
        "--duration",
        "6h",
        "--window",
        "5m",
        "--timeout",
        "1s",
        "--give-up-after",
        "60s",
    ];
    let args: Vec<&str> = args.iter().chain(extra).copied().collect();
    let log = tmp.path().join("runs.log");

    // Kill points: when S3 holds k objects, plus 0-20 ms, so kills land at arbitrary
    // instants (sampling, encoding, mid-upload, replaying the journal at start) while
    // the run cannot finish before all 12 happened.
    let mut kill_at: Vec<usize> = (0..KILLS)
        .map(|i| (mix64(u64::from(i) ^ 0x5EED) % 66) as usize)
        .collect();
    kill_at.sort_unstable();
    let objects = || files_with_extension(&data.join("lake"), "parquet").len();

    let started = Instant::now();
    let (mut kills, mut runs) = (0u32, 0u32);
    loop {
        runs += 1;
        assert!(
            runs <= 60,
            "did not finish after {runs} runs; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut child = lakenode_with_credentials()
            .args(&args)
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if let Some(&at) = kill_at.get(kills as usize)
                && objects() >= at
            {
                std::thread::sleep(Duration::from_millis(mix64(u64::from(runs)) % 21));
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
                break None;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        if status.is_some_and(|s| s.success()) {
            break;
        }
    }
    let wall = started.elapsed();

    // Everything S3 holds, decoded, against what the simulator sampled.
    let sim = Simulator::new(SEED);
    let mut seen: BTreeMap<i64, u32> = BTreeMap::new();
    let files = files_with_extension(&data.join("lake"), "parquet");
    for path in &files {
        let decoded = lakenode_lake::readback::decode(std::fs::read(path).unwrap())
            .expect("every object reads back");
        for s in &decoded.samples {
            *seen.entry(s.timestamp_ms).or_default() += 1;
            assert_eq!(
                *s,
                sim.sample_at(s.timestamp_ms),
                "{}: values differ from the sampled ones",
                path.display()
            );
        }
    }
    let expected: Vec<i64> = (0..SAMPLES).map(|i| START_MS + i * 5_000).collect();
    let delivered = seen.len() as i64;
    let duplicated = seen.values().filter(|n| **n > 1).count();
    let lost = expected.iter().filter(|t| !seen.contains_key(t)).count();
    let unexpected = seen.keys().filter(|t| !expected.contains(t)).count();
    println!(
        "faults{extra:?}: {} injected ({}); kills {kills}, runs {runs}; samples taken {SAMPLES}, delivered {delivered}, \
lost {lost}, duplicated {duplicated}; {} files; {:.1} s",
        proxy.counts.injected(),
        proxy.counts.summary(),
        files.len(),
        wall.as_secs_f64()
    );
    assert_eq!(kills, KILLS);
    assert!(
        proxy
            .counts
            .resets
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    assert!(
        proxy
            .counts
            .slowdowns
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    assert!(
        proxy
            .counts
            .stalls
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    assert!(
        proxy
            .counts
            .corrupted
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    assert_eq!(duplicated, 0, "a timestamp appears in two objects");
    assert_eq!(unexpected, 0);
    assert!(
        lost <= kills as usize,
        "lost {lost} samples with {kills} kills"
    );
    assert!(
        files_with_extension(&spool, "lks").is_empty(),
        "the spool must be empty at the end"
    );
    assert_lake_ok(&data.join("lake"), &["--rows", &delivered.to_string()]);
    std::fs::read_to_string(&log).unwrap_or_default()
}

/// A bucket that refuses the health tree (a policy that leaves it out) never holds back
/// data: every data row arrives, data before health, and the run ends with exit 3 and
/// says why, the health rows kept in the spool.
#[test]
fn a_refused_health_tree_never_holds_back_a_data_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("s3");
    let s3 = lake_server(&data);
    let proxy = FaultProxy::start(
        s3.addr(),
        FaultPlan {
            refuse_path: Some("/lake/raw/health/"),
            ..FaultPlan::clean()
        },
    );
    let spool = tmp.path().join("spool");
    let station = "0190f5c2-0000-7000-8000-000000000019";
    let (out, stdout, stderr) = output(run_to(&proxy.endpoint(), station, &spool).args([
        "--prefix",
        "raw",
        "--health",
        "--simulate",
        "3",
        "--start",
        START,
        "--duration",
        "1h",
    ]));
    assert_eq!(
        out.status.code(),
        Some(3),
        "refused health rows end the run with 3\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains("every data file was delivered, but the upload of raw/health/station="),
        "{stderr}"
    );
    assert!(stderr.contains("403 AccessDenied"), "{stderr}");
    assert!(
        stderr.contains("lakenode policy"),
        "the hint names the fix: {stderr}"
    );
    let lake = data.join("lake").join("raw");
    let sim = Simulator::new(3);
    let samples = (0..720)
        .map(|i| sim.sample_at(START_MS + i * 5_000))
        .collect();
    assert_lake_holds(
        &tmp.path().join("expected.json"),
        &lake,
        station,
        samples,
        &lakenode::schema::Measurement::ALL,
        (4, 720),
    );
    assert!(files_with_extension(&lake.join("health"), "parquet").is_empty());
    assert_eq!(
        files_with_extension(&spool, "lks").len(),
        4,
        "the 4 health rows wait in the spool for a policy that allows them"
    );
    assert!(
        proxy
            .counts
            .denied
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
}
