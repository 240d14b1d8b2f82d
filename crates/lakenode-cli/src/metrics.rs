//! What a running node shows of itself: `run --metrics ADDR` serves its counters as
//! Prometheus text at `GET /metrics`, and `run` keeps a small status snapshot in the
//! spool's `state/status.json` for `lakenode status` (another process, which must not
//! touch the running node's spool).
//!
//! The values are the station's own ([`Station::counters`], [`Station::status`]): the
//! adapter loop hands the station to [`Watch::observe`] after each step, which copies
//! them at most once a second (listing the spool costs a directory read) into a
//! [`Snapshot`] shared with the HTTP thread. A scrape encodes that snapshot with the
//! `prometheus-client` crate (a [`Collector`], the crate's way of exporting values
//! kept elsewhere), so nothing is counted twice and a scrape never waits for the loop.
//!
//! The snapshot file is written (temporary file, then rename: a reader never sees half
//! of it) only after the station reported an event (a window sealed, a file uploaded,
//! retried or set aside), at most once a second, and once when the run ends: never per
//! sample. It is not synced: one lost to a power cut is written again at the next event.
//!
//! ```no_run
//! use lakenode_cli::metrics::{Watch, serve};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let watch = Watch::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e", None);
//! let addr = serve("127.0.0.1:0", watch.clone())?; // curl http://{addr}/metrics
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use lakenode::Station;
use lakenode::station::Counters;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};
use serde::{Deserialize, Serialize};

use crate::error::{CliError, CliResult};

/// The snapshot's file name in the spool's `state/` directory.
pub const STATUS_FILE: &str = "status.json";

/// How often the shared snapshot is refreshed from the station, at most.
const REFRESH: Duration = Duration::from_secs(1);

/// The station's counters since this run started, as published (names as in
/// `/metrics`, without the prefix and suffixes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounters {
    /// Samples recorded.
    pub samples: u64,
    /// Samples not recorded: not after the previous one, or dated by an unset clock.
    pub samples_skipped: u64,
    /// Samples held before the first time sync and lost to the bound.
    pub samples_unsynced_dropped: u64,
    /// Windows sealed into the spool (data files and health rows).
    pub windows_sealed: u64,
    /// Objects S3 confirmed.
    pub files_uploaded: u64,
    /// Their bytes.
    pub uploaded_bytes: u64,
    /// Failed upload attempts, refusals included.
    pub upload_failures: u64,
    /// Refusals (403 and other replies that pause uploads).
    pub uploads_refused: u64,
    /// Failed attempts tried again.
    pub upload_retries: u64,
    /// Files moved to `quarantine/`.
    pub files_quarantined: u64,
    /// Files the spool limit dropped.
    pub files_dropped: u64,
    /// Spool entries that could neither be read nor quarantined.
    pub files_unreadable: u64,
    /// Steps of the wall clock.
    pub clock_steps: u64,
}

impl From<&Counters> for RunCounters {
    fn from(c: &Counters) -> Self {
        Self {
            samples: c.samples,
            samples_skipped: c.skipped_samples,
            samples_unsynced_dropped: c.unsynced_dropped,
            windows_sealed: c.sealed_files,
            files_uploaded: c.uploaded_files,
            uploaded_bytes: c.uploaded_bytes,
            upload_failures: c.upload_failures,
            uploads_refused: c.refusals,
            upload_retries: c.retries,
            files_quarantined: c.quarantined_files,
            files_dropped: c.dropped_files,
            files_unreadable: c.unreadable_files,
            clock_steps: c.clock_steps,
        }
    }
}

/// What a run publishes of its station: `/metrics` and `state/status.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The station id.
    pub station: String,
    /// lakenode's version.
    pub version: String,
    /// The process running the station.
    pub pid: u32,
    /// Whether the run was going on when this was written (`false`: its last word).
    pub running: bool,
    /// When the run started, ms since the Unix epoch.
    pub started_ms: i64,
    /// When this snapshot was taken.
    pub updated_ms: i64,
    /// Where `/metrics` is served, if it is.
    pub metrics: Option<String>,
    /// Counters since the run started.
    pub counters: RunCounters,
    /// Files waiting in the spool.
    pub spool_files: u64,
    /// Their bytes.
    pub spool_bytes: u64,
    /// Files in the spool's `quarantine/` (this and earlier runs).
    pub quarantined_files: u64,
    /// The last sample recorded, ms since the Unix epoch.
    pub last_sample_ms: Option<i64>,
    /// The last upload S3 confirmed, by this or an earlier run on the spool.
    pub last_upload_ms: Option<i64>,
}

impl Snapshot {
    /// Reads a snapshot file; `None` if it is missing or not one.
    #[must_use]
    pub fn read(path: &Path) -> Option<Self> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }
}

#[derive(Debug)]
struct Inner {
    snapshot: Snapshot,
    file: Option<PathBuf>,
    refreshed: Option<Instant>,
    /// An event came since the file was last written.
    dirty: bool,
}

/// The run's published view of its station, shared by the loop (which updates it), the
/// HTTP thread (which reads it) and the end of the run; see the module docs.
#[derive(Debug, Clone)]
pub struct Watch(Arc<Mutex<Inner>>);

impl Watch {
    /// A view of `station`'s run, keeping its snapshot in `file` if given. The last
    /// upload an earlier run recorded there is kept until this run confirms one.
    #[must_use]
    pub fn new(station: &str, file: Option<PathBuf>) -> Self {
        let earlier = file.as_deref().and_then(Snapshot::read);
        let now = Timestamp::now().as_millisecond();
        let snapshot = Snapshot {
            station: station.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            pid: std::process::id(),
            running: true,
            started_ms: now,
            updated_ms: now,
            last_upload_ms: earlier.and_then(|s| s.last_upload_ms),
            ..Snapshot::default()
        };
        Self(Arc::new(Mutex::new(Inner {
            snapshot,
            file,
            refreshed: None,
            dirty: true,
        })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps the snapshot file in `file` from now on (the spool's `state/`, known once
    /// the station is open).
    pub fn keep_in(&self, file: PathBuf) {
        let mut inner = self.lock();
        if inner.snapshot.last_upload_ms.is_none() {
            inner.snapshot.last_upload_ms = Snapshot::read(&file).and_then(|s| s.last_upload_ms);
        }
        inner.file = Some(file);
    }

    /// Where `/metrics` is served (recorded in the snapshot for `lakenode status`).
    pub fn set_metrics_url(&self, url: String) {
        self.lock().snapshot.metrics = Some(url);
    }

    /// The station reported an event: the file is written at the next refresh.
    pub fn event(&self) {
        self.lock().dirty = true;
    }

    /// Copies the station's counters and status, at most once a second; writes the
    /// snapshot file if an event came since it was last written.
    pub fn observe(&self, station: &Station) {
        let mut inner = self.lock();
        if inner.refreshed.is_some_and(|t| t.elapsed() < REFRESH) {
            return;
        }
        inner.refreshed = Some(Instant::now());
        copy(&mut inner.snapshot, station);
        if inner.dirty {
            inner.dirty = false;
            write(&inner);
        }
    }

    /// The run is over: a last copy, written whatever happened since.
    pub fn finish(&self, station: &Station) {
        let mut inner = self.lock();
        copy(&mut inner.snapshot, station);
        inner.snapshot.running = false;
        write(&inner);
    }

    /// The current snapshot.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        self.lock().snapshot.clone()
    }
}

fn copy(snapshot: &mut Snapshot, station: &Station) {
    let counters = station.counters();
    let status = station.status();
    snapshot.updated_ms = Timestamp::now().as_millisecond();
    snapshot.counters = RunCounters::from(counters);
    snapshot.spool_files = status.pending_files as u64;
    snapshot.spool_bytes = status.pending_bytes;
    snapshot.quarantined_files = status.quarantined_files as u64;
    snapshot.last_sample_ms = status.last_recorded;
    snapshot.last_upload_ms = counters.last_upload_ms.or(snapshot.last_upload_ms);
}

/// Writes the snapshot file: a temporary file renamed over it. A failure is logged at
/// debug level and otherwise ignored: the status file must never stop a node.
fn write(inner: &Inner) {
    let Some(path) = &inner.file else { return };
    let tmp = path.with_extension("json.tmp");
    let result = serde_json::to_vec_pretty(&inner.snapshot)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&tmp, bytes))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        tracing::debug!("status snapshot {}: {e}", path.display());
    }
}

/// Starts serving `/metrics` (and `/healthz`) on `addr` from its own threads; returns
/// the address bound (port 0 picks a free one).
///
/// # Errors
/// [`CliError::Usage`] (exit 2, a setting that cannot work) if `addr` is not an address
/// or cannot be bound (in use, not this machine's, a privileged port).
pub fn serve(addr: &str, watch: Watch) -> CliResult<SocketAddr> {
    let usage = |e: &dyn std::fmt::Display| {
        CliError::Usage(format!(
            "--metrics {addr}: cannot serve metrics there: {e} (give a free IP:PORT of this machine, e.g. 127.0.0.1:9464, or port 0 for any free port)"
        ))
    };
    let listener = TcpListener::bind(addr).map_err(|e| usage(&e))?;
    let bound = listener.local_addr().map_err(|e| usage(&e))?;
    let mut registry = Registry::with_prefix("lakenode");
    registry.register_collector(Box::new(StationCollector(watch)));
    let registry = Arc::new(registry);
    let queue = Arc::new(Queue::default());
    for i in 0..HANDLERS {
        let (queue, registry) = (Arc::clone(&queue), Arc::clone(&registry));
        std::thread::Builder::new()
            .name(format!("lakenode-metrics-{i}"))
            .spawn(move || {
                loop {
                    handle(queue.pop(), &registry);
                }
            })
            .map_err(|e| CliError::Failed(format!("cannot start a metrics thread: {e}")))?;
    }
    std::thread::Builder::new()
        .name("lakenode-metrics".into())
        .spawn(move || accept_loop(&listener, &queue))
        .map_err(|e| CliError::Failed(format!("cannot start the metrics thread: {e}")))?;
    Ok(bound)
}

// A small hand-written HTTP/1.x server rather than an HTTP crate (tiny_http before):
// the point is the limits (a fixed number of threads, a deadline and a size cap per
// request, an accept loop that outlives EMFILE), which tiny_http cannot be configured
// to keep (a thread per connection, unbounded headers, a panic on EMFILE), and the
// protocol needed is one GET answered with `Connection: close`.

/// Connections answered at once (one thread each).
const HANDLERS: usize = 4;
/// Connections accepted and waiting for a handler; beyond it the oldest is closed.
const WAITING: usize = 16;
/// The whole request head must arrive within this.
const READ_DEADLINE: Duration = Duration::from_secs(2);
/// The answer must be taken within this.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest request head read; a longer one gets 431.
const MAX_HEAD: usize = 8 * 1024;
/// Accept errors are logged at most this often.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(60);

/// Accepted connections waiting for a handler: newest first (a scraper that just
/// connected is not stuck behind a flood of stalled ones), the oldest closed when full.
#[derive(Default)]
struct Queue {
    waiting: Mutex<VecDeque<TcpStream>>,
    ready: Condvar,
}

impl Queue {
    fn push(&self, stream: TcpStream) {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        if waiting.len() >= WAITING {
            waiting.pop_front();
        }
        waiting.push_back(stream);
        self.ready.notify_one();
    }

    /// Closes the oldest waiting connection, if any (out of file descriptors: the
    /// newest connections matter more).
    fn shed(&self) -> bool {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        waiting.pop_front().is_some()
    }

    fn pop(&self) -> TcpStream {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(stream) = waiting.pop_back() {
                return stream;
            }
            waiting = self
                .ready
                .wait(waiting)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Accepts connections for ever: an error (out of file descriptors, a connection
/// aborted before it was accepted) is logged at most once a minute, the oldest waiting
/// connection is closed (freeing a descriptor) or, if none waits, the loop sleeps
/// briefly (the pending connection stays queued in the kernel); then it goes on.
fn accept_loop(listener: &TcpListener, queue: &Queue) {
    let mut logged = None;
    loop {
        take(
            listener.accept().map(|(stream, _)| stream),
            queue,
            &mut logged,
        );
    }
}

/// One turn of [`accept_loop`]; `true` if an error was logged.
fn take(accepted: std::io::Result<TcpStream>, queue: &Queue, logged: &mut Option<Instant>) -> bool {
    let e = match accepted {
        Ok(stream) => {
            queue.push(stream);
            return false;
        }
        Err(e) => e,
    };
    if !queue.shed() {
        std::thread::sleep(Duration::from_millis(50));
    }
    if logged.is_some_and(|t| t.elapsed() < ERROR_LOG_EVERY) {
        return false;
    }
    *logged = Some(Instant::now());
    tracing::warn!("metrics: cannot accept a connection: {e} (going on)");
    true
}

/// Reads one request head (within [`READ_DEADLINE`] and [`MAX_HEAD`]) and answers it.
fn handle(mut stream: TcpStream, registry: &Registry) {
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let reply = match read_head(&mut stream) {
        Head::Complete(head) => answer(&head, registry),
        Head::TooLarge => Reply::text(431, "request header fields too large\n"),
        // Too slow, or gone: close without a word.
        Head::Incomplete => return,
    };
    // The scraper hung up: nothing to do.
    let _ = stream.write_all(&reply);
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

enum Head {
    Complete(String),
    TooLarge,
    Incomplete,
}

fn read_head(stream: &mut TcpStream) -> Head {
    let deadline = Instant::now() + READ_DEADLINE;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0_u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Head::Complete(String::from_utf8_lossy(&buf[..end]).into_owned());
        }
        if buf.len() > MAX_HEAD {
            return Head::TooLarge;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Head::Incomplete;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return Head::Incomplete,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The `Content-Type` of the text exposition format.
const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// An answer's bytes, head and body.
struct Reply;

impl Reply {
    fn build(status: u16, content_type: &str, body: &str, with_body: bool) -> Vec<u8> {
        let reason = match status {
            200 => "OK",
            404 => "Not Found",
            405 => "Method Not Allowed",
            431 => "Request Header Fields Too Large",
            _ => "Internal Server Error",
        };
        let allow = if status == 405 {
            "Allow: GET, HEAD\r\n"
        } else {
            ""
        };
        let mut out = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        if with_body {
            out.extend_from_slice(body.as_bytes());
        }
        out
    }

    fn text(status: u16, body: &str) -> Vec<u8> {
        Self::build(status, "text/plain", body, true)
    }
}

fn answer(head: &str, registry: &Registry) -> Vec<u8> {
    let mut line = head.lines().next().unwrap_or_default().split(' ');
    let method = line.next().unwrap_or_default();
    let path = line
        .next()
        .unwrap_or_default()
        .split('?')
        .next()
        .unwrap_or_default();
    let with_body = method != "HEAD";
    let get = matches!(method, "GET" | "HEAD");
    let (status, content_type, body) = match (get, path) {
        (true, "/metrics") => {
            let mut text = String::new();
            match prometheus_client::encoding::prometheus_text::encode(&mut text, registry) {
                Ok(()) => (200, CONTENT_TYPE, text),
                Err(e) => (500, "text/plain", format!("encoding failed: {e}\n")),
            }
        }
        (true, "/healthz") => (200, "text/plain", "ok\n".to_owned()),
        (true, _) => (404, "text/plain", "not found: try /metrics\n".to_owned()),
        (false, _) => (405, "text/plain", "only GET\n".to_owned()),
    };
    Reply::build(status, content_type, &body, with_body)
}

/// Encodes the [`Watch`]'s snapshot at each scrape.
#[derive(Debug)]
struct StationCollector(Watch);

impl Collector for StationCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.0.snapshot();
        let c = &s.counters;
        let labels = [
            ("version", s.version.as_str()),
            ("station", s.station.as_str()),
        ];
        let info = ConstGauge::new(1_i64);
        let mut m = encoder.encode_descriptor(
            "build_info",
            "lakenode's version and the station it runs, always 1",
            None,
            info.metric_type(),
        )?;
        info.encode(m.encode_family(&labels)?)?;
        let counters: [(&str, &str, Option<Unit>, u64); 11] = [
            (
                "samples",
                "Samples recorded (journaled) since the run started",
                None,
                c.samples,
            ),
            (
                "windows_sealed",
                "Windows sealed into the spool (data files and health rows)",
                None,
                c.windows_sealed,
            ),
            (
                "files_uploaded",
                "Objects S3 confirmed (the body's MD5 as ETag)",
                None,
                c.files_uploaded,
            ),
            (
                "uploaded",
                "Bytes of the objects S3 confirmed",
                Some(Unit::Bytes),
                c.uploaded_bytes,
            ),
            (
                "upload_failures",
                "Failed upload attempts, refusals included",
                None,
                c.upload_failures,
            ),
            (
                "uploads_refused",
                "Uploads S3 refused (403 and other replies that pause uploads for 5 minutes)",
                None,
                c.uploads_refused,
            ),
            (
                "upload_retries",
                "Failed upload attempts tried again (after a backoff, or resent at once)",
                None,
                c.upload_retries,
            ),
            (
                "files_quarantined",
                "Spool files moved to quarantine/ (damaged, or refused by S3 as invalid)",
                None,
                c.files_quarantined,
            ),
            (
                "files_dropped",
                "Spool files the spool limit dropped (listed in dropped.log): data lost",
                None,
                c.files_dropped,
            ),
            (
                "files_unreadable",
                "Spool files that could neither be read nor quarantined",
                None,
                c.files_unreadable,
            ),
            (
                "clock_steps",
                "Steps of the wall clock seen (NTP steps, a clock set by hand)",
                None,
                c.clock_steps,
            ),
        ];
        for (name, help, unit, value) in counters {
            let counter = ConstCounter::new(value);
            let m = encoder.encode_descriptor(name, help, unit.as_ref(), counter.metric_type())?;
            counter.encode(m)?;
        }
        let dropped = ConstCounter::new(0_u64);
        let mut m = encoder.encode_descriptor(
            "samples_dropped",
            "Samples not recorded: reason not_after_previous (or dated by an unset clock), unsynced (held before the first time sync, over the bound)",
            None,
            dropped.metric_type(),
        )?;
        for (reason, value) in [
            ("not_after_previous", c.samples_skipped),
            ("unsynced", c.samples_unsynced_dropped),
        ] {
            ConstCounter::new(value).encode(m.encode_family(&[("reason", reason)])?)?;
        }
        let whole: [(&str, &str, Option<Unit>, u64); 3] = [
            (
                "spool_files",
                "Files waiting in the spool for S3 to confirm them",
                None,
                s.spool_files,
            ),
            (
                "spool",
                "Bytes of the files waiting in the spool",
                Some(Unit::Bytes),
                s.spool_bytes,
            ),
            (
                "quarantined_files",
                "Files in the spool's quarantine/ directory (this and earlier runs)",
                None,
                s.quarantined_files,
            ),
        ];
        for (name, help, unit, value) in whole {
            let gauge = ConstGauge::new(value);
            let m = encoder.encode_descriptor(name, help, unit.as_ref(), gauge.metric_type())?;
            gauge.encode(m)?;
        }
        let now_ms = Timestamp::now().as_millisecond();
        let seconds = |ms: i64| ms as f64 / 1000.0;
        let mut times = vec![(
            "start_time",
            "When this run started, Unix time",
            seconds(s.started_ms),
        )];
        if let Some(t) = s.last_sample_ms {
            times.push((
                "last_sample_timestamp",
                "The last sample recorded, Unix time",
                seconds(t),
            ));
        }
        if let Some(t) = s.last_upload_ms {
            times.push((
                "last_upload_timestamp",
                "The last upload S3 confirmed (this or an earlier run on the spool), Unix time",
                seconds(t),
            ));
            times.push((
                "last_upload_age",
                "Seconds since the last upload S3 confirmed, at this scrape",
                seconds(now_ms - t).max(0.0),
            ));
        }
        for (name, help, value) in times {
            let gauge = ConstGauge::new(value);
            let m =
                encoder.encode_descriptor(name, help, Some(&Unit::Seconds), gauge.metric_type())?;
            gauge.encode(m)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_errors_shed_the_oldest_waiting_and_are_logged_once_a_minute() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let queue = Queue::default();
        let mut logged = None;
        let mut clients = Vec::new();
        for _ in 0..WAITING + 2 {
            clients.push(TcpStream::connect(addr).expect("connect"));
            assert!(!take(
                listener.accept().map(|(s, _)| s),
                &queue,
                &mut logged
            ));
        }
        let waiting = || queue.waiting.lock().expect("lock").len();
        assert_eq!(waiting(), WAITING, "the oldest are closed beyond the bound");
        let emfile = || Err(std::io::Error::from_raw_os_error(24));
        assert!(
            take(emfile(), &queue, &mut logged),
            "the first error is logged"
        );
        for _ in 0..WAITING + 3 {
            assert!(
                !take(emfile(), &queue, &mut logged),
                "then not for a minute"
            );
        }
        assert_eq!(waiting(), 0, "each error closed a waiting connection");
        logged = logged.and_then(|t| t.checked_sub(ERROR_LOG_EVERY));
        assert!(
            take(emfile(), &queue, &mut logged),
            "logged again after a minute"
        );
        clients.push(TcpStream::connect(addr).expect("connect"));
        take(listener.accept().map(|(s, _)| s), &queue, &mut logged);
        assert_eq!(waiting(), 1, "accepting goes on");
    }
}
