//! The storage seam: every file the core keeps (the [journal](crate::journal), the
//! [spool](crate::spool) and its lock, the station's `station.state`) goes through the
//! small [`Storage`] trait, like every request goes through [`crate::Transport`].
//!
//! Why: the device's filesystem has rules that Linux does not. esp_littlefs, mounted in
//! ESP-IDF's VFS, refuses to rename a file when the source or the destination is open
//! and to remove an open file (`EBUSY`); it cannot sync a directory or lock a file; and
//! std's `fs::copy` always fails there. Code tested only on Linux's rules broke on the
//! device. With the seam, the tests run the same journal and spool code on LittleFS's
//! own C code over a simulated flash, under the VFS's rules, with power cuts at any
//! flash write (`tests/support/devfs.rs`, `tests/power_cut.rs`).
//!
//! [`StdStorage`] (`std::fs`) is what hosts **and** the firmware use: on the device
//! esp_littlefs is mounted in the VFS, so `std::fs` reaches it. The trait holds only
//! what the core needs, and each write is whole (create, write, sync, close), so no
//! caller can forget a sync or leave a file open by accident; the two handles that stay
//! open ([`AppendFile`], the lock's guard) are what the VFS rules are about. A file
//! that must survive a power cut whole (a spool entry, the rewritten journal,
//! `station.state`, `timeline.state`) is written with [`Storage::replace`], the one
//! temporary-file-and-rename sequence, so none of them does it by hand.
//!
//! ```
//! use lakenode::storage::{StdStorage, Storage};
//! # let dir = tempfile::tempdir()?;
//! let fs = StdStorage;
//! let path = dir.path().join("a");
//! fs.write(&path, b"hello")?;
//! let mut log = fs.open_append(&path)?;
//! log.append(b", world")?;
//! log.sync()?;
//! assert_eq!(fs.read(&path)?, b"hello, world");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::Path;
use std::sync::Arc;

/// Where the core keeps its files. Paths are those the caller built from its directory.
///
/// Errors are plain [`io::Error`]s; a missing file must be [`io::ErrorKind::NotFound`].
pub trait Storage: Debug + Send + Sync {
    /// Creates `dir` and its parents (an existing one is fine).
    ///
    /// # Errors
    /// As the filesystem reports them.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;

    /// The entries of `dir`, in no particular order.
    ///
    /// # Errors
    /// As the filesystem reports them.
    fn list(&self, dir: &Path) -> io::Result<Vec<DirEntry>>;

    /// A whole file.
    ///
    /// # Errors
    /// As the filesystem reports them.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;

    /// The first `len` bytes of a file, or all of it if it is shorter.
    ///
    /// # Errors
    /// As the filesystem reports them.
    fn read_head(&self, path: &Path, len: usize) -> io::Result<Vec<u8>>;

    /// A file's size in bytes.
    ///
    /// # Errors
    /// As the filesystem reports them.
    fn size(&self, path: &Path) -> io::Result<u64>;

    /// Creates or replaces `path` with `data`: written, synced and closed on return.
    ///
    /// # Errors
    /// As the filesystem reports them; the file may then hold part of `data`.
    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()>;

    /// Opens `path` (created if missing) for appending; it stays open until the handle
    /// is dropped.
    ///
    /// # Errors
    /// As the filesystem reports them.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn AppendFile>>;

    /// Takes an exclusive lock on `path` (created if needed) and writes `holder` into
    /// it; the lock and the open file last as long as the guard. Where the platform has
    /// no file locks the guard only keeps the file open.
    ///
    /// # Errors
    /// [`io::ErrorKind::WouldBlock`] if another process holds the lock.
    fn lock(&self, path: &Path, holder: &str) -> io::Result<Box<dyn Debug + Send + Sync>>;

    /// Renames `from` to `to`, replacing `to`.
    ///
    /// # Errors
    /// As the filesystem reports them (on the device: `EBUSY` if either is open).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Removes a file.
    ///
    /// # Errors
    /// As the filesystem reports them (on the device: `EBUSY` if it is open).
    fn remove(&self, path: &Path) -> io::Result<()>;

    /// Makes the renames and removals in `dir` durable, where the platform can.
    ///
    /// # Errors
    /// As the filesystem reports them.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;

    /// Replaces `path` with `data` so that after a power cut it holds the old bytes or
    /// the new ones, never part of them: written to `<name>.tmp` beside it (synced and
    /// closed), renamed over it, the directory synced. Neither file may be open: the
    /// device refuses to rename an open file (`EBUSY`). A failed replace removes the
    /// temporary file where it can (a power cut leaves it for the spool's open to
    /// remove).
    ///
    /// # Errors
    /// As the filesystem reports them; `path` then still holds its old bytes.
    fn replace(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut name = path
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?
            .to_os_string();
        name.push(".tmp");
        let tmp = path.with_file_name(name);
        // `write` closes the file before the rename.
        let written = self
            .write(&tmp, data)
            .and_then(|()| self.rename(&tmp, path));
        if written.is_err() {
            let _ = self.remove(&tmp);
        }
        written?;
        self.sync_dir(path.parent().unwrap_or_else(|| Path::new(".")))
    }

    /// Whether a file or directory exists at `path`.
    fn exists(&self, path: &Path) -> bool {
        self.size(path).is_ok()
    }
}

/// A file open for appending.
pub trait AppendFile: Debug + Send + Sync {
    /// Appends all of `data` (not yet durable).
    ///
    /// # Errors
    /// As the filesystem reports them.
    fn append(&mut self, data: &[u8]) -> io::Result<()>;

    /// Makes what was appended durable.
    ///
    /// # Errors
    /// As the filesystem reports them.
    fn sync(&mut self) -> io::Result<()>;
}

/// An entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The file name (entries whose name is not UTF-8 are not listed).
    pub name: String,
    /// Whether it is a directory.
    pub is_dir: bool,
}

/// `std::fs`: hosts, and the firmware (esp_littlefs is mounted in ESP-IDF's VFS).
#[derive(Debug, Clone, Copy, Default)]
pub struct StdStorage;

impl StdStorage {
    /// A shared handle, as the journal and spool constructors take it.
    #[must_use]
    pub fn shared() -> Arc<dyn Storage> {
        Arc::new(Self)
    }
}

impl Storage for StdStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        for item in fs::read_dir(dir)? {
            let item = item?;
            if let Ok(name) = item.file_name().into_string() {
                // The type the directory listing gives (no `statx` per entry, which made
                // listing a spool of n files cost n system calls); only a symlink is
                // followed, as `Path::is_dir` would.
                let kind = item.file_type()?;
                let is_dir = if kind.is_symlink() {
                    item.path().is_dir()
                } else {
                    kind.is_dir()
                };
                out.push(DirEntry { name, is_dir });
            }
        }
        Ok(out)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut data = Vec::new();
        open_regular(path)?.read_to_end(&mut data)?;
        Ok(data)
    }

    fn read_head(&self, path: &Path, len: usize) -> io::Result<Vec<u8>> {
        let mut head = Vec::with_capacity(len);
        open_regular(path)?
            .take(len as u64)
            .read_to_end(&mut head)?;
        Ok(head)
    }

    fn size(&self, path: &Path) -> io::Result<u64> {
        fs::metadata(path).map(|m| m.len())
    }

    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut f = File::create(path)?;
        f.write_all(data)?;
        f.sync_all()
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn AppendFile>> {
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Box::new(StdAppend(f)))
    }

    fn lock(&self, path: &Path, holder: &str) -> io::Result<Box<dyn Debug + Send + Sync>> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(io::ErrorKind::WouldBlock.into()),
            // No file locks on this platform (ESP-IDF): the single task owns the spool.
            Err(fs::TryLockError::Error(e)) if e.kind() == io::ErrorKind::Unsupported => {}
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
        file.set_len(0)?;
        writeln!(file, "{holder}")?;
        Ok(Box::new(file))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    /// Directories cannot be opened for sync on every platform (ESP-IDF's VFS,
    /// Windows); there the rename's own durability is what the filesystem gives.
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let Ok(d) = File::open(dir) else {
            return Ok(());
        };
        match d.sync_all() {
            Err(e) if e.kind() == io::ErrorKind::Unsupported || e.raw_os_error() == Some(22) => {
                Ok(())
            }
            other => other,
        }
    }
}

#[derive(Debug)]
struct StdAppend(File);

impl AppendFile for StdAppend {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.0.write_all(data)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
}
/// Opens a file for reading only if it is a regular one (through symlinks): opening a
/// FIFO blocks until a writer comes, which would stop the node's loop (and its signal
/// handling) on a stray FIFO in the spool.
fn open_regular(path: &Path) -> io::Result<File> {
    if !fs::metadata(path)?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, device or directory)",
        ));
    }
    File::open(path)
}

#[cfg(test)]
pub(crate) mod hooked;

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_listing_tells_directories_from_files_and_follows_symlinks() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("f.lks"), b"x").expect("file");
        fs::create_dir(dir.path().join("quarantine")).expect("dir");
        std::os::unix::fs::symlink(dir.path().join("quarantine"), dir.path().join("link"))
            .expect("symlink");
        let mut got: Vec<(String, bool)> = StdStorage
            .list(dir.path())
            .expect("list")
            .into_iter()
            .map(|e| (e.name, e.is_dir))
            .collect();
        got.sort();
        let want = [("f.lks", false), ("link", true), ("quarantine", true)];
        assert_eq!(got, want.map(|(n, d)| (n.to_owned(), d)));
    }

    #[test]
    fn replace_swaps_the_whole_file_or_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdStorage;
        let path = dir.path().join("station.state");
        fs.replace(&path, b"old\n").expect("create");
        fs.replace(&path, b"new\n").expect("replace");
        assert_eq!(fs.read(&path).expect("read"), b"new\n");
        let names = || -> Vec<String> {
            let mut n: Vec<String> = fs
                .list(dir.path())
                .expect("list")
                .into_iter()
                .map(|e| e.name)
                .collect();
            n.sort();
            n
        };
        assert_eq!(names(), ["station.state"], "no temporary file left");
        // A rename that fails (a directory in the way): the temporary file goes.
        let blocked = dir.path().join("blocked");
        fs::create_dir(&blocked).expect("dir");
        fs::write(blocked.join("inside"), b"x").expect("fill");
        assert!(fs.replace(&blocked, b"data").is_err());
        assert_eq!(names(), ["blocked", "station.state"]);
    }
}
