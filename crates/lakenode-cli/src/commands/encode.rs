//! `lakenode encode`: one Parquet file from a CSV of samples, with the node's writer
//! settings, for a CSV of any length in bounded memory.
//!
//! The CSV is read once: every line is checked, and its columns are kept in memory or,
//! past [`crate::spill::SPILL_THRESHOLD_BYTES`], spilled to a temporary directory beside
//! the output ([`crate::spill`]). Malformed input is refused then, before the output is
//! touched. The file is then written as one row group, column by column. A 15-minute
//! window never touches the disk but for its output; a million rows peak at about 200 KB
//! of heap (`scripts/encode-bench.sh`, which also compares throughput with pyarrow).
//!
//! The footer's `interval_ms` is the CSV's own (its timestamps' most common spacing, as
//! for `run --csv`); a given `--interval` must match it.

use lakenode::encode::{Encoder, FileMetadata};
use lakenode::layout::StationId;

use crate::EncodeArgs;
use crate::csv_input::{CsvReader, SpacingCounter};
use crate::error::{CliError, CliResult};
use crate::spill::ColumnSpill;
use lakenode_lake::output::OutputFile;

/// Runs `lakenode encode`.
///
/// # Errors
/// Malformed CSV (with line and column), invalid options, an `--interval` the CSV's
/// timestamps contradict (or none given for a CSV whose interval cannot be told), or an
/// unwritable output.
pub fn run(args: &EncodeArgs) -> CliResult<()> {
    let _ = crate::signals::stop_flag();
    // The options are checked before the CSV is read; the interval is the CSV's.
    args.window.spec()?;
    let profile = args.window.profile()?;
    let station = StationId::new(args.station.clone())?;
    let name = args.input.display().to_string();
    let file = std::fs::File::open(&args.input).map_err(|e| CliError::io(&args.input, e))?;
    let mut input = CsvReader::new(&name, file)?;
    let out_dir = match args.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut spill = ColumnSpill::new(&out_dir, input.schema());
    let mut spacing = SpacingCounter::default();
    let (mut first, mut last) = (None, 0);
    while let Some(s) = input.next_sample()? {
        if spill.rows().is_multiple_of(4096) && crate::signals::stopping() {
            // Dropping the spill removes its files; the output was not touched.
            return Err(CliError::Usage(
                "stopped by a signal; nothing was written".into(),
            ));
        }
        first.get_or_insert(s.timestamp_ms);
        last = s.timestamp_ms;
        spacing.push(s.timestamp_ms);
        spill.push(&s)?;
    }
    spill.finish()?;
    let Some(first) = first else {
        return Err(CliError::Usage("no samples".into()));
    };
    for w in &input.warnings {
        tracing::warn!("{w}");
    }
    if input.invalid_readings > input.warnings.len() {
        tracing::warn!(
            "{} invalid readings in all were stored as null",
            input.invalid_readings
        );
    }
    let given = args.window.interval_ms();
    let interval = spacing.spacing().interval_ms(&name, given)?;
    if given.is_none() {
        tracing::info!("sampling interval {interval} ms, from the CSV's timestamps");
    }
    let spec = args.window.spec_with(interval)?;

    // Written beside the target, renamed over it when complete (never over a device, a
    // symlink or the input).
    let encoder = Encoder::new(input.schema(), profile)?;
    // The file spans the windows its samples fall into.
    let meta = FileMetadata {
        station,
        interval_ms: spec.interval_ms(),
        window_start_ms: spec.window_start(first),
        window_end_ms: spec.window_start(last) + spec.window_ms(),
        extra: Vec::new(),
        units: Vec::new(),
    };
    let mut out = OutputFile::create(&args.output, &[&args.input])?;
    let mut stream = encoder.stream(&mut out, Some(&meta))?;
    stream
        .write_row_group_from(&mut spill)
        .map_err(|e| write_error(&args.output, e))?;
    stream.finish().map_err(|e| write_error(&args.output, e))?;
    let bytes = std::fs::metadata(out.temp_path()).map_or(0, |m| m.len());
    out.commit()?;
    println!(
        "wrote {}: {} rows, {} columns, {bytes} bytes",
        args.output.display(),
        spill.rows(),
        input.schema().columns().len() + 1,
    );
    Ok(())
}

/// A failed write of the output (a full disk...), naming the file.
fn write_error(output: &std::path::Path, e: lakenode::Error) -> CliError {
    CliError::Usage(format!("{}: cannot write: {e}", output.display()))
}
