//! Batched uploads (`upload_every`): sealed windows and health rows wait in the spool
//! and go out together, oldest first, back to back, when a batch opens:
//!
//! - at each multiple of the period on the UTC clock (every 2 min: on the even minute),
//!   like windows are aligned, so that a fleet's batches and a reader's expectations
//!   line up;
//! - earlier when the spool passes its high-water mark (bytes), so a long period never
//!   fills the spool to its limit and drops files. The mark is at most half the spool
//!   limit (the default: half): the window that crosses it, and those sealed while the
//!   batch drains (a slow link, retries), need room too; a mark near the limit would
//!   let them push the oldest files out ([`check_high_water`]);
//! - at once, and from then on for good, once the input ends or the node stops
//!   ([`Batching::send_all`]): what waits is sent.
//!
//! A batch stays open until nothing is left to send: a failure inside it is retried by
//! the usual [`RetryPolicy`](crate::schedule::RetryPolicy) (pauses and give-up alike),
//! and files sealed meanwhile join it. Nothing about what is sent changes: the same
//! spool entries, keys and bytes, removed only once S3 confirmed them, so a restart
//! mid-batch sends what is left at the next batch, none twice but the one that was in
//! flight (a PUT of the same key and bytes again).
//!
//! Why: each batch costs one connection (TLS handshake, keep-alive for the rest) and,
//! on the device, one radio wake-up, instead of one per window.
//!
//! ```
//! # use std::time::Duration;
//! let mut config = lakenode::StationConfig::new(
//! #   lakenode::layout::StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e")?,
//! #   lakenode::s3::S3Client::new(
//! #       &lakenode::s3::S3Config::new("http://127.0.0.1:9000", "lake", "us-east-1", true)?,
//! #       lakenode::s3::Credentials::new("AKIAIOSFODNN7EXAMPLE", "secret", None))?,
//!     // ...
//! );
//! config.upload_every = Some(Duration::from_secs(120)); // batches on the even minutes
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::Duration;

/// Refuses a high-water mark above half the spool limit (see the module docs): files
/// would be dropped before or while the batch it opens drains. Without a limit, any
/// mark goes.
///
/// # Errors
/// [`Error::Config`](crate::Error::Config) for `batch_high_water`.
pub(super) fn check_high_water(
    high_water: Option<u64>,
    spool_limit: Option<u64>,
) -> crate::Result<()> {
    match (high_water, spool_limit) {
        (Some(mark), Some(limit)) if mark > limit / 2 => Err(crate::Error::config(
            "batch_high_water",
            format!(
                "{mark} bytes is above half the spool limit ({limit} bytes): files sealed while the batch drains would push the oldest out; give at most {} (the default), or raise the spool limit",
                limit / 2
            ),
        )),
        _ => Ok(()),
    }
}

/// A batch under way.
#[derive(Debug, Clone, Copy, Default)]
struct Open {
    /// Files confirmed in it.
    sent: u64,
    /// Failed attempts in it.
    failed: u64,
}

/// When the uploader may send; see the module docs.
#[derive(Debug)]
pub(super) struct Batching {
    /// The period in ms; 0: no batching (every file goes out when sealed).
    every_ms: i64,
    /// Pending bytes that open a batch early.
    high_water: Option<u64>,
    /// The wall-clock ms of the next opening (set by the first poll with the time).
    next_wall: Option<i64>,
    /// Its monotonic ms, as of the last poll (for `wake_at`).
    next_mono: Option<u64>,
    open: Option<Open>,
    /// The input ended or the node stops: no more holding back.
    send_all: bool,
}

/// What a poll may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Gate {
    /// Send (no batching, or a batch is open).
    Send,
    /// A batch is due: open it if anything waits.
    Due,
    /// Hold everything until the next batch.
    Hold,
}

impl Batching {
    /// `every`: `None` or zero for no batching.
    pub(super) fn new(every: Option<Duration>, high_water: Option<u64>) -> Self {
        let every_ms = every.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Self {
            every_ms,
            high_water,
            next_wall: None,
            next_mono: None,
            open: None,
            send_all: false,
        }
    }

    /// Whether a period is set.
    pub(super) const fn configured(&self) -> bool {
        self.every_ms > 0
    }

    const fn holds(&self) -> bool {
        self.every_ms > 0 && !self.send_all
    }

    /// Whether a batch is open (or there is no batching at all).
    pub(super) const fn is_open(&self) -> bool {
        !self.holds() || self.open.is_some()
    }

    /// From now on, send what waits and hold nothing back.
    pub(super) const fn send_all(&mut self) {
        self.send_all = true;
    }

    /// The next multiple of the period strictly after `wall_ms`.
    fn boundary_after(&self, wall_ms: i64) -> i64 {
        (wall_ms.div_euclid(self.every_ms) + 1).saturating_mul(self.every_ms)
    }

    /// Whether a batch is due at `wall_ms` with `pending_bytes` waiting, without
    /// changing anything (the driver's radio asks this before polling).
    pub(super) fn due(&self, wall_ms: Option<i64>, pending_bytes: u64) -> bool {
        if self.is_open() {
            return true;
        }
        self.high_water.is_some_and(|hw| pending_bytes >= hw)
            || wall_ms.is_some_and(|w| self.next_wall.is_some_and(|next| w >= next))
    }

    /// Sets the next opening, if none is set yet (the first batch after the station
    /// opened: the next multiple of the period), and its monotonic instant as of now.
    pub(super) fn arm(&mut self, mono_ms: u64, wall_ms: i64) {
        if !self.holds() {
            return;
        }
        let next = self
            .next_wall
            .unwrap_or_else(|| self.boundary_after(wall_ms));
        self.next_wall = Some(next);
        self.next_mono =
            Some(mono_ms.saturating_add(u64::try_from(next.saturating_sub(wall_ms)).unwrap_or(0)));
    }

    /// The poll's gate at `mono_ms`/`wall_ms`; remembers the next opening.
    pub(super) fn gate(&mut self, mono_ms: u64, wall_ms: i64, pending_bytes: u64) -> Gate {
        if self.open.is_some() || !self.configured() {
            return Gate::Send;
        }
        if self.send_all {
            return Gate::Due; // the last batch: what waits at the end or the stop
        }
        self.arm(mono_ms, wall_ms);
        if self.due(Some(wall_ms), pending_bytes) {
            Gate::Due
        } else {
            Gate::Hold
        }
    }

    /// A due batch opens (something waits).
    pub(super) fn open(&mut self) {
        if self.configured() {
            self.open = Some(Open::default());
        }
    }

    /// Nothing waits: a due batch is skipped, an open one closes. Returns the closed
    /// batch's (sent, failed) counts.
    /// (A batch open when `send_all` came closes too, reported like the others.)
    pub(super) fn close(&mut self, mono_ms: u64, wall_ms: i64) -> Option<(u64, u64)> {
        let closed = self.open.take().map(|o| (o.sent, o.failed));
        if self.holds() {
            let next = self.boundary_after(wall_ms);
            self.next_wall = Some(next);
            self.next_mono = Some(
                mono_ms.saturating_add(u64::try_from(next.saturating_sub(wall_ms)).unwrap_or(0)),
            );
        }
        closed
    }

    /// A file of the open batch was confirmed.
    pub(super) fn sent(&mut self) {
        if let Some(o) = &mut self.open {
            o.sent += 1;
        }
    }

    /// An attempt of the open batch failed.
    pub(super) fn failed(&mut self) {
        if let Some(o) = &mut self.open {
            o.failed += 1;
        }
    }

    /// The monotonic ms at which the next batch opens, while holding.
    pub(super) const fn wake_at(&self) -> Option<u64> {
        if self.is_open() { None } else { self.next_mono }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_open_on_the_period_grid_of_the_wall_clock() {
        let mut b = Batching::new(Some(Duration::from_secs(120)), None);
        // 10 s past an even minute: the next batch opens 110 s later.
        assert_eq!(b.gate(1_000, 130_000, 0), Gate::Hold);
        assert_eq!(b.wake_at(), Some(1_000 + 110_000));
        assert_eq!(b.gate(111_000, 240_000, 0), Gate::Due);
        b.open();
        assert_eq!(b.gate(112_000, 241_000, 0), Gate::Send);
        b.sent();
        assert_eq!(b.close(113_000, 242_000), Some((1, 0)));
        assert_eq!(b.wake_at(), Some(113_000 + 118_000));
    }

    #[test]
    fn high_water_opens_early_and_send_all_stops_holding() {
        let mut b = Batching::new(Some(Duration::from_secs(600)), Some(1_000));
        assert_eq!(b.gate(0, 1_000, 999), Gate::Hold);
        assert_eq!(b.gate(0, 1_000, 1_000), Gate::Due);
        b.send_all();
        // What waits goes out in one last batch, at once.
        assert_eq!(b.gate(0, 1_000, 0), Gate::Due);
        b.open();
        assert_eq!(b.gate(0, 1_000, 0), Gate::Send);
        assert_eq!(b.close(0, 1_000), Some((0, 0)));
        assert_eq!(b.wake_at(), None);
    }

    #[test]
    fn without_a_period_nothing_is_held() {
        let mut b = Batching::new(None, Some(1));
        assert_eq!(b.gate(0, 1_000, 0), Gate::Send);
        assert!(b.is_open());
    }
}
