//! `lakenode report` through the real binary: on a demo lake with simulated power cuts,
//! from a directory and through the embedded S3 server, before and after compaction,
//! with a damaged file; as an alarm (exit 6 for a silent station, measured against now
//! or `--at`); with a station registry; and the page rendered in headless Chromium
//! (Debian's `chromium`), which must load it without a console message, draw a heatmap
//! of several colours and the positions in their status colours, and fit a phone.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A demo lake: 6 stations, 30 h, with power cuts (the last station goes silent), its
/// window files left as the stations wrote them (`--no-compact`: the tests compact it,
/// or tamper with its windows). Returns the demo's data directory (the lake is
/// `<dir>/s3/lakenode`) and its output.
fn demo_lake_and_output(root: &Path) -> (PathBuf, String) {
    let dir = root.join("demo");
    let out = success(
        lakenode()
            .args(["demo", "--stations", "6", "--hours", "30", "--outages"])
            .args([
                "--seed",
                "3",
                "--start",
                "2026-11-20T06:00:00Z",
                "--no-compact",
            ])
            .arg("--data-dir")
            .arg(&dir),
    );
    let report = dir.canonicalize().unwrap().join("report.html");
    assert!(
        out.contains(&format!("report        {}", report.display())),
        "the demo prints the report's path:\n{out}"
    );
    assert!(report.is_file());
    (dir, out)
}

fn demo_lake(root: &Path) -> PathBuf {
    demo_lake_and_output(root).0
}

/// The end of [`demo_lake`]'s data: reports `--at` it see the demo as it ended.
const DEMO_END: &str = "2026-11-21T12:00:00Z";

/// The exit code of a report with a silent station.
const SILENT: i32 = 6;

/// The station ids of a lake, sorted.
fn stations_of(lake: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(lake)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter_map(|n| n.strip_prefix("station=").map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

/// The page from the first chart on: what does not depend on where the lake was read
/// from or when.
fn body(html: &str) -> &str {
    &html[html
        .find("<h2 id=\"coverage\"")
        .expect("a coverage section")..]
}

fn report(args: &[&str], out: &Path) -> (std::process::Output, String, String) {
    output(
        lakenode_with_credentials()
            .arg("report")
            .args(args)
            .arg("--out")
            .arg(out),
    )
}

#[test]
fn the_report_reads_a_directory_a_bucket_and_compacted_days_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, demo_out) = demo_lake_and_output(tmp.path());
    let lake = dir.join("s3/lakenode");
    let lake_arg = lake.to_str().unwrap();

    let local = tmp.path().join("local.html");
    let (o, stdout, stderr) = report(&["--lake", lake_arg, "--at", DEMO_END], &local);
    // The station the demo cut off is silent: the page is written and the run alarms.
    assert_eq!(o.status.code(), Some(SILENT), "{stdout}\n{stderr}");
    assert!(stdout.contains("6 stations (1 silent)"), "{stdout}");
    assert!(stderr.contains("(6 h before --at)"), "{stderr}");
    let local_html = std::fs::read_to_string(&local).unwrap();

    // Self-contained: no script, nothing fetched from anywhere; links only within.
    for needle in ["<script", "src=", "url(", "@import", "https:"] {
        assert!(!local_html.contains(needle), "the page contains {needle:?}");
    }
    assert_eq!(
        local_html.matches("href=").count(),
        local_html.matches("href=\"#s-").count(),
        "links only to the page's own sections"
    );
    // Every station row links to its section.
    for id in stations_of(&lake) {
        let anchor = format!("s-{id}");
        assert!(
            local_html.contains(&format!("<a href=\"#{anchor}\"")),
            "{id}"
        );
        assert!(
            local_html.contains(&format!("<section id=\"{anchor}\">")),
            "{id}"
        );
    }
    assert_eq!(
        local_html.matches("http:").count(),
        local_html
            .matches("xmlns=\"http://www.w3.org/2000/svg\"")
            .count(),
        "only SVG namespace declarations name a URL"
    );
    // The silent station is listed first and tagged; reboots are counted.
    let table = &local_html[local_html.find("id=\"stations\"").unwrap()..];
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("<tr")).collect();
    assert_eq!(rows.len(), 6, "{table}");
    assert!(rows[0].contains("class=\"silent\""), "{}", rows[0]);
    assert_eq!(
        table.matches("<span class=\"tag\">silent</span>").count(),
        1
    );
    let restarts = |row: &str| -> i64 {
        let cells: Vec<&str> = row.split("<td>").collect();
        cells
            .last()
            .unwrap()
            .trim_end_matches("</td></tr>")
            .parse()
            .unwrap()
    };
    assert!(rows.iter().any(|r| restarts(r) > 0), "{table}");
    // Each station's restarts are the reboots the demo simulated.
    for line in demo_out.lines().filter(|l| l.starts_with("  station ")) {
        let station = &line["  station ".len()..line.find(':').unwrap()];
        let reboots: i64 = line
            .split_once("files, ")
            .and_then(|(_, rest)| rest.split_once(" reboot(s)"))
            .map_or(0, |(before, _)| {
                before.rsplit('(').next().unwrap().parse().unwrap()
            });
        let row = rows.iter().find(|r| r.contains(station)).unwrap();
        assert_eq!(restarts(row), reboots, "{line}\n{row}");
    }
    assert!(rows.iter().any(|r| r.contains("100.0%")), "{table}");
    assert!(
        rows[0].contains("<td>80.0%</td>"),
        "silent for the last fifth: {}",
        rows[0]
    );

    // Each station's coverage agrees with DuckDB's count of distinct instants over the
    // fleet's period (an independent reader of the same files).
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/readers/coverage.py");
    let duck = Command::new(python())
        .arg(script)
        .arg(&lake)
        .arg("5000")
        .output()
        .unwrap();
    let duck_out = String::from_utf8_lossy(&duck.stdout);
    assert!(
        duck.status.success(),
        "{}",
        String::from_utf8_lossy(&duck.stderr)
    );
    let lines: Vec<&str> = duck_out.lines().collect();
    assert_eq!(lines.len(), 6, "{duck_out}");
    for line in lines {
        let (station, coverage) = line.split_once(' ').unwrap();
        let row = rows.iter().find(|r| r.contains(station)).unwrap();
        assert!(
            row.contains(&format!("<td>{coverage}</td>")),
            "DuckDB: {line}; report: {row}"
        );
    }

    // The same lake through the embedded S3 server, with the example keys.
    let server = lakenode_embedded_s3::EmbeddedS3::start(
        lakenode_embedded_s3::ServerConfig::new(dir.join("s3"), KEY, SECRET)
            .with_bucket("lakenode"),
    )
    .unwrap();
    let endpoint = server.endpoint();
    let from_s3 = tmp.path().join("s3.html");
    let (o, stdout, stderr) = report(
        &[
            "--endpoint",
            &endpoint,
            "--bucket",
            "lakenode",
            "--path-style",
            "--at",
            DEMO_END,
        ],
        &from_s3,
    );
    assert_eq!(o.status.code(), Some(SILENT), "{stdout}\n{stderr}");
    let s3_html = std::fs::read_to_string(&from_s3).unwrap();
    assert!(s3_html.contains("s3://lakenode"), "names the bucket");
    assert_eq!(
        body(&s3_html),
        body(&local_html),
        "a bucket reads as its directory"
    );
    server.stop();

    // Compacted into daily files, the lake reports the same figures.
    success(
        lakenode()
            .args(["compact", "--lake", lake_arg, "--before", "2026-11-23"])
            .env("LAKENODE_LOG", "warn"),
    );
    let dailies = files_with_extension(&lake, "parquet")
        .iter()
        .filter(|f| f.file_name().unwrap().to_str().unwrap().contains("_day"))
        .count();
    assert_eq!(dailies, 6 * 2 * 2, "6 stations x 2 days x (data, health)");
    let compacted = tmp.path().join("compacted.html");
    let (o, stdout, stderr) = report(&["--lake", lake_arg, "--at", DEMO_END], &compacted);
    assert_eq!(o.status.code(), Some(SILENT), "{stdout}\n{stderr}");
    let compacted_html = std::fs::read_to_string(&compacted).unwrap();
    assert_eq!(
        body(&compacted_html),
        body(&local_html),
        "daily files read as windows"
    );

    // --days 1: only the newest day.
    let one = tmp.path().join("one.html");
    let (o, ..) = report(&["--lake", lake_arg, "--days", "1", "--at", DEMO_END], &one);
    assert_eq!(o.status.code(), Some(SILENT));
    let one_html = std::fs::read_to_string(&one).unwrap();
    assert!(one_html.contains("2026-11-21 to 2026-11-21 (UTC days)"));
}

#[test]
fn a_damaged_file_is_listed_in_the_page_and_the_run_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = demo_lake(tmp.path()).join("s3/lakenode");
    let victim = files_with_extension(&lake, "parquet")
        .into_iter()
        .find(|f| !f.to_str().unwrap().contains("health"))
        .unwrap();
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() / 2]).unwrap();
    let out = tmp.path().join("r.html");
    let (o, stdout, stderr) = report(&["--lake", lake.to_str().unwrap()], &out);
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{stderr}");
    let name = victim.file_name().unwrap().to_str().unwrap();
    assert!(stderr.contains(name), "{stderr}");
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(
        html.contains("1 file(s) could not be read"),
        "the page says so"
    );
    assert!(html.contains(name));
    assert!(
        html.contains("<h2 id=\"coverage\""),
        "the rest is still drawn"
    );
}

#[test]
fn a_directory_without_a_lake_is_an_error_not_an_empty_page() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("empty")).unwrap();
    let out = tmp.path().join("r.html");
    let empty = tmp.path().join("empty");
    let (o, _, stderr) = report(&["--lake", empty.to_str().unwrap()], &out);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("station=<id>"), "{stderr}");
    assert!(!out.exists());
    let (o, _, stderr) = report(&["--lake", "/nonexistent/lake"], &out);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not a directory"), "{stderr}");
    // Plain http leaves this machine only when asked to (refused before any lookup).
    let (o, _, stderr) = report(
        &["--endpoint", "http://lake.invalid", "--bucket", "lake"],
        &out,
    );
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refusing plain http"), "{stderr}");
    // The page is never written into the lake it reads.
    let (o, _, stderr) = report(&["--lake", empty.to_str().unwrap()], &empty.join("r.html"));
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("inside the lake"), "{stderr}");
    // Nor a report directory (`--out LAKE/site/`): refused alike, nothing made.
    let site = PathBuf::from(format!("{}/site/", empty.display()));
    let (o, _, stderr) = report(&["--lake", empty.to_str().unwrap()], &site);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("inside the lake"), "{stderr}");
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
}

/// Files another tool or a broken clock could leave: a day in 2099, a row at the end of
/// time, a health file without uptime, a footer JSON spaced out. The report lists the
/// first three, exits 1 within seconds, and every figure of the untouched data stays as
/// it was (the spaced footer's rows still count).
#[test]
fn hostile_files_are_listed_and_do_not_move_the_period_or_the_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = demo_lake(tmp.path()).join("s3/lakenode");
    let lake_arg = lake.to_str().unwrap();
    let before = tmp.path().join("before.html");
    let (o, ..) = report(&["--lake", lake_arg, "--at", DEMO_END], &before);
    assert_eq!(o.status.code(), Some(SILENT));
    let before = std::fs::read_to_string(before).unwrap();
    let station = stations_of(&lake).swap_remove(0);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/readers/tamper_lake.py");
    let tamper = Command::new(python())
        .arg(script)
        .arg(&lake)
        .arg(&station)
        .output()
        .unwrap();
    assert!(
        tamper.status.success(),
        "{}",
        String::from_utf8_lossy(&tamper.stderr)
    );

    let after = tmp.path().join("after.html");
    let started = Instant::now();
    let (o, stdout, stderr) = report(&["--lake", lake_arg, "--at", DEMO_END], &after);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "a far-future row hangs the report"
    );
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("year=2099/month=01/day=01: 1 file(s) dated 2099-01-01, after today"),
        "{stderr}"
    );
    assert!(
        stderr.contains("data_2359_235959000.parquet: 1 row(s) outside"),
        "{stderr}"
    );
    assert!(
        stderr.contains("not a lakenode health file: column `uptime_s`"),
        "{stderr}"
    );
    // One warning line each (and one for the silent station).
    let warnings = stderr
        .lines()
        .filter(|l| l.contains(" WARN ") && !l.contains(" WARN silent: "))
        .count();
    assert_eq!(warnings, 3, "{stderr}");
    let after = std::fs::read_to_string(after).unwrap();
    let table = |html: &str| {
        let t = &html[html.find("id=\"stations\"").unwrap()..];
        t[..t.find("</table>").unwrap()].to_owned()
    };
    assert_eq!(table(&after), table(&before), "the figures did not change");
    assert!(after.contains("2026-11-20 to 2026-11-21 (UTC days)"));
}

/// Headless Chromium, from `LAKENODE_CHROMIUM` or the PATH.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("LAKENODE_CHROMIUM") {
        return p.into();
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(o) = Command::new("which").arg(name).output()
            && o.status.success()
        {
            return PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
        }
    }
    panic!(
        "the browser test needs headless Chromium: install Debian's `chromium` package \
         (.ci/run does), or set LAKENODE_CHROMIUM"
    );
}

/// What the browser made of a page: its console messages and a screenshot.
struct Rendered {
    console: Vec<String>,
    width: usize,
    height: usize,
    rgb: Vec<[u8; 3]>,
}

/// Loads `page` in headless Chromium (a fresh profile, no network), and returns the
/// console messages it logged and a 1280-pixel-wide screenshot.
fn render(page: &Path, work: &Path, height: u32) -> Rendered {
    render_sized(page, work, 1280, height)
}

/// [`render`] in a window `width` pixels wide.
fn render_sized(page: &Path, work: &Path, width: u32, height: u32) -> Rendered {
    let png = work.join("shot.png");
    let _ = std::fs::remove_file(&png);
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args([
            "--no-first-run",
            "--disable-extensions",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!(
            "--user-data-dir={}",
            work.join("profile").display()
        ))
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "chromium hangs"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let console = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .map(str::to_owned)
        .collect();
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&png).unwrap_or_else(|e| panic!("no screenshot ({e}): {stderr}")),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let rgb = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    Rendered {
        console,
        width: info.width as usize,
        height: info.height as usize,
        rgb,
    }
}

/// Distinct strongly coloured pixels (not grey, not text) inside the bounding box of
/// the heatmap's complete (green) and empty (red) cells: several shades mean cells of
/// different coverage were drawn; 0 means no heatmap is visible.
fn heatmap_colours(shot: &Rendered) -> usize {
    let is_cell = |p: &[u8; 3]| *p == [0x28, 0xA0, 0x46] || *p == [0xC8, 0x28, 0x28];
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..shot.height {
        for x in 0..shot.width {
            if is_cell(&shot.rgb[y * shot.width + x]) {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            }
        }
    }
    if x0 > x1 {
        return 0;
    }
    let mut colours = std::collections::BTreeSet::new();
    for y in y0..=y1 {
        for x in x0..=x1 {
            let p = shot.rgb[y * shot.width + x];
            let (hi, lo) = (*p.iter().max().unwrap(), *p.iter().min().unwrap());
            if hi - lo > 60 {
                colours.insert(p);
            }
        }
    }
    colours.len()
}

#[test]
fn the_demo_report_loads_in_chromium_without_console_messages_and_is_not_blank() {
    let tmp = tempfile::tempdir().unwrap();
    let page = demo_lake(tmp.path())
        .canonicalize()
        .unwrap()
        .join("report.html");
    let shot = render(&page, tmp.path(), 1400);
    assert!(shot.console.is_empty(), "console: {:#?}", shot.console);
    let colours = heatmap_colours(&shot);
    assert!(
        colours >= 3,
        "{colours} distinct colours in the heatmap area"
    );
    if let Some(keep) = std::env::var_os("LAKENODE_KEEP_SCREENSHOT") {
        std::fs::copy(tmp.path().join("shot.png"), keep).unwrap();
    }

    // The checks themselves can fail: a page with a script error, and a blank page.
    let broken = tmp.path().join("broken.html");
    std::fs::write(
        &broken,
        "<html><body><script>notDefined();</script></body></html>",
    )
    .unwrap();
    let shot = render(&broken, tmp.path(), 400);
    assert!(
        shot.console.iter().any(|l| l.contains("notDefined")),
        "a script error is caught: {:?}",
        shot.console
    );
    assert_eq!(heatmap_colours(&shot), 0, "a blank page has no heatmap");
}

/// A fleet larger than the page draws in full (32 stations, power cuts) as a report
/// directory: the index shows the fleet first and folds the healthy stations into
/// table rows, every station has its page, every link resolves, and the index and a
/// station's page load in Chromium without a console message, heatmap drawn.
#[test]
fn a_large_fleet_is_folded_and_its_report_directory_loads_in_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    success(
        lakenode()
            .args(["demo", "--stations", "32", "--hours", "2", "--outages"])
            .args(["--seed", "3", "--start", "2026-11-20T06:00:00Z"])
            .arg("--data-dir")
            .arg(&dir)
            .env("LAKENODE_LOG", "warn"),
    );
    let lake = dir.join("s3/lakenode");
    let site = tmp.path().join("site");
    let out = format!("{}/", site.display());
    let (o, stdout, stderr) = output(lakenode().args([
        "report",
        "--lake",
        lake.to_str().unwrap(),
        "--at",
        "2026-11-20T08:00:00Z",
        "--out",
        &out,
    ]));
    assert!(matches!(o.status.code(), Some(0 | 6)), "{stdout}\n{stderr}");
    assert!(stdout.contains("in 33 pages; 32 stations"), "{stdout}");
    let index = std::fs::read_to_string(site.join("index.html")).unwrap();
    let at = |needle: &str| index.find(needle).unwrap_or_else(|| panic!("{needle}"));
    assert!(at("(mean of 32 stations)") < at("id=\"stations\""));
    assert!(at("id=\"health\"") < at("<section id="));
    assert!(at("<section id=") < at("id=\"stations\""));
    assert!(at("id=\"stations\"") < at("<details id=\"others\">"));
    for needle in ["<script", "src=", "url(", "@import", "https:"] {
        assert!(!index.contains(needle), "the page contains {needle:?}");
    }
    let mut links = 0;
    for part in index.split("href=\"").skip(1) {
        let target = &part[..part.find('"').unwrap()];
        match target.strip_prefix('#') {
            Some(id) => assert!(index.contains(&format!(" id=\"{id}\"")), "{id}"),
            None => assert!(site.join(target).is_file(), "{target}"),
        }
        links += 1;
    }
    assert!(links >= 32, "{links} links");
    for id in stations_of(&lake) {
        let page = site.join(format!("station/s-{id}.html"));
        let html = std::fs::read_to_string(&page).unwrap();
        assert!(html.contains("<a href=\"../index.html\">"), "{id}");
        assert!(html.contains(&format!("<section id=\"s-{id}\">")), "{id}");
    }
    let shot = render(&site.join("index.html"), tmp.path(), 1400);
    assert!(shot.console.is_empty(), "console: {:#?}", shot.console);
    assert!(heatmap_colours(&shot) >= 1, "the index's heatmap is drawn");
    let first = stations_of(&lake).remove(0);
    let shot = render(
        &site.join(format!("station/s-{first}.html")),
        tmp.path(),
        900,
    );
    assert!(shot.console.is_empty(), "console: {:#?}", shot.console);
    assert!(
        heatmap_colours(&shot) >= 1,
        "the station's heatmap is drawn"
    );
}

/// A demo lake without outages: `stations` stations for `hours` from `start`.
fn demo_at(root: &Path, name: &str, stations: &str, hours: &str, start: &str) -> PathBuf {
    let dir = root.join(name);
    success(
        lakenode()
            .args(["demo", "--stations", stations, "--hours", hours])
            .args(["--seed", &name.len().to_string(), "--start", start])
            .arg("--data-dir")
            .arg(&dir)
            .env("LAKENODE_LOG", "warn"),
    );
    dir.join("s3/lakenode")
}

/// The user's report: a lake whose newest sample is months old was drawn with every
/// station "now", 0 silent, exit 0. Silence is measured against now (or `--at`).
#[test]
fn a_lake_silent_since_january_alarms_and_says_how_long_ago() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = demo_at(tmp.path(), "jan", "3", "6", "2026-01-10T00:00:00Z");
    let lake_arg = lake.to_str().unwrap();
    let out = tmp.path().join("now.html");
    let (o, stdout, stderr) = report(&["--lake", lake_arg], &out);
    assert_eq!(o.status.code(), Some(SILENT), "{stdout}\n{stderr}");
    assert!(stdout.contains("3 stations (3 silent)"), "{stdout}");
    assert_eq!(stderr.matches(" d before now)").count(), 3, "{stderr}");
    assert!(
        stderr.contains("the lake has no sample in the 7 day(s) up to"),
        "{stderr}"
    );
    assert!(stderr.contains("exit code 6"), "{stderr}");
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(
        html.contains("<b>3 of 3 station(s) silent</b>"),
        "the alarm"
    );
    assert!(
        html.contains("<b>Nothing in the 7 day(s) up to "),
        "stale, said so"
    );
    // The newest data is still drawn, every age in days, never "now".
    assert!(html.contains("2026-01-10 to 2026-01-10 (UTC days)"));
    let heatmap =
        &html[html.find("id=\"coverage\"").unwrap()..html.find("id=\"stations\"").unwrap()];
    assert_eq!(heatmap.matches(" d before now\n").count(), 3, "{heatmap}");
    assert!(!heatmap.contains("\nnow\n"), "{heatmap}");

    // As of the end of the data: nothing is silent, exit 0.
    let (o, stdout, stderr) = report(&["--lake", lake_arg, "--at", "2026-01-10T06:00:00Z"], &out);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("3 stations (0 silent)"), "{stdout}");
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("<b>0 silent</b>") && !html.contains("class=\"alarm\""));
    assert!(html.contains("<b>as of 2026-01-10T06:00:00Z</b>"));

    // Three hours later: silent for 3 h, and the empty hours are drawn up to --at.
    let (o, stdout, stderr) = report(&["--lake", lake_arg, "--at", "2026-01-10T09:00:00Z"], &out);
    assert_eq!(o.status.code(), Some(SILENT), "{stdout}\n{stderr}");
    assert_eq!(stderr.matches("(3 h before --at)").count(), 3, "{stderr}");
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("drawn until 2026-01-10T09:00:00Z"));
    assert_eq!(html.matches("<td>66.7%</td>").count(), 3, "6 h of 9");
    // Data after --at is left out: the report is as it was then.
    let (o, stdout, _) = report(&["--lake", lake_arg, "--at", "2026-01-10T03:00:00Z"], &out);
    assert_eq!(o.status.code(), Some(0));
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(stdout.contains("(0 silent)"));
    assert!(html.contains("drawn until 2026-01-10T03:00:00Z"));
    // An --at before the lake's first day, or in the future, is a mistake, not a report.
    let (o, _, stderr) = report(&["--lake", lake_arg, "--at", "2026-01-09T12:00:00Z"], &out);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("on or before --at 2026-01-09T12:00:00Z: give a later --at"),
        "{stderr}"
    );
    let (o, _, stderr) = report(&["--lake", lake_arg, "--at", "2999-01-01T00:00:00Z"], &out);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--at 2999-01-01T00:00:00Z is in the future"),
        "{stderr}"
    );
    let (o, _, stderr) = report(&["--lake", lake_arg, "--at", "yesterday"], &out);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not an RFC 3339 time"), "{stderr}");
}

/// Copies the directory tree `from` into `to`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn a_station_that_starts_mid_period_is_counted_from_its_first_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = demo_at(tmp.path(), "old", "2", "12", "2026-01-10T00:00:00Z");
    let new = demo_at(tmp.path(), "newer", "1", "6", "2026-01-10T06:00:00Z");
    copy_tree(&new, &lake);
    let new_id = stations_of(&new).swap_remove(0);
    let out = tmp.path().join("r.html");
    let (o, stdout, stderr) = report(
        &[
            "--lake",
            lake.to_str().unwrap(),
            "--at",
            "2026-01-10T12:00:00Z",
        ],
        &out,
    );
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("3 stations (0 silent)"), "{stdout}");
    let html = std::fs::read_to_string(&out).unwrap();
    let table = &html[html.find("id=\"stations\"").unwrap()..];
    let row = table.lines().find(|l| l.contains(&new_id)).unwrap();
    assert!(row.contains("<td>100.0%</td>"), "not 50%: {row}");
    assert_eq!(table.matches("<td>100.0%</td>").count(), 3, "{table}");
    // Its first six hours are grey, "not started", not red.
    assert!(
        html.contains(&format!(
            "<title>{new_id}: 01-10 00:00 to 01-10 06:00 UTC: not started yet"
        )),
        "{html}"
    );
    assert!(!html.contains("#C82828"), "no empty (red) cell");
}

/// Writes a registry naming `ids` `Station 0`, `Station 1`, ... around Hamburg, and
/// `extra` lines after them.
fn registry(path: &Path, ids: &[String], extra: &str) {
    let mut text = String::from("id,name,latitude,longitude\n");
    for (i, id) in ids.iter().enumerate() {
        let f = i as f64;
        text.push_str(&format!(
            "{id},Station {i},{:.4},{:.4}\n",
            53.50 + 0.01 * f,
            9.90 + 0.015 * (f % 3.0)
        ));
    }
    text.push_str(extra);
    std::fs::write(path, text).unwrap();
}

/// The id of the one station the 6-station demo lake's report lists as silent.
fn silent_station(lake: &Path, work: &Path) -> String {
    let (_, _, stderr) = report(
        &["--lake", lake.to_str().unwrap(), "--at", DEMO_END],
        &work.join("first.html"),
    );
    // A log line: `<time>  WARN silent: <id> (<how long>)`.
    let line = stderr
        .lines()
        .find_map(|l| l.split_once("silent: ").map(|(_, s)| s))
        .unwrap();
    line[..line.find(" (").unwrap()].to_owned()
}

#[test]
fn a_station_registry_names_and_places_the_stations() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = demo_lake(tmp.path()).join("s3/lakenode");
    let silent = silent_station(&lake, tmp.path());
    // One reporting station is left out of the registry; one listed is never seen.
    let mut ids = stations_of(&lake);
    let pos = ids.iter().position(|id| *id != silent).unwrap();
    let unlisted = ids.remove(pos);
    let ghost = "0190ffff-0000-7000-8000-000000000000";
    let csv = tmp.path().join("stations.csv");
    registry(&csv, &ids, &format!("{ghost},Never Seen,53.6,10.0\n"));
    let out = tmp.path().join("r.html");
    let args = [
        "--lake",
        lake.to_str().unwrap(),
        "--at",
        DEMO_END,
        "--stations",
        csv.to_str().unwrap(),
    ];
    let (o, stdout, stderr) = report(&args, &out);
    assert_eq!(o.status.code(), Some(SILENT), "{stdout}\n{stderr}");
    assert!(stdout.contains("7 stations (2 silent)"), "{stdout}");
    assert!(
        stderr.contains(&format!("silent: Never Seen ({ghost}) (never heard from)")),
        "{stderr}"
    );
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains(&format!(
        "Not in the station registry (drawn by id, without a position): {unlisted}."
    )));
    assert!(html.contains(&format!(
        "never heard from in the lake (listed as silent): Never Seen ({ghost})."
    )));
    let i = ids.iter().position(|id| *id == silent).unwrap();
    assert!(
        html.contains(&format!(">Station {i}</a> (6 h before --at)")),
        "the alarm names the silent station"
    );
    // The position plot: a dot per placed station, silent ones in red.
    let plot = &html[html.find("id=\"positions\"").unwrap()..html.find("id=\"stations\"").unwrap()];
    assert_eq!(plot.matches("<circle").count(), 6, "{plot}");
    assert_eq!(
        plot.matches("r=\"7\" fill=\"#B2182B\"").count(),
        2,
        "{plot}"
    );
    assert!(
        plot.contains(&format!(
            "<title>Station {i} ({silent}): silent, last sample 6 h before --at</title>"
        )),
        "{plot}"
    );

    // A malformed line is named, and nothing is written.
    std::fs::write(
        &csv,
        format!(
            "id,name,latitude,longitude\n{},A,53.5,9.9\n{},B,north,9.9\n",
            ids[0], ids[1]
        ),
    )
    .unwrap();
    let bad = tmp.path().join("bad.html");
    let (o, _, stderr) = report(&args, &bad);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("stations.csv line 3: latitude `north` is not a number of degrees"),
        "{stderr}"
    );
    assert!(!bad.exists());
}

/// Pixels of exactly `colour` in a screenshot.
fn pixels(shot: &Rendered, colour: [u8; 3]) -> usize {
    shot.rgb.iter().filter(|p| **p == colour).count()
}

/// `page` with a script that paints the whole page green if nothing overflows its
/// width, magenta if the page itself scrolls sideways (as measured by the browser).
fn overflow_probe(page: &str) -> String {
    page.replace(
        "</body>",
        "<script>(function(){var d=document.documentElement;var c=d.scrollWidth>d.clientWidth\
         ?'#FF00FF':'#00FF00';d.style.background=c;document.body.style.background=c;})()\
         </script></body>",
    )
}

#[test]
fn in_chromium_the_positions_show_status_colours_and_the_page_fits_a_phone() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = demo_lake(tmp.path()).join("s3/lakenode");
    let ids = stations_of(&lake);
    let csv = tmp.path().join("stations.csv");
    registry(&csv, &ids, "");
    let page = tmp.path().join("r.html");
    let (o, ..) = report(
        &[
            "--lake",
            lake.to_str().unwrap(),
            "--at",
            DEMO_END,
            "--stations",
            csv.to_str().unwrap(),
        ],
        &page,
    );
    assert_eq!(o.status.code(), Some(SILENT));
    let html = std::fs::read_to_string(&page).unwrap();

    // The position plot's dots in their status colours: compared with the same page
    // without the plot, each dot adds its colour (a dot of radius 7 is over 100 px).
    let shot = render(&page, tmp.path(), 1800);
    assert!(shot.console.is_empty(), "console: {:#?}", shot.console);
    let start = html.find("<h2 id=\"positions\"").unwrap();
    let end = html.find("<h2 id=\"stations\"").unwrap();
    let without = tmp.path().join("without.html");
    std::fs::write(&without, format!("{}{}", &html[..start], &html[end..])).unwrap();
    let bare = render(&without, tmp.path(), 1800);
    let (silent, ok) = ([0xB2, 0x18, 0x2B], [0x1A, 0x98, 0x50]);
    let gained = |c| pixels(&shot, c).saturating_sub(pixels(&bare, c));
    assert!(gained(silent) >= 100, "1 silent dot: {} px", gained(silent));
    assert!(gained(ok) >= 4 * 100, "5 reporting dots: {} px", gained(ok));

    // At a phone's width (400 px) the page does not scroll sideways: wide charts
    // scroll inside their own boxes. Without those boxes' style it does (the check
    // can fail).
    let probe = tmp.path().join("probe.html");
    std::fs::write(&probe, overflow_probe(&html)).unwrap();
    let phone = render_sized(&probe, tmp.path(), 400, 900);
    assert_eq!(phone.width, 400);
    let (green, magenta) = ([0, 255, 0], [255, 0, 255]);
    assert!(
        pixels(&phone, green) > 1000 && pixels(&phone, magenta) == 0,
        "the page overflows a phone's width"
    );
    if let Some(keep) = std::env::var_os("LAKENODE_KEEP_PHONE_SCREENSHOT") {
        let plain = render_sized(&page, tmp.path(), 400, 1600);
        drop(plain);
        std::fs::copy(tmp.path().join("shot.png"), keep).unwrap();
    }
    let broken = html.replace(".scroll{overflow-x:auto;max-width:100%}", "");
    assert_ne!(broken, html, "the style rule is where the test expects it");
    std::fs::write(&probe, overflow_probe(&broken)).unwrap();
    let phone = render_sized(&probe, tmp.path(), 400, 900);
    assert!(
        pixels(&phone, magenta) > 1000 && pixels(&phone, green) == 0,
        "a page without scroll boxes is caught overflowing"
    );
}
