//! Station-days read from their month's rollup ([`lakenode_lake::rollup`]): one object
//! per station-month instead of one footer per station-day.
//!
//! Which days: the [`footers`](super::footers) candidates (compacted days of a long
//! report, before its own day). The rollups of the report's months are listed
//! (`rollup/`, one LIST per 1,000), fetched (a bounded pool of requests, as for
//! footers) and decoded before the lake is listed ([`fetch`]): what their stamps say
//! of each day's directory ([`Rolled::known`]) lets a local lake check a day
//! directory with two `fstatat` calls instead of reading it
//! ([`LakeStore::list_known`]). A day is taken from its rollup only if the rollup
//! holds an entry of the same key and size as the daily file listed now and, where the
//! rollup recorded stamps, the listing checked that the file and its directory still
//! have them (a file replaced by another of the same size, a window file added beside
//! it: read from its footer or columns). A rollup without stamps (written before them,
//! or by a store that keeps none, as an S3 lake) is matched by size alone. A month's version 2 rollup
//! (numbers only, [`lakenode_lake::rollup::v2`]) is read where there is one: decoded in
//! one pass, checked as the footers' summaries are, turned into the day's figures
//! ([`super::footers::from_rollup`]); a day the report draws in hours is read from its
//! footer instead (a version 2 entry holds no hourly figures). Else its version 1
//! rollup, whose entries decode exactly as the footer would
//! ([`super::footers::decode`] on the same key/value pairs and row count). Every other candidate (no rollup, a stale or refused one, a day compacted
//! again since) is read from its footer, and from its columns failing that: the
//! figures are the same whichever way a day is read (tested).
//!
//! ```no_run
//! # use lakenode_cli::report::footers::Candidate;
//! # use lakenode_cli::report::rollups::fetch;
//! # use lakenode_lake::lake::LocalLake;
//! let mut lake = LocalLake::new("lake".into());
//! let mut rolled = fetch(&mut lake, &|_station: &str, _month: &str| true);
//! let days: Vec<Candidate> = Vec::new();
//! assert!(rolled.read(&mut lake, &days).is_empty());
//! ```

use std::collections::{BTreeMap, HashMap};

use lakenode_lake::lake::{KnownDirs, LakeStore};
use lakenode_lake::rollup::{Rollup, key_of, month_of, v1_key_of, v2};

use super::footers::{Candidate, Summarized};

/// A rollup larger than a month of any station's summaries (31 days of two trees, a
/// few KB each) is not fetched: not lakenode's.
const MAX_ROLLUP_BYTES: u64 = 4 << 20;

/// A station-month's rollup as decoded.
enum Decoded {
    V2(v2::Month),
    V1(Rollup),
}

/// The rollups fetched and decoded, by (station, `YYYY-MM`), each with its size in
/// bytes.
pub struct Rolled {
    months: HashMap<(String, String), (Decoded, u64)>,
    /// The station-months whose rollup was fetched, refused ones too.
    tried: std::collections::HashSet<(String, String)>,
    /// The kind of stamps the lake keeps.
    kind: lakenode_lake::lake::StampKind,
}

/// Fetches and decodes the rollups of the station-months `wanted` says (station,
/// `YYYY-MM`): a month's
/// version 2 rollup where there is one, else its version 1; decoded on a thread per
/// core while the lake's own pool fetches them. A damaged or forged one is left out
/// (its days are read from their footers).
pub fn fetch(lake: &mut dyn LakeStore, wanted: &(dyn Fn(&str, &str) -> bool + Sync)) -> Rolled {
    let listed: BTreeMap<String, u64> = lake
        .list(&format!("{}/", lakenode::layout::ROLLUP_DIR))
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut months: BTreeMap<(String, String), (String, u64, bool)> = BTreeMap::new();
    for (key, size) in &listed {
        let Some((sm, v2)) = rollup_month(key) else {
            continue;
        };
        if !wanted(&sm.0, &sm.1) || *size > MAX_ROLLUP_BYTES {
            continue;
        }
        // Version 2 where there is one, else version 1 (a lake rolled up before).
        let e = months.entry(sm).or_insert_with(|| (key.clone(), *size, v2));
        if v2 && !e.2 {
            *e = (key.clone(), *size, v2);
        }
    }
    fetch_months(lake, months.into_iter().collect())
}

/// ((station, month), version 2) of a rollup key.
fn rollup_month(key: &str) -> Option<((String, String), bool)> {
    let rest = key
        .strip_prefix(lakenode::layout::ROLLUP_DIR)?
        .strip_prefix("/station=")?;
    let (station, name) = rest.split_once("/month=")?;
    let (month, v2) = match name.strip_suffix(".v2.json") {
        Some(m) => (m, true),
        None => (name.strip_suffix(".json")?, false),
    };
    let canonical = if v2 {
        key_of(station, month)
    } else {
        v1_key_of(station, month)
    };
    (canonical.as_deref() == Some(key)).then(|| ((station.into(), month.into()), v2))
}

/// A station-month and its rollup: (station, month), (key, size, version 2).
type MonthRollup = ((String, String), (String, u64, bool));

/// Fetches and decodes `months`' rollups.
fn fetch_months(lake: &mut dyn LakeStore, months: Vec<MonthRollup>) -> Rolled {
    let objects: Vec<(String, u64)> = months
        .iter()
        .map(|(_, (k, s, _))| (k.clone(), *s))
        .collect();
    let whole = objects.iter().map(|(_, s)| *s).max().unwrap_or(0);
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, 8);
    let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Vec<u8>)>(threads);
    let rx = std::sync::Mutex::new(rx);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let mut out = HashMap::with_capacity(months.len());
    let tried = months.iter().map(|(sm, _)| sm.clone()).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (rx, done_tx, months) = (&rx, done_tx.clone(), &months);
            scope.spawn(move || {
                loop {
                    let job = rx
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .recv();
                    let Ok((m, body)) = job else { break };
                    let (sm, (key, _, v2)) = &months[m];
                    if let Some(d) = decode(sm, key, *v2, &body)
                        && done_tx.send((m, d, body.len() as u64)).is_err()
                    {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        lake.get_tails(&objects, whole, &mut |m, body| {
            if let Ok(body) = body {
                let _ = tx.send((m, body));
            }
        });
        drop(tx);
        for (m, decoded, bytes) in done_rx {
            out.insert(months[m].0.clone(), (decoded, bytes));
        }
    });
    Rolled {
        months: out,
        tried,
        kind: lake.stamp_kind(),
    }
}

/// A rollup's bytes decoded and checked, `None` (with a warning) if refused.
fn decode(sm: &(String, String), key: &str, v2: bool, body: &[u8]) -> Option<Decoded> {
    let decoded = if v2 {
        v2::Month::from_json(body, &sm.0, &sm.1).map(Decoded::V2)
    } else {
        std::str::from_utf8(body)
            .map_err(|e| e.to_string())
            .and_then(|t| Rollup::from_json(t, &sm.0, &sm.1))
            .map(Decoded::V1)
    };
    decoded
        .map_err(|why| {
            tracing::warn!(
                "{key}: the monthly rollup is refused ({why}); its days are read from their \
                 footers"
            );
        })
        .ok()
}

impl Rolled {
    /// What the rollups' stamps say of their days' directories, for
    /// [`LakeStore::list_known`].
    #[must_use]
    pub fn known(&self) -> KnownDirs {
        let mut known = KnownDirs::default();
        for (decoded, _) in self.months.values() {
            if let Decoded::V2(m) = decoded {
                m.known(&mut known);
            }
        }
        known
    }

    /// Where each of `days` is read from: its month's rollup where it is current
    /// (a version 2 entry, turned into figures by the worker that folds it: no map of
    /// a year's days is built), else its footer ([`super::footers::read`]); `None`
    /// for a day with no usable summary (read from its columns). Each comes with the
    /// bytes read for it (a rollup's bytes are counted once, with the first day read
    /// from it). A month not fetched yet (a stale lake's period is earlier than the
    /// report's) is fetched now.
    pub fn read(
        &mut self,
        lake: &mut dyn LakeStore,
        days: &[Candidate],
    ) -> Vec<Option<Source<'_>>> {
        // By station-month, without a string per day (a year is 730,000 of them).
        let mut grouped: BTreeMap<(&str, i16, i8), Vec<usize>> = BTreeMap::new();
        for (i, d) in days.iter().enumerate() {
            let month = (d.station(), d.date.year(), d.date.month());
            grouped.entry(month).or_default().push(i);
        }
        let by_month: Vec<((String, String), Vec<usize>)> = grouped
            .into_iter()
            .map(|((s, y, m), idx)| ((s.to_owned(), format!("{y:04}-{m:02}")), idx))
            .collect();
        let missing: std::collections::HashSet<&(String, String)> = by_month
            .iter()
            .map(|(sm, _)| sm)
            .filter(|sm| !self.tried.contains(*sm))
            .collect();
        let mut checked: Vec<bool> = days.iter().map(|d| d.checked).collect();
        if !missing.is_empty() {
            let more = fetch(lake, &|s: &str, m: &str| {
                missing.contains(&(s.to_owned(), m.to_owned()))
            });
            for (sm, d) in more.months {
                self.months.entry(sm).or_insert(d);
            }
            // The listing did not know these months' stamps: their days are checked
            // against them now, one by one ([`LakeStore::stamps`]).
            let late: Vec<(usize, &v2::Month)> = by_month
                .iter()
                .filter(|(sm, _)| missing.contains(sm))
                .filter_map(|(sm, idx)| match self.months.get(sm) {
                    Some((Decoded::V2(m), _)) if m.stamped_for(self.kind) => Some((idx, m)),
                    _ => None,
                })
                .flat_map(|(idx, m)| idx.iter().map(move |&i| (i, m)))
                .collect();
            let keys: Vec<String> = late.iter().map(|(i, _)| days[*i].key.clone()).collect();
            if let Some(now) = lake.stamps(&keys) {
                for ((i, m), now) in late.into_iter().zip(now) {
                    let day = &days[i];
                    let recorded = u8::try_from(day.date.day())
                        .ok()
                        .and_then(|d| m.stamp(day.is_data, d));
                    checked[i] |=
                        now.is_some_and(|(size, s)| size == day.size && Some(s) == recorded);
                }
            }
        }
        let mut out: Vec<Option<Source<'_>>> = Vec::with_capacity(days.len());
        out.resize_with(days.len(), || None);
        for (sm, idx) in &by_month {
            if month_of_key(sm, idx, days)
                && let Some((decoded, bytes)) = self.months.get(sm)
            {
                let known = (decoded, self.kind, checked.as_slice());
                for (i, source) in from_month(days, idx, known, *bytes) {
                    out[i] = Some(source);
                }
            }
        }
        // The rest from their footers.
        let rest: Vec<usize> = (0..days.len()).filter(|&i| out[i].is_none()).collect();
        let subset: Vec<Candidate> = rest.iter().map(|&i| days[i].clone()).collect();
        for (j, (s, bytes)) in super::footers::read(lake, &subset) {
            out[rest[j]] = Some(Source::Summary(s, bytes));
        }
        out
    }
}

/// Whether the days `idx` of `days`, grouped as station-month `sm`, are daily files of
/// it as the lake's layout names them (checked on the first: they were grouped by
/// their station and date).
fn month_of_key(sm: &(String, String), idx: &[usize], days: &[Candidate]) -> bool {
    idx.first()
        .is_some_and(|&i| month_of(&days[i].key).as_ref() == Some(sm))
}

/// Where a day's figures come from, and the bytes read for them.
pub enum Source<'a> {
    /// Its footer's summary, or a version 1 rollup's copy of it, decoded.
    Summary(Summarized, u64),
    /// A version 2 rollup's entry, checked when the rollup was decoded
    /// ([`super::footers::from_rollup`] turns it into figures).
    Entry(v2::Entry<'a>, u64),
}

/// The days of `idx` (of one station-month) that its rollup holds at their listed
/// size and, where it recorded stamps, checked by them in the listing: a version 2
/// rollup's entries as they are (never for a day drawn in hours: they hold no hourly
/// figures), a version 1 rollup's decoded as their footers would be. The rollup's
/// bytes are counted once, with the first day.
fn from_month<'a>(
    days: &[Candidate],
    idx: &[usize],
    (decoded, kind, checked): (&'a Decoded, lakenode_lake::lake::StampKind, &[bool]),
    mut bytes: u64,
) -> Vec<(usize, Source<'a>)> {
    let mut out = Vec::new();
    match decoded {
        Decoded::V2(m) => {
            let stamped = m.stamped_for(kind);
            for &i in idx {
                let day = &days[i];
                if (stamped && !checked[i]) || (day.is_data && day.hourly) {
                    continue;
                }
                let Ok(d) = u8::try_from(day.date.day()) else {
                    continue;
                };
                let entry = if day.is_data {
                    m.data
                        .iter()
                        .find(|e| e.0 == d && e.1 == day.size)
                        .map(v2::Entry::Data)
                } else {
                    m.health
                        .iter()
                        .find(|e| e.0 == d && e.1 == day.size)
                        .map(v2::Entry::Health)
                };
                // The key is the rollup's own for that day: its station and month
                // (the month's, checked by `month_of_key`) and day (just found).
                if let Some(e) = entry {
                    out.push((i, Source::Entry(e, std::mem::take(&mut bytes))));
                }
            }
        }
        Decoded::V1(r) => {
            let entries = r.by_key();
            for &i in idx {
                let day = &days[i];
                if let Some(e) = entries.get(&(day.key.as_str(), day.size))
                    && let Some(s) = super::footers::decode(day, &e.pairs, e.rows)
                {
                    out.push((i, Source::Summary(s, std::mem::take(&mut bytes))));
                }
            }
        }
    }
    out
}
