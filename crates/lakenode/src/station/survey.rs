//! A look at a station's directory from outside the process that runs it: what
//! `lakenode status` shows while a node runs. Read-only: it takes no lock, removes no
//! temporary file and writes nothing, so the running node never notices.
//!
//! ```
//! use lakenode::station::{Station, StationConfig, survey};
//! use lakenode::s3::{Credentials, S3Client, S3Config};
//! use lakenode::layout::StationId;
//! # let dir = tempfile::tempdir()?;
//! let s3 = S3Config::new("http://127.0.0.1:9000", "lake", "us-east-1", true)?;
//! let client = S3Client::new(&s3, Credentials::new("AKIAIOSFODNN7EXAMPLE", "secret", None))?;
//! let station = StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e")?;
//! let node = Station::open(StationConfig::new(station.clone(), client), dir.path())?;
//! let seen = survey(dir.path())?; // while `node` holds the spool's lock
//! assert_eq!(seen.config.station, station);
//! assert_eq!(seen.spool.pending_files, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;

use crate::recorder::RecorderConfig;
use crate::spool::{Spool, SpoolSurvey};
use crate::storage::StdStorage;
use crate::{Error, Result};

/// A station's directory as [`survey`] found it.
#[derive(Debug, Clone)]
pub struct Survey {
    /// What the spool records with (station, prefix, columns, interval, profile).
    pub config: RecorderConfig,
    /// Its files.
    pub spool: SpoolSurvey,
}

/// Surveys the station directory `dir` (a `run --spool`) without changing it.
///
/// # Errors
/// [`Error::Format`] if `dir` is not a station's directory (it holds no readable
/// `station.state`, which a station writes when it first opens it); [`Error::Spool`]
/// if it cannot be listed.
pub fn survey(dir: &Path) -> Result<Survey> {
    let storage = StdStorage::shared();
    let Some(config) = super::identity::read(&*storage, dir) else {
        return Err(Error::Format {
            what: "spool",
            reason: format!(
                "{} holds no readable {} (a station writes it when it first opens its spool)",
                dir.display(),
                super::identity::FILE
            ),
        });
    };
    let spool = Spool::survey(storage, dir)?;
    Ok(Survey { config, spool })
}
