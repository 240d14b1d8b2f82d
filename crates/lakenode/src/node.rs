//! The node: samples in, sealed files into the spool ([`Node`]); spooled files out to
//! S3 ([`Uploader`]). Both are driven by the platform's loop (host CLI or firmware),
//! which owns time, sleeping and the network; nothing here blocks except `std::fs` and
//! the [`Transport`] call it is handed.
//!
//! ```
//! use lakenode::node::{Node, NodeConfig};
//! use lakenode::{layout::StationId, sim::Simulator};
//! # let dir = tempfile::tempdir()?;
//! let config = NodeConfig::new(StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e")?);
//! let mut node = Node::open(config, dir.path())?;
//! let sim = Simulator::new(1);
//! for i in 0..=180 {
//!     node.record(sim.sample_at(1_767_225_600_000 + i * 5_000))?;
//! }
//! assert_eq!(node.spool().pending()?.len(), 1); // the first window is sealed
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::backoff::Backoff;
use crate::clock::{MIN_SAMPLE_MS, WallClock, is_plausible};
use crate::encode::{Encoder, FileMetadata, WriterProfile};
use crate::health::{HealthRow, health_key};
use crate::journal::Journal;
use crate::layout::{ObjectKey, Prefix, StationId};
use crate::s3::{FailureKind, PutOutcome, S3Client, S3Failure, interpret_put};
use crate::sample::Sample;
use crate::schema::Schema;
use crate::spool::{Spool, SpoolEntry};
use crate::transport::{Transport, TransportError};
use crate::window::{Window, WindowSpec, Windower};
use crate::{Error, Result};

/// How far our signing clock may differ from S3's `Date` before a 403 is taken for a
/// clock problem rather than a permission problem.
pub const SKEW_TOLERANCE: SignedDuration = SignedDuration::from_secs(60);

/// What a station is and how it writes.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The station id (in every key and file).
    pub station: StationId,
    /// Optional key prefix inside the bucket.
    pub prefix: Option<Prefix>,
    /// The station's measurement columns.
    pub schema: Schema,
    /// Column layout of the files.
    pub profile: WriterProfile,
    /// Sampling interval and window length.
    pub spec: WindowSpec,
}

impl NodeConfig {
    /// Defaults: every measurement, compat profile, 5 s samples, 15 min windows.
    #[must_use]
    pub fn new(station: StationId) -> Self {
        Self {
            station,
            prefix: None,
            schema: Schema::default(),
            profile: WriterProfile::default(),
            spec: WindowSpec::default(),
        }
    }
}

/// A window that was sealed, encoded and spooled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedFile {
    /// Spool id.
    pub id: u64,
    /// Object key.
    pub key: ObjectKey,
    /// Rows (samples) in the file.
    pub rows: usize,
    /// File size in bytes.
    pub bytes: usize,
    /// The window's start, ms.
    pub window_start_ms: i64,
}

/// The sampling side: journals each sample, windows them, and spools each sealed window
/// as Parquet. All state lives in one directory (journal and spool), so a node that is
/// killed or loses power continues where it stopped; see [`crate::journal`].
#[derive(Debug)]
pub struct Node {
    config: NodeConfig,
    windower: Windower,
    encoder: Encoder,
    spool: Spool,
    journal: Journal,
    last_recorded: Option<i64>,
    replayed: usize,
}

impl Node {
    /// Opens the node's state in `dir` (created if needed): the spool, and the journal,
    /// whose samples are replayed into the open window. A window whose time has passed
    /// during the replay is sealed and spooled.
    ///
    /// # Errors
    /// [`Error::Spool`] on IO failure; [`Error::Parquet`] if a replayed window cannot be
    /// encoded.
    pub fn open(config: NodeConfig, dir: &Path) -> Result<Self> {
        let spool = Spool::open(dir)?;
        let (journal, replay) = Journal::open(dir)?;
        let mut node = Self {
            windower: Windower::new(config.spec),
            encoder: Encoder::new(&config.schema, config.profile)?,
            config,
            spool,
            journal,
            last_recorded: replay.sealed_through,
            replayed: replay.samples.len(),
        };
        let mut sealed_through = None;
        for sample in replay.samples {
            node.last_recorded = Some(sample.timestamp_ms);
            if let Some(window) = node.windower.push(sample)? {
                node.seal(&window)?;
                sealed_through = window.last_ms();
            }
        }
        if let Some(t) = sealed_through {
            node.restart_journal(t)?;
        }
        Ok(node)
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The spool (for the uploader and status output).
    #[must_use]
    pub const fn spool(&self) -> &Spool {
        &self.spool
    }

    /// The spool, mutably (the uploader removes delivered entries).
    pub fn spool_mut(&mut self) -> &mut Spool {
        &mut self.spool
    }

    /// The timestamp of the last sample durably recorded (in the journal or a sealed
    /// file), if any: a resumed run continues after it.
    #[must_use]
    pub const fn last_recorded(&self) -> Option<i64> {
        self.last_recorded
    }

    /// Samples replayed from the journal when the node was opened.
    #[must_use]
    pub const fn replayed(&self) -> usize {
        self.replayed
    }

    /// Records a sample: journals it (synced), and if it sealed the previous window,
    /// encodes and spools that window and returns it.
    ///
    /// # Errors
    /// [`Error::OutOfOrder`] for a sample not after the last recorded one and
    /// [`Error::UnsetClock`] for one dated before 2001 (nothing is written); [`Error::Spool`] or [`Error::Parquet`] if the sample or the sealed
    /// window could not be stored (the journal still holds them for the next start).
    pub fn record(&mut self, sample: Sample) -> Result<Option<SealedFile>> {
        if sample.timestamp_ms < MIN_SAMPLE_MS {
            return Err(Error::UnsetClock {
                timestamp_ms: sample.timestamp_ms,
            });
        }
        if let Some(previous_ms) = self.last_recorded
            && sample.timestamp_ms <= previous_ms
        {
            return Err(Error::OutOfOrder {
                timestamp_ms: sample.timestamp_ms,
                previous_ms,
            });
        }
        self.journal.append(&sample)?;
        self.last_recorded = Some(sample.timestamp_ms);
        match self.windower.push(sample)? {
            Some(window) => {
                let sealed = self.seal(&window)?;
                self.restart_journal(window.last_ms().unwrap_or(window.start_ms))?;
                Ok(Some(sealed))
            }
            None => Ok(None),
        }
    }

    /// Seals and spools the open window now (end of input, shutdown).
    ///
    /// # Errors
    /// As [`Node::record`].
    pub fn flush(&mut self) -> Result<Option<SealedFile>> {
        match self.windower.flush() {
            Some(window) => {
                let sealed = self.seal(&window)?;
                self.restart_journal(window.last_ms().unwrap_or(window.start_ms))?;
                Ok(Some(sealed))
            }
            None => Ok(None),
        }
    }

    /// Spools a health row for the window starting at `window_start_ms`, into the
    /// health tree (see [`crate::health`]).
    ///
    /// # Errors
    /// [`Error::Spool`] or [`Error::Parquet`].
    pub fn spool_health(&mut self, window_start_ms: i64, row: &HealthRow) -> Result<u64> {
        let key = health_key(
            self.config.prefix.as_ref(),
            &self.config.station,
            window_start_ms,
        );
        self.spool.push(&key, &row.encode()?)
    }

    fn restart_journal(&mut self, sealed_through: i64) -> Result<()> {
        let open = self
            .windower
            .open_window()
            .map_or(&[][..], |w| &w.samples[..]);
        self.journal.restart(sealed_through, open)
    }

    fn seal(&mut self, window: &Window) -> Result<SealedFile> {
        let c = &self.config;
        let key = ObjectKey::for_window(c.prefix.as_ref(), &c.station, window);
        let meta = FileMetadata::new(&c.station, c.spec, window);
        let bytes = self.encoder.encode(window, &meta)?;
        let id = self.spool.push(key.as_str(), &bytes)?;
        Ok(SealedFile {
            id,
            key,
            rows: window.samples.len(),
            bytes: bytes.len(),
            window_start_ms: window.start_ms,
        })
    }
}

/// Why an upload attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadFailure {
    /// No response (connection refused, reset, timeout...).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// S3 answered with an error.
    #[error(transparent)]
    S3(#[from] S3Failure),
    /// The local clock is not set (before 2025): nothing is signed with such a time.
    #[error("the clock is not synchronised (reads {0}); not signing")]
    ClockNotSet(Timestamp),
}

/// An object S3 confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Object key.
    pub key: String,
    /// Bytes uploaded.
    pub bytes: usize,
    /// Attempts it took (1 = first try).
    pub attempts: u32,
}

/// Why [`Uploader::drain`] stopped before emptying the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// S3 refused the credentials, permissions or bucket: retrying will not help until
    /// the operator fixes the configuration. The data stays spooled.
    Refused {
        /// Key being uploaded.
        key: String,
        /// S3's answer.
        failure: S3Failure,
    },
    /// The attempt budget ran out on transient failures; try again later.
    GaveUp {
        /// Key being uploaded.
        key: String,
        /// The last failure.
        last: UploadFailure,
        /// Attempts made.
        attempts: u32,
    },
}

/// Result of a [`Uploader::drain`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Objects confirmed by S3, in upload order.
    pub delivered: Vec<Delivered>,
    /// Entries moved to quarantine, with the reason.
    pub quarantined: Vec<(u64, String)>,
    /// Failed attempts that were retried.
    pub retries: u32,
    /// Why the drain stopped early, if it did.
    pub stopped: Option<Stop>,
}

/// The delivery side: uploads spooled files oldest first, removing each only after S3
/// confirmed it.
#[derive(Debug)]
pub struct Uploader {
    client: S3Client,
    backoff: Backoff,
    max_attempts: u32,
    max_files_per_drain: Option<usize>,
    clock_offset: SignedDuration,
}

impl Uploader {
    /// An uploader retrying transient failures up to `max_attempts` times per file
    /// (with exponential backoff from 0.5 s up to 30 s) before giving up for now.
    #[must_use]
    pub fn new(client: S3Client, max_attempts: u32, jitter_seed: u64) -> Self {
        Self {
            client,
            backoff: Backoff::new(
                Duration::from_millis(500),
                Duration::from_secs(30),
                jitter_seed,
            ),
            max_attempts: max_attempts.max(1),
            max_files_per_drain: None,
            clock_offset: SignedDuration::ZERO,
        }
    }

    /// Uploads at most `files` per [`Uploader::drain`], so a backlog after a long outage
    /// drains at a bounded pace between samples instead of starving them.
    #[must_use]
    pub const fn with_max_files_per_drain(mut self, files: usize) -> Self {
        self.max_files_per_drain = Some(files);
        self
    }

    /// The correction applied to the wall clock when signing, learnt from a
    /// `RequestTimeTooSkewed` reply.
    #[must_use]
    pub const fn clock_offset(&self) -> SignedDuration {
        self.clock_offset
    }

    /// The S3 client (for read-back checks).
    #[must_use]
    pub const fn client(&self) -> &S3Client {
        &self.client
    }

    /// Uploads every pending spool entry, oldest first. `sleep` is called between
    /// retries (the platform decides how to wait).
    ///
    /// # Errors
    /// Only spool IO errors; upload problems are reported in [`DrainReport::stopped`].
    pub fn drain(
        &mut self,
        spool: &mut Spool,
        transport: &mut dyn Transport,
        clock: &dyn WallClock,
        sleep: &mut dyn FnMut(Duration),
    ) -> Result<DrainReport> {
        let mut report = DrainReport::default();
        let mut pending = spool.pending()?;
        if let Some(max) = self.max_files_per_drain {
            pending.truncate(max.max(1));
        }
        for id in pending {
            let mut entry = match spool.read(id) {
                Ok(e) => e,
                Err(Error::CorruptSpoolEntry { reason, .. }) => {
                    spool.quarantine(id, &reason)?;
                    report.quarantined.push((id, reason));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut attempts = 0;
            loop {
                attempts += 1;
                let failure = match self.attempt(&entry, transport, clock) {
                    Ok(()) => {
                        spool.remove(id)?;
                        self.backoff.reset();
                        report.delivered.push(Delivered {
                            key: entry.key.clone(),
                            bytes: entry.body.len(),
                            attempts,
                        });
                        break;
                    }
                    Err(f) => f,
                };
                match &failure {
                    UploadFailure::S3(f) if self.is_clock_skew(f, clock) => {
                        if let Some(server) = f.server_date {
                            self.clock_offset = server.duration_since(clock.now());
                        }
                    }
                    UploadFailure::S3(f) if f.kind == FailureKind::Refused => {
                        report.stopped = Some(Stop::Refused {
                            key: entry.key,
                            failure: f.clone(),
                        });
                        return Ok(report);
                    }
                    UploadFailure::S3(f) if f.kind == FailureKind::Rejected => {
                        let reason = format!("S3 rejected {}: {f}", entry.key);
                        spool.quarantine(id, &reason)?;
                        report.quarantined.push((id, reason));
                        break;
                    }
                    UploadFailure::S3(f) if f.kind == FailureKind::BadDigest => {
                        // Damaged in transit or in memory: take the bytes from disk again.
                        match spool.read(id) {
                            Ok(fresh) => entry = fresh,
                            Err(Error::CorruptSpoolEntry { reason, .. }) => {
                                spool.quarantine(id, &reason)?;
                                report.quarantined.push((id, reason));
                                break;
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    _ => {}
                }
                if attempts >= self.max_attempts {
                    report.stopped = Some(Stop::GaveUp {
                        key: entry.key,
                        last: failure,
                        attempts,
                    });
                    return Ok(report);
                }
                report.retries += 1;
                sleep(self.backoff.next_delay());
            }
        }
        Ok(report)
    }

    /// Whether a failure comes from our clock: `RequestTimeTooSkewed`, or a 403 (for a
    /// presigned URL signed too far in the past S3 says `AccessDenied: Request has
    /// expired`) whose `Date` differs from our corrected clock by more than
    /// [`SKEW_TOLERANCE`]. After a correction the difference is small, so a real
    /// permission problem is still reported as such.
    fn is_clock_skew(&self, f: &S3Failure, clock: &dyn WallClock) -> bool {
        if f.kind == FailureKind::ClockSkew {
            return true;
        }
        let (Some(server), true) = (f.server_date, f.status == 403) else {
            return false;
        };
        let ours = clock
            .now()
            .saturating_add(self.clock_offset)
            .unwrap_or_else(|_| clock.now());
        server.duration_since(ours).abs() > SKEW_TOLERANCE
    }

    /// One signed PUT of an entry.
    fn attempt(
        &self,
        entry: &SpoolEntry,
        transport: &mut dyn Transport,
        clock: &dyn WallClock,
    ) -> std::result::Result<(), UploadFailure> {
        let now = clock
            .now()
            .saturating_add(self.clock_offset)
            .unwrap_or_else(|_| clock.now());
        if !is_plausible(now) {
            return Err(UploadFailure::ClockNotSet(now));
        }
        let request = self.client.put_object(&entry.key, &entry.body, now);
        let response = transport.send(&request)?;
        match interpret_put(&response) {
            PutOutcome::Stored { .. } => Ok(()),
            PutOutcome::Failed(f) => Err(f.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::s3::{Credentials, S3Config};
    use crate::transport::{HttpRequest, HttpResponse};
    use std::collections::VecDeque;

    /// A scripted transport: answers from a queue and records what it was sent.
    struct Script {
        answers: VecDeque<std::result::Result<HttpResponse, TransportError>>,
        sent: Vec<(String, usize, Option<String>)>,
    }

    impl Transport for Script {
        fn send(
            &mut self,
            r: &HttpRequest<'_>,
        ) -> std::result::Result<HttpResponse, TransportError> {
            self.sent.push((
                r.redacted_url(),
                r.body.len(),
                r.header("content-length").map(str::to_owned),
            ));
            self.answers
                .pop_front()
                .unwrap_or_else(|| Ok(status(200, "")))
        }
    }

    /// A reply dated like the test clock (12:00).
    fn status(code: u16, s3_code: &str) -> HttpResponse {
        status_at(code, s3_code, "Thu, 01 Jan 2026 12:00:00 GMT")
    }

    fn status_at(code: u16, s3_code: &str, date: &str) -> HttpResponse {
        HttpResponse {
            status: code,
            headers: vec![("date".into(), date.into())],
            body: if s3_code.is_empty() {
                vec![]
            } else {
                format!("<Error><Code>{s3_code}</Code></Error>").into_bytes()
            },
        }
    }

    fn setup(dir: &std::path::Path, windows: i64) -> (Node, Uploader) {
        let mut node = Node::open(test_station(), dir).expect("node");
        let sim = crate::sim::Simulator::new(3);
        let t0 = 1_767_225_600_000;
        for i in 0..windows * 180 {
            node.record(sim.sample_at(t0 + i * 5_000)).expect("record");
        }
        node.flush().expect("flush");
        let cfg = S3Config::new("http://127.0.0.1:1", "lake", "us-east-1", true).expect("cfg");
        let client = S3Client::new(
            &cfg,
            Credentials::new("AKIAIOSFODNN7EXAMPLE", "secret", None),
        )
        .expect("client");
        (node, Uploader::new(client, 4, 1))
    }

    /// Every spooled entry, oldest first.
    fn spooled(node: &Node) -> Vec<crate::spool::SpoolEntry> {
        let spool = node.spool();
        let ids = spool.pending().expect("list");
        ids.into_iter()
            .map(|id| spool.read(id).expect("read"))
            .collect()
    }

    /// The station every test node uses.
    fn test_station() -> NodeConfig {
        NodeConfig::new(StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e").expect("id"))
    }

    fn clock() -> FixedClock {
        FixedClock("2026-01-01T12:00:00Z".parse().expect("ts"))
    }

    #[test]
    fn a_restarted_node_continues_the_open_window_from_its_journal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = test_station();
        let sim = crate::sim::Simulator::new(5);
        let t0 = 1_767_225_600_000;
        let mut node = Node::open(config.clone(), dir.path()).expect("open");
        for i in 0..100 {
            node.record(sim.sample_at(t0 + i * 5_000)).expect("record");
        }
        drop(node); // killed: no flush
        let mut node = Node::open(config.clone(), dir.path()).expect("reopen");
        assert_eq!(node.replayed(), 100);
        assert_eq!(node.last_recorded(), Some(t0 + 99 * 5_000));
        assert!(matches!(
            node.record(sim.sample_at(t0 + 99 * 5_000)),
            Err(Error::OutOfOrder { .. })
        ));
        for i in 100..360 {
            node.record(sim.sample_at(t0 + i * 5_000)).expect("record");
        }
        node.flush().expect("flush");
        let entries = spooled(&node);
        assert_eq!(entries.len(), 2);
        assert!(
            entries[0].key.ends_with("data_0000.parquet")
                && entries[1].key.ends_with("data_0015.parquet")
        );
        // After the final flush the journal only marks what is sealed: a restart adds nothing.
        drop(node);
        let node = Node::open(config, dir.path()).expect("reopen");
        assert_eq!(
            (node.replayed(), node.last_recorded()),
            (0, Some(t0 + 359 * 5_000))
        );
        assert_eq!(node.spool().pending().expect("list").len(), 2);
    }

    #[test]
    fn dying_between_spooling_and_the_journal_rewrite_reseals_identical_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = test_station();
        let sim = crate::sim::Simulator::new(6);
        let t0 = 1_767_225_600_000;
        let mut node = Node::open(config.clone(), dir.path()).expect("open");
        for i in 0..180 {
            node.record(sim.sample_at(t0 + i * 5_000)).expect("record");
        }
        let journal = dir.path().join("journal.lkj");
        let before_seal = std::fs::read(&journal).expect("journal");
        node.record(sim.sample_at(t0 + 180 * 5_000)).expect("seals");
        drop(node);
        // As if the process died after the spool write but before the journal rewrite.
        std::fs::write(&journal, before_seal).expect("restore");
        let mut node = Node::open(config, dir.path()).expect("reopen");
        node.record(sim.sample_at(t0 + 180 * 5_000))
            .expect("seals again");
        let entries = spooled(&node);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].key, entries[1].key);
        assert_eq!(
            entries[0].body, entries[1].body,
            "a retry overwrites the object with identical bytes"
        );
    }

    #[test]
    fn drains_oldest_first_retrying_transient_failures() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut node, mut up) = setup(dir.path(), 3);
        let mut t = Script {
            answers: [
                Err(TransportError::Io("reset".into())),
                Ok(status(503, "SlowDown")),
            ]
            .into(),
            sent: vec![],
        };
        let mut slept = Vec::new();
        let report = up
            .drain(node.spool_mut(), &mut t, &clock(), &mut |d| slept.push(d))
            .expect("drain");
        assert_eq!(report.delivered.len(), 3);
        assert_eq!(report.delivered[0].attempts, 3);
        assert_eq!(report.retries, 2);
        assert_eq!(slept.len(), 2);
        assert!(report.stopped.is_none());
        assert!(node.spool().pending().expect("list").is_empty());
        assert!(t.sent[0].0.ends_with("data_0000.parquet"));
        assert!(t.sent[4].0.ends_with("data_0030.parquet"));
        assert!(
            t.sent
                .iter()
                .all(|(_, len, cl)| cl.as_deref() == Some(len.to_string().as_str()))
        );
    }

    #[test]
    fn a_backlog_drains_at_a_bounded_pace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut node, up) = setup(dir.path(), 5);
        let mut up = up.with_max_files_per_drain(2);
        let mut t = Script {
            answers: VecDeque::new(),
            sent: vec![],
        };
        let report = up
            .drain(node.spool_mut(), &mut t, &clock(), &mut |_| {})
            .expect("drain");
        assert_eq!(report.delivered.len(), 2);
        assert_eq!(node.spool().pending().expect("list").len(), 3);
    }

    #[test]
    fn refused_credentials_stop_the_drain_and_keep_the_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut node, mut up) = setup(dir.path(), 2);
        let mut t = Script {
            answers: [Ok(status(403, "SignatureDoesNotMatch"))].into(),
            sent: vec![],
        };
        let report = up
            .drain(node.spool_mut(), &mut t, &clock(), &mut |_| {})
            .expect("drain");
        assert!(
            matches!(&report.stopped, Some(Stop::Refused { failure, .. }) if failure.code == "SignatureDoesNotMatch")
        );
        assert_eq!(t.sent.len(), 1, "no hammering after an auth failure");
        assert_eq!(node.spool().pending().expect("list").len(), 2);
    }

    #[test]
    fn gives_up_after_the_attempt_budget_and_keeps_the_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut node, mut up) = setup(dir.path(), 1);
        let mut t = Script {
            answers: (0..10).map(|_| Ok(status(500, "InternalError"))).collect(),
            sent: vec![],
        };
        let report = up
            .drain(node.spool_mut(), &mut t, &clock(), &mut |_| {})
            .expect("drain");
        assert!(matches!(
            report.stopped,
            Some(Stop::GaveUp { attempts: 4, .. })
        ));
        assert_eq!(node.spool().pending().expect("list").len(), 1);
    }

    #[test]
    fn clock_skew_is_corrected_from_the_date_header() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut node, mut up) = setup(dir.path(), 1);
        let late = "Thu, 01 Jan 2026 12:30:00 GMT";
        let mut t = Script {
            answers: [Ok(status_at(403, "RequestTimeTooSkewed", late))].into(),
            sent: vec![],
        };
        let report = up
            .drain(node.spool_mut(), &mut t, &clock(), &mut |_| {})
            .expect("drain");
        assert_eq!(report.delivered.len(), 1);
        assert_eq!(up.clock_offset(), SignedDuration::from_mins(30));
    }

    #[test]
    fn an_expired_presign_from_a_slow_clock_is_corrected_then_real_refusals_stop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut node, mut up) = setup(dir.path(), 1);
        // Server time is 12:30, ours 12:00: "Request has expired" is our clock's fault.
        let mut t = Script {
            answers: [
                Ok(status_at(
                    403,
                    "AccessDenied",
                    "Thu, 01 Jan 2026 12:30:00 GMT",
                )),
                Ok(status_at(
                    403,
                    "AccessDenied",
                    "Thu, 01 Jan 2026 12:30:00 GMT",
                )),
            ]
            .into(),
            sent: vec![],
        };
        let report = up
            .drain(node.spool_mut(), &mut t, &clock(), &mut |_| {})
            .expect("drain");
        assert_eq!(up.clock_offset(), SignedDuration::from_mins(30));
        // With the clock corrected, the second AccessDenied is a real refusal.
        assert!(
            matches!(report.stopped, Some(Stop::Refused { .. })),
            "{report:?}"
        );
        assert_eq!(t.sent.len(), 2);
    }

    #[test]
    fn rejected_objects_are_quarantined_and_the_rest_delivered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut node, mut up) = setup(dir.path(), 2);
        let mut t = Script {
            answers: [Ok(status(400, "InvalidArgument"))].into(),
            sent: vec![],
        };
        let report = up
            .drain(node.spool_mut(), &mut t, &clock(), &mut |_| {})
            .expect("drain");
        assert_eq!(report.quarantined.len(), 1);
        assert_eq!(report.delivered.len(), 1);
        assert!(dir.path().join("quarantine").is_dir());
    }

    #[test]
    fn never_signs_with_an_unset_clock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut node, mut up) = setup(dir.path(), 1);
        let mut t = Script {
            answers: VecDeque::new(),
            sent: vec![],
        };
        let report = up
            .drain(
                node.spool_mut(),
                &mut t,
                &FixedClock(Timestamp::UNIX_EPOCH),
                &mut |_| {},
            )
            .expect("drain");
        assert!(matches!(
            report.stopped,
            Some(Stop::GaveUp {
                last: UploadFailure::ClockNotSet(_),
                ..
            })
        ));
        assert!(t.sent.is_empty());
    }
}
