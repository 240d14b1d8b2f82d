//! Recording: live samples dated (or held until the first time sync), dated samples
//! journaled and windowed, sealed windows counted and reported. Nothing here waits for
//! the uploads: a sealed file only tells the [`Uploader`](super::uploader) that the
//! spool has work.

use crate::clock::{FUTURE_TOLERANCE, is_plausible};
use crate::health::health_key_for;
use crate::layout::rfc3339;
use crate::recorder::SealedFile;
use crate::sample::Sample;
use crate::spool::DroppedFile;
use crate::{Error, Result};

use super::{Event, HealthDue, Now, Station};

impl Station {
    /// At a stop before the first time sync: drops the samples held until then (they
    /// cannot be dated), counts them in [`Counters::unsynced_dropped`](super::Counters::unsynced_dropped) and reports them.
    pub fn drop_unsynced(&mut self) {
        let n = self.keeper.drop_held();
        if n > 0 {
            self.counters.unsynced_dropped += n as u64;
            self.events.push_back(Event::Error {
                message: format!(
                    "{n} sample(s) taken before the wall clock was synchronised were never dated and are lost"
                ),
            });
        }
    }

    /// A live sample taken at `now` (its own timestamp is ignored): dated from the wall
    /// clock, or held until the first time sync and dated then (see
    /// [`TimeKeeper`]).
    ///
    /// # Errors
    /// Spool or encoding failures (the journal keeps what it has).
    pub fn sample(&mut self, now: &Now, sample: Sample) -> Result<()> {
        let mono = i64::try_from(now.mono_ms).unwrap_or(i64::MAX);
        if let Some(wall) = now.wall.filter(|w| is_plausible(*w)) {
            self.keeper.sync(mono, wall);
        }
        let before = self.keeper.dropped();
        let ready = self.keeper.stamp(mono, sample);
        self.counters.unsynced_dropped += self.keeper.dropped() - before;
        for s in ready {
            self.record(now, s)?;
        }
        Ok(())
    }

    /// Records a dated sample (from a CSV, a simulation, or [`Station::sample`]).
    /// A sample that is not after the previous one is skipped and counted, unless the
    /// recorded timeline lies more than [`FUTURE_TOLERANCE`] ahead of the wall clock:
    /// then that timeline was written by a bad clock, its open window is sealed as it
    /// is, and recording continues from this sample.
    ///
    /// # Errors
    /// Spool or encoding failures.
    pub fn record(&mut self, now: &Now, sample: Sample) -> Result<()> {
        let result = match self.recorder.record(sample) {
            Err(Error::OutOfOrder { previous_ms, .. })
                if now.wall_ms().is_some_and(|w| {
                    previous_ms > w.saturating_add(FUTURE_TOLERANCE.as_millis() as i64)
                }) =>
            {
                let wall_ms = now.wall_ms().unwrap_or_default();
                if let Some(sealed) = self.recorder.reset_timeline()? {
                    self.sealed(&sealed);
                }
                self.events.push_back(Event::TimelineReset {
                    recorded_ms: previous_ms,
                    wall_ms,
                });
                self.recorder.record(sample)
            }
            other => other,
        };
        match result {
            Ok(sealed) => {
                self.counters.samples += 1;
                if let Some(sealed) = sealed {
                    self.sealed(&sealed);
                }
                Ok(())
            }
            Err(Error::OutOfOrder { previous_ms, .. }) => {
                self.skip(
                    sample.timestamp_ms,
                    format!("not after the previous one at {}", rfc3339(previous_ms)),
                );
                Ok(())
            }
            Err(Error::UnsetClock { .. }) => {
                self.skip(
                    sample.timestamp_ms,
                    "dated before 2001: the clock is not set".into(),
                );
                Ok(())
            }
            Err(Error::ImplausibleSample { reason, .. }) => {
                self.skip(sample.timestamp_ms, reason.into());
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn skip(&mut self, timestamp_ms: i64, reason: String) {
        self.counters.skipped_samples += 1;
        self.events.push_back(Event::Skipped {
            timestamp_ms,
            reason,
        });
    }

    fn sealed(&mut self, sealed: &SealedFile) {
        self.uploader.spooled(true);
        self.counters.sealed_files += 1;
        self.counters.sealed_rows += sealed.rows as u64;
        self.events.push_back(Event::Sealed {
            key: sealed.key.to_string(),
            rows: sealed.rows,
            bytes: sealed.bytes,
        });
        self.dropped(&sealed.dropped);
        if !self.health {
            return;
        }
        let key = health_key_for(self.recorder.config().prefix.as_ref(), sealed.key.as_str());
        // A window sealed again (the power went before the journal was told it was
        // sealed, and the boot replayed it or produced it again) is owed already, from
        // `health.due` (one row), or its row was spooled already: the recorder says
        // which rows are owed.
        let owed = self.recorder.health_due().iter().any(|(k, _)| *k == key);
        if owed && !self.health_due.iter().any(|due| due.key == key) {
            let end = sealed.window_start_ms + self.spec().window_ms();
            self.health_due.push_back(HealthDue {
                key,
                window_end_ms: end,
            });
        }
    }

    pub(super) fn dropped(&mut self, dropped: &[DroppedFile]) {
        for d in dropped {
            self.counters.dropped_files += 1;
            self.events.push_back(Event::Dropped {
                key: d.key.clone(),
                bytes: d.bytes,
            });
        }
    }

    /// Seals the open window now (end of input, shutdown).
    ///
    /// # Errors
    /// Spool or encoding failures.
    pub fn flush(&mut self) -> Result<()> {
        if let Some(sealed) = self.recorder.flush()? {
            self.sealed(&sealed);
        }
        Ok(())
    }
}
