//! A lake in a local directory: files under the root, a `flock`ed lock file, and
//! directory syncs that make renames and removals durable.

use std::path::{Path, PathBuf};

use super::owner::{holder, owner_text};
use super::{LOCAL_LOCK, LakeStore};
use crate::error::{Error, Result};
use crate::tails::{TAIL_READERS, pooled, read_tail};

/// A lake in a local directory: each object a file at its key, as the embedded S3
/// server or a synced bucket stores it.
#[derive(Debug)]
pub struct LocalLake {
    root: PathBuf,
    anomalies: Vec<String>,
    lock: Option<std::fs::File>,
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
            lock: None,
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
}

impl LakeStore for LocalLake {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    /// Walks the tree on several threads (each a subtree): a compacted year of 1,000
    /// stations is 730,000 directories of one file each, and reading each is a few
    /// system calls that wait on the kernel, not on this process.
    fn list(&mut self, prefix: &str) -> Result<Vec<(String, u64)>> {
        self.anomalies.clear();
        let mut found = Found::default();
        // Breadth-first until there are enough subtrees to share among the threads.
        let mut frontier = vec![(self.root.clone(), String::new())];
        while !frontier.is_empty() && frontier.len() < 4 * TAIL_READERS {
            let mut next = Vec::new();
            for (dir, rel) in frontier {
                read_level(&dir, &rel, prefix, &mut found, &mut next)?;
            }
            frontier = next;
        }
        let mut failed = None;
        pooled(
            frontier.len(),
            TAIL_READERS,
            &mut |_, sub: Result<Found>| match sub {
                Ok(sub) => {
                    found.objects.extend(sub.objects);
                    found.anomalies.extend(sub.anomalies);
                }
                Err(e) => failed = failed.take().or(Some(e)),
            },
            |i| {
                let mut sub = Found::default();
                let mut stack = vec![frontier[i].clone()];
                while let Some((dir, rel)) = stack.pop() {
                    read_level(&dir, &rel, prefix, &mut sub, &mut stack)?;
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
        } = found;
        objects.sort_unstable();
        anomalies.sort_unstable();
        self.anomalies = anomalies;
        Ok(objects)
    }

    fn get(&mut self, key: &str) -> Result<Vec<u8>> {
        let path = self.path(key)?;
        std::fs::read(&path).map_err(|e| Error::io(&path, e))
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
        out.commit()?;
        sync_dir(path.parent().unwrap_or(Path::new(".")));
        Ok(())
    }

    fn put_many_if(&mut self, puts: Vec<super::PutIf>) -> Result<Vec<bool>> {
        super::local_batch::put_many_if(self, puts)
    }

    fn anomalies(&self) -> Vec<String> {
        self.anomalies.clone()
    }

    fn worker(&self) -> Option<Box<dyn LakeStore + Send>> {
        Some(Box::new(Self::new(self.root.clone())))
    }

    fn lock(&mut self) -> Result<()> {
        use std::io::{Read as _, Seek as _, Write as _};
        if self.lock.is_some() {
            return Ok(());
        }
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
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
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
        // Also the lock a bucket run through `serve` takes: without it the two ran at once.
        self.bucket_lock = Some(super::bucket_lock::LockFile::take(&self.root)?);
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
        released
    }

    fn delete(&mut self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match std::fs::remove_file(&path) {
            Ok(()) => {
                sync_dir(path.parent().unwrap_or(Path::new(".")));
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
                    dirs.iter().for_each(|d| sync_dir(d));
                    return Err(Error::io(&path, e));
                }
            }
        }
        dirs.iter().for_each(|d| sync_dir(d));
        Ok(())
    }
}

/// What a walk found: objects (key, size) and entries that are not plain objects.
#[derive(Default)]
struct Found {
    objects: Vec<(String, u64)>,
    anomalies: Vec<String>,
}

/// Reads one directory of the walk (`rel`: its key prefix, ending in `/` or empty):
/// its files under `prefix` into `found`, its subdirectories that may hold such keys
/// into `subdirs`.
fn read_level(
    dir: &Path,
    rel: &str,
    prefix: &str,
    found: &mut Found,
    subdirs: &mut Vec<(PathBuf, String)>,
) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // Hidden files are temporaries (an `OutputFile`'s), the lock file or
        // another tool's bookkeeping, not objects.
        if name.starts_with('.') {
            continue;
        }
        let key = format!("{rel}{name}");
        let kind = entry.file_type().map_err(|e| Error::io(entry.path(), e))?;
        if kind.is_dir() {
            let sub = format!("{key}/");
            if sub.starts_with(prefix) || prefix.starts_with(&sub) {
                subdirs.push((entry.path(), sub));
            }
        } else if kind.is_file() && key.starts_with(prefix) {
            let size = entry
                .metadata()
                .map_err(|e| Error::io(entry.path(), e))?
                .len();
            found.objects.push((key, size));
        } else if !kind.is_file() && key.starts_with(prefix) {
            // Never followed: a link could lead out of the lake, and deleting it after
            // a merge would not remove what it points to.
            found.anomalies.push(format!(
                "{key}: a symbolic link or special file, not an object; left alone"
            ));
        }
    }
    Ok(())
}

/// Makes a rename or removal durable where directories can be synced.
pub(super) fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
