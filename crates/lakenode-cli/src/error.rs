//! The CLI's error type and its exit codes.

use std::path::PathBuf;

use lakenode::health::Tree;
use lakenode::s3::S3Failure;

/// Exit code of a command line or configuration that can never work (clap's usage
/// errors, and `run`'s invalid settings): `packaging/lakenode.service` does not restart
/// on it.
pub const EXIT_CONFIG: u8 = 2;

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// An error from the core (configuration, spool, encoding).
    #[error(transparent)]
    Core(#[from] lakenode::Error),
    /// A usage or configuration problem found by the CLI.
    #[error("{0}")]
    Usage(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A failure at run time that is not a setting's fault (a retry may succeed).
    #[error("{0}")]
    Failed(String),
    /// Bad input data (CSV), with its location.
    #[error("{location}: {message}")]
    Input {
        /// File and line.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// A Parquet file could not be read.
    #[error("{}: not a readable Parquet file: {source}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// Why.
        source: lakenode_lake::readback::ReadError,
    },
    /// S3 refused the credentials, permissions or bucket; with `tree` health, only the
    /// health rows (every data file was delivered).
    #[error(
        "{}the upload of {key} was refused: {failure}\n  hint: {}",
        if *tree == Tree::Health { "every data file was delivered, but " } else { "" },
        hint(failure, *tree)
    )]
    Refused {
        /// The key being uploaded.
        key: String,
        /// S3's answer.
        failure: Box<S3Failure>,
        /// The tree of that key.
        tree: Tree,
    },
    /// Uploads did not complete; the data is safe in the spool.
    #[error("{}", incomplete(*pending, spool, reason))]
    Incomplete {
        /// Files still spooled.
        pending: usize,
        /// The spool directory.
        spool: PathBuf,
        /// The last failure.
        reason: String,
    },
    /// The run finished, but some data was skipped, dropped or quarantined.
    #[error("not every sample reached S3: {0}")]
    DataLost(String),
    /// A read-back check of the uploaded data failed: the lake does not hold what was
    /// sent.
    #[error("verification failed: {0}")]
    Verify(String),
    /// A request got no answer (connection refused, timeout, TLS): what was being done,
    /// and the transport's error.
    #[error("network error: {0}")]
    Network(String),
    /// S3 (or what answers in its place) replied with an error, or with something that
    /// is not a usable answer: what was being done, and the reply.
    #[error("S3 error: {0}")]
    S3(String),
    /// A run was stopped (a signal) before it was done.
    #[error("stopped by a signal before the run was done")]
    Stopped,
    /// `compact` or `report` stopped by a signal (exit 4, as a finite `run` stopped
    /// early): what was done and what was left.
    #[error("{0}\n  exit code 4: stopped by a signal; run the same command again to finish")]
    Interrupted(String),
    /// A report chart could not be drawn.
    #[error("drawing the report's {chart}: {message}")]
    Chart {
        /// Which chart.
        chart: &'static str,
        /// What plotters said.
        message: String,
    },
    /// `report`: the page is written, but stations are silent (an alarm, exit 6).
    #[error(
        "{silent} of {stations} station(s) silent (listed above and in {}); exit code 6 \
         is the report's alarm: check the stations' power and network",
        page.display()
    )]
    Silent {
        /// Silent stations.
        silent: usize,
        /// All stations in the report.
        stations: usize,
        /// The page written.
        page: PathBuf,
    },
    /// `compact`: another compaction holds the lake's lock (exit 7); nothing was changed.
    #[error(
        "{0}\n  exit code 7: another compaction holds the lake's lock; nothing was changed, \
         run again when it has finished"
    )]
    Locked(String),
    /// The embedded S3 server could not start.
    #[error(transparent)]
    Server(#[from] lakenode_embedded_s3::Error),
}

/// The lake side's errors keep the exit codes and messages they had when that code was
/// the CLI's: a refused or failed request and a lost lock are failures (exit 1, shown
/// as "verification failed: ..."), a held lock exits 7.
impl From<lakenode_lake::Error> for CliError {
    fn from(e: lakenode_lake::Error) -> Self {
        use lakenode_lake::Error as E;
        match e {
            E::Core(e) => Self::Core(e),
            E::Usage(m) => Self::Usage(m),
            E::Io { path, source } => Self::Io { path, source },
            E::Locked(m) => Self::Locked(m),
            E::Stopped(m) => Self::Interrupted(m),
            e @ (E::Request { .. } | E::Check(_) | E::Damaged(_) | E::LockLost(_)) => {
                Self::Verify(e.to_string())
            }
        }
    }
}

impl CliError {
    /// Process exit code: 1 general failure, 3 S3 refused the credentials or bucket,
    /// 4 uploads incomplete (data kept in the spool) or `compact`/`report` stopped by a
    /// signal, 5 finished but samples were
    /// skipped or files dropped or quarantined, 6 `report` found a silent station,
    /// 7 `compact` found the lake locked by another compaction. [`CliError::Network`],
    /// [`CliError::S3`], [`CliError::Stopped`] and [`CliError::Verify`] exit 1.
    /// Clap uses 2 for usage errors.
    #[must_use]
    pub const fn exit_code(&self) -> u8 {
        match self {
            Self::Refused { .. } => 3,
            Self::Incomplete { .. } | Self::Interrupted(_) => 4,
            Self::DataLost(_) => 5,
            Self::Silent { .. } => crate::commands::report::SILENT_EXIT,
            Self::Locked(_) => 7,
            _ => 1,
        }
    }

    /// Exit code of `run`: as [`CliError::exit_code`], except that a setting that can
    /// never work (a flag's or config key's value, a missing or unsafe credential, a
    /// CSV that contradicts the settings) exits [`EXIT_CONFIG`] like a command-line
    /// error, the code the service unit's `RestartPreventExitStatus=` names: restarting
    /// cannot help.
    #[must_use]
    pub const fn run_exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) | Self::Core(lakenode::Error::Config { .. }) => EXIT_CONFIG,
            _ => self.exit_code(),
        }
    }

    /// Shorthand for an IO error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

fn hint(f: &S3Failure, tree: Tree) -> &'static str {
    match f.code.as_str() {
        "AccessDenied" if tree == Tree::Health => {
            "the credentials may not write the health/ tree (health rows stay in the spool): give the IAM policy that `lakenode policy` prints, which allows both trees, or run without --health"
        }
        "SignatureDoesNotMatch" => {
            "the secret key does not match the access key (check AWS_SECRET_ACCESS_KEY or the --credentials-file)"
        }
        "InvalidAccessKeyId" => {
            "the access key is unknown to this endpoint (check AWS_ACCESS_KEY_ID or the --credentials-file, and --endpoint)"
        }
        "AccessDenied" => "the credentials may not write here (check the IAM policy and --prefix)",
        "ExpiredToken" | "InvalidToken" => {
            "the session token expired or is invalid (refresh AWS_SESSION_TOKEN)"
        }
        "NoSuchBucket" => "the bucket does not exist (check --bucket)",
        c if c.starts_with("HTTP ") => {
            "the reply is not from S3 (a proxy, a captive portal, or a wrong --endpoint?)"
        }
        "PermanentRedirect" | "AuthorizationHeaderMalformed" => {
            "the bucket is in another region (check --region)"
        }
        _ => "check the endpoint, bucket, region and credentials",
    }
}

/// Result alias for commands.
pub type CliResult<T> = Result<T, CliError>;

/// [`CliError::Incomplete`]'s message: with nothing left in the spool (a signal before
/// the first window was sealed), only what ended the run.
fn incomplete(pending: usize, spool: &std::path::Path, reason: &str) -> String {
    if pending == 0 {
        format!(
            "the run ended early, with no file waiting for upload in the spool {}: {reason}\n  \
             run the same command again to carry on",
            spool.display()
        )
    } else {
        format!(
            "{pending} file(s) could not be uploaded and remain in the spool {}: {reason}\n  run \
             the same command again to retry",
            spool.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_early_end_with_nothing_spooled_does_not_count_zero_files() {
        let spool = PathBuf::from("sp");
        let none = CliError::Incomplete {
            pending: 0,
            spool: spool.clone(),
            reason: "stopped by a signal".into(),
        }
        .to_string();
        assert!(!none.contains("0 file(s)"), "{none}");
        assert!(
            none.contains("no file waiting for upload in the spool sp"),
            "{none}"
        );
        let some = CliError::Incomplete {
            pending: 3,
            spool,
            reason: "stopped by a signal".into(),
        }
        .to_string();
        assert!(
            some.starts_with("3 file(s) could not be uploaded"),
            "{some}"
        );
    }
}
