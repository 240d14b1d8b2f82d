//! Whether a file's bytes are the ones its store stored (F4).
//!
//! The embedded S3 server (`lakenode serve`, and the demo, which writes through it)
//! keeps each object's MD5 in the extended attribute `user.lakenode.md5` of its file,
//! as `<md5 hex> <size> ...` (`lakenode_embedded_s3::store::etag`): written for the
//! bytes a PUT stored, or for the bytes found when a file without a valid value was
//! first read. Nothing but damage or an edit in place by another program (which keeps
//! the attribute: `cp` over an existing file, a bit flipped by a tool) makes the file's
//! MD5 differ from it. `compact` must not bake such bytes into a daily file and delete
//! the original, so it compares the two on every file it reads
//! ([`crate::lake::LakeStore::get_checked`]); `inspect` says so too.
//!
//! What it cannot tell: a file without the attribute (a lake written by other means,
//! copied without extended attributes, or on a file system without user attributes),
//! and an edit the server has already hashed again (a GET through `serve` of a file
//! changed in place since: the server takes it as a new version and records its MD5).
//!
//! The MD5 of the file is the one a compaction computes anyway (its sources list): the
//! check costs one `fgetxattr` per file.

use std::fs::File;
use std::path::Path;

use lakenode::digest::StoredMd5;

/// The extended attribute holding the embedded store's MD5 of a file.
pub const MD5_ATTR: &str = StoredMd5::ATTR;

/// The MD5 (lower-case hex) the embedded store recorded for the open `file` (at
/// `path`, named in a warning), whatever version of the file it was recorded for;
/// `None` without the attribute, or with one that cannot be read or is not in either
/// layout, which is warned about (F5: it used to count as none, silently): the file is
/// then taken as it is, as one without it.
#[must_use]
pub fn stored_md5(file: &File, path: &Path) -> Option<String> {
    match stored_value(file) {
        Stored::Md5(md5) => Some(md5),
        Stored::Absent => None,
        Stored::Unreadable(why) => {
            tracing::warn!(
                "{}: {why}: its bytes cannot be checked against the ones stored, and are taken as they are",
                path.display()
            );
            None
        }
    }
}

/// What a file's attribute [`MD5_ATTR`] holds.
#[derive(Debug, PartialEq, Eq)]
enum Stored {
    /// The MD5 recorded (lower-case hex).
    Md5(String),
    /// No attribute, or a file system (or platform) without user attributes.
    Absent,
    /// An attribute that could not be read, or holds no MD5 in either layout: why.
    Unreadable(String),
}

fn stored_value(file: &File) -> Stored {
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    {
        use rustix::io::Errno;
        let mut buf = [0u8; 192];
        match rustix::fs::fgetxattr(file, MD5_ATTR, &mut buf[..]) {
            Ok(n) => buf.get(..n).and_then(md5_of_value).map_or_else(
                || {
                    Stored::Unreadable(format!(
                        "the attribute {MD5_ATTR} holds {n} byte(s) that are no MD5 record"
                    ))
                },
                Stored::Md5,
            ),
            Err(Errno::NODATA | Errno::NOTSUP) => Stored::Absent,
            Err(Errno::RANGE) => Stored::Unreadable(format!(
                "the attribute {MD5_ATTR} is longer than any MD5 record"
            )),
            Err(e) => {
                Stored::Unreadable(format!("the attribute {MD5_ATTR} could not be read: {e}"))
            }
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
    {
        let _ = file;
        Stored::Absent
    }
}

/// The MD5 (lower-case hex) an attribute's value holds: since 2026-12-04 the layout
/// [`StoredMd5`] (the one the embedded server writes); before, text starting
/// `<md5 hex> `.
fn md5_of_value(value: &[u8]) -> Option<String> {
    if let Some(record) = StoredMd5::decode(value) {
        return Some(record.md5_hex());
    }
    let text = std::str::from_utf8(value).ok()?;
    let md5 = text.split(' ').next()?;
    (md5.len() == 32 && md5.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| md5.to_ascii_lowercase())
}

/// Records `md5_hex` as the MD5 of the open `file`, in the layout the embedded store writes ([`StoredMd5`])
/// (so that `compact` checks a daily file it wrote itself when it reads it again, and
/// `lakenode serve` takes the value as its ETag while the file is unchanged). Best
/// effort: a file system without user attributes leaves it unrecorded.
pub fn record(file: &File, md5_hex: &str) {
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    {
        use std::os::unix::fs::MetadataExt as _;
        let (Ok(meta), Some(md5)) = (file.metadata(), StoredMd5::md5_from_hex(md5_hex)) else {
            return;
        };
        let ns = |s: i64, n: i64| {
            u64::try_from(s)
                .ok()?
                .checked_mul(1_000_000_000)?
                .checked_add(u64::try_from(n).ok()?)
        };
        let (Some(mtime), Some(ctime)) = (
            ns(meta.mtime(), meta.mtime_nsec()),
            ns(meta.ctime(), meta.ctime_nsec()),
        ) else {
            return;
        };
        let value = StoredMd5 {
            md5,
            version: [meta.len(), mtime, meta.ino(), ctime],
        }
        .encode();
        let _ = rustix::fs::fsetxattr(file, MD5_ATTR, &value, rustix::fs::XattrFlags::empty());
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
    {
        let _ = (file, md5_hex);
    }
}

/// Why the bytes read from `file` at `path` (whose MD5 is `md5`) are not the ones
/// stored, if they are not.
#[must_use]
pub fn mismatch(file: &File, path: &Path, md5: &str) -> Option<String> {
    let stored = stored_md5(file, path)?;
    (!stored.eq_ignore_ascii_case(md5)).then(|| {
        format!(
            "its bytes are not the ones stored: their MD5 is {md5}, the store recorded \
             {stored} (attribute {MD5_ATTR}): damaged, or changed in place by another \
             program"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_of_the_value_give_the_md5() {
        let hello = "5d41402abc4b2a76b9719d911017c592";
        let mut binary = vec![2u8];
        binary.extend((0..16).map(|i| u8::from_str_radix(&hello[2 * i..2 * i + 2], 16).unwrap()));
        binary.extend([7u8; 32]);
        assert_eq!(md5_of_value(&binary).as_deref(), Some(hello));
        assert_eq!(
            md5_of_value(format!("{hello} 5 1 2 3").as_bytes()).as_deref(),
            Some(hello)
        );
        assert_eq!(md5_of_value(&binary[..48]), None, "truncated");
        assert_eq!(md5_of_value(b"not an md5 5 1"), None);
    }

    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    #[test]
    fn a_file_whose_md5_is_not_the_stored_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").unwrap();
        let file = File::open(&path).unwrap();
        let hello = lakenode::digest::md5_hex(b"hello");
        assert_eq!(stored_md5(&file, &path), None);
        assert_eq!(
            mismatch(&file, &path, &hello),
            None,
            "no attribute: nothing to tell"
        );
        let value = format!("{} 5 1 2 3", hello.to_ascii_uppercase());
        if rustix::fs::setxattr(
            &path,
            MD5_ATTR,
            value.as_bytes(),
            rustix::fs::XattrFlags::empty(),
        )
        .is_err()
        {
            return; // a file system without user attributes
        }
        assert_eq!(stored_md5(&file, &path), Some(hello.clone()));
        assert_eq!(mismatch(&file, &path, &hello), None);
        let other = lakenode::digest::md5_hex(b"hellp");
        let why = mismatch(&file, &path, &other).unwrap();
        assert!(why.contains(&other) && why.contains(&hello), "{why}");
    }

    /// F5: an attribute that is there but holds no MD5 record is told apart from none
    /// (it is warned about; the file is still taken as it is).
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    #[test]
    fn an_attribute_that_holds_no_md5_is_unreadable_not_absent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").unwrap();
        let file = File::open(&path).unwrap();
        assert_eq!(stored_value(&file), Stored::Absent);
        let set = |value: &[u8]| {
            rustix::fs::setxattr(&path, MD5_ATTR, value, rustix::fs::XattrFlags::empty()).is_ok()
        };
        if !set(b"garbage") {
            return; // a file system without user attributes
        }
        assert!(
            matches!(stored_value(&file), Stored::Unreadable(why) if why.contains("7 byte(s)")),
        );
        assert_eq!(stored_md5(&file, &path), None, "taken as it is");
        assert!(set(&[b'x'; 300]));
        assert!(matches!(stored_value(&file), Stored::Unreadable(why) if why.contains("longer")),);
    }
}
