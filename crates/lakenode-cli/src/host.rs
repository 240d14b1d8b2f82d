//! The host side of the core's adapter loop ([`lakenode::driver`]): the system clocks,
//! simulated sensors, and the station's events as log lines. `run` and `demo` use it,
//! so the demo exercises exactly what a deployed gateway runs.

use std::time::{Duration, Instant};

use jiff::Timestamp;
use lakenode::Sample;
use lakenode::driver::Adapter;
use lakenode::health::HealthRow;
use lakenode::sim::Simulator;
use lakenode::station::{Event, Level, Now};
use tracing::{debug, error, info, warn};

/// Stack of the upload thread on a PC (rustls handshakes need a few hundred KiB).
pub const UPLOAD_STACK: usize = 2 << 20;

/// A PC running a station: monotonic time since start, the system's UTC clock.
pub struct HostAdapter {
    started: Instant,
    sim: Option<Simulator>,
    sensors: Option<Box<dyn crate::sensors::SensorSet>>,
    quiet: bool,
    uploaded: Vec<(String, usize)>,
    collect_uploads: bool,
    booted_at_ms: Option<i64>,
    service: Option<ServiceManager>,
    gate: Option<SyncGate>,
    watch: Option<crate::metrics::Watch>,
}

impl HostAdapter {
    /// An adapter; `sim` reads simulated sensors in real time.
    #[must_use]
    pub fn new(sim: Option<Simulator>) -> Self {
        Self {
            started: Instant::now(),
            sim,
            sensors: None,
            quiet: false,
            uploaded: Vec::new(),
            collect_uploads: false,
            booted_at_ms: None,
            service: None,
            gate: None,
            watch: None,
        }
    }

    /// Publishes the station's counters and status through `watch` (`/metrics` and
    /// the spool's `state/status.json`).
    #[must_use]
    pub fn watched_by(mut self, watch: crate::metrics::Watch) -> Self {
        self.watch = Some(watch);
        self
    }

    /// Tells a service manager that started the process with `NOTIFY_SOCKET` (systemd,
    /// `Type=notify`) when the loop runs (`READY=1`), that it is alive (`WATCHDOG=1`,
    /// when `WATCHDOG_USEC` asks for it) and when it stops (`STOPPING=1`). Without
    /// `NOTIFY_SOCKET` this does nothing.
    #[must_use]
    pub fn notifying_service_manager(mut self) -> Self {
        self.service = Some(ServiceManager::from_env());
        self
    }

    /// For a real-time run: until the kernel reports the system clock synchronised
    /// (NTP), the wall clock is not used: samples are held and dated once it is, and
    /// nothing is signed. `trust` (`--trust-clock`, an RTC without NTP) turns that off.
    #[must_use]
    pub fn hold_until_synced(mut self, trust: bool) -> Self {
        self.gate = (!trust).then(SyncGate::default);
        self
    }

    /// Health rows count uptime in the samples' time from `booted_at_ms` (the first
    /// sample of a virtual-time run) instead of the process's real time, so a
    /// simulated day shows a day of uptime and a simulated reboot shows as one.
    #[must_use]
    pub fn with_virtual_uptime(mut self, booted_at_ms: i64) -> Self {
        self.booted_at_ms = Some(booted_at_ms);
        self
    }

    /// Reads these sensors (a Raspberry Pi's) instead of the simulator.
    #[must_use]
    pub fn with_sensors(mut self, sensors: Box<dyn crate::sensors::SensorSet>) -> Self {
        self.sensors = Some(sensors);
        self
    }

    /// Logs seals and uploads at debug level (the demo prints a summary) and keeps the
    /// list of uploaded keys.
    #[must_use]
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self.collect_uploads = true;
        self
    }

    /// The objects S3 confirmed (key, bytes), when collecting.
    #[must_use]
    pub fn uploaded(&self) -> &[(String, usize)] {
        &self.uploaded
    }
}

impl Adapter for HostAdapter {
    fn now(&mut self) -> Now {
        let mono = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let Some(gate) = &mut self.gate else {
            return Now::synced(mono, Timestamp::now());
        };
        let (usable, notice) = gate.check(mono, kernel_clock);
        match notice {
            Some(Notice::Held) => warn!(
                "the system clock is not synchronised (the kernel's NTP status says so, as timedatectl's \"System clock synchronized: no\"): samples are taken and held, dated when it synchronises, and nothing is uploaded until then; pass --trust-clock (config: trust-clock = true) if this clock is right without NTP (an RTC)"
            ),
            Some(Notice::Synced) => {
                info!("the system clock is synchronised; held samples are dated")
            }
            None => {}
        }
        Now {
            mono_ms: mono,
            wall: usable.then(Timestamp::now),
        }
    }

    fn read_sensors(&mut self, at: &Now) -> Sample {
        let t = at.wall_ms().unwrap_or_default();
        if let Some(sensors) = &mut self.sensors {
            return sensors.read(t);
        }
        self.sim
            .as_ref()
            .map_or_else(|| Sample::new(t), |sim| sim.sample_at(t))
    }

    fn fill_health(&mut self, row: &mut HealthRow) {
        "host".clone_into(&mut row.reset_reason);
        if let Some(booted) = self.booted_at_ms {
            row.uptime_s = (row.timestamp_ms - booted).max(0) / 1000;
        }
        if let Some(sensors) = &self.sensors {
            sensors.fill_health(row);
        }
    }

    /// Until SIGTERM or SIGINT: the loop then ends between two steps, so the journal
    /// write in progress completes and the next start continues the open window.
    fn keep_running(&mut self) -> bool {
        let running = !crate::signals::stopping();
        if let Some(service) = &mut self.service {
            service.turn(running);
        }
        running
    }

    fn observe(&mut self, station: &lakenode::Station) {
        if let Some(watch) = &self.watch {
            watch.observe(station);
        }
    }

    fn on_event(&mut self, event: &Event) {
        if let Some(watch) = &self.watch {
            watch.event();
        }
        if let Event::Uploaded { key, bytes, .. } = event
            && self.collect_uploads
        {
            self.uploaded.push((key.clone(), *bytes));
        }
        let routine = matches!(event, Event::Sealed { .. })
            || (self.quiet && matches!(event, Event::Uploaded { .. }));
        match event.level() {
            _ if routine => debug!("{event}"),
            Level::Info => info!("{event}"),
            Level::Warn => warn!("{event}"),
            Level::Error => error!("{event}"),
        }
    }
}

/// What the kernel says of the system clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockStatus {
    /// Synchronised (NTP, or set and trusted by the time daemon).
    Synced,
    /// Not synchronised: since boot, it comes from a saved file (fake-hwclock), an RTC
    /// or nothing.
    Unsynced,
    /// Not known here (not Linux, or the call failed): taken as right.
    Unknown,
}

/// What to tell the operator once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// The clock is not synchronised: samples are held.
    Held,
    /// It is now: held samples are dated.
    Synced,
}

/// Decides whether a real-time run may use the wall clock: not until the kernel first
/// reports it synchronised (then always: a clock that loses NTP later drifts seconds,
/// and S3's `Date` corrects the signing time). Asks at most once a second.
#[derive(Debug, Default)]
pub struct SyncGate {
    synced: bool,
    held: bool,
    asked_at: Option<u64>,
}

impl SyncGate {
    /// Whether the wall clock may be used at monotonic `mono_ms`, asking `status` if a
    /// second has passed since it last did; and what to log, once per change.
    pub fn check(
        &mut self,
        mono_ms: u64,
        status: impl FnOnce() -> ClockStatus,
    ) -> (bool, Option<Notice>) {
        if self.synced {
            return (true, None);
        }
        if self
            .asked_at
            .is_some_and(|t| mono_ms < t.saturating_add(1_000))
        {
            return (false, None);
        }
        self.asked_at = Some(mono_ms);
        if status() == ClockStatus::Unsynced {
            let first = !self.held;
            self.held = true;
            return (false, first.then_some(Notice::Held));
        }
        self.synced = true;
        (true, self.held.then_some(Notice::Synced))
    }
}

/// The kernel's NTP status of the system clock (`adjtimex` reading only).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn kernel_clock() -> ClockStatus {
    // SAFETY: `timex` is plain integers, valid all zero; with `modes` 0 `adjtimex` only
    // writes the kernel's state into this struct, which we own.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&raw mut tx) };
    if state < 0 {
        ClockStatus::Unknown
    } else if state == libc::TIME_ERROR || tx.status & libc::STA_UNSYNC != 0 {
        ClockStatus::Unsynced
    } else {
        ClockStatus::Synced
    }
}

#[cfg(not(target_os = "linux"))]
fn kernel_clock() -> ClockStatus {
    ClockStatus::Unknown
}

/// Wraps `samples` (`total` of them) to print progress for `label` every few seconds.
pub fn with_progress<'a>(
    samples: impl Iterator<Item = Sample> + 'a,
    total: i64,
    label: &'a str,
) -> impl Iterator<Item = Sample> + 'a {
    let mut last = Instant::now();
    samples
        .enumerate()
        .inspect(move |(i, s)| {
            if last.elapsed() >= Duration::from_secs(2) {
                last = Instant::now();
                #[allow(clippy::cast_precision_loss)]
                let pct = (*i + 1) as f64 * 100.0 / total.max(1) as f64;
                tracing::info!(
                    station = label,
                    done = i + 1,
                    total,
                    "progress: {label}: {}/{total} samples ({pct:.0}%), at {}",
                    i + 1,
                    lakenode::layout::rfc3339(s.timestamp_ms)
                );
            }
        })
        .map(|(_, s)| s)
}

/// The service manager's side of a run (systemd's notify protocol): the loop's first
/// turn means the station is open and sampling, every turn that it is alive.
#[derive(Debug)]
struct ServiceManager {
    ready: bool,
    stopping: bool,
    /// How often to ping the watchdog (half its timeout), if it is on.
    ping_every: Option<Duration>,
    last_ping: Option<Instant>,
    failed: bool,
}

impl ServiceManager {
    fn from_env() -> Self {
        Self {
            ready: false,
            stopping: false,
            ping_every: watchdog_timeout().map(|t| t / 2),
            last_ping: None,
            failed: false,
        }
    }

    /// One turn of the loop; `running` false once stopping.
    fn turn(&mut self, running: bool) {
        if !running {
            if !self.stopping {
                self.stopping = true;
                self.send(Note::Stopping);
            }
            return;
        }
        if !self.ready {
            self.ready = true;
            self.send(Note::Ready);
        }
        if let Some(every) = self.ping_every
            && self.last_ping.is_none_or(|t| t.elapsed() >= every)
        {
            self.last_ping = Some(Instant::now());
            self.send(Note::Watchdog);
        }
    }

    #[cfg(target_os = "linux")]
    fn send(&mut self, note: Note) {
        use sd_notify::NotifyState;
        let states: &[NotifyState<'_>] = match note {
            Note::Ready => &[NotifyState::Ready, NotifyState::Status("sampling")],
            Note::Watchdog => &[NotifyState::Watchdog],
            Note::Stopping => &[NotifyState::Stopping],
        };
        if let Err(e) = sd_notify::notify(false, states)
            && !self.failed
        {
            self.failed = true;
            warn!(
                "cannot notify the service manager (NOTIFY_SOCKET): {e}; a Type=notify unit will time out"
            );
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn send(&mut self, _: Note) {}
}

/// What the service manager is told.
#[derive(Debug, Clone, Copy)]
enum Note {
    /// `READY=1`: the station is open and the loop runs.
    Ready,
    /// `WATCHDOG=1`: the loop turns.
    Watchdog,
    /// `STOPPING=1`: a signal asked to stop.
    Stopping,
}

/// The watchdog timeout systemd asks this process to honour (`WATCHDOG_USEC`, for this
/// process if `WATCHDOG_PID` names one, as libsystemd's `sd_watchdog_enabled`).
fn watchdog_timeout() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsynchronised_clock_is_held_until_the_kernel_says_synced() {
        use ClockStatus::{Synced, Unknown, Unsynced};
        let mut gate = SyncGate::default();
        let asked = std::cell::Cell::new(0);
        let at = |gate: &mut SyncGate, mono: u64, status: ClockStatus| {
            gate.check(mono, || {
                asked.set(asked.get() + 1);
                status
            })
        };
        assert_eq!(at(&mut gate, 0, Unsynced), (false, Some(Notice::Held)));
        assert_eq!(
            at(&mut gate, 500, Synced),
            (false, None),
            "asked once a second"
        );
        assert_eq!(at(&mut gate, 1_000, Unsynced), (false, None), "logged once");
        assert_eq!(at(&mut gate, 2_000, Synced), (true, Some(Notice::Synced)));
        // Synced once: a later loss of NTP does not hold the samples again.
        assert_eq!(at(&mut gate, 3_000, Unsynced), (true, None));
        assert_eq!(asked.get(), 3);
        // Not Linux, or adjtimex failed: used, silently.
        assert_eq!(at(&mut SyncGate::default(), 0, Unknown), (true, None));
        assert_eq!(at(&mut SyncGate::default(), 0, Synced), (true, None));
    }

    #[test]
    fn a_trusted_or_unchecked_clock_is_used_at_once() {
        let mut adapter = HostAdapter::new(None).hold_until_synced(true);
        assert!(adapter.now().wall.is_some());
        let mut adapter = HostAdapter::new(None);
        assert!(adapter.now().wall.is_some());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_kernel_answers() {
        assert_ne!(kernel_clock(), ClockStatus::Unknown);
    }
}
