//! `lakenode report`: one self-contained HTML page of the fleet from a lake in a
//! directory or a bucket (see [`crate::report`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use lakenode::clock::{SystemClock, WallClock as _};

use crate::error::{CliError, CliResult};
use crate::lake::{LakeArgs, LakeStore};
use crate::output::OutputFile;
use crate::parse_duration;
use crate::report::page::{PageInfo, render_page};
use crate::report::scan::{ScanOptions, scan};

/// `lakenode report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// The lake: --lake DIR, or --endpoint/--bucket.
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Days to show: the newest UTC day holding data and the N - 1 before it. Up to 7
    /// days are drawn per hour, longer periods per day.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=3660))]
    pub days: u32,
    /// Where to write the page (replaced atomically; never through a symlink).
    #[arg(long, default_value = "report.html")]
    pub out: PathBuf,
    /// A station is listed as silent when its newest sample is this much older than
    /// the fleet's newest (e.g. 30m, 2h).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub silent_after: Duration,
}

/// What a report run read and wrote.
#[derive(Debug, Clone)]
pub struct ReportSummary {
    /// Stations in the report.
    pub stations: usize,
    /// Of which silent.
    pub silent: usize,
    /// Files read.
    pub files: usize,
    /// Bytes of HTML written.
    pub html_bytes: usize,
    /// Files that could not be read (listed in the page).
    pub problems: Vec<String>,
}

/// Reads `lake`, renders the page and writes it to `out`, printing progress to stderr
/// every 2 s.
///
/// # Errors
/// The lake cannot be read, a chart cannot be drawn, or `out` cannot be written.
pub fn write_report(
    lake: &mut dyn LakeStore,
    days: u32,
    silent_after: Duration,
    out: &Path,
) -> CliResult<ReportSummary> {
    let mut last = Instant::now();
    let now_ms = SystemClock.now().as_millisecond();
    let scan = scan(lake, &ScanOptions { days, now_ms }, |p| {
        if last.elapsed() >= Duration::from_secs(2) {
            last = Instant::now();
            eprintln!("progress: read {}/{} files", p.files, p.total);
        }
    })?;
    if scan.fleet.is_empty() {
        return Err(CliError::Usage(format!(
            "no station's files in {}: give the directory (or bucket and --prefix) holding \
             the station=<id>/... trees",
            lake.describe()
        )));
    }
    let silent_after_ms = i64::try_from(silent_after.as_millis()).unwrap_or(i64::MAX);
    let info = PageInfo {
        lake: lake.describe(),
        generated_ms: now_ms,
        silent_after_ms,
    };
    let html = render_page(&scan, &info)?;
    let mut file = OutputFile::create(out, &[])?;
    std::io::Write::write_all(&mut file, html.as_bytes()).map_err(|e| file.error(e))?;
    file.commit()?;
    let period = scan.fleet.period();
    let silent = scan
        .fleet
        .stations_silent_first()
        .iter()
        .filter(|id| scan.fleet.is_silent(period.as_ref(), id, silent_after_ms))
        .count();
    Ok(ReportSummary {
        stations: scan.fleet.len(),
        silent,
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
/// the page is written.
pub fn run(args: &ReportArgs) -> CliResult<()> {
    let started = Instant::now();
    if let Some(dir) = &args.lake.lake {
        refuse_output_inside(dir, &args.out)?;
    }
    let mut lake = args.lake.open()?;
    println!(
        "lakenode report: {}, the last {} day(s) with data",
        lake.describe(),
        args.days
    );
    let summary = write_report(lake.as_mut(), args.days, args.silent_after, &args.out)?;
    println!(
        "wrote {}: {} bytes; {} stations ({} silent), {} files read in {:.2} s",
        args.out.display(),
        summary.html_bytes,
        summary.stations,
        summary.silent,
        summary.files,
        started.elapsed().as_secs_f64()
    );
    if summary.problems.is_empty() {
        return Ok(());
    }
    for p in &summary.problems {
        eprintln!("warning: {}", printable(p));
    }
    Err(CliError::Usage(format!(
        "{} file(s) could not be read; the report lists them and leaves their rows out",
        summary.problems.len()
    )))
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
