//! End to end: the `lakenode` binary uploads to a real signature-checking S3 server on
//! loopback, and pyarrow, DuckDB and Polars read every object back with the values
//! that were sampled.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::process::Stdio;

use common::*;
use lakenode::sample::Sample;
use lakenode::schema::Measurement;
use lakenode::sim::Simulator;
use lakenode_embedded_s3::{EmbeddedS3, ServerConfig};

const BUCKET: &str = "lake";

fn server(dir: &std::path::Path) -> EmbeddedS3 {
    lake_server(dir)
}

/// `lakenode run` against the embedded server, path style, for `station` with `spool`.
fn run_command(s3: &EmbeddedS3, station: &str, spool: &std::path::Path) -> std::process::Command {
    run_to(&s3.endpoint(), station, spool)
}

fn simulated(seed: u64, start_ms: i64, samples: i64) -> Vec<Sample> {
    let sim = Simulator::new(seed);
    (0..samples)
        .map(|i| sim.sample_at(start_ms + i * 5_000))
        .collect()
}

#[test]
fn run_uploads_every_window_and_all_readers_see_the_sampled_values() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = server(&tmp.path().join("s3"));
    let spool = tmp.path().join("spool");
    // Crosses midnight: the day partition changes halfway.
    let stdout = success(lakenode_with_credentials().args([
        "run",
        "--endpoint",
        &s3.endpoint(),
        "--bucket",
        BUCKET,
        "--path-style",
        "--prefix",
        "raw/v1",
        "--station",
        "0190f5c2-0000-7000-8000-000000000001",
        "--spool",
        spool.to_str().unwrap(),
        "--simulate",
        "7",
        "--start",
        "2026-02-28T23:00:00Z",
        "--duration",
        "2h",
    ]));
    assert!(
        stdout.contains("1440 samples, 8 files uploaded"),
        "{stdout}"
    );
    assert!(
        files_with_extension(&spool, "lks").is_empty(),
        "spool must be empty after upload"
    );

    let lake = s3.data_dir().join(BUCKET).join("raw/v1");
    let files = files_with_extension(&lake, "parquet");
    let names: Vec<String> = files
        .iter()
        .map(|p| p.strip_prefix(&lake).unwrap().display().to_string())
        .collect();
    assert_eq!(names.len(), 8, "{names:?}");
    assert_eq!(
        names[0],
        "station=0190f5c2-0000-7000-8000-000000000001/year=2026/month=02/day=28/data_2300.parquet"
    );
    assert_eq!(
        names[7],
        "station=0190f5c2-0000-7000-8000-000000000001/year=2026/month=03/day=01/data_0045.parquet"
    );

    let start = 1_772_319_600_000; // 2026-02-28T23:00:00Z
    let samples = simulated(7, start, 1440);
    let nulls = samples
        .iter()
        .map(|s| {
            Measurement::ALL
                .iter()
                .filter(|m| s.count(**m).is_none())
                .count()
        })
        .sum::<usize>();
    assert!(
        nulls > 0,
        "the simulation should include failed readings to check nulls end to end"
    );
    let expected = tmp.path().join("expected.json");
    assert_lake_holds(
        &expected,
        &lake,
        "0190f5c2-0000-7000-8000-000000000001",
        samples.clone(),
        &Measurement::ALL,
        (8, 1440),
    );

    // The check can fail: one value off by one count is caught.
    let mut tampered = samples;
    let c = tampered[100]
        .count(Measurement::Pressure)
        .unwrap_or(100_000);
    tampered[100].set_count(Measurement::Pressure, Some(c + 1));
    write_expected(
        &expected,
        &BTreeMap::from([("0190f5c2-0000-7000-8000-000000000001".to_owned(), tampered)]),
        &Measurement::ALL,
    );
    let (ok, text) = check_lake(&lake, &["--expected", expected.to_str().unwrap()]);
    assert!(!ok && text.contains("pressure at"), "{text}");
}

#[test]
fn windows_cut_short_get_files_and_keys_of_their_own() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = server(&tmp.path().join("s3"));
    let spool = tmp.path().join("spool");
    // Starts inside a window and ends inside another: 23:07:30 .. 23:37:25.
    success(
        run_command(&s3, "0190f5c2-0000-7000-8000-000000000002", &spool).args([
            "--simulate",
            "11",
            "--start",
            "2026-02-28T23:07:30Z",
            "--duration",
            "30m",
            "--columns",
            "temperature,pm25,battery",
        ]),
    );
    let lake = s3.data_dir().join(BUCKET);
    let files = files_with_extension(&lake, "parquet");
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "data_2300_230730.parquet",
            "data_2315.parquet",
            "data_2330.parquet"
        ]
    );
    let samples = simulated(11, 1_772_320_050_000, 360);
    let expected = tmp.path().join("expected.json");
    let cols = [
        Measurement::Temperature,
        Measurement::Pm25,
        Measurement::Battery,
    ];
    assert_lake_holds(
        &expected,
        &lake,
        "0190f5c2-0000-7000-8000-000000000002",
        samples,
        &cols,
        (3, 360),
    );
}

#[test]
fn the_compact_profile_reads_back_exactly_in_all_readers() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = server(&tmp.path().join("s3"));
    let spool = tmp.path().join("spool");
    success(
        run_command(&s3, "0190f5c2-0000-7000-8000-000000000005", &spool).args([
            "--profile",
            "compact",
            "--health",
            "--simulate",
            "13",
            "--start",
            "2026-07-01T12:00:00Z",
            "--duration",
            "1h",
        ]),
    );
    let lake = s3.data_dir().join(BUCKET);
    let samples = simulated(13, 1_782_907_200_000, 720);
    let expected = tmp.path().join("expected.json");
    assert_lake_holds(
        &expected,
        &lake,
        "0190f5c2-0000-7000-8000-000000000005",
        samples,
        &Measurement::ALL,
        (4, 720),
    );
    // The health rows of `--health` live in their own tree, outside the data glob.
    assert_lake_ok(&lake.join("health"), &["--health", "4"]);
}

#[test]
fn a_wrong_secret_ends_with_a_clear_403_and_keeps_the_data() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = server(&tmp.path().join("s3"));
    let spool = tmp.path().join("spool");
    let canary = "CANARYsecret0000000000000000000000000000";
    let (out, stdout, stderr) = output(
        lakenode()
            .env("AWS_ACCESS_KEY_ID", KEY)
            .env("AWS_SECRET_ACCESS_KEY", canary)
            .args([
                "--log",
                "trace",
                "run",
                "--endpoint",
                &s3.endpoint(),
                "--bucket",
                BUCKET,
                "--path-style",
                "--station",
                "0190f5c2-0000-7000-8000-000000000003",
                "--spool",
                spool.to_str().unwrap(),
                "--simulate",
                "1",
                "--start",
                "2026-01-01T00:00:00Z",
                "--duration",
                "15m",
            ]),
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stderr.contains("403 SignatureDoesNotMatch"), "{stderr}");
    assert!(
        stderr.contains("hint: the secret key does not match"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !stdout.contains(canary) && !stderr.contains(canary),
        "the secret leaked into the output"
    );
    assert!(
        !stderr.contains("X-Amz-Signature="),
        "a signed URL leaked into the output"
    );
    assert_eq!(
        files_with_extension(&spool, "lks").len(),
        1,
        "the window stays spooled for a later retry"
    );
    assert!(files_with_extension(&s3.data_dir().join(BUCKET), "parquet").is_empty());
}

#[test]
fn run_against_a_separately_started_server_process() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("s3");
    let mut serve = lakenode_with_credentials()
        .args([
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--bucket",
            BUCKET,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(serve.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let endpoint = line
        .trim()
        .strip_prefix("listening on ")
        .expect("serve prints its address")
        .to_owned();

    let spool = tmp.path().join("spool");
    let result = output(lakenode_with_credentials().args([
        "run",
        "--endpoint",
        &endpoint,
        "--bucket",
        BUCKET,
        "--path-style",
        "--station",
        "0190f5c2-0000-7000-8000-000000000004",
        "--spool",
        spool.to_str().unwrap(),
        "--simulate",
        "3",
        "--start",
        "2026-01-01T06:00:00Z",
        "--duration",
        "1h",
    ]));
    serve.kill().unwrap();
    let _ = serve.wait();
    let (out, stdout, stderr) = result;
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("720 samples, 4 files uploaded"), "{stdout}");
    assert_lake_ok(&data.join(BUCKET), &["--files", "4", "--rows", "720"]);
}

#[test]
fn demo_for_two_hours_writes_1440_rows_in_8_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let stdout =
        success(lakenode().args(["demo", "--hours", "2", "--data-dir", dir.to_str().unwrap()]));
    assert!(
        stdout.contains("files         8 (and 8 health files, one row per window)\n"),
        "{stdout}"
    );
    let report = dir.canonicalize().unwrap().join("report.html");
    assert!(
        stdout.contains(&format!("report        {}", report.display())),
        "{stdout}"
    );
    assert!(report.is_file());
    assert!(stdout.contains("rows          1440\n"), "{stdout}");
    assert!(stdout.contains("read back and verified"), "{stdout}");
    assert!(
        stdout.contains("hive_partitioning = true, union_by_name = true"),
        "{stdout}"
    );
    // Simulated, verified, then compacted: only daily files are left (one or two: the
    // two hours may cross midnight), holding every row.
    assert!(stdout.contains("compacted     "), "{stdout}");
    let lake = dir.join("s3/lakenode");
    let names = parquet_names(&lake);
    assert!(!names.is_empty());
    assert!(
        names.iter().all(|n| n.ends_with("_day.parquet")),
        "{names:?}"
    );
    assert_lake_ok(&lake, &["--rows", "1440"]);
}

/// The names of the Parquet files under `lake`.
fn parquet_names(lake: &std::path::Path) -> Vec<String> {
    files_with_extension(lake, "parquet")
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// A day holding one window file is compacted too (before 2026-12-04 it was left as it
/// was, so the test above failed when started between 00:15 and 00:30 UTC).
#[test]
fn a_day_of_a_single_window_file_is_compacted_too() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let stdout = success(lakenode().args([
        "demo",
        "--hours",
        "1",
        "--start",
        "2026-06-01T23:45:00Z",
        "--data-dir",
        dir.to_str().unwrap(),
    ]));
    assert!(stdout.contains("files         4 ("), "{stdout}");
    let lake = dir.join("s3/lakenode");
    let names = parquet_names(&lake);
    // Two days of two trees: four daily files, no window file left.
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(
        names.iter().all(|n| n.ends_with("_day.parquet")),
        "{names:?}"
    );
    assert_lake_ok(&lake, &["--rows", "720"]);
}

#[test]
fn demo_with_several_stations_keeps_them_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let stdout = success(lakenode().args([
        "demo",
        "--hours",
        "1",
        "--stations",
        "3",
        "--seed",
        "9",
        "--start",
        "2026-06-01T12:00:00Z",
        "--no-compact",
        "--data-dir",
        dir.to_str().unwrap(),
    ]));
    assert!(
        stdout.contains("stations      3 (") && stdout.contains("files         12 (and 12 health"),
        "{stdout}"
    );
    assert_lake_ok(
        &dir.join("s3/lakenode"),
        &["--files", "12", "--rows", "2160"],
    );
}

#[test]
fn a_skewed_clock_is_corrected_from_the_servers_date_and_the_upload_succeeds() {
    use lakenode::layout::StationId;
    use lakenode::s3::{Credentials, S3Client, S3Config};
    use lakenode::station::{Now, Station, StationConfig};
    use lakenode::transport::Transport as _;

    let tmp = tempfile::tempdir().unwrap();
    let s3 = server(&tmp.path().join("s3"));
    let cfg = S3Config::new(&s3.endpoint(), BUCKET, "us-east-1", true).unwrap();
    let mut transport =
        lakenode_cli::transport::UreqTransport::new(std::time::Duration::from_secs(10));
    // The node's clock 40 minutes slow, then 40 minutes fast: S3 refuses signatures more
    // than 15 minutes off (a slow clock's presigned URL has already expired).
    for (i, skew_min) in [-40i64, 40].into_iter().enumerate() {
        let station = StationId::new(format!("0190f5c2-0000-7000-8000-00000000010{i}")).unwrap();
        let client = S3Client::new(&cfg, Credentials::new(KEY, SECRET, None)).unwrap();
        let mut node = Station::open(
            StationConfig::new(station, client),
            &tmp.path().join(format!("spool{i}")),
        )
        .unwrap();
        let skewed = || {
            Now::synced(
                0,
                jiff::Timestamp::now() + jiff::SignedDuration::from_mins(skew_min),
            )
        };
        for s in simulated(5, 1_767_225_600_000, 10) {
            node.record(&skewed(), s).unwrap();
        }
        node.flush().unwrap();
        let mut attempts = 0;
        while let Some(request) = node.poll(&skewed()).unwrap() {
            attempts += 1;
            node.on_reply(&skewed(), transport.send(&request)).unwrap();
            assert!(
                attempts <= 2,
                "skew {skew_min} min: not accepted after a correction: {:?}",
                node.counters()
            );
        }
        assert!(node.is_drained().unwrap(), "skew {skew_min} min");
        assert_eq!(
            (attempts, node.counters().uploaded_files),
            (2, 1),
            "skew {skew_min} min: refused once, then accepted (ETag checked against s3s)"
        );
        let offset = node.clock_offset().as_secs();
        assert!(
            (-skew_min * 60 - 5..=-skew_min * 60 + 5).contains(&offset),
            "skew {skew_min} min: learnt offset {offset} s"
        );
    }
}

#[test]
fn a_canary_secret_appears_nowhere_in_a_full_run_at_trace_level() {
    let tmp = tempfile::tempdir().unwrap();
    let canary = "CANARYsecretXYZ0123456789abcdefghijklmnop";
    let token = "CANARYtokenXYZ0123456789";
    let data = tmp.path().join("s3");
    std::fs::create_dir_all(data.join(BUCKET)).unwrap();
    let s3 = EmbeddedS3::start(ServerConfig::new(&data, KEY, canary).with_bucket("lake")).unwrap();
    let spool = tmp.path().join("spool");
    // A credentials file (mode 600) with a session token, to cover that path as well.
    let creds = tmp.path().join("credentials");
    std::fs::write(
        &creds,
        format!("[node]\naws_access_key_id = {KEY}\naws_secret_access_key = {canary}\naws_session_token = {token}\n"),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let (out, stdout, stderr) = output(lakenode().env("RUST_LOG", "trace").args([
        "run",
        "--endpoint",
        &s3.endpoint(),
        "--bucket",
        BUCKET,
        "--path-style",
        "--station",
        "0190f5c2-0000-7000-8000-000000000007",
        "--spool",
        spool.to_str().unwrap(),
        "--credentials-file",
        creds.to_str().unwrap(),
        "--credentials-profile",
        "node",
        "--simulate",
        "2",
        "--start",
        "2026-01-01T00:00:00Z",
        "--duration",
        "30m",
    ]));
    // s3s ignores the session token, so the run succeeds.
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("TRACE") || stderr.contains("DEBUG"),
        "the run must have logged at trace level"
    );
    for secret in [canary, token] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} leaked into the output"
        );
    }
    assert!(
        !stderr.contains("X-Amz-Signature="),
        "a signed URL leaked into the output"
    );
    let files = files_where(&spool, &|_| true);
    assert!(!files.is_empty());
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(canary) && !text.contains(token),
            "{} holds a secret",
            f.display()
        );
    }
}

#[test]
fn policy_allows_only_put_object_on_the_stations_data_and_health_trees() {
    let stdout = success(lakenode().args([
        "policy",
        "--bucket",
        "lake",
        "--prefix",
        "raw",
        "--station",
        "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e",
    ]));
    assert!(stdout.contains(r#""Action": "s3:PutObject""#), "{stdout}");
    assert!(
        stdout.contains(
            r#""Resource": [
        "arn:aws:s3:::lake/raw/station=0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e/*",
        "arn:aws:s3:::lake/raw/health/station=0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e/*"
      ]"#
        ),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("\"s3:").count(),
        1,
        "one action only: {stdout}"
    );
    let (out, _, stderr) =
        output(lakenode().args(["policy", "--bucket", "lake", "--station", "../x"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("invalid station"), "{stderr}");
}

#[test]
fn run_against_an_independent_sigv4_implementation() {
    // s3rver (Node.js) checks signatures with its own SigV4 code, not s3s's.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("s3rver");
    std::fs::create_dir_all(&data).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/s3rver/server.js");
    let mut server = std::process::Command::new("node")
        .arg(&script)
        .arg(&data)
        .arg("lake")
        .stdout(Stdio::piped())
        .spawn()
        .expect("node (Node.js) must be installed; scripts/test.sh installs s3rver with npm");
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let endpoint = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("s3rver said {line:?}"))
        .to_owned();
    let station = "0190f5c2-0000-7000-8000-000000000008";
    let run = |secret: &str, spool: &str| {
        output(
            lakenode()
                .env("AWS_ACCESS_KEY_ID", "S3RVER")
                .env("AWS_SECRET_ACCESS_KEY", secret)
                .args([
                    "run",
                    "--endpoint",
                    &endpoint,
                    "--bucket",
                    "lake",
                    "--path-style",
                    "--station",
                    station,
                    "--spool",
                    tmp.path().join(spool).to_str().unwrap(),
                    "--simulate",
                    "4",
                    "--start",
                    "2026-01-01T00:00:00Z",
                    "--duration",
                    "1h",
                ]),
        )
    };
    let (good, good_out, good_err) = run("S3RVER", "spool-a");
    let (bad, _, bad_err) = run("WRONG-SECRET", "spool-b");
    server.kill().unwrap();
    let _ = server.wait();
    assert!(good.status.success(), "{good_out}\n{good_err}");
    assert!(
        good_out.contains("720 samples, 4 files uploaded"),
        "{good_out}"
    );
    assert_eq!(bad.status.code(), Some(3), "{bad_err}");
    assert!(bad_err.contains("403 SignatureDoesNotMatch"), "{bad_err}");

    // s3rver keeps each object as `<key>._S3rver_object`: decode them all and compare
    // with what was sampled.
    let objects = files_where(&data.join("lake"), &|p| {
        p.to_string_lossy().ends_with(".parquet._S3rver_object")
    });
    assert_eq!(objects.len(), 4, "{objects:?}");
    let sim = Simulator::new(4);
    let mut rows = 0;
    for o in &objects {
        let file = lakenode_lake::readback::decode(std::fs::read(o).unwrap())
            .expect("stored bytes are our Parquet");
        for s in &file.samples {
            assert_eq!(*s, sim.sample_at(s.timestamp_ms));
            rows += 1;
        }
    }
    assert_eq!(rows, 720);
}

/// A spool whose journal ends in 2099 (a run with a future `--start`) does not make a
/// later, correctly dated run record nothing and exit 0: all 360 samples are recorded
/// and delivered.
#[test]
fn a_journal_in_2099_does_not_swallow_a_later_run() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = server(&tmp.path().join("s3"));
    let spool = tmp.path().join("spool");
    let station = "0190f5c2-0000-7000-8000-000000000099";
    success(run_command(&s3, station, &spool).args([
        "--simulate",
        "3",
        "--start",
        "2099-01-01T00:00:00Z",
        "--duration",
        "15m",
    ]));
    let stdout = success(run_command(&s3, station, &spool).args([
        "--simulate",
        "3",
        "--start",
        "2026-04-01T00:00:00Z",
        "--duration",
        "30m",
    ]));
    assert!(
        stdout.contains(": 360 samples, 2 files uploaded"),
        "{stdout}"
    );
    let days = files_with_extension(&s3.data_dir().join(BUCKET), "parquet");
    assert_eq!(days.len(), 3, "{days:?}");
    // A period after which the spool already recorded (not in the future) is refused.
    let (out, _, stderr) = output(run_command(&s3, station, &spool).args([
        "--simulate",
        "3",
        "--start",
        "2026-03-01T00:00:00Z",
        "--duration",
        "30m",
    ]));
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("already recorded a sample at 2026-04-01T00:29:55Z"),
        "{stderr}"
    );
}
