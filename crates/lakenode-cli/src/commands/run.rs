//! `lakenode run`: the node loop against any S3 endpoint, with simulated sensors (in
//! virtual or real time) or samples from a CSV file.

use std::path::Path;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use lakenode::clock::{SystemClock, WallClock};
use lakenode::layout::{StationId, rfc3339};
use lakenode::node::{Node, NodeConfig, Uploader};
use lakenode::s3::S3Client;
use lakenode::schema::Schema;
use lakenode::sim::{Simulator, mix64};
use lakenode::window::WindowSpec;
use tracing::info;

use crate::error::{CliError, CliResult};
use crate::pipeline::{Pipeline, Stats};
use crate::transport::{UreqTransport, is_loopback};
use crate::{RunArgs, credentials};

/// Parses an RFC 3339 `--start`.
///
/// # Errors
/// [`CliError::Usage`] for text that is not RFC 3339.
pub fn parse_start(text: &str) -> CliResult<i64> {
    text.parse::<Timestamp>()
        .map(Timestamp::as_millisecond)
        .map_err(|e| {
            CliError::Usage(format!(
                "--start {text:?} is not an RFC 3339 time like 2026-01-01T00:00:00Z: {e}"
            ))
        })
}

/// The default start of a simulated period: `duration` before the current window.
#[must_use]
pub fn default_start(spec: WindowSpec, duration: Duration) -> i64 {
    let now = SystemClock.now().as_millisecond();
    let ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
    spec.window_start(now).saturating_sub(ms)
}

/// A per-station seed for retry jitter, so stations do not retry in lockstep.
#[must_use]
pub fn jitter_seed(station: &StationId) -> u64 {
    station
        .as_str()
        .bytes()
        .fold(0, |h, b| mix64(h ^ u64::from(b)))
}

/// Simulates `samples` samples from `start_ms` as fast as possible, printing progress
/// every few seconds on long runs.
///
/// # Errors
/// As [`Pipeline::record`].
pub fn simulate_virtual(
    pipeline: &mut Pipeline,
    sim: &Simulator,
    spec: WindowSpec,
    start_ms: i64,
    samples: i64,
    label: &str,
) -> CliResult<()> {
    let started = Instant::now();
    let mut last_report = started;
    for i in 0..samples {
        pipeline.record(sim.sample_at(start_ms + i * spec.interval_ms()))?;
        if last_report.elapsed() >= Duration::from_secs(2) {
            last_report = Instant::now();
            #[allow(clippy::cast_precision_loss)]
            let pct = (i + 1) as f64 * 100.0 / samples as f64;
            eprintln!(
                "progress: {label}: {}/{} samples ({pct:.0}%), virtual time {}",
                i + 1,
                samples,
                rfc3339(start_ms + i * spec.interval_ms())
            );
        }
    }
    Ok(())
}

/// Runs `lakenode run`.
///
/// # Errors
/// Configuration, input, spool and upload errors (see [`CliError::exit_code`]).
pub fn run(args: &RunArgs) -> CliResult<()> {
    let spec = args.window.spec()?;
    let profile = args.window.profile()?;
    let (s3, prefix, station) = args.target.resolve()?;
    if s3.endpoint.scheme() == "http" && !is_loopback(&s3.endpoint) && !args.allow_http {
        return Err(CliError::Usage(format!(
            "refusing plain http to {}: use https, or pass --allow-http if this network is trusted",
            s3.endpoint
        )));
    }
    let credentials = match &args.credentials_file {
        Some(path) => credentials::from_file(path, &args.credentials_profile)?,
        None => credentials::from_env()?,
    };
    let client = S3Client::new(&s3, credentials)?;

    // Read a CSV completely before anything is spooled: a malformed file changes nothing.
    let csv = match &args.csv {
        Some(path) => {
            let file = std::fs::File::open(path).map_err(|e| CliError::io(path, e))?;
            let parsed = crate::csv_input::read_samples(
                &path.display().to_string(),
                std::io::BufReader::new(file),
            )?;
            for w in &parsed.warnings {
                tracing::warn!("{w}");
            }
            Some(parsed)
        }
        None => None,
    };
    let schema = match (&args.columns, &csv) {
        (Some(list), _) => Schema::parse_list(list)?,
        (None, Some(c)) => c.schema.clone(),
        (None, None) => Schema::default(),
    };

    let config = NodeConfig {
        prefix,
        schema,
        profile,
        spec,
        ..NodeConfig::new(station.clone())
    };
    let mut node = Node::open(config, &args.spool)?;
    node.spool_mut().set_limit(args.spool_limit);
    if let Some(t) = node.last_recorded() {
        info!(
            replayed = node.replayed(),
            pending = node.spool().stats().pending_files,
            "resuming: samples up to {} are recorded",
            rfc3339(t)
        );
    }
    let mut uploader = Uploader::new(client, args.max_attempts, jitter_seed(&station));
    if args.simulate.is_some() && args.duration.is_none() {
        // Real time: a backlog drains a few files per sample, so sampling never stalls.
        uploader = uploader.with_max_files_per_drain(4);
    }
    let mut pipeline =
        Pipeline::new(node, uploader, UreqTransport::new(args.timeout)).with_health(args.health);
    pipeline.resume()?;

    let started = Instant::now();
    match (&csv, args.simulate) {
        (Some(parsed), _) => {
            info!(rows = parsed.samples.len(), "uploading samples from CSV");
            for s in &parsed.samples {
                pipeline.record(*s)?;
            }
        }
        (None, Some(seed)) => {
            let sim = Simulator::new(seed);
            match args.duration {
                Some(duration) => {
                    let start = match &args.start {
                        Some(text) => parse_start(text)?,
                        None => remembered_start(&args.spool, seed, spec, duration)?,
                    };
                    let n = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
                        / spec.interval_ms();
                    // Resume after the last durably recorded sample (a killed run
                    // started again with the same arguments).
                    let first = match pipeline.node().last_recorded() {
                        Some(t) if t >= start => ((t - start) / spec.interval_ms() + 1).min(n),
                        _ => 0,
                    };
                    info!(%station, start = %rfc3339(start), samples = n, from = first, "simulating in virtual time");
                    let from = start + first * spec.interval_ms();
                    simulate_virtual(&mut pipeline, &sim, spec, from, n - first, station.as_str())?;
                }
                None => simulate_real_time(&mut pipeline, &sim, spec)?,
            }
        }
        (None, None) => return Err(CliError::Usage("give --simulate SEED or --csv FILE".into())),
    }
    let stats = pipeline.finish()?;
    print_summary(&station, &stats, started.elapsed());
    Ok(())
}

/// The start of a simulated run without `--start`: chosen once (the duration before
/// the current window) and remembered in the spool, so that a killed run started again
/// with the same arguments resumes the same virtual timeline.
fn remembered_start(
    spool: &Path,
    seed: u64,
    spec: WindowSpec,
    duration: Duration,
) -> CliResult<i64> {
    let path = spool.join("simulation.state");
    let tag = format!(
        "seed={seed} duration_ms={} interval_ms={}",
        duration.as_millis(),
        spec.interval_ms()
    );
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Some((stored_tag, start)) = text.trim().rsplit_once(" start_ms=")
        && stored_tag == tag
        && let Ok(start) = start.parse()
    {
        return Ok(start);
    }
    let start = default_start(spec, duration);
    std::fs::create_dir_all(spool).map_err(|e| CliError::io(spool, e))?;
    std::fs::write(&path, format!("{tag} start_ms={start}\n"))
        .map_err(|e| CliError::io(&path, e))?;
    Ok(start)
}

/// Samples on the interval grid in real time until the process is stopped.
fn simulate_real_time(pipeline: &mut Pipeline, sim: &Simulator, spec: WindowSpec) -> CliResult<()> {
    info!(
        "sampling in real time every {} ms; stop with Ctrl-C",
        spec.interval_ms()
    );
    loop {
        let now = SystemClock.now().as_millisecond();
        let next = (now.div_euclid(spec.interval_ms()) + 1) * spec.interval_ms();
        std::thread::sleep(Duration::from_millis(
            u64::try_from(next - now).unwrap_or(0),
        ));
        pipeline.record(sim.sample_at(next))?;
    }
}

fn print_summary(station: &StationId, stats: &Stats, wall: Duration) {
    println!(
        "station {station}: {} samples, {} files uploaded ({} bytes), {} retries, {} quarantined, {:.2} s",
        stats.samples,
        stats.delivered.len(),
        stats.delivered_bytes(),
        stats.retries,
        stats.quarantined,
        wall.as_secs_f64()
    );
    if stats.already_recorded > 0 {
        println!(
            "  {} samples skipped: already recorded before",
            stats.already_recorded
        );
    }
}
