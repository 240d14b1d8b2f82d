//! ListObjectsV2 over `<bucket dir>`: a depth-first walk in S3's key order that stops
//! after `max-keys` entries, instead of collecting and sorting the whole bucket for
//! every page (what `s3s-fs` does: a paginated listing of n keys was O(n²/1000)).
//!
//! Key order by walking: in a directory, a file `name` stands for the key `name` and a
//! subdirectory for every key starting `name/`. Sorting the entries by those strings
//! (`name` for a file, `name/` for a directory) sorts their keys too, because a name
//! holds no `/`: no entry's string is a proper prefix of another's except a file `a`
//! before a directory `ab/`, and then `a` sorts before every `ab/...` as well. So the
//! walk meets keys in byte order, and whole subtrees at or before `start-after` (or
//! outside the prefix, or folded into a common prefix already listed) are skipped.
//!
//! ```text
//! prefix "raw/", delimiter "/", start-after "raw/station=a/"
//!   raw/station=a/...   skipped without reading it (its common prefix is listed)
//!   raw/station=b/...   one probe finds a file: CommonPrefix "raw/station=b/"
//! ```

use std::io;
use std::path::Path;

use s3s::dto::{CommonPrefix, Object, Timestamp};

use super::etag;
use dir::Dir;

mod dir;

/// The continuation token after `last` (the last key or common prefix of a page): its
/// bytes in hex, so a token this server did not give is recognised and refused
/// (`400 InvalidArgument`, as S3 does) instead of being taken for a key to start
/// after, which answered a silent empty page. Hand-written: a few lines of hex.
pub(super) fn token(last: &str) -> String {
    etag::hex(last.as_bytes())
}

/// The key a [`token`] goes on after; `None` if it is not one.
pub(super) fn from_token(token: &str) -> Option<String> {
    if token.is_empty() || !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// What one page asks for.
pub(super) struct Query<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    /// Keys up to this one are left out, and common prefixes all of whose keys are, or
    /// equal to it (a continuation token is the last key or common prefix listed).
    pub start_after: Option<&'a str>,
    pub max_keys: usize,
}

/// One page.
#[derive(Default)]
pub(super) struct Page {
    pub objects: Vec<Object>,
    pub common_prefixes: Vec<CommonPrefix>,
    /// More entries follow the last one listed.
    pub truncated: bool,
    /// The last key or common prefix listed (the next page starts after it).
    pub last: Option<String>,
}

struct Walk<'a> {
    q: Query<'a>,
    page: Page,
    count: usize,
    last_prefix: Option<String>,
    done: bool,
}

/// Lists `bucket_dir` (the bucket's keys are paths relative to it).
pub(super) fn list(bucket_dir: &Path, q: Query<'_>) -> io::Result<Page> {
    let mut walk = Walk {
        q,
        page: Page::default(),
        count: 0,
        last_prefix: None,
        done: false,
    };
    // Start at the deepest directory the prefix names: `raw/station=x/` lists only it.
    let dir_part = walk
        .q
        .prefix
        .rfind('/')
        .map_or("", |i| &walk.q.prefix[..=i]);
    // No stored key has a `..` (or `.`, or empty) segment, so such a prefix matches
    // nothing; it must not be joined onto the bucket's path either.
    if !dir_part.is_empty() && crate::access::check_key(dir_part).is_err() {
        return Ok(walk.page);
    }
    // Nor through a symbolic link (not followed: `Store::object_path`): each segment is
    // opened below the last without following one.
    let mut start = match Dir::open(bucket_dir) {
        Ok(dir) => dir,
        Err(e) if gone(&e) => return Ok(walk.page),
        Err(e) => return Err(e),
    };
    for segment in dir_part.split('/').filter(|s| !s.is_empty()) {
        start = match start.sub(segment) {
            Ok(dir) => dir,
            Err(e) if gone(&e) || e.raw_os_error() == Some(ELOOP) => return Ok(walk.page),
            Err(e) => return Err(e),
        };
    }
    match walk.dir(&start, dir_part) {
        Err(e) if gone(&e) => {}
        other => other?,
    }
    Ok(walk.page)
}

/// What opening a directory that vanished or was never one gives.
fn gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory
}

#[cfg(unix)]
const ELOOP: i32 = libc::ELOOP;
#[cfg(not(unix))]
const ELOOP: i32 = -1;

/// Whether `dir` (the keys starting `dir_key`) holds a file anywhere below it whose key
/// sorts after `after` (S3 has no empty "directories", and lists a common prefix
/// after start-after when any key folded into it is).
fn has_file_after(dir: &Dir, dir_key: &str, after: Option<&str>) -> bool {
    let Ok(entries) = dir.entries() else {
        return false;
    };
    entries.iter().any(|(fragment, is_dir)| {
        let key = format!("{dir_key}{fragment}");
        if !*is_dir {
            return after.is_none_or(|a| key.as_str() > a);
        }
        if let Some(a) = after
            && a >= key.as_str()
            && !a.starts_with(&key)
        {
            return false; // the whole subtree sorts at or before `after`
        }
        dir.sub(fragment.trim_end_matches('/'))
            .is_ok_and(|sub| has_file_after(&sub, &key, after))
    })
}

impl Walk<'_> {
    /// The common prefix all keys starting with `key` fall into, if the delimiter
    /// occurs after the prefix within `key` itself.
    fn common_prefix(&self, key: &str) -> Option<String> {
        let delimiter = self.q.delimiter.filter(|d| !d.is_empty())?;
        let rest = key.get(self.q.prefix.len()..)?;
        let at = rest.find(delimiter)?;
        Some(key[..self.q.prefix.len() + at + delimiter.len()].to_owned())
    }

    fn after_start(&self, s: &str) -> bool {
        self.q.start_after.is_none_or(|a| s > a)
    }

    /// Adds one entry; false once the page is full (the entry is then the proof that
    /// more follow).
    fn push(&mut self, entry: Entry) -> bool {
        if self.count >= self.q.max_keys {
            self.page.truncated = true;
            self.done = true;
            return false;
        }
        self.count += 1;
        match entry {
            Entry::Object(o) => {
                self.page.last.clone_from(&o.key);
                self.page.objects.push(*o);
            }
            Entry::Prefix(p) => {
                self.page.last = Some(p.clone());
                self.last_prefix = Some(p.clone());
                self.page
                    .common_prefixes
                    .push(CommonPrefix { prefix: Some(p) });
            }
        }
        true
    }

    fn dir(&mut self, dir: &Dir, dir_key: &str) -> io::Result<()> {
        for (fragment, is_dir) in dir.entries()? {
            if self.done {
                return Ok(());
            }
            let key = format!("{dir_key}{fragment}");
            let name = fragment.trim_end_matches('/');
            if is_dir {
                // Every key below starts with `key` (which ends in '/').
                if !(key.starts_with(self.q.prefix) || self.q.prefix.starts_with(&key)) {
                    continue;
                }
                if let Some(a) = self.q.start_after
                    && a >= key.as_str()
                    && !a.starts_with(&key)
                {
                    continue; // the whole subtree sorts at or before start-after
                }
                let cp = self.common_prefix(&key);
                // The whole subtree folds into a common prefix already listed.
                if cp.as_deref().is_some_and(|cp| {
                    self.last_prefix.as_deref() == Some(cp) || self.q.start_after == Some(cp)
                }) {
                    continue;
                }
                // Vanished meanwhile, or swapped for a link: nothing to list there.
                let Ok(sub) = dir.sub(name) else { continue };
                match cp {
                    Some(cp) => {
                        if has_file_after(&sub, &key, self.q.start_after)
                            && !self.push(Entry::Prefix(cp))
                        {
                            return Ok(());
                        }
                    }
                    None => self.dir(&sub, &key)?,
                }
                continue;
            }
            if !key.starts_with(self.q.prefix) {
                continue;
            }
            if let Some(cp) = self.common_prefix(&key) {
                // Listed once a key folded into it sorts after start-after (a common
                // prefix equal to it is the last page's, already listed).
                if self.last_prefix.as_deref() != Some(&cp)
                    && self.q.start_after != Some(&cp)
                    && self.after_start(&key)
                    && !self.push(Entry::Prefix(cp))
                {
                    return Ok(());
                }
                continue;
            }
            if !self.after_start(&key) {
                continue;
            }
            let Some(file) = dir.file(name) else {
                continue; // deleted meanwhile, or no longer a regular file
            };
            let object = Object {
                e_tag: file.etag.map(s3s::dto::ETag::Strong),
                last_modified: file.modified.map(Timestamp::from),
                size: i64::try_from(file.size).ok(),
                key: Some(key),
                ..Object::default()
            };
            if !self.push(Entry::Object(Box::new(object))) {
                return Ok(());
            }
        }
        Ok(())
    }
}

enum Entry {
    Object(Box<Object>),
    Prefix(String),
}
