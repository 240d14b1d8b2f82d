//! The IAM policy `lakenode policy` prints, enforced by the embedded server as AWS would
//! enforce it: a station under it delivers every data and health file (through the
//! binary, and through the live loop as the firmware runs it), and cannot write another
//! station's tree, read, list or delete. Loopback only.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::cell::{Cell, RefCell};
use std::io::BufRead as _;
use std::process::Stdio;
use std::rc::Rc;
use std::time::Duration;

use common::*;
use jiff::Timestamp;
use lakenode::driver::Reply;
use lakenode::schema::Measurement;
use lakenode::sim::Simulator;
use lakenode::window::WindowSpec;
use lakenode::{
    Adapter, BatchEnd, Event, HttpRequest, Link, Now, Prefix, Sample, Station, StationConfig,
    StationId, Transport, run_batch, run_live,
};
use lakenode_cli::transport::UreqTransport;

const STATION: &str = "0190f5c2-0000-7000-8000-000000001900";
const OTHER: &str = "0190f5c2-0000-7000-8000-000000001901";

/// The reply's status and body, as text.
fn error_of(reply: &lakenode::HttpResponse) -> (u16, String) {
    (
        reply.status,
        String::from_utf8_lossy(&reply.body).into_owned(),
    )
}

#[test]
fn a_station_under_its_printed_policy_delivers_every_data_and_health_row() {
    let tmp = tempfile::tempdir().unwrap();
    let policy = station_policy("raw", STATION);
    let s3 = lake_server_with_policy(&tmp.path().join("s3"), &policy);
    let (out, stdout, stderr) = output(
        run_to(&s3.endpoint(), STATION, &tmp.path().join("spool")).args([
            "--prefix",
            "raw",
            "--health",
            "--simulate",
            "3",
            "--start",
            "2026-07-01T12:00:00Z",
            "--duration",
            "1h",
        ]),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(!stderr.contains("AccessDenied"), "{stderr}");
    let lake = s3.data_dir().join("lake/raw");
    let sim = Simulator::new(3);
    let samples: Vec<Sample> = (0..720)
        .map(|i| sim.sample_at(1_782_907_200_000 + i * 5_000))
        .collect();
    assert_lake_holds(
        &tmp.path().join("expected.json"),
        &lake,
        STATION,
        samples,
        &Measurement::ALL,
        (4, 720),
    );
    assert_lake_ok(&lake.join("health"), &["--health", "4"]);

    // The admin key lists the eight files; the station key may not list at all.
    let now = Timestamp::now();
    let admin = s3_client(&s3.endpoint(), ADMIN_KEY, ADMIN_SECRET);
    let listed = send(&admin.list_objects("raw/", None, now));
    assert_eq!(listed.status, 200, "{:?}", error_of(&listed));
    let page = lakenode::s3::parse_list(&listed.body).unwrap();
    assert_eq!(page.objects.len(), 8, "{:?}", page.objects);
    let station = s3_client(&s3.endpoint(), KEY, SECRET);
    let (status, body) = error_of(&send(&station.list_objects("raw/", None, now)));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    assert!(
        body.contains("s3:ListBucket on resource arn:aws:s3:::lake"),
        "{body}"
    );
}

/// The policy this project printed before: the data tree only.
fn data_only_policy() -> String {
    format!(
        r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::lake/raw/station={STATION}/*"}}]}}"#
    )
}

/// A policy that leaves the health tree out (the one `lakenode policy` printed before)
/// never holds back data: every data row arrives, and the run ends with exit 3 naming
/// the refused health row, which waits in the spool.
#[test]
fn a_policy_without_the_health_tree_still_delivers_every_data_row() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = lake_server_with_policy(&tmp.path().join("s3"), &data_only_policy());
    let spool = tmp.path().join("spool");
    let (out, stdout, stderr) = output(run_to(&s3.endpoint(), STATION, &spool).args([
        "--prefix",
        "raw",
        "--health",
        "--simulate",
        "3",
        "--start",
        "2026-07-01T12:00:00Z",
        "--duration",
        "1h",
    ]));
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("every data file was delivered, but the upload of raw/health/"),
        "{stderr}"
    );
    assert!(stdout.contains("4 files uploaded"), "{stdout}");
    let lake = s3.data_dir().join("lake/raw");
    let sim = Simulator::new(3);
    let samples: Vec<Sample> = (0..720)
        .map(|i| sim.sample_at(1_782_907_200_000 + i * 5_000))
        .collect();
    assert_lake_holds(
        &tmp.path().join("expected.json"),
        &lake,
        STATION,
        samples,
        &Measurement::ALL,
        (4, 720),
    );
    assert_eq!(
        files_with_extension(&spool, "lks").len(),
        4,
        "health rows kept"
    );
}

#[test]
fn the_station_key_cannot_write_another_station_nor_read_list_or_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = lake_server_with_policy(&tmp.path().join("s3"), &station_policy("raw", STATION));
    let now = Timestamp::now();
    let station = s3_client(&s3.endpoint(), KEY, SECRET);
    let admin = s3_client(&s3.endpoint(), ADMIN_KEY, ADMIN_SECRET);
    let own = format!("raw/station={STATION}/year=2026/month=07/day=01/data_1200.parquet");
    let own_health =
        format!("raw/health/station={STATION}/year=2026/month=07/day=01/health_1200.parquet");
    let body = b"PAR1 not really".to_vec();

    for key in [&own, &own_health] {
        let reply = send(&station.put_object(key, body.clone(), now));
        assert_eq!(reply.status, 200, "{key}: {:?}", error_of(&reply));
    }
    for key in [
        own.replace(STATION, OTHER),
        own_health.replace(STATION, OTHER),
        format!("station={STATION}/year=2026/month=07/day=01/data_1200.parquet"),
    ] {
        let (status, text) = error_of(&send(&station.put_object(&key, body.clone(), now)));
        assert_eq!(status, 403, "{key}: {text}");
        assert!(text.contains("<Code>AccessDenied</Code>"), "{text}");
        assert!(
            text.contains(&format!(
                "access key {KEY} is not authorized to perform s3:PutObject on resource arn:aws:s3:::lake/"
            )),
            "{text}"
        );
        assert!(
            !s3.data_dir().join("lake").join(&key).exists(),
            "{key} was stored"
        );
    }
    for (what, request) in [
        ("GetObject", station.get_object(&own, now)),
        ("DeleteObject", station.delete_object(&own, now)),
    ] {
        let (status, text) = error_of(&send(&request));
        assert_eq!(status, 403, "{what}: {text}");
        assert!(
            text.contains(&format!("s3:{what} on resource arn:aws:s3:::lake/{own}")),
            "{text}"
        );
    }
    // The admin key is not limited: it reads the station's file back.
    let read = send(&admin.get_object(&own, now));
    assert_eq!(read.status, 200);
    assert_eq!(read.body, body);
}

/// A node whose clocks move only when it waits: the wall clock starts at the minute
/// before the real time (the embedded server checks signing times), sampling the core's
/// simulation every 5 s.
struct VirtualNode {
    mono: Rc<Cell<u64>>,
    start_ms: i64,
    until: u64,
    sim: Simulator,
    taken: Vec<Sample>,
    trouble: Rc<RefCell<Vec<String>>>,
}

impl Adapter for VirtualNode {
    fn now(&mut self) -> Now {
        let mono = self.mono.get();
        Now::synced(
            mono,
            Timestamp::from_millisecond(self.start_ms + i64::try_from(mono).unwrap()).unwrap(),
        )
    }

    fn read_sensors(&mut self, at: &Now) -> Sample {
        let sample = self.sim.sample_at(at.wall_ms().unwrap());
        self.taken.push(sample);
        sample
    }

    fn on_event(&mut self, event: &Event) {
        if matches!(
            event,
            Event::Paused { .. }
                | Event::Retrying { .. }
                | Event::Quarantined { .. }
                | Event::Dropped { .. }
                | Event::Skipped { .. }
                | Event::Error { .. }
        ) {
            self.trouble.borrow_mut().push(event.to_string());
        }
    }

    fn keep_running(&mut self) -> bool {
        self.mono.get() < self.until
    }
}

/// Sends each request over real HTTP to the embedded server as it is handed out; waiting
/// without a reply moves the node's clocks.
struct LoopbackLink {
    mono: Rc<Cell<u64>>,
    transport: UreqTransport,
    reply: Option<Reply>,
}

impl Link for LoopbackLink {
    fn busy(&self) -> bool {
        self.reply.is_some()
    }

    fn start(&mut self, request: HttpRequest) {
        self.reply = Some(self.transport.send(&request));
    }

    fn wait(&mut self, timeout: Duration) -> Option<Reply> {
        let reply = self.reply.take();
        if reply.is_none() {
            self.mono
                .set(self.mono.get() + u64::try_from(timeout.as_millis()).unwrap());
        }
        reply
    }
}

#[test]
fn the_live_loop_under_the_printed_policy_delivers_data_and_health() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = lake_server_with_policy(&tmp.path().join("s3"), &station_policy("raw", STATION));
    let config = lakenode::S3Config::new(&s3.endpoint(), "lake", "us-east-1", true).unwrap();
    let client =
        lakenode::S3Client::new(&config, lakenode::Credentials::new(KEY, SECRET, None)).unwrap();
    let id = StationId::new(STATION).unwrap();
    let station = StationConfig {
        recorder: lakenode::RecorderConfig {
            prefix: Some(Prefix::new("raw").unwrap()),
            spec: WindowSpec::new(5_000, 60_000).unwrap(),
            ..lakenode::RecorderConfig::new(id.clone())
        },
        health: true,
        ..StationConfig::new(id, client)
    };
    let mut node = Station::open(station, &tmp.path().join("spool")).unwrap();
    let real = Timestamp::now().as_millisecond();
    let mono = Rc::new(Cell::new(0));
    let trouble = Rc::new(RefCell::new(Vec::new()));
    let mut device = VirtualNode {
        mono: mono.clone(),
        // Inside a window, so the first one starts late, as after a boot.
        start_ms: real.div_euclid(60_000) * 60_000 - 30_000,
        until: 6 * 60_000,
        sim: Simulator::new(19),
        taken: Vec::new(),
        trouble: trouble.clone(),
    };
    let mut link = LoopbackLink {
        mono: mono.clone(),
        transport: UreqTransport::new(Duration::from_secs(30)),
        reply: None,
    };
    run_live(&mut node, &mut device, &mut link).unwrap();
    let lake = s3.data_dir().join("lake/raw");
    let delivered_live = files_with_extension(&lake.join("health"), "parquet").len();
    // Power stays on: the open window is sealed and delivered too.
    device.until = u64::MAX;
    let end = run_batch(
        &mut node,
        std::iter::empty(),
        &mut device,
        &mut link,
        Duration::from_secs(120),
    )
    .unwrap();
    assert_eq!(end, BatchEnd::Delivered, "{:?}", trouble.borrow());
    assert!(trouble.borrow().is_empty(), "{:?}", trouble.borrow());
    assert!(
        delivered_live >= 5,
        "health files delivered by the live loop: {delivered_live}"
    );
    let data_files = files_with_extension(&lake.join(format!("station={STATION}")), "parquet");
    let health_files = files_with_extension(&lake.join("health"), "parquet");
    assert_eq!(data_files.len(), 7, "{data_files:?}");
    assert_eq!(health_files.len(), data_files.len(), "{health_files:?}");
    let rows = device.taken.len();
    println!(
        "live loop under the printed policy: {rows} samples in {} data files, {} health files ({delivered_live} delivered while live)",
        data_files.len(),
        health_files.len()
    );
    assert_lake_holds(
        &tmp.path().join("expected.json"),
        &lake,
        STATION,
        device.taken,
        &Measurement::ALL,
        (data_files.len(), rows),
    );
    assert_lake_ok(
        &lake.join("health"),
        &["--health", &health_files.len().to_string()],
    );
    assert_eq!(node.status().pending_files, 0);
}

#[test]
fn serve_enforces_a_policy_file_and_refuses_a_malformed_one() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("station-policy.json");
    std::fs::write(&file, station_policy("raw", STATION)).unwrap();
    let mut child = lakenode_with_credentials()
        .args(["serve", "--data-dir"])
        .arg(tmp.path().join("s3"))
        .arg("--policy")
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let endpoint = line.trim().strip_prefix("listening on ").map(str::to_owned);
    let replies = endpoint.map(|endpoint| {
        let station = s3_client(&endpoint, KEY, SECRET);
        let now = Timestamp::now();
        let put = |key: &str| send(&station.put_object(key, b"x".to_vec(), now)).status;
        (
            put(&format!("raw/health/station={STATION}/h.parquet")),
            put(&format!("raw/health/station={OTHER}/h.parquet")),
        )
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(replies, Some((200, 403)), "{line}");

    std::fs::write(&file, r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject"}]}"#).unwrap();
    let (out, _, stderr) = output(
        lakenode_with_credentials()
            .args(["serve", "--data-dir"])
            .arg(tmp.path().join("s3"))
            .arg("--policy")
            .arg(&file),
    );
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "--policy {}: IAM policy of access key {KEY}: statement 1: no Resource or NotResource",
            file.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains(SECRET), "{stderr}");
}
