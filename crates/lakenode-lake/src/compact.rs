//! Compaction: a station's window files of one UTC day become one daily file.
//!
//! Why: a station writes 96 files a day, and every file costs a query engine at least
//! one more request (measured: DuckDB answered an hourly average over 20 stations' window
//! files 8.5 times slower than over the same rows in daily files). Compaction keeps the
//! lake's layout (`station=<id>/year=/month=/day=/`) and replaces the day's
//! `data_HHMM*.parquet` by `data_day.parquet` (health files likewise in their own tree).
//!
//! Safe to kill at any instant, and idempotent:
//! 1. the daily file is written whole (a PUT, or a rename on disk, replaces atomically),
//!    and its footer lists each window file it holds with that file's MD5
//!    (`lakenode.sources`);
//! 2. its bytes were decoded and checked against its inputs, row for row and value for
//!    value, before it was written; once written (and durable: on a local lake a batch
//!    of station-days is synced at once, `compact/batch.rs`) it is read back and must equal
//!    those bytes;
//! 3. only then are the window files deleted.
//!
//! A run killed between 1 and 3 leaves window files whose rows are also in the daily
//! file: readers see those rows twice until the next run, which finds them listed in
//! `lakenode.sources` with the same MD5 and only deletes them. A window file that
//! arrives late is merged into the existing daily file. Files of different schemas (a
//! station reconfigured mid-day) are never mixed: each schema gets its own daily file
//! (`data_day.parquet`, then `data_day_s<schema hash>.parquet`).
//!
//! An instant held by two data files keeps one row: identical rows once, else the
//! first file's (the daily file, then windows in name order), the other file kept whole
//! as `_<name>.aside` ([`aside_name`]: hidden from Athena, Hive and Spark by its `_`,
//! from `*.parquet` globs by its suffix). One run per lake at a time: the command takes the lake's lock
//! ([`crate::lake::LakeStore::lock`]), and a daily file is only replaced if it is still
//! the one the run read ([`crate::lake::LakeStore::put_if`]).
//!
//! Two ways to build the daily file are implemented and were measured
//! (docs/compaction.md): decoding and re-encoding every row into one sorted row group
//! ([`Strategy::Rewrite`], the default for data files: 25% smaller files and DuckDB
//! 2.3 times faster over them, for 30% more compaction time), or copying each window's
//! column chunks as they are ([`Strategy::Copy`], one row group per window). Health
//! files are always re-encoded as one row group: a row group per window made their
//! footer ~100 KB.
//!
//! Each daily file's footer also holds the day's summary ([`crate::summary`]), from
//! which a report over months reads a day without its rows.
//!
//! ```no_run
//! use lakenode_lake::compact::{Options, Strategy, compact};
//! use lakenode_lake::lake::LocalLake;
//! let mut lake = LocalLake::new("lake".into());
//! let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
//! let options = Options {
//!     before: today,
//!     dry_run: false,
//!     strategy: Strategy::Rewrite,
//!     stop: None,
//!     jobs: 2,
//! };
//! let summary = compact(&mut lake, &options, &mut ())?;
//! println!("{} files became {}", summary.files_before, summary.files_after);
//! # Ok::<(), lakenode_lake::Error>(())
//! ```

use std::collections::BTreeMap;

use bytes::Bytes;
use jiff::civil::Date;
use lakenode::encode::WriterProfile;
use lakenode::health::HealthRow;
use lakenode::layout::{FileName, LakeKey, StationId, Tree};
use lakenode::sample::Sample;
use parquet::basic::Type as PhysicalType;

use crate::error::{Error, Result};
use crate::lake::LakeStore;
use crate::readback::{self, LakeFile};

mod batch;
mod overlap;
mod parallel;
pub mod pending;
mod write;
use write::{Footer, copy_row_groups, day_start_ms, day_summary, rewrite, rewrite_health};

/// Footer key listing the window files a daily file holds: one `<md5> <file name>` per
/// line.
pub const SOURCES_KEY: &str = "lakenode.sources";

/// How the daily file is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Strategy {
    /// Rows decoded and re-encoded into one row group, sorted by time (data files;
    /// health files are always one row group).
    Rewrite,
    /// Column chunks copied as they are: one row group per window file.
    Copy,
}

/// What to compact and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only UTC days before this one (the current day is still being written).
    pub before: Date,
    /// Report what would be done, change nothing.
    pub dry_run: bool,
    /// How to build daily files.
    pub strategy: Strategy,
    /// Set by a signal: stop after the station-day in progress.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Station-days compacted at once (1 to [`MAX_JOBS`]), each on a thread with its
    /// own handle ([`LakeStore::worker`]): memory holds at most this many station-days.
    /// 1, or a store without workers, compacts them one after the other.
    pub jobs: usize,
}

/// Most station-days compacted at once.
pub const MAX_JOBS: usize = 32;

/// Totals of a compaction run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Station-days (per tree and schema) compacted.
    pub station_days: usize,
    /// Files and bytes the compacted station-days held before.
    pub files_before: usize,
    /// Their bytes.
    pub bytes_before: u64,
    /// Files they hold after (one per station-day and schema).
    pub files_after: usize,
    /// Their bytes.
    pub bytes_after: u64,
    /// Rows in the daily files written.
    pub rows: u64,
    /// Window files deleted because an earlier, interrupted run had already merged them.
    pub already_merged: usize,
    /// Rows that repeated another file's row at the same instant, value for value,
    /// counted once.
    pub identical: u64,
    /// Rows that differed from another file's row at the same instant: the other's
    /// was kept, and the file holding them was kept whole as [`aside_name`].
    pub set_aside: u64,
    /// Station-days left alone, with the reason (unreadable file, conflicting copy).
    pub skipped: Vec<String>,
    /// Keys of the daily files written, with their sizes (their months' rollups are
    /// brought up to date: [`crate::rollup::refresh`]).
    pub written: BTreeMap<String, u64>,
    /// The daily files and monthly rollups of the lake as the run listed them before
    /// compacting: with [`Summary::written`], what [`crate::rollup::refresh`] needs,
    /// without listing the whole lake a second time.
    pub listing: Vec<(String, u64)>,
    /// The months whose rollups this run must bring up to date besides those of
    /// [`Summary::written`]: recorded in [`pending::ROLLUPS_PENDING`] before the run
    /// wrote anything, until [`pending::done`] (see [`pending::touched`]).
    pub pending_months: std::collections::BTreeSet<String>,
    /// A signal stopped the run before the last station-day.
    pub stopped: bool,
    /// Station-days a stop left for the next run (the one in progress included: its
    /// step was abandoned as a kill would have, which the next run finishes).
    pub left: usize,
}

impl Summary {
    /// Adds the totals of `other` (a worker's station-day) to these.
    fn absorb(&mut self, other: Self) {
        self.station_days += other.station_days;
        self.files_before += other.files_before;
        self.bytes_before += other.bytes_before;
        self.files_after += other.files_after;
        self.bytes_after += other.bytes_after;
        self.rows += other.rows;
        self.already_merged += other.already_merged;
        self.identical += other.identical;
        self.set_aside += other.set_aside;
        self.skipped.extend(other.skipped);
        self.written.extend(other.written);
        self.stopped |= other.stopped;
    }
}

/// What a compaction reports as it goes. The command draws a bar or logs lines; a
/// trait keeps the compaction itself free of terminal code. `()` reports nothing.
pub trait Progress {
    /// The lake is listed: `total` station-days are to be compacted.
    fn start(&mut self, total: usize);
    /// `done` of them are; `summary` holds the totals so far.
    fn advance(&mut self, done: usize, summary: &Summary);
}

impl Progress for () {
    fn start(&mut self, _: usize) {}
    fn advance(&mut self, _: usize, _: &Summary) {}
}

/// One file of a station-day.
#[derive(Debug, Clone)]
struct Object {
    name: String,
    size: u64,
}

/// The files of one station-day directory in one tree.
#[derive(Debug)]
struct DayDir {
    /// `[health/]station=<id>/year=/month=/day=` ([`LakeKey::dir`]).
    dir: String,
    /// Its tree, station and UTC day.
    tree: Tree,
    station: StationId,
    date: Date,
    windows: Vec<Object>,
    dailies: Vec<Object>,
}

/// Station-day directories before `before`, and the `.parquet` files under a station
/// tree that are not where or what the layout says (left alone, reported). Keys are
/// parsed by the core ([`LakeKey`]), which builds them.
fn plan(objects: Vec<(String, u64)>, before: Date) -> (BTreeMap<String, DayDir>, Vec<String>) {
    let mut dirs: BTreeMap<String, DayDir> = BTreeMap::new();
    let mut strays = Vec::new();
    for (key, size) in objects {
        let in_tree = key.starts_with("station=") || key.starts_with("health/station=");
        if !in_tree {
            continue;
        }
        let parsed = match LakeKey::parse(None, &key) {
            Ok(k) => k,
            Err(why) => {
                if key.ends_with(".parquet") {
                    strays.push(format!("{key}: {why}; left alone"));
                } else if is_old_aside(&key) {
                    tracing::warn!(
                        "{key}: set aside by an earlier lakenode under a name Athena, Hive and \
                         Spark read as part of the table; rename it with a leading `_` \
                         (docs/compaction.md)"
                    );
                }
                continue;
            }
        };
        if parsed.date >= before {
            continue;
        }
        let object = Object {
            name: parsed.file_name(),
            size,
        };
        let dir = parsed.dir();
        let day = dirs.entry(dir.clone()).or_insert_with(|| DayDir {
            dir,
            tree: parsed.tree,
            station: parsed.station.clone(),
            date: parsed.date,
            windows: Vec::new(),
            dailies: Vec::new(),
        });
        match parsed.file {
            FileName::Daily { .. } => day.dailies.push(object),
            FileName::Window(_) => day.windows.push(object),
        }
    }
    (dirs, strays)
}

/// Compacts every station-day before `options.before`, calling `progress` after each.
///
/// # Errors
/// Listing, reading or writing the lake failed, or the lake's lock was lost. A
/// station-day whose files cannot be read, whose window file conflicts with what its
/// daily file recorded, or whose daily file another run replaced meanwhile, is skipped
/// and reported in [`Summary::skipped`], never half-done.
pub fn compact(
    lake: &mut dyn LakeStore,
    options: &Options,
    progress: &mut dyn Progress,
) -> Result<Summary> {
    let listing = lake.list("")?;
    // What the rollups' refresh needs of it (it parses the keys itself).
    let kept: Vec<(String, u64)> = listing
        .iter()
        .filter(|(k, _)| k.ends_with("_day.parquet") || k.starts_with(lakenode::layout::ROLLUP_DIR))
        .cloned()
        .collect();
    let (dirs, strays) = plan(listing, options.before);
    // Every finished day with a window file becomes its daily file, a lone window file
    // too: a past day is then one file with its footer's summary (what long reports and
    // the monthly rollups read), whatever the time of day the stations started.
    let worth_it = |files: &DayDir| !files.windows.is_empty();
    let total = dirs.values().filter(|f| worth_it(f)).count();
    progress.start(total);
    let mut summary = Summary {
        listing: kept,
        ..Summary::default()
    };
    for why in lake.anomalies().into_iter().chain(strays) {
        tracing::warn!("{why}");
        summary.skipped.push(why);
    }
    if !options.dry_run {
        summary.pending_months = leftovers(lake, dirs.values().filter(|f| worth_it(f)))?;
    }
    // A store with worker handles (a local lake, a bucket given transports for them)
    // compacts station-days in parallel.
    let jobs = options.jobs.clamp(1, MAX_JOBS).min(total);
    let handles: Vec<_> = if jobs > 1 {
        (0..jobs).map_while(|_| lake.worker()).collect()
    } else {
        Vec::new()
    };
    if handles.len() > 1 {
        let days = dirs.into_values().filter(|f| worth_it(f)).collect();
        parallel::run(lake, handles, days, options, &mut summary, progress)?;
        return Ok(summary);
    }
    // One after the other on this handle, in batches as the workers do.
    let halt = std::sync::atomic::AtomicBool::new(false);
    let mut collector = batch::Collector {
        done: 0,
        first_error: None,
        halt: &halt,
    };
    let mut days = dirs.into_values().filter(|f| worth_it(f));
    let mut next = || {
        let stop = options
            .stop
            .as_ref()
            .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed));
        if stop || halt.load(std::sync::atomic::Ordering::Relaxed) {
            return None;
        }
        days.next()
    };
    let mut report = |done: batch::Done| {
        collector.take(done, &mut summary, progress);
        true
    };
    batch::work(lake, &mut next, options, true, &halt, &mut report);
    if let Some(e) = collector.first_error {
        return Err(e);
    }
    summary.left = total - collector.done;
    summary.stopped = summary.left > 0;
    Ok(summary)
}

/// Removes the temporaries a killed run left, and records (before any daily file is
/// written) the months whose rollups this run must bring up to date: those of `days`
/// and those an earlier run left pending ([`pending`]).
fn leftovers<'a>(
    lake: &mut dyn LakeStore,
    days: impl Iterator<Item = &'a DayDir>,
) -> Result<std::collections::BTreeSet<String>> {
    let removed = lake.remove_dead_temporaries();
    let marker = pending::read(lake)?;
    if let Some(why) = marker.warning() {
        tracing::warn!("{why}");
    }
    let listed = marker.months;
    let mut months = listed.clone();
    for key in removed {
        tracing::info!("removed {key}, a temporary left by a run that was killed");
        months.extend(pending::month_of_temporary(&key));
    }
    months.extend(days.map(|d| format!("{:04}-{:02}", d.date.year(), d.date.month())));
    if months != listed || !marker.unreadable.is_empty() || (marker.present && listed.is_empty()) {
        if months.is_empty() {
            // A marker that names no month (empty, or only lines that are not months):
            // `pending::done` removes the marker only after a run with pending months.
            lake.delete(pending::ROLLUPS_PENDING)?;
        } else {
            pending::write(lake, &months)?;
        }
    }
    Ok(months)
}

/// Why a station-day was not compacted.
enum DayError {
    /// Left alone, the run goes on.
    Skip(String),
    /// The lake itself failed; stop.
    Fatal(Error),
}

impl From<Error> for DayError {
    fn from(e: Error) -> Self {
        Self::Fatal(e)
    }
}

/// A file of the day, opened and validated.
struct Input {
    name: String,
    size: u64,
    md5: String,
    /// The lake's tag of the bytes read (S3's ETag), for a conditional replace.
    tag: String,
    bytes: Bytes,
    file: LakeFile,
    schema: String,
    /// The rows as samples (data files), decoded once and shared by the checks, the
    /// rewrite and the verification.
    decoded: std::cell::OnceCell<Result<Vec<Sample>, String>>,
    /// The rows of a health file, likewise decoded once (by the generic row reader,
    /// the slowest part of compacting a health day when it ran four times).
    health: std::cell::OnceCell<Result<Vec<HealthRow>, String>>,
}

impl Input {
    fn samples(&self) -> Result<&[Sample], String> {
        self.decoded
            .get_or_init(|| samples_of(&self.file))
            .as_deref()
            .map_err(|e| format!("{}: {e}", self.name))
    }

    fn health_rows(&self) -> Result<&[HealthRow], String> {
        self.health
            .get_or_init(|| health_rows_of(&self.file))
            .as_deref()
            .map_err(|e| format!("{}: {e}", self.name))
    }
}

/// Opens a file of the day, refused if its bytes are not the ones the store recorded
/// ([`LakeStore::get_checked`]). `tagged`: with the lake's tag of its bytes (a daily
/// file, which is only replaced if it still has it); a window file's MD5 serves instead.
fn open_input(
    lake: &mut dyn LakeStore,
    dir: &str,
    o: &Object,
    tagged: bool,
) -> Result<Input, DayError> {
    let key = format!("{dir}/{}", o.name);
    // Its bytes must be the ones the store recorded: damaged ones would be baked into
    // the daily file and the original deleted (F4). Such a file is left as it is.
    let fetched = match lake.get_checked(&key) {
        Ok(f) => f,
        Err(Error::Damaged(why)) => return Err(DayError::Skip(format!("{why}; left as it is"))),
        Err(e) => return Err(e.into()),
    };
    let tag = if tagged { fetched.tag } else { String::new() };
    let md5 = fetched.md5;
    let bytes = Bytes::from(fetched.body);
    let file =
        readback::open(bytes.clone()).map_err(|e| DayError::Skip(format!("{}: {e}", o.name)))?;
    let schema = schema_fingerprint(&file);
    Ok(Input {
        name: o.name.clone(),
        size: o.size,
        md5,
        tag,
        bytes,
        file,
        schema,
        decoded: std::cell::OnceCell::new(),
        health: std::cell::OnceCell::new(),
    })
}

/// A data window must be lakenode's and of the station whose directory holds it: its
/// rows would otherwise be given that station's metadata in the daily file (a lone
/// window file is compacted too, so nothing else would notice).
fn owned_by(station: &StationId, input: &Input) -> Result<(), DayError> {
    match lakenode::encode::FileMetadata::from_key_values(&input.file.key_values()) {
        Err(e) => Err(DayError::Skip(format!(
            "{}: not lakenode's (its `lakenode` metadata: {e})",
            input.name
        ))),
        Ok(m) if &m.station != station => Err(DayError::Skip(format!(
            "{}: a file of station {}, not of this directory's",
            input.name, m.station
        ))),
        Ok(_) => Ok(()),
    }
}

/// A short hash of the file's Parquet schema (names, types, annotations).
fn schema_fingerprint(file: &LakeFile) -> String {
    let mut text = Vec::new();
    parquet::schema::printer::print_schema(
        &mut text,
        file.metadata().file_metadata().schema_descr().root_schema(),
    );
    lakenode::digest::md5_hex(&text)[..8].to_owned()
}

/// (md5, file name) pairs a daily file lists as merged.
fn sources_of(file: &LakeFile) -> BTreeMap<String, String> {
    file.key_values()
        .into_iter()
        .filter(|(k, _)| k == SOURCES_KEY)
        .flat_map(|(_, v)| {
            v.lines()
                .filter_map(|l| l.split_once(' '))
                .map(|(md5, name)| (name.to_owned(), md5.to_owned()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A station-day's daily file, built and checked, not yet written: `batch::commit` writes
/// a batch of them, then deletes their window files.
struct Staged {
    /// The daily file (none if every window file was already merged).
    put: Option<StagedPut>,
    /// The window files whose rows it holds, deleted once it is written and durable.
    deletes: Vec<String>,
    /// The totals this adds once done.
    part: Summary,
}

/// A daily file to write.
struct StagedPut {
    key: String,
    /// Its name in the directory.
    target: String,
    body: Bytes,
    /// The tag of the daily file it replaces (`None`: there was none).
    expected: Option<String>,
    /// That daily file's bytes, put back if the lake's copy of `body` differs.
    restore: Option<Bytes>,
}

/// Builds and checks a station-day's daily files (one per schema), writing nothing
/// but the copies set aside.
fn compact_day(
    lake: &mut dyn LakeStore,
    files: &DayDir,
    options: &Options,
) -> Result<Vec<Staged>, DayError> {
    let dir = files.dir.as_str();
    let mut dailies = Vec::new();
    for o in &files.dailies {
        dailies.push(open_input(lake, dir, o, true)?);
    }
    let mut windows = Vec::new();
    for o in &files.windows {
        let input = open_input(lake, dir, o, false)?;
        if files.tree == Tree::Data {
            owned_by(&files.station, &input)?;
        }
        windows.push(input);
    }
    // Schemas in the order they first appear (daily files first: they keep their name).
    let mut schemas: Vec<String> = Vec::new();
    for i in dailies.iter().chain(&windows) {
        if !schemas.contains(&i.schema) {
            schemas.push(i.schema.clone());
        }
    }
    warn_mixed_profiles(dir, dailies.iter().chain(&windows));
    if files.tree == Tree::Data && schemas.len() > 1 {
        overlap::warn_across_schemas(dir, dailies.iter().chain(&windows));
    }
    let plain = FileName::Daily { schema: None }.name(files.tree);
    let mut plain_taken = dailies.iter().any(|d| d.name == plain);
    let mut staged = Vec::new();
    for schema in schemas {
        let daily = dailies.iter().find(|d| d.schema == schema);
        let group: Vec<&Input> = windows.iter().filter(|w| w.schema == schema).collect();
        if group.is_empty() {
            continue;
        }
        let target = match daily {
            Some(d) => d.name.clone(),
            None if !plain_taken => {
                plain_taken = true;
                plain.clone()
            }
            None => FileName::Daily {
                schema: Some(schema),
            }
            .name(files.tree),
        };
        staged.push(compact_group(lake, files, &target, daily, &group, options)?);
    }
    Ok(staged)
}

/// The writer profile of a data file: `compact` if its first measurement is INT32.
fn profile_of(file: &LakeFile) -> Option<WriterProfile> {
    let descr = file.metadata().file_metadata().schema_descr();
    match descr.columns().get(1)?.physical_type() {
        PhysicalType::INT32 => Some(WriterProfile::Compact),
        PhysicalType::FLOAT => Some(WriterProfile::Compat),
        _ => None,
    }
}

/// Files of both writer profiles in one station-day (a station restarted with another
/// `--profile` and a fresh spool, which `run` cannot notice): their schemas differ, so
/// each gets its own daily file and no file mixes them, but the prefix now holds both,
/// which readers taking one schema for the lake refuse. Said once per day.
fn warn_mixed_profiles<'a>(dir: &str, inputs: impl Iterator<Item = &'a Input>) {
    let mut seen: Vec<(WriterProfile, &str)> = Vec::new();
    for i in inputs {
        if let Some(p) = profile_of(&i.file)
            && !seen.iter().any(|(q, _)| *q == p)
        {
            seen.push((p, &i.name));
        }
    }
    if let [(a, a_file), (b, b_file), ..] = seen.as_slice() {
        tracing::warn!(
            "{dir}: holds files of both writer profiles ({} in {a_file}, {} in {b_file}); \
             each profile is compacted into its own daily file, never mixed, but one prefix \
             should hold one profile: readers given one schema for the lake fail on the \
             other (docs/lake.md, \"One profile per prefix\")",
            a.name(),
            b.name()
        );
    }
}

#[allow(clippy::too_many_lines)]
fn compact_group(
    lake: &mut dyn LakeStore,
    day: &DayDir,
    target: &str,
    daily: Option<&Input>,
    group: &[&Input],
    options: &Options,
) -> Result<Staged, DayError> {
    let (dir, tree) = (day.dir.as_str(), day.tree);
    let merged = daily.map(|d| sources_of(&d.file)).unwrap_or_default();
    let mut fresh: Vec<&Input> = Vec::new();
    let mut already = Vec::new();
    for w in group {
        match merged.get(&w.name) {
            Some(md5) if *md5 == w.md5 => already.push(*w),
            Some(_) => {
                return Err(DayError::Skip(format!(
                    "{} differs from the copy already merged into {target}; left for a person to look at",
                    w.name
                )));
            }
            None => fresh.push(w),
        }
    }
    // Windows in time order (their names sort by time).
    fresh.sort_by(|a, b| a.name.cmp(&b.name));
    let files_before = group.len() + usize::from(daily.is_some());
    let bytes_before: u64 = group.iter().map(|w| w.size).sum::<u64>() + daily.map_or(0, |d| d.size);
    if options.dry_run {
        let part = Summary {
            station_days: 1,
            files_before,
            bytes_before,
            files_after: 1,
            ..Summary::default()
        };
        return Ok(Staged {
            put: None,
            deletes: Vec::new(),
            part,
        });
    }
    // Before anything is written: every input's rows belong to this day; windows an
    // interrupted run merged are really in the daily file.
    let inputs: Vec<&Input> = daily.into_iter().chain(fresh.iter().copied()).collect();
    let bounds =
        day_bounds(day.date).ok_or_else(|| DayError::Skip("not a day directory".into()))?;
    check_inputs(tree, &inputs, bounds).map_err(DayError::Skip)?;
    if let Some(d) = daily {
        check_contained(lake, dir, tree, &already, d)?;
    }
    // An instant in two data files: identical rows once, else the first file's row,
    // and the other file kept whole beside the day.
    let resolved = if tree == Tree::Data && !fresh.is_empty() {
        Some(resolve(&inputs).map_err(DayError::Skip)?)
    } else {
        None
    };
    if let Some(r) = &resolved {
        for (name, (rows, winner, first)) in &r.lost {
            let Some(w) = fresh.iter().find(|w| &w.name == name) else {
                continue;
            };
            // A copy an earlier version wrote under the old name (a run it left
            // unfinished) is kept as it is: one copy, not two.
            let kept = match aside_copy_md5(lake, dir, name, OLD_ASIDE_PREFIX)? {
                Some(md5) if md5 == w.md5 => format!("{name}{ASIDE_SUFFIX}"),
                _ => {
                    let aside = aside_name(name);
                    let key = format!("{dir}/{aside}");
                    if !lake.put_if(&key, w.bytes.to_vec(), None)?
                        && lakenode::digest::md5_hex(&lake.get(&key)?) != w.md5
                    {
                        return Err(DayError::Skip(format!(
                            "{name} must be set aside, but {aside} already holds other \
                             bytes; left for a person to look at"
                        )));
                    }
                    aside
                }
            };
            tracing::warn!(
                "{dir}: {name} holds {rows} row(s) at instants {winner} also holds, with other \
                 values (the first at {}); {winner}'s were kept, and {name} is kept whole as \
                 {kept}",
                lakenode::layout::rfc3339(*first)
            );
        }
    }
    let duplicates = resolved
        .as_ref()
        .is_some_and(|r| r.identical > 0 || !r.lost.is_empty());
    let mut part = Summary::default();
    let mut put = None;
    if !fresh.is_empty() {
        let mut sources: BTreeMap<String, String> = merged.clone();
        for w in &fresh {
            sources.insert(w.name.clone(), w.md5.clone());
        }
        let sources_text: String = sources
            .iter()
            .map(|(name, md5)| format!("{md5} {name}\n"))
            .collect();
        let footer = Footer {
            sources: &sources_text,
            summary: day_summary(tree, day, &inputs, resolved.as_ref())?,
        };
        // Row groups cannot be copied without the rows they repeat: such a day is
        // rewritten whatever the strategy.
        let body = match (&resolved, options.strategy) {
            _ if tree == Tree::Health => rewrite_health(day, &inputs, &footer)?,
            (Some(r), Strategy::Rewrite) => rewrite(day, &inputs, &r.samples, &footer)?,
            (Some(r), Strategy::Copy) if duplicates => rewrite(day, &inputs, &r.samples, &footer)?,
            _ => copy_row_groups(&inputs, &footer, day)?,
        };
        // Checked against the inputs before it is written: decoded from these bytes,
        // which the lake's copy must then equal byte for byte (`batch::commit`).
        let body = Bytes::from(body);
        let rows = readback::open(body.clone())
            .map_err(|e| e.to_string())
            .and_then(|out| {
                let want = resolved.as_ref().map(|r| r.samples.as_slice());
                verify(tree, &inputs, want, &out).map(|()| out.rows())
            })
            .map_err(|why| {
                DayError::Skip(format!(
                    "the daily file failed its check ({why}); nothing was written, the \
                     window files are kept"
                ))
            })?;
        let key = format!("{dir}/{target}");
        let written = body.len() as u64;
        part.rows += rows;
        part.bytes_after += written;
        part.written.insert(key.clone(), written);
        put = Some(StagedPut {
            key,
            target: target.to_owned(),
            body,
            expected: daily.map(|d| d.tag.clone()),
            restore: daily.map(|d| d.bytes.clone()),
        });
    } else if let Some(d) = daily {
        part.rows += d.file.rows();
        part.bytes_after += d.size;
    }
    if let Some(r) = &resolved {
        part.identical += r.identical;
        part.set_aside += r.lost.values().map(|(rows, _, _)| rows).sum::<u64>();
    }
    part.already_merged += already.len();
    part.station_days += 1;
    part.files_before += files_before;
    part.bytes_before += bytes_before;
    part.files_after += 1;
    Ok(Staged {
        put,
        deletes: group.iter().map(|w| format!("{dir}/{}", w.name)).collect(),
        part,
    })
}

/// [start, end) of a UTC day, in ms.
fn day_bounds(date: Date) -> Option<(i64, i64)> {
    Some((day_start_ms(date)?, day_start_ms(date.tomorrow().ok()?)?))
}

/// The instants of a file's rows: sample times, or health rows' times.
fn instants(tree: Tree, input: &Input) -> Result<Vec<i64>, String> {
    Ok(match tree {
        Tree::Data => input.samples()?.iter().map(|s| s.timestamp_ms).collect(),
        Tree::Health => input
            .health_rows()?
            .iter()
            .map(|r| r.timestamp_ms)
            .collect(),
    })
}

/// Every input's rows lie in the day (a health row's time is its window's end, so the
/// day's end is allowed there).
fn check_inputs(tree: Tree, inputs: &[&Input], (start, end): (i64, i64)) -> Result<(), String> {
    for input in inputs {
        for t in instants(tree, input).map_err(|e| format!("{}: {e}", input.name))? {
            let inside = t >= start && (t < end || (tree == Tree::Health && t == end));
            if !inside {
                return Err(format!(
                    "{} holds a row of {}, outside its partition's day",
                    input.name,
                    lakenode::layout::rfc3339(t)
                ));
            }
        }
    }
    Ok(())
}

/// The prefix of the whole-file copy of a window whose rows lost to another file's at
/// the same instants ([`aside_name`]): Athena, Hive, Trino and Spark skip every object
/// whose name starts with `_` or `.` (and read every other one in a table's location,
/// whatever its name); `.` would also hide it from lakenode's own listing of a local lake.
pub const ASIDE_PREFIX: &str = "_";

/// The suffix of that copy: not `*.parquet`, so no glob (DuckDB, Polars, pyarrow
/// recipes) reads it either.
pub const ASIDE_SUFFIX: &str = ".aside";

/// The prefix lakenode before 2026-12-04 gave that copy: none (`<name>.aside`, read by
/// Athena as part of the table). Still recognised, never written.
const OLD_ASIDE_PREFIX: &str = "";

/// The name of the whole-file copy of window file `name` that lost rows to another
/// file's at the same instants: `_data_0359_035901.parquet.aside`.
#[must_use]
pub fn aside_name(name: &str) -> String {
    format!("{ASIDE_PREFIX}{name}{ASIDE_SUFFIX}")
}

/// Whether `key` is a copy set aside under the name earlier versions gave it.
fn is_old_aside(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key);
    name.ends_with(&format!(".parquet{ASIDE_SUFFIX}")) && !name.starts_with(ASIDE_PREFIX)
}

/// The MD5 of the copy of `name` set aside in `dir` under `prefix`, if there is one.
fn aside_copy_md5(
    lake: &mut dyn LakeStore,
    dir: &str,
    name: &str,
    prefix: &str,
) -> Result<Option<String>, DayError> {
    match lake.get(&format!("{dir}/{prefix}{name}{ASIDE_SUFFIX}")) {
        Ok(b) => Ok(Some(lakenode::digest::md5_hex(&b))),
        Err(e) if crate::lake::is_not_found(&e) => Ok(None),
        Err(e) => Err(DayError::Fatal(e)),
    }
}

/// The data rows of a day under the rule for an instant in two files: rows identical
/// value for value count once; of rows that differ, the first input's is kept (the
/// daily file, then the windows in name order: `data_0359.parquet` before its restart
/// part `data_0359_035901.parquet`).
#[derive(Debug, Default)]
struct Resolved {
    /// One row per instant, in time order.
    samples: Vec<Sample>,
    /// Rows that repeated a kept row exactly.
    identical: u64,
    /// Per input that lost rows: how many, to which input, and the first instant.
    lost: BTreeMap<String, (u64, String, i64)>,
}

fn resolve(inputs: &[&Input]) -> Result<Resolved, String> {
    let mut kept: BTreeMap<i64, (&Sample, &str)> = BTreeMap::new();
    let mut out = Resolved::default();
    for input in inputs {
        for s in input.samples()? {
            match kept.get(&s.timestamp_ms) {
                None => {
                    kept.insert(s.timestamp_ms, (s, &input.name));
                }
                Some((k, _)) if *k == s => out.identical += 1,
                Some((_, winner)) => {
                    let e = out.lost.entry(input.name.clone()).or_insert((
                        0,
                        (*winner).to_owned(),
                        s.timestamp_ms,
                    ));
                    e.0 += 1;
                }
            }
        }
    }
    out.samples = kept.into_values().map(|(s, _)| *s).collect();
    Ok(out)
}

/// The rows of `windows` (merged by an interrupted run, by their names and MD5s) are
/// all in `daily`, value for value, or the window lost them by the rule for an instant
/// in two files and its aside copy ([`aside_name`], or the older `<name>.aside`) is
/// there: only then may they be deleted.
fn check_contained(
    lake: &mut dyn LakeStore,
    dir: &str,
    tree: Tree,
    windows: &[&Input],
    daily: &Input,
) -> Result<(), DayError> {
    if windows.is_empty() {
        return Ok(());
    }
    let missing = |w: &Input| {
        format!(
            "{} is listed as merged into {} but its rows are not all there",
            w.name, daily.name
        )
    };
    if tree == Tree::Data {
        let have: BTreeMap<i64, &Sample> = daily
            .samples()
            .map_err(DayError::Skip)?
            .iter()
            .map(|s| (s.timestamp_ms, s))
            .collect();
        for w in windows {
            let mut differs = false;
            for s in w.samples().map_err(DayError::Skip)? {
                match have.get(&s.timestamp_ms) {
                    None => return Err(DayError::Skip(missing(w))),
                    Some(h) if *h != s => differs = true,
                    Some(_) => {}
                }
            }
            if differs {
                // Under its name, or the one an earlier version gave it.
                let mut copied = false;
                for prefix in [ASIDE_PREFIX, OLD_ASIDE_PREFIX] {
                    if aside_copy_md5(lake, dir, &w.name, prefix)?.as_deref()
                        == Some(w.md5.as_str())
                    {
                        copied = true;
                        break;
                    }
                }
                if !copied {
                    return Err(DayError::Skip(missing(w)));
                }
            }
        }
    } else {
        let have = daily.health_rows().map_err(DayError::Skip)?;
        for w in windows {
            if w.health_rows()
                .map_err(DayError::Skip)?
                .iter()
                .any(|r| !have.contains(r))
            {
                return Err(DayError::Skip(missing(w)));
            }
        }
    }
    Ok(())
}

/// Checks the daily file holds exactly the inputs' rows: for data files every sample of
/// `want` (the rows kept by the rule for an instant in two files; time and each value
/// at sensor resolution, in time order), for health files every row field by field in
/// order.
fn verify(
    tree: Tree,
    inputs: &[&Input],
    want: Option<&[Sample]>,
    out: &LakeFile,
) -> Result<(), String> {
    let expected_rows: u64 = match want {
        Some(w) => w.len() as u64,
        None => inputs.iter().map(|i| i.file.rows()).sum(),
    };
    if out.rows() != expected_rows {
        return Err(format!(
            "{} rows written, {expected_rows} expected",
            out.rows()
        ));
    }
    if tree == Tree::Data {
        // The resolved rows are in time order already (and most often the whole).
        let want: std::borrow::Cow<'_, [Sample]> = match want {
            Some(w) => w.into(),
            None => {
                let mut all = Vec::new();
                for i in inputs {
                    all.extend_from_slice(i.samples()?);
                }
                all.sort_by_key(|s| s.timestamp_ms);
                all.into()
            }
        };
        let mut got = samples_of(out)?;
        got.sort_by_key(|s| s.timestamp_ms);
        if got
            .windows(2)
            .any(|w| w[0].timestamp_ms == w[1].timestamp_ms)
        {
            return Err("a timestamp appears twice".into());
        }
        let want = want.as_ref();
        if got != want {
            let at = got
                .iter()
                .zip(want.iter())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            return Err(format!("row {at} differs from its source"));
        }
    } else {
        let mut want: Vec<HealthRow> = Vec::new();
        for i in inputs {
            want.extend_from_slice(i.health_rows()?);
        }
        if health_rows_of(out)? != want {
            return Err("a health row differs from its source".into());
        }
    }
    Ok(())
}

/// A data file's samples, by the column reader.
fn samples_of(file: &LakeFile) -> Result<Vec<Sample>, String> {
    let mut all = Vec::new();
    file.for_each_batch(|batch| all.extend_from_slice(batch))
        .map_err(|e| e.to_string())?;
    Ok(all)
}

/// A health file's rows, decoded by the core ([`HealthRow::from_row`]).
fn health_rows_of(file: &LakeFile) -> Result<Vec<HealthRow>, String> {
    file.rows_generic()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|row| HealthRow::from_row(row).map_err(|e| e.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::write::day_metadata;
    use super::*;

    #[test]
    fn plan_groups_by_station_day_and_skips_today() {
        let st = "station=0190f5c2-0000-7000-8000-000000000001";
        let listing = vec![
            (
                format!("{st}/year=2026/month=11/day=25/data_0000.parquet"),
                1,
            ),
            (
                format!("{st}/year=2026/month=11/day=25/data_0015.parquet"),
                1,
            ),
            (
                format!("{st}/year=2026/month=11/day=25/data_day.parquet"),
                1,
            ),
            (format!("{st}/year=2026/month=11/day=25/notes.txt"), 1),
            (format!("{st}/year=2026/month=11/day=25/data_12.parquet"), 1),
            (
                format!("raw/{st}/year=2026/month=11/day=25/data_0000.parquet"),
                1,
            ),
            (
                format!("health/{st}/year=2026/month=11/day=25/health_0000.parquet"),
                1,
            ),
            (
                format!("{st}/year=2026/month=11/day=26/data_0000.parquet"),
                1,
            ),
        ];
        let before = Date::new(2026, 11, 26).unwrap();
        let (dirs, strays) = plan(listing, before);
        assert_eq!(dirs.len(), 2);
        assert_eq!(strays.len(), 1, "{strays:?}"); // data_12; raw/ is outside the tree
        let data = &dirs[&format!("{st}/year=2026/month=11/day=25")];
        assert_eq!((data.windows.len(), data.dailies.len()), (2, 1));
        let health = &dirs[&format!("health/{st}/year=2026/month=11/day=25")];
        assert_eq!(health.windows.len(), 1);
    }

    /// The daily file's footer: the whole day, the window file's interval (with any
    /// spacing: decoded by the core), 5 s if the window's footer does not decode.
    #[test]
    fn the_day_meta_covers_the_whole_day() {
        let st = "0190f5c2-0000-7000-8000-000000000001";
        let key = format!("station={st}/year=2026/month=11/day=25/data_0000.parquet");
        let (dirs, _) = plan(vec![(key, 1)], Date::new(2026, 11, 26).unwrap());
        let day = dirs.values().next().unwrap();
        let window = format!(
            r#"{{"station": "{st}", "schema": 1, "interval_ms" : 10000, "start": "2026-11-25T00:00:00Z", "end": "2026-11-25T00:15:00Z"}}"#
        );
        let json = day_metadata(day, &window).unwrap().to_json();
        assert!(
            json.contains(
                r#""interval_ms":10000,"start":"2026-11-25T00:00:00Z","end":"2026-11-26T00:00:00Z""#
            ),
            "{json}"
        );
        assert!(json.contains(st), "{json}");
        let fallback = day_metadata(day, r#"{"interval_ms": "10000"}"#).unwrap();
        assert_eq!(fallback.interval_ms, 5_000);
    }

    /// A marker holding lines that name no month is warned about and left with only the
    /// months it names, or removed if it names none (before, it was read as "nothing
    /// pending" and kept forever, unremarked).
    #[test]
    fn a_marker_with_lines_that_name_no_month_is_rewritten_or_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut lake = crate::lake::LocalLake::new(dir.path().to_path_buf());
        let marker = dir.path().join(pending::ROLLUPS_PENDING);
        std::fs::write(&marker, b"\x00\xffgarbage\n2026-1\n").unwrap();
        let read = pending::read(&mut lake).unwrap();
        assert_eq!(read.unreadable.len(), 2);
        let why = read.warning().unwrap();
        assert!(why.contains("2 line(s) that name no month"), "{why}");
        assert!(leftovers(&mut lake, std::iter::empty()).unwrap().is_empty());
        assert!(!marker.exists(), "a marker naming no month is removed");

        std::fs::write(&marker, b"2026-11\nnot a month\n\n").unwrap();
        let months = leftovers(&mut lake, std::iter::empty()).unwrap();
        assert_eq!(months.into_iter().collect::<Vec<_>>(), ["2026-11"]);
        assert_eq!(std::fs::read(&marker).unwrap(), b"2026-11\n");
        let clean = pending::read(&mut lake).unwrap();
        assert_eq!((clean.unreadable.len(), clean.warning()), (0, None));

        // An empty marker (adversary review 3): removed, not kept for ever.
        std::fs::write(&marker, b"").unwrap();
        assert!(leftovers(&mut lake, std::iter::empty()).unwrap().is_empty());
        assert!(!marker.exists(), "an empty marker is removed");
    }
}
