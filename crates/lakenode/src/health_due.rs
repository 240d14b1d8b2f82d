//! The health rows due (`health.due` in the station's directory): a sealed window's
//! health row is owed from the moment its data file is spooled until the row itself is
//! spooled. The list is written when a window is sealed (after its data file, before the
//! journal is told the window is sealed) and when the row is spooled, so a station
//! killed or powered off in between makes the row at its next start (see
//! [`crate::station::Station::take_health_row`]).
//!
//! With per-window journal durability the file also names rows already spooled whose
//! window may still be sealed again: a window spooled by a boot whose journal rewrite
//! was cut is produced again from the input by the next boot, and must not owe its row
//! a second time (other counts under the same key), however many boots are cut at that
//! rewrite. These `s <key>` lines are written in rewrites that happen anyway (the row
//! spooled), and left out of the first rewrite after the journal marks those windows
//! sealed (see [`crate::recorder::Recorder`]): in steady state, and with every sample
//! journaled (but in the boot after a cut between a row's spooling and this file's
//! rewrite, which names the rows it finds spooled), the file is what it was without
//! them. A build before them skips the lines (its parser wants a number first).

use std::path::Path;

use crate::storage::Storage;
use crate::{Error, Result};

/// `health.due`: one `<window end ms> <health key>` line per row owed, oldest first,
/// then one `s <health key>` line per row spooled whose window may be sealed again.
#[derive(Debug, Default)]
pub(crate) struct HealthDueFile {
    due: Vec<(String, i64)>,
    spooled: Vec<String>,
    /// Whether [`HealthDueFile::forget_spooled`] was called (this boot).
    settled: bool,
    /// Whether the file names the spooled rows (per-window durability), and how many
    /// it names now.
    naming: bool,
    named: usize,
}

impl HealthDueFile {
    const FILE: &'static str = "health.due";

    /// Reads the file; a missing one owes nothing, an unreadable line is left out.
    pub(crate) fn load(fs: &dyn Storage, dir: &Path) -> Result<Self> {
        let path = dir.join(Self::FILE);
        let text = match fs.read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(Error::spool("read", &path, e)),
        };
        let mut file = Self::default();
        for line in text.lines() {
            let Some((first, key)) = line.split_once(' ') else {
                continue;
            };
            if first == "s" {
                file.spooled.push(key.to_owned());
                file.named += 1;
            } else if let Ok(end) = first.parse() {
                file.due.push((key.to_owned(), end));
            }
        }
        Ok(file)
    }

    /// The rows owed: (health key, window end ms), oldest first.
    pub(crate) fn due(&self) -> &[(String, i64)] {
        &self.due
    }

    /// Whether the row `key` was spooled while its window could still be sealed again
    /// (by this boot or an earlier one whose journal rewrite did not land).
    pub(crate) fn was_spooled(&self, key: &str) -> bool {
        self.spooled.iter().any(|k| k == key)
    }

    /// Owes the row `key` (once) and writes the file.
    pub(crate) fn add(
        &mut self,
        fs: &dyn Storage,
        dir: &Path,
        key: &str,
        end_ms: i64,
    ) -> Result<()> {
        if self.due.iter().any(|(k, _)| k == key) {
            return Ok(());
        }
        self.due.push((key.to_owned(), end_ms));
        self.store(fs, dir)
    }

    /// The row `key` was spooled: no longer owed; with `remember`, remembered as spooled
    /// and named so in the file from now on (its window may be sealed again from the
    /// input). Writes the file if either changed.
    pub(crate) fn spooled(
        &mut self,
        fs: &dyn Storage,
        dir: &Path,
        key: &str,
        remember: bool,
    ) -> Result<()> {
        let before = (self.due.len(), self.spooled.len());
        self.due.retain(|(k, _)| k != key);
        if remember {
            self.naming = true;
            if !self.was_spooled(key) {
                self.spooled.push(key.to_owned());
            }
        }
        if (self.due.len(), self.spooled.len()) == before {
            return Ok(());
        }
        self.store(fs, dir)
    }

    /// No longer owes the rows `keep` refuses (they were spooled; with `remember`,
    /// remembered and named as spooled, in the same rewrite); writes the file if the
    /// rows owed changed.
    pub(crate) fn retain(
        &mut self,
        fs: &dyn Storage,
        dir: &Path,
        keep: impl Fn(&str) -> bool,
        remember: bool,
    ) -> Result<()> {
        let before = self.due.len();
        let spooled = &mut self.spooled;
        self.due.retain(|(k, _)| {
            let owed = keep(k);
            if !owed && remember && !spooled.iter().any(|s| s == k) {
                spooled.push(k.clone());
            }
            owed
        });
        if self.due.len() == before {
            return Ok(());
        }
        self.naming |= remember;
        self.store(fs, dir)
    }

    /// From now on the file names the rows remembered as spooled (per-window
    /// durability): written now if it does not name them all yet.
    pub(crate) fn name_spooled(&mut self, fs: &dyn Storage, dir: &Path) -> Result<()> {
        self.naming = true;
        if self.named == self.spooled.len() {
            return Ok(());
        }
        self.store(fs, dir)
    }

    /// No window a spooled row names can be sealed again any more (the journal marks
    /// them sealed): their lines are left out of the next rewrite, none is made for
    /// them.
    pub(crate) fn forget_spooled(&mut self) {
        self.spooled.clear();
        self.settled = true;
    }

    /// Whether [`HealthDueFile::forget_spooled`] was called: rows spooled from then on
    /// name windows the journal marks sealed already.
    pub(crate) const fn settled(&self) -> bool {
        self.settled
    }

    /// Replaces the file atomically on the spool's storage.
    fn store(&mut self, fs: &dyn Storage, dir: &Path) -> Result<()> {
        let mut text: String = self
            .due
            .iter()
            .map(|(key, end)| format!("{end} {key}\n"))
            .collect();
        let named = if self.naming { &self.spooled[..] } else { &[] };
        for key in named {
            text.push_str("s ");
            text.push_str(key);
            text.push('\n');
        }
        let path = dir.join(Self::FILE);
        fs.replace(&path, text.as_bytes())
            .map_err(|e| Error::spool("replace", &path, e))?;
        self.named = named.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StdStorage;

    #[test]
    fn spooled_rows_are_named_until_forgotten_and_an_older_parser_skips_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdStorage;
        let mut file = HealthDueFile::default();
        file.add(&fs, dir.path(), "health/a", 1).expect("add");
        file.add(&fs, dir.path(), "health/b", 2).expect("add");
        file.spooled(&fs, dir.path(), "health/a", true)
            .expect("spooled");
        let text = std::fs::read_to_string(dir.path().join("health.due")).expect("read");
        assert_eq!(text, "2 health/b\ns health/a\n");
        // The parser of the builds before these lines (2026-12-04, bc0123d).
        let older: Vec<(String, i64)> = text
            .lines()
            .filter_map(|line| {
                let (end, key) = line.split_once(' ')?;
                Some((key.to_owned(), end.parse().ok()?))
            })
            .collect();
        assert_eq!(older, [("health/b".to_owned(), 2)]);
        let mut file = HealthDueFile::load(&fs, dir.path()).expect("load");
        assert_eq!(file.due(), [("health/b".to_owned(), 2)]);
        assert!(file.was_spooled("health/a") && !file.was_spooled("health/b"));
        // Loaded, the lines are written again only once per-window durability says so
        // (or a row found spooled at a boot is named with them).
        file.add(&fs, dir.path(), "health/c", 3).expect("add");
        let read = || std::fs::read_to_string(dir.path().join("health.due")).expect("read");
        assert_eq!(read(), "2 health/b\n3 health/c\n");
        file.name_spooled(&fs, dir.path()).expect("name");
        assert_eq!(read(), "2 health/b\n3 health/c\ns health/a\n");
        file.retain(&fs, dir.path(), |k| k != "health/c", true)
            .expect("retain");
        assert_eq!(read(), "2 health/b\ns health/a\ns health/c\n");
        assert!(file.was_spooled("health/c"));
        let text = read();
        // Forgotten: no rewrite for that alone; left out of the next one, and rows
        // spooled from then on are not named.
        file.forget_spooled();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("health.due")).expect("read"),
            text
        );
        file.spooled(&fs, dir.path(), "health/b", false)
            .expect("spooled");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("health.due")).expect("read"),
            ""
        );
    }
}
