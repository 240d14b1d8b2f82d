//! Diagnostics of every command: one `tracing` subscriber writing to stderr, as text
//! (the default) or as one JSON object per line (`--log-format json`).
//!
//! Why one subscriber for all: `run`, `report`, `compact` and `demo` used to print
//! their warnings and progress each in its own style; a log shipper (journald,
//! Loki, a CI log) then needs one parser per command. Results stay on stdout; what is
//! said about the work goes through `tracing`, so `--log` and `--log-format` apply to
//! all of it.
//!
//! Why the filter is checked: `EnvFilter` reads a misspelt level (`--log debg`) as a
//! target named `debg`, which silences everything else; an unparsable `RUST_LOG` was
//! ignored. Both are errors now, naming where the filter came from.
//!
//! The text path allocates nothing beyond what the `fmt` subscriber already did (the
//! heap budget of `encode`, tests/cli_files.rs); the JSON formatter is only built when
//! asked for.

use std::io::{IsTerminal as _, Write};

use tracing_subscriber::EnvFilter;

use crate::error::{CliError, CliResult};

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-12-03T12:00:00.000000Z  INFO message key=value`, coloured on a terminal.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target` and `fields` (with
    /// `message`).
    Json,
}

/// Libraries whose debug output contains request URLs, i.e. presigned signatures, and
/// the AWS credential chain's, whose info and debug output describes credentials (key
/// ids, signed STS and SSO requests): they log at warn level at most, whatever the
/// filter asks. The CLI logs which region and which kind of credentials it uses.
const URL_LOGGING_TARGETS: [&str; 14] = [
    "ureq",
    "ureq_proto",
    "rustls",
    "s3s",
    "hyper",
    "hyper_util",
    "aws_config",
    "aws_credential_types",
    "aws_runtime",
    "aws_sigv4",
    "aws_smithy_runtime",
    "aws_smithy_http_client",
    "aws_sdk_sts",
    "aws_sdk_sso",
];

/// Targets a bare word of the filter may name (`--log lakenode` = all its levels).
const KNOWN_TARGETS: [&str; 5] = [
    "lakenode",
    "lakenode_cli",
    "lakenode_embedded_s3",
    "parquet",
    "tokio",
];

/// Level names a bare word of the filter may be.
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Checks a filter (`info`, `lakenode=debug,ureq=warn`) and builds it, with the
/// URL-logging libraries capped at warn. `source` names where it came from
/// (`RUST_LOG`, `--log`) for the error.
///
/// # Errors
/// [`CliError::Usage`] naming `source` and the directive: a directive that does not
/// parse, or a bare word that is neither a level nor a target lakenode logs under.
pub fn filter(spec: &str, source: &str) -> CliResult<EnvFilter> {
    let bad = |why: String| {
        CliError::Usage(format!(
            "{source}: invalid log filter {spec:?}: {why}; e.g. `info`, `debug`, `lakenode=trace,warn`"
        ))
    };
    for directive in spec.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if directive.ends_with('=') {
            // EnvFilter reads `lakenode=` as `lakenode=trace`.
            return Err(bad(format!("`{directive}` has no level after `=`")));
        }
        if directive.contains(['=', '[']) {
            continue; // target=level and span filters: EnvFilter checks them
        }
        let word = directive.split("::").next().unwrap_or(directive);
        if !LEVELS.iter().any(|l| directive.eq_ignore_ascii_case(l))
            && !KNOWN_TARGETS.contains(&word)
            && !URL_LOGGING_TARGETS.contains(&word)
        {
            return Err(bad(format!(
                "`{directive}` is neither a level ({}) nor a target lakenode logs under; \
                 for another target give its level, e.g. `{directive}=debug`",
                LEVELS.join(", ")
            )));
        }
    }
    let mut filter = EnvFilter::builder()
        .parse(spec)
        .map_err(|e| bad(e.to_string()))?;
    for target in URL_LOGGING_TARGETS {
        if let Ok(d) = format!("{target}=warn").parse() {
            filter = filter.add_directive(d);
        }
    }
    // Its warnings quote a failed credentials source's output (a `credential_process`'s
    // stderr, which may hold a secret): the CLI's own, scrubbed message says why instead.
    if let Ok(d) = "aws_config=error".parse() {
        filter = filter.add_directive(d);
    }
    Ok(filter)
}

/// Installs the process's subscriber: `RUST_LOG` if set, else `spec` (from `source`,
/// e.g. `--log`), written to stderr in `format`.
///
/// # Errors
/// As [`filter`], naming `RUST_LOG` or `source`.
pub fn init(spec: &str, source: &str, format: LogFormat) -> CliResult<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) => filter(&env, "RUST_LOG")?,
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(CliError::Usage(
                "RUST_LOG: not valid UTF-8; unset it or give a filter like `info`".into(),
            ));
        }
        Err(std::env::VarError::NotPresent) => filter(spec, source)?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Stderr);
    FORMAT.get_or_init(|| format);
    match format {
        LogFormat::Text => builder
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
    Ok(())
}

static FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// The format [`init`] installed (text if none was).
#[must_use]
pub fn format() -> LogFormat {
    FORMAT.get().copied().unwrap_or_default()
}

/// Stderr, with any progress bar on it hidden while a line is written (else the line
/// lands in the middle of the bar's redraw).
struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        crate::progress::suspend(|| std::io::stderr().write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        crate::progress::suspend(|| std::io::stderr().write_all(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_targets_and_directives_are_accepted() {
        for ok in [
            "info",
            "DEBUG",
            "lakenode=trace",
            "lakenode_cli::compact=debug,warn",
            "lakenode",
            "tokio=trace",
            "",
        ] {
            assert!(filter(ok, "--log").is_ok(), "{ok}");
        }
    }

    #[test]
    fn a_misspelt_level_or_a_broken_directive_is_an_error_naming_its_source() {
        for (bad, said) in [
            ("debg", "`debg` is neither a level"),
            ("lakenode=verbose", "invalid log filter"),
            ("info,lakenode=", "invalid log filter"),
        ] {
            let e = filter(bad, "RUST_LOG").unwrap_err().to_string();
            assert!(e.starts_with("RUST_LOG: "), "{bad}: {e}");
            assert!(e.contains(said), "{bad}: {e}");
        }
    }
}
