//! A batch of daily files written to a local lake with one wait on the disk.
//!
//! Why: a compaction wrote each daily file, synced it, renamed it and synced its
//! directory, and each sync waited for the file system's journal (a 1,000-station day:
//! 4,000 daily files, 8,000 waits, and the unlinks behind them waiting too). Here a
//! batch's files are written under temporary names and their writeback started at
//! once, then synced (the first sync's journal commit carries the others'), renamed,
//! and their directories synced (one commit again). Only then does the caller delete
//! the window files whose rows they hold: a window file is never removed before the
//! daily file holding its rows is durable, data and directory entry.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::local::sync_dir;
use super::{LocalLake, PutIf};
use crate::error::{Error, Result};
use crate::output::OutputFile;

/// Where a test build aborts inside a batch (`LAKENODE_TEST_ABORT_IN_BATCH`), as a
/// kill -9 would end the process there: `written` (temporary files written, nothing
/// synced or renamed), `synced` (synced, not renamed), `renamed` (renamed and their
/// directories synced: the batch is durable, no window file deleted yet).
fn abort_at(step: &str) {
    if cfg!(debug_assertions)
        && std::env::var("LAKENODE_TEST_ABORT_IN_BATCH").is_ok_and(|v| v == step)
    {
        std::process::abort();
    }
}

/// [`crate::lake::LakeStore::put_many_if`] of a local lake.
pub(super) fn put_many_if(lake: &LocalLake, puts: Vec<PutIf>) -> Result<Vec<bool>> {
    let mut staged: Vec<(OutputFile, PathBuf)> = Vec::new();
    let mut written = Vec::with_capacity(puts.len());
    for put in puts {
        let path = lake.path(&put.key)?;
        if current_tag(&path)? != put.expected {
            written.push(false);
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut out = OutputFile::create(&path, &[])?;
        std::io::Write::write_all(&mut out, &put.body).map_err(|e| out.error(e))?;
        out.start_writeback();
        staged.push((out, path));
        written.push(true);
    }
    abort_at("written");
    for (out, _) in &mut staged {
        out.sync()?;
    }
    abort_at("synced");
    let mut dirs = BTreeSet::new();
    for (out, path) in staged {
        out.rename_synced()?;
        dirs.insert(path.parent().unwrap_or(Path::new(".")).to_path_buf());
    }
    dirs.iter().for_each(|d| sync_dir(d));
    abort_at("renamed");
    Ok(written)
}

/// The tag of a local file (its MD5, as [`crate::lake::LakeStore::get_tagged`] gives
/// it), `None` if there is none.
fn current_tag(path: &Path) -> Result<Option<String>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(lakenode::digest::md5_hex(&b))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}
