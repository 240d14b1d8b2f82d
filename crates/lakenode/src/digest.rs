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
    fn the_counter_counts_each_hash() {
        let before = counter::hashed();
        let _ = md5_hex(b"a");
        let _ = content_md5(b"b");
        assert_eq!(counter::hashed() - before, 2);
    }
}
