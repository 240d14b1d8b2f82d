//! [`StdStorage`] with hooks, for the crate's tests: [`Hooked`] passes every
//! [`Storage`] method on to `std::fs`, after asking its [`Hooks`], which a test
//! implements only where it probes or breaks something (counting reads, a power cut
//! before a rename).

use std::fmt::Debug;
use std::io;
use std::path::Path;

use super::{AppendFile, DirEntry, StdStorage, Storage};

/// What a test changes of [`StdStorage`]; every hook defaults to letting the call
/// through.
pub(crate) trait Hooks: Debug + Send + Sync {
    /// Before `path` is read: whole (`head` false) or its first bytes (`head` true).
    fn reading(&self, _path: &Path, _head: bool) {}
    /// Before `from` is renamed over `to`: an error fails the rename, nothing renamed.
    ///
    /// # Errors
    /// The test's.
    fn renaming(&self, _from: &Path, _to: &Path) -> io::Result<()> {
        Ok(())
    }
    /// After `from` was renamed over `to`.
    fn renamed(&self, _from: &Path, _to: &Path) {}
}

/// [`StdStorage`] behind the test's [`Hooks`] `H` (reachable through `Deref`).
#[derive(Debug, Default)]
pub(crate) struct Hooked<H>(pub H);

impl<H> std::ops::Deref for Hooked<H> {
    type Target = H;
    fn deref(&self) -> &H {
        &self.0
    }
}

impl<H: Hooks> Storage for Hooked<H> {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        StdStorage.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<DirEntry>> {
        StdStorage.list(dir)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.0.reading(path, false);
        StdStorage.read(path)
    }
    fn read_head(&self, path: &Path, len: usize) -> io::Result<Vec<u8>> {
        self.0.reading(path, true);
        StdStorage.read_head(path, len)
    }
    fn size(&self, path: &Path) -> io::Result<u64> {
        StdStorage.size(path)
    }
    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        StdStorage.write(path, data)
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn AppendFile>> {
        StdStorage.open_append(path)
    }
    fn lock(&self, path: &Path, holder: &str) -> io::Result<Box<dyn Debug + Send + Sync>> {
        StdStorage.lock(path, holder)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.0.renaming(from, to)?;
        StdStorage.rename(from, to)?;
        self.0.renamed(from, to);
        Ok(())
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        StdStorage.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        StdStorage.sync_dir(dir)
    }
}
