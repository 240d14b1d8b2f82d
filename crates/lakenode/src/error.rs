//! The crate's single error type.

use std::path::PathBuf;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the core, with the context needed to act on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is invalid; `field` names it.
    #[error("invalid {field}: {reason}")]
    Config {
        /// The configuration field, as the user spells it (e.g. `station`, `interval`).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Samples must arrive in strictly increasing time order.
    #[error("sample at {timestamp_ms} ms is not after the previous one at {previous_ms} ms")]
    OutOfOrder {
        /// Timestamp of the rejected sample (ms since the Unix epoch).
        timestamp_ms: i64,
        /// Timestamp of the sample before it.
        previous_ms: i64,
    },
    /// A sample dated before 2001: the clock was not set (an RTC starts in 1970).
    #[error("sample at {timestamp_ms} ms is dated before 2001: the clock is not set")]
    UnsetClock {
        /// The sample's timestamp (ms since the Unix epoch).
        timestamp_ms: i64,
    },
    /// A sample no sensor can have taken: dated in 2100 or later, or a stored count
    /// outside its measurement's physical range (a forged or damaged record).
    #[error("sample at {timestamp_ms} ms is refused: {reason}")]
    ImplausibleSample {
        /// The sample's timestamp (ms since the Unix epoch).
        timestamp_ms: i64,
        /// Why.
        reason: &'static str,
    },
    /// The Parquet writer failed.
    #[error("parquet encoding failed: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// A spool operation failed.
    #[error("spool {op} {}: {source}", path.display())]
    Spool {
        /// What the spool was doing.
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying IO error.
        source: std::io::Error,
    },
    /// Another process holds the spool directory.
    #[error("spool {} is in use by another lakenode process{}; one process per spool", dir.display(), if holder.is_empty() { String::new() } else { format!(" ({holder})") })]
    SpoolBusy {
        /// The spool directory.
        dir: PathBuf,
        /// What the lock file says of its holder (`pid N`).
        holder: String,
    },
    /// A spool entry failed its integrity check.
    #[error("spool entry {} is corrupt: {reason}", path.display())]
    CorruptSpoolEntry {
        /// The entry's file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A bucket listing's reply could not be read (not UTF-8, not a
    /// `ListBucketResult`): the store or something in its place answered with what is
    /// not a listing. Not a setting's fault.
    #[error("unreadable bucket listing: {reason}")]
    BadListing {
        /// What is wrong with it.
        reason: String,
    },
    /// A file of the lake is not in lakenode's format: its footer metadata or a health
    /// row does not decode (read side only, feature `read`).
    #[error("not a lakenode {what}: {reason}")]
    Format {
        /// What was being decoded (`footer metadata`, `health row`).
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Building an S3 request failed (bad endpoint, bucket name for the URL style...).
    #[error("cannot build S3 request: {0}")]
    S3Request(String),
}

impl Error {
    /// Shorthand for a [`Error::Config`].
    pub(crate) fn config(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Config {
            field,
            reason: reason.into(),
        }
    }

    /// Shorthand for a [`Error::Format`].
    #[cfg(any(feature = "read", test))]
    pub(crate) fn format(what: &'static str, reason: impl Into<String>) -> Self {
        Self::Format {
            what,
            reason: reason.into(),
        }
    }

    /// Shorthand for a [`Error::Spool`] from an IO error.
    pub(crate) fn spool(
        op: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Spool {
            op,
            path: path.into(),
            source,
        }
    }
}
