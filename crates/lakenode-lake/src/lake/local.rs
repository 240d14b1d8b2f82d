//! A lake in a local directory: files under the root, a `flock`ed lock file, and
//! directory syncs that make renames and removals durable.

use std::path::{Path, PathBuf};

use super::owner::{holder, owner_text};
use super::stamp::{KnownDirs, Listed, Stamp};
use super::{LOCAL_LOCK, LakeStore};
use crate::error::{Error, Result};
use crate::tails::{TAIL_READERS, pooled, read_tail};

/// A lake in a local directory: each object a file at its key, as the embedded S3
/// server or a synced bucket stores it.
#[derive(Debug)]
pub struct LocalLake {
    root: PathBuf,
    anomalies: Vec<String>,
    /// Hidden temporaries (`.<name>.<pid>.tmp`) the last listing saw, with their pid.
    temporaries: Vec<(String, u32)>,
    lock: Option<std::fs::File>,
    /// When this handle took the lock.
    locked_at: Option<std::time::SystemTime>,
    /// The bucket lock, held as a file beside the `flock`ed one ([`super::bucket_lock`]).
    bucket_lock: Option<super::bucket_lock::LockFile>,
}

impl LocalLake {
    /// The lake under `root`.
    #[must_use]
    pub const fn new(root: PathBuf) -> Self {
        Self {
            root,
            anomalies: Vec::new(),
            temporaries: Vec::new(),
            lock: None,
            locked_at: None,
            bucket_lock: None,
        }
    }

    pub(super) fn path(&self, key: &str) -> Result<PathBuf> {
        if key
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(Error::Usage(format!("{key}: not a lake key")));
        }
        Ok(self.root.join(key))
    }

    /// Walks the tree on several threads (each a subtree), checking the directories
    /// `known` holds by their stamps where it can ([`LakeStore::list_known`]).
    fn walk(&mut self, prefix: &str, known: &KnownDirs) -> Result<Vec<Listed>> {
        self.anomalies.clear();
        let mut found = Found::default();
        // Breadth-first until there are enough subtrees to share among the threads.
        let mut frontier = vec![walk::Pending::root(&self.root)];
        while !frontier.is_empty() && frontier.len() < 4 * TAIL_READERS {
            let mut next = Vec::new();
            for dir in frontier {
                walk::read_level(&self.root, &dir, (prefix, known), &mut found, &mut next)?;
            }
            frontier = next;
        }
        let mut failed = None;
        let frontier: Vec<std::sync::Mutex<Option<walk::Pending>>> = frontier
            .into_iter()
            .map(|p| std::sync::Mutex::new(Some(p)))
            .collect();
        let root = &self.root;
        pooled(
            frontier.len(),
            TAIL_READERS,
            &mut |_, sub: Result<Found>| match sub {
                Ok(sub) => {
                    found.objects.extend(sub.objects);
                    found.anomalies.extend(sub.anomalies);
                    found.temporaries.extend(sub.temporaries);
                }
                Err(e) => failed = failed.take().or(Some(e)),
            },
            |i| {
                let mut sub = Found::default();
                let mut stack: Vec<walk::Pending> = frontier[i]
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take()
                    .into_iter()
                    .collect();
                while let Some(dir) = stack.pop() {
                    walk::read_level(root, &dir, (prefix, known), &mut sub, &mut stack)?;
                }
                Ok(sub)
            },
        );
        if let Some(e) = failed {
            return Err(e);
        }
        let Found {
            mut objects,
            mut anomalies,
            temporaries,
        } = found;
        objects.sort_unstable();
        anomalies.sort_unstable();
        self.anomalies = anomalies;
        self.temporaries = temporaries;
        Ok(objects)
    }
}

impl LakeStore for LocalLake {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    /// Walks the tree on several threads (each a subtree): a compacted year of 1,000
    /// stations is 730,000 directories of one file each, and reading each is a few
    /// system calls that wait on the kernel, not on this process. On Linux each
    /// directory is opened, read and its files' sizes taken relative to its parent's
    /// handle (`openat`, `getdents64`, `fstatat`): no path is looked up whole.
    fn list(&mut self, prefix: &str) -> Result<Vec<(String, u64)>> {
        Ok(self
            .walk(prefix, &KnownDirs::default())?
            .into_iter()
            .map(|(k, s, _)| (k, s))
            .collect())
    }

    /// [`LakeStore::list`], but each known day directory is checked with two
    /// `fstatat` calls relative to its parent (its `mtime`, then its file's size and
    /// `ctime`) instead of being opened and read (`openat`, two `getdents64`, `fstatat`,
    /// `close`), where the stamps match.
    fn list_known(&mut self, prefix: &str, known: &KnownDirs) -> Result<Vec<Listed>> {
        self.walk(prefix, known)
    }

    #[cfg(target_os = "linux")]
    fn stamp_kind(&self) -> super::StampKind {
        super::StampKind::Times
    }

    /// Stamps taken on a few threads (a month of 1,000 stations is 60,000 files).
    #[cfg(target_os = "linux")]
    fn stamps(&mut self, keys: &[String]) -> Option<Vec<Option<(u64, Stamp)>>> {
        let paths: Vec<Option<PathBuf>> = keys.iter().map(|k| self.path(k).ok()).collect();
        let mut out = vec![None; keys.len()];
        pooled(paths.len(), TAIL_READERS, &mut |i, s| out[i] = s, |i| {
            paths[i].as_deref().and_then(super::stamp::local_stamp)
        });
        Some(out)
    }

    fn get(&mut self, key: &str) -> Result<Vec<u8>> {
        let path = self.path(key)?;
        std::fs::read(&path).map_err(|e| Error::io(&path, e))
    }

    /// The file read and hashed once, its MD5 compared with the one the embedded store
    /// recorded in its `user.lakenode.md5` attribute, if it has one
    /// ([`crate::integrity`]: one `fgetxattr` more). The tag is the MD5.
    fn get_checked(&mut self, key: &str) -> Result<super::Fetched> {
        use std::io::Read as _;
        let path = self.path(key)?;
        let mut file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        let size = file.metadata().map_or(0, |m| m.len());
        let mut body = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        // Through `take`: `File::read_to_end` would `statx` and `lseek` again for its own
        // size hint (measured: 2 system calls more per file than `std::fs::read`).
        std::io::Read::by_ref(&mut file)
            .take(u64::MAX)
            .read_to_end(&mut body)
            .map_err(|e| Error::io(&path, e))?;
        let md5 = lakenode::digest::md5_hex(&body);
        if let Some(why) = crate::integrity::mismatch(&file, &path, &md5) {
            return Err(Error::Damaged(format!("{}: {why}", path.display())));
        }
        Ok(super::Fetched {
            body,
            tag: md5.clone(),
            md5,
        })
    }

    fn get_tail(&mut self, key: &str, bytes: u64, _size: u64) -> Result<Vec<u8>> {
        read_tail(&self.path(key)?, bytes)
    }

    /// Reads on a few threads: a year of footers is 100,000s of small reads, each
    /// mostly system-call time.
    fn get_tails(
        &mut self,
        objects: &[(String, u64)],
        bytes: u64,
        each: &mut dyn FnMut(usize, Result<Vec<u8>>),
    ) {
        let paths: Vec<Result<PathBuf>> = objects.iter().map(|(k, _)| self.path(k)).collect();
        pooled(paths.len(), TAIL_READERS, each, |i| match &paths[i] {
            Ok(p) => read_tail(p, bytes),
            Err(e) => Err(Error::Check(e.to_string())),
        });
    }

    fn put(&mut self, key: &str, body: Vec<u8>) -> Result<()> {
        let path = self.path(key)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut out = crate::output::OutputFile::create(&path, &[])?;
        std::io::Write::write_all(&mut out, &body).map_err(|e| out.error(e))?;
        out.record_md5(&lakenode::digest::md5_hex(&body));
        out.commit()?;
        sync_dir(path.parent().unwrap_or(Path::new(".")))
    }

    fn put_many_if(&mut self, puts: Vec<super::PutIf>) -> Result<Vec<bool>> {
        super::local_batch::put_many_if(self, puts)
    }

    fn anomalies(&self) -> Vec<String> {
        self.anomalies.clone()
    }

    /// Those of a process that has ended, and, while this handle holds the lock, a
    /// compaction's own (daily files, rollups: only a compaction writes those names)
    /// last changed before it took the lock, whatever process now has that pid.
    fn remove_dead_temporaries(&mut self) -> Vec<String> {
        let mut removed = Vec::new();
        for (key, pid) in std::mem::take(&mut self.temporaries) {
            let Ok(path) = self.path(&key) else { continue };
            let dead = pid != std::process::id() && !crate::output::process_alive(pid);
            let compactions = key.contains("/.data_day")
                || key.contains("/.health_day")
                || key.contains("/.month=");
            let before_lock = || {
                let changed = std::fs::symlink_metadata(&path).and_then(|m| m.modified());
                matches!((changed, self.locked_at), (Ok(c), Some(l)) if c < l)
            };
            if (dead || (compactions && before_lock())) && std::fs::remove_file(&path).is_ok() {
                removed.push(key);
            }
        }
        removed
    }

    fn worker(&self) -> Option<Box<dyn LakeStore + Send>> {
        Some(Box::new(Self::new(self.root.clone())))
    }

    fn lock(&mut self) -> Result<()> {
        use std::io::{Read as _, Seek as _, Write as _};
        if self.lock.is_some() {
            return Ok(());
        }
        // The bucket lock first (the lock a bucket run through `serve` takes: without
        // it the two ran at once): it appears with its holder's details whole, so a
        // second run names the holder, not `pid ? on host ?` (F8). Then the `flock`
        // (runs of older versions take only that, or take it first).
        let bucket_lock = super::bucket_lock::LockFile::take(&self.root)?;
        let path = self.root.join(LOCAL_LOCK);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                drop(bucket_lock);
                // Its holder writes its details just after locking: read them again
                // for a moment while they are not whole.
                let mut text = String::new();
                for _ in 0..50 {
                    text.clear();
                    let _ = file.rewind().and_then(|()| file.read_to_string(&mut text));
                    if super::owner::owner_field(&text, "since").is_some() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(4));
                }
                return Err(Error::Locked(format!(
                    "{}: the lake is being compacted by another run ({}, as it recorded in {})",
                    self.root.display(),
                    holder(&text),
                    path.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::io(
                    &path,
                    std::io::Error::new(
                        e.kind(),
                        format!("cannot lock it ({e}); the lake's filesystem must support flock"),
                    ),
                ));
            }
        }
        let token = format!(
            "{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        );
        self.bucket_lock = Some(bucket_lock);
        self.locked_at = Some(std::time::SystemTime::now());
        let text = owner_text(&token, None);
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(text.as_bytes()))
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io(&path, e))?;
        self.lock = Some(file);
        Ok(())
    }

    fn keep_lock(&mut self) -> Result<()> {
        self.bucket_lock
            .as_mut()
            .map_or(Ok(()), super::bucket_lock::LockFile::keep)
    }

    fn unlock(&mut self) -> Result<()> {
        let released = self
            .bucket_lock
            .take()
            .map_or(Ok(()), super::bucket_lock::LockFile::release);
        self.lock = None;
        self.locked_at = None;
        released
    }

    fn delete(&mut self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match std::fs::remove_file(&path) {
            Ok(()) => {
                sync_dir_after_delete(path.parent().unwrap_or(Path::new(".")));
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Removes the files, then syncs each directory once: the removals are as durable
    /// as one by one, for one `fsync` per directory instead of one per file (a
    /// station-day's 96 window files cost 96 syncs, two thirds of a compaction's time).
    fn delete_many(&mut self, keys: &[String]) -> Result<()> {
        let mut dirs = std::collections::BTreeSet::new();
        for key in keys {
            let path = self.path(key)?;
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    dirs.insert(path.parent().unwrap_or(Path::new(".")).to_path_buf());
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    dirs.iter().for_each(|d| sync_dir_after_delete(d));
                    return Err(Error::io(&path, e));
                }
            }
        }
        dirs.iter().for_each(|d| sync_dir_after_delete(d));
        Ok(())
    }
}

/// What a walk found: objects (key, size), entries that are not plain objects, and
/// hidden temporaries (key, pid), which the walk reads anyway and skips.
#[derive(Default)]
struct Found {
    objects: Vec<Listed>,
    anomalies: Vec<String>,
    temporaries: Vec<(String, u32)>,
}

/// A hidden entry of the directory whose key prefix is `rel`: a temporary if its name
/// is `.<name>.<pid>.tmp` (an [`crate::output::OutputFile`]'s), noted in `found`.
fn note_hidden(found: &mut Found, rel: &str, name: &[u8]) {
    let pid = name
        .strip_suffix(b".tmp")
        .and_then(|n| n.get(1..))
        .and_then(|n| {
            let dot = n.iter().rposition(|&b| b == b'.')?;
            (dot > 0).then(|| std::str::from_utf8(&n[dot + 1..]).ok())?
        })
        .and_then(|pid| pid.parse::<u32>().ok());
    if let Some(pid) = pid {
        found
            .temporaries
            .push((format!("{rel}{}", String::from_utf8_lossy(name)), pid));
    }
}

/// What an entry of a walked directory is: a directory, an object (maybe) or anything
/// else; and the key it makes, whether it is below `prefix`.
fn classify(
    found: &mut Found,
    key: String,
    prefix: &str,
    is_dir: bool,
    is_file: bool,
    size: impl FnOnce() -> Result<u64>,
) -> Result<Option<String>> {
    if is_dir {
        let sub = format!("{key}/");
        if sub.starts_with(prefix) || prefix.starts_with(&sub) {
            return Ok(Some(sub));
        }
    } else if is_file && key.starts_with(prefix) {
        found.objects.push((key, size()?, false));
    } else if !is_file && key.starts_with(prefix) {
        // Never followed: a link could lead out of the lake, and deleting it after a
        // merge would not remove what it points to.
        found.anomalies.push(format!(
            "{key}: a symbolic link or special file, not an object; left alone"
        ));
    }
    Ok(None)
}

/// The walk by directory handle: each directory opened relative to its parent's
/// handle, read with `getdents64` into a buffer on the stack, its files' sizes taken
/// by `fstatat` relative to it. Hidden files are temporaries (an `OutputFile`'s), the
/// lock file or another tool's bookkeeping, not objects.
#[cfg(target_os = "linux")]
mod walk {
    use std::ffi::CString;
    use std::mem::MaybeUninit;
    use std::os::fd::OwnedFd;
    use std::path::Path;
    use std::sync::Arc;

    use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir, openat, statat};

    use super::{Found, KnownDirs, classify, note_hidden};
    use crate::error::{Error, Result};
    use crate::lake::stamp::{KnownDir, ns, nsec};

    /// A directory still to read: the root, or a name below a directory held open.
    pub(super) struct Pending {
        parent: Option<Arc<OwnedFd>>,
        name: CString,
        /// Its key prefix: empty for the root, else ending in `/`.
        rel: String,
    }

    impl Pending {
        pub(super) fn root(_root: &Path) -> Self {
            Self {
                parent: None,
                name: CString::default(),
                rel: String::new(),
            }
        }
    }

    fn failed(root: &Path, rel: &str, e: rustix::io::Errno) -> Error {
        Error::io(root.join(rel), std::io::Error::from(e))
    }

    /// Whether the directory `name` (below the open directory `fd`) still holds only
    /// the file `known` recorded, unchanged: its `mtime`, then the file's type, size
    /// and `ctime`, each by `fstatat` relative to `fd`.
    fn unchanged(fd: &OwnedFd, name: &std::ffi::CStr, known: &KnownDir) -> bool {
        let nofollow = AtFlags::SYMLINK_NOFOLLOW;
        let Ok(d) = statat(fd, name, nofollow) else {
            return false;
        };
        if FileType::from_raw_mode(d.st_mode) != FileType::Directory
            || ns(d.st_mtime, nsec(d.st_mtime_nsec)) != known.stamp.dir
        {
            return false;
        }
        let mut path = name.to_bytes().to_vec();
        path.push(b'/');
        path.extend_from_slice(known.file.as_bytes());
        let Ok(path) = CString::new(path) else {
            return false;
        };
        statat(fd, &*path, nofollow).is_ok_and(|f| {
            FileType::from_raw_mode(f.st_mode) == FileType::RegularFile
                && u64::try_from(f.st_size).ok() == Some(known.size)
                && ns(f.st_ctime, nsec(f.st_ctime_nsec)) == known.stamp.file
        })
    }

    /// Reads the directory `dir` of the lake at `root`: its files under `prefix` into
    /// `found`, its subdirectories that may hold such keys into `subdirs`, but for
    /// those `known` holds whose stamps match: their file goes into `found` as
    /// checked, and they are not read.
    pub(super) fn read_level(
        root: &Path,
        dir: &Pending,
        (prefix, known): (&str, &KnownDirs),
        found: &mut Found,
        subdirs: &mut Vec<Pending>,
    ) -> Result<()> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = match &dir.parent {
            Some(parent) => openat(
                &**parent,
                &dir.name,
                flags | OFlags::NOFOLLOW,
                Mode::empty(),
            ),
            None => rustix::fs::open(root, flags, Mode::empty()),
        }
        .map_err(|e| failed(root, &dir.rel, e))?;
        let fd = Arc::new(fd);
        let known_here = known.dirs.get(&dir.rel);
        let mut buf = [MaybeUninit::<u8>::uninit(); 16 << 10];
        let mut entries = RawDir::new(&*fd, &mut buf);
        while let Some(entry) = entries.next() {
            let entry = entry.map_err(|e| failed(root, &dir.rel, e))?;
            let name = entry.file_name();
            if name.to_bytes().starts_with(b".") {
                note_hidden(found, &dir.rel, name.to_bytes());
                continue;
            }
            let key = format!("{}{}", dir.rel, String::from_utf8_lossy(name.to_bytes()));
            let stat = || {
                statat(&*fd, name, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| {
                    let path = String::from_utf8_lossy(name.to_bytes()).into_owned();
                    failed(root, &format!("{}{path}", dir.rel), e)
                })
            };
            let (kind, known) = match entry.file_type() {
                FileType::Unknown => {
                    let st = stat()?;
                    let size = u64::try_from(st.st_size).unwrap_or(0);
                    (FileType::from_raw_mode(st.st_mode), Some(size))
                }
                kind => (kind, None),
            };
            let size = || match known {
                Some(size) => Ok(size),
                None => stat().map(|st| u64::try_from(st.st_size).unwrap_or(0)),
            };
            let is_dir = kind == FileType::Directory;
            let is_file = kind == FileType::RegularFile;
            if let Some(rel) = classify(found, key, prefix, is_dir, is_file, size)? {
                let name_str = std::str::from_utf8(name.to_bytes()).ok();
                if let Some(k) = known_here.zip(name_str).and_then(|(h, n)| h.get(n)) {
                    let key = format!("{rel}{}", k.file);
                    if key.starts_with(prefix) && unchanged(&fd, name, k) {
                        found.objects.push((key, k.size, true));
                        continue;
                    }
                }
                subdirs.push(Pending {
                    parent: Some(Arc::clone(&fd)),
                    name: name.to_owned(),
                    rel,
                });
            }
        }
        Ok(())
    }
}

/// The walk by path elsewhere (`std::fs::read_dir`).
#[cfg(not(target_os = "linux"))]
mod walk {
    use std::path::{Path, PathBuf};

    use super::{Found, KnownDirs, classify, note_hidden};
    use crate::error::{Error, Result};

    /// A directory still to read, and its key prefix (empty or ending in `/`).
    pub(super) struct Pending {
        path: PathBuf,
        rel: String,
    }

    impl Pending {
        pub(super) fn root(root: &Path) -> Self {
            Self {
                path: root.to_path_buf(),
                rel: String::new(),
            }
        }
    }

    /// Reads the directory `dir`: its files under `prefix` into `found`, its
    /// subdirectories that may hold such keys into `subdirs`.
    pub(super) fn read_level(
        _root: &Path,
        dir: &Pending,
        (prefix, _known): (&str, &KnownDirs),
        found: &mut Found,
        subdirs: &mut Vec<Pending>,
    ) -> Result<()> {
        let entries = std::fs::read_dir(&dir.path).map_err(|e| Error::io(&dir.path, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&dir.path, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                note_hidden(found, &dir.rel, name.as_bytes());
                continue;
            }
            let kind = entry.file_type().map_err(|e| Error::io(entry.path(), e))?;
            let size = || {
                entry
                    .metadata()
                    .map(|m| m.len())
                    .map_err(|e| Error::io(entry.path(), e))
            };
            let key = format!("{}{name}", dir.rel);
            if let Some(rel) = classify(found, key, prefix, kind.is_dir(), kind.is_file(), size)? {
                subdirs.push(Pending {
                    path: entry.path(),
                    rel,
                });
            }
        }
        Ok(())
    }
}

/// Makes a rename or removal durable where directories can be synced.
/// Makes a directory's entries durable. A file system that cannot sync a directory
/// (`EINVAL`, `ENOTSUP`: some network and FUSE file systems) is not an error; any other
/// failure is, for a daily file whose entry may not survive a crash must not let its
/// window files be deleted.
pub(super) fn sync_dir(dir: &Path) -> Result<()> {
    use std::io::ErrorKind::{InvalidInput, Unsupported};
    let unsupported = |e: &std::io::Error| matches!(e.kind(), InvalidInput | Unsupported);
    match std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        Err(e) if !unsupported(&e) => Err(Error::io(dir, e)),
        _ => Ok(()),
    }
}

/// [`sync_dir`] after deletions: a removal that does not survive a crash brings back a
/// window file whose rows are already in its daily file, which the next compaction
/// merges again; so a failure here is not worth failing the run for.
fn sync_dir_after_delete(dir: &Path) {
    if let Err(e) = sync_dir(dir) {
        tracing::warn!("{e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(root: &Path, key: &str, bytes: usize) {
        let path = root.join(key);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, vec![7u8; bytes]).expect("write");
    }

    /// Listed by handle or by path, the same keys and sizes: nested trees, hidden files
    /// left out, a prefix that ends inside a name, and a link reported, not followed.
    #[test]
    fn a_local_lake_lists_keys_with_sizes_under_a_prefix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        put(root, "station=a/date=2026-11-01/data_day.parquet", 10);
        put(root, "station=a/date=2026-11-02/data_day.parquet", 11);
        put(root, "station=ab/date=2026-11-01/data_day.parquet", 12);
        put(root, "station=a/date=2026-11-02/.tmp-1", 3);
        put(
            root,
            "health/station=a/date=2026-11-01/health_day.parquet",
            13,
        );
        put(root, "rollup/station=a/month=2026-11.json", 14);
        for i in 0..40 {
            put(
                root,
                &format!("station=s{i:02}/date=2026-11-01/data_day.parquet"),
                i,
            );
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(
            root.join("station=a/date=2026-11-01/data_day.parquet"),
            root.join("station=a/date=2026-11-01/link.parquet"),
        )
        .expect("symlink");
        let mut lake = LocalLake::new(root.to_path_buf());

        let all = lake.list("station=").expect("list");
        assert_eq!(all.len(), 43);
        assert_eq!(
            all[0],
            ("station=a/date=2026-11-01/data_day.parquet".into(), 10)
        );
        assert_eq!(
            all[2],
            ("station=ab/date=2026-11-01/data_day.parquet".into(), 12)
        );
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        #[cfg(unix)]
        assert_eq!(
            lake.anomalies(),
            vec![
                "station=a/date=2026-11-01/link.parquet: a symbolic link or special file, \
                 not an object; left alone"
                    .to_string()
            ]
        );

        let a = lake.list("station=a/").expect("list");
        assert_eq!(
            a,
            vec![
                ("station=a/date=2026-11-01/data_day.parquet".into(), 10),
                ("station=a/date=2026-11-02/data_day.parquet".into(), 11),
            ]
        );
        assert_eq!(
            lake.list("health/").expect("list"),
            vec![(
                "health/station=a/date=2026-11-01/health_day.parquet".into(),
                13
            )]
        );
        assert_eq!(
            lake.list("rollup/station=a/month=2026-1").expect("list"),
            vec![("rollup/station=a/month=2026-11.json".into(), 14)]
        );
        assert!(lake.list("nothing/").expect("list").is_empty());
    }

    #[test]
    fn a_missing_lake_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut lake = LocalLake::new(dir.path().join("absent"));
        assert!(lake.list("station=").is_err());
    }
}
