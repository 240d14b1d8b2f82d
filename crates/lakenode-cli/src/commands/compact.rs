//! `lakenode compact`: window files of past UTC days become one daily file per
//! station, in a local lake or an S3 bucket (see [`lakenode_lake::compact`]).

use std::time::{Duration, Instant};

use clap::Args;
use jiff::civil::Date;
use lakenode_lake::compact::{Options, Progress, Strategy, Summary, compact, pending};
use lakenode_lake::lake::LakeStore;
use lakenode_lake::lake::hooked::{Change, Hooked, LakeHooks, Passes};

use crate::error::{CliError, CliResult};
use crate::lake_args::LakeArgs;
use crate::progress::Meter;

/// `--before`: a date, refused by clap (exit 2, like every command-line error) when it
/// is not one.
fn parse_before(text: &str) -> Result<Date, String> {
    text.parse::<Date>()
        .map_err(|e| format!("not a date like 2026-11-26 ({e})"))
}

/// `lakenode compact`.
#[derive(Debug, Clone, Args)]
pub struct CompactArgs {
    /// The lake: --lake DIR, or --endpoint/--bucket.
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Compact only UTC days before this date (YYYY-MM-DD); default: today (UTC), which
    /// is still being written.
    #[arg(long, value_name = "DATE", value_parser = parse_before)]
    pub before: Option<Date>,
    /// Show what would be compacted, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How daily files are built: `rewrite` re-encodes the day into one sorted row group
    /// (data files; health files are always copied); `copy` keeps each window's column
    /// chunks as they are (one row group per window). Rewrite measured 18% smaller and
    /// 4.2x faster to query, for 35% more compaction time (docs/compaction.md,
    /// 2026-12-03).
    #[arg(long, value_enum, default_value = "rewrite")]
    pub strategy: Strategy,
    /// Station-days compacted at once, 1 to 32 (memory holds one station-day per job)
    /// [default: 8 on a bucket, whose requests wait on the network; two per core, at
    /// most 8, on a directory].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub jobs: Option<u16>,
}

/// The default of `--jobs`: a bucket's station-days mostly wait on the network, a
/// directory's on the cores and the disk: two per core, so that one worker's unlink
/// or fsync waits while the other's decoding runs (measured on a 100-station demo day,
/// 2 cores under load: 2 jobs 17.2 and 19.8 s, 4 jobs 10.3 and 9.5 s, the same CPU).
#[must_use]
pub fn default_jobs(bucket: bool) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if bucket { 8 } else { (2 * cores).min(8) }
}

/// Runs `lakenode compact`.
///
/// # Errors
/// Invalid flags, or a lake that cannot be listed, read or written; the lake locked by
/// another compaction ([`CliError::Locked`], exit 7). A station-day that cannot be
/// compacted safely is skipped with a warning, and the run exits 1 at the end. Stopped
/// by SIGTERM or Ctrl-C ([`CliError::Interrupted`], exit 4), the lock is released.
pub fn run(args: &CompactArgs) -> CliResult<()> {
    let _ = crate::signals::stop_flag();
    let before = args.before.unwrap_or_else(|| {
        jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date()
    });
    let mut lake = args.lake.open()?;
    // Test hook for the kill-at-every-step tests: abort (as a kill -9 would end the
    // process) right after the Nth change to the lake. Test builds only (the tests run
    // the debug binary): a release binary ignores the test hooks.
    if let Some(n) = cfg!(debug_assertions)
        .then(|| std::env::var("LAKENODE_TEST_ABORT_AFTER_CHANGES"))
        .and_then(Result::ok)
        .and_then(|v| v.parse().ok())
    {
        lake = Box::new(Hooked::new(lake, AbortAfter { left: n }));
    }
    // Test hook for the concurrency tests: before the first change to the lake (the
    // day listed and read), create this file and wait until it is removed, so that
    // another run can change the lake in between.
    if let Some(path) = cfg!(debug_assertions)
        .then(|| std::env::var("LAKENODE_TEST_PAUSE_BEFORE_WRITING"))
        .and_then(Result::ok)
    {
        lake = Box::new(Hooked::new(
            lake,
            PauseBeforeWriting {
                flag: Some(path.into()),
            },
        ));
    }
    let started = Instant::now();
    println!(
        "lakenode compact: {} days before {before}{}",
        lake.describe(),
        if args.dry_run {
            " (dry run: nothing is changed)"
        } else {
            ""
        }
    );
    let options = Options {
        before,
        dry_run: args.dry_run,
        strategy: args.strategy,
        stop: Some(crate::signals::stop_flag()),
        jobs: args
            .jobs
            .map_or_else(|| default_jobs(args.lake.lake.is_none()), usize::from),
    };
    // One compaction at a time: a second one could replace a daily file with one
    // built from an older listing (docs/compaction.md, "Two runs at once").
    if !args.dry_run {
        lake.lock()?;
    }
    let result = compact(lake.as_mut(), &options, &mut Bar::default());
    // The months' rollups, still under the lock (a second run could otherwise write an
    // older listing's rollup over this one's).
    if let Ok(done) = &result
        && !args.dry_run
        && !done.stopped
    {
        refresh_rollups(lake.as_mut(), done);
    }
    // Released after a stop too (SIGTERM, Ctrl-C), so that the next run can start at once.
    if let Err(e) = lake.unlock() {
        tracing::warn!("releasing the compaction lock: {e}");
    }
    let summary = result?;
    print_summary(&summary, started.elapsed(), args.dry_run);
    if summary.stopped {
        Err(CliError::Interrupted(format!(
            "compact: stopped by a signal: {} station-day(s) compacted, {} left as they \
             are for the next run (the lake is consistent: window files are deleted only \
             once their daily file is verified)",
            summary.station_days, summary.left
        )))
    } else if summary.skipped.is_empty() {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "{} station-day(s) or file(s) were left as they are (see the warnings above)",
            summary.skipped.len()
        )))
    }
}

/// The compaction's progress: a bar on a terminal, else a log line every 5 s; both with
/// the station-days done and left, the files and bytes so far, the rate and the ETA.
#[derive(Default)]
pub(crate) struct Bar(Option<(Meter, Instant)>);

impl Progress for Bar {
    fn start(&mut self, total: usize) {
        let meter = Meter::new("station-days", total as u64, Duration::from_secs(5));
        self.0 = Some((meter, Instant::now()));
    }

    fn advance(&mut self, done: usize, s: &Summary) {
        if let Some((meter, started)) = &mut self.0 {
            let secs = started.elapsed().as_secs_f64().max(1e-3);
            meter.set(done as u64, || progress_detail(done, s, secs));
        }
    }
}

/// `1920 files into 20, 14.2 MB into 6.1 MB, 3.4 station-days/s`.
#[allow(clippy::cast_precision_loss)]
fn progress_detail(done: usize, s: &Summary, secs: f64) -> String {
    let mb = |b: u64| b as f64 / 1e6;
    format!(
        "{} files into {}, {:.1} MB into {:.1} MB, {:.1} station-days/s",
        s.files_before,
        s.files_after,
        mb(s.bytes_before),
        mb(s.bytes_after),
        done as f64 / secs
    )
}

/// Aborts the process after `left` more puts or deletes (see the test hook above). A
/// batch of deletes counts one change per key (made one by one): a kill may fall
/// between any two, as a bucket may carry out part of a batch. A batch of writes goes
/// as the lake writes it (a local lake's test hook `LAKENODE_TEST_ABORT_IN_BATCH`
/// aborts inside it), then counts a change per object written: a kill after the batch,
/// before any window file is deleted.
struct AbortAfter {
    left: u64,
}

impl LakeHooks for AbortAfter {
    fn passes(&self) -> Passes {
        Passes {
            delete_batches: false,
            tails: false,
            ..Passes::ALL
        }
    }
    fn changed(&mut self, _change: Change<'_>) {
        self.left = self.left.saturating_sub(1);
        if self.left == 0 {
            std::process::abort();
        }
    }
}

/// Pauses before its first change to the lake (see the test hook above).
struct PauseBeforeWriting {
    flag: Option<std::path::PathBuf>,
}

impl LakeHooks for PauseBeforeWriting {
    fn passes(&self) -> Passes {
        Passes {
            tails: false,
            ..Passes::ALL
        }
    }
    fn changing(&mut self, _change: Change<'_>) -> lakenode_lake::Result<()> {
        if let Some(flag) = self.flag.take() {
            std::fs::write(&flag, "paused").map_err(|e| lakenode_lake::Error::io(&flag, e))?;
            let until = Instant::now() + Duration::from_secs(120);
            while flag.exists() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Ok(())
    }
}

/// Compacts the demo's lake (its directory, the server stopped), once every station
/// is done and verified: every day up to the end of the virtual time `end_ms` (the
/// stations are done), one station-day per core at once, with the progress shown. The
/// time it took is returned with the totals.
///
/// # Errors
/// The lake failed, or a station-day could not be compacted (the demo's lake has none
/// such: it is a failure of the demo).
pub(crate) fn demo_lake(dir: &std::path::Path, end_ms: i64) -> CliResult<(Summary, Duration)> {
    let started = Instant::now();
    let last = jiff::Timestamp::from_millisecond(end_ms.saturating_sub(1))
        .map_err(|e| CliError::Usage(format!("the demo's end: {e}")))?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let mut lake = lakenode_lake::lake::LocalLake::new(dir.to_path_buf());
    let options = Options {
        before: last.tomorrow().unwrap_or(last),
        dry_run: false,
        strategy: Strategy::Rewrite,
        stop: None,
        jobs: default_jobs(false),
    };
    lake.lock()?;
    let result = compact(&mut lake, &options, &mut Bar::default());
    // The demo writes no rollups: its months have none, which the next `compact`
    // writes anyway; the marker of pending months would only be left behind.
    if let Ok(done) = &result
        && let Err(e) = pending::done(&mut lake, done)
    {
        tracing::warn!("removing {}: {e}", pending::ROLLUPS_PENDING);
    }
    if let Err(e) = lake.unlock() {
        tracing::warn!("releasing the compaction lock: {e}");
    }
    let summary = result?;
    if !summary.skipped.is_empty() {
        return Err(CliError::Verify(format!(
            "compaction left {} station-day(s) as they were: {}",
            summary.skipped.len(),
            summary.skipped.join("; ")
        )));
    }
    Ok((summary, started.elapsed()))
}

/// Brings the monthly rollups up to date ([`lakenode_lake::rollup::refresh`]): those of
/// the months this run compacted days of, those an earlier run left pending, and any
/// month without one, from the run's own listing and the daily files it wrote (the
/// lake is not listed again); then the pending months' marker is removed. A failure is a
/// warning: the lake is whole without rollups, a report reads the footers instead.
fn refresh_rollups(lake: &mut dyn lakenode_lake::lake::LakeStore, done: &Summary) {
    // Also the months a killed or stopped run left pending (F5).
    let touched = pending::touched(done);
    let refreshed = lakenode_lake::rollup::refresh(lake, &done.listing, &touched);
    match refreshed {
        Ok(r) => {
            if r.written > 0 {
                println!(
                    "monthly rollups: {} written ({} footer(s) read)",
                    r.written, r.footers
                );
            }
            if let Err(e) = pending::done(lake, done) {
                tracing::warn!("removing {}: {e}", pending::ROLLUPS_PENDING);
            }
        }
        Err(e) => tracing::warn!("updating the monthly rollups: {e}; reports read the footers"),
    }
}

fn print_summary(s: &Summary, took: Duration, dry_run: bool) {
    let secs = took.as_secs_f64().max(1e-9);
    println!();
    println!("summary{}", if dry_run { " (dry run)" } else { "" });
    println!("  station-days  {}", s.station_days);
    println!("  files         {} -> {}", s.files_before, s.files_after);
    if !dry_run {
        println!("  bytes         {} -> {}", s.bytes_before, s.bytes_after);
        println!(
            "  rows          {} (each checked against its source)",
            s.rows
        );
        if s.identical > 0 {
            println!(
                "  repeated      {} row(s) also in another file of their day, value for value: kept once",
                s.identical
            );
        }
        if s.set_aside > 0 {
            println!(
                "  set aside     {} row(s) at an instant another file of their day holds with other \
                 values: that file's kept, theirs in <file>.aside (see the warnings above)",
                s.set_aside
            );
        }
        if s.already_merged > 0 {
            println!(
                "  resumed       {} window file(s) already merged by an interrupted run were deleted",
                s.already_merged
            );
        }
    } else {
        println!("  bytes before  {}", s.bytes_before);
    }
    #[allow(clippy::cast_precision_loss)]
    let rate = s.station_days as f64 / secs;
    println!("  time          {secs:.2} s ({rate:.1} station-days/s)");
    if !s.skipped.is_empty() {
        println!(
            "  left alone    {} (see the warnings above)",
            s.skipped.len()
        );
    }
}
