//! What a killed or stopped run leaves behind, and how the next run finds it (F5):
//! hidden temporaries, and monthly rollups older than their daily files.
//!
//! A run writes its daily files first and its months' rollups at the end. A kill (or a
//! SIGTERM, which skips the rollups) in between used to leave those rollups stale until
//! a later run compacted a day of the same month: runs with nothing to compact ("0 ->
//! 0") never looked at them. So before its first daily file, a run records the months
//! it is about to touch in the hidden object [`ROLLUPS_PENDING`] (with those an earlier
//! run left there), and removes it only once their rollups are written. The next run
//! reads it (one small GET, a 404 normally) and brings those months' rollups up to
//! date: their rollups are read and each entry kept whose daily file has the same size
//! (the rest from the footers), as for the months it compacts itself.
//!
//! The leftover temporaries (`.data_day.parquet.<pid>.tmp`, `.month=*.json.<pid>.tmp`,
//! anywhere in the lake) are removed by every run ([`LakeStore::remove_dead_temporaries`]:
//! the listing reads their names anyway); a rollup's or a daily file's temporary also
//! marks its month as pending (a lake killed by a version before the marker).

use std::collections::{BTreeMap, BTreeSet};

use super::Summary;
use crate::error::Result;
use crate::lake::LakeStore;

/// The hidden object (at the lake's root, beside the lock) listing, one per line, the
/// months (`YYYY-MM`) whose rollups a run may have left older than their daily files.
pub const ROLLUPS_PENDING: &str = ".lakenode-rollups-pending";

/// What the marker holds: the months it lists, and its lines that name no month (a
/// damaged or hand-edited marker), which are left out.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Marker {
    /// The months listed (none if there is no marker).
    pub months: BTreeSet<String>,
    /// The lines that are not a month (blank lines aside), as read.
    pub unreadable: Vec<String>,
    /// Whether there is a marker (one that names no month at all is removed).
    pub present: bool,
}

impl Marker {
    fn parse(bytes: &[u8]) -> Self {
        let mut marker = Self {
            present: true,
            ..Self::default()
        };
        for line in String::from_utf8_lossy(bytes).lines() {
            if is_month(line) {
                marker.months.insert(line.to_owned());
            } else if !line.trim().is_empty() {
                marker.unreadable.push(line.to_owned());
            }
        }
        marker
    }

    /// The warning a marker with unreadable lines gets: how many, the first (escaped,
    /// cut to 40 characters), and what is done.
    pub fn warning(&self) -> Option<String> {
        let first = self.unreadable.first()?;
        let shown: String = first.chars().take(40).collect();
        Some(format!(
            "{ROLLUPS_PENDING} held {} line(s) that name no month (the first: {:?}), left out: it is rewritten with the {} month(s) it names. If it was damaged, a month whose rollup a killed run left stale may be missed: the report then reads that month's changed days from their footers (correct, slower) until a run compacts a day of it",
            self.unreadable.len(),
            shown,
            self.months.len(),
        ))
    }
}

/// What the marker holds ([`Marker`]; empty if there is no marker).
///
/// # Errors
/// The lake cannot be read.
pub(super) fn read(lake: &mut dyn LakeStore) -> Result<Marker> {
    match lake.get(ROLLUPS_PENDING) {
        Ok(bytes) => Ok(Marker::parse(&bytes)),
        Err(e) if e.is_not_found() => Ok(Marker::default()),
        Err(e) => Err(e),
    }
}

/// Records `months` as pending (before the run's first daily file).
///
/// # Errors
/// The lake cannot be written.
pub(super) fn write(lake: &mut dyn LakeStore, months: &BTreeSet<String>) -> Result<()> {
    let text: String = months.iter().map(|m| format!("{m}\n")).collect();
    lake.put(ROLLUPS_PENDING, text.into_bytes())
}

/// Removes the marker once the pending months' rollups are written.
///
/// # Errors
/// The lake cannot be written.
pub fn done(lake: &mut dyn LakeStore, summary: &Summary) -> Result<()> {
    if summary.pending_months.is_empty() {
        return Ok(());
    }
    lake.delete(ROLLUPS_PENDING)
}

/// The daily files whose months' rollups a run brings up to date
/// ([`crate::rollup::refresh`]'s `touched`): those it wrote, at their new sizes, and
/// every listed daily file of a pending month, at its listed size.
#[must_use]
pub fn touched(summary: &Summary) -> BTreeMap<String, u64> {
    let mut touched = summary.written.clone();
    if summary.pending_months.is_empty() {
        return touched;
    }
    for (key, size) in &summary.listing {
        if let Some((_, month)) = crate::rollup::month_of(key)
            && summary.pending_months.contains(&month)
        {
            touched.entry(key.clone()).or_insert(*size);
        }
    }
    touched
}

/// `YYYY-MM`, a month of a year from 1970 (`2026-13`, `2026-00`, `0000-01` are not).
fn is_month(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = b.len() == 7
        && b[4] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || c.is_ascii_digit());
    digits
        && text[..4].parse::<u16>().is_ok_and(|y| y >= 1970)
        && text[5..].parse::<u8>().is_ok_and(|m| (1..=12).contains(&m))
}

/// The month (`YYYY-MM`) of a temporary's key: a rollup's (`.../month=YYYY-MM...`) or
/// a daily file's (`.../year=YYYY/month=MM/day=DD/...`).
pub(super) fn month_of_temporary(key: &str) -> Option<String> {
    let mut year = None;
    for part in key.split('/') {
        if let Some(y) = part.strip_prefix("year=") {
            year = Some(y);
        } else if let Some(m) = part.strip_prefix("month=") {
            if let Some(y) = year {
                let month = format!("{y}-{m}");
                return is_month(&month).then_some(month);
            }
        } else if let Some(m) = part.strip_prefix(".month=") {
            return m.get(..7).filter(|m| is_month(m)).map(str::to_owned);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_name_their_month() {
        assert_eq!(
            month_of_temporary("rollup/station=a/.month=2026-12.v2.json.42.tmp").as_deref(),
            Some("2026-12")
        );
        assert_eq!(
            month_of_temporary("station=a/year=2026/month=11/day=20/.data_day.parquet.7.tmp")
                .as_deref(),
            Some("2026-11")
        );
        assert_eq!(month_of_temporary(".lakenode-compact-lock.7.tmp"), None);
        assert!(is_month("2026-01") && !is_month("2026-1") && !is_month("x026-01"));
        for not_a_month in ["2026-13", "2026-00", "0000-01", "1969-12"] {
            assert!(!is_month(not_a_month), "{not_a_month}");
        }
    }
}
