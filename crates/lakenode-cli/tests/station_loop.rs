//! The station loop against hostile conditions, through the real binary: a second
//! process on one spool, a journal written by a clock in 2099, a CSV older than the
//! spool, replies that are not S3's (a proxy's 404 page, a portal's 200, S3 rejecting
//! the file), a dead endpoint, a full spool, and an endpoint that accepts and never
//! answers while the node samples in real time. Loopback only.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::fake_http::{Behaviour, FakeHttp, response};
use common::*;
use lakenode_embedded_s3::EmbeddedS3;

const STATION: &str = "0190f5c2-0000-7000-8000-000000000900";

fn server(dir: &Path) -> EmbeddedS3 {
    lake_server(dir)
}

/// `lakenode run` to `endpoint`, bucket `lake`, with `spool` and extra arguments.
fn run(endpoint: &str, spool: &Path, extra: &[&str]) -> Command {
    let mut c = run_to(endpoint, STATION, spool);
    c.args(extra);
    c
}

/// `--simulate 1 --start START --duration DURATION` and `extra`.
fn sim<'a>(start: &'a str, duration: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--simulate", "1", "--start", start, "--duration", duration];
    args.extend_from_slice(extra);
    args
}

fn spooled(spool: &Path) -> usize {
    files_with_extension(spool, "lks")
        .iter()
        .filter(|p| !p.components().any(|c| c.as_os_str() == "quarantine"))
        .count()
}

/// Every sample timestamp a spool holds: journal plus sealed data files.
fn recorded_timestamps(spool: &Path) -> Vec<i64> {
    let (_, replay) = lakenode::fuzzing::Journal::open(spool).unwrap();
    let mut out: Vec<i64> = replay.samples.iter().map(|s| s.timestamp_ms).collect();
    let sp = lakenode::fuzzing::Spool::open(spool).unwrap();
    for id in sp.pending().unwrap() {
        let entry = sp.read(id).unwrap();
        if entry.key.contains("/data_") && !entry.key.starts_with("health/") {
            let file = lakenode_lake::readback::decode(entry.body).unwrap();
            out.extend(file.samples.iter().map(|s| s.timestamp_ms));
        }
    }
    out.sort_unstable();
    out
}

/// `t` in milliseconds since the Unix epoch.
fn unix_ms(t: std::time::SystemTime) -> i64 {
    i64::try_from(t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

fn kill(mut child: Child) -> String {
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_second_process_on_one_spool_is_refused_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = server(&tmp.path().join("s3"));
    let spool = tmp.path().join("spool");
    let first = run(
        &s3.endpoint(),
        &spool,
        &["--simulate", "1", "--interval", "1s", "--trust-clock"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(spool.join("lock")).is_ok_and(|t| t.starts_with("pid")) {
        assert!(
            Instant::now() < deadline,
            "the first run never took the lock"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The same CSV import a second later, and another real-time run: both refused.
    let csv = tmp.path().join("in.csv");
    std::fs::write(
        &csv,
        "timestamp,temperature\n2026-01-01T00:00:00Z,20.5\n2026-01-01T00:00:05Z,20.6\n",
    )
    .unwrap();
    for extra in [
        &["--csv", csv.to_str().unwrap()][..],
        &["--simulate", "2"][..],
    ] {
        let started = Instant::now();
        let (out, _, stderr) = output(&mut run(&s3.endpoint(), &spool, extra));
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("in use by another lakenode process (pid"),
            "{stderr}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not refused at once"
        );
    }
    let log = kill(first);
    assert!(
        !log.contains("No such file") && !log.contains("File exists"),
        "{log}"
    );
    // Once the first is gone the spool is free again (a CSV after its samples).
    let later = tmp.path().join("later.csv");
    std::fs::write(&later, "timestamp,temperature\n2030-01-01T00:00:00Z,20.5\n").unwrap();
    let stdout = success(&mut run(
        &s3.endpoint(),
        &spool,
        // One row tells no interval: it is given.
        &["--csv", later.to_str().unwrap(), "--interval", "5s"],
    ));
    assert!(stdout.contains("1 samples"), "{stdout}");
}

#[test]
fn a_journal_from_2099_does_not_silence_real_time_sampling() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = server(&tmp.path().join("s3"));
    let spool = tmp.path().join("spool");
    // A run whose virtual time is in 2099 leaves its high-water mark in the journal.
    let future = sim(
        "2099-12-31T23:50:00Z",
        "5m",
        &["--window", "1m", "--interval", "1s"],
    );
    let stdout = success(&mut run(&s3.endpoint(), &spool, &future));
    assert!(stdout.contains("300 samples"), "{stdout}");
    let before = std::time::SystemTime::now();
    let live = run(
        &s3.endpoint(),
        &spool,
        &[
            "--simulate",
            "1",
            "--interval",
            "1s",
            "--window",
            "1m",
            "--trust-clock",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_secs(5));
    let log = kill(live);
    let now_ms = unix_ms(before);
    let today: Vec<i64> = recorded_timestamps(&spool)
        .into_iter()
        .filter(|t| (now_ms - 60_000..now_ms + 60_000).contains(t))
        .collect();
    assert!(
        today.len() >= 3,
        "real-time samples recorded: {today:?}\n{log}"
    );
    assert!(log.contains("far ahead of the clock"), "{log}");
    assert!(!log.contains("not after the previous one"), "{log}");
}

#[test]
fn a_csv_older_than_the_spool_is_refused_not_silently_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = server(&tmp.path().join("s3"));
    let spool = tmp.path().join("spool");
    let csv = |name: &str, start_min: i64| {
        let path = tmp.path().join(name);
        let mut text = String::from("timestamp,temperature\n");
        for i in 0..360 {
            text.push_str(&format!(
                "{},21.0\n",
                1_767_225_600_000 + start_min * 60_000 + i * 5_000
            ));
        }
        std::fs::write(&path, text).unwrap();
        path
    };
    let new = csv("new.csv", 0);
    let stdout = success(&mut run(
        &s3.endpoint(),
        &spool,
        &["--csv", new.to_str().unwrap()],
    ));
    assert!(stdout.contains("2 files uploaded"), "{stdout}");
    for (name, start) in [("older.csv", -60), ("overlap.csv", 15)] {
        let path = csv(name, start);
        let (out, stdout, stderr) = output(&mut run(
            &s3.endpoint(),
            &spool,
            &["--csv", path.to_str().unwrap()],
        ));
        assert_ne!(out.status.code(), Some(0), "{name}: {stdout}{stderr}");
        assert!(
            stderr.contains("not after the last one this spool recorded"),
            "{name}: {stderr}"
        );
        assert!(
            stderr.contains("its own --spool and its own --prefix"),
            "{stderr}"
        );
    }
    assert_eq!(
        files_with_extension(&s3.data_dir().join("lake"), "parquet").len(),
        2
    );
    // A future-dated import does not open the door to older ones.
    let future = tmp.path().join("future.csv");
    std::fs::write(
        &future,
        "timestamp,temperature\n2031-01-01T00:00:00Z,20.0\n2031-01-01T00:00:05Z,20.1\n",
    )
    .unwrap();
    success(&mut run(
        &s3.endpoint(),
        &spool,
        &["--csv", future.to_str().unwrap()],
    ));
    let (out, _, stderr) = output(&mut run(
        &s3.endpoint(),
        &spool,
        &["--csv", new.to_str().unwrap()],
    ));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // With a spool of its own, the older CSV is separate data and goes in.
    let older = tmp.path().join("older.csv");
    let stdout = success(&mut run(
        &s3.endpoint(),
        &tmp.path().join("spool2"),
        &["--csv", older.to_str().unwrap()],
    ));
    assert!(stdout.contains("2 files uploaded"), "{stdout}");
}

#[test]
fn a_proxys_404_page_pauses_uploads_with_exit_3_and_quarantines_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let page = "<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1><hr><center>nginx</center></body></html>";
    for (status, body) in [
        ("404 Not Found", page),
        ("405 Method Not Allowed", ""),
        ("413 Payload Too Large", page),
    ] {
        let fake = FakeHttp::start(Behaviour::Reply(response(
            status,
            &[("Content-Type", "text/html")],
            body,
        )));
        let spool = tmp.path().join(format!("spool{}", &status[..3]));
        let (out, stdout, stderr) = output(&mut run(
            &fake.endpoint(),
            &spool,
            &sim("2026-01-01T00:00:00Z", "1h", &[]),
        ));
        assert_eq!(out.status.code(), Some(3), "{status}: {stdout}\n{stderr}");
        let said = format!("answered {} without an S3 error document", &status[..3]);
        assert!(stderr.contains(&said), "{stderr}");
        assert!(stderr.contains("not from S3"), "{stderr}");
        assert!(stdout.contains("0 quarantined"), "{stdout}");
        assert_eq!(spooled(&spool), 4, "{status}: every window stays spooled");
        assert!(!spool.join("quarantine").exists(), "{status}");
        assert_eq!(
            fake.requests.load(std::sync::atomic::Ordering::Relaxed),
            1,
            "paused after one"
        );
    }
}

#[test]
fn s3_rejecting_a_file_quarantines_it_and_the_run_does_not_exit_0() {
    let tmp = tempfile::tempdir().unwrap();
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>EntityTooLarge</Code><Message>Your proposed upload exceeds the maximum allowed size</Message></Error>";
    let fake = FakeHttp::start(Behaviour::Reply(response(
        "400 Bad Request",
        &[("Content-Type", "application/xml")],
        xml,
    )));
    let spool = tmp.path().join("spool");
    // A second run on the emptied spool: its quarantine must not overwrite the first's.
    for start in ["2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"] {
        let args = sim(start, "30m", &[]);
        let (out, stdout, stderr) = output(&mut run(&fake.endpoint(), &spool, &args));
        assert_eq!(out.status.code(), Some(5), "{stdout}\n{stderr}");
        assert!(stdout.contains("2 quarantined"), "{stdout}");
        assert!(stderr.contains("EntityTooLarge"), "{stderr}");
    }
    assert_eq!(
        files_with_extension(&spool.join("quarantine"), "lks").len(),
        4
    );
    assert_eq!(
        files_with_extension(&spool.join("quarantine"), "reason").len(),
        4
    );
}

#[test]
fn a_2xx_without_the_bodys_md5_is_not_counted_as_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let portal = "<html><body>Please sign in to the hotel WiFi</body></html>";
    for etag in [None, Some("\"d41d8cd98f00b204e9800998ecf8427e\"")] {
        let headers: Vec<(&str, &str)> = etag.iter().map(|e| ("ETag", *e)).collect();
        let fake = FakeHttp::start(Behaviour::Reply(response("200 OK", &headers, portal)));
        let spool = tmp.path().join(format!("spool{}", etag.is_some()));
        let args = sim("2026-01-01T00:00:00Z", "15m", &["--give-up-after", "3s"]);
        let (out, stdout, stderr) = output(&mut run(&fake.endpoint(), &spool, &args));
        assert_eq!(out.status.code(), Some(4), "{etag:?}: {stdout}\n{stderr}");
        assert!(stderr.contains("did not confirm the upload"), "{stderr}");
        assert_eq!(
            stderr.matches("this warning is given once").count(),
            1,
            "warned once: {stderr}"
        );
        assert_eq!(spooled(&spool), 1, "the file stays spooled");
        // A store whose ETags are not MD5s: the operator opts out.
        let mut opt_out = run(
            &fake.endpoint(),
            &spool,
            &sim("2026-01-01T00:00:00Z", "15m", &["--no-etag-check"]),
        );
        success(&mut opt_out);
        assert_eq!(spooled(&spool), 0);
    }
}

#[test]
fn a_finite_run_against_a_dead_endpoint_gives_up_in_bounded_time() {
    let tmp = tempfile::tempdir().unwrap();
    // A port nobody listens on: every connection is refused.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let spool = tmp.path().join("spool");
    let started = Instant::now();
    let (out, stdout, stderr) = output(&mut run(
        &dead,
        &spool,
        &sim("2026-01-01T00:00:00Z", "2h", &["--give-up-after", "5s"]),
    ));
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(4), "{stdout}\n{stderr}");
    assert!(
        took >= Duration::from_secs(5),
        "gave up before --give-up-after: {took:?}"
    );
    assert!(took < Duration::from_secs(40), "took {took:?}");
    assert_eq!(spooled(&spool), 8, "everything stays in the spool");
    assert!(stderr.contains("run the same command again"), "{stderr}");
    println!(
        "dead endpoint, --duration 2h, --give-up-after 5s: exit 4 after {:.1} s",
        took.as_secs_f64()
    );
}

#[test]
fn a_finite_run_under_the_spool_limit_gives_up_rather_than_drop() {
    let tmp = tempfile::tempdir().unwrap();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let spool = tmp.path().join("spool");
    let (out, _, stderr) = output(&mut run(
        &dead,
        &spool,
        &["--simulate", "1", "--duration", "1h", "--spool-limit", "4K"],
    ));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("at least 65536"), "{stderr}");
    let (out, stdout, stderr) = output(&mut run(
        &dead,
        &spool,
        &sim(
            "2026-01-01T00:00:00Z",
            "24h",
            &["--spool-limit", "64K", "--give-up-after", "2s"],
        ),
    ));
    // A finite run waits for room instead of dropping (the per-file warnings of a
    // real-time run are tested with the spool): the dead endpoint confirms nothing, so
    // it gives up, keeping the rest of its input for the next run.
    assert_eq!(out.status.code(), Some(4), "{stdout}\n{stderr}");
    assert!(!spool.join("dropped.log").exists(), "{stderr}");
    assert!(stderr.contains("over half its --spool-limit"), "{stderr}");
    assert!(stdout.contains("0 dropped"), "{stdout}");
}

/// The real-time check: `--interval 1s` against an endpoint that accepts every
/// connection and never answers. A window an earlier run left in the spool is sent at
/// once (before, the test waited up to a minute for the first window to seal): S3's
/// `SlowDown` with `Retry-After: 2`, then the retry stalls to its 3 s timeout, seconds
/// into sampling. Every instant must be sampled on cadence: an upload that held up
/// sampling would leave a gap of the whole timeout, twice the bound.
#[test]
fn real_time_sampling_keeps_its_cadence_while_every_request_stalls() {
    const TIMEOUT: Duration = Duration::from_secs(3);
    let tmp = tempfile::tempdir().unwrap();
    let spool = tmp.path().join("spool");
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let (out, _, stderr) = output(&mut run(
        &dead,
        &spool,
        &sim(
            "2026-01-01T00:00:00Z",
            "1m",
            &[
                "--interval",
                "1s",
                "--window",
                "1m",
                "--give-up-after",
                "1s",
            ],
        ),
    ));
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(spooled(&spool) >= 1, "a window waits in the spool");
    let slow_down = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
    let fake = FakeHttp::start(Behaviour::ReplyOnceThenStall(response(
        "503 Slow Down",
        &[("Content-Type", "application/xml"), ("Retry-After", "2")],
        slow_down,
    )));
    let started = Instant::now();
    let live_from = std::time::SystemTime::now();
    let child = run(
        &fake.endpoint(),
        &spool,
        &[
            "--simulate",
            "1",
            "--interval",
            "1s",
            "--window",
            "1m",
            "--timeout",
            "3s",
            "--trust-clock",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // The retry stalls to the timeout; a second more of sampling follows it.
    let requests = || fake.requests.load(std::sync::atomic::Ordering::Relaxed);
    while requests() < 2 && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(TIMEOUT + Duration::from_secs(2));
    let ran = started.elapsed();
    let log = kill(child);
    let from_ms = unix_ms(live_from);
    // The live run's samples (the earlier run's are from 2026-01-01).
    let ts: Vec<i64> = recorded_timestamps(&spool)
        .into_iter()
        .filter(|t| *t >= from_ms - 1_000)
        .collect();
    let gaps: Vec<i64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
    let worst = gaps.iter().copied().max().unwrap_or(i64::MAX);
    let requests = requests();
    println!(
        "real time, 1 s interval, endpoint never answering (3 s timeout): {} samples in {:.1} s, largest gap {worst} ms, {requests} stalled request(s)",
        ts.len(),
        ran.as_secs_f64()
    );
    // One sample a second but the first 3 s (start-up), as 72 in 75 s before.
    let due = usize::try_from(ran.as_secs()).unwrap().saturating_sub(3);
    assert!(ts.len() >= due, "{} samples in {ran:?}\n{log}", ts.len());
    assert!(worst <= 1_500, "a {worst} ms gap between samples\n{log}");
    assert!(requests >= 2, "the stalling endpoint was never tried again");
    assert!(log.contains("timed out"), "{log}");
}

#[test]
fn a_finite_run_waits_for_room_under_the_spool_limit_over_a_slow_link() {
    let tmp = tempfile::tempdir().unwrap();
    // S3 that takes a quarter of a second per PUT: the spool fills while a file is in
    // flight (the run records the 6 h, 24 windows and 103 KB, in about 50 ms: all of it
    // before the first PUT is answered, as with the second per PUT this test took first).
    let slow = FakeHttp::start(Behaviour::AcceptAfter(Duration::from_millis(250)));
    let spool = tmp.path().join("spool");
    let args = sim("2026-01-01T00:00:00Z", "6h", &["--spool-limit", "64K"]);
    let (out, stdout, stderr) = output(&mut run(&slow.endpoint(), &spool, &args));
    // Found by the adversarial review: a finite input outran the uploads and the limit
    // dropped whole windows (exit 5). It now waits for room: every window arrives.
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(!stderr.contains("spool remove"), "{stderr}");
    assert!(!spool.join("dropped.log").exists(), "{stderr}");
    let uploaded = slow.requests.load(std::sync::atomic::Ordering::Relaxed) as usize;
    assert_eq!(uploaded, 24, "{stdout}");
}

#[test]
fn a_killed_csv_import_resumes_when_run_again() {
    killed_csv_import(&[]);
}

/// The same with batched uploads: the kill finds windows waiting for their batch; the
/// second run sends them in its last batch, each once.
#[test]
fn a_killed_csv_import_with_batched_uploads_resumes_when_run_again() {
    let log = killed_csv_import(&["--upload-every", "1h", "--log", "info"]);
    assert!(log.contains("batch of uploads closed"), "{log}");
}

/// Kills a CSV import run with `extra` flags once under way, runs it again, checks the
/// lake; returns the second run's log.
fn killed_csv_import(extra: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = server(&tmp.path().join("s3"));
    let csv = tmp.path().join("big.csv");
    let mut text = String::from("timestamp,temperature,pm25\n");
    let sim = lakenode::sim::Simulator::new(9);
    let samples: Vec<lakenode::Sample> = (0..17_280)
        .map(|i| sim.sample_at(1_767_225_600_000 + i * 5_000))
        .collect();
    for s in &samples {
        let field = |m| s.value(m).map_or_else(String::new, |v| v.to_string());
        let t = field(lakenode::schema::Measurement::Temperature);
        let p = field(lakenode::schema::Measurement::Pm25);
        text.push_str(&format!("{},{t},{p}\n", s.timestamp_ms));
    }
    std::fs::write(&csv, text).unwrap();
    let spool = tmp.path().join("spool");
    let args: Vec<&str> = ["--csv", csv.to_str().unwrap()]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    let mut child = run(&s3.endpoint(), &spool, &args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed once the import is under way (a journal and a first window exist).
    let deadline = Instant::now() + Duration::from_secs(30);
    while spooled(&spool) + files_with_extension(&s3.data_dir().join("lake"), "parquet").len() < 2 {
        assert!(Instant::now() < deadline, "the import never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (out, stdout, stderr) = output(&mut run(&s3.endpoint(), &spool, &args));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("0 pending"), "{stdout}");
    let columns = [
        lakenode::schema::Measurement::Temperature,
        lakenode::schema::Measurement::Pm25,
    ];
    let counts: Vec<lakenode::Sample> = samples
        .iter()
        .map(|s| {
            let mut c = lakenode::Sample::new(s.timestamp_ms);
            for m in columns {
                c.set_count(m, s.count(m));
            }
            c
        })
        .collect();
    assert_lake_holds(
        &tmp.path().join("expected.json"),
        &s3.data_dir().join("lake"),
        STATION,
        counts,
        &columns,
        (96, 17_280),
    );
    stderr
}

#[test]
fn run_refuses_arguments_that_would_lose_data_or_hang() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("t.csv");
    std::fs::write(
        &csv,
        "timestamp,temperature\n2026-01-01T00:00:00Z,20.5\n2026-01-01T00:00:05Z,20.6\n",
    )
    .unwrap();
    let spool = tmp.path().join("spool");
    for (extra, message) in [
        (
            vec!["--csv", csv.to_str().unwrap(), "--columns", "humidity"],
            "leaves out the CSV's column(s) temperature",
        ),
        (
            vec!["--simulate", "1", "--duration", "1000000d"],
            "--duration must be at most 366d",
        ),
        (
            vec!["--simulate", "1", "--duration", "1h", "--timeout", "0s"],
            "--timeout must be 1s to 10m",
        ),
        (
            vec![
                "--simulate",
                "1",
                "--duration",
                "1h",
                "--start",
                "2026-01-01T00:00:02.5Z",
            ],
            "not on the 5000 ms sampling grid",
        ),
        (
            vec![
                "--simulate",
                "1",
                "--duration",
                "1h",
                "--upload-every",
                "1m",
            ],
            "at least the window (15m), at most 24h, and divide 24h (e.g. 30m, 45m, 1h, 24h)",
        ),
        (
            vec![
                "--simulate",
                "1",
                "--duration",
                "1h",
                "--upload-every",
                "7h",
            ],
            "divide 24h",
        ),
    ] {
        let (out, _, stderr) = output(&mut run("http://127.0.0.1:1", &spool, &extra));
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(message), "{extra:?}: {stderr}");
    }
    assert_eq!(spooled(&spool), 0, "nothing was recorded");
}

/// SIGTERM while a finite run retries its uploads, after its whole input was recorded:
/// exit 4, and the message says the input is complete, not that it was cut short.
#[test]
fn a_finite_run_stopped_while_uploading_says_its_input_is_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = tmp.path().join("spool");
    let args = sim(
        "2026-01-01T00:00:00Z",
        "1h",
        &["--give-up-after", "10m", "--log", "info"],
    );
    let child = run("http://127.0.0.1:1", &spool, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while spooled(&spool) < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(spooled(&spool), 4, "the hour's four windows are sealed");
    let (_, out) = terminate(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("4 file(s) could not be uploaded")
            && stderr.contains("the input is complete (every sample recorded)")
            && !stderr.contains("before the end of the input"),
        "{stderr}"
    );
}
