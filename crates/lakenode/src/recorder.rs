//! The recording half of a station: samples in, journaled, windowed, and each sealed
//! window encoded and spooled ([`Recorder`]). No network, no clock: the
//! [`crate::station::Station`] drives it.
//!
//! ```
//! use lakenode::fuzzing::{Recorder, RecorderConfig};
//! use lakenode::{layout::StationId, sim::Simulator};
//! # let dir = tempfile::tempdir()?;
//! let config = RecorderConfig::new(StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e")?);
//! let mut node = Recorder::open(config, dir.path())?;
//! let sim = Simulator::new(1);
//! for i in 0..=180 {
//!     node.record(sim.sample_at(1_767_225_600_000 + i * 5_000))?;
//! }
//! assert_eq!(node.spool().pending()?.len(), 1); // the first window is sealed
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;
use std::sync::Arc;

use crate::clock::{MAX_SAMPLE_MS, MIN_SAMPLE_MS};
use crate::encode::{Encoder, FileMetadata, WriterProfile};
use crate::health::{HealthRow, health_key_for};
use crate::health_due::HealthDueFile;
use crate::journal::Journal;
use crate::layout::{ObjectKey, Prefix, StationId, data_tree};
use crate::sample::Sample;
use crate::schema::Schema;
use crate::spool::{DroppedFile, Spool};
use crate::storage::{StdStorage, Storage};
use crate::window::{Window, WindowSpec, Windower};
use crate::{Error, Result};

/// What a station is and how it writes.
#[derive(Debug, Clone)]
pub struct RecorderConfig {
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

impl RecorderConfig {
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
    /// Older files the spool's size limit dropped to make room for this one.
    pub dropped: Vec<DroppedFile>,
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
pub struct Recorder {
    config: RecorderConfig,
    windower: Windower,
    encoder: Encoder,
    spool: Spool,
    journal: Journal,
    last_recorded: Option<i64>,
    replayed: usize,
    journal_damage: Option<String>,
    timeline: Timeline,
    /// The health rows owed for sealed windows (`health.due`): loaded whatever this
    /// run's setting, so rows owed by an earlier run with health rows on are made.
    health_due: HealthDueFile,
    /// Whether each window this run seals owes a health row.
    owe_health: bool,
    /// Where an earlier copy of a window replayed from the journal may lie, until the
    /// first window of live samples is sealed (see [`Reseal`]).
    reseal: Option<Reseal>,
    /// The spool's next id at this boot, and whether a window was sealed since (see
    /// [`Recorder::set_journal_durability`]).
    boot: (u64, bool),
}

impl Recorder {
    /// Opens the node's state in `dir` (created if needed) on [`StdStorage`]: the
    /// spool, and the journal, whose samples are replayed into the open window. A window
    /// whose time has passed during the replay is sealed and spooled.
    ///
    /// # Errors
    /// [`Error::Spool`] on IO failure; [`Error::Parquet`] if a replayed window cannot be
    /// encoded.
    pub fn open(config: RecorderConfig, dir: &Path) -> Result<Self> {
        Self::open_with(config, StdStorage::shared(), dir)
    }

    /// [`Recorder::open`] on the given storage.
    ///
    /// # Errors
    /// As [`Recorder::open`].
    pub fn open_with(
        config: RecorderConfig,
        storage: Arc<dyn Storage>,
        dir: &Path,
    ) -> Result<Self> {
        Self::open_owing(config, storage, dir, false)
    }

    /// [`Recorder::open_with`]; with `health`, each sealed window owes a health row,
    /// kept in `health.due` until [`Recorder::spool_health`] spools it (see
    /// [`Recorder::health_due`]). Rows an earlier run owed are owed either way.
    ///
    /// # Errors
    /// As [`Recorder::open`].
    pub(crate) fn open_owing(
        config: RecorderConfig,
        storage: Arc<dyn Storage>,
        dir: &Path,
        health: bool,
    ) -> Result<Self> {
        let health_due = HealthDueFile::load(storage.as_ref(), dir)?;
        let spool = Spool::open_with(storage.clone(), dir)?;
        let (journal, replay) = Journal::open_with(storage, dir)?;
        let (mut timeline, timeline_damage) = Timeline::load(spool.storage().as_ref(), dir)?;
        let replayed = replay.samples.len();
        let replay_last = replay.last_recorded();
        // Replayed records pass the checks `record` makes, once each: a record with a
        // valid CRC can still be forged or written by a bad clock, and must not re-seal
        // a sealed window (its object in the lake would be overwritten) nor reach a file.
        // i64::MIN marks a reset timeline (see `reset_timeline`): nothing recorded.
        let mut last_recorded = replay.sealed_through.filter(|&t| t != i64::MIN);
        let mut refused = Refused::default();
        let mut samples = replay.samples;
        samples.retain(|sample| {
            if let Err(e) = check(sample) {
                refused.count(&e);
                return false;
            }
            if last_recorded.is_some_and(|last| sample.timestamp_ms <= last) {
                refused.behind += 1;
                return false;
            }
            last_recorded = Some(sample.timestamp_ms);
            true
        });
        let reseal = samples.last().map(|s| Reseal {
            below: spool.next_id(),
            through_ms: s.timestamp_ms,
        });
        let boot = (spool.next_id(), false);
        if timeline.start.is_none() && replay_last.is_some_and(|t| t != i64::MIN) {
            // A timeline begun before this file existed: its start is unknown.
            timeline.start = Some(i64::MIN);
        }
        let mut node = Self {
            windower: Windower::new(config.spec),
            encoder: Encoder::new(&config.schema, config.profile)?,
            config,
            spool,
            journal,
            last_recorded,
            replayed,
            journal_damage: replay.damage.clone().or(timeline_damage),
            timeline,
            health_due,
            owe_health: health,
            reseal,
            boot,
        };
        node.forget_spooled_health()?;
        let mut sealed_through = None;
        let mut closed = replay.closed.iter().copied().peekable();
        for sample in samples {
            // A window a flush sealed before this sample: sealed there again, as it
            // stood (see `crate::journal`), never with later samples.
            while let Some(through) = closed.next_if(|&c| c < sample.timestamp_ms) {
                if let Some(t) = node.seal_closed(through)? {
                    sealed_through = Some(t);
                }
            }
            if let Some(window) = node.windower.push(sample)? {
                node.seal(&window)?;
                sealed_through = window.last_ms();
            }
        }
        for through in closed {
            if let Some(t) = node.seal_closed(through)? {
                sealed_through = Some(t);
            }
        }
        if let Some(t) = sealed_through {
            node.restart_journal(t)?;
        } else if refused.any() {
            // Rewritten without the refused records, so they are reported once.
            node.restart_journal(replay.sealed_through.unwrap_or(i64::MIN))?;
        }
        if let Some(text) = refused.describe() {
            node.journal_damage = Some(match node.journal_damage.take() {
                Some(earlier) => format!("{earlier}; {text}"),
                None => text,
            });
        }
        Ok(node)
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &RecorderConfig {
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

    /// How durable journal appends are (see [`crate::journal::Durability`]).
    ///
    /// With [`crate::journal::Durability::PerWindow`] the journal does not hold the
    /// samples of the window being recorded, so a window sealed and spooled by an earlier
    /// boot whose journal rewrite was cut is produced again from the input without being
    /// replayed: the first window this boot seals is looked for among the newest entries
    /// from before the boot (as [`Recorder::spooled_before`] does after a replay), so
    /// that it is neither spooled twice nor owes its health row twice.
    pub fn set_journal_durability(&mut self, durability: crate::journal::Durability) {
        self.journal.set_durability(durability);
        let (below, sealed) = self.boot;
        if durability == crate::journal::Durability::PerWindow && self.reseal.is_none() && !sealed {
            self.reseal = Some(Reseal {
                below,
                through_ms: i64::MAX,
            });
        }
    }

    /// Damage found in the journal when it was opened (beyond a torn last record).
    #[must_use]
    pub fn journal_damage(&self) -> Option<&str> {
        self.journal_damage.as_deref()
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
    /// [`Error::UnsetClock`] for one dated before 2001, [`Error::ImplausibleSample`] for
    /// one dated 2100 or later or with a count out of range (nothing is written); [`Error::Spool`] or [`Error::Parquet`] if the sample or the sealed
    /// window could not be stored (the journal still holds them for the next start).
    pub fn record(&mut self, sample: Sample) -> Result<Option<SealedFile>> {
        check(&sample)?;
        if let Some(previous_ms) = self.last_recorded
            && sample.timestamp_ms <= previous_ms
        {
            return Err(Error::OutOfOrder {
                timestamp_ms: sample.timestamp_ms,
                previous_ms,
            });
        }
        if self.timeline.start.is_none() {
            let mut next = self.timeline.clone();
            next.start = Some(sample.timestamp_ms);
            next.store(self.spool.storage().as_ref(), self.spool.dir())?;
            self.timeline = next;
        }
        self.journal.append(&sample)?;
        self.last_recorded = Some(sample.timestamp_ms);
        match self.windower.push(sample)? {
            Some(window) => self.close(&window).map(Some),
            None => Ok(None),
        }
    }

    /// Seals and spools the open window now (end of input, shutdown).
    ///
    /// # Errors
    /// As [`Recorder::record`].
    pub fn flush(&mut self) -> Result<Option<SealedFile>> {
        match self.take_open_window()? {
            Some(window) => self.close(&window).map(Some),
            None => Ok(None),
        }
    }

    /// Takes the open window to seal it as it stands, after journaling a close record
    /// at its last sample: the window's end is then durable before its file is spooled,
    /// so a boot replaying it seals the same rows again, never more (see
    /// [`crate::journal`] for each cut point).
    fn take_open_window(&mut self) -> Result<Option<Window>> {
        if let Some(window) = self.windower.open_window()
            && let Some(last) = window.last_ms()
        {
            self.journal.close_window(last, &window.samples)?;
        }
        Ok(self.windower.flush())
    }

    /// At replay, a close record at `through`: seals the open window if its samples end
    /// there or before (a flush sealed it as it stood). Returns its last sample's instant.
    fn seal_closed(&mut self, through: i64) -> Result<Option<i64>> {
        let open_last = self.windower.open_window().and_then(Window::last_ms);
        if open_last.is_none_or(|last| last > through) {
            return Ok(None);
        }
        match self.windower.flush() {
            Some(window) => {
                self.seal(&window)?;
                Ok(window.last_ms())
            }
            None => Ok(None),
        }
    }

    /// Seals a window and rewrites the journal to mark it sealed.
    fn close(&mut self, window: &Window) -> Result<SealedFile> {
        let sealed = self.seal(window)?;
        self.restart_journal(window.last_ms().unwrap_or(window.start_ms))?;
        Ok(sealed)
    }

    /// Forgets the recorded timeline after it was found far ahead of the wall clock (a
    /// bad clock wrote it): the open window is sealed and spooled as it is, and the
    /// journal restarts without a high-water mark, so earlier instants are accepted
    /// again. The reset is counted in `timeline.state` with the span the closed timeline
    /// covered: windows of the new one that overlap it get keys of their own (`_r<n>`,
    /// see [`ObjectKey::for_timeline`]), so an object sealed before is never
    /// overwritten with other bytes.
    ///
    /// # Errors
    /// As [`Recorder::flush`].
    pub fn reset_timeline(&mut self) -> Result<Option<SealedFile>> {
        let sealed = match self.take_open_window()? {
            Some(window) => Some(self.seal(&window)?),
            None => None,
        };
        let mut next = self.timeline.clone();
        next.generation = next.generation.saturating_add(1);
        if let Some(last) = self.last_recorded {
            next.close(next.start.unwrap_or(i64::MIN), last);
        }
        next.start = None;
        next.store(self.spool.storage().as_ref(), self.spool.dir())?;
        self.timeline = next;
        self.journal.restart(i64::MIN, &[])?;
        self.last_recorded = None;
        // Windows of the new timeline are live samples, whatever their dates.
        self.reseal = None;
        Ok(sealed)
    }

    /// Spools a health row under `key` (see [`crate::health::health_key_for`]); returns
    /// its id and the files the spool's limit dropped for it.
    ///
    /// # Errors
    /// [`Error::Spool`] or [`Error::Parquet`].
    pub fn spool_health(&mut self, key: &str, row: &HealthRow) -> Result<(u64, Vec<DroppedFile>)> {
        let pushed = self.spool.push(key, &row.encode()?)?;
        // While a window an earlier boot spooled may be sealed again after this row is
        // spooled, the row is named as spooled in the same rewrite of `health.due`, so
        // that a boot after a cut at the journal's rewrite (this one's or a later one's)
        // does not owe it again (see [`crate::health_due`]). Only with per-window
        // durability: with every sample journaled, a replayed window is sealed again
        // while the recorder opens, before any row is spooled, and the journal's
        // rewrite marks it sealed before the open returns.
        let remember = !self.health_due.settled()
            && self.journal.durability() == crate::journal::Durability::PerWindow;
        self.health_due.spooled(
            self.spool.storage().as_ref(),
            self.spool.dir(),
            key,
            remember,
        )?;
        Ok(pushed)
    }

    /// The health rows owed for sealed windows: (key, window end ms), oldest first.
    /// Kept across restarts until [`Recorder::spool_health`].
    pub(crate) fn health_due(&self) -> &[(String, i64)] {
        self.health_due.due()
    }

    /// Forgets the owed rows already in the spool (the power went after the row was
    /// spooled, before `health.due` was rewritten).
    fn forget_spooled_health(&mut self) -> Result<()> {
        let due = &mut self.health_due;
        if due.due().is_empty() {
            return Ok(());
        }
        let mut spooled = std::collections::HashSet::new();
        for id in self.spool.pending()? {
            if let Ok(key) = self.spool.read_key(id) {
                spooled.insert(key);
            }
        }
        // Named as spooled in the same rewrite: with per-window durability (not known
        // yet) its window may be produced again by this boot (see `spool_health`), and
        // the row uploaded before a later boot could find it in the spool. Only after
        // a cut between a row's spooling and this file's rewrite.
        due.retain(
            self.spool.storage().as_ref(),
            self.spool.dir(),
            |k| !spooled.contains(k),
            true,
        )
    }

    fn restart_journal(&mut self, sealed_through: i64) -> Result<()> {
        let open = self
            .windower
            .open_window()
            .map_or(&[][..], |w| &w.samples[..]);
        self.journal.restart(sealed_through, open)?;
        if self.reseal.is_none() && self.boot.1 {
            // A window of this boot's own is marked sealed: so is every window an
            // earlier boot spooled, and none is sealed again. The rows named as spooled
            // for them are left out of `health.due`'s next rewrite (one that happens
            // anyway: a row owed or spooled), never rewritten for this alone.
            self.health_due.forget_spooled();
        }
        Ok(())
    }

    /// The id of a pending entry holding `key` and `bytes` already: `window` was sealed
    /// and spooled before the power went, and the journal's rewrite that marks it sealed
    /// did not land, so this boot replayed it and seals it again. Pushing it twice would
    /// upload it twice (the same bytes: S3 is unharmed, the radio is not).
    ///
    /// Cheap on purpose (a seal must not read every pending file): only a window holding
    /// replayed samples can be sealed again, so once a window of live samples is sealed
    /// the question is closed for this run; and the earlier copy was pushed before this
    /// boot, after the journal's last rewrite. Since then only health rows and copies of
    /// the journal's later windows (when a rewrite failed, not only by a cut) were
    /// pushed, so the earlier copy is among the newest entries from before the boot: at
    /// most `n` data files back, `n` the windows from this one to the last replayed
    /// sample, each with at most its health row beside it. Only their keys (headers) are
    /// read, and a whole entry only when its key matches.
    ///
    /// An entry with the same key and other bytes is not expected: the journal holds
    /// the window's samples and where it ended (the next window's first sample, or the
    /// close record a flush writes before spooling), and the encoding is deterministic.
    /// Should one be found all the same, it is kept and this copy pushed as before, so
    /// no sample is lost. So is a damaged entry (quarantined when its turn comes).
    fn spooled_before(&mut self, window: &Window, key: &str, bytes: &[u8]) -> Result<Option<u64>> {
        let Some(reseal) = self.reseal else {
            return Ok(None);
        };
        let spec = self.config.spec;
        let windows = if reseal.through_ms == i64::MAX {
            // Per-window durability, nothing replayed: the first window sealed only.
            self.reseal = None;
            1
        } else {
            if window
                .first_ms()
                .is_none_or(|first| first > reseal.through_ms)
            {
                self.reseal = None;
                return Ok(None);
            }
            let later = (spec.window_start(reseal.through_ms) - window.start_ms) / spec.window_ms();
            usize::try_from(later)
                .unwrap_or(0)
                .saturating_add(1)
                .min(Reseal::MAX_WINDOWS)
        };
        let tree = data_tree(self.config.prefix.as_ref(), &self.config.station);
        let pending = self.spool.pending()?;
        let before_boot = pending.iter().rev().filter(|&&id| id < reseal.below);
        let mut data_files = 0;
        for &id in before_boot.take(2 * windows + 1) {
            let Ok(spooled) = self.spool.read_key(id) else {
                continue; // damaged or gone: quarantined or uploaded in its turn
            };
            if spooled == key {
                let same = self.spool.read(id).is_ok_and(|e| e.body == bytes);
                return Ok(same.then_some(id));
            }
            if spooled.starts_with(&tree) {
                data_files += 1;
                if data_files == windows {
                    break;
                }
            }
        }
        Ok(None)
    }

    fn seal(&mut self, window: &Window) -> Result<SealedFile> {
        let c = &self.config;
        let key = ObjectKey::for_window(c.prefix.as_ref(), &c.station, window);
        let key = if self.timeline.overlaps(window.start_ms, window.end_ms) {
            key.for_timeline(self.timeline.generation)
        } else {
            key
        };
        let meta = FileMetadata::new(&c.station, c.spec, window);
        let bytes = self.encoder.encode(window, &meta)?;
        self.boot.1 = true;
        let earlier = self.spooled_before(window, key.as_str(), &bytes)?;
        let (id, dropped) = match earlier {
            Some(id) => (id, Vec::new()),
            None => self.spool.push(key.as_str(), &bytes)?,
        };
        if !self.health_due.settled()
            && self.journal.durability() == crate::journal::Durability::PerWindow
        {
            // Rows found spooled at the open (their `health.due` rewrite was cut) are
            // named before the journal's rewrite, which may be cut too.
            self.health_due
                .name_spooled(self.spool.storage().as_ref(), self.spool.dir())?;
        }
        // Owed from now on: the journal is told the window is sealed only after this.
        // Not again for a window sealed again whose row this boot or an earlier one
        // spooled already (from `health.due`; its data file perhaps uploaded since, so
        // not found): a second row under its key would have other counts.
        if self.owe_health {
            let c = &self.config;
            let health = health_key_for(c.prefix.as_ref(), key.as_str());
            if !self.health_due.was_spooled(&health) {
                let end = window.start_ms + c.spec.window_ms();
                self.health_due.add(
                    self.spool.storage().as_ref(),
                    self.spool.dir(),
                    &health,
                    end,
                )?;
            }
        }
        Ok(SealedFile {
            id,
            dropped,
            key,
            rows: window.samples.len(),
            bytes: bytes.len(),
            window_start_ms: window.start_ms,
        })
    }
}

/// The checks every recorded sample passes, live or replayed: its time (2001 to 2099)
/// and its counts (within the sensors' ranges).
fn check(sample: &Sample) -> Result<()> {
    let timestamp_ms = sample.timestamp_ms;
    if timestamp_ms < MIN_SAMPLE_MS {
        return Err(Error::UnsetClock { timestamp_ms });
    }
    if timestamp_ms >= MAX_SAMPLE_MS {
        return Err(Error::ImplausibleSample {
            timestamp_ms,
            reason: "dated 2100 or later",
        });
    }
    match sample.implausible() {
        Some(reason) => Err(Error::ImplausibleSample {
            timestamp_ms,
            reason,
        }),
        None => Ok(()),
    }
}

/// What [`Recorder::spooled_before`] knows at a boot that replayed samples.
#[derive(Debug, Clone, Copy)]
struct Reseal {
    /// The spool's next id at the boot: every entry below it was pushed before.
    below: u64,
    /// The newest replayed sample: a window from after it holds live samples only.
    through_ms: i64,
}

impl Reseal {
    /// Windows looked back at most: one journal spans one window, or a few when its
    /// rewrites failed (full storage); a journal grown further is not worth a search.
    const MAX_WINDOWS: usize = 8;
}

/// Journal records refused at replay, by reason.
#[derive(Debug, Default)]
struct Refused {
    /// Not after the sealed-through marker or the previous record.
    behind: usize,
    /// Dated before 2001 or in 2100 or later.
    time: usize,
    /// A count outside its sensor's range.
    range: usize,
}

impl Refused {
    fn count(&mut self, e: &Error) {
        match e {
            Error::ImplausibleSample {
                reason: "dated 2100 or later",
                ..
            }
            | Error::UnsetClock { .. } => self.time += 1,
            _ => self.range += 1,
        }
    }

    const fn any(&self) -> bool {
        self.behind + self.time + self.range > 0
    }

    fn describe(&self) -> Option<String> {
        self.any().then(|| {
            format!(
                "{} journal record(s) refused at replay and left out: {} not after the sealed-through marker or the previous record, {} dated before 2001 or after 2099, {} with a reading outside its sensor's range",
                self.behind + self.time + self.range,
                self.behind,
                self.time,
                self.range
            )
        })
    }
}

/// The timelines of a spool (`timeline.state`): how many were closed by a reset, the
/// spans they covered, and where the current one began. Written atomically when a
/// timeline begins or is closed, never per sample.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Timeline {
    /// Resets so far: the `_r<n>` of the current timeline's overlapping windows.
    generation: u32,
    /// The current timeline's first instant; `None` before its first sample.
    start: Option<i64>,
    /// (first, last) instant of closed timelines, oldest first, at most
    /// [`Timeline::MAX_CLOSED`] (the oldest are merged into one wider span).
    closed: Vec<(i64, i64)>,
}

impl Timeline {
    const FILE: &'static str = "timeline.state";
    const MAX_CLOSED: usize = 8;

    /// Whether [start, end) overlaps a closed timeline.
    fn overlaps(&self, start: i64, end: i64) -> bool {
        self.closed.iter().any(|&(a, b)| a < end && b >= start)
    }

    fn close(&mut self, first: i64, last: i64) {
        self.closed.push((first, last));
        if self.closed.len() > Self::MAX_CLOSED {
            let (a, b) = self.closed.remove(0);
            self.closed[0] = (a.min(self.closed[0].0), b.max(self.closed[0].1));
        }
    }

    /// Reads the file; a missing one is a spool without a reset. A damaged one (not
    /// expected: it is replaced atomically) is taken as a reset covering all time, so
    /// that no later key can be one sealed before, and says so.
    fn load(fs: &dyn Storage, dir: &Path) -> Result<(Self, Option<String>)> {
        let path = dir.join(Self::FILE);
        let text = match fs.read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Self::default(), None));
            }
            Err(e) => return Err(Error::spool("read", &path, e)),
        };
        match Self::parse(&text) {
            Some(t) => Ok((t, None)),
            None => {
                let damaged = Self {
                    generation: u32::MAX / 2,
                    start: Some(i64::MIN),
                    closed: vec![(i64::MIN, i64::MAX)],
                };
                let why = format!(
                    "{} is damaged; windows get keys ending _r{}",
                    path.display(),
                    damaged.generation
                );
                Ok((damaged, Some(why)))
            }
        }
    }

    /// `generation=N start=MS|- closed=A:B,C:D`.
    fn parse(text: &str) -> Option<Self> {
        let field = |name: &str| {
            text.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        };
        let closed = match field("closed")? {
            "" => Vec::new(),
            list => list
                .split(',')
                .map(|span| {
                    let (a, b) = span.split_once(':')?;
                    Some((a.parse().ok()?, b.parse().ok()?))
                })
                .collect::<Option<Vec<_>>>()?,
        };
        Some(Self {
            generation: field("generation")?.parse().ok()?,
            start: match field("start")? {
                "-" => None,
                t => Some(t.parse().ok()?),
            },
            closed,
        })
    }

    /// Replaces the file atomically (temporary file, rename, directory sync) on the
    /// spool's storage.
    fn store(&self, fs: &dyn Storage, dir: &Path) -> Result<()> {
        let closed: Vec<String> = self
            .closed
            .iter()
            .map(|(a, b)| format!("{a}:{b}"))
            .collect();
        let text = format!(
            "generation={} start={} closed={}\n",
            self.generation,
            self.start.map_or_else(|| "-".to_owned(), |t| t.to_string()),
            closed.join(",")
        );
        let path = dir.join(Self::FILE);
        fs.replace(&path, text.as_bytes())
            .map_err(|e| Error::spool("replace", &path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every spooled entry, oldest first.
    fn spooled(node: &Recorder) -> Vec<crate::spool::SpoolEntry> {
        let spool = node.spool();
        let ids = spool.pending().expect("list");
        ids.into_iter()
            .map(|id| spool.read(id).expect("read"))
            .collect()
    }

    /// The station every test recorder uses.
    fn test_station() -> RecorderConfig {
        RecorderConfig::new(StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e").expect("id"))
    }

    /// Records the samples `range` of `sim`, 5 s apart from `t0`.
    fn record_all(
        node: &mut Recorder,
        sim: &crate::sim::Simulator,
        t0: i64,
        range: impl IntoIterator<Item = i64>,
    ) {
        for i in range {
            node.record(sim.sample_at(t0 + i * 5_000)).expect("record");
        }
    }

    #[test]
    fn a_restarted_node_continues_the_open_window_from_its_journal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = test_station();
        let sim = crate::sim::Simulator::new(5);
        let t0 = 1_767_225_600_000;
        let mut node = Recorder::open(config.clone(), dir.path()).expect("open");
        record_all(&mut node, &sim, t0, 0..100);
        drop(node); // killed: no flush
        let mut node = Recorder::open(config.clone(), dir.path()).expect("reopen");
        assert_eq!(node.replayed(), 100);
        assert_eq!(node.last_recorded(), Some(t0 + 99 * 5_000));
        assert!(matches!(
            node.record(sim.sample_at(t0 + 99 * 5_000)),
            Err(Error::OutOfOrder { .. })
        ));
        record_all(&mut node, &sim, t0, 100..360);
        node.flush().expect("flush");
        let entries = spooled(&node);
        assert_eq!(entries.len(), 2);
        assert!(
            entries[0].key.ends_with("data_0000.parquet")
                && entries[1].key.ends_with("data_0015.parquet")
        );
        // After the final flush the journal only marks what is sealed: a restart adds nothing.
        drop(node);
        let node = Recorder::open(config, dir.path()).expect("reopen");
        assert_eq!(
            (node.replayed(), node.last_recorded()),
            (0, Some(t0 + 359 * 5_000))
        );
        assert_eq!(node.spool().pending().expect("list").len(), 2);
    }

    #[test]
    fn crafted_journal_records_with_valid_crcs_are_refused_at_replay() {
        use crate::journal::Journal;
        use crate::schema::Measurement;
        let dir = tempfile::tempdir().expect("tempdir");
        let config = test_station();
        let sim = crate::sim::Simulator::new(7);
        let t0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
        let mut node = Recorder::open(config.clone(), dir.path()).expect("open");
        record_all(&mut node, &sim, t0, 0..=180);
        let sealed = spooled(&node);
        assert_eq!(sealed.len(), 1, "data_0000 sealed");
        let uploaded = sealed[0].id;
        node.spool_mut().remove(uploaded).expect("uploaded");
        drop(node);
        // Records appended behind the recorder's back, each with a valid CRC.
        let (mut journal, _) = Journal::open(dir.path()).expect("journal");
        let mut overflow = sim.sample_at(t0 + 182 * 5_000);
        overflow.set_count(Measurement::ALL[0], Some(i32::MAX));
        for s in [
            sim.sample_at(t0 + 5_000),        // behind the sealed-through marker
            sim.sample_at(t0 + 10_000),       // behind it too
            sim.sample_at(t0 + 181 * 5_000),  // good
            sim.sample_at(t0 + 181 * 5_000),  // a duplicate
            sim.sample_at(t0 + 1_000),        // out of order
            Sample::new(-1_000),              // 1969
            Sample::new(0),                   // 1970
            Sample::new(946_684_800_000),     // 2000
            Sample::new(253_402_300_000_000), // 9999
            overflow,                         // a count no sensor gives
            sim.sample_at(t0 + 183 * 5_000),  // good
        ] {
            journal.append(&s).expect("append");
        }
        drop(journal);
        let node = Recorder::open(config.clone(), dir.path()).expect("reopen");
        let damage = node.journal_damage().expect("reported").to_owned();
        assert!(
            damage.contains("9 journal record(s) refused")
                && damage.contains("4 not after")
                && damage.contains("4 dated before 2001 or after 2099")
                && damage.contains("1 with a reading outside"),
            "{damage}"
        );
        assert!(
            spooled(&node).is_empty(),
            "the sealed window is never sealed again"
        );
        assert_eq!(node.last_recorded(), Some(t0 + 183 * 5_000));
        assert_eq!(
            node.replayed(),
            12,
            "the open window's sample and the 11 appended"
        );
        drop(node);
        // Reported once: the journal was rewritten without them.
        let node = Recorder::open(config, dir.path()).expect("reopen");
        assert_eq!(node.journal_damage(), None);
        assert_eq!(node.last_recorded(), Some(t0 + 183 * 5_000));
    }

    #[test]
    fn dying_between_spooling_and_the_journal_rewrite_spools_the_window_once() {
        use crate::journal::Journal;
        let sim = crate::sim::Simulator::new(6);
        let t0 = 1_767_225_600_000;
        // The power goes after the window's file was spooled, before the journal was
        // rewritten: the journal holds the window and the sample that sealed it (the
        // boot seals it again while replaying), or only the window (a flush sealed it;
        // the next sample seals it again).
        for sealing_sample_journaled in [true, false] {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut node = Recorder::open(test_station(), dir.path()).expect("open");
            record_all(&mut node, &sim, t0, 0..180);
            let journal = dir.path().join("journal.lkj");
            let before_seal = std::fs::read(&journal).expect("journal");
            node.record(sim.sample_at(t0 + 180 * 5_000)).expect("seals");
            drop(node);
            std::fs::write(&journal, before_seal).expect("as if cut before the rewrite");
            if sealing_sample_journaled {
                let (mut j, _) = Journal::open(dir.path()).expect("journal");
                j.append(&sim.sample_at(t0 + 180 * 5_000)).expect("append");
            }
            let mut node = Recorder::open(test_station(), dir.path()).expect("reopen");
            if !sealing_sample_journaled {
                let again = node
                    .record(sim.sample_at(t0 + 180 * 5_000))
                    .expect("seals again")
                    .expect("sealed");
                assert_eq!(again.id, spooled(&node)[0].id, "the earlier entry");
            }
            let entries = spooled(&node);
            assert_eq!(
                entries.len(),
                1,
                "one copy (journaled sealing sample: {sealing_sample_journaled})"
            );
            assert!(entries[0].key.ends_with("data_0000.parquet"));
            // The journal now marks the window sealed: nothing is replayed twice more.
            drop(node);
            let node = Recorder::open(test_station(), dir.path()).expect("reopen");
            assert_eq!(node.replayed(), 1, "the next window's sample");
            assert_eq!(spooled(&node).len(), 1);
        }
    }

    #[test]
    fn a_window_closed_by_a_flush_is_sealed_at_its_close_record_on_replay() {
        use crate::journal::Journal;
        let dir = tempfile::tempdir().expect("tempdir");
        let sim = crate::sim::Simulator::new(6);
        let t0 = 1_767_225_600_000;
        let mut node = Recorder::open(test_station(), dir.path()).expect("open");
        record_all(&mut node, &sim, t0, 0..100);
        drop(node);
        // The power went after the flush's close record, before its file was spooled.
        let (mut j, _) = Journal::open(dir.path()).expect("journal");
        j.close_window(t0 + 99 * 5_000, &[]).expect("close");
        drop(j);
        let mut node = Recorder::open(test_station(), dir.path()).expect("reopen");
        assert_eq!(node.replayed(), 100);
        let entries = spooled(&node);
        assert_eq!(entries.len(), 1, "sealed at the replay");
        assert!(entries[0].key.ends_with("/data_0000.parquet"));
        // Live samples in the same window: a file of their own.
        node.record(sim.sample_at(t0 + 120 * 5_000))
            .expect("record");
        let sealed = node.flush().expect("flush").expect("sealed");
        assert!(sealed.key.as_str().ends_with("/data_0000_001000.parquet"));
        drop(node);
        let node = Recorder::open(test_station(), dir.path()).expect("reopen");
        assert_eq!((node.replayed(), spooled(&node).len()), (0, 2));
    }

    #[test]
    fn an_earlier_copy_with_other_bytes_is_kept_beside_the_new_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sim = crate::sim::Simulator::new(6);
        let t0 = 1_767_225_600_000;
        let mut node = Recorder::open(test_station(), dir.path()).expect("open");
        record_all(&mut node, &sim, t0, 0..180);
        drop(node);
        let key = format!(
            "station={}/year=2026/month=01/day=01/data_0000.parquet",
            test_station().station
        );
        let mut spool = Spool::open(dir.path()).expect("spool");
        spool.push(&key, b"other bytes").expect("push");
        drop(spool);
        let mut node = Recorder::open(test_station(), dir.path()).expect("reopen");
        node.record(sim.sample_at(t0 + 180 * 5_000)).expect("seals");
        let entries = spooled(&node);
        assert_eq!(entries.len(), 2, "no sample may be lost: both are kept");
        assert_eq!((&entries[0].key, &entries[1].key), (&key, &key));
        assert!(entries[1].body.starts_with(b"PAR1"));
    }

    /// [`StdStorage`] as the recorder's tests probe it: counting the reads of spool
    /// entries (whole or header), and cut (every later journal rewrite fails, as if the
    /// power went) once a spool entry has landed while `armed`.
    type ProbeStorage = crate::storage::hooked::Hooked<Probe>;

    /// The hooks of [`ProbeStorage`].
    #[derive(Debug, Default)]
    struct Probe {
        heads: std::sync::atomic::AtomicUsize,
        reads: std::sync::atomic::AtomicUsize,
        armed: std::sync::atomic::AtomicBool,
        cut: std::sync::atomic::AtomicBool,
    }

    impl Probe {
        fn taken(&self) -> (usize, usize) {
            let take = |c: &std::sync::atomic::AtomicUsize| {
                c.swap(0, std::sync::atomic::Ordering::Relaxed)
            };
            (take(&self.heads), take(&self.reads))
        }
    }

    impl crate::storage::hooked::Hooks for Probe {
        fn reading(&self, path: &Path, head: bool) {
            if path.extension().is_some_and(|x| x == "lks") {
                let counter = if head { &self.heads } else { &self.reads };
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        fn renaming(&self, _from: &Path, to: &Path) -> std::io::Result<()> {
            use std::sync::atomic::Ordering::SeqCst;
            if self.cut.load(SeqCst) && to.file_name().is_some_and(|n| n == "journal.lkj") {
                return Err(std::io::Error::other("the power went"));
            }
            Ok(())
        }
        fn renamed(&self, _from: &Path, to: &Path) {
            use std::sync::atomic::Ordering::SeqCst;
            if self.armed.load(SeqCst) && to.extension().is_some_and(|x| x == "lks") {
                self.cut.store(true, SeqCst);
            }
        }
    }

    /// F1: a virtual-time run (per-window durability) stopped at the end of its input
    /// flushes its open window; the power goes after the file is spooled, before the
    /// journal marks it sealed. The next run, with a longer input, produces the window's
    /// samples again and more in the same window: the key must not be spooled again
    /// with other bytes.
    #[test]
    fn a_per_window_flush_cut_before_the_journal_rewrite_is_not_sealed_again_with_more_rows() {
        use crate::journal::Durability;
        use std::sync::atomic::Ordering::SeqCst;
        let dir = tempfile::tempdir().expect("tempdir");
        let sim = crate::sim::Simulator::new(6);
        let t0 = 1_767_225_600_000;
        let storage = Arc::new(ProbeStorage::default());
        let mut node =
            Recorder::open_with(test_station(), storage.clone(), dir.path()).expect("open");
        node.set_journal_durability(Durability::PerWindow);
        // data_0000 sealed whole, then 20 samples of the next window, flushed.
        record_all(&mut node, &sim, t0, 0..200);
        storage.armed.store(true, SeqCst);
        assert!(node.flush().is_err(), "cut after spooling");
        drop(node);
        assert_eq!(
            spooled(&Recorder::open(test_station(), dir.path()).expect("peek")).len(),
            2
        );
        // The next run resumes after the last recorded sample, with a longer input.
        let mut node = Recorder::open(test_station(), dir.path()).expect("reopen");
        node.set_journal_durability(Durability::PerWindow);
        let from = node
            .last_recorded()
            .map_or(0, |last| (last - t0) / 5_000 + 1);
        record_all(&mut node, &sim, t0, from..250);
        node.flush().expect("flush");
        let mut bodies: std::collections::HashMap<String, Vec<u8>> =
            std::collections::HashMap::new();
        for e in spooled(&node) {
            if let Some(earlier) = bodies.insert(e.key.clone(), e.body.clone()) {
                assert!(
                    earlier == e.body,
                    "{} spooled again with other bytes",
                    e.key
                );
            }
        }
        // No sample is lost: the files hold the 250 samples.
        drop(node);
        let node = Recorder::open(test_station(), dir.path()).expect("reopen");
        assert_eq!(node.last_recorded(), Some(t0 + 249 * 5_000));
    }

    /// A boot of a per-window run (`--simulate`, `--csv`) owing health rows, on
    /// `storage` in `dir`.
    fn per_window_boot(storage: Arc<dyn Storage>, dir: &Path) -> Recorder {
        let mut node = Recorder::open_owing(test_station(), storage, dir, true).expect("open");
        node.set_journal_durability(crate::journal::Durability::PerWindow);
        node
    }

    /// The first boot of the F1 tests below: a per-window run seals the 00:00 window
    /// (at `t0`) with its 181st sample, and the power goes at the journal's rewrite,
    /// once the window's file is spooled (its health row owed).
    fn cut_after_spooling_the_first_window(dir: &Path, sim: &crate::sim::Simulator, t0: i64) {
        let storage = Arc::new(ProbeStorage::default());
        let mut node = per_window_boot(storage.clone(), dir);
        record_all(&mut node, sim, t0, 0..180);
        storage
            .armed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(node.record(sim.sample_at(t0 + 180 * 5_000)).is_err(), "cut");
    }

    /// Spools the one health row `node` owes (`what`: by which boot), as the station
    /// does before anything is recorded.
    fn spool_the_row_owed(node: &mut Recorder, what: &str) {
        let owed: Vec<_> = node.health_due().to_vec();
        assert_eq!(owed.len(), 1, "{what}");
        for (key, end) in owed {
            node.spool_health(&key, &HealthRow::new(end))
                .expect("health");
        }
    }

    /// The spool of `node` holds one data file and one health row.
    fn assert_one_file_one_row(node: &Recorder) {
        let keys: Vec<String> = spooled(node).into_iter().map(|e| e.key).collect();
        assert_eq!(keys.len(), 2, "one data file, one health row: {keys:?}");
    }

    /// F1: a per-window run whose window was spooled, its health row owed, and the
    /// journal's rewrite cut; the next boot spools the owed row, then produces the
    /// window again from its input (nothing replayed). The window is not spooled twice
    /// and its health row is not owed again (a second row would have other counts).
    #[test]
    fn a_per_window_window_produced_again_after_a_cut_neither_spools_nor_owes_twice() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sim = crate::sim::Simulator::new(6);
        let t0 = 1_767_225_600_000;
        cut_after_spooling_the_first_window(dir.path(), &sim, t0);
        let mut node = per_window_boot(StdStorage::shared(), dir.path());
        assert_eq!((node.replayed(), node.last_recorded()), (0, None));
        // The station spools the rows owed before anything is recorded.
        spool_the_row_owed(&mut node, "owed by the first boot");
        record_all(&mut node, &sim, t0, 0..=180);
        assert_one_file_one_row(&node);
        assert!(
            node.health_due().is_empty(),
            "not owed again: {:?}",
            node.health_due()
        );
    }

    /// F1, three boots: a per-window run's window spooled, its health row owed, the
    /// journal's rewrite cut (boot A); the next boot spools the owed row, produces the
    /// window again (its copy found, or uploaded meanwhile and pushed again with the
    /// same bytes) and is cut at the journal's rewrite too (boot B); the third produces
    /// it once more (boot C). The row is owed by boot A only. Before, only boot B's
    /// memory said the row was spooled: boot C owed it again (a second row under its
    /// key, other counts), and so did boot B when the data file had been uploaded.
    #[test]
    fn a_per_window_window_produced_in_three_boots_owes_its_health_row_once() {
        use std::sync::atomic::Ordering::SeqCst;
        let sim = crate::sim::Simulator::new(6);
        let t0 = 1_767_225_600_000;
        for uploaded in [false, true] {
            let dir = tempfile::tempdir().expect("tempdir");
            cut_after_spooling_the_first_window(dir.path(), &sim, t0); // boot A
            // Boot B: the owed row spooled, the window produced again, the cut again.
            let storage = Arc::new(ProbeStorage::default());
            let mut node = per_window_boot(storage.clone(), dir.path());
            spool_the_row_owed(&mut node, "owed by boot A");
            if uploaded {
                let data = node.spool().pending().expect("list")[0];
                node.spool_mut().remove(data).expect("uploaded");
            }
            record_all(&mut node, &sim, t0, 0..180);
            storage.cut.store(true, SeqCst);
            assert!(
                node.record(sim.sample_at(t0 + 180 * 5_000)).is_err(),
                "cut B"
            );
            assert!(node.health_due().is_empty(), "B: {:?}", node.health_due());
            drop(node);
            // Boot C: the window a third time, the journal's rewrite lands.
            let mut node = per_window_boot(StdStorage::shared(), dir.path());
            assert!(node.health_due().is_empty(), "C: {:?}", node.health_due());
            record_all(&mut node, &sim, t0, 0..=180);
            assert!(
                node.health_due().is_empty(),
                "not owed again (uploaded: {uploaded}): {:?}",
                node.health_due()
            );
            assert_one_file_one_row(&node);
            // The journal marks the window sealed: the next rewrite of `health.due` (the
            // next window's row owed) no longer names the spooled row.
            let due = dir.path().join("health.due");
            assert!(
                std::fs::read_to_string(&due)
                    .expect("due")
                    .contains("s health/")
            );
            record_all(&mut node, &sim, t0, 181..=360);
            let text = std::fs::read_to_string(&due).expect("due");
            assert!(
                text.lines().count() == 1 && text.ends_with("/health_0015.parquet\n"),
                "{text}"
            );
        }
    }

    /// A row spooled by a boot cut before `health.due` was rewritten (the row in the
    /// spool, still listed as owed) is named as spooled by the next boot, which finds
    /// it there: the window a later boot produces again (the row and the data file
    /// uploaded meanwhile) does not owe it. Before, it was only dropped from the rows
    /// owed, and owed again by the window's second seal.
    #[test]
    fn a_row_spooled_before_a_cut_at_health_due_is_not_owed_by_the_window_sealed_again() {
        let sim = crate::sim::Simulator::new(6);
        let t0 = 1_767_225_600_000;
        let dir = tempfile::tempdir().expect("tempdir");
        cut_after_spooling_the_first_window(dir.path(), &sim, t0);
        let due = dir.path().join("health.due");
        let owed = std::fs::read(&due).expect("health.due");
        let mut node = Recorder::open_owing(test_station(), StdStorage::shared(), dir.path(), true)
            .expect("reopen");
        spool_the_row_owed(&mut node, "owed by the first boot");
        drop(node);
        std::fs::write(&due, owed).expect("as if cut before health.due's rewrite");
        let mut node = per_window_boot(StdStorage::shared(), dir.path());
        assert!(node.health_due().is_empty(), "the row is in the spool");
        // Both uploaded, and the run stopped before the window was produced again.
        for id in node.spool().pending().expect("list") {
            node.spool_mut().remove(id).expect("uploaded");
        }
        drop(node);
        let mut node = per_window_boot(StdStorage::shared(), dir.path());
        record_all(&mut node, &sim, t0, 0..=180);
        assert!(node.health_due().is_empty(), "{:?}", node.health_due());
        let keys: Vec<String> = spooled(&node).into_iter().map(|e| e.key).collect();
        assert_eq!(keys.len(), 1, "the data file again (same bytes): {keys:?}");
    }

    #[test]
    fn looking_for_an_earlier_copy_reads_a_header_or_two_once_per_boot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sim = crate::sim::Simulator::new(9);
        let t0 = 1_767_225_600_000;
        let storage = Arc::new(ProbeStorage::default());
        let mut node =
            Recorder::open_owing(test_station(), storage.clone(), dir.path(), true).expect("open");
        // A day offline: 20 windows and their health rows wait in the spool.
        let mut t = t0;
        while node.spool().pending().expect("list").len() < 40 {
            if let Some(sealed) = node.record(sim.sample_at(t)).expect("record") {
                let health = health_key_for(None, sealed.key.as_str());
                node.spool_health(&health, &HealthRow::new(t))
                    .expect("health");
            }
            t += 5_000;
        }
        for _ in 0..10 {
            node.record(sim.sample_at(t)).expect("record");
            t += 5_000;
        }
        drop(node); // a reboot in the middle of a window
        let mut node = Recorder::open_owing(test_station(), storage.clone(), dir.path(), true)
            .expect("reopen");
        let _ = storage.taken();
        let mut seals = Vec::new();
        while seals.len() < 2 {
            if node.record(sim.sample_at(t)).expect("record").is_some() {
                seals.push(storage.taken());
            }
            t += 5_000;
        }
        // The window with replayed samples: the newest headers from before the boot
        // (the last window's health row and data file), no whole entry; then nothing.
        assert_eq!(seals, [(2, 0), (0, 0)]);
        assert_eq!(node.spool().pending().expect("list").len(), 42);
    }

    #[test]
    fn a_reset_timeline_seals_the_future_window_and_accepts_earlier_samples() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sim = crate::sim::Simulator::new(8);
        let future = 4_102_444_200_000; // 2099-12-31T23:50:00Z
        let mut node = Recorder::open(test_station(), dir.path()).expect("open");
        for i in 0..10 {
            node.record(sim.sample_at(future + i * 5_000))
                .expect("record");
        }
        let t0 = 1_767_225_600_000;
        assert!(matches!(
            node.record(sim.sample_at(t0)),
            Err(Error::OutOfOrder { .. })
        ));
        let sealed = node
            .reset_timeline()
            .expect("reset")
            .expect("the open window");
        assert_eq!(sealed.rows, 10);
        node.record(sim.sample_at(t0))
            .expect("accepted after the reset");
        drop(node);
        // The reset is durable: a restart does not bring the 2099 high-water mark back.
        let mut node = Recorder::open(test_station(), dir.path()).expect("reopen");
        assert_eq!((node.replayed(), node.last_recorded()), (1, Some(t0)));
        node.record(sim.sample_at(t0 + 5_000)).expect("record");
        assert_eq!(node.spool().pending().expect("list").len(), 1);
    }

    #[test]
    fn only_windows_overlapping_a_closed_timeline_get_keys_of_their_own() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sim = crate::sim::Simulator::new(8);
        let t0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
        let future = 4_102_444_200_000; // 2099-12-31T23:50:00Z
        let mut node = Recorder::open(test_station(), dir.path()).expect("open");
        for t in [t0 + 900_000, future] {
            node.record(sim.sample_at(t)).expect("record");
        }
        node.reset_timeline().expect("reset");
        drop(node);
        let mut node = Recorder::open(test_station(), dir.path()).expect("reopen");
        // Before, inside and after the closed span [00:15, 2099].
        for t in [t0, t0 + 900_000, t0 + 1_800_000] {
            node.record(sim.sample_at(t)).expect("record");
        }
        node.flush().expect("flush");
        let names: Vec<String> = spooled(&node)
            .iter()
            .map(|e| e.key.rsplit('/').next().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(
            names,
            [
                "data_0015.parquet",        // sealed by the first 2099 sample
                "data_2345_235000.parquet", // the 2099 window, sealed at the reset
                "data_0000.parquet",        // before the closed span [00:15, 2099]
                "data_0015_r1.parquet",     // inside it
                "data_0030_r1.parquet",
            ]
        );
        // A damaged state file: every key is one of its own, and it is said.
        std::fs::write(dir.path().join("timeline.state"), "garbage").expect("damage");
        let node = Recorder::open(test_station(), dir.path()).expect("reopen");
        assert!(node.journal_damage().is_some_and(|d| d.contains("damaged")));
    }
}
