//! Health rows across a kill: a sealed window's row is owed (`health.due`) from the
//! moment its data file is spooled until the row is, so a restart makes it.

use super::*;

fn with_health() -> StationConfig {
    let mut config = config();
    config.health = true;
    config
}

/// Records two 15-minute windows and the first sample of a third: two sealed.
fn two_sealed(st: &mut Station) {
    let sim = Simulator::new(3);
    for i in 0..=2 * 180 {
        st.record(&at(0), sim.sample_at(T0 + i * 5_000))
            .expect("record");
    }
}

fn take_all(st: &mut Station) -> Vec<(String, crate::health::HealthRow)> {
    std::iter::from_fn(|| st.take_health_row(&at(0))).collect()
}

#[test]
fn a_kill_between_a_seal_and_its_health_row_makes_the_row_at_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = Station::open(with_health(), dir.path()).expect("open");
    two_sealed(&mut st);
    assert_eq!(pending(&st), 2, "two data files");
    drop(st); // killed before its rows were taken and spooled
    let mut st = Station::open(with_health(), dir.path()).expect("reopen");
    let rows = take_all(&mut st);
    let keys: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            format!("health/station={STATION}/year=2026/month=12/day=01/health_0000.parquet"),
            format!("health/station={STATION}/year=2026/month=12/day=01/health_0015.parquet"),
        ]
    );
    assert_eq!(rows[0].1.timestamp_ms, T0 + 900_000);
    // Taken but killed before spooled: still owed.
    drop(st);
    let mut st = Station::open(with_health(), dir.path()).expect("reopen");
    for (key, row) in take_all(&mut st) {
        st.spool_health(&key, &row).expect("spool health");
    }
    assert_eq!(pending(&st), 4);
    drop(st);
    let mut st = Station::open(with_health(), dir.path()).expect("reopen");
    assert!(
        take_all(&mut st).is_empty(),
        "spooled rows are owed no more"
    );
}

#[test]
fn a_kill_after_the_row_was_spooled_does_not_spool_it_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = Station::open(with_health(), dir.path()).expect("open");
    two_sealed(&mut st);
    let due = dir.path().join("health.due");
    let owed = std::fs::read(&due).expect("health.due");
    for (key, row) in take_all(&mut st) {
        st.spool_health(&key, &row).expect("spool health");
    }
    drop(st);
    // As if killed after the rows were spooled, before `health.due` was rewritten.
    std::fs::write(&due, owed).expect("restore");
    let mut st = Station::open(with_health(), dir.path()).expect("reopen");
    assert!(take_all(&mut st).is_empty());
    assert_eq!(pending(&st), 4);
}

#[test]
fn without_health_rows_nothing_is_owed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = Station::open(config(), dir.path()).expect("open");
    two_sealed(&mut st);
    drop(st);
    assert!(!dir.path().join("health.due").exists());
    let mut st = Station::open(config(), dir.path()).expect("reopen");
    assert!(take_all(&mut st).is_empty());
}

/// A spool reopened with another configuration: the window its journal held is sealed
/// under the earlier one at the switch, and owes its health row like any other. Before,
/// the switch sealed it without owing one: its row was never written, nor reported.
#[test]
fn a_window_sealed_at_a_configuration_switch_owes_its_health_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = Station::open(with_health(), dir.path()).expect("open");
    two_sealed(&mut st);
    for (key, row) in take_all(&mut st) {
        st.spool_health(&key, &row).expect("spool health");
    }
    drop(st); // stopped with the third window open in the journal
    let mut other = with_health();
    other.recorder.schema = crate::schema::Schema::parse_list("temperature").expect("schema");
    let mut st = Station::open(other, dir.path()).expect("reopen with other columns");
    let keys: Vec<String> = take_all(&mut st).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [format!(
            "health/station={STATION}/year=2026/month=12/day=01/health_0030.parquet"
        )]
    );
    assert_eq!(pending(&st), 5, "three data files and the first two rows");
}

/// Rows owed by a run with health rows on are made by the next run even with them off
/// (then no new ones are owed). Before, that run never read `health.due`: lost.
#[test]
fn rows_owed_with_health_on_are_made_by_a_run_with_it_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = Station::open(with_health(), dir.path()).expect("open");
    two_sealed(&mut st);
    drop(st); // killed before its rows were taken
    let mut st = Station::open(config(), dir.path()).expect("reopen without health rows");
    let rows = take_all(&mut st);
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (key, row) in rows {
        st.spool_health(&key, &row).expect("spool health");
    }
    st.flush().expect("seal the open window");
    assert!(take_all(&mut st).is_empty(), "nothing new owed");
    drop(st);
    let mut st = Station::open(config(), dir.path()).expect("reopen");
    assert!(
        take_all(&mut st).is_empty(),
        "spooled rows are owed no more"
    );
}

/// The power went after a flush sealed the open window (data file spooled, row owed)
/// but before the journal was rewritten: the next boot replays the window and the next
/// flush seals it again. Its row is owed once, not once from `health.due` and once more
/// from the second seal. Before, two rows with other bytes were made under one key:
/// the power-cut test's "keys written with other bytes".
#[test]
fn a_window_sealed_again_after_a_cut_owes_one_health_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = Station::open(with_health(), dir.path()).expect("open");
    let sim = Simulator::new(3);
    for i in 0..100 {
        st.record(&at(0), sim.sample_at(T0 + i * 5_000))
            .expect("record");
    }
    let journal = dir.path().join("journal.lkj");
    let unsealed = std::fs::read(&journal).expect("journal");
    st.flush().expect("flush");
    drop(st);
    std::fs::write(&journal, unsealed).expect("as if cut before the journal's rewrite");
    let mut st = Station::open(with_health(), dir.path()).expect("reopen");
    st.flush().expect("flush again");
    assert_eq!(pending(&st), 1, "one copy of the data file");
    let keys: Vec<String> = take_all(&mut st).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [format!(
            "health/station={STATION}/year=2026/month=12/day=01/health_0000.parquet"
        )]
    );
}

/// [`crate::storage::StdStorage`], where the journal's rewrite never lands once `cut`
/// is set: the power going after a seal spooled its window, before the journal was told.
#[derive(Debug, Default)]
struct CutBeforeJournalRewrite {
    cut: std::sync::atomic::AtomicBool,
}

impl crate::storage::hooked::Hooks for CutBeforeJournalRewrite {
    fn renaming(&self, _from: &Path, to: &Path) -> std::io::Result<()> {
        if self.cut.load(std::sync::atomic::Ordering::Relaxed)
            && to.file_name().is_some_and(|n| n == "journal.lkj")
        {
            return Err(std::io::Error::other("the power went"));
        }
        Ok(())
    }
}

/// A window flushed at a stop, the power cut before the journal was rewritten, and
/// the node back inside the same window: the flushed rows stay the object they were
/// (uploaded perhaps), and the live samples go to a file of their own, keyed by the
/// first one's instant (as a node that starts inside a window). Each owes one health
/// row. Before, the boot replayed the flushed rows into the open window and sealed
/// them again with the live ones under the same key: other bytes over an object
/// already written.
#[test]
fn a_window_flushed_before_a_cut_is_not_sealed_again_with_live_samples() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = std::sync::Arc::new(crate::storage::hooked::Hooked(
        CutBeforeJournalRewrite::default(),
    ));
    let mut st = Station::open_with(with_health(), storage.clone(), dir.path()).expect("open");
    let sim = Simulator::new(3);
    for i in 0..100 {
        st.record(&at(0), sim.sample_at(T0 + i * 5_000))
            .expect("record");
    }
    storage
        .cut
        .store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(st.flush().is_err(), "the cut: the journal is not rewritten");
    drop(st);
    let mut st = Station::open(with_health(), dir.path()).expect("reopen");
    for i in 110..140 {
        st.record(&at(0), sim.sample_at(T0 + i * 5_000))
            .expect("record");
    }
    st.flush().expect("flush");
    let spool = st.recorder.spool();
    let entries: Vec<crate::spool::SpoolEntry> = spool
        .pending()
        .expect("list")
        .into_iter()
        .map(|id| spool.read(id).expect("read"))
        .collect();
    let day = format!("station={STATION}/year=2026/month=12/day=01");
    let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            format!("{day}/data_0000.parquet"),
            format!("{day}/data_0000_000910.parquet"),
        ],
        "the flushed rows once, the live ones under a key of their own"
    );
    let keys: Vec<String> = take_all(&mut st).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            format!("health/{day}/health_0000.parquet"),
            format!("health/{day}/health_0000_000910.parquet"),
        ],
        "one health row each"
    );
}

/// Boots of a per-window run (`--simulate`, `--csv`: the journal holds no samples),
/// each cut (or not) at the journal's rewrite after sealing the 00:00 window; returns
/// the station of the last boot and the health rows every boot spooled, by key.
fn per_window_boots(
    cuts: &[bool],
) -> (
    tempfile::TempDir,
    Station,
    Vec<(String, crate::health::HealthRow)>,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = std::sync::Arc::new(crate::storage::hooked::Hooked(
        CutBeforeJournalRewrite::default(),
    ));
    let sim = Simulator::new(3);
    let mut spooled = Vec::new();
    let boot = |cut: bool, spooled: &mut Vec<_>| {
        storage
            .cut
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let mut st = Station::open_with(with_health(), storage.clone(), dir.path()).expect("open");
        st.set_journal_durability(crate::journal::Durability::PerWindow);
        // As the driver does: rows owed are spooled after each sample.
        let from = st
            .recorder
            .last_recorded()
            .map_or(0, |l| (l - T0) / 5_000 + 1);
        for i in from..=180 {
            if i == 180 && cut {
                storage
                    .cut
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
            let recorded = st.record(&at(0), sim.sample_at(T0 + i * 5_000));
            assert_eq!(recorded.is_err(), i == 180 && cut, "sample {i}");
            for (key, row) in take_all(&mut st) {
                if !(i == 180 && cut) {
                    st.spool_health(&key, &row).expect("spool health");
                    spooled.push((key, row));
                }
            }
        }
        st
    };
    for &cut in &cuts[..cuts.len() - 1] {
        drop(boot(cut, &mut spooled));
    }
    let st = boot(cuts[cuts.len() - 1], &mut spooled);
    (dir, st, spooled)
}

/// The 00:00 window's health row was spooled once, and is in the spool of `st` with
/// its data file (and nothing else).
fn assert_the_row_made_once(st: &Station, spooled: &[(String, crate::health::HealthRow)]) {
    let keys: Vec<&str> = spooled.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [format!(
            "health/station={STATION}/year=2026/month=12/day=01/health_0000.parquet"
        )]
    );
    assert_eq!(pending(st), 2, "one data file, one health row");
}

/// F1 at the station: a per-window run's window spooled, its row owed and the
/// journal's rewrite cut; the next boot spools the owed row, then produces the window
/// again (its earlier copy found). Its row is not made a second time (other counts
/// under the same key). Before, the recorder owed it no more but the station queued it
/// again at the second seal.
#[test]
fn a_per_window_window_sealed_again_makes_its_health_row_once() {
    let (_dir, st, spooled) = per_window_boots(&[true, false]);
    assert_the_row_made_once(&st, &spooled);
}

/// F1, three boots: as above, and the second boot's journal rewrite is cut too. The
/// third boot produces the window a third time: the row the second boot spooled (from
/// `health.due`, uploaded perhaps) is not owed again. Before, only the second boot's
/// memory said it was spooled: the third owed and spooled it again with other counts.
#[test]
fn a_per_window_window_sealed_in_three_boots_makes_its_health_row_once() {
    let (dir, st, spooled) = per_window_boots(&[true, true, false]);
    assert_the_row_made_once(&st, &spooled);
    drop(st);
    // What the boots between held is dropped at the next rewrite of `health.due`.
    let mut st = Station::open(with_health(), dir.path()).expect("reopen");
    assert!(take_all(&mut st).is_empty());
}
