//! `lakenode encode`: one Parquet file from a CSV of samples, with the node's writer
//! settings, for a CSV of any length in bounded memory.
//!
//! The CSV is read once: every line is checked, and each column is spilled to a
//! temporary file beside the output ([`crate::spill`]). Malformed input is refused then,
//! before the output is touched. The file is then written as one row group, column by
//! column from the spill: peak heap stays under 1 MiB for a million rows (measured by
//! `scripts/encode-bench.sh`, which also compares throughput with pyarrow).

use std::io::BufReader;

use lakenode::encode::{Encoder, FileMetadata};
use lakenode::layout::StationId;

use crate::EncodeArgs;
use crate::csv_input::CsvReader;
use crate::error::{CliError, CliResult};
use crate::spill::ColumnSpill;
use lakenode_lake::output::OutputFile;

/// Runs `lakenode encode`.
///
/// # Errors
/// Malformed CSV (with line and column), invalid options, or an unwritable output.
pub fn run(args: &EncodeArgs) -> CliResult<()> {
    let _ = crate::signals::stop_flag();
    let spec = args.window.spec()?;
    let profile = args.window.profile()?;
    let station = StationId::new(args.station.clone())?;
    let name = args.input.display().to_string();
    let file = std::fs::File::open(&args.input).map_err(|e| CliError::io(&args.input, e))?;
    let mut input = CsvReader::new(&name, BufReader::new(file))?;
    let out_dir = match args.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut spill = ColumnSpill::new(&out_dir, input.schema())?;
    let (mut first, mut last) = (None, 0);
    while let Some(s) = input.next_sample()? {
        if spill.rows() % 4096 == 0 && crate::signals::stopping() {
            // Dropping the spill removes its files; the output was not touched.
            return Err(CliError::Usage(
                "stopped by a signal; nothing was written".into(),
            ));
        }
        first.get_or_insert(s.timestamp_ms);
        last = s.timestamp_ms;
        spill.push(&s)?;
    }
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
