//! What goes on the page: which stations are drawn in full and in which order.
//!
//! A fleet of up to [`FULL_DETAIL`] stations is drawn in full: every station in the
//! heatmap, in the health charts and with its own small multiples. A larger fleet would
//! make a page that grows with its stations (12 MB for 1,000 stations, ~10 KB of charts
//! each) and that no browser or mail client wants to open, so the page is *folded*: it
//! shows the fleet first (its coverage per hour, the health charts as the fleet's range
//! and median), then in full only the [`WORST`] stations that have a problem (silent,
//! gaps, restarts, dropped files, upload failures), worst first; every other station is
//! one row of the station table. The page's size then grows by one table row per
//! healthy station, not by its charts; `--out DIR/` adds a page per station with its
//! charts.
//!
//! ```
//! use lakenode_cli::report::aggregate::{BucketSize, Fleet};
//! use lakenode_cli::report::select::Selection;
//! use lakenode::sample::Sample;
//! let mut fleet = Fleet::new(BucketSize::Hour);
//! fleet.add_sample("a", 5_000, &Sample::new(0));
//! fleet.touch("b");
//! let period = fleet.period();
//! let s = Selection::new(&fleet, period.as_ref(), 5_000, 60_000);
//! assert_eq!(s.order, ["b", "a"]); // silent first
//! assert!(!s.folded && s.is_silent("b") && s.is_detailed("a"));
//! ```

use std::collections::HashSet;

use super::aggregate::{Fleet, Period};

/// A fleet of up to this many stations is drawn in full.
pub const FULL_DETAIL: usize = 30;

/// In a larger fleet, at most this many stations are drawn in full (and in the heatmap).
pub const WORST: usize = 20;

/// Coverage below this share of expected samples is a problem ("reporting with gaps").
pub const GAPS_BELOW: f64 = 0.95;

/// A station's figures that rank it.
#[derive(Debug, Clone, Copy)]
struct Rank<'a> {
    id: &'a str,
    silent: bool,
    last_seen: Option<i64>,
    coverage: f64,
    events: i64,
    failures: i64,
}

impl Rank<'_> {
    fn problem(&self) -> bool {
        self.silent || self.coverage < GAPS_BELOW || self.events > 0 || self.failures > 0
    }
}

/// The stations of the page, in the order each part lists them.
#[derive(Debug, Clone)]
pub struct Selection<'a> {
    /// Every station, as the table lists them: silent first (the longest silent first);
    /// in a folded page, then the others worst first.
    pub order: Vec<&'a str>,
    /// The silent stations, the longest silent first.
    pub silent: Vec<&'a str>,
    /// The stations drawn in full, in page order.
    pub detailed: Vec<&'a str>,
    /// The heatmap's station rows.
    pub heatmap: Vec<&'a str>,
    /// The fleet is larger than [`FULL_DETAIL`]: the page shows the fleet first and
    /// only [`Selection::detailed`] in full.
    pub folded: bool,
    silent_set: HashSet<&'a str>,
    detailed_set: HashSet<&'a str>,
}

impl<'a> Selection<'a> {
    /// Ranks `fleet`'s stations as of `at_ms` (a station is silent when its data ends
    /// more than `silent_after_ms` before it).
    #[must_use]
    pub fn new(
        fleet: &'a Fleet,
        period: Option<&Period>,
        at_ms: i64,
        silent_after_ms: i64,
    ) -> Self {
        let by_silence = fleet.stations_silent_first();
        let silent: Vec<&str> = by_silence
            .iter()
            .copied()
            .filter(|id| fleet.is_silent(id, at_ms, silent_after_ms))
            .collect();
        let silent_set: HashSet<&str> = silent.iter().copied().collect();
        let folded = by_silence.len() > FULL_DETAIL;
        let (order, detailed, heatmap) = if folded {
            let mut ranks: Vec<Rank> = by_silence
                .iter()
                .map(|&id| {
                    let s = fleet.station(id);
                    let total =
                        |f: fn(&super::aggregate::Bucket) -> i64| s.map_or(0, |s| s.total(f));
                    Rank {
                        id,
                        silent: silent_set.contains(id),
                        last_seen: s.and_then(|s| s.last_seen),
                        coverage: period.map_or(0.0, |p| fleet.total_coverage(p, id)),
                        events: total(|b| i64::from(b.restarts).saturating_add(b.dropped)),
                        failures: total(|b| b.upload_failures),
                    }
                })
                .collect();
            // Silent first (the longest silent first), then the least coverage, then
            // the most restarts and dropped files, then upload failures.
            ranks.sort_by(|a, b| {
                (!a.silent)
                    .cmp(&!b.silent)
                    .then_with(|| {
                        if a.silent {
                            a.last_seen.cmp(&b.last_seen)
                        } else {
                            std::cmp::Ordering::Equal
                        }
                    })
                    .then_with(|| a.coverage.total_cmp(&b.coverage))
                    .then_with(|| b.events.cmp(&a.events))
                    .then_with(|| b.failures.cmp(&a.failures))
                    .then_with(|| a.id.cmp(b.id))
            });
            let detailed: Vec<&str> = ranks
                .iter()
                .filter(|r| r.problem())
                .take(WORST)
                .map(|r| r.id)
                .collect();
            let heatmap = ranks.iter().take(WORST).map(|r| r.id).collect();
            (ranks.iter().map(|r| r.id).collect(), detailed, heatmap)
        } else {
            (by_silence.clone(), by_silence.clone(), by_silence)
        };
        let detailed_set = detailed.iter().copied().collect();
        Self {
            order,
            silent,
            detailed,
            heatmap,
            folded,
            silent_set,
            detailed_set,
        }
    }

    /// Whether `id` is silent.
    #[must_use]
    pub fn is_silent(&self, id: &str) -> bool {
        self.silent_set.contains(id)
    }

    /// Whether `id` is drawn in full on the page.
    #[must_use]
    pub fn is_detailed(&self, id: &str) -> bool {
        self.detailed_set.contains(id)
    }
}

/// A synthetic fleet for tests of the page: `stations` stations (`st000`, ...) sampling
/// every minute for `hours` from 0 with all of [`super::aggregate::SERIES`] and a
/// battery, a health row every 15 min; `st000` falls silent halfway, `st001` misses one
/// sample in four, `st002` restarts once.
#[cfg(test)]
pub(crate) fn synthetic_scan(stations: usize, hours: i64) -> super::scan::Scan {
    use super::aggregate::{BucketSize, HealthPoint};
    use lakenode::sample::Sample;
    use lakenode::schema::Measurement;
    let mut fleet = Fleet::new(BucketSize::Hour);
    let minutes = hours * 60;
    for n in 0..stations {
        let id = format!("st{n:03}");
        let wobble = i32::try_from(n % 17).unwrap_or(0);
        for i in 0..minutes {
            if (n == 0 && i >= minutes / 2) || (n == 1 && i % 4 == 0) {
                continue;
            }
            let mut s = Sample::new(i * 60_000);
            let phase = i32::try_from(i % 1_440).unwrap_or(0);
            s.set_count(
                Measurement::Temperature,
                Some(1_500 + wobble * 20 + phase / 4),
            );
            s.set_count(Measurement::Humidity, Some(6_000 - phase));
            s.set_count(Measurement::Pm25, Some(5 + wobble));
            s.set_count(Measurement::Co2, Some(420 + wobble * 3));
            s.set_count(Measurement::Battery, Some(3_900 - phase / 10));
            fleet.add_sample(&id, 60_000, &s);
            if i % 15 == 14 {
                let uptime = if n == 2 && i > minutes / 2 {
                    (i - minutes / 2) * 60
                } else {
                    (i + 1) * 60
                };
                fleet.add_health(
                    &id,
                    HealthPoint {
                        at_ms: (i + 1) * 60_000,
                        uptime_s: uptime,
                        ..HealthPoint::default()
                    },
                );
            }
        }
    }
    fleet.end_ms = Some(hours * 3_600_000);
    super::scan::Scan {
        fleet,
        days: None,
        stale: false,
        files: 0,
        bytes: 0,
        samples: 0,
        health_rows: 0,
        problems: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::aggregate::BucketSize;
    use lakenode::sample::Sample;

    const H: i64 = 3_600_000;

    #[test]
    fn a_large_fleet_details_only_its_worst_stations_with_problems() {
        let mut fleet = Fleet::new(BucketSize::Hour);
        for n in 0..50 {
            let id = format!("st{n:02}");
            for i in 0..2 * H / 60_000 {
                let t = i * 60_000;
                // st00 stops after 1 h (silent); st01 misses one sample in 4 (gaps).
                if (n == 0 && t >= H) || (n == 1 && i % 4 == 0) {
                    continue;
                }
                fleet.add_sample(&id, 60_000, &Sample::new(t));
            }
        }
        let period = fleet.period().unwrap();
        let s = Selection::new(&fleet, Some(&period), 2 * H, 30 * 60_000);
        assert!(s.folded);
        assert_eq!(s.silent, ["st00"]);
        assert_eq!(s.detailed, ["st00", "st01"], "only stations with a problem");
        assert_eq!(&s.order[..3], ["st00", "st01", "st02"]);
        assert_eq!(s.order.len(), 50);
        assert_eq!(s.heatmap.len(), WORST);
        assert!(s.is_detailed("st01") && !s.is_detailed("st02"));
    }
}
