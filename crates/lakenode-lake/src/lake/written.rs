//! What an [`super::S3Lake`] remembers of its own writes during a run, so that the
//! rollups `compact` writes take each daily file's stamp (its `ETag`,
//! [`super::stamp::etag_stamp`]) from the reply to the PUT that wrote it, instead of
//! listing its station-month once more ([`super::LakeStore::stamps`]).
//!
//! Why: after a compaction the stamps of the daily files it wrote were taken from a
//! LIST of each station-month it touched: for a 10,000-station daily run about 20,000
//! LIST requests a day (data and health trees), the expensive request class on S3.
//!
//! What the listing proved and a PUT reply does not. A bucket stamp is recorded only
//! for a daily file that is its directory's only object ([`super::stamp::alone_by_tags`]):
//! a rollup's figures are those of that file alone. The reply to our PUT proves the
//! object's `ETag` (the version we wrote) but says nothing of the directory's other
//! objects: window files still beside it (a delete that failed), a copy set aside
//! (`_<name>.aside`), a daily file of another schema. So the remembered `ETag` is used
//! only for a directory whose content this run knows: the last listing this run made
//! of it showed it whole (at least two objects: a day with window files), and every
//! object of it but the daily file is known gone since, deleted by this run with
//! success (a delete that failed, or whose reply was lost, leaves the object counted
//! as there), and this run wrote no other object into it (any PUT, successful or not,
//! counts its key as there). Anything else (a directory listed with one object, or not
//! at all, a PUT reply without an `ETag`, as some S3-compatible servers send) falls
//! back to the listing. A later write or delete of the key by this run (a retry, the
//! restore of a daily file that read back wrong) drops the remembered `ETag` first, and
//! a refused conditional write (a rival's version is there) leaves none; a GET whose
//! `ETag` differs (a rival's version) drops it too.
//!
//! What neither proves: a window file that arrives after the listing. The stamp
//! listing, taken after the compaction, would have seen one that came before it; this
//! memory does not. The result is as safe: every reader of a bucket's stamps checks,
//! in its own listing, that the daily file is still its directory's only object with
//! that `ETag` ([`super::stamp::checked_by_tags`], [`super::stamp::alone_by_tags`]), so
//! a day a late window joined is read from its directory whichever way it was stamped.
//!
//! Names are kept as 64-bit hashes with a key drawn at random per process (`SipHash`):
//! 8 bytes per window file of the directories a run lists (a 10,000-station day: 1.9
//! million files, ~15 MB while they are deleted), no name anyone can make collide.

use std::collections::HashMap;
use std::hash::{BuildHasher as _, RandomState};
use std::sync::{Arc, Mutex, PoisonError};

use super::stamp::{Stamp, etag_stamp};

/// A run's memory of its writes, shared by every handle of a lake
/// ([`super::LakeStore::worker`]).
#[derive(Clone, Default)]
pub(super) struct Written {
    inner: Arc<Mutex<Memory>>,
    hasher: RandomState,
}

#[derive(Default)]
struct Memory {
    /// Key -> (size, stamp) of this run's last PUT of it that succeeded with an `ETag`.
    tags: HashMap<String, (u64, u64)>,
    /// Directory (a key up to its last `/`) -> the hashes of the names it may hold
    /// (sorted): what the last listing showed, plus what this run wrote, less what it
    /// deleted. Only directories listed whole with two objects or more.
    dirs: HashMap<String, Vec<u64>>,
}

/// (directory, name) of `key`.
fn split(key: &str) -> Option<(&str, &str)> {
    key.rsplit_once('/')
}

impl Written {
    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn hash(&self, name: &str) -> u64 {
        self.hasher.hash_one(name)
    }

    /// A listing of `prefix` (keys relative to the lake, sorted): each directory it
    /// shows whole is known as listed from now on.
    pub(super) fn listed(&self, prefix: &str, objects: &[(String, u64, u64)]) {
        let mut memory = self.memory();
        let mut i = 0;
        while i < objects.len() {
            let Some((dir, _)) = split(&objects[i].0) else {
                i += 1;
                continue;
            };
            let end = i + objects[i..]
                .iter()
                .take_while(|o| split(&o.0).is_some_and(|(d, _)| d == dir))
                .count();
            // Listed whole if `prefix` is a prefix of `<dir>/` (one that ends inside the
            // directory's names lists part of it).
            let whole = match prefix.strip_prefix(dir) {
                Some(rest) => rest.is_empty() || rest == "/",
                None => dir.starts_with(prefix),
            };
            if whole {
                if end - i >= 2 {
                    let mut names: Vec<u64> = objects[i..end]
                        .iter()
                        .filter_map(|o| split(&o.0).map(|(_, n)| self.hash(n)))
                        .collect();
                    names.sort_unstable();
                    names.dedup();
                    memory.dirs.insert(dir.to_owned(), names);
                } else {
                    memory.dirs.remove(dir);
                }
            }
            i = end;
        }
    }

    /// Before a PUT of `key`: its remembered tag is dropped, and its name counts as
    /// in its directory (whatever comes of the PUT).
    pub(super) fn writing(&self, key: &str) {
        let Some((dir, name)) = split(key) else {
            return;
        };
        let h = self.hash(name);
        let mut memory = self.memory();
        memory.tags.remove(key);
        if let Some(names) = memory.dirs.get_mut(dir)
            && let Err(at) = names.binary_search(&h)
        {
            names.insert(at, h);
        }
    }

    /// A PUT of `key`, `size` bytes, succeeded with `etag` (the reply's header).
    pub(super) fn wrote(&self, key: &str, size: u64, etag: Option<&str>) {
        let stamp = etag.map_or(0, etag_stamp);
        if stamp != 0 {
            self.memory().tags.insert(key.to_owned(), (size, stamp));
        }
    }

    /// Before a delete of `keys`: their remembered tags are dropped.
    pub(super) fn deleting(&self, keys: &[String]) {
        let mut memory = self.memory();
        for key in keys {
            memory.tags.remove(key);
        }
    }

    /// `keys` are deleted (or were gone).
    pub(super) fn deleted(&self, keys: &[String]) {
        let mut memory = self.memory();
        for key in keys {
            memory.tags.remove(key);
            if let Some((dir, name)) = split(key)
                && let Some(names) = memory.dirs.get_mut(dir)
                && let Ok(at) = names.binary_search(&self.hash(name))
            {
                names.remove(at);
                if names.len() <= 1 {
                    // The daily file left alone: no need for a window's worth of room.
                    names.shrink_to_fit();
                }
            }
        }
    }

    /// A GET of `key` answered with `etag`: a tag other than the remembered one is
    /// another version than this run's (a rival's).
    pub(super) fn fetched(&self, key: &str, etag: Option<&str>) {
        let stamp = etag.map_or(0, etag_stamp);
        let mut memory = self.memory();
        if memory.tags.get(key).is_some_and(|&(_, t)| t != stamp) {
            memory.tags.remove(key);
        }
    }

    /// The size and stamp of `key` as this run wrote it, where it knows the key to be
    /// its directory's only object (the module docs); `None`: ask the listing.
    pub(super) fn stamp(&self, key: &str) -> Option<(u64, Stamp)> {
        let (dir, name) = split(key)?;
        let h = self.hash(name);
        let memory = self.memory();
        let &(size, tag) = memory.tags.get(key)?;
        (memory.dirs.get(dir)?.as_slice() == [h]).then_some((size, Stamp { file: tag, dir: 0 }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: &str = "station=a/year=2026/month=11/day=03";

    fn key(name: &str) -> String {
        format!("{DAY}/{name}")
    }

    /// The listing of a day of two window files (and a day of one elsewhere).
    fn listed(w: &Written) {
        let mut l = vec![
            (key("data_0000.parquet"), 5, 1),
            (key("data_0015.parquet"), 5, 2),
            (
                "station=a/year=2026/month=11/day=04/data_0000.parquet".into(),
                5,
                3,
            ),
        ];
        l.sort();
        w.listed("station=", &l);
    }

    fn compacted(w: &Written) -> String {
        let daily = key("data_day.parquet");
        w.writing(&daily);
        w.wrote(&daily, 10, Some("\"0123\""));
        daily
    }

    #[test]
    fn a_daily_file_whose_windows_are_deleted_is_stamped_from_its_put() {
        let w = Written::default();
        listed(&w);
        let daily = compacted(&w);
        assert_eq!(w.stamp(&daily), None, "the windows are still there");
        let windows = [key("data_0000.parquet"), key("data_0015.parquet")];
        w.deleting(&windows);
        w.deleted(&windows);
        let stamp = Stamp {
            file: etag_stamp("0123"),
            dir: 0,
        };
        assert_eq!(w.stamp(&daily), Some((10, stamp)));
        // A handle of a worker shares the memory.
        assert_eq!(w.clone().stamp(&daily), Some((10, stamp)));
        // Read back with the same tag: kept; with another (a rival's): dropped.
        w.fetched(&daily, Some("0123"));
        assert_eq!(w.stamp(&daily), Some((10, stamp)));
        w.fetched(&daily, Some("\"4567\""));
        assert_eq!(w.stamp(&daily), None);
    }

    #[test]
    fn anything_the_memory_does_not_prove_asks_the_listing() {
        let windows = [key("data_0000.parquet"), key("data_0015.parquet")];
        // One window not deleted (its delete failed: never reported deleted).
        let w = Written::default();
        listed(&w);
        let daily = compacted(&w);
        w.deleting(&windows);
        w.deleted(&windows[..1]);
        assert_eq!(w.stamp(&daily), None);
        // A copy set aside beside it, even one whose PUT failed.
        let w = Written::default();
        listed(&w);
        let daily = compacted(&w);
        w.writing(&key("_data_0015.parquet.aside"));
        w.deleted(&windows);
        assert_eq!(w.stamp(&daily), None);
        // Written again after (a retry, a restore): no tag until it succeeds, then
        // that one; a reply without an ETag: none.
        let w = Written::default();
        listed(&w);
        let daily = compacted(&w);
        w.deleted(&windows);
        w.writing(&daily);
        assert_eq!(w.stamp(&daily), None);
        w.wrote(&daily, 11, Some("89ab"));
        assert_eq!(w.stamp(&daily).map(|s| s.0), Some(11));
        w.writing(&daily);
        w.wrote(&daily, 11, None);
        assert_eq!(w.stamp(&daily), None);
        // Deleted by this run.
        let w = Written::default();
        listed(&w);
        let daily = compacted(&w);
        w.deleted(&windows);
        w.deleting(std::slice::from_ref(&daily));
        assert_eq!(w.stamp(&daily), None);
        // A directory listed with one object (its name unknown here), or not listed.
        let w = Written::default();
        listed(&w);
        let other = "station=a/year=2026/month=11/day=04/data_day.parquet";
        w.writing(other);
        w.wrote(other, 10, Some("0123"));
        w.deleted(&["station=a/year=2026/month=11/day=04/data_0000.parquet".into()]);
        assert_eq!(w.stamp(other), None);
        let w = Written::default();
        let daily = compacted(&w);
        assert_eq!(w.stamp(&daily), None);
        // Listed in part (a prefix inside the directory's names): not known.
        let w = Written::default();
        let l = vec![
            (key("data_0000.parquet"), 5, 1),
            (key("data_0015.parquet"), 5, 2),
        ];
        w.listed(&key("data_00"), &l);
        let daily = compacted(&w);
        w.deleted(&windows);
        assert_eq!(w.stamp(&daily), None);
        // Listed again since, with a late window: not alone.
        let w = Written::default();
        listed(&w);
        let daily = compacted(&w);
        w.deleted(&windows);
        w.listed(
            "station=a/",
            &[(daily.clone(), 10, 7), (key("data_2345.parquet"), 5, 8)],
        );
        assert_eq!(w.stamp(&daily), None);
    }
}
