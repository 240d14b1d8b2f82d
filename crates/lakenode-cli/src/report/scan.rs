//! Walks a lake (a directory or a bucket, through [`LakeStore`]) and folds every data
//! and health file of the period into a [`Fleet`].
//!
//! Both layouts are read: the window files nodes write (`data_HHMM.parquet`) and the
//! daily files `lakenode compact` makes (`data_day.parquet`). While a compaction is
//! interrupted a day can hold both, with the same rows twice; instants are therefore
//! counted once per station-day. Every file goes through the project's checked reader
//! ([`lakenode_lake::readback`]); a file it refuses is listed in [`Scan::problems`] and the
//! rest of the lake is still read. Memory is bounded by one file and one station-day
//! of instants at a time, plus the fleet's per-bucket figures.
//!
//! ```no_run
//! use lakenode_lake::lake::LocalLake;
//! use lakenode_cli::report::scan::{scan, ScanOptions};
//! let mut lake = LocalLake::new("lake".into());
//! let now_ms = jiff::Timestamp::now().as_millisecond();
//! let scan = scan(&mut lake, &ScanOptions { days: 7, now_ms, at_ms: now_ms }, |_| {})?;
//! println!("{} stations, {} files", scan.fleet.len(), scan.files);
//! # Ok::<(), lakenode_cli::error::CliError>(())
//! ```

use std::collections::{BTreeMap, HashSet};

use jiff::civil::Date;
use lakenode::encode::FileMetadata;
use lakenode::health::HealthRow;
use lakenode::layout::{FileName, LakeKey, Tree as LakeTree};

use super::aggregate::{BucketSize, Fleet, HealthPoint};
use super::footers::{Candidate, Summarized};
use super::rollups::Source;
use crate::error::CliResult;
use lakenode_lake::lake::LakeStore;
use lakenode_lake::readback;

/// Periods longer than this many days are drawn in day buckets instead of hours.
pub const MAX_HOURLY_DAYS: i64 = 7;

/// A station-day directory holding more bytes than this is not read: a day of samples
/// every 100 ms (the most [`MAX_SAMPLES_PER_DAY`] allows) is under 40 MB. With one day
/// queued and one decoding per worker, this bounds the report's memory.
pub const MAX_DAY_BYTES: u64 = 64 << 20;

/// Sampling intervals a footer may give, ms: from the 100 ms that
/// [`MAX_SAMPLES_PER_DAY`] allows to a day.
const INTERVALS_MS: std::ops::RangeInclusive<i64> = 100..=86_400_000;

/// Distinct instants one station-day may hold (one every 100 ms): more is not a
/// station's data, and would make the report's memory grow without bound.
pub const MAX_SAMPLES_PER_DAY: usize = 864_000;

/// How far ahead of the report's clock a sample or partition may be (clock skew).
const FUTURE_SLACK_MS: i64 = 3_600_000;

/// What to read.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// The period: the UTC day of `at_ms` and the N - 1 before it. If the lake has
    /// nothing in those days, the newest N days that hold data (see [`Scan::stale`]).
    pub days: u32,
    /// The time now, ms UTC: data dated later (beyond an hour of skew) is not a
    /// reading and is reported, not drawn.
    pub now_ms: i64,
    /// The report's time (`--at`, default `now_ms`): data from then on is left out
    /// silently, and the period ends there.
    pub at_ms: i64,
}

/// How far a scan has got, for progress output.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Files read so far.
    pub files: usize,
    /// Files to read in all.
    pub total: usize,
}

/// The fleet folded from the lake, and what was read.
#[derive(Debug)]
pub struct Scan {
    /// Per station and bucket figures.
    pub fleet: Fleet,
    /// The UTC days read (first, last), if the lake has any data.
    pub days: Option<(Date, Date)>,
    /// The lake holds nothing in the N days up to the report's time: the period is its
    /// newest N days holding data instead, and ends at its newest sample.
    pub stale: bool,
    /// Files read.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Distinct sample instants folded in (within the period).
    pub samples: u64,
    /// Health rows folded in.
    pub health_rows: u64,
    /// Files that could not be read or are not where the layout puts them, each with
    /// the reason. The report lists them; the command exits 1.
    pub problems: Vec<String>,
}

/// One station-day directory's files.
#[derive(Debug, Default)]
struct DayDir {
    files: Vec<(String, u64)>,
    /// Its one file was checked by its stamps rather than read
    /// ([`LakeStore::list_known`]).
    checked: bool,
}

/// Station-day directories of one tree: (station, date) -> directory and files.
type Tree = BTreeMap<(String, Date), (String, DayDir)>;

/// Groups `objects` by station-day (the core's [`LakeKey`]: window and daily files);
/// `.parquet` files outside the layout go to `problems`, other files are not read.
fn group(objects: Vec<lakenode_lake::lake::Listed>, problems: &mut Vec<String>) -> Tree {
    let mut tree = Tree::new();
    for (key, size, checked) in objects {
        let parsed = match LakeKey::parse(None, &key) {
            Ok(k) => k,
            Err(why) => {
                if key.ends_with(".parquet") {
                    problems.push(format!("{key}: {why}; not read"));
                }
                continue;
            }
        };
        let day = &mut tree
            .entry((parsed.station.to_string(), parsed.date))
            .or_insert_with(|| (parsed.dir(), DayDir::default()))
            .1;
        day.checked = checked && day.files.is_empty();
        day.files.push((parsed.file_name(), size));
    }
    tree
}

/// Start of a UTC day, ms.
fn day_start_ms(date: Date) -> Option<i64> {
    Some(
        date.to_zoned(jiff::tz::TimeZone::UTC)
            .ok()?
            .timestamp()
            .as_millisecond(),
    )
}

/// Reads the lake's last `options.days` days of data into a [`Fleet`], calling
/// `progress` after each file.
///
/// # Errors
/// The lake cannot be listed, or an object cannot be fetched (a file that is fetched
/// but cannot be decoded is a [`Scan::problems`] entry instead).
pub fn scan(
    lake: &mut dyn LakeStore,
    options: &ScanOptions,
    mut progress: impl FnMut(Progress),
) -> CliResult<Scan> {
    let mut problems = Vec::new();
    let at_day = jiff::Timestamp::from_millisecond(options.at_ms)
        .ok()
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date());
    // The rollups of the period's months first: what they recorded of each day's
    // directory spares the listing reading it (a local lake), and their days are read
    // from them below.
    let first_month = at_day
        .and_then(|a| {
            a.checked_sub(jiff::Span::new().days(i64::from(options.days.max(1)) - 1))
                .ok()
        })
        .map(|d| format!("{:04}-{:02}", d.year(), d.month()));
    let last_month = at_day.map(|d| format!("{:04}-{:02}", d.year(), d.month()));
    let mut rolled = super::rollups::fetch(lake, &|_, m: &str| {
        first_month.as_deref().is_none_or(|f| m >= f)
            && last_month.as_deref().is_none_or(|l| m <= l)
    });
    let known = rolled.known();
    let data_listed = lake.list_known("station=", &known)?;
    let data_anomalies = lake.anomalies();
    let health_listed = lake.list_known("health/station=", &known)?;
    let health_anomalies = lake.anomalies();
    // The two trees grouped side by side (730,000 keys parsed each for a year), the
    // map of known directories freed meanwhile.
    let (mut data, mut health) = std::thread::scope(|s| {
        s.spawn(move || drop(known));
        let health = s.spawn(move || {
            let mut p = Vec::new();
            (group(health_listed, &mut p), p)
        });
        let data = group(data_listed, &mut problems);
        problems.extend(data_anomalies);
        let (health, p) = health
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        problems.extend(p);
        problems.extend(health_anomalies);
        (data, health)
    });
    // Days after today are not readings (a clock years ahead, a stray copy): listed as
    // problems, never allowed to move the period.
    let latest_ms = options.now_ms.saturating_add(FUTURE_SLACK_MS);
    for tree in [&mut data, &mut health] {
        tree.retain(|(_, date), (dir, day)| {
            let ok = day_start_ms(*date).is_some_and(|start| start <= latest_ms);
            if !ok {
                problems.push(format!(
                    "{dir}: {} file(s) dated {date}, after today; not read",
                    day.files.len()
                ));
            }
            ok
        });
    }
    // A station-day larger than any station writes is not fetched (a forged or sparse
    // file would otherwise be read into memory whole).
    for tree in [&mut data, &mut health] {
        tree.retain(|_, (dir, day)| {
            let bytes: u64 = day
                .files
                .iter()
                .map(|(_, size)| *size)
                .fold(0, u64::saturating_add);
            let ok = bytes <= MAX_DAY_BYTES;
            if !ok {
                problems.push(format!(
                    "{dir}: {} file(s) of {bytes} bytes, more than any station's day \
                     ({MAX_DAY_BYTES}); not read",
                    day.files.len()
                ));
            }
            ok
        });
    }

    // Days after the report's time are not part of it (a report `--at` an earlier
    // time); left out without a word.
    for tree in [&mut data, &mut health] {
        tree.retain(|(_, date), _| at_day.is_none_or(|a| *date <= a));
    }
    let days = i64::from(options.days.max(1));
    let back = |d: Date| d.checked_sub(jiff::Span::new().days(days - 1)).ok();
    let newest_data = data.keys().map(|(_, d)| *d).max();
    let oldest = data.keys().map(|(_, d)| *d).min();
    // The period ends on the report's day; if nothing is in it, the lake is stale and
    // its newest N days holding data are drawn, said so on the page.
    let current_first = at_day.and_then(back);
    let stale = match (current_first, newest_data) {
        (Some(f), Some(n)) => n < f,
        _ => false,
    };
    let newest = if stale {
        newest_data
    } else {
        at_day.or(newest_data)
    };
    let first_day = newest.and_then(back);
    let first_day = match (first_day, oldest) {
        (Some(f), Some(o)) => Some(f.max(o)),
        (f, _) => f,
    };
    let span = match (first_day, newest) {
        (Some(f), Some(n)) => (n - f).get_days() + 1,
        _ => 1,
    };
    let size = if i64::from(span) > MAX_HOURLY_DAYS {
        BucketSize::Day
    } else {
        BucketSize::Hour
    };
    let mut fleet = Fleet::new(size);
    fleet.until_ms = options.at_ms;
    if !stale {
        fleet.end_ms = Some(options.at_ms);
    }
    if let Some(first) = first_day {
        fleet.not_before_ms = day_start_ms(first).unwrap_or(i64::MIN);
    }
    let in_period = |date: &Date| first_day.is_none_or(|f| *date >= f);

    // Data: every station-day in the period, and for a station with nothing in it,
    // its newest day (for its last-seen time).
    let mut newest_of: BTreeMap<&str, Date> = BTreeMap::new();
    for (station, date) in data.keys() {
        let e = newest_of.entry(station.as_str()).or_insert(*date);
        *e = (*e).max(*date);
    }
    // A station with health rows but no data yet is listed too (as never seen).
    let health_only: Vec<&str> = health
        .keys()
        .map(|(s, _)| s.as_str())
        .filter(|s| !newest_of.contains_key(s))
        .collect();
    type Dir<'a> = (&'a (String, Date), &'a (String, DayDir));
    let data_dirs: Vec<Dir<'_>> = data
        .iter()
        .filter(|((station, date), _)| {
            in_period(date) || newest_of.get(station.as_str()) == Some(date)
        })
        .collect();
    let health_dirs: Vec<Dir<'_>> = health
        .iter()
        .filter(|((_, date), _)| in_period(date))
        .collect();
    // A compacted day is read from its month's rollup or its footer's summary alone
    // (see `rollups`, `footers`): long reports draw days, and read data and health days
    // before the report's own so; reports drawn in hours read data days whose summary
    // holds hourly figures and whose every sample is before the report's time (checked
    // once read, below).
    let mut candidates: Vec<(bool, &(String, Date))> = Vec::new();
    let mut list_all: Vec<Candidate> = Vec::new();
    {
        let hourly = size == BucketSize::Hour;
        let trees = data_dirs
            .iter()
            .map(|d| (true, d))
            .chain(health_dirs.iter().map(|d| (false, d)).filter(|_| !hourly));
        for (is_data, (id, (dir, day))) in trees {
            let tree = if is_data {
                LakeTree::Data
            } else {
                LakeTree::Health
            };
            let daily = FileName::Daily { schema: None }.name(tree);
            let before = at_day.is_some_and(|a| id.1 < a || (hourly && id.1 == a));
            if let ([(name, size)], true) = (day.files.as_slice(), before)
                && *name == daily
            {
                candidates.push((is_data, *id));
                list_all.push(Candidate {
                    is_data,
                    day_start_ms: day_start_ms(id.1).unwrap_or(i64::MIN),
                    date: id.1,
                    key: format!("{dir}/{name}"),
                    size: *size,
                    hourly,
                    checked: day.checked,
                });
            }
        }
    }
    let mut sources = rolled.read(lake, &list_all).into_iter();
    let mut candidates = candidates.into_iter().peekable();
    // The source of the day `id` if it is the next candidate (candidates are in the
    // order the days are sent below) and its figures may be used.
    let mut source_of = |is_data: bool, id: &(String, Date)| {
        if candidates.peek() != Some(&(is_data, id)) {
            return None;
        }
        candidates.next();
        sources.next().flatten().filter(|s| match s {
            // A day the report's time cuts, or (drawn in hours) without hourly
            // figures (a summary of version 1): its rows are read.
            Source::Summary(Summarized::Data(_, day), _) => {
                (day.samples == 0 || day.last_ms < options.at_ms)
                    && (size == BucketSize::Day || day.hours.len() == 24)
            }
            // Only days before the report's, drawn in days (`Rolled::read`).
            Source::Summary(Summarized::Health(_), _) | Source::Entry(..) => true,
        })
    };
    let total = data_dirs
        .iter()
        .chain(&health_dirs)
        .map(|(_, (_, d))| d.files.len())
        .sum();

    // Decoding is the work; it runs on one thread per core. Each station belongs to one
    // worker, which receives that station's days in order (health counters are folded
    // in time order), while this thread fetches the files: local reads or S3 GETs.
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, 8);
    let owner: BTreeMap<&str, usize> = newest_of
        .keys()
        .chain(&health_only)
        .enumerate()
        .map(|(i, s)| (*s, i % workers))
        .collect();
    let mut files = 0;
    let mut bytes_read = 0;
    let mut fetch_error = None;
    let parts: Vec<Part> = std::thread::scope(|scope| {
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for _ in 0..workers {
            // One batch queued per worker, one decoding, one being filled here: a batch
            // holds at most one day's files (each at most MAX_DAY_BYTES), the day that
            // ends it, and up to SUMMARY_BATCH days' summaries: memory stays within a
            // few days' files.
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Work<'_>>>(1);
            senders.push(tx);
            let mut part = Part::new(fleet.clone(), latest_ms);
            handles.push(scope.spawn(move || {
                for batch in rx {
                    for work in batch {
                        part.fold(work);
                    }
                }
                part
            }));
        }
        // Days read from summaries go to their worker in batches: one message (and one
        // wake-up of a worker) per day cost more system time than the whole year's
        // folding (a year of 1,000 stations is 730,000 of them). A batch is sent before
        // any fetched day of its worker, so that each station's days stay in order.
        let mut pending: Vec<Vec<Work<'_>>> = (0..workers).map(|_| Vec::new()).collect();
        let mut stopped = false;
        let trees = data_dirs
            .iter()
            .map(|d| (true, d))
            .chain(health_dirs.iter().map(|d| (false, d)));
        for (is_data, (id, (dir, day))) in trees {
            if crate::signals::stopping() {
                fetch_error = Some(crate::error::CliError::Interrupted(format!(
                    "report: stopped by a signal after reading {files} of {total} file(s); \
                     no page written"
                )));
                break;
            }
            let (station, date) = id;
            let worker = owner.get(station.as_str()).copied().unwrap_or(0);
            if let Some(source) = source_of(is_data, id) {
                let (summary, entry, read) = match source {
                    Source::Summary(s, read) => (Some(s), None, read),
                    Source::Entry(e, read) => (None, Some(e), read),
                };
                files += 1;
                bytes_read += read;
                progress(Progress { files, total });
                let work = Work {
                    station,
                    day_start_ms: day_start_ms(*date).unwrap_or(i64::MIN),
                    is_data,
                    files: Vec::new(),
                    summary,
                    entry,
                };
                pending[worker].push(work);
                if pending[worker].len() >= SUMMARY_BATCH
                    && senders[worker]
                        .send(std::mem::take(&mut pending[worker]))
                        .is_err()
                {
                    stopped = true;
                    break;
                }
                continue;
            }
            let fetched = match fetch_day(lake, dir, &day.files, &mut |size| {
                files += 1;
                bytes_read += size;
                progress(Progress { files, total });
            }) {
                Ok(f) => f,
                Err(e) => {
                    fetch_error = Some(e);
                    break;
                }
            };
            let work = Work {
                station,
                day_start_ms: day_start_ms(*date).unwrap_or(i64::MIN),
                is_data,
                files: fetched,
                summary: None,
                entry: None,
            };
            pending[worker].push(work);
            if senders[worker]
                .send(std::mem::take(&mut pending[worker]))
                .is_err()
            {
                stopped = true;
                break;
            }
        }
        if !stopped && fetch_error.is_none() {
            for (tx, batch) in senders.iter().zip(pending) {
                if !batch.is_empty() && tx.send(batch).is_err() {
                    break;
                }
            }
        }
        drop(senders);
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    if let Some(e) = fetch_error {
        return Err(e);
    }
    if parts.len() != workers {
        return Err(crate::error::CliError::Failed(
            "a report worker panicked".into(),
        ));
    }
    let mut out = Scan {
        fleet,
        days: first_day.zip(newest),
        stale,
        files,
        bytes: bytes_read,
        samples: 0,
        health_rows: 0,
        problems,
    };
    let mut late_problems = Vec::new();
    for part in parts {
        out.fleet.absorb(part.fleet);
        out.samples += part.samples;
        out.health_rows += part.health_rows;
        late_problems.extend(part.problems);
    }
    late_problems.sort();
    out.problems.extend(late_problems);
    for station in newest_of.keys().chain(&health_only) {
        out.fleet.touch(station);
    }
    Ok(out)
}

/// Fetches a station-day directory's files. A file that is gone since the listing (a
/// compaction running at the same time merged it) makes the directory be listed and
/// fetched again, once: the daily file that replaced it is then read instead.
fn fetch_day(
    lake: &mut dyn LakeStore,
    dir: &str,
    listed: &[(String, u64)],
    counted: &mut dyn FnMut(u64),
) -> CliResult<Vec<(String, Vec<u8>)>> {
    let mut names: Vec<(String, u64)> = listed.to_vec();
    for attempt in 0..2 {
        let mut fetched = Vec::with_capacity(names.len());
        let mut vanished = false;
        for (name, size) in &names {
            let key = format!("{dir}/{name}");
            match lake.get(&key) {
                Ok(b) => {
                    counted(*size);
                    fetched.push((key, b));
                }
                Err(e) if attempt == 0 && lakenode_lake::lake::is_not_found(&e) => {
                    vanished = true;
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
        if !vanished {
            return Ok(fetched);
        }
        names = lake
            .list(&format!("{dir}/"))?
            .into_iter()
            .filter_map(|(key, size)| {
                let parsed = LakeKey::parse(None, &key).ok()?;
                (parsed.dir() == dir).then(|| (parsed.file_name(), size))
            })
            .collect();
        let bytes: u64 = names
            .iter()
            .map(|(_, size)| *size)
            .fold(0, u64::saturating_add);
        if bytes > MAX_DAY_BYTES {
            return Ok(Vec::new());
        }
    }
    Ok(Vec::new())
}

/// One station-day directory's files, fetched, for a worker to decode.
struct Work<'a> {
    station: &'a str,
    /// Start of the directory's UTC day: rows outside it are misplaced.
    day_start_ms: i64,
    /// The data tree (else the health tree).
    is_data: bool,
    /// (key, bytes) of each file.
    files: Vec<(String, Vec<u8>)>,
    /// Or the day's figures from its daily file's footer.
    summary: Option<Summarized>,
    /// Or its month's rollup's entry of it (turned into figures here, on the worker).
    entry: Option<lakenode_lake::rollup::v2::Entry<'a>>,
}

/// What one worker folded.
struct Part {
    fleet: Fleet,
    /// Rows dated after this are not readings.
    latest_ms: i64,
    samples: u64,
    health_rows: u64,
    problems: Vec<String>,
    seen: HashSet<i64>,
}

/// Days read from summaries sent to a worker at once (see [`scan`]).
const SUMMARY_BATCH: usize = 512;

/// The UTC day starting at `start` holds [start, start + 24 h).
const DAY_MS: i64 = 86_400_000;

impl Part {
    fn new(fleet: Fleet, latest_ms: i64) -> Self {
        Self {
            fleet,
            latest_ms,
            samples: 0,
            health_rows: 0,
            problems: Vec::new(),
            seen: HashSet::new(),
        }
    }

    /// Whether a health row at `t` belongs in the directory of the day starting at `day`
    /// and is not dated in the future. A health row is dated at its window's end, so the
    /// day's last window has the next midnight.
    fn in_place(&self, day: i64, t: i64) -> bool {
        t >= day && t <= day.saturating_add(DAY_MS) && t <= self.latest_ms
    }

    fn fold(&mut self, work: Work<'_>) {
        let station = work.station;
        let day = work.day_start_ms;
        let summary = match work.entry {
            Some(e) => {
                let s = super::footers::from_rollup(work.is_data, false, e);
                if s.is_none() {
                    // Not reached: `Rolled::read` hands out only entries that decode.
                    self.problems
                        .push(format!("{station}: a rollup entry of another kind"));
                    return;
                }
                s
            }
            None => work.summary,
        };
        match &summary {
            Some(Summarized::Data(interval, figures)) => {
                if figures.first_ms >= self.fleet.not_before_ms {
                    self.samples += u64::from(figures.samples);
                }
                if !self.fleet.add_day(station, *interval, figures) {
                    // Not reached: `scan` reads such days' rows instead.
                    self.problems
                        .push(format!("{station}: a day's summary without hourly figures"));
                }
                return;
            }
            Some(Summarized::Health(health)) => {
                self.health_rows += health.points();
                self.fleet.add_health_day(station, health);
                return;
            }
            None => {}
        }
        if work.is_data {
            // Window and daily files of one day may hold the same instants (an
            // interrupted compaction): each counts once.
            self.seen.clear();
            for (key, bytes) in work.files {
                match self.fold_data(station, day, bytes) {
                    Ok((misplaced, overflow)) => {
                        if misplaced > 0 {
                            self.problems.push(format!(
                                "{key}: {misplaced} row(s) outside the partition's UTC day or \
                                 dated in the future; those rows are not in the report"
                            ));
                        }
                        if overflow {
                            self.problems.push(format!(
                                "{key}: its station-day holds more than {MAX_SAMPLES_PER_DAY} \
                                 distinct instants, more than any station samples; the rest \
                                 of the day is not in the report"
                            ));
                        }
                    }
                    Err(e) => self
                        .problems
                        .push(format!("{key}: {e}; its rows are not in the report")),
                }
            }
            return;
        }
        let mut rows = Vec::new();
        for (key, bytes) in work.files {
            match health_points(bytes) {
                Ok(points) => {
                    let before = points.len();
                    let kept: Vec<HealthPoint> = points
                        .into_iter()
                        .filter(|p| self.in_place(day, p.at_ms))
                        .collect();
                    let left_out = kept.len() < before;
                    rows.extend(kept);
                    if left_out {
                        self.problems.push(format!(
                            "{key}: health rows outside the partition's UTC day or dated in \
                             the future; not in the report"
                        ));
                    }
                }
                Err(e) => self.problems.push(format!("{key}: {e}; not in the report")),
            }
        }
        // Likewise a window's health row may be in two files: fold it once, in order.
        // A window cut by a reboot has a row from each boot at the same instant: both
        // are kept, the older boot's (longer uptime) first, so the reboot counts once.
        lakenode_lake::summary::sort_points(&mut rows);
        self.health_rows += rows.len() as u64;
        for p in rows {
            self.fleet.add_health(station, p);
        }
    }

    /// Folds a data file's samples in, each instant of the station-day once; returns
    /// how many rows were left out as misplaced, and whether the day's cap was reached.
    fn fold_data(
        &mut self,
        station: &str,
        day: i64,
        bytes: Vec<u8>,
    ) -> Result<(u64, bool), readback::ReadError> {
        let file = readback::open(bytes)?;
        let meta = FileMetadata::from_key_values(&file.key_values()).map_err(|e| {
            readback::ReadError::new(format!("{e}, so coverage cannot be computed"))
        })?;
        let interval = Some(meta.interval_ms)
            .filter(|i| INTERVALS_MS.contains(i))
            .ok_or_else(|| {
                readback::ReadError::new(
                    "the footer does not give a sampling interval of 100 ms to a day \
                     (`lakenode` metadata, `interval_ms`), so coverage cannot be computed",
                )
            })?;
        self.fleet.set_interval(station, interval);
        let not_before = self.fleet.not_before_ms;
        let latest = self.latest_ms;
        let mut misplaced = 0;
        let mut full = false;
        let (seen, samples) = (&mut self.seen, &mut self.samples);
        let mut fleet = self.fleet.station_samples(station);
        file.for_each_batch(|batch| {
            for sample in batch {
                let t = sample.timestamp_ms;
                if t < day || t >= day.saturating_add(DAY_MS) || t > latest {
                    misplaced += 1;
                } else if seen.len() >= MAX_SAMPLES_PER_DAY && !seen.contains(&t) {
                    full = true;
                } else if seen.insert(t) {
                    *samples += u64::from(t >= not_before);
                    fleet.add(interval, sample);
                }
            }
        })?;
        Ok((misplaced, full))
    }
}

/// A health file's rows as the report's points, decoded by the core
/// ([`HealthRow::from_row`]: the columns nodes write, by name).
fn health_points(bytes: Vec<u8>) -> Result<Vec<HealthPoint>, readback::ReadError> {
    let file = readback::open(bytes)?;
    file.rows_generic()?
        .iter()
        .map(|row| {
            let row = HealthRow::from_row(row).map_err(|e| {
                readback::ReadError::new(match e {
                    lakenode::Error::Format { reason, .. } => {
                        format!("not a lakenode health file: column {reason}")
                    }
                    e => e.to_string(),
                })
            })?;
            health_point(&row).ok_or_else(|| {
                readback::ReadError::new(
                    "not a lakenode health file: a row holds a negative count or an uptime \
                     of over a century",
                )
            })
        })
        .collect()
}

/// One health row as a report point; `None` if it holds a value no node reports (a
/// negative count, an uptime of over a century): such a row would fake restarts or
/// upload failures.
fn health_point(row: &HealthRow) -> Option<HealthPoint> {
    HealthPoint::from_row(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lakenode::encode::{FileMetadata, WriterProfile, encode_window};
    use lakenode::health::HealthRow;
    use lakenode::layout::StationId;
    use lakenode::sample::Sample;
    use lakenode::schema::{Measurement, Schema};
    use lakenode_lake::lake::LocalLake;
    use lakenode_lake::lake::hooked::{Hooked, LakeHooks};

    const ID: &str = "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e";
    const DAY: &str = "year=2026/month=11/day=20";
    // 2026-11-20T00:00:00Z
    const T0: i64 = 1_795_132_800_000;

    fn data_file(from: i64, n: i64) -> Vec<u8> {
        data_file_every(from, n, 5_000)
    }

    /// `n` samples 5 s apart whose footer claims `interval_ms`.
    fn data_file_every(from: i64, n: i64, interval_ms: i64) -> Vec<u8> {
        let schema = Schema::new([Measurement::Temperature, Measurement::Battery]).unwrap();
        let samples: Vec<Sample> = (0..n)
            .map(|i| {
                let mut s = Sample::new(from + i * 5_000);
                s.set_count(Measurement::Temperature, Some(2_000));
                s.set_count(Measurement::Battery, Some(3_900));
                s
            })
            .collect();
        let meta = FileMetadata {
            station: StationId::new(ID).unwrap(),
            interval_ms,
            window_start_ms: from,
            window_end_ms: from + n * 5_000,
            extra: Vec::new(),
            units: Vec::new(),
        };
        let window = lakenode::window::Window {
            start_ms: from,
            end_ms: from + n * 5_000,
            samples,
        };
        encode_window(&schema, WriterProfile::Compat, &window, &meta).unwrap()
    }

    fn put(dir: &std::path::Path, key: &str, bytes: &[u8]) {
        let path = dir.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    /// Health rows that would fake restarts or upload failures are refused: a negative
    /// counter, an uptime of over a century (a null or missing counter does not
    /// decode: the core's tests), whole files included.
    #[test]
    fn implausible_health_rows_are_refused() {
        let row = |uptime: i64, failures: i64| {
            let mut r = HealthRow::new(T0);
            r.uptime_s = uptime;
            r.upload_failures = failures;
            r
        };
        assert!(health_point(&row(60, 2)).is_some());
        assert!(health_point(&row(i64::MAX, 2)).is_none());
        assert!(health_point(&row(-1, 2)).is_none());
        assert!(health_point(&row(60, -5)).is_none());
        assert_eq!(
            health_points(row(60, 2).encode().unwrap()).unwrap().len(),
            1
        );
        let e = health_points(row(60, -5).encode().unwrap()).unwrap_err();
        assert!(e.to_string().contains("negative count"), "{e}");
        // A data file is not a health file.
        let e = health_points(data_file(T0, 10)).unwrap_err();
        assert!(
            e.to_string()
                .contains("not a lakenode health file: column `uptime_s` is missing"),
            "{e}"
        );
    }

    /// A station-day larger than any station writes is listed and never fetched, and a
    /// footer interval below 100 ms is listed rather than giving 0% coverage.
    #[test]
    fn oversized_days_and_implausible_intervals_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let root = format!("station={ID}/{DAY}");
        put(
            dir.path(),
            &format!("{root}/data_0000.parquet"),
            &data_file(T0, 180),
        );
        let big =
            std::fs::File::create(dir.path().join(format!("{root}/data_0015.parquet"))).unwrap();
        big.set_len(MAX_DAY_BYTES).unwrap(); // sparse: no disk used
        let mut lake = LocalLake::new(dir.path().to_path_buf());
        let options = ScanOptions {
            days: 7,
            now_ms: T0 + 86_400_000,
            at_ms: T0 + 86_400_000,
        };
        let first = scan(&mut lake, &options, |_| {}).unwrap();
        assert_eq!(first.files, 0, "nothing of the day was fetched");
        assert_eq!(first.problems.len(), 1, "{:?}", first.problems);
        assert!(first.problems[0].contains("more than any station's day"));

        std::fs::remove_file(dir.path().join(format!("{root}/data_0015.parquet"))).unwrap();
        put(
            dir.path(),
            &format!("{root}/data_0015.parquet"),
            &data_file_every(T0 + 900_000, 180, 1),
        );
        let scan = scan(&mut lake, &options, |_| {}).unwrap();
        assert_eq!(scan.problems.len(), 1, "{:?}", scan.problems);
        assert!(
            scan.problems[0]
                .contains("data_0015.parquet: the footer does not give a sampling interval")
        );
        assert_eq!(scan.samples, 180, "the other file still counts");
    }

    /// Lake hooks compacting the day between the listing and the first read: as
    /// `compact` running beside `report` does.
    struct CompactedMidway {
        root: std::path::PathBuf,
        done: bool,
    }

    impl LakeHooks for CompactedMidway {
        fn reading(&mut self, key: &str) -> lakenode_lake::Result<()> {
            if !self.done && key.contains("/data_") {
                self.done = true;
                let dir = self.root.join(format!("station={ID}/{DAY}"));
                put(
                    &self.root,
                    &format!("station={ID}/{DAY}/data_day.parquet"),
                    &data_file(T0, 720),
                );
                for q in 0..4 {
                    std::fs::remove_file(dir.join(format!("data_00{:02}.parquet", q * 15)))
                        .unwrap();
                }
            }
            Ok(())
        }
    }

    #[test]
    fn a_day_compacted_while_it_is_read_is_read_again_whole() {
        let dir = tempfile::tempdir().unwrap();
        for q in 0..4 {
            put(
                dir.path(),
                &format!("station={ID}/{DAY}/data_00{:02}.parquet", q * 15),
                &data_file(T0 + q * 900_000, 180),
            );
        }
        let mut lake = Hooked::new(
            Box::new(LocalLake::new(dir.path().to_path_buf())),
            CompactedMidway {
                root: dir.path().to_path_buf(),
                done: false,
            },
        );
        let options = ScanOptions {
            days: 7,
            now_ms: T0 + 86_400_000,
            at_ms: T0 + 86_400_000,
        };
        let scan = scan(&mut lake, &options, |_| {}).unwrap();
        assert!(scan.problems.is_empty(), "{:?}", scan.problems);
        assert_eq!(scan.samples, 720, "the daily file was read instead");
    }

    /// A window cut by a reboot gets a health row from each boot at its end: the
    /// reboot counts once, whichever file the rows come from.
    #[test]
    fn a_reboot_inside_a_window_counts_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = format!("health/station={ID}/{DAY}");
        let rows = [
            ("health_0000.parquet", 15, 900),
            ("health_0015.parquet", 30, 1_800),
            ("health_0030.parquet", 45, 2_700), // the old boot, cut at 00:40
            ("health_0030_004000000.parquet", 45, 300), // the new boot, same window
            ("health_0045.parquet", 60, 1_200),
        ];
        for (name, minute, uptime) in rows {
            let mut row = HealthRow::new(T0 + minute * 60_000);
            row.uptime_s = uptime;
            put(
                dir.path(),
                &format!("{root}/{name}"),
                &row.encode().unwrap(),
            );
        }
        put(
            dir.path(),
            &format!("station={ID}/{DAY}/data_0000.parquet"),
            &data_file(T0, 180),
        );
        let mut lake = LocalLake::new(dir.path().to_path_buf());
        let options = ScanOptions {
            days: 7,
            now_ms: T0 + 86_400_000,
            at_ms: T0 + 86_400_000,
        };
        let scan = scan(&mut lake, &options, |_| {}).unwrap();
        assert!(scan.problems.is_empty(), "{:?}", scan.problems);
        assert_eq!(scan.health_rows, 5);
        let restarts = scan
            .fleet
            .station(ID)
            .unwrap()
            .total(|b| i64::from(b.restarts));
        assert_eq!(restarts, 1);
    }

    #[test]
    fn both_layouts_are_read_and_rows_in_both_count_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = format!("station={ID}/{DAY}");
        // Hour 0 as four window files, also merged into a daily file (an interrupted
        // compaction); hour 1 as a window file only.
        for q in 0..4 {
            let from = T0 + q * 900_000;
            put(
                dir.path(),
                &format!("{root}/data_00{:02}.parquet", q * 15),
                &data_file(from, 180),
            );
        }
        put(
            dir.path(),
            &format!("{root}/data_day.parquet"),
            &data_file(T0, 720),
        );
        put(
            dir.path(),
            &format!("{root}/data_0100.parquet"),
            &data_file(T0 + 3_600_000, 180),
        );
        put(dir.path(), &format!("station={ID}/stray.parquet"), b"PAR1");
        put(
            dir.path(),
            &format!("{root}/data_0115.parquet"),
            b"not parquet",
        );
        let mut health = HealthRow::new(T0 + 900_000);
        health.upload_failures = 2;
        health.uptime_s = 900;
        put(
            dir.path(),
            &format!("health/{root}/health_0000.parquet"),
            &health.encode().unwrap(),
        );

        let mut lake = LocalLake::new(dir.path().to_path_buf());
        let options = ScanOptions {
            days: 7,
            now_ms: T0 + 86_400_000,
            at_ms: T0 + 86_400_000,
        };
        let scan = scan(&mut lake, &options, |_| {}).unwrap();
        assert_eq!(scan.samples, 720 + 180);
        assert_eq!(scan.files, 8);
        assert_eq!(scan.health_rows, 1);
        assert_eq!(scan.problems.len(), 2, "{:?}", scan.problems);
        let p = scan.fleet.period().unwrap();
        assert_eq!(p.start_ms, T0);
        let hour0 = T0 / 3_600_000;
        assert!((scan.fleet.coverage(&p, ID, hour0).unwrap() - 1.0).abs() < 1e-9);
        let b = scan.fleet.bucket(ID, hour0).unwrap();
        assert_eq!(b.upload_failures, 2);
        assert!((b.mean(Measurement::Battery).unwrap() - 3.9).abs() < 1e-9);
    }
}
