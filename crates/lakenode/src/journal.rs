//! The sample journal: every sample is appended to a file in the spool directory, with
//! a CRC, and synced before the node moves on. A power cut or a kill therefore loses at
//! most the sample being taken at that instant; on start the journal is replayed and
//! the interrupted window continues (or is sealed, if its time has passed).
//!
//! When a window is sealed and safely in the spool, the journal is rewritten atomically
//! (temporary file, sync, rename, directory sync) to hold a *sealed-through* marker and
//! the samples of the window still open. If the node dies between spooling a window
//! and rewriting the journal, the replay seals that window again: same samples, same
//! key, same bytes, so S3 ends up with the same single object.
//!
//! A window sealed by a *flush* (a stop, a timeline reset) has no later sample in the
//! journal to mark where it ended: the node back inside the same window would replay
//! its rows into the open window, add live samples to them, and seal them again under
//! the same key with other bytes (over an object perhaps uploaded already). So a flush
//! first appends a *close* record (synced) naming the window's last sample, and only
//! then spools the file and rewrites the journal. Whatever write the power cuts:
//!
//! 1. before the close record lands: nothing was spooled; the window is replayed open
//!    and sealed later with the live samples, once (no object existed);
//! 2. after it, before or during the spooling: the replay seals the window at the close
//!    record with exactly its rows (same key, same bytes as a copy spooled meanwhile,
//!    which [`crate::recorder`] finds instead of spooling a second); live samples in the
//!    same window then start a window of their own, keyed `_HHMMSS[mmm]` by the first
//!    one's instant, as a node that starts inside a window;
//! 3. after the journal's rewrite: its marker says the window is sealed; as 2.
//!
//! Record format (little endian), after an 8-byte file magic:
//!
//! ```text
//! sample:  'S' | timestamp i64 | presence u16 (bit i = measurement i) | i32 per present value | crc32
//! marker:  'M' | sealed-through timestamp i64 | crc32
//! close:   'C' | the flushed window's last timestamp i64 | crc32
//! ```
//!
//! A torn record at the end (the write the power cut interrupted) fails its CRC; the
//! replay stops there and the file is truncated to the last good record.
//!
//! Runs in virtual time (a simulation, a CSV import) can choose
//! [`Durability::PerWindow`]: samples are then only written with the journal rewrite
//! at each sealed window. A crash loses the open window, which such a run simply
//! produces again from its input, and a 1,000-station simulated day needs 96,000
//! syncs instead of 17 million. A flush is the exception: the run produces the
//! window's samples again *and more after them* (a longer run, the next CSV rows), so
//! a window spooled by a flush whose journal rewrite was cut would be sealed again
//! with other rows. The close record is therefore written with the window's samples,
//! in one atomic rewrite of the journal (marker, samples, close record), before the
//! file is spooled: from there on the cut points are those of every-sample durability.
//!
//! ```
//! use lakenode::fuzzing::Journal;
//! use lakenode::sample::Sample;
//! # let dir = tempfile::tempdir()?;
//! let (mut j, replay) = Journal::open(dir.path())?;
//! assert!(replay.samples.is_empty());
//! j.append(&Sample::new(1_000))?;
//! drop(j);
//! let (_, replay) = Journal::open(dir.path())?;
//! assert_eq!(replay.samples, [Sample::new(1_000)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::sample::Sample;
use crate::schema::Measurement;
use crate::storage::{AppendFile, StdStorage, Storage};
use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"LKJRNL1\n";
const FILE_NAME: &str = "journal.lkj";
const TAG_SAMPLE: u8 = b'S';
const TAG_MARKER: u8 = b'M';
const TAG_CLOSE: u8 = b'C';

/// What a journal held when it was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replay {
    /// Samples up to this timestamp are in sealed (spooled or uploaded) files.
    pub sealed_through: Option<i64>,
    /// Samples after the marker, in the order they were taken.
    pub samples: Vec<Sample>,
    /// Close records after the marker, in order: a flush sealed the window holding
    /// samples up to each instant as it stood (see the module doc); the replay seals it
    /// there again, with exactly those rows.
    pub closed: Vec<i64>,
    /// Bytes of a torn or corrupt tail that were cut off.
    pub truncated_bytes: u64,
    /// Damage beyond a torn last record (a bad header), and what was done about it.
    pub damage: Option<String>,
}

impl Replay {
    /// The last instant durably recorded: where a resumed run continues after.
    #[must_use]
    pub fn last_recorded(&self) -> Option<i64> {
        let last = self.samples.last().map(|s| s.timestamp_ms);
        last.max(self.sealed_through)
    }
}

/// When samples reach storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Each sample is written and synced before the node moves on (real time).
    #[default]
    EverySample,
    /// Samples are written with the journal rewrite at each sealed window (virtual
    /// time, where a lost open window is produced again from the input).
    PerWindow,
}

/// An open journal, appending.
#[derive(Debug)]
pub struct Journal {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    /// The journal, open for appending; `None` only while [`Journal::restart`] replaces
    /// it (or if reopening it then failed: the next append says so).
    file: Option<Box<dyn AppendFile>>,
    buf: Vec<u8>,
    durability: Durability,
    /// The sealed-through marker the journal in place holds (what the last
    /// [`Journal::restart`] wrote, or what was replayed).
    marker: Option<i64>,
}

impl Journal {
    /// Opens (creating if needed) the journal in `dir` on [`StdStorage`], returning
    /// what it held.
    ///
    /// # Errors
    /// [`Error::Spool`] on IO failure.
    pub fn open(dir: &Path) -> Result<(Self, Replay)> {
        Self::open_with(StdStorage::shared(), dir)
    }

    /// [`Journal::open`] on the given storage.
    ///
    /// # Errors
    /// [`Error::Spool`] on IO failure.
    pub fn open_with(storage: Arc<dyn Storage>, dir: &Path) -> Result<(Self, Replay)> {
        let fs = &*storage;
        fs.create_dir_all(dir)
            .map_err(|e| Error::spool("create", dir, e))?;
        let path = dir.join(FILE_NAME);
        let replay = match fs.read(&path) {
            Ok(data) if !data.starts_with(MAGIC) => {
                // A damaged header: the records behind it may still be good (a flipped
                // bit). Keep the file aside for inspection either way.
                let aside = dir.join(format!("{FILE_NAME}.corrupt"));
                keep_aside(fs, &aside, &data)?;
                let (mut replay, _, _) = if data.len() > MAGIC.len() {
                    decode(&data)
                } else {
                    (Replay::default(), 0, 0)
                };
                if replay.sealed_through.is_some() || !replay.samples.is_empty() {
                    replay.damage = Some(format!(
                        "the journal's header was damaged; {} sample(s) recovered behind it, {} byte(s) cut (a copy is in {})",
                        replay.samples.len(),
                        replay.truncated_bytes,
                        aside.display()
                    ));
                } else {
                    replay = Replay {
                        truncated_bytes: data.len() as u64,
                        damage: Some(format!(
                            "the journal was not readable and was started anew (a copy is in {})",
                            aside.display()
                        )),
                        ..Replay::default()
                    };
                }
                // Rewritten from what was recovered, not copied: damaged bytes between
                // good records must not survive into the new journal.
                rewrite(fs, dir, &replay)?;
                replay
            }
            Ok(data) => {
                let (mut replay, good_len, skipped) = decode(&data);
                if skipped > 0 {
                    // Damage in the middle: keep a copy, and rewrite the journal from
                    // what was recovered around it.
                    let aside = dir.join(format!("{FILE_NAME}.corrupt"));
                    keep_aside(fs, &aside, &data)?;
                    rewrite(fs, dir, &replay)?;
                    replay.damage = Some(format!(
                        "the journal was damaged: {skipped} byte(s) skipped, {} sample(s) recovered around them (a copy is in {})",
                        replay.samples.len(),
                        aside.display()
                    ));
                } else if good_len < data.len() {
                    // A torn last record (a power cut mid-write): cut it off, by
                    // rewriting the good records (atomic, where a truncation is not).
                    write_atomically(fs, dir, &data[..good_len])?;
                }
                replay
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                write_atomically(fs, dir, MAGIC)?;
                Replay::default()
            }
            Err(e) => return Err(Error::spool("read", &path, e)),
        };
        let file = open_append(fs, &path)?;
        Ok((
            Self {
                storage,
                dir: dir.to_path_buf(),
                file: Some(file),
                buf: Vec::with_capacity(64),
                durability: Durability::EverySample,
                marker: replay.sealed_through,
            },
            replay,
        ))
    }

    /// How durable appends are from now on (the default is [`Durability::EverySample`]).
    pub const fn set_durability(&mut self, durability: Durability) {
        self.durability = durability;
    }

    /// How durable appends are.
    #[must_use]
    pub const fn durability(&self) -> Durability {
        self.durability
    }

    /// Appends a sample: written and synced to storage, or with
    /// [`Durability::PerWindow`] kept in memory until the next [`Journal::restart`].
    ///
    /// # Errors
    /// [`Error::Spool`] if it could not be written durably.
    pub fn append(&mut self, sample: &Sample) -> Result<()> {
        if self.durability == Durability::PerWindow {
            // `restart` rewrites the journal with the open window's samples, so nothing
            // needs to be kept here: a crash loses at most the open window.
            return Ok(());
        }
        self.buf.clear();
        encode_sample(&mut self.buf, sample);
        self.append_buf()
    }

    /// Appends a close record (written and synced): the open window, whose last sample
    /// is at `through_ms` and whose samples are `open`, is being sealed as it stands by
    /// a flush. Written before the window's file is spooled (see the module doc). With
    /// [`Durability::PerWindow`], whose journal does not hold the window's samples, the
    /// journal is rewritten atomically with its marker, `open` and the close record.
    ///
    /// # Errors
    /// [`Error::Spool`] if it could not be written durably.
    pub fn close_window(&mut self, through_ms: i64, open: &[Sample]) -> Result<()> {
        if self.durability == Durability::PerWindow {
            let mut data = Vec::with_capacity(MAGIC.len() + 26 + open.len() * 48);
            data.extend_from_slice(MAGIC);
            if let Some(t) = self.marker {
                encode_marker(&mut data, t);
            }
            for s in open {
                encode_sample(&mut data, s);
            }
            encode_tagged(&mut data, TAG_CLOSE, through_ms);
            return self.replace_with(&data);
        }
        self.buf.clear();
        encode_tagged(&mut self.buf, TAG_CLOSE, through_ms);
        self.append_buf()
    }

    fn append_buf(&mut self) -> Result<()> {
        let path = self.dir.join(FILE_NAME);
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(open_append(&*self.storage, &path)?),
        };
        file.append(&self.buf)
            .map_err(|e| Error::spool("append", &path, e))?;
        file.sync().map_err(|e| Error::spool("sync", &path, e))
    }

    /// Replaces the journal, atomically, with a sealed-through marker and the samples of
    /// the window still open.
    ///
    /// # Errors
    /// [`Error::Spool`] on IO failure (the old journal then stays in place).
    pub fn restart(&mut self, sealed_through: i64, open: &[Sample]) -> Result<()> {
        let mut data = Vec::with_capacity(MAGIC.len() + 13 + open.len() * 48);
        data.extend_from_slice(MAGIC);
        encode_marker(&mut data, sealed_through);
        for s in open {
            encode_sample(&mut data, s);
        }
        self.replace_with(&data)?;
        self.marker = Some(sealed_through);
        Ok(())
    }

    /// Replaces the journal atomically with `data`.
    fn replace_with(&mut self, data: &[u8]) -> Result<()> {
        // esp_littlefs refuses to rename over an open file (EBUSY): close the journal
        // first, and reopen whichever journal is in place afterwards.
        self.file = None;
        let written = write_atomically(&*self.storage, &self.dir, data);
        let path = self.dir.join(FILE_NAME);
        self.file = Some(open_append(&*self.storage, &path)?);
        written
    }
}

/// Replaces the journal with exactly what `replay` holds: its marker and samples.
fn rewrite(fs: &dyn Storage, dir: &Path, replay: &Replay) -> Result<()> {
    let mut fresh = MAGIC.to_vec();
    if let Some(t) = replay.sealed_through {
        encode_marker(&mut fresh, t);
    }
    let mut closed = replay.closed.iter().peekable();
    for s in &replay.samples {
        while let Some(&&c) = closed.peek()
            && c < s.timestamp_ms
        {
            encode_tagged(&mut fresh, TAG_CLOSE, c);
            closed.next();
        }
        encode_sample(&mut fresh, s);
    }
    for &c in closed {
        encode_tagged(&mut fresh, TAG_CLOSE, c);
    }
    write_atomically(fs, dir, &fresh)
}

fn open_append(fs: &dyn Storage, path: &Path) -> Result<Box<dyn AppendFile>> {
    fs.open_append(path)
        .map_err(|e| Error::spool("open", path, e))
}

/// Keeps a damaged journal's bytes aside for inspection. Written from the bytes already
/// read: std's `fs::copy` always fails on ESP-IDF (it opens the destination with no
/// access mode).
fn keep_aside(fs: &dyn Storage, aside: &Path, data: &[u8]) -> Result<()> {
    fs.write(aside, data)
        .map_err(|e| Error::spool("write", aside, e))
}

/// Replaces the journal with `data` ([`Storage::replace`]). The caller has closed the
/// journal: esp_littlefs refuses to rename when the source or the destination is open
/// (EBUSY).
fn write_atomically(fs: &dyn Storage, dir: &Path, data: &[u8]) -> Result<()> {
    let path = dir.join(FILE_NAME);
    fs.replace(&path, data)
        .map_err(|e| Error::spool("replace", &path, e))
}

fn encode_marker(out: &mut Vec<u8>, sealed_through: i64) {
    encode_tagged(out, TAG_MARKER, sealed_through);
}

/// A marker or a close record: the tag, an instant, the CRC.
fn encode_tagged(out: &mut Vec<u8>, tag: u8, at: i64) {
    let start = out.len();
    out.push(tag);
    out.extend_from_slice(&at.to_le_bytes());
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

fn encode_sample(out: &mut Vec<u8>, s: &Sample) {
    let start = out.len();
    out.push(TAG_SAMPLE);
    out.extend_from_slice(&s.timestamp_ms.to_le_bytes());
    let mut presence = 0u16;
    for m in Measurement::ALL {
        if s.count(m).is_some() {
            presence |= 1 << m.index();
        }
    }
    out.extend_from_slice(&presence.to_le_bytes());
    for m in Measurement::ALL {
        if let Some(c) = s.count(m) {
            out.extend_from_slice(&c.to_le_bytes());
        }
    }
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Decodes the records after the magic. A damaged record followed by good ones (a
/// flipped bit in the middle) is skipped: decoding resumes at the next offset where a
/// whole record passes its CRC, and samples that would go back in time are dropped.
/// Damage with no good record after it is a torn tail. Returns what was read, the end of
/// the last good record, and the damaged bytes skipped in the middle.
fn decode(data: &[u8]) -> (Replay, usize, usize) {
    let mut replay = Replay::default();
    let mut pos = MAGIC.len();
    let mut end = pos;
    let mut skipped = 0;
    while pos < data.len() {
        match decode_record(&data[pos..]) {
            Some((Record::Sample(s), used)) => {
                // Every record, in file order: the recorder checks them as it checks
                // live samples and reports what it refuses (out of order, duplicate).
                replay.samples.push(s);
                pos += used;
                end = pos;
            }
            Some((Record::Marker(t), used)) => {
                replay.sealed_through = Some(t);
                replay.samples.clear();
                replay.closed.clear();
                pos += used;
                end = pos;
            }
            Some((Record::Close(t), used)) => {
                replay.closed.push(t);
                pos += used;
                end = pos;
            }
            None => match (pos + 1..data.len()).find(|&p| decode_record(&data[p..]).is_some()) {
                Some(next) => {
                    skipped += next - pos;
                    pos = next;
                }
                None => break,
            },
        }
    }
    replay.truncated_bytes = data.len().saturating_sub(end) as u64;
    (replay, end, skipped)
}

enum Record {
    Sample(Sample),
    Marker(i64),
    Close(i64),
}

fn decode_record(d: &[u8]) -> Option<(Record, usize)> {
    let i64_at = |at: usize| {
        d.get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(i64::from_le_bytes)
    };
    let crc_ok = |len: usize| {
        let stored = d
            .get(len..len + 4)?
            .try_into()
            .ok()
            .map(u32::from_le_bytes)?;
        (crc32fast::hash(&d[..len]) == stored).then_some(len + 4)
    };
    match *d.first()? {
        TAG_MARKER => {
            let t = i64_at(1)?;
            Some((Record::Marker(t), crc_ok(9)?))
        }
        TAG_CLOSE => {
            let t = i64_at(1)?;
            Some((Record::Close(t), crc_ok(9)?))
        }
        TAG_SAMPLE => {
            let t = i64_at(1)?;
            let presence = u16::from_le_bytes(d.get(9..11)?.try_into().ok()?);
            if presence >> Measurement::COUNT != 0 {
                return None;
            }
            let mut sample = Sample::new(t);
            let mut at = 11;
            for m in Measurement::ALL {
                if presence & (1 << m.index()) != 0 {
                    let c = i32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?);
                    sample.set_count(m, Some(c));
                    at += 4;
                }
            }
            Some((Record::Sample(sample), crc_ok(at)?))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn sample(t: i64) -> Sample {
        let mut s = Sample::new(t);
        s.set_count(Measurement::Temperature, Some(2137 + t as i32));
        s.set_count(Measurement::Co2, Some(-1));
        s
    }

    #[test]
    fn samples_and_markers_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = Journal::open(dir.path()).expect("open");
        for t in 1..=3 {
            j.append(&sample(t)).expect("append");
        }
        j.restart(2, &[sample(3)]).expect("restart");
        j.append(&sample(4)).expect("append");
        drop(j);
        let (_, r) = Journal::open(dir.path()).expect("reopen");
        assert_eq!(r.sealed_through, Some(2));
        assert_eq!(r.samples, [sample(3), sample(4)]);
        assert_eq!(r.last_recorded(), Some(4));
        assert_eq!(r.truncated_bytes, 0);
    }

    #[test]
    fn a_torn_tail_loses_only_the_last_sample_and_is_cut_off() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = Journal::open(dir.path()).expect("open");
        for t in 1..=5 {
            j.append(&sample(t)).expect("append");
        }
        drop(j);
        let path = dir.path().join(FILE_NAME);
        let full = fs::read(&path).expect("read");
        let record = (full.len() - MAGIC.len()) / 5;
        // Every possible torn length of the last record.
        for cut in 1..record {
            fs::write(&path, &full[..full.len() - cut]).expect("write");
            let (mut j, r) = Journal::open(dir.path()).expect("open");
            assert_eq!(r.samples.len(), 4, "cut {cut}");
            assert_eq!(r.truncated_bytes as usize, record - cut);
            // Appending after the cut works and replays.
            j.append(&sample(9)).expect("append");
            drop(j);
            let (_, r) = Journal::open(dir.path()).expect("reopen");
            assert_eq!(r.samples.last(), Some(&sample(9)), "cut {cut}");
        }
    }

    #[test]
    fn a_flipped_bit_in_the_middle_loses_only_that_record_and_says_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = Journal::open(dir.path()).expect("open");
        for t in 1..=40 {
            j.append(&sample(t)).expect("append");
        }
        drop(j);
        let path = dir.path().join(FILE_NAME);
        let good = fs::read(&path).expect("read");
        let record = (good.len() - MAGIC.len()) / 40;
        // Every byte of every record but the last: only the damaged sample is lost.
        for at in MAGIC.len()..good.len() - record {
            let mut data = good.clone();
            data[at] ^= 1;
            fs::write(&path, &data).expect("write");
            let (_, r) = Journal::open(dir.path()).expect("open");
            let lost = (at - MAGIC.len()) / record + 1;
            let want: Vec<Sample> = (1..=40).filter(|&t| t != lost as i64).map(sample).collect();
            assert_eq!(r.samples, want, "flip at byte {at}");
            assert!(
                r.damage
                    .is_some_and(|d| d.contains("39 sample(s) recovered")),
                "byte {at}"
            );
            assert!(dir.path().join("journal.lkj.corrupt").exists());
            // Rewritten clean: a second open finds no damage.
            let (_, again) = Journal::open(dir.path()).expect("reopen");
            assert_eq!((again.samples.len(), again.damage), (39, None));
        }
    }

    #[test]
    fn close_records_replay_in_order_survive_a_repair_and_go_with_the_marker() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = Journal::open(dir.path()).expect("open");
        j.restart(1, &[]).expect("restart");
        j.append(&sample(2)).expect("append");
        j.close_window(2, &[]).expect("close");
        // The rewrite after the flush failed: later samples follow, another flush.
        j.append(&sample(3)).expect("append");
        j.close_window(3, &[]).expect("close");
        j.append(&sample(4)).expect("append");
        drop(j);
        let (_, r) = Journal::open(dir.path()).expect("reopen");
        assert_eq!((r.samples.len(), &r.closed[..]), (3, &[2, 3][..]));
        // A damaged header: rewritten from what was recovered, close records included.
        let path = dir.path().join(FILE_NAME);
        let mut data = fs::read(&path).expect("read");
        data[0] = b'X';
        fs::write(&path, &data).expect("write");
        let (_, r) = Journal::open(dir.path()).expect("repair");
        assert_eq!(&r.closed[..], [2, 3]);
        let (mut j, r) = Journal::open(dir.path()).expect("reopen");
        assert_eq!(
            (r.damage, r.samples.len(), &r.closed[..]),
            (None, 3, &[2, 3][..])
        );
        // The journal's rewrite marks them sealed: gone with the samples.
        j.restart(4, &[]).expect("restart");
        drop(j);
        let (_, r) = Journal::open(dir.path()).expect("reopen");
        assert!(r.closed.is_empty() && r.samples.is_empty());
        // Per-window durability journals no samples: the close record is written with
        // the window's samples, behind the marker, in one rewrite.
        let (mut j, _) = Journal::open(dir.path()).expect("reopen");
        j.set_durability(Durability::PerWindow);
        j.append(&sample(8)).expect("kept in memory");
        j.close_window(9, &[sample(8), sample(9)]).expect("close");
        drop(j);
        let (_, r) = Journal::open(dir.path()).expect("reopen");
        assert_eq!(
            (r.sealed_through, r.samples.len(), &r.closed[..]),
            (Some(4), 2, &[9][..])
        );
    }

    #[test]
    fn a_damaged_header_keeps_the_records_behind_it_and_says_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = Journal::open(dir.path()).expect("open");
        j.restart(5, &[sample(6)]).expect("restart");
        j.append(&sample(7)).expect("append");
        drop(j);
        let path = dir.path().join(FILE_NAME);
        let mut data = fs::read(&path).expect("read");
        data[0] = b'X';
        fs::write(&path, &data).expect("write");
        let (_, r) = Journal::open(dir.path()).expect("open");
        assert_eq!((r.sealed_through, r.samples.len()), (Some(5), 2));
        assert!(
            r.damage
                .is_some_and(|d| d.contains("2 sample(s) recovered"))
        );
        // Repaired for good: the next open is clean.
        let (_, r) = Journal::open(dir.path()).expect("reopen");
        assert_eq!((r.samples.len(), r.damage), (2, None));
    }

    /// Found by the `journal` fuzz target: a damaged header followed by damaged bytes
    /// and then a good record. The repair copied the damaged bytes into the new
    /// journal, so every later open reported damage again.
    #[test]
    fn a_damaged_header_and_damage_behind_it_are_repaired_in_one_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut data = b"LKJPNL1\n\x00\x4d\xf8".to_vec();
        encode_sample(&mut data, &sample(7));
        fs::write(dir.path().join(FILE_NAME), &data).expect("write");
        let (_, first) = Journal::open(dir.path()).expect("open");
        assert_eq!(first.samples, [sample(7)]);
        assert!(first.damage.is_some());
        let (_, second) = Journal::open(dir.path()).expect("reopen");
        assert_eq!(second.samples, [sample(7)]);
        assert_eq!((second.truncated_bytes, second.damage), (0, None));
    }

    #[test]
    fn per_window_durability_writes_samples_only_with_the_seal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = Journal::open(dir.path()).expect("open");
        j.set_durability(Durability::PerWindow);
        j.append(&sample(1)).expect("append");
        j.append(&sample(2)).expect("append");
        let size = || {
            fs::metadata(dir.path().join(FILE_NAME))
                .expect("meta")
                .len()
        };
        assert_eq!(
            size(),
            MAGIC.len() as u64,
            "nothing written before the seal"
        );
        j.restart(2, &[sample(3)]).expect("restart");
        drop(j);
        let (_, r) = Journal::open(dir.path()).expect("reopen");
        assert_eq!((r.sealed_through, r.samples), (Some(2), vec![sample(3)]));
    }

    #[test]
    fn garbage_is_not_a_journal() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join(FILE_NAME), b"\x00\x01garbage").expect("write");
        let (mut j, r) = Journal::open(dir.path()).expect("open");
        assert_eq!((r.truncated_bytes, r.samples.len()), (9, 0));
        assert!(r.damage.is_some_and(|d| d.contains("started anew")));
        assert!(
            dir.path().join("journal.lkj.corrupt").exists(),
            "kept aside"
        );
        j.append(&sample(1)).expect("append");
        drop(j);
        let (_, r) = Journal::open(dir.path()).expect("reopen");
        assert_eq!(r.samples, [sample(1)]);
    }
}
