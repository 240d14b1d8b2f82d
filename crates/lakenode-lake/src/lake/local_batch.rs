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
        out.record_md5(&lakenode::digest::md5_hex(&put.body));
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
    for dir in &dirs {
        sync_dir(dir)?;
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::LakeStore as _;

    fn put(key: &str, body: &[u8], expected: Option<&str>) -> PutIf {
        PutIf {
            key: key.to_owned(),
            body: body.to_vec(),
            expected: expected.map(str::to_owned),
        }
    }

    /// Each object of a batch is written only if it still has the tag it was read
    /// with (or is still absent); the others are written, and no temporary is left.
    #[test]
    fn a_batch_writes_what_is_unchanged_and_skips_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        let mut lake = LocalLake::new(dir.path().to_path_buf());
        lake.put("a/old.parquet", b"old".to_vec()).unwrap();
        let (_, tag) = lake.get_tagged("a/old.parquet").unwrap();
        lake.put("a/taken.parquet", b"theirs".to_vec()).unwrap();
        let written = lake
            .put_many_if(vec![
                put("a/old.parquet", b"new", Some(&tag)),
                put("a/taken.parquet", b"mine", None),
                put("b/fresh.parquet", b"fresh", None),
                put("a/gone.parquet", b"x", Some("0123")),
            ])
            .unwrap();
        assert_eq!(written, [true, false, true, false]);
        assert_eq!(lake.get("a/old.parquet").unwrap(), b"new");
        assert_eq!(lake.get("a/taken.parquet").unwrap(), b"theirs");
        assert_eq!(lake.get("b/fresh.parquet").unwrap(), b"fresh");
        assert!(lake.get("a/gone.parquet").is_err());
        let mut names: Vec<String> = Vec::new();
        for sub in ["a", "b"] {
            for e in std::fs::read_dir(dir.path().join(sub)).unwrap() {
                names.push(e.unwrap().file_name().to_string_lossy().into_owned());
            }
        }
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    }
}
