//! A power cut at any flash write: a station records and uploads on the device's
//! filesystem (LittleFS's C code on the simulated 4 MiB spool partition, under
//! esp_littlefs's VFS rules, `support/devfs.rs`), and the power goes at a program or an
//! erase chosen at random (torn: only a prefix of its bytes lands). The flash is
//! remounted as it was left, the station reopened, and the day goes on; then the next
//! cut. Each run is a fresh flash and a few hours of 5 s samples in 15 min windows, with
//! an hour of network outage so the spool fills and drains.
//!
//! Invariants, over every run:
//! - every sample whose `record` returned (its journal append was synced) is in the
//!   bucket at the end;
//! - every sealed window's health row is in the bucket too;
//! - nothing is uploaded twice: a key is never written with other bytes, and no sample
//!   is in two objects;
//! - the flash always mounts without a format, and `Station::open` never fails while
//!   the power stays on (a cut during the boot is one more cut: power on, open again).
//!
//! Stops too: about every half hour the station is stopped (its open window flushed,
//! as at SIGTERM) with the power going at a write of that flush or soon after, and the
//! next boot is inside the same window: a flushed window must not be sealed again with
//! the live samples that follow (its key written with other bytes).
//!
//! Every other run batches its uploads (`upload_every` 30 min, so a cut can land at
//! any step of a batch: before it opens, between its files, at its close).
//!
//! Every third run is a virtual-time run (`--simulate`, `--csv`: per-window journal
//! durability, nothing written per sample): after a cut it produces its input again
//! from the last sample the journal holds, as the CLI does, so a window spooled by a
//! boot whose journal rewrite was cut is sealed again by the next (or the one after,
//! when the cut lands at the same rewrite twice: the flash writes between a boot and
//! that rewrite are few). Those runs also cut the power at a third of the journal's
//! rewrites (`RewriteCuts`), so that two boots in a row are cut there, and the third
//! produces the window once more. There every sample of the input counts as journaled, and a
//! stop flushes nothing (as `driver::run_batch` stopped): the power goes soon after the
//! next boot instead.
//!
//! `LAKENODE_POWER_CUTS` sets how many cuts (default 300; `scripts/power-cut.sh` runs
//! 10,000 and prints the summary line). A failed run is named (`run N: ...`);
//! `LAKENODE_POWER_CUT_SEED=N` replays it alone.
#![allow(clippy::unwrap_used, missing_docs)] // a failed unwrap is a failed test

#[path = "support/devfs.rs"]
mod devfs;
#[path = "support/example.rs"]
mod example;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use devfs::{DevFs, Device, PARTITION};
use jiff::Timestamp;
use lakenode::digest::md5_hex;
use lakenode::fuzzing::Durability;
use lakenode::sim::Simulator;
use lakenode::storage::Storage;
use lakenode::{HttpRequest, HttpResponse, Now, Station, StationConfig, TransportError};

/// 2026-12-01T00:00:00Z.
const T0: i64 = 1_796_083_200_000;
const TICK: u64 = 5_000;
const HOUR: u64 = 3_600_000;
const DIR: &str = "/spool";
/// A stop's cut lands within this many flash operations of the flush's start (a flush
/// takes about 20 to 30: its close record, the data file, `health.due`, the journal).
const STOP_OPS: u64 = 40;

/// A small deterministic generator (no dependency for a test's dice).
#[derive(Debug)]
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// A bucket that keeps every object and notices a key written with other bytes.
#[derive(Default)]
struct Bucket {
    objects: BTreeMap<String, Vec<u8>>,
    conflicts: Vec<String>,
    /// PUTs of a key already stored with the same bytes: harmless to the lake, but
    /// radio time. Some cannot be avoided (the power went after S3's reply, before the
    /// entry's removal); a window sealed twice must not add any.
    resent: u64,
}

impl Bucket {
    fn put(&mut self, request: &HttpRequest) -> HttpResponse {
        let key = request
            .url
            .path()
            .trim_start_matches("/lake/")
            .replace("%3D", "=");
        match self.objects.get(&key) {
            Some(old) if *old != request.body => self.conflicts.push(key.clone()),
            Some(_) => self.resent += 1,
            None => {}
        }
        self.objects.insert(key, request.body.clone());
        HttpResponse {
            status: 200,
            headers: vec![("etag".into(), format!("\"{}\"", md5_hex(&request.body)))],
            body: vec![],
        }
    }

    /// The data objects whose health row (one per sealed window) is not in the bucket.
    fn without_health(&self) -> Vec<String> {
        self.objects
            .keys()
            .filter(|k| !k.starts_with("health/"))
            .filter(|k| {
                let health = lakenode::health::health_key_for(None, k);
                !self.objects.contains_key(&health)
            })
            .cloned()
            .collect()
    }

    /// Each data object's key with the timestamp of each of its rows.
    fn data_rows(&self) -> impl Iterator<Item = (&str, i64)> {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        use parquet::record::RowAccessor as _;
        self.objects
            .iter()
            .filter(|(key, _)| !key.starts_with("health/"))
            .flat_map(|(key, body)| {
                let reader = SerializedFileReader::new(bytes::Bytes::from(body.clone())).unwrap();
                let times: Vec<i64> = reader
                    .get_row_iter(None)
                    .unwrap()
                    .map(|row| row.unwrap().get_timestamp_millis(0).unwrap())
                    .collect();
                times.into_iter().map(move |t| (key.as_str(), t))
            })
    }

    /// The data objects holding a row at `at` (Unix ms).
    fn holding(&self, at: i64) -> BTreeSet<&str> {
        self.data_rows()
            .filter(|&(_, t)| t == at)
            .map(|(key, _)| key)
            .collect()
    }

    /// Each data row's timestamp, with the number of objects holding it.
    fn samples(&self) -> BTreeMap<i64, u32> {
        let mut out = BTreeMap::new();
        for (_, t) in self.data_rows() {
            *out.entry(t).or_default() += 1;
        }
        out
    }
}

#[derive(Debug, Default)]
struct Tally {
    cuts: u64,
    journaled: u64,
    /// Journaled samples found in the bucket.
    delivered: u64,
    /// Samples in the bucket whose `record` did not return before the cut (their journal
    /// append reached the flash first): delivered as well, though never promised.
    unacknowledged: u64,
    duplicated: u64,
    /// Keys written with other bytes (counted in `duplicated` too).
    conflicts: u64,
    /// Stops (a flush, then a boot), and those whose flush the power cut.
    stops: u64,
    stop_cuts: u64,
    /// Objects PUT again with the same bytes (see [`Bucket::resent`]).
    resent: u64,
    lost: u64,
    /// Sealed windows (data objects) whose health row never reached the bucket.
    lost_health: u64,
    formats: u64,
    erases: u64,
    erase_cuts: u64,
    ops: u64,
    /// Runs with batched uploads, and the batches they sent.
    batched_runs: u64,
    batches: u64,
    /// Runs with per-window durability.
    per_window_runs: u64,
}

fn config(batched: bool) -> StationConfig {
    StationConfig {
        spool_block: Some(devfs::BLOCK as u64),
        upload_every: batched.then_some(std::time::Duration::from_secs(30 * 60)),
        ..example::device_station_s3(example::AWS_ENDPOINT, None)
    }
}

/// [`Device`], cutting the power at the rename that lands a rewrite of the journal
/// (its new bytes written, not yet in place) one time in `every`.
#[derive(Debug)]
struct RewriteCuts {
    device: Device,
    every: u64,
    dice: std::sync::Mutex<Dice>,
}

impl Storage for RewriteCuts {
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        self.device.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<lakenode::storage::DirEntry>> {
        self.device.list(dir)
    }
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        self.device.read(path)
    }
    fn read_head(&self, path: &Path, len: usize) -> std::io::Result<Vec<u8>> {
        self.device.read_head(path, len)
    }
    fn size(&self, path: &Path) -> std::io::Result<u64> {
        self.device.size(path)
    }
    fn write(&self, path: &Path, data: &[u8]) -> std::io::Result<()> {
        self.device.write(path, data)
    }
    fn open_append(&self, path: &Path) -> std::io::Result<Box<dyn lakenode::storage::AppendFile>> {
        self.device.open_append(path)
    }
    fn lock(
        &self,
        path: &Path,
        holder: &str,
    ) -> std::io::Result<Box<dyn std::fmt::Debug + Send + Sync>> {
        self.device.lock(path, holder)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        let journal = to.file_name().is_some_and(|n| n == "journal.lkj");
        if journal && self.dice.lock().unwrap().below(self.every) == 0 {
            let fs = &self.device.0;
            fs.cut_at(fs.stats().ops); // the next operation
        }
        self.device.rename(from, to)
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        self.device.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        self.device.sync_dir(dir)
    }
}

/// One run: a fresh flash, `hours` of samples, a cut every `gap` operations on average;
/// with `per_window`, a virtual-time run (see the module doc).
fn run(seed: u64, hours: u64, gap: u64, batched: bool, per_window: bool, tally: &mut Tally) {
    let fs = DevFs::new(DIR, PARTITION);
    let storage: Arc<dyn Storage> = if per_window {
        Arc::new(RewriteCuts {
            device: Device(fs.clone()),
            every: 3,
            dice: std::sync::Mutex::new(Dice(seed | 1)),
        })
    } else {
        Arc::new(Device(fs.clone()))
    };
    let mut dice = Dice(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let schedule = |fs: &DevFs, dice: &mut Dice| {
        fs.cut_at(fs.stats().ops + 1 + dice.below(2 * gap));
    };
    schedule(&fs, &mut dice);
    let outage = (HOUR + dice.below(HOUR))..(2 * HOUR + dice.below(HOUR));
    // A boot: the station opens, unless the power goes again meanwhile.
    let open = |dice: &mut Dice| loop {
        match Station::open_with(config(batched), storage.clone(), Path::new(DIR)) {
            Ok(mut station) => {
                if per_window {
                    station.set_journal_durability(Durability::PerWindow);
                }
                break station;
            }
            Err(_) if fs.is_off() => {
                fs.power_on();
                schedule(&fs, dice);
            }
            Err(e) => panic!(
                "run {seed}: Station::open failed after {} cuts: {e}",
                fs.stats().cuts
            ),
        }
    };
    let mut station = open(&mut dice);
    let mut bucket = Bucket::default();
    let mut journaled = BTreeSet::new();
    let sim = Simulator::new(seed);
    let end = hours * HOUR;
    let mut mono = 0;
    // The next sample's instant (from T0): the clock's own in real time; in virtual
    // time, after a boot, right after the last sample the journal holds.
    let mut cursor = 0;
    let resume = |station: &Station, next: u64| {
        if per_window {
            station
                .status()
                .last_recorded
                .map_or(0, |t| u64::try_from(t - T0).unwrap() + TICK)
        } else {
            next
        }
    };
    // The day, then (power staying on after `end`) until everything is delivered.
    let mut rounds = 0;
    let mut batches = 0;
    loop {
        let now = Now::synced(mono, Timestamp::from_millisecond(T0 + mono as i64).unwrap());
        if cursor < end && dice.below(360) == 0 {
            // A stop: the open window flushed, the power going at one of the flush's
            // writes or soon after; then a boot, inside the same window.
            tally.stops += 1;
            fs.cut_at(fs.stats().ops + 1 + dice.below(STOP_OPS));
            // A virtual-time run stopped does not flush (`driver::run_batch`: the next
            // run produces the open window again from its input); the cut then lands
            // soon after the next boot.
            let flushed = if per_window { Ok(()) } else { station.flush() };
            drop(station);
            if fs.is_off() {
                tally.stop_cuts += 1;
            } else if let Err(e) = flushed {
                panic!("run {seed}: the flush at a stop failed without a power cut: {e}");
            }
            fs.power_on();
            schedule(&fs, &mut dice);
            station = open(&mut dice);
            mono += TICK;
            cursor = resume(&station, cursor + TICK);
            continue;
        }
        let ok = (|| -> lakenode::Result<()> {
            if cursor < end {
                let at = T0 + cursor as i64;
                station.record(&now, sim.sample_at(at))?;
                journaled.insert(at);
            } else {
                station.flush()?;
            }
            while let Some((key, row)) = station.take_health_row(&now) {
                station.spool_health(&key, &row)?;
            }
            for event in station.events() {
                if matches!(event, lakenode::Event::BatchClosed { .. }) {
                    batches += 1;
                }
            }
            while let Some(request) = station.poll(&now)? {
                if fs.is_off() {
                    break; // the device died before sending
                }
                let reply = if outage.contains(&mono) {
                    Err(TransportError::Connect("network down".into()))
                } else {
                    Ok(bucket.put(&request))
                };
                station.on_reply(&now, reply)?;
            }
            Ok(())
        })();
        let mut next = cursor + TICK;
        if fs.is_off() {
            // A reboot: whatever the station held in memory is gone.
            drop(station);
            fs.power_on();
            schedule(&fs, &mut dice);
            station = open(&mut dice);
            next = resume(&station, next);
        } else if let Err(e) = ok {
            panic!("run {seed}: the station failed at {mono} ms without a power cut: {e}");
        } else if cursor >= end && station.is_drained().unwrap() {
            break;
        }
        mono += TICK;
        cursor = next.min(end);
        rounds += 1;
        assert!(rounds < 100_000, "run {seed}: never drained");
    }
    for event in station.events() {
        if matches!(event, lakenode::Event::BatchClosed { .. }) {
            batches += 1;
        }
    }
    if per_window {
        tally.per_window_runs += 1;
    }
    if batched {
        assert!(batches > 0, "run {seed}: batched, but no batch closed");
        tally.batched_runs += 1;
        tally.batches += batches;
    }
    let stats = fs.stats();
    let seen = bucket.samples();
    tally.cuts += stats.cuts;
    tally.formats += stats.formats;
    tally.erases += stats.erases;
    tally.erase_cuts += stats.erase_cuts;
    tally.ops += stats.ops;
    tally.journaled += journaled.len() as u64;
    let found = journaled.iter().filter(|t| seen.contains_key(t)).count() as u64;
    tally.delivered += found;
    tally.unacknowledged += seen.len() as u64 - found;
    tally.resent += bucket.resent;
    tally.duplicated +=
        seen.values().filter(|&&n| n > 1).count() as u64 + bucket.conflicts.len() as u64;
    tally.conflicts += bucket.conflicts.len() as u64;
    let lost: Vec<i64> = journaled
        .iter()
        .filter(|t| !seen.contains_key(t))
        .copied()
        .collect();
    tally.lost += lost.len() as u64;
    let no_health = bucket.without_health();
    tally.lost_health += no_health.len() as u64;
    if !no_health.is_empty() {
        eprintln!("run {seed}: windows without their health row: {no_health:?}");
    }
    let twice: Vec<i64> = seen
        .iter()
        .filter(|&(_, &n)| n > 1)
        .map(|(&t, _)| t)
        .collect();
    if !twice.is_empty() {
        eprintln!(
            "run {seed}: {} sample(s) in two objects (first at {} ms into the run), in {:?}",
            twice.len(),
            twice[0] - T0,
            bucket.holding(twice[0])
        );
    }
    if !lost.is_empty() || !bucket.conflicts.is_empty() {
        eprintln!(
            "run {seed}: lost {} journaled sample(s) (first {:?}); keys written with other bytes: {:?}",
            lost.len(),
            lost.first(),
            bucket.conflicts
        );
    }
}

#[test]
fn power_cuts_at_any_flash_write_lose_and_duplicate_nothing() {
    let target: u64 = std::env::var("LAKENODE_POWER_CUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut tally = Tally::default();
    // Cuts close together (every sample) to far apart (every few windows); even runs batch.
    let one = |seed: u64, tally: &mut Tally| {
        let gap = [25, 60, 150, 400, 1500][(seed % 5) as usize];
        run(
            seed,
            3,
            gap,
            seed.is_multiple_of(2),
            seed.is_multiple_of(3),
            tally,
        );
    };
    // `LAKENODE_POWER_CUT_SEED=N` replays the one run a failure names ("run N: ...").
    if let Some(seed) = std::env::var("LAKENODE_POWER_CUT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        one(seed, &mut tally);
        eprintln!("run {seed} alone: {tally:?}");
        assert!(tally.lost + tally.duplicated + tally.lost_health + tally.formats == 0);
        return;
    }
    let mut seed = 1;
    while tally.cuts < target {
        one(seed, &mut tally);
        seed += 1;
    }
    eprintln!(
        "{} runs of 3 h, {} flash operations ({} erases); {} of the cuts during an erase; \
{} samples delivered beyond the journaled ones (appended to the flash, the power cut before `record` returned); \
{} runs with batched uploads ({} batches); {} runs in virtual time (per-window durability); \
{} objects sent again with the same bytes; {} stops ({} cut during their flush)",
        seed - 1,
        tally.ops,
        tally.erases,
        tally.erase_cuts,
        tally.unacknowledged,
        tally.batched_runs,
        tally.batches,
        tally.per_window_runs,
        tally.resent,
        tally.stops,
        tally.stop_cuts
    );
    println!(
        "power-cut: cuts={} journaled={} delivered={} duplicated={} lost={} formats={} other-bytes={}",
        tally.cuts,
        tally.journaled,
        tally.delivered,
        tally.duplicated,
        tally.lost,
        tally.formats,
        tally.conflicts
    );
    assert_eq!(tally.formats, 0, "the flash must always mount");
    assert_eq!(tally.lost, 0, "journaled samples lost");
    assert_eq!(
        tally.journaled, tally.delivered,
        "every journaled sample delivered"
    );
    assert_eq!(tally.conflicts, 0, "keys written with other bytes");
    assert_eq!(tally.duplicated, 0, "samples or keys uploaded twice");
    assert!(tally.stop_cuts > 0, "no stop cut during its flush");
    assert_eq!(
        tally.lost_health, 0,
        "sealed windows without their health row"
    );
    assert!(tally.batched_runs > 0, "no run with batched uploads");
}
