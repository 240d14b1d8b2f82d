//! Files the user names on the command line (`encode --output`, `provision --output`),
//! and the objects of a local lake ([`crate::lake::LocalLake`]): written beside the
//! target and renamed over it only when complete, so a failed run never leaves half a
//! file nor a stray temporary one.
//!
//! Why not `std::fs::write`: `rename` replaces any directory entry, so `--output
//! /dev/full` used to replace the device node, `--output link` the symlink, and
//! `--output input.csv` the input itself. [`OutputFile::create`] refuses an existing
//! target that is not a regular file, a symlink, and any of the command's inputs.
//!
//! ```no_run
//! use std::io::Write as _;
//! use std::path::Path;
//! let mut out = lakenode_lake::output::OutputFile::create(Path::new("out.parquet"), &[Path::new("in.csv")])?;
//! out.write_all(b"...").map_err(|e| out.error(e))?;
//! out.commit()?;
//! # Ok::<(), lakenode_lake::Error>(())
//! ```

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A file being written to a temporary name beside its target; see the module docs.
/// Dropped without [`OutputFile::commit`], it removes the temporary file.
#[derive(Debug)]
pub struct OutputFile {
    target: PathBuf,
    tmp: PathBuf,
    file: Option<File>,
}

impl OutputFile {
    /// Checks `target` may be replaced and opens a new temporary file beside it.
    ///
    /// # Errors
    /// [`Error::Usage`] if `target` is a symlink, not a regular file, or one of
    /// `inputs`; [`Error::Io`] if the temporary file cannot be created.
    pub fn create(target: &Path, inputs: &[&Path]) -> Result<Self> {
        Self::create_with_mode(target, inputs, 0o644)
    }

    /// As [`OutputFile::create`], readable by the owner only (for secrets).
    ///
    /// # Errors
    /// As [`OutputFile::create`].
    pub fn create_private(target: &Path, inputs: &[&Path]) -> Result<Self> {
        Self::create_with_mode(target, inputs, 0o600)
    }

    fn create_with_mode(target: &Path, inputs: &[&Path], mode: u32) -> Result<Self> {
        check_replaceable(target, inputs)?;
        let name = target
            .file_name()
            .ok_or_else(|| Error::Usage(format!("{}: not a file name", target.display())))?;
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = name.to_string_lossy();
        remove_stale(&dir, &format!(".{name}."), ".tmp");
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let mut options = OpenOptions::new();
        // create_new: O_EXCL, which never follows a symlink planted at the tmp name.
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let file = options.open(&tmp).map_err(|e| Error::io(&tmp, e))?;
        Ok(Self {
            target: target.to_path_buf(),
            tmp,
            file: Some(file),
        })
    }

    /// Where the data is being written until [`OutputFile::commit`].
    #[must_use]
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    /// The error for a failed write, naming the target.
    pub fn error(&self, e: std::io::Error) -> Error {
        Error::io(&self.target, e)
    }

    /// Syncs the data and renames it over the target.
    ///
    /// # Errors
    /// [`Error::Io`] if the sync or rename fails; the temporary file is removed.
    pub fn commit(mut self) -> Result<()> {
        self.sync()?;
        self.rename_synced()
    }

    /// Asks the kernel to start writing the data to the disk now, without waiting: a
    /// later [`OutputFile::sync`] then finds it written, and the syncs of a batch of
    /// files started this way wait on the disk about once instead of once per file.
    /// A hint only (`posix_fadvise(DONTNEED)`, which starts the writeback of the
    /// file's dirty pages; `sync_file_range` is not reachable without `unsafe`).
    pub fn start_writeback(&self) {
        #[cfg(target_os = "linux")]
        if let Some(f) = &self.file {
            let _ = rustix::fs::fadvise(f, 0, None, rustix::fs::Advice::DontNeed);
        }
    }

    /// Records `md5_hex` as the MD5 of what was written ([`crate::integrity::record`]):
    /// a file the lake wrote is checked like one the embedded store wrote.
    pub fn record_md5(&self, md5_hex: &str) {
        if let Some(f) = &self.file {
            crate::integrity::record(f, md5_hex);
        }
    }

    /// Makes the data durable (`fsync`), still under the temporary name.
    ///
    /// # Errors
    /// [`Error::Io`] if the sync fails.
    pub fn sync(&mut self) -> Result<()> {
        if let Some(f) = &self.file {
            f.sync_all().map_err(|e| Error::io(&self.target, e))?;
        }
        Ok(())
    }

    /// Renames the file over the target, without syncing it first: call
    /// [`OutputFile::sync`] before (a rename of data not yet on the disk may leave an
    /// empty target after a power cut). The rename is durable once the directory is
    /// synced.
    ///
    /// # Errors
    /// [`Error::Io`] if the rename fails, [`Error::Usage`] if the target became
    /// something else than a regular file; the temporary file is removed.
    pub fn rename_synced(mut self) -> Result<()> {
        self.file = None;
        // Checked again: the target may have changed since `create`.
        check_replaceable(&self.target, &[])?;
        std::fs::rename(&self.tmp, &self.target).map_err(|e| Error::io(&self.target, e))?;
        self.tmp = PathBuf::new();
        Ok(())
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.file {
            Some(f) => f.write(buf),
            None => Err(std::io::Error::other("output already committed")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().map_or(Ok(()), Write::flush)
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            self.file = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Removes `<prefix><pid><suffix>` entries in `dir` (files or directories) left by a
/// process that no longer runs: a kill -9 or power cut skips their clean-up.
pub fn remove_stale(dir: &Path, prefix: &str, suffix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(prefix)
            .and_then(|r| r.split_once(suffix).map(|(pid, _)| pid))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !process_alive(pid) {
            let path = entry.path();
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            if removed.is_ok() {
                tracing::info!(
                    "removed {}, left by an earlier run that was killed",
                    path.display()
                );
            }
        }
    }
}

/// Whether process `pid` exists (a kill(pid, 0) probe; where it cannot be asked, yes).
pub fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Some(pid) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        else {
            return false;
        };
        !matches!(
            rustix::process::test_kill_process(pid),
            Err(rustix::io::Errno::SRCH)
        )
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Refuses a target that exists as anything but a regular file, or is one of `inputs`.
fn check_replaceable(target: &Path, inputs: &[&Path]) -> Result<()> {
    let meta = match std::fs::symlink_metadata(target) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(target, e)),
    };
    let kind = meta.file_type();
    let refuse = |what: &str| {
        Err(Error::Usage(format!(
            "{} is {what}; lakenode only replaces regular files: choose another output path",
            target.display()
        )))
    };
    if kind.is_symlink() {
        return refuse("a symbolic link");
    }
    if kind.is_dir() {
        return refuse("a directory");
    }
    if !kind.is_file() {
        return refuse("not a regular file (a device, FIFO or socket)");
    }
    for input in inputs {
        if same_file(&meta, input) {
            return Err(Error::Usage(format!(
                "{} is also the input {}: writing it would destroy the input",
                target.display(),
                input.display()
            )));
        }
    }
    Ok(())
}

#[cfg(unix)]
fn same_file(target: &std::fs::Metadata, input: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(input).is_ok_and(|m| m.dev() == target.dev() && m.ino() == target.ino())
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn a_committed_file_replaces_a_regular_target_and_a_dropped_one_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.parquet");
        std::fs::write(&target, b"old").unwrap();
        let mut out = OutputFile::create(&target, &[]).unwrap();
        out.write_all(b"new").unwrap();
        drop(out);
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        assert!(leftovers(dir.path()).is_empty());
        let mut out = OutputFile::create(&target, &[]).unwrap();
        out.write_all(b"new").unwrap();
        out.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn temporaries_of_a_killed_process_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.parquet");
        // pid 0x7ffffff0 does not exist; our parent does.
        let dead = dir.path().join(".out.parquet.2147483632.tmp");
        let parent = std::os::unix::process::parent_id();
        let live = dir.path().join(format!(".out.parquet.{parent}.tmp"));
        std::fs::write(&dead, b"half").unwrap();
        std::fs::write(&live, b"busy").unwrap();
        let out = OutputFile::create(&target, &[]).unwrap();
        drop(out);
        assert!(!dead.exists());
        assert!(live.exists());
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_fifos_devices_directories_and_the_input_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.csv");
        std::fs::write(&input, b"x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&input, &link).unwrap();
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let hard = dir.path().join("hard");
        std::fs::hard_link(&input, &hard).unwrap();
        for (target, want) in [
            (link.as_path(), "symbolic link"),
            (fifo.as_path(), "not a regular file"),
            (Path::new("/dev/full"), "not a regular file"),
            (dir.path(), "a directory"),
            (input.as_path(), "also the input"),
            (hard.as_path(), "also the input"),
        ] {
            let err = OutputFile::create(target, &[&input]).unwrap_err();
            assert!(
                err.to_string().contains(want),
                "{}: {err}",
                target.display()
            );
        }
        assert_eq!(std::fs::read(&input).unwrap(), b"x");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(leftovers(dir.path()).is_empty());
    }
}
