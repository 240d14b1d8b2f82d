//! A durable queue of sealed files on a directory, so that nothing is lost between
//! sealing a window and S3 confirming it.
//!
//! Each entry is one file, `<seq>.lks`, holding the object key, the Parquet bytes and
//! an MD5 of everything before it. It is written to a temporary file, synced, renamed
//! into place and the directory synced ([`Storage::replace`]): after a power cut an entry is either complete
//! or absent. An entry is removed only once S3 confirmed the upload. Entries that fail
//! their check are moved to `quarantine/` with a `.reason` file, never deleted.
//!
//! A size limit can be set ([`Spool::set_limit`], at least [`MIN_LIMIT`]). When a new
//! file would exceed it, the **oldest** files are dropped to make room: after a long
//! outage the most recent data is what an operator needs first, and the node never stops
//! recording. Every dropped file is listed in `dropped.log` (key and size), returned by
//! [`Spool::push`] so the caller can warn, and counted in [`SpoolStats`].
//!
//! Sequence numbers never repeat within a spool directory, even after it was emptied:
//! the next one is above every pending *and* quarantined entry, and a quarantined file
//! never replaces another.
//!
//! One process per spool: [`SpoolLock`] takes an advisory lock on `lock` in the
//! directory (on Linux and macOS); a second process is refused at once. Where the
//! platform has no file locks (ESP-IDF's VFS) the single firmware task owns the spool.
//!
//! All of it goes through [`crate::storage`]: `std::fs` on a PC and on the device
//! (esp_littlefs in ESP-IDF's VFS), LittleFS under the device's rules in the tests.
//!
//! ```
//! use lakenode::fuzzing::Spool;
//! use lakenode::layout::ObjectKey;
//! # let dir = tempfile::tempdir()?;
//! let mut spool = Spool::open(dir.path())?;
//! let (id, dropped) = spool.push("station=a/data_0000.parquet", b"PAR1...")?;
//! assert!(dropped.is_empty()); // no size limit set
//! let entry = spool.read(id)?;
//! assert_eq!(entry.key, "station=a/data_0000.parquet");
//! spool.remove(id)?;
//! assert!(spool.pending()?.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use md5::{Digest as _, Md5};

use crate::storage::{StdStorage, Storage};
use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"LKSPOOL1";
const EXTENSION: &str = "lks";
const TMP_EXTENSION: &str = "tmp";
const QUARANTINE: &str = "quarantine";
const DROPPED_LOG: &str = "dropped.log";
const LOCK_FILE: &str = "lock";
/// Smallest spool limit accepted: room for several windows of any profile.
pub const MIN_LIMIT: u64 = 64 * 1024;
/// Longest key stored (S3's limit).
const MAX_KEY: usize = 1024;

/// A spooled file: its object key and exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolEntry {
    /// Sequence number; lower is older.
    pub id: u64,
    /// The object key fixed when the window was sealed.
    pub key: String,
    /// The Parquet file.
    pub body: Vec<u8>,
}

/// Counters of a spool, for status and health output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Files waiting for upload.
    pub pending_files: usize,
    /// Their size on storage, bytes.
    pub pending_bytes: u64,
    /// Files dropped to respect the size limit, since the spool was created.
    pub dropped_files: u64,
    /// Their size, bytes.
    pub dropped_bytes: u64,
}

/// What a spool holds, from [`Spool::survey`] (read-only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpoolSurvey {
    /// Files waiting for upload.
    pub pending_files: usize,
    /// Their size on storage, bytes.
    pub pending_bytes: u64,
    /// Files in `quarantine/`.
    pub quarantined_files: usize,
    /// Files `dropped.log` lists (dropped by the size limit since the spool was created).
    pub dropped_files: u64,
    /// The object key of the oldest waiting file.
    pub oldest_key: Option<String>,
}

/// A file the size limit pushed out of the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedFile {
    /// Its object key.
    pub key: String,
    /// Its size on storage, bytes.
    pub bytes: u64,
}

/// Holds the spool directory's advisory lock for as long as it lives.
#[derive(Debug)]
pub struct SpoolLock {
    _guard: Box<dyn Debug + Send + Sync>,
}

impl SpoolLock {
    /// Takes the lock of `dir` (created if needed) on [`StdStorage`] without waiting,
    /// and writes our process id into the lock file for the message a second process
    /// gets.
    ///
    /// # Errors
    /// [`Error::SpoolBusy`] if another process holds it; [`Error::Spool`] on IO failure.
    pub fn acquire(dir: &Path) -> Result<Self> {
        Self::acquire_with(&StdStorage, dir)
    }

    /// [`SpoolLock::acquire`] on the given storage.
    ///
    /// # Errors
    /// As [`SpoolLock::acquire`].
    pub fn acquire_with(storage: &dyn Storage, dir: &Path) -> Result<Self> {
        storage
            .create_dir_all(dir)
            .map_err(|e| Error::spool("create", dir, e))?;
        let path = dir.join(LOCK_FILE);
        match storage.lock(&path, &format!("pid {}", std::process::id())) {
            Ok(guard) => Ok(Self { _guard: guard }),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let holder = storage.read(&path).unwrap_or_default();
                Err(Error::SpoolBusy {
                    dir: dir.to_path_buf(),
                    holder: String::from_utf8_lossy(&holder).trim().to_owned(),
                })
            }
            Err(e) => Err(Error::spool("lock", &path, e)),
        }
    }
}

/// The spool directory.
#[derive(Debug)]
pub struct Spool {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    next_id: u64,
    limit: Option<u64>,
    block: u64,
    pinned: Option<u64>,
    pending_bytes: u64,
    dropped_files: u64,
    dropped_bytes: u64,
}

impl Spool {
    /// Bytes of the pending entries (as charged against the limit), kept up to date
    /// without listing the directory.
    pub(crate) const fn pending_bytes(&self) -> u64 {
        self.pending_bytes
    }

    /// The id the next [`Spool::push`] takes: every entry below it was pushed before.
    pub(crate) const fn next_id(&self) -> u64 {
        self.next_id
    }

    /// The storage the spool lives on (the recorder keeps its other state there too).
    pub(crate) fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// Opens (creating if needed) a spool directory on [`StdStorage`] and removes
    /// temporary files left by an interrupted write (their windows were never reported
    /// as spooled).
    ///
    /// # Errors
    /// [`Error::Spool`] if the directory cannot be created or listed.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(StdStorage::shared(), dir)
    }

    /// [`Spool::open`] on the given storage.
    ///
    /// # Errors
    /// As [`Spool::open`].
    pub fn open_with(storage: Arc<dyn Storage>, dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        storage
            .create_dir_all(&dir)
            .map_err(|e| Error::spool("create", &dir, e))?;
        let mut spool = Self {
            storage,
            dir,
            next_id: 0,
            limit: None,
            block: 1,
            pinned: None,
            pending_bytes: 0,
            dropped_files: 0,
            dropped_bytes: 0,
        };
        for path in spool.files_with(TMP_EXTENSION)? {
            spool
                .storage
                .remove(&path)
                .map_err(|e| Error::spool("remove", &path, e))?;
        }
        let pending = spool.pending()?;
        let quarantined = spool.quarantined_ids();
        spool.next_id = pending
            .last()
            .copied()
            .max(quarantined.iter().max().copied())
            .map_or(1, |last| last + 1);
        for id in pending {
            spool.pending_bytes += spool.entry_size(id);
        }
        (spool.dropped_files, spool.dropped_bytes) = spool.dropped_log();
        Ok(spool)
    }

    /// Files and bytes `dropped.log` lists.
    fn dropped_log(&self) -> (u64, u64) {
        let Ok(text) = self.storage.read(&self.dir.join(DROPPED_LOG)) else {
            return (0, 0);
        };
        String::from_utf8_lossy(&text)
            .lines()
            .fold((0, 0), |(n, bytes), line| {
                let size = line.rsplit(' ').nth(1).and_then(|b| b.parse::<u64>().ok());
                (n + 1, bytes + size.unwrap_or(0))
            })
    }

    /// What the spool in `dir` holds, read without writing anything or taking its lock,
    /// so that `lakenode status` can look at the spool of a running node. An entry the
    /// node uploads (and removes) meanwhile is simply not counted; the oldest entry
    /// whose key can be read is the oldest waiting.
    ///
    /// # Errors
    /// [`Error::Spool`] if `dir` cannot be listed.
    pub fn survey(storage: Arc<dyn Storage>, dir: &Path) -> Result<SpoolSurvey> {
        let spool = Self {
            storage,
            dir: dir.to_path_buf(),
            next_id: 0,
            limit: None,
            block: 1,
            pinned: None,
            pending_bytes: 0,
            dropped_files: 0,
            dropped_bytes: 0,
        };
        let pending = spool.pending()?;
        let sizes = pending
            .iter()
            .filter_map(|id| spool.storage.size(&spool.entry_path(*id)).ok());
        Ok(SpoolSurvey {
            pending_files: pending.len(),
            pending_bytes: sizes.sum(),
            quarantined_files: spool.quarantined(),
            dropped_files: spool.dropped_log().0,
            oldest_key: pending.iter().find_map(|id| spool.read_key(*id).ok()),
        })
    }

    /// Limits the bytes the spool may hold (`None`: no limit); see the module docs for
    /// what happens when it is full.
    ///
    /// # Errors
    /// [`Error::Config`] (field `spool_limit`) for a limit under [`MIN_LIMIT`].
    pub fn set_limit(&mut self, limit: Option<u64>) -> Result<()> {
        if let Some(l) = limit
            && l < MIN_LIMIT
        {
            return Err(Error::config(
                "spool_limit",
                format!("{l} bytes is too small; give at least {MIN_LIMIT} (64K, a few windows)"),
            ));
        }
        self.limit = limit;
        Ok(())
    }

    /// The size limit, if one is set.
    #[must_use]
    pub const fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Counts every file as whole allocation blocks of `bytes` (LittleFS: 4096), so the
    /// limit holds for what the filesystem really uses, not only for the bytes written.
    ///
    /// # Errors
    /// If the spool cannot be listed.
    pub fn set_block_size(&mut self, bytes: u64) -> Result<()> {
        self.block = bytes.max(1);
        self.pending_bytes = 0;
        for id in self.pending()? {
            self.pending_bytes += self.entry_size(id);
        }
        Ok(())
    }

    /// Keeps entry `id` (the one being uploaded) out of the limit's drops; `None`
    /// releases it. A file S3 may already hold is never reported as dropped.
    pub fn pin(&mut self, id: Option<u64>) {
        self.pinned = id;
    }

    /// What a file of `len` bytes takes on storage.
    fn charged(&self, len: u64) -> u64 {
        len.div_ceil(self.block) * self.block
    }

    /// Files in `quarantine/` (set aside by this or an earlier run).
    #[must_use]
    pub fn quarantined(&self) -> usize {
        self.storage
            .list(&self.dir.join(QUARANTINE))
            .map_or(0, |d| {
                d.iter()
                    .filter(|e| !e.is_dir && has_extension(&e.name, EXTENSION))
                    .count()
            })
    }

    /// Sequence numbers of quarantined entries (any name starting with digits).
    fn quarantined_ids(&self) -> Vec<u64> {
        let Ok(listing) = self.storage.list(&self.dir.join(QUARANTINE)) else {
            return Vec::new();
        };
        listing
            .iter()
            .filter_map(|e| {
                let digits: String = e.name.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .collect()
    }

    /// Current counters.
    #[must_use]
    pub fn stats(&self) -> SpoolStats {
        SpoolStats {
            pending_files: self.pending().map_or(0, |p| p.len()),
            pending_bytes: self.pending_bytes,
            dropped_files: self.dropped_files,
            dropped_bytes: self.dropped_bytes,
        }
    }

    fn entry_size(&self, id: u64) -> u64 {
        self.storage
            .size(&self.entry_path(id))
            .map_or(0, |len| self.charged(len))
    }

    /// Drops the oldest entries until `incoming` more bytes fit under the limit (the
    /// incoming file itself is always kept).
    fn make_room(&mut self, incoming: u64) -> Result<Vec<DroppedFile>> {
        let mut dropped = Vec::new();
        let Some(limit) = self.limit else {
            return Ok(dropped);
        };
        if self.pending_bytes + incoming <= limit {
            return Ok(dropped);
        }
        for id in self.pending()? {
            if self.pending_bytes + incoming <= limit {
                break;
            }
            if self.pinned == Some(id) {
                continue;
            }
            let size = self.entry_size(id);
            let key = self
                .read(id)
                .map_or_else(|_| format!("<unreadable entry {id}>"), |e| e.key);
            let log = self.dir.join(DROPPED_LOG);
            let mut f = self
                .storage
                .open_append(&log)
                .map_err(|e| Error::spool("open", &log, e))?;
            f.append(format!("{key} {size} bytes\n").as_bytes())
                .map_err(|e| Error::spool("write", &log, e))?;
            f.sync().map_err(|e| Error::spool("sync", &log, e))?;
            self.remove(id)?;
            self.dropped_files += 1;
            self.dropped_bytes += size;
            dropped.push(DroppedFile { key, bytes: size });
        }
        Ok(dropped)
    }

    /// The spool directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where entries that failed their check are set aside.
    #[must_use]
    pub fn quarantine_dir(&self) -> PathBuf {
        self.dir.join(QUARANTINE)
    }

    fn entry_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:016}.{EXTENSION}"))
    }

    fn files_with(&self, extension: &str) -> Result<Vec<PathBuf>> {
        let listing = self
            .storage
            .list(&self.dir)
            .map_err(|e| Error::spool("list", &self.dir, e))?;
        Ok(listing
            .iter()
            .filter(|e| !e.is_dir && has_extension(&e.name, extension))
            .map(|e| self.dir.join(&e.name))
            .collect())
    }

    /// Stores a sealed file durably; returns its id and the files the size limit
    /// dropped to make room for it (oldest first).
    ///
    /// # Errors
    /// [`Error::Spool`] on any IO failure (disk full...); nothing partial stays behind.
    /// [`Error::Config`] if the key is longer than S3 allows.
    pub fn push(&mut self, key: &str, body: &[u8]) -> Result<(u64, Vec<DroppedFile>)> {
        if key.is_empty() || key.len() > MAX_KEY {
            return Err(Error::config(
                "key",
                format!("object keys must be 1 to {MAX_KEY} bytes"),
            ));
        }
        let entry_len = self.charged((MAGIC.len() + 2 + key.len() + 4 + body.len() + 16) as u64);
        let dropped = self.make_room(entry_len)?;
        let id = self.next_id;
        let path = self.entry_path(id);
        let data = encode_entry(key, body)?;
        // `<id>.lks.tmp` until complete: removed at the next open after a power cut.
        self.storage
            .replace(&path, &data)
            .map_err(|e| Error::spool("write", &path, e))?;
        self.next_id += 1;
        self.pending_bytes += entry_len;
        Ok((id, dropped))
    }

    /// Ids of the entries waiting for upload, oldest first.
    ///
    /// # Errors
    /// [`Error::Spool`] if the directory cannot be listed.
    pub fn pending(&self) -> Result<Vec<u64>> {
        let mut ids: Vec<u64> = self
            .files_with(EXTENSION)?
            .iter()
            .filter_map(|p| entry_id(p))
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Files with the entries' extension whose names this spool never writes (not 16
    /// digits): left alone, never read or sent.
    ///
    /// # Errors
    /// [`Error::Spool`] if the directory cannot be listed.
    pub fn strays(&self) -> Result<Vec<PathBuf>> {
        Ok(self
            .files_with(EXTENSION)?
            .into_iter()
            .filter(|p| entry_id(p).is_none())
            .collect())
    }

    /// Reads and verifies an entry.
    ///
    /// # Errors
    /// [`Error::Spool`] if it cannot be read, [`Error::CorruptSpoolEntry`] if it fails
    /// its integrity check (quarantine it).
    pub fn read(&self, id: u64) -> Result<SpoolEntry> {
        let path = self.entry_path(id);
        let data = self
            .storage
            .read(&path)
            .map_err(|e| Error::spool("read", &path, e))?;
        let (key, body) = decode_entry(&data).map_err(|reason| Error::CorruptSpoolEntry {
            path: path.clone(),
            reason: reason.to_owned(),
        })?;
        Ok(SpoolEntry { id, key, body })
    }

    /// Reads only an entry's object key (its header), to choose which entry to send
    /// without reading every body. The full check of the entry is [`Spool::read`]'s.
    ///
    /// # Errors
    /// [`Error::Spool`] if it cannot be read, [`Error::CorruptSpoolEntry`] if its header
    /// is damaged (quarantine it).
    pub fn read_key(&self, id: u64) -> Result<String> {
        let path = self.entry_path(id);
        let corrupt = |reason: &str| Error::CorruptSpoolEntry {
            path: path.clone(),
            reason: reason.to_owned(),
        };
        let head = self
            .storage
            .read_head(&path, MAGIC.len() + 2 + MAX_KEY)
            .map_err(|e| Error::spool("read", &path, e))?;
        if head.len() < MAGIC.len() + 2 {
            return Err(corrupt("truncated"));
        }
        if !head.starts_with(MAGIC) {
            return Err(corrupt("not a spool entry (bad magic)"));
        }
        let key_len = usize::from(u16::from_le_bytes([
            head[MAGIC.len()],
            head[MAGIC.len() + 1],
        ]));
        if key_len > MAX_KEY {
            return Err(corrupt("key longer than S3 allows"));
        }
        let key = head
            .get(MAGIC.len() + 2..MAGIC.len() + 2 + key_len)
            .ok_or_else(|| corrupt("key length beyond end"))?;
        String::from_utf8(key.to_vec()).map_err(|_| corrupt("key is not UTF-8"))
    }

    /// Removes an entry once S3 confirmed it (an entry already gone is not an error).
    ///
    /// # Errors
    /// [`Error::Spool`] if the file cannot be removed.
    pub fn remove(&mut self, id: u64) -> Result<()> {
        let path = self.entry_path(id);
        let size = self.entry_size(id);
        match self.storage.remove(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::spool("remove", &path, e)),
        }
        self.pending_bytes = self.pending_bytes.saturating_sub(size);
        self.storage
            .sync_dir(&self.dir)
            .map_err(|e| Error::spool("sync", &self.dir, e))
    }

    /// Moves an entry to `quarantine/` with a `.reason` file beside it; returns its
    /// new path. An existing quarantined file is never replaced.
    ///
    /// # Errors
    /// [`Error::Spool`] if the move fails.
    pub fn quarantine(&mut self, id: u64, reason: &str) -> Result<PathBuf> {
        let fs = &*self.storage;
        let qdir = self.dir.join(QUARANTINE);
        fs.create_dir_all(&qdir)
            .map_err(|e| Error::spool("create", &qdir, e))?;
        let from = self.entry_path(id);
        let mut name = format!("{id:016}");
        let mut n = 1;
        while fs.exists(&qdir.join(format!("{name}.{EXTENSION}")))
            || fs.exists(&qdir.join(format!("{name}.reason")))
        {
            name = format!("{id:016}-{n}");
            n += 1;
        }
        let to = qdir.join(format!("{name}.{EXTENSION}"));
        let why = qdir.join(format!("{name}.reason"));
        let pending = self.pending_bytes.saturating_sub(self.entry_size(id));
        fs.write(&why, format!("{reason}\n").as_bytes())
            .map_err(|e| Error::spool("write", &why, e))?;
        fs.rename(&from, &to)
            .map_err(|e| Error::spool("quarantine", &from, e))?;
        self.pending_bytes = pending;
        fs.sync_dir(&self.dir)
            .map_err(|e| Error::spool("sync", &self.dir, e))?;
        Ok(to)
    }
}

/// Whether file `name` ends in `.extension`.
fn has_extension(name: &str, extension: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(stem, x)| !stem.is_empty() && x == extension)
}

/// The id of an entry's file: a name of exactly 16 digits, as [`Spool::push`] writes it.
fn entry_id(path: &Path) -> Option<u64> {
    let stem = path.file_stem()?.to_str()?;
    (stem.len() == 16 && stem.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stem.parse().ok())
        .flatten()
}

/// The bytes of a spool entry: magic, key length and key, body length and body, and the
/// MD5 of all of it.
///
/// # Errors
/// [`Error::Config`] for a key over 64 KiB or a body of 4 GiB or more.
pub fn encode_entry(key: &str, body: &[u8]) -> Result<Vec<u8>> {
    let mut data = Vec::with_capacity(MAGIC.len() + 2 + key.len() + 4 + body.len() + 16);
    data.extend_from_slice(MAGIC);
    let key_len = u16::try_from(key.len())
        .map_err(|_| Error::config("key", "a spooled key must be shorter than 64 KiB"))?;
    data.extend_from_slice(&key_len.to_le_bytes());
    data.extend_from_slice(key.as_bytes());
    let body_len = u32::try_from(body.len())
        .map_err(|_| Error::config("body", "a spooled file must be smaller than 4 GiB"))?;
    data.extend_from_slice(&body_len.to_le_bytes());
    data.extend_from_slice(body);
    let digest = Md5::digest(&data);
    data.extend_from_slice(&digest);
    Ok(data)
}

/// Decodes a spool entry's bytes (as [`encode_entry`] wrote them) into key and body,
/// or says why they are damaged. Public for the fuzz target.
///
/// # Errors
/// A short reason: truncated, bad magic, checksum or length mismatch, non-UTF-8 key.
pub fn decode_entry(data: &[u8]) -> std::result::Result<(String, Vec<u8>), &'static str> {
    let (content, digest) = data
        .split_at_checked(data.len().saturating_sub(16))
        .ok_or("truncated")?;
    if data.len() < MAGIC.len() + 2 + 4 + 16 {
        return Err("truncated");
    }
    if !content.starts_with(MAGIC) {
        return Err("not a spool entry (bad magic)");
    }
    if Md5::digest(content).as_slice() != digest {
        return Err("checksum mismatch");
    }
    let rest = &content[MAGIC.len()..];
    let key_len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
    let rest = &rest[2..];
    let (key, rest) = rest
        .split_at_checked(key_len)
        .ok_or("key length beyond end")?;
    let (len, body) = rest.split_at_checked(4).ok_or("body length missing")?;
    let body_len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if body.len() != body_len {
        return Err("body length mismatch");
    }
    let key = String::from_utf8(key.to_vec()).map_err(|_| "key is not UTF-8")?;
    Ok((key, body.to_vec()))
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn entries_survive_reopen_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Spool::open(dir.path()).expect("open");
        let a = s.push("k/a.parquet", b"aaa").expect("push").0;
        let b = s.push("k/b.parquet", &vec![9u8; 100_000]).expect("push").0;
        assert!(a < b);
        drop(s);
        let mut s = Spool::open(dir.path()).expect("reopen");
        assert_eq!(s.pending().expect("list"), [a, b]);
        assert_eq!(s.read(b).expect("read").body.len(), 100_000);
        s.remove(a).expect("remove");
        let c = s.push("k/c.parquet", b"c").expect("push").0;
        assert!(c > b, "ids keep increasing after reopen");
        assert_eq!(s.pending().expect("list"), [b, c]);
    }

    #[test]
    fn read_key_reads_the_header_only_and_refuses_damaged_headers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Spool::open(dir.path()).expect("open");
        let id = s.push("k/a.parquet", &vec![1u8; 50_000]).expect("push").0;
        assert_eq!(s.read_key(id).expect("key"), "k/a.parquet");
        let path = s.entry_path(id);
        let good = fs::read(&path).expect("read");
        // A damaged body is not the header's business (read() checks it before sending).
        let mut body_damaged = good.clone();
        body_damaged[40] ^= 1;
        fs::write(&path, &body_damaged).expect("write");
        assert_eq!(s.read_key(id).expect("key"), "k/a.parquet");
        let mut cases: Vec<Vec<u8>> = vec![good[..5].to_vec(), good[..12].to_vec()];
        let mut magic = good.clone();
        magic[0] = b'X';
        cases.push(magic);
        let mut long = good.clone();
        long[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
        cases.push(long);
        for bad in cases {
            fs::write(&path, &bad).expect("write");
            assert!(
                matches!(s.read_key(id), Err(Error::CorruptSpoolEntry { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn stray_temporary_files_are_cleaned_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("0000000000000001.tmp"), b"partial").expect("write");
        let s = Spool::open(dir.path()).expect("open");
        assert!(s.pending().expect("list").is_empty());
        assert!(!dir.path().join("0000000000000001.tmp").exists());
    }

    #[test]
    fn any_damage_is_detected_and_quarantined_with_a_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Spool::open(dir.path()).expect("open");
        let id = s
            .push("k/a.parquet", b"some parquet bytes")
            .expect("push")
            .0;
        let path = s.entry_path(id);
        let good = fs::read(&path).expect("read");
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x40;
            fs::write(&path, &bad).expect("write");
            assert!(
                matches!(s.read(id), Err(Error::CorruptSpoolEntry { .. })),
                "flip at byte {i}"
            );
        }
        for len in [0, 5, 20, good.len() - 1] {
            fs::write(&path, &good[..len]).expect("write");
            assert!(
                matches!(s.read(id), Err(Error::CorruptSpoolEntry { .. })),
                "truncated to {len}"
            );
        }
        let moved = s.quarantine(id, "checksum mismatch").expect("quarantine");
        assert!(moved.exists());
        assert!(s.pending().expect("list").is_empty());
        let reason = fs::read_to_string(moved.with_extension("reason")).expect("reason");
        assert_eq!(reason.trim(), "checksum mismatch");
    }

    #[test]
    fn a_full_spool_drops_the_oldest_files_and_counts_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Spool::open(dir.path()).expect("open");
        assert!(
            s.set_limit(Some(MIN_LIMIT - 1)).is_err(),
            "smaller than a file"
        );
        s.set_limit(Some(MIN_LIMIT)).expect("limit");
        let mut dropped = Vec::new();
        let ids: Vec<u64> = (0..5)
            .map(|i| {
                let (id, d) = s
                    .push(&format!("k/{i}.parquet"), &[i as u8; 25_000])
                    .expect("push");
                dropped.extend(d);
                id
            })
            .collect();
        // Each entry is 25,000 bytes plus ~41 of framing: two fit, three were dropped,
        // and push named each one.
        assert_eq!(s.pending().expect("list"), ids[3..]);
        let keys: Vec<&str> = dropped.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["k/0.parquet", "k/1.parquet", "k/2.parquet"]);
        let st = s.stats();
        assert_eq!((st.pending_files, st.dropped_files), (2, 3));
        assert!(
            st.pending_bytes <= MIN_LIMIT && st.dropped_bytes > 75_000,
            "{st:?}"
        );
        let log = fs::read_to_string(dir.path().join(DROPPED_LOG)).expect("log");
        assert!(log.starts_with("k/0.parquet 2504"), "{log}");
        // The counters survive a restart.
        drop(s);
        let s = Spool::open(dir.path()).expect("reopen");
        assert_eq!(s.stats(), st);
    }

    #[test]
    fn quarantine_never_overwrites_even_after_the_spool_was_emptied() {
        let dir = tempfile::tempdir().expect("tempdir");
        for round in 0..3 {
            // Each round: a fresh process, an empty spool, one entry quarantined.
            let mut s = Spool::open(dir.path()).expect("open");
            assert!(s.pending().expect("list").is_empty());
            let (id, _) = s.push(&format!("k/{round}.parquet"), b"x").expect("push");
            s.quarantine(id, &format!("round {round}"))
                .expect("quarantine");
        }
        let q = dir.path().join(QUARANTINE);
        let mut reasons: Vec<String> = fs::read_dir(&q)
            .expect("list")
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "reason"))
            .map(|e| fs::read_to_string(e.path()).expect("read"))
            .collect();
        reasons.sort();
        assert_eq!(reasons, ["round 0\n", "round 1\n", "round 2\n"]);
        // Even a clash by name (an entry pushed with a reused id) gets a new name.
        let mut s = Spool::open(dir.path()).expect("open");
        let (id, _) = s.push("k/x.parquet", b"y").expect("push");
        assert!(id > 3, "ids stay above quarantined ones: {id}");
        fs::copy(s.entry_path(id), q.join(format!("{id:016}.lks"))).expect("plant");
        let moved = s.quarantine(id, "clash").expect("quarantine");
        assert!(
            moved.to_string_lossy().ends_with("-1.lks"),
            "{}",
            moved.display()
        );
    }

    #[test]
    fn a_second_lock_on_one_spool_is_refused_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let held = SpoolLock::acquire(dir.path()).expect("first");
        let err = SpoolLock::acquire(dir.path()).expect_err("second");
        assert!(matches!(err, Error::SpoolBusy { .. }), "{err}");
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(held);
        SpoolLock::acquire(dir.path()).expect("free again");
    }

    #[test]
    fn the_file_being_uploaded_is_never_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Spool::open(dir.path()).expect("open");
        s.set_limit(Some(MIN_LIMIT)).expect("limit");
        let (first, _) = s.push("k/0.parquet", &[0u8; 30_000]).expect("push");
        s.pin(Some(first));
        let mut dropped = Vec::new();
        for i in 1..5 {
            dropped.extend(
                s.push(&format!("k/{i}.parquet"), &[0u8; 30_000])
                    .expect("push")
                    .1,
            );
        }
        assert!(
            s.pending().expect("list").contains(&first),
            "the pinned entry stays"
        );
        assert!(
            dropped.iter().all(|d| d.key != "k/0.parquet"),
            "{dropped:?}"
        );
        assert_eq!(dropped.len(), 3, "the others made room instead");
        // Removing what is already gone is not an error.
        s.remove(first).expect("remove");
        s.remove(first).expect("remove again");
    }

    #[test]
    fn the_limit_counts_whole_filesystem_blocks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Spool::open(dir.path()).expect("open");
        s.set_limit(Some(MIN_LIMIT)).expect("limit");
        s.set_block_size(4096).expect("block");
        // 2.5 KB files take a 4 KiB block each on LittleFS: 16 fit in 64 KiB, not 26.
        for i in 0..30 {
            s.push(&format!("k/{i}.parquet"), &[0u8; 2_500])
                .expect("push");
        }
        let st = s.stats();
        assert_eq!(st.pending_files, 16, "{st:?}");
        assert_eq!(st.pending_bytes, 16 * 4096);
        // Reopened without the block size, the same files count as their bytes.
        drop(s);
        let s = Spool::open(dir.path()).expect("reopen");
        assert_eq!(s.stats().pending_bytes, 16 * 2_542);
    }

    #[test]
    fn oversized_keys_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Spool::open(dir.path()).expect("open");
        assert!(s.push(&"k".repeat(1025), b"x").is_err());
        assert!(s.push("", b"x").is_err());
        assert!(s.pending().expect("list").is_empty());
    }
}
