//! Station-days written in batches: each worker builds and checks the daily files of
//! [`BATCH`] station-days, then writes them together ([`LakeStore::put_many_if`]: on
//! a local lake, one wait on the disk for the batch instead of two per file), reads
//! each back and compares it byte for byte with the bytes it checked, and only then
//! deletes the window files of the station-days written (one `delete_many`).
//!
//! A kill at any instant leaves each station-day of the batch in a state the
//! one-by-one compaction may leave it in: its window files all there (the daily file
//! not written, or written but not yet durable under a temporary name the next run
//! removes), or its daily file durable and listing them (the next run deletes them).

use std::sync::atomic::{AtomicBool, Ordering};

use super::{DayDir, DayError, Options, Progress, Staged, Summary, compact_day};
use crate::error::Error;
use crate::lake::{LakeStore, PutIf};

/// Station-days a worker writes at once (memory holds their daily files).
pub(super) const BATCH: usize = 16;

/// What became of a station-day: its directory, the totals it added, its outcome.
pub(super) type Done = (String, Summary, Result<(), DayError>);

/// Compacts the station-days `next` gives, [`BATCH`] at a time, handing each outcome
/// to `report` (which returns `false` to stop). `keep_lock`: extend the lake's lock
/// before each station-day (the one handle of a sequential run holds it). `halt`:
/// set when the lake failed or the lock was lost; the batch in progress is then left
/// unwritten (as a kill would leave it), while after a signal it is written.
pub(super) fn work(
    lake: &mut dyn LakeStore,
    next: &mut dyn FnMut() -> Option<DayDir>,
    options: &Options,
    keep_lock: bool,
    halt: &AtomicBool,
    report: &mut dyn FnMut(Done) -> bool,
) {
    let mut batch: Vec<(String, Vec<Staged>)> = Vec::new();
    let mut failed = false;
    while let Some(day) = next() {
        let lock = if keep_lock {
            lake.keep_lock().map_err(DayError::Fatal)
        } else {
            Ok(())
        };
        match lock.and_then(|()| compact_day(lake, &day, options)) {
            Ok(staged) => batch.push((day.dir, staged)),
            Err(e) => {
                failed = matches!(e, DayError::Fatal(_));
                if !report((day.dir, Summary::default(), Err(e))) || failed {
                    break;
                }
            }
        }
        if batch.len() >= BATCH && !flush(lake, &mut batch, report) {
            return;
        }
    }
    // What is built and checked is written after a stop by a signal, not after the
    // lake failed or the lock was lost.
    if !failed && !halt.load(Ordering::Relaxed) {
        flush(lake, &mut batch, report);
    }
}

/// Commits `batch` and reports its station-days; `false` if `report` asked to stop.
fn flush(
    lake: &mut dyn LakeStore,
    batch: &mut Vec<(String, Vec<Staged>)>,
    report: &mut dyn FnMut(Done) -> bool,
) -> bool {
    if batch.is_empty() {
        return true;
    }
    let days = std::mem::take(batch);
    let dirs: Vec<String> = days.iter().map(|(d, _)| d.clone()).collect();
    match commit(lake, days) {
        Ok(done) => done.into_iter().all(&mut *report),
        Err(e) => {
            // The lake failed: the first station-day carries the error, the others
            // are left for the next run as a kill would leave them.
            let first = dirs.first().cloned().unwrap_or_default();
            let mut error = Some(e);
            dirs.into_iter().all(|dir| {
                let e = error.take().unwrap_or_else(|| {
                    Error::Stopped(format!("writing the batch of {first} failed"))
                });
                report((dir, Summary::default(), Err(DayError::Fatal(e))))
            })
        }
    }
}

/// Writes the batch's daily files, reads each back, then deletes the window files of
/// the station-days whose daily files are as checked.
fn commit(lake: &mut dyn LakeStore, days: Vec<(String, Vec<Staged>)>) -> Result<Vec<Done>, Error> {
    let mut puts = Vec::new();
    let mut at = Vec::new();
    for (d, (_, groups)) in days.iter().enumerate() {
        for (g, staged) in groups.iter().enumerate() {
            if let Some(p) = &staged.put {
                puts.push(PutIf {
                    key: p.key.clone(),
                    body: p.body.to_vec(),
                    expected: p.expected.clone(),
                });
                at.push((d, g));
            }
        }
    }
    let written = if puts.is_empty() {
        Vec::new()
    } else {
        lake.put_many_if(puts)?
    };
    let mut ok: Vec<Vec<bool>> = days.iter().map(|(_, g)| vec![true; g.len()]).collect();
    let mut failed: Vec<Option<String>> = vec![None; days.len()];
    for (&(d, g), was_written) in at.iter().zip(written) {
        let Some(p) = &days[d].1[g].put else {
            continue;
        };
        if !was_written {
            // Only over the daily file this run read (or none): a daily file written
            // meanwhile may hold rows this run never saw.
            failed[d] = Some(format!(
                "{} was written by another run while this one compacted the day; left as \
                 it is (run again)",
                p.target
            ));
            ok[d][g] = false;
            continue;
        }
        // The lake's copy must be the bytes that were decoded and checked against the
        // inputs, byte for byte, before any window file is deleted.
        if lake.get(&p.key)? != p.body[..] {
            // Never leave a file that failed its check where a rerun would trust it.
            match &p.restore {
                Some(old) => lake.put(&p.key, old.to_vec())?,
                None => lake.delete(&p.key)?,
            }
            failed[d] = Some(format!(
                "the daily file {} read back differs from the bytes written; it was removed \
                 and the window files kept",
                p.target
            ));
            ok[d][g] = false;
        }
    }
    let deletes: Vec<Vec<String>> = days
        .iter()
        .enumerate()
        .map(|(d, (_, groups))| {
            groups
                .iter()
                .enumerate()
                .filter(|(g, _)| ok[d][*g])
                .flat_map(|(_, s)| s.deletes.iter().cloned())
                .collect()
        })
        .collect();
    if let Err(e) = lake.delete_many(&deletes.concat()) {
        if matches!(e, Error::Stopped(_) | Error::LockLost(_)) {
            return Err(e);
        }
        // A window file that cannot be deleted (read-only, immutable, refused by the
        // bucket) holds back its own station-day only: the others' window files must
        // not stay beside their daily files. Day by day, then, to know whose it is.
        for (d, keys) in deletes.iter().enumerate() {
            match lake.delete_many(keys) {
                Ok(()) => {}
                Err(e @ (Error::Stopped(_) | Error::LockLost(_))) => return Err(e),
                Err(e) => {
                    failed[d] = Some(format!(
                        "its daily file is written and checked, but its window files could \
                         not all be deleted ({e}): readers of the window files see those \
                         rows twice until a run deletes them"
                    ));
                }
            }
        }
    }
    Ok(days
        .into_iter()
        .enumerate()
        .map(|(d, (dir, groups))| {
            let mut part = Summary::default();
            for (g, staged) in groups.into_iter().enumerate() {
                if ok[d][g] {
                    part.absorb(staged.part);
                }
            }
            let outcome = failed[d].take().map_or(Ok(()), |w| Err(DayError::Skip(w)));
            (dir, part, outcome)
        })
        .collect())
}

/// Merges the workers' outcomes into the run's totals, as they come.
pub(super) struct Collector<'a> {
    /// Station-days finished (compacted or skipped).
    pub(super) done: usize,
    /// The first failure of the lake itself.
    pub(super) first_error: Option<Error>,
    /// Set on a failure or a signal: the workers stop after their station-day.
    pub(super) halt: &'a AtomicBool,
}

impl Collector<'_> {
    /// Takes one station-day's outcome.
    pub(super) fn take(
        &mut self,
        (dir, part, outcome): Done,
        summary: &mut Summary,
        progress: &mut dyn Progress,
    ) {
        summary.absorb(part);
        match outcome {
            Ok(()) => {}
            Err(DayError::Skip(why)) => {
                let why = format!("{dir}: {why}");
                tracing::warn!("left as it is: {why}");
                summary.skipped.push(why);
            }
            // A signal ended a request's retries: that day's step is abandoned, as a
            // kill would have (safe at any instant, finished by the next run).
            Err(DayError::Fatal(Error::Stopped(why))) => {
                tracing::warn!("{why}; {dir} is left for the next run");
                self.halt.store(true, Ordering::Relaxed);
                return;
            }
            Err(DayError::Fatal(e)) => {
                self.halt.store(true, Ordering::Relaxed);
                self.first_error.get_or_insert(e);
                return;
            }
        }
        self.done += 1;
        progress.advance(self.done, summary);
    }
}
