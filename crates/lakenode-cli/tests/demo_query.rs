//! The DuckDB query the demo prints runs as printed with the duckdb Python package (which
//! installs no `duckdb` command), and its `hive_types` makes `month` and `day` integers,
//! so `WHERE day = 3` finds a zero-padded `day=03`.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::*;

#[test]
fn the_printed_python_duckdb_line_runs_and_partitions_are_integers() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("demo");
    // A day with a zero-padded month and day: DuckDB would guess VARCHAR for both.
    let stdout = success(
        lakenode()
            .args([
                "demo",
                "--hours",
                "1",
                "--start",
                "2026-02-03T00:00:00Z",
                "--data-dir",
            ])
            .arg(&data),
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("python3 -c \""))
        .unwrap_or_else(|| panic!("no Python line in\n{stdout}"));
    assert!(
        stdout.lines().any(|l| l.starts_with("duckdb -c \"")),
        "{stdout}"
    );
    assert!(line.contains("hive_types = {'year': INTEGER, 'month': INTEGER, 'day': INTEGER}"));
    // As a shell would run it, with the test venv's Python.
    let shell_line = line.replacen("python3", &python().display().to_string(), 1);
    let out = std::process::Command::new("sh")
        .args(["-c", &shell_line])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && printed.contains("720"),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same read_parquet, filtered on the partitions as integers.
    let start = line.find("read_parquet(").unwrap();
    let end = line[start..].find(") GROUP BY").unwrap() + start + 1;
    let source = &line[start..end];
    let script = format!(
        "import duckdb\n\
         print(duckdb.sql(\"SELECT count(*), any_value(typeof(month)), any_value(typeof(day)) FROM {source} WHERE year = 2026 AND month = 2 AND day = 3\").fetchall())"
    );
    let out = std::process::Command::new(python())
        .args(["-c", &script])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("(720, 'INTEGER', 'INTEGER')"),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
