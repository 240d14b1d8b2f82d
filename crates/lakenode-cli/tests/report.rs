//! `lakenode report` through the real binary: on a demo lake with simulated power cuts,
//! from a directory and through the embedded S3 server, before and after compaction,
//! with a damaged file; and the page rendered in headless Chromium (Debian's
//! `chromium`), which must load it without a console message and draw a heatmap of
//! several colours.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A demo lake: 6 stations, 30 h, with power cuts (the last station goes silent).
/// Returns the demo's data directory (the lake is `<dir>/s3/lakenode`) and its output.
fn demo_lake_and_output(root: &Path) -> (PathBuf, String) {
    let dir = root.join("demo");
    let out = success(
        lakenode()
            .args(["demo", "--stations", "6", "--hours", "30", "--outages"])
            .args(["--seed", "3", "--start", "2026-11-20T06:00:00Z"])
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
    let (o, stdout, stderr) = report(&["--lake", lake_arg], &local);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("6 stations (1 silent)"), "{stdout}");
    let local_html = std::fs::read_to_string(&local).unwrap();

    // Self-contained: no script, nothing fetched from anywhere.
    for needle in ["<script", "src=", "href=", "url(", "@import", "https:"] {
        assert!(!local_html.contains(needle), "the page contains {needle:?}");
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
        ],
        &from_s3,
    );
    assert!(o.status.success(), "{stdout}\n{stderr}");
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
    let (o, stdout, stderr) = report(&["--lake", lake_arg], &compacted);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    let compacted_html = std::fs::read_to_string(&compacted).unwrap();
    assert_eq!(
        body(&compacted_html),
        body(&local_html),
        "daily files read as windows"
    );

    // --days 1: only the newest day.
    let one = tmp.path().join("one.html");
    let (o, ..) = report(&["--lake", lake_arg, "--days", "1"], &one);
    assert!(o.status.success());
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
    let (o, ..) = report(&["--lake", lake_arg], &before);
    assert!(o.status.success());
    let before = std::fs::read_to_string(before).unwrap();
    let station = std::fs::read_dir(&lake)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter_map(|n| n.strip_prefix("station=").map(str::to_owned))
        .min()
        .unwrap();
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
    let (o, stdout, stderr) = report(&["--lake", lake_arg], &after);
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
    assert_eq!(stderr.matches("warning:").count(), 3, "{stderr}");
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
        .arg(format!("--window-size=1280,{height}"))
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
