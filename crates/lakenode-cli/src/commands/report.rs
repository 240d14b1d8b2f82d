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
use crate::printable::printable;
use crate::progress::Meter;
use crate::report::page::{Links, PageInfo, render_index, render_page, station_file};
use crate::report::registry::Registry;
use crate::report::render::{Clock, ago, series_ranges};
use crate::report::scan::{Scan, ScanOptions, scan};
use crate::report::select::Selection;
use crate::report::station_page::station_page;

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
    /// Where to write the page (replaced atomically; never through a symlink). A
    /// directory (an existing one, or a path ending in `/`) gets `index.html` and a page
    /// per station in `station/` (`s-<id>.html`; stale ones are removed, other files
    /// are left alone).
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
    /// Bytes of HTML written (all pages).
    pub html_bytes: usize,
    /// Pages written: 1, or for a directory the index and one per station.
    pub pages: usize,
    /// Seconds spent reading the lake (listing, fetching, decoding, folding).
    pub scan_s: f64,
    /// Seconds spent drawing and writing the page(s).
    pub page_s: f64,
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
    if is_directory(out) {
        check_directory(out, &[])?; // before the scan, which may take minutes
    }
    let started = Instant::now();
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
    let scan_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let (html_bytes, pages) = if is_directory(out) {
        write_directory(out, &scan, &info, &options.registry)?
    } else {
        let html = render_page(&scan, &info, &options.registry)?;
        write_file(out, &html)?;
        (html.len(), 1)
    };
    let page_s = started.elapsed().as_secs_f64();
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
        html_bytes,
        pages,
        scan_s,
        page_s,
        problems: scan.problems,
    })
}

/// Whether `out` names a report directory: an existing directory, or a path ending in
/// `/`.
#[must_use]
pub fn is_directory(out: &Path) -> bool {
    out.is_dir()
        || out
            .as_os_str()
            .to_string_lossy()
            .ends_with(std::path::MAIN_SEPARATOR)
}

/// Writes `html` to `out`, replacing it atomically.
fn write_file(out: &Path, html: &str) -> CliResult<()> {
    let mut file = OutputFile::create(out, &[])?;
    std::io::Write::write_all(&mut file, html.as_bytes()).map_err(|e| file.error(e))?;
    file.commit()?;
    Ok(())
}

/// The name of a temporary station page of this process (`.page.<pid>.tmp`), renamed
/// over its page once written.
const PAGE_TMP: (&str, &str) = (".page.", ".tmp");

/// Whether `name` is one of lakenode's station pages (`s-<id>.html`, with the id as
/// [`crate::report::page::anchor`] writes it): the only files of `DIR/station/` a run
/// removes, when their station is no longer in the report.
fn is_station_page(name: &str) -> bool {
    name.strip_prefix("s-")
        .and_then(|n| n.strip_suffix(".html"))
        .is_some_and(|id| {
            !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
}

/// Refuses `path` unless it is missing or a regular file (what a rename may replace).
fn check_replaceable(path: &Path) -> CliResult<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_file() => Err(CliError::Usage(format!(
            "{} is {}; lakenode only replaces regular files: remove it or write the report \
             elsewhere",
            path.display(),
            if m.file_type().is_symlink() {
                "a symbolic link"
            } else if m.is_dir() {
                "a directory"
            } else {
                "not a regular file"
            }
        ))),
        _ => Ok(()),
    }
}

/// Checks, before anything is written, that the report directory `dir` can take the
/// report: `dir` and `dir/station` are directories (or missing) and `dir/index.html` and
/// the station pages `pages` are regular files (or missing).
fn check_directory(dir: &Path, pages: &[String]) -> CliResult<()> {
    // Without its trailing `/`, which makes the lookup of a file fail as not a directory.
    let bare = dir.components().as_path();
    if std::fs::metadata(bare).is_ok_and(|m| !m.is_dir()) {
        return Err(CliError::Usage(format!(
            "--out {}: {} exists and is not a directory; give a directory for a report \
             directory, or a file name without the trailing `/` for a single page",
            dir.display(),
            bare.display()
        )));
    }
    let stations = dir.join("station");
    if stations.is_symlink() || (stations.exists() && !stations.is_dir()) {
        return Err(CliError::Usage(format!(
            "{} is not a directory of station pages: remove it or write the report elsewhere",
            stations.display()
        )));
    }
    check_replaceable(&dir.join("index.html"))?;
    pages
        .iter()
        .try_for_each(|p| check_replaceable(&stations.join(p)))
}

/// Writes the report directory `dir`: a page per station in `station/`, each written
/// beside it and renamed over it, then the pages of stations no longer in the report
/// removed (only files named like lakenode's pages; anything else there is left alone),
/// then `index.html`, which links to them. The station pages are not synced one by one
/// (a thousand syncs would take longer than the report): a crash leaves some pages old,
/// some new, and at worst a temporary file a later run removes. Returns the bytes and
/// pages written.
fn write_directory(
    dir: &Path,
    scan: &Scan,
    info: &PageInfo,
    registry: &Registry,
) -> CliResult<(usize, usize)> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CliError::Io { path, source }
    };
    let fleet = &scan.fleet;
    let period = fleet.period();
    let sel = Selection::new(
        fleet,
        period.as_ref(),
        info.clock.at_ms,
        info.silent_after_ms,
    );
    let names: Vec<String> = sel.order.iter().map(|id| station_file(id)).collect();
    check_directory(dir, &names)?;
    let stations = dir.join("station");
    std::fs::create_dir_all(&stations).map_err(io(&stations))?;
    // Left by versions that swapped the whole directory in, if killed.
    lakenode_lake::output::remove_stale(dir, ".station.", ".tmp");
    lakenode_lake::output::remove_stale(dir, ".station-old.", ".tmp");
    lakenode_lake::output::remove_stale(&stations, PAGE_TMP.0, PAGE_TMP.1);
    let tmp = stations.join(format!(
        "{}{}{}",
        PAGE_TMP.0,
        std::process::id(),
        PAGE_TMP.1
    ));
    let ranges = series_ranges(fleet, &sel.order);
    let mut bytes = 0;
    let written = (|| {
        for (id, name) in sel.order.iter().zip(&names) {
            let html = station_page(scan, info, registry, &sel, period.as_ref(), &ranges, id)?;
            std::fs::write(&tmp, &html).map_err(io(&tmp))?;
            let path = stations.join(name);
            std::fs::rename(&tmp, &path).map_err(io(&path))?;
            bytes += html.len();
        }
        Ok::<(), CliError>(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let current: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
    for entry in std::fs::read_dir(&stations)
        .map_err(io(&stations))?
        .flatten()
    {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_station_page(name)
            && !current.contains(name)
            && entry.file_type().is_ok_and(|t| t.is_file())
        {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(io(&path))?;
        }
    }
    let html = render_index(scan, info, registry, &sel, Links::Directory)?;
    write_file(&dir.join("index.html"), &html)?;
    Ok((bytes + html.len(), sel.order.len() + 1))
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
    let page = if is_directory(&args.out) {
        args.out.join("index.html")
    } else {
        args.out.clone()
    };
    if let Some(dir) = &args.lake.lake {
        refuse_output_inside(dir, &page)?;
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
        "wrote {}: {} bytes{}; {} ({} silent), {} files read in {:.2} s (reading \
         {:.2} s, drawing {:.2} s)",
        page.display(),
        summary.html_bytes,
        if summary.pages > 1 {
            format!(" in {} pages", summary.pages)
        } else {
            String::new()
        },
        crate::report::page::stations_text(summary.stations),
        summary.silent.len(),
        summary.files,
        started.elapsed().as_secs_f64(),
        summary.scan_s,
        summary.page_s,
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
        page,
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
    // The nearest directory that exists: `--out LAKE/site/` creates `site` in the lake.
    let existing = parent
        .ancestors()
        .filter(|p| !p.as_os_str().is_empty())
        .find_map(|p| p.canonicalize().ok())
        .or_else(|| Path::new(".").canonicalize().ok());
    if existing.is_some_and(|p| p.starts_with(&lake)) {
        return Err(CliError::Usage(format!(
            "--out {} is inside the lake {}: write the page elsewhere",
            out.display(),
            lake.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic_info() -> PageInfo {
        PageInfo {
            lake: "/lake".into(),
            generated_ms: 6 * 3_600_000,
            silent_after_ms: 3_600_000,
            clock: Clock {
                at_ms: 6 * 3_600_000,
                now: false,
            },
            days: 1,
        }
    }

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_report_directory_holds_a_page_per_station_and_every_link_resolves() {
        let scan = crate::report::select::synthetic_scan(60, 6);
        let info = synthetic_info();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("site/");
        assert!(is_directory(&dir) && !is_directory(&tmp.path().join("r.html")));
        // The user's files in station/ are left alone; a page of a station no longer
        // in the report (and a temporary page of a killed run) is removed.
        let station = dir.join("station");
        std::fs::create_dir_all(station.join("sub")).unwrap();
        std::fs::write(station.join("sub/data.csv"), "important").unwrap();
        std::fs::write(station.join("README"), "x").unwrap();
        std::fs::write(station.join("s-notes.txt"), "x").unwrap();
        std::fs::write(station.join("s-gone.html"), "old page").unwrap();
        std::fs::write(station.join(".page.999999999.tmp"), "killed").unwrap();
        for _ in 0..2 {
            let (bytes, pages) = write_directory(&dir, &scan, &info, &Registry::default()).unwrap();
            assert_eq!(pages, 61);
            assert!(bytes > 0);
        }
        assert_eq!(
            std::fs::read_to_string(station.join("sub/data.csv")).unwrap(),
            "important"
        );
        let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
        let (pages, foreign): (Vec<String>, Vec<String>) = names(&station)
            .into_iter()
            .partition(|n| is_station_page(n));
        assert_eq!(foreign, ["README", "s-notes.txt", "sub"]);
        assert_eq!(pages.len(), 60, "{pages:?}");
        assert_eq!(pages[0], "s-st000.html");
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 2, "index.html and station/: {leftovers:?}");
        // Every link of every page names a file of the directory or a section of
        // its own page; nothing is fetched and nothing runs.
        let check = |html: &str, base: &Path| {
            assert!(!html.contains("<script"));
            let mut links = 0;
            for part in html.split("href=\"").skip(1) {
                let target = &part[..part.find('"').unwrap()];
                assert!(!target.contains(':'), "{target}");
                match target.strip_prefix('#') {
                    Some(id) => assert!(html.contains(&format!(" id=\"{id}\""))),
                    None => assert!(base.join(target).is_file(), "{target}"),
                }
                links += 1;
            }
            links
        };
        // The index links each station (in the table, and the others' means).
        assert!(check(&index, &dir) >= 60);
        for p in &pages {
            let html = std::fs::read_to_string(dir.join("station").join(p)).unwrap();
            assert_eq!(check(&html, &dir.join("station")), 1, "back to the index");
            assert!(html.contains("<section id="), "{p} has its charts");
        }
        // st002 restarted once: its own count, not the fleet's.
        let st002 = std::fs::read_to_string(dir.join("station/s-st002.html")).unwrap();
        assert!(st002.contains("restarts per bucket"));
        assert!(!st002.contains("fleet total"));
    }

    #[test]
    fn nothing_is_written_when_the_report_directory_would_be_refused() {
        let scan = crate::report::select::synthetic_scan(3, 6);
        let info = synthetic_info();
        let tmp = tempfile::tempdir().unwrap();
        let write = |dir: &Path| {
            let e = write_directory(dir, &scan, &info, &Registry::default()).unwrap_err();
            assert!(matches!(e, CliError::Usage(_)), "{e}");
            e.to_string()
        };
        // index.html a directory, or a symlink: no station page is written.
        let dir = tmp.path().join("a");
        std::fs::create_dir_all(dir.join("index.html")).unwrap();
        assert!(write(&dir).contains("index.html is a directory"));
        assert_eq!(names(&dir), ["index.html"]);
        let dir = tmp.path().join("b");
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink("/dev/null", dir.join("index.html")).unwrap();
        assert!(write(&dir).contains("a symbolic link"));
        assert_eq!(names(&dir), ["index.html"]);
        // A station's page a directory: refused before the first page.
        let dir = tmp.path().join("c");
        std::fs::create_dir_all(dir.join("station/s-st002.html")).unwrap();
        assert!(write(&dir).contains("s-st002.html is a directory"));
        assert_eq!(names(&dir.join("station")), ["s-st002.html"]);
        // `--out afile/` with `afile` a file: said so, naming it.
        let file = tmp.path().join("afile");
        std::fs::write(&file, "x").unwrap();
        let message = write(&tmp.path().join("afile/"));
        assert!(
            message.contains(&format!("{} exists and is not a directory", file.display())),
            "{message}"
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    }

    #[test]
    fn station_pages_are_told_from_other_files() {
        for name in ["s-st000.html", "s-0190f5c2-7a4e.html", "s-a.20b.22.3c.html"] {
            assert!(is_station_page(name), "{name}");
        }
        for name in [
            "s-.html",
            "s-a b.html",
            "s-x.htm",
            "x-a.html",
            "README",
            "s-a/b.html",
        ] {
            assert!(!is_station_page(name), "{name}");
        }
    }

    #[test]
    fn the_page_is_never_written_into_the_lake() {
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        std::fs::create_dir_all(lake.join("station=x")).unwrap();
        assert!(refuse_output_inside(&lake, &lake.join("station=x/data_0000.parquet")).is_err());
        assert!(refuse_output_inside(&lake, &lake.join("r.html")).is_err());
        // A report directory not made yet, inside the lake (`--out LAKE/site/`).
        assert!(refuse_output_inside(&lake, &lake.join("site/index.html")).is_err());
        assert!(refuse_output_inside(&lake, &lake.join("a/b/index.html")).is_err());
        assert!(refuse_output_inside(&lake, &dir.path().join("site/index.html")).is_ok());
        assert!(refuse_output_inside(&lake, &dir.path().join("r.html")).is_ok());
    }
}
