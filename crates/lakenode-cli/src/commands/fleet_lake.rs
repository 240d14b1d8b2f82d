//! `lakenode fleet-lake` (hidden): a compacted lake of many stations and days, written
//! straight from the simulator, for measuring `report` over long periods
//! (`scripts/fleet-bench.sh`).
//!
//! Why not the demo: a year of 1,000 stations through the station, spool and upload
//! pipeline and `compact` is 35 million window files. Here each station-day is one
//! `data_day.parquet` and one `health_day.parquet`, as `compact` leaves them: the
//! simulator's samples (the demo's model), the footer's `lakenode` metadata, a sources
//! list of the day's 96 windows and the day's summary ([`lakenode_lake::summary`]),
//! then each station-month's rollup ([`lakenode_lake::rollup`]);
//! health rows every 15 minutes with upload failures, and a reboot now and then.
//! Files are written as plain files under `--dir` (what `lakenode serve` and the
//! embedded server store at `<dir>/<bucket>/<key>`), on one thread per core.
//!
//! ```text
//! lakenode fleet-lake --stations 100 --days 365 --dir /tmp/fleet/lakenode
//! lakenode report --lake /tmp/fleet/lakenode --days 365 --out year.html
//! ```

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use jiff::civil::Date;
use lakenode::encode::{FileMetadata, WriterProfile, encode_window};
use lakenode::health::HealthRow;
use lakenode::layout::StationId;
use lakenode::schema::{Measurement, Schema};
use lakenode::sim::{Simulator, mix64};
use lakenode_lake::compact::SOURCES_KEY;
use lakenode_lake::summary::{self, DaySummary, HealthSummary};
use parquet::file::metadata::KeyValue;

use crate::error::{CliError, CliResult};

const DAY_MS: i64 = 86_400_000;
const WINDOW_MS: i64 = 900_000;

/// `lakenode fleet-lake`.
#[derive(Debug, Args)]
pub struct FleetLakeArgs {
    /// Stations.
    #[arg(long, default_value_t = 1000)]
    pub stations: u32,
    /// Days, ending with `--last`.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// The last day (`YYYY-MM-DD`, default yesterday, UTC).
    #[arg(long)]
    pub last: Option<Date>,
    /// Sampling interval, seconds (the footers a long report reads are the same size
    /// whatever it is; the data pages grow with it).
    #[arg(long, default_value_t = 5)]
    pub interval_s: u32,
    /// Seed of the stations' ids and readings.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The lake's directory (created; must not hold a lake yet).
    #[arg(long)]
    pub dir: PathBuf,
    /// Write nothing but the monthly rollups of the lake already in `--dir` (as
    /// `compact` does: a lake rolled up in version 1 is converted without reading its
    /// footers again), every month of it: rollups written before stamps get theirs.
    #[arg(long, hide = true)]
    pub rollups_only: bool,
}

/// A station id (UUIDv7-shaped) made from `seed` and the station's number.
fn station_id(seed: u64, n: u32) -> String {
    let a = mix64(seed ^ u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let b = mix64(a);
    format!(
        "{:08x}-{:04x}-7{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// Runs `lakenode fleet-lake`.
///
/// # Errors
/// Invalid flags, or a file that cannot be written.
pub fn run(args: &FleetLakeArgs) -> CliResult<()> {
    if args.rollups_only {
        return rollups(args);
    }
    let last = match args.last {
        Some(d) => d,
        None => jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date()
            .yesterday()
            .map_err(|e| CliError::Failed(e.to_string()))?,
    };
    if args.dir.join("station=").exists()
        || std::fs::read_dir(&args.dir).is_ok_and(|mut d| d.next().is_some())
    {
        return Err(CliError::Usage(format!(
            "{}: not empty; give a new directory",
            args.dir.display()
        )));
    }
    if !(1..=86_400).contains(&args.interval_s) || args.stations == 0 || args.days == 0 {
        return Err(CliError::Usage(
            "--stations, --days and --interval-s (up to a day) must be positive".into(),
        ));
    }
    let first = last
        .checked_sub(jiff::Span::new().days(i64::from(args.days) - 1))
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let start = Instant::now();
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let next = std::sync::atomic::AtomicU32::new(0);
    let totals = std::sync::Mutex::new((0_u64, 0_u64));
    let error = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= args.stations {
                        break;
                    }
                    match write_station(args, n, first) {
                        Ok((files, bytes)) => {
                            let mut t = totals
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner);
                            t.0 += files;
                            t.1 += bytes;
                        }
                        Err(e) => {
                            *error
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e);
                            break;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = error
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        return Err(e);
    }
    let (files, bytes) = totals
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    println!(
        "fleet-lake: {} stations x {} days ({first} to {last}) in {}: {files} objects, {bytes} bytes, {:.1} s",
        args.stations,
        args.days,
        args.dir.display(),
        start.elapsed().as_secs_f64()
    );
    rollups(args)
}

/// The monthly rollups, as `compact` leaves them (read back from the footers).
fn rollups(args: &FleetLakeArgs) -> CliResult<()> {
    let start = Instant::now();
    let mut lake = lakenode_lake::lake::LocalLake::new(args.dir.clone());
    let listed = lakenode_lake::lake::LakeStore::list(&mut lake, "")?;
    // Only rollups: every month is brought up to date, stamps included (a rollup
    // written before them is otherwise matched by size until `compact` rewrites it).
    let every: std::collections::BTreeMap<String, u64> = if args.rollups_only {
        listed
            .iter()
            .filter(|(k, _)| lakenode_lake::rollup::month_of(k).is_some())
            .cloned()
            .collect()
    } else {
        std::collections::BTreeMap::new()
    };
    let r = lakenode_lake::rollup::refresh(&mut lake, &listed, &every)?;
    println!(
        "fleet-lake: {} monthly rollups from {} footers, {:.1} s",
        r.written,
        r.footers,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Writes one station's days; (files, bytes).
fn write_station(args: &FleetLakeArgs, n: u32, first: Date) -> CliResult<(u64, u64)> {
    let id = station_id(args.seed, n);
    let station = StationId::new(id.as_str())?;
    let sim = Simulator::new(args.seed.wrapping_add(u64::from(n)));
    let schema = Schema::new(Measurement::ALL)?;
    let interval = i64::from(args.interval_s) * 1000;
    let (mut files, mut bytes) = (0, 0);
    let mut uptime_s: i64 = 3_600 * i64::from(n % 100);
    let mut failures: i64 = 0;
    for d in 0..args.days {
        let date = first
            .checked_add(jiff::Span::new().days(i64::from(d)))
            .map_err(|e| CliError::Failed(e.to_string()))?;
        let day = date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map_err(|e| CliError::Failed(e.to_string()))?
            .timestamp()
            .as_millisecond();
        let part = format!(
            "year={}/month={:02}/day={:02}",
            date.year(),
            date.month(),
            date.day()
        );
        let samples: Vec<_> = (0..DAY_MS / interval)
            .map(|i| sim.sample_at(day + i * interval))
            .collect();
        let sources = |stem: &str| -> String {
            (0..96)
                .map(|w| {
                    let name = format!("{stem}_{:02}{:02}.parquet", w / 4, (w % 4) * 15);
                    format!(
                        "{} {name}\n",
                        lakenode::digest::md5_hex(format!("{id}/{part}/{name}").as_bytes())
                    )
                })
                .collect()
        };
        let meta = FileMetadata {
            station: station.clone(),
            interval_ms: interval,
            window_start_ms: day,
            window_end_ms: day + DAY_MS,
            units: Vec::new(), // the encoder writes the schema's
            extra: vec![
                (SOURCES_KEY.to_owned(), sources("data")),
                (
                    summary::DATA_KEY.to_owned(),
                    DaySummary::of(day, &samples).to_json(),
                ),
            ],
        };
        let window = lakenode::window::Window {
            start_ms: day,
            end_ms: day + DAY_MS,
            samples,
        };
        let data = encode_window(&schema, WriterProfile::Compact, &window, &meta)?;
        // Health: a row per window; a reboot every ~40 days, upload failures now and then.
        let rows: Vec<HealthRow> = (1..=96)
            .map(|w| {
                let h = mix64(args.seed ^ (u64::from(n) << 32) ^ (u64::from(d) << 8) ^ w);
                if h.is_multiple_of(3_840) {
                    uptime_s = 0;
                    failures = 0;
                }
                uptime_s += WINDOW_MS / 1000;
                failures += i64::from(h.is_multiple_of(50));
                let mut row = HealthRow::new(day + i64::try_from(w).unwrap_or(0) * WINDOW_MS);
                row.uptime_s = uptime_s;
                row.upload_failures = failures;
                row.spool_files = i64::try_from(h % 3).unwrap_or(0);
                row.wifi_rssi = Some(-55 - i32::try_from(h % 20).unwrap_or(0));
                row.reset_reason = "poweron".into();
                row
            })
            .collect();
        let mut kv = vec![KeyValue::new(SOURCES_KEY.to_owned(), sources("health"))];
        if let Some(s) = HealthSummary::of(day, &rows) {
            kv.push(KeyValue::new(summary::HEALTH_KEY.to_owned(), s.to_json()));
        }
        let health = HealthRow::encode_rows(&rows, kv)?;
        for (key, body) in [
            (format!("station={id}/{part}/data_day.parquet"), data),
            (
                format!("health/station={id}/{part}/health_day.parquet"),
                health,
            ),
        ] {
            let path = args.dir.join(key);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| CliError::io(parent, e))?;
            }
            bytes += body.len() as u64;
            files += 1;
            std::fs::write(&path, body).map_err(|e| CliError::io(&path, e))?;
        }
    }
    Ok((files, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn station_ids_are_valid_and_distinct() {
        let a = station_id(1, 0);
        StationId::new(a.as_str()).unwrap();
        assert_ne!(a, station_id(1, 1));
        assert_ne!(a, station_id(2, 0));
    }
}
