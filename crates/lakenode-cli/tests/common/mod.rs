//! Helpers shared by the integration tests: the `lakenode` binary, AWS's documented
//! example credentials, and the independent Python readers' check.
#![allow(dead_code, clippy::unwrap_used)]

pub mod fake_http;
pub mod proxy;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use lakenode::sample::Sample;
use lakenode::schema::Measurement;

/// AWS's documented example access key id.
pub const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
/// AWS's documented example secret key.
pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// The AWS variables that steer the credential and region chain.
pub const AWS_VARS: [&str; 14] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_EC2_METADATA_DISABLED",
];

/// The `lakenode` binary with no AWS or log variables inherited, the AWS chain kept
/// off this machine's `~/.aws` (files that do not exist) and off instance metadata.
pub fn lakenode() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lakenode"));
    for v in AWS_VARS
        .iter()
        .chain(&["RUST_LOG", "LAKENODE_LOG", "LAKENODE_LOG_FORMAT"])
    {
        c.env_remove(v);
    }
    c.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/lakenode-tests/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/lakenode-tests/aws-credentials",
        );
    c
}

/// `lakenode` with the example credentials set.
pub fn lakenode_with_credentials() -> Command {
    let mut c = lakenode();
    c.env("AWS_ACCESS_KEY_ID", KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET);
    c
}

/// The embedded S3 server storing in `dir`, serving bucket `lake`, with the example keys.
pub fn lake_server(dir: &Path) -> lakenode_embedded_s3::EmbeddedS3 {
    lakenode_embedded_s3::EmbeddedS3::start(
        lakenode_embedded_s3::ServerConfig::new(dir, KEY, SECRET).with_bucket("lake"),
    )
    .expect("embedded S3 starts")
}

/// AWS's second documented example access key id: the unrestricted admin key of the
/// policy tests (reads the lake back).
pub const ADMIN_KEY: &str = "AKIAI44QH8DHBEXAMPLE";
/// AWS's second documented example secret key.
pub const ADMIN_SECRET: &str = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY";

/// The embedded S3 server storing in `dir`, serving bucket `lake`, enforcing the IAM
/// identity policy `station_policy` (JSON) on the station key [`KEY`]/[`SECRET`] (the
/// one [`run_to`] and [`lakenode_with_credentials`] sign with), and accepting the
/// unrestricted admin key [`ADMIN_KEY`]/[`ADMIN_SECRET`]. Panics on a malformed policy.
pub fn lake_server_with_policy(
    dir: &Path,
    station_policy: &str,
) -> lakenode_embedded_s3::EmbeddedS3 {
    lakenode_embedded_s3::EmbeddedS3::start(
        lakenode_embedded_s3::ServerConfig::new(dir, KEY, SECRET)
            .with_bucket("lake")
            .with_key(ADMIN_KEY, ADMIN_SECRET)
            .with_policy(KEY, station_policy),
    )
    .expect("embedded S3 starts with the policy")
}

/// The stdout of `lakenode policy --bucket lake --prefix PREFIX --station STATION`.
pub fn station_policy(prefix: &str, station: &str) -> String {
    success(lakenode().args([
        "policy",
        "--bucket",
        "lake",
        "--prefix",
        prefix,
        "--station",
        station,
    ]))
}

/// A client of bucket `lake` at `endpoint` (path style) signing with `key`/`secret`.
pub fn s3_client(endpoint: &str, key: &str, secret: &str) -> lakenode::S3Client {
    let config = lakenode::S3Config::new(endpoint, "lake", "us-east-1", true).unwrap();
    lakenode::S3Client::new(&config, lakenode::Credentials::new(key, secret, None)).unwrap()
}

/// Sends `request` over HTTP and returns the reply (status, headers, body).
pub fn send(request: &lakenode::HttpRequest) -> lakenode::HttpResponse {
    use lakenode::Transport as _;
    lakenode_cli::transport::UreqTransport::new(std::time::Duration::from_secs(30))
        .send(request)
        .expect("the server answers")
}

/// `lakenode run` with the example keys to bucket `lake` at `endpoint` (path style), as
/// `station`, spooling in `spool`; add the source and other flags.
pub fn run_to(endpoint: &str, station: &str, spool: &Path) -> Command {
    let mut c = lakenode_with_credentials();
    c.args([
        "run",
        "--endpoint",
        endpoint,
        "--bucket",
        "lake",
        "--path-style",
    ])
    .args(["--station", station])
    .arg("--spool")
    .arg(spool);
    c
}

/// A lake of one station, 4 hours across midnight (16 windows over two days), with
/// health rows, written by `run` through the embedded server (so every file carries the
/// server's `user.lakenode.md5` attribute, where the file system keeps user attributes).
/// Returns the bucket dir, `<root>/s3/lake`.
pub fn lake_across_midnight(root: &Path, station: &str) -> PathBuf {
    let data = root.join("s3");
    let s3 = lake_server(&data);
    success(
        run_to(&s3.endpoint(), station, &root.join("spool"))
            .args(["--simulate", "7", "--health"])
            .args(["--start", "2026-11-20T22:00:00Z", "--duration", "4h"]),
    );
    data.join("lake")
}

/// Runs a command, returning its output with stdout/stderr as text.
pub fn output(cmd: &mut Command) -> (Output, String, String) {
    let out = cmd.output().expect("spawn lakenode");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// Asserts success and returns stdout.
pub fn success(cmd: &mut Command) -> String {
    let (out, stdout, stderr) = output(cmd);
    assert!(
        out.status.success(),
        "failed with {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    stdout
}

/// Sends SIGTERM to `child` (as systemd stops the service, or Ctrl-C a terminal).
pub fn sigterm(child: &Child) {
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
}

/// Sends SIGTERM to `child` and waits for it to end: how long it took after the signal,
/// and its output.
pub fn terminate(child: Child) -> (Duration, Output) {
    sigterm(&child);
    let signalled = Instant::now();
    let out = child.wait_with_output().unwrap();
    (signalled.elapsed(), out)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The Python with pyarrow, duckdb and polars: `LAKENODE_PYTHON`, else the workspace's
/// `.venv` (made by scripts/test.sh), else `python3`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("LAKENODE_PYTHON") {
        return p.into();
    }
    let venv = workspace_root().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

/// Runs the readers' check over `lake`; returns (success, combined output).
pub fn check_lake(lake: &Path, extra: &[&str]) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/readers/check_lake.py");
    let out = Command::new(python())
        .arg(script)
        .arg(lake)
        .args(extra)
        .output()
        .expect("run python (set LAKENODE_PYTHON or run scripts/test.sh)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("missing Parquet reader"),
        "the Parquet readers are not installed for {}: {text}",
        python().display()
    );
    (out.status.success(), text)
}

/// Asserts the readers' check passes, printing its summary line.
pub fn assert_lake_ok(lake: &Path, extra: &[&str]) {
    let (ok, text) = check_lake(lake, extra);
    println!("{text}");
    assert!(ok, "readers' check failed:\n{text}");
}

/// Writes the expected samples of each station as the JSON `check_lake.py` reads:
/// `{station: {timestamp_ms: {column: count or null}}}`.
pub fn write_expected(
    path: &Path,
    stations: &BTreeMap<String, Vec<Sample>>,
    columns: &[Measurement],
) {
    let mut json = String::from("{");
    for (si, (station, samples)) in stations.iter().enumerate() {
        let _ = write!(json, "{}\"{station}\":{{", if si > 0 { "," } else { "" });
        for (i, s) in samples.iter().enumerate() {
            let _ = write!(
                json,
                "{}\"{}\":{{",
                if i > 0 { "," } else { "" },
                s.timestamp_ms
            );
            for (ci, m) in columns.iter().enumerate() {
                let v = s
                    .count(*m)
                    .map_or_else(|| "null".to_owned(), |c| c.to_string());
                let _ = write!(
                    json,
                    "{}\"{}\":{v}",
                    if ci > 0 { "," } else { "" },
                    m.name()
                );
            }
            json.push('}');
        }
        json.push('}');
    }
    json.push('}');
    std::fs::write(path, json).unwrap();
}

/// Writes `samples` as the expected data of `station` to `expected` and asserts the
/// readers' check finds exactly them, in `files` files and `rows` rows.
pub fn assert_lake_holds(
    expected: &Path,
    lake: &Path,
    station: &str,
    samples: Vec<Sample>,
    columns: &[Measurement],
    (files, rows): (usize, usize),
) {
    write_expected(
        expected,
        &BTreeMap::from([(station.to_owned(), samples)]),
        columns,
    );
    let (files, rows) = (files.to_string(), rows.to_string());
    assert_lake_ok(
        lake,
        &[
            "--expected",
            expected.to_str().unwrap(),
            "--files",
            &files,
            "--rows",
            &rows,
        ],
    );
}

/// Files with extension `ext` under `dir`, recursively, sorted.
pub fn files_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    files_where(dir, &|p| p.extension().is_some_and(|x| x == ext))
}

/// Files under `dir` (recursively, every directory walked) that `keep` accepts, sorted;
/// a directory that cannot be read holds none.
pub fn files_where(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_where(&p, keep));
            } else if keep(&p) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Whether the file's name starts with a `.` (a temporary or a lock, not an object).
pub fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}
