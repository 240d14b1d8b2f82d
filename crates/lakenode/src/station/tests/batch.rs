//! Batched uploads (`upload_every`): windows wait, a batch sends everything in order
//! (health rows in it), the high-water mark and the end of input open one, a restart
//! mid-batch loses and duplicates nothing.

use std::time::Duration;

use super::*;

/// Every 2 minutes; `at(0)` is noon, on that grid.
const EVERY: Duration = Duration::from_secs(120);

fn batching() -> StationConfig {
    let mut config = config();
    config.health = true;
    config.upload_every = Some(EVERY);
    config
}

/// Sends and confirms everything the station hands out at `now`; returns the names.
fn send_all(st: &mut Station, now: u64, lake: &mut BTreeMap<String, Vec<u8>>) -> Vec<String> {
    let mut sent = Vec::new();
    while let Some(req) = st.poll(&at(now)).expect("poll") {
        sent.push(file_name(&req));
        lake.insert(req.url.path().to_owned(), req.body.clone());
        st.on_reply(&at(now), Ok(stored(&req))).expect("reply");
    }
    sent
}

#[test]
fn windows_wait_for_the_batch_which_sends_all_oldest_first_with_health_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = Station::open(batching(), dir.path()).expect("open");
    fill_with_health(&mut st, 3);
    assert_eq!(pending(&st), 6);
    // Noon + 1 s: the next batch opens on the even minute, 119 s later.
    assert!(st.poll(&at(1_000)).expect("poll").is_none(), "held");
    assert_eq!(st.wake_at(), Some(120_000));
    assert_eq!(
        st.delivery(),
        Delivery::Waiting {
            next_at: Some(120_000)
        }
    );
    assert!(!st.link_wanted(&at(1_000)), "the radio may be off");
    let unsynced = Now {
        mono_ms: 1_000,
        wall: None,
    };
    assert!(
        st.link_wanted(&unsynced),
        "the first time sync needs the link"
    );
    assert!(st.link_wanted(&at(120_000)), "the batch is due");
    let mut lake = BTreeMap::new();
    let sent = send_all(&mut st, 120_000, &mut lake);
    assert_eq!(
        sent,
        [
            "data_0000.parquet",
            "data_0015.parquet",
            "data_0030.parquet",
            "health_0000.parquet",
            "health_0015.parquet",
            "health_0030.parquet"
        ]
    );
    let events: Vec<Event> = st.events().collect();
    assert!(
        events.contains(&Event::BatchOpened { files: 6 }),
        "{events:?}"
    );
    assert_eq!(
        events.last(),
        Some(&Event::BatchClosed { sent: 6, failed: 0 })
    );
    assert!(st.is_drained().expect("drained"));
    assert!(!st.link_wanted(&at(120_000)));
    assert_eq!(st.wake_at(), Some(240_000), "the next batch");
}

#[test]
fn a_failure_inside_a_batch_is_retried_by_the_schedule_and_the_batch_stays_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = Station::open(batching(), dir.path()).expect("open");
    fill_with_health(&mut st, 2);
    assert!(st.poll(&at(0)).expect("poll").is_none());
    let req = st.poll(&at(120_000)).expect("poll").expect("request");
    st.on_reply(&at(120_000), Err(TransportError::Io("reset".into())))
        .expect("reply");
    let retry = st.wake_at().expect("a retry");
    assert!(retry > 120_000 && retry < 240_000, "{retry}");
    assert!(st.link_wanted(&at(retry - 1)), "the batch is still open");
    let again = st.poll(&at(retry)).expect("poll").expect("the retry");
    assert_eq!(
        (file_name(&again), again.body.clone()),
        (file_name(&req), req.body)
    );
    st.on_reply(&at(retry), Ok(stored(&again))).expect("reply");
    let sent = send_all(&mut st, retry, &mut BTreeMap::new());
    assert_eq!(sent.len(), 3);
    let closed = st.events().last();
    assert_eq!(closed, Some(Event::BatchClosed { sent: 4, failed: 1 }));
}

#[test]
fn the_high_water_mark_opens_a_batch_early() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = batching();
    config.batch_high_water = Some(1);
    let mut st = Station::open(config, dir.path()).expect("open");
    fill_with_health(&mut st, 1);
    assert!(st.link_wanted(&at(1_000)));
    assert_eq!(send_all(&mut st, 1_000, &mut BTreeMap::new()).len(), 2);
}

#[test]
fn a_high_water_mark_above_half_the_spool_limit_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limit = crate::spool::MIN_LIMIT;
    let mut config = batching();
    config.spool_limit = Some(limit);
    config.batch_high_water = Some(limit / 2 + 1);
    let err = Station::open(config, dir.path()).expect_err("refused");
    assert!(
        matches!(
            err,
            crate::Error::Config {
                field: "batch_high_water",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("half the spool limit"), "{err}");
    for mark in [Some(limit / 2), None] {
        let mut config = batching();
        config.spool_limit = Some(limit);
        config.batch_high_water = mark;
        Station::open(config, dir.path()).expect("half the limit or the default");
    }
    let mut config = batching();
    config.batch_high_water = Some(u64::MAX);
    Station::open(config, dir.path()).expect("no limit: any mark");
}

#[test]
fn the_end_of_input_sends_what_waits_without_waiting_for_the_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = Station::open(batching(), dir.path()).expect("open");
    fill_with_health(&mut st, 2);
    assert!(st.poll(&at(1_000)).expect("poll").is_none());
    st.finish_input(&at(1_000), Duration::from_secs(60))
        .expect("finish");
    assert_eq!(send_all(&mut st, 1_000, &mut BTreeMap::new()).len(), 4);
    assert!(st.is_drained().expect("drained"));
    let events: Vec<Event> = st.events().collect();
    assert!(
        events.contains(&Event::BatchOpened { files: 4 }),
        "{events:?}"
    );
    assert_eq!(
        events.last(),
        Some(&Event::BatchClosed { sent: 4, failed: 0 }),
        "one last batch"
    );
}

#[test]
fn a_restart_mid_batch_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = Station::open(batching(), dir.path()).expect("open");
    fill_with_health(&mut st, 3);
    let mut lake = BTreeMap::new();
    let mut confirmed = Vec::new();
    assert!(st.poll(&at(1_000)).expect("poll").is_none(), "held");
    // Two files confirmed, the third out when the power goes.
    for _ in 0..2 {
        let req = st.poll(&at(120_000)).expect("poll").expect("request");
        confirmed.push(file_name(&req));
        lake.insert(req.url.path().to_owned(), req.body.clone());
        st.on_reply(&at(120_000), Ok(stored(&req))).expect("reply");
    }
    let lost = st.poll(&at(120_000)).expect("poll").expect("request");
    lake.insert(lost.url.path().to_owned(), lost.body.clone());
    drop(st);
    let mut st = Station::open(batching(), dir.path()).expect("reopen");
    assert_eq!(pending(&st), 4, "only what S3 confirmed left the spool");
    assert!(st.poll(&at(5_000)).expect("poll").is_none(), "waits again");
    let mut again = BTreeMap::new();
    let rest = send_all(&mut st, 120_000, &mut again);
    assert_eq!(
        rest.first(),
        Some(&file_name(&lost)),
        "the one in flight, first"
    );
    assert_eq!(
        again.get(lost.url.path()),
        Some(&lost.body),
        "same key, same bytes"
    );
    assert!(
        rest.iter().all(|n| !confirmed.contains(n)),
        "nothing confirmed is sent twice: {rest:?}"
    );
    lake.extend(again);
    assert_eq!(
        lake.len(),
        6,
        "every file in the lake once: {:?}",
        lake.keys()
    );
    assert!(st.is_drained().expect("drained"));
}
