//! `lakenode report`: one self-contained HTML page of the fleet from a lake in a
//! directory or a bucket (see [`crate::report`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use lakenode::clock::{SystemClock, WallClock as _};
use lakenode::layout::rfc3339;
use lakenode_lake::lake::LakeStore;
use lakenode_lake::output::OutputFile;

use crate::error::{CliError, CliResult};
use crate::lake_args::LakeArgs;
use crate::parse_duration;
use crate::progress::Meter;
use crate::report::page::{PageInfo, render_page};
use crate::report::registry::Registry;
use crate::report::render::{Clock, ago};
use crate::report::scan::{ScanOptions, scan};

/// The exit code of a report that found a silent station (the page is written).
pub const SILENT_EXIT: u8 = 6;

/// `lakenode report`.
#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Exit codes: 0 every station reporting; 6 a station is silent (an \
alarm for cron: the page is written and lists it); 1 a file could not be read or another \
error (also when stations are silent); 2 usage; 4 stopped by SIGTERM or Ctrl-C (no page \
written)."
)]
pub struct ReportArgs {
    /// The lake: --lake DIR, or --endpoint/--bucket.
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Days to show: the UTC day of the report's time (now, or --at) and the N - 1
    /// before it. If the lake has nothing in them, its newest N days holding data are
    /// drawn and the page says so. Up to 7 days are drawn per hour, longer per day.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=3660))]
    pub days: u32,
    /// Where to write the page (replaced atomically; never through a symlink).
    #[arg(long, default_value = "report.html")]
    pub out: PathBuf,
    /// A station is silent (exit 6) when its newest sample is this much older than the
    /// report's time, now or --at (e.g. 30m, 2h).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub silent_after: Duration,
    /// Make the report as of this time (RFC 3339, e.g. 2026-11-21T12:00:00Z): later
    /// data is left out and silence is measured against it. Default: now.
    #[arg(long, value_name = "TIME", value_parser = parse_at)]
    pub at: Option<i64>,
    /// A station registry, CSV with the header `id,name,latitude,longitude`: names the
    /// stations and plots their positions. Listed stations never heard from are silent.
    #[arg(long, value_name = "FILE")]
    pub stations: Option<PathBuf>,
}

/// `--at`: an RFC 3339 time, ms UTC.
fn parse_at(text: &str) -> Result<i64, String> {
    text.parse::<jiff::Timestamp>()
        .map(jiff::Timestamp::as_millisecond)
        .map_err(|e| format!("not an RFC 3339 time like 2026-11-21T12:00:00Z: {e}"))
}

/// What to report on, besides the lake.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// `--days`.
    pub days: u32,
    /// `--silent-after`.
    pub silent_after: Duration,
    /// `--at`, ms UTC; `None` is now.
    pub at_ms: Option<i64>,
    /// `--stations` (empty without).
    pub registry: Registry,
}

impl ReportOptions {
    /// The defaults: 7 days, silent after an hour, as of now, no registry.
    #[must_use]
    pub fn new() -> Self {
        Self {
            days: 7,
            silent_after: Duration::from_secs(3600),
            at_ms: None,
            registry: Registry::default(),
        }
    }
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// What a report run read and wrote.
#[derive(Debug, Clone)]
pub struct ReportSummary {
    /// Stations in the report.
    pub stations: usize,
    /// The silent ones, each as `name (41 d before now)`, the longest silent first.
    pub silent: Vec<String>,
    /// The lake had nothing in the period: what the page says about it.
    pub stale: Option<String>,
    /// Files read.
    pub files: usize,
    /// Bytes of HTML written.
    pub html_bytes: usize,
    /// Files that could not be read (listed in the page).
    pub problems: Vec<String>,
}

/// How far ahead of this machine's clock `--at` may be (clock skew between machines).
const AT_SLACK_MS: i64 = 3_600_000;

/// Reads `lake`, renders the page and writes it to `out`, showing progress (a bar on a
/// terminal, else a log line every 5 s).
///
/// # Errors
/// The lake cannot be read, a chart cannot be drawn, or
/// `out` cannot be written.
pub fn write_report(
    lake: &mut dyn LakeStore,
    options: &ReportOptions,
    out: &Path,
) -> CliResult<ReportSummary> {
    let now_ms = SystemClock.now().as_millisecond();
    let at_ms = options.at_ms.unwrap_or(now_ms);
    let scan_options = ScanOptions {
        days: options.days,
        now_ms,
        at_ms,
    };
    let mut meter = Meter::new("files read", 0, Duration::from_secs(5));
    let mut scan = scan(lake, &scan_options, |p| {
        meter.set_total(p.total as u64);
        meter.set(p.files as u64, String::new);
    })?;
    drop(meter);
    if scan.fleet.is_empty() {
        return Err(CliError::Usage(match options.at_ms {
            Some(at) => format!(
                "nothing in {} on or before --at {}: give a later --at, or check that this \
                 is the directory (or bucket and --prefix) holding the station=<id>/... trees",
                lake.describe(),
                rfc3339(at)
            ),
            None => format!(
                "no station's files in {}: give the directory (or bucket and --prefix) \
                 holding the station=<id>/... trees",
                lake.describe()
            ),
        }));
    }
    // A station of the registry the lake has never heard from is listed as silent.
    for id in options.registry.ids() {
        if scan.fleet.station(id).is_none() {
            scan.fleet.touch(id);
        }
    }
    let silent_after_ms = i64::try_from(options.silent_after.as_millis()).unwrap_or(i64::MAX);
    let clock = Clock {
        at_ms,
        now: options.at_ms.is_none(),
    };
    let info = PageInfo {
        lake: lake.describe(),
        generated_ms: now_ms,
        silent_after_ms,
        clock,
        days: options.days,
    };
    let html = render_page(&scan, &info, &options.registry)?;
    let mut file = OutputFile::create(out, &[])?;
    std::io::Write::write_all(&mut file, html.as_bytes()).map_err(|e| file.error(e))?;
    file.commit()?;
    let silent = scan
        .fleet
        .stations_silent_first()
        .into_iter()
        .filter(|id| scan.fleet.is_silent(id, at_ms, silent_after_ms))
        .map(|id| {
            let ago = scan
                .fleet
                .station(id)
                .and_then(|s| s.last_seen)
                .map_or_else(|| "never heard from".to_owned(), |t| ago(&clock, t));
            format!("{} ({ago})", options.registry.full(id))
        })
        .collect();
    let stale = scan.stale.then(|| {
        format!(
            "the lake has no sample in the {} day(s) up to {}; the page draws its newest data, {}",
            options.days,
            rfc3339(at_ms),
            scan.days
                .map_or_else(String::new, |(a, b)| format!("{a} to {b}"))
        )
    });
    Ok(ReportSummary {
        stations: scan.fleet.len(),
        silent,
        stale,
        files: scan.files,
        html_bytes: html.len(),
        problems: scan.problems,
    })
}

/// Runs `lakenode report`.
///
/// # Errors
/// Invalid flags, a lake that cannot be read, or an output that cannot be written.
/// Files that cannot be decoded are listed in the page and make the run exit 1 after
/// the page is written; otherwise a silent station makes it exit [`SILENT_EXIT`].
pub fn run(args: &ReportArgs) -> CliResult<()> {
    // SIGTERM or Ctrl-C: stop between station-days, or end a request's retries, exit 4.
    let _ = crate::signals::stop_flag();
    let started = Instant::now();
    if let Some(dir) = &args.lake.lake {
        refuse_output_inside(dir, &args.out)?;
    }
    let now_ms = SystemClock.now().as_millisecond();
    if let Some(at) = args.at
        && at > now_ms.saturating_add(AT_SLACK_MS)
    {
        return Err(CliError::Usage(format!(
            "--at {} is in the future (this machine's clock says {}): give a past time, or \
             leave --at out for a report as of now",
            rfc3339(at),
            rfc3339(now_ms)
        )));
    }
    let registry = match &args.stations {
        Some(path) => Registry::load(path)?,
        None => Registry::default(),
    };
    let mut lake = args.lake.open()?;
    println!(
        "lakenode report: {}, {} day(s) up to {}",
        lake.describe(),
        args.days,
        args.at.map_or_else(|| "now".to_owned(), rfc3339)
    );
    let options = ReportOptions {
        days: args.days,
        silent_after: args.silent_after,
        at_ms: args.at,
        registry,
    };
    let summary = write_report(lake.as_mut(), &options, &args.out)?;
    println!(
        "wrote {}: {} bytes; {} stations ({} silent), {} files read in {:.2} s",
        args.out.display(),
        summary.html_bytes,
        summary.stations,
        summary.silent.len(),
        summary.files,
        started.elapsed().as_secs_f64()
    );
    if let Some(stale) = &summary.stale {
        tracing::warn!("{stale}");
    }
    for s in &summary.silent {
        tracing::warn!("silent: {}", printable(s));
    }
    for p in &summary.problems {
        tracing::warn!("{}", printable(p));
    }
    if !summary.problems.is_empty() {
        return Err(CliError::Usage(format!(
            "{} file(s) could not be read; the report lists them and leaves their rows out",
            summary.problems.len()
        )));
    }
    if summary.silent.is_empty() {
        return Ok(());
    }
    Err(CliError::Silent {
        silent: summary.silent.len(),
        stations: summary.stations,
        page: args.out.clone(),
    })
}

/// Refuses an `--out` inside the local lake: the page would replace a data file, or
/// become an object of the lake that every later reader trips over.
fn refuse_output_inside(lake: &Path, out: &Path) -> CliResult<()> {
    let Ok(lake) = lake.canonicalize() else {
        return Ok(()); // opening the lake reports it
    };
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if parent.canonicalize().is_ok_and(|p| p.starts_with(&lake)) {
        return Err(CliError::Usage(format!(
            "--out {} is inside the lake {}: write the page elsewhere",
            out.display(),
            lake.display()
        )));
    }
    Ok(())
}

/// `text` with control characters shown as escapes: object keys come from the lake and
/// must not move the cursor or colour the terminal.
fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_in_keys_are_escaped_for_the_terminal() {
        assert_eq!(printable("a\nb\u{1b}[31mc"), "a\\nb\\u{1b}[31mc");
    }

    #[test]
    fn the_page_is_never_written_into_the_lake() {
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        std::fs::create_dir_all(lake.join("station=x")).unwrap();
        assert!(refuse_output_inside(&lake, &lake.join("station=x/data_0000.parquet")).is_err());
        assert!(refuse_output_inside(&lake, &lake.join("r.html")).is_err());
        assert!(refuse_output_inside(&lake, &dir.path().join("r.html")).is_ok());
    }
}
