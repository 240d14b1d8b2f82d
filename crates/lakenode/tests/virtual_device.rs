//! A virtual ESP32-S3: the station loop (`run_live`, as the firmware runs it) for 24 h of
//! virtual time under the device's limits:
//! - heap: allocations beyond 160 KiB of live heap above the start fail (what an S3
//!   without PSRAM has left after WiFi and TLS), which aborts this test;
//! - flash: the spool lives on LittleFS's own C code over a simulated 4 MiB flash (the
//!   firmware's `spool` partition) under esp_littlefs's VFS rules (`support/devfs.rs`:
//!   no rename or unlink of an open file, no directory sync, no locks), with the
//!   firmware's 3 MB spool limit counted in 4 KiB blocks;
//! - clock: it reads 1970 for the first 10 minutes (no SNTP yet), then the real time;
//! - network: esp_http_client's rules (`esp_http/mod.rs`: the request line must fit the
//!   send buffer the firmware configures, `Host` without the port unless set, a stalled
//!   socket's `Ok(0)`), driven by the core's `send_over` as the firmware's transport
//!   does, to an endpoint on its own port with temporary (STS) credentials; writes stall
//!   for the 20 minutes before 11 h, and nothing connects from 11 h to 13 h.
//!
//! Then every object in the fake bucket is read back: every sample taken must be there
//! once, and the spool empty. It prints peak heap, peak spool blocks (as LittleFS counts
//! them, metadata included) and the flash's erases (the README quotes them):
//! `cargo test -p lakenode --test virtual_device`.
#![allow(unsafe_code, clippy::unwrap_used, missing_docs)] // a counting allocator; a failed unwrap is a failed test

#[path = "support/devfs.rs"]
mod devfs;
mod esp_http;
#[path = "support/example.rs"]
mod example;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use devfs::DevFs;
use jiff::Timestamp;
use lakenode::driver::{Reply, run_batch};
use lakenode::sim::Simulator;
use lakenode::transport::send_over;
use lakenode::{
    Adapter, BatchEnd, Event, HttpRequest, Link, Now, Sample, Station, StationConfig,
    TransportError, run_live,
};

const HEAP_CAP: usize = 160 * 1024;
const BLOCK: u64 = devfs::BLOCK as u64;
const PARTITION_BLOCKS: u64 = devfs::PARTITION as u64 / BLOCK;
const HOUR: u64 = 3_600_000;
/// 2026-12-01T00:00:00Z: the wall clock once synchronised is this plus monotonic time.
const T0: i64 = 1_796_083_200_000;

/// Live heap, its peak above `BASE`, and whether the cap is on.
static LIVE: AtomicUsize = AtomicUsize::new(0);
static BASE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static CAPPED: AtomicBool = AtomicBool::new(false);

struct DeviceHeap;

// SAFETY: forwards to the system allocator; only counts, and refuses over the cap.
unsafe impl GlobalAlloc for DeviceHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !self.admit(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            self.grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let extra = new_size.saturating_sub(layout.size());
        if !self.admit(extra) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
            self.grew(new_size);
        }
        p
    }
}

impl DeviceHeap {
    fn admit(&self, size: usize) -> bool {
        !CAPPED.load(Relaxed) || LIVE.load(Relaxed) + size <= BASE.load(Relaxed) + HEAP_CAP
    }

    fn grew(&self, size: usize) {
        let live = LIVE.fetch_add(size, Relaxed) + size;
        if CAPPED.load(Relaxed) {
            PEAK.fetch_max(live.saturating_sub(BASE.load(Relaxed)), Relaxed);
        }
    }
}

#[global_allocator]
static HEAP: DeviceHeap = DeviceHeap;

/// Runs `f` with the cap and the peak off (the test's own bookkeeping).
fn uncapped<T>(f: impl FnOnce() -> T) -> T {
    let was = CAPPED.swap(false, Relaxed);
    let out = f();
    CAPPED.store(was, Relaxed);
    out
}

/// The device: a monotonic clock that moves only when the link waits, a wall clock in
/// 1970 until SNTP answers at 10 minutes, the core's simulated sensors.
struct Device {
    mono: Rc<Cell<u64>>,
    until: u64,
    flash: Arc<DevFs>,
    taken: Vec<u64>,
    peak_blocks: u64,
    next_check: u64,
    lost: Vec<String>,
}

impl Adapter for Device {
    fn now(&mut self) -> Now {
        let mono = self.mono.get();
        let ms = i64::try_from(mono).unwrap();
        let wall = if mono < 10 * 60_000 {
            Timestamp::from_millisecond(ms).unwrap() // an RTC that starts in 1970
        } else {
            Timestamp::from_millisecond(T0 + ms).unwrap()
        };
        Now::synced(mono, wall)
    }

    fn read_sensors(&mut self, at: &Now) -> Sample {
        uncapped(|| self.taken.push(at.mono_ms));
        Simulator::new(5).sample_at(at.wall_ms().unwrap_or(T0))
    }

    fn on_event(&mut self, event: &Event) {
        if matches!(
            event,
            Event::Dropped { .. }
                | Event::Skipped { .. }
                | Event::Quarantined { .. }
                | Event::Error { .. }
        ) {
            uncapped(|| self.lost.push(event.to_string()));
        }
    }

    fn keep_running(&mut self) -> bool {
        let mono = self.mono.get();
        if mono >= self.next_check {
            self.next_check = mono + 60_000;
            let blocks = uncapped(|| self.flash.used_blocks());
            self.peak_blocks = self.peak_blocks.max(blocks);
        }
        mono < self.until
    }
}

/// A network that answers like S3 (200 with the body's MD5 as ETag, 300 ms later)
/// through esp_http_client's rules, storing objects on disk; writes stall in the 20
/// minutes before 11 h, and nothing connects from 11 h to 13 h.
struct Network {
    mono: Rc<Cell<u64>>,
    lake: PathBuf,
    out: Option<(u64, HttpRequest)>,
    refused: u32,
    seen: esp_http::Seen,
}

impl Link for Network {
    fn busy(&self) -> bool {
        self.out.is_some()
    }

    fn start(&mut self, request: HttpRequest) {
        self.out = Some((self.mono.get() + 300, request));
    }

    fn wait(&mut self, timeout: Duration) -> Option<Reply> {
        let now = self.mono.get();
        let until = now + u64::try_from(timeout.as_millis()).unwrap();
        match self.out.take() {
            Some((done, request)) if done <= until => {
                self.mono.set(done.max(now));
                Some(uncapped(|| self.answer(&request)))
            }
            other => {
                self.out = other;
                self.mono.set(until);
                None
            }
        }
    }
}

impl Network {
    fn answer(&mut self, request: &HttpRequest) -> Reply {
        let now = self.mono.get();
        if (11 * HOUR..13 * HOUR).contains(&now) {
            self.refused += 1;
            return Err(TransportError::Connect("network down".into()));
        }
        // The firmware's transport: a connection per request, its send buffer sized
        // from the request (`firmware/esp32s3/src/transport.rs`).
        let mut conn = esp_http::EspRulesConnection::new(
            self.lake.clone(),
            Some(request.send_buffer_size()),
            &mut self.seen,
        );
        conn.stall = (11 * HOUR - 1_200_000..11 * HOUR).contains(&now);
        send_over(&mut conn, request)
    }
}

/// Timestamps of every data row in the fake bucket.
fn lake_timestamps(dir: &Path, out: &mut BTreeMap<i64, u32>, files: &mut usize) {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            if !path.ends_with("health") {
                lake_timestamps(&path, out, files);
            }
            continue;
        }
        *files += 1;
        let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        for row in reader.get_row_iter(None).unwrap() {
            use parquet::record::RowAccessor as _;
            let ts = row.unwrap().get_timestamp_millis(0).unwrap();
            *out.entry(ts).or_default() += 1;
        }
    }
}

fn main() {
    // A failure under the cap must still print (its backtrace needs heap), not hang.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        CAPPED.store(false, Relaxed);
        report(info);
    }));
    let tmp = tempfile::tempdir().unwrap();
    // The flash is not heap: made before the cap's base is taken.
    let flash = DevFs::new("/spool", devfs::PARTITION);
    let lake = tmp.path().join("lake");
    // An S3-compatible store on its own port (MinIO, Garage), temporary credentials.
    let config = StationConfig {
        spool_block: Some(BLOCK),
        ..example::device_station_s3(
            "https://s3.lake.example:9000",
            Some("IQoJb3JpZ2luX2VjEXAMPLETOKEN".repeat(40)),
        )
    };
    let mono = Rc::new(Cell::new(0));
    let mut device = Device {
        mono: mono.clone(),
        until: 24 * HOUR,
        flash: flash.clone(),
        taken: Vec::with_capacity(20_000),
        peak_blocks: 0,
        next_check: 0,
        lost: Vec::new(),
    };
    let mut network = Network {
        mono: mono.clone(),
        lake: lake.clone(),
        out: None,
        refused: 0,
        seen: esp_http::Seen::default(),
    };

    BASE.store(LIVE.load(Relaxed), Relaxed);
    CAPPED.store(true, Relaxed);
    // The firmware opens its station on StdStorage over esp_littlefs's VFS; here the same
    // LittleFS code runs under the same rules behind the storage seam.
    let mut node = Station::open_with(
        config,
        Arc::new(devfs::Device(flash.clone())),
        Path::new("/spool"),
    )
    .unwrap();
    run_live(&mut node, &mut device, &mut network).unwrap();
    // Power stays on after the day: the open window is sealed and everything delivered.
    device.until = u64::MAX;
    let end = run_batch(
        &mut node,
        std::iter::empty(),
        &mut device,
        &mut network,
        Duration::from_secs(600),
    )
    .unwrap();
    CAPPED.store(false, Relaxed);

    let counters = *node.counters();
    let (mut seen, mut files) = (BTreeMap::new(), 0);
    lake_timestamps(&lake, &mut seen, &mut files);
    let times: Vec<i64> = seen.keys().copied().collect();
    let worst_gap = times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    let duplicated = seen.values().filter(|n| **n > 1).count();
    let peak = PEAK.load(Relaxed);
    let wear = flash.stats();
    println!(
        "virtual device, 24 h at 5 s: {} samples taken, {} delivered in {files} data files, {duplicated} duplicated, largest gap {worst_gap} ms; \
network down 2 h ({} refused connections), {} stalled writes, {} bad Host, {} out of buffer, {} empty objects; peak heap {peak} B of a {HEAP_CAP} B cap; peak spool {} blocks of 4 KiB ({} KiB) of {PARTITION_BLOCKS}; \
flash: {} erases ({:.1} per block), {} KiB programmed",
        device.taken.len(),
        seen.len(),
        network.refused,
        network.seen.stalled_writes,
        network.seen.bad_host,
        network.seen.out_of_buffer,
        network.seen.empty_objects,
        device.peak_blocks,
        device.peak_blocks * 4,
        wear.erases,
        wear.erases as f64 / PARTITION_BLOCKS as f64,
        wear.programmed / 1024,
    );
    assert_eq!(wear.formats, 0);
    assert_eq!(end, BatchEnd::Delivered);
    assert!(device.lost.is_empty(), "{:?}", device.lost);
    assert!(!counters.lost_any(), "{counters:?}");
    assert_eq!(
        seen.len(),
        device.taken.len(),
        "every sample taken is in the bucket"
    );
    assert_eq!(duplicated, 0);
    assert!(
        worst_gap <= 7_500,
        "a {worst_gap} ms gap in the delivered data"
    );
    assert!(network.refused > 0, "the outage was exercised");
    assert!(network.seen.stalled_writes > 0, "the stalls were exercised");
    assert_eq!(
        (
            network.seen.bad_host,
            network.seen.out_of_buffer,
            network.seen.empty_objects
        ),
        (0, 0, 0),
        "esp_http_client's rules were kept"
    );
    assert!(device.peak_blocks <= PARTITION_BLOCKS);
    assert!(node.is_drained().unwrap(), "the spool is empty");
    assert!(peak <= HEAP_CAP);
}
