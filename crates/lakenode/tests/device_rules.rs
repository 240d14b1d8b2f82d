//! The journal and the spool on the device's filesystem: LittleFS's C code under
//! esp_littlefs's VFS rules (`support/devfs.rs`). Each test here failed on code that
//! passed every Linux test: the journal renamed over itself while open (EBUSY on the
//! device), and a damaged journal was kept aside with `fs::copy` (always fails on
//! ESP-IDF, and cannot reach the device's files at all).
#![allow(clippy::unwrap_used, missing_docs)] // a failed unwrap is a failed test

#[path = "support/devfs.rs"]
mod devfs;

use std::path::Path;
use std::sync::Arc;

use devfs::{DevFs, Device, PARTITION};
use lakenode::fuzzing::Journal;
use lakenode::fuzzing::Spool;
use lakenode::sample::Sample;
use lakenode::schema::Measurement;
use lakenode::storage::Storage;

fn device() -> (Arc<DevFs>, Arc<dyn Storage>) {
    let fs = DevFs::new("/spool", PARTITION);
    let storage: Arc<dyn Storage> = Arc::new(Device(fs.clone()));
    (fs, storage)
}

fn sample(t: i64) -> Sample {
    let mut s = Sample::new(1_796_083_200_000 + t * 5_000);
    s.set_count(Measurement::Temperature, Some(2137 + t as i32));
    s
}

const DIR: &str = "/spool";

#[test]
fn the_device_refuses_to_rename_or_remove_an_open_file() {
    let (_, fs) = device();
    let a = Path::new("/spool/a");
    let b = Path::new("/spool/b");
    fs.write(a, b"a").unwrap();
    fs.write(b, b"b").unwrap();
    let open = fs.open_append(a).unwrap();
    for err in [
        fs.rename(b, a).unwrap_err(),
        fs.rename(a, b).unwrap_err(),
        fs.remove(a).unwrap_err(),
    ] {
        assert_eq!(err.raw_os_error(), Some(16), "{err}");
    }
    drop(open);
    fs.rename(b, a).unwrap();
    assert_eq!(fs.read(a).unwrap(), b"b");
    fs.remove(a).unwrap();
    assert_eq!(fs.read(a).unwrap_err().kind(), std::io::ErrorKind::NotFound);
}

/// `Storage::replace` (spool entries, the journal, `station.state`, `timeline.state`)
/// under the device's rules: over a closed file it replaces it and leaves no temporary
/// file; over an open one the device refuses the rename, the old bytes stay and the
/// temporary file is removed.
#[test]
fn replace_is_atomic_and_refused_over_an_open_file_on_the_device() {
    let (_, fs) = device();
    let path = Path::new("/spool/station.state");
    fs.replace(path, b"first\n").unwrap();
    fs.replace(path, b"second\n").unwrap();
    assert_eq!(fs.read(path).unwrap(), b"second\n");
    let names = |fs: &Arc<dyn Storage>| -> Vec<String> {
        let mut n: Vec<String> = fs
            .list(Path::new(DIR))
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&fs), ["station.state"]);
    let open = fs.open_append(path).unwrap();
    let err = fs.replace(path, b"third\n").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(16), "{err}");
    drop(open);
    assert_eq!(fs.read(path).unwrap(), b"second\n");
    assert_eq!(names(&fs), ["station.state"], "no temporary file left");
}

/// Defect 1 of issue 21: `Journal::restart` renamed the rewritten journal over the one
/// it still held open. Linux allows it; esp_littlefs answers EBUSY, so every window
/// sealed on the device failed to restart the journal.
#[test]
fn restarting_the_journal_works_on_the_device() {
    let (_, fs) = device();
    let (mut j, _) = Journal::open_with(fs.clone(), Path::new(DIR)).unwrap();
    for t in 1..=3 {
        j.append(&sample(t)).unwrap();
    }
    j.restart(sample(2).timestamp_ms, &[sample(3)]).unwrap();
    j.append(&sample(4)).unwrap();
    drop(j);
    let (_, replay) = Journal::open_with(fs, Path::new(DIR)).unwrap();
    assert_eq!(replay.sealed_through, Some(sample(2).timestamp_ms));
    assert_eq!(replay.samples, [sample(3), sample(4)]);
}

/// Defect 2 of issue 21: a damaged journal was kept aside with `fs::copy`, which always
/// fails on ESP-IDF: the node could not start until its journal was erased by hand.
#[test]
fn a_damaged_journal_is_kept_aside_and_repaired_on_the_device() {
    let (_, fs) = device();
    let (mut j, _) = Journal::open_with(fs.clone(), Path::new(DIR)).unwrap();
    for t in 1..=5 {
        j.append(&sample(t)).unwrap();
    }
    drop(j);
    let path = Path::new("/spool/journal.lkj");
    let good = fs.read(path).unwrap();
    // A damaged header, then a flipped bit in the middle.
    for at in [0, good.len() / 2] {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        fs.write(path, &bad).unwrap();
        let (_, replay) = Journal::open_with(fs.clone(), Path::new(DIR)).unwrap();
        assert!(replay.damage.is_some(), "byte {at}");
        assert!(
            replay.samples.len() >= 4,
            "byte {at}: {:?}",
            replay.samples.len()
        );
        assert_eq!(
            fs.read(Path::new("/spool/journal.lkj.corrupt")).unwrap(),
            bad
        );
        let (_, again) = Journal::open_with(fs.clone(), Path::new(DIR)).unwrap();
        assert_eq!(again.damage, None, "repaired for good");
        fs.write(path, &good).unwrap();
    }
}

/// The spool's whole life on the device: entries pushed (rename of a closed temporary
/// file), quarantined, removed, the dropped log appended, all with the lock file open.
#[test]
fn the_spool_works_on_the_device() {
    let (_, fs) = device();
    let _lock = lakenode::fuzzing::SpoolLock::acquire_with(&*fs, Path::new(DIR)).unwrap();
    let mut spool = Spool::open_with(fs.clone(), DIR).unwrap();
    spool.set_limit(Some(lakenode::fuzzing::MIN_LIMIT)).unwrap();
    spool.set_block_size(devfs::BLOCK as u64).unwrap();
    let mut ids = Vec::new();
    for i in 0..20 {
        let (id, _) = spool
            .push(&format!("k/{i}.parquet"), &[i as u8; 3_000])
            .unwrap();
        ids.push(id);
    }
    assert_eq!(spool.stats().dropped_files, 4, "{:?}", spool.stats());
    let last = *ids.last().unwrap();
    assert_eq!(spool.read_key(last).unwrap(), "k/19.parquet");
    spool.quarantine(last, "test").unwrap();
    assert_eq!(spool.quarantined(), 1);
    for id in spool.pending().unwrap() {
        assert_eq!(spool.read(id).unwrap().body.len(), 3_000);
        spool.remove(id).unwrap();
    }
    drop(spool);
    let spool = Spool::open_with(fs, DIR).unwrap();
    assert!(spool.pending().unwrap().is_empty());
    assert_eq!(spool.stats().dropped_files, 4, "dropped.log survives");
}

/// A station reopened with another configuration seals its journal under the earlier
/// one first (two recorders on one journal, one after the other) and rewrites
/// `station.state`: all of it on the device's filesystem.
#[test]
fn a_station_switches_configuration_on_the_device() {
    use lakenode::{Credentials, Now, S3Client, S3Config, Station, StationConfig, StationId};
    let (_, fs) = device();
    let s3 = S3Config::new("http://127.0.0.1:1", "lake", "us-east-1", true).unwrap();
    let client = S3Client::new(
        &s3,
        Credentials::new("AKIAIOSFODNN7EXAMPLE", "secret", None),
    );
    let first = StationConfig::new(
        StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e").unwrap(),
        client.unwrap(),
    );
    let now = Now::synced(
        0,
        jiff::Timestamp::from_millisecond(sample(20).timestamp_ms).unwrap(),
    );
    {
        let mut st = Station::open_with(first.clone(), fs.clone(), Path::new(DIR)).unwrap();
        for t in 1..=13 {
            st.record(&now, sample(t)).unwrap();
        }
    } // the power goes with 13 samples in the journal
    let mut changed = first.clone();
    changed.recorder.station = StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2f").unwrap();
    let mut st = Station::open_with(changed.clone(), fs.clone(), Path::new(DIR)).unwrap();
    assert!(st.events().next().is_some(), "the switch is reported");
    assert_eq!(
        st.status().pending_files,
        1,
        "the open window sealed under the first station"
    );
    let spool = Spool::open_with(fs.clone(), DIR).unwrap();
    let pending = spool.pending().unwrap();
    assert!(spool.read_key(pending[0]).unwrap().contains("1d2e"));
    drop(st);
    let mut st = Station::open_with(changed, fs, Path::new(DIR)).unwrap();
    assert_eq!(st.events().count(), 0, "station.state was rewritten");
}
