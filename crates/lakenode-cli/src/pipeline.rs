//! Drives the core on the host: samples into a [`Node`], sealed files out through an
//! [`Uploader`] over real HTTP. Shared by `run` and `demo`, so the demo exercises
//! exactly what a deployed gateway runs.

use std::time::{Duration, Instant};

use lakenode::clock::SystemClock;
use lakenode::health::HealthRow;
use lakenode::layout::rfc3339;
use lakenode::node::{Delivered, Node, Stop, Uploader};
use lakenode::s3::S3Failure;
use lakenode::sample::Sample;
use tracing::{debug, info, warn};

use crate::error::{CliError, CliResult};
use crate::transport::UreqTransport;

/// Rounds of retries at the end of a finite run before giving up (each round makes
/// up to the uploader's attempt budget per file).
const FINAL_ROUNDS: u32 = 3;

/// How long uploads pause after S3 refused the credentials, permissions or bucket:
/// sampling and spooling go on, but the store is not hammered with doomed requests.
const REFUSED_PAUSE: Duration = Duration::from_secs(300);

/// Counters of a run.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Samples recorded.
    pub samples: u64,
    /// Files sealed (encoded and spooled).
    pub sealed_files: u64,
    /// Rows in sealed files.
    pub sealed_rows: u64,
    /// Objects S3 confirmed.
    pub delivered: Vec<Delivered>,
    /// Failed attempts that were retried.
    pub retries: u32,
    /// Spool entries quarantined.
    pub quarantined: usize,
    /// Samples skipped because the node had already recorded their instant (a resumed
    /// run or a re-sent CSV).
    pub already_recorded: u64,
}

impl Stats {
    /// Bytes S3 confirmed.
    #[must_use]
    pub fn delivered_bytes(&self) -> usize {
        self.delivered.iter().map(|d| d.bytes).sum()
    }
}

/// A node plus its uploader, transport and counters.
pub struct Pipeline {
    node: Node,
    uploader: Uploader,
    transport: UreqTransport,
    stats: Stats,
    last_failure: Option<String>,
    log_uploads: bool,
    refused: Option<(String, S3Failure)>,
    paused_until: Option<Instant>,
    health: bool,
    started: Instant,
}

impl Pipeline {
    /// A pipeline; call [`Pipeline::resume`] first to send what a previous run left.
    #[must_use]
    pub fn new(node: Node, uploader: Uploader, transport: UreqTransport) -> Self {
        Self {
            node,
            uploader,
            transport,
            stats: Stats::default(),
            last_failure: None,
            log_uploads: true,
            refused: None,
            paused_until: None,
            health: false,
            started: Instant::now(),
        }
    }

    /// Also writes one health row per window into the health tree.
    #[must_use]
    pub fn with_health(mut self, on: bool) -> Self {
        self.health = on;
        self
    }

    /// Logs each upload at debug level instead of info (the demo prints a summary).
    #[must_use]
    pub fn quiet_uploads(mut self) -> Self {
        self.log_uploads = false;
        self
    }

    /// The node (for its spool and resume point).
    #[must_use]
    pub const fn node(&self) -> &Node {
        &self.node
    }

    /// Uploads whatever an earlier run left in the spool.
    ///
    /// # Errors
    /// As [`Pipeline::drain`].
    pub fn resume(&mut self) -> CliResult<()> {
        let pending = self.node.spool().pending()?.len();
        if pending > 0 {
            info!(pending, spool = %self.node.spool().dir().display(), "uploading files left by an earlier run");
            self.drain(false)?;
        }
        Ok(())
    }

    /// Records a sample; a sealed window is uploaded right away.
    ///
    /// # Errors
    /// Spool or encoding failures, and S3 refusing the credentials or bucket.
    pub fn record(&mut self, sample: Sample) -> CliResult<()> {
        self.stats.samples += 1;
        match self.node.record(sample) {
            Ok(Some(sealed)) => {
                self.sealed(&sealed)?;
                self.drain(false)
            }
            Ok(None) => Ok(()),
            Err(lakenode::Error::OutOfOrder {
                timestamp_ms,
                previous_ms,
            }) => {
                warn!(
                    "dropping a sample at {} that is not after the previous one at {}",
                    rfc3339(timestamp_ms),
                    rfc3339(previous_ms)
                );
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn sealed(&mut self, sealed: &lakenode::node::SealedFile) -> CliResult<()> {
        self.stats.sealed_files += 1;
        self.stats.sealed_rows += sealed.rows as u64;
        debug!(key = %sealed.key, rows = sealed.rows, bytes = sealed.bytes, "sealed window");
        if self.health {
            let spool = self.node.spool().stats();
            let mut row =
                HealthRow::new(sealed.window_start_ms + self.node.config().spec.window_ms());
            row.uptime_s = i64::try_from(self.started.elapsed().as_secs()).unwrap_or(i64::MAX);
            row.spool_files = i64::try_from(spool.pending_files).unwrap_or(i64::MAX);
            row.spool_bytes = i64::try_from(spool.pending_bytes).unwrap_or(i64::MAX);
            row.dropped_files = i64::try_from(spool.dropped_files).unwrap_or(i64::MAX);
            row.upload_failures = i64::from(self.stats.retries);
            row.reset_reason = "host".into();
            self.node.spool_health(sealed.window_start_ms, &row)?;
        }
        Ok(())
    }

    /// Seals the open window and uploads everything, retrying a few rounds.
    ///
    /// # Errors
    /// [`CliError::Incomplete`] if files remain in the spool after the final rounds.
    pub fn finish(mut self) -> CliResult<Stats> {
        if let Some(sealed) = self.node.flush()? {
            self.sealed(&sealed)?;
        }
        if self.refused.is_none() {
            self.paused_until = None;
        }
        for round in 1..=FINAL_ROUNDS {
            // Skipped while uploads are paused after a refusal; then the refusal is the
            // answer, without waiting for more rounds.
            self.drain(true)?;
            if let Some((key, failure)) = self.refused.take() {
                return Err(CliError::Refused {
                    key,
                    failure: Box::new(failure),
                });
            }
            if self.node.spool().pending()?.is_empty() {
                return Ok(self.stats);
            }
            if round < FINAL_ROUNDS {
                warn!(round, "files remain in the spool; retrying in 5 s");
                std::thread::sleep(Duration::from_secs(5));
            }
        }
        let pending = self.node.spool().pending()?.len();
        Err(CliError::Incomplete {
            pending,
            spool: self.node.spool().dir().to_path_buf(),
            reason: self
                .last_failure
                .unwrap_or_else(|| "transient upload failures persisted".into()),
        })
    }

    /// Uploads pending files. Transient failures leave the data spooled for the next
    /// drain; after S3 refused the credentials or bucket, uploads pause (sampling goes on)
    /// and the run ends with that error.
    fn drain(&mut self, quiet_give_up: bool) -> CliResult<()> {
        if self.paused_until.is_some_and(|t| Instant::now() < t) {
            return Ok(());
        }
        let report = self.uploader.drain(
            self.node.spool_mut(),
            &mut self.transport,
            &SystemClock,
            &mut |d| std::thread::sleep(d),
        )?;
        for d in &report.delivered {
            if self.log_uploads {
                info!(key = %d.key, bytes = d.bytes, attempts = d.attempts, "uploaded");
            } else {
                debug!(key = %d.key, bytes = d.bytes, attempts = d.attempts, "uploaded");
            }
        }
        for (id, reason) in &report.quarantined {
            warn!(id, "quarantined spool entry: {reason}");
        }
        self.stats.retries += report.retries;
        self.stats.quarantined += report.quarantined.len();
        self.stats.delivered.extend(report.delivered);
        match report.stopped {
            None => {
                self.refused = None;
                Ok(())
            }
            Some(Stop::Refused { key, failure }) => {
                tracing::error!(
                    %key,
                    "S3 refused the upload: {failure}; uploads pause for {} s, sampling and spooling continue",
                    REFUSED_PAUSE.as_secs()
                );
                self.paused_until = Some(Instant::now() + REFUSED_PAUSE);
                self.refused = Some((key, failure));
                Ok(())
            }
            Some(Stop::GaveUp {
                key,
                last,
                attempts,
            }) => {
                self.last_failure = Some(format!("{key}: {last}"));
                if !quiet_give_up {
                    warn!(%key, attempts, "upload failing ({last}); the file stays spooled and is retried later");
                }
                Ok(())
            }
        }
    }
}
