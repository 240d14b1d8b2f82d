//! A report longer than a week reads compacted days from their footers' summaries:
//! the same per-day figures as from their columns (a small lake compacted, then
//! reported both ways), and daily files without a summary (older lakes) are read from
//! their columns; through the embedded S3 server too (ranged GETs of the files' ends,
//! on several connections at once). Whole months come from the monthly rollups
//! `compact` writes, with the same figures, and a stale rollup's days from their
//! footers.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::Path;

use lakenode::encode::{FileMetadata, WriterProfile, encode_window};
use lakenode::health::HealthRow;
use lakenode::layout::StationId;
use lakenode::sample::Sample;
use lakenode::schema::{Measurement, Schema};
use lakenode_cli::report::aggregate::Fleet;
use lakenode_cli::report::scan::{Scan, ScanOptions, scan};
use lakenode_lake::compact::{Options, Strategy, compact};
use lakenode_lake::lake::hooked::{Hooked, LakeHooks, Passes};
use lakenode_lake::lake::{LakeStore, LocalLake};

const IDS: [&str; 2] = [
    "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e",
    "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2f",
];
/// 2026-11-20T00:00:00Z
const T0: i64 = 1_795_132_800_000;
const HOUR: i64 = 3_600_000;
const DAYS: i64 = 9;

fn put(root: &Path, key: &str, bytes: &[u8]) {
    let path = root.join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn dir_of(t: i64) -> String {
    let d = jiff::Timestamp::from_millisecond(t)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    format!(
        "year={}/month={:02}/day={:02}",
        d.year(),
        d.month(),
        d.day()
    )
}

/// Hour-long window files every 10 s (temperature null one sample in 5, CO2 only
/// on even hours, gaps on station 1), and a health file per window with upload failures
/// and a restart every 30 hours.
fn make_lake(root: &Path) {
    let schema = Schema::new([
        Measurement::Temperature,
        Measurement::Co2,
        Measurement::Battery,
    ])
    .unwrap();
    for (k, id) in IDS.iter().enumerate() {
        let k = k as i64;
        for h in 0..DAYS * 24 {
            if k == 1 && h % 17 == 3 {
                continue; // a station with gaps
            }
            let from = T0 + h * HOUR;
            let samples: Vec<Sample> = (0..360)
                .filter(|i| k == 0 || i % 11 != 0)
                .map(|i| {
                    let mut s = Sample::new(from + i * 10_000);
                    let n = i32::try_from(h * 360 + i + k * 7).unwrap();
                    s.set_count(
                        Measurement::Temperature,
                        (n % 5 != 0).then_some(1_000 + n % 1_500),
                    );
                    s.set_count(Measurement::Co2, (h % 2 == 0).then_some(400 + n % 300));
                    s.set_count(Measurement::Battery, Some(3_500 + n % 700));
                    s
                })
                .collect();
            let meta = FileMetadata {
                station: StationId::new(*id).unwrap(),
                interval_ms: 10_000,
                window_start_ms: from,
                window_end_ms: from + HOUR,
                units: Vec::new(),
                extra: Vec::new(),
            };
            let window = lakenode::window::Window {
                start_ms: from,
                end_ms: from + HOUR,
                samples,
            };
            let bytes = encode_window(&schema, WriterProfile::Compact, &window, &meta).unwrap();
            let hhmm = format!("{:02}00", h % 24);
            put(
                root,
                &format!("station={id}/{}/data_{hhmm}.parquet", dir_of(from)),
                &bytes,
            );
            let mut row = HealthRow::new(from + HOUR);
            let since_boot = (h + k * 5) % 30;
            row.uptime_s = (since_boot + 1) * 3_600;
            row.upload_failures = since_boot / 4;
            row.dropped_files = h / 50;
            row.spool_files = (h * 7 + k) % 13;
            row.wifi_rssi = (h % 3 != 0).then_some(-50 - i32::try_from(h % 20).unwrap());
            put(
                root,
                &format!("health/station={id}/{}/health_{hhmm}.parquet", dir_of(from)),
                &row.encode().unwrap(),
            );
        }
    }
}

/// Lake hooks (on a directory, or a bucket through the embedded server) counting the
/// objects read whole, those whose ends are read (footers and rollups) and the
/// listings; with `no_ends`, every read of an end fails, so each day is read from its
/// columns.
struct Counting {
    whole: usize,
    ends: usize,
    lists: usize,
    no_ends: bool,
}

impl Counting {
    fn new(lake: impl LakeStore + 'static) -> Hooked<Self> {
        Hooked::new(
            Box::new(lake),
            Self {
                whole: 0,
                ends: 0,
                lists: 0,
                no_ends: false,
            },
        )
    }

    fn columns_only(lake: impl LakeStore + 'static) -> Hooked<Self> {
        let mut counting = Self::new(lake);
        counting.hooks.no_ends = true;
        counting
    }

    /// The objects read, whole or their ends, since the last [`Counting::restart`].
    const fn reads(&self) -> usize {
        self.whole + self.ends
    }

    const fn restart(&mut self) {
        (self.whole, self.ends) = (0, 0);
    }
}

impl LakeHooks for Counting {
    fn passes(&self) -> Passes {
        Passes {
            tails: true,
            ..Passes::default()
        }
    }
    fn listing(&mut self, _prefix: &str) {
        self.lists += 1;
    }
    fn reading(&mut self, _key: &str) -> lakenode_lake::Result<()> {
        self.whole += 1;
        Ok(())
    }
    fn reading_tail(&mut self, key: &str) -> lakenode_lake::Result<()> {
        if self.no_ends {
            return Err(lakenode_lake::Error::Check(format!(
                "{key}: no footers here"
            )));
        }
        self.ends += 1;
        Ok(())
    }
}

fn options() -> ScanOptions {
    // The report's day is the day after the lake's last: 8 days in the period, 7 of data, all
    // compacted and before it.
    let at = T0 + DAYS * 24 * HOUR + HOUR / 2;
    ScanOptions {
        days: 8,
        now_ms: at,
        at_ms: at,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(1.0)
}

/// Every figure the page draws, per station and day, is the same.
fn assert_same(a: &Fleet, b: &Fleet) {
    assert_eq!(a.period(), b.period());
    assert_eq!(a.len(), b.len());
    for id in IDS {
        let (x, y) = (a.station(id).unwrap(), b.station(id).unwrap());
        assert_eq!(x.interval_ms, y.interval_ms, "{id}");
        assert_eq!(x.last_seen, y.last_seen, "{id}");
        assert_eq!(x.first_in_period, y.first_in_period, "{id}");
        assert_eq!(x.last_health, y.last_health, "{id}");
        assert_eq!(x.last_battery, y.last_battery, "{id}");
        assert_eq!(x.min_battery, y.min_battery, "{id}");
        assert_eq!(
            x.buckets.keys().collect::<Vec<_>>(),
            y.buckets.keys().collect::<Vec<_>>()
        );
        for (day, p) in &x.buckets {
            let q = &y.buckets[day];
            let what = format!("{id} day {day}");
            assert_eq!(p.samples, q.samples, "{what}");
            assert_eq!(
                (p.health_rows, p.spool_max, p.upload_failures, p.dropped),
                (q.health_rows, q.spool_max, q.upload_failures, q.dropped),
                "{what}"
            );
            assert_eq!(p.restarts, q.restarts, "{what}");
            assert_eq!(p.rssi.1, q.rssi.1, "{what}");
            assert!(close(p.rssi.0, q.rssi.0), "{what}");
            for (s, t) in p.sums.iter().zip(&q.sums) {
                assert_eq!(s.1, t.1, "{what}");
                assert!(close(s.0, t.0), "{what}: {} vs {}", s.0, t.0);
            }
        }
    }
}

/// The report of the lake in `root` from its columns only.
fn from_columns(root: &Path, options: &ScanOptions) -> Scan {
    let mut lake = Counting::columns_only(LocalLake::new(root.to_path_buf()));
    scan(&mut lake, options, |_| {}).unwrap()
}

/// The report from footers where it can (and how many objects it read whole), and
/// from the columns only.
fn both_ways(root: &Path) -> (Scan, Scan, usize) {
    let mut lake = Counting::new(LocalLake::new(root.to_path_buf()));
    let from_footers = scan(&mut lake, &options(), |_| {}).unwrap();
    (
        from_footers,
        from_columns(root, &options()),
        lake.hooks.whole,
    )
}

/// The lake at `<dir>/lake` through the embedded server (which stores objects at
/// `<dir>/<bucket>/<key>`), with 4 connections.
fn through_s3(
    dir: &Path,
) -> (
    lakenode_embedded_s3::EmbeddedS3,
    lakenode_lake::lake::S3Lake,
) {
    use lakenode_cli::transport::UreqTransport;
    let server = common::lake_server(dir);
    let config = lakenode::S3Config::new(&server.endpoint(), "lake", "us-east-1", true).unwrap();
    let transport = UreqTransport::new(std::time::Duration::from_secs(30));
    let readers = (0..3)
        .map(|_| Box::new(transport.clone()) as Box<dyn lakenode::Transport + Send>)
        .collect();
    let credentials = lakenode::Credentials::new(common::KEY, common::SECRET, None);
    let lake = lakenode_lake::lake::S3Lake::new(&config, credentials, None, transport)
        .unwrap()
        .with_readers(readers);
    (server, lake)
}

#[test]
fn days_read_from_footers_equal_days_read_from_columns() {
    let top = tempfile::tempdir().unwrap();
    let dir = top.path().join("lake");
    let dir = dir.as_path();
    make_lake(dir);
    let mut lake = LocalLake::new(dir.to_path_buf());
    let before = jiff::civil::date(2026, 11, 29);
    let summary = compact_with(&mut lake, before, 2);
    assert_eq!(summary.station_days, 2 * 2 * DAYS as usize);

    let (footers, columns, whole) = both_ways(dir);
    assert!(footers.problems.is_empty(), "{:?}", footers.problems);
    assert!(columns.problems.is_empty(), "{:?}", columns.problems);
    assert_eq!(footers.samples, columns.samples);
    assert_eq!(footers.health_rows, columns.health_rows);
    assert_eq!(footers.files, columns.files);
    assert_same(&footers.fleet, &columns.fleet);
    // Every day of the period is before the report's day: all came from footers.
    assert_eq!(whole, 0, "no object was read whole");
    let restarts: i64 = IDS
        .iter()
        .map(|id| {
            footers
                .fleet
                .station(id)
                .unwrap()
                .total(|b| i64::from(b.restarts))
        })
        .sum();
    assert!(restarts >= 10, "restarts are exercised: {restarts}");

    // A bucket reads as its directory: the footers by ranged GETs.
    let (_server, mut bucket) = through_s3(top.path());
    let over_s3 = scan(&mut bucket, &options(), |_| {}).unwrap();
    assert!(over_s3.problems.is_empty(), "{:?}", over_s3.problems);
    assert_eq!(
        over_s3.bytes, footers.bytes,
        "the same ends of the same files"
    );
    assert_eq!(over_s3.samples, footers.samples);
    assert_same(&over_s3.fleet, &footers.fleet);
}

/// Daily files written before summaries existed (or by another tool) have none: they
/// are read from their columns, with the same figures.
#[test]
fn daily_files_without_a_summary_are_read_from_their_columns() {
    let dir = tempfile::tempdir().unwrap();
    make_lake(dir.path());
    // Each station-day merged into a daily file with no summary in its footer.
    for id in IDS {
        for d in 0..DAYS {
            let day = T0 + d * 24 * HOUR;
            let data = format!("station={id}/{}", dir_of(day));
            let health = format!("health/{data}");
            let mut samples = Vec::new();
            let mut rows = Vec::new();
            for h in 0..24 {
                let name = format!("{data}/data_{h:02}00.parquet");
                if let Ok(bytes) = std::fs::read(dir.path().join(&name)) {
                    lakenode_lake::readback::open(bytes)
                        .unwrap()
                        .for_each_batch(|b| samples.extend_from_slice(b))
                        .unwrap();
                    std::fs::remove_file(dir.path().join(&name)).unwrap();
                }
                let name = format!("{health}/health_{h:02}00.parquet");
                if let Ok(bytes) = std::fs::read(dir.path().join(&name)) {
                    let file = lakenode_lake::readback::open(bytes).unwrap();
                    for r in file.rows_generic().unwrap() {
                        rows.push(HealthRow::from_row(&r).unwrap());
                    }
                    std::fs::remove_file(dir.path().join(&name)).unwrap();
                }
            }
            let schema = Schema::new([
                Measurement::Temperature,
                Measurement::Co2,
                Measurement::Battery,
            ])
            .unwrap();
            let meta = FileMetadata {
                station: StationId::new(id).unwrap(),
                interval_ms: 10_000,
                window_start_ms: day,
                window_end_ms: day + 24 * HOUR,
                units: Vec::new(),
                extra: Vec::new(),
            };
            let window = lakenode::window::Window {
                start_ms: day,
                end_ms: day + 24 * HOUR,
                samples,
            };
            let bytes = encode_window(&schema, WriterProfile::Compact, &window, &meta).unwrap();
            put(dir.path(), &format!("{data}/data_day.parquet"), &bytes);
            let bytes = HealthRow::encode_rows(&rows, Vec::new()).unwrap();
            put(dir.path(), &format!("{health}/health_day.parquet"), &bytes);
        }
    }
    let (footers, columns, whole) = both_ways(dir.path());
    assert!(footers.problems.is_empty(), "{:?}", footers.problems);
    // 2 stations x 2 trees x the 7 days before the report's (itself empty).
    assert_eq!(
        whole,
        2 * 2 * 7,
        "every day of the period was read from its columns"
    );
    assert_eq!(footers.samples, columns.samples);
    assert!(footers.samples > 0);
    assert_same(&footers.fleet, &columns.fleet);
}

/// [`make_lake`] at `<top>/lake`, with a late window of the 22nd (station 1's 00:00)
/// taken out, to be put back once its day is compacted: the lake dir, the window's key
/// and its bytes.
fn lake_with_a_late_window(top: &Path) -> (std::path::PathBuf, String, Vec<u8>) {
    let dir = top.join("lake");
    make_lake(&dir);
    let late = format!(
        "station={}/{}/data_0000.parquet",
        IDS[1],
        dir_of(T0 + 2 * 24 * HOUR)
    );
    let late_bytes = std::fs::read(dir.join(&late)).unwrap();
    std::fs::remove_file(dir.join(&late)).unwrap();
    (dir, late, late_bytes)
}

/// The version 2 rollup of November of station `id` in the lake in `dir`.
fn rollup_of(dir: &Path, id: &str) -> lakenode_lake::rollup::v2::Month {
    let key = lakenode_lake::rollup::key_of(id, "2026-11").unwrap();
    lakenode_lake::rollup::v2::Month::from_json(
        &std::fs::read(dir.join(key)).unwrap(),
        id,
        "2026-11",
    )
    .unwrap()
}

/// The size of the stations' November rollups in the lake in `dir`.
fn rollup_bytes(dir: &Path) -> usize {
    IDS.iter()
        .map(|id| {
            let key = lakenode_lake::rollup::key_of(id, "2026-11").unwrap();
            std::fs::read(dir.join(key)).unwrap().len()
        })
        .sum()
}

/// The report of a lake whose months are all rolled up: one rollup per station-month
/// read, no footer, no problem.
fn read_from_rollups(lake: &mut Hooked<Counting>) -> Scan {
    let (report, reads) = scan_counted(lake, &options());
    assert_eq!(reads, 2, "one rollup per station-month, no footer");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    report
}

/// The report of `lake`, and how many objects it read (whole or their ends).
fn scan_counted(lake: &mut Hooked<Counting>, options: &ScanOptions) -> (Scan, usize) {
    lake.hooks.restart();
    let report = scan(lake, options, |_| {}).unwrap();
    (report, lake.hooks.reads())
}

/// `compact` of the days before `before` with `jobs` workers; nothing is skipped.
fn compact_with(
    lake: &mut dyn LakeStore,
    before: jiff::civil::Date,
    jobs: usize,
) -> lakenode_lake::compact::Summary {
    let summary = compact(
        lake,
        &Options {
            before,
            dry_run: false,
            strategy: Strategy::Rewrite,
            stop: None,
            jobs,
        },
        &mut (),
    )
    .unwrap();
    assert!(summary.skipped.is_empty(), "{:?}", summary.skipped);
    summary
}

fn compact_before(
    lake: &mut dyn LakeStore,
    before: jiff::civil::Date,
) -> lakenode_lake::compact::Summary {
    compact_with(lake, before, 1)
}

/// A lake compacted through the embedded server, its rollups written as `compact`
/// writes them: a report reads one rollup per station-month and no footer, with the
/// figures of the footers and of the columns; a day compacted again since (a late
/// window) is read from its footer until the rollup is brought up to date.
#[test]
fn whole_months_are_read_from_rollups_with_the_same_figures() {
    use lakenode_lake::rollup::refresh;
    let top = tempfile::tempdir().unwrap();
    // A late window of the 22nd, kept aside until its day is compacted.
    let (dir, late, late_bytes) = lake_with_a_late_window(top.path());
    let (_server, bucket) = through_s3(top.path());
    let mut bucket = Counting::new(bucket);
    let summary = compact_before(&mut bucket, jiff::civil::date(2026, 11, 29));
    assert_eq!(summary.written.len(), 2 * 2 * DAYS as usize);
    assert_eq!(bucket.hooks.lists, 1, "the compaction lists the lake once");
    let (footers_only, reads) = scan_counted(&mut bucket, &options());
    // 2 stations x 2 trees x the 7 days of the period before the report's day.
    assert_eq!(reads, 2 * 2 * 7, "one footer per station-day");

    // The rollups from the compaction's own listing (as `compact` does: the lake is
    // not listed again), then from a new listing: the same, nothing rewritten.
    bucket.hooks.lists = 0;
    let r = refresh(&mut bucket, &summary.listing, &summary.written).unwrap();
    assert_eq!(bucket.hooks.lists, 0, "no second listing");
    assert_eq!(
        (r.written, r.footers),
        (2, 2 * 2 * DAYS as usize),
        "one per station-month"
    );
    let listed = bucket.list("").unwrap();
    let again = refresh(&mut bucket, &listed, &summary.written).unwrap();
    assert_eq!(
        (again.written, again.footers),
        (0, 0),
        "up to date: nothing rewritten"
    );

    let from_rollups = read_from_rollups(&mut bucket);
    assert_eq!(from_rollups.samples, footers_only.samples);
    assert_eq!(from_rollups.health_rows, footers_only.health_rows);
    assert_eq!(from_rollups.files, footers_only.files);
    assert_same(&from_rollups.fleet, &footers_only.fleet);
    let (_, columns, _) = both_ways(&dir);
    assert_same(&from_rollups.fleet, &columns.fleet);

    // The late window arrives and its day is compacted again (a larger daily file):
    // the rollup is stale for that day only, which is read from its footer.
    put(&dir, &late, &late_bytes);
    let second = compact_before(&mut bucket, jiff::civil::date(2026, 11, 29));
    assert_eq!(second.written.len(), 1);
    let (stale, reads) = scan_counted(&mut bucket, &options());
    assert_eq!(
        reads,
        2 + 1,
        "two rollups and the re-compacted day's footer"
    );
    let (_, columns, _) = both_ways(&dir);
    assert_same(&stale.fleet, &columns.fleet);
    assert!(
        stale.samples > from_rollups.samples,
        "the late window counts"
    );
    let r = refresh(&mut bucket, &second.listing, &second.written).unwrap();
    assert_eq!(
        (r.written, r.footers),
        (1, 1),
        "that day's footer read again, at its new size"
    );
    let listed = bucket.list("").unwrap();
    let again = refresh(&mut bucket, &listed, &second.written).unwrap();
    assert_eq!((again.written, again.footers), (0, 0), "up to date");
    let (fresh, reads) = scan_counted(&mut bucket, &options());
    assert_eq!(reads, 2);
    assert_same(&fresh.fleet, &columns.fleet);

    // A rollup of version 2 holds numbers only: several times smaller than version 1.
    let v2_bytes = rollup_bytes(&dir);
    let v1_bytes = write_v1_rollups(&dir);
    assert!(v2_bytes * 4 < v1_bytes, "{v2_bytes} vs {v1_bytes} bytes");

    // A damaged rollup, one of another version, one with a day outside its month or
    // with figures that do not add up, is refused whole: its days come from their
    // footers (not from the version 1 rollup beside it).
    let key = lakenode_lake::rollup::key_of(IDS[0], "2026-11").unwrap();
    let body = String::from_utf8(std::fs::read(dir.join(&key)).unwrap()).unwrap();
    let day = |d: u8| format!("[{d},");
    let last_day = (1..=30).rev().find(|d| body.contains(&day(*d))).unwrap();
    let forged = [
        body[..body.len() / 2].to_string(),
        body.replacen("\"v\":2", "\"v\":3", 1),
        body.replacen(&day(last_day), &day(31), 1),
        body.replacen(&day(last_day), &day(0), 1),
        body.replacen("\"temperature\",", "\"temperature\",-", 1),
    ];
    for bad in forged {
        put(&dir, &key, bad.as_bytes());
        let (refused, reads) = scan_counted(&mut bucket, &options());
        assert_eq!(reads, 2 + 2 * 7, "{bad}");
        assert_same(&refused.fleet, &columns.fleet);
    }

    // A lake rolled up in version 1 only (before 2026-12-04): read from those, with
    // the same figures; `refresh` converts them without reading a footer.
    for id in IDS {
        let key = lakenode_lake::rollup::key_of(id, "2026-11").unwrap();
        std::fs::remove_file(dir.join(key)).unwrap();
    }
    let (from_v1, reads) = scan_counted(&mut bucket, &options());
    assert_eq!(reads, 2, "the version 1 rollups");
    assert_same(&from_v1.fleet, &columns.fleet);
    let listed = bucket.list("").unwrap();
    let converted = refresh(&mut bucket, &listed, &std::collections::BTreeMap::new()).unwrap();
    assert_eq!((converted.written, converted.footers), (2, 0));
    assert_eq!(
        rollup_bytes(&dir),
        v2_bytes,
        "the same rollups as from the footers"
    );
    let (from_v2, reads) = scan_counted(&mut bucket, &options());
    assert_eq!(reads, 2);
    assert_same(&from_v2.fleet, &columns.fleet);
}

/// The daily file `from` made `size` bytes long without changing what it holds:
/// zeros between its last column chunk and its footer (the footer's offsets are
/// counted from the start, its length from the end).
fn padded(from: &[u8], size: usize) -> Vec<u8> {
    let n = from.len();
    assert!(size >= n, "{size} < {n}");
    let footer = u32::from_le_bytes(from[n - 8..n - 4].try_into().unwrap()) as usize;
    let at = n - 8 - footer;
    let mut out = from[..at].to_vec();
    out.resize(at + size - n, 0);
    out.extend_from_slice(&from[at..]);
    out
}

/// Of the daily files `a` and `b` (keys in the lake in `dir`), the one to replace (the
/// larger, or `a` at the same size) and the other's bytes padded to its size: other
/// rows in a file of the same size.
fn same_size_replacement(dir: &Path, a: &str, b: &str) -> (String, Vec<u8>) {
    let (a_bytes, b_bytes) = (
        std::fs::read(dir.join(a)).unwrap(),
        std::fs::read(dir.join(b)).unwrap(),
    );
    let (target, source) = if b_bytes.len() <= a_bytes.len() {
        (a, &b_bytes)
    } else {
        (b, &a_bytes)
    };
    let size = std::fs::metadata(dir.join(target)).unwrap().len() as usize;
    (target.to_string(), padded(source, size))
}

/// Adversary finding F3: a daily file replaced in place by another of exactly the same
/// size (a `cp` over it) was taken from its month's rollup, which matched by key and
/// size only: the report showed the old figures and exited 0. Now it is read from the
/// file: the same figures as from the columns.
#[test]
fn a_daily_file_replaced_by_one_of_the_same_size_is_not_read_from_its_rollup() {
    use lakenode_lake::rollup::refresh;
    let top = tempfile::tempdir().unwrap();
    let dir = top.path().join("lake");
    make_lake(&dir);
    let mut lake = LocalLake::new(dir.clone());
    let summary = compact_before(&mut lake, jiff::civil::date(2026, 11, 29));
    // Stamps are recorded once settled (100 ms).
    std::thread::sleep(std::time::Duration::from_millis(300));
    refresh(&mut lake, &summary.listing, &summary.written).unwrap();
    let day = |id: &str| {
        format!(
            "station={id}/{}/data_day.parquet",
            dir_of(T0 + 3 * 24 * HOUR)
        )
    };
    let (target, bytes) = same_size_replacement(&dir, &day(IDS[0]), &day(IDS[1]));
    let size = std::fs::metadata(dir.join(&target)).unwrap().len();
    std::fs::write(dir.join(&target), bytes).unwrap();
    assert_eq!(std::fs::metadata(dir.join(&target)).unwrap().len(), size);
    let report = scan(&mut LocalLake::new(dir.clone()), &options(), |_| {}).unwrap();
    assert_same(&report.fleet, &from_columns(&dir, &options()).fleet);
}

/// A transport that records the prefix of each listing (`ListObjectsV2`) it sends.
#[derive(Clone)]
struct Listings {
    inner: lakenode_cli::transport::UreqTransport,
    prefixes: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl lakenode::Transport for Listings {
    fn send(
        &mut self,
        r: &lakenode::transport::HttpRequest,
    ) -> Result<lakenode::transport::HttpResponse, lakenode::transport::TransportError> {
        if r.url.query_pairs().any(|(k, _)| k == "list-type") {
            let prefix = r.url.query_pairs().find(|(k, _)| k == "prefix");
            self.prefixes
                .lock()
                .unwrap()
                .push(prefix.map(|(_, v)| v.into_owned()).unwrap_or_default());
        }
        self.inner.send(r)
    }
}

impl Listings {
    fn taken(&self) -> Vec<String> {
        std::mem::take(&mut *self.prefixes.lock().unwrap())
    }
}

/// The lake at `<dir>/lake` through the embedded server, every connection (its own,
/// 3 readers, one per compaction worker) recording the listings it sends.
fn through_s3_listed(
    server: &lakenode_embedded_s3::EmbeddedS3,
) -> (lakenode_lake::lake::S3Lake, Listings) {
    let config = lakenode::S3Config::new(&server.endpoint(), "lake", "us-east-1", true).unwrap();
    let transport = Listings {
        inner: lakenode_cli::transport::UreqTransport::new(std::time::Duration::from_secs(30)),
        prefixes: std::sync::Arc::default(),
    };
    let readers = (0..3)
        .map(|_| Box::new(transport.clone()) as Box<dyn lakenode::Transport + Send>)
        .collect();
    let for_workers = transport.clone();
    let credentials = lakenode::Credentials::new(common::KEY, common::SECRET, None);
    let lake = lakenode_lake::lake::S3Lake::new(&config, credentials, None, transport.clone())
        .unwrap()
        .with_readers(readers)
        .with_workers(std::sync::Arc::new(move || Box::new(for_workers.clone())));
    (lake, transport)
}

/// Through a bucket the rollups `compact` writes take each daily file's stamp (its
/// `ETag`) from the reply to the PUT that wrote it: no listing of the months it wrote
/// (before: one per station-month, data and health); the same rollups, stamps and all,
/// as from a listing; and a daily file replaced since by another of the same size
/// (adversary finding F3) is still read from its footer.
#[test]
fn through_a_bucket_the_rollups_take_their_stamps_from_the_puts() {
    use lakenode_lake::rollup::{key_of, refresh, v2};
    let top = tempfile::tempdir().unwrap();
    let dir = top.path().join("lake");
    make_lake(&dir);
    let server = common::lake_server(top.path());
    let (mut lake, listings) = through_s3_listed(&server);
    let summary = compact_with(&mut lake, jiff::civil::date(2026, 11, 29), 2);
    assert_eq!(summary.written.len(), 2 * 2 * DAYS as usize);
    assert!(
        !listings.taken().is_empty(),
        "the compaction lists the lake"
    );
    let r = refresh(&mut lake, &summary.listing, &summary.written).unwrap();
    assert_eq!(r.written, 2, "one per station-month");
    assert_eq!(
        listings.taken(),
        Vec::<String>::new(),
        "no listing of a month"
    );
    let rollups = |dir: &Path| -> Vec<Vec<u8>> {
        IDS.iter()
            .map(|id| std::fs::read(dir.join(key_of(id, "2026-11").unwrap())).unwrap())
            .collect()
    };
    let from_puts = rollups(&dir);
    for (id, bytes) in IDS.iter().zip(&from_puts) {
        let m = v2::Month::from_json(bytes, id, "2026-11").unwrap();
        let stamps = m.stamps.as_ref().map_or(0, Vec::len);
        assert_eq!(stamps, m.data.len() + m.health.len(), "every day stamped");
        assert_eq!(m.data.len(), DAYS as usize);
    }

    // The rollups written again by a run that wrote nothing (its stamps from listings:
    // one per station-month and tree): the same bytes.
    for id in IDS {
        std::fs::remove_file(dir.join(key_of(id, "2026-11").unwrap())).unwrap();
    }
    let (mut other, other_listings) = through_s3_listed(&server);
    let again = refresh(&mut other, &summary.listing, &summary.written).unwrap();
    assert_eq!(again.written, 2);
    assert_eq!(
        other_listings.taken().len(),
        2 * 2,
        "a listing per station-month"
    );
    assert_eq!(rollups(&dir), from_puts, "the same stamps as the listings'");

    // Everything from the rollups; then F3: the 23rd of one station replaced in place by
    // the other's, padded to the same size: that day is read from its footer.
    let mut reader = Counting::new(through_s3_listed(&server).0);
    let from_rollups = scan(&mut reader, &options(), |_| {}).unwrap();
    assert_eq!(reader.hooks.reads(), 2, "the rollups, no footer");
    let day = |id: &str| {
        format!(
            "station={id}/{}/data_day.parquet",
            dir_of(T0 + 3 * 24 * HOUR)
        )
    };
    let (a, b) = (day(IDS[0]), day(IDS[1]));
    let (a_bytes, b_bytes) = (
        std::fs::read(dir.join(&a)).unwrap(),
        std::fs::read(dir.join(&b)).unwrap(),
    );
    let (target, source) = if b_bytes.len() <= a_bytes.len() {
        (&a, &b_bytes)
    } else {
        (&b, &a_bytes)
    };
    let size = std::fs::metadata(dir.join(target)).unwrap().len() as usize;
    std::fs::write(dir.join(target), padded(source, size)).unwrap();
    reader.hooks.restart();
    let replaced = scan(&mut reader, &options(), |_| {}).unwrap();
    assert_eq!(
        reader.hooks.reads(),
        2 + 1,
        "the rollups and the replaced day"
    );
    let (_, columns, _) = both_ways(&dir);
    assert_same(&replaced.fleet, &columns.fleet);
    assert_ne!(replaced.samples, 0);
    assert!(
        from_rollups.problems.is_empty(),
        "{:?}",
        from_rollups.problems
    );
}

/// On a local lake the rollups record each daily file's stamps (its `ctime`, its
/// directory's `mtime`): the report's listing checks those directories with two
/// `fstatat` calls instead of reading them, and takes their days from the rollups;
/// and whatever changed since is still seen: a late window file beside a rolled-up
/// day, a daily file replaced in place by another of the same size (a `cp` over it,
/// adversary finding F3), one replaced by rename, a day removed, a new day.
#[test]
fn a_local_lake_checks_rolled_up_days_by_their_stamps() {
    use lakenode_lake::lake::stamp::SETTLED;
    use lakenode_lake::rollup::refresh;
    let top = tempfile::tempdir().unwrap();
    // Held aside until the rollups are written: a late window of the 22nd, and the
    // whole data day of the 25th of station 1 (a new day).
    let (dir, late, late_bytes) = lake_with_a_late_window(top.path());
    let new_day = format!("station={}/{}", IDS[1], dir_of(T0 + 5 * 24 * HOUR));
    let held = top.path().join("held");
    std::fs::rename(dir.join(&new_day), &held).unwrap();
    let mut lake = Counting::new(LocalLake::new(dir.clone()));
    let summary = compact_before(&mut lake, jiff::civil::date(2026, 11, 29));
    std::thread::sleep(SETTLED * 2);
    let r = refresh(&mut lake, &summary.listing, &summary.written).unwrap();
    assert_eq!(r.written, 2);
    for id in IDS {
        let m = rollup_of(&dir, id);
        let stamps = m.stamps.as_ref().map_or(0, Vec::len);
        assert_eq!(stamps, m.data.len() + m.health.len(), "every day stamped");
    }

    // Every rolled-up day directory checked by its stamps, none read; the same
    // listing as read whole.
    let mut rolled = LocalLake::new(dir.clone());
    let known = {
        let mut k = lakenode_lake::lake::KnownDirs::default();
        for id in IDS {
            rollup_of(&dir, id).known(&mut k);
        }
        k
    };
    assert_eq!(known.len(), 2 * 2 * DAYS as usize - 1, "less the held day");
    let listed = rolled.list_known("", &known).unwrap();
    let checked = listed.iter().filter(|l| l.2).count();
    assert_eq!(checked, known.len());
    let plain: Vec<(String, u64)> = listed.into_iter().map(|(k, s, _)| (k, s)).collect();
    assert_eq!(plain, rolled.list("").unwrap());

    let from_rollups = read_from_rollups(&mut lake);
    let before = from_columns(&dir, &options());
    assert_same(&from_rollups.fleet, &before.fleet);

    // A stale lake (nothing in the report's last 8 days): its period, the newest 8 days
    // holding data, is in months the report did not fetch before listing; their days
    // are checked by their stamps one by one, and still read from the rollups.
    let later = T0 + 40 * 24 * HOUR;
    let stale_options = ScanOptions {
        days: 8,
        now_ms: later,
        at_ms: later,
    };
    let (stale, reads) = scan_counted(&mut lake, &stale_options);
    assert!(stale.stale);
    assert_eq!(reads, 2, "the rollups, no footer");
    let stale_columns = from_columns(&dir, &stale_options);
    assert_same(&stale.fleet, &stale_columns.fleet);

    // F3: the 23rd of station 0 replaced in place by station 1's 23rd, padded to the
    // same size (as `cp` does: the same inode, the directory unchanged).
    let day = |id: &str, d: i64| {
        format!(
            "station={id}/{}/data_day.parquet",
            dir_of(T0 + d * 24 * HOUR)
        )
    };
    let (target, bytes) = same_size_replacement(&dir, &day(IDS[0], 3), &day(IDS[1], 3));
    std::fs::write(dir.join(target), bytes).unwrap();
    // Another day replaced by rename with a file of the same size (its directory's
    // entries change).
    let (target, bytes) = same_size_replacement(&dir, &day(IDS[0], 4), &day(IDS[1], 4));
    let tmp = dir.join(format!("{target}.tmp"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, dir.join(target)).unwrap();
    let (replaced, reads) = scan_counted(&mut lake, &options());
    assert_eq!(
        reads,
        2 + 2,
        "the rollups and the two replaced days' footers"
    );
    let now = from_columns(&dir, &options());
    assert_same(&replaced.fleet, &now.fleet);
    let sums = |f: &Fleet| -> Vec<f64> {
        IDS.iter()
            .flat_map(|id| f.station(id).unwrap().buckets.values())
            .map(|b| b.sums.iter().map(|s| s.0).sum::<f64>())
            .collect()
    };
    assert_ne!(
        sums(&now.fleet),
        sums(&before.fleet),
        "the replaced days' figures changed"
    );

    // A late window file beside a rolled-up day; a day removed; a new day.
    put(&dir, &late, &late_bytes);
    std::fs::remove_dir_all(dir.join(format!(
        "health/station={}/{}",
        IDS[0],
        dir_of(T0 + 6 * 24 * HOUR)
    )))
    .unwrap();
    std::fs::rename(&held, dir.join(&new_day)).unwrap();
    let (changed, _) = scan_counted(&mut lake, &options());
    assert!(changed.problems.is_empty(), "{:?}", changed.problems);
    let now = from_columns(&dir, &options());
    assert_same(&changed.fleet, &now.fleet);
    assert_eq!(changed.samples, now.samples);
    assert_eq!(changed.health_rows, now.health_rows);
    assert!(
        changed.samples > replaced.samples,
        "the late window and the new day"
    );
    assert!(
        changed.health_rows < replaced.health_rows,
        "the removed day"
    );
}

/// Writes the version 1 rollups of the lake in `dir` (the footers' pairs as they are,
/// as `compact` wrote them before 2026-12-04); their total size.
fn write_v1_rollups(dir: &Path) -> usize {
    use lakenode_lake::rollup::{DayEntry, KEPT, Rollup, month_of, v1_key_of};
    let mut lake = LocalLake::new(dir.to_path_buf());
    let mut months: std::collections::BTreeMap<(String, String), Vec<DayEntry>> =
        std::collections::BTreeMap::new();
    for (key, size) in lake.list("").unwrap() {
        let Some(sm) = month_of(&key) else { continue };
        let bytes = std::fs::read(dir.join(&key)).unwrap();
        let f = lakenode_lake::readback::footer_of_tail(&bytes, size).unwrap();
        months.entry(sm).or_default().push(DayEntry {
            key,
            size,
            rows: f.rows,
            pairs: f
                .key_values
                .into_iter()
                .filter(|(k, _)| KEPT.contains(&k.as_str()))
                .collect(),
        });
    }
    let mut total = 0;
    for ((station, month), mut days) in months {
        days.sort_by(|a, b| a.key.cmp(&b.key));
        let json = Rollup {
            v: 1,
            station: station.clone(),
            month: month.clone(),
            days,
        }
        .to_json();
        total += json.len();
        put(dir, &v1_key_of(&station, &month).unwrap(), json.as_bytes());
    }
    total
}
