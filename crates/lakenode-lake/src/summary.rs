//! The daily summary `lakenode compact` writes into each daily file's footer, so that a
//! report over months reads one footer per station-day instead of its rows.
//!
//! Why in the footer: a year of 1,000 stations is 365,000 daily files of ~17,000 rows
//! each. Decoding them takes minutes; their footers are a few KB each and one ranged
//! request apiece. A summary holds exactly what the report draws for a day (samples per
//! hour, per measurement count, sum, minimum, maximum and newest value; for health files
//! the day's first and last rows and the counters between them), computed by the same
//! rules the report applies to rows ([`step`] is the one rule for health counters), so
//! figures read from a summary equal figures read from the columns (tested).
//!
//! Stored as JSON under [`DATA_KEY`] (data files) or [`HEALTH_KEY`] (health files),
//! versioned; a reader ignores a version it does not know and reads the columns
//! instead, as it does for daily files written before summaries existed. Data summaries
//! of version 2 ([`VERSION`]) add each measurement's sum per UTC hour, so that a report
//! drawn in hours (`--days` up to 7) reads a compacted day from its footer too; version 1
//! (day figures only) is still read, for reports drawn in days.
//! Values are the files' integer counts ([`lakenode::sample::quantize`]), so sums are
//! exact. A summary is a claim of the file: [`DaySummary::from_json`] checks it against
//! the file's row count and the day before anything trusts it.
//!
//! ```
//! use lakenode::sample::Sample;
//! use lakenode::schema::Measurement;
//! use lakenode_lake::summary::DaySummary;
//! let day = 1_795_132_800_000; // 2026-11-20T00:00:00Z
//! let mut s = Sample::new(day + 3_600_000);
//! s.set_count(Measurement::Temperature, Some(2_150)); // 21.50 °C
//! let summary = DaySummary::of(day, &[s]);
//! let back = DaySummary::from_json(&summary.to_json(), day, 1).unwrap();
//! assert_eq!(back.hours[1], 1);
//! assert_eq!(back.mean(Measurement::Temperature), Some(21.5));
//! ```

use std::collections::BTreeMap;

use lakenode::health::HealthRow;
use lakenode::sample::{Sample, count_to_f64};
use lakenode::schema::Measurement;
use serde::{Deserialize, Serialize};

/// Footer key of a data daily file's summary.
pub const DATA_KEY: &str = "lakenode.summary";
/// Footer key of a health daily file's summary.
pub const HEALTH_KEY: &str = "lakenode.health_summary";
/// The data summary format this build writes: 2 adds [`ColumnSummary::hour_sums`].
pub const VERSION: u32 = 2;
/// The data summary formats this build reads (1: day figures only).
pub const VERSIONS: std::ops::RangeInclusive<u32> = 1..=VERSION;
/// The health summary format this build writes and reads.
pub const HEALTH_VERSION: u32 = 1;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Most instants an hour can hold (one every 100 ms, the shortest interval read).
const MAX_PER_HOUR: u32 = 36_000;

/// How far the boot instant (`at - uptime`) of two health rows may differ without a
/// restart between them: clock corrections and rounding, not a reboot.
pub const RESTART_SHIFT_MS: i64 = 5 * 60_000;

/// Seconds of uptime beyond any device's life (100 years).
pub const MAX_UPTIME_S: i64 = 100 * 365 * 86_400;

/// A measurement's figures over a day (counts, see [`lakenode::sample::quantize`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnSummary {
    /// Non-null values.
    pub n: u64,
    /// Their sum.
    pub sum: i64,
    /// The smallest.
    pub min: i32,
    /// The largest.
    pub max: i32,
    /// The value at the newest instant that has one.
    pub last: i32,
    /// Nulls by UTC hour, as (hour, nulls) for the hours that have any: the values per
    /// hour are the instants per hour less these (sparse, to keep the footer small).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nulls: Vec<(u8, u32)>,
    /// The sum of the values in each UTC hour (24 entries; version 2 on, empty in
    /// version 1): what a report drawn in hours needs for its hourly means.
    #[serde(
        default,
        rename = "h",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "hour_sums"
    )]
    pub hour_sums: Vec<i64>,
}

/// Reads the hour sums into a vector made for 24 at once: a year's report decodes
/// 365,000 summaries of ~8 measurements each, and growing each vector from 4 to 32
/// was a third of its allocations.
fn hour_sums<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    struct Sums;
    impl<'de> serde::de::Visitor<'de> for Sums {
        type Value = Vec<i64>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of hour sums")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<i64>, A::Error> {
            let mut out = Vec::with_capacity(24);
            while let Some(v) = seq.next_element()? {
                out.push(v);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Sums)
}

impl ColumnSummary {
    /// Whether the day's figures of `m` fit a day of `rows` instants: values counted,
    /// no more than the instants, within the sensor's range, the newest value between
    /// the smallest and the largest, the sum between count times each (the checks of a
    /// summary that do not need its hours; also those of a monthly rollup's entry).
    #[must_use]
    pub fn day_fits(&self, m: Measurement, rows: u64) -> bool {
        let (lo, hi) = m.range();
        let in_range = |v: i32| (lo..=hi).contains(&count_to_f64(m, v));
        self.n > 0
            && self.n <= rows
            && self.min <= self.max
            && [self.min, self.max, self.last].into_iter().all(in_range)
            && (self.min..=self.max).contains(&self.last)
            && i128::from(self.sum) >= i128::from(self.min) * i128::from(self.n)
            && i128::from(self.sum) <= i128::from(self.max) * i128::from(self.n)
    }

    /// Values per UTC hour, given the day's instants per hour.
    #[must_use]
    pub fn hours(&self, instants: &[u32; 24]) -> [u32; 24] {
        let mut out = *instants;
        for &(h, n) in &self.nulls {
            if let Some(v) = out.get_mut(usize::from(h)) {
                *v = v.saturating_sub(n);
            }
        }
        out
    }
}

/// What a report needs of a station's data day, from a data daily file's footer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaySummary {
    /// Format version ([`VERSION`]).
    pub v: u32,
    /// The oldest instant, ms UTC.
    pub first_ms: i64,
    /// The newest instant, ms UTC.
    pub last_ms: i64,
    /// Distinct instants (rows).
    pub rows: u64,
    /// Instants per UTC hour of the day.
    pub hours: [u32; 24],
    /// Per measurement (by column name) with at least one value.
    pub columns: BTreeMap<String, ColumnSummary>,
}

impl DaySummary {
    /// The summary of a day's samples (each instant once, all inside the day starting at
    /// `day_start_ms`; instants outside are left out).
    #[must_use]
    pub fn of(day_start_ms: i64, samples: &[Sample]) -> Self {
        let mut out = Self {
            v: VERSION,
            first_ms: i64::MAX,
            last_ms: i64::MIN,
            rows: 0,
            hours: [0; 24],
            columns: BTreeMap::new(),
        };
        let mut per: [Option<(ColumnSummary, i64, [u32; 24])>; Measurement::COUNT] =
            Default::default();
        for s in samples {
            let offset = s.timestamp_ms - day_start_ms;
            if !(0..DAY_MS).contains(&offset) {
                continue;
            }
            let hour = usize::try_from(offset / HOUR_MS).unwrap_or(0);
            out.rows += 1;
            out.hours[hour] += 1;
            out.first_ms = out.first_ms.min(s.timestamp_ms);
            out.last_ms = out.last_ms.max(s.timestamp_ms);
            for m in Measurement::ALL {
                let Some(c) = s.count(m) else { continue };
                // `_with`: the new entry (and its `hour_sums` allocation) only for the
                // first sample of a column, not built and dropped for every one (a
                // fifth of a compaction's CPU, measured 2026-12-04).
                let entry = per[m.index()].get_or_insert_with(|| {
                    (
                        ColumnSummary {
                            n: 0,
                            sum: 0,
                            min: c,
                            max: c,
                            last: c,
                            nulls: Vec::new(),
                            hour_sums: vec![0; 24],
                        },
                        i64::MIN,
                        [0; 24],
                    )
                });
                let (col, last_at, hours) = entry;
                col.n += 1;
                col.sum += i64::from(c);
                col.min = col.min.min(c);
                col.max = col.max.max(c);
                if s.timestamp_ms >= *last_at {
                    *last_at = s.timestamp_ms;
                    col.last = c;
                }
                hours[hour] += 1;
                col.hour_sums[hour] += i64::from(c);
            }
        }
        for m in Measurement::ALL {
            if let Some((mut col, _, hours)) = per[m.index()].take() {
                col.nulls = (0..24_u8)
                    .zip(out.hours.iter().zip(&hours))
                    .filter(|(_, (all, some))| all > some)
                    .map(|(h, (all, some))| (h, all - some))
                    .collect();
                out.columns.insert(m.name().to_owned(), col);
            }
        }
        out
    }

    /// The footer value: compact JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Decodes and checks a summary of the day starting at `day_start_ms` in a file of
    /// `file_rows` rows. `None` for another version (read the columns instead).
    ///
    /// # Errors
    /// Why the summary cannot be this file's: damaged JSON, instants outside the day,
    /// counts that do not add up, values outside their sensor's range.
    pub fn from_json(json: &str, day_start_ms: i64, file_rows: u64) -> Result<Self, String> {
        let s: Self =
            serde_json::from_str(json).map_err(|e| format!("its `{DATA_KEY}` is damaged: {e}"))?;
        if !VERSIONS.contains(&s.v) {
            return Err(format!("its `{DATA_KEY}` is of version {}", s.v));
        }
        s.check(day_start_ms, file_rows)
            .map_err(|why| format!("its `{DATA_KEY}` does not fit the file: {why}"))?;
        Ok(s)
    }

    fn check(&self, day: i64, file_rows: u64) -> Result<(), String> {
        let total: u64 = self.hours.iter().map(|&h| u64::from(h)).sum();
        if total != self.rows || self.rows != file_rows {
            return Err(format!(
                "{} instants by hour, {} claimed, {file_rows} rows in the file",
                total, self.rows
            ));
        }
        if self.hours.iter().any(|&h| h > MAX_PER_HOUR) {
            return Err("more than one instant per 100 ms in an hour".into());
        }
        let inside = |t: i64| (day..day + DAY_MS).contains(&t);
        if self.rows > 0 && !(inside(self.first_ms) && inside(self.last_ms)) {
            return Err("instants outside the partition's day".into());
        }
        if self.rows > 0 && self.first_ms > self.last_ms {
            return Err("the first instant is after the last".into());
        }
        for (name, c) in &self.columns {
            let m = Measurement::from_name(name)
                .ok_or_else(|| format!("an unknown measurement `{name}`"))?;
            let by_hour: u64 = c.hours(&self.hours).iter().map(|&h| u64::from(h)).sum();
            let nulls_fit = c.nulls.windows(2).all(|w| w[0].0 < w[1].0)
                && c.nulls.iter().all(|&(h, n)| {
                    self.hours
                        .get(usize::from(h))
                        .is_some_and(|&all| n > 0 && n <= all)
                });
            let ok = nulls_fit && by_hour == c.n && c.day_fits(m, self.rows);
            if !ok || !self.hour_sums_fit(c) {
                return Err(format!("the figures of `{name}` do not add up"));
            }
        }
        Ok(())
    }

    /// A column's sums per hour: none in version 1; from version 2, one per hour, each
    /// within its hour's values times the day's minimum and maximum, adding up to the
    /// day's sum.
    fn hour_sums_fit(&self, c: &ColumnSummary) -> bool {
        if self.v < 2 {
            return c.hour_sums.is_empty();
        }
        let n = c.hours(&self.hours);
        c.hour_sums.len() == 24
            && c.hour_sums.iter().map(|&s| i128::from(s)).sum::<i128>() == i128::from(c.sum)
            && c.hour_sums.iter().zip(n).all(|(&s, n)| {
                let (s, n) = (i128::from(s), i128::from(n));
                s >= i128::from(c.min) * n && s <= i128::from(c.max) * n
            })
    }

    /// Whether the summary holds each measurement's sum per hour (version 2 on).
    #[must_use]
    pub fn has_hour_sums(&self) -> bool {
        self.v >= 2
    }

    /// A measurement's figures, if the day has a value of it.
    #[must_use]
    pub fn column(&self, m: Measurement) -> Option<&ColumnSummary> {
        self.columns.get(m.name())
    }

    /// The day's mean of `m` in its unit.
    #[must_use]
    #[allow(clippy::cast_precision_loss)] // sums of counts stay far below 2^52
    pub fn mean(&self, m: Measurement) -> Option<f64> {
        let c = self.column(m)?;
        Some(c.sum as f64 / c.n as f64 / f64::from(m.scale()))
    }
}

/// A health row's figures the report uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HealthPoint {
    /// When the row's window closed, ms UTC.
    #[serde(rename = "t")]
    pub at_ms: i64,
    /// WiFi signal, dBm (nodes only).
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub rssi: Option<i32>,
    /// Files waiting in the spool.
    #[serde(rename = "s")]
    pub spool_files: i64,
    /// Files dropped because the spool was full, since the spool was created.
    #[serde(rename = "d")]
    pub dropped_files: i64,
    /// Failed upload attempts since the station started.
    #[serde(rename = "f")]
    pub upload_failures: i64,
    /// Seconds since the station started: a decrease is a restart.
    #[serde(rename = "u")]
    pub uptime_s: i64,
}

impl HealthPoint {
    /// A health row as a point; `None` if it holds a value no node reports (a negative
    /// count, an uptime of over a century): such a row would fake restarts or upload
    /// failures.
    #[must_use]
    pub fn from_row(row: &HealthRow) -> Option<Self> {
        Self {
            at_ms: row.timestamp_ms,
            rssi: row.wifi_rssi,
            spool_files: row.spool_files,
            dropped_files: row.dropped_files,
            upload_failures: row.upload_failures,
            uptime_s: row.uptime_s,
        }
        .plausible()
    }

    fn plausible(self) -> Option<Self> {
        let counters = [
            self.uptime_s,
            self.spool_files,
            self.dropped_files,
            self.upload_failures,
        ];
        (counters.iter().all(|v| *v >= 0) && self.uptime_s <= MAX_UPTIME_S).then_some(self)
    }

    /// The boot instant the row implies, ms UTC.
    fn booted(&self) -> i64 {
        self.at_ms - self.uptime_s.saturating_mul(1000)
    }
}

/// What one health row adds to the figures, given the row before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Step {
    /// The station restarted since the row before.
    pub restarted: bool,
    /// Failed uploads since the row before.
    pub failures: i64,
    /// Files dropped since the row before.
    pub dropped: i64,
}

/// The rule for health counters a node keeps since it started: what `point` adds after
/// `previous` (the station's row before it, if any was read). A restart is an uptime
/// that goes down, or a boot instant that moves on by more than a clock correction
/// explains. Failures count since the station started: after a restart the whole count
/// is new; a counter that went down without a restart is not counted twice. The first
/// row read counts its failures only if the station started at or after `not_before`
/// (otherwise part of them belong to days not read).
#[must_use]
pub fn step(previous: Option<&HealthPoint>, point: &HealthPoint, not_before: i64) -> Step {
    let restarted = previous.is_some_and(|p| {
        point.uptime_s < p.uptime_s || point.booted() - p.booted() > RESTART_SHIFT_MS
    });
    let failures = match previous {
        Some(p) if !restarted => point
            .upload_failures
            .saturating_sub(p.upload_failures)
            .max(0),
        Some(_) => point.upload_failures.max(0),
        None if point.booted() >= not_before => point.upload_failures.max(0),
        None => 0,
    };
    let dropped = previous.map_or(0, |p| {
        point.dropped_files.saturating_sub(p.dropped_files).max(0)
    });
    Step {
        restarted,
        failures,
        dropped,
    }
}

/// Figures of a run of health rows, each taken after the one before it by [`step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HealthRun {
    /// Rows.
    pub rows: u32,
    /// The deepest spool.
    pub spool_max: i64,
    /// Sum of the rows' RSSI, dBm.
    pub rssi_sum: i64,
    /// Rows with an RSSI.
    pub rssi_n: u32,
    /// Failed uploads.
    pub failures: i64,
    /// Dropped files.
    pub dropped: i64,
    /// Restarts.
    pub restarts: u32,
}

/// What a report needs of a station's health day, from a health daily file's footer:
/// the day's first row (folded by the reader after the previous day's last row, as a
/// row would be), the figures of the rows after it, the last row (for the next day),
/// and the rows at the day's end instant (a health row's time is its window's end: the
/// last window's row belongs to the next day's bucket), kept whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthSummary {
    /// Format version ([`HEALTH_VERSION`]).
    pub v: u32,
    /// The first row inside the day.
    pub first: Option<HealthPoint>,
    /// The rows after it inside the day.
    pub rest: HealthRun,
    /// The last row inside the day.
    pub last: Option<HealthPoint>,
    /// Rows at the day's end instant, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub end: Vec<HealthPoint>,
}

impl HealthSummary {
    /// The summary of a health day's rows (any order, repeats allowed: sorted and
    /// folded once as the report does); `None` if a row is implausible (the reader then
    /// reads the rows, and reports the file).
    #[must_use]
    pub fn of(day_start_ms: i64, rows: &[HealthRow]) -> Option<Self> {
        let mut points: Vec<HealthPoint> = rows
            .iter()
            .map(HealthPoint::from_row)
            .collect::<Option<_>>()?;
        sort_points(&mut points);
        let end_ms = day_start_ms + DAY_MS;
        let (inside, end): (Vec<_>, Vec<_>) = points.into_iter().partition(|p| p.at_ms < end_ms);
        let mut out = Self {
            v: HEALTH_VERSION,
            first: inside.first().copied(),
            rest: HealthRun::default(),
            last: inside.last().copied(),
            end: end.into_iter().filter(|p| p.at_ms == end_ms).collect(),
        };
        for pair in inside.windows(2) {
            let s = step(Some(&pair[0]), &pair[1], i64::MIN);
            let r = &mut out.rest;
            r.rows += 1;
            r.spool_max = r.spool_max.max(pair[1].spool_files);
            if let Some(v) = pair[1].rssi {
                r.rssi_sum += i64::from(v);
                r.rssi_n += 1;
            }
            r.failures = r.failures.saturating_add(s.failures);
            r.dropped = r.dropped.saturating_add(s.dropped);
            r.restarts += u32::from(s.restarted);
        }
        Some(out)
    }

    /// The footer value: compact JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Rows the summary stands for (after repeats were folded).
    #[must_use]
    pub fn points(&self) -> u64 {
        u64::from(self.first.is_some()) + u64::from(self.rest.rows) + self.end.len() as u64
    }

    /// Decodes and checks a health summary of the day starting at `day_start_ms` in a
    /// file of `file_rows` rows.
    ///
    /// # Errors
    /// Why the summary cannot be this file's.
    pub fn from_json(json: &str, day_start_ms: i64, file_rows: u64) -> Result<Self, String> {
        let s: Self = serde_json::from_str(json)
            .map_err(|e| format!("its `{HEALTH_KEY}` is damaged: {e}"))?;
        if s.v != HEALTH_VERSION {
            return Err(format!("its `{HEALTH_KEY}` is of version {}", s.v));
        }
        s.check(day_start_ms, file_rows)?;
        Ok(s)
    }

    /// Checks the summary against the day starting at `day_start_ms` and a file of
    /// `file_rows` rows (also a monthly rollup's health entry).
    ///
    /// # Errors
    /// Why the summary cannot be this file's.
    pub fn check(&self, day_start_ms: i64, file_rows: u64) -> Result<(), String> {
        let s = self;
        let end = day_start_ms + DAY_MS;
        let inside = |p: &HealthPoint| (day_start_ms..end).contains(&p.at_ms);
        let points = [s.first, s.last]
            .into_iter()
            .flatten()
            .chain(s.end.iter().copied());
        let ok = s.points() <= file_rows
            && s.first.is_some() == s.last.is_some()
            && (s.first.is_some() || s.rest.rows == 0)
            && s.first.iter().chain(&s.last).all(inside)
            && s.first.zip(s.last).is_none_or(|(f, l)| f.at_ms <= l.at_ms)
            && s.end.iter().all(|p| p.at_ms == end)
            && points.into_iter().all(|p| p.plausible().is_some())
            && [s.rest.spool_max, s.rest.failures, s.rest.dropped]
                .iter()
                .all(|v| *v >= 0)
            && s.rest.restarts <= s.rest.rows
            && s.rest.rssi_n <= s.rest.rows;
        if !ok {
            return Err(format!("its `{HEALTH_KEY}` does not fit the file"));
        }
        Ok(())
    }
}

/// Health rows in the order the report folds them: by time, and of two rows at one
/// instant (a window cut by a reboot) the older boot's (longer uptime) first; repeats
/// (the same row in two files) once.
pub fn sort_points(points: &mut Vec<HealthPoint>) {
    points.sort_by_key(|p| (p.at_ms, std::cmp::Reverse(p.uptime_s)));
    points.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 1_795_132_800_000; // 2026-11-20T00:00:00Z

    fn samples() -> Vec<Sample> {
        // Every 5 s for 26 hours starting an hour early (rows outside the day are left
        // out); temperature null one sample in seven, CO2 only in hour 5.
        (0..26 * 720)
            .map(|i| {
                let t = DAY - HOUR_MS + i * 5_000;
                let mut s = Sample::new(t);
                let temp = i32::try_from(1_500 + (i * 37) % 1_100).unwrap();
                s.set_count(Measurement::Temperature, (i % 7 != 0).then_some(temp));
                s.set_count(
                    Measurement::Battery,
                    Some(3_700 + i32::try_from(i % 300).unwrap()),
                );
                if (DAY + 5 * HOUR_MS..DAY + 6 * HOUR_MS).contains(&t) {
                    s.set_count(Measurement::Co2, Some(400 + i32::try_from(i % 50).unwrap()));
                }
                s
            })
            .collect()
    }

    #[test]
    fn figures_match_a_direct_computation_from_the_rows() {
        let rows = samples();
        let summary = DaySummary::of(DAY, &rows);
        let in_day: Vec<&Sample> = rows
            .iter()
            .filter(|s| (DAY..DAY + DAY_MS).contains(&s.timestamp_ms))
            .collect();
        assert_eq!(summary.rows, in_day.len() as u64);
        assert_eq!(summary.hours, [720; 24]);
        assert_eq!(summary.first_ms, DAY);
        assert_eq!(summary.last_ms, DAY + DAY_MS - 5_000);
        for m in [
            Measurement::Temperature,
            Measurement::Battery,
            Measurement::Co2,
        ] {
            let values: Vec<f64> = in_day.iter().filter_map(|s| s.value(m)).collect();
            let col = summary.column(m).unwrap();
            assert_eq!(col.n, values.len() as u64, "{m:?}: nulls are not counted");
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            assert!((summary.mean(m).unwrap() - mean).abs() < 1e-9, "{m:?}");
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            assert!((count_to_f64(m, col.min) - min).abs() < 1e-9);
            assert!((count_to_f64(m, col.max) - max).abs() < 1e-9);
            let newest = in_day.iter().rev().find_map(|s| s.value(m)).unwrap();
            assert!((count_to_f64(m, col.last) - newest).abs() < 1e-9);
        }
        let temp = summary.column(Measurement::Temperature).unwrap();
        let hours = temp.hours(&summary.hours);
        let want0 = in_day[..720]
            .iter()
            .filter(|s| s.count(Measurement::Temperature).is_some());
        assert_eq!(hours[0] as usize, want0.count());
        let battery = summary.column(Measurement::Battery).unwrap();
        assert!(battery.nulls.is_empty(), "no nulls");
        let co2 = summary
            .column(Measurement::Co2)
            .unwrap()
            .hours(&summary.hours);
        assert_eq!((co2[4], co2[5], co2[6]), (0, 720, 0));
        assert!(summary.column(Measurement::Pm25).is_none());
        // Sums per hour, directly.
        for m in [Measurement::Temperature, Measurement::Co2] {
            let col = summary.column(m).unwrap();
            for (h, &sum) in col.hour_sums.iter().enumerate() {
                let start = DAY + i64::try_from(h).unwrap() * HOUR_MS;
                let want: i64 = in_day
                    .iter()
                    .filter(|s| (start..start + HOUR_MS).contains(&s.timestamp_ms))
                    .filter_map(|s| s.count(m))
                    .map(i64::from)
                    .sum();
                assert_eq!(sum, want, "{m:?} hour {h}");
            }
        }
    }

    #[test]
    fn round_trips_small_and_checked() {
        let summary = DaySummary::of(DAY, &samples());
        let json = summary.to_json();
        // Hour sums of three measurements: well within the first footer request.
        assert!(json.len() < 1_500, "{} bytes: {json}", json.len());
        assert_eq!(
            DaySummary::from_json(&json, DAY, summary.rows).unwrap(),
            summary
        );
        // Another file's row count, another day, another version, forged figures.
        assert!(DaySummary::from_json(&json, DAY, summary.rows + 1).is_err());
        assert!(DaySummary::from_json(&json, DAY + DAY_MS, summary.rows).is_err());
        let v3 = json.replacen("\"v\":2", "\"v\":3", 1);
        assert!(
            DaySummary::from_json(&v3, DAY, summary.rows)
                .unwrap_err()
                .contains("version 3")
        );
        let mut forged = summary.clone();
        forged.columns.get_mut("temperature").unwrap().sum = i64::MAX;
        assert!(DaySummary::from_json(&forged.to_json(), DAY, summary.rows).is_err());
        assert!(DaySummary::from_json("{", DAY, 0).is_err());
        // An hour's sum moved to another hour: the day's sum still adds up, the hours
        // do not (CO2 has values in hour 5 only).
        let mut moved = summary.clone();
        let co2 = moved.columns.get_mut("co2").unwrap();
        co2.hour_sums.swap(5, 6);
        assert!(DaySummary::from_json(&moved.to_json(), DAY, summary.rows).is_err());
        let mut short = summary.clone();
        short.columns.get_mut("co2").unwrap().hour_sums.pop();
        assert!(DaySummary::from_json(&short.to_json(), DAY, summary.rows).is_err());
    }

    /// Version 1 (written before hour sums) is still read, without hour sums; a
    /// version 1 summary claiming hour sums is not.
    #[test]
    fn version_1_is_read_without_hour_sums() {
        let mut v1 = DaySummary::of(DAY, &samples());
        v1.v = 1;
        for c in v1.columns.values_mut() {
            c.hour_sums.clear();
        }
        let back = DaySummary::from_json(&v1.to_json(), DAY, v1.rows).unwrap();
        assert!(!back.has_hour_sums());
        assert_eq!(back.mean(Measurement::Co2), v1.mean(Measurement::Co2));
        let mut mixed = DaySummary::of(DAY, &samples());
        mixed.v = 1;
        assert!(DaySummary::from_json(&mixed.to_json(), DAY, mixed.rows).is_err());
    }

    fn row(at: i64, uptime: i64, failures: i64, rssi: Option<i32>) -> HealthRow {
        let mut r = HealthRow::new(at);
        r.uptime_s = uptime;
        r.upload_failures = failures;
        r.spool_files = uptime % 7;
        r.wifi_rssi = rssi;
        r
    }

    #[test]
    fn health_summary_folds_rows_as_the_report_does() {
        let q = 15 * 60_000;
        // Rows every 15 min from 00:15 to 24:00 with a restart at 12:00, a repeated row
        // and one given out of order.
        let mut rows: Vec<HealthRow> = (1..=96)
            .map(|i| {
                let at = DAY + i * q;
                let up = if i < 48 { i * 900 } else { (i - 48) * 900 + 60 };
                let failures = if i < 48 { i / 10 } else { (i - 48) / 20 };
                row(
                    at,
                    up,
                    failures,
                    (i % 3 == 0).then_some(-60 - i32::try_from(i % 9).unwrap()),
                )
            })
            .collect();
        rows.push(rows[10].clone());
        rows.swap(3, 4);
        let s = HealthSummary::of(DAY, &rows).unwrap();
        assert_eq!(s.points(), 96);
        assert_eq!(s.end.len(), 1, "the 24:00 row belongs to the next day");
        assert_eq!(s.first.unwrap().at_ms, DAY + q);
        assert_eq!(s.last.unwrap().at_ms, DAY + 95 * q);
        // Directly: consecutive rows inside the day.
        let mut points: Vec<HealthPoint> = rows.iter().filter_map(HealthPoint::from_row).collect();
        sort_points(&mut points);
        let inside: Vec<_> = points.iter().filter(|p| p.at_ms < DAY + DAY_MS).collect();
        let restarts = inside
            .windows(2)
            .filter(|w| w[1].uptime_s < w[0].uptime_s)
            .count();
        assert_eq!(s.rest.restarts as usize, restarts);
        assert_eq!(restarts, 1);
        // 4 failures before the restart (47 / 10), 2 after it (47 / 20).
        assert_eq!(s.rest.failures, 4 + 2);
        let json = s.to_json();
        assert!(json.len() < 400, "{} bytes: {json}", json.len());
        assert_eq!(HealthSummary::from_json(&json, DAY, 97).unwrap(), s);
        assert!(
            HealthSummary::from_json(&json, DAY, 95).is_err(),
            "more points than rows"
        );
        assert!(HealthSummary::from_json(&json, DAY - DAY_MS, 97).is_err());
        // A negative counter: no summary (the rows are read, and the file reported).
        assert!(HealthSummary::of(DAY, &[row(DAY + q, 60, -1, None)]).is_none());
    }
}
