//! What the fleet report shows, computed in bounded memory: per station and time bucket
//! (an hour, or a day for long periods) the samples that arrived, the means of the main
//! measurements, and the health rows' figures. Rows are folded in one at a time and
//! never kept, so memory grows with stations x buckets, not with rows.
//!
//! Health rows are folded in time order per station ([`Fleet::add_health`] is given
//! one day's rows sorted, days in order): counters that a node keeps since it started
//! (`upload_failures`) become per-bucket increases, and an `uptime_s` that goes down is
//! a restart.
//!
//! ```
//! use lakenode_cli::report::aggregate::{Fleet, BucketSize};
//! use lakenode::sample::Sample;
//! let mut fleet = Fleet::new(BucketSize::Hour);
//! fleet.add_sample("a", 5_000, &Sample::new(5_000));
//! let period = fleet.period().unwrap();
//! assert_eq!(fleet.samples("a", period.first_bucket), 1);
//! ```

use std::collections::BTreeMap;

use lakenode::sample::Sample;
use lakenode::schema::Measurement;

/// Measurements drawn as small multiples, in this order.
pub const SERIES: [Measurement; 4] = [
    Measurement::Temperature,
    Measurement::Humidity,
    Measurement::Pm25,
    Measurement::Co2,
];

/// Measurements whose bucket means are kept: [`SERIES`] and the battery.
pub const MEANS: [Measurement; 5] = [
    Measurement::Temperature,
    Measurement::Humidity,
    Measurement::Pm25,
    Measurement::Co2,
    Measurement::Battery,
];

const HOUR_MS: i64 = 3_600_000;

/// The length of the report's time buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketSize {
    /// One hour (periods up to a week).
    Hour,
    /// One UTC day (longer periods).
    Day,
}

impl BucketSize {
    /// Milliseconds per bucket.
    #[must_use]
    pub const fn ms(self) -> i64 {
        match self {
            Self::Hour => HOUR_MS,
            Self::Day => 24 * HOUR_MS,
        }
    }
}

pub use lakenode_lake::summary::HealthPoint;
use lakenode_lake::summary::{HealthSummary, step};

/// A station-day's figures read from a daily file's summary instead of its rows
/// ([`Fleet::add_day`]): what [`Fleet::add_sample`] would have folded from them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DayFigures {
    /// The oldest instant, ms UTC.
    pub first_ms: i64,
    /// The newest instant, ms UTC.
    pub last_ms: i64,
    /// Distinct instants.
    pub samples: u32,
    /// (sum, count) of each of [`MEANS`], as in [`Bucket::sums`].
    pub sums: [(f64, u32); MEANS.len()],
    /// Per UTC hour of the day (24 entries, or none if the summary does not hold
    /// them): its distinct instants and (sum, count) of each of [`MEANS`]. What a
    /// report drawn in hours folds in.
    pub hours: Vec<(u32, [(f64, u32); MEANS.len()])>,
    /// The battery at the newest instant that has one, V.
    pub last_battery: Option<f64>,
    /// The day's lowest battery reading, V.
    pub min_battery: Option<f64>,
}

/// One station's figures in one bucket.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bucket {
    /// Distinct sampled instants.
    pub samples: u32,
    /// (sum, count) of each of [`MEANS`], the sum in the measurement's counts
    /// ([`lakenode::sample::quantize`]): integers, so exact in any order of addition,
    /// and the same whether folded from rows or from a daily summary.
    pub sums: [(f64, u32); MEANS.len()],
    /// (sum, count) of the health rows' RSSI.
    pub rssi: (f64, u32),
    /// Health rows.
    pub health_rows: u32,
    /// The deepest spool a health row reported.
    pub spool_max: i64,
    /// Failed upload attempts in the bucket: the increase of the health rows' `upload_failures`.
    pub upload_failures: i64,
    /// Files dropped in the bucket.
    pub dropped: i64,
    /// Restarts seen in the bucket.
    pub restarts: u32,
}

impl Bucket {
    /// The mean of `m` (one of [`MEANS`]) in this bucket, if any sample had it.
    #[must_use]
    pub fn mean(&self, m: Measurement) -> Option<f64> {
        let i = MEANS.iter().position(|&x| x == m)?;
        let (sum, n) = self.sums[i];
        (n > 0).then(|| sum / f64::from(n) / f64::from(m.scale()))
    }

    /// The mean RSSI of the bucket's health rows, if they had one.
    #[must_use]
    pub fn rssi(&self) -> Option<f64> {
        (self.rssi.1 > 0).then(|| self.rssi.0 / f64::from(self.rssi.1))
    }
}

/// One station's figures over the whole period.
#[derive(Debug, Clone, Default)]
pub struct StationStats {
    /// Sampling interval from the files' footers (the smallest seen), ms.
    pub interval_ms: Option<i64>,
    /// Buckets with anything in them, by bucket number (`t / bucket_ms`).
    pub buckets: BTreeMap<i64, Bucket>,
    /// The newest sample seen anywhere in the lake (also before the period).
    pub last_seen: Option<i64>,
    /// The oldest sample in the period.
    pub first_in_period: Option<i64>,
    /// The newest health row.
    pub last_health: Option<HealthPoint>,
    /// The newest battery reading, V.
    pub last_battery: Option<f64>,
    /// The lowest battery reading in the period, V.
    pub min_battery: Option<f64>,
}

impl StationStats {
    /// Sum of a bucket figure over the period.
    pub fn total(&self, f: impl Fn(&Bucket) -> i64) -> i64 {
        self.buckets.values().map(f).fold(0, i64::saturating_add)
    }
}

/// The first and last bucket holding data, and the instants the data spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Bucket number of the first bucket.
    pub first_bucket: i64,
    /// Bucket number of the last bucket (inclusive).
    pub last_bucket: i64,
    /// The oldest sample in the period, ms UTC.
    pub start_ms: i64,
    /// The report's time ([`Fleet::end_ms`]), or for a stale lake just after the newest
    /// sample (its instant plus its station's interval), ms UTC.
    pub end_ms: i64,
}

impl Period {
    /// Number of buckets.
    #[must_use]
    pub fn buckets(&self) -> usize {
        usize::try_from(self.last_bucket - self.first_bucket + 1).unwrap_or(0)
    }
}

/// The fleet, folded from the lake.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// Bucket length.
    pub size: BucketSize,
    /// Samples before this instant count for last-seen only (`--days`).
    pub not_before_ms: i64,
    /// Samples and health rows from this instant on are left out: the report is made
    /// as of this time (`--at`, default now).
    pub until_ms: i64,
    /// Where the period ends: the report's time, so that a fleet gone quiet shows empty
    /// hours up to it; `None` ends it just after the newest sample (a stale lake,
    /// drawn from its newest data).
    pub end_ms: Option<i64>,
    stations: BTreeMap<String, StationStats>,
}

impl Fleet {
    /// An empty fleet in buckets of `size`.
    #[must_use]
    pub fn new(size: BucketSize) -> Self {
        Self {
            size,
            not_before_ms: i64::MIN,
            until_ms: i64::MAX,
            end_ms: None,
            stations: BTreeMap::new(),
        }
    }

    fn bucket_of(&self, t: i64) -> i64 {
        t.div_euclid(self.size.ms())
    }

    /// The station's figures, made on first use. Looked up by `&str` first: called
    /// per sample, `entry(station.to_owned())` was a `String` allocation and free per
    /// row (with its map search, ~15% of a window-file report's CPU; `perf`).
    fn entry(&mut self, station: &str) -> &mut StationStats {
        if !self.stations.contains_key(station) {
            self.stations
                .insert(station.to_owned(), StationStats::default());
        }
        self.stations
            .get_mut(station)
            .expect("the station was inserted just above")
    }

    /// Takes in another fleet's stations (folded by another thread; the two hold
    /// different stations, so nothing is added up).
    pub fn absorb(&mut self, other: Self) {
        for (id, stats) in other.stations {
            self.stations.insert(id, stats);
        }
    }

    /// Makes `station` known even if it has nothing in the period (a silent station
    /// is listed, not forgotten).
    pub fn touch(&mut self, station: &str) {
        self.entry(station);
    }

    /// Notes that `station` samples every `interval_ms` (from a file's footer).
    pub fn set_interval(&mut self, station: &str, interval_ms: i64) {
        if interval_ms > 0 {
            let stats = self.entry(station);
            stats.interval_ms = Some(
                stats
                    .interval_ms
                    .map_or(interval_ms, |i| i.min(interval_ms)),
            );
        }
    }

    /// Folds one sample of `station` in. The caller passes each instant once.
    pub fn add_sample(&mut self, station: &str, interval_ms: i64, sample: &Sample) {
        self.station_samples(station).add(interval_ms, sample);
    }

    /// Folds samples of one station in, the station looked up once ([`Fleet::add_sample`]
    /// looks it up per sample: a map search comparing 36-byte ids, ~10% of the CPU of a
    /// report of a day of window files; `perf`).
    pub fn station_samples(&mut self, station: &str) -> StationSamples<'_> {
        let (bucket_ms, not_before_ms, until_ms) =
            (self.size.ms(), self.not_before_ms, self.until_ms);
        StationSamples {
            stats: self.entry(station),
            bucket_ms,
            not_before_ms,
            until_ms,
        }
    }

    /// Folds a health row of `station` in; rows come in time order per station.
    pub fn add_health(&mut self, station: &str, point: HealthPoint) {
        if point.at_ms > self.until_ms {
            return;
        }
        let bucket = self.bucket_of(point.at_ms);
        let not_before = self.not_before_ms;
        let in_period = point.at_ms >= not_before;
        let stats = self.entry(station);
        let previous = stats.last_health.replace(point);
        if !in_period {
            return;
        }
        // Restarts and counter increases: the rule summaries are made with too.
        let lakenode_lake::summary::Step {
            restarted,
            failures,
            dropped,
        } = step(previous.as_ref(), &point, not_before);
        let b = stats.buckets.entry(bucket).or_default();
        b.health_rows += 1;
        b.spool_max = b.spool_max.max(point.spool_files);
        b.upload_failures = b.upload_failures.saturating_add(failures);
        b.dropped = b.dropped.saturating_add(dropped);
        b.restarts += u32::from(restarted);
        if let Some(r) = point.rssi {
            b.rssi.0 += f64::from(r);
            b.rssi.1 += 1;
        }
    }

    /// Folds a whole station-day in from its summary (a day before the report's time,
    /// each instant once): the same figures as [`Fleet::add_sample`] of its rows. A
    /// fleet in hour buckets takes its hours ([`DayFigures::hours`]); a day without
    /// them is not folded in and `false` returned (the caller reads its rows).
    pub fn add_day(&mut self, station: &str, interval_ms: i64, day: &DayFigures) -> bool {
        let hourly = self.size == BucketSize::Hour;
        if hourly && day.hours.len() != 24 {
            return false;
        }
        if day.samples == 0 || day.last_ms >= self.until_ms {
            return true;
        }
        let bucket = self.bucket_of(day.first_ms);
        let in_period = day.first_ms >= self.not_before_ms;
        self.set_interval(station, interval_ms);
        let stats = self.entry(station);
        if stats.last_seen.is_none_or(|l| day.last_ms >= l) {
            stats.last_seen = Some(day.last_ms);
            if day.last_battery.is_some() {
                stats.last_battery = day.last_battery;
            }
        }
        if !in_period {
            return true;
        }
        stats.first_in_period = Some(
            stats
                .first_in_period
                .map_or(day.first_ms, |f| f.min(day.first_ms)),
        );
        if let Some(v) = day.min_battery {
            stats.min_battery = Some(stats.min_battery.map_or(v, |m| m.min(v)));
        }
        let day_hours = [(day.samples, day.sums)];
        let (first, parts) = if hourly {
            // Hour buckets of the day: its first instant's day start, in hours.
            (bucket - bucket.rem_euclid(24), day.hours.as_slice())
        } else {
            (bucket, day_hours.as_slice())
        };
        for (b, (samples, sums)) in (first..).zip(parts) {
            // As from rows: a bucket exists where an instant is.
            if *samples == 0 {
                continue;
            }
            let b = stats.buckets.entry(b).or_default();
            b.samples = b.samples.saturating_add(*samples);
            for (sum, add) in b.sums.iter_mut().zip(sums) {
                sum.0 += add.0;
                sum.1 += add.1;
            }
        }
        true
    }

    /// Folds a station's health day in from its summary, after the days before it: its
    /// first row as a row, the figures of the rows after it, then the rows at its end.
    pub fn add_health_day(&mut self, station: &str, day: &HealthSummary) {
        if let Some(first) = day.first {
            self.add_health(station, first);
        }
        if let Some(last) = day.last.filter(|l| l.at_ms <= self.until_ms) {
            let bucket = self.bucket_of(last.at_ms);
            let in_period = last.at_ms >= self.not_before_ms;
            let stats = self.entry(station);
            stats.last_health = Some(last);
            let r = &day.rest;
            if in_period && r.rows > 0 {
                let b = stats.buckets.entry(bucket).or_default();
                b.health_rows += r.rows;
                b.spool_max = b.spool_max.max(r.spool_max);
                b.upload_failures = b.upload_failures.saturating_add(r.failures);
                b.dropped = b.dropped.saturating_add(r.dropped);
                b.restarts += r.restarts;
                #[allow(clippy::cast_precision_loss)] // sums of dBm, far below 2^52
                let rssi = r.rssi_sum as f64;
                b.rssi.0 += rssi;
                b.rssi.1 += r.rssi_n;
            }
        }
        for p in &day.end {
            self.add_health(station, *p);
        }
    }

    /// The buckets the data spans, or `None` for a lake without samples in the period.
    #[must_use]
    pub fn period(&self) -> Option<Period> {
        let start_ms = self
            .stations
            .values()
            .filter_map(|s| s.first_in_period)
            .min()?;
        let data_end = self
            .stations
            .values()
            .filter(|s| s.first_in_period.is_some())
            .filter_map(|s| Some(s.last_seen?.saturating_add(s.interval_ms.unwrap_or(1))))
            .max()?;
        let end_ms = self.end_ms.map_or(data_end, |e| e.max(start_ms + 1));
        Some(Period {
            first_bucket: self.bucket_of(start_ms),
            last_bucket: self.bucket_of(end_ms - 1),
            start_ms,
            end_ms,
        })
    }

    /// Samples of `station` in bucket number `bucket`.
    #[must_use]
    pub fn samples(&self, station: &str, bucket: i64) -> u32 {
        self.bucket(station, bucket).map_or(0, |b| b.samples)
    }

    /// A station's bucket, if it has anything in it.
    #[must_use]
    pub fn bucket(&self, station: &str, bucket: i64) -> Option<&Bucket> {
        self.stations.get(station)?.buckets.get(&bucket)
    }

    /// When `station` is expected to sample from: its first sample in the period (a
    /// station that starts mid-period is not drawn as broken before it), or the
    /// period's start for a station with nothing in it.
    fn expected_from(&self, period: &Period, s: &StationStats) -> i64 {
        s.first_in_period
            .unwrap_or(period.start_ms)
            .max(period.start_ms)
    }

    /// The fraction (0..=1) of the samples `station` should have taken in `bucket`
    /// (the part of it inside `period`, from the station's first sample) that are in
    /// the lake; `None` for a bucket wholly before the station's first sample.
    #[must_use]
    pub fn coverage(&self, period: &Period, station: &str, bucket: i64) -> Option<f64> {
        let Some(s) = self.stations.get(station) else {
            return Some(0.0);
        };
        let from = (bucket * self.size.ms()).max(self.expected_from(period, s));
        let to = ((bucket + 1) * self.size.ms()).min(period.end_ms);
        if to <= from {
            return None;
        }
        let Some(interval) = s.interval_ms.filter(|&i| i > 0) else {
            return Some(0.0);
        };
        let expected = ((to - from) as f64 / interval as f64).ceil().max(1.0);
        Some((f64::from(self.samples(station, bucket)) / expected).min(1.0))
    }

    /// The fraction of expected samples over the whole period, counted from the
    /// station's first sample in it.
    #[must_use]
    pub fn total_coverage(&self, period: &Period, station: &str) -> f64 {
        let Some(s) = self.stations.get(station) else {
            return 0.0;
        };
        let Some(interval) = s.interval_ms.filter(|&i| i > 0) else {
            return 0.0;
        };
        let got: u64 = s.buckets.values().map(|b| u64::from(b.samples)).sum();
        let from = self.expected_from(period, s);
        let expected = ((period.end_ms - from) as f64 / interval as f64).max(1.0);
        (got as f64 / expected).min(1.0)
    }

    /// A station's figures.
    #[must_use]
    pub fn station(&self, id: &str) -> Option<&StationStats> {
        self.stations.get(id)
    }

    /// Number of stations.
    #[must_use]
    pub fn len(&self) -> usize {
        self.stations.len()
    }

    /// No station at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.stations.is_empty()
    }

    /// Station ids, the longest silent first (oldest last sample, never-seen before
    /// all), then by id.
    #[must_use]
    pub fn stations_silent_first(&self) -> Vec<&str> {
        let mut ids: Vec<(&str, Option<i64>)> = self
            .stations
            .iter()
            .map(|(id, s)| (id.as_str(), s.last_seen))
            .collect();
        ids.sort_by_key(|(id, last)| (last.unwrap_or(i64::MIN), *id));
        ids.into_iter().map(|(id, _)| id).collect()
    }

    /// Whether `station` is silent: its data ends (last sample plus interval) more than
    /// `grace_ms` before `at_ms`, the report's time (now, or `--at`); a station never
    /// seen is silent.
    #[must_use]
    pub fn is_silent(&self, station: &str, at_ms: i64, grace_ms: i64) -> bool {
        let Some(s) = self.stations.get(station) else {
            return true;
        };
        s.last_seen.is_none_or(|l| {
            l.saturating_add(s.interval_ms.unwrap_or(1)) < at_ms.saturating_sub(grace_ms)
        })
    }
}

/// One station's figures, taking its samples ([`Fleet::station_samples`]).
pub struct StationSamples<'a> {
    stats: &'a mut StationStats,
    bucket_ms: i64,
    not_before_ms: i64,
    until_ms: i64,
}

impl StationSamples<'_> {
    /// Folds one sample in. The caller passes each instant once.
    pub fn add(&mut self, interval_ms: i64, sample: &Sample) {
        let t = sample.timestamp_ms;
        if t >= self.until_ms {
            return;
        }
        let bucket = t.div_euclid(self.bucket_ms);
        let in_period = t >= self.not_before_ms;
        let stats = &mut *self.stats;
        if interval_ms > 0 {
            stats.interval_ms = Some(
                stats
                    .interval_ms
                    .map_or(interval_ms, |i| i.min(interval_ms)),
            );
        }
        if stats.last_seen.is_none_or(|l| t >= l) {
            stats.last_seen = Some(t);
            if let Some(v) = sample.value(Measurement::Battery) {
                stats.last_battery = Some(v);
            }
        }
        if !in_period {
            return;
        }
        stats.first_in_period = Some(stats.first_in_period.map_or(t, |f| f.min(t)));
        if let Some(v) = sample.value(Measurement::Battery) {
            stats.min_battery = Some(stats.min_battery.map_or(v, |m| m.min(v)));
        }
        let b = stats.buckets.entry(bucket).or_default();
        b.samples = b.samples.saturating_add(1);
        for (i, m) in MEANS.iter().enumerate() {
            if let Some(c) = sample.count(*m) {
                b.sums[i].0 += f64::from(c);
                b.sums[i].1 += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = HOUR_MS;

    fn sample(t: i64, temperature_centi: Option<i32>) -> Sample {
        let mut s = Sample::new(t);
        s.set_count(Measurement::Temperature, temperature_centi);
        s
    }

    #[test]
    fn coverage_counts_samples_against_the_interval_within_the_period() {
        let mut fleet = Fleet::new(BucketSize::Hour);
        // Station a: all of hour 0, half of hour 1. Station b: hour 0 only, one sample
        // in three.
        for i in 0..(H + H / 2) / 5_000 {
            fleet.add_sample("a", 5_000, &sample(i * 5_000, None));
        }
        for i in 0..H / 15_000 {
            fleet.add_sample("b", 5_000, &sample(i * 15_000, None));
        }
        fleet.touch("never");
        let p = fleet.period().unwrap();
        assert_eq!((p.first_bucket, p.last_bucket), (0, 1));
        assert_eq!((p.start_ms, p.end_ms), (0, H + H / 2));
        // Hour 1 is only half inside the period: half an hour of samples is complete.
        assert!((fleet.coverage(&p, "a", 0).unwrap() - 1.0).abs() < 1e-9);
        assert!((fleet.coverage(&p, "a", 1).unwrap() - 1.0).abs() < 1e-9);
        assert!((fleet.coverage(&p, "b", 0).unwrap() - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(fleet.coverage(&p, "b", 1), Some(0.0));
        assert_eq!(fleet.coverage(&p, "never", 0), Some(0.0));
        assert_eq!(fleet.stations_silent_first(), ["never", "b", "a"]);
        assert!(fleet.is_silent("b", p.end_ms, 30 * 60_000));
        assert!(!fleet.is_silent("a", p.end_ms, 30 * 60_000));
        assert!(fleet.is_silent("never", p.end_ms, 30 * 60_000));
        // Measured against the report's time, not the fleet's newest sample: ten
        // months on, every station is silent.
        assert!(fleet.is_silent("a", p.end_ms + 300 * 24 * H, 30 * 60_000));
        assert!((fleet.total_coverage(&p, "a") - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_station_that_starts_mid_period_is_counted_from_its_first_sample() {
        let mut fleet = Fleet::new(BucketSize::Hour);
        fleet.end_ms = Some(4 * H);
        // "old" samples all 4 hours; "new" starts at 2 h 30 and samples every time.
        for i in 0..4 * H / 5_000 {
            fleet.add_sample("old", 5_000, &sample(i * 5_000, None));
            if i * 5_000 >= 2 * H + H / 2 {
                fleet.add_sample("new", 5_000, &sample(i * 5_000, None));
            }
        }
        let p = fleet.period().unwrap();
        assert_eq!((p.start_ms, p.end_ms), (0, 4 * H));
        assert_eq!(
            fleet.coverage(&p, "new", 0),
            None,
            "not started: nothing expected"
        );
        assert_eq!(fleet.coverage(&p, "new", 1), None);
        assert!((fleet.coverage(&p, "new", 2).unwrap() - 1.0).abs() < 1e-9);
        assert!((fleet.total_coverage(&p, "new") - 1.0).abs() < 1e-9);
        assert!((fleet.total_coverage(&p, "old") - 1.0).abs() < 1e-9);
    }

    #[test]
    fn the_period_ends_at_the_report_time_and_later_samples_are_left_out() {
        let mut fleet = Fleet::new(BucketSize::Hour);
        fleet.until_ms = 3 * H;
        fleet.end_ms = Some(3 * H);
        for i in 0..4 * H / 5_000 {
            // Silent from 1 h on, back at 3 h 30 (after the report's time).
            if i * 5_000 < H || i * 5_000 >= 3 * H + H / 2 {
                fleet.add_sample("a", 5_000, &sample(i * 5_000, None));
            }
        }
        let p = fleet.period().unwrap();
        assert_eq!((p.first_bucket, p.last_bucket, p.end_ms), (0, 2, 3 * H));
        assert_eq!(fleet.station("a").unwrap().last_seen, Some(H - 5_000));
        assert_eq!(
            fleet.coverage(&p, "a", 2),
            Some(0.0),
            "the empty hours are drawn"
        );
        assert!((fleet.total_coverage(&p, "a") - 1.0 / 3.0).abs() < 1e-9);
        assert!(fleet.is_silent("a", 3 * H, 30 * 60_000));
    }

    #[test]
    fn samples_before_the_period_only_move_last_seen() {
        let mut fleet = Fleet::new(BucketSize::Day);
        fleet.not_before_ms = 10 * 24 * H;
        fleet.add_sample("old", 5_000, &sample(2 * 24 * H, Some(1_000)));
        fleet.add_sample("new", 5_000, &sample(10 * 24 * H, Some(1_000)));
        assert_eq!(fleet.station("old").unwrap().last_seen, Some(2 * 24 * H));
        assert!(fleet.station("old").unwrap().buckets.is_empty());
        let p = fleet.period().unwrap();
        assert_eq!((p.first_bucket, p.last_bucket), (10, 10));
        assert_eq!(fleet.stations_silent_first(), ["old", "new"]);
    }

    #[test]
    fn means_per_bucket() {
        let mut fleet = Fleet::new(BucketSize::Hour);
        fleet.add_sample("a", 5_000, &sample(0, Some(2_000)));
        fleet.add_sample("a", 5_000, &sample(5_000, Some(2_200)));
        fleet.add_sample("a", 5_000, &sample(10_000, None));
        let b = fleet.bucket("a", 0).unwrap();
        assert_eq!(b.samples, 3);
        assert!((b.mean(Measurement::Temperature).unwrap() - 21.0).abs() < 1e-9);
        assert_eq!(b.mean(Measurement::Co2), None);
    }

    #[test]
    fn health_counters_become_increases_and_restarts() {
        let mut fleet = Fleet::new(BucketSize::Hour);
        let row = |at, up, failures, dropped, spool| HealthPoint {
            at_ms: at,
            uptime_s: up,
            upload_failures: failures,
            dropped_files: dropped,
            spool_files: spool,
            rssi: Some(-60),
        };
        // Hour 0: 2 failures since start; hour 1: 5 more, then a restart with 1 new.
        fleet.add_health("a", row(15 * 60_000, 900, 2, 0, 3));
        fleet.add_health("a", row(H + 15 * 60_000, 4_500, 7, 1, 9));
        fleet.add_health("a", row(H + 30 * 60_000, 60, 1, 1, 2));
        let b0 = fleet.bucket("a", 0).unwrap();
        let b1 = fleet.bucket("a", 1).unwrap();
        assert_eq!((b0.upload_failures, b0.restarts, b0.spool_max), (2, 0, 3));
        assert_eq!((b1.upload_failures, b1.restarts, b1.spool_max), (6, 1, 9));
        assert_eq!((b0.dropped, b1.dropped), (0, 1));
        assert_eq!(b1.rssi(), Some(-60.0));
        assert_eq!(fleet.station("a").unwrap().total(|b| b.upload_failures), 8);
        // A reboot about 30 min after the last row, seen first when its uptime (1,900 s) is
        // already above the old boot's last one (60 s).
        fleet.add_health("a", row(H + 90 * 60_000, 1_900, 1, 1, 0));
        assert_eq!(fleet.bucket("a", 2).unwrap().restarts, 1);
        fleet.add_health("a", row(H + 105 * 60_000, 2_800, 1, 1, 0));
        assert_eq!(fleet.bucket("a", 2).unwrap().restarts, 1, "same boot");
    }
}
