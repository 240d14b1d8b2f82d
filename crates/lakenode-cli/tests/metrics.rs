//! `run --metrics` and `lakenode status`, live: a simulated run against the embedded S3
//! server, through a proxy that goes down for a few seconds after the fifth upload, so
//! the run is caught mid-way (files uploaded, files waiting, failures and retries).
//! `/metrics` is fetched over plain TCP and parsed by the Prometheus project's Python
//! client (`prometheus_client`, an independent parser of the exposition format).

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::proxy::{FaultPlan, FaultProxy};
use common::{files_with_extension, lake_server, lakenode, output, python, run_to, success};
use serde_json::Value;

const STATION: &str = "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e";

/// A plain HTTP/1.0 GET: (status, body).
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the metrics server");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("send");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("read the reply");
    let (head, body) = reply.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, body.to_owned())
}

/// Parses exposition text with `prometheus_client`: each sample (`name{labels}`) with
/// its value, and each family's type (`#type name`).
fn parse(text: &str) -> BTreeMap<String, Value> {
    const SCRIPT: &str = r##"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    out["#type " + family.name] = family.type
    for s in family.samples:
        labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
        out[s.name + ("{%s}" % labels if labels else "")] = s.value
print(json.dumps(out))
"##;
    let mut child = Command::new(python())
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs (LAKENODE_PYTHON, with prometheus_client)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("python ends");
    assert!(
        out.status.success(),
        "prometheus_client refused the exposition:\n{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn value(metrics: &BTreeMap<String, Value>, name: &str) -> f64 {
    metrics
        .get(name)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no sample {name} in {metrics:?}"))
}

fn status_json(spool: &Path) -> Value {
    let text = success(
        lakenode()
            .args(["status", "--format", "json", "--spool"])
            .arg(spool),
    );
    serde_json::from_str(&text).expect("status --format json is JSON")
}

#[test]
fn a_live_run_serves_metrics_that_prometheus_parses_and_status_reads_its_spool() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("s3");
    let spool = dir.path().join("spool");
    let s3 = lake_server(&data);
    // Down for 5 s once five requests went through: the run retries meanwhile.
    let plan = FaultPlan {
        outage: Some((5, Duration::from_secs(5))),
        ..FaultPlan::clean()
    };
    let proxy = FaultProxy::start(s3.addr(), plan);
    let mut child = run_to(&proxy.endpoint(), STATION, &spool)
        .args([
            "--simulate",
            "7",
            "--duration",
            "6h",
            "--give-up-after",
            "1m",
        ])
        .args(["--metrics", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run starts");
    // The bound address is logged at info level; the rest of stderr is kept.
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.split("metrics: serving http://").nth(1) {
                let _ = tx.send(url.trim_end_matches("/metrics").to_owned());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the run logs where it serves metrics");
    let objects = || files_with_extension(&data.join("lake"), "parquet").len();

    // Mid-run: poll until the outage shows as failed uploads.
    let deadline = Instant::now() + Duration::from_secs(60);
    let metrics = loop {
        let (status, body) = get(&addr, "/metrics");
        assert_eq!(status, 200, "{body}");
        let m = parse(&body);
        if value(&m, "lakenode_upload_failures_total") >= 1.0 {
            break m;
        }
        assert!(Instant::now() < deadline, "no failed upload seen: {m:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let in_bucket = objects();
    assert_eq!(metrics["#type lakenode_samples"], "counter");
    assert_eq!(metrics["#type lakenode_spool_files"], "gauge");
    let build = format!(
        "lakenode_build_info{{station=\"{STATION}\",version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(value(&metrics, &build), 1.0);
    let uploaded = value(&metrics, "lakenode_files_uploaded_total");
    let waiting = value(&metrics, "lakenode_spool_files");
    let sealed = value(&metrics, "lakenode_windows_sealed_total");
    assert!(
        (5.0..=in_bucket as f64).contains(&uploaded),
        "{uploaded} uploaded, {in_bucket} objects in the bucket"
    );
    assert!(waiting >= 1.0 && value(&metrics, "lakenode_spool_bytes") > 0.0);
    assert_eq!(
        uploaded + waiting,
        sealed,
        "each sealed window is uploaded or waiting"
    );
    assert!(value(&metrics, "lakenode_samples_total") >= 180.0 * sealed);
    assert!(value(&metrics, "lakenode_upload_retries_total") >= 1.0);
    assert!(value(&metrics, "lakenode_uploaded_bytes_total") > 1000.0 * uploaded);
    assert_eq!(value(&metrics, "lakenode_files_quarantined_total"), 0.0);
    assert_eq!(value(&metrics, "lakenode_files_dropped_total"), 0.0);
    assert_eq!(
        value(
            &metrics,
            "lakenode_samples_dropped_total{reason=\"unsynced\"}"
        ),
        0.0
    );
    let age = value(&metrics, "lakenode_last_upload_age_seconds");
    assert!((0.0..60.0).contains(&age), "last upload {age} s ago");
    let at = value(&metrics, "lakenode_last_upload_timestamp_seconds");
    let now = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
    assert!(
        (now - 60.0..=now + 1.0).contains(&at),
        "last upload at {at}, now {now}"
    );
    assert_eq!(get(&addr, "/healthz").0, 200);
    assert_eq!(get(&addr, "/nothing").0, 404);

    // `status` on the running node's spool: no lock taken, the run goes on.
    let live = status_json(&spool);
    assert_eq!(live["run"], "running", "{live}");
    assert_eq!(live["station"], STATION);
    assert!(
        live["spool_files"].as_u64().is_some_and(|n| n >= 1),
        "{live}"
    );
    assert!(
        live["oldest_waiting"]
            .as_str()
            .is_some_and(|k| k.contains("/data_")),
        "{live}"
    );
    assert!(live["oldest_waiting_window"].is_string(), "{live}");
    let table = success(lakenode().args(["status", "--spool"]).arg(&spool));
    assert!(
        table.contains("running (pid") && table.contains("last upload"),
        "{table}"
    );

    let exit = child.wait().expect("run ends");
    let stderr = reader.join().expect("stderr reader");
    assert!(exit.success(), "{exit:?}\n{stderr}");

    // After the end: the last snapshot, every file delivered.
    let done = status_json(&spool);
    assert_eq!(done["run"], "ended", "{done}");
    assert_eq!(done["spool_files"], 0, "{done}");
    assert!(done["oldest_waiting"].is_null());
    let counters = &done["snapshot"]["counters"];
    assert_eq!(
        counters["files_uploaded"].as_u64(),
        Some(objects() as u64),
        "{done}"
    );
    assert_eq!(objects(), 24);
    assert!(counters["upload_retries"].as_u64().is_some_and(|n| n >= 1));
    let table = success(lakenode().args(["status", "--spool"]).arg(&spool));
    assert!(
        table.contains("ended") && table.contains("0 files, 0 B waiting"),
        "{table}"
    );
    drop(proxy);
}

#[test]
fn status_refuses_a_directory_that_is_not_a_spool() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("notes.txt"), "hello").expect("write");
    let (out, _, stderr) = output(lakenode().args(["status", "--spool"]).arg(dir.path()));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not a lakenode spool"), "{stderr}");
    let (out, _, stderr) = output(
        lakenode()
            .args(["status", "--spool"])
            .arg(dir.path().join("missing")),
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    let (out, _, stderr) = output(
        lakenode()
            .args(["status", "--spool"])
            .arg(dir.path().join("notes.txt")),
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not a directory"), "{stderr}");
}

#[test]
fn a_metrics_address_in_use_stops_the_run_before_sampling() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = dir.path().join("spool");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let (out, _, stderr) = output(run_to("http://127.0.0.1:9", STATION, &spool).args([
        "--simulate",
        "1",
        "--duration",
        "1h",
        "--metrics",
        &addr,
    ]));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("--metrics {addr}: cannot serve metrics there")),
        "{stderr}"
    );
    assert!(!spool.exists(), "the spool was touched before the error");
    let (out, _, stderr) = output(run_to("http://127.0.0.1:9", STATION, &spool).args([
        "--simulate",
        "1",
        "--duration",
        "1h",
        "--metrics",
        "not-an-address",
    ]));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--metrics not-an-address"), "{stderr}");
}

/// The number of threads of process `pid` (Linux).
fn threads(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a Threads: line")
}

/// Misbehaving clients: hundreds of half-sent requests and oversized heads, against a
/// node with few file descriptors (`ulimit -n 48`, which the old server ran out of). The
/// metrics server keeps a fixed number of threads, refuses the big heads, logs accept
/// errors at most once, and `/metrics` answers promptly during the flood and after it.
#[cfg(target_os = "linux")]
#[test]
fn metrics_survive_floods_of_slow_and_oversized_requests_with_few_fds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = dir.path().join("spool");
    let node = run_to("http://127.0.0.1:9", STATION, &spool);
    let mut child = Command::new("sh")
        .args(["-c", "ulimit -n 48 && exec \"$0\" \"$@\""])
        .arg(node.get_program())
        .args(node.get_args())
        .envs(node.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .args(["--simulate", "1", "--metrics", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.split("metrics: serving http://").nth(1) {
                let _ = tx.send(url.trim_end_matches("/metrics").to_owned());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the run logs where it serves metrics");
    assert_eq!(get(&addr, "/metrics").0, 200);
    let before = threads(child.id());

    // 300 requests that never end their head.
    let mut slow = Vec::new();
    for _ in 0..300 {
        // Once the kernel's queue is full, a connection may be refused: fine.
        if let Ok(mut s) = TcpStream::connect(&addr) {
            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n");
            slow.push(s);
        }
    }
    // Oversized heads: 431 (or closed), never 200.
    for _ in 0..3 {
        let Ok(mut s) = TcpStream::connect(&addr) else {
            if child.try_wait().expect("try_wait").is_some() {
                drop(slow);
                panic!("the node died:\n{}", reader.join().expect("stderr reader"));
            }
            continue;
        };
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let big = format!(
            "GET /metrics HTTP/1.1\r\nX-Big: {}\r\n\r\n",
            "a".repeat(1 << 20)
        );
        let _ = s.write_all(big.as_bytes());
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        assert!(!reply.contains(" 200 "), "{reply:.200}");
    }
    let during = threads(child.id());
    assert!(
        during <= before + 1,
        "{before} threads before the flood, {during} during it"
    );
    // While the slow connections are still open: answered within a few seconds.
    let start = Instant::now();
    let answered = loop {
        let ok = std::panic::catch_unwind(|| get(&addr, "/healthz").0 == 200).unwrap_or(false);
        if ok || start.elapsed() > Duration::from_secs(10) {
            break ok;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(answered, "no answer during the flood");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    drop(slow);
    let start = Instant::now();
    let (status, body) = get(&addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("lakenode_samples_total"), "{body}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );

    let alive = child.try_wait().expect("try_wait").is_none();
    let _ = child.kill();
    let _ = child.wait();
    let stderr = reader.join().expect("stderr reader");
    assert!(alive && !stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr
            .matches("metrics: cannot accept a connection")
            .count()
            <= 1,
        "{stderr}"
    );
}
