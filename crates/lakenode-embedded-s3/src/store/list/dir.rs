//! A directory of the walk, opened once and read by its descriptor: its entries, its
//! files' sizes and times, its subdirectories are all looked up relative to it
//! (`openat`, `fstatat`), never by the full path from `/` again. The walk of a year of
//! 1,000 stations opens 730,000 day directories; by full path each key cost a dozen
//! path-component lookups per system call (measured: a third of the server's CPU time
//! in the kernel's path walk, `perf`, 2026-12-04). Only the ETag's extended attribute is
//! still read by path: Linux has no `getxattrat` before 6.13, and opening each file to
//! read it by descriptor costs two more system calls than the lookup saves.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::store::etag;

/// What the listing says of one regular file.
pub(crate) struct FileInfo {
    pub size: u64,
    pub modified: Option<SystemTime>,
    /// The stored ETag, if valid for this version of the file ([`etag`]).
    pub etag: Option<String>,
}

/// A directory being walked.
pub(crate) struct Dir {
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    fd: rustix::fd::OwnedFd,
    /// Its path, for the ETag's attribute (and the whole walk where there is no
    /// `openat`).
    path: PathBuf,
}

#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
impl Dir {
    /// Opens the bucket's directory (which may be a link, set up by its operator).
    pub fn open(path: &Path) -> io::Result<Self> {
        use rustix::fs::{Mode, OFlags};
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Opens the subdirectory `name`, not following a symbolic link (`ELOOP`).
    pub fn sub(&self, name: &str) -> io::Result<Self> {
        use rustix::fs::{Mode, OFlags};
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self {
            fd,
            path: self.path.join(name),
        })
    }

    /// The entries as (key fragment, is a directory), in key order: a directory's
    /// fragment ends in `/` (the module doc of `list`). Only files and directories: a
    /// symbolic link is not followed (nor served: `Store::object_path`), a FIFO,
    /// socket or device not listed (nor served: `Store::open`); a name that is not
    /// UTF-8 cannot be a key.
    pub fn entries(&self) -> io::Result<Vec<(String, bool)>> {
        use rustix::fs::{AtFlags, FileType};
        let mut entries = Vec::new();
        let mut each = |name: &std::ffi::CStr, file_type: FileType| {
            let Ok(name) = name.to_str() else {
                return;
            };
            if name == "." || name == ".." {
                return;
            }
            let kind = match file_type {
                // A file system that does not give the type in its entries.
                FileType::Unknown => {
                    match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                        Ok(st) => FileType::from_raw_mode(st.st_mode),
                        Err(_) => return,
                    }
                }
                known => known,
            };
            match kind {
                FileType::Directory => entries.push((format!("{name}/"), true)),
                FileType::RegularFile => entries.push((name.to_owned(), false)),
                _ => {}
            }
        };
        // `getdents` on the descriptor itself, into a buffer on the stack: `Dir`
        // would open the directory once more (its own descriptor) and allocate.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 8192];
            let mut dir = rustix::fs::RawDir::new(&self.fd, &mut buf);
            while let Some(entry) = dir.next() {
                let entry = entry?;
                each(entry.file_name(), entry.file_type());
            }
        }
        #[cfg(target_vendor = "apple")]
        {
            let mut dir = rustix::fs::Dir::read_from(&self.fd)?;
            while let Some(entry) = dir.read() {
                let entry = entry?;
                each(entry.file_name(), entry.file_type());
            }
        }
        entries.sort_unstable();
        Ok(entries)
    }

    /// The regular file `name`: `None` if gone or no longer a regular file.
    pub fn file(&self, name: &str) -> Option<FileInfo> {
        use rustix::fs::{AtFlags, FileType};
        let st = rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return None;
        }
        let version = etag::Version::of_stat(&st);
        Some(FileInfo {
            size: version.size,
            modified: version.modified(),
            etag: etag::stored_at(&self.path.join(name), &version),
        })
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
impl Dir {
    /// Opens the bucket's directory.
    pub fn open(path: &Path) -> io::Result<Self> {
        if !std::fs::metadata(path)?.is_dir() {
            return Err(io::ErrorKind::NotADirectory.into());
        }
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// The subdirectory `name`, refused if it is a symbolic link.
    pub fn sub(&self, name: &str) -> io::Result<Self> {
        let path = self.path.join(name);
        let meta = std::fs::symlink_metadata(&path)?;
        if !meta.is_dir() {
            return Err(io::ErrorKind::NotADirectory.into());
        }
        Ok(Self { path })
    }

    /// As on Unix.
    pub fn entries(&self) -> io::Result<Vec<(String, bool)>> {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(&self.path)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            match entry.file_type() {
                Ok(t) if t.is_dir() => entries.push((name + "/", true)),
                Ok(t) if t.is_file() => entries.push((name, false)),
                _ => {}
            }
        }
        entries.sort_unstable();
        Ok(entries)
    }

    /// As on Unix.
    pub fn file(&self, name: &str) -> Option<FileInfo> {
        let meta = std::fs::symlink_metadata(self.path.join(name)).ok()?;
        meta.is_file().then(|| FileInfo {
            size: meta.len(),
            modified: meta.modified().ok(),
            etag: None,
        })
    }
}
