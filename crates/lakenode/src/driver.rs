//! The adapter loop around a [`Station`], shared by the host CLI and the firmware: read
//! the time, take a sample when one is due, hand out the request the station names,
//! give it the reply, sleep until the next instant. Two shapes: [`run_live`] samples in
//! real time until stopped; [`run_batch`] records dated samples (a CSV, a simulation) as
//! fast as it can and then delivers, giving up after a bounded time.
//!
//! **Sampling never waits for S3.** Requests go to a [`Link`], which sends them on its
//! own thread ([`ThreadLink`]); the loop waits for a reply only until the next sample is
//! due. The spool is the queue between the two: a request that stalls to its timeout,
//! or an endpoint down for days, delays uploads, never samples.
//!
//! ```no_run
//! use lakenode::driver::{Adapter, ThreadLink, run_live};
//! use lakenode::{Station, Transport};
//!
//! /// What a platform's `main` does once it has its parts.
//! fn node_main(
//!     station: &mut Station,
//!     device: &mut impl Adapter,
//!     transport: impl Transport + Send + 'static,
//! ) -> Result<(), Box<dyn std::error::Error>> {
//!     let mut link = ThreadLink::spawn(transport, 32 * 1024)?;
//!     run_live(station, device, &mut link)?; // returns when the adapter says stop
//!     Ok(())
//! }
//! ```

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::Result;
use crate::clock::FUTURE_TOLERANCE;
use crate::health::{HealthRow, Tree};
use crate::journal::Durability;
use crate::s3::S3Failure;
use crate::sample::Sample;
use crate::station::{Delivery, Event, Now, Station};
use crate::transport::{HttpRequest, HttpResponse, Transport, TransportError};

/// A reply, or why none came.
pub type Reply = std::result::Result<HttpResponse, TransportError>;

/// The platform side of the loop: time, sensors, device health, logging, stopping.
pub trait Adapter {
    /// The time now. The monotonic part must be the clock the [`Link`] waits on.
    fn now(&mut self) -> Now;
    /// Reads the sensors for the sample due at `at` (its timestamp is set by the
    /// station).
    fn read_sensors(&mut self, at: &Now) -> Sample;
    /// Adds the device's fields (heap, RSSI, sensor states, reset reason) to a health
    /// row.
    fn fill_health(&mut self, _row: &mut HealthRow) {}
    /// Reports an event (log it).
    fn on_event(&mut self, event: &Event);
    /// Sees the station after each step of the loop (after its events were reported),
    /// to publish its counters and status (the CLI's metrics). Called once per sample
    /// in a batch: keep it cheap, and rate-limit anything that lists the spool.
    fn observe(&mut self, _station: &Station) {}
    /// Called on every turn of the loop (feed a watchdog here); `false` stops it.
    fn keep_running(&mut self) -> bool {
        true
    }
    /// Whether the network is up; no request is handed out while it is not.
    fn online(&mut self) -> bool {
        true
    }
    /// With batched uploads: the link is wanted (`true`, before the first request of a
    /// batch: bring the radio and the time sync up) or no longer (`false`, after the
    /// batch's last reply: the radio may go off). Never called without batching.
    fn radio(&mut self, _on: bool) {}
}

/// Sends requests without blocking the loop.
pub trait Link {
    /// Whether a request is out.
    fn busy(&self) -> bool;
    /// Starts sending `request` and returns at once.
    fn start(&mut self, request: HttpRequest);
    /// Waits up to `timeout` for the reply to the request out (just sleeps when none
    /// is); returns it if it came.
    fn wait(&mut self, timeout: Duration) -> Option<Reply>;
}

/// A [`Link`] over any blocking [`Transport`]: one worker thread sends, the loop goes on.
#[derive(Debug)]
pub struct ThreadLink {
    requests: Sender<HttpRequest>,
    replies: Receiver<Reply>,
    busy: bool,
}

impl ThreadLink {
    /// Starts the worker thread with a stack of `stack_size` bytes (the ESP32 needs it
    /// set: TLS takes ~16 KiB; the host ignores small values).
    ///
    /// # Errors
    /// If the thread cannot be started.
    pub fn spawn<T: Transport + Send + 'static>(
        mut transport: T,
        stack_size: usize,
    ) -> std::io::Result<Self> {
        let (requests, inbox) = mpsc::channel::<HttpRequest>();
        let (outbox, replies) = mpsc::channel();
        std::thread::Builder::new()
            .name("lakenode-upload".into())
            .stack_size(stack_size)
            .spawn(move || {
                for request in inbox {
                    if outbox.send(transport.send(&request)).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Self {
            requests,
            replies,
            busy: false,
        })
    }
}

impl Link for ThreadLink {
    fn busy(&self) -> bool {
        self.busy
    }

    fn start(&mut self, request: HttpRequest) {
        self.busy = self.requests.send(request).is_ok();
    }

    fn wait(&mut self, timeout: Duration) -> Option<Reply> {
        if !self.busy {
            std::thread::sleep(timeout);
            return None;
        }
        match self.replies.recv_timeout(timeout) {
            Ok(reply) => {
                self.busy = false;
                Some(reply)
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                self.busy = false;
                Some(Err(TransportError::Io("the upload thread stopped".into())))
            }
        }
    }
}

/// Longest single wait of the loop, so that `keep_running` (a watchdog) is called often.
const MAX_WAIT: Duration = Duration::from_secs(1);

/// Longest a stopping [`run_live`] goes on sending what waits, with batched uploads.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_secs(20);

/// Hands out the request due now, if the link is free; gives the station any reply
/// that is already there. `radio`: whether the adapter's radio is on (see
/// [`Adapter::radio`]), switched when the station's [`Station::link_wanted`] changes.
fn pump(
    station: &mut Station,
    adapter: &mut impl Adapter,
    link: &mut impl Link,
    radio: &mut bool,
) -> Result<()> {
    if link.busy()
        && let Some(reply) = link.wait(Duration::ZERO)
    {
        let now = adapter.now();
        station.on_reply(&now, reply)?;
    }
    let now = adapter.now();
    let wanted = link.busy() || station.link_wanted(&now);
    if wanted != *radio {
        adapter.radio(wanted);
        *radio = wanted;
    }
    if wanted && !link.busy() && adapter.online() {
        let now = adapter.now();
        if let Some(request) = station.poll(&now)? {
            link.start(request);
        }
    }
    Ok(())
}

/// A stopping [`run_live`] or [`run_batch`] with batched uploads: sends what waits, for at most
/// [`SHUTDOWN_DRAIN`], until the spool is empty or uploads pause or give up.
fn drain_on_stop(
    station: &mut Station,
    adapter: &mut impl Adapter,
    link: &mut impl Link,
    radio: &mut bool,
) -> Result<()> {
    station.send_waiting();
    let deadline = adapter
        .now()
        .mono_ms
        .saturating_add(u64::try_from(SHUTDOWN_DRAIN.as_millis()).unwrap_or(u64::MAX));
    loop {
        pump(station, adapter, link, radio)?;
        report(station, adapter)?;
        let now = adapter.now();
        let stuck = matches!(
            station.delivery(),
            Delivery::Paused { .. } | Delivery::GaveUp { .. }
        );
        if stuck || now.mono_ms >= deadline || (!link.busy() && station.is_drained()?) {
            return Ok(());
        }
        let timeout = wait_for(station, link, &now, Some(deadline));
        if let Some(reply) = link.wait(timeout) {
            let now = adapter.now();
            station.on_reply(&now, reply)?;
        }
    }
}

/// Passes the station's events to the adapter, and spools due health rows.
fn report(station: &mut Station, adapter: &mut impl Adapter) -> Result<()> {
    let now = adapter.now();
    while let Some((key, mut row)) = station.take_health_row(&now) {
        adapter.fill_health(&mut row);
        station.spool_health(&key, &row)?;
    }
    for event in station.events() {
        adapter.on_event(&event);
    }
    adapter.observe(station);
    Ok(())
}

/// How long to wait from `now`: until the earlier of `until_ms` and the station's next
/// upload instant (if the link is free), at most [`MAX_WAIT`].
fn wait_for(station: &Station, link: &impl Link, now: &Now, until_ms: Option<u64>) -> Duration {
    let upload = if link.busy() { None } else { station.wake_at() };
    let target = match (until_ms, upload) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(u64::MAX),
    };
    Duration::from_millis(target.saturating_sub(now.mono_ms)).min(MAX_WAIT)
}

/// The smallest jump of the wall clock against the monotonic one, between two turns of
/// the loop (at most [`MAX_WAIT`] apart), taken for a step rather than drift.
pub const CLOCK_STEP: Duration = Duration::from_secs(1);

/// The next sample instant after `now`, never more than about one interval after
/// `previous` on the monotonic clock, whatever the wall clock does:
///
/// - unsynchronised: `interval_ms` after `previous` on the monotonic clock;
/// - normally: the next instant of the UTC grid of `interval_ms`;
/// - the wall clock behind the recorded timeline by more than a quarter interval (it
///   stepped back): the timeline goes on at half speed, sampled every interval on the
///   monotonic clock and dated half an interval apart, until the wall clock catches
///   up. No instant is recorded twice and none is skipped; dates err by at most the
///   step, less with every sample;
/// - behind by more than [`FUTURE_TOLERANCE`] and an interval: the grid of the wall
///   clock again (the station closes the recorded timeline, see [`Station::record`]).
fn next_instant(now: &Now, previous: Option<&Now>, interval_ms: i64) -> Now {
    let step = u64::try_from(interval_ms).unwrap_or(5_000);
    let Some(wall) = now.wall_ms() else {
        return Now {
            mono_ms: previous
                .map_or(now.mono_ms, |p| p.mono_ms + step)
                .max(now.mono_ms),
            wall: None,
        };
    };
    let last = previous.and_then(|p| p.wall_ms().map(|w| (p.mono_ms, w)));
    // Beyond this, the instant dated from the wall clock lies more than
    // `FUTURE_TOLERANCE` before the previous one: the station closes the timeline.
    let tolerance = i64::try_from(FUTURE_TOLERANCE.as_millis())
        .unwrap_or(i64::MAX)
        .saturating_add(interval_ms);
    let behind = last.map_or(0, |(_, p)| p - wall);
    if behind > interval_ms / 4
        && behind <= tolerance
        && let Some((mono, p)) = last
    {
        let next = p + (interval_ms / 2).max(1);
        return Now::synced(
            (mono + step).max(now.mono_ms),
            Timestamp::from_millisecond(next).unwrap_or(Timestamp::UNIX_EPOCH),
        );
    }
    // Strictly after the previous instant: a wake-up a little early (the monotonic and
    // wall clocks drift apart) must not take the same one twice.
    let after = last
        .map(|(_, p)| p)
        .filter(|_| behind <= tolerance)
        .map_or(wall, |p| p.max(wall));
    let next = (after.div_euclid(interval_ms) + 1) * interval_ms;
    let ahead = u64::try_from(next - wall).unwrap_or(step);
    Now::synced(
        now.mono_ms + ahead,
        Timestamp::from_millisecond(next).unwrap_or(Timestamp::UNIX_EPOCH),
    )
}

/// Tells the station when the wall clock moved against the monotonic one by at least
/// [`CLOCK_STEP`] since the last reading (`offset`: wall minus monotonic ms).
fn watch_clock(station: &mut Station, now: &Now, offset: &mut Option<i64>) {
    let Some(wall) = now.wall_ms() else {
        return;
    };
    let current = wall.saturating_sub(i64::try_from(now.mono_ms).unwrap_or(i64::MAX));
    let limit = i64::try_from(CLOCK_STEP.as_millis()).unwrap_or(i64::MAX);
    if let Some(before) = offset.replace(current)
        && (current - before).abs() >= limit
    {
        station.clock_stepped(SignedDuration::from_millis(current - before));
    }
}

/// Samples in real time until [`Adapter::keep_running`] says stop, uploading in the
/// background. Errors of the spool are reported as [`Event::Error`] and the loop goes
/// on (a node must not stop over a full disk); it returns only when stopped (samples
/// still held for want of a time sync are then reported lost).
///
/// # Errors
/// None today; the `Result` is for adapters' `?`.
pub fn run_live(
    station: &mut Station,
    adapter: &mut impl Adapter,
    link: &mut impl Link,
) -> Result<()> {
    let interval = station.spec().interval_ms();
    let now = adapter.now();
    let mut due = next_instant(&now, None, interval);
    let mut offset = None;
    let mut radio = true;
    while adapter.keep_running() {
        let now = adapter.now();
        watch_clock(station, &now, &mut offset);
        if now.mono_ms >= due.mono_ms {
            let sample = adapter.read_sensors(&due);
            if let Err(e) = station.sample(&due, sample) {
                adapter.on_event(&Event::Error {
                    message: format!("sample not recorded: {e}"),
                });
            }
            due = next_instant(&now, Some(&due), interval);
        }
        let step = pump(station, adapter, link, &mut radio).and_then(|()| report(station, adapter));
        if let Err(e) = step {
            adapter.on_event(&Event::Error {
                message: format!("spool: {e}"),
            });
        }
        let now = adapter.now();
        if now.mono_ms < due.mono_ms {
            let timeout = wait_for(station, link, &now, Some(due.mono_ms));
            if let Some(reply) = link.wait(timeout) {
                let now = adapter.now();
                if let Err(e) = station.on_reply(&now, reply) {
                    adapter.on_event(&Event::Error {
                        message: format!("spool: {e}"),
                    });
                }
            }
        }
    }
    if station.batches_uploads()
        && let Err(e) = drain_on_stop(station, adapter, link, &mut radio)
    {
        adapter.on_event(&Event::Error {
            message: format!("spool: {e}"),
        });
    }
    station.drop_unsynced();
    for event in station.events() {
        adapter.on_event(&event);
    }
    Ok(())
}

/// How a [`run_batch`] ended.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchEnd {
    /// Every file is in S3 and the spool is empty.
    Delivered,
    /// S3 refused the uploads (credentials, permissions, bucket, not S3); what was not
    /// delivered is in the spool. With `tree` [`Tree::Health`] only health rows were
    /// refused: every data file was delivered first.
    Refused {
        /// The key refused.
        key: String,
        /// The refusal.
        failure: Box<S3Failure>,
        /// The tree of the refused key.
        tree: Tree,
    },
    /// Uploads kept failing until the give-up time; the data is in the spool.
    GaveUp {
        /// Files left in the spool.
        pending: usize,
        /// The last failure.
        last: String,
    },
    /// The adapter asked to stop before delivery ended.
    Stopped,
}

/// A finite run stopped by a signal: with batched uploads, what waits is sent first,
/// for at most [`SHUTDOWN_DRAIN`], as a stopping [`run_live`] does (the rest stays in
/// the spool for the next run).
fn stopped(
    station: &mut Station,
    adapter: &mut impl Adapter,
    link: &mut impl Link,
    radio: &mut bool,
) -> Result<BatchEnd> {
    if station.batches_uploads() {
        drain_on_stop(station, adapter, link, radio)?;
    }
    Ok(BatchEnd::Stopped)
}

/// Back-pressure for an input that can wait: while the spool holds more than half its
/// limit ([`Station::spool_needs_room`]), uploads go on and no sample is taken, so a
/// file imported over a slow link is never thinned out by the limit's drops (a live
/// sensor cannot wait: it records on and the oldest files are dropped). Returns how the
/// run ends if it cannot go on: stopped, S3 refused the data, or no file was confirmed
/// for `give_up_after` (the rest of the input is read by the next run).
fn wait_for_room(
    station: &mut Station,
    adapter: &mut impl Adapter,
    link: &mut impl Link,
    radio: &mut bool,
    give_up_after: Duration,
) -> Result<Option<BatchEnd>> {
    let mut last = (station.counters().uploaded_files, adapter.now().mono_ms);
    while station.spool_needs_room() {
        pump(station, adapter, link, radio)?;
        report(station, adapter)?;
        let now = adapter.now();
        if let Delivery::Paused {
            key, failure, tree, ..
        } = station.delivery()
            && tree == Tree::Data
        {
            let failure = Box::new(failure);
            return Ok(Some(BatchEnd::Refused { key, failure, tree }));
        }
        let uploaded = station.counters().uploaded_files;
        if uploaded != last.0 {
            last = (uploaded, now.mono_ms);
        } else if u128::from(now.mono_ms.saturating_sub(last.1)) >= give_up_after.as_millis() {
            return Ok(Some(BatchEnd::GaveUp {
                pending: station.status().pending_files,
                last: format!(
                    "the spool is over half its --spool-limit and no file was confirmed for {} s; the rest of the input was not read yet (run the same command again)",
                    give_up_after.as_secs()
                ),
            }));
        }
        if !adapter.keep_running() {
            return stopped(station, adapter, link, radio).map(Some);
        }
        let timeout = wait_for(station, link, &now, None);
        if let Some(reply) = link.wait(timeout) {
            let now = adapter.now();
            station.on_reply(&now, reply)?;
        }
    }
    Ok(None)
}

/// Records `samples` (dated) as fast as possible while uploading in the background,
/// then delivers what is spooled: until the spool is empty, S3 refuses, or no file has
/// been confirmed for `give_up_after`.
///
/// # Errors
/// Spool and encoding failures (a finite run stops on them; nothing is lost, the
/// journal and spool keep what was recorded).
pub fn run_batch(
    station: &mut Station,
    samples: impl IntoIterator<Item = Sample>,
    adapter: &mut impl Adapter,
    link: &mut impl Link,
    give_up_after: Duration,
) -> Result<BatchEnd> {
    // Virtual time: a window lost to a crash is produced again from the input, so the
    // journal is synced once per sealed window, not per sample.
    station.set_journal_durability(Durability::PerWindow);
    let mut radio = true;
    for sample in samples {
        if let Some(end) = wait_for_room(station, adapter, link, &mut radio, give_up_after)? {
            return Ok(end);
        }
        let now = adapter.now();
        station.record(&now, sample)?;
        pump(station, adapter, link, &mut radio)?;
        report(station, adapter)?;
        if !adapter.keep_running() {
            return stopped(station, adapter, link, &mut radio);
        }
    }
    let now = adapter.now();
    station.finish_input(&now, give_up_after)?;
    loop {
        let now = adapter.now();
        if !station.give_up_if_overdue(&now)? {
            pump(station, adapter, link, &mut radio)?;
        }
        report(station, adapter)?;
        match station.delivery() {
            // With only health rows refused, this comes once every data file is in.
            Delivery::Paused {
                key, failure, tree, ..
            } => {
                return Ok(BatchEnd::Refused {
                    key,
                    failure: Box::new(failure),
                    tree,
                });
            }
            Delivery::GaveUp { last } => {
                return Ok(BatchEnd::GaveUp {
                    pending: station.status().pending_files,
                    last,
                });
            }
            Delivery::Waiting { .. } if station.is_drained()? => return Ok(BatchEnd::Delivered),
            _ => {}
        }
        if !adapter.keep_running() {
            return stopped(station, adapter, link, &mut radio);
        }
        let now = adapter.now();
        let timeout = wait_for(station, link, &now, None);
        if let Some(reply) = link.wait(timeout) {
            let now = adapter.now();
            station.on_reply(&now, reply)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::{Credentials, S3Client, S3Config};
    use crate::station::{RecorderConfig, StationConfig};
    use std::cell::Cell;
    use std::rc::Rc;

    /// 2026-12-01T00:00:00Z plus the fake monotonic clock.
    const T0: i64 = 1_796_083_200_000;

    /// A fake platform: time only moves when the link waits. Its wall clock runs at
    /// `wall_rate` of the monotonic one (1.0: in step).
    struct FakeAdapter {
        mono: Rc<Cell<u64>>,
        until: u64,
        instants: Vec<u64>,
        wall_rate: f64,
        /// (monotonic ms, by ms): the wall clock steps by `by` from then on.
        steps: Vec<(u64, i64)>,
        /// The UTC time of each sample taken.
        dated: Vec<i64>,
        events: Vec<Event>,
        /// (monotonic ms, on) of each [`Adapter::radio`] call.
        radio: Vec<(u64, bool)>,
    }

    impl Adapter for FakeAdapter {
        fn now(&mut self) -> Now {
            let mono = self.mono.get();
            #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
            let mut wall = T0 + (mono as f64 * self.wall_rate) as i64;
            wall += self
                .steps
                .iter()
                .filter(|(at, _)| mono >= *at)
                .map(|(_, by)| by)
                .sum::<i64>();
            Now::synced(mono, Timestamp::from_millisecond(wall).expect("ts"))
        }
        fn read_sensors(&mut self, at: &Now) -> Sample {
            self.instants.push(at.mono_ms);
            self.dated.extend(at.wall_ms());
            crate::sim::Simulator::new(1).sample_at(0)
        }
        fn on_event(&mut self, event: &Event) {
            self.events.push(event.clone());
        }
        fn keep_running(&mut self) -> bool {
            self.mono.get() < self.until
        }
        fn radio(&mut self, on: bool) {
            self.radio.push((self.mono.get(), on));
        }
    }

    /// An endpoint where every request stalls `stall` and then times out (or, with a
    /// zero stall, is refused at once).
    struct StallingLink {
        mono: Rc<Cell<u64>>,
        stall: u64,
        out_until: Option<u64>,
        requests: u32,
    }

    impl Link for StallingLink {
        fn busy(&self) -> bool {
            self.out_until.is_some()
        }
        fn start(&mut self, _: HttpRequest) {
            self.requests += 1;
            self.out_until = Some(self.mono.get() + self.stall);
        }
        fn wait(&mut self, timeout: Duration) -> Option<Reply> {
            let now = self.mono.get();
            let step = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
            match self.out_until {
                Some(end) if end <= now + step => {
                    self.mono.set(end.max(now));
                    self.out_until = None;
                    Some(Err(TransportError::Timeout("no answer in 30 s".into())))
                }
                _ => {
                    self.mono.set(now + step);
                    None
                }
            }
        }
    }

    fn station(dir: &std::path::Path, interval_ms: i64) -> Station {
        station_with(dir, interval_ms, None)
    }

    /// With `upload_every`: batched uploads.
    fn station_with(
        dir: &std::path::Path,
        interval_ms: i64,
        upload_every: Option<Duration>,
    ) -> Station {
        let s3 = S3Config::new("http://127.0.0.1:1", "lake", "us-east-1", true).expect("cfg");
        let client = S3Client::new(&s3, Credentials::new("AKIAIOSFODNN7EXAMPLE", "x", None))
            .expect("client");
        let station =
            crate::layout::StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e").expect("id");
        let spec = crate::window::WindowSpec::new(interval_ms, 60_000).expect("spec");
        Station::open(
            StationConfig {
                recorder: RecorderConfig {
                    spec,
                    ..RecorderConfig::new(station.clone())
                },
                health: true,
                upload_every,
                ..StationConfig::new(station, client)
            },
            dir,
        )
        .expect("open")
    }

    /// A fake device running until `until` ms with its wall clock at `wall_rate`, and
    /// an endpoint where every request stalls `stall` ms, sharing one fake clock.
    fn fakes(until: u64, wall_rate: f64, stall: u64) -> (FakeAdapter, StallingLink) {
        let mono = Rc::new(Cell::new(0));
        let adapter = FakeAdapter {
            mono: mono.clone(),
            until,
            instants: Vec::new(),
            wall_rate,
            steps: Vec::new(),
            dated: Vec::new(),
            events: Vec::new(),
            radio: Vec::new(),
        };
        let link = StallingLink {
            mono,
            stall,
            out_until: None,
            requests: 0,
        };
        (adapter, link)
    }

    #[test]
    fn sampling_stays_on_cadence_while_every_request_stalls_to_its_timeout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut st = station(dir.path(), 1_000);
        let mono = Rc::new(Cell::new(0));
        let hours = 2 * 3_600_000;
        let mut adapter = FakeAdapter {
            mono: mono.clone(),
            until: hours,
            instants: Vec::new(),
            wall_rate: 1.0,
            steps: Vec::new(),
            dated: Vec::new(),
            events: Vec::new(),
            radio: Vec::new(),
        };
        let mut link = StallingLink {
            mono,
            stall: 30_000,
            out_until: None,
            requests: 0,
        };
        run_live(&mut st, &mut adapter, &mut link).expect("run");
        let gaps: Vec<u64> = adapter.instants.windows(2).map(|w| w[1] - w[0]).collect();
        let worst = gaps.iter().copied().max().unwrap_or(0);
        assert!(
            worst <= 1_500,
            "a gap of {worst} ms between samples at a 1 s interval"
        );
        assert!(
            adapter.instants.len() as u64 >= hours / 1_000 - 2,
            "{} samples",
            adapter.instants.len()
        );
        assert_eq!(st.counters().samples, adapter.instants.len() as u64);
        // The endpoint was really tried, and failed, all along.
        assert!(link.requests >= 20, "{} requests", link.requests);
        assert_eq!(st.counters().uploaded_files, 0);
        assert!(st.counters().upload_failures >= 20);
        // Every minute window (and its health row) waits in the spool.
        assert!(st.status().pending_files >= 2 * 119);
    }

    #[test]
    fn a_batch_against_a_dead_endpoint_gives_up_after_the_bound() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut st = station(dir.path(), 5_000);
        let (mut adapter, mut link) = fakes(u64::MAX, 1.0, 0);
        let sim = crate::sim::Simulator::new(2);
        // Six hours of samples (360 one-minute windows): recorded whatever the endpoint
        // does. A recording that waited on the failing uploads, even a third of the
        // retry's first second a window, would pass the 120 s bound. (A whole day took
        // 12 s natively and 61 s under qemu-user, on tmpfs, 2026-12-04.)
        let samples = (0..4_320).map(|i| sim.sample_at(T0 - 86_400_000 + i * 5_000));
        let end = run_batch(
            &mut st,
            samples,
            &mut adapter,
            &mut link,
            Duration::from_secs(120),
        )
        .expect("run");
        assert!(
            matches!(end, BatchEnd::GaveUp { pending, .. } if pending == 360 * 2),
            "{end:?}"
        );
        let took = adapter.mono.get();
        assert!(took <= 120_000, "gave up after {took} ms");
        assert_eq!(st.counters().samples, 4_320);
    }

    #[test]
    fn a_wall_clock_running_behind_the_monotonic_one_takes_no_instant_twice() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut st = station(dir.path(), 1_000);
        // The wall clock 1% slow: the loop wakes on the monotonic clock a little before
        // the wall clock reaches each grid instant.
        let (mut adapter, mut link) = fakes(600_000, 0.99, 30_000);
        run_live(&mut st, &mut adapter, &mut link).expect("run");
        assert_eq!(
            st.counters().skipped_samples,
            0,
            "an instant was taken twice"
        );
        assert_eq!(st.counters().samples, adapter.instants.len() as u64);
        assert!(adapter.instants.len() >= 590, "{}", adapter.instants.len());
    }

    /// Runs 10 minutes at 1 s with the wall clock stepped by `by` ms at minute 5;
    /// returns the station and the fake device.
    fn stepped(dir: &std::path::Path, by: i64) -> (Station, FakeAdapter) {
        let mut st = station(dir, 1_000);
        let (mut adapter, mut link) = fakes(600_000, 1.0, 30_000);
        adapter.steps.push((300_000, by));
        run_live(&mut st, &mut adapter, &mut link).expect("run");
        (st, adapter)
    }

    /// The longest gap between two samples on the monotonic clock.
    fn worst_gap(adapter: &FakeAdapter) -> u64 {
        let gaps = adapter.instants.windows(2).map(|w| w[1] - w[0]);
        gaps.max().unwrap_or(u64::MAX)
    }

    #[test]
    fn a_wall_clock_stepped_back_a_minute_keeps_the_cadence_and_converges() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut st, adapter) = stepped(dir.path(), -60_000);
        assert!(
            worst_gap(&adapter) <= 1_000,
            "gap {} ms",
            worst_gap(&adapter)
        );
        assert!(adapter.instants.len() >= 599, "{}", adapter.instants.len());
        // Dated strictly later each time: no instant twice, none skipped.
        assert!(adapter.dated.windows(2).all(|w| w[0] < w[1]));
        assert!(adapter.dated.windows(2).all(|w| w[1] - w[0] <= 1_000));
        assert_eq!(st.counters().skipped_samples, 0);
        assert_eq!(st.counters().samples, adapter.instants.len() as u64);
        // Caught up with the wall clock after twice the step: on its grid again.
        let last = *adapter.dated.last().expect("samples");
        assert_eq!(last % 1_000, 0);
        assert!(last <= T0 + 600_000 - 60_000, "{last}");
        assert_eq!(st.counters().clock_steps, 1);
        let steps: Vec<&Event> = adapter
            .events
            .iter()
            .filter(|e| matches!(e, Event::ClockStepped { .. }))
            .collect();
        assert_eq!(
            steps,
            [&Event::ClockStepped {
                by: SignedDuration::from_secs(-60)
            }]
        );
        st.flush().expect("seal the open window");
        let (_, row) = st
            .take_health_row(&adapter_now(&adapter))
            .expect("a health row");
        assert_eq!(row.clock_steps, Some(1));
    }

    fn adapter_now(adapter: &FakeAdapter) -> Now {
        Now::synced(adapter.mono.get(), Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn a_wall_clock_stepped_back_hours_closes_the_timeline_and_samples_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (st, adapter) = stepped(dir.path(), -3 * 3_600_000);
        assert!(
            worst_gap(&adapter) <= 1_000,
            "gap {} ms",
            worst_gap(&adapter)
        );
        assert!(adapter.instants.len() >= 599, "{}", adapter.instants.len());
        let mut seen = adapter.dated.clone();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), adapter.dated.len(), "an instant taken twice");
        assert_eq!(st.counters().skipped_samples, 0);
        assert_eq!(st.counters().samples, adapter.instants.len() as u64);
        assert_eq!(st.counters().clock_steps, 1);
        assert!(
            adapter
                .events
                .iter()
                .any(|e| matches!(e, Event::TimelineReset { .. })),
            "{:?}",
            adapter.events
        );
        // Dated from the new time after the step.
        let last = *adapter.dated.last().expect("samples");
        assert_eq!(last, T0 + 599_000 - 3 * 3_600_000);
    }

    #[test]
    fn steps_about_the_tolerance_neither_skip_nor_repeat_an_instant() {
        for by in [-1_500, -3_600_500, -3_601_500, 7_200_000] {
            let dir = tempfile::tempdir().expect("tempdir");
            let (st, adapter) = stepped(dir.path(), by);
            assert!(
                worst_gap(&adapter) <= 1_000,
                "{by}: gap {}",
                worst_gap(&adapter)
            );
            assert_eq!(st.counters().skipped_samples, 0, "{by}");
            assert_eq!(st.counters().samples, adapter.instants.len() as u64, "{by}");
            let mut seen = adapter.dated.clone();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(
                seen.len(),
                adapter.dated.len(),
                "{by}: an instant taken twice"
            );
            assert_eq!(st.counters().clock_steps, 1, "{by}");
        }
    }

    /// An endpoint that stores every request (200 with the body's MD5), `delay` ms after
    /// it started.
    struct StoringLink {
        mono: Rc<Cell<u64>>,
        out: Option<HttpRequest>,
        /// (monotonic ms, file name) of each request.
        sent: Vec<(u64, String)>,
        delay: u64,
    }

    impl Link for StoringLink {
        fn busy(&self) -> bool {
            self.out.is_some()
        }
        fn start(&mut self, request: HttpRequest) {
            let name = request
                .url
                .path()
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_owned();
            self.sent.push((self.mono.get(), name));
            self.out = Some(request);
        }
        fn wait(&mut self, timeout: Duration) -> Option<Reply> {
            let step = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
            let started = self.sent.last().map_or(0, |(at, _)| *at);
            let due = started + self.delay;
            if self.out.is_some() && due > self.mono.get() {
                if due > self.mono.get() + step {
                    self.mono.set(self.mono.get() + step);
                    return None;
                }
                self.mono.set(due);
            }
            if let Some(request) = self.out.take() {
                let etag = format!("\"{}\"", crate::digest::md5_hex(&request.body));
                return Some(Ok(HttpResponse {
                    status: 200,
                    headers: vec![("etag".into(), etag)],
                    body: Vec::new(),
                }));
            }
            let step = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
            self.mono.set(self.mono.get() + step);
            None
        }
    }

    #[test]
    fn batched_uploads_go_out_every_two_minutes_with_the_radio_on_and_drain_at_the_stop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut st = station_with(dir.path(), 5_000, Some(Duration::from_secs(120)));
        // 10 min 30 s of 1-minute windows: batches at 2, 4, 6, 8 and 10 min, and the
        // stop sends what waits.
        let (mut adapter, stalling) = fakes(630_000, 1.0, 0);
        let mut link = StoringLink {
            mono: stalling.mono,
            out: None,
            sent: Vec::new(),
            delay: 0,
        };
        run_live(&mut st, &mut adapter, &mut link).expect("run");
        let batches: std::collections::BTreeSet<u64> =
            link.sent.iter().map(|(at, _)| at / 120_000).collect();
        assert_eq!(
            batches.into_iter().collect::<Vec<_>>(),
            [1, 2, 3, 4, 5],
            "requests only at the batches: {:?}",
            link.sent
        );
        assert!(
            link.sent
                .iter()
                .filter(|(at, _)| *at < 630_000)
                .all(|(at, _)| at % 120_000 < 1_000),
            "each batch right at its minute: {:?}",
            link.sent
        );
        // Each request went out with the radio on.
        for (at, name) in &link.sent {
            let on = adapter
                .radio
                .iter()
                .rev()
                .find(|(t, _)| t <= at)
                .is_some_and(|(_, on)| *on);
            assert!(on, "{name} at {at} with the radio off: {:?}", adapter.radio);
        }
        assert!(adapter.radio.len() >= 10, "{:?}", adapter.radio);
        // Data first in each batch, and everything delivered at the stop.
        assert!(link.sent.iter().any(|(_, n)| n.starts_with("health_")));
        assert_eq!(
            st.counters().uploaded_files,
            2 * st.counters().sealed_files,
            "every window and its health row"
        );
        assert!(st.is_drained().expect("drained"));
        let closed = adapter
            .events
            .iter()
            .filter(|e| matches!(e, Event::BatchClosed { failed: 0, .. }))
            .count();
        assert!(closed >= 5, "{closed} batches closed");
    }

    /// A station of 1-minute windows with health rows, a spool limit and batching.
    fn limited(dir: &std::path::Path, limit: Option<u64>, every: Option<Duration>) -> Station {
        let s3 = S3Config::new("http://127.0.0.1:1", "lake", "us-east-1", true).expect("cfg");
        let client = S3Client::new(&s3, Credentials::new("AKIAIOSFODNN7EXAMPLE", "x", None))
            .expect("client");
        let id = crate::layout::StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e").expect("id");
        let spec = crate::window::WindowSpec::new(5_000, 60_000).expect("spec");
        let config = StationConfig {
            recorder: RecorderConfig {
                spec,
                ..RecorderConfig::new(id.clone())
            },
            health: true,
            spool_limit: limit,
            upload_every: every,
            ..StationConfig::new(id, client)
        };
        Station::open(config, dir).expect("open")
    }

    #[test]
    fn a_finite_input_waits_for_room_under_the_spool_limit_and_drops_nothing() {
        // Found by the adversarial review: a CSV import over a slow link outran the
        // uploads and the spool limit dropped whole windows.
        let dir = tempfile::tempdir().expect("tempdir");
        let mut st = limited(dir.path(), Some(64 * 1024), None);
        let (mut adapter, stalling) = fakes(u64::MAX, 1.0, 0);
        let mut link = StoringLink {
            mono: stalling.mono,
            out: None,
            sent: Vec::new(),
            delay: 1_000,
        };
        let sim = crate::sim::Simulator::new(2);
        // Three hours of 1-minute windows: far more than the limit holds.
        let samples = (0..2_160).map(|i| sim.sample_at(T0 - 86_400_000 + i * 5_000));
        let end = run_batch(
            &mut st,
            samples,
            &mut adapter,
            &mut link,
            Duration::from_secs(120),
        )
        .expect("run");
        assert!(matches!(end, BatchEnd::Delivered), "{end:?}");
        assert_eq!(st.counters().dropped_files, 0);
        assert_eq!(st.counters().sealed_files, 180);
        assert_eq!(
            st.counters().uploaded_files,
            2 * 180,
            "every window and health row"
        );
    }

    #[test]
    fn a_finite_batched_run_stopped_by_a_signal_sends_what_waits_first() {
        // Found by the adversarial review: `--csv --upload-every 1h` stopped sending
        // at once on SIGTERM, where the docs promise up to 20 s.
        let dir = tempfile::tempdir().expect("tempdir");
        let mut st = limited(dir.path(), None, Some(Duration::from_secs(3_600)));
        // The signal comes 1 ms in, once the input is recorded (no time passes while
        // recording) and before the batch, an hour away, sent anything.
        let (mut adapter, stalling) = fakes(1, 1.0, 0);
        let mut link = StoringLink {
            mono: stalling.mono,
            out: None,
            sent: Vec::new(),
            delay: 100,
        };
        let sim = crate::sim::Simulator::new(2);
        let samples = (0..=720).map(|i| sim.sample_at(T0 - 86_400_000 + i * 5_000));
        let end = run_batch(
            &mut st,
            samples,
            &mut adapter,
            &mut link,
            Duration::from_secs(120),
        )
        .expect("run");
        assert!(matches!(end, BatchEnd::Stopped), "{end:?}");
        // 60 full windows and the one the last sample opened, sealed at the input's end.
        assert_eq!(st.counters().sealed_files, 61);
        assert_eq!(
            st.counters().uploaded_files,
            2 * 61,
            "all sent within the drain"
        );
        assert!(adapter.mono.get() <= 20_000);
    }
}
