//! Station-days read from their daily file's footer alone: the summary `lakenode
//! compact` writes ([`lakenode_lake::summary`]).
//!
//! Which days: a report longer than [`super::scan::MAX_HOURLY_DAYS`] draws days, not
//! hours, and a day's summary holds exactly what a day bucket shows. So every
//! station-day of such a report that is (a) before the report's own day (which may be
//! cut by `--at`, and is still being written) and (b) a single compacted daily file
//! (`data_day.parquet` / `health_day.parquet`, nothing beside it) is read from the end
//! of its file: one ranged request of [`FOOTER_TAIL`] bytes, a second one when the
//! footer is longer. A report of up to 7 days draws hours: its data days (the report's
//! own too, if its every sample is before the report's time) are read so when their
//! summary holds each hour's sums (version 2), each hour folded into its bucket; its
//! health days are read from their rows (a health summary holds the day's counters, not
//! each hour's). Days holding window files are read from their columns, as before. A
//! daily file without a summary (written
//! before summaries existed), with a summary of another version, or one that does not
//! fit the file, is read from its columns too: the columns are the truth, a summary
//! only a faster way to the same figures (tested both ways).
//!
//! ```no_run
//! # use lakenode_cli::report::footers::{Candidate, read};
//! # use lakenode_lake::lake::LocalLake;
//! let mut lake = LocalLake::new("lake".into());
//! let days: Vec<Candidate> = Vec::new();
//! let summaries = read(&mut lake, &days);
//! assert!(summaries.is_empty());
//! ```

use std::collections::BTreeMap;

use lakenode::encode::FileMetadata;
use lakenode_lake::lake::LakeStore;
use lakenode_lake::readback::{FOOTER_TAIL, footer_of_tail};
use lakenode_lake::rollup::v2::Entry;
use lakenode_lake::summary::{DATA_KEY, DaySummary, HEALTH_KEY, HealthSummary};

use super::aggregate::{DayFigures, MEANS};

/// A station-day whose figures may come from its daily file's footer.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The data tree (else the health tree).
    pub is_data: bool,
    /// Start of its UTC day, ms.
    pub day_start_ms: i64,
    /// Its UTC day.
    pub date: jiff::civil::Date,
    /// The daily file's key.
    pub key: String,
    /// Its size, as listed.
    pub size: u64,
    /// The report draws hours and folds in the day's hour figures; else they are not
    /// kept (a year of days would hold 24 figures per station-day for nothing).
    pub hourly: bool,
    /// The listing checked its directory by the stamps its month's rollup recorded
    /// ([`lakenode_lake::lake::LakeStore::list_known`]): it still holds this file alone,
    /// unchanged since.
    pub checked: bool,
}

impl Candidate {
    /// The station's id, as its key holds it (`[health/]station=<id>/...`).
    #[must_use]
    pub fn station(&self) -> &str {
        let rest = self.key.strip_prefix("health/").unwrap_or(&self.key);
        let rest = rest.strip_prefix("station=").unwrap_or(rest);
        rest.split('/').next().unwrap_or(rest)
    }
}

/// A station-day's figures from its footer.
#[derive(Debug, Clone)]
pub enum Summarized {
    /// A data day: the footer's sampling interval and the day's figures.
    Data(i64, DayFigures),
    /// A health day.
    Health(HealthSummary),
}

/// Reads the footers of `days` (a bounded pool of requests at once, as the lake
/// allows) and decodes their summaries; the index of each day with a usable summary
/// maps to its figures and the bytes read. A day missing here is read from its
/// columns.
pub fn read(lake: &mut dyn LakeStore, days: &[Candidate]) -> BTreeMap<usize, (Summarized, u64)> {
    let mut out = BTreeMap::new();
    let objects: Vec<(String, u64)> = days.iter().map(|d| (d.key.clone(), d.size)).collect();
    let mut longer: Vec<(usize, u64)> = Vec::new();
    lake.get_tails(&objects, FOOTER_TAIL, &mut |i, tail| {
        let Ok(tail) = tail else { return };
        match footer_of_tail(&tail, days[i].size) {
            Ok(f) => {
                if let Some(s) = decode(&days[i], &f.key_values, f.rows) {
                    out.insert(i, (s, tail.len() as u64));
                }
            }
            Err(Ok(need)) if need <= days[i].size => longer.push((i, need)),
            Err(_) => {}
        }
    });
    // Footers longer than the first request: the whole footer, once more.
    for (i, need) in longer {
        let Ok(tail) = lake.get_tail(&days[i].key, need, days[i].size) else {
            continue;
        };
        if let Ok(f) = footer_of_tail(&tail, days[i].size)
            && let Some(s) = decode(&days[i], &f.key_values, f.rows)
        {
            out.insert(i, (s, tail.len() as u64));
        }
    }
    out
}

/// The summary of a footer's key/value pairs, if it has a usable one (also those a
/// monthly rollup holds of the footer: [`super::rollups`]).
pub(super) fn decode(day: &Candidate, pairs: &[(String, String)], rows: u64) -> Option<Summarized> {
    let value = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    if !day.is_data {
        let json = value(HEALTH_KEY)?;
        return HealthSummary::from_json(json, day.day_start_ms, rows)
            .map_err(|e| refused(day, &e))
            .ok()
            .map(Summarized::Health);
    }
    // An interval the columns path would refuse: read the columns, which say why.
    let meta = FileMetadata::from_key_values(pairs)
        .ok()
        .filter(|m| (100..=86_400_000).contains(&m.interval_ms))?;
    let summary = DaySummary::from_json(value(DATA_KEY)?, day.day_start_ms, rows)
        .map_err(|e| refused(day, &e))
        .ok()?;
    let mut figures = DayFigures {
        first_ms: summary.first_ms,
        last_ms: summary.last_ms,
        samples: u32::try_from(summary.rows).ok()?,
        ..DayFigures::default()
    };
    if day.hourly && summary.has_hour_sums() {
        figures.hours = summary
            .hours
            .iter()
            .map(|&n| (n, Default::default()))
            .collect();
    }
    for (i, m) in MEANS.iter().enumerate() {
        if let Some(c) = summary.column(*m) {
            // Sums of counts, as the rows are folded (exact: far below 2^52).
            #[allow(clippy::cast_precision_loss)]
            let exact = |sum: i64| sum as f64;
            figures.sums[i] = (exact(c.sum), u32::try_from(c.n).ok()?);
            let values = c.hours(&summary.hours);
            for ((hour, sum), n) in figures.hours.iter_mut().zip(&c.hour_sums).zip(values) {
                hour.1[i] = (exact(*sum), n);
            }
        }
    }
    let battery = lakenode::schema::Measurement::Battery;
    if let Some(c) = summary.column(battery) {
        figures.last_battery = Some(lakenode::sample::count_to_f64(battery, c.last));
        figures.min_battery = Some(lakenode::sample::count_to_f64(battery, c.min));
    }
    Some(Summarized::Data(meta.interval_ms, figures))
}

/// The figures of a monthly rollup's version 2 entry ([`lakenode_lake::rollup::v2`]):
/// those [`decode`] takes from the footer's summary (checked when the rollup was
/// decoded), but never hourly ones (`None` for a day the report draws in hours: its
/// footer holds them).
pub(super) fn from_rollup(is_data: bool, hourly: bool, entry: Entry<'_>) -> Option<Summarized> {
    match entry {
        Entry::Health(h) if !is_data => Some(Summarized::Health(h.summary())),
        Entry::Data(d) if is_data && !hourly => {
            let mut figures = DayFigures {
                first_ms: d.4,
                last_ms: d.5,
                samples: u32::try_from(d.2).ok()?,
                ..DayFigures::default()
            };
            for (i, m) in MEANS.iter().enumerate() {
                if let Some(c) = d.column(*m) {
                    // Sums of counts, as the rows are folded (exact: far below 2^52).
                    #[allow(clippy::cast_precision_loss)]
                    let exact = c.2 as f64;
                    figures.sums[i] = (exact, u32::try_from(c.1).ok()?);
                }
            }
            let battery = lakenode::schema::Measurement::Battery;
            if let Some(c) = d.column(battery) {
                figures.last_battery = Some(lakenode::sample::count_to_f64(battery, c.5));
                figures.min_battery = Some(lakenode::sample::count_to_f64(battery, c.3));
            }
            Some(Summarized::Data(d.3, figures))
        }
        _ => None,
    }
}

/// A summary that does not fit its file (damaged or forged) is not believed: the day
/// is read from its rows, and the reader is told, since the file was not lakenode's
/// as written.
fn refused(day: &Candidate, why: &dyn std::fmt::Display) {
    tracing::warn!(
        "{}: its daily summary is refused ({why}); the day is read from its rows",
        day.key
    );
}
