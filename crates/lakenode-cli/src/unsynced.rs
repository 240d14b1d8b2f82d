//! `std::fs` without `fsync`, for the demo's simulated stations.
//!
//! Why: a simulated station's input can be produced again, and the demo's spools are
//! thrown away with its data directory, so durability across a power cut of the PC buys
//! nothing there; the syncs were a third of a demo's system time (measured: 4 `fsync`
//! per uploaded file). Every file is still written whole, under its temporary name and
//! renamed into place, and removed the same way, so the journal and spool read exactly
//! as after a synced run and a killed demo process (not a power cut) loses nothing.
//! `lakenode run` keeps [`StdStorage`]: a real station's samples cannot be taken again.
//!
//! ```
//! use lakenode::storage::Storage as _;
//! use lakenode_cli::unsynced::UnsyncedStorage;
//! # let dir = tempfile::tempdir()?;
//! let path = dir.path().join("station.state");
//! UnsyncedStorage.replace(&path, b"generation=1\n")?;
//! assert_eq!(UnsyncedStorage.read(&path)?, b"generation=1\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt::Debug;
use std::fs::OpenOptions;
use std::io::{self, Write as _};
use std::path::Path;

use lakenode::storage::{AppendFile, DirEntry, StdStorage, Storage};

/// [`StdStorage`] whose writes are not synced: see the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnsyncedStorage;

impl Storage for UnsyncedStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        StdStorage.create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<DirEntry>> {
        StdStorage.list(dir)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        StdStorage.read(path)
    }

    fn read_head(&self, path: &Path, len: usize) -> io::Result<Vec<u8>> {
        StdStorage.read_head(path, len)
    }

    fn size(&self, path: &Path) -> io::Result<u64> {
        StdStorage.size(path)
    }

    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        std::fs::write(path, data)
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn AppendFile>> {
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Box::new(UnsyncedAppend(f)))
    }

    fn lock(&self, path: &Path, holder: &str) -> io::Result<Box<dyn Debug + Send + Sync>> {
        StdStorage.lock(path, holder)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        StdStorage.rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        StdStorage.remove(path)
    }

    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
}

/// An append handle whose `sync` only hands the bytes to the kernel.
#[derive(Debug)]
struct UnsyncedAppend(std::fs::File);

impl AppendFile for UnsyncedAppend {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.0.write_all(data)
    }

    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lakenode::fuzzing::Journal;
    use lakenode::sample::Sample;
    use std::sync::Arc;

    #[test]
    fn a_journal_on_it_replays_what_was_appended() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs: Arc<dyn Storage> = Arc::new(UnsyncedStorage);
        let (mut j, _) = Journal::open_with(fs.clone(), dir.path()).expect("open");
        j.append(&Sample::new(1_000)).expect("append");
        drop(j);
        let (_, replay) = Journal::open_with(fs, dir.path()).expect("reopen");
        assert_eq!(replay.samples, [Sample::new(1_000)]);
    }
}
