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
//! A rename over an existing file (the journal, once per window) hands the replaced
//! file's last handle to a background thread, which closes it. Why: the kernel frees
//! the replaced inode when its last reference goes, and on ext4 mounted with `discard`
//! (cloud VMs) that waits for the device to discard its blocks, and for any writeback
//! of its pages (measured with `perf sched`: 3.1 s of the 23 s a 12-station demo's
//! four station threads lived were spent there). The old file is unreachable by name
//! at once, as after a plain rename; only its freeing moves off the station's thread.
//! A handful of lines rather than a crate: a thread and a bounded channel (at most
//! 64 open files); when it is full the file is closed in place, as before.
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
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

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
        // Holds the file about to be replaced, if there is one (see the module docs).
        let replaced = cfg!(unix).then(|| File::open(to).ok()).flatten();
        StdStorage.rename(from, to)?;
        if let Some(file) = replaced {
            close_later(file);
        }
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        StdStorage.remove(path)
    }

    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
}

/// Replaced files waiting to be closed; beyond this many, a file is closed in place.
const REAPER_QUEUE: usize = 64;

/// Files handed to the reaper so far.
static HANDED: AtomicUsize = AtomicUsize::new(0);

/// The sending side of the thread that closes replaced files (`None`: it could not be
/// started).
fn reaper() -> Option<&'static SyncSender<File>> {
    static REAPER: OnceLock<Option<SyncSender<File>>> = OnceLock::new();
    REAPER
        .get_or_init(|| {
            let (files, closing) = sync_channel::<File>(REAPER_QUEUE);
            std::thread::Builder::new()
                .name("lakenode-reaper".into())
                .spawn(move || closing.into_iter().for_each(drop))
                .ok()
                .map(|_| files)
        })
        .as_ref()
}

/// Closes `file` on the reaper thread, or here when it is busy or absent.
fn close_later(file: File) {
    if let Some(files) = reaper() {
        match files.try_send(file) {
            Ok(()) => {
                HANDED.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(file) | TrySendError::Disconnected(file)) => drop(file),
        }
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
    fn many_replacements_leave_the_last_one_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.lkj");
        UnsyncedStorage.replace(&path, b"old").expect("create");
        // More replacements than the reaper's queue holds: some may be closed in place.
        for i in 0..3 * REAPER_QUEUE {
            UnsyncedStorage
                .replace(&path, format!("new {i}").as_bytes())
                .expect("replace");
        }
        assert_eq!(
            UnsyncedStorage.read(&path).expect("read"),
            format!("new {}", 3 * REAPER_QUEUE - 1).as_bytes()
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["journal.lkj"]);
    }

    #[cfg(unix)]
    #[test]
    fn the_replaced_file_is_closed_by_the_reaper() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.lkj");
        UnsyncedStorage.replace(&path, b"old").expect("create");
        let before = HANDED.load(Ordering::Relaxed);
        // Retried: the queue may be full of another test's files for a moment.
        for _ in 0..100 {
            UnsyncedStorage.replace(&path, b"new").expect("replace");
            if HANDED.load(Ordering::Relaxed) > before {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(HANDED.load(Ordering::Relaxed) > before);
        assert_eq!(UnsyncedStorage.read(&path).expect("read"), b"new");
    }

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
