//! The journal decoder takes any bytes as `journal.lkj` (a torn write, a flipped bit,
//! a hostile file): opening never panics, replays strictly increasing samples, and the
//! journal it leaves behind opens again to the same replay with no further damage.
#![no_main]
use lakenode::fuzzing::Journal;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("journal.lkj"), data).expect("write");
    let (journal, first) = Journal::open(dir.path()).expect("open never fails on content");
    drop(journal);
    assert!(
        first.samples.windows(2).all(|w| w[0].timestamp_ms < w[1].timestamp_ms),
        "replayed samples go back in time"
    );
    let (_, second) = Journal::open(dir.path()).expect("reopen");
    assert_eq!(second.samples, first.samples, "a reopen changed the samples");
    assert_eq!(second.sealed_through, first.sealed_through);
    assert_eq!(second.truncated_bytes, 0, "the rewritten journal is still damaged");
    assert!(second.damage.is_none(), "{:?}", second.damage);
});
