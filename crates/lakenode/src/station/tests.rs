use super::uploader::Pause;
use super::*;
use crate::health::Tree;
use crate::layout::StationId;
use crate::s3::{Credentials, S3Config};
use crate::s3::{S3Client, S3Failure, md5_hex};
use crate::sample::Sample;
use crate::sim::Simulator;
use jiff::Timestamp;
use std::collections::BTreeMap;

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
fn uploads_oldest_first_and_removes_only_what_s3_confirmed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = with_windows(dir.path(), 2);
    let first = st.poll(&at(0)).expect("poll").expect("request");
    assert!(
        first.url.path().ends_with("data_0000.parquet"),
        "{}",
        first.url
    );
    assert!(
        st.poll(&at(0)).expect("poll").is_none(),
        "one request in flight at a time"
    );
    st.on_reply(&at(10), Ok(stored(&first))).expect("reply");
    let second = st.poll(&at(10)).expect("poll").expect("request");
    assert!(second.url.path().ends_with("data_0015.parquet"));
    st.on_reply(&at(20), Ok(stored(&second))).expect("reply");
    assert!(st.is_drained().expect("drained"));
    assert_eq!(st.counters().uploaded_files, 2);
}

#[test]
fn a_proxys_404_page_pauses_uploads_and_quarantines_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = with_windows(dir.path(), 3);
    let page =
        "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>";
    for status in [404, 405, 413] {
        let req = st.poll(&at(0)).expect("poll").expect("request");
        st.on_reply(
            &at(0),
            Ok(reply(status, &[("content-type", "text/html")], page)),
        )
        .expect("reply");
        let Delivery::Paused { failure, until, .. } = st.delivery() else {
            panic!("{status} must pause, got {:?}", st.delivery())
        };
        assert_eq!(
            (failure.code.as_str(), until),
            (format!("HTTP {status}").as_str(), 300_000)
        );
        assert!(st.poll(&at(299_999)).expect("poll").is_none(), "paused");
        assert_eq!(pending(&st), 3, "the data stays spooled");
        // The pause is over only after its 5 minutes; start again for the next status.
        drop(req);
        st.uploader.pauses.all = None;
    }
    assert_eq!(quarantined(dir.path()), 0);
    assert_eq!(st.counters().quarantined_files, 0);
    // After the pause one attempt goes out again.
    st.uploader.pauses.all = Some(Pause {
        until: 300_000,
        key: "k".into(),
        failure: s3_error(403, "AccessDenied", "").into_failure(),
    });
    assert!(st.poll(&at(300_000)).expect("poll").is_some());
}

/// A station with health rows on and `windows` sealed windows, each with its health
/// row spooled right after it (as the driver does).
fn with_health(dir: &Path, windows: i64) -> Station {
    let mut config = config();
    config.health = true;
    let mut st = Station::open(config, dir).expect("open");
    record_with_health(&mut st, 0, windows);
    st.flush().expect("flush");
    spool_health_rows(&mut st);
    st
}

/// Records the samples of windows `from..to` (15 min each from `T0`), spooling
/// health rows as windows are sealed.
fn record_with_health(st: &mut Station, from: i64, to: i64) {
    let sim = Simulator::new(3);
    for i in from * 180..to * 180 {
        st.record(&at(0), sim.sample_at(T0 + i * 5_000))
            .expect("record");
        spool_health_rows(st);
    }
}

fn spool_health_rows(st: &mut Station) {
    while let Some((key, row)) = st.take_health_row(&at(0)) {
        st.spool_health(&key, &row).expect("spool health");
    }
}

fn file_name(request: &HttpRequest) -> String {
    request
        .url
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn data_goes_before_health_rows_and_a_refused_health_row_pauses_only_health() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = with_health(dir.path(), 3);
    assert_eq!(pending(&st), 6, "3 data files and 3 health rows");
    // Data first, oldest first, although each health row is older than the next
    // window's data file.
    let mut sent = Vec::new();
    for _ in 0..3 {
        let req = st.poll(&at(0)).expect("poll").expect("request");
        sent.push(file_name(&req));
        st.on_reply(&at(0), Ok(stored(&req))).expect("reply");
    }
    assert_eq!(
        sent,
        [
            "data_0000.parquet",
            "data_0015.parquet",
            "data_0030.parquet"
        ]
    );
    // Then the health rows; the policy refuses the first.
    let req = st.poll(&at(0)).expect("poll").expect("request");
    assert_eq!(file_name(&req), "health_0000.parquet");
    st.on_reply(&at(0), Ok(s3_error(403, "AccessDenied", "")))
        .expect("reply");
    let events: Vec<Event> = st.events().collect();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Paused {
                tree: Tree::Health,
                ..
            }
        )),
        "{events:?}"
    );
    assert_eq!(st.counters().refusals, 1);
    let Delivery::Paused { tree, until, .. } = st.delivery() else {
        panic!("only health rows wait, paused: {:?}", st.delivery())
    };
    assert_eq!((tree, until), (Tree::Health, 300_000));
    assert_eq!(st.wake_at(), Some(300_000));
    assert!(
        st.poll(&at(1_000)).expect("poll").is_none(),
        "health paused"
    );
    // A new window: its data file goes out at once, during the health pause.
    record_with_health(&mut st, 3, 5); // seals 00:45 when 01:00 begins
    assert!(matches!(st.delivery(), Delivery::Waiting { .. }));
    let req = st.poll(&at(2_000)).expect("poll").expect("request");
    assert_eq!(file_name(&req), "data_0045.parquet");
    st.on_reply(&at(2_000), Ok(stored(&req))).expect("reply");
    assert!(
        st.poll(&at(2_000)).expect("poll").is_none(),
        "health still paused"
    );
    assert!(matches!(
        st.delivery(),
        Delivery::Paused {
            tree: Tree::Health,
            ..
        }
    ));
    // After the pause the health rows go, oldest first.
    let req = st.poll(&at(300_000)).expect("poll").expect("request");
    assert_eq!(file_name(&req), "health_0000.parquet");
}

#[test]
fn forged_spool_entries_are_quarantined_never_signed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = with_windows(dir.path(), 1);
    let other = "0190f5c2-0000-7000-8000-000000000000";
    for key in [
        format!("station={other}/year=2026/month=12/day=01/data_0000.parquet"),
        "../other/stolen.parquet".to_owned(),
        format!("station={STATION}/../../other/x.parquet"),
        format!("station={STATION}/year=2026/month=12/day=01/data_0015.parquet?acl"),
        format!("station={STATION}/year=2026/month=12/day=01/%2e%2e/data_0015.parquet"),
    ] {
        st.recorder
            .spool_mut()
            .push(&key, b"PAR1....PAR1")
            .expect("plant");
    }
    // The station's own key, but bytes that are no Parquet file.
    let own = format!("station={STATION}/year=2026/month=12/day=01/data_0000.parquet");
    st.recorder
        .spool_mut()
        .push(&own, b"not parquet at all")
        .expect("plant");
    let mut sent = Vec::new();
    while let Some(req) = st.poll(&at(0)).expect("poll") {
        sent.push(req.url.path().to_owned());
        st.on_reply(&at(0), Ok(stored(&req))).expect("reply");
    }
    assert_eq!(sent.len(), 1, "only the station's own window: {sent:?}");
    assert!(
        sent[0].contains(STATION) && sent[0].ends_with("day%3D01/data_0000.parquet"),
        "{sent:?}"
    );
    assert_eq!(st.counters().quarantined_files, 6);
    assert_eq!(quarantined(dir.path()), 6);
    assert!(st.is_drained().expect("drained"));
}

#[test]
fn a_spool_taken_over_by_another_station_sets_the_first_ones_files_aside() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(with_windows(dir.path(), 2));
    let mut config = config();
    config.recorder.station = StationId::new("0190f5c2-0000-7000-8000-00000000000b").expect("id");
    let mut b = Station::open(config, dir.path()).expect("open as B");
    let sim = Simulator::new(4);
    for i in 2 * 180..=3 * 180 {
        b.record(&at(0), sim.sample_at(T0 + i * 5_000))
            .expect("record");
    }
    let mut sent = Vec::new();
    while let Some(req) = b.poll(&at(0)).expect("poll") {
        sent.push(file_name(&req));
        assert!(req.url.path().contains("00000000000b"), "{}", req.url);
        b.on_reply(&at(0), Ok(stored(&req))).expect("reply");
    }
    assert_eq!(
        sent,
        ["data_0030.parquet"],
        "B's window only, never blocked"
    );
    assert_eq!(
        b.counters().quarantined_files,
        2,
        "A's two windows set aside"
    );
    assert!(b.is_drained().expect("drained"));
}

#[cfg(target_os = "linux")]
#[test]
fn an_unreadable_entry_is_set_aside_once_and_the_others_go_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let st = with_windows(dir.path(), 3);
    let ids = st.recorder.spool().pending().expect("list");
    // Reading /proc/self/mem at offset 0 fails with EIO, even as root.
    let second = dir.path().join(format!("{:016}.lks", ids[1]));
    std::fs::remove_file(&second).expect("rm");
    std::os::unix::fs::symlink("/proc/self/mem", &second).expect("symlink");
    // And a stray name the spool never writes.
    std::fs::write(dir.path().join("1.lks"), b"stray").expect("stray");
    drop(st);
    let mut st = Station::open(config(), dir.path()).expect("reopen");
    let mut sent = Vec::new();
    for _ in 0..10 {
        let Some(req) = st.poll(&at(0)).expect("poll never fails over one entry") else {
            break;
        };
        sent.push(file_name(&req));
        st.on_reply(&at(0), Ok(stored(&req))).expect("reply");
    }
    assert_eq!(sent, ["data_0000.parquet", "data_0030.parquet"]);
    let events: Vec<String> = st.events().map(|e| e.to_string()).collect();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.contains("not entries it wrote"))
            .count(),
        1,
        "{events:?}"
    );
    assert_eq!(
        events.iter().filter(|e| e.contains("unreadable")).count(),
        1,
        "{events:?}"
    );
    assert_eq!(st.counters().quarantined_files, 1);
    assert!(st.counters().lost_any());
    assert!(dir.path().join("1.lks").exists(), "a stray is left alone");
    assert!(st.is_drained().expect("drained"));
}

#[test]
fn a_503_with_retry_after_is_not_retried_sooner() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = with_windows(dir.path(), 1);
    st.poll(&at(0)).expect("poll").expect("request");
    let slow = reply(
        503,
        &[("retry-after", "30")],
        "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
    );
    st.on_reply(&at(0), Ok(slow)).expect("reply");
    assert_eq!(
        st.wake_at(),
        Some(30_000),
        "the server's 30 s, not the 1 s backoff"
    );
    assert!(st.poll(&at(29_999)).expect("poll").is_none());
    assert!(st.poll(&at(30_000)).expect("poll").is_some());
    // Without the header: the policy's backoff (about a second).
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = with_windows(dir.path(), 1);
    st.poll(&at(0)).expect("poll").expect("request");
    st.on_reply(&at(0), Ok(s3_error(503, "SlowDown", "")))
        .expect("reply");
    assert!(
        st.wake_at().is_some_and(|w| w <= 1_000),
        "{:?}",
        st.wake_at()
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_fifo_in_the_spool_is_set_aside_without_blocking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let st = with_windows(dir.path(), 2);
    let ids = st.recorder.spool().pending().expect("list");
    let fifo = dir.path().join(format!("{:016}.lks", ids[1] + 5));
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    drop(st);
    // Reopened with the FIFO there: opening it to read would block for ever.
    let mut st = Station::open(config(), dir.path()).expect("reopen");
    let mut sent = 0;
    while let Some(req) = st.poll(&at(0)).expect("poll") {
        sent += 1;
        st.on_reply(&at(0), Ok(stored(&req))).expect("reply");
    }
    assert_eq!(sent, 2);
    assert_eq!(st.counters().quarantined_files, 1);
    assert!(st.is_drained().expect("drained"));
}

#[test]
fn a_refused_data_file_pauses_health_rows_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = with_health(dir.path(), 2);
    let req = st.poll(&at(0)).expect("poll").expect("request");
    assert_eq!(file_name(&req), "data_0000.parquet");
    st.on_reply(&at(0), Ok(s3_error(403, "AccessDenied", "")))
        .expect("reply");
    let Delivery::Paused { tree, .. } = st.delivery() else {
        panic!("paused: {:?}", st.delivery())
    };
    assert_eq!(tree, Tree::Data);
    assert!(
        st.poll(&at(299_999)).expect("poll").is_none(),
        "no health row goes out while data is refused"
    );
    let req = st.poll(&at(300_000)).expect("poll").expect("request");
    assert_eq!(file_name(&req), "data_0000.parquet");
}

trait IntoFailure {
    fn into_failure(self) -> S3Failure;
}
impl IntoFailure for HttpResponse {
    fn into_failure(self) -> S3Failure {
        crate::s3::check_response(&self).expect_err("an error reply")
    }
}

#[test]
fn s3_rejecting_the_file_itself_quarantines_it_twice_without_overwriting() {
    let dir = tempfile::tempdir().expect("tempdir");
    for _ in 0..2 {
        let mut st = with_windows(dir.path(), 1);
        st.poll(&at(0)).expect("poll").expect("request");
        st.on_reply(&at(0), Ok(s3_error(400, "EntityTooLarge", "")))
            .expect("reply");
        assert_eq!(st.counters().quarantined_files, 1);
        assert!(st.is_drained().expect("drained"));
        // The next process on the same, now empty, spool.
        drop(st);
        std::fs::remove_file(dir.path().join("journal.lkj")).expect("fresh journal");
    }
    assert_eq!(
        quarantined(dir.path()),
        2,
        "the second quarantine kept the first"
    );
}

#[test]
fn a_2xx_without_the_bodys_md5_is_not_stored_and_warns_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = with_windows(dir.path(), 1);
    let portal = "<html>Sign in to the hotel WiFi</html>";
    for (i, etag) in [None, Some("\"0123456789abcdef0123456789abcdef\""), None]
        .into_iter()
        .enumerate()
    {
        let now = st.wake_at().unwrap_or(0);
        st.poll(&at(now)).expect("poll").expect("request");
        let headers: Vec<(&str, &str)> = etag.iter().map(|e| ("etag", *e)).collect();
        st.on_reply(&at(now), Ok(reply(200, &headers, portal)))
            .expect("reply");
        assert_eq!(pending(&st), 1, "reply {i} did not prove the object stored");
    }
    let warnings = st
        .events()
        .filter(|e| matches!(e, Event::Unconfirmed { .. }))
        .count();
    assert_eq!(warnings, 1);
    let now = st.wake_at().unwrap_or(0);
    let req = st.poll(&at(now)).expect("poll").expect("request");
    st.on_reply(&at(now), Ok(stored(&req))).expect("reply");
    assert!(st.is_drained().expect("drained"));
    assert_eq!(st.counters().upload_failures, 3);
}

#[test]
fn stores_without_md5_etags_can_opt_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = Station::open(
        StationConfig {
            verify_etag: false,
            ..config()
        },
        dir.path(),
    )
    .expect("open");
    let sim = Simulator::new(1);
    st.record(&at(0), sim.sample_at(T0)).expect("record");
    st.flush().expect("flush");
    st.poll(&at(0)).expect("poll").expect("request");
    st.on_reply(&at(0), Ok(reply(200, &[("etag", "\"abc-1\"")], "")))
        .expect("reply");
    assert!(st.is_drained().expect("drained"));
}

#[test]
fn a_servers_date_moves_the_signing_clock_only_within_bounds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = with_windows(dir.path(), 1);
    // 2001: a proxy's or a broken server's clock. Not trusted, not a pause.
    attempt(
        &mut st,
        s3_error(403, "RequestTimeTooSkewed", "Mon, 01 Jan 2001 00:00:00 GMT"),
    );
    assert_eq!(st.clock_offset(), SignedDuration::ZERO);
    assert!(
        matches!(st.delivery(), Delivery::Waiting { next_at: Some(_) }),
        "{:?}",
        st.delivery()
    );
    assert!(
        st.events()
            .any(|e| matches!(e, Event::ClockCorrectionRefused { .. }))
    );
    // A 403 AccessDenied with such a Date is a refusal, not a clock to follow.
    attempt(
        &mut st,
        s3_error(403, "AccessDenied", "Mon, 01 Jan 2001 00:00:00 GMT"),
    );
    assert_eq!(st.clock_offset(), SignedDuration::ZERO);
    assert!(matches!(st.delivery(), Delivery::Paused { .. }));
    // 30 minutes ahead, within bounds: corrected, and resent at once signed with it.
    st.uploader.pauses.all = None;
    let now = attempt(
        &mut st,
        s3_error(403, "AccessDenied", "Tue, 01 Dec 2026 12:30:00 GMT"),
    );
    let off_by = (st.clock_offset() - SignedDuration::from_mins(30)).abs();
    assert!(
        off_by < SignedDuration::from_secs(10),
        "{:?}",
        st.clock_offset()
    );
    let req = st.poll(&at(now)).expect("poll").expect("resent now");
    assert!(
        req.url.as_str().contains("X-Amz-Date=20261201T1230"),
        "{}",
        req.url
    );
}

#[test]
fn a_damaged_body_is_read_again_and_resent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = with_windows(dir.path(), 1);
    let first = st.poll(&at(0)).expect("poll").expect("request");
    st.on_reply(&at(5), Ok(s3_error(400, "BadDigest", "")))
        .expect("reply");
    let again = st.poll(&at(5)).expect("poll").expect("resent at once");
    assert_eq!(again.body, first.body);
    st.on_reply(&at(6), Ok(stored(&again))).expect("reply");
    assert!(st.is_drained().expect("drained"));
}

#[test]
fn a_finite_run_gives_up_at_its_deadline_and_keeps_the_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = with_windows(dir.path(), 2);
    st.finish_input(&at(0), Duration::from_secs(60))
        .expect("finish");
    let mut now = 0;
    let mut attempts = 0;
    while !matches!(st.delivery(), Delivery::GaveUp { .. }) {
        now = st.wake_at().unwrap_or(0).max(now);
        st.poll(&at(now)).expect("poll").expect("request");
        st.on_reply(&at(now), Err(TransportError::Connect("refused".into())))
            .expect("reply");
        attempts += 1;
        assert!(attempts < 100, "never gave up");
    }
    assert!(now <= 60_000, "gave up after the deadline: {now} ms");
    assert_eq!(pending(&st), 2);
    assert!(st.poll(&at(now + 1_000_000)).expect("poll").is_none());
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
