//! The station: one sans-IO state machine for the whole node loop, driven the same way
//! by the host CLI and the firmware.
//!
//! It owns the recorder (journal, windows, sealing, spool), the clock keeper (dating
//! samples taken before the first time sync, correcting the signing clock from S3's
//! `Date` within bounds), the upload schedule ([`RetryPolicy`](crate::schedule::RetryPolicy)) and the counters. It
//! never sleeps, sends or reads a clock: adapters hand it the time ([`Now`]), samples
//! and HTTP replies, send the requests it hands out, and sleep until the instant it
//! names ([`Station::wake_at`]). [`crate::driver`] is that adapter loop, shared by the
//! CLI and the firmware.
//!
//! One upload is in flight at a time: the oldest data file first, health rows when no
//! data file waits. A refusal pauses the tree of the refused key (a refused data file
//! pauses both), so a policy that leaves the health tree out never holds back data.
//! Sampling never waits for it:
//! [`Station::sample`] and [`Station::record`] are accepted whatever the upload is doing.
//!
//! ```
//! use lakenode::station::{Now, Station, StationConfig};
//! use lakenode::s3::{Credentials, S3Client, S3Config};
//! use lakenode::transport::HttpResponse;
//! use lakenode::{layout::StationId, sim::Simulator};
//! # let dir = tempfile::tempdir()?;
//! let s3 = S3Config::new("http://127.0.0.1:9000", "lake", "us-east-1", true)?;
//! let client = S3Client::new(&s3, Credentials::new("AKIAIOSFODNN7EXAMPLE", "secret", None))?;
//! let station = StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e")?;
//! let mut node = Station::open(StationConfig::new(station, client), dir.path())?;
//! let now = Now::synced(0, "2026-12-01T00:20:00Z".parse()?);
//! let sim = Simulator::new(1);
//! for i in 0..=180 {
//!     node.record(&now, sim.sample_at(1_796_083_200_000 + i * 5_000))?;
//! }
//! // The first window is sealed: the station hands out its signed PUT.
//! let request = node.poll(&now)?.expect("a PUT to send");
//! assert_eq!(request.header("content-length"), Some(request.body.len().to_string().as_str()));
//! // The adapter sends it and gives back the reply (here: S3's, with the body's MD5).
//! let etag = format!("\"{}\"", lakenode::digest::md5_hex(&request.body));
//! let reply = HttpResponse { status: 200, headers: vec![("etag".into(), etag)], body: vec![] };
//! node.on_reply(&now, Ok(reply))?;
//! assert_eq!(node.counters().uploaded_files, 1);
//! assert!(node.is_drained()?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The parts: [`event`] is the vocabulary (the time, the configuration, events,
//! counters), `recording` dates and journals samples, `health` makes the health rows
//! due, `uploader` is the upload state machine, `identity` keeps `station.state` and
//! [`survey`] reads a station's directory from outside, read-only.

mod batch;
mod event;
mod health;
mod identity;
mod readmit;
mod recording;
mod survey;
mod uploader;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;

use crate::clock::TimeKeeper;
use crate::recorder::Recorder;
use crate::spool::SpoolLock;
use crate::storage::{StdStorage, Storage};
use crate::transport::{HttpRequest, HttpResponse, TransportError};
use crate::window::WindowSpec;
use crate::{Error, Result};

pub use crate::journal::Durability;
pub use crate::recorder::RecorderConfig;
pub use crate::s3::SKEW_TOLERANCE;
pub use crate::spool::SpoolSurvey;
pub use event::{Counters, Delivery, Event, Level, Now, StationConfig};
pub use survey::{Survey, survey};

use health::HealthDue;
use uploader::{Ctx, Uploader};

/// Samples held before the first time sync: one hour at 5 s.
pub const MAX_UNSYNCED_SAMPLES: usize = 720;

/// Where the adapters keep their own small state files, inside the station's directory.
const ADAPTER_STATE_DIR: &str = "state";

/// What a station holds, for an adapter to report (see [`Station::status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The last sample recorded (journaled or sealed), ms since the Unix epoch.
    pub last_recorded: Option<i64>,
    /// Samples replayed from the journal when the station was opened.
    pub replayed: usize,
    /// Files waiting in the spool.
    pub pending_files: usize,
    /// Their bytes (as charged against the spool limit).
    pub pending_bytes: u64,
    /// Files the spool limit dropped (listed in `dropped.log`), this run.
    pub dropped_files: u64,
    /// Files in the quarantine directory, set aside by this or an earlier run.
    pub quarantined_files: usize,
    /// The station's directory (journal, spool, state).
    pub spool_dir: PathBuf,
    /// Where set-aside files are kept.
    pub quarantine_dir: PathBuf,
}

/// The station state machine; see the module docs.
#[derive(Debug)]
pub struct Station {
    recorder: Recorder,
    _lock: SpoolLock,
    uploader: Uploader,
    health: bool,
    keeper: TimeKeeper,
    counters: Counters,
    events: VecDeque<Event>,
    /// Sealed windows whose health row is due.
    health_due: VecDeque<HealthDue>,
}

impl Station {
    /// Opens the station's state in `dir` on [`StdStorage`] (hosts and the firmware):
    /// takes the spool's lock (a second process is refused), replays the journal,
    /// applies the spool limit.
    ///
    /// # Errors
    /// [`Error::SpoolBusy`], [`Error::Config`] for a spool limit that is too small or a
    /// batch high-water mark above half of it, and spool or encoding errors.
    pub fn open(config: StationConfig, dir: &Path) -> Result<Self> {
        Self::open_with(config, StdStorage::shared(), dir)
    }

    /// [`Station::open`] on the given storage (the tests' simulated device flash).
    ///
    /// # Errors
    /// As [`Station::open`].
    pub fn open_with(config: StationConfig, storage: Arc<dyn Storage>, dir: &Path) -> Result<Self> {
        batch::check_high_water(config.batch_high_water, config.spool_limit)?;
        let lock = SpoolLock::acquire_with(&*storage, dir)?;
        let wanted = config.recorder;
        let mut events = VecDeque::new();
        if let Some(earlier) = identity::switch(&storage, dir, &wanted, config.health)? {
            events.push_back(Event::Error {
                message: format!(
                    "this spool was recording with another configuration ({earlier}); its open window was sealed under that one before switching"
                ),
            });
        }
        let prefixes = identity::recorded_prefixes(&*storage, dir, wanted.prefix.as_ref());
        let readmitted = readmit::readmit(&*storage, dir, &wanted.station, &prefixes)?;
        if let Some(message) = readmitted.describe() {
            events.push_back(Event::Error { message });
        }
        let mut recorder = Recorder::open_owing(wanted, storage, dir, config.health)?;
        // Rows owed for windows sealed before a kill or power cut (or at this replay).
        let health_due = recorder
            .health_due()
            .iter()
            .map(|(key, end)| HealthDue {
                key: key.clone(),
                window_end_ms: *end,
            })
            .collect();
        recorder.spool_mut().set_limit(config.spool_limit)?;
        if let Some(damage) = recorder.journal_damage() {
            events.push_back(Event::Error {
                message: damage.to_owned(),
            });
        }
        let strays = recorder.spool().strays()?;
        if !strays.is_empty() {
            let names: Vec<String> = strays
                .iter()
                .take(5)
                .map(|p| p.display().to_string().escape_debug().to_string())
                .collect();
            events.push_back(Event::Error {
                message: format!(
                    "{} file(s) in the spool are not entries it wrote and are left alone, never sent: {}{}",
                    strays.len(),
                    names.join(", "),
                    if strays.len() > 5 { ", ..." } else { "" }
                ),
            });
        }
        if let Some(block) = config.spool_block {
            recorder.spool_mut().set_block_size(block)?;
        }
        let mut uploader = Uploader::new(
            config.client,
            config.policy,
            config.verify_etag,
            batch::Batching::new(
                config.upload_every,
                config
                    .batch_high_water
                    .or_else(|| config.spool_limit.map(|l| l / 2)),
            ),
        );
        uploader.set_prefixes(prefixes);
        Ok(Self {
            recorder,
            _lock: lock,
            uploader,
            health: config.health,
            keeper: TimeKeeper::new(MAX_UNSYNCED_SAMPLES),
            counters: Counters::default(),
            events,
            health_due,
        })
    }

    /// What the station holds: its resume point, the spool's files and where they are.
    #[must_use]
    pub fn status(&self) -> Status {
        let spool = self.recorder.spool();
        let stats = spool.stats();
        Status {
            last_recorded: self.recorder.last_recorded(),
            replayed: self.recorder.replayed(),
            pending_files: stats.pending_files,
            pending_bytes: stats.pending_bytes,
            dropped_files: stats.dropped_files,
            quarantined_files: spool.quarantined(),
            spool_dir: spool.dir().to_path_buf(),
            quarantine_dir: spool.quarantine_dir(),
        }
    }

    /// The recording configuration (station, prefix, columns, profile, window spec).
    #[must_use]
    pub const fn config(&self) -> &RecorderConfig {
        self.recorder.config()
    }

    /// Where an adapter keeps a small state file of its own (the CLI's `import.state`,
    /// `simulation.state`): `state/<name>` in the station's directory, apart from the
    /// spool's entries and the core's own files. The directory is created; a file of
    /// that name that an earlier release kept directly in the station's directory is
    /// moved there, once, so an upgraded node resumes where it was.
    ///
    /// # Errors
    /// [`Error::Spool`] if the directory cannot be created or the old file moved.
    pub fn adapter_state(&self, name: &str) -> Result<PathBuf> {
        let dir = self.recorder.spool().dir();
        let storage = self.recorder.spool().storage();
        let state = dir.join(ADAPTER_STATE_DIR);
        storage
            .create_dir_all(&state)
            .map_err(|e| Error::spool("create", &state, e))?;
        let path = state.join(name);
        let old = dir.join(name);
        if !storage.exists(&path) && storage.exists(&old) {
            storage
                .rename(&old, &path)
                .map_err(|e| Error::spool("rename", &old, e))?;
            storage
                .sync_dir(dir)
                .map_err(|e| Error::spool("sync", dir, e))?;
        }
        Ok(path)
    }

    /// How durable each recorded sample is: [`Durability::EverySample`] (the default,
    /// for real time) or [`Durability::PerWindow`] (virtual time; see
    /// [`crate::journal`]).
    pub fn set_journal_durability(&mut self, durability: Durability) {
        self.recorder.set_journal_durability(durability);
    }

    /// The window spec.
    #[must_use]
    pub const fn spec(&self) -> WindowSpec {
        self.recorder.config().spec
    }

    /// Counters since the station was opened.
    #[must_use]
    pub const fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The offset applied to the wall clock when signing.
    #[must_use]
    pub const fn clock_offset(&self) -> SignedDuration {
        self.uploader.clock_offset()
    }

    /// The last upload failure, if any.
    #[must_use]
    pub fn last_failure(&self) -> Option<&str> {
        self.uploader.last_failure()
    }

    /// Takes the events since the last call, oldest first.
    pub fn events(&mut self) -> impl Iterator<Item = Event> + '_ {
        self.events.drain(..)
    }

    /// The adapter saw the wall clock step by `by` against the monotonic clock: counted
    /// (in health rows too) and reported as [`Event::ClockStepped`].
    pub fn clock_stepped(&mut self, by: SignedDuration) {
        self.counters.clock_steps += 1;
        self.events.push_back(Event::ClockStepped { by });
    }

    /// Ends a finite run's input: seals the open window, and from now on gives up once
    /// no file has been confirmed for `give_up_after`.
    ///
    /// # Errors
    /// As [`Station::flush`].
    pub fn finish_input(&mut self, now: &Now, give_up_after: Duration) -> Result<()> {
        self.flush()?;
        self.uploader.send_all();
        self.uploader.give_up_after(now, give_up_after);
        // A refusal during the input is the answer; do not wait out its pause.
        Ok(())
    }

    /// Whether uploads go out in batches (`upload_every` set).
    #[must_use]
    pub const fn batches_uploads(&self) -> bool {
        self.uploader.batches()
    }

    /// The node stops: with batched uploads, what waits is sent now rather than at
    /// the next batch (see `upload_every`); nothing changes without them.
    pub const fn send_waiting(&mut self) {
        self.uploader.send_all();
    }

    /// Whether the network link is wanted now: always without batched uploads; with
    /// them, while a batch is open, a request is out, a batch is due with files
    /// waiting, or the wall clock is not synchronised yet (its sync needs the network). The driver turns the device's radio on and off by it
    /// ([`crate::driver::Adapter::radio`]).
    /// Sets the first batch's time if it is not set yet (as [`Station::poll`] does).
    #[must_use]
    pub fn link_wanted(&mut self, now: &Now) -> bool {
        let pending_bytes = self.recorder.spool().pending_bytes();
        self.uploader.link_wanted(now, pending_bytes)
    }

    /// For a finite run past its deadline: stops waiting for a request still in flight
    /// 5 s after it (a stalled connection must not hold the run beyond `--give-up-after`)
    /// and gives up.
    /// Returns whether it gave up. The file stays in the spool.
    ///
    /// # Errors
    /// If the spool cannot be listed.
    pub fn give_up_if_overdue(&mut self, now: &Now) -> Result<bool> {
        let (uploader, mut cx) = self.parts();
        uploader.give_up_if_overdue(&mut cx, now)
    }

    /// Whether the spool holds more than half its size limit: an input that can wait
    /// (a file, a simulated period) stops feeding the station until uploads free room,
    /// since the next sealed windows need the other half or the oldest files are
    /// dropped. Always `false` without a limit.
    #[must_use]
    pub fn spool_needs_room(&self) -> bool {
        let spool = self.recorder.spool();
        spool
            .limit()
            .is_some_and(|limit| spool.pending_bytes() > limit / 2)
    }

    /// Where the uploads stand.
    #[must_use]
    pub fn delivery(&self) -> Delivery {
        self.uploader.delivery()
    }

    /// Whether the spool is empty and nothing is in flight.
    ///
    /// # Errors
    /// If the spool cannot be listed.
    pub fn is_drained(&self) -> Result<bool> {
        self.uploader.is_drained(&self.recorder)
    }

    /// The monotonic instant at which [`Station::poll`] may next hand out a request:
    /// the end of a pause or a retry delay, or the next batch's opening (with
    /// `upload_every`). `None` while a request is in flight, after
    /// giving up, or when no file is waiting for a retry (the adapter polls after each
    /// sample anyway).
    #[must_use]
    pub fn wake_at(&self) -> Option<u64> {
        self.uploader.wake_at()
    }

    /// The request to send now, if one is due: the oldest spooled data file, else the
    /// oldest health row, signed at the wall clock plus the correction learnt from S3.
    /// `None` while a request is in flight, during a retry delay or a pause (of health
    /// rows only: while no data file waits), after giving up, before the clock is
    /// synchronised, or when the spool is empty.
    ///
    /// # Errors
    /// If the spool cannot be read (a damaged entry is quarantined, not an error).
    pub fn poll(&mut self, now: &Now) -> Result<Option<HttpRequest>> {
        let (uploader, mut cx) = self.parts();
        uploader.poll(&mut cx, now)
    }

    /// The reply to the request [`Station::poll`] handed out (or why none came).
    ///
    /// # Errors
    /// If the spool cannot be updated (the file then stays and is sent again).
    pub fn on_reply(
        &mut self,
        now: &Now,
        reply: std::result::Result<HttpResponse, TransportError>,
    ) -> Result<()> {
        let (uploader, mut cx) = self.parts();
        uploader.on_reply(&mut cx, now, reply)
    }

    /// The uploader and what it works on, borrowed apart.
    fn parts(&mut self) -> (&mut Uploader, Ctx<'_>) {
        (
            &mut self.uploader,
            Ctx {
                recorder: &mut self.recorder,
                counters: &mut self.counters,
                events: &mut self.events,
            },
        )
    }
}

#[cfg(test)]
mod tests;
