//! An object's ETag (the MD5 of its bytes), kept in the extended attribute
//! `user.lakenode.md5` of its file: 49 bytes, a format byte (2) then the MD5 (16 bytes),
//! the size, the mtime (ns), the inode and the ctime (ns), each 8 bytes little-endian.
//!
//! Why binary and that short: ext4 keeps a file's extended attributes inside its inode
//! only while they fit in the inode's spare bytes (92 with the default 256-byte
//! inodes); the earlier text form (`<md5 hex> <size> <mtime ns> <inode> <ctime ns>`,
//! ~87 bytes) did not, so every stored object cost a 4 KiB attribute block more on disk
//! and a block read or write more per GET or PUT (measured: `stat` shows 16 sectors for
//! a small file with the text value, 8 with a value of 60 bytes or less).
//!
//! Why an xattr: it is written on the descriptor the PUT wrote through; it moves and dies with the file (no sidecar to orphan or
//! to list); reading it is one syscall on the descriptor a GET has open anyway.
//!
//! The rest makes it self-checking: a file rewritten in place by something else keeps
//! the attribute, so the value is only trusted for the same file (inode), size, mtime
//! and ctime; otherwise the file is hashed again. The size and mtime alone were not
//! enough: an edit that keeps the size and sets the mtime back (`touch -d`, a tool
//! restoring times, or two writes within the mtime's granularity) served the old
//! ETag. The ctime cannot be set back from user space: every write, `utimensat` or
//! rename moves it to now. But writing the attribute moves it too, so the value cannot
//! hold the ctime it leaves behind: it holds the ctime read just before the write, and
//! a ctime at most [`CTIME_SLACK_NS`] later is taken as the attribute's own write
//! (measured: microseconds on ext4 with fine-grained timestamps, one clock tick, at
//! most 10 ms, with coarse ones). What is still missed: an edit within that slack after
//! the ETag was stored that keeps the size and restores the mtime. A value from an
//! older version (`<md5> <size> <mtime>`) is not trusted: the file is hashed once more.
//!
//! A file without a valid value (copied in by hand, or on a file system or platform
//! without user xattrs) is hashed when first read; the result is stored if the file
//! system allows and the file did not change while it was hashed, so each such file
//! is hashed once, not on every ranged GET.
//!
//! ```
//! use lakenode_embedded_s3::store::etag;
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("f");
//! std::fs::write(&path, b"hello")?;
//! let mut file = std::fs::File::open(&path)?;
//! let meta = file.metadata()?;
//! assert_eq!(etag::of(&mut file, &meta)?, "5d41402abc4b2a76b9719d911017c592");
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fs::{File, Metadata};
use std::io::{self, Read as _, Seek as _};
use std::path::Path;

use lakenode::digest::StoredMd5;
use md5::{Digest as _, Md5};

/// The MD5 of nothing (the ETag of an empty object or directory marker).
pub const EMPTY_MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";

#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
const ATTR: &str = StoredMd5::ATTR;

/// Lower-case hex of `bytes`.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// How much later than the ctime recorded in the attribute the file's ctime may be and
/// still be the attribute's own write (module doc).
pub const CTIME_SLACK_NS: i128 = 50_000_000;

/// What identifies one version of a file: size, mtime (ns), inode and ctime (ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// In bytes.
    pub size: u64,
    mtime: u128,
    inode: u64,
    ctime: i128,
}

impl Version {
    /// The version `meta` describes.
    #[must_use]
    pub fn of(meta: &Metadata) -> Self {
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        #[cfg(unix)]
        let (inode, ctime) = {
            use std::os::unix::fs::MetadataExt as _;
            (
                meta.ino(),
                i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
            )
        };
        #[cfg(not(unix))]
        let (inode, ctime) = (0, 0);
        Self {
            size: meta.len(),
            mtime,
            inode,
            ctime,
        }
    }

    /// The version a `stat` (by a directory's descriptor: the listing) describes.
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    #[must_use]
    pub fn of_stat(st: &rustix::fs::Stat) -> Self {
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
        let (mtime, ctime) = (
            ns(st.st_mtime as i64, st.st_mtime_nsec as i64),
            ns(st.st_ctime as i64, st.st_ctime_nsec as i64),
        );
        Self {
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime: u128::try_from(mtime).unwrap_or(0),
            #[allow(clippy::useless_conversion)]
            inode: u64::from(st.st_ino),
            ctime,
        }
    }

    /// The modification time.
    #[must_use]
    pub fn modified(&self) -> Option<std::time::SystemTime> {
        let ns = u64::try_from(self.mtime).ok()?;
        std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_nanos(ns))
    }
}

/// The attribute's value for `md5` (16 bytes) computed for `version`
/// ([`StoredMd5`], the layout `compact` reads too); `None` for times outside what 64-bit
/// nanoseconds hold (before 1970 or after 2262: not stored).
fn encode(md5: &[u8; 16], version: &Version) -> Option<[u8; StoredMd5::LEN]> {
    let record = StoredMd5 {
        md5: *md5,
        version: [
            version.size,
            u64::try_from(version.mtime).ok()?,
            version.inode,
            u64::try_from(version.ctime).ok()?,
        ],
    };
    Some(record.encode())
}

/// The MD5 (lower-case hex) a value holds, whatever version of the file it was
/// recorded for, and that version; `None` for a value of another form (the text of
/// versions before 2026-12-04 is not trusted: the file is hashed once more).
#[must_use]
pub fn decode(value: &[u8]) -> Option<(String, Version)> {
    let record = StoredMd5::decode(value)?;
    let [size, mtime, inode, ctime] = record.version;
    let version = Version {
        size,
        mtime: u128::from(mtime),
        inode,
        ctime: i128::from(ctime),
    };
    Some((record.md5_hex(), version))
}

/// The stored MD5 if it was computed for this version of the file.
fn parse(value: &[u8], now: &Version) -> Option<String> {
    let (md5, then) = decode(value)?;
    let same = Version {
        ctime: now.ctime,
        ..then
    } == *now
        && (then.ctime..=then.ctime + CTIME_SLACK_NS).contains(&now.ctime);
    same.then_some(md5)
}

/// The valid stored ETag of the open `file`, if any.
#[must_use]
pub fn stored(file: &File, meta: &Metadata) -> Option<String> {
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    {
        let mut buf = [0u8; 192];
        let n = rustix::fs::fgetxattr(file, ATTR, &mut buf[..]).ok()?;
        parse(buf.get(..n)?, &Version::of(meta))
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
    {
        let _ = (file, meta, parse);
        None
    }
}

/// The valid stored ETag of the file at `path`, whose `stat` gave `version` (for
/// listings: no hashing there). Not following a symbolic link put there since.
#[must_use]
pub fn stored_at(path: &Path, version: &Version) -> Option<String> {
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    {
        let mut buf = [0u8; 192];
        let n = rustix::fs::lgetxattr(path, ATTR, &mut buf[..]).ok()?;
        parse(buf.get(..n)?, version)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
    {
        let _ = (path, version);
        None
    }
}

/// Records `md5_hex`, computed for the file as `meta` describes it, as the ETag of
/// `file` (best effort: a file system without user xattrs, or a file the server may
/// not write, leaves it unrecorded; so does a file that changed since `meta`).
pub fn store(file: &File, md5_hex: &str, meta: &Metadata) {
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    {
        // The ctime just before the attribute's write (see the module doc), and proof
        // that nothing changed the file since `md5_hex` was computed.
        let Ok(now) = file.metadata().map(|m| Version::of(&m)) else {
            return;
        };
        if now != Version::of(meta) {
            tracing::debug!("embedded S3: file changed while hashed, ETag not stored");
            return;
        }
        // The write moves the ctime to now: for a file last changed longer ago than
        // the slack (one dropped into the directory by hand, an hour old), the value
        // it holds would be stale the moment it is written, and the file hashed again
        // on every read. So once that happened, it is written again with the ctime the
        // first write left, which the second moves by microseconds only.
        let Some(md5) = StoredMd5::md5_from_hex(md5_hex) else {
            return;
        };
        let mut now = now;
        for _ in 0..2 {
            let Some(value) = encode(&md5, &now) else {
                return;
            };
            if let Err(e) =
                rustix::fs::fsetxattr(file, ATTR, &value, rustix::fs::XattrFlags::empty())
            {
                tracing::debug!("embedded S3: ETag not stored as an xattr: {e}");
                return;
            }
            let Ok(after) = file.metadata().map(|m| Version::of(&m)) else {
                return;
            };
            let same_file = Version {
                ctime: now.ctime,
                ..after
            } == now;
            if !same_file || (now.ctime..=now.ctime + CTIME_SLACK_NS).contains(&after.ctime) {
                // Valid as written, or the file changed meanwhile (then the value does
                // not match it, and it is hashed again when next read).
                return;
            }
            now = after;
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
    {
        let _ = (file, md5_hex, meta, Version::of, encode);
    }
}

/// The ETag of the open `file`: the stored one, else its MD5 (then stored).
///
/// # Errors
/// The file cannot be read.
pub fn of(file: &mut File, meta: &Metadata) -> io::Result<String> {
    if let Some(tag) = stored(file, meta) {
        return Ok(tag);
    }
    file.rewind()?;
    let mut md5 = Md5::new();
    let mut buf = vec![0; 256 << 10];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
    }
    let tag = hex(&md5.finalize());
    store(file, &tag, meta);
    Ok(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_rewritten_in_place_is_hashed_again_not_served_its_old_etag() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").expect("write");
        let etag_now = || {
            let mut file = File::open(&path).expect("open");
            let meta = file.metadata().expect("stat");
            of(&mut file, &meta).expect("etag")
        };
        assert_eq!(etag_now(), "5d41402abc4b2a76b9719d911017c592");
        // Same size, new bytes, the attribute left in place; the mtime tells.
        std::fs::write(&path, b"world").expect("rewrite");
        let file = File::options().write(true).open(&path).expect("open");
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(2);
        file.set_modified(later).expect("mtime");
        drop(file);
        assert_eq!(etag_now(), "7d793037a0760186574b0282f2f435e7");
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
    }

    /// A file last changed longer ago than the slack (a lake written on disk, then
    /// served) was hashed on every read: the attribute's write moved its ctime past the
    /// one the value recorded. Hashed once now, then served its stored ETag.
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    #[test]
    fn a_file_with_an_old_ctime_is_hashed_once_not_on_every_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").expect("write");
        std::thread::sleep(std::time::Duration::from_nanos(
            u64::try_from(CTIME_SLACK_NS).expect("slack") + 30_000_000,
        ));
        let mut file = File::open(&path).expect("open");
        let meta = file.metadata().expect("stat");
        assert_eq!(stored(&file, &meta), None, "nothing stored yet");
        let hello = "5d41402abc4b2a76b9719d911017c592".to_owned();
        assert_eq!(of(&mut file, &meta).expect("etag"), hello);
        let meta = file.metadata().expect("stat");
        assert_eq!(stored(&file, &meta), Some(hello.clone()), "stored valid");
        assert_eq!(stored_at(&path, &Version::of(&meta)), Some(hello));
    }

    /// Issue 25's leftover: an edit in place that keeps the size and sets the mtime back
    /// (as `touch -d` or a tool restoring times does) served the old ETag; the ctime,
    /// which user space cannot set back, now tells.
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    #[test]
    fn an_edit_in_place_keeping_size_and_mtime_is_hashed_again() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").expect("write");
        let etag_now = || {
            let mut file = File::open(&path).expect("open");
            let meta = file.metadata().expect("stat");
            (of(&mut file, &meta).expect("etag"), stored(&file, &meta))
        };
        let hello = "5d41402abc4b2a76b9719d911017c592".to_owned();
        assert_eq!(etag_now(), (hello.clone(), Some(hello.clone())));
        // Still trusted on the next read: the attribute's own write is within the slack.
        assert_eq!(etag_now(), (hello.clone(), Some(hello)));
        let before = std::fs::metadata(&path).expect("stat");
        std::thread::sleep(std::time::Duration::from_nanos(
            u64::try_from(CTIME_SLACK_NS).expect("slack") + 20_000_000,
        ));
        let mut file = File::options().write(true).open(&path).expect("open");
        file.write_all(b"world").expect("edit in place");
        file.set_modified(before.modified().expect("mtime"))
            .expect("set the mtime back");
        drop(file);
        let after = std::fs::metadata(&path).expect("stat");
        assert_eq!(
            (after.len(), after.modified().ok()),
            (before.len(), before.modified().ok()),
            "same size and mtime"
        );
        let world = "7d793037a0760186574b0282f2f435e7".to_owned();
        assert_eq!(etag_now().0, world);
        // A value written by an older version (text, with or without the inode and
        // ctime) is not trusted.
        let file = File::open(&path).expect("open");
        let meta = file.metadata().expect("stat");
        let v = Version::of(&meta);
        for old in [
            format!("7d793037a0760186574b0282f2f435e7 {} {}", v.size, v.mtime),
            format!(
                "7d793037a0760186574b0282f2f435e7 {} {} {} {}",
                v.size, v.mtime, v.inode, v.ctime
            ),
        ] {
            assert_eq!(parse(old.as_bytes(), &v), None);
        }
    }

    /// The value fits in an ext4 inode's spare bytes (module doc), and says what it was
    /// written for.
    #[test]
    fn the_value_is_short_and_round_trips() {
        let md5 = StoredMd5::md5_from_hex("5d41402abc4b2a76b9719d911017c592").expect("hex");
        let v = Version {
            size: 5,
            mtime: 1_764_806_400_123_456_789,
            inode: 42,
            ctime: 1_764_806_400_223_456_789,
        };
        let value = encode(&md5, &v).expect("encodes");
        assert!(value.len() <= 60, "{} bytes", value.len());
        assert_eq!(
            decode(&value),
            Some(("5d41402abc4b2a76b9719d911017c592".to_owned(), v))
        );
        assert_eq!(
            parse(&value, &v),
            Some("5d41402abc4b2a76b9719d911017c592".into())
        );
        let later = Version {
            ctime: v.ctime + CTIME_SLACK_NS + 1,
            ..v
        };
        assert_eq!(parse(&value, &later), None, "changed since");
        assert_eq!(decode(&value[..48]), None, "truncated");
        assert_eq!(StoredMd5::md5_from_hex("not hex"), None);
        assert_eq!(
            StoredMd5::md5_from_hex("zz41402abc4b2a76b9719d911017c592"),
            None
        );
        let mut other = value;
        other[0] = b'5';
        assert_eq!(
            decode(&other),
            None,
            "the text form starts with a hex digit"
        );
    }

    /// On this machine's file system: the attribute stays in the inode (no block of
    /// its own), where the text form took a 4 KiB block.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_stored_etag_takes_no_block_of_its_own() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").expect("write");
        let bare = std::fs::metadata(&path).expect("stat").blocks();
        let mut file = File::open(&path).expect("open");
        let meta = file.metadata().expect("stat");
        of(&mut file, &meta).expect("etag");
        if stored(&file, &file.metadata().expect("stat")).is_none() {
            return; // no user attributes here (tmpfs without them, some containers)
        }
        assert_eq!(std::fs::metadata(&path).expect("stat").blocks(), bare);
    }
}
