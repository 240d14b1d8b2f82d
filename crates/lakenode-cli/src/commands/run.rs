//! `lakenode run`: the node loop against any S3 endpoint, with simulated sensors (in
//! virtual or real time) or samples from a CSV file.

use std::cell::Cell;
use std::path::Path;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use lakenode::clock::{SystemClock, WallClock};
use lakenode::layout::{StationId, rfc3339};
use lakenode::schema::Schema;
use lakenode::sim::Simulator;
use lakenode::window::WindowSpec;
use lakenode::{
    BatchEnd, RecorderConfig, Sample, Station, StationConfig, ThreadLink, run_batch, run_live,
};
use tracing::info;

use crate::RunArgs;
use crate::error::{CliError, CliResult};
use crate::host::{HostAdapter, UPLOAD_STACK, with_progress};
use crate::metrics::{STATUS_FILE, Watch};
use crate::transport::{UreqTransport, is_loopback};

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

/// Runs `lakenode run`.
///
/// # Errors
/// Configuration, input, spool and upload errors (see [`CliError::exit_code`]).
pub fn run(args: &RunArgs) -> CliResult<()> {
    // From the first instant, SIGTERM/SIGINT stop the run cleanly, not by default.
    let _ = crate::signals::stop_flag();
    let spec = args.window.spec()?;
    let profile = args.window.profile()?;
    let (s3, prefix, station) = args.target.resolve()?;
    if s3.endpoint.scheme() == "http" && !is_loopback(&s3.endpoint) && !args.allow_http {
        return Err(CliError::Usage(format!(
            "refusing plain http to {}: use https, or pass --allow-http if this network is trusted",
            s3.endpoint
        )));
    }
    let client = match crate::aws::client(
        &s3,
        args.credentials_file.as_deref(),
        &args.credentials_profile,
    ) {
        // A signal while waiting for credentials, before anything is sampled: a
        // real-time run stopped by a signal exits 0, a finite one 4 (run it again).
        Err(CliError::Interrupted(why)) if args.csv.is_none() && args.duration.is_none() => {
            info!("{why}");
            return Ok(());
        }
        r => r?,
    };
    if s3.endpoint.scheme() == "http" && args.tls.given() {
        tracing::warn!("--ca-file and --tls-roots have no effect on a plain http:// endpoint");
    }
    // Loaded now: a missing or empty --ca-file stops the run before anything is sampled.
    let transport = UreqTransport::with_trust(args.timeout, &args.tls.trust())?;
    // Bound now too: an address in use stops the run before the spool is touched.
    let watch = Watch::new(station.as_str(), None);
    if let Some(addr) = &args.metrics {
        let bound = crate::metrics::serve(addr, watch.clone())?;
        let url = format!("http://{bound}/metrics");
        info!("metrics: serving {url}");
        watch.set_metrics_url(url);
    }

    if !(Duration::from_secs(1)..=Duration::from_secs(600)).contains(&args.timeout) {
        return Err(CliError::Usage("--timeout must be 1s to 10m".into()));
    }
    if !(Duration::from_secs(1)..=Duration::from_secs(7 * 86_400)).contains(&args.give_up_after) {
        return Err(CliError::Usage("--give-up-after must be 1s to 7d".into()));
    }
    check_upload_every(args.upload_every, spec)?;
    if let (Some(text), Some(_)) = (&args.start, args.duration) {
        on_grid(parse_start(text)?, spec, text)?;
    }
    if args
        .duration
        .is_some_and(|d| d > Duration::from_secs(366 * 86_400))
    {
        return Err(CliError::Usage("--duration must be at most 366d".into()));
    }
    // Check the whole CSV before anything is spooled (a malformed file changes
    // nothing); it is streamed again afterwards, so its length does not matter.
    let csv = match &args.csv {
        Some(path) => {
            // Read twice (checked whole, then imported): a pipe would be empty the
            // second time. Checked before opening: opening a FIFO blocks.
            let meta = std::fs::metadata(path).map_err(|e| CliError::io(path, e))?;
            if !meta.is_file() {
                return Err(CliError::Usage(format!(
                    "--csv {}: not a regular file (a pipe, FIFO or device); the CSV is read twice, checked whole before anything is recorded and then imported, so save it to a file first",
                    path.display()
                )));
            }
            let file = std::fs::File::open(path).map_err(|e| CliError::io(path, e))?;
            let check = crate::csv_input::check_file(
                &path.display().to_string(),
                std::io::BufReader::new(file),
            )?;
            for w in &check.warnings {
                tracing::warn!("{w}");
            }
            Some(check)
        }
        None => None,
    };
    // A CSV's footers state its own sampling interval: its timestamps', which a given
    // --interval must match.
    let spec = match (&csv, &args.csv) {
        (Some(check), Some(path)) => {
            let given = args.window.interval_ms();
            let interval = check
                .spacing
                .interval_ms(&path.display().to_string(), given)?;
            if given.is_none() {
                info!("sampling interval {interval} ms, from the CSV's timestamps");
            }
            args.window.spec_with(interval)?
        }
        _ => spec,
    };
    let schema = match (&args.columns, &csv) {
        (Some(list), Some(c)) => {
            let schema = Schema::parse_list(list)?;
            let dropped: Vec<&str> = c
                .schema
                .columns()
                .iter()
                .filter(|m| !schema.contains(**m))
                .map(|m| m.name())
                .collect();
            if !dropped.is_empty() {
                return Err(CliError::Usage(format!(
                    "--columns {list} leaves out the CSV's column(s) {}: their data would be lost; list them too, or drop --columns",
                    dropped.join(", ")
                )));
            }
            schema
        }
        (Some(list), None) => Schema::parse_list(list)?,
        (None, Some(c)) => c.schema.clone(),
        (None, None) if args.sensors.any() => Schema::new(args.sensors.measurements())?,
        (None, None) => Schema::default(),
    };

    let config = StationConfig {
        recorder: RecorderConfig {
            prefix,
            schema,
            profile,
            spec,
            ..RecorderConfig::new(station.clone())
        },
        spool_limit: args.spool_limit,
        health: args.health,
        verify_etag: !args.no_etag_check,
        upload_every: args.upload_every,
        batch_high_water: args.batch_high_water,
        ..StationConfig::new(station.clone(), client)
    };
    let mut node = Station::open(config, &args.spool)?;
    watch.keep_in(node.adapter_state(STATUS_FILE)?);
    watch.observe(&node);
    warn_about_earlier_losses(&node);
    let status = node.status();
    let last_recorded = status.last_recorded;
    if let Some(t) = last_recorded {
        info!(
            replayed = status.replayed,
            pending = status.pending_files,
            "resuming: samples up to {} are recorded",
            rfc3339(t)
        );
    }
    let started = Instant::now();
    let input_ended = Cell::new(false);
    let end = drive(
        args,
        &mut node,
        transport,
        csv.as_ref(),
        last_recorded,
        spec,
        &station,
        &watch,
        &input_ended,
    );
    watch.finish(&node);
    print_summary(&station, &node, started.elapsed());
    let finite = args.csv.is_some() || args.duration.is_some();
    outcome(end?, &node, finite, input_ended.get())
}

/// `samples`, setting `ended` once they are all taken: a run stopped afterwards had
/// recorded its whole input.
fn marking_the_end<'a>(
    samples: impl Iterator<Item = Sample> + 'a,
    ended: &'a Cell<bool>,
) -> impl Iterator<Item = Sample> + 'a {
    samples.chain(std::iter::from_fn(move || {
        ended.set(true);
        None
    }))
}

/// Feeds the station from the CSV, the simulation or real time.
#[allow(clippy::too_many_arguments)]
fn drive(
    args: &RunArgs,
    node: &mut Station,
    transport: UreqTransport,
    csv: Option<&crate::csv_input::CsvCheck>,
    last_recorded: Option<i64>,
    spec: WindowSpec,
    station: &StationId,
    watch: &Watch,
    input_ended: &Cell<bool>,
) -> CliResult<BatchEnd> {
    let mut link = ThreadLink::spawn(transport, UPLOAD_STACK)
        .map_err(|e| CliError::Failed(format!("cannot start the upload thread: {e}")))?;
    let mut adapter = HostAdapter::new(args.simulate.map(Simulator::new))
        .notifying_service_manager()
        .watched_by(watch.clone());
    let live = args.sensors.any() || (args.csv.is_none() && args.duration.is_none());
    if live {
        adapter = adapter.hold_until_synced(args.trust_clock);
    }
    if args.sensors.any() {
        adapter = adapter.with_sensors(open_sensors(args)?);
        info!(
            "sampling the sensors in real time every {} ms; stop with Ctrl-C or SIGTERM",
            spec.interval_ms()
        );
        run_live(node, &mut adapter, &mut link)?;
        return Ok(BatchEnd::Stopped);
    }
    Ok(match (csv, args.simulate) {
        (Some(check), _) => {
            let state = node.adapter_state("import.state")?;
            let from = csv_resume_point(check, last_recorded, &state, args)?;
            let path = args.csv.as_deref().unwrap_or(Path::new(""));
            let name = path.display().to_string();
            let file = std::fs::File::open(path).map_err(|e| CliError::io(path, e))?;
            let mut reader =
                crate::csv_input::CsvReader::new(&name, std::io::BufReader::new(file))?;
            let failed: std::cell::RefCell<Option<CliError>> = std::cell::RefCell::new(None);
            // Streamed: one line in memory at a time. An error now means the file
            // changed since it was checked; the run stops there (what was recorded
            // stays recorded) and reports it.
            let samples = std::iter::from_fn(|| match reader.next_sample() {
                Ok(s) => s,
                Err(e) => {
                    *failed.borrow_mut() = Some(e);
                    None
                }
            })
            .filter(|s| from.is_none_or(|t| s.timestamp_ms > t));
            info!(rows = check.rows, "uploading samples from CSV");
            let n = i64::try_from(check.rows).unwrap_or(i64::MAX);
            let samples = marking_the_end(with_progress(samples, n, station.as_str()), input_ended);
            let end = run_batch(node, samples, &mut adapter, &mut link, args.give_up_after)?;
            if let Some(e) = failed.into_inner() {
                return Err(CliError::Failed(format!(
                    "{name} changed while it was being imported: {e}"
                )));
            }
            end
        }
        (None, Some(seed)) => {
            let sim = Simulator::new(seed);
            match args.duration {
                Some(duration) => {
                    let start = match &args.start {
                        Some(text) => on_grid(parse_start(text)?, spec, text)?,
                        None => remembered_start(
                            &node.adapter_state("simulation.state")?,
                            seed,
                            spec,
                            duration,
                        )?,
                    };
                    let n = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
                        / spec.interval_ms();
                    let first = simulation_resume_point(
                        start,
                        n,
                        spec.interval_ms(),
                        last_recorded,
                        Timestamp::now().as_millisecond(),
                    )?;
                    info!(%station, start = %rfc3339(start), samples = n, from = first, "simulating in virtual time");
                    let interval = spec.interval_ms();
                    let samples = (first..n).map(|i| sim.sample_at(start + i * interval));
                    let samples = marking_the_end(
                        with_progress(samples, n - first, station.as_str()),
                        input_ended,
                    );
                    run_batch(node, samples, &mut adapter, &mut link, args.give_up_after)?
                }
                None => {
                    info!(
                        "sampling in real time every {} ms; stop with Ctrl-C",
                        spec.interval_ms()
                    );
                    run_live(node, &mut adapter, &mut link)?;
                    BatchEnd::Stopped
                }
            }
        }
        (None, None) => return Err(CliError::Usage("give --simulate SEED or --csv FILE".into())),
    })
}

/// Why a finite run stopped by a signal is incomplete: before the end of its input, or
/// with the input complete, while its last files were being delivered.
fn stopped_reason(input_ended: bool) -> String {
    if input_ended {
        "stopped by a signal while uploading; the input is complete (every sample recorded), the files not yet delivered are kept in the spool".into()
    } else {
        "stopped by a signal before the end of the input; run the same command again to continue"
            .into()
    }
}

/// `--upload-every`: at least the window (a shorter period would carry at most one
/// window per batch: no batching, only a delay), at most a day, and dividing a day, so
/// that batches fall at the same UTC times every day like windows do.
fn check_upload_every(every: Option<Duration>, spec: WindowSpec) -> CliResult<()> {
    let Some(every) = every else {
        return Ok(());
    };
    let day = Duration::from_secs(86_400);
    let window = Duration::from_millis(u64::try_from(spec.window_ms()).unwrap_or(0));
    let whole = every.subsec_nanos() == 0 && every.as_secs() > 0;
    if !whole || every < window || every > day || !day.as_secs().is_multiple_of(every.as_secs()) {
        return Err(CliError::Usage(format!(
            "--upload-every {} must be whole seconds, at least the window ({}), at most 24h, and divide 24h (e.g. {})",
            short(every),
            short(window),
            upload_every_examples(window)
        )));
    }
    Ok(())
}

/// A few valid `--upload-every` values for `window`: multiples of it (two windows or
/// more, or it would not batch) that divide a day, the day itself last.
fn upload_every_examples(window: Duration) -> String {
    let day = 86_400;
    let w = window.as_secs().max(1);
    let mut valid: Vec<u64> = (2..=day / w)
        .map(|k| k * w)
        .filter(|p| day % p == 0 && *p < day)
        .take(3)
        .collect();
    valid.push(day);
    valid
        .iter()
        .map(|&s| short(Duration::from_secs(s)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A duration in one unit, as a user writes it (`25h`, `90m`, `45s`, `1500ms`), never
/// humantime's `1day 1h`.
fn short(d: Duration) -> String {
    match (d.as_secs(), d.subsec_millis()) {
        (s, 0) if s > 0 && s % 3_600 == 0 => format!("{}h", s / 3_600),
        (s, 0) if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        (s, 0) => format!("{s}s"),
        _ => format!("{}ms", d.as_millis()),
    }
}

/// The sensors given on the command line or in the config file.
#[cfg(target_os = "linux")]
fn open_sensors(args: &RunArgs) -> CliResult<Box<dyn crate::sensors::SensorSet>> {
    match crate::sensors::open(&args.sensors)? {
        Some(s) => Ok(Box::new(s)),
        None => Err(CliError::Usage("no sensor given".into())),
    }
}

#[cfg(not(target_os = "linux"))]
fn open_sensors(_: &RunArgs) -> CliResult<Box<dyn crate::sensors::SensorSet>> {
    Err(CliError::Usage(
        "real sensors (--bme280, --scd4x, --pms5003) need Linux's I2C and serial devices".into(),
    ))
}

/// `--start` must lie on the sampling grid, or every sample (and key) is off it.
fn on_grid(start: i64, spec: WindowSpec, text: &str) -> CliResult<i64> {
    if start.rem_euclid(spec.interval_ms()) == 0 {
        return Ok(start);
    }
    let up = (start.div_euclid(spec.interval_ms()) + 1) * spec.interval_ms();
    Err(CliError::Usage(format!(
        "--start {text} is not on the {} ms sampling grid; use e.g. {}",
        spec.interval_ms(),
        rfc3339(up)
    )))
}

/// Tells about files an earlier run on this spool dropped or quarantined: this run's
/// exit code only counts its own.
fn warn_about_earlier_losses(node: &Station) {
    let status = node.status();
    let (dropped, quarantined) = (status.dropped_files, status.quarantined_files);
    if dropped > 0 || quarantined > 0 {
        tracing::warn!(
            "this spool lost data in earlier runs: {dropped} file(s) dropped by the spool limit (dropped.log), {quarantined} quarantined ({})",
            status.quarantine_dir.display()
        );
    }
}

/// Where a CSV import starts. The same file again (a killed import, rerun with the same
/// arguments: its MD5 is remembered in `state`, the station's `import.state`) resumes after the
/// last sample the spool recorded. Another CSV that starts at or before that sample is
/// refused before anything is recorded: it would overlap, or overwrite in the lake,
/// what this station already has.
fn csv_resume_point(
    check: &crate::csv_input::CsvCheck,
    last_recorded: Option<i64>,
    state: &Path,
    args: &RunArgs,
) -> CliResult<Option<i64>> {
    let tag = format!("csv md5={}", check.md5);
    let same_file = std::fs::read_to_string(state).is_ok_and(|t| t.trim() == tag);
    // Unlike a live clock, an import's timeline is data: even one far in the future
    // (a future-dated CSV) keeps older imports out of this spool.
    let overlap = match last_recorded {
        Some(last) if check.first_ms <= last => Some((check.first_ms, last)),
        _ => None,
    };
    let Some((first, last)) = overlap else {
        std::fs::write(state, format!("{tag}\n")).map_err(|e| CliError::io(state, e))?;
        return Ok(None);
    };
    if same_file {
        info!("resuming this CSV's import after {}", rfc3339(last));
        return Ok(Some(last));
    }
    Err(CliError::Usage(format!(
        "{}: its first sample ({}) is not after the last one this spool recorded ({}); \
importing it would overlap what this station already has, and a window's object in the lake \
would be overwritten. Import older data with its own --spool and its own --prefix",
        args.csv
            .as_deref()
            .map(Path::display)
            .map_or_else(String::new, |d| d.to_string()),
        rfc3339(first),
        rfc3339(last),
    )))
}

/// The exit of a finished run: refused (3) before incomplete (4) before data lost (5).
fn outcome(end: BatchEnd, node: &Station, finite: bool, input_ended: bool) -> CliResult<()> {
    match end {
        // A finite run stopped by a signal before its input was delivered: the rest
        // waits in the journal and spool for a rerun with the same arguments.
        BatchEnd::Stopped if finite => Err(CliError::Incomplete {
            pending: node.status().pending_files,
            spool: node.status().spool_dir,
            reason: stopped_reason(input_ended),
        }),
        BatchEnd::Refused { key, failure, tree } => Err(CliError::Refused { key, failure, tree }),
        BatchEnd::GaveUp { pending, last } => Err(CliError::Incomplete {
            pending,
            spool: node.status().spool_dir,
            reason: last,
        }),
        BatchEnd::Delivered | BatchEnd::Stopped => {
            let c = node.counters();
            if c.lost_any() {
                Err(CliError::DataLost(format!(
                    "{} sample(s) skipped, {} file(s) dropped by the spool limit, {} quarantined, {} unreadable (see the warnings above, the spool's dropped.log and {})",
                    c.skipped_samples + c.unsynced_dropped,
                    c.dropped_files,
                    c.quarantined_files,
                    c.unreadable_files,
                    node.status().quarantine_dir.display()
                )))
            } else {
                Ok(())
            }
        }
    }
}

/// Index of the first of a simulated period's `n` samples (from `start`, every
/// `interval_ms`) still to record, given the last sample the spool recorded:
/// - inside the period: after it (a killed run started again with the same arguments);
/// - before the period, or none: 0;
/// - far ahead of the wall clock (`wall_ms`; a run with a future `--start`, a bad
///   clock): 0 as well, and the station closes that timeline when the first sample
///   comes (see `Station::record`);
/// - after the period but not in the future: refused, since every sample would be
///   skipped as not after the previous one.
fn simulation_resume_point(
    start: i64,
    n: i64,
    interval_ms: i64,
    last_recorded: Option<i64>,
    wall_ms: i64,
) -> CliResult<i64> {
    let end = start.saturating_add(n.saturating_mul(interval_ms));
    let Some(last) = last_recorded.filter(|t| *t >= start) else {
        return Ok(0);
    };
    if last < end {
        return Ok(((last - start) / interval_ms + 1).min(n));
    }
    let future = wall_ms.saturating_add(lakenode::clock::FUTURE_TOLERANCE.as_millis() as i64);
    if last > future {
        info!(
            last = %rfc3339(last),
            "the spool's journal lies in the future (a run with a future --start, or a bad clock); that timeline is closed and this period recorded"
        );
        return Ok(0);
    }
    Err(CliError::Usage(format!(
        "this spool already recorded a sample at {}, after the simulated period {} to {}: \
every sample of the period would be skipped as not after it. Simulate a later period \
(--start after {}) or use another --spool",
        rfc3339(last),
        rfc3339(start),
        rfc3339(end),
        rfc3339(last),
    )))
}

/// The start of a simulated run without `--start`: chosen once (the duration before
/// the current window) and remembered in `path` (the station's `simulation.state`), so
/// that a killed run started again with the same arguments resumes the same virtual
/// timeline.
fn remembered_start(
    path: &Path,
    seed: u64,
    spec: WindowSpec,
    duration: Duration,
) -> CliResult<i64> {
    let tag = format!(
        "seed={seed} duration_ms={} interval_ms={}",
        duration.as_millis(),
        spec.interval_ms()
    );
    if let Ok(text) = std::fs::read_to_string(path)
        && let Some((stored_tag, start)) = text.trim().rsplit_once(" start_ms=")
        && stored_tag == tag
        && let Ok(start) = start.parse()
    {
        return Ok(start);
    }
    let start = default_start(spec, duration);
    std::fs::write(path, format!("{tag} start_ms={start}\n")).map_err(|e| CliError::io(path, e))?;
    Ok(start)
}

fn print_summary(station: &StationId, node: &Station, wall: Duration) {
    let c = node.counters();
    let pending = node.status().pending_files;
    println!(
        "station {station}: {} samples, {} files uploaded ({} bytes), {} upload failures ({} refused), {} quarantined, {} dropped, {} pending, {:.2} s",
        c.samples,
        c.uploaded_files,
        c.uploaded_bytes,
        c.upload_failures,
        c.refusals,
        c.quarantined_files,
        c.dropped_files,
        pending,
        wall.as_secs_f64()
    );
    if c.skipped_samples + c.unsynced_dropped > 0 {
        println!(
            "  {} samples skipped (not after the previous one, or from an unset clock)",
            c.skipped_samples + c.unsynced_dropped
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    /// 2026-04-01T00:00:00Z.
    const START: i64 = 1_775_001_600_000;
    /// The wall clock of these tests: 2026-12-03.
    const WALL: i64 = 1_796_256_000_000;

    #[test]
    fn durations_are_shown_in_one_unit_as_written() {
        // Found by the adversarial review: `25h` was echoed as `1day 1h`.
        let err = check_upload_every(
            Some(Duration::from_secs(25 * 3_600)),
            WindowSpec::new(5_000, 900_000).expect("spec"),
        )
        .expect_err("over a day");
        assert!(
            err.to_string().starts_with("--upload-every 25h must"),
            "{err}"
        );
        assert!(err.to_string().contains("the window (15m)"), "{err}");
        assert_eq!(short(Duration::from_millis(1_500)), "1500ms");
        assert_eq!(short(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn the_upload_every_examples_are_valid_for_the_window() {
        let examples = |secs| upload_every_examples(Duration::from_secs(secs));
        assert_eq!(examples(900), "30m, 45m, 1h, 24h");
        assert_eq!(examples(60), "2m, 3m, 4m, 24h");
        assert_eq!(examples(86_400), "24h");
    }

    #[test]
    fn a_simulation_resumes_inside_its_period_and_starts_over_before_it() {
        let resume = |last| simulation_resume_point(START, 30, MIN, last, WALL).expect("ok");
        assert_eq!(resume(None), 0);
        assert_eq!(resume(Some(START - MIN)), 0);
        assert_eq!(resume(Some(START)), 1);
        assert_eq!(
            resume(Some(START + 29 * MIN)),
            30,
            "a finished run: nothing left"
        );
    }

    #[test]
    fn a_journal_in_the_future_does_not_swallow_the_period() {
        // 2099: the samples are given to the station, which closes that timeline.
        let in_2099 = 4_070_908_800_000;
        assert_eq!(
            simulation_resume_point(START, 30, MIN, Some(in_2099), WALL).expect("ok"),
            0
        );
    }

    #[test]
    fn a_journal_after_the_period_but_not_in_the_future_is_refused() {
        let e = simulation_resume_point(START, 30, MIN, Some(START + 60 * MIN), WALL)
            .expect_err("refused");
        let text = e.to_string();
        assert!(
            text.contains("2026-04-01T01:00:00Z") && text.contains("--spool"),
            "{text}"
        );
    }
}
