//! Monthly rollups, version 2: per daily file only the numbers a report reads for a day
//! outside its detail window, as plain JSON arrays decoded in one pass.
//!
//! Why: version 1 ([`super::Rollup`]) kept each footer's summary strings as they are,
//! hourly arrays included: ~91 KB per station-month of `fleet-lake`'s stations, decoded
//! twice (the rollup's JSON, then each summary's). A report drawn in days uses none of
//! the hourly figures. An entry here holds the day of the month (its key is rebuilt
//! from the station, the month and the tree, so an entry cannot name another
//! station-month's file), the file's size and row count, and the day's figures:
//!
//! - data: `[day, size, rows, interval_ms, first_ms, last_ms, [[measurement, n, sum,
//!   min, max, last], ...]]` (values in the files' integer counts);
//! - health: `[day, size, rows, first, [rows, spool_max, rssi_sum, rssi_n, failures,
//!   dropped, restarts], last, [end, ...]]`, each point `[t, rssi, spool, dropped,
//!   failures, uptime_s]` ([`HealthSummary`]).
//!
//! JSON rather than a binary form: still readable with `jq`, and with no names per
//! field and no strings inside strings it is ~8 times smaller than version 1 and
//! decoded straight into these structs (serde derive, no intermediate strings). Every
//! entry is checked as its footer's summary is (figures within the sensors' ranges,
//! instants inside the day, health counters consistent); one entry that fails, a
//! day outside the month, a day twice, or another version: the whole rollup is refused
//! and its days are read from their footers.

use std::collections::HashMap;

use lakenode::encode::FileMetadata;
use lakenode::schema::Measurement;
use serde::{Deserialize, Serialize};

use crate::summary::{
    ColumnSummary, DATA_KEY, DaySummary, HEALTH_KEY, HealthPoint, HealthRun, HealthSummary,
};

/// The version of this format.
pub const VERSION: u32 = 2;

const DAY_MS: i64 = 86_400_000;

/// A station-month's rollup, version 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Month {
    /// Format version ([`VERSION`]).
    pub v: u32,
    /// The station's id.
    pub station: String,
    /// The UTC month, `YYYY-MM`.
    pub month: String,
    /// The data daily files, by day.
    #[serde(default)]
    pub data: Vec<DataDay>,
    /// The health daily files, by day.
    #[serde(default)]
    pub health: Vec<HealthDay>,
    /// The stamps of the daily files when the rollup was written ([`Stamped`]), for
    /// those whose store records them; `None` in a rollup written before stamps
    /// existed (2026-12-04) or by a store that keeps none: its entries are matched by
    /// size alone.
    #[serde(default, rename = "t", skip_serializing_if = "Option::is_none")]
    pub stamps: Option<Vec<Stamped>>,
}

/// A daily file's stamps ([`crate::lake::Stamp`]): (0 data or 1 health, day of the
/// month, the file's stamp, its directory's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamped(pub u8, pub u8, pub u64, pub u64);

/// A data daily file: (day of the month, size, rows, sampling interval ms, first
/// instant ms, last instant ms, its measurements' figures).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataDay(
    pub u8,
    pub u64,
    pub u64,
    pub i64,
    pub i64,
    pub i64,
    pub Vec<Column>,
);

/// A measurement's day figures: (measurement, values, sum, min, max, the newest value),
/// in counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column(
    #[serde(with = "by_name")] pub Measurement,
    pub u64,
    pub i64,
    pub i32,
    pub i32,
    pub i32,
);

/// A health daily file: (day of the month, size, rows, first point, the run after
/// it, last point, the points at the day's end instant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthDay(
    pub u8,
    pub u64,
    pub u64,
    pub Option<Point>,
    pub Run,
    pub Option<Point>,
    pub Vec<Point>,
);

/// A [`HealthPoint`]: (t ms, rssi, spool files, dropped files, upload failures, uptime s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Point(pub i64, pub Option<i32>, pub i64, pub i64, pub i64, pub i64);

/// A [`HealthRun`]: (rows, spool max, rssi sum, rssi n, failures, dropped, restarts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run(
    pub u32,
    pub i64,
    pub i64,
    pub u32,
    pub i64,
    pub i64,
    pub u32,
);

/// A measurement by its name, decoded without a string of its own.
mod by_name {
    use lakenode::schema::Measurement;

    pub fn serialize<S: serde::Serializer>(m: &Measurement, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(m.name())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Measurement, D::Error> {
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = Measurement;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a measurement's name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Measurement, E> {
                Measurement::from_name(v)
                    .ok_or_else(|| E::custom(format!("an unknown measurement `{v}`")))
            }
        }
        d.deserialize_str(Name)
    }
}

impl From<Point> for HealthPoint {
    fn from(p: Point) -> Self {
        Self {
            at_ms: p.0,
            rssi: p.1,
            spool_files: p.2,
            dropped_files: p.3,
            upload_failures: p.4,
            uptime_s: p.5,
        }
    }
}

impl From<HealthPoint> for Point {
    fn from(p: HealthPoint) -> Self {
        Self(
            p.at_ms,
            p.rssi,
            p.spool_files,
            p.dropped_files,
            p.upload_failures,
            p.uptime_s,
        )
    }
}

impl Column {
    /// As a [`ColumnSummary`] (no hourly figures).
    #[must_use]
    pub fn summary(&self) -> ColumnSummary {
        ColumnSummary {
            n: self.1,
            sum: self.2,
            min: self.3,
            max: self.4,
            last: self.5,
            nulls: Vec::new(),
            hour_sums: Vec::new(),
        }
    }
}

/// One entry of a rollup, as [`Month::by_key`] finds it.
#[derive(Debug, Clone, Copy)]
pub enum Entry<'a> {
    /// A data daily file's.
    Data(&'a DataDay),
    /// A health daily file's.
    Health(&'a HealthDay),
}

impl DataDay {
    /// The entry of a data daily file (`day` of the month starting at `day_start_ms`)
    /// from its footer's row count and key/value pairs, if they hold a summary that
    /// fits the file and a usable sampling interval.
    #[must_use]
    pub fn of(
        day: u8,
        size: u64,
        rows: u64,
        pairs: &[(String, String)],
        day_start_ms: i64,
    ) -> Option<Self> {
        let value = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        let meta = FileMetadata::from_key_values(pairs).ok()?;
        let s = DaySummary::from_json(value(DATA_KEY)?, day_start_ms, rows).ok()?;
        let columns = s
            .columns
            .iter()
            .map(|(name, c)| {
                Some(Column(
                    Measurement::from_name(name)?,
                    c.n,
                    c.sum,
                    c.min,
                    c.max,
                    c.last,
                ))
            })
            .collect::<Option<Vec<_>>>()?;
        let out = Self(
            day,
            size,
            rows,
            meta.interval_ms,
            s.first_ms,
            s.last_ms,
            columns,
        );
        out.check(day_start_ms).ok()?;
        Some(out)
    }

    /// The day's figures of `m`, if it has a value of it.
    #[must_use]
    pub fn column(&self, m: Measurement) -> Option<&Column> {
        self.6.iter().find(|c| c.0 == m)
    }

    fn check(&self, day: i64) -> Result<(), String> {
        let Self(d, _, rows, interval, first, last, columns) = self;
        let inside = |t: i64| (day..day + DAY_MS).contains(&t);
        let ok = (100..=DAY_MS).contains(interval)
            && u32::try_from(*rows).is_ok()
            && (*rows == 0 || (inside(*first) && inside(*last) && first <= last))
            && columns.iter().enumerate().all(|(i, c)| {
                c.summary().day_fits(c.0, *rows) && columns[..i].iter().all(|o| o.0 != c.0)
            });
        if ok {
            Ok(())
        } else {
            Err(format!("the data entry of day {d} does not add up"))
        }
    }
}

impl HealthDay {
    /// The entry of a health daily file from its footer's row count and key/value
    /// pairs, if they hold a summary that fits the file.
    #[must_use]
    pub fn of(
        day: u8,
        size: u64,
        rows: u64,
        pairs: &[(String, String)],
        day_start_ms: i64,
    ) -> Option<Self> {
        let json = pairs.iter().find(|(k, _)| k == HEALTH_KEY)?;
        let s = HealthSummary::from_json(&json.1, day_start_ms, rows).ok()?;
        let r = s.rest;
        Some(Self(
            day,
            size,
            rows,
            s.first.map(Point::from),
            Run(
                r.rows,
                r.spool_max,
                r.rssi_sum,
                r.rssi_n,
                r.failures,
                r.dropped,
                r.restarts,
            ),
            s.last.map(Point::from),
            s.end.into_iter().map(Point::from).collect(),
        ))
    }

    /// The day's [`HealthSummary`], as its footer holds it.
    #[must_use]
    pub fn summary(&self) -> HealthSummary {
        let r = self.4;
        HealthSummary {
            v: crate::summary::HEALTH_VERSION,
            first: self.3.map(HealthPoint::from),
            rest: HealthRun {
                rows: r.0,
                spool_max: r.1,
                rssi_sum: r.2,
                rssi_n: r.3,
                failures: r.4,
                dropped: r.5,
                restarts: r.6,
            },
            last: self.5.map(HealthPoint::from),
            end: self.6.iter().copied().map(HealthPoint::from).collect(),
        }
    }
}

/// `YYYY-MM` as (year, month, its first day's first ms, days in it).
fn month_parts(month: &str) -> Option<(i16, i8, i64, i8)> {
    let date = jiff::civil::Date::strptime("%Y-%m-%d", format!("{month}-01")).ok()?;
    let start = date
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()?
        .timestamp()
        .as_millisecond();
    Some((date.year(), date.month(), start, date.days_in_month()))
}

impl Month {
    /// An empty rollup of `station`'s `month`.
    #[must_use]
    pub fn new(station: &str, month: &str) -> Self {
        Self {
            v: VERSION,
            station: station.into(),
            month: month.into(),
            data: Vec::new(),
            health: Vec::new(),
            stamps: None,
        }
    }

    /// The rollup as stored: compact JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Decodes and checks the rollup stored for `station` and `month` (`YYYY-MM`).
    ///
    /// # Errors
    /// Damaged JSON, another version, another station-month, a day outside the month
    /// or twice, an entry whose figures do not add up: the whole rollup is ignored.
    pub fn from_json(json: &[u8], station: &str, month: &str) -> Result<Self, String> {
        let r: Self = serde_json::from_slice(json).map_err(|e| format!("damaged: {e}"))?;
        if r.v != VERSION {
            return Err(format!("of version {}", r.v));
        }
        if r.station != station || r.month != month {
            return Err(format!("it claims {} {}", r.station, r.month));
        }
        let (_, _, start, days) = month_parts(month).ok_or("not a month")?;
        let day_start = |d: u8| -> Result<i64, String> {
            if d == 0 || i16::from(d) > i16::from(days) {
                return Err(format!("day {d} is not a day of {month}"));
            }
            Ok(start + (i64::from(d) - 1) * DAY_MS)
        };
        let mut seen = [[false; 32]; 2];
        for d in &r.data {
            d.check(day_start(d.0)?)?;
            if std::mem::replace(&mut seen[0][usize::from(d.0)], true) {
                return Err(format!("day {} twice", d.0));
            }
        }
        for h in &r.health {
            h.summary()
                .check(day_start(h.0)?, h.2)
                .map_err(|e| format!("day {}: {e}", h.0))?;
            if std::mem::replace(&mut seen[1][usize::from(h.0)], true) {
                return Err(format!("day {} twice", h.0));
            }
        }
        for s in r.stamps.iter().flatten() {
            // A stamp of a day the rollup holds, once.
            let tree = usize::from(s.0);
            if tree > 1 || !std::mem::replace(&mut seen[tree][usize::from(s.1) & 31], false) {
                return Err(format!("a stamp of day {} that is not an entry's", s.1));
            }
        }
        Ok(r)
    }

    /// The key of the data (else health) daily file of `day`.
    #[must_use]
    pub fn key(&self, is_data: bool, day: u8) -> String {
        let (year, month) = self.month.split_once('-').unwrap_or(("", ""));
        let tree = if is_data { "" } else { "health/" };
        let stem = if is_data { "data" } else { "health" };
        format!(
            "{tree}station={}/year={year}/month={month}/day={day:02}/{stem}_day.parquet",
            self.station
        )
    }

    /// Whether this rollup's entries are to be checked by stamps on a store whose
    /// stamps are of `kind`: it recorded stamps, of that kind (a directory's times
    /// have a directory stamp, a bucket's tags none). A rollup without stamps, or
    /// read through a store of the other kind (a directory served by `lakenode
    /// serve`), is matched by size, as before stamps.
    #[must_use]
    pub fn stamped_for(&self, kind: crate::lake::StampKind) -> bool {
        use crate::lake::StampKind;
        match (&self.stamps, kind) {
            (None, _) | (_, StampKind::None) => false,
            (Some(s), kind) => s
                .first()
                .is_none_or(|s| (s.3 != 0) == (kind == StampKind::Times)),
        }
    }

    /// Whether this rollup holds the data (else health) daily file of `day` at `size`.
    #[must_use]
    pub fn holds(&self, is_data: bool, day: u8, size: u64) -> bool {
        if is_data {
            self.data.iter().any(|d| d.0 == day && d.1 == size)
        } else {
            self.health.iter().any(|h| h.0 == day && h.1 == size)
        }
    }

    /// The stamps recorded of the data (else health) daily file of `day`, if any.
    #[must_use]
    pub fn stamp(&self, is_data: bool, day: u8) -> Option<crate::lake::Stamp> {
        let tree = u8::from(!is_data);
        self.stamps
            .iter()
            .flatten()
            .find(|s| s.0 == tree && s.1 == day)
            .map(|s| crate::lake::Stamp {
                file: s.2,
                dir: s.3,
            })
    }

    /// Adds what this rollup's stamps say of its days' directories to `known` (each
    /// held its daily file alone, at its size, with those stamps).
    pub fn known(&self, known: &mut crate::lake::KnownDirs) {
        for s in self.stamps.iter().flatten() {
            let is_data = s.0 == 0;
            let size = if is_data {
                self.data.iter().find(|d| d.0 == s.1).map(|d| d.1)
            } else {
                self.health.iter().find(|h| h.0 == s.1).map(|h| h.1)
            };
            if let Some(size) = size {
                let stamp = crate::lake::Stamp {
                    file: s.2,
                    dir: s.3,
                };
                known.insert(&self.key(is_data, s.1), size, stamp);
            }
        }
    }

    /// The entries by key and size.
    #[must_use]
    pub fn by_key(&self) -> HashMap<(String, u64), Entry<'_>> {
        let data = self
            .data
            .iter()
            .map(|d| ((self.key(true, d.0), d.1), Entry::Data(d)));
        let health = self
            .health
            .iter()
            .map(|h| ((self.key(false, h.0), h.1), Entry::Health(h)));
        data.chain(health).collect()
    }

    /// The entry of the daily file `key` of `size` bytes, if this rollup holds it at
    /// that size.
    #[must_use]
    pub fn entry(&self, key: &str, size: u64) -> Option<Entry<'_>> {
        let data = self
            .data
            .iter()
            .find(|d| d.1 == size && self.key(true, d.0) == key)
            .map(Entry::Data);
        data.or_else(|| {
            self.health
                .iter()
                .find(|h| h.1 == size && self.key(false, h.0) == key)
                .map(Entry::Health)
        })
    }

    /// Adds the entry of the daily file `key` (of this station-month) from its footer's
    /// row count and pairs; false if it holds no usable summary (left out: the report
    /// reads its footer).
    pub fn add(&mut self, key: &str, size: u64, rows: u64, pairs: &[(String, String)]) -> bool {
        let Ok(k) = lakenode::layout::LakeKey::parse(None, key) else {
            return false;
        };
        let Some((_, _, start, _)) = month_parts(&self.month) else {
            return false;
        };
        let Ok(day) = u8::try_from(k.date.day()) else {
            return false;
        };
        let day_start = start + (i64::from(day) - 1) * DAY_MS;
        if self.key(true, day) == key {
            if let Some(d) = DataDay::of(day, size, rows, pairs, day_start) {
                self.data.push(d);
                return true;
            }
        } else if self.key(false, day) == key
            && let Some(h) = HealthDay::of(day, size, rows, pairs, day_start)
        {
            self.health.push(h);
            return true;
        }
        false
    }

    /// Entries in day order (as written).
    pub fn sort(&mut self) {
        self.data.sort_by_key(|d| d.0);
        self.health.sort_by_key(|h| h.0);
        if let Some(s) = &mut self.stamps {
            s.sort_by_key(|s| (s.0, s.1));
        }
    }
}

#[cfg(test)]
mod tests {
    use lakenode::health::HealthRow;
    use lakenode::sample::Sample;

    use super::*;

    const ST: &str = "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e";
    const NOV_20: i64 = 1_795_132_800_000; // 2026-11-20T00:00:00Z

    fn month() -> Month {
        let mut samples = Vec::new();
        for i in 0..288 {
            let mut s = Sample::new(NOV_20 + i * 300_000);
            s.set_count(
                Measurement::Temperature,
                Some(2_000 + i32::try_from(i).unwrap()),
            );
            s.set_count(
                Measurement::Battery,
                Some(3_900 - i32::try_from(i).unwrap()),
            );
            samples.push(s);
        }
        let data = DaySummary::of(NOV_20, &samples);
        let meta = lakenode::encode::FileMetadata {
            station: lakenode::layout::StationId::new(ST).unwrap(),
            interval_ms: 300_000,
            window_start_ms: NOV_20,
            window_end_ms: NOV_20 + DAY_MS,
            extra: Vec::new(),
            units: Vec::new(),
        };
        let mut pairs = vec![(lakenode::encode::META_KEY.to_string(), meta.to_json())];
        pairs.push((DATA_KEY.into(), data.to_json()));
        let rows: Vec<HealthRow> = (1..=96)
            .map(|i| {
                let mut r = HealthRow::new(NOV_20 + i * 900_000);
                r.uptime_s = i * 900;
                r.wifi_rssi = Some(-60);
                r
            })
            .collect();
        let health = HealthSummary::of(NOV_20, &rows).unwrap();
        let hpairs = vec![(HEALTH_KEY.to_string(), health.to_json())];
        let mut m = Month::new(ST, "2026-11");
        let key = m.key(true, 20);
        assert!(m.add(&key, 9_000, 288, &pairs));
        let hkey = m.key(false, 20);
        assert!(m.add(&hkey, 5_000, 96, &hpairs));
        assert!(!m.add(&hkey, 5_000, 95, &hpairs), "rows that do not fit");
        assert_eq!(m.health[0].summary(), health);
        m
    }

    #[test]
    fn a_month_round_trips_and_is_found_by_key_and_size() {
        let m = month();
        let back = Month::from_json(m.to_json().as_bytes(), ST, "2026-11").unwrap();
        assert_eq!(back, m);
        let key = format!("station={ST}/year=2026/month=11/day=20/data_day.parquet");
        assert!(matches!(back.entry(&key, 9_000), Some(Entry::Data(_))));
        assert!(back.entry(&key, 9_001).is_none(), "compacted again since");
        let hkey = format!("health/{key}").replace("data_day", "health_day");
        assert!(matches!(back.entry(&hkey, 5_000), Some(Entry::Health(_))));
        assert_eq!(back.by_key().len(), 2);
        let t = back.data[0].column(Measurement::Temperature).unwrap();
        assert_eq!((t.1, t.3, t.4, t.5), (288, 2_000, 2_287, 2_287));
    }

    /// A rollup written before stamps (no `"t"`) is matched by size, as before; one with
    /// stamps only by a store of their kind; a stamp of a day it does not hold refuses
    /// it whole.
    #[test]
    fn stamps_are_checked_by_a_store_of_their_kind_and_old_rollups_by_size() {
        use crate::lake::StampKind;
        let mut m = month();
        let json = m.to_json();
        assert!(
            !json.contains("\"t\""),
            "no stamps: no field (old readers ignore it)"
        );
        let old = Month::from_json(json.as_bytes(), ST, "2026-11").unwrap();
        assert!(!old.stamped_for(StampKind::Times) && !old.stamped_for(StampKind::Tags));
        m.stamps = Some(vec![Stamped(0, 20, 7, 9)]);
        let back = Month::from_json(m.to_json().as_bytes(), ST, "2026-11").unwrap();
        assert!(back.stamped_for(StampKind::Times), "a directory's times");
        assert!(
            !back.stamped_for(StampKind::Tags),
            "read through a bucket: by size"
        );
        assert!(!back.stamped_for(StampKind::None));
        assert_eq!(
            back.stamp(true, 20),
            Some(crate::lake::Stamp { file: 7, dir: 9 })
        );
        assert_eq!(back.stamp(false, 20), None);
        let mut known = crate::lake::KnownDirs::default();
        back.known(&mut known);
        assert_eq!(known.len(), 1);
        m.stamps = Some(vec![Stamped(0, 21, 7, 9)]);
        assert!(Month::from_json(m.to_json().as_bytes(), ST, "2026-11").is_err());
        m.stamps = Some(vec![Stamped(0, 20, 7, 9), Stamped(0, 20, 8, 9)]);
        assert!(Month::from_json(m.to_json().as_bytes(), ST, "2026-11").is_err());
    }

    #[test]
    fn a_forged_month_is_refused_whole() {
        let m = month();
        let json = m.to_json();
        let refused = |j: &str| Month::from_json(j.as_bytes(), ST, "2026-11").is_err();
        assert!(!refused(&json));
        assert!(Month::from_json(json.as_bytes(), ST, "2026-12").is_err());
        assert!(refused(&json.replacen("\"v\":2", "\"v\":1", 1)));
        assert!(refused(&json[..json.len() - 3]));
        assert!(refused(&json.replacen("[20,", "[31,", 1)), "no 31 November");
        assert!(refused(&json.replacen("[20,", "[0,", 1)));
        assert!(refused(&json.replacen("temperature", "pressure_x", 1)));
        let mut twice = m.clone();
        twice.data.push(m.data[0].clone());
        assert!(refused(&twice.to_json()));
        let mut outside = m.clone();
        outside.data[0].4 -= DAY_MS;
        assert!(refused(&outside.to_json()), "an instant of another day");
        let mut over = m.clone();
        over.data[0].6[0].2 = i64::from(over.data[0].6[0].4) * 289;
        assert!(refused(&over.to_json()), "a sum above n x max");
        let mut counters = m;
        counters.health[0].4.6 = 1_000;
        assert!(refused(&counters.to_json()), "more restarts than rows");
    }
}
