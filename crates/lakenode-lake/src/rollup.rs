//! Monthly rollups: a station-month's daily summaries ([`crate::summary`]) in one
//! object, so that a report over a year reads 12 objects per station instead of 365
//! footers.
//!
//! Why: through S3 every footer is a request (~1 ms on a local server, tens on a
//! remote one); a year of 1,000 stations is 365,000 of them. A rollup is written by
//! `lakenode compact` at [`lakenode::layout::rollup_key`]
//! (`rollup/station=<id>/month=YYYY-MM.v2.json`, outside both trees so that no reader
//! of the data or health tree sees it): version 2 ([`v2`]), for each daily file of the
//! month its day, size, row count and the day's figures as numbers, taken from the
//! footer's summaries and checked as they are.
//!
//! Version 1 ([`Rollup`], `month=YYYY-MM.json`, [`lakenode::layout::rollup_v1_key`]) is
//! no longer written: it held the footer key/value pairs the report reads (`lakenode`,
//! `lakenode.summary`, `lakenode.health_summary`) exactly as they are in the footer,
//! hourly arrays included (~91 KB per station-month, decoded twice). A reader still
//! decodes it as it would the footer where a month has no version 2 rollup, and
//! [`refresh`] converts it to version 2 without reading the footers again. Figures read
//! from either equal figures read from the footers and the columns (tested in the
//! report).
//!
//! A rollup is a claim, never the truth: a reader uses an entry only for the daily
//! file of the same key *and* size as listed now ([`Rollup::entry`]) and, where the
//! rollup recorded the file's stamps ([`crate::lake::Stamp`]: on a local lake its
//! `ctime` and its directory's `mtime`), only while the file and its directory still
//! have them; a day compacted again (late windows merged: a larger file), replaced by
//! another file of the same size, added later, or still holding window files is read
//! from its footer or columns as before. A rollup written before or after
//! a crash can therefore only be incomplete, never wrong beyond what it claims, and the
//! next `compact` completes it ([`refresh`]). JSON, versioned (`"v"`): a reader
//! ignores a rollup of another version than its key says.
//!
//! ```
//! use lakenode_lake::rollup::{DayEntry, Rollup};
//! let station = "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e";
//! let key = format!("station={station}/year=2026/month=11/day=20/data_day.parquet");
//! let r = Rollup {
//!     v: 1,
//!     station: station.into(),
//!     month: "2026-11".into(),
//!     days: vec![DayEntry { key: key.clone(), size: 9_000, rows: 17_280, pairs: vec![] }],
//! };
//! let back = Rollup::from_json(&r.to_json(), station, "2026-11").unwrap();
//! assert!(back.entry(&key, 9_000).is_some());
//! assert!(back.entry(&key, 9_001).is_none()); // compacted again since: stale
//! ```

use std::collections::{BTreeMap, BTreeSet};

use lakenode::encode::META_KEY;
use lakenode::layout::{FileName, LakeKey, ROLLUP_DIR, StationId, rollup_key, rollup_v1_key};
use serde::{Deserialize, Serialize};

use crate::lake::LakeStore;
use crate::readback::{FOOTER_TAIL, footer_of_tail};
use crate::summary::{DATA_KEY, HEALTH_KEY};

pub mod v2;

/// The version 1 rollup format (read, no longer written: [`v2::VERSION`] is).
pub const VERSION: u32 = 1;

/// A station-month's rollup, version 1 (read where no version 2 exists).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollup {
    /// Format version ([`VERSION`]).
    pub v: u32,
    /// The station's id.
    pub station: String,
    /// The UTC month, `YYYY-MM`.
    pub month: String,
    /// One per daily file, sorted by key.
    pub days: Vec<DayEntry>,
}

/// What a rollup holds of one daily file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayEntry {
    /// The daily file's key (relative to the lake).
    pub key: String,
    /// Its size when the rollup was written: the entry is used only while the listed
    /// size is the same.
    pub size: u64,
    /// Rows its footer declares (the summaries are checked against it).
    pub rows: u64,
    /// Its footer's key/value pairs the report reads, as written.
    pub pairs: Vec<(String, String)>,
}

/// The footer keys a version 1 rollup kept.
pub const KEPT: [&str; 3] = [META_KEY, DATA_KEY, HEALTH_KEY];

impl Rollup {
    /// The rollup as stored: compact JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Decodes the rollup stored for `station` and `month` (`YYYY-MM`).
    ///
    /// # Errors
    /// Damaged JSON, another version, or a rollup that is not this station-month's (an
    /// entry outside it, another station or month): the whole rollup is ignored.
    pub fn from_json(json: &str, station: &str, month: &str) -> Result<Self, String> {
        let r: Self = serde_json::from_str(json).map_err(|e| format!("damaged: {e}"))?;
        if r.v != VERSION {
            return Err(format!("of version {}", r.v));
        }
        if r.station != station || r.month != month {
            return Err(format!("it claims {} {}", r.station, r.month));
        }
        for d in &r.days {
            let ours = month_of(&d.key).is_some_and(|(s, m)| s == r.station && m == r.month);
            if !ours {
                return Err(format!(
                    "{} is not a daily file of this station-month",
                    d.key
                ));
            }
        }
        Ok(r)
    }

    /// The entry of the daily file `key` of `size` bytes as listed now, if the rollup
    /// holds one of that size (else the rollup is stale for that day).
    #[must_use]
    pub fn entry(&self, key: &str, size: u64) -> Option<&DayEntry> {
        self.days.iter().find(|d| d.key == key && d.size == size)
    }

    /// The entries by key and size, for looking up many days of one rollup
    /// ([`Self::entry`] for each of a month's 62 daily files was a quadratic walk of
    /// their keys); the same entry [`Self::entry`] finds (the first of that key and
    /// size).
    #[must_use]
    pub fn by_key(&self) -> std::collections::HashMap<(&str, u64), &DayEntry> {
        let mut out = std::collections::HashMap::with_capacity(self.days.len());
        for d in &self.days {
            out.entry((d.key.as_str(), d.size)).or_insert(d);
        }
        out
    }
}

/// (station, `YYYY-MM`) of a daily file's key (`data_day.parquet` or
/// `health_day.parquet`, the files a report reads summaries of), else `None`.
#[must_use]
pub fn month_of(key: &str) -> Option<(String, String)> {
    let k = LakeKey::parse(None, key).ok()?;
    if k.file != (FileName::Daily { schema: None }) {
        return None;
    }
    Some((
        k.station.to_string(),
        format!("{:04}-{:02}", k.date.year(), k.date.month()),
    ))
}

/// The rollup key of a station-month (version 2, the one written).
#[must_use]
pub fn key_of(station: &str, month: &str) -> Option<String> {
    let id = StationId::new(station).ok()?;
    let date = jiff::civil::Date::strptime("%Y-%m-%d", format!("{month}-01")).ok()?;
    Some(rollup_key(None, &id, date))
}

/// The version 1 rollup key of a station-month (read where no version 2 exists).
#[must_use]
pub fn v1_key_of(station: &str, month: &str) -> Option<String> {
    let id = StationId::new(station).ok()?;
    let date = jiff::civil::Date::strptime("%Y-%m-%d", format!("{month}-01")).ok()?;
    Some(rollup_v1_key(None, &id, date))
}

/// (station, `YYYY-MM`, version) of a rollup key.
fn rollup_of(key: &str) -> Option<(String, String, u32)> {
    let rest = key.strip_prefix(ROLLUP_DIR)?.strip_prefix("/station=")?;
    let (station, name) = rest.split_once("/month=")?;
    if let Some(month) = name.strip_suffix(".v2.json") {
        return (key_of(station, month)?.as_str() == key)
            .then(|| (station.into(), month.into(), v2::VERSION));
    }
    let month = name.strip_suffix(".json")?;
    (v1_key_of(station, month)?.as_str() == key).then(|| (station.into(), month.into(), VERSION))
}

/// A footer's row count and key/value pairs.
type Read = (u64, Vec<(String, String)>);

/// What [`refresh`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refreshed {
    /// Rollups written (new or changed).
    pub written: usize,
    /// Footers read to write them.
    pub footers: usize,
}

/// Brings the rollups of the lake listed as `listing` (its objects with their sizes,
/// listed before or after a compaction: only daily files and rollups matter) up to
/// date, as version 2 ([`v2::Month`]): those of the station-months of `touched` (daily
/// files the compaction wrote, with their sizes, which stand for the listing's: so the
/// compaction's own listing serves, and the lake is not listed twice) and of every
/// station-month holding daily files but no version 2 rollup (a lake compacted before
/// rollups or before version 2 existed, a crash before the rollup was written).
/// Each file's stamps are taken first ([`LakeStore::stamps`]) and recorded with its
/// entry where the store keeps them. Entries of an existing rollup whose file is
/// unchanged (same key and size, and the same stamps where the rollup recorded them)
/// are kept: a version 2 rollup's as they are, a version 1 rollup's converted (the
/// same footer pairs, so no footer is read again); a rollup written before stamps is
/// believed by size once more here, as it was by every report before (its stamps are
/// recorded now). The other daily files' footers are read (a bounded pool of ranged
/// requests). Version 1 rollups are left as they are, no longer
/// written. Run under the compaction lock, like the compaction (which alone writes
/// daily files, so nothing else changes them meanwhile).
///
/// # Errors
/// Listing-independent failures of reading a rollup or writing one. A footer that
/// cannot be read leaves its day out of the rollup (the report reads it itself).
pub fn refresh(
    lake: &mut dyn LakeStore,
    listing: &[(String, u64)],
    touched: &BTreeMap<String, u64>,
) -> crate::Result<Refreshed> {
    let mut months: BTreeMap<(String, String), BTreeMap<String, u64>> = BTreeMap::new();
    let mut existing: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut v1: BTreeMap<(String, String), String> = BTreeMap::new();
    for (key, size) in listing.iter().map(|(k, s)| (k, s)).chain(touched) {
        if let Some(sm) = month_of(key) {
            // A file the compaction wrote: its size now, whatever was listed.
            let size = touched.get(key).unwrap_or(size);
            months.entry(sm).or_default().insert(key.clone(), *size);
        } else if let Some((station, month, v)) = rollup_of(key) {
            let to = if v == v2::VERSION {
                &mut existing
            } else {
                &mut v1
            };
            to.insert((station, month), key.clone());
        }
    }
    let touched: BTreeSet<(String, String)> = touched.keys().filter_map(|k| month_of(k)).collect();
    months.retain(|sm, _| touched.contains(sm) || !existing.contains_key(sm));
    let mut out = Refreshed::default();
    // The rollups there are, and the daily files of each month to write.
    type Plan = (String, Option<v2::Month>, Option<Rollup>, v2::Month);
    let mut plans: Vec<(Plan, Vec<(String, u64)>)> = Vec::new();
    for ((station, month), files) in months {
        let Some(key) = key_of(&station, &month) else {
            continue;
        };
        let sm = (station.clone(), month.clone());
        let old = match existing.get(&sm) {
            Some(k) => get(lake, k)?.and_then(|b| v2::Month::from_json(&b, &station, &month).ok()),
            None => None,
        };
        // A month of a lake rolled up before version 2: its version 1 entries.
        let old_v1 = match v1.get(&sm) {
            Some(k) if old.is_none() => get(lake, k)?
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|t| Rollup::from_json(&t, &station, &month).ok()),
            _ => None,
        };
        let new = v2::Month::new(&station, &month);
        plans.push(((key, old, old_v1, new), files.into_iter().collect()));
    }
    // An entry kept with the stamps it recorded takes none again (a daily run would
    // otherwise stamp every file of each month it touches): a file changed since no
    // longer has them, which the report checks (it reads that day's footer). The other
    // files' stamps are taken now, before any footer is read: a file replaced after
    // this has other stamps than those recorded with its figures.
    let kind = lake.stamp_kind();
    let recorded: Vec<Vec<Option<crate::lake::Stamp>>> = plans
        .iter()
        .map(|((_, old, _, new), files)| {
            files
                .iter()
                .map(|(file, size)| {
                    let o = old.as_ref().filter(|o| o.stamped_for(kind))?;
                    let (is_data, day) = day_of(new, file)?;
                    if o.holds(is_data, day, *size) {
                        o.stamp(is_data, day)
                    } else {
                        None
                    }
                })
                .collect()
        })
        .collect();
    let keys: Vec<String> = plans
        .iter()
        .zip(&recorded)
        .flat_map(|((_, files), rec)| {
            files
                .iter()
                .zip(rec)
                .filter(|(_, r)| r.is_none())
                .map(|((k, _), _)| k.clone())
        })
        .collect();
    let stamps = lake.stamps(&keys);
    let mut now = stamps.iter().flatten();
    // Entries kept from the rollups there are, the footers to read for the others.
    let mut rollups: Vec<(String, Option<v2::Month>, v2::Month)> = Vec::new();
    let mut wanted: Vec<(String, u64)> = Vec::new();
    let mut slot: Vec<usize> = Vec::new();
    for (((key, old, old_v1, mut new), files), rec) in plans.into_iter().zip(recorded) {
        let kept = old.as_ref().map(v2::Month::by_key).unwrap_or_default();
        let kept_v1 = old_v1.as_ref().map(Rollup::by_key).unwrap_or_default();
        if stamps.is_some() {
            new.stamps = Some(Vec::new());
        }
        for ((file, size), rec) in files.into_iter().zip(rec) {
            let stamp = match rec {
                Some(s) => Some((size, s)),
                None => now.next().copied().flatten().filter(|(s, _)| *s == size),
            };
            let day = day_of(&new, &file);
            if let (Some((_, stamp)), Some((is_data, day)), Some(list)) =
                (stamp, day, new.stamps.as_mut())
            {
                list.push(v2::Stamped(u8::from(!is_data), day, stamp.file, stamp.dir));
            }
            // An entry is kept where its file is unchanged: the same size, and the same
            // stamps where both the store and the rollup keep them (a rollup written
            // before stamps is believed by size once more, as it was).
            let unchanged = |o: &v2::Month| match (o.stamped_for(kind), &stamps, day) {
                (true, Some(_), Some((is_data, day))) => {
                    stamp.is_some() && o.stamp(is_data, day) == stamp.map(|s| s.1)
                }
                _ => true,
            };
            match kept.get(&(file.clone(), size)) {
                Some(v2::Entry::Data(d)) if old.as_ref().is_some_and(unchanged) => {
                    new.data.push((*d).clone());
                }
                Some(v2::Entry::Health(h)) if old.as_ref().is_some_and(unchanged) => {
                    new.health.push((*h).clone());
                }
                _ => {
                    let converted = kept_v1
                        .get(&(file.as_str(), size))
                        .is_some_and(|e| new.add(&file, size, e.rows, &e.pairs));
                    if !converted {
                        slot.push(rollups.len());
                        wanted.push((file, size));
                    }
                }
            }
        }
        rollups.push((key, old, new));
    }
    let mut footers: Vec<Option<Read>> = vec![None; wanted.len()];
    let mut longer: Vec<(usize, u64)> = Vec::new();
    lake.get_tails(&wanted, FOOTER_TAIL, &mut |i, tail| {
        let Ok(tail) = tail else { return };
        match footer_of_tail(&tail, wanted[i].1) {
            Ok(f) => footers[i] = Some((f.rows, f.key_values)),
            Err(Ok(need)) if need <= wanted[i].1 => longer.push((i, need)),
            Err(_) => {}
        }
    });
    for (i, need) in longer {
        if let Ok(tail) = lake.get_tail(&wanted[i].0, need, wanted[i].1)
            && let Ok(f) = footer_of_tail(&tail, wanted[i].1)
        {
            footers[i] = Some((f.rows, f.key_values));
        }
    }
    out.footers = wanted.len();
    for ((r, (file, size)), footer) in slot.into_iter().zip(&wanted).zip(footers) {
        // A day whose footer could not be read or holds no usable summary is left out.
        if let Some((rows, pairs)) = footer {
            rollups[r].2.add(file, *size, rows, &pairs);
        }
    }
    for (key, old, mut new) in rollups {
        // Stamps of days left out (no usable summary) are dropped with them.
        let held: BTreeSet<(u8, u8)> = new
            .data
            .iter()
            .map(|d| (0, d.0))
            .chain(new.health.iter().map(|h| (1, h.0)))
            .collect();
        if let Some(s) = &mut new.stamps {
            s.retain(|s| held.contains(&(s.0, s.1)));
        }
        new.sort();
        if old.as_ref() != Some(&new) {
            lake.put(&key, new.to_json().into_bytes())?;
            out.written += 1;
        }
    }
    Ok(out)
}

/// (data, else health; day of the month) of a daily file of `month`'s rollup.
fn day_of(month: &v2::Month, key: &str) -> Option<(bool, u8)> {
    let k = LakeKey::parse(None, key).ok()?;
    let day = u8::try_from(k.date.day()).ok()?;
    if month.key(true, day) == key {
        Some((true, day))
    } else {
        (month.key(false, day) == key).then_some((false, day))
    }
}

/// The object at `key`, `None` if it is gone.
fn get(lake: &mut dyn LakeStore, key: &str) -> crate::Result<Option<Vec<u8>>> {
    match lake.get(key) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ST: &str = "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e";

    fn rollup() -> Rollup {
        Rollup {
            v: VERSION,
            station: ST.into(),
            month: "2026-11".into(),
            days: vec![DayEntry {
                key: format!("health/station={ST}/year=2026/month=11/day=03/health_day.parquet"),
                size: 10,
                rows: 96,
                pairs: vec![(HEALTH_KEY.into(), "{}".into())],
            }],
        }
    }

    #[test]
    fn keys_round_trip_and_only_daily_files_have_a_month() {
        let key = key_of(ST, "2026-11").unwrap();
        assert_eq!(key, format!("rollup/station={ST}/month=2026-11.v2.json"));
        assert_eq!(rollup_of(&key), Some((ST.into(), "2026-11".into(), 2)));
        let v1 = v1_key_of(ST, "2026-11").unwrap();
        assert_eq!(v1, format!("rollup/station={ST}/month=2026-11.json"));
        assert_eq!(rollup_of(&v1), Some((ST.into(), "2026-11".into(), 1)));
        assert_eq!(
            rollup_of(&format!("rollup/station={ST}/month=2026-13.json")),
            None
        );
        let day = format!("station={ST}/year=2026/month=11/day=20/data_day.parquet");
        assert_eq!(month_of(&day), Some((ST.into(), "2026-11".into())));
        let window = format!("station={ST}/year=2026/month=11/day=20/data_1300.parquet");
        assert_eq!(month_of(&window), None);
        let schema = format!("station={ST}/year=2026/month=11/day=20/data_day_s0a1b2c3d.parquet");
        assert_eq!(month_of(&schema), None);
    }

    #[test]
    fn a_rollup_is_believed_only_for_its_station_month_version_and_sizes() {
        let r = rollup();
        let json = r.to_json();
        let back = Rollup::from_json(&json, ST, "2026-11").unwrap();
        assert_eq!(back, r);
        assert!(back.entry(&r.days[0].key, 10).is_some());
        assert!(back.entry(&r.days[0].key, 11).is_none());
        assert!(Rollup::from_json(&json, ST, "2026-12").is_err());
        let other = "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2f";
        assert!(Rollup::from_json(&json, other, "2026-11").is_err());
        let v2 = json.replace("\"v\":1", "\"v\":2");
        assert!(
            Rollup::from_json(&v2, ST, "2026-11")
                .unwrap_err()
                .contains("version")
        );
        // An entry of another month smuggled in: the whole rollup is refused.
        let mut forged = r.clone();
        forged.days[0].key = forged.days[0].key.replace("month=11", "month=10");
        assert!(Rollup::from_json(&forged.to_json(), ST, "2026-11").is_err());
        assert!(Rollup::from_json("{", ST, "2026-11").is_err());
    }
}
