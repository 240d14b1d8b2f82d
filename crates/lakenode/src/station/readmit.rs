//! Files an earlier run set aside as another station's, or an earlier release for a
//! prefix change, go back into the spool when they are this station's again.
//!
//! A run with another `--station` moves every file still waiting, sealed for the
//! earlier station, to `quarantine/` as "not a key of this station" (it signs only its
//! own keys); so did an earlier release with another `--prefix`, before the uploader
//! accepted keys under every prefix the spool recorded (`prefixes.state`). They were
//! never forged: their key is this station's under a prefix the spool wrote to. At
//! open, such a file whose entry is intact and whose key is valid under a recorded prefix
//! is moved back (same sequence number, so it keeps its place in the queue) and its
//! `.reason` removed; any other quarantined file stays where it is. The reason names the
//! station and prefix of the run that set the file aside ([`not_ours`]), so the operator
//! is told what changed: the station, the prefix, or both.
//!
//! ```text
//! quarantine/0000000000000003.lks    key raw/station=<A>/…/data_0005.parquet
//! quarantine/0000000000000003.reason "not a key of this station (station=<B> prefix=raw): …"
//!   → 0000000000000003.lks, sent to raw/ by the next run as station A, whatever its --prefix
//! ```

use std::path::Path;

use crate::layout::{Prefix, StationId, own_key_tree};
use crate::spool::decode_entry;
use crate::storage::Storage;
use crate::{Error, Result};

/// The reason the uploader gives for a key it refuses (see `uploader.rs`).
const NOT_OURS: &str = "not a key of this station";

/// The reason the uploader gives for a key it refuses as not its own while recording as
/// `station` under `prefix`, `why` in a few words; read back by [`readmit`].
pub(super) fn not_ours(station: &StationId, prefix: Option<&Prefix>, why: &str) -> String {
    let prefix = prefix.map_or("-", Prefix::as_str);
    format!("{NOT_OURS} (station={station} prefix={prefix}): {why}")
}

/// The station and prefix [`not_ours`] wrote into `reason`; `None` for a reason an
/// earlier release wrote (without them).
fn refused_by(reason: &str) -> Option<(&str, &str)> {
    let inside = reason.strip_prefix(NOT_OURS)?.strip_prefix(" (")?;
    let (inside, _) = inside.split_once(')')?;
    let mut fields = inside.split(' ');
    let station = fields.next()?.strip_prefix("station=")?;
    let prefix = fields.next()?.strip_prefix("prefix=")?;
    Some((station, prefix))
}

/// Files [`readmit`] put back, by what changed since they were sealed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Readmitted {
    /// Set aside by a run as another station (under the same prefix).
    pub(super) station: usize,
    /// Set aside by a run under another prefix (an earlier release).
    pub(super) prefix: usize,
    /// Set aside by a run as another station under another prefix.
    pub(super) both: usize,
}

impl Readmitted {
    /// Files put back.
    pub(super) const fn total(self) -> usize {
        self.station + self.prefix + self.both
    }

    /// What the operator is told, if any file was put back.
    pub(super) fn describe(self) -> Option<String> {
        let parts: Vec<String> = [
            (self.station, "a station change"),
            (self.prefix, "a prefix change"),
            (self.both, "a station and prefix change"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} after {what}"))
        .collect();
        (self.total() > 0).then(|| {
            format!(
                "{} file(s) an earlier run set aside ({}) were put back in the spool; they go to the station and prefix they were sealed for",
                self.total(),
                parts.join(", ")
            )
        })
    }
}

/// Moves such files back into the spool in `dir`, for `station` recording under
/// `prefixes[0]` (and having written to the others).
///
/// # Errors
/// [`Error::Spool`] if a file cannot be moved back.
pub(super) fn readmit(
    storage: &dyn Storage,
    dir: &Path,
    station: &StationId,
    prefixes: &[Option<Prefix>],
) -> Result<Readmitted> {
    let qdir = dir.join("quarantine");
    let Ok(listing) = storage.list(&qdir) else {
        return Ok(Readmitted::default());
    };
    let mut moved = Readmitted::default();
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
        let Ok(reason) = storage.read(&reason_path) else {
            continue;
        };
        let reason = String::from_utf8_lossy(&reason);
        if !reason.starts_with(NOT_OURS) {
            continue;
        }
        let Ok(data) = storage.read(&from) else {
            continue;
        };
        let Ok((key, _)) = decode_entry(&data) else {
            continue;
        };
        let Some(sealed_under) = prefixes
            .iter()
            .find(|p| own_key_tree(p.as_ref(), station, &key).is_ok())
        else {
            continue;
        };
        let sealed_under = sealed_under.as_ref().map_or("-", Prefix::as_str);
        storage
            .rename(&from, &to)
            .map_err(|e| Error::spool("readmit", &from, e))?;
        storage
            .remove(&reason_path)
            .map_err(|e| Error::spool("remove", &reason_path, e))?;
        let (other_station, other_prefix) = match refused_by(&reason) {
            Some((s, p)) => (s != station.as_str(), p != sealed_under),
            // An earlier release's reason: a file under the current prefix was refused
            // by a run as another station; one under another prefix, for the prefix.
            None => {
                let current = prefixes.first().and_then(Option::as_ref);
                let under_current = current.map_or("-", Prefix::as_str) == sealed_under;
                (under_current, !under_current)
            }
        };
        match (other_station, other_prefix) {
            (true, false) => moved.station += 1,
            (true, true) => moved.both += 1,
            // Refused by a run as this station under this prefix: not expected (its
            // rules would have taken the key); counted with the prefix changes.
            (false, _) => moved.prefix += 1,
        }
    }
    if moved.total() > 0 {
        storage
            .sync_dir(dir)
            .map_err(|e| Error::spool("sync", dir, e))?;
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_names_the_refusing_run_and_reads_back() {
        let b = StationId::new("0190f5c2-0000-7000-8000-00000000000b").expect("id");
        let raw = Prefix::new("raw").expect("prefix");
        let why = "not in this station's data or health tree";
        let reason = not_ours(&b, Some(&raw), why);
        assert!(
            reason.starts_with(NOT_OURS) && reason.ends_with(why),
            "{reason}"
        );
        assert_eq!(refused_by(&reason), Some((b.as_str(), "raw")));
        assert_eq!(
            refused_by(&not_ours(&b, None, why)),
            Some((b.as_str(), "-"))
        );
        // An earlier release's reason tells nothing of the run.
        assert_eq!(refused_by(&format!("{NOT_OURS}: {why}")), None);
        let told = Readmitted {
            station: 1,
            prefix: 0,
            both: 2,
        }
        .describe();
        assert_eq!(
            told.as_deref(),
            Some(
                "3 file(s) an earlier run set aside (1 after a station change, 2 after a station and prefix change) were put back in the spool; they go to the station and prefix they were sealed for"
            )
        );
        assert_eq!(Readmitted::default().describe(), None);
    }
}
