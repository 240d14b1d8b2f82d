//! The `lakenode` command's library: host transport (ureq), CSV input, the host adapter
//! of the core's station loop (shared by `run` and `demo`), and the commands themselves.
//! What reads or rewrites a lake (the checked reader, the lake stores, compaction) is the
//! `lakenode-lake` crate. `main.rs` only
//! parses arguments and maps errors to exit codes; integration tests use this crate.

pub mod aws;
pub mod commands;
pub mod config;
pub mod credentials;
pub mod csv_input;
pub mod error;
pub mod heap;
pub mod host;
pub mod lake_args;
pub mod logging;
pub mod metrics;
pub mod printable;
pub mod progress;
pub mod report;
pub mod sensors;
pub mod signals;
pub mod spill;
pub mod transport;
pub mod unsynced;

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::error::CliError;

/// The sampling interval when `--interval` is not given (and no CSV tells it).
pub const DEFAULT_INTERVAL_MS: i64 = 5_000;

/// Sampling and file options shared by the commands that take samples.
#[derive(Debug, Clone, Args)]
pub struct WindowArgs {
    /// Time between samples, in whole seconds [default: 5s; `run --csv` and `encode`: the
    /// spacing of the CSV's timestamps, which a given --interval must match].
    #[arg(long, value_parser = parse_written_duration)]
    pub interval: Option<WrittenDuration>,
    /// Window length in whole minutes; windows are aligned to UTC (must divide 24 h).
    #[arg(long, default_value = "15m", value_parser = parse_written_duration)]
    pub window: WrittenDuration,
    /// Writer profile.
    #[arg(long, default_value = "compat", value_parser = ["compat", "compact"])]
    pub profile: String,
}

/// `lakenode demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Where the embedded S3 stores objects and the spools live (kept after exit);
    /// default: a new directory under ./lakenode-demo/.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Hours of virtual time to simulate per station.
    #[arg(long, default_value_t = 6.0)]
    pub hours: f64,
    /// Number of simulated stations.
    #[arg(long, default_value_t = 1)]
    pub stations: u32,
    /// Seed of the simulation (same seed, same readings).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Start of the simulated period (RFC 3339); default: the hours before the current
    /// window.
    #[arg(long)]
    pub start: Option<String>,
    /// Sampling and file options.
    #[command(flatten)]
    pub window: WindowArgs,
    /// Simulate power cuts: one station in eight loses power for hours, one in eight has
    /// brownouts, the last one goes silent for the final fifth (the verification expects
    /// exactly the instants sampled while powered). Shows what `lakenode report` finds.
    #[arg(long)]
    pub outages: bool,
    /// Measurement columns of the stations, comma separated as for `run --columns`;
    /// repeat it to give stations different columns (station i gets the (i mod n)-th
    /// list) [default: every measurement].
    #[arg(long = "columns", value_name = "LIST")]
    pub columns: Vec<String>,
    /// Stations simulated at once; default: two per core (a station waits for its
    /// uploads and downloads, so one per core leaves cores idle).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Leave the window files as the stations wrote them: no compaction into daily
    /// files after the verification.
    #[arg(long)]
    pub no_compact: bool,
}

impl Default for DemoArgs {
    fn default() -> Self {
        Self {
            data_dir: None,
            hours: 6.0,
            stations: 1,
            seed: 1,
            start: None,
            window: WindowArgs {
                interval: None,
                window: WrittenDuration {
                    value: Duration::from_secs(900),
                    written: "15m".into(),
                },
                profile: "compat".into(),
            },
            outages: false,
            columns: Vec::new(),
            workers: None,
            no_compact: false,
        }
    }
}

/// Where a station writes: the S3 target and the station's place in the lake. Shared by
/// `run` and `provision`, so both validate the same way.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// S3 endpoint, e.g. https://s3.eu-central-1.amazonaws.com or http://127.0.0.1:9000.
    #[arg(long)]
    pub endpoint: String,
    /// Bucket name.
    #[arg(long)]
    pub bucket: String,
    /// Signing region [default: AWS_REGION, AWS_DEFAULT_REGION, the region of the AWS
    /// profile (AWS_PROFILE or default) in ~/.aws/config, else us-east-1].
    #[arg(long)]
    pub region: Option<String>,
    /// Path-style URLs (endpoint/bucket/key); needed for IP endpoints and most
    /// self-hosted stores.
    #[arg(long)]
    pub path_style: bool,
    /// Key prefix inside the bucket: letters, digits, `-_.=`, segments of at most 255
    /// characters between `/`, 512 in all (refused at start otherwise, exit 2).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Station id: a UUID (a UUIDv7 by convention; `lakenode station-id` makes one).
    #[arg(long)]
    pub station: String,
}

impl TargetArgs {
    /// The validated target.
    ///
    /// # Errors
    /// The core's message naming the invalid field.
    pub fn resolve(
        &self,
    ) -> Result<
        (
            lakenode::s3::S3Config,
            Option<lakenode::layout::Prefix>,
            lakenode::layout::StationId,
        ),
        CliError,
    > {
        let region = crate::aws::region(self.region.as_deref())?;
        let s3 =
            lakenode::s3::S3Config::new(&self.endpoint, &self.bucket, &region, self.path_style)?;
        let prefix = self
            .prefix
            .as_deref()
            .map(lakenode::layout::Prefix::new)
            .transpose()?;
        Ok((
            s3,
            prefix,
            lakenode::layout::StationId::new(self.station.clone())?,
        ))
    }
}

/// `lakenode run`.
#[derive(Debug, Clone, Args)]
#[command(group = clap::ArgGroup::new("source").required(true).multiple(true).args(["simulate", "csv", "bme280", "scd4x", "pms5003"]))]
#[command(args_override_self = true)]
pub struct RunArgs {
    /// Read settings from a TOML file whose keys are these flags' names (the command
    /// line overrides it; secrets are refused there). See README, "Raspberry Pi".
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the station writes.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Spool directory: sealed files wait here until S3 confirms them.
    #[arg(long)]
    pub spool: PathBuf,
    /// Simulate sensors with this seed.
    #[arg(long, conflicts_with_all = ["bme280", "scd4x", "pms5003"])]
    pub simulate: Option<u64>,
    /// With --simulate and --duration: start of virtual time (RFC 3339, on the --interval
    /// grid); default: the --duration before the current window.
    #[arg(long, requires = "duration")]
    pub start: Option<String>,
    /// With --simulate: simulate this much virtual time as fast as possible, then
    /// exit once everything is uploaded. Without it, sample in real time until stopped.
    #[arg(long, requires = "simulate", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Read samples from a CSV file (header: timestamp plus column names).
    #[arg(long, conflicts_with_all = ["simulate", "bme280", "scd4x", "pms5003"])]
    pub csv: Option<PathBuf>,
    /// Real sensors, sampled in real time (any subset; Linux).
    #[command(flatten)]
    pub sensors: crate::sensors::SensorArgs,
    /// Measurement columns of the station (comma separated; default: all, or the
    /// CSV header's).
    #[arg(long)]
    pub columns: Option<String>,
    /// Read credentials from this file (AWS shared-credentials format, mode 600)
    /// instead of the AWS chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/
    /// AWS_SESSION_TOKEN, then AWS_PROFILE (or default) in ~/.aws/credentials and
    /// ~/.aws/config (keys, credential_process, SSO, roles), web identity, container and
    /// instance roles.
    #[arg(long)]
    pub credentials_file: Option<PathBuf>,
    /// The section of --credentials-file to use.
    #[arg(long, default_value = "default", requires = "credentials_file")]
    pub credentials_profile: String,
    /// Most bytes the spool may hold, e.g. 50M or 2G (at least 64K); when full, the
    /// oldest files are dropped, each with a warning, listed in the spool's dropped.log
    /// and counted (a finite run then exits 5). Default: no limit.
    #[arg(long, value_parser = parse_size)]
    pub spool_limit: Option<u64>,
    /// Also upload one health row per window (uptime, spool depth, upload failures) to
    /// the sibling tree `[prefix/]health/station=<id>/...`.
    #[arg(long)]
    pub health: bool,
    /// With --duration or --csv: once the input is recorded, stop retrying when no file
    /// has been confirmed for this long (exit 4, everything stays in the spool).
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    pub give_up_after: Duration,
    /// Batched uploads: sealed windows and health rows wait in the spool and go out
    /// together every DURATION, on one connection, at multiples of it on the UTC clock
    /// (e.g. 1h: on the hour); at least the window, at most 24 h, dividing 24 h.
    /// Earlier if the spool passes half its --spool-limit; a finite run's end and
    /// Ctrl-C/SIGTERM send what waits. Default: each file as soon as it is sealed.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub upload_every: Option<Duration>,
    /// With --upload-every: pending bytes in the spool that open a batch early, e.g.
    /// 512K; at most half --spool-limit (more is refused: windows sealed while the batch
    /// drains need the rest) [default: half --spool-limit; none without one].
    #[arg(long, value_name = "SIZE", requires = "upload_every", value_parser = parse_size)]
    pub batch_high_water: Option<u64>,
    /// Count any 2xx as stored, without checking that its ETag is the MD5 of the body
    /// (for stores whose ETags are not MD5s).
    #[arg(long)]
    pub no_etag_check: bool,
    /// Use the system clock in real time even if the kernel says it is not
    /// synchronised (an RTC without NTP). Without it, samples are held and dated once
    /// NTP has set the clock.
    #[arg(long)]
    pub trust_clock: bool,
    /// Timeout of each HTTP request.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Allow plain http:// to an endpoint that is not on this machine (credentials and
    /// data then cross the network unencrypted).
    #[arg(long)]
    pub allow_http: bool,
    /// Which CAs https endpoints are checked against.
    #[command(flatten)]
    pub tls: crate::transport::TlsArgs,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464; port 0
    /// picks a free one, logged at start). Plain http: keep it on loopback or a
    /// trusted network.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
    /// Sampling and file options.
    #[command(flatten)]
    pub window: WindowArgs,
}

/// `lakenode encode`.
#[derive(Debug, Clone, Args)]
pub struct EncodeArgs {
    /// CSV of samples: `timestamp` (RFC 3339 or epoch ms) plus measurement columns.
    #[arg(long)]
    pub input: PathBuf,
    /// Parquet file to write.
    #[arg(long)]
    pub output: PathBuf,
    /// Station id (UUID) written into the file's metadata; default: the nil UUID.
    #[arg(long, default_value = "00000000-0000-0000-0000-000000000000")]
    pub station: String,
    /// Sampling and file options.
    #[command(flatten)]
    pub window: WindowArgs,
}

/// `lakenode inspect`.
#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// The Parquet file.
    pub file: PathBuf,
}

/// `lakenode bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Workloads: rows per file (178 = 15 min at 5 s as in the seed, 720 = 1 h,
    /// 17280 = 24 h).
    #[arg(long, value_delimiter = ',', default_value = "178,720,17280")]
    pub rows: Vec<usize>,
    /// Rows to encode per timing measurement in all (sets the repetitions).
    #[arg(long, default_value_t = 200_000)]
    pub budget_rows: usize,
}

/// `lakenode policy`.
#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    /// Bucket name.
    #[arg(long)]
    pub bucket: String,
    /// Key prefix inside the bucket, as given to `run --prefix`.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Station id.
    #[arg(long)]
    pub station: String,
}

/// `lakenode provision`.
#[derive(Debug, Clone, Args)]
pub struct ProvisionArgs {
    /// The NVS CSV to write (mode 600).
    #[arg(long)]
    pub output: PathBuf,
    /// WiFi network name (the passphrase comes from LAKENODE_WIFI_PSK).
    #[arg(long)]
    pub wifi_ssid: String,
    /// Where the station writes (the endpoint must be https).
    #[command(flatten)]
    pub target: TargetArgs,
    /// Bench mode: the device reports simulated readings from this seed instead of its
    /// sensors.
    #[arg(long)]
    pub simulate: Option<u64>,
    /// Batched uploads on the device, as `run --upload-every` (whole seconds, at least
    /// its 15-minute window, dividing 24 h), e.g. 1h.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub upload_every: Option<Duration>,
    /// With --upload-every: the device stops WiFi between batches and brings WiFi and
    /// SNTP back for each.
    #[arg(long, requires = "upload_every")]
    pub wifi_off_between_batches: bool,
}

/// `lakenode serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Directory for buckets and objects.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Address to listen on. Loopback by default: this is a test server (SECURITY.md).
    #[arg(long, default_value = "127.0.0.1")]
    pub listen: std::net::IpAddr,
    /// Port (0: any free port; the address is printed).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// The buckets served; any other answers NoSuchBucket. Repeat for several.
    #[arg(long, default_value = "lake")]
    pub bucket: Vec<String>,
    /// Enforce this IAM identity policy (JSON, e.g. the output of `lakenode policy`) on
    /// the served access key: requests it does not allow get 403 AccessDenied.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Serve https with this PEM certificate chain (with --tls-key), e.g. one signed by
    /// a private CA that clients are given with --ca-file.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Close a connection that waits this long for its next request, e.g. 5s (S3 closes
    /// idle connections after seconds). Default: the client closes it.
    #[arg(long, value_parser = parse_duration)]
    pub idle_timeout: Option<Duration>,
}

/// Parses a size: bytes, or a number with K, M or G (powers of 1024).
///
/// # Errors
/// A message for anything else.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, mult) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 1 << 10),
        Some((i, 'M' | 'm')) => (&t[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{s:?} is not a size like 500K, 50M or 2G"))
}

/// Parses `5s`, `15m`, `6h`, `1h30m`, `500ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration like 5s, 15m or 6h: {e}"))
}

/// A duration flag's value and its text as given, so that a message about it quotes
/// what the user wrote (`--window 90s`), not what it became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenDuration {
    /// The duration.
    pub value: Duration,
    /// As written on the command line or in the config file.
    pub written: String,
}

/// [`parse_duration`], keeping the text.
///
/// # Errors
/// As [`parse_duration`].
pub fn parse_written_duration(s: &str) -> Result<WrittenDuration, String> {
    Ok(WrittenDuration {
        value: parse_duration(s)?,
        written: s.to_owned(),
    })
}

impl WindowArgs {
    /// The validated window spec.
    ///
    /// # Errors
    /// The core's message naming `interval` or `window`.
    pub fn spec(&self) -> Result<lakenode::window::WindowSpec, CliError> {
        self.spec_with(self.interval_ms().unwrap_or(DEFAULT_INTERVAL_MS))
    }

    /// The validated window spec with this interval (e.g. a CSV's own).
    ///
    /// # Errors
    /// [`CliError::Usage`] naming the flag at fault and its value as written, then the
    /// core's reason (`--window 90s: must be a whole number of minutes ...`).
    pub fn spec_with(&self, interval_ms: i64) -> Result<lakenode::window::WindowSpec, CliError> {
        use lakenode::window::WindowSpec;
        let window_ms = i64::try_from(self.window.value.as_millis()).unwrap_or(i64::MAX);
        let window = format!("--window {}", self.window.written);
        let interval = self
            .interval
            .as_ref()
            .map(|i| format!("--interval {}", i.written));
        let usage = |flag: &str, e: lakenode::Error| match e {
            lakenode::Error::Config { reason, .. } => CliError::Usage(format!("{flag}: {reason}")),
            e => e.into(),
        };
        // The window alone first (1 s divides any window of whole minutes): a window at
        // fault is told from one that does not fit the interval.
        WindowSpec::new(1_000, window_ms).map_err(|e| usage(&window, e))?;
        WindowSpec::new(interval_ms, window_ms).map_err(|e| match (e, interval) {
            (
                lakenode::Error::Config {
                    field: "interval",
                    reason,
                },
                Some(flag),
            ) => CliError::Usage(format!("{flag}: {reason}")),
            (
                lakenode::Error::Config {
                    field: "window", ..
                },
                Some(flag),
            ) => CliError::Usage(format!("{window}: must be a multiple of {flag}")),
            // With an interval the flag did not give (a CSV's): the core's words.
            (
                e @ lakenode::Error::Config {
                    field: "window", ..
                },
                None,
            ) => usage(&window, e),
            (e, _) => e.into(),
        })
    }

    /// `--interval` in milliseconds, if it was given.
    #[must_use]
    pub fn interval_ms(&self) -> Option<i64> {
        self.interval
            .as_ref()
            .map(|d| i64::try_from(d.value.as_millis()).unwrap_or(i64::MAX))
    }

    /// The writer profile.
    ///
    /// # Errors
    /// For an unknown profile name.
    pub fn profile(&self) -> Result<lakenode::encode::WriterProfile, CliError> {
        Ok(lakenode::encode::WriterProfile::parse(&self.profile)?)
    }
}
