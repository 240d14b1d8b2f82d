//! `lakenode inspect`: what is in a Parquet file, for people checking what a node wrote
//! (the description is [`lakenode_lake::inspect::describe`]).

use lakenode_lake::inspect::describe;
use lakenode_lake::readback;

use crate::InspectArgs;
use crate::error::{CliError, CliResult};

/// Runs `lakenode inspect`.
///
/// # Errors
/// If the file cannot be read, is not Parquet, or is damaged (exit 1, with the reason).
pub fn run(args: &InspectArgs) -> CliResult<()> {
    // A FIFO or a device would block or never end: a Parquet file is read from its end.
    let meta = std::fs::metadata(&args.file).map_err(|e| CliError::io(&args.file, e))?;
    if !meta.is_file() {
        return Err(CliError::Input {
            location: args.file.display().to_string(),
            message: "not a regular file (a Parquet file is read from its end, so a pipe or a device cannot be inspected)".into(),
        });
    }
    let data = std::fs::read(&args.file).map_err(|e| CliError::io(&args.file, e))?;
    let damaged = |source| CliError::Parquet {
        path: args.file.clone(),
        source,
    };
    let file = readback::open(data).map_err(damaged)?;
    print!(
        "{}",
        describe(&args.file.display().to_string(), &file).map_err(damaged)?
    );
    Ok(())
}
