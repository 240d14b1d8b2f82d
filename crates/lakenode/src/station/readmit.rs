//! Files an earlier release set aside for a prefix change go back into the spool.
//!
//! Before the uploader accepted keys under every prefix the spool recorded
//! (`prefixes.state`), a run with another `--prefix` moved every file still waiting,
//! sealed for the earlier prefix, to `quarantine/` as "not a key of this station". They
//! were never forged: their key is this station's under a prefix the spool wrote to. At
//! open, such a file whose entry is intact and whose key is valid under a recorded prefix
//! is moved back (same sequence number, so it keeps its place in the queue) and its
//! `.reason` removed; any other quarantined file stays where it is.
//!
//! ```text
//! quarantine/0000000000000003.lks    key raw/station=<this>/…/data_0005.parquet
//! quarantine/0000000000000003.reason "not a key of this station: …"
//!   → 0000000000000003.lks, sent to raw/ by the next run, whatever its --prefix
//! ```

use std::path::Path;

use crate::layout::{Prefix, StationId, own_key_tree};
use crate::spool::decode_entry;
use crate::storage::Storage;
use crate::{Error, Result};

/// The reason the uploader gives for a key it refuses (see `uploader.rs`).
pub(super) const NOT_OURS: &str = "not a key of this station";

/// Moves such files back into the spool in `dir`; returns how many.
///
/// # Errors
/// [`Error::Spool`] if a file cannot be moved back.
pub(super) fn readmit(
    storage: &dyn Storage,
    dir: &Path,
    station: &StationId,
    prefixes: &[Option<Prefix>],
) -> Result<usize> {
    let qdir = dir.join("quarantine");
    let Ok(listing) = storage.list(&qdir) else {
        return Ok(0);
    };
    let mut moved = 0;
    for entry in &listing {
        let Some(stem) = entry.name.strip_suffix(".reason") else {
            continue;
        };
        let reason_path = qdir.join(&entry.name);
        let from = qdir.join(format!("{stem}.lks"));
        // Only the 16-digit name the spool gives its entries (`-n` copies stay).
        let to = dir.join(format!("{stem}.lks"));
        if stem.len() != 16 || !stem.bytes().all(|b| b.is_ascii_digit()) || storage.exists(&to) {
            continue;
        }
        let ours_then = storage
            .read(&reason_path)
            .is_ok_and(|r| r.starts_with(NOT_OURS.as_bytes()));
        if !ours_then {
            continue;
        }
        let Ok(data) = storage.read(&from) else {
            continue;
        };
        let Ok((key, _)) = decode_entry(&data) else {
            continue;
        };
        if !prefixes
            .iter()
            .any(|p| own_key_tree(p.as_ref(), station, &key).is_ok())
        {
            continue;
        }
        storage
            .rename(&from, &to)
            .map_err(|e| Error::spool("readmit", &from, e))?;
        storage
            .remove(&reason_path)
            .map_err(|e| Error::spool("remove", &reason_path, e))?;
        moved += 1;
    }
    if moved > 0 {
        storage
            .sync_dir(dir)
            .map_err(|e| Error::spool("sync", dir, e))?;
    }
    Ok(moved)
}
