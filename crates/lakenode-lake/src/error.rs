//! The lake side's errors. Each variant carries its context (the file, the key, what
//! was being done), so a message names what failed without the caller adding to it; the
//! CLI maps each to its exit code (README, "Exit codes": [`Error::Locked`] is 7).

use std::path::PathBuf;

/// Everything reading or rewriting a lake can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An error from the core (an S3 setting, a listing that cannot be parsed).
    #[error(transparent)]
    Core(#[from] lakenode::Error),
    /// A request that can never work as given (a key that is not a lake key, an
    /// output path that may not be replaced).
    #[error("{0}")]
    Usage(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file (or, for an object found missing in a bucket, its key).
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An S3 request failed: no reply, or a reply that is not a success.
    #[error("{what}: {message}")]
    Request {
        /// What was being done, e.g. `downloading <key>`.
        what: String,
        /// Why it failed (the transport's error or S3's answer).
        message: String,
    },
    /// A file could not be built or failed a check (a daily file that did not encode,
    /// a listing that would be incomplete).
    #[error("{0}")]
    Check(String),
    /// An object's bytes are not the ones its store recorded (a local file whose MD5 is
    /// not its `user.lakenode.md5` attribute's, an S3 body that is not its `ETag`'s
    /// each time it is read): damaged. Left as it is.
    #[error("{0}")]
    Damaged(String),
    /// The compaction lock could not be kept: another run took it over after it
    /// expired. This run changed the lake before, so it is not [`Error::Locked`].
    #[error("{0}")]
    LockLost(String),
    /// Another compaction holds the lake's lock; nothing was changed.
    #[error("{0}")]
    Locked(String),
    /// A signal stopped a request's retries (or the run before its next request): what
    /// was being done and its last failure.
    #[error("{0}")]
    Stopped(String),
}

impl Error {
    /// Shorthand for an IO error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// Shorthand for a failed request.
    pub fn request(what: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self::Request {
            what: what.into(),
            message: message.to_string(),
        }
    }

    /// Whether the object is not there (any more).
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Result alias of the lake side.
pub type Result<T, E = Error> = std::result::Result<T, E>;
