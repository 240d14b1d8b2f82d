//! The recipes of docs/lake.md, run as written against lakes `lakenode demo` builds with
//! stations of different columns: DuckDB, Polars and pyarrow read every station with
//! nulls where it does not measure a column; the Athena DDL (which cannot run here)
//! has a location template that gives every file's directory and parses back through
//! `LakeKey`, and the column types its files' Parquet types map to.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use lakenode::layout::{LakeKey, Tree};
use parquet::basic::{LogicalType, TimeUnit, Type as PhysicalType};

/// The lake path and bucket location the recipes are written with.
const LAKE_IN_DOC: &str = "/srv/lake";
const LOCATION_IN_DOC: &str = "s3://my-bucket/lake/";

/// Column sets of the demo's stations (station i gets list i mod 3).
const COLUMNS: [&str; 3] = [
    "temperature,humidity",
    "pm25,pm10,co2",
    "temperature,humidity,pressure,pm1,pm25,pm10,co2,voc_index,battery",
];

/// The fenced block after `<!-- recipe: NAME -->` in docs/lake.md.
fn recipe(name: &str) -> String {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/lake.md"))
            .unwrap();
    let marker = format!("<!-- recipe: {name} -->");
    let after = &doc[doc.find(&marker).unwrap_or_else(|| panic!("no {marker}")) + marker.len()..];
    let fence = after.find("```").unwrap();
    let body = &after[fence..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("\n```").unwrap() + 1].to_owned()
}

/// A demo lake of one hour on 2026-02-03 (720 rows per station) with `stations`
/// stations of the `COLUMNS` sets; returns the lake directory.
fn demo_lake(root: &Path, profile: &str, stations: u32) -> PathBuf {
    let data = root.join(profile);
    let mut cmd = lakenode();
    cmd.args([
        "demo",
        "--hours",
        "1",
        "--start",
        "2026-02-03T00:00:00Z",
        "--no-compact",
    ])
    .args(["--profile", profile, "--stations", &stations.to_string()])
    .arg("--data-dir")
    .arg(&data);
    for c in COLUMNS {
        cmd.args(["--columns", c]);
    }
    success(&mut cmd);
    data.join("s3/lakenode")
}

/// Each station of the lake's data tree and the columns its files hold.
fn stations_of(lake: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for f in files_with_extension(lake, "parquet") {
        let key = f.strip_prefix(lake).unwrap().to_string_lossy().into_owned();
        let parsed = LakeKey::parse(None, &key).unwrap();
        if parsed.tree == Tree::Data {
            let file = lakenode_lake::readback::decode(std::fs::read(&f).unwrap()).unwrap();
            out.insert(
                parsed.station.to_string(),
                file.columns.iter().map(|m| m.name().to_owned()).collect(),
            );
        }
    }
    out
}

/// Runs `script` with the test venv's Python, `EXPECTED` (station -> its columns)
/// defined before it; returns stdout.
fn python_run(script: &str, expected: &BTreeMap<String, Vec<String>>) -> String {
    let json: Vec<String> = expected
        .iter()
        .map(|(s, cols)| format!("{s:?}: {cols:?}"))
        .collect();
    let full = format!("EXPECTED = {{{}}}\n{script}", json.join(", "));
    let out = std::process::Command::new(python())
        .args(["-c", &full])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{full}\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Checks appended to the DuckDB and Polars recipes: one row per station, 720 rows
/// each, a mean temperature and a maximum PM2.5 exactly where the station measures them.
const CHECK_PER_STATION: &str = r#"
assert sorted(r[0] for r in ROWS) == sorted(EXPECTED), ROWS
for station, rows, temperature, pm25 in ROWS:
    assert rows == 720, (station, rows)
    assert (temperature is not None) == ("temperature" in EXPECTED[station]), (station, temperature)
    assert (pm25 is not None) == ("pm25" in EXPECTED[station]), (station, pm25)
print("checked", len(ROWS), "stations")
"#;

#[test]
fn the_documented_recipes_read_a_lake_of_stations_with_different_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let compat = demo_lake(tmp.path(), "compat", 3);
    let compact = demo_lake(tmp.path(), "compact", 3);
    for (lake, profile) in [(&compat, "compat"), (&compact, "compact")] {
        let expected = stations_of(lake);
        assert_eq!(expected.len(), 3, "{expected:?}");
        let path = lake.to_str().unwrap();

        // DuckDB: the SQL as written.
        let sql = recipe("duckdb").replace(LAKE_IN_DOC, path);
        let script = format!(
            "import duckdb\nSQL = {sql:?}\nROWS = duckdb.sql(SQL).fetchall()\nprint(ROWS)\n{CHECK_PER_STATION}"
        );
        let out = python_run(&script, &expected);
        assert!(out.contains("checked 3 stations"), "{out}");

        // Polars: the script as written (PROFILE set as the doc says for this lake).
        let mut polars = recipe("polars").replace(LAKE_IN_DOC, path);
        if profile == "compact" {
            let before = polars.clone();
            polars = polars.replace("PROFILE = COMPAT ", "PROFILE = COMPACT ");
            assert_ne!(polars, before, "the recipe sets PROFILE");
        }
        let script = format!(
            "{polars}\nROWS = [tuple(r) for r in per_station.iter_rows()]\n{CHECK_PER_STATION}"
        );
        let out = python_run(&script, &expected);
        println!("Polars on the {profile} lake:\n{out}");
        assert!(out.contains("checked 3 stations"), "{out}");
    }

    // pyarrow: the script as written, on the compat lake.
    let expected = stations_of(&compat);
    let script = format!(
        "{}\n{}",
        recipe("pyarrow").replace(LAKE_IN_DOC, compat.to_str().unwrap()),
        r#"
assert table.num_rows == 720 * len(EXPECTED), table.num_rows
for station, columns in EXPECTED.items():
    rows = table.filter(pc.field("station") == station)
    assert rows.num_rows == 720, (station, rows.num_rows)
    for m in MEASUREMENTS:
        all_null = rows.column(m).null_count == rows.num_rows
        assert all_null == (m not in columns), (station, m)
assert table.schema.field("month").type == pa.int32()
print("checked", len(EXPECTED), "stations")
"#
    );
    let out = python_run(&script, &expected);
    assert!(out.contains("checked 3 stations"), "{out}");
}

/// A table's DDL: its columns (name, type), LOCATION and TBLPROPERTIES.
struct Ddl {
    columns: Vec<(String, String)>,
    location: String,
    properties: BTreeMap<String, String>,
}

fn parse_ddl(sql: &str) -> Ddl {
    let open = sql.find("(\n").unwrap();
    let close = sql.find("\n)\nPARTITIONED BY").unwrap();
    let columns = sql[open + 2..close]
        .lines()
        .map(|l| {
            let (name, ty) = l.trim().trim_end_matches(',').split_once(' ').unwrap();
            (name.trim_matches('`').to_owned(), ty.to_owned())
        })
        .collect();
    assert!(
        sql.contains("PARTITIONED BY (station string, year int, month int, day int)"),
        "{sql}"
    );
    let quoted = |l: &str| l.split('\'').nth(1).map(str::to_owned);
    let location = sql
        .lines()
        .find(|l| l.starts_with("LOCATION "))
        .and_then(quoted)
        .unwrap();
    let properties = sql
        .lines()
        .filter(|l| l.contains("' = '"))
        .map(|l| {
            let parts: Vec<&str> = l.split('\'').collect();
            (parts[1].to_owned(), parts[3].to_owned())
        })
        .collect();
    Ddl {
        columns,
        location,
        properties,
    }
}

/// The Athena type a Parquet column maps to.
fn athena_type(c: &parquet::schema::types::ColumnDescriptor) -> String {
    match (c.physical_type(), c.logical_type_ref()) {
        (PhysicalType::FLOAT, None) => "float".into(),
        (PhysicalType::INT32, None) => "int".into(),
        (PhysicalType::INT32, Some(LogicalType::Decimal(d))) => {
            format!("decimal({},{})", d.precision, d.scale)
        }
        (PhysicalType::INT64, None) => "bigint".into(),
        (PhysicalType::INT64, Some(LogicalType::Timestamp(t))) if t.unit == TimeUnit::MILLIS => {
            "timestamp".into()
        }
        (PhysicalType::BYTE_ARRAY, Some(LogicalType::String)) => "string".into(),
        other => panic!("{}: no Athena type for {other:?}", c.name()),
    }
}

impl Ddl {
    fn property(&self, key: &str) -> &str {
        self.properties
            .get(key)
            .unwrap_or_else(|| panic!("no {key}"))
    }

    /// The template filled in for one partition, with the projection's digits.
    fn location_of(&self, station: &str, year: i16, month: i8, day: i8) -> String {
        let digits = |p: &str| {
            self.property(&format!("projection.{p}.digits"))
                .parse::<usize>()
                .unwrap()
        };
        self.property("storage.location.template")
            .replace("${station}", station)
            .replace("${year}", &format!("{year:0w$}", w = digits("year")))
            .replace("${month}", &format!("{month:0w$}", w = digits("month")))
            .replace("${day}", &format!("{day:0w$}", w = digits("day")))
    }

    fn range(&self, p: &str) -> (i64, i64) {
        let (lo, hi) = self
            .property(&format!("projection.{p}.range"))
            .split_once(',')
            .unwrap();
        (lo.parse().unwrap(), hi.parse().unwrap())
    }

    /// Every file of `tree` in `lake`: the template gives its directory and the
    /// projection's ranges hold its day; its columns have the DDL's types.
    fn check_lake(&self, lake: &Path, tree: Tree) -> usize {
        assert_eq!(self.property("projection.enabled"), "true");
        assert!(
            self.property("storage.location.template")
                .starts_with(&self.location),
            "the template lies under LOCATION"
        );
        let types: BTreeMap<&str, &str> = self
            .columns
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        let mut files = 0;
        for f in files_with_extension(lake, "parquet") {
            let key = f.strip_prefix(lake).unwrap().to_string_lossy().into_owned();
            let k = LakeKey::parse(None, &key).unwrap();
            if k.tree != tree {
                continue;
            }
            files += 1;
            let dir = format!("{LOCATION_IN_DOC}{}/", k.dir());
            let (y, m, d) = (k.date.year(), k.date.month(), k.date.day());
            assert_eq!(self.location_of(k.station.as_str(), y, m, d), dir, "{key}");
            for (p, v) in [
                ("year", i64::from(y)),
                ("month", m.into()),
                ("day", d.into()),
            ] {
                let (lo, hi) = self.range(p);
                assert!((lo..=hi).contains(&v), "{p} {v} outside {lo},{hi}");
            }
            let file = lakenode_lake::readback::open(std::fs::read(&f).unwrap()).unwrap();
            for c in file.metadata().file_metadata().schema_descr().columns() {
                let want = types
                    .get(c.name())
                    .unwrap_or_else(|| panic!("{key}: column {} not in the DDL", c.name()));
                assert_eq!(*want, athena_type(c), "{key}: {}", c.name());
                seen.insert(c.name().to_owned());
            }
        }
        let declared: std::collections::BTreeSet<String> =
            self.columns.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(seen, declared, "every DDL column is in some file");
        files
    }

    /// Keys made from the template across the projection's ranges parse back to the
    /// same tree, station and day.
    fn check_parses_back(&self, tree: Tree, station: &str) {
        let (y0, y1) = self.range("year");
        assert!(y0 <= 2001, "the node writes from 2001");
        assert_eq!((self.range("month"), self.range("day")), ((1, 12), (1, 31)));
        let name = match tree {
            Tree::Data => "data_0000.parquet",
            Tree::Health => "health_0000.parquet",
        };
        for y in [y0, 2026, y1] {
            for (m, d) in [(1, 1), (2, 28), (12, 31)] {
                let (y, m, d) = (i16::try_from(y).unwrap(), m, d);
                let location = self.location_of(station, y, m, d);
                let key = format!("{location}{name}");
                let key = key.strip_prefix(LOCATION_IN_DOC).unwrap();
                let k = LakeKey::parse(None, key).unwrap_or_else(|e| panic!("{key}: {e:?}"));
                assert_eq!(
                    (k.tree, k.station.as_str(), k.date),
                    (tree, station, jiff::civil::date(y, m, d)),
                    "{key}"
                );
                assert_eq!(k.to_key(None), key);
            }
        }
    }
}

#[test]
fn the_athena_tables_match_the_key_layout_and_the_files_types() {
    let tmp = tempfile::tempdir().unwrap();
    for (profile, table) in [("compat", "athena-compat"), ("compact", "athena-compact")] {
        let lake = demo_lake(tmp.path(), profile, 3);
        let station = stations_of(&lake).into_keys().next().unwrap();
        let data = parse_ddl(&recipe(table));
        assert_eq!(data.location, LOCATION_IN_DOC);
        assert_eq!(data.check_lake(&lake, Tree::Data), 12, "{profile}");
        data.check_parses_back(Tree::Data, &station);
        let health = parse_ddl(&recipe("athena-health"));
        assert_eq!(health.location, format!("{LOCATION_IN_DOC}health/"));
        assert_eq!(health.check_lake(&lake, Tree::Health), 12, "{profile}");
        health.check_parses_back(Tree::Health, &station);
    }
}

/// One profile per prefix: `run` on a spool that wrote `compat` files to a prefix
/// refuses `--profile compact` there (exit 2, nothing written), and takes it under
/// another prefix.
#[test]
fn run_refuses_a_second_profile_in_the_same_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = lake_server(&tmp.path().join("s3"));
    let station = "0190f5c2-0000-7000-8000-00000000ca01";
    let spool = tmp.path().join("spool");
    let run = |profile: &str, prefix: &str, start: &str| {
        let mut c = run_to(&s3.endpoint(), station, &spool);
        c.args(["--simulate", "7", "--profile", profile, "--prefix", prefix])
            .args(["--start", start, "--duration", "15m"]);
        output(&mut c)
    };
    let (out, _, stderr) = run("compat", "raw", "2026-11-20T00:00:00Z");
    assert!(out.status.success(), "{stderr}");
    let lake = tmp.path().join("s3/lake");
    let before = files_with_extension(&lake, "parquet").len();
    let (out, _, stderr) = run("compact", "raw", "2026-11-20T00:15:00Z");
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("this spool wrote `compat` files to prefix `raw`")
            && stderr.contains("under another prefix"),
        "{stderr}"
    );
    assert_eq!(files_with_extension(&lake, "parquet").len(), before);
    let (out, _, stderr) = run("compact", "compact", "2026-11-20T00:15:00Z");
    assert!(out.status.success(), "{stderr}");
    assert!(lake.join("compact").is_dir());
}
