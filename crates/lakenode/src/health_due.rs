//! The health rows due (`health.due` in the station's directory): a sealed window's
//! health row is owed from the moment its data file is spooled until the row itself is
//! spooled. The list is written when a window is sealed (after its data file, before the
//! journal is told the window is sealed) and when the row is spooled, so a station
//! killed or powered off in between makes the row at its next start (see
//! [`crate::station::Station::take_health_row`]).

use std::path::Path;

use crate::storage::Storage;
use crate::{Error, Result};

/// `health.due`: one `<window end ms> <health key>` line per row owed, oldest first.
#[derive(Debug, Default)]
pub(crate) struct HealthDueFile {
    due: Vec<(String, i64)>,
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
        let due = text
            .lines()
            .filter_map(|line| {
                let (end, key) = line.split_once(' ')?;
                Some((key.to_owned(), end.parse().ok()?))
            })
            .collect();
        Ok(Self { due })
    }

    /// The rows owed: (health key, window end ms), oldest first.
    pub(crate) fn due(&self) -> &[(String, i64)] {
        &self.due
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

    /// No longer owes the rows `keep` refuses; writes the file if one was owed.
    pub(crate) fn retain(
        &mut self,
        fs: &dyn Storage,
        dir: &Path,
        keep: impl Fn(&str) -> bool,
    ) -> Result<()> {
        let before = self.due.len();
        self.due.retain(|(k, _)| keep(k));
        if self.due.len() == before {
            return Ok(());
        }
        self.store(fs, dir)
    }

    /// Replaces the file atomically on the spool's storage.
    fn store(&self, fs: &dyn Storage, dir: &Path) -> Result<()> {
        let text: String = self
            .due
            .iter()
            .map(|(key, end)| format!("{end} {key}\n"))
            .collect();
        let path = dir.join(Self::FILE);
        fs.replace(&path, text.as_bytes())
            .map_err(|e| Error::spool("replace", &path, e))
    }
}
