//! `lakenode`: the sensor node pipeline on a PC.
//!
//! `lakenode` with no arguments (what `cargo run --release` does) runs the demo: an S3
//! server embedded in the process, simulated stations, every window signed, uploaded,
//! read back and checked. See `lakenode --help` for the other commands.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lakenode_cli::error::CliError;
use lakenode_cli::{
    BenchArgs, DemoArgs, EncodeArgs, InspectArgs, PolicyArgs, ProvisionArgs, RunArgs, ServeArgs,
    commands, heap,
};

#[global_allocator]
static ALLOC: heap::CountingAlloc = heap::CountingAlloc;

/// Sensor node pipeline: clock-aligned Snappy Parquet windows, signed and PUT to S3.
#[derive(Debug, Parser)]
#[command(name = "lakenode", version, about, long_about = None)]
struct Cli {
    /// Log filter, e.g. `info`, `debug`, `lakenode=trace` (or set RUST_LOG).
    #[arg(long, global = true, env = "LAKENODE_LOG", default_value = "info")]
    log: String,

    /// Log lines as `text` or `json` (one object per line: timestamp, level, target,
    /// fields with the message).
    #[arg(
        long,
        global = true,
        env = "LAKENODE_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: lakenode_cli::logging::LogFormat,

    #[command(subcommand)]
    command: Option<Command>,
}

// Deferred: only the chosen subcommand's arguments are built. Building all eleven
// peaked at 126 KB of heap, more than `encode` of a 15-minute window needs; deferred,
// parsing `encode` peaks at 59 KB (2026-12-03).
#[derive(Debug, Subcommand)]
#[command(defer = true)]
enum Command {
    /// Simulate stations against an embedded S3 server, verify every file (the default).
    Demo(DemoArgs),
    /// Run the node loop against any S3 endpoint.
    #[command(after_help = RUN_EXIT_CODES)]
    Run(Box<RunArgs>),
    /// Encode one Parquet file from a CSV of samples.
    Encode(EncodeArgs),
    /// Describe a Parquet file: schema, row groups, encodings, sizes, metadata.
    Inspect(InspectArgs),
    /// Merge each station's window files of past days into daily files (local or S3).
    Compact(commands::compact::CompactArgs),
    /// Write one HTML page of the fleet: coverage, silent stations, health, measurements.
    Report(commands::report::ReportArgs),
    /// Write a device's configuration as an NVS CSV for esp-idf-nvs-partition-gen.
    Provision(ProvisionArgs),
    /// Print a new station id (a UUIDv7).
    StationId,
    /// Print the least-privilege IAM policy for one station (PutObject on its data and
    /// health trees only).
    Policy(PolicyArgs),
    /// Measure the encoder: bytes, footer, peak heap, allocations, time, against the seed.
    Bench(BenchArgs),
    /// Run the embedded S3 server on its own (credentials from AWS_* variables).
    Serve(ServeArgs),
    /// Show a node's spool and run (also while it runs): files waiting, last upload,
    /// counters.
    Status(commands::status::StatusArgs),
    /// Write a compacted lake of many stations and days from the simulator (for
    /// `scripts/fleet-bench.sh`).
    #[command(hide = true)]
    FleetLake(commands::fleet_lake::FleetLakeArgs),
}

/// `run --help`'s last lines.
const RUN_EXIT_CODES: &str = "\
Exit codes:
  0  every sample recorded and every file confirmed; a real-time run: stopped by SIGTERM or Ctrl-C
  1  an error at run time: unreadable or malformed input, spool in use or unwritable
  2  the command line, config file or a setting can never work (invalid bucket, station,
     window, key, credentials, an unreadable --ca-file or one without a certificate, no
     certificate found with --tls-roots system, a CSV
     that contradicts --interval): the service unit does not restart on it
     (RestartPreventExitStatus=2)
  3  S3 refused the credentials, permissions or bucket, or the reply was not from S3
  4  uploads still failing at --give-up-after (e.g. a TLS certificate the trusted roots do
     not accept: see --ca-file), or a finite run stopped by a signal (the data stays in
     the spool: run again)
  5  finished, but samples were skipped or files dropped by --spool-limit or quarantined";

/// `run`'s long flags, and whether each takes a value (for `--config`); built alone,
/// without the other subcommands.
fn run_flags() -> Vec<(String, bool)> {
    use clap::Args as _;
    RunArgs::augment_args(clap::Command::new("run"))
        .get_arguments()
        .filter_map(|a| {
            let takes_value = a.get_action().takes_values();
            a.get_long().map(|l| (l.to_owned(), takes_value))
        })
        .collect()
}

/// Parses the command line, with `run --config FILE` expanded; a bad value that came
/// from the file is reported with its key.
fn parse() -> Result<(Cli, Option<lakenode_cli::config::Origin>), ExitCode> {
    let (args, origin) =
        match lakenode_cli::config::expand(std::env::args_os().collect(), &run_flags()) {
            Ok(expanded) => expanded,
            Err(e) => {
                eprintln!("error: {e}");
                return Err(ExitCode::from(lakenode_cli::error::EXIT_CONFIG));
            }
        };
    let config = origin.clone();
    Cli::try_parse_from(args)
        .map(|cli| (cli, config))
        .map_err(|e| {
            let flag = match e.get(clap::error::ContextKind::InvalidArg) {
                Some(clap::error::ContextValue::String(s)) => {
                    s.split(' ').next().map(str::to_owned)
                }
                _ => None,
            };
            match (origin, flag) {
                (Some(o), Some(flag)) if o.key_for(&flag).is_some() => {
                    let key = o.key_for(&flag).unwrap_or_default();
                    let kind = e.kind();
                    let message = e.render().to_string();
                    let first = message.lines().next().unwrap_or_default();
                    eprintln!(
                        "error: {}: key `{key}`: {}",
                        o.path.display(),
                        first.trim_start_matches("error: ")
                    );
                    if kind == clap::error::ErrorKind::InvalidValue {
                        // clap's list of possible values, where it has one.
                        for line in message.lines().filter(|l| l.contains("possible values")) {
                            eprintln!("{line}");
                        }
                    }
                    ExitCode::from(2)
                }
                _ => {
                    let _ = e.print();
                    ExitCode::from(if e.use_stderr() { 2 } else { 0 })
                }
            }
        })
}

fn main() -> ExitCode {
    // Counting every allocation costs atomics on a hot path: only for those who asked.
    if std::env::var_os("LAKENODE_HEAP_REPORT").is_some()
        || std::env::args_os().any(|a| a == "bench")
    {
        heap::enable();
    }
    let (cli, origin) = match parse() {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    // Where the filter came from, for its error; dropped before the command runs
    // (encode's heap budget).
    let log_source = origin
        .as_ref()
        .and_then(|o| {
            o.key_for("--log")
                .map(|k| format!("{}: key `{k}`", o.path.display()))
        })
        .unwrap_or_else(|| "--log (or LAKENODE_LOG)".to_owned());
    let logging = lakenode_cli::logging::init(&cli.log, &log_source, cli.log_format);
    drop(log_source);
    if let Err(e) = logging {
        eprintln!("error: {e}");
        return ExitCode::from(lakenode_cli::error::EXIT_CONFIG);
    }
    let json = cli.log_format == lakenode_cli::logging::LogFormat::Json;
    let command = cli
        .command
        .unwrap_or_else(|| Command::Demo(DemoArgs::default()));
    let is_run = matches!(command, Command::Run(_));
    let result = match command {
        Command::Demo(args) => commands::demo::run(&args),
        Command::Run(args) => commands::run::run(&args),
        Command::Encode(args) => commands::encode::run(&args),
        Command::Inspect(args) => commands::inspect::run(&args),
        Command::Compact(args) => commands::compact::run(&args),
        Command::Report(args) => commands::report::run(&args),
        Command::Serve(args) => commands::serve::run(&args),
        Command::FleetLake(args) => commands::fleet_lake::run(&args),
        Command::Bench(args) => commands::bench::run(&args),
        Command::Policy(args) => commands::policy::run(&args),
        Command::Provision(args) => commands::provision::run(&args),
        Command::Status(args) => commands::status::run(&args),
        Command::StationId => {
            println!("{}", uuid::Uuid::now_v7().hyphenated());
            Ok(())
        }
    };
    if std::env::var_os("LAKENODE_HEAP_REPORT").is_some() {
        let h = heap::stats();
        if json {
            tracing::info!(peak = h.peak, allocations = h.allocations, "heap");
        } else {
            eprintln!("heap: peak {} bytes, {} allocations", h.peak, h.allocations);
        }
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A setting the core refused, taken from the config file: name its key.
            let from_file = match (&e, &origin) {
                (CliError::Core(lakenode::Error::Config { field, .. }), Some(o)) => o
                    .key_for_field(field)
                    .map(|key| format!("{}: key `{key}`: ", o.path.display())),
                // A check of `run`'s own that names the flag first (`--upload-every ...`).
                (CliError::Usage(message), Some(o)) => message
                    .split(' ')
                    .next()
                    .filter(|flag| flag.starts_with("--"))
                    .and_then(|flag| o.key_for(flag))
                    .map(|key| format!("{}: key `{key}`: ", o.path.display())),
                _ => None,
            };
            let code = if is_run {
                e.run_exit_code()
            } else {
                e.exit_code()
            };
            let from_file = from_file.unwrap_or_default();
            if json {
                tracing::error!(exit_code = code, "{from_file}{e}");
            } else {
                eprintln!("error: {from_file}{e}");
            }
            ExitCode::from(code)
        }
    }
}
