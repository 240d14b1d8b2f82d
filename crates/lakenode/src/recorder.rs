//! The recording half of a station: samples in, journaled, windowed, and each sealed
//! window encoded and spooled ([`Recorder`]). No network, no clock: the
//! [`crate::station::Station`] drives it.
//!
//! ```
//! use lakenode::recorder::{Recorder, RecorderConfig};
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

use crate::clock::MIN_SAMPLE_MS;
use crate::encode::{Encoder, FileMetadata, WriterProfile};
use crate::health::HealthRow;
use crate::journal::Journal;
use crate::layout::{ObjectKey, Prefix, StationId};
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
        let spool = Spool::open_with(storage.clone(), dir)?;
        let (journal, replay) = Journal::open_with(storage, dir)?;
        let mut node = Self {
            windower: Windower::new(config.spec),
            encoder: Encoder::new(&config.schema, config.profile)?,
            config,
            spool,
            journal,
            // i64::MIN marks a reset timeline (see `reset_timeline`): nothing recorded.
            last_recorded: replay.sealed_through.filter(|&t| t != i64::MIN),
            replayed: replay.samples.len(),
            journal_damage: replay.damage.clone(),
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
    pub const fn set_journal_durability(&mut self, durability: crate::journal::Durability) {
        self.journal.set_durability(durability);
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
            Some(window) => self.close(&window).map(Some),
            None => Ok(None),
        }
    }

    /// Seals and spools the open window now (end of input, shutdown).
    ///
    /// # Errors
    /// As [`Recorder::record`].
    pub fn flush(&mut self) -> Result<Option<SealedFile>> {
        match self.windower.flush() {
            Some(window) => self.close(&window).map(Some),
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
    /// again. Their keys differ from the sealed ones (another window, or a late start).
    ///
    /// # Errors
    /// As [`Recorder::flush`].
    pub fn reset_timeline(&mut self) -> Result<Option<SealedFile>> {
        let sealed = match self.windower.flush() {
            Some(window) => Some(self.seal(&window)?),
            None => None,
        };
        self.journal.restart(i64::MIN, &[])?;
        self.last_recorded = None;
        Ok(sealed)
    }

    /// Spools a health row under `key` (see [`crate::health::health_key_for`]); returns
    /// its id and the files the spool's limit dropped for it.
    ///
    /// # Errors
    /// [`Error::Spool`] or [`Error::Parquet`].
    pub fn spool_health(&mut self, key: &str, row: &HealthRow) -> Result<(u64, Vec<DroppedFile>)> {
        self.spool.push(key, &row.encode()?)
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
        let (id, dropped) = self.spool.push(key.as_str(), &bytes)?;
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

    #[test]
    fn a_restarted_node_continues_the_open_window_from_its_journal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = test_station();
        let sim = crate::sim::Simulator::new(5);
        let t0 = 1_767_225_600_000;
        let mut node = Recorder::open(config.clone(), dir.path()).expect("open");
        for i in 0..100 {
            node.record(sim.sample_at(t0 + i * 5_000)).expect("record");
        }
        drop(node); // killed: no flush
        let mut node = Recorder::open(config.clone(), dir.path()).expect("reopen");
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
        let node = Recorder::open(config, dir.path()).expect("reopen");
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
        let mut node = Recorder::open(config.clone(), dir.path()).expect("open");
        for i in 0..180 {
            node.record(sim.sample_at(t0 + i * 5_000)).expect("record");
        }
        let journal = dir.path().join("journal.lkj");
        let before_seal = std::fs::read(&journal).expect("journal");
        node.record(sim.sample_at(t0 + 180 * 5_000)).expect("seals");
        drop(node);
        // As if the process died after the spool write but before the journal rewrite.
        std::fs::write(&journal, before_seal).expect("restore");
        let mut node = Recorder::open(config, dir.path()).expect("reopen");
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
}
