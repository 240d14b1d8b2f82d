//! An object's ETag (the MD5 of its bytes), kept in the extended attribute
//! `user.lakenode.md5` of its file as `<md5 hex> <size> <mtime ns>`.
//!
//! Why an xattr: it is written on the temp file before the rename, so the object and
//! its ETag appear together; it moves and dies with the file (no sidecar to orphan or
//! to list); reading it is one syscall on the descriptor a GET has open anyway. The
//! size and mtime make it self-checking: a file rewritten in place by something else
//! keeps the attribute but changes its mtime, so the stale value is ignored and the
//! file hashed again. A file without one (copied in by hand, or on a file system or
//! platform without user xattrs) is hashed when first read; the result is stored if
//! the file system allows, so each such file is hashed once, not on every ranged GET.
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

use md5::{Digest as _, Md5};

/// The MD5 of nothing (the ETag of an empty object or directory marker).
pub const EMPTY_MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";

#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
const ATTR: &str = "user.lakenode.md5";

/// Lower-case hex of `bytes`.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// What the attribute must say after the MD5 for `meta`'s file.
fn stamp(meta: &Metadata) -> String {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{} {mtime}", meta.len())
}

/// The stored MD5 if it was computed for this size and mtime.
fn parse(value: &[u8], meta: &Metadata) -> Option<String> {
    let text = std::str::from_utf8(value).ok()?;
    let (md5, rest) = text.split_once(' ')?;
    (md5.len() == 32 && md5.bytes().all(|b| b.is_ascii_hexdigit()) && rest == stamp(meta))
        .then(|| md5.to_owned())
}

/// The valid stored ETag of the open `file`, if any.
#[must_use]
pub fn stored(file: &File, meta: &Metadata) -> Option<String> {
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    {
        let mut buf = [0u8; 96];
        let n = rustix::fs::fgetxattr(file, ATTR, &mut buf[..]).ok()?;
        parse(buf.get(..n)?, meta)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
    {
        let _ = (file, meta, parse);
        None
    }
}

/// The valid stored ETag of the file at `path` (for listings: no hashing there).
#[must_use]
pub fn stored_at(path: &Path, meta: &Metadata) -> Option<String> {
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    {
        let mut buf = [0u8; 96];
        let n = rustix::fs::getxattr(path, ATTR, &mut buf[..]).ok()?;
        parse(buf.get(..n)?, meta)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
    {
        let _ = (path, meta);
        None
    }
}

/// Records `md5_hex` as the ETag of `file` as it is now (best effort: a file system
/// without user xattrs, or a file the server may not write, leaves it unrecorded).
pub fn store(file: &File, md5_hex: &str, meta: &Metadata) {
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    {
        let value = format!("{md5_hex} {}", stamp(meta));
        if let Err(e) = rustix::fs::fsetxattr(
            file,
            ATTR,
            value.as_bytes(),
            rustix::fs::XattrFlags::empty(),
        ) {
            tracing::debug!("embedded S3: ETag not stored as an xattr: {e}");
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
    {
        let _ = (file, md5_hex, meta);
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
}
