//! A report drawn in hours (`--days` up to 7) reads a compacted data day from its
//! footer's summary (version 2: sums per hour) instead of its rows, and draws the same
//! page: a folded fleet of 40 stations (fleet coverage, health bands, worst list,
//! problem stations' charts, the others' hourly means) made from footers and from
//! columns is the same HTML, byte for byte.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::Path;

use lakenode_cli::commands::fleet_lake::{FleetLakeArgs, run};
use lakenode_cli::report::page::{PageInfo, render_page};
use lakenode_cli::report::registry::Registry;
use lakenode_cli::report::render::Clock;
use lakenode_cli::report::scan::{Scan, ScanOptions, scan};
use lakenode_lake::lake::LocalLake;
use lakenode_lake::lake::hooked::{Hooked, LakeHooks, Passes};

const STATIONS: u32 = 40;
/// 2026-11-22T00:30:00Z: half an hour into the day after the lake's last.
const AT: i64 = 1_795_132_800_000 + 2 * 86_400_000 + 1_800_000;

/// Lake hooks counting whole-object reads; with `footers` false every footer read
/// fails, so each day is read from its columns.
struct Reads {
    whole: usize,
    footers: bool,
}

impl LakeHooks for Reads {
    fn passes(&self) -> Passes {
        Passes {
            tails: true,
            ..Passes::default()
        }
    }
    fn reading(&mut self, _key: &str) -> lakenode_lake::Result<()> {
        self.whole += 1;
        Ok(())
    }
    fn reading_tail(&mut self, key: &str) -> lakenode_lake::Result<()> {
        if self.footers {
            Ok(())
        } else {
            Err(lakenode_lake::Error::Check(format!(
                "{key}: no footers here"
            )))
        }
    }
}

fn report(root: &Path, days: u32, footers: bool) -> (Scan, usize) {
    let mut lake = Hooked::new(
        Box::new(LocalLake::new(root.to_path_buf())),
        Reads { whole: 0, footers },
    );
    let options = ScanOptions {
        days,
        now_ms: AT,
        at_ms: AT,
    };
    (scan(&mut lake, &options, |_| {}).unwrap(), lake.hooks.whole)
}

fn page(scan: &Scan) -> String {
    let info = PageInfo {
        lake: "lake".into(),
        generated_ms: AT,
        silent_after_ms: 3_600_000,
        clock: Clock {
            at_ms: AT,
            now: false,
        },
        days: 3,
    };
    render_page(scan, &info, &Registry::default()).unwrap()
}

#[test]
fn compacted_days_drawn_in_hours_come_from_footers_with_the_same_page() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    run(&FleetLakeArgs {
        stations: STATIONS,
        days: 2,
        last: Some(jiff::civil::date(2026, 11, 21)),
        interval_s: 60,
        seed: 7,
        dir: lake.clone(),
        rollups_only: false,
    })
    .unwrap();
    let (mut footers, whole) = report(&lake, 3, true);
    let (columns, all) = report(&lake, 3, false);
    assert!(footers.problems.is_empty(), "{:?}", footers.problems);
    assert!(columns.problems.is_empty(), "{:?}", columns.problems);
    let files = 2 * 2 * STATIONS as usize;
    assert_eq!(all, files, "from columns: every file read whole");
    assert_eq!(
        whole,
        files / 2,
        "from footers: only the health days read whole"
    );
    assert_eq!(footers.files, columns.files);
    assert_eq!(footers.samples, columns.samples);
    assert_eq!(footers.health_rows, columns.health_rows);
    assert!(footers.bytes < columns.bytes, "{} bytes", footers.bytes);
    assert_eq!(footers.fleet.len(), STATIONS as usize);
    assert_eq!(footers.fleet.len(), columns.fleet.len());
    for id in footers.fleet.stations_silent_first() {
        let (a, b) = (footers.fleet.station(id), columns.fleet.station(id));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.buckets, b.buckets, "{id}: every hour's figures, exactly");
        assert_eq!(
            (a.interval_ms, a.last_seen, a.first_in_period),
            (b.interval_ms, b.last_seen, b.first_in_period),
            "{id}"
        );
        assert_eq!(
            (a.last_battery, a.min_battery, a.last_health),
            (b.last_battery, b.min_battery, b.last_health),
            "{id}"
        );
        assert!(a.buckets.len() >= 48, "{id}: two days of hours");
    }
    // The page (its header names the bytes read, which differ by design).
    footers.bytes = columns.bytes;
    let (a, b) = (page(&footers), page(&columns));
    assert!(a.contains("median of the 40 stations"), "a folded page");
    assert!(a.contains("<section id="), "problem stations drawn in full");
    assert!(a == b, "the same page from footers and from columns");
}
