//! The station's tests: recording, identity, status here; the uploads in `upload`.

use super::uploader::Pause;
use super::*;
use crate::digest::md5_hex;
use crate::health::Tree;
use crate::layout::StationId;
use crate::s3::{Credentials, S3Config};
use crate::s3::{S3Client, S3Failure};
use crate::sample::Sample;
use crate::sim::Simulator;
use jiff::Timestamp;
use std::collections::BTreeMap;

mod batch;
mod health;
mod upload;

/// 2026-12-01T00:00:00Z: the test windows start here.
const T0: i64 = 1_796_083_200_000;
const STATION: &str = "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e";

fn config() -> StationConfig {
    let s3 = S3Config::new("http://127.0.0.1:1", "lake", "us-east-1", true).expect("cfg");
    let client = S3Client::new(
        &s3,
        Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            None,
        ),
    )
    .expect("client");
    StationConfig::new(StationId::new(STATION).expect("id"), client)
}

/// Noon of the test day, `mono_ms` after start.
fn at(mono_ms: u64) -> Now {
    let wall =
        Timestamp::from_millisecond(T0 + 12 * 3_600_000 + i64::try_from(mono_ms).unwrap_or(0))
            .expect("ts");
    Now::synced(mono_ms, wall)
}

/// A station with `windows` sealed windows in its spool.
fn with_windows(dir: &Path, windows: i64) -> Station {
    let mut st = Station::open(config(), dir).expect("open");
    let sim = Simulator::new(3);
    for i in 0..windows * 180 {
        st.record(&at(0), sim.sample_at(T0 + i * 5_000))
            .expect("record");
    }
    st.flush().expect("flush");
    st
}

/// Records the samples of windows `from..to` (15 min each from `T0`), spooling
/// health rows as windows are sealed (as the driver does).
fn record_with_health(st: &mut Station, from: i64, to: i64) {
    let sim = Simulator::new(3);
    for i in from * 180..to * 180 {
        st.record(&at(0), sim.sample_at(T0 + i * 5_000))
            .expect("record");
        spool_health_rows(st);
    }
}

/// Records `windows` sealed windows from `T0`, each with its health row spooled right
/// after it.
fn fill_with_health(st: &mut Station, windows: i64) {
    record_with_health(st, 0, windows);
    st.flush().expect("flush");
    spool_health_rows(st);
}

/// Spools the health rows of the windows sealed so far.
fn spool_health_rows(st: &mut Station) {
    while let Some((key, row)) = st.take_health_row(&at(0)) {
        st.spool_health(&key, &row).expect("spool health");
    }
}

/// The object's file name: the last segment of the request's path.
fn file_name(request: &HttpRequest) -> String {
    request
        .url
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.as_bytes().to_vec(),
    }
}

/// S3's success reply for `request`: 200 with the body's MD5 as ETag.
fn stored(request: &HttpRequest) -> HttpResponse {
    let etag = format!("\"{}\"", md5_hex(&request.body));
    reply(200, &[("etag", &etag)], "")
}

fn s3_error(status: u16, code: &str, date: &str) -> HttpResponse {
    reply(
        status,
        &[("date", date)],
        &format!("<Error><Code>{code}</Code><Message>m</Message></Error>"),
    )
}

/// Sends the request due next (at the station's wake-up instant, 0 if none is
/// scheduled) and answers it with `reply`; returns that instant.
fn attempt(st: &mut Station, reply: HttpResponse) -> u64 {
    let now = st.wake_at().unwrap_or(0);
    st.poll(&at(now)).expect("poll").expect("request");
    st.on_reply(&at(now), Ok(reply)).expect("reply");
    now
}

fn pending(st: &Station) -> usize {
    st.recorder.spool().pending().expect("list").len()
}

fn quarantined(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("quarantine")).map_or(0, |d| {
        d.flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "lks"))
            .count()
    })
}

#[test]
fn a_poisoned_future_journal_does_not_silence_the_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Simulator::new(4);
    let future = 4_102_444_200_000; // 2099-12-31T23:50:00Z, as `run --start` wrote it
    {
        let mut st = Station::open(config(), dir.path()).expect("open");
        for i in 0..100 {
            st.record(&at(0), sim.sample_at(future + i * 5_000))
                .expect("record");
        }
    } // killed: the journal holds samples of 2099
    let mut st = Station::open(config(), dir.path()).expect("reopen");
    for i in 0..10 {
        let now = at(i * 5_000);
        st.sample(&now, sim.sample_at(0)).expect("sample");
    }
    assert_eq!(st.counters().samples, 10, "every real-time sample recorded");
    assert_eq!(st.counters().skipped_samples, 0);
    let events: Vec<Event> = st.events().collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::TimelineReset { .. })),
        "{events:?}"
    );
    // The 2099 window was sealed, not thrown away.
    assert_eq!(st.counters().sealed_files, 1);
    // A clock stepping back by a few seconds still skips (and counts) the repeats.
    let now = at(1_000);
    st.record(&now, sim.sample_at(T0 + 12 * 3_600_000))
        .expect("record");
    assert_eq!(st.counters().skipped_samples, 1);
}

#[test]
fn journaled_samples_keep_the_station_and_columns_they_were_taken_with() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Simulator::new(6);
    {
        let mut st = Station::open(config(), dir.path()).expect("open");
        for i in 0..13 {
            st.record(&at(0), sim.sample_at(T0 + i * 5_000))
                .expect("record");
        }
    } // killed with 13 samples of an open window in the journal
    let other = StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2f").expect("id");
    let mut changed = config();
    changed.recorder = RecorderConfig {
        station: other,
        schema: crate::schema::Schema::parse_list("temperature").expect("schema"),
        ..changed.recorder
    };
    let mut st = Station::open(changed.clone(), dir.path()).expect("reopen");
    assert!(
        st.events().any(|e| matches!(e, Event::Error { .. })),
        "the switch is reported"
    );
    let spool = st.recorder.spool();
    let entries: Vec<_> = spool
        .pending()
        .expect("list")
        .into_iter()
        .map(|id| spool.read(id).expect("read"))
        .collect();
    assert_eq!(entries.len(), 1);
    assert!(
        entries[0].key.contains(STATION),
        "sealed under the earlier station: {}",
        entries[0].key
    );
    assert_eq!(st.recorder.replayed(), 0, "nothing relabelled");
    drop(st);
    // The same arguments again: no switch.
    let mut st = Station::open(changed, dir.path()).expect("reopen");
    assert_eq!(st.events().count(), 0);
}

#[test]
fn a_profile_switch_within_one_prefix_is_refused_and_changes_nothing() {
    use crate::encode::WriterProfile;
    use crate::layout::Prefix;
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Simulator::new(6);
    let with = |profile, prefix: Option<&str>| {
        let mut c = config();
        c.recorder.profile = profile;
        c.recorder.prefix = prefix.map(|p| Prefix::new(p).expect("prefix"));
        c
    };
    {
        let mut st =
            Station::open(with(WriterProfile::Compat, Some("raw")), dir.path()).expect("open");
        st.record(&at(0), sim.sample_at(T0)).expect("record");
    }
    let err =
        Station::open(with(WriterProfile::Compact, Some("raw")), dir.path()).expect_err("refused");
    let text = err.to_string();
    assert!(
        matches!(err, crate::Error::Config { .. })
            && text.contains("`compat` files to prefix `raw`")
            && text.contains("another prefix"),
        "{text}"
    );
    // Nothing changed: the same configuration as before opens without a switch.
    let mut st =
        Station::open(with(WriterProfile::Compat, Some("raw")), dir.path()).expect("reopen");
    assert_eq!(st.events().count(), 0);
    drop(st);
    // Another prefix for the other profile is fine (reported as a switch).
    let mut st =
        Station::open(with(WriterProfile::Compact, Some("compact")), dir.path()).expect("open");
    assert_eq!(st.events().count(), 1);
    drop(st);
    // A detour through that prefix does not make the first one forget its profile
    // (found by the adversarial review: the spool remembered only its last prefix).
    let err = Station::open(with(WriterProfile::Compact, Some("raw")), dir.path())
        .expect_err("refused after a detour");
    assert!(
        err.to_string().contains("`compat` files to prefix `raw`"),
        "{err}"
    );
    // A spool from before the record: its last configuration seeds it.
    std::fs::remove_file(dir.path().join(super::identity::PREFIXES)).expect("remove record");
    Station::open(with(WriterProfile::Compat, Some("raw")), dir.path()).expect("back to raw");
    let err = Station::open(with(WriterProfile::Compact, Some("raw")), dir.path())
        .expect_err("seeded from station.state");
    assert!(
        err.to_string().contains("`compat` files to prefix `raw`"),
        "{err}"
    );
}

#[test]
fn samples_before_the_first_time_sync_wait_and_nothing_is_signed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = with_windows(dir.path(), 1);
    let unsynced = |mono| Now {
        mono_ms: mono,
        wall: Some(Timestamp::UNIX_EPOCH),
    };
    assert!(
        st.poll(&unsynced(0)).expect("poll").is_none(),
        "never signs in 1970"
    );
    let recorded = st.counters().samples;
    st.sample(&unsynced(1_000), Sample::new(0)).expect("held");
    st.sample(
        &Now {
            mono_ms: 6_000,
            wall: None,
        },
        Sample::new(0),
    )
    .expect("held");
    assert_eq!(st.counters().samples, recorded);
    st.sample(&at(11_000), Sample::new(0)).expect("dated");
    assert_eq!(st.counters().samples, recorded + 3);
}

#[test]
fn samples_held_at_a_stop_before_any_sync_are_counted_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = Station::open(config(), dir.path()).expect("open");
    for mono in [0, 5_000, 10_000] {
        let unsynced = Now {
            mono_ms: mono,
            wall: None,
        };
        st.sample(&unsynced, Sample::new(0)).expect("held");
    }
    st.drop_unsynced();
    assert_eq!(st.counters().unsynced_dropped, 3);
    assert!(st.counters().lost_any());
    assert!(st.events().any(|e| matches!(e, Event::Error { .. })));
    st.sample(&at(20_000), Sample::new(0)).expect("dated");
    assert_eq!(st.counters().samples, 1, "none of the lost ones comes back");
}

#[test]
fn spool_limit_drops_are_events_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = Station::open(
        StationConfig {
            spool_limit: Some(crate::spool::MIN_LIMIT),
            ..config()
        },
        dir.path(),
    )
    .expect("open");
    let sim = Simulator::new(5);
    // A day of 15-minute windows (~4 KB each) into a 64 KiB spool, nothing uploaded.
    for i in 0..17_280 {
        st.record(&at(0), sim.sample_at(T0 + i * 5_000))
            .expect("record");
    }
    let dropped = st
        .events()
        .filter(|e| matches!(e, Event::Dropped { .. }))
        .count();
    assert!(dropped > 50, "{dropped}");
    assert_eq!(st.counters().dropped_files, dropped as u64);
    assert!(st.counters().lost_any());
    assert!(
        StationConfig {
            spool_limit: Some(1_000),
            ..config()
        }
        .spool_limit
        .is_some()
            && Station::open(
                StationConfig {
                    spool_limit: Some(1_000),
                    ..config()
                },
                &dir.path().join("b")
            )
            .is_err(),
        "a limit smaller than a file is refused"
    );
}

/// Spools due health rows and uploads everything into `lake` (path -> bytes);
/// returns the paths written again with other bytes.
fn deliver(st: &mut Station, now: &Now, lake: &mut BTreeMap<String, Vec<u8>>) -> Vec<String> {
    while let Some((key, row)) = st.take_health_row(now) {
        st.spool_health(&key, &row).expect("health");
    }
    let mut clashes = Vec::new();
    while let Some(req) = st.poll(now).expect("poll") {
        let path = req.url.path().to_owned();
        st.on_reply(now, Ok(stored(&req))).expect("reply");
        if lake
            .insert(path.clone(), req.body)
            .is_some_and(|old| Some(&old) != lake.get(&path))
        {
            clashes.push(path);
        }
    }
    clashes
}

/// Records the samples of [from, to) at 5 s, the clock reading each one's time (a
/// new `seed`: other readings, as real sensors would give).
fn record_span(
    seed: u64,
    st: &mut Station,
    from: i64,
    to: i64,
    lake: &mut BTreeMap<String, Vec<u8>>,
) -> Vec<String> {
    let sim = Simulator::new(seed);
    let mut clashes = Vec::new();
    for t in (from..to).step_by(5_000) {
        let now = Now::synced(0, Timestamp::from_millisecond(t).expect("ts"));
        st.record(&now, sim.sample_at(t)).expect("record");
        clashes.extend(deliver(st, &now, lake));
    }
    clashes
}

#[test]
fn a_reboot_with_an_old_clock_never_overwrites_an_object_with_other_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let open = || {
        let config = StationConfig {
            health: true,
            ..config()
        };
        Station::open(config, dir.path()).expect("open")
    };
    let hm = |h: i64, m: i64| T0 + h * 3_600_000 + m * 60_000;
    let mut lake = BTreeMap::new();
    let mut clashes = Vec::new();
    {
        let mut st = open();
        clashes.extend(record_span(1, &mut st, hm(3, 55), hm(5, 5), &mut lake));
    } // power lost at 05:05
    // fake-hwclock brings the clock back at 03:59; the node runs to 04:40.
    {
        let mut st = open();
        clashes.extend(record_span(2, &mut st, hm(3, 59), hm(4, 40), &mut lake));
        assert!(
            st.events()
                .any(|e| matches!(e, Event::TimelineReset { .. }))
        );
    } // and reboots again (same clock), then runs past the earlier 05:05.
    let mut st = open();
    clashes.extend(record_span(3, &mut st, hm(4, 40), hm(5, 35), &mut lake));
    st.flush().expect("flush");
    clashes.extend(deliver(&mut st, &at(0), &mut lake));
    assert_eq!(
        clashes,
        Vec::<String>::new(),
        "objects overwritten with other bytes"
    );
    let names: Vec<&str> = lake.keys().filter_map(|k| k.rsplit('/').next()).collect();
    for name in [
        "data_0400.parquet",
        "data_0400_r1.parquet",
        "health_0400_r1.parquet",
        "data_0415_r1.parquet",
        "data_0500_r1.parquet",
        "data_0515.parquet",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
}

#[test]
fn status_tells_what_the_station_holds_and_where() {
    let dir = tempfile::tempdir().expect("tempdir");
    let st = with_windows(dir.path(), 2);
    let status = st.status();
    assert_eq!(status.pending_files, 2);
    assert!(status.pending_bytes > 0);
    assert_eq!(status.last_recorded, Some(T0 + (2 * 180 - 1) * 5_000));
    assert_eq!(status.spool_dir, dir.path());
    assert_eq!(status.quarantine_dir, dir.path().join("quarantine"));
    assert_eq!((status.quarantined_files, status.dropped_files), (0, 0));
}

#[test]
fn an_adapters_state_file_moves_out_of_the_spool_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Left by an earlier release next to the spool's entries.
    std::fs::write(dir.path().join("import.state"), "csv md5=abc\n").expect("old");
    let st = Station::open(config(), dir.path()).expect("open");
    let path = st.adapter_state("import.state").expect("state");
    assert_eq!(path, dir.path().join("state").join("import.state"));
    assert_eq!(
        std::fs::read_to_string(&path).expect("moved"),
        "csv md5=abc\n"
    );
    assert!(
        !dir.path().join("import.state").exists(),
        "read once, not twice"
    );
    // A newer file is never replaced by an old one found later.
    std::fs::write(&path, "csv md5=new\n").expect("new");
    std::fs::write(dir.path().join("import.state"), "csv md5=old\n").expect("old");
    let again = st.adapter_state("import.state").expect("state");
    assert_eq!(
        std::fs::read_to_string(again).expect("kept"),
        "csv md5=new\n"
    );
    // A name never written gives a path in the state directory, and no file.
    let sim = st.adapter_state("simulation.state").expect("state");
    assert!(sim.starts_with(dir.path().join("state")) && !sim.exists());
}

#[test]
fn a_survey_reads_a_spool_in_use_without_changing_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = with_windows(dir.path(), 3);
    // A temporary file of a write in progress: the survey must leave it alone.
    let tmp = dir.path().join("0000000000000099.tmp");
    std::fs::write(&tmp, b"half").expect("write");
    let seen = survey(dir.path()).expect("survey while the lock is held");
    assert!(tmp.exists(), "the survey removed a file");
    assert_eq!(seen.config.station.as_str(), STATION);
    assert_eq!(seen.spool.pending_files, 3);
    assert_eq!(seen.spool.pending_bytes, st.status().pending_bytes);
    assert_eq!(seen.spool.quarantined_files, 0);
    let oldest = seen.spool.oldest_key.expect("an oldest key");
    assert!(oldest.ends_with("day=01/data_0000.parquet"), "{oldest}");
    // After an upload the next window is the oldest, and the counters say when.
    let now = at(0);
    let request = st.poll(&now).expect("poll").expect("a request");
    st.on_reply(&now, Ok(stored(&request))).expect("reply");
    assert_eq!(st.counters().last_upload_ms, now.wall_ms());
    let seen = survey(dir.path()).expect("survey");
    assert_eq!(seen.spool.pending_files, 2);
    assert!(
        seen.spool
            .oldest_key
            .expect("key")
            .ends_with("data_0015.parquet")
    );
}

#[test]
fn a_survey_of_a_directory_that_no_station_opened_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = survey(dir.path()).expect_err("not a spool");
    assert!(e.to_string().contains("not a lakenode spool"), "{e}");
}
