//! `lakenode compact` against what the adversary review found: a window file whose bytes
//! are not the ones stored (F4), hidden temporaries and rollups a kill left behind (F5),
//! an instant kept in files of two schemas (F6), and the lock's holder named while it
//! is being taken (F8).
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};

use common::*;

const STATION: &str = "0190f5c2-0000-7000-8000-000000000c07";

fn day_dir(lake: &Path, day: u32) -> PathBuf {
    lake.join(format!("station={STATION}/year=2026/month=11/day={day:02}"))
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn compact(where_: &[&str]) -> (std::process::Output, String) {
    let out = lakenode_with_credentials()
        .arg("compact")
        .args(where_)
        .args(["--before", "2026-11-22"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stderr)
}

/// Flips one bit of `path` in place where the file still decodes, to other values (as
/// 8 of the adversary's 12 offsets did): a change no Parquet check can see.
fn flip(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let rows = lakenode_lake::readback::decode(bytes.clone())
        .unwrap()
        .samples;
    let flipped = (100..bytes.len() - 100)
        .map(|at| {
            let mut b = bytes.clone();
            b[at] ^= 0x01;
            b
        })
        .find(|b| lakenode_lake::readback::decode(b.clone()).is_ok_and(|f| f.samples != rows))
        .expect("a bit whose flip still decodes");
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    std::io::Write::write_all(&mut f, &flipped).unwrap();
    flipped
}

/// Whether the file carries the embedded store's MD5 (not on a file system without
/// user extended attributes, where there is nothing to compare).
fn has_stored_md5(path: &Path) -> bool {
    let mut buf = [0u8; 192];
    let stored = rustix::fs::getxattr(path, "user.lakenode.md5", &mut buf[..]).is_ok();
    if !stored {
        eprintln!(
            "{}: no user.lakenode.md5 here; nothing to test",
            path.display()
        );
    }
    stored
}

/// [`lake_across_midnight`] with the 23:00 window of the 20th changed by [`flip`]; `None` where
/// the file system keeps no user attributes. Returns the bucket dir, the window, and
/// its bytes before and after.
fn lake_with_a_flipped_window(root: &Path) -> Option<(PathBuf, PathBuf, Vec<u8>, Vec<u8>)> {
    let lake = lake_across_midnight(root, STATION);
    let bad = day_dir(&lake, 20).join("data_2300.parquet");
    if !has_stored_md5(&bad) {
        return None;
    }
    let bytes = std::fs::read(&bad).unwrap();
    let flipped = flip(&bad);
    Some((lake, bad, bytes, flipped))
}

/// A run that refused the damaged file `bad` (its bytes now `flipped`): exit 1, the
/// file named, its station-day left as it was (`before`: the names in it), the file's
/// bytes kept.
fn assert_refused(
    run: &(std::process::Output, String),
    bad: &Path,
    before: &[String],
    flipped: &[u8],
) {
    let (out, stderr) = run;
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let name = bad.file_name().unwrap().to_str().unwrap();
    assert!(
        stderr.contains(name) && stderr.contains("not the ones stored"),
        "{stderr}"
    );
    assert_eq!(
        names(bad.parent().unwrap()),
        before,
        "the station-day is left as it is"
    );
    assert_eq!(std::fs::read(bad).unwrap(), flipped);
}

/// F4, on a local lake: a window file with a bit flipped in place (its `ctime` and
/// `mtime` moved, the server's attribute kept) is refused, named, left as it is with
/// the rest of its station-day, and the run exits 1; the other day is compacted.
/// `inspect` says so too. Before: exit 0, the changed values baked into the daily file
/// and the window file deleted.
#[test]
fn a_window_file_whose_bytes_are_not_the_ones_stored_is_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((lake, bad, _, flipped)) = lake_with_a_flipped_window(tmp.path()) else {
        return;
    };
    let day20 = day_dir(&lake, 20);
    let before = names(&day20);
    let run = compact(&["--lake", lake.to_str().unwrap()]);
    assert_refused(&run, &bad, &before, &flipped);
    assert_eq!(names(&day_dir(&lake, 21)), ["data_day.parquet"]);
    let (out, stdout, stderr) = output(lakenode().arg("inspect").arg(&bad));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("not the ones stored"), "{stderr}");
    // An intact file of the same lake is inspected as before.
    success(
        lakenode()
            .arg("inspect")
            .arg(day20.join("data_2200.parquet")),
    );
}

/// A daily file `compact` wrote itself on a local lake carries the MD5 it was written
/// with (adversary review 2, F1): damaged in place, it is refused when a late window
/// makes its day be compacted again, not rewritten with the damage as sound data.
/// Before: no attribute on a daily file, exit 0, the changed rows baked in.
#[test]
fn a_daily_file_damaged_before_a_late_window_is_refused_not_rewritten() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_across_midnight(tmp.path(), STATION);
    let day21 = day_dir(&lake, 21);
    let late = day21.join("data_0100.parquet");
    let aside = tmp.path().join("late.parquet");
    std::fs::rename(&late, &aside).unwrap();
    let (out, stderr) = compact(&["--lake", lake.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let daily = day21.join("data_day.parquet");
    if !has_stored_md5(&aside) {
        return; // no user attributes on this file system
    }
    let mut buf = [0u8; 192];
    assert!(
        rustix::fs::getxattr(&daily, "user.lakenode.md5", &mut buf[..]).is_ok(),
        "the daily file carries the MD5 it was written with"
    );
    let flipped = flip(&daily);
    std::fs::rename(&aside, &late).unwrap();
    let before = names(&day21);
    let run = compact(&["--lake", lake.to_str().unwrap()]);
    assert_refused(&run, &daily, &before, &flipped);
}

/// F4, through the embedded server: a file damaged in the store without its metadata
/// moving (bit rot: the server's recorded MD5 still valid for the file as it is) is
/// served with its recorded `ETag` and other bytes, read twice the same. `compact`
/// refuses it (exit 1, named, nothing deleted). Before: taken as a store whose `ETag`s
/// are not MD5s, compacted, and deleted.
#[test]
fn through_s3_a_body_that_is_not_its_etag_is_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((lake, bad, bytes, flipped)) = lake_with_a_flipped_window(tmp.path()) else {
        return;
    };
    let stored = lakenode::digest::md5_hex(&bytes);
    // The damage leaves the attribute valid, as rot under the file system would.
    let file = std::fs::File::open(&bad).unwrap();
    lakenode_embedded_s3::store::etag::store(&file, &stored, &file.metadata().unwrap());
    let s3 = lake_server(lake.parent().unwrap());
    let endpoint = s3.endpoint();
    let before = names(&day_dir(&lake, 20));
    let run = compact(&[
        "--endpoint",
        endpoint.as_str(),
        "--bucket",
        "lake",
        "--path-style",
    ]);
    assert_refused(&run, &bad, &before, &flipped);
    assert_eq!(names(&day_dir(&lake, 21)), ["data_day.parquet"]);
}

/// F5: a run killed after writing a daily file (a late window merged into its day)
/// and before its rollup left the rollup with the day's old size; the next runs, with
/// nothing left to compact, never refreshed it. Hidden temporaries of killed runs in
/// days and months no run compacts again were never removed. Now the next run removes
/// them (wherever they are) and brings the rollup up to date; a temporary of a live
/// process that is not a compaction's is kept.
#[test]
fn the_next_run_removes_dead_temporaries_and_refreshes_a_stale_rollup() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_across_midnight(tmp.path(), STATION);
    let day20 = day_dir(&lake, 20);
    let late = std::fs::read(day20.join("data_2345.parquet")).unwrap();
    std::fs::remove_file(day20.join("data_2345.parquet")).unwrap();
    let (out, stderr) = compact(&["--lake", lake.to_str().unwrap()]);
    assert!(out.status.success(), "{stderr}");
    std::fs::write(day20.join("data_2345.parquet"), &late).unwrap();
    // Killed right after the merged daily file is written (the marker of pending
    // months is the first change, the daily file the second).
    let out = lakenode_with_credentials()
        .args(["compact", "--lake", lake.to_str().unwrap()])
        .args(["--before", "2026-11-22"])
        .env("LAKENODE_TEST_ABORT_AFTER_CHANGES", "2")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the abort hook did not fire");
    let rollup_dir = lake.join(format!("rollup/station={STATION}"));
    let dead = [
        day_dir(&lake, 21).join(".data_day.parquet.2147483632.tmp"),
        day_dir(&lake, 21).join(format!(".data_day.parquet.{}.tmp", std::process::id())),
        rollup_dir.join(".month=2026-11.v2.json.2147483632.tmp"),
        lake.join("health").join(".x.parquet.2147483632.tmp"),
    ];
    for path in &dead {
        std::fs::write(path, b"left by a kill").unwrap();
    }
    let live = day_dir(&lake, 21).join(format!(".other.parquet.{}.tmp", std::process::id()));
    std::fs::write(&live, b"being written").unwrap();
    for _ in 0..2 {
        let (out, stderr) = compact(&["--lake", lake.to_str().unwrap()]);
        assert!(out.status.success(), "{stderr}");
    }
    for path in &dead {
        assert!(!path.exists(), "{} is left", path.display());
    }
    assert!(live.exists(), "a live process's temporary was removed");
    assert!(!lake.join(".lakenode-rollups-pending").exists());
    let key = lakenode_lake::rollup::key_of(STATION, "2026-11").unwrap();
    let json = std::fs::read(lake.join(&key)).unwrap();
    let rollup = lakenode_lake::rollup::v2::Month::from_json(&json, STATION, "2026-11").unwrap();
    for day in [20, 21] {
        let daily = day_dir(&lake, day).join("data_day.parquet");
        let size = std::fs::metadata(&daily).unwrap().len();
        let key = daily
            .strip_prefix(&lake)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(rollup.entry(&key, size).is_some(), "{key} at {size} bytes");
    }
}

/// F6: a late window with other columns at instants its compacted day already holds
/// gets a daily file of its own schema; both rows of each such instant are kept, and
/// the run says so (the station-day, the files, how many instants). Before: silent.
#[test]
fn an_instant_in_files_of_two_schemas_is_kept_twice_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_across_midnight(tmp.path(), STATION);
    let (out, stderr) = compact(&["--lake", lake.to_str().unwrap()]);
    assert!(out.status.success(), "{stderr}");
    let csv = tmp.path().join("late.csv");
    std::fs::write(
        &csv,
        "timestamp,temperature\n2026-11-20T23:50:00Z,30.5\n2026-11-20T23:50:05Z,30.5\n\
         2026-11-20T23:50:10Z,30.5\n",
    )
    .unwrap();
    let day20 = day_dir(&lake, 20);
    success(
        lakenode()
            .args(["encode", "--input", csv.to_str().unwrap(), "--output"])
            .arg(day20.join("data_2350.parquet"))
            .args(["--station", STATION]),
    );
    let (out, stderr) = compact(&["--lake", lake.to_str().unwrap()]);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("3 instant(s) are in files of different columns")
            && stderr.contains("day=20"),
        "{stderr}"
    );
    let files = names(&day20);
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files[1].starts_with("data_day_s"), "{files:?}");
}
