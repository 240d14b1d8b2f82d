//! MD5 digests of object bodies, the two ways S3 spells them: base64 in a request's
//! `Content-MD5` header (S3 checks the body against it), lowercase hex in the `ETag` of a
//! single-part PUT (the proof the object stored is the body sent).
//!
//! [`Md5Digest`] hashes once and gives both spellings, so one PUT never hashes its body
//! twice; [`md5_hex`] and [`content_md5`] are the one-shot forms for everything else
//! (compaction's tags, test servers).
//!
//! ```
//! use lakenode::digest::{Md5Digest, content_md5, md5_hex};
//!
//! let digest = Md5Digest::of(b"");
//! assert_eq!(digest.hex(), "d41d8cd98f00b204e9800998ecf8427e");
//! assert_eq!(digest.base64(), content_md5(b""));
//! assert_eq!(md5_hex(b""), digest.hex());
//! ```

use base64::Engine as _;
use md5::{Digest as _, Md5};

/// The MD5 of a body.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Md5Digest([u8; 16]);

impl Md5Digest {
    /// Hashes `body`.
    #[must_use]
    pub fn of(body: &[u8]) -> Self {
        #[cfg(test)]
        counter::bump();
        Self(Md5::digest(body).into())
    }

    /// Lowercase hex: what S3 returns as the `ETag` of a single PUT.
    #[must_use]
    pub fn hex(&self) -> String {
        self.0.iter().fold(String::with_capacity(32), |mut s, b| {
            s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            s.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
            s
        })
    }

    /// Base64: the value of a `Content-MD5` header.
    #[must_use]
    pub fn base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }
}

impl std::fmt::Debug for Md5Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Md5Digest({})", self.hex())
    }
}

/// Base64 of the body's MD5, the value of a `Content-MD5` header.
#[must_use]
pub fn content_md5(body: &[u8]) -> String {
    Md5Digest::of(body).base64()
}

/// Lowercase hex of the body's MD5: what S3 returns as the `ETag` of a single PUT.
#[must_use]
pub fn md5_hex(body: &[u8]) -> String {
    Md5Digest::of(body).hex()
}

/// A file's MD5 as a directory lake keeps it, in the extended attribute
/// [`StoredMd5::ATTR`]: written by the embedded S3 server for each object it stores and
/// by `compact` for each file it writes, read by both (the server's `ETag`; `compact`'s
/// check that a file's bytes are the ones stored). One layout, here, for both: 49 bytes,
/// a format byte (2), the MD5, then the file's size, mtime (ns), inode and ctime (ns)
/// when it was recorded, each 8 bytes little-endian. Short enough to stay inside an
/// ext4 inode (a longer text form took a 4 KiB block per file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredMd5 {
    /// The MD5.
    pub md5: [u8; 16],
    /// The file's size, mtime (ns), inode and ctime (ns) it was recorded for.
    pub version: [u64; 4],
}

impl StoredMd5 {
    /// The extended attribute's name.
    pub const ATTR: &'static str = "user.lakenode.md5";
    /// The value's length.
    pub const LEN: usize = 1 + 16 + 4 * 8;
    const FORMAT: u8 = 2;

    /// The attribute's value.
    #[must_use]
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut value = [0u8; Self::LEN];
        value[0] = Self::FORMAT;
        value[1..17].copy_from_slice(&self.md5);
        for (slot, n) in value[17..].chunks_exact_mut(8).zip(self.version) {
            slot.copy_from_slice(&n.to_le_bytes());
        }
        value
    }

    /// A value of this layout; `None` for any other (the text form of versions before
    /// 2026-12-04, a damaged value).
    #[must_use]
    pub fn decode(value: &[u8]) -> Option<Self> {
        let value: &[u8; Self::LEN] = value.try_into().ok()?;
        if value[0] != Self::FORMAT {
            return None;
        }
        let mut md5 = [0u8; 16];
        md5.copy_from_slice(&value[1..17]);
        let mut version = [0u64; 4];
        for (n, bytes) in version.iter_mut().zip(value[17..].chunks_exact(8)) {
            *n = u64::from_le_bytes(bytes.try_into().ok()?);
        }
        Some(Self { md5, version })
    }

    /// The MD5 in lowercase hex.
    #[must_use]
    pub fn md5_hex(&self) -> String {
        Md5Digest(self.md5).hex()
    }

    /// The 16 bytes of an MD5 given in hex; `None` if it is not one.
    #[must_use]
    pub fn md5_from_hex(md5_hex: &str) -> Option<[u8; 16]> {
        let hex = md5_hex.as_bytes();
        if hex.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            let digit = |c: u8| char::from(c).to_digit(16);
            *byte = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
        }
        Some(out)
    }
}

/// How many bodies this thread has hashed, so tests can check that a path hashes once.
#[cfg(test)]
pub(crate) mod counter {
    use std::cell::Cell;

    thread_local!(static HASHED: Cell<usize> = const { Cell::new(0) });

    pub(super) fn bump() {
        HASHED.with(|h| h.set(h.get() + 1));
    }

    /// Bodies hashed on this thread so far.
    pub(crate) fn hashed() -> usize {
        HASHED.with(Cell::get)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_matches_independent_values() {
        // The empty body's Content-MD5 as AWS documents it; the other from Python's hashlib.
        assert_eq!(content_md5(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
        assert_eq!(content_md5(b"Check Integrity!"), "nwqq6b6ua/tTDk7B5M184w==");
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        let d = Md5Digest::of(b"Check Integrity!");
        assert_eq!(d.hex(), "9f0aaae9beae6bfb530e4ec1e4cd7ce3");
        assert_eq!(
            format!("{d:?}"),
            "Md5Digest(9f0aaae9beae6bfb530e4ec1e4cd7ce3)"
        );
    }

    #[test]
    fn a_stored_md5_round_trips_and_refuses_other_forms() {
        let md5 = StoredMd5::md5_from_hex("9f0aaae9beae6bfb530e4ec1e4cd7ce3").unwrap();
        let record = StoredMd5 {
            md5,
            version: [16, 1_764_806_400_123_456_789, 42, 1_764_806_400_223_456_789],
        };
        let value = record.encode();
        assert_eq!(value.len(), 49);
        assert_eq!(StoredMd5::decode(&value), Some(record));
        assert_eq!(record.md5_hex(), "9f0aaae9beae6bfb530e4ec1e4cd7ce3");
        assert_eq!(StoredMd5::decode(&value[..48]), None);
        assert_eq!(
            StoredMd5::decode(b"9f0aaae9beae6bfb530e4ec1e4cd7ce3 16 1 42 2"),
            None
        );
        assert_eq!(
            StoredMd5::md5_from_hex("zz0aaae9beae6bfb530e4ec1e4cd7ce3"),
            None
        );
        assert_eq!(StoredMd5::md5_from_hex("9f0a"), None);
    }

    #[test]
    fn the_counter_counts_each_hash() {
        let before = counter::hashed();
        let _ = md5_hex(b"a");
        let _ = content_md5(b"b");
        assert_eq!(counter::hashed() - before, 2);
    }
}
