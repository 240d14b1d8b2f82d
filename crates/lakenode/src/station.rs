//! The station: one sans-IO state machine for the whole node loop, driven the same way
//! by the host CLI and the firmware.
//!
//! It owns the [`Recorder`] (journal, windows, sealing, spool), the clock keeper (dating
//! samples taken before the first time sync, correcting the signing clock from S3's
//! `Date` within bounds), the upload schedule ([`RetryPolicy`]) and the counters. It
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

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::clock::{FUTURE_TOLERANCE, TimeKeeper, bounded_correction, is_plausible};
use crate::encode::WriterProfile;
use crate::health::{HealthRow, Tree, health_key_for};
use crate::journal::Durability;
use crate::layout::{Prefix, StationId, own_key_tree, rfc3339};
use crate::recorder::{Recorder, RecorderConfig, SealedFile};
use crate::s3::{PutObject, PutOutcome, PutReply, S3Client, S3Failure};
use crate::sample::Sample;
use crate::schedule::{Decision, Fault, RetryPolicy};
use crate::schema::Schema;
use crate::spool::{DroppedFile, SpoolLock};
use crate::storage::{StdStorage, Storage};
use crate::transport::{HttpRequest, HttpResponse, TransportError};
use crate::window::WindowSpec;
use crate::{Error, Result};

pub use crate::s3::SKEW_TOLERANCE;

/// Samples held before the first time sync: one hour at 5 s.
pub const MAX_UNSYNCED_SAMPLES: usize = 720;

/// The time at one instant, as the adapter reads it: a monotonic clock (milliseconds
/// since an arbitrary start, never going back) for scheduling, and the UTC wall clock
/// (`None` until it is synchronised) for dating samples and signing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic milliseconds.
    pub mono_ms: u64,
    /// UTC, once synchronised.
    pub wall: Option<Timestamp>,
}

impl Now {
    /// An instant with a synchronised wall clock.
    #[must_use]
    pub const fn synced(mono_ms: u64, wall: Timestamp) -> Self {
        Self {
            mono_ms,
            wall: Some(wall),
        }
    }

    /// The wall clock in ms, if synchronised and plausible.
    #[must_use]
    pub fn wall_ms(&self) -> Option<i64> {
        self.wall
            .filter(|w| is_plausible(*w))
            .map(Timestamp::as_millisecond)
    }
}

/// What a station is, where it writes and how it behaves. Named fields, so that no two
/// numbers can be swapped by accident.
#[derive(Debug, Clone)]
pub struct StationConfig {
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
    /// Signs the uploads.
    pub client: S3Client,
    /// When to retry and how long to pause; seeded per station by default.
    pub policy: RetryPolicy,
    /// Most bytes the spool may hold (oldest files dropped beyond); `None`: no limit.
    pub spool_limit: Option<u64>,
    /// The filesystem's allocation block (LittleFS: 4096): files count as whole blocks
    /// against the limit. `None`: their bytes.
    pub spool_block: Option<u64>,
    /// Spool one health row per window into the health tree.
    pub health: bool,
    /// Count a 2xx as stored only if its `ETag` is the body's MD5 (off for stores whose
    /// ETags are not MD5s).
    pub verify_etag: bool,
}

impl StationConfig {
    /// Defaults: every measurement, compat profile, 5 s samples, 15 min windows, no spool
    /// limit, no health rows, ETags verified, retry jitter seeded from the station id.
    #[must_use]
    pub fn new(station: StationId, client: S3Client) -> Self {
        Self {
            policy: RetryPolicy::for_station(station.as_str()),
            station,
            prefix: None,
            schema: Schema::default(),
            profile: WriterProfile::default(),
            spec: WindowSpec::default(),
            client,
            spool_limit: None,
            spool_block: None,
            health: false,
            verify_etag: true,
        }
    }
}

/// Something the adapter should tell the operator about.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A window was sealed into the spool.
    Sealed {
        /// Object key.
        key: String,
        /// Rows.
        rows: usize,
        /// Bytes.
        bytes: usize,
    },
    /// S3 confirmed an object.
    Uploaded {
        /// Object key.
        key: String,
        /// Bytes.
        bytes: usize,
        /// Attempts it took (1 = first try).
        attempts: u32,
    },
    /// An attempt failed; the file is tried again.
    Retrying {
        /// Object key.
        key: String,
        /// Failed attempts of this file so far.
        attempt: u32,
        /// When the next attempt goes out.
        after: Duration,
        /// Why it failed.
        reason: String,
    },
    /// Uploads pause: S3 (or something pretending to be it) refused them. A refused
    /// data file pauses both trees; a refused health file pauses health rows only.
    Paused {
        /// Object key.
        key: String,
        /// The reply.
        failure: S3Failure,
        /// For how long.
        pause: Duration,
        /// The tree of the refused key.
        tree: Tree,
    },
    /// A 2xx without the body's MD5 as `ETag` (first occurrence only).
    Unconfirmed {
        /// The reply, as a failure.
        failure: S3Failure,
    },
    /// The signing clock was corrected from S3's `Date`.
    ClockCorrected {
        /// The new offset from the local clock.
        offset: SignedDuration,
    },
    /// A reply's `Date` was not trusted to correct the clock.
    ClockCorrectionRefused {
        /// What it said.
        server: Timestamp,
    },
    /// A file was moved to `quarantine/`.
    Quarantined {
        /// Object key (or the entry's name if unreadable).
        key: String,
        /// Why.
        reason: String,
    },
    /// The spool's size limit dropped a file.
    Dropped {
        /// Object key.
        key: String,
        /// Bytes.
        bytes: u64,
    },
    /// A sample was not recorded.
    Skipped {
        /// Its timestamp.
        timestamp_ms: i64,
        /// Why.
        reason: String,
    },
    /// The recorded timeline lay far ahead of the wall clock and was closed.
    TimelineReset {
        /// The last recorded instant.
        recorded_ms: i64,
        /// The wall clock.
        wall_ms: i64,
    },
    /// The wall clock stepped (an NTP step, a clock set by hand) while the monotonic
    /// clock did not; sampling goes on at its cadence (see [`crate::driver`]).
    ClockStepped {
        /// How far: negative for a step back.
        by: SignedDuration,
    },
    /// A finite run stopped uploading at its deadline.
    GaveUp {
        /// Files left in the spool.
        pending: usize,
        /// The last failure.
        last: String,
    },
    /// An error that did not stop the station (a spool write failed...).
    Error {
        /// What failed.
        message: String,
    },
}

/// How loud an [`Event`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Progress (debug in quiet adapters).
    Info,
    /// Data at risk or lost, or the operator must act.
    Warn,
    /// Something failed.
    Error,
}

impl Event {
    /// How loud it is.
    #[must_use]
    pub const fn level(&self) -> Level {
        match self {
            Self::Sealed { .. } | Self::Uploaded { .. } | Self::ClockCorrected { .. } => {
                Level::Info
            }
            Self::Retrying { .. }
            | Self::Unconfirmed { .. }
            | Self::ClockCorrectionRefused { .. }
            | Self::Skipped { .. }
            | Self::Dropped { .. }
            | Self::TimelineReset { .. }
            | Self::ClockStepped { .. }
            | Self::GaveUp { .. } => Level::Warn,
            Self::Paused { .. } | Self::Quarantined { .. } | Self::Error { .. } => Level::Error,
        }
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sealed { key, rows, bytes } => {
                write!(f, "sealed {key} ({rows} rows, {bytes} bytes)")
            }
            Self::Uploaded {
                key,
                bytes,
                attempts,
            } => write!(f, "uploaded {key} ({bytes} bytes, attempt {attempts})"),
            Self::Retrying {
                key,
                attempt,
                after,
                reason,
            } => write!(
                f,
                "upload of {key} failed (attempt {attempt}: {reason}); retrying in {:.1} s, the file stays spooled",
                after.as_secs_f64()
            ),
            Self::Paused {
                key,
                failure,
                pause,
                tree: Tree::Data,
            } => write!(
                f,
                "the upload of {key} was refused: {failure}; uploads (data and health) pause for {} s, sampling and spooling go on",
                pause.as_secs()
            ),
            Self::Paused {
                key,
                failure,
                pause,
                tree: Tree::Health,
            } => write!(
                f,
                "the upload of health row {key} was refused: {failure}; health rows pause for {} s, data files keep going (does the IAM policy allow the health/ tree? see `lakenode policy`)",
                pause.as_secs()
            ),
            Self::Unconfirmed { failure } => write!(
                f,
                "a 2xx reply did not confirm the upload: {}; retrying (this warning is given once)",
                failure.message.as_deref().unwrap_or(&failure.code)
            ),
            Self::ClockCorrected { offset } => write!(
                f,
                "signing clock corrected by {:.1} s from S3's Date",
                offset.as_secs_f64()
            ),
            Self::ClockCorrectionRefused { server } => write!(
                f,
                "not correcting the signing clock to a reply's Date of {server}: before this release or more than 24 h from the node's clock"
            ),
            Self::Quarantined { key, reason } => {
                write!(
                    f,
                    "quarantined {key}: {reason} (kept in the spool's quarantine/)"
                )
            }
            Self::Dropped { key, bytes } => write!(
                f,
                "spool limit reached: dropped {key} ({bytes} bytes, listed in dropped.log); data lost"
            ),
            Self::Skipped {
                timestamp_ms,
                reason,
            } => write!(
                f,
                "sample at {} not recorded: {reason}",
                rfc3339(*timestamp_ms)
            ),
            Self::TimelineReset {
                recorded_ms,
                wall_ms,
            } => write!(
                f,
                "samples were recorded up to {}, far ahead of the clock ({}): that window was sealed as it was and recording goes on from now",
                rfc3339(*recorded_ms),
                rfc3339(*wall_ms)
            ),
            Self::ClockStepped { by } => write!(
                f,
                "the wall clock stepped {} by {:.1} s; sampling goes on at its cadence{}",
                if by.is_negative() { "back" } else { "forward" },
                by.as_secs_f64().abs(),
                if by.is_negative() {
                    " (samples are dated on the monotonic clock until the wall clock catches up, or from the new time if the step is larger than an hour)"
                } else {
                    ""
                }
            ),
            Self::GaveUp { pending, last } => {
                write!(f, "giving up: {pending} file(s) stay in the spool ({last})")
            }
            Self::Error { message } => f.write_str(message),
        }
    }
}

/// Counters since the station was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Samples recorded (journaled).
    pub samples: u64,
    /// Samples not recorded (not after the previous one, or from an unset clock).
    pub skipped_samples: u64,
    /// Samples held before the first time sync and lost to the bound.
    pub unsynced_dropped: u64,
    /// Windows sealed into the spool.
    pub sealed_files: u64,
    /// Rows in them.
    pub sealed_rows: u64,
    /// Objects S3 confirmed.
    pub uploaded_files: u64,
    /// Their bytes.
    pub uploaded_bytes: u64,
    /// Failed upload attempts (refusals included).
    pub failed_attempts: u64,
    /// Refusals (403 and other replies that pause uploads) among them.
    pub refusals: u64,
    /// Files quarantined.
    pub quarantined_files: u64,
    /// Files the spool limit dropped.
    pub dropped_files: u64,
    /// Spool entries that could neither be read nor moved to quarantine (skipped).
    pub unreadable_files: u64,
    /// Steps of the wall clock the adapter reported ([`Station::clock_stepped`]).
    pub clock_steps: u64,
}

impl Counters {
    /// Whether any data was lost or set aside: skipped samples, dropped or quarantined
    /// files. A finite run with any of these does not exit 0.
    #[must_use]
    pub const fn lost_any(&self) -> bool {
        self.skipped_samples
            + self.unsynced_dropped
            + self.quarantined_files
            + self.dropped_files
            + self.unreadable_files
            > 0
    }
}

/// Where the uploads stand.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// A request is out; waiting for its reply.
    InFlight,
    /// Nothing to send now; the next attempt at this monotonic instant (or whenever a
    /// file is sealed).
    Waiting {
        /// Monotonic ms of the next attempt, if one is scheduled.
        next_at: Option<u64>,
    },
    /// Nothing can be sent: paused after a refusal until this monotonic instant. With
    /// `tree` [`Tree::Data`] every upload pauses; with [`Tree::Health`] only health rows
    /// do, and no data file is waiting.
    Paused {
        /// Monotonic ms.
        until: u64,
        /// The key refused.
        key: String,
        /// The refusal.
        failure: S3Failure,
        /// The tree of the refused key.
        tree: Tree,
    },
    /// A finite run passed its deadline; nothing more is sent.
    GaveUp {
        /// The last failure.
        last: String,
    },
}

/// A refusal's pause.
#[derive(Debug)]
struct Pause {
    /// Monotonic ms.
    until: u64,
    key: String,
    failure: S3Failure,
}

#[derive(Debug)]
struct InFlight {
    id: u64,
    key: String,
    bytes: usize,
    reply: PutReply,
}

/// The station state machine; see the module docs.
#[derive(Debug)]
pub struct Station {
    recorder: Recorder,
    _lock: SpoolLock,
    client: S3Client,
    policy: RetryPolicy,
    health: bool,
    verify_etag: bool,
    keeper: TimeKeeper,
    clock_offset: SignedDuration,
    in_flight: Option<InFlight>,
    /// (spool id, failed attempts) of the file at the head of the queue.
    head: Option<(u64, u32)>,
    /// Whether the spool may hold files: false once a listing found it empty, true again
    /// when a file is spooled. Saves the adapter loop a directory listing per turn.
    maybe_pending: bool,
    next_attempt_ms: u64,
    /// After a data file's refusal: every upload pauses (the credentials or the bucket
    /// are likely wrong, and health rows would be refused too).
    paused: Option<Pause>,
    /// After a health file's refusal: health rows pause, data files keep going.
    health_paused: Option<Pause>,
    /// Whether data files may be waiting: false once a scan of the spool found only
    /// health rows, true again when a window is sealed.
    data_waiting: bool,
    /// Every pending spool id below this holds a health row (found by a scan): the
    /// next scan for the oldest data file starts here, so each entry's key is read once.
    health_below: u64,
    /// Entries that could neither be read nor moved to quarantine: skipped.
    unreadable: std::collections::BTreeSet<u64>,
    gave_up: Option<String>,
    /// (how long, deadline) of a finite run's give-up rule.
    give_up: Option<(Duration, u64)>,
    warned_unconfirmed: bool,
    /// `BadDigest`s and clock corrections in a row (each resent at once, up to a bound).
    quick_streak: u32,
    last_failure: Option<String>,
    counters: Counters,
    events: VecDeque<Event>,
    /// (health key, window end) of sealed windows whose health row is due.
    health_due: VecDeque<(String, i64)>,
}

impl Station {
    /// Opens the station's state in `dir` on [`StdStorage`] (hosts and the firmware):
    /// takes the spool's lock (a second process is refused), replays the journal,
    /// applies the spool limit.
    ///
    /// # Errors
    /// [`Error::SpoolBusy`], [`Error::Config`] for a spool limit that is too small, and
    /// spool or encoding errors.
    pub fn open(config: StationConfig, dir: &Path) -> Result<Self> {
        Self::open_with(config, StdStorage::shared(), dir)
    }

    /// [`Station::open`] on the given storage (the tests' simulated device flash).
    ///
    /// # Errors
    /// As [`Station::open`].
    pub fn open_with(config: StationConfig, storage: Arc<dyn Storage>, dir: &Path) -> Result<Self> {
        let lock = SpoolLock::acquire_with(&*storage, dir)?;
        let wanted = RecorderConfig {
            station: config.station,
            prefix: config.prefix,
            schema: config.schema,
            profile: config.profile,
            spec: config.spec,
        };
        let mut events = VecDeque::new();
        if let Some(earlier) = identity::switch(&storage, dir, &wanted)? {
            events.push_back(Event::Error {
                message: format!(
                    "this spool was recording with another configuration ({earlier}); its open window was sealed under that one before switching"
                ),
            });
        }
        let mut recorder = Recorder::open_with(wanted, storage, dir)?;
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
        Ok(Self {
            recorder,
            _lock: lock,
            client: config.client,
            policy: config.policy,
            health: config.health,
            verify_etag: config.verify_etag,
            keeper: TimeKeeper::new(MAX_UNSYNCED_SAMPLES),
            clock_offset: SignedDuration::ZERO,
            in_flight: None,
            head: None,
            maybe_pending: true,
            next_attempt_ms: 0,
            paused: None,
            health_paused: None,
            data_waiting: true,
            health_below: 0,
            unreadable: std::collections::BTreeSet::new(),
            gave_up: None,
            give_up: None,
            warned_unconfirmed: false,
            quick_streak: 0,
            last_failure: None,
            counters: Counters::default(),
            events,
            health_due: VecDeque::new(),
        })
    }

    /// The recorder (spool, resume point, configuration).
    #[must_use]
    pub const fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// How durable each recorded sample is: [`Durability::EverySample`] (the default,
    /// for real time) or [`Durability::PerWindow`] (virtual time; see
    /// [`crate::journal`]).
    pub const fn set_journal_durability(&mut self, durability: Durability) {
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
        self.clock_offset
    }

    /// The last upload failure, if any.
    #[must_use]
    pub fn last_failure(&self) -> Option<&str> {
        self.last_failure.as_deref()
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

    /// At a stop before the first time sync: drops the samples held until then (they
    /// cannot be dated), counts them in [`Counters::unsynced_dropped`] and reports them.
    pub fn drop_unsynced(&mut self) {
        let n = self.keeper.drop_held();
        if n > 0 {
            self.counters.unsynced_dropped += n as u64;
            self.events.push_back(Event::Error {
                message: format!(
                    "{n} sample(s) taken before the wall clock was synchronised were never dated and are lost"
                ),
            });
        }
    }

    /// A live sample taken at `now` (its own timestamp is ignored): dated from the wall
    /// clock, or held until the first time sync and dated then (see
    /// [`TimeKeeper`]).
    ///
    /// # Errors
    /// Spool or encoding failures (the journal keeps what it has).
    pub fn sample(&mut self, now: &Now, sample: Sample) -> Result<()> {
        let mono = i64::try_from(now.mono_ms).unwrap_or(i64::MAX);
        if let Some(wall) = now.wall.filter(|w| is_plausible(*w)) {
            self.keeper.sync(mono, wall);
        }
        let before = self.keeper.dropped();
        let ready = self.keeper.stamp(mono, sample);
        self.counters.unsynced_dropped += self.keeper.dropped() - before;
        for s in ready {
            self.record(now, s)?;
        }
        Ok(())
    }

    /// Records a dated sample (from a CSV, a simulation, or [`Station::sample`]).
    /// A sample that is not after the previous one is skipped and counted, unless the
    /// recorded timeline lies more than [`FUTURE_TOLERANCE`] ahead of the wall clock:
    /// then that timeline was written by a bad clock, its open window is sealed as it
    /// is, and recording continues from this sample.
    ///
    /// # Errors
    /// Spool or encoding failures.
    pub fn record(&mut self, now: &Now, sample: Sample) -> Result<()> {
        let result = match self.recorder.record(sample) {
            Err(Error::OutOfOrder { previous_ms, .. })
                if now.wall_ms().is_some_and(|w| {
                    previous_ms > w.saturating_add(FUTURE_TOLERANCE.as_millis() as i64)
                }) =>
            {
                let wall_ms = now.wall_ms().unwrap_or_default();
                if let Some(sealed) = self.recorder.reset_timeline()? {
                    self.sealed(&sealed);
                }
                self.events.push_back(Event::TimelineReset {
                    recorded_ms: previous_ms,
                    wall_ms,
                });
                self.recorder.record(sample)
            }
            other => other,
        };
        match result {
            Ok(sealed) => {
                self.counters.samples += 1;
                if let Some(sealed) = sealed {
                    self.sealed(&sealed);
                }
                Ok(())
            }
            Err(Error::OutOfOrder { previous_ms, .. }) => {
                self.skip(
                    sample.timestamp_ms,
                    format!("not after the previous one at {}", rfc3339(previous_ms)),
                );
                Ok(())
            }
            Err(Error::UnsetClock { .. }) => {
                self.skip(
                    sample.timestamp_ms,
                    "dated before 2001: the clock is not set".into(),
                );
                Ok(())
            }
            Err(Error::ImplausibleSample { reason, .. }) => {
                self.skip(sample.timestamp_ms, reason.into());
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn skip(&mut self, timestamp_ms: i64, reason: String) {
        self.counters.skipped_samples += 1;
        self.events.push_back(Event::Skipped {
            timestamp_ms,
            reason,
        });
    }

    fn sealed(&mut self, sealed: &SealedFile) {
        self.maybe_pending = true;
        self.data_waiting = true;
        self.counters.sealed_files += 1;
        self.counters.sealed_rows += sealed.rows as u64;
        self.events.push_back(Event::Sealed {
            key: sealed.key.to_string(),
            rows: sealed.rows,
            bytes: sealed.bytes,
        });
        self.dropped(&sealed.dropped);
        if self.health {
            let key = health_key_for(self.recorder.config().prefix.as_ref(), sealed.key.as_str());
            let end = sealed.window_start_ms + self.spec().window_ms();
            self.health_due.push_back((key, end));
        }
    }

    fn dropped(&mut self, dropped: &[DroppedFile]) {
        for d in dropped {
            self.counters.dropped_files += 1;
            self.events.push_back(Event::Dropped {
                key: d.key.clone(),
                bytes: d.bytes,
            });
        }
    }

    /// Seals the open window now (end of input, shutdown).
    ///
    /// # Errors
    /// Spool or encoding failures.
    pub fn flush(&mut self) -> Result<()> {
        if let Some(sealed) = self.recorder.flush()? {
            self.sealed(&sealed);
        }
        Ok(())
    }

    /// Ends a finite run's input: seals the open window, and from now on gives up once
    /// no file has been confirmed for `give_up_after`.
    ///
    /// # Errors
    /// As [`Station::flush`].
    pub fn finish_input(&mut self, now: &Now, give_up_after: Duration) -> Result<()> {
        self.flush()?;
        self.give_up = Some((give_up_after, now.mono_ms.saturating_add(ms(give_up_after))));
        // A refusal during the input is the answer; do not wait out its pause.
        Ok(())
    }

    /// The next health row due (a window was sealed with health rows on), filled with
    /// the station's fields: the adapter adds the device's (heap, RSSI, sensors, reset
    /// reason) and hands it to [`Station::spool_health`].
    pub fn take_health_row(&mut self, now: &Now) -> Option<(String, HealthRow)> {
        let (key, end) = self.health_due.pop_front()?;
        let spool = self.recorder.spool().stats();
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let mut row = HealthRow::new(end);
        // The adapter's monotonic clock starts at boot (device) or process start (host).
        row.uptime_s = as_i64(now.mono_ms / 1000);
        row.spool_files = i64::try_from(spool.pending_files).unwrap_or(i64::MAX);
        row.spool_bytes = as_i64(spool.pending_bytes);
        row.dropped_files = as_i64(spool.dropped_files);
        row.upload_failures = as_i64(self.counters.failed_attempts);
        row.clock_steps = Some(as_i64(self.counters.clock_steps));
        Some((key, row))
    }

    /// Spools a health row under the key [`Station::take_health_row`] gave.
    ///
    /// # Errors
    /// Spool or encoding failures.
    pub fn spool_health(&mut self, key: &str, row: &HealthRow) -> Result<()> {
        self.maybe_pending = true;
        let (_, dropped) = self.recorder.spool_health(key, row)?;
        self.dropped(&dropped);
        Ok(())
    }

    /// For a finite run past its deadline: stops waiting for a request still in flight
    /// 5 s after it (a stalled connection must not hold the run beyond `--give-up-after`)
    /// and gives up.
    /// Returns whether it gave up. The file stays in the spool.
    ///
    /// # Errors
    /// If the spool cannot be listed.
    pub fn give_up_if_overdue(&mut self, now: &Now) -> Result<bool> {
        // The last attempt goes out at the deadline; it gets this long to be answered.
        const LAST_ANSWER: u64 = 5_000;
        let overdue = self
            .give_up
            .is_some_and(|(_, deadline)| now.mono_ms >= deadline.saturating_add(LAST_ANSWER));
        // Without a request out, the schedule itself gives up (see `failed`).
        let Some(sent) = self
            .in_flight
            .take_if(|_| overdue && self.gave_up.is_none())
        else {
            return Ok(self.gave_up.is_some());
        };
        self.recorder.spool_mut().pin(None);
        let last = format!("{}: no answer before the deadline", sent.key);
        self.events.push_back(Event::GaveUp {
            pending: self.recorder.spool().pending()?.len(),
            last: last.clone(),
        });
        self.gave_up = Some(last);
        Ok(true)
    }

    /// Where the uploads stand.
    #[must_use]
    pub fn delivery(&self) -> Delivery {
        if self.in_flight.is_some() {
            Delivery::InFlight
        } else if let Some(last) = &self.gave_up {
            Delivery::GaveUp { last: last.clone() }
        } else if let Some(p) = &self.paused {
            Delivery::Paused {
                until: p.until,
                key: p.key.clone(),
                failure: p.failure.clone(),
                tree: Tree::Data,
            }
        } else if let Some(p) = self.health_paused.as_ref().filter(|_| !self.data_waiting) {
            Delivery::Paused {
                until: p.until,
                key: p.key.clone(),
                failure: p.failure.clone(),
                tree: Tree::Health,
            }
        } else {
            Delivery::Waiting {
                next_at: (self.head.is_some()).then_some(self.next_attempt_ms),
            }
        }
    }

    /// Whether the spool is empty and nothing is in flight.
    ///
    /// # Errors
    /// If the spool cannot be listed.
    pub fn is_drained(&self) -> Result<bool> {
        Ok(self.in_flight.is_none() && self.recorder.spool().pending()?.is_empty())
    }

    /// The monotonic instant at which [`Station::poll`] may next hand out a request:
    /// the end of a pause or a retry delay. `None` while a request is in flight, after
    /// giving up, or when no file is waiting for a retry (the adapter polls after each
    /// sample anyway).
    #[must_use]
    pub fn wake_at(&self) -> Option<u64> {
        if self.in_flight.is_some() || self.gave_up.is_some() {
            return None;
        }
        if let Some(p) = &self.paused {
            return Some(p.until);
        }
        // A file waiting for its retry; otherwise the adapter polls after each sample.
        let retry = self.head.map(|_| self.next_attempt_ms);
        // Only health rows wait, paused.
        let health = self
            .health_paused
            .as_ref()
            .filter(|_| !self.data_waiting)
            .map(|p| p.until);
        match (retry, health) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
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
        if self.in_flight.is_some() || self.gave_up.is_some() {
            return Ok(None);
        }
        if self.paused.as_ref().is_some_and(|p| now.mono_ms >= p.until) {
            self.paused = None;
        }
        if self
            .health_paused
            .as_ref()
            .is_some_and(|p| now.mono_ms >= p.until)
        {
            self.health_paused = None;
        }
        if self.paused.is_some() || now.mono_ms < self.next_attempt_ms {
            return Ok(None);
        }
        let Some(wall) = now.wall.filter(|w| is_plausible(*w)) else {
            return Ok(None); // never sign with an unset clock
        };
        loop {
            let Some(id) = self.next_to_send()? else {
                self.head = None;
                return Ok(None);
            };
            if self.head.is_none_or(|(h, _)| h != id) {
                self.head = Some((id, 0));
            }
            let entry = match self.recorder.spool().read(id) {
                Ok(entry) => entry,
                Err(Error::CorruptSpoolEntry { reason, path }) => {
                    self.quarantine(id, &path.display().to_string(), &reason)?;
                    continue;
                }
                // Gone since the listing (the spool limit dropped it): list again.
                Err(Error::Spool { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    continue;
                }
                Err(e) => {
                    self.set_aside_unreadable(id, &e);
                    continue;
                }
            };
            // Only keys this station's recorder builds are signed: a forged or stray
            // entry could otherwise write another station's tree, or (through dot
            // segments the HTTP client folds away) another bucket.
            let config = self.recorder.config();
            if let Err(why) = own_key_tree(config.prefix.as_ref(), &config.station, &entry.key) {
                let key = entry.key.escape_debug().to_string();
                self.quarantine(id, &key, &format!("not a key of this station: {why}"))?;
                continue;
            }
            // Nor bytes that are not a Parquet file: a forged entry must not replace an
            // object in the lake with anything readers cannot open.
            let framed = entry.body.len() >= 12
                && entry.body.starts_with(b"PAR1")
                && entry.body.ends_with(b"PAR1");
            if !framed {
                let key = entry.key.escape_debug().to_string();
                self.quarantine(
                    id,
                    &key,
                    "not a Parquet file (no PAR1 at its start and end)",
                )?;
                continue;
            }
            let signing_time = wall.saturating_add(self.clock_offset).unwrap_or(wall);
            let bytes = entry.body.len();
            let (request, reply) = PutObject::new(entry.key.as_str(), entry.body)
                .check_etag(self.verify_etag)
                .sign(&self.client, signing_time);
            self.recorder.spool_mut().pin(Some(id));
            self.in_flight = Some(InFlight {
                id,
                key: entry.key,
                bytes,
                reply,
            });
            return Ok(Some(request));
        }
    }

    /// The spool id to send next: the oldest data file; else, unless health rows are
    /// paused, the oldest health row. Data goes first: it is what the lake is for, and
    /// a policy that refuses health rows must not hold it back.
    fn next_to_send(&mut self) -> Result<Option<u64>> {
        if !self.maybe_pending {
            self.data_waiting = false;
            return Ok(None);
        }
        let pending = self.recorder.spool().pending()?;
        if pending.is_empty() {
            self.maybe_pending = false;
            self.data_waiting = false;
            return Ok(None);
        }
        if self.data_waiting {
            let prefix = self.recorder.config().prefix.clone();
            let from = self.health_below;
            for &id in pending
                .iter()
                .filter(|&&id| id >= from && !self.unreadable.contains(&id))
            {
                match self.recorder.spool().read_key(id) {
                    Ok(key) if Tree::of(prefix.as_ref(), &key) == Tree::Health => {
                        self.health_below = id + 1;
                    }
                    // A data file, or a damaged or unreadable one that the full read
                    // sets aside.
                    Ok(_) | Err(_) => return Ok(Some(id)),
                }
            }
            self.data_waiting = false;
        }
        if self.health_paused.is_some() {
            return Ok(None);
        }
        Ok(pending.into_iter().find(|id| !self.unreadable.contains(id)))
    }

    /// An entry that cannot be read (EACCES, EIO): moved to quarantine if it can be,
    /// else skipped from now on; one event and one count either way, and the other
    /// entries go on.
    fn set_aside_unreadable(&mut self, id: u64, e: &Error) {
        let reason = format!("unreadable: {e}");
        let name = format!("spool entry {id:016}");
        if self.quarantine(id, &name, &reason).is_err() {
            self.unreadable.insert(id);
            self.head = None;
            self.counters.unreadable_files += 1;
            self.events.push_back(Event::Error {
                message: format!(
                    "{name} is {reason}, and could not be moved to quarantine/; it is skipped until the node restarts"
                ),
            });
        }
    }

    fn quarantine(&mut self, id: u64, key: &str, reason: &str) -> Result<()> {
        self.recorder.spool_mut().quarantine(id, reason)?;
        self.counters.quarantined_files += 1;
        self.head = None;
        self.events.push_back(Event::Quarantined {
            key: key.to_owned(),
            reason: reason.to_owned(),
        });
        Ok(())
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
        let Some(sent) = self.in_flight.take() else {
            return Ok(()); // a reply nobody asked for
        };
        self.recorder.spool_mut().pin(None);
        let failure = match reply.map(|r| (sent.reply.interpret(&r), r)) {
            Ok((PutOutcome::Stored { .. }, _)) => {
                let attempts = self.head.map_or(1, |(_, n)| n + 1);
                self.recorder.spool_mut().remove(sent.id)?;
                self.head = None;
                self.quick_streak = 0;
                self.next_attempt_ms = now.mono_ms;
                self.counters.uploaded_files += 1;
                self.counters.uploaded_bytes += sent.bytes as u64;
                if let Some((after, _)) = self.give_up {
                    self.give_up = Some((after, now.mono_ms.saturating_add(ms(after))));
                }
                self.events.push_back(Event::Uploaded {
                    key: sent.key,
                    bytes: sent.bytes,
                    attempts,
                });
                return Ok(());
            }
            Ok((PutOutcome::Failed(f), _)) => Failure::S3(f),
            Err(e) => Failure::Transport(e),
        };
        self.failed(now, sent, failure)
    }

    fn failed(&mut self, now: &Now, sent: InFlight, failure: Failure) -> Result<()> {
        self.counters.failed_attempts += 1;
        let attempt = match &mut self.head {
            Some((id, n)) if *id == sent.id => {
                *n += 1;
                *n
            }
            _ => {
                self.head = Some((sent.id, 1));
                1
            }
        };
        let fault = match &failure {
            Failure::Transport(_) => Fault::Transient,
            Failure::S3(f) => self.classify(now, f),
        };
        let reason = failure.to_string();
        self.last_failure = Some(format!("{}: {reason}", sent.key));
        let deadline = self.give_up.map(|(_, d)| d);
        // Quick resends count their own streak: a file that failed through an outage is
        // still resent at once when S3 shows our clock was off.
        let attempt = if matches!(fault, Fault::BadDigest | Fault::ClockCorrected) {
            self.quick_streak += 1;
            self.quick_streak
        } else {
            self.quick_streak = 0;
            attempt
        };
        match self.policy.decide(fault, attempt, now.mono_ms, deadline) {
            Decision::RetryAt(at) => {
                // A server that says when to come back (503 SlowDown with Retry-After)
                // is not asked again sooner; a finite run's deadline still holds.
                let asked = match &failure {
                    Failure::S3(f) => f.retry_after.map(|d| now.mono_ms.saturating_add(ms(d))),
                    Failure::Transport(_) => None,
                };
                let at = match (asked, deadline) {
                    (Some(asked), Some(deadline)) => at.max(asked.min(deadline)),
                    (Some(asked), None) => at.max(asked),
                    (None, _) => at,
                };
                self.next_attempt_ms = at;
                self.events.push_back(Event::Retrying {
                    key: sent.key,
                    attempt,
                    after: Duration::from_millis(at.saturating_sub(now.mono_ms)),
                    reason,
                });
            }
            Decision::ResendNow => self.next_attempt_ms = now.mono_ms,
            Decision::Quarantine => self.quarantine(sent.id, &sent.key, &reason)?,
            Decision::PauseUntil(until) => {
                // Only S3 replies are refusals; a transport error never gets here.
                if let Failure::S3(f) = failure {
                    let tree = Tree::of(self.recorder.config().prefix.as_ref(), &sent.key);
                    self.counters.refusals += 1;
                    self.events.push_back(Event::Paused {
                        key: sent.key.clone(),
                        failure: f.clone(),
                        pause: Duration::from_millis(until.saturating_sub(now.mono_ms)),
                        tree,
                    });
                    let pause = Pause {
                        until,
                        key: sent.key,
                        failure: f,
                    };
                    match tree {
                        Tree::Data => self.paused = Some(pause),
                        Tree::Health => {
                            // Data files go on; none of them waits for this row's retry.
                            self.head = None;
                            self.health_paused = Some(pause);
                        }
                    }
                } else {
                    self.next_attempt_ms = until;
                }
            }
            Decision::GiveUp => {
                let last = format!("{}: {reason}", sent.key);
                self.events.push_back(Event::GaveUp {
                    pending: self.recorder.spool().pending()?.len(),
                    last: last.clone(),
                });
                self.gave_up = Some(last);
            }
        }
        Ok(())
    }

    /// The schedule's view of an S3 failure: the reply's fault, unless it blames our
    /// clock and S3's `Date` can be trusted to correct it.
    fn classify(&mut self, now: &Now, f: &S3Failure) -> Fault {
        let ours = now
            .wall
            .map(|w| w.saturating_add(self.clock_offset).unwrap_or(w));
        if f.blames_clock(ours)
            && let (Some(server), Some(wall)) = (f.server_date, now.wall)
        {
            match bounded_correction(server, wall) {
                Some(offset) => {
                    self.clock_offset = offset;
                    self.events.push_back(Event::ClockCorrected { offset });
                    return Fault::ClockCorrected;
                }
                None => self
                    .events
                    .push_back(Event::ClockCorrectionRefused { server }),
            }
        }
        if f.is_unconfirmed() && !self.warned_unconfirmed {
            self.warned_unconfirmed = true;
            self.events
                .push_back(Event::Unconfirmed { failure: f.clone() });
        }
        f.fault
    }
}

/// What a spool's journal was recorded with (`station.state`): its samples are raw
/// readings, so they must be sealed with the station, columns, interval and profile they
/// were taken under, never relabelled by a run with other arguments.
mod identity {
    use std::path::Path;
    use std::sync::Arc;

    use crate::encode::WriterProfile;
    use crate::layout::{Prefix, StationId};
    use crate::recorder::{Recorder, RecorderConfig};
    use crate::schema::Schema;
    use crate::storage::Storage;
    use crate::window::WindowSpec;
    use crate::{Error, Result};

    const FILE: &str = "station.state";

    fn describe(c: &RecorderConfig) -> String {
        let columns: Vec<&str> = c.schema.columns().iter().map(|m| m.name()).collect();
        format!(
            "station={} prefix={} columns={} interval_ms={} window_ms={} profile={}",
            c.station,
            c.prefix.as_ref().map_or("-", Prefix::as_str),
            columns.join(","),
            c.spec.interval_ms(),
            c.spec.window_ms(),
            c.profile.name()
        )
    }

    fn parse(text: &str) -> Option<RecorderConfig> {
        let field = |name: &str| {
            text.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        };
        let ms = |name: &str| field(name)?.parse::<i64>().ok();
        Some(RecorderConfig {
            station: StationId::new(field("station")?).ok()?,
            prefix: match field("prefix")? {
                "-" => None,
                p => Some(Prefix::new(p).ok()?),
            },
            schema: Schema::parse_list(field("columns")?).ok()?,
            spec: WindowSpec::new(ms("interval_ms")?, ms("window_ms")?).ok()?,
            profile: WriterProfile::parse(field("profile")?).ok()?,
        })
    }

    /// Records `wanted` as the spool's configuration. If the spool was recording with
    /// another one, first seals its journal under that one; returns its description.
    pub(super) fn switch(
        storage: &Arc<dyn Storage>,
        dir: &Path,
        wanted: &RecorderConfig,
    ) -> Result<Option<String>> {
        let path = dir.join(FILE);
        let now = describe(wanted);
        let earlier = storage
            .read(&path)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let changed = match earlier.as_deref().map(str::trim) {
            Some(text) if text == now => return Ok(None),
            Some(text) => parse(text).map(|old| (text.to_owned(), old)),
            None => None,
        };
        if let Some((_, old)) = &changed {
            let mut recorder = Recorder::open_with(old.clone(), storage.clone(), dir)?;
            recorder.flush()?;
        }
        storage
            .write(&path, format!("{now}\n").as_bytes())
            .map_err(|e| Error::spool("write", &path, e))?;
        Ok(changed.map(|(text, _)| text))
    }
}

/// Why an attempt failed.
#[derive(Debug)]
enum Failure {
    Transport(TransportError),
    S3(S3Failure),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Transport(e) => e.fmt(f),
            Self::S3(e) => e.fmt(f),
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::md5_hex;
    use crate::s3::{Credentials, S3Config};
    use crate::sim::Simulator;
    use std::collections::BTreeMap;

    /// 2026-12-01T00:00:00Z: the test windows start here.
    const T0: i64 = 1_796_083_200_000;
    const STATION: &str = "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e";

    fn config() -> StationConfig {
        let s3 = S3Config::new("http://127.0.0.1:1", "lake", "us-east-1", true).expect("cfg");
        let client = S3Client::new(
            &s3,
            Credentials::new(
                "AKIAIOSFODNN7EXAMPLE",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                None,
            ),
        )
        .expect("client");
        StationConfig::new(StationId::new(STATION).expect("id"), client)
    }

    /// Noon of the test day, `mono_ms` after start.
    fn at(mono_ms: u64) -> Now {
        let wall =
            Timestamp::from_millisecond(T0 + 12 * 3_600_000 + i64::try_from(mono_ms).unwrap_or(0))
                .expect("ts");
        Now::synced(mono_ms, wall)
    }

    /// A station with `windows` sealed windows in its spool.
    fn with_windows(dir: &Path, windows: i64) -> Station {
        let mut st = Station::open(config(), dir).expect("open");
        let sim = Simulator::new(3);
        for i in 0..windows * 180 {
            st.record(&at(0), sim.sample_at(T0 + i * 5_000))
                .expect("record");
        }
        st.flush().expect("flush");
        st
    }

    fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    /// S3's success reply for `request`: 200 with the body's MD5 as ETag.
    fn stored(request: &HttpRequest) -> HttpResponse {
        let etag = format!("\"{}\"", md5_hex(&request.body));
        reply(200, &[("etag", &etag)], "")
    }

    fn s3_error(status: u16, code: &str, date: &str) -> HttpResponse {
        reply(
            status,
            &[("date", date)],
            &format!("<Error><Code>{code}</Code><Message>m</Message></Error>"),
        )
    }

    /// Sends the request due next (at the station's wake-up instant, 0 if none is
    /// scheduled) and answers it with `reply`; returns that instant.
    fn attempt(st: &mut Station, reply: HttpResponse) -> u64 {
        let now = st.wake_at().unwrap_or(0);
        st.poll(&at(now)).expect("poll").expect("request");
        st.on_reply(&at(now), Ok(reply)).expect("reply");
        now
    }

    fn pending(st: &Station) -> usize {
        st.recorder().spool().pending().expect("list").len()
    }

    fn quarantined(dir: &Path) -> usize {
        std::fs::read_dir(dir.join("quarantine")).map_or(0, |d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "lks"))
                .count()
        })
    }

    #[test]
    fn uploads_oldest_first_and_removes_only_what_s3_confirmed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut st = with_windows(dir.path(), 2);
        let first = st.poll(&at(0)).expect("poll").expect("request");
        assert!(
            first.url.path().ends_with("data_0000.parquet"),
            "{}",
            first.url
        );
        assert!(
            st.poll(&at(0)).expect("poll").is_none(),
            "one request in flight at a time"
        );
        st.on_reply(&at(10), Ok(stored(&first))).expect("reply");
        let second = st.poll(&at(10)).expect("poll").expect("request");
        assert!(second.url.path().ends_with("data_0015.parquet"));
        st.on_reply(&at(20), Ok(stored(&second))).expect("reply");
        assert!(st.is_drained().expect("drained"));
        assert_eq!(st.counters().uploaded_files, 2);
    }

    #[test]
    fn a_proxys_404_page_pauses_uploads_and_quarantines_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut st = with_windows(dir.path(), 3);
        let page =
            "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>";
        for status in [404, 405, 413] {
            let req = st.poll(&at(0)).expect("poll").expect("request");
            st.on_reply(
                &at(0),
                Ok(reply(status, &[("content-type", "text/html")], page)),
            )
            .expect("reply");
            let Delivery::Paused { failure, until, .. } = st.delivery() else {
                panic!("{status} must pause, got {:?}", st.delivery())
            };
            assert_eq!(
                (failure.code.as_str(), until),
                (format!("HTTP {status}").as_str(), 300_000)
            );
            assert!(st.poll(&at(299_999)).expect("poll").is_none(), "paused");
            assert_eq!(pending(&st), 3, "the data stays spooled");
            // The pause is over only after its 5 minutes; start again for the next status.
            drop(req);
            st.paused = None;
        }
        assert_eq!(quarantined(dir.path()), 0);
        assert_eq!(st.counters().quarantined_files, 0);
        // After the pause one attempt goes out again.
        st.paused = Some(Pause {
            until: 300_000,
            key: "k".into(),
            failure: s3_error(403, "AccessDenied", "").into_failure(),
        });
        assert!(st.poll(&at(300_000)).expect("poll").is_some());
    }

    /// A station with health rows on and `windows` sealed windows, each with its health
    /// row spooled right after it (as the driver does).
    fn with_health(dir: &Path, windows: i64) -> Station {
        let mut config = config();
        config.health = true;
        let mut st = Station::open(config, dir).expect("open");
        record_with_health(&mut st, 0, windows);
        st.flush().expect("flush");
        spool_health_rows(&mut st);
        st
    }

    /// Records the samples of windows `from..to` (15 min each from `T0`), spooling
    /// health rows as windows are sealed.
    fn record_with_health(st: &mut Station, from: i64, to: i64) {
        let sim = Simulator::new(3);
        for i in from * 180..to * 180 {
            st.record(&at(0), sim.sample_at(T0 + i * 5_000))
                .expect("record");
            spool_health_rows(st);
        }
    }

    fn spool_health_rows(st: &mut Station) {
        while let Some((key, row)) = st.take_health_row(&at(0)) {
            st.spool_health(&key, &row).expect("spool health");
        }
    }

    fn file_name(request: &HttpRequest) -> String {
        request
            .url
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn data_goes_before_health_rows_and_a_refused_health_row_pauses_only_health() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut st = with_health(dir.path(), 3);
        assert_eq!(pending(&st), 6, "3 data files and 3 health rows");
        // Data first, oldest first, although each health row is older than the next
        // window's data file.
        let mut sent = Vec::new();
        for _ in 0..3 {
            let req = st.poll(&at(0)).expect("poll").expect("request");
            sent.push(file_name(&req));
            st.on_reply(&at(0), Ok(stored(&req))).expect("reply");
        }
        assert_eq!(
            sent,
            [
                "data_0000.parquet",
                "data_0015.parquet",
                "data_0030.parquet"
            ]
        );
        // Then the health rows; the policy refuses the first.
        let req = st.poll(&at(0)).expect("poll").expect("request");
        assert_eq!(file_name(&req), "health_0000.parquet");
        st.on_reply(&at(0), Ok(s3_error(403, "AccessDenied", "")))
            .expect("reply");
        let events: Vec<Event> = st.events().collect();
        assert!(
            events.iter().any(|e| matches!(
                e,
                Event::Paused {
                    tree: Tree::Health,
                    ..
                }
            )),
            "{events:?}"
        );
        assert_eq!(st.counters().refusals, 1);
        let Delivery::Paused { tree, until, .. } = st.delivery() else {
            panic!("only health rows wait, paused: {:?}", st.delivery())
        };
        assert_eq!((tree, until), (Tree::Health, 300_000));
        assert_eq!(st.wake_at(), Some(300_000));
        assert!(
            st.poll(&at(1_000)).expect("poll").is_none(),
            "health paused"
        );
        // A new window: its data file goes out at once, during the health pause.
        record_with_health(&mut st, 3, 5); // seals 00:45 when 01:00 begins
        assert!(matches!(st.delivery(), Delivery::Waiting { .. }));
        let req = st.poll(&at(2_000)).expect("poll").expect("request");
        assert_eq!(file_name(&req), "data_0045.parquet");
        st.on_reply(&at(2_000), Ok(stored(&req))).expect("reply");
        assert!(
            st.poll(&at(2_000)).expect("poll").is_none(),
            "health still paused"
        );
        assert!(matches!(
            st.delivery(),
            Delivery::Paused {
                tree: Tree::Health,
                ..
            }
        ));
        // After the pause the health rows go, oldest first.
        let req = st.poll(&at(300_000)).expect("poll").expect("request");
        assert_eq!(file_name(&req), "health_0000.parquet");
    }

    #[test]
    fn forged_spool_entries_are_quarantined_never_signed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut st = with_windows(dir.path(), 1);
        let other = "0190f5c2-0000-7000-8000-000000000000";
        for key in [
            format!("station={other}/year=2026/month=12/day=01/data_0000.parquet"),
            "../other/stolen.parquet".to_owned(),
            format!("station={STATION}/../../other/x.parquet"),
            format!("station={STATION}/year=2026/month=12/day=01/data_0015.parquet?acl"),
            format!("station={STATION}/year=2026/month=12/day=01/%2e%2e/data_0015.parquet"),
        ] {
            st.recorder
                .spool_mut()
                .push(&key, b"PAR1....PAR1")
                .expect("plant");
        }
        // The station's own key, but bytes that are no Parquet file.
        let own = format!("station={STATION}/year=2026/month=12/day=01/data_0000.parquet");
        st.recorder
            .spool_mut()
            .push(&own, b"not parquet at all")
            .expect("plant");
        let mut sent = Vec::new();
        while let Some(req) = st.poll(&at(0)).expect("poll") {
            sent.push(req.url.path().to_owned());
            st.on_reply(&at(0), Ok(stored(&req))).expect("reply");
        }
        assert_eq!(sent.len(), 1, "only the station's own window: {sent:?}");
        assert!(
            sent[0].contains(STATION) && sent[0].ends_with("day%3D01/data_0000.parquet"),
            "{sent:?}"
        );
        assert_eq!(st.counters().quarantined_files, 6);
        assert_eq!(quarantined(dir.path()), 6);
        assert!(st.is_drained().expect("drained"));
    }

    #[test]
    fn a_spool_taken_over_by_another_station_sets_the_first_ones_files_aside() {
        let dir = tempfile::tempdir().expect("tempdir");
        drop(with_windows(dir.path(), 2));
        let mut config = config();
        config.station = StationId::new("0190f5c2-0000-7000-8000-00000000000b").expect("id");
        let mut b = Station::open(config, dir.path()).expect("open as B");
        let sim = Simulator::new(4);
        for i in 2 * 180..=3 * 180 {
            b.record(&at(0), sim.sample_at(T0 + i * 5_000))
                .expect("record");
        }
        let mut sent = Vec::new();
        while let Some(req) = b.poll(&at(0)).expect("poll") {
            sent.push(file_name(&req));
            assert!(req.url.path().contains("00000000000b"), "{}", req.url);
            b.on_reply(&at(0), Ok(stored(&req))).expect("reply");
        }
        assert_eq!(
            sent,
            ["data_0030.parquet"],
            "B's window only, never blocked"
        );
        assert_eq!(
            b.counters().quarantined_files,
            2,
            "A's two windows set aside"
        );
        assert!(b.is_drained().expect("drained"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_unreadable_entry_is_set_aside_once_and_the_others_go_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let st = with_windows(dir.path(), 3);
        let ids = st.recorder.spool().pending().expect("list");
        // Reading /proc/self/mem at offset 0 fails with EIO, even as root.
        let second = dir.path().join(format!("{:016}.lks", ids[1]));
        std::fs::remove_file(&second).expect("rm");
        std::os::unix::fs::symlink("/proc/self/mem", &second).expect("symlink");
        // And a stray name the spool never writes.
        std::fs::write(dir.path().join("1.lks"), b"stray").expect("stray");
        drop(st);
        let mut st = Station::open(config(), dir.path()).expect("reopen");
        let mut sent = Vec::new();
        for _ in 0..10 {
            let Some(req) = st.poll(&at(0)).expect("poll never fails over one entry") else {
                break;
            };
            sent.push(file_name(&req));
            st.on_reply(&at(0), Ok(stored(&req))).expect("reply");
        }
        assert_eq!(sent, ["data_0000.parquet", "data_0030.parquet"]);
        let events: Vec<String> = st.events().map(|e| e.to_string()).collect();
        assert_eq!(
            events
                .iter()
                .filter(|e| e.contains("not entries it wrote"))
                .count(),
            1,
            "{events:?}"
        );
        assert_eq!(
            events.iter().filter(|e| e.contains("unreadable")).count(),
            1,
            "{events:?}"
        );
        assert_eq!(st.counters().quarantined_files, 1);
        assert!(st.counters().lost_any());
        assert!(dir.path().join("1.lks").exists(), "a stray is left alone");
        assert!(st.is_drained().expect("drained"));
    }

    #[test]
    fn a_503_with_retry_after_is_not_retried_sooner() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut st = with_windows(dir.path(), 1);
        st.poll(&at(0)).expect("poll").expect("request");
        let slow = reply(
            503,
            &[("retry-after", "30")],
            "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
        );
        st.on_reply(&at(0), Ok(slow)).expect("reply");
        assert_eq!(
            st.wake_at(),
            Some(30_000),
            "the server's 30 s, not the 1 s backoff"
        );
        assert!(st.poll(&at(29_999)).expect("poll").is_none());
        assert!(st.poll(&at(30_000)).expect("poll").is_some());
        // Without the header: the policy's backoff (about a second).
        let dir = tempfile::tempdir().expect("tempdir");
        let mut st = with_windows(dir.path(), 1);
        st.poll(&at(0)).expect("poll").expect("request");
        st.on_reply(&at(0), Ok(s3_error(503, "SlowDown", "")))
            .expect("reply");
        assert!(
            st.wake_at().is_some_and(|w| w <= 1_000),
            "{:?}",
            st.wake_at()
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_fifo_in_the_spool_is_set_aside_without_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let st = with_windows(dir.path(), 2);
        let ids = st.recorder.spool().pending().expect("list");
        let fifo = dir.path().join(format!("{:016}.lks", ids[1] + 5));
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        drop(st);
        // Reopened with the FIFO there: opening it to read would block for ever.
        let mut st = Station::open(config(), dir.path()).expect("reopen");
        let mut sent = 0;
        while let Some(req) = st.poll(&at(0)).expect("poll") {
            sent += 1;
            st.on_reply(&at(0), Ok(stored(&req))).expect("reply");
        }
        assert_eq!(sent, 2);
        assert_eq!(st.counters().quarantined_files, 1);
        assert!(st.is_drained().expect("drained"));
    }

    #[test]
    fn a_refused_data_file_pauses_health_rows_too() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut st = with_health(dir.path(), 2);
        let req = st.poll(&at(0)).expect("poll").expect("request");
        assert_eq!(file_name(&req), "data_0000.parquet");
        st.on_reply(&at(0), Ok(s3_error(403, "AccessDenied", "")))
            .expect("reply");
        let Delivery::Paused { tree, .. } = st.delivery() else {
            panic!("paused: {:?}", st.delivery())
        };
        assert_eq!(tree, Tree::Data);
        assert!(
            st.poll(&at(299_999)).expect("poll").is_none(),
            "no health row goes out while data is refused"
        );
        let req = st.poll(&at(300_000)).expect("poll").expect("request");
        assert_eq!(file_name(&req), "data_0000.parquet");
    }

    trait IntoFailure {
        fn into_failure(self) -> S3Failure;
    }
    impl IntoFailure for HttpResponse {
        fn into_failure(self) -> S3Failure {
            crate::s3::check_response(&self).expect_err("an error reply")
        }
    }

    #[test]
    fn s3_rejecting_the_file_itself_quarantines_it_twice_without_overwriting() {
        let dir = tempfile::tempdir().expect("tempdir");
        for _ in 0..2 {
            let mut st = with_windows(dir.path(), 1);
            st.poll(&at(0)).expect("poll").expect("request");
            st.on_reply(&at(0), Ok(s3_error(400, "EntityTooLarge", "")))
                .expect("reply");
            assert_eq!(st.counters().quarantined_files, 1);
            assert!(st.is_drained().expect("drained"));
            // The next process on the same, now empty, spool.
            drop(st);
            std::fs::remove_file(dir.path().join("journal.lkj")).expect("fresh journal");
        }
        assert_eq!(
            quarantined(dir.path()),
            2,
            "the second quarantine kept the first"
        );
    }

    #[test]
    fn a_2xx_without_the_bodys_md5_is_not_stored_and_warns_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut st = with_windows(dir.path(), 1);
        let portal = "<html>Sign in to the hotel WiFi</html>";
        for (i, etag) in [None, Some("\"0123456789abcdef0123456789abcdef\""), None]
            .into_iter()
            .enumerate()
        {
            let now = st.wake_at().unwrap_or(0);
            st.poll(&at(now)).expect("poll").expect("request");
            let headers: Vec<(&str, &str)> = etag.iter().map(|e| ("etag", *e)).collect();
            st.on_reply(&at(now), Ok(reply(200, &headers, portal)))
                .expect("reply");
            assert_eq!(pending(&st), 1, "reply {i} did not prove the object stored");
        }
        let warnings = st
            .events()
            .filter(|e| matches!(e, Event::Unconfirmed { .. }))
            .count();
        assert_eq!(warnings, 1);
        let now = st.wake_at().unwrap_or(0);
        let req = st.poll(&at(now)).expect("poll").expect("request");
        st.on_reply(&at(now), Ok(stored(&req))).expect("reply");
        assert!(st.is_drained().expect("drained"));
        assert_eq!(st.counters().failed_attempts, 3);
    }

    #[test]
    fn stores_without_md5_etags_can_opt_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut st = Station::open(
            StationConfig {
                verify_etag: false,
                ..config()
            },
            dir.path(),
        )
        .expect("open");
        let sim = Simulator::new(1);
        st.record(&at(0), sim.sample_at(T0)).expect("record");
        st.flush().expect("flush");
        st.poll(&at(0)).expect("poll").expect("request");
        st.on_reply(&at(0), Ok(reply(200, &[("etag", "\"abc-1\"")], "")))
            .expect("reply");
        assert!(st.is_drained().expect("drained"));
    }

    #[test]
    fn a_servers_date_moves_the_signing_clock_only_within_bounds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut st = with_windows(dir.path(), 1);
        // 2001: a proxy's or a broken server's clock. Not trusted, not a pause.
        attempt(
            &mut st,
            s3_error(403, "RequestTimeTooSkewed", "Mon, 01 Jan 2001 00:00:00 GMT"),
        );
        assert_eq!(st.clock_offset(), SignedDuration::ZERO);
        assert!(
            matches!(st.delivery(), Delivery::Waiting { next_at: Some(_) }),
            "{:?}",
            st.delivery()
        );
        assert!(
            st.events()
                .any(|e| matches!(e, Event::ClockCorrectionRefused { .. }))
        );
        // A 403 AccessDenied with such a Date is a refusal, not a clock to follow.
        attempt(
            &mut st,
            s3_error(403, "AccessDenied", "Mon, 01 Jan 2001 00:00:00 GMT"),
        );
        assert_eq!(st.clock_offset(), SignedDuration::ZERO);
        assert!(matches!(st.delivery(), Delivery::Paused { .. }));
        // 30 minutes ahead, within bounds: corrected, and resent at once signed with it.
        st.paused = None;
        let now = attempt(
            &mut st,
            s3_error(403, "AccessDenied", "Tue, 01 Dec 2026 12:30:00 GMT"),
        );
        let off_by = (st.clock_offset() - SignedDuration::from_mins(30)).abs();
        assert!(
            off_by < SignedDuration::from_secs(10),
            "{:?}",
            st.clock_offset()
        );
        let req = st.poll(&at(now)).expect("poll").expect("resent now");
        assert!(
            req.url.as_str().contains("X-Amz-Date=20261201T1230"),
            "{}",
            req.url
        );
    }

    #[test]
    fn a_damaged_body_is_read_again_and_resent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut st = with_windows(dir.path(), 1);
        let first = st.poll(&at(0)).expect("poll").expect("request");
        st.on_reply(&at(5), Ok(s3_error(400, "BadDigest", "")))
            .expect("reply");
        let again = st.poll(&at(5)).expect("poll").expect("resent at once");
        assert_eq!(again.body, first.body);
        st.on_reply(&at(6), Ok(stored(&again))).expect("reply");
        assert!(st.is_drained().expect("drained"));
    }

    #[test]
    fn a_finite_run_gives_up_at_its_deadline_and_keeps_the_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut st = with_windows(dir.path(), 2);
        st.finish_input(&at(0), Duration::from_secs(60))
            .expect("finish");
        let mut now = 0;
        let mut attempts = 0;
        while !matches!(st.delivery(), Delivery::GaveUp { .. }) {
            now = st.wake_at().unwrap_or(0).max(now);
            st.poll(&at(now)).expect("poll").expect("request");
            st.on_reply(&at(now), Err(TransportError::Connect("refused".into())))
                .expect("reply");
            attempts += 1;
            assert!(attempts < 100, "never gave up");
        }
        assert!(now <= 60_000, "gave up after the deadline: {now} ms");
        assert_eq!(pending(&st), 2);
        assert!(st.poll(&at(now + 1_000_000)).expect("poll").is_none());
    }

    #[test]
    fn a_poisoned_future_journal_does_not_silence_the_node() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sim = Simulator::new(4);
        let future = 4_102_444_200_000; // 2099-12-31T23:50:00Z, as `run --start` wrote it
        {
            let mut st = Station::open(config(), dir.path()).expect("open");
            for i in 0..100 {
                st.record(&at(0), sim.sample_at(future + i * 5_000))
                    .expect("record");
            }
        } // killed: the journal holds samples of 2099
        let mut st = Station::open(config(), dir.path()).expect("reopen");
        for i in 0..10 {
            let now = at(i * 5_000);
            st.sample(&now, sim.sample_at(0)).expect("sample");
        }
        assert_eq!(st.counters().samples, 10, "every real-time sample recorded");
        assert_eq!(st.counters().skipped_samples, 0);
        let events: Vec<Event> = st.events().collect();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::TimelineReset { .. })),
            "{events:?}"
        );
        // The 2099 window was sealed, not thrown away.
        assert_eq!(st.counters().sealed_files, 1);
        // A clock stepping back by a few seconds still skips (and counts) the repeats.
        let now = at(1_000);
        st.record(&now, sim.sample_at(T0 + 12 * 3_600_000))
            .expect("record");
        assert_eq!(st.counters().skipped_samples, 1);
    }

    #[test]
    fn journaled_samples_keep_the_station_and_columns_they_were_taken_with() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sim = Simulator::new(6);
        {
            let mut st = Station::open(config(), dir.path()).expect("open");
            for i in 0..13 {
                st.record(&at(0), sim.sample_at(T0 + i * 5_000))
                    .expect("record");
            }
        } // killed with 13 samples of an open window in the journal
        let other = StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2f").expect("id");
        let changed = StationConfig {
            station: other,
            schema: crate::schema::Schema::parse_list("temperature").expect("schema"),
            ..config()
        };
        let mut st = Station::open(changed.clone(), dir.path()).expect("reopen");
        assert!(
            st.events().any(|e| matches!(e, Event::Error { .. })),
            "the switch is reported"
        );
        let spool = st.recorder().spool();
        let entries: Vec<_> = spool
            .pending()
            .expect("list")
            .into_iter()
            .map(|id| spool.read(id).expect("read"))
            .collect();
        assert_eq!(entries.len(), 1);
        assert!(
            entries[0].key.contains(STATION),
            "sealed under the earlier station: {}",
            entries[0].key
        );
        assert_eq!(st.recorder().replayed(), 0, "nothing relabelled");
        drop(st);
        // The same arguments again: no switch.
        let mut st = Station::open(changed, dir.path()).expect("reopen");
        assert_eq!(st.events().count(), 0);
    }

    #[test]
    fn samples_before_the_first_time_sync_wait_and_nothing_is_signed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut st = with_windows(dir.path(), 1);
        let unsynced = |mono| Now {
            mono_ms: mono,
            wall: Some(Timestamp::UNIX_EPOCH),
        };
        assert!(
            st.poll(&unsynced(0)).expect("poll").is_none(),
            "never signs in 1970"
        );
        let recorded = st.counters().samples;
        st.sample(&unsynced(1_000), Sample::new(0)).expect("held");
        st.sample(
            &Now {
                mono_ms: 6_000,
                wall: None,
            },
            Sample::new(0),
        )
        .expect("held");
        assert_eq!(st.counters().samples, recorded);
        st.sample(&at(11_000), Sample::new(0)).expect("dated");
        assert_eq!(st.counters().samples, recorded + 3);
    }

    #[test]
    fn samples_held_at_a_stop_before_any_sync_are_counted_lost() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut st = Station::open(config(), dir.path()).expect("open");
        for mono in [0, 5_000, 10_000] {
            let unsynced = Now {
                mono_ms: mono,
                wall: None,
            };
            st.sample(&unsynced, Sample::new(0)).expect("held");
        }
        st.drop_unsynced();
        assert_eq!(st.counters().unsynced_dropped, 3);
        assert!(st.counters().lost_any());
        assert!(st.events().any(|e| matches!(e, Event::Error { .. })));
        st.sample(&at(20_000), Sample::new(0)).expect("dated");
        assert_eq!(st.counters().samples, 1, "none of the lost ones comes back");
    }

    #[test]
    fn spool_limit_drops_are_events_and_counted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut st = Station::open(
            StationConfig {
                spool_limit: Some(crate::spool::MIN_LIMIT),
                ..config()
            },
            dir.path(),
        )
        .expect("open");
        let sim = Simulator::new(5);
        // A day of 15-minute windows (~4 KB each) into a 64 KiB spool, nothing uploaded.
        for i in 0..17_280 {
            st.record(&at(0), sim.sample_at(T0 + i * 5_000))
                .expect("record");
        }
        let dropped = st
            .events()
            .filter(|e| matches!(e, Event::Dropped { .. }))
            .count();
        assert!(dropped > 50, "{dropped}");
        assert_eq!(st.counters().dropped_files, dropped as u64);
        assert!(st.counters().lost_any());
        assert!(
            StationConfig {
                spool_limit: Some(1_000),
                ..config()
            }
            .spool_limit
            .is_some()
                && Station::open(
                    StationConfig {
                        spool_limit: Some(1_000),
                        ..config()
                    },
                    &dir.path().join("b")
                )
                .is_err(),
            "a limit smaller than a file is refused"
        );
    }

    /// Spools due health rows and uploads everything into `lake` (path -> bytes);
    /// returns the paths written again with other bytes.
    fn deliver(st: &mut Station, now: &Now, lake: &mut BTreeMap<String, Vec<u8>>) -> Vec<String> {
        while let Some((key, row)) = st.take_health_row(now) {
            st.spool_health(&key, &row).expect("health");
        }
        let mut clashes = Vec::new();
        while let Some(req) = st.poll(now).expect("poll") {
            let path = req.url.path().to_owned();
            st.on_reply(now, Ok(stored(&req))).expect("reply");
            if lake
                .insert(path.clone(), req.body)
                .is_some_and(|old| Some(&old) != lake.get(&path))
            {
                clashes.push(path);
            }
        }
        clashes
    }

    /// Records the samples of [from, to) at 5 s, the clock reading each one's time (a
    /// new `seed`: other readings, as real sensors would give).
    fn record_span(
        seed: u64,
        st: &mut Station,
        from: i64,
        to: i64,
        lake: &mut BTreeMap<String, Vec<u8>>,
    ) -> Vec<String> {
        let sim = Simulator::new(seed);
        let mut clashes = Vec::new();
        for t in (from..to).step_by(5_000) {
            let now = Now::synced(0, Timestamp::from_millisecond(t).expect("ts"));
            st.record(&now, sim.sample_at(t)).expect("record");
            clashes.extend(deliver(st, &now, lake));
        }
        clashes
    }

    #[test]
    fn a_reboot_with_an_old_clock_never_overwrites_an_object_with_other_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let open = || {
            let config = StationConfig {
                health: true,
                ..config()
            };
            Station::open(config, dir.path()).expect("open")
        };
        let hm = |h: i64, m: i64| T0 + h * 3_600_000 + m * 60_000;
        let mut lake = BTreeMap::new();
        let mut clashes = Vec::new();
        {
            let mut st = open();
            clashes.extend(record_span(1, &mut st, hm(3, 55), hm(5, 5), &mut lake));
        } // power lost at 05:05
        // fake-hwclock brings the clock back at 03:59; the node runs to 04:40.
        {
            let mut st = open();
            clashes.extend(record_span(2, &mut st, hm(3, 59), hm(4, 40), &mut lake));
            assert!(
                st.events()
                    .any(|e| matches!(e, Event::TimelineReset { .. }))
            );
        } // and reboots again (same clock), then runs past the earlier 05:05.
        let mut st = open();
        clashes.extend(record_span(3, &mut st, hm(4, 40), hm(5, 35), &mut lake));
        st.flush().expect("flush");
        clashes.extend(deliver(&mut st, &at(0), &mut lake));
        assert_eq!(
            clashes,
            Vec::<String>::new(),
            "objects overwritten with other bytes"
        );
        let names: Vec<&str> = lake.keys().filter_map(|k| k.rsplit('/').next()).collect();
        for name in [
            "data_0400.parquet",
            "data_0400_r1.parquet",
            "health_0400_r1.parquet",
            "data_0415_r1.parquet",
            "data_0500_r1.parquet",
            "data_0515.parquet",
        ] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
    }
}
