//! A durable queue of sealed files on a directory, so that nothing is lost between
//! sealing a window and S3 confirming it.
//!
//! Each entry is one file, `<seq>.lks`, holding the object key, the Parquet bytes and
//! an MD5 of everything before it. It is written to a temporary file, synced, renamed
//! into place and the directory synced: after a power cut an entry is either complete
//! or absent. An entry is removed only once S3 confirmed the upload. Entries that fail
//! their check are moved to `quarantine/` with a `.reason` file, never deleted.
//!
//! A size limit can be set ([`Spool::set_limit`]). When a new file would exceed it, the
//! **oldest** files are dropped to make room: after a long outage the most recent data
//! is what an operator needs first, and the node never stops recording. Every dropped
//! file is listed in `dropped.log` (key and size) and counted in [`SpoolStats`].
//!
//! `std::fs` only: the same code runs on a PC and on LittleFS/FAT under ESP-IDF.
//!
//! ```
//! use lakenode::spool::Spool;
//! use lakenode::layout::ObjectKey;
//! # let dir = tempfile::tempdir()?;
//! let mut spool = Spool::open(dir.path())?;
//! let id = spool.push("station=a/data_0000.parquet", b"PAR1...")?;
//! let entry = spool.read(id)?;
//! assert_eq!(entry.key, "station=a/data_0000.parquet");
//! spool.remove(id)?;
//! assert!(spool.pending()?.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use md5::{Digest as _, Md5};

use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"LKSPOOL1";
const EXTENSION: &str = "lks";
const TMP_EXTENSION: &str = "tmp";
const QUARANTINE: &str = "quarantine";
const DROPPED_LOG: &str = "dropped.log";
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

/// The spool directory.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    next_id: u64,
    limit: Option<u64>,
    pending_bytes: u64,
    dropped_files: u64,
    dropped_bytes: u64,
}

impl Spool {
    /// Opens (creating if needed) a spool directory and removes temporary files left by
    /// an interrupted write (their windows were never reported as spooled).
    ///
    /// # Errors
    /// [`Error::Spool`] if the directory cannot be created or listed.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| Error::spool("create", &dir, e))?;
        let mut spool = Self {
            dir,
            next_id: 0,
            limit: None,
            pending_bytes: 0,
            dropped_files: 0,
            dropped_bytes: 0,
        };
        for path in spool.files_with(TMP_EXTENSION)? {
            fs::remove_file(&path).map_err(|e| Error::spool("remove", &path, e))?;
        }
        let pending = spool.pending()?;
        spool.next_id = pending.last().map_or(1, |last| last + 1);
        for id in pending {
            spool.pending_bytes += spool.entry_size(id);
        }
        let log = spool.dir.join(DROPPED_LOG);
        if let Ok(text) = fs::read_to_string(&log) {
            for line in text.lines() {
                spool.dropped_files += 1;
                spool.dropped_bytes += line
                    .rsplit(' ')
                    .nth(1)
                    .and_then(|b| b.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
        Ok(spool)
    }

    /// Limits the bytes the spool may hold (`None`: no limit); see the module docs for
    /// what happens when it is full.
    pub fn set_limit(&mut self, limit: Option<u64>) {
        self.limit = limit;
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
        fs::metadata(self.entry_path(id)).map_or(0, |m| m.len())
    }

    /// Drops the oldest entries until `incoming` more bytes fit under the limit.
    fn make_room(&mut self, incoming: u64) -> Result<()> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        if self.pending_bytes + incoming <= limit {
            return Ok(());
        }
        for id in self.pending()? {
            if self.pending_bytes + incoming <= limit {
                break;
            }
            let size = self.entry_size(id);
            let key = self
                .read(id)
                .map_or_else(|_| format!("<unreadable entry {id}>"), |e| e.key);
            let log = self.dir.join(DROPPED_LOG);
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .map_err(|e| Error::spool("open", &log, e))?;
            writeln!(f, "{key} {size} bytes").map_err(|e| Error::spool("write", &log, e))?;
            f.sync_data().map_err(|e| Error::spool("sync", &log, e))?;
            self.remove(id)?;
            self.dropped_files += 1;
            self.dropped_bytes += size;
        }
        Ok(())
    }

    /// The spool directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:016}.{EXTENSION}"))
    }

    fn files_with(&self, extension: &str) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        let listing = fs::read_dir(&self.dir).map_err(|e| Error::spool("list", &self.dir, e))?;
        for item in listing {
            let path = item.map_err(|e| Error::spool("list", &self.dir, e))?.path();
            if path.is_file() && path.extension().is_some_and(|x| x == extension) {
                out.push(path);
            }
        }
        Ok(out)
    }

    /// Stores a sealed file durably; returns its id.
    ///
    /// # Errors
    /// [`Error::Spool`] on any IO failure (disk full...); nothing partial stays behind.
    /// [`Error::Config`] if the key is longer than S3 allows.
    pub fn push(&mut self, key: &str, body: &[u8]) -> Result<u64> {
        if key.is_empty() || key.len() > MAX_KEY {
            return Err(Error::config(
                "key",
                format!("object keys must be 1 to {MAX_KEY} bytes"),
            ));
        }
        let entry_len = (MAGIC.len() + 2 + key.len() + 4 + body.len() + 16) as u64;
        self.make_room(entry_len)?;
        let id = self.next_id;
        let tmp = self.dir.join(format!("{id:016}.{TMP_EXTENSION}"));
        let path = self.entry_path(id);
        let result = write_entry(&tmp, key, body).and_then(|()| {
            fs::rename(&tmp, &path).map_err(|e| Error::spool("rename", &tmp, e))?;
            sync_dir(&self.dir)
        });
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result?;
        self.next_id += 1;
        self.pending_bytes += entry_len;
        Ok(id)
    }

    /// Ids of the entries waiting for upload, oldest first.
    ///
    /// # Errors
    /// [`Error::Spool`] if the directory cannot be listed.
    pub fn pending(&self) -> Result<Vec<u64>> {
        let mut ids: Vec<u64> = self
            .files_with(EXTENSION)?
            .iter()
            .filter_map(|p| p.file_stem()?.to_str()?.parse().ok())
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Reads and verifies an entry.
    ///
    /// # Errors
    /// [`Error::Spool`] if it cannot be read, [`Error::CorruptSpoolEntry`] if it fails
    /// its integrity check (quarantine it).
    pub fn read(&self, id: u64) -> Result<SpoolEntry> {
        let path = self.entry_path(id);
        let data = fs::read(&path).map_err(|e| Error::spool("read", &path, e))?;
        let (key, body) = decode_entry(&data).map_err(|reason| Error::CorruptSpoolEntry {
            path: path.clone(),
            reason: reason.to_owned(),
        })?;
        Ok(SpoolEntry { id, key, body })
    }

    /// Removes an entry once S3 confirmed it.
    ///
    /// # Errors
    /// [`Error::Spool`] if the file cannot be removed.
    pub fn remove(&mut self, id: u64) -> Result<()> {
        let path = self.entry_path(id);
        let size = self.entry_size(id);
        fs::remove_file(&path).map_err(|e| Error::spool("remove", &path, e))?;
        self.pending_bytes = self.pending_bytes.saturating_sub(size);
        sync_dir(&self.dir)
    }

    /// Moves an entry to `quarantine/` with a `.reason` file beside it; returns its
    /// new path.
    ///
    /// # Errors
    /// [`Error::Spool`] if the move fails.
    pub fn quarantine(&mut self, id: u64, reason: &str) -> Result<PathBuf> {
        let qdir = self.dir.join(QUARANTINE);
        fs::create_dir_all(&qdir).map_err(|e| Error::spool("create", &qdir, e))?;
        let from = self.entry_path(id);
        let to = qdir.join(format!("{id:016}.{EXTENSION}"));
        let why = qdir.join(format!("{id:016}.reason"));
        self.pending_bytes = self.pending_bytes.saturating_sub(self.entry_size(id));
        fs::write(&why, format!("{reason}\n")).map_err(|e| Error::spool("write", &why, e))?;
        fs::rename(&from, &to).map_err(|e| Error::spool("quarantine", &from, e))?;
        sync_dir(&self.dir)?;
        Ok(to)
    }
}

fn write_entry(tmp: &Path, key: &str, body: &[u8]) -> Result<()> {
    let mut data = Vec::with_capacity(MAGIC.len() + 2 + key.len() + 4 + body.len() + 16);
    data.extend_from_slice(MAGIC);
    // Key length checked by the caller (<= 1024).
    data.extend_from_slice(&u16::try_from(key.len()).unwrap_or(u16::MAX).to_le_bytes());
    data.extend_from_slice(key.as_bytes());
    let body_len = u32::try_from(body.len())
        .map_err(|_| Error::config("body", "a spooled file must be smaller than 4 GiB"))?;
    data.extend_from_slice(&body_len.to_le_bytes());
    data.extend_from_slice(body);
    let digest = Md5::digest(&data);
    data.extend_from_slice(&digest);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(|e| Error::spool("create", tmp, e))?;
    file.write_all(&data)
        .map_err(|e| Error::spool("write", tmp, e))?;
    file.sync_all().map_err(|e| Error::spool("sync", tmp, e))
}

fn decode_entry(data: &[u8]) -> std::result::Result<(String, Vec<u8>), &'static str> {
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

/// Makes a rename or removal in `dir` durable. Directories cannot be opened for sync
/// on every platform (ESP-IDF's VFS, Windows); there the rename's own durability is
/// what the filesystem gives.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    match File::open(dir) {
        Ok(d) => match d.sync_all() {
            Ok(()) => Ok(()),
            Err(e)
                if e.kind() == std::io::ErrorKind::Unsupported || e.raw_os_error() == Some(22) =>
            {
                Ok(())
            }
            Err(e) => Err(Error::spool("sync", dir, e)),
        },
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopen_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Spool::open(dir.path()).expect("open");
        let a = s.push("k/a.parquet", b"aaa").expect("push");
        let b = s.push("k/b.parquet", &vec![9u8; 100_000]).expect("push");
        assert!(a < b);
        drop(s);
        let mut s = Spool::open(dir.path()).expect("reopen");
        assert_eq!(s.pending().expect("list"), [a, b]);
        assert_eq!(s.read(b).expect("read").body.len(), 100_000);
        s.remove(a).expect("remove");
        let c = s.push("k/c.parquet", b"c").expect("push");
        assert!(c > b, "ids keep increasing after reopen");
        assert_eq!(s.pending().expect("list"), [b, c]);
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
        let id = s.push("k/a.parquet", b"some parquet bytes").expect("push");
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
        s.set_limit(Some(3_500));
        let ids: Vec<u64> = (0..5)
            .map(|i| {
                s.push(&format!("k/{i}.parquet"), &[i as u8; 1000])
                    .expect("push")
            })
            .collect();
        // Each entry is 1000 bytes plus ~41 of framing: three fit, two were dropped.
        assert_eq!(s.pending().expect("list"), ids[2..]);
        let st = s.stats();
        assert_eq!((st.pending_files, st.dropped_files), (3, 2));
        assert!(
            st.pending_bytes <= 3_500 && st.dropped_bytes > 2_000,
            "{st:?}"
        );
        let log = fs::read_to_string(dir.path().join(DROPPED_LOG)).expect("log");
        assert!(log.starts_with("k/0.parquet 104"), "{log}");
        // The counters survive a restart.
        drop(s);
        let s = Spool::open(dir.path()).expect("reopen");
        assert_eq!(s.stats(), st);
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
