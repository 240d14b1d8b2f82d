//! `lakenode demo`: the whole pipeline on one machine. An S3 server that verifies
//! signatures runs inside the process; simulated stations sample hours of virtual time
//! as fast as possible; every window is encoded, spooled, presigned and PUT over
//! loopback TCP exactly as on a node; then every object is downloaded again and each
//! value compared with what the simulator sampled.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use lakenode::clock::{SystemClock, WallClock};
use lakenode::layout::{StationId, rfc3339};
use lakenode::s3::{Credentials, S3Client, S3Config, check_response};
use lakenode::sim::{Simulator, mix64};
use lakenode::transport::Transport as _;
use lakenode::{BatchEnd, RecorderConfig, Station, StationConfig, ThreadLink, run_batch};
use lakenode_embedded_s3::{EmbeddedS3, ServerConfig};
use tracing::info;

use crate::DemoArgs;
use crate::commands::run::{default_start, parse_start};
use crate::error::{CliError, CliResult};
use crate::host::{HostAdapter, UPLOAD_STACK, with_progress};
use crate::progress::Meter;
use crate::transport::UreqTransport;
use crate::unsynced::UnsyncedStorage;
use lakenode_lake::readback;

/// How long the demo keeps retrying a failing upload before it reports the failure.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

/// The bucket the demo writes into.
pub const BUCKET: &str = "lakenode";

/// What one station's run produced.
struct StationResult {
    files: usize,
    rows: usize,
    bytes: usize,
    /// Health files (one row each), not counted in `files` and `bytes`.
    health_files: usize,
}

/// Runs the demo.
///
/// # Errors
/// Any failure of the pipeline or of the read-back verification.
pub fn run(args: &DemoArgs) -> CliResult<()> {
    if !(args.hours.is_finite() && args.hours > 0.0 && args.hours <= 24.0 * 366.0) {
        return Err(CliError::Usage(format!(
            "--hours must be between 0 and 8784 (got {})",
            args.hours
        )));
    }
    if args.workers.is_some_and(|w| w == 0 || w > 64) {
        return Err(CliError::Usage(format!(
            "--workers must be 1 to 64 (got {})",
            args.workers.unwrap_or_default()
        )));
    }
    if args.stations == 0 || args.stations > 10_000 {
        return Err(CliError::Usage(format!(
            "--stations must be 1 to 10000 (got {})",
            args.stations
        )));
    }
    let spec = args.window.spec()?;
    let profile = args.window.profile()?;
    let schemas = args
        .columns
        .iter()
        .map(|list| lakenode::schema::Schema::parse_list(list))
        .collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();

    let data_dir = prepare_data_dir(args)?;
    let s3_dir = data_dir.join("s3");
    // Fresh random credentials for this run; they are never printed or stored.
    let (access_key, secret_key) = generated_credentials();
    let server = EmbeddedS3::start(
        ServerConfig::new(&s3_dir, access_key.clone(), secret_key.clone()).with_bucket(BUCKET),
    )?;
    info!(endpoint = %server.endpoint(), data_dir = %data_dir.display(), "embedded S3 server listening");

    let s3 = S3Config::new(&server.endpoint(), BUCKET, "us-east-1", true)?;
    let credentials = Credentials::new(access_key, secret_key, None);
    let client = S3Client::new(&s3, credentials)?;
    let transport = UreqTransport::new(Duration::from_secs(30));

    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let duration = Duration::from_secs_f64(args.hours * 3600.0);
    let start = match &args.start {
        Some(text) => parse_start(text)?,
        None => default_start(spec, duration),
    };
    let samples = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX) / spec.interval_ms();
    println!(
        "lakenode demo: {} station(s), {} h of virtual time from {}, a sample every {} s, {} min windows",
        args.stations,
        args.hours,
        rfc3339(start),
        spec.interval_ms() / 1000,
        spec.window_ms() / 60_000
    );

    // Two workers per core: a station's thread waits for its uploads at the end of its
    // period and for each download of the verification, and the embedded server needs
    // the cores meanwhile (measured: the README's "Measuring" section).
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let workers = args
        .workers
        .unwrap_or(2 * cores)
        .clamp(1, 64)
        .min(args.stations as usize);
    let run = DemoRun {
        args,
        data_dir: &data_dir,
        client: &client,
        transport: &transport,
        spec,
        profile,
        schemas,
        start,
        samples,
        next: AtomicU32::new(0),
        failed: AtomicBool::new(false),
        done: Mutex::new(Vec::new()),
        ended: Condvar::new(),
        // One line per station for a small demo; a progress line for a fleet.
        per_station_lines: args.stations <= 20,
    };
    let mut first_error = None;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers).map(|_| scope.spawn(|| run.worker())).collect();
        let mut meter = (!run.per_station_lines)
            .then(|| Meter::new("stations", args.stations.into(), Duration::from_secs(5)));
        // Woken by each station that ends (no polling: the process sleeps only while
        // its workers run).
        let mut seen = 0;
        while handles.iter().any(|h| !h.is_finished()) {
            let Ok(done) = run.done.lock() else { break };
            let done = if done.len() == seen {
                match run.ended.wait_timeout(done, Duration::from_secs(1)) {
                    Ok((done, _)) => done,
                    Err(_) => break,
                }
            } else {
                done
            };
            seen = done.len();
            if let Some(meter) = &mut meter {
                let (files, rows) = done
                    .iter()
                    .fold((0, 0), |(f, r), d| (f + d.result.files, r + d.result.rows));
                meter.set(seen as u64, || {
                    progress_detail(files, rows, started.elapsed())
                });
            }
        }
        drop(meter);
        for h in handles {
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(_) => {
                    first_error.get_or_insert(CliError::Failed("a station worker panicked".into()));
                }
            }
        }
    });
    if let Some(e) = first_error {
        return Err(e);
    }
    let mut done = run.done.into_inner().unwrap_or_default();
    done.sort_by_key(|d| d.index);
    let mut total = StationResult {
        files: 0,
        rows: 0,
        bytes: 0,
        health_files: 0,
    };
    let mut upload_failures = 0;
    let (mut restarts, mut missed, mut cut) = (0, 0, 0);
    for d in &done {
        total.files += d.result.files;
        total.rows += d.result.rows;
        total.bytes += d.result.bytes;
        total.health_files += d.result.health_files;
        upload_failures += d.upload_failures;
        restarts += d.restarts;
        missed += d.missed;
        cut += usize::from(d.missed > 0);
    }
    let stations = done.len();
    server.stop();
    // "Simulated, verified and compacted": the window files become daily files before
    // the report reads them. From the server's directory, which the demo owns: the same
    // compaction costs 5 times less CPU than through the server (docs/compaction.md).
    let end_ms = start.saturating_add(samples.saturating_mul(spec.interval_ms()));
    let compacted = if args.no_compact {
        None
    } else {
        Some(crate::commands::compact::demo_lake(
            &s3_dir.join(BUCKET),
            end_ms,
        )?)
    };

    // Simulation and verification; the compaction's time is shown on its own line.
    let wall = started
        .elapsed()
        .saturating_sub(compacted.as_ref().map_or(Duration::ZERO, |c| c.1));
    #[allow(clippy::cast_precision_loss)]
    let per_row = total.bytes as f64 / total.rows.max(1) as f64;
    #[allow(clippy::cast_precision_loss)]
    let per_file = total.bytes as f64 / total.files.max(1) as f64;
    let lake = s3_dir.join(BUCKET);
    println!();
    println!("summary");
    let secs = wall.as_secs_f64().max(1e-9);
    println!("  stations      {stations} ({workers} in parallel)");
    println!(
        "  files         {} (and {} health files, one row per window)",
        total.files, total.health_files
    );
    println!("  rows          {}", total.rows);
    println!("  bytes         {} ({per_file:.0} per file)", total.bytes);
    println!("  bytes per row {per_row:.1}");
    println!("  upload failures {upload_failures}");
    if args.outages {
        println!(
            "  outages       {cut} station(s) lost power: {missed} instants not sampled, {restarts} reboot(s) (simulated; the rest verified)"
        );
    }
    println!("  wall time     {:.2} s", wall.as_secs_f64());
    #[allow(clippy::cast_precision_loss)]
    {
        println!("  samples/s     {:.0}", total.rows as f64 / secs);
        println!("  files/s       {:.0}", total.files as f64 / secs);
    }
    if let Some((c, took)) = &compacted {
        println!(
            "  compacted     {} station-days: {} files into {}, {} bytes into {}, rows checked, in {:.2} s",
            c.station_days,
            c.files_before,
            c.files_after,
            c.bytes_before,
            c.bytes_after,
            took.as_secs_f64()
        );
    }
    println!("  data          {}", lake.display());
    let report_path = data_dir.join("report.html");
    let report_started = Instant::now();
    // As of the end of the demo's virtual time: its stations are not silent because
    // the demo ran in the past.
    let options = crate::commands::report::ReportOptions {
        at_ms: Some(end_ms),
        ..crate::commands::report::ReportOptions::new()
    };
    let report = crate::commands::report::write_report(
        &mut lakenode_lake::lake::LocalLake::new(lake.clone()),
        &options,
        &report_path,
    )?;
    println!(
        "  report        {} ({} bytes, {:.2} s; open it in a browser)",
        report_path.display(),
        report.html_bytes,
        report_started.elapsed().as_secs_f64()
    );
    if !report.problems.is_empty() {
        return Err(CliError::Verify(format!(
            "the report could not read {} file(s): {}",
            report.problems.len(),
            report.problems.join("; ")
        )));
    }
    println!();
    println!(
        "Query it in place with DuckDB: the duckdb CLI, or Python after `pip install duckdb`:"
    );
    println!();
    println!("{}", duckdb_query(&lake));
    Ok(())
}

/// One station's outcome.
struct StationDone {
    index: u32,
    result: StationResult,
    /// Failed upload attempts (the health rows' `upload_failures`).
    upload_failures: u64,
    /// Reboots after simulated power cuts.
    restarts: usize,
    /// Sample instants lost to simulated power cuts.
    missed: i64,
}

/// What the station workers share: the stations are handed out one at a time.
struct DemoRun<'a> {
    args: &'a DemoArgs,
    data_dir: &'a Path,
    client: &'a S3Client,
    transport: &'a UreqTransport,
    spec: lakenode::window::WindowSpec,
    profile: lakenode::encode::WriterProfile,
    /// The stations' columns, handed out in turn (empty: every measurement).
    schemas: Vec<lakenode::schema::Schema>,
    start: i64,
    samples: i64,
    next: AtomicU32,
    failed: AtomicBool,
    done: Mutex<Vec<StationDone>>,
    /// Notified when a station or a worker ends.
    ended: Condvar,
    per_station_lines: bool,
}

impl DemoRun<'_> {
    /// Runs stations until none is left or one failed.
    fn worker(&self) -> CliResult<()> {
        let result = self.stations();
        self.ended.notify_all();
        result
    }

    /// Runs stations until none is left or one failed.
    fn stations(&self) -> CliResult<()> {
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            if index >= self.args.stations || self.failed.load(Ordering::Relaxed) {
                return Ok(());
            }
            match self.station(index) {
                Ok(done) => {
                    if let Ok(mut all) = self.done.lock() {
                        all.push(done);
                    }
                    self.ended.notify_all();
                }
                Err(e) => {
                    self.failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
    }

    /// Samples, uploads, downloads and verifies station `index`.
    fn station(&self, index: u32) -> CliResult<StationDone> {
        let (spec, start, samples) = (self.spec, self.start, self.samples);
        let station = station_id(self.args.seed, index, start)?;
        let sim = Simulator::new(mix64(self.args.seed.wrapping_add(u64::from(index))));
        let config = StationConfig {
            recorder: RecorderConfig {
                profile: self.profile,
                spec,
                schema: self
                    .schemas
                    .get(index as usize % self.schemas.len().max(1))
                    .cloned()
                    .unwrap_or_default(),
                ..RecorderConfig::new(station.clone())
            },
            health: true,
            ..StationConfig::new(station.clone(), self.client.clone())
        };
        let plan = if self.args.outages {
            uptime_plan(self.args.seed, index, self.args.stations, samples, spec)
        } else {
            std::iter::once(0..samples).collect()
        };
        let spool = self.data_dir.join("spool").join(station.as_str());
        let interval = spec.interval_ms();
        let mut uploaded = Vec::new();
        let mut upload_failures = 0;
        // Each stretch of sampling is one boot: the station is opened on its spool, runs,
        // and is dropped (a power cut); the next stretch boots it again.
        for stretch in &plan {
            // Unsynced: a simulated station's samples can be taken again (see
            // `UnsyncedStorage`); `lakenode run` syncs.
            let mut node = Station::open_with(config.clone(), Arc::new(UnsyncedStorage), &spool)?;
            let mut adapter = HostAdapter::new(None)
                .quiet()
                .with_virtual_uptime(start + stretch.start * interval);
            let mut link = ThreadLink::spawn(self.transport.clone(), UPLOAD_STACK)
                .map_err(|e| CliError::Failed(format!("cannot start the upload thread: {e}")))?;
            let input = stretch.clone().map(|i| sim.sample_at(start + i * interval));
            let input: Box<dyn Iterator<Item = _>> = if self.per_station_lines {
                Box::new(with_progress(input, samples, station.as_str()))
            } else {
                Box::new(input)
            };
            match run_batch(&mut node, input, &mut adapter, &mut link, GIVE_UP_AFTER)? {
                BatchEnd::Delivered => {}
                BatchEnd::Refused { key, failure, tree } => {
                    return Err(CliError::Refused { key, failure, tree });
                }
                BatchEnd::GaveUp { pending, last } => {
                    return Err(CliError::Incomplete {
                        pending,
                        spool: node.status().spool_dir,
                        reason: last,
                    });
                }
                BatchEnd::Stopped => return Err(CliError::Stopped),
            }
            uploaded.extend_from_slice(adapter.uploaded());
            upload_failures += node.counters().upload_failures;
        }
        let mut transport = self.transport.clone();
        let result = verify_station(
            self.client,
            &mut transport,
            &sim,
            &station,
            &uploaded,
            start,
            &plan,
            interval,
        )?;
        if self.per_station_lines {
            println!(
                "  station {station}: {} files, {} rows, {} bytes uploaded, read back and verified{}",
                result.files,
                result.rows,
                result.bytes,
                outage_note(&plan, samples, interval)
            );
        }
        Ok(StationDone {
            index,
            result,
            upload_failures,
            restarts: plan.len().saturating_sub(1),
            missed: samples - plan.iter().map(|r| r.end - r.start).sum::<i64>(),
        })
    }
}

/// The progress line's figures beside the stations done: totals so far and the rate.
fn progress_detail(files: usize, rows: usize, elapsed: Duration) -> String {
    #[allow(clippy::cast_precision_loss)]
    let rate = rows as f64 / elapsed.as_secs_f64().max(1e-3);
    format!("{files} files, {rows} rows delivered and verified, {rate:.0} rows/s")
}

/// What a station's outages were, for its line in the output.
fn outage_note(plan: &[std::ops::Range<i64>], samples: i64, interval_ms: i64) -> String {
    let up: i64 = plan.iter().map(|r| r.end - r.start).sum();
    if up == samples {
        return String::new();
    }
    let hours = ((samples - up) * interval_ms) as f64 / 3_600_000.0;
    if plan.len() == 1 {
        return format!(" (went silent for the last {hours:.1} h, as simulated)");
    }
    format!(
        " ({} reboot(s) after {hours:.1} h without power, as simulated)",
        plan.len().saturating_sub(1),
    )
}

/// The stretches of sample numbers (0..samples) station `index` is powered for, with
/// `--outages`: most stations run throughout; one in eight loses power once for 1 to 6
/// hours, one in eight has brownouts (10 to 40 minutes every few hours), and the last
/// station of a fleet of two or more goes silent for the final fifth of the period.
/// Each stretch after the first is a reboot. Deterministic per seed and station.
fn uptime_plan(
    seed: u64,
    index: u32,
    stations: u32,
    samples: i64,
    spec: lakenode::window::WindowSpec,
) -> Vec<std::ops::Range<i64>> {
    let per_hour = 3_600_000 / spec.interval_ms().max(1);
    let h = mix64(seed ^ mix64(u64::from(index).wrapping_mul(0x9e37_79b9) + 7));
    let pick = |salt: u64, lo: i64, hi: i64| -> i64 {
        let span = u64::try_from((hi - lo).max(1)).unwrap_or(1);
        lo + i64::try_from(mix64(h ^ salt) % span).unwrap_or(0)
    };
    let mut downs: Vec<(i64, i64)> = Vec::new();
    if stations >= 2 && index == stations - 1 {
        downs.push((samples - samples / 5, samples));
    } else if h.is_multiple_of(8) {
        let from = pick(1, samples / 10, samples * 7 / 10);
        downs.push((from, from + pick(2, per_hour, 6 * per_hour)));
    } else if h % 8 == 1 {
        let mut at = pick(3, 0, 3 * per_hour);
        let mut salt = 10;
        while at < samples {
            let length = pick(salt, per_hour / 6, per_hour * 2 / 3);
            downs.push((at, at + length));
            at += length + pick(salt + 1, 2 * per_hour, 5 * per_hour);
            salt += 2;
        }
    }
    let mut plan = Vec::new();
    let mut from = 0;
    for (down, up) in downs {
        let (down, up) = (down.clamp(0, samples), up.clamp(0, samples));
        if down > from {
            plan.push(from..down);
        }
        from = from.max(up);
    }
    if from < samples {
        plan.push(from..samples);
    }
    plan
}

/// The demo's data directory, created; a new one under `./lakenode-demo/` by default.
fn prepare_data_dir(args: &DemoArgs) -> CliResult<PathBuf> {
    let dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => {
            let stamp = SystemClock.now().strftime("%Y%m%dT%H%M%SZ").to_string();
            PathBuf::from("lakenode-demo").join(format!("{stamp}-seed{}", args.seed))
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| CliError::io(&dir, e))?;
    dir.canonicalize().map_err(|e| CliError::io(&dir, e))
}

/// A random access key and secret for the embedded server.
fn generated_credentials() -> (String, String) {
    let key = format!("LKDEMO{}", &uuid::Uuid::new_v4().simple().to_string()[..14]).to_uppercase();
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    (key, secret)
}

/// A deterministic UUIDv7 station id for station `index` of a seeded demo.
fn station_id(seed: u64, index: u32, start_ms: i64) -> CliResult<StationId> {
    let a = mix64(seed ^ mix64(u64::from(index) + 1)).to_le_bytes();
    let b = mix64(u64::from_le_bytes(a)).to_le_bytes();
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&a);
    random[8..].copy_from_slice(&b[..2]);
    let ms = u64::try_from(start_ms).unwrap_or(0);
    let id = uuid::Builder::from_unix_timestamp_millis(ms, &random).into_uuid();
    Ok(StationId::new(id.hyphenated().to_string())?)
}

/// Downloads every uploaded object and checks that together they hold each sampled
/// instant exactly once, with the values the simulator produced at sensor resolution.
#[allow(clippy::too_many_arguments)]
fn verify_station(
    client: &S3Client,
    transport: &mut UreqTransport,
    sim: &Simulator,
    station: &StationId,
    delivered: &[(String, usize)],
    start_ms: i64,
    plan: &[std::ops::Range<i64>],
    interval_ms: i64,
) -> CliResult<StationResult> {
    let mut seen = BTreeSet::new();
    let mut bytes = 0;
    let mut files = 0;
    let mut health_rows = 0;
    for (key, uploaded) in delivered {
        let response = transport
            .send(&client.get_object(key, SystemClock.now()))
            .map_err(|e| CliError::Network(format!("downloading {key}: {e}")))?;
        check_response(&response).map_err(|f| CliError::S3(format!("downloading {key}: {f}")))?;
        if response.body.len() != *uploaded {
            return Err(CliError::Verify(format!(
                "{key} is {} bytes in S3 but {uploaded} were uploaded",
                response.body.len(),
            )));
        }
        if key.starts_with("health/") {
            let file = readback::open(response.body)
                .map_err(|e| CliError::Verify(format!("{key}: {e}")))?;
            for row in file
                .rows_generic()
                .map_err(|e| CliError::Verify(format!("{key}: {e}")))?
            {
                lakenode::HealthRow::from_row(&row)
                    .map_err(|e| CliError::Verify(format!("{key}: {e}")))?;
                health_rows += 1;
            }
            continue;
        }
        bytes += response.body.len();
        files += 1;
        let file =
            readback::decode(response.body).map_err(|e| CliError::Verify(format!("{key}: {e}")))?;
        let names_station = lakenode::encode::FileMetadata::from_key_values(&file.key_values)
            .is_ok_and(|meta| meta.station == *station);
        if !names_station {
            return Err(CliError::Verify(format!(
                "{key}: footer does not name station {station}"
            )));
        }
        for got in &file.samples {
            if !seen.insert(got.timestamp_ms) {
                return Err(CliError::Verify(format!(
                    "{key}: timestamp {} appears twice",
                    rfc3339(got.timestamp_ms)
                )));
            }
            let want = sim.sample_at(got.timestamp_ms);
            for &m in &file.columns {
                if got.count(m) != want.count(m) {
                    return Err(CliError::Verify(format!(
                        "{key}: {m} at {} is {:?}, sampled {:?}",
                        rfc3339(got.timestamp_ms),
                        got.value(m),
                        want.value(m)
                    )));
                }
            }
        }
    }
    let expected: BTreeSet<i64> = plan
        .iter()
        .flat_map(|stretch| stretch.clone())
        .map(|i| start_ms + i * interval_ms)
        .collect();
    if seen != expected {
        let missing = expected.difference(&seen).count();
        let extra = seen.difference(&expected).count();
        return Err(CliError::Verify(format!(
            "station {station}: {missing} sampled instants missing from S3, {extra} unexpected"
        )));
    }
    if health_rows != files {
        return Err(CliError::Verify(format!(
            "station {station}: {files} data files but {health_rows} health rows (one per window expected)"
        )));
    }
    Ok(StationResult {
        files,
        rows: seen.len(),
        bytes,
        health_files: health_rows,
    })
}

/// The demo's query over the lake directory: rows and a few figures per station.
/// `hive_types` keeps `year`/`month`/`day` integers in every lake (DuckDB guesses
/// VARCHAR for zero-padded `month=02`, where `month = 2` then finds nothing).
fn lake_query(lake: &Path) -> String {
    format!(
        "SELECT station, count(*) AS rows, min(timestamp) AS first, max(timestamp) AS last, \
round(avg(temperature), 2) AS avg_temperature_c, max(pm25) AS max_pm25 \
FROM read_parquet('{}/station=*/**/*.parquet', hive_partitioning = true, union_by_name = true, \
hive_types = {{'year': INTEGER, 'month': INTEGER, 'day': INTEGER}}) \
GROUP BY station ORDER BY station",
        lake.display()
    )
}

/// Ready-to-paste commands running [`lake_query`]: the duckdb CLI's, and Python's (the
/// duckdb Python package installs no `duckdb` command).
fn duckdb_query(lake: &Path) -> String {
    let sql = lake_query(lake);
    format!("duckdb -c \"{sql}\"\n\npython3 -c \"import duckdb; duckdb.sql(\\\"{sql}\\\").show()\"")
}
