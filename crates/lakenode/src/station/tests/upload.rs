//! The upload half of the station: order, refusals and pauses, quarantine, retries,
//! clock corrections, giving up.

use super::*;

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
    fill_with_health(&mut st, windows);
    st
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
    drop(b);
    // A again: its files come back, and the operator is told what changed.
    let mut a = Station::open(super::config(), dir.path()).expect("open as A again");
    let events: Vec<String> = a.events().map(|e| e.to_string()).collect();
    assert!(
        events.iter().any(|e| e.contains(
            "2 file(s) an earlier run set aside (2 after a station change) were put back"
        )),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| e.contains("prefix change")),
        "{events:?}"
    );
    let sent: Vec<String> = send_all(&mut a)
        .iter()
        .map(|p| p.rsplit('/').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(sent, ["data_0000.parquet", "data_0015.parquet"], "A's own");
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
    assert_eq!(
        st.counters().retries,
        3,
        "each failed attempt was tried again"
    );
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

/// A station recording under `prefix` (`None`: the bucket's root).
fn under(prefix: Option<&str>) -> StationConfig {
    let mut c = config();
    c.recorder.prefix = prefix.map(|p| crate::layout::Prefix::new(p).expect("prefix"));
    c
}

/// Uploads everything; returns the request paths.
fn send_all(st: &mut Station) -> Vec<String> {
    let mut sent = Vec::new();
    while let Some(req) = st.poll(&at(0)).expect("poll") {
        sent.push(req.url.path().to_owned());
        st.on_reply(&at(0), Ok(stored(&req))).expect("reply");
    }
    sent
}

/// Spools a file under another station's key in the `raw` prefix.
fn plant_another_stations_file(st: &mut Station) {
    let other = "0190f5c2-0000-7000-8000-000000000000";
    st.recorder
        .spool_mut()
        .push(
            &format!("raw/station={other}/year=2026/month=12/day=01/data_0000.parquet"),
            b"PAR1....PAR1",
        )
        .expect("plant");
}

#[test]
fn files_sealed_under_an_earlier_prefix_are_delivered_there_after_a_change() {
    // Found by the adversarial review: a run with another --prefix moved every file
    // still waiting (sealed for the earlier prefix) to quarantine, never sending it.
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Simulator::new(3);
    {
        let mut st = Station::open(under(Some("raw")), dir.path()).expect("open");
        // Two full windows and an open third one.
        for i in 0..2 * 180 + 10 {
            st.record(&at(0), sim.sample_at(T0 + i * 5_000))
                .expect("record");
        }
    }
    let mut st = Station::open(under(Some("raw2")), dir.path()).expect("reopen");
    for i in 3 * 180..=4 * 180 {
        st.record(&at(0), sim.sample_at(T0 + i * 5_000))
            .expect("record");
    }
    // Another station's key under a recorded prefix is still refused.
    plant_another_stations_file(&mut st);
    let sent = send_all(&mut st);
    let old = sent.iter().filter(|p| p.starts_with("/lake/raw/")).count();
    let new = sent.iter().filter(|p| p.starts_with("/lake/raw2/")).count();
    assert_eq!((old, new), (3, 1), "{sent:?}");
    assert!(st.is_drained().expect("drained"));
    assert_eq!(st.counters().quarantined_files, 1);
}

#[test]
fn files_an_earlier_release_set_aside_for_a_prefix_change_are_readmitted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Simulator::new(3);
    {
        let mut st = Station::open(under(Some("raw")), dir.path()).expect("open");
        for i in 0..=2 * 180 {
            st.record(&at(0), sim.sample_at(T0 + i * 5_000))
                .expect("record");
        }
        // What the earlier release did on the next run with --prefix raw2; and one
        // forged file set aside for the same reason, which must stay there.
        plant_another_stations_file(&mut st);
        for id in st.recorder.spool().pending().expect("pending") {
            st.recorder
                .spool_mut()
                .quarantine(
                    id,
                    "not a key of this station: not in this station's data or health tree",
                )
                .expect("quarantine");
        }
    }
    assert_eq!(quarantined(dir.path()), 3);
    let mut st = Station::open(under(Some("raw2")), dir.path()).expect("reopen");
    assert!(
        st.events().any(|e| e
            .to_string()
            .contains("2 file(s) an earlier run set aside (2 after a prefix change)")),
        "the operator is told"
    );
    // The two files and the window left open, sealed under `raw` at the switch.
    let sent = send_all(&mut st);
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert!(sent.iter().all(|p| p.starts_with("/lake/raw/")), "{sent:?}");
    assert_eq!(quarantined(dir.path()), 1, "the forged file stays");
    assert_eq!(st.counters().quarantined_files, 0);
}
