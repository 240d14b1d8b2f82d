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
        }
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
        Now::synced(mono, Timestamp::now())
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

    fn on_event(&mut self, event: &Event) {
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
                eprintln!(
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
