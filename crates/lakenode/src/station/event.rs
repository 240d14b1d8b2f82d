//! The station's vocabulary: the time an adapter hands in ([`Now`]), what a station is
//! ([`StationConfig`]), what it tells the operator ([`Event`], [`Level`]), what it
//! counted ([`Counters`]) and where the uploads stand ([`Delivery`]). Plain data, kept
//! apart from the state machine so the adapters can read it without the machinery.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::clock::is_plausible;
use crate::health::Tree;
use crate::layout::{StationId, rfc3339};
use crate::recorder::RecorderConfig;
use crate::s3::{S3Client, S3Failure};
use crate::schedule::RetryPolicy;

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
    /// What is recorded and how it is sealed: station id, key prefix, columns, profile,
    /// sampling interval and window length.
    pub recorder: RecorderConfig,
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
    /// Batched uploads: files wait in the spool and go out together every this long,
    /// on the UTC grid of the period (see the station's `batch` module). `None`: each
    /// file as soon as it is sealed.
    pub upload_every: Option<Duration>,
    /// With `upload_every`: pending bytes that open a batch early, at most half the
    /// spool limit ([`Station::open`](super::Station::open) refuses more). `None`: half
    /// the spool limit, if there is one.
    pub batch_high_water: Option<u64>,
}

impl StationConfig {
    /// Defaults: every measurement, compat profile, 5 s samples, 15 min windows (see
    /// [`RecorderConfig::new`]), no spool limit, no health rows, ETags verified, retry
    /// jitter seeded from the station id.
    #[must_use]
    pub fn new(station: StationId, client: S3Client) -> Self {
        Self {
            policy: RetryPolicy::for_station(station.as_str()),
            recorder: RecorderConfig::new(station),
            client,
            spool_limit: None,
            spool_block: None,
            health: false,
            verify_etag: true,
            upload_every: None,
            batch_high_water: None,
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
    /// A batch of uploads opened (with `upload_every`).
    BatchOpened {
        /// Files waiting in the spool.
        files: usize,
    },
    /// A batch closed: nothing left to send.
    BatchClosed {
        /// Files S3 confirmed in it.
        sent: u64,
        /// Failed attempts in it.
        failed: u64,
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
            Self::Sealed { .. }
            | Self::Uploaded { .. }
            | Self::BatchOpened { .. }
            | Self::BatchClosed { .. }
            | Self::ClockCorrected { .. } => Level::Info,
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
            Self::BatchOpened { files } => {
                write!(f, "batch of uploads opened: {files} file(s) waiting")
            }
            Self::BatchClosed { sent, failed } => write!(
                f,
                "batch of uploads closed: {sent} file(s) sent, {failed} failed attempt(s)"
            ),
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
    /// Failed upload attempts (refusals included): the health rows' `upload_failures`.
    pub upload_failures: u64,
    /// Refusals (403 and other replies that pause uploads) among them.
    pub refusals: u64,
    /// Failed attempts whose file is tried again (after a backoff, or resent at once).
    pub retries: u64,
    /// When S3 last confirmed an object, by the wall clock (ms since the Unix epoch).
    pub last_upload_ms: Option<i64>,
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
