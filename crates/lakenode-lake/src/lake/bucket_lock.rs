//! The bucket's lock object, taken as a file by a compaction of a directory, so that a
//! directory run and a bucket run of the same lake (the directory served by `lakenode
//! serve`) exclude each other.
//!
//! Why: a directory run `flock`s `DIR/.lakenode-compact.lock`, which a bucket run cannot
//! see through S3, and a bucket run writes the object `.lakenode-compact-lock`, which
//! older directory runs never looked at: both ran at once, and the bucket run failed
//! with a 404 on a window file the other had merged. Now a directory run, holding its
//! `flock`, also creates `DIR/.lakenode-compact-lock` exclusively (as `serve` links a
//! PUT with `If-None-Match: *`), in the bucket lock's format with an expiry, extends it
//! as a bucket run does, and removes it at the end. A bucket run (any version) then
//! finds a live lock and exits 7; a directory run finds a bucket run's lock file and
//! exits 7 too. Both names are kept, so runs of older versions are excluded either way.
//!
//! A lock whose holder ended on this host, or that expired, is taken over, as on S3.
//!
//! ```text
//! DIR/.lakenode-compact.lock   flock: directory runs (this and older versions)
//! DIR/.lakenode-compact-lock   lock object: bucket runs through `serve`, and directory runs
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::owner::{holder, holder_is_gone, owner_field, owner_text};
use super::{S3_LOCK, S3_LOCK_TTL};
use crate::error::{Error, Result};

/// The bucket lock held as a file (see the module docs).
#[derive(Debug)]
pub(super) struct LockFile {
    path: PathBuf,
    token: String,
    renewed: Instant,
    /// Not yet removed (a run that ends by an error without unlocking removes it on drop).
    held: bool,
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = self.remove();
    }
}

fn expiry() -> jiff::Timestamp {
    let now = jiff::Timestamp::now();
    jiff::SignedDuration::try_from(S3_LOCK_TTL)
        .ok()
        .and_then(|ttl| now.checked_add(ttl).ok())
        .unwrap_or(now)
}

impl LockFile {
    /// Creates `<root>/.lakenode-compact-lock` unless a live run holds it.
    ///
    /// # Errors
    /// [`Error::Locked`] naming the holder; IO failures.
    pub(super) fn take(root: &Path) -> Result<Self> {
        let path = root.join(S3_LOCK);
        let token = format!(
            "{}-{}-dir",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        );
        // Twice at most: once more after removing an expired or ended holder's lock.
        for _ in 0..2 {
            if create_whole(&path, &owner_text(&token, Some(expiry())))? {
                return Ok(Self {
                    path,
                    token,
                    renewed: Instant::now(),
                    held: true,
                });
            }
            let Some((text, written)) = read(&path)? else {
                continue; // released meanwhile
            };
            // As on S3: a lock without an expiry expires its time to live after it
            // was written.
            let expires = owner_field(&text, "expires")
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .or_else(|| {
                    let ttl = jiff::SignedDuration::try_from(S3_LOCK_TTL).ok()?;
                    written?.checked_add(ttl).ok()
                });
            let gone = holder_is_gone(&text);
            if expires.is_none_or(|e| e > jiff::Timestamp::now()) && !gone {
                return Err(Error::Locked(format!(
                    "{}: the lake is being compacted by another run ({}; the lock {} \
                     expires at {} unless that run extends it)",
                    root.display(),
                    holder(&text),
                    path.display(),
                    expires.map_or_else(|| "?".to_owned(), |e| e.to_string()),
                )));
            }
            tracing::warn!(
                "taking over the compaction lock of a run that {} ({})",
                if gone { "ended" } else { "expired" },
                holder(&text)
            );
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io(&path, e));
                }
                _ => {}
            }
        }
        Err(Error::Locked(format!(
            "{}: another run took the lock {} at the same time",
            root.display(),
            path.display()
        )))
    }

    /// Extends the lock (every third of its time to live), as a bucket run does.
    ///
    /// # Errors
    /// [`Error::LockLost`] if another run took it over; IO failures.
    pub(super) fn keep(&mut self) -> Result<()> {
        use std::io::Write as _;
        if self.renewed.elapsed() < S3_LOCK_TTL / 3 {
            return Ok(());
        }
        if !self.ours()? {
            return Err(Error::LockLost(format!(
                "{}: this run's compaction lock was taken over by another run (it had \
                 expired); stopped before the next day, the days done so far are complete",
                self.path.display()
            )));
        }
        let mut out = crate::output::OutputFile::create(&self.path, &[])?;
        out.write_all(owner_text(&self.token, Some(expiry())).as_bytes())
            .map_err(|e| out.error(e))?;
        out.commit()?;
        self.renewed = Instant::now();
        Ok(())
    }

    /// Removes the lock if it is still this run's.
    ///
    /// # Errors
    /// IO failures.
    pub(super) fn release(mut self) -> Result<()> {
        self.remove()
    }

    fn remove(&mut self) -> Result<()> {
        if std::mem::take(&mut self.held) && self.ours()? {
            match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io(&self.path, e));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn ours(&self) -> Result<bool> {
        Ok(read(&self.path)?
            .is_some_and(|(text, _)| owner_field(&text, "owner") == Some(self.token.as_str())))
    }
}

/// Creates `path` holding `text` unless it exists (`false` then), its text whole from
/// the instant it exists: written and synced under a temporary name, then hard-linked
/// to `path` (`link` never replaces). A second run used to read the file between its
/// creation and its write, and named its holder `pid ? on host ? since ?` (F8). A file
/// system without hard links gets the file created exclusively, then written.
fn create_whole(path: &Path, text: &str) -> Result<bool> {
    use std::io::Write as _;
    use std::sync::atomic::{AtomicU64, Ordering};
    static ATTEMPT: AtomicU64 = AtomicU64::new(0);
    let exists = |e: &std::io::Error| e.kind() == std::io::ErrorKind::AlreadyExists;
    // `.<name>-<n>.<pid>.tmp`: unique in this process too, and a temporary the next
    // run removes if a kill leaves it.
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let n = ATTEMPT.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{name}-{n}.{}.tmp", std::process::id()));
    let written = std::fs::File::create_new(&tmp).and_then(|mut f| {
        f.write_all(text.as_bytes())?;
        f.sync_all()
    });
    let linked = written.map(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(Ok(())) => return Ok(true),
        Ok(Err(e)) if exists(&e) => return Ok(false),
        Ok(Err(e)) | Err(e) => {
            tracing::debug!(
                "{}: not linked ({e}); created, then written",
                path.display()
            );
        }
    }
    match std::fs::File::create_new(path) {
        Ok(mut file) => {
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| Error::io(path, e))?;
            Ok(true)
        }
        Err(e) if exists(&e) => Ok(false),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// The lock's text and when it was written; `None` if there is none.
fn read(path: &Path) -> Result<Option<(String, Option<jiff::Timestamp>)>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let written = std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| jiff::Timestamp::try_from(t).ok());
            Ok(Some((
                String::from_utf8_lossy(&bytes).into_owned(),
                written,
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_lock_excludes_and_an_ended_or_expired_one_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let a = LockFile::take(dir.path()).unwrap();
        let e = LockFile::take(dir.path()).unwrap_err();
        assert!(matches!(e, Error::Locked(_)), "{e}");
        a.release().unwrap();
        assert!(!dir.path().join(S3_LOCK).exists());
        // A bucket run's lock that expired (written through `serve`).
        let expired = owner_text("other", Some(jiff::Timestamp::UNIX_EPOCH))
            .replace(&format!("pid {}", std::process::id()), "pid 1");
        std::fs::write(dir.path().join(S3_LOCK), expired).unwrap();
        let b = LockFile::take(dir.path()).unwrap();
        assert!(b.ours().unwrap());
        b.release().unwrap();
    }
}
