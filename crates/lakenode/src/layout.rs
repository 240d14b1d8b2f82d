//! Object keys in our users' data-lake layout (Hive partitions, readable by DuckDB,
//! Athena, Spark and Polars with partition discovery):
//!
//! ```text
//! [prefix/]station=<id>/year=YYYY/month=MM/day=DD/data_HHMM[_HHMMSS[mmm]][_r<n>].parquet
//! ```
//!
//! `HHMM` is the window's start in UTC. A window whose data starts late (the node
//! started or restarted inside it) carries the UTC time of its first sample as a
//! suffix (`HHMMSS`, plus `mmm` milliseconds when they are not zero), so the parts of
//! an interrupted window never share a key. A window recorded again after the spool's
//! recorded timeline was reset for the `n`th time (a clock gone back across a reboot)
//! carries `_r<n>` ([`ObjectKey::for_timeline`]), so it never overwrites the object
//! sealed the first time. The key of a
//! sealed window is computed once and stored with it in the spool: a retry overwrites
//! the same object with identical bytes.
//!
//! Keys are parsed back here too ([`LakeKey::parse`], the exact inverse of the builders,
//! also knowing the daily files compaction names): readers of the lake (compaction,
//! reports) and the station's own check before signing ([`own_key_tree`]) use it, so a
//! change to the layout is made in one place and breaks no reader at run time.
//!
//! ```
//! use lakenode::layout::{ObjectKey, Prefix, StationId};
//! use lakenode::{sample::Sample, window::Window};
//!
//! let station = StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e")?;
//! let prefix = Prefix::new("lake/raw")?;
//! let t = 1_767_272_400_000; // 2026-01-01T13:00:00Z
//! let late = Window { start_ms: t, end_ms: t + 900_000, samples: vec![Sample::new(t + 65_000)] };
//! assert_eq!(
//!     ObjectKey::for_window(Some(&prefix), &station, &late).as_str(),
//!     "lake/raw/station=0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e/year=2026/month=01/day=01/data_1300_130105.parquet"
//! );
//! # Ok::<(), lakenode::Error>(())
//! ```

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::Offset;

use crate::window::Window;
use crate::{Error, Result};

/// Longest prefix accepted (S3 keys are limited to 1024 bytes; the longest key the
/// node writes below its prefix, a health row's with a retry suffix, takes about 120,
/// so every key fits: see the test `the_longest_key_fits_s3s_limit`).
const MAX_PREFIX_LEN: usize = 512;
/// Longest segment of a prefix: file-backed S3 stores (the embedded `serve`, MinIO)
/// keep each segment as a directory name, 255 bytes at most on common filesystems, so a
/// longer one would have every file set aside.
const MAX_SEGMENT_LEN: usize = 255;

/// A station's identifier: a UUID in canonical form (the lake convention is a UUIDv7,
/// whose time-ordered bits keep a fleet's partitions sorted by commissioning date).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StationId(String);

impl StationId {
    /// Validates a station id: a UUID written as 8-4-4-4-12 lowercase hex digits.
    ///
    /// # Errors
    /// [`Error::Config`] for the field `station`.
    pub fn new(id: impl Into<String>) -> Result<Self> {
        let id = id.into();
        let canonical = id.len() == 36
            && id.bytes().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => b == b'-',
                _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
            });
        if !canonical {
            let shown: String = id.chars().take(64).collect();
            return Err(Error::config(
                "station",
                format!(
                    "{shown:?} is not a UUID like 0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e (lowercase hex); `lakenode station-id` makes a new UUIDv7"
                ),
            ));
        }
        Ok(Self(id))
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for StationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key prefix: `/`-separated segments without empty, `.` or `..` parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix(String);

impl Prefix {
    /// Validates a prefix; leading and trailing `/` are removed.
    ///
    /// # Errors
    /// [`Error::Config`] for the field `prefix`.
    pub fn new(prefix: &str) -> Result<Self> {
        let p = prefix.trim_matches('/');
        if p.is_empty() || p.len() > MAX_PREFIX_LEN {
            return Err(Error::config(
                "prefix",
                format!(
                    "must be 1 to {MAX_PREFIX_LEN} characters besides leading and trailing '/'"
                ),
            ));
        }
        for seg in p.split('/') {
            if seg.is_empty() || seg == "." || seg == ".." {
                return Err(Error::config(
                    "prefix",
                    format!("segment {seg:?} in {prefix:?} is not allowed"),
                ));
            }
            if seg.len() > MAX_SEGMENT_LEN {
                return Err(Error::config(
                    "prefix",
                    format!(
                        "a segment of {} characters is too long: at most {MAX_SEGMENT_LEN} between two '/' (S3 stores that keep objects in files, like `lakenode serve` and MinIO, cannot store it)",
                        seg.len()
                    ),
                ));
            }
            if let Some(c) = seg
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=')))
            {
                return Err(Error::config(
                    "prefix",
                    format!(
                        "{c:?} is not allowed; use letters, digits, '-', '_', '.', '=' and '/'"
                    ),
                ));
            }
        }
        Ok(Self(p.to_owned()))
    }

    /// The prefix without leading or trailing `/`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The S3 object key of one file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// The key of a sealed window's data file.
    #[must_use]
    pub fn for_window(prefix: Option<&Prefix>, station: &StationId, window: &Window) -> Self {
        let start = utc(window.start_ms);
        let mut key = String::with_capacity(96);
        key.push_str(&data_tree(prefix, station));
        key.push_str(&format!(
            "year={:04}/month={:02}/day={:02}/data_{:02}{:02}",
            start.year(),
            start.month(),
            start.day(),
            start.hour(),
            start.minute(),
        ));
        if window.starts_late()
            && let Some(first) = window.first_ms()
        {
            let f = utc(first);
            key.push_str(&format!(
                "_{:02}{:02}{:02}",
                f.hour(),
                f.minute(),
                f.second()
            ));
            let millis = first.rem_euclid(1000);
            if millis != 0 {
                key.push_str(&format!("{millis:03}"));
            }
        }
        key.push_str(".parquet");
        Self(key)
    }

    /// The key of the same window recorded again after the `generation`th reset of the
    /// spool's timeline (a clock that went back across a reboot): `_r<generation>` before
    /// `.parquet`, so it never overwrites the object sealed before. Generation 0 is the
    /// key itself.
    ///
    /// ```
    /// # use lakenode::layout::{ObjectKey, StationId};
    /// # let station = StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e")?;
    /// # let t = 1_767_272_400_000;
    /// # let w = lakenode::window::Window { start_ms: t, end_ms: t + 900_000, samples: vec![lakenode::sample::Sample::new(t)] };
    /// let key = ObjectKey::for_window(None, &station, &w).for_timeline(2);
    /// assert!(key.as_str().ends_with("/data_1300_r2.parquet"));
    /// # Ok::<(), lakenode::Error>(())
    /// ```
    #[must_use]
    pub fn for_timeline(self, generation: u32) -> Self {
        match self.0.strip_suffix(".parquet") {
            Some(stem) if generation > 0 => Self(format!("{stem}_r{generation}.parquet")),
            _ => self,
        }
    }

    /// The key as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The two trees a station writes: its data, and its health rows beside them. Uploads
/// of one tree can be refused while the other's are allowed (an IAM policy that leaves
/// one out), so the station schedules them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tree {
    /// `[prefix/]station=<id>/...`
    Data,
    /// `[prefix/]health/station=<id>/...` (see [`crate::health::health_key_for`]).
    Health,
}

impl Tree {
    /// The tree of a key the station wrote under `prefix`.
    ///
    /// ```
    /// use lakenode::layout::Tree;
    /// use lakenode::layout::Prefix;
    /// let raw = Prefix::new("raw")?;
    /// assert_eq!(Tree::of(Some(&raw), "raw/health/station=a/year=2026/month=01/day=01/health_0000.parquet"), Tree::Health);
    /// assert_eq!(Tree::of(Some(&raw), "raw/station=a/year=2026/month=01/day=01/data_0000.parquet"), Tree::Data);
    /// # Ok::<(), lakenode::Error>(())
    /// ```
    #[must_use]
    pub fn of(prefix: Option<&Prefix>, key: &str) -> Self {
        let rest = match prefix {
            Some(p) => key
                .strip_prefix(p.as_str())
                .and_then(|k| k.strip_prefix('/'))
                .unwrap_or(key),
            None => key,
        };
        if rest
            .strip_prefix(HEALTH_DIR)
            .is_some_and(|r| r.starts_with('/'))
        {
            Self::Health
        } else {
            Self::Data
        }
    }

    /// `"data"` or `"health"`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Data => "data",
            Self::Health => "health",
        }
    }

    /// The stem of the tree's file names: `data` (`data_HHMM.parquet`) or `health`.
    #[must_use]
    pub const fn stem(self) -> &'static str {
        self.name()
    }
}

/// Checks that `key` is one this station writes, built by this module's rules: in its
/// data or health tree under `prefix`, then `year=YYYY/month=MM/day=DD/` and
/// `data_HHMM[_HHMMSS[mmm]][_r<n>].parquet` (`health_` in the health tree), nothing else: no
/// dot segment, query or fragment character, percent escape, daily file or other
/// station ([`LakeKey::parse`], then the station and the kind of file). Returns the
/// key's tree. A spool entry that fails this was not written by this station's
/// recorder (a forged or stray file) and must never be signed.
///
/// ```
/// use lakenode::layout::{StationId, Tree, own_key_tree};
/// let id = StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e")?;
/// let key = "station=0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e/year=2026/month=01/day=31/data_2345_234601.parquet";
/// assert_eq!(own_key_tree(None, &id, key), Ok(Tree::Data));
/// assert!(own_key_tree(None, &id, "station=0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e/../../other/x.parquet").is_err());
/// # Ok::<(), lakenode::Error>(())
/// ```
///
/// # Errors
/// Why the key is not this station's, in a few words.
pub fn own_key_tree(
    prefix: Option<&Prefix>,
    station: &StationId,
    key: &str,
) -> std::result::Result<Tree, &'static str> {
    let other = "not in this station's data or health tree";
    let parsed = LakeKey::parse(prefix, key).map_err(|e| match e {
        KeyError::NotInTree => other,
        e => e.reason(),
    })?;
    if parsed.station != *station {
        return Err(other);
    }
    match parsed.file {
        FileName::Window(_) => Ok(parsed.tree),
        FileName::Daily { .. } => Err(KeyError::NotAFileName.reason()),
    }
}

/// Why a key is not in the lake's layout (see [`LakeKey::parse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// Not below `[prefix/][health/]station=`.
    NotInTree,
    /// Below `station=`, but not directly in a `<uuid>/year=YYYY/month=MM/day=DD/`
    /// directory of a real UTC day.
    NotInDay,
    /// In a station-day directory, but not named as a window or a daily file.
    NotAFileName,
}

impl KeyError {
    /// The reason, in a few words.
    #[must_use]
    pub const fn reason(self) -> &'static str {
        match self {
            Self::NotInTree => "not in a station's data or health tree (station=...)",
            Self::NotInDay => "not in a station=<uuid>/year=YYYY/month=MM/day=DD directory",
            Self::NotAFileName => "not a window or daily file name",
        }
    }
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for KeyError {}

/// A key of the lake's layout, parsed: the exact inverse of the keys
/// [`ObjectKey::for_window`], [`ObjectKey::for_timeline`] and
/// [`crate::health::health_key_for`] build, and of the daily files compaction names
/// (`<stem>_day[_s<8 hex>].parquet`). [`LakeKey::to_key`] gives back the very string
/// parsed. Why here: the keys are built here, and a reader that parses them with its
/// own string rules breaks silently at run time when a suffix changes.
///
/// ```
/// use lakenode::layout::{FileName, LakeKey, Tree};
/// let key = "health/station=0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e/year=2026/month=01/day=31/health_2345_234601_r2.parquet";
/// let parsed = LakeKey::parse(None, key)?;
/// assert_eq!(parsed.tree, Tree::Health);
/// assert_eq!(parsed.date, jiff::civil::date(2026, 1, 31));
/// let FileName::Window(w) = &parsed.file else { panic!("a window") };
/// assert_eq!((w.hour, w.minute, w.generation), (23, 45, 2));
/// assert_eq!(parsed.to_key(None), key);
/// # Ok::<(), lakenode::layout::KeyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LakeKey {
    /// The data or the health tree.
    pub tree: Tree,
    /// The station whose tree it is.
    pub station: StationId,
    /// The UTC day of its `year=/month=/day=` partition.
    pub date: jiff::civil::Date,
    /// The file's name in that directory.
    pub file: FileName,
}

/// A file's name in a station-day directory, without the tree's stem.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FileName {
    /// A window a node sealed: `<stem>_HHMM[_HHMMSS[mmm]][_r<n>].parquet`.
    Window(WindowName),
    /// A day compaction made: `<stem>_day.parquet`, or `<stem>_day_s<8 hex>.parquet`
    /// for a second schema's daily file (`schema` holds the 8 hex digits).
    Daily {
        /// The schema hash of a second schema's daily file.
        schema: Option<String>,
    },
}

/// The parts of a window file's name (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowName {
    /// The window's start, UTC hour (0..=23).
    pub hour: u8,
    /// The window's start, minute (0..=59).
    pub minute: u8,
    /// The UTC time of the first sample of a window that starts late.
    pub first: Option<FirstSample>,
    /// The timeline generation of `_r<n>`; 0 without the suffix.
    pub generation: u32,
}

/// The first sample's UTC time in a late window's name: `HHMMSS[mmm]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FirstSample {
    /// Hour (0..=23).
    pub hour: u8,
    /// Minute (0..=59).
    pub minute: u8,
    /// Second (0..=59).
    pub second: u8,
    /// Milliseconds (0..=999), when the name has them (lakenode writes them only when
    /// they are not zero).
    pub millis: Option<u16>,
}

impl LakeKey {
    /// Parses a key written under `prefix` (`None`: at the bucket's or lake's root).
    ///
    /// # Errors
    /// [`KeyError`]: which part of the layout the key misses.
    pub fn parse(prefix: Option<&Prefix>, key: &str) -> std::result::Result<Self, KeyError> {
        let rest = match prefix {
            Some(p) => key
                .strip_prefix(p.as_str())
                .and_then(|k| k.strip_prefix('/'))
                .ok_or(KeyError::NotInTree)?,
            None => key,
        };
        let (tree, rest) = match rest
            .strip_prefix(HEALTH_DIR)
            .and_then(|r| r.strip_prefix('/'))
        {
            Some(r) => (Tree::Health, r),
            None => (Tree::Data, rest),
        };
        let (station, rest) = rest
            .strip_prefix("station=")
            .ok_or(KeyError::NotInTree)?
            .split_once('/')
            .ok_or(KeyError::NotInDay)?;
        let station = StationId::new(station).map_err(|_| KeyError::NotInDay)?;
        let parts: Vec<&str> = rest.split('/').collect();
        let [year, month, day, file] = parts.as_slice() else {
            return Err(KeyError::NotInDay);
        };
        let number = |text: &str, name: &str, digits: usize| {
            text.strip_prefix(name)
                .filter(|d| d.len() == digits)
                .and_then(decimal)
        };
        let date = match (
            number(year, "year=", 4).filter(|y| *y >= 1970),
            number(month, "month=", 2),
            number(day, "day=", 2),
        ) {
            (Some(y), Some(m), Some(d)) => {
                let (Ok(y), Ok(m), Ok(d)) = (i16::try_from(y), i8::try_from(m), i8::try_from(d))
                else {
                    return Err(KeyError::NotInDay);
                };
                jiff::civil::Date::new(y, m, d).map_err(|_| KeyError::NotInDay)?
            }
            _ => return Err(KeyError::NotInDay),
        };
        let file = FileName::parse(tree, file).ok_or(KeyError::NotAFileName)?;
        Ok(Self {
            tree,
            station,
            date,
            file,
        })
    }

    /// The key's station-day directory without prefix:
    /// `[health/]station=<id>/year=YYYY/month=MM/day=DD`.
    #[must_use]
    pub fn dir(&self) -> String {
        let health = match self.tree {
            Tree::Data => "",
            Tree::Health => "health/",
        };
        format!(
            "{health}station={}/year={:04}/month={:02}/day={:02}",
            self.station,
            self.date.year(),
            self.date.month(),
            self.date.day()
        )
    }

    /// The file's name in its directory.
    #[must_use]
    pub fn file_name(&self) -> String {
        self.file.name(self.tree)
    }

    /// The key again, under `prefix`: what [`LakeKey::parse`] read.
    #[must_use]
    pub fn to_key(&self, prefix: Option<&Prefix>) -> String {
        let p = prefix.map_or_else(String::new, |p| format!("{}/", p.as_str()));
        format!("{p}{}/{}", self.dir(), self.file_name())
    }
}

impl FileName {
    /// Parses a file name of `tree`'s stem; `None` if it is neither a window's nor a
    /// daily file's.
    #[must_use]
    pub fn parse(tree: Tree, name: &str) -> Option<Self> {
        let rest = name
            .strip_prefix(tree.stem())?
            .strip_prefix('_')?
            .strip_suffix(".parquet")?;
        if rest == "day" {
            return Some(Self::Daily { schema: None });
        }
        if let Some(hash) = rest.strip_prefix("day_s") {
            return (hash.len() == 8 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then(|| {
                Self::Daily {
                    schema: Some(hash.to_owned()),
                }
            });
        }
        // `_r<n>`: a window recorded again after the timeline's n-th reset.
        let (rest, generation) = match rest.rsplit_once("_r") {
            Some((window, n)) if !n.starts_with('0') => (window, u32::try_from(decimal(n)?).ok()?),
            _ => (rest, 0),
        };
        let (start, first) = rest
            .split_once('_')
            .map_or((rest, None), |(a, b)| (a, Some(b)));
        let clock = |t: &str| {
            let h = u8::try_from(decimal(t.get(..2)?)?)
                .ok()
                .filter(|h| *h < 24)?;
            let m = u8::try_from(decimal(t.get(2..4)?)?)
                .ok()
                .filter(|m| *m < 60)?;
            Some((h, m))
        };
        if start.len() != 4 {
            return None;
        }
        let (hour, minute) = clock(start)?;
        let first = match first {
            None => None,
            Some(f) if f.len() == 6 || f.len() == 9 => {
                let (hour, minute) = clock(f)?;
                let second = u8::try_from(decimal(&f[4..6])?).ok().filter(|s| *s < 60)?;
                let millis = match f.get(6..) {
                    Some(ms) if !ms.is_empty() => Some(u16::try_from(decimal(ms)?).ok()?),
                    _ => None,
                };
                Some(FirstSample {
                    hour,
                    minute,
                    second,
                    millis,
                })
            }
            Some(_) => return None,
        };
        Some(Self::Window(WindowName {
            hour,
            minute,
            first,
            generation,
        }))
    }

    /// The name in `tree`: [`FileName::parse`]'s input again.
    #[must_use]
    pub fn name(&self, tree: Tree) -> String {
        let stem = tree.stem();
        match self {
            Self::Daily { schema: None } => format!("{stem}_day.parquet"),
            Self::Daily { schema: Some(s) } => format!("{stem}_day_s{s}.parquet"),
            Self::Window(w) => {
                let mut name = format!("{stem}_{:02}{:02}", w.hour, w.minute);
                if let Some(f) = w.first {
                    name.push_str(&format!("_{:02}{:02}{:02}", f.hour, f.minute, f.second));
                    if let Some(ms) = f.millis {
                        name.push_str(&format!("{ms:03}"));
                    }
                }
                if w.generation > 0 {
                    name.push_str(&format!("_r{}", w.generation));
                }
                name.push_str(".parquet");
                name
            }
        }
    }
}

/// The value of 1 to 10 ASCII digits, nothing else (no sign, no spaces).
fn decimal(text: &str) -> Option<u64> {
    (!text.is_empty() && text.len() <= 10 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// The key prefix under which every data file of `station` lies:
/// `[prefix/]station=<id>/` (what an IAM policy must let the station write).
///
/// ```
/// use lakenode::layout::{Prefix, StationId, data_tree};
/// let station = StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e")?;
/// assert_eq!(
///     data_tree(Some(&Prefix::new("raw")?), &station),
///     "raw/station=0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e/"
/// );
/// # Ok::<(), lakenode::Error>(())
/// ```
#[must_use]
pub fn data_tree(prefix: Option<&Prefix>, station: &StationId) -> String {
    match prefix {
        Some(p) => format!("{}/station={station}/", p.as_str()),
        None => format!("station={station}/"),
    }
}

/// The key prefix under which every health file of `station` lies (the sibling tree
/// of [`crate::health::health_key_for`]): `[prefix/]health/station=<id>/`.
#[must_use]
pub fn health_tree(prefix: Option<&Prefix>, station: &StationId) -> String {
    match prefix {
        Some(p) => format!("{}/{HEALTH_DIR}/station={station}/", p.as_str()),
        None => format!("{HEALTH_DIR}/station={station}/"),
    }
}

/// The directory of the health tree under the prefix.
const HEALTH_DIR: &str = "health";

/// The directory of the monthly rollups under the prefix: beside the two trees, outside
/// the data glob `station=*/**/*.parquet` and the health tree (docs/lake.md).
pub const ROLLUP_DIR: &str = "rollup";

/// The key of `station`'s rollup of one UTC month (`lakenode compact` writes it: the
/// month's daily figures in one object, so a long report reads one object per
/// station-month instead of one footer per station-day), version 2 (numbers only):
/// `[prefix/]rollup/station=<id>/month=YYYY-MM.v2.json`. Since 2026-12-04 `compact`
/// and `fleet-lake` write only this one; the version 1 rollup
/// ([`rollup_v1_key`]) of a lake written before is still read where no version 2
/// exists, and never written again.
///
/// ```
/// use lakenode::layout::{StationId, rollup_key};
/// let station = StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e")?;
/// let date = jiff::civil::date(2026, 2, 9);
/// assert_eq!(
///     rollup_key(None, &station, date),
///     "rollup/station=0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e/month=2026-02.v2.json"
/// );
/// # Ok::<(), lakenode::Error>(())
/// ```
#[must_use]
pub fn rollup_key(prefix: Option<&Prefix>, station: &StationId, date: jiff::civil::Date) -> String {
    rollup_key_with(prefix, station, date, ".v2.json")
}

/// The key of a version 1 rollup (the footers' summary strings as they are):
/// `[prefix/]rollup/station=<id>/month=YYYY-MM.json`. Read, no longer written.
#[must_use]
pub fn rollup_v1_key(
    prefix: Option<&Prefix>,
    station: &StationId,
    date: jiff::civil::Date,
) -> String {
    rollup_key_with(prefix, station, date, ".json")
}

fn rollup_key_with(
    prefix: Option<&Prefix>,
    station: &StationId,
    date: jiff::civil::Date,
    suffix: &str,
) -> String {
    let name = format!(
        "{ROLLUP_DIR}/station={station}/month={:04}-{:02}{suffix}",
        date.year(),
        date.month()
    );
    match prefix {
        Some(p) => format!("{}/{name}", p.as_str()),
        None => name,
    }
}

/// Civil UTC date-time of a millisecond timestamp; out-of-range values clamp to the
/// ends of jiff's range (years -9999..=9999), which no real sample reaches.
pub(crate) fn utc(ms: i64) -> DateTime {
    let ts = Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    Offset::UTC.to_datetime(ts)
}

/// RFC 3339 text of a millisecond timestamp in UTC, e.g. `2026-01-01T13:00:00Z`.
#[must_use]
pub fn rfc3339(ms: i64) -> String {
    let dt = utc(ms);
    let millis = ms.rem_euclid(1000);
    if millis == 0 {
        format!("{}Z", dt.strftime("%Y-%m-%dT%H:%M:%S"))
    } else {
        format!("{}.{millis:03}Z", dt.strftime("%Y-%m-%dT%H:%M:%S"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Sample;

    const T: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    #[test]
    fn keys_that_are_not_this_stations_are_refused() {
        let id = "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e";
        let st = StationId::new(id).expect("id");
        let raw = Prefix::new("raw").expect("prefix");
        let good = format!("raw/station={id}/year=2026/month=01/day=31/data_2345.parquet");
        assert_eq!(own_key_tree(Some(&raw), &st, &good), Ok(Tree::Data));
        for bad in [
            format!("station={id}/year=2026/month=01/day=31/data_2345.parquet"), // no prefix
            "raw/station=0190f5c2-0000-7000-8000-000000000000/year=2026/month=01/day=31/data_2345.parquet".to_owned(),
            "../other/stolen.parquet".to_owned(),
            format!("raw/station={id}/../../other/x.parquet"),
            format!("raw/station={id}/year=2026/month=01/day=31/../data_2345.parquet"),
            format!("raw/station={id}/year=2026/month=01/day=31/./data_2345.parquet"),
            format!("raw/station={id}/year=2026/month=01/day=31/data_2345.parquet?x=1"),
            format!("raw/station={id}/year=2026/month=01/day=31/data_2345.parquet#f"),
            format!("raw/station={id}/year=2026/month=01/day=31/%2e%2e.parquet"),
            format!("raw/station={id}/year=2026/month=13/day=31/data_2345.parquet"),
            format!("raw/station={id}/year=2026/month=01/day=31/data_2460.parquet"),
            format!("raw/station={id}/year=2026/month=01/day=31/data_2345_12.parquet"),
            format!("raw/station={id}/year=2026/month=01/day=31/health_2345.parquet"),
            format!("raw/health/station={id}/year=2026/month=01/day=31/data_2345.parquet"),
            format!("raw/station={id}/year=2026/month=01/day=31/data_day.parquet"),
            format!("raw/station={id}/year=2026/month=01/day=31/sub/data_2345.parquet"),
            format!("raw/station={id}/year=2026/month=01/day=31/data_2345.parquet\n"),
            format!("raw/station={id}/year=2026/month=01/day=31/data_2345_r.parquet"),
            format!("raw/station={id}/year=2026/month=01/day=31/data_2345_r01.parquet"),
            format!("raw/station={id}/year=2026/month=01/day=31/data_2345_rx.parquet"),
            format!("raw/station={id}/year=2026/month=01/day=31/data_r1.parquet"),
            format!("raw/station={id}/year=2026/month=01/day=31/data_2345_r1_r1.parquet"),
        ] {
            assert!(
                own_key_tree(Some(&raw), &st, &bad).is_err(),
                "{bad:?} accepted"
            );
        }
        let health = format!(
            "raw/health/station={id}/year=2026/month=01/day=31/health_2345_234501123.parquet"
        );
        assert_eq!(own_key_tree(Some(&raw), &st, &health), Ok(Tree::Health));
        for again in [
            "data_2345_r1",
            "data_2345_234501_r2",
            "data_2345_234501123_r17",
        ] {
            let key = format!("raw/station={id}/year=2026/month=01/day=31/{again}.parquet");
            assert_eq!(own_key_tree(Some(&raw), &st, &key), Ok(Tree::Data), "{key}");
        }
    }

    #[test]
    fn keys_outside_the_layout_are_refused_with_the_part_they_miss() {
        let id = "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e";
        let day = format!("station={id}/year=2026/month=01/day=31");
        let raw = Prefix::new("raw").expect("prefix");
        for (prefix, key, why) in [
            (None, "other/x.parquet".to_owned(), KeyError::NotInTree),
            (None, format!("station={id}"), KeyError::NotInDay),
            (
                None,
                format!("health/health/{day}/health_0000.parquet"),
                KeyError::NotInTree,
            ),
            (None, format!("Station={id}/x"), KeyError::NotInTree),
            (
                None,
                format!("station={}/x", id.to_uppercase()),
                KeyError::NotInDay,
            ),
            (
                Some(&raw),
                format!("{day}/data_0000.parquet"),
                KeyError::NotInTree,
            ),
            (
                Some(&raw),
                format!("rawx/{day}/data_0000.parquet"),
                KeyError::NotInTree,
            ),
            (
                None,
                format!("station={id}/stray.parquet"),
                KeyError::NotInDay,
            ),
            (
                None,
                format!("station={id}/year=2026/month=02/day=30/data_0000.parquet"),
                KeyError::NotInDay,
            ),
            (
                None,
                format!("station={id}/year=1969/month=12/day=31/data_0000.parquet"),
                KeyError::NotInDay,
            ),
            (
                None,
                format!("station={id}/year=2026/month=1/day=31/data_0000.parquet"),
                KeyError::NotInDay,
            ),
            (
                None,
                format!("station={id}/year=+026/month=01/day=31/data_0000.parquet"),
                KeyError::NotInDay,
            ),
            (
                None,
                format!("{day}/sub/data_0000.parquet"),
                KeyError::NotInDay,
            ),
            (
                None,
                format!("{day}/../data_0000.parquet"),
                KeyError::NotInDay,
            ),
            (
                None,
                format!("{day}/data_0000.parquet.tmp"),
                KeyError::NotAFileName,
            ),
            (
                None,
                format!("{day}/health_0000.parquet"),
                KeyError::NotAFileName,
            ),
            (
                None,
                format!("health/{day}/data_0000.parquet"),
                KeyError::NotAFileName,
            ),
            (
                None,
                format!("{day}/data_2400.parquet"),
                KeyError::NotAFileName,
            ),
            (
                None,
                format!("{day}/data_0060.parquet"),
                KeyError::NotAFileName,
            ),
            (
                None,
                format!("{day}/data_12.parquet"),
                KeyError::NotAFileName,
            ),
            (
                None,
                format!("{day}/data_0000_1.parquet"),
                KeyError::NotAFileName,
            ),
            (
                None,
                format!("{day}/data_0000_006000.parquet"),
                KeyError::NotAFileName,
            ),
            (
                None,
                format!("{day}/data_0000_0000001.parquet"),
                KeyError::NotAFileName,
            ),
            (
                None,
                format!("{day}/data_0000_r0.parquet"),
                KeyError::NotAFileName,
            ),
            (
                None,
                format!("{day}/data_0000_r4294967296.parquet"),
                KeyError::NotAFileName,
            ),
            (
                None,
                format!("{day}/data_0000_r+1.parquet"),
                KeyError::NotAFileName,
            ),
            (
                None,
                format!("{day}/data_day_r1.parquet"),
                KeyError::NotAFileName,
            ),
            (
                None,
                format!("{day}/data_day_s0a1b2c3.parquet"),
                KeyError::NotAFileName,
            ),
            (
                None,
                format!("{day}/data_day_x.parquet"),
                KeyError::NotAFileName,
            ),
            (None, format!("{day}/notes.txt"), KeyError::NotAFileName),
        ] {
            assert_eq!(LakeKey::parse(prefix, &key), Err(why), "{key}");
        }
        let daily = LakeKey::parse(Some(&raw), &format!("raw/{day}/data_day_s0a1b2c3d.parquet"))
            .expect("daily file");
        assert_eq!(
            daily.file,
            FileName::Daily {
                schema: Some("0a1b2c3d".into())
            }
        );
        assert_eq!(daily.dir(), day);
        let max = LakeKey::parse(None, &format!("{day}/data_0000_r4294967295.parquet"))
            .expect("the last generation");
        assert!(matches!(max.file, FileName::Window(w) if w.generation == u32::MAX));
    }

    fn window(start_ms: i64, first_ms: i64) -> Window {
        Window {
            start_ms,
            end_ms: start_ms + 900_000,
            samples: vec![Sample::new(first_ms)],
        }
    }

    #[test]
    fn full_window_key_matches_the_users_layout() {
        let st = StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e").expect("valid");
        let w = window(
            T + 23 * 3_600_000 + 45 * 60_000,
            T + 23 * 3_600_000 + 45 * 60_000,
        );
        assert_eq!(
            ObjectKey::for_window(None, &st, &w).as_str(),
            "station=0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e/year=2026/month=01/day=01/data_2345.parquet"
        );
    }

    #[test]
    fn parts_of_an_interrupted_window_get_distinct_keys() {
        let st = StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e").expect("valid");
        let a = ObjectKey::for_window(None, &st, &window(T, T));
        let b = ObjectKey::for_window(None, &st, &window(T, T + 300_000));
        let c = ObjectKey::for_window(None, &st, &window(T, T + 305_000));
        assert_ne!(a, b);
        assert_ne!(b, c);
        assert!(b.as_str().ends_with("data_0000_000500.parquet"), "{b}");
        let d = ObjectKey::for_window(None, &st, &window(T, T + 305_042));
        assert!(d.as_str().ends_with("data_0000_000505042.parquet"), "{d}");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn station() -> impl Strategy<Value = StationId> {
            any::<u128>().prop_map(|n| {
                let h = format!("{n:032x}");
                StationId::new(format!(
                    "{}-{}-{}-{}-{}",
                    &h[..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..]
                ))
                .expect("generated uuid")
            })
        }

        /// A window of 1 to 1440 minutes dividing a day, a start on its grid within
        /// 1970..2100, and a first sample inside it.
        fn window() -> impl Strategy<Value = Window> {
            (
                prop::sample::select(vec![1i64, 5, 15, 60, 360, 1440]),
                0i64..4_102_444_800_000,
                0f64..1.0,
            )
                .prop_map(|(minutes, t, frac)| {
                    let len = minutes * 60_000;
                    let start = t.div_euclid(len) * len;
                    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
                    let first = start + (frac * len as f64) as i64;
                    Window {
                        start_ms: start,
                        end_ms: start + len,
                        samples: vec![Sample::new(first)],
                    }
                })
        }

        proptest! {
            /// Two parts of one window whose first samples fall in the same second
            /// (a restart, or two CSV imports): distinct first instants, distinct keys.
            #[test]
            fn two_parts_within_one_second_get_distinct_keys(
                st in station(),
                w in window(),
                a in 0i64..1000,
                b in 0i64..1000,
            ) {
                let second = w.first_ms().unwrap_or(w.start_ms).div_euclid(1000) * 1000;
                let second = second.max(w.start_ms + 1000);
                prop_assume!(second + 1000 <= w.end_ms);
                let part = |ms: i64| Window { samples: vec![Sample::new(second + ms)], ..w.clone() };
                let (ka, kb) = (
                    ObjectKey::for_window(None, &st, &part(a)),
                    ObjectKey::for_window(None, &st, &part(b)),
                );
                prop_assert_eq!(a == b, ka == kb, "{} vs {}", ka, kb);
            }

            #[test]
            fn distinct_windows_never_share_a_key(st in station(), a in window(), b in window()) {
                let (ka, kb) = (ObjectKey::for_window(None, &st, &a), ObjectKey::for_window(None, &st, &b));
                let same = a.start_ms == b.start_ms && a.first_ms() == b.first_ms();
                prop_assert_eq!(same, ka == kb, "{} vs {}", ka, kb);
            }

            /// The trees an IAM policy grants (`lakenode policy`) hold every key the
            /// node writes, data and health, and neither tree holds the other's keys.
            #[test]
            fn data_and_health_keys_lie_in_their_trees(
                st in station(),
                w in window(),
                prefix in prop::option::of("[a-z0-9=_.-]{1,20}(/[a-z0-9=_.-]{1,20}){0,3}"),
            ) {
                let p = prefix
                    .filter(|p| p.split('/').all(|s| s != "." && s != ".."))
                    .map(|p| Prefix::new(&p).expect("generated prefix"));
                let data = ObjectKey::for_window(p.as_ref(), &st, &w);
                let health = crate::health::health_key_for(p.as_ref(), data.as_str());
                let (data_tree, health_tree) = (data_tree(p.as_ref(), &st), health_tree(p.as_ref(), &st));
                prop_assert!(data.as_str().starts_with(&data_tree), "{} not in {}", data, data_tree);
                prop_assert!(health.starts_with(&health_tree), "{} not in {}", health, health_tree);
                prop_assert!(!data.as_str().starts_with(&health_tree));
                prop_assert!(!health.starts_with(&data_tree));
                // And the check the station makes before signing accepts both.
                prop_assert_eq!(own_key_tree(p.as_ref(), &st, data.as_str()), Ok(Tree::Data), "{}", data);
                prop_assert_eq!(own_key_tree(p.as_ref(), &st, &health), Ok(Tree::Health), "{}", health);
                prop_assert_eq!(Tree::of(p.as_ref(), data.as_str()), Tree::Data);
                prop_assert_eq!(Tree::of(p.as_ref(), &health), Tree::Health);
            }

            /// The parser is the exact inverse of the keys the node builds, data and
            /// health, late and recorded-again windows.
            #[test]
            fn built_keys_parse_back_to_their_parts(
                st in station(),
                w in window(),
                generation in prop_oneof![Just(0u32), 1u32..20, Just(u32::MAX)],
                prefix in prop::option::of("[a-z0-9=_.-]{1,20}(/[a-z0-9=_.-]{1,20}){0,3}"),
            ) {
                let p = prefix
                    .filter(|p| p.split('/').all(|s| s != "." && s != ".."))
                    .map(|p| Prefix::new(&p).expect("generated prefix"));
                let key = ObjectKey::for_window(p.as_ref(), &st, &w).for_timeline(generation);
                let parsed = LakeKey::parse(p.as_ref(), key.as_str());
                prop_assert!(parsed.is_ok(), "{} not parsed: {:?}", key, parsed);
                let parsed = parsed.expect("checked");
                prop_assert_eq!(parsed.to_key(p.as_ref()), key.as_str());
                let start = utc(w.start_ms);
                let first = w.first_ms().filter(|_| w.starts_late()).map(|f| {
                    let t = utc(f);
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    FirstSample {
                        hour: t.hour() as u8,
                        minute: t.minute() as u8,
                        second: t.second() as u8,
                        millis: Some(f.rem_euclid(1000) as u16).filter(|ms| *ms != 0),
                    }
                });
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let want = LakeKey {
                    tree: Tree::Data,
                    station: st.clone(),
                    date: start.date(),
                    file: FileName::Window(WindowName {
                        hour: start.hour() as u8,
                        minute: start.minute() as u8,
                        first,
                        generation,
                    }),
                };
                prop_assert_eq!(&parsed, &want);
                let health = crate::health::health_key_for(p.as_ref(), key.as_str());
                let parsed = LakeKey::parse(p.as_ref(), &health).expect("health key");
                prop_assert_eq!(parsed.to_key(p.as_ref()), health);
                prop_assert_eq!(parsed, LakeKey { tree: Tree::Health, ..want });
            }

            /// Every key the parser accepts prints back as itself, and every value
            /// prints as a key that parses back to it.
            #[test]
            fn any_key_value_round_trips(
                st in station(),
                health in any::<bool>(),
                days in 0i32..2_900_000,
                file in prop_oneof![
                    prop::option::of("[0-9a-f]{8}").prop_map(|schema| FileName::Daily { schema }),
                    (0u8..24, 0u8..60, prop::option::of((0u8..24, 0u8..60, 0u8..60, prop::option::of(0u16..1000))), any::<u32>())
                        .prop_map(|(hour, minute, first, generation)| FileName::Window(WindowName {
                            hour,
                            minute,
                            first: first.map(|(hour, minute, second, millis)| FirstSample { hour, minute, second, millis }),
                            generation,
                        })),
                ],
            ) {
                let date = jiff::civil::date(1970, 1, 1)
                    .checked_add(jiff::Span::new().days(days))
                    .expect("in range");
                let tree = if health { Tree::Health } else { Tree::Data };
                let key = LakeKey { tree, station: st, date, file };
                let text = key.to_key(None);
                prop_assert_eq!(LakeKey::parse(None, &text), Ok(key), "{}", text);
            }

            #[test]
            fn keys_are_valid_s3_keys(st in station(), w in window(), prefix in "[a-z0-9=_.-]{1,20}(/[a-z0-9=_.-]{1,20}){0,3}") {
                prop_assume!(prefix.split('/').all(|s| s != "." && s != ".."));
                let p = Prefix::new(&prefix).expect("generated prefix");
                let key = ObjectKey::for_window(Some(&p), &st, &w);
                let k = key.as_str();
                prop_assert!(k.len() <= 1024);
                prop_assert!(!k.starts_with('/') && !k.contains("//"));
                prop_assert!(k.bytes().all(|c| c.is_ascii_alphanumeric() || b"/=_.-".contains(&c)), "{}", k);
                prop_assert!(k.ends_with(".parquet"));
                let station_part = format!("station={st}/");
                prop_assert!(k.contains(&station_part));
            }
        }
    }

    #[test]
    fn the_longest_key_fits_s3s_limit() {
        let prefix = Prefix::new(&format!("{0}/{0}", "p".repeat(255))).expect("longest prefix");
        let station = StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e").expect("id");
        // A window that starts off the grid (HHMMSSmmm in its name), the last generation.
        let t = 1_767_272_400_000 + 86_399_999 - 900_000;
        let w = Window {
            start_ms: t,
            end_ms: t + 900_000,
            samples: vec![crate::sample::Sample::new(t)],
        };
        let key = ObjectKey::for_window(Some(&prefix), &station, &w).for_timeline(u32::MAX);
        assert!(key.as_str().contains("_r4294967295"), "{}", key.as_str());
        // Its health row: `health/` after the prefix, `health_` for `data_`.
        let longest = key.as_str().len() + "health/".len() + 2;
        assert!(MAX_PREFIX_LEN <= 512 && longest <= 1024, "{longest} bytes");
    }

    #[test]
    fn station_and_prefix_validation() {
        assert!(StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e").is_ok());
        for bad in [
            "",
            "a/b",
            "station-1",
            "0190F5C2-7A4E-7B3C-9D2E-4F6A8B0C1D2E",
            "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2",
            "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e0",
            "0190f5c2_7a4e-7b3c-9d2e-4f6a8b0c1d2e",
            "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2g",
            "../../../../../../../../../../../etc",
        ] {
            let e = StationId::new(bad).expect_err(bad);
            assert!(e.to_string().starts_with("invalid station"), "{e}");
        }
        assert_eq!(
            Prefix::new("/lake/raw/").expect("valid").as_str(),
            "lake/raw"
        );
        assert!(Prefix::new("a//b").is_err());
        // Found by the adversarial review: a 256-byte segment was accepted, and every
        // file set aside by stores that keep segments as directory names.
        assert!(Prefix::new(&"a".repeat(255)).is_ok());
        assert!(Prefix::new(&"a".repeat(256)).is_err());
        assert!(Prefix::new(&format!("x/{}/y", "a".repeat(300))).is_err());
        assert!(Prefix::new(&format!("{0}/{0}", "b".repeat(255))).is_ok());
        assert!(Prefix::new("a/../b").is_err());
        assert!(Prefix::new("a b").is_err());
        assert!(Prefix::new("/").is_err());
    }

    #[test]
    fn rfc3339_formats_utc_with_optional_millis() {
        assert_eq!(rfc3339(T), "2026-01-01T00:00:00Z");
        assert_eq!(rfc3339(T + 1_234), "2026-01-01T00:00:01.234Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }
}
