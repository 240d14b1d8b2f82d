//! The journal takes any bytes as `journal.lkj` (a torn write, a flipped bit, a hostile
//! file) and never panics.
//!
//! - The journal alone returns the records it could read in file order (it does not
//!   judge them: the recorder does), and the journal it leaves behind opens again to the
//!   same replay with no further damage.
//! - The recorder's open over those bytes never fails on content. It keeps only samples
//!   it would take live (strictly increasing, after the sealed-through marker), and the
//!   state it leaves opens again with nothing refused or damaged.
#![no_main]
use lakenode::StationId;
use lakenode::fuzzing::{Journal, Recorder, RecorderConfig};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("journal.lkj"), data).expect("write");
    let (journal, first) = Journal::open(dir.path()).expect("open never fails on content");
    drop(journal);
    let (journal, second) = Journal::open(dir.path()).expect("reopen");
    drop(journal);
    assert_eq!(second.samples, first.samples, "a reopen changed the samples");
    assert_eq!(second.closed, first.closed, "a reopen changed the close records");
    assert_eq!(second.sealed_through, first.sealed_through);
    assert_eq!(second.truncated_bytes, 0, "the rewritten journal is still damaged");
    assert!(second.damage.is_none(), "{:?}", second.damage);

    let station = StationId::new("0190f5c2-0000-7000-8000-00000000f022").expect("station");
    let config = RecorderConfig::new(station);
    let node = Recorder::open(config.clone(), dir.path())
        .expect("the recorder's open never fails on a journal's content");
    let last = node.last_recorded();
    drop(node);
    let (journal, left) = Journal::open(dir.path()).expect("reopen after the recorder");
    drop(journal);
    assert!(
        left.samples.windows(2).all(|w| w[0].timestamp_ms < w[1].timestamp_ms),
        "the recorder left samples that go back in time"
    );
    assert!(
        left.samples
            .first()
            .zip(left.sealed_through)
            .is_none_or(|(s, t)| s.timestamp_ms > t),
        "the recorder left a sample inside its sealed-through marker"
    );
    let again = Recorder::open(config, dir.path()).expect("the recorder's reopen");
    assert!(
        again.journal_damage().is_none(),
        "the recorder's own journal was refused on reopen: {:?}",
        again.journal_damage()
    );
    assert_eq!(again.last_recorded(), last, "a reopen moved the last recorded sample");
});
