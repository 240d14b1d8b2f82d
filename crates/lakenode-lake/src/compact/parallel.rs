//! Station-days compacted on several threads, each with its own handle on the lake.
//!
//! Why: a station-day is independent of every other, and one compaction thread left a
//! 2-core machine mostly idle (measured on the 100-station demo day: 21% CPU, waiting
//! for the file system; on a bucket, each station-day's ~200 requests wait on the
//! network one after the other). The workers take station-days from one queue, so
//! memory holds per worker the station-day being built (its files, their rows decoded
//! once) and the daily files of its batch ([`super::batch`]); this thread keeps the
//! lock (extending it every second if need be), merges the totals and reports progress
//! in the order station-days finish.
//!
//! Each worker compacts its station-days exactly as the sequential run does (daily
//! files checked, written as a batch, read back, only then the window files deleted),
//! so a kill leaves each station-day in progress in one of the states the sequential
//! run may leave it in, which the next run finishes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use super::batch::{self, Collector, Done};
use super::{DayDir, Options, Progress, Summary};
use crate::error::{Error, Result};
use crate::lake::LakeStore;

/// How often the lock is looked at while every worker is busy.
const KEEP_LOCK_EVERY: Duration = Duration::from_secs(1);

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
    let total = days.len();
    let queue = Mutex::new(days.into_iter());
    let halt = AtomicBool::new(false);
    let stopping = || {
        halt.load(Ordering::Relaxed)
            || options
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
    };
    let (tx, rx) = mpsc::channel::<Done>();
    let mut collector = Collector {
        done: 0,
        first_error: None,
        halt: &halt,
    };
    std::thread::scope(|scope| {
        for mut handle in handles {
            let (tx, queue, stopping, halt) = (tx.clone(), &queue, &stopping, &halt);
            scope.spawn(move || {
                let mut next = || {
                    if stopping() {
                        return None;
                    }
                    queue.lock().ok().and_then(|mut q| q.next())
                };
                let mut report = |done: Done| tx.send(done).is_ok();
                batch::work(&mut *handle, &mut next, options, false, halt, &mut report);
            });
        }
        drop(tx);
        loop {
            match rx.recv_timeout(KEEP_LOCK_EVERY) {
                Ok(finished) => collector.take(finished, summary, progress),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            keep_lock(lake, &halt, &mut collector.first_error);
        }
    });
    if let Some(e) = collector.first_error {
        return Err(e);
    }
    summary.left = total - collector.done;
    summary.stopped = summary.left > 0;
    Ok(())
}

/// Extends the lock; a lock lost or a failing lake halts the workers (after their
/// station-day in progress) and is the run's error, a signal only halts them.
fn keep_lock(lake: &mut dyn LakeStore, halt: &AtomicBool, first_error: &mut Option<Error>) {
    match lake.keep_lock() {
        Ok(()) => {}
        Err(Error::Stopped(_)) => halt.store(true, Ordering::Relaxed),
        Err(e) => {
            halt.store(true, Ordering::Relaxed);
            first_error.get_or_insert(e);
        }
    }
}
