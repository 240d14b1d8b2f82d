//! lakenode firmware for the ESP32-S3: wiring only. WiFi, SNTP, the LittleFS spool, the
//! HTTPS transport, the sensor buses and the task watchdog; the node loop is the core's
//! `lakenode::run_live` over a `lakenode::Station`, the code `lakenode run` drives on a PC,
//! on a thread with the core's `LOOP_STACK`.
//!
//! Pins (ESP32-S3-DevKitC-1): I2C SDA GPIO8, SCL GPIO9 (BME280 at 0x76, SCD4x at 0x62);
//! PMS5003 TX -> GPIO18 (our RX), PMS5003 RX <- GPIO17 (our TX), 9600 baud.

mod config;
mod transport;

use std::cell::RefCell;
use std::time::{Duration, Instant};

use embedded_hal_bus::i2c::RefCellDevice as Bus;
use esp_idf_svc::fs::littlefs::Littlefs;
use esp_idf_svc::hal::delay::{Delay, FreeRtos, NON_BLOCK};
use esp_idf_svc::hal::i2c::{I2cConfig, I2cDriver};
use esp_idf_svc::hal::task::watchdog::{TWDTConfig, TWDTDriver, WatchdogSubscription};
use esp_idf_svc::hal::uart::{config::Config as UartConfig, UartDriver};
use esp_idf_svc::hal::{gpio::AnyIOPin, peripherals::Peripherals, reset, units::Hertz};
use esp_idf_svc::nvs::{EspDefaultNvsPartition, EspEncryptedNvsPartition};
use esp_idf_svc::partition::EspPartition;
use esp_idf_svc::sntp::{EspSntp, SyncStatus};
use esp_idf_svc::wifi::{AuthMethod, BlockingWifi, ClientConfiguration, Configuration, EspWifi};
use esp_idf_svc::{eventloop::EspSystemEventLoop, io::vfs::MountedLittlefs, sys};
use lakenode::clock::{SystemClock, WallClock};
use lakenode::device::{holds_littlefs, LITTLEFS_BLOCK, LITTLEFS_HEAD, LOOP_STACK};
use lakenode::{sensors::StationSensors, station::Level, Adapter, Event, HealthRow, Now, Sample};
use log::{error, info, warn};

const SPOOL_LIMIT: u64 = 3_000_000; // of the 4 MB partition, in 4 KiB LittleFS blocks
const UPLOAD_STACK: usize = 20 * 1024; // mbedTLS handshakes need ~16 KiB

type I2c<'a> = Bus<'a, I2cDriver<'a>>;

/// The device as the core's driver sees it.
struct Device<'a> {
    boot: Instant,
    /// `None` while WiFi is off between batches.
    sntp: Option<EspSntp<'static>>,
    synced: bool,
    /// `wifi_off_between_batches`: WiFi (and SNTP) off between batches.
    radio_sleeps: bool,
    wifi: BlockingWifi<EspWifi<'static>>,
    last_connect: Option<Instant>,
    watchdog: WatchdogSubscription<'a>,
    sensors: StationSensors<I2c<'a>, I2c<'a>, Delay>,
    uart: UartDriver<'a>,
    reset_reason: String,
}

impl Adapter for Device<'_> {
    fn now(&mut self) -> Now {
        // The sync status first, then the clock: a sync landing in between is read on
        // the next turn instead of being consumed with a 1970 time.
        self.synced |=
            self.sntp.as_ref().is_some_and(|s| s.get_sync_status() == SyncStatus::Completed);
        let mono_ms = u64::try_from(self.boot.elapsed().as_millis()).unwrap_or(u64::MAX);
        let wall = self.synced.then(|| SystemClock.now());
        Now { mono_ms, wall }
    }

    fn read_sensors(&mut self, at: &Now) -> Sample {
        let mut buf = [0u8; 128];
        while let Ok(n @ 1..) = self.uart.read(&mut buf, NON_BLOCK) {
            self.sensors.feed(&buf[..n]);
        }
        self.sensors.read(at.wall_ms().unwrap_or_default())
    }

    fn fill_health(&mut self, row: &mut HealthRow) {
        // SAFETY: plain reads of the heap counters.
        let free = unsafe { sys::esp_get_free_heap_size() };
        let min = unsafe { sys::esp_get_minimum_free_heap_size() };
        (row.free_heap, row.min_free_heap) = (Some(free.into()), Some(min.into()));
        row.wifi_rssi = self.wifi.wifi().get_rssi().ok();
        row.reset_reason.clone_from(&self.reset_reason);
        self.sensors.fill_health(row);
    }

    fn on_event(&mut self, event: &Event) {
        match event.level() {
            Level::Info => info!("{event}"),
            Level::Warn => warn!("{event}"),
            Level::Error => error!("{event}"),
        }
    }

    fn keep_running(&mut self) -> bool {
        // Called at least once a second; no network call runs on this task.
        if let Err(e) = self.watchdog.feed() {
            error!("watchdog: {e}");
        }
        true
    }

    fn radio(&mut self, on: bool) {
        // Only with batched uploads; a failure here is retried by `online` (connect) or
        // at the next batch, sampling goes on.
        if !self.radio_sleeps {
            return;
        }
        if on {
            if let Err(e) = self.wifi.start() {
                warn!("WiFi does not start: {e}");
            }
            self.last_connect = None; // `online` connects at once
            if self.sntp.is_none() {
                self.sntp = EspSntp::new_default().inspect_err(|e| warn!("SNTP: {e}")).ok();
            }
        } else {
            self.sntp = None; // its syncs would fail without WiFi
            if let Err(e) = self.wifi.stop() {
                warn!("WiFi does not stop: {e}");
            }
        }
    }

    fn online(&mut self) -> bool {
        // Associated *and* the netif up with an address; else reconnect every 30 s.
        let up = self.wifi.is_up().unwrap_or(false);
        if !up && self.last_connect.is_none_or(|t| t.elapsed() > Duration::from_secs(30)) {
            self.last_connect = Some(Instant::now());
            let _ = self.wifi.wifi_mut().connect(); // returns at once
        }
        up
    }
}

fn main() {
    sys::link_patches();
    esp_idf_svc::log::EspLogger::initialize_default();
    // The loop's stack is the core's LOOP_STACK, measured there; the main task only waits.
    let node = std::thread::Builder::new()
        .name("lakenode".into())
        .stack_size(LOOP_STACK)
        .spawn(|| run().map_err(|e| e.to_string()));
    let ended = match node {
        Ok(node) => node.join().unwrap_or_else(|_| Err("the node loop panicked".into())),
        Err(e) => Err(format!("no thread for the node loop: {e}")),
    };
    if let Err(e) = ended {
        error!("lakenode cannot start: {e}"); // configuration errors: report, retry later
        FreeRtos::delay_ms(60_000);
        reset::restart();
    }
}

/// Whether the spool partition holds a LittleFS (its superblock in block 0 or 1), read
/// with the partition API: only a partition without one may be formatted.
fn spool_holds_littlefs() -> Result<bool, Box<dyn std::error::Error>> {
    // SAFETY: read only, while the failed mount left the partition unused.
    let part = unsafe { EspPartition::new("spool") }?;
    let mut part = part.ok_or("no `spool` partition in the partition table")?;
    let (mut block0, mut block1) = ([0; LITTLEFS_HEAD], [0; LITTLEFS_HEAD]);
    part.read(0, &mut block0)?;
    part.read(LITTLEFS_BLOCK, &mut block1)?;
    Ok(holds_littlefs(&block0, &block1))
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let p = Peripherals::take()?;
    let sysloop = EspSystemEventLoop::take()?;
    let reset_reason = format!("{:?}", reset::ResetReason::get()).to_lowercase();
    info!("lakenode {} (reset: {reset_reason})", env!("CARGO_PKG_VERSION"));
    let nvs = EspEncryptedNvsPartition::take("lakenode", Some("nvs_keys"));
    let config = nvs.map_err(|e| format!("NVS partition lakenode: {e}")).and_then(config::from_nvs);
    let config = config.or_else(|e| config::from_build_env().ok_or(e))?;

    // The default `nvs` partition initialised, for the PHY's calibration data (else it
    // logs an error and calibrates fully at every boot); kept for the program's life.
    let _phy_nvs = EspDefaultNvsPartition::take()
        .inspect_err(|e| warn!("default NVS: {e}: the PHY calibrates fully at each boot"));
    // The WiFi driver gets no NVS (esp-idf-svc then sets its nvs_enable to 0): the
    // passphrase stays only in the encrypted `lakenode` partition.
    let mut wifi = BlockingWifi::wrap(EspWifi::new(p.modem, sysloop.clone(), None)?, sysloop)?;
    let ssid = config.wifi_ssid.as_str().try_into().map_err(|_| "wifi_ssid")?;
    let password = config.wifi_psk.as_str().try_into().map_err(|_| "wifi_psk")?;
    let auth_method = AuthMethod::WPA2Personal;
    let client = ClientConfiguration { ssid, password, auth_method, ..Default::default() };
    wifi.set_configuration(&Configuration::Client(client))?;
    wifi.start()?;

    // SAFETY: "spool" is a littlefs partition of our table, used by nothing else.
    let spool = || unsafe { Littlefs::<()>::new_partition("spool") };
    // Only a blank partition is formatted: one that holds a LittleFS may hold data not
    // yet in S3, so a failure to mount it is reported and retried (after a restart).
    let _mounted = match MountedLittlefs::mount(spool()?, "/spool") {
        Ok(mounted) => mounted,
        Err(e) if spool_holds_littlefs()? => {
            return Err(format!("the spool's LittleFS does not mount ({e}); not formatted").into())
        }
        Err(e) => {
            warn!("the spool partition holds no LittleFS ({e}): formatting it (first boot)");
            let mut fs = spool()?;
            fs.format()?;
            MountedLittlefs::mount(fs, "/spool")?
        }
    };
    let station = lakenode::StationConfig {
        spool_limit: Some(SPOOL_LIMIT),
        spool_block: Some(4096),
        health: true,
        ..config.station
    };
    let mut node = lakenode::Station::open(station, std::path::Path::new("/spool"))?;

    let i2c_config = I2cConfig::new().baudrate(Hertz(100_000));
    let bus = RefCell::new(I2cDriver::new(p.i2c0, p.pins.gpio8, p.pins.gpio9, &i2c_config)?);
    let mut sensors = StationSensors::new(Bus::new(&bus), Bus::new(&bus), Delay::new_default());
    // Bench mode (`provision --simulate`): the core's simulator instead of the sensors.
    sensors.simulator = config.simulate.map(lakenode::sim::Simulator::new);
    // 1 KiB of RX buffer holds half a minute of PMS5003 frames.
    let uart_config = UartConfig::new().baudrate(Hertz(9600)).rx_fifo_size(1024);
    let (tx, rx, no_pin) = (p.pins.gpio17, p.pins.gpio18, None::<AnyIOPin>);
    let uart = UartDriver::new(p.uart1, tx, rx, no_pin, None::<AnyIOPin>, &uart_config)?;
    let wdt = TWDTConfig { duration: Duration::from_secs(60), ..TWDTConfig::new() };
    let mut twdt = TWDTDriver::new(p.twdt, &TWDTConfig { panic_on_trigger: true, ..wdt })?; // restart if hung
    let mut device = Device {
        boot: Instant::now(),
        sntp: Some(EspSntp::new_default()?), // keeps syncing while alive
        synced: false,
        radio_sleeps: config.wifi_off_between_batches,
        wifi,
        last_connect: None,
        watchdog: twdt.watch_current_task()?,
        sensors,
        uart,
        reset_reason,
    };
    // One esp_http_client handle for the upload thread's life: keep-alive, TLS resumption.
    let transport = transport::kept(Duration::from_secs(30));
    let mut link = lakenode::ThreadLink::spawn(transport, UPLOAD_STACK)?;
    lakenode::run_live(&mut node, &mut device, &mut link)?;
    Ok(())
}
