//! Station-days compacted on several threads, each with its own handle on the lake.
//!
//! Why: a station-day is independent of every other, and one compaction thread left a
//! 2-core machine mostly idle (measured on the 100-station demo day: 21% CPU, waiting
//! for the file system). The workers take station-days from one queue, so memory holds
//! at most one station-day per worker; this thread keeps the lock, merges the totals
//! and reports progress in the order station-days finish.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};

use super::{DayDir, DayError, Options, Progress, Summary, compact_day};
use crate::error::Result;
use crate::lake::LakeStore;

/// Most station-days compacted at once.
pub(super) const MAX_WORKERS: usize = 8;

/// Compacts `days` on one thread per handle, adding to `summary`.
///
/// # Errors
/// The first failure of the lake itself (the other workers stop after the station-day
/// in progress), as the sequential run would.
pub(super) fn run(
    lake: &mut dyn LakeStore,
    handles: Vec<Box<dyn LakeStore + Send>>,
    days: Vec<DayDir>,
    options: &Options,
    summary: &mut Summary,
    progress: &mut dyn Progress,
) -> Result<()> {
    let queue = Mutex::new(days.into_iter());
    let failed = AtomicBool::new(false);
    let stopping = || {
        failed.load(Ordering::Relaxed)
            || options
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
    };
    let (tx, rx) = mpsc::channel::<(Summary, std::result::Result<(), DayError>, String)>();
    let mut first_error = None;
    std::thread::scope(|scope| {
        for mut handle in handles {
            let (tx, queue, stopping) = (tx.clone(), &queue, &stopping);
            scope.spawn(move || {
                while !stopping() {
                    let Some(day) = queue.lock().ok().and_then(|mut q| q.next()) else {
                        break;
                    };
                    let mut part = Summary::default();
                    let outcome = compact_day(&mut *handle, &day, options, &mut part);
                    if tx.send((part, outcome, day.dir)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut done = 0;
        for (part, outcome, dir) in rx {
            summary.absorb(part);
            match outcome {
                Ok(()) => {}
                Err(DayError::Skip(why)) => {
                    let why = format!("{dir}: {why}");
                    tracing::warn!("left as it is: {why}");
                    summary.skipped.push(why);
                }
                Err(DayError::Fatal(e)) => {
                    failed.store(true, Ordering::Relaxed);
                    first_error.get_or_insert(e);
                    continue;
                }
            }
            done += 1;
            progress.advance(done, summary);
            if let Err(e) = lake.keep_lock() {
                failed.store(true, Ordering::Relaxed);
                first_error.get_or_insert(e);
            }
        }
    });
    if let Some(e) = first_error {
        return Err(e);
    }
    summary.left = queue.lock().map_or(0, |q| q.len());
    summary.stopped = summary.left > 0;
    Ok(())
}
