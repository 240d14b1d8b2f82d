//! Health-row scheduling: each sealed window (with health rows on) makes one row due,
//! filled with the station's own figures here; the adapter adds the device's (heap,
//! RSSI, sensors, reset reason) and hands it back to be spooled into the health tree.

use crate::Result;
use crate::health::HealthRow;

use super::{Now, Station};

/// A sealed window whose health row is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HealthDue {
    /// The health row's object key.
    pub(super) key: String,
    /// The end of the window it reports on (its timestamp).
    pub(super) window_end_ms: i64,
}

impl Station {
    /// The next health row due (a window was sealed with health rows on), filled with
    /// the station's fields: the adapter adds the device's (heap, RSSI, sensors, reset
    /// reason) and hands it to [`Station::spool_health`].
    pub fn take_health_row(&mut self, now: &Now) -> Option<(String, HealthRow)> {
        let HealthDue { key, window_end_ms } = self.health_due.pop_front()?;
        let spool = self.recorder.spool().stats();
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let mut row = HealthRow::new(window_end_ms);
        // The adapter's monotonic clock starts at boot (device) or process start (host).
        row.uptime_s = as_i64(now.mono_ms / 1000);
        row.spool_files = i64::try_from(spool.pending_files).unwrap_or(i64::MAX);
        row.spool_bytes = as_i64(spool.pending_bytes);
        row.dropped_files = as_i64(spool.dropped_files);
        row.upload_failures = as_i64(self.counters.upload_failures);
        row.clock_steps = Some(as_i64(self.counters.clock_steps));
        Some((key, row))
    }

    /// Spools a health row under the key [`Station::take_health_row`] gave.
    ///
    /// # Errors
    /// Spool or encoding failures.
    pub fn spool_health(&mut self, key: &str, row: &HealthRow) -> Result<()> {
        self.uploader.spooled(false);
        let (_, dropped) = self.recorder.spool_health(key, row)?;
        self.dropped(&dropped);
        Ok(())
    }
}
