//! `lakenode encode`: one Parquet file from a CSV of samples, with the node's writer
//! settings.

use lakenode::encode::{FileMetadata, encode_window};
use lakenode::layout::StationId;
use lakenode::window::Window;

use std::io::Write as _;

use crate::EncodeArgs;
use crate::csv_input::read_samples;
use crate::error::{CliError, CliResult};
use crate::output::OutputFile;

/// Runs `lakenode encode`.
///
/// # Errors
/// Malformed CSV (with line and column), invalid options, or an unwritable output.
pub fn run(args: &EncodeArgs) -> CliResult<()> {
    let spec = args.window.spec()?;
    let profile = args.window.profile()?;
    let station = StationId::new(args.station.clone())?;
    let file = std::fs::File::open(&args.input).map_err(|e| CliError::io(&args.input, e))?;
    let parsed = read_samples(
        &args.input.display().to_string(),
        std::io::BufReader::new(file),
    )?;
    for w in &parsed.warnings {
        tracing::warn!("{w}");
    }
    if parsed.invalid_readings > parsed.warnings.len() {
        tracing::warn!(
            "{} invalid readings in all were stored as null",
            parsed.invalid_readings
        );
    }
    let (first, last) = match (parsed.samples.first(), parsed.samples.last()) {
        (Some(f), Some(l)) => (f.timestamp_ms, l.timestamp_ms),
        _ => return Err(CliError::Usage("no samples".into())),
    };
    // The file spans the windows its samples fall into.
    let window = Window {
        start_ms: spec.window_start(first),
        end_ms: spec.window_start(last) + spec.window_ms(),
        samples: parsed.samples,
    };
    let meta = FileMetadata::new(&station, spec, &window);
    let bytes = encode_window(&parsed.schema, profile, &window, &meta)?;
    // Beside the target, then renamed: a failed run leaves neither half a file nor a
    // temporary one, and never replaces a device, a symlink or the input.
    let mut out = OutputFile::create(&args.output, &[&args.input])?;
    out.write_all(&bytes).map_err(|e| out.error(e))?;
    out.commit()?;
    println!(
        "wrote {}: {} rows, {} columns, {} bytes",
        args.output.display(),
        window.samples.len(),
        parsed.schema.columns().len() + 1,
        bytes.len()
    );
    Ok(())
}
