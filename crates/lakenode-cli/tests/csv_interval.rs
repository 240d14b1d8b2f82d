//! `run --csv` and `encode --input`: the footers state the CSV's own sampling interval (a
//! 1-minute CSV's say 60000 ms, not the 5 s default), and an `--interval` that
//! contradicts the CSV is refused before anything is recorded, naming both.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::*;

const STATION: &str = "0190f5c2-0000-7000-8000-0000000000c5";

/// One hour of 1-minute samples from 2026-11-20T00:00Z.
fn minute_csv(dir: &std::path::Path) -> std::path::PathBuf {
    let mut text = String::from("timestamp,temperature\n");
    for i in 0..60 {
        text.push_str(&format!(
            "{},{}.5\n",
            1_795_132_800_000_i64 + i * 60_000,
            20 + i % 3
        ));
    }
    let path = dir.join("minutes.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_one_minute_csv_without_interval_gets_footers_of_60000_ms() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = lake_server(&tmp.path().join("s3"));
    let csv = minute_csv(tmp.path());
    success(
        run_to(&s3.endpoint(), STATION, &tmp.path().join("spool"))
            .arg("--csv")
            .arg(&csv),
    );
    let lake = tmp.path().join("s3/lake");
    let dir = lake.join(format!("station={STATION}/year=2026/month=11/day=20"));
    let files = files_with_extension(&dir, "parquet");
    assert_eq!(files.len(), 4, "four 15-minute windows: {files:?}");
    for f in &files {
        let out = success(lakenode().arg("inspect").arg(f));
        assert!(out.contains("\"interval_ms\":60000"), "{out}");
        assert!(out.contains("rows        15"), "{out}");
    }
    // The independent readers see the same footer.
    let script = format!(
        "import glob, json, pyarrow.parquet as pq\n\
         for f in glob.glob({:?} + '/*.parquet'):\n    \
         m = json.loads(pq.read_metadata(f).metadata[b'lakenode'])\n    \
         assert m['interval_ms'] == 60000, (f, m)\n\
         print('ok')",
        dir.display().to_string()
    );
    let out = std::process::Command::new(python())
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ok"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_one_minute_csv_with_interval_5s_is_refused_naming_both() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = lake_server(&tmp.path().join("s3"));
    let csv = minute_csv(tmp.path());
    let spool = tmp.path().join("spool");
    let (out, _, stderr) = output(
        run_to(&s3.endpoint(), STATION, &spool)
            .arg("--csv")
            .arg(&csv)
            .args(["--interval", "5s"]),
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("minutes.csv: its samples are 1m apart")
            && stderr.contains("--interval is 5s")
            && stderr.contains("would state the wrong sampling interval. Give --interval 1m"),
        "{stderr}"
    );
    assert!(
        files_with_extension(&tmp.path().join("s3/lake"), "parquet").is_empty()
            && !spool.join("journal.lkj").exists(),
        "nothing recorded"
    );
    // The matching interval is accepted.
    success(
        run_to(&s3.endpoint(), STATION, &spool)
            .arg("--csv")
            .arg(&csv)
            .args(["--interval", "1m"]),
    );
}

/// A CSV from a pipe is refused with what to do, not misread: the file is read twice
/// (checked whole, then imported), and a pipe is empty the second time.
#[cfg(unix)]
#[test]
fn a_csv_from_a_pipe_is_refused_with_a_clear_message() {
    use std::io::Write as _;
    use std::process::Stdio;
    let tmp = tempfile::tempdir().unwrap();
    let s3 = lake_server(&tmp.path().join("s3"));
    let text = std::fs::read(minute_csv(tmp.path())).unwrap();
    let mut child = run_to(&s3.endpoint(), STATION, &tmp.path().join("spool"))
        .args(["--csv", "/dev/stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The refusal comes before anything is read: a closed pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(&text);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("not a regular file") && stderr.contains("save it to a file first"),
        "{stderr}"
    );
    assert!(files_with_extension(&tmp.path().join("spool"), "lks").is_empty());
}

/// Issue 22, item 7: `encode --input` wrote the 5 s default into the footer of a
/// 1-minute CSV (`"interval_ms":5000`); it now states the CSV's own, and refuses a
/// contradicting `--interval` as `run --csv` does, before the output is touched.
#[test]
fn encode_states_the_csvs_interval_and_refuses_a_contradicting_one() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = minute_csv(tmp.path());
    let parquet = tmp.path().join("minutes.parquet");
    let encode = |extra: &[&str]| {
        let mut c = lakenode();
        c.arg("encode")
            .arg("--input")
            .arg(&csv)
            .arg("--output")
            .arg(&parquet)
            .args(extra);
        output(&mut c)
    };
    let (out, _, stderr) = encode(&["--interval", "5s"]);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("minutes.csv: its samples are 1m apart")
            && stderr.contains("--interval is 5s"),
        "{stderr}"
    );
    assert!(!parquet.exists(), "nothing written");
    for extra in [&[][..], &["--interval", "1m"]] {
        let (out, _, stderr) = encode(extra);
        assert!(out.status.success(), "{extra:?}: {stderr}");
        let report = success(lakenode().arg("inspect").arg(&parquet));
        assert!(
            report.contains("\"interval_ms\":60000")
                && report.contains(
                    "\"start\":\"2026-11-20T00:00:00Z\",\"end\":\"2026-11-20T01:00:00Z\""
                ),
            "{extra:?}: {report}"
        );
    }
}
