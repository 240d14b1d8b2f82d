//! Stamps: what identifies an object's version beyond its size, so that a monthly
//! rollup ([`crate::rollup`]) can tell that the daily file it describes is still the
//! one there, and a listing can skip the directories that say so themselves.
//!
//! Why: a rollup matched a daily file by key and size only, so a file replaced by
//! another of the same size (a `cp` of another station's day over it) was taken from
//! the rollup with the old figures. And a year's report spent most of its time listing
//! 730,000 station-day directories (`openat`, two `getdents64`, `fstatat`, `close`
//! each) whose one file the rollups already describe.
//!
//! On a local lake (Linux) a daily file's stamp is its inode's change time (`ctime`,
//! which no system call sets at will: any write, truncation, rename or new link moves
//! it) and its directory's modification time (which moves when an entry is added,
//! removed or renamed in it: a late window file, a daily file replaced by rename). A
//! stamp is recorded only once both are [`SETTLED`] in the past, so that no later
//! change can fall in the same clock tick and leave them equal. A listing given the
//! stamps a rollup recorded ([`KnownDirs`]) checks each known day directory with two
//! `fstatat` calls relative to its parent (the directory, then its file) instead of
//! reading it; a directory whose stamps differ is read as before.
//!
//! In a bucket a daily file's stamp is its `ETag` from the listing (the MD5 of its
//! bytes for a plain PUT: any other content, another tag), and there are no
//! directories to skip: the listing is the same, the check is of each daily file
//! being its directory's only object with the recorded tag. A store that keeps no
//! stamps (the default) records none: its rollups are matched by size, as before.

use std::collections::HashMap;
use std::sync::Arc;

/// What identifies a daily file's version and its directory's entries beyond sizes
/// (local lake: the file's `ctime` and the directory's `mtime`, in ns since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stamp {
    /// The file's change time, ns.
    pub file: u64,
    /// Its directory's modification time, ns.
    pub dir: u64,
}

/// What a store's stamps are: rollups record the kind of the store that wrote them,
/// and a store checks only stamps of its own kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampKind {
    /// The store keeps no stamps: rollups are matched by size.
    None,
    /// A directory's: the file's `ctime` and its directory's `mtime` (never 0).
    Times,
    /// A bucket's: the `ETag` ([`etag_stamp`]), no directory stamp (0).
    Tags,
}

/// How long ago a time must be for a stamp to be recorded: a change made later is
/// then stamped later (file system times come from a clock that ticks every few
/// milliseconds; two changes in one tick have the same time).
pub const SETTLED: std::time::Duration = std::time::Duration::from_millis(100);

/// What a rollup recorded of one day directory: it held exactly `file`, of `size`
/// bytes, with `stamp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDir {
    /// The one file's name.
    pub file: Arc<str>,
    /// Its size.
    pub size: u64,
    /// Its stamps.
    pub stamp: Stamp,
}

/// Directories a listing may check by their stamps instead of reading them
/// ([`super::LakeStore::list_known`]): by the key of their parent directory (ending in
/// `/`), then by their name.
#[derive(Debug, Clone, Default)]
pub struct KnownDirs {
    /// Parent directory key -> subdirectory name -> what it held.
    pub dirs: HashMap<String, HashMap<String, KnownDir>>,
}

impl KnownDirs {
    /// Records that the directory of `key` (a file's key) held only that file, of
    /// `size` bytes, with `stamp`.
    pub fn insert(&mut self, key: &str, size: u64, stamp: Stamp) {
        let Some((dir, file)) = key.rsplit_once('/') else {
            return;
        };
        let (parent, name) = dir.rsplit_once('/').unwrap_or(("", dir));
        let parent = if parent.is_empty() {
            String::new()
        } else {
            format!("{parent}/")
        };
        self.dirs.entry(parent).or_default().insert(
            name.to_owned(),
            KnownDir {
                file: Arc::from(file),
                size,
                stamp,
            },
        );
    }

    /// Known directories in all.
    #[must_use]
    pub fn len(&self) -> usize {
        self.dirs.values().map(HashMap::len).sum()
    }

    /// No directory is known.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty()
    }
}

/// An object listed by [`super::LakeStore::list_known`]: its key, its size, and whether
/// its directory was checked by its stamps (it holds this one file, unchanged since the
/// stamps were recorded) rather than read.
pub type Listed = (String, u64, bool);

/// A time in ns since the epoch (0 before it).
#[cfg(target_os = "linux")]
pub(super) fn ns(secs: i64, nsec: u64) -> u64 {
    u64::try_from(secs)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(nsec)
}

/// A stat's nanoseconds field as a `u64` (its type differs between targets).
#[cfg(target_os = "linux")]
pub(super) fn nsec<T: TryInto<u64>>(n: T) -> u64 {
    n.try_into().unwrap_or(0)
}

/// The instant before which a time counts as settled ([`SETTLED`]), ns.
#[cfg(target_os = "linux")]
pub(super) fn settled_before() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(SETTLED);
    u64::try_from(now.as_nanos()).unwrap_or(u64::MAX)
}

/// The local stamps of a daily file: its directory opened, its `mtime` taken, its
/// entries read (it must hold that file alone, hidden files aside), then the file's
/// size and `ctime`; `None` when the directory holds more, a time is not settled, or
/// anything fails.
#[cfg(target_os = "linux")]
pub(super) fn local_stamp(path: &std::path::Path) -> Option<(u64, Stamp)> {
    use rustix::fs::{AtFlags, Mode, OFlags, RawDir, fstat, statat};
    use std::mem::MaybeUninit;
    let dir = path.parent()?;
    let name = path.file_name()?;
    let fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    )
    .ok()?;
    // The directory's time first: an entry added after it moves it past this value.
    let d = fstat(&fd).ok()?;
    let mut buf = [MaybeUninit::<u8>::uninit(); 4 << 10];
    let mut entries = RawDir::new(&fd, &mut buf);
    let mut alone = false;
    while let Some(entry) = entries.next() {
        let entry = entry.ok()?;
        let entry_name = entry.file_name().to_bytes();
        if entry_name.starts_with(b".") {
            continue;
        }
        if entry_name != name.as_encoded_bytes() || alone {
            return None;
        }
        alone = true;
    }
    if !alone {
        return None;
    }
    let f = statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    if rustix::fs::FileType::from_raw_mode(f.st_mode) != rustix::fs::FileType::RegularFile {
        return None;
    }
    let stamp = Stamp {
        file: ns(f.st_ctime, nsec(f.st_ctime_nsec)),
        dir: ns(d.st_mtime, nsec(d.st_mtime_nsec)),
    };
    let settled = settled_before();
    (stamp.file < settled && stamp.dir < settled)
        .then(|| (u64::try_from(f.st_size).unwrap_or(0), stamp))
}

/// An object's stamp from its `ETag` (quotes aside; FNV-1a, 64 bits): 0 when the
/// listing gives none.
#[must_use]
pub fn etag_stamp(etag: &str) -> u64 {
    let tag = etag.trim().trim_matches('"');
    if tag.is_empty() {
        return 0;
    }
    let hash = tag.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    hash.max(1)
}

/// The key of the directory two levels above `key`'s file, ending in `/` (a daily
/// file's month), if it has one.
pub(super) fn grandparent(key: &str) -> Option<&str> {
    let (dir, _) = key.rsplit_once('/')?;
    let (parent, _) = dir.rsplit_once('/')?;
    Some(&key[..=parent.len()])
}

/// Whether the object `i` of the sorted `objects` is its directory's only one.
fn alone(objects: &[(String, u64, u64)], i: usize) -> bool {
    let Some((dir, _)) = objects[i].0.rsplit_once('/') else {
        return false;
    };
    let dir = &objects[i].0[..=dir.len()];
    let shares = |j: Option<usize>| {
        j.and_then(|j| objects.get(j))
            .is_some_and(|o| o.0.starts_with(dir))
    };
    !shares(i.checked_sub(1)) && !shares(i.checked_add(1))
}

/// A listing with stamps (sorted by key: [`etag_stamp`]), each object checked against
/// what `known` holds of its directory: it is the directory's only object, of the
/// recorded name, size and stamp.
pub(super) fn checked_by_tags(objects: Vec<(String, u64, u64)>, known: &KnownDirs) -> Vec<Listed> {
    let checked: Vec<bool> = (0..objects.len())
        .map(|i| {
            let (key, size, tag) = &objects[i];
            let Some((dir, file)) = key.rsplit_once('/') else {
                return false;
            };
            let (parent, name) = dir.rsplit_once('/').unwrap_or(("", dir));
            let parent = &key[..parent.len() + usize::from(!parent.is_empty())];
            known
                .dirs
                .get(parent)
                .and_then(|d| d.get(name))
                .is_some_and(|k| {
                    *tag != 0
                        && k.stamp.file == *tag
                        && k.size == *size
                        && &*k.file == file
                        && alone(&objects, i)
                })
        })
        .collect();
    objects
        .into_iter()
        .zip(checked)
        .map(|((k, s, _), c)| (k, s, c))
        .collect()
}

/// The stamps of `keys` from a listing with stamps (sorted by key) of their months:
/// a key that is its directory's only object and has a stamp gets it (no directory
/// stamp: a bucket has no directories).
pub(super) fn alone_by_tags(
    listed: &[(String, u64, u64)],
    keys: &[String],
) -> Vec<Option<(u64, Stamp)>> {
    keys.iter()
        .map(|key| {
            let i = listed
                .binary_search_by(|(k, _, _)| k.as_str().cmp(key.as_str()))
                .ok()?;
            let (_, size, tag) = listed[i];
            (tag != 0 && alone(listed, i)).then_some((size, Stamp { file: tag, dir: 0 }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dirs_are_found_by_parent_and_name() {
        let mut k = KnownDirs::default();
        let stamp = Stamp { file: 1, dir: 2 };
        k.insert(
            "station=a/year=2026/month=11/day=03/data_day.parquet",
            10,
            stamp,
        );
        k.insert(
            "station=a/year=2026/month=11/day=04/data_day.parquet",
            11,
            stamp,
        );
        assert_eq!(k.len(), 2);
        let month = &k.dirs["station=a/year=2026/month=11/"];
        assert_eq!(&*month["day=03"].file, "data_day.parquet");
        assert_eq!(month["day=04"].size, 11);
    }

    #[test]
    fn a_bucket_checks_a_known_day_by_its_etag_and_its_being_alone() {
        let day = "station=a/year=2026/month=11/day=03/data_day.parquet";
        let tag = etag_stamp("\"0123\"");
        assert_eq!(tag, etag_stamp("0123"));
        assert_ne!(tag, etag_stamp("0124"));
        assert_eq!(etag_stamp(""), 0);
        let mut known = KnownDirs::default();
        known.insert(day, 10, Stamp { file: tag, dir: 0 });
        let listing = |tag: u64, late: bool| {
            let mut l = vec![(day.to_owned(), 10, tag)];
            if late {
                l.push((day.replace("data_day", "data_1300"), 5, 7));
            }
            l.push((day.replace("day=03", "day=04"), 10, tag));
            l.sort();
            l
        };
        let checked = |l: Vec<(String, u64, u64)>| -> Vec<bool> {
            checked_by_tags(l, &known)
                .into_iter()
                .map(|o| o.2)
                .collect()
        };
        assert_eq!(checked(listing(tag, false)), [true, false]);
        assert_eq!(
            checked(listing(tag + 1, false)),
            [false, false],
            "rewritten"
        );
        assert_eq!(
            checked(listing(tag, true)),
            [false, false, false],
            "a late window"
        );
        let keys = vec![
            day.to_owned(),
            "station=a/year=2026/month=11/day=09/x".to_owned(),
        ];
        let got = alone_by_tags(&listing(tag, false), &keys);
        assert_eq!(got, vec![Some((10, Stamp { file: tag, dir: 0 })), None]);
        assert_eq!(alone_by_tags(&listing(tag, true), &keys)[0], None);
        assert_eq!(grandparent(day), Some("station=a/year=2026/month=11/"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_local_stamp_needs_the_file_alone_and_settled() {
        let dir = tempfile::tempdir().unwrap();
        let day = dir.path().join("day=03");
        std::fs::create_dir(&day).unwrap();
        let file = day.join("data_day.parquet");
        std::fs::write(&file, b"1234").unwrap();
        std::fs::write(day.join(".tmp-1"), b"x").unwrap();
        assert_eq!(local_stamp(&file), None, "not settled yet");
        std::thread::sleep(SETTLED * 2);
        let (size, stamp) = local_stamp(&file).unwrap();
        assert_eq!(size, 4);
        // Rewritten in place with the same size: another stamp.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&file, b"5678").unwrap();
        std::thread::sleep(SETTLED * 2);
        let (_, again) = local_stamp(&file).unwrap();
        assert_ne!(again.file, stamp.file);
        assert_eq!(again.dir, stamp.dir);
        std::fs::write(day.join("data_0000.parquet"), b"x").unwrap();
        std::thread::sleep(SETTLED * 2);
        assert_eq!(local_stamp(&file), None, "not alone");
    }
}
