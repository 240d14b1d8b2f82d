//! `lakenode inspect`: what is in a Parquet file, for people checking what a node wrote
//! (the description is [`lakenode_lake::inspect::describe`]).

use lakenode_lake::inspect::describe;
use lakenode_lake::integrity;
use lakenode_lake::readback;

use crate::InspectArgs;
use crate::error::{CliError, CliResult};

/// Runs `lakenode inspect`.
///
/// # Errors
/// If the file cannot be read, is not Parquet, or is damaged (exit 1, with the reason),
/// its bytes not the ones its store recorded included ([`integrity`]).
pub fn run(args: &InspectArgs) -> CliResult<()> {
    // A FIFO or a device would block or never end: a Parquet file is read from its end.
    let meta = std::fs::metadata(&args.file).map_err(|e| CliError::io(&args.file, e))?;
    if !meta.is_file() {
        return Err(CliError::Input {
            location: args.file.display().to_string(),
            message: "not a regular file (a Parquet file is read from its end, so a pipe or a device cannot be inspected)".into(),
        });
    }
    let mut opened = std::fs::File::open(&args.file).map_err(|e| CliError::io(&args.file, e))?;
    let mut data = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    std::io::Read::read_to_end(&mut opened, &mut data).map_err(|e| CliError::io(&args.file, e))?;
    // A file of a lake served by `lakenode serve` whose bytes are not the ones the
    // server recorded (its `user.lakenode.md5` attribute): damaged, and `compact`
    // refuses it. Said after the description, which may still decode.
    let stored = integrity::mismatch(&opened, &args.file, &lakenode::digest::md5_hex(&data));
    let damaged = |source| CliError::Parquet {
        path: args.file.clone(),
        source,
    };
    let described = readback::open(data)
        .map_err(damaged)
        .and_then(|file| describe(&args.file.display().to_string(), &file).map_err(damaged));
    match (described, stored) {
        (Ok(text), None) => {
            print!("{text}");
            Ok(())
        }
        (Err(e), None) => Err(e),
        (Ok(text), Some(why)) => {
            print!("{text}");
            Err(CliError::Verify(format!("{}: {why}", args.file.display())))
        }
        (Err(e), Some(why)) => Err(CliError::Verify(format!(
            "{}: {why}; and {e}",
            args.file.display()
        ))),
    }
}
