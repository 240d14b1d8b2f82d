//! Station-days with a single window file and no daily file: nothing to merge, so they
//! are not compacted, but they are checked as the merged ones are and any problem is
//! warned about and counted as left alone ([`super::Summary::skipped`]).
//!
//! Why: such a day was passed over without being read, so a window-named file that is
//! not lakenode's (no `lakenode` metadata) or whose rows lie outside the partition's day
//! stayed silent in `compact` while `report` flagged it. The reasons are the ones a day
//! of several files gets:
//!
//! ```text
//! station=a/year=2026/month=11/day=20: data_1200.parquet holds a row of
//!   2026-11-21T00:00:00Z, outside its partition's day; left alone
//! ```

use super::{DayDir, DayError, Input, check_inputs, day_bounds, open_input};
use crate::error::Result;
use crate::lake::LakeStore;
use lakenode::layout::Tree;

/// Whether `files` is a day this module checks.
pub(super) fn is_lone(files: &DayDir) -> bool {
    files.windows.len() == 1 && files.dailies.is_empty()
}

/// Checks a lone window; the reason it would be left alone, if any.
///
/// # Errors
/// The lake could not be read.
pub(super) fn check(lake: &mut dyn LakeStore, files: &DayDir) -> Result<Option<String>> {
    let Some(window) = files.windows.first() else {
        return Ok(None);
    };
    let input = match open_input(lake, &files.dir, window) {
        Ok(i) => i,
        Err(DayError::Skip(why)) => return Ok(Some(why)),
        Err(DayError::Fatal(e)) => return Err(e),
    };
    Ok(problem(files, &input))
}

fn problem(files: &DayDir, input: &Input) -> Option<String> {
    if files.tree == Tree::Data
        && let Err(e) = lakenode::encode::FileMetadata::from_key_values(&input.file.key_values())
    {
        return Some(format!(
            "{}: not lakenode's (its `lakenode` metadata: {e})",
            input.name
        ));
    }
    let Some(bounds) = day_bounds(files.date) else {
        return Some("not a day directory".into());
    };
    check_inputs(files.tree, &[input], bounds).err()
}
