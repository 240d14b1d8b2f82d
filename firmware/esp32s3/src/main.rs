//! lakenode firmware for the ESP32-S3: wiring only. WiFi, SNTP, the LittleFS spool
//! partition, the HTTPS transport, the sensor buses and the task watchdog are set up
//! here; the node loop itself is the core's [`lakenode::run_live`] over its
//! [`lakenode::Station`], the same code `lakenode run` drives on a PC.
//!
//! Pins (ESP32-S3-DevKitC-1): I2C SDA GPIO8, SCL GPIO9 (BME280 at 0x76, SCD4x at 0x62);
//! PMS5003 TX -> GPIO18 (our RX), PMS5003 RX <- GPIO17 (our TX), 9600 baud.

mod config;
mod transport;

use std::cell::RefCell;
use std::path::Path;
use std::time::{Duration, Instant};

use embedded_hal_bus::i2c::RefCellDevice;
use esp_idf_svc::eventloop::EspSystemEventLoop;
use esp_idf_svc::fs::littlefs::Littlefs;
use esp_idf_svc::hal::delay::{Delay, FreeRtos, NON_BLOCK};
use esp_idf_svc::hal::gpio::AnyIOPin;
use esp_idf_svc::hal::i2c::{I2cConfig, I2cDriver};
use esp_idf_svc::hal::peripherals::Peripherals;
use esp_idf_svc::hal::reset::ResetReason;
use esp_idf_svc::hal::task::watchdog::{TWDTConfig, TWDTDriver, WatchdogSubscription};
use esp_idf_svc::hal::uart::{config::Config as UartConfig, UartDriver};
use esp_idf_svc::hal::units::Hertz;
use esp_idf_svc::io::vfs::MountedLittlefs;
use esp_idf_svc::nvs::EspEncryptedNvsPartition;
use esp_idf_svc::sntp::{EspSntp, SyncStatus};
use esp_idf_svc::wifi::{AuthMethod, BlockingWifi, ClientConfiguration, Configuration, EspWifi};
use lakenode::clock::{SystemClock, WallClock};
use lakenode::sensors::{bme280::Bme280, pms5003::Pms5003, scd4x::Scd4x};
use lakenode::sim::Simulator;
use lakenode::station::Level;
use lakenode::{Adapter, Event, HealthRow, Now, Sample, Station, StationConfig, ThreadLink};
use log::{error, info, warn};

/// Where the spool partition is mounted.
const SPOOL_DIR: &str = "/spool";
/// Spool bound: 3 MB of the 4 MB partition. LittleFS allocates whole 4 KiB blocks and a
/// window file is ~4 KB, so files take up to twice their bytes: the margin covers it.
const SPOOL_LIMIT: u64 = 3_000_000;
/// Stack of the upload thread: TLS handshakes with mbedTLS need ~16 KiB.
const UPLOAD_STACK: usize = 20 * 1024;

type Bus<'a> = RefCellDevice<'a, I2cDriver<'a>>;

/// The device as the core's driver sees it.
struct Device<'a> {
    boot: Instant,
    sntp: EspSntp<'static>,
    synced: bool,
    wifi: BlockingWifi<EspWifi<'static>>,
    last_connect: Option<Instant>,
    watchdog: WatchdogSubscription<'a>,
    bme280: Bme280<Bus<'a>>,
    scd4x: Scd4x<Bus<'a>, Delay>,
    uart: UartDriver<'a>,
    pms5003: Pms5003,
    simulator: Option<Simulator>,
    reset_reason: String,
}

impl Adapter for Device<'_> {
    fn now(&mut self) -> Now {
        // The sync status first, then the clock: a sync that lands in between is read
        // on the next turn instead of being consumed with a 1970 time.
        if !self.synced && self.sntp.get_sync_status() == SyncStatus::Completed {
            self.synced = true;
        }
        let mono_ms = u64::try_from(self.boot.elapsed().as_millis()).unwrap_or(u64::MAX);
        let wall = self.synced.then(|| SystemClock.now());
        Now { mono_ms, wall }
    }

    fn read_sensors(&mut self, at: &Now) -> Sample {
        let mut buf = [0u8; 128];
        while let Ok(n @ 1..) = self.uart.read(&mut buf, NON_BLOCK) {
            self.pms5003.feed(&buf[..n]);
        }
        let mut sample = Sample::new(0);
        match &self.simulator {
            // Bench mode: the core's deterministic simulator instead of the sensors.
            Some(sim) => sample = sim.sample_at(at.wall_ms().unwrap_or_default()),
            None => {
                self.bme280.read(&mut Delay::new_default(), &mut sample);
                self.scd4x.read(&mut sample);
                self.pms5003.read(&mut sample);
            }
        }
        sample
    }

    fn fill_health(&mut self, row: &mut HealthRow) {
        // SAFETY: plain reads of the heap counters.
        row.free_heap = Some(i64::from(unsafe {
            esp_idf_svc::sys::esp_get_free_heap_size()
        }));
        row.min_free_heap = Some(i64::from(unsafe {
            esp_idf_svc::sys::esp_get_minimum_free_heap_size()
        }));
        row.wifi_rssi = self.wifi.wifi().get_rssi().ok();
        row.reset_reason.clone_from(&self.reset_reason);
        row.bme280 = Some(self.bme280.health);
        row.scd4x = Some(self.scd4x.health);
        row.pms5003 = Some(self.pms5003.health);
    }

    fn on_event(&mut self, event: &Event) {
        match event.level() {
            Level::Info => info!("{event}"),
            Level::Warn => warn!("{event}"),
            Level::Error => error!("{event}"),
        }
    }

    fn keep_running(&mut self) -> bool {
        // The loop turns at least once a second; uploads run on their own thread.
        if let Err(e) = self.watchdog.feed() {
            error!("watchdog: {e}");
        }
        true
    }

    fn online(&mut self) -> bool {
        // Connected *and* the netif is up with an address.
        if self.wifi.is_up().unwrap_or(false) {
            return true;
        }
        if self
            .last_connect
            .is_none_or(|t| t.elapsed() > Duration::from_secs(30))
        {
            self.last_connect = Some(Instant::now());
            let _ = self.wifi.wifi_mut().connect(); // returns at once; retried later
        }
        false
    }
}

fn main() {
    esp_idf_svc::sys::link_patches();
    esp_idf_svc::log::EspLogger::initialize_default();
    if let Err(e) = run() {
        // Configuration errors: report, wait, and let a reboot retry.
        error!("lakenode cannot start: {e}");
        FreeRtos::delay_ms(60_000);
        esp_idf_svc::hal::reset::restart();
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let peripherals = Peripherals::take()?;
    let sysloop = EspSystemEventLoop::take()?;
    let reset_reason = format!("{:?}", ResetReason::get()).to_lowercase();
    info!(
        "lakenode {} starting (reset: {reset_reason})",
        env!("CARGO_PKG_VERSION")
    );

    let config = match EspEncryptedNvsPartition::take(config::NAMESPACE, Some("nvs_keys")) {
        Ok(part) => config::from_nvs(part),
        Err(e) => Err(format!(
            "encrypted NVS partition {}: {e}",
            config::NAMESPACE
        )),
    }
    .or_else(|e| config::from_build_env().ok_or(e))?;
    // The core validates everything before the radio is touched.
    let station = config::station_config(&config)?;

    // No NVS for the WiFi driver: the PSK stays only in the encrypted partition.
    let mut wifi = BlockingWifi::wrap(
        EspWifi::new(peripherals.modem, sysloop.clone(), None)?,
        sysloop,
    )?;
    wifi.set_configuration(&Configuration::Client(ClientConfiguration {
        ssid: config
            .wifi_ssid
            .as_str()
            .try_into()
            .map_err(|_| "wifi_ssid is longer than 32 bytes")?,
        password: config
            .wifi_psk
            .as_str()
            .try_into()
            .map_err(|_| "wifi_psk is longer than 64 bytes")?,
        auth_method: AuthMethod::WPA2Personal,
        ..Default::default()
    }))?;
    wifi.start()?;
    let sntp = EspSntp::new_default()?; // keeps syncing while alive

    // SAFETY: "spool" is a littlefs partition of our table, used by nothing else.
    let _spool_fs = match MountedLittlefs::mount(
        unsafe { Littlefs::<()>::new_partition("spool")? },
        SPOOL_DIR,
    ) {
        Ok(mounted) => mounted,
        Err(e) => {
            // A blank board: the partition was never formatted.
            warn!("spool partition does not mount ({e}); formatting it");
            let mut fs = unsafe { Littlefs::<()>::new_partition("spool")? };
            fs.format()?;
            MountedLittlefs::mount(fs, SPOOL_DIR)?
        }
    };
    let mut node = Station::open(
        StationConfig {
            spool_limit: Some(SPOOL_LIMIT),
            health: true,
            ..station
        },
        Path::new(SPOOL_DIR),
    )?;
    info!(
        "spool: {} files pending, {} samples replayed",
        node.recorder().spool().stats().pending_files,
        node.recorder().replayed()
    );

    let pins = peripherals.pins;
    let i2c = I2cDriver::new(
        peripherals.i2c0,
        pins.gpio8,
        pins.gpio9,
        &I2cConfig::new().baudrate(Hertz(100_000)),
    )?;
    let bus = RefCell::new(i2c);
    // A PMS5003 frame every second: 1 KiB of RX buffer holds half a minute of them.
    let uart = UartDriver::new(
        peripherals.uart1,
        pins.gpio17,
        pins.gpio18,
        Option::<AnyIOPin>::None,
        Option::<AnyIOPin>::None,
        &UartConfig::new().baudrate(Hertz(9600)).rx_fifo_size(1024),
    )?;
    let mut twdt = TWDTDriver::new(
        peripherals.twdt,
        &TWDTConfig {
            duration: Duration::from_secs(60),
            panic_on_trigger: true,
            ..TWDTConfig::new()
        },
    )?;
    let mut device = Device {
        boot: Instant::now(),
        sntp,
        synced: false,
        wifi,
        last_connect: None,
        watchdog: twdt.watch_current_task()?,
        bme280: Bme280::new(RefCellDevice::new(&bus)),
        scd4x: Scd4x::new(RefCellDevice::new(&bus), Delay::new_default()),
        uart,
        pms5003: Pms5003::new(),
        simulator: config.simulate.map(Simulator::new),
        reset_reason,
    };
    let mut link = ThreadLink::spawn(
        transport::EspTransport {
            timeout: Duration::from_secs(30),
        },
        UPLOAD_STACK,
    )?;
    lakenode::run_live(&mut node, &mut device, &mut link)?;
    Ok(())
}
