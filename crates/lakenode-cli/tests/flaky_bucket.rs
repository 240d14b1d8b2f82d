//! `lakenode compact` and `lakenode report` through a bucket that fails one request in
//! four: 503 SlowDown, 500 InternalError after the request was carried out, and
//! connections dropped before or after it was. Both finish (exit 0), and the day ends
//! in one daily file holding each of its 17,280 rows once.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::proxy::{FaultPlan, FaultProxy};
use common::*;

const STATION: &str = "0190f5c2-0000-7000-8000-000000000f1a";
/// 24 h at 5 s.
const ROWS: usize = 17_280;
const DAY_START_MS: i64 = 1_795_132_800_000; // 2026-11-20T00:00:00Z

fn day_dir(bucket: &Path) -> std::path::PathBuf {
    bucket.join(format!("station={STATION}/year=2026/month=11/day=20"))
}

#[test]
fn the_day_starts_where_the_test_says() {
    let t: jiff::Timestamp = "2026-11-20T00:00:00Z".parse().unwrap();
    assert_eq!(t.as_millisecond(), DAY_START_MS);
}

/// The file names in the day's directory.
fn names(bucket: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(day_dir(bucket))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// The station's half-hour window files from 2026-11-20T00:00Z for `duration`, written
/// straight to the server. Half-hour windows: half the requests of the default 15
/// minutes, so the runs' retry delays (the station's, from 1 s) keep the tests short.
fn write_windows(s3: &lakenode_embedded_s3::EmbeddedS3, tmp: &Path, duration: &str) {
    success(
        run_to(&s3.endpoint(), STATION, &tmp.join("spool"))
            .args(["--simulate", "3", "--window", "30m"])
            .args(["--start", "2026-11-20T00:00:00Z", "--duration", duration]),
    );
}

/// A proxy in front of `s3` failing about one request in four, every kind of fault
/// drawn with `seed`.
fn failing_one_in_four(s3: &lakenode_embedded_s3::EmbeddedS3, seed: u64) -> FaultProxy {
    FaultProxy::start(
        s3.addr(),
        FaultPlan {
            reset: 0.06,
            slowdown: 0.06,
            internal: 0.07,
            lost_reply: 0.06,
            seed,
            ..FaultPlan::clean()
        },
    )
}

/// The daily file of day `day` (0: the 20th) holds each 5 s instant of the day once,
/// in order.
fn assert_whole_day(bucket: &Path, day: i64) {
    let dir = bucket.join(format!(
        "station={STATION}/year=2026/month=11/day={}",
        20 + day
    ));
    let file =
        lakenode_lake::readback::decode(std::fs::read(dir.join("data_day.parquet")).unwrap())
            .unwrap();
    let start = DAY_START_MS + day * 86_400_000;
    let times: Vec<i64> = file.samples.iter().map(|s| s.timestamp_ms).collect();
    let grid: Vec<i64> = (0..ROWS as i64).map(|i| start + i * 5_000).collect();
    assert_eq!(times, grid, "day {day}: each instant once, in order");
}

#[test]
fn compact_and_report_finish_through_a_bucket_failing_one_request_in_four() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("s3");
    let s3 = lake_server(&data);
    let bucket = data.join("lake");
    // A day of window files.
    write_windows(&s3, tmp.path(), "24h");
    let windows = names(&bucket);
    assert_eq!(windows.len(), 48, "{windows:?}");

    let proxy = failing_one_in_four(&s3, 22);
    let endpoint = proxy.endpoint();
    let lake = ["--endpoint", &endpoint, "--bucket", "lake", "--path-style"];
    let started = Instant::now();
    let (out, stdout, stderr) = output(
        lakenode_with_credentials()
            .arg("compact")
            .args(lake)
            .args(["--before", "2026-11-21"]),
    );
    assert!(out.status.success(), "compact: {stdout}\n{stderr}");
    assert!(
        stderr.contains("retrying in"),
        "retries are logged: {stderr}"
    );
    let compacted = proxy.counts.summary();
    let page = tmp.path().join("report.html");
    let (out, stdout, stderr) = output(
        lakenode_with_credentials()
            .arg("report")
            .args(lake)
            .args(["--at", "2026-11-21T00:00:00Z", "--days", "2", "--out"])
            .arg(&page),
    );
    assert!(out.status.success(), "report: {stdout}\n{stderr}");
    assert!(std::fs::read_to_string(&page).unwrap().contains(STATION));
    let took = started.elapsed();
    println!(
        "flaky bucket: compact then report in {:.1} s; compact: {compacted}; in all: {}",
        took.as_secs_f64(),
        proxy.counts.summary()
    );
    let injected = proxy
        .counts
        .internal
        .load(std::sync::atomic::Ordering::Relaxed)
        .min(
            proxy
                .counts
                .lost_replies
                .load(std::sync::atomic::Ordering::Relaxed),
        )
        .min(
            proxy
                .counts
                .resets
                .load(std::sync::atomic::Ordering::Relaxed),
        )
        .min(
            proxy
                .counts
                .slowdowns
                .load(std::sync::atomic::Ordering::Relaxed),
        );
    assert!(
        injected > 0,
        "every kind of fault was met: {}",
        proxy.counts.summary()
    );

    // One daily file, no window file left, no lock, nothing set aside.
    assert_eq!(names(&bucket), ["data_day.parquet"]);
    assert!(!bucket.join(".lakenode-compact-lock").exists());
    assert_whole_day(&bucket, 0);
    assert!(took < Duration::from_secs(120), "{took:?}");
}

/// The same bucket, three days of the station (three station-days),
/// compacted three at once: several requests are in flight together, every failure is
/// retried by the worker that met it, and each day ends as one verified daily file
/// holding each of its rows once, with no window file, lock or `.aside` left.
#[test]
fn concurrent_compaction_finishes_through_a_bucket_failing_one_request_in_four() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("s3");
    let s3 = lake_server(&data);
    let bucket = data.join("lake");
    write_windows(&s3, tmp.path(), "72h");
    let proxy = failing_one_in_four(&s3, 23);
    let endpoint = proxy.endpoint();
    let (out, stdout, stderr) = output(
        lakenode_with_credentials()
            .arg("compact")
            .args(["--endpoint", &endpoint, "--bucket", "lake", "--path-style"])
            .args(["--before", "2026-11-23", "--jobs", "3"]),
    );
    assert!(out.status.success(), "compact: {stdout}\n{stderr}");
    assert!(stdout.contains("station-days  3\n"), "{stdout}");
    assert!(stderr.contains("retrying in"), "{stderr}");
    let most = proxy
        .counts
        .most_in_flight
        .load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "concurrent: {most} requests at once at most; {}",
        proxy.counts.summary()
    );
    assert!(most >= 2, "station-days compacted one at a time: {most}");

    let mut files: Vec<String> = files_where(&bucket, &|p| !is_hidden(p))
        .iter()
        .map(|p| p.strip_prefix(&bucket).unwrap().display().to_string())
        .collect();
    // The month's rollup (written after the days, still under the lock) and the days.
    let rollup = format!("rollup/station={STATION}/month=2026-11.v2.json");
    assert!(files.contains(&rollup), "{files:?}");
    files.retain(|f| *f != rollup);
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(
        files.iter().all(|f| f.ends_with("_day.parquet")),
        "{files:?}"
    );
    assert!(!bucket.join(".lakenode-compact-lock").exists());
    for day in 0..3_i64 {
        assert_whole_day(&bucket, day);
    }
}

/// Starts `cmd`, waits until the proxy has answered two more 503s (it is in its retries),
/// sends SIGTERM, and returns how long it took to end and what it said.
fn stopped_while_retrying(
    cmd: &mut std::process::Command,
    proxy: &FaultProxy,
) -> (Duration, std::process::Output) {
    use std::process::Stdio;
    use std::sync::atomic::Ordering::Relaxed;
    let before = proxy.counts.slowdowns.load(Relaxed);
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    while proxy.counts.slowdowns.load(Relaxed) < before + 2 {
        assert!(Instant::now() < until, "{}", proxy.counts.summary());
        assert!(child.try_wait().unwrap().is_none(), "ended before retrying");
        std::thread::sleep(Duration::from_millis(20));
    }
    sigterm(&child);
    let signalled = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if signalled.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("still running 30 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (signalled.elapsed(), child.wait_with_output().unwrap())
}

/// SIGTERM while `compact` (then `report`) retries downloads the bucket keeps answering
/// `503 SlowDown`: the retry's wait wakes, the run exits 4 within seconds saying what
/// was done and left; compact releases the lock object and deleted nothing, so the
/// next run can start at once and finishes the day.
#[test]
fn compact_and_report_stopped_by_sigterm_while_retrying_exit_4_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("s3");
    let s3 = lake_server(&data);
    let bucket = data.join("lake");
    let lock = bucket.join(".lakenode-compact-lock");
    write_windows(&s3, tmp.path(), "2h");
    let windows = names(&bucket);
    assert_eq!(windows.len(), 4, "{windows:?}");
    // Every download of a window file is throttled; the listing and the lock go through.
    let proxy = FaultProxy::start(
        s3.addr(),
        FaultPlan {
            slow_path: Some("/data_"),
            ..FaultPlan::clean()
        },
    );
    let lake = |endpoint: &str, command: &str| {
        let mut cmd = lakenode_with_credentials();
        cmd.arg(command)
            .args(["--endpoint", endpoint, "--bucket", "lake", "--path-style"]);
        cmd
    };
    let (took, out) = stopped_while_retrying(
        lake(&proxy.endpoint(), "compact").args(["--before", "2026-11-21"]),
        &proxy,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("compact stopped {took:?} after SIGTERM:\n{stderr}");
    assert!(took < Duration::from_secs(5), "stopped after {took:?}");
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("stopped by a signal while retrying")
            && stderr.contains("0 station-day(s) compacted, 1 left as they are")
            && stderr.contains("run the same command again"),
        "{stderr}"
    );
    assert!(!lock.exists(), "the lock is released");
    assert_eq!(names(&bucket), windows, "nothing deleted");

    let page = tmp.path().join("report.html");
    let (took, out) = stopped_while_retrying(
        lake(&proxy.endpoint(), "report")
            .args(["--at", "2026-11-21T00:00:00Z", "--out"])
            .arg(&page),
        &proxy,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(took < Duration::from_secs(5), "stopped after {took:?}");
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("stopped by a signal while retrying"),
        "{stderr}"
    );
    assert!(!page.exists(), "no page written");

    // The next compaction starts at once (no lock to wait for) and finishes the day.
    success(lake(&s3.endpoint(), "compact").args(["--before", "2026-11-21"]));
    assert_eq!(names(&bucket), ["data_day.parquet"]);
}
