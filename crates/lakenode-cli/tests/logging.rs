//! Diagnostics through the real binary: one log style for every command, JSON logs
//! (`--log-format json`: each stderr line one object), progress with totals and an ETA
//! that stays plain log lines when stderr is not a terminal (here, a pipe), and
//! invalid log filters refused with their source named.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::Path;

use common::*;

/// Control characters a progress bar or colours would leave in captured stderr.
fn assert_plain(stderr: &str) {
    assert!(
        !stderr.contains(['\x1b', '\r']),
        "escape sequences or carriage returns in stderr:\n{stderr:?}"
    );
}

/// Each line of `stderr` as JSON, with the fields every line must have.
fn json_lines(stderr: &str) -> Vec<serde_json::Value> {
    assert!(!stderr.trim().is_empty());
    stderr
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}"));
            for key in ["timestamp", "level", "target"] {
                assert!(v[key].is_string(), "no {key}: {l}");
            }
            assert!(v["fields"]["message"].is_string(), "no message: {l}");
            v
        })
        .collect()
}

/// A fleet demo (21 stations: a progress meter, not a line per station) of 4 h across
/// midnight, into `dir`; `format` is the log format.
fn fleet_demo(dir: &Path, format: &str) -> (String, String) {
    let (out, stdout, stderr) = output(
        lakenode()
            .args([
                "--log-format",
                format,
                "demo",
                "--stations",
                "21",
                "--hours",
                "4",
            ])
            .args([
                "--seed",
                "5",
                "--start",
                "2026-11-20T22:00:00Z",
                "--no-compact",
            ])
            .arg("--data-dir")
            .arg(dir)
            .env("LAKENODE_TEST_PROGRESS_EVERY_STEP", "1"),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    (stdout, stderr)
}

#[test]
fn json_logs_are_one_object_a_line_with_progress_totals_and_eta() {
    let tmp = tempfile::tempdir().unwrap();
    let (stdout, stderr) = fleet_demo(&tmp.path().join("demo"), "json");
    assert_plain(&stderr);
    let lines = json_lines(&stderr);
    let progress: Vec<_> = lines
        .iter()
        .filter(|v| v["fields"]["unit"] == "stations")
        .collect();
    assert!(!progress.is_empty(), "no progress line:\n{stderr}");
    for p in &progress {
        assert_eq!(p["fields"]["total"], 21, "{p}");
        assert!(p["fields"]["done"].as_u64().unwrap() <= 21, "{p}");
        let message = p["fields"]["message"].as_str().unwrap();
        assert!(message.starts_with("progress: "), "{p}");
        assert!(message.contains("ETA"), "{p}");
        assert_eq!(p["level"], "INFO");
    }
    // The results stay on stdout, as text.
    assert!(stdout.contains("report "), "{stdout}");

    // compact, its warnings and progress included, and an error at the end: JSON too.
    let lake = tmp.path().join("demo/s3/lakenode");
    let (out, stdout, stderr) = output(
        lakenode()
            .args(["--log-format", "json", "compact", "--lake"])
            .arg(&lake)
            .args(["--before", "2026-11-22"])
            .env("LAKENODE_TEST_PROGRESS_EVERY_STEP", "1"),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let lines = json_lines(&stderr);
    assert!(
        lines.iter().any(|v| v["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("station-days") && m.contains("ETA"))),
        "{stderr}"
    );
    let (out, _, stderr) = output(
        lakenode()
            .args(["--log-format", "json", "report", "--lake"])
            .arg(tmp.path().join("nowhere"))
            .arg("--out")
            .arg(tmp.path().join("r.html")),
    );
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&stderr);
    let last = lines.last().unwrap();
    assert_eq!(last["level"], "ERROR", "{stderr}");
    assert_eq!(last["fields"]["exit_code"], 1, "{stderr}");
}

#[test]
fn without_a_terminal_progress_is_plain_log_lines_and_the_summary_stays() {
    let tmp = tempfile::tempdir().unwrap();
    let (stdout, stderr) = fleet_demo(&tmp.path().join("demo"), "text");
    assert_plain(&stderr);
    assert!(
        stderr.contains("progress: ") && stderr.contains("/21 stations"),
        "{stderr}"
    );
    // Totals and the rate so far beside the stations done.
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("rows delivered and verified, ") && l.contains(" rows/s, ETA")),
        "{stderr}"
    );
    assert!(stdout.contains("report "), "{stdout}");

    let lake = tmp.path().join("demo/s3/lakenode");
    let (out, stdout, stderr) = output(
        lakenode()
            .args(["compact", "--lake"])
            .arg(&lake)
            .args(["--before", "2026-11-22"])
            .env("LAKENODE_TEST_PROGRESS_EVERY_STEP", "1"),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_plain(&stderr);
    // 21 stations, two days each, data and health: 84 station-days to compact.
    for line in stderr.lines().filter(|l| l.contains("progress: ")) {
        assert!(line.contains(" INFO "), "{line}");
        assert!(line.contains("/84 station-days"), "{line}");
        assert!(line.contains(", ETA "), "{line}");
        assert!(
            line.contains(" MB into ") && line.contains(" station-days/s"),
            "{line}"
        );
    }
    assert!(stderr.contains("progress: 84/84 station-days"), "{stderr}");
    assert!(stdout.contains("summary"), "{stdout}");
    assert!(stdout.contains("station-days  84"), "{stdout}");

    let (out, stdout, stderr) = output(
        lakenode()
            .args(["report", "--lake"])
            .arg(&lake)
            .args(["--at", "2026-11-21T02:00:00Z", "--out"])
            .arg(tmp.path().join("r.html"))
            .env("LAKENODE_TEST_PROGRESS_EVERY_STEP", "1"),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_plain(&stderr);
    assert!(stderr.contains("files read"), "{stderr}");
    assert!(stdout.contains("wrote "), "{stdout}");
}

#[test]
fn an_invalid_log_filter_is_an_error_naming_where_it_came_from() {
    let (out, _, stderr) = output(lakenode().args(["--log", "debg", "station-id"]));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--log"), "{stderr}");
    assert!(stderr.contains("`debg` is neither a level"), "{stderr}");

    let (out, _, stderr) = output(
        lakenode()
            .env("RUST_LOG", "lakenode=verbose")
            .arg("station-id"),
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("RUST_LOG"), "{stderr}");

    let (out, stdout, _) = output(lakenode().args(["--log", "lakenode=debug,warn", "station-id"]));
    assert!(out.status.success());
    assert_eq!(stdout.trim().len(), 36);
}
