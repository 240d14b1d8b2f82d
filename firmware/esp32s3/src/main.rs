//! lakenode firmware for the ESP32-S3: wiring only. WiFi, SNTP, the LittleFS spool
//! partition, the HTTPS transport, the sensor buses and the task watchdog are set up
//! here; everything else (journal, windows, Parquet, spool, signing, retries, sensor
//! drivers, health rows) is the `lakenode` core, tested on the host.
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
use esp_idf_svc::hal::delay::{FreeRtos, NON_BLOCK};
use esp_idf_svc::hal::gpio::AnyIOPin;
use esp_idf_svc::hal::i2c::{I2cConfig, I2cDriver};
use esp_idf_svc::hal::peripherals::Peripherals;
use esp_idf_svc::hal::reset::ResetReason;
use esp_idf_svc::hal::task::watchdog::{TWDTConfig, TWDTDriver};
use esp_idf_svc::hal::uart::{config::Config as UartConfig, UartDriver};
use esp_idf_svc::hal::units::Hertz;
use esp_idf_svc::io::vfs::MountedLittlefs;
use esp_idf_svc::nvs::{EspDefaultNvsPartition, EspEncryptedNvsPartition};
use esp_idf_svc::sntp::{EspSntp, SyncStatus};
use esp_idf_svc::wifi::{AuthMethod, BlockingWifi, ClientConfiguration, Configuration, EspWifi};
use lakenode::backoff::Backoff;
use lakenode::clock::{SystemClock, TimeKeeper, WallClock};
use lakenode::health::HealthRow;
use lakenode::layout::{Prefix, StationId};
use lakenode::node::{Node, NodeConfig, Stop, Uploader};
use lakenode::s3::{Credentials, S3Client, S3Config};
use lakenode::sample::Sample;
use lakenode::sensors::{bme280::Bme280, pms5003::Pms5003, scd4x::Scd4x};
use log::{error, info, warn};

/// Where the spool partition is mounted.
const SPOOL_DIR: &str = "/spool";
/// Spool bound: 3.5 MB of the 4 MB partition (about 900 windows, over 9 days).
const SPOOL_LIMIT: u64 = 3_500_000;
/// Samples held before the first time sync: one hour at 5 s.
const MAX_UNSYNCED: usize = 720;

/// A copyable delay for the sensor drivers (esp-idf-hal's `FreeRtos` is not `Clone`).
#[derive(Clone, Copy)]
struct Delay;

impl embedded_hal::delay::DelayNs for Delay {
    fn delay_ns(&mut self, ns: u32) {
        FreeRtos::delay_ms(ns.div_ceil(1_000_000));
    }
}

fn main() {
    esp_idf_svc::sys::link_patches();
    esp_idf_svc::log::EspLogger::initialize_default();
    if let Err(e) = run() {
        // Configuration errors: report, wait, and let the watchdog-free reboot retry.
        error!("lakenode cannot start: {e}");
        FreeRtos::delay_ms(60_000);
        esp_idf_svc::hal::reset::restart();
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let peripherals = Peripherals::take()?;
    let sysloop = EspSystemEventLoop::take()?;
    let nvs_default = EspDefaultNvsPartition::take()?;
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
    let station = StationId::new(config.station.clone())?;
    let prefix = config.prefix.as_deref().map(Prefix::new).transpose()?;
    let s3 = S3Config::new(
        &config.endpoint,
        &config.bucket,
        &config.region,
        config.path_style,
    )?;
    if s3.endpoint.scheme() != "https" {
        return Err("the endpoint must be https:// on a device".into());
    }
    let creds = Credentials::new(
        config.access_key.clone(),
        config.secret_key.clone(),
        config.session_token.clone(),
    );
    let mut uploader = Uploader::new(S3Client::new(&s3, creds)?, 1, station.as_str().len() as u64)
        .with_max_files_per_drain(2);

    let mut wifi = BlockingWifi::wrap(
        EspWifi::new(peripherals.modem, sysloop.clone(), Some(nvs_default))?,
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
    let littlefs = unsafe { Littlefs::<()>::new_partition("spool")? };
    let _spool_fs = MountedLittlefs::mount(littlefs, SPOOL_DIR)?;
    let node_config = NodeConfig {
        prefix,
        ..NodeConfig::new(station)
    };
    let mut node = Node::open(node_config, Path::new(SPOOL_DIR))?;
    node.spool_mut().set_limit(Some(SPOOL_LIMIT));
    info!(
        "spool: {} files pending, {} samples replayed",
        node.spool().stats().pending_files,
        node.replayed()
    );

    let pins = peripherals.pins;
    let i2c = I2cDriver::new(
        peripherals.i2c0,
        pins.gpio8,
        pins.gpio9,
        &I2cConfig::new().baudrate(Hertz(100_000)),
    )?;
    let bus = RefCell::new(i2c);
    let mut bme280 = Bme280::new(RefCellDevice::new(&bus));
    let mut scd4x = Scd4x::new(RefCellDevice::new(&bus), Delay);
    let mut uart = UartDriver::new(
        peripherals.uart1,
        pins.gpio17,
        pins.gpio18,
        Option::<AnyIOPin>::None,
        Option::<AnyIOPin>::None,
        &UartConfig::new().baudrate(Hertz(9600)),
    )?;
    let mut pms5003 = Pms5003::new();
    let simulator = config.simulate.map(lakenode::sim::Simulator::new);

    let mut twdt = TWDTDriver::new(
        peripherals.twdt,
        &TWDTConfig {
            duration: Duration::from_secs(60),
            panic_on_trigger: true,
            ..TWDTConfig::new()
        },
    )?;
    let mut watchdog = twdt.watch_current_task()?;

    let boot = Instant::now();
    let interval = node.config().spec.interval_ms();
    let mut keeper = TimeKeeper::new(MAX_UNSYNCED);
    let mut transport = transport::EspTransport {
        timeout: Duration::from_secs(30),
    };
    let mut retry = Backoff::new(Duration::from_secs(5), Duration::from_secs(900), 7);
    let mut next_upload = Instant::now();
    let mut upload_failures = 0i64;
    loop {
        watchdog.feed()?;
        let mono = i64::try_from(boot.elapsed().as_millis()).unwrap_or(i64::MAX);
        let now = SystemClock.now();
        if sntp.get_sync_status() == SyncStatus::Completed {
            keeper.sync(mono, now);
        }
        // Sleep to the next interval boundary: on the UTC grid once synced.
        let wait = if keeper.is_synced() {
            interval - now.as_millisecond().rem_euclid(interval)
        } else {
            interval
        };
        FreeRtos::delay_ms(u32::try_from(wait).unwrap_or(5_000));
        watchdog.feed()?;

        let mut buf = [0u8; 128];
        while let Ok(n) = uart.read(&mut buf, NON_BLOCK) {
            if n == 0 {
                break;
            }
            pms5003.feed(&buf[..n]);
        }
        let mut sample = Sample::new(0);
        match &simulator {
            // Bench mode: the core's deterministic simulator instead of the sensors.
            Some(sim) => sample = sim.sample_at(SystemClock.now().as_millisecond()),
            None => {
                bme280.read(&mut Delay, &mut sample);
                scd4x.read(&mut sample);
                pms5003.read(&mut sample);
            }
        }
        let mono = i64::try_from(boot.elapsed().as_millis()).unwrap_or(i64::MAX);
        for s in keeper.stamp(mono, sample) {
            match node.record(s) {
                Ok(Some(sealed)) => {
                    let mut row = HealthRow::new(s.timestamp_ms);
                    let spool = node.spool().stats();
                    row.uptime_s = mono / 1000;
                    // SAFETY: plain reads of heap counters.
                    row.free_heap = Some(i64::from(unsafe {
                        esp_idf_svc::sys::esp_get_free_heap_size()
                    }));
                    row.min_free_heap = Some(i64::from(unsafe {
                        esp_idf_svc::sys::esp_get_minimum_free_heap_size()
                    }));
                    row.wifi_rssi = wifi.wifi().get_rssi().ok();
                    row.spool_files = spool.pending_files as i64;
                    row.spool_bytes = spool.pending_bytes as i64;
                    row.dropped_files = spool.dropped_files as i64;
                    row.upload_failures = upload_failures;
                    row.reset_reason = reset_reason.clone();
                    (row.bme280, row.scd4x, row.pms5003) = (
                        Some(bme280.health),
                        Some(scd4x.health),
                        Some(pms5003.health),
                    );
                    if let Err(e) = node.spool_health(sealed.window_start_ms, &row) {
                        error!("health row: {e}");
                    }
                }
                Ok(None) => {}
                Err(e) => error!("sample not recorded: {e}"),
            }
        }

        if !wifi.is_connected().unwrap_or(false) {
            // Non-blocking reconnect attempt; sampling goes on meanwhile.
            let _ = wifi.wifi_mut().connect();
            continue;
        }
        if !keeper.is_synced()
            || Instant::now() < next_upload
            || node.spool().stats().pending_files == 0
        {
            continue;
        }
        let report =
            match uploader.drain(node.spool_mut(), &mut transport, &SystemClock, &mut |_| {}) {
                Ok(r) => r,
                Err(e) => {
                    error!("spool: {e}");
                    continue;
                }
            };
        for d in &report.delivered {
            info!("uploaded {} ({} bytes)", d.key, d.bytes);
        }
        match report.stopped {
            None => retry.reset(),
            Some(Stop::GaveUp { key, last, .. }) => {
                upload_failures += 1;
                let delay = retry.next_delay();
                warn!(
                    "upload of {key} failed ({last}); next try in {} s",
                    delay.as_secs()
                );
                next_upload = Instant::now() + delay;
            }
            Some(Stop::Refused { key, failure }) => {
                upload_failures += 1;
                error!("S3 refused {key}: {failure}; uploads pause 15 min, sampling continues");
                next_upload = Instant::now() + Duration::from_secs(900);
            }
        }
    }
}
