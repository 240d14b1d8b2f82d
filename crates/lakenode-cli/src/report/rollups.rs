//! Station-days read from their month's rollup ([`lakenode_lake::rollup`]): one object
//! per station-month instead of one footer per station-day.
//!
//! Which days: the [`footers`](super::footers) candidates (compacted days of a long
//! report, before its own day). Their station-months' rollups are listed
//! (`rollup/`, one LIST per 1,000) and fetched (a bounded pool of requests, as for
//! footers); a day is taken from its rollup only if the rollup holds an entry of the
//! same key and size as the daily file listed now. A month's version 2 rollup
//! (numbers only, [`lakenode_lake::rollup::v2`]) is read where there is one: decoded in
//! one pass, checked as the footers' summaries are, turned into the day's figures
//! ([`super::footers::from_rollup`]); a day the report draws in hours is read from its
//! footer instead (a version 2 entry holds no hourly figures). Else its version 1
//! rollup, whose entries decode exactly as the footer would
//! ([`super::footers::decode`] on the same key/value pairs and row count). Every other candidate (no rollup, a stale or refused one, a day compacted
//! again since) is read from its footer, and from its columns failing that: the
//! figures are the same whichever way a day is read (tested).
//!
//! ```no_run
//! # use lakenode_cli::report::footers::Candidate;
//! # use lakenode_cli::report::rollups::read;
//! # use lakenode_lake::lake::LocalLake;
//! let mut lake = LocalLake::new("lake".into());
//! let days: Vec<Candidate> = Vec::new();
//! assert!(read(&mut lake, &days).is_empty());
//! ```

use std::collections::BTreeMap;

use lakenode_lake::lake::LakeStore;
use lakenode_lake::rollup::{Rollup, key_of, month_of, v1_key_of, v2};

use super::footers::{Candidate, Summarized};

/// A rollup larger than a month of any station's summaries (31 days of two trees, a
/// few KB each) is not fetched: not lakenode's.
const MAX_ROLLUP_BYTES: u64 = 4 << 20;

/// The days of `idx` that the rollup `body` (at `key`, of the station-month `sm`, of
/// version 2 or else 1) holds at their listed size, decoded as their footers would be;
/// the rollup's bytes are counted once, with the first day read from it.
fn decode_month(
    days: &[Candidate],
    (sm, idx): (&(String, String), &Vec<usize>),
    (key, v2): (&str, bool),
    body: &[u8],
) -> Vec<(usize, (Summarized, u64))> {
    let refused = |why: String| {
        tracing::warn!(
            "{key}: the monthly rollup is refused ({why}); its days are read from their footers"
        );
        Vec::new()
    };
    let mut bytes = body.len() as u64;
    let mut out = Vec::new();
    if v2 {
        let rollup = match v2::Month::from_json(body, &sm.0, &sm.1) {
            Ok(r) => r,
            Err(why) => return refused(why),
        };
        let entries = rollup.by_key();
        for &i in idx {
            let day = &days[i];
            if let Some(e) = entries.get(&(day.key.clone(), day.size))
                && let Some(s) = super::footers::from_rollup(day, *e)
            {
                out.push((i, (s, std::mem::take(&mut bytes))));
            }
        }
        return out;
    }
    let rollup = match std::str::from_utf8(body)
        .map_err(|e| e.to_string())
        .and_then(|t| Rollup::from_json(t, &sm.0, &sm.1))
    {
        Ok(r) => r,
        Err(why) => return refused(why),
    };
    let entries = rollup.by_key();
    for &i in idx {
        let day = &days[i];
        if let Some(e) = entries.get(&(day.key.as_str(), day.size))
            && let Some(s) = super::footers::decode(day, &e.pairs, e.rows)
        {
            out.push((i, (s, std::mem::take(&mut bytes))));
        }
    }
    out
}

/// Reads the summaries of `days` from their months' rollups where they are current,
/// and from their footers otherwise ([`super::footers::read`]); the index of each day
/// with a usable summary maps to its figures and the bytes read for it (a rollup's
/// bytes are counted once, with the first day read from it).
pub fn read(lake: &mut dyn LakeStore, days: &[Candidate]) -> BTreeMap<usize, (Summarized, u64)> {
    let mut out = BTreeMap::new();
    let mut by_month: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, d) in days.iter().enumerate() {
        if let Some(sm) = month_of(&d.key) {
            by_month.entry(sm).or_default().push(i);
        }
    }
    // The rollups there are: listed, so that a missing one costs no request.
    let listed: BTreeMap<String, u64> = if by_month.is_empty() {
        BTreeMap::new()
    } else {
        lake.list(&format!("{}/", lakenode::layout::ROLLUP_DIR))
            .unwrap_or_default()
            .into_iter()
            .collect()
    };
    let mut months: Vec<(&(String, String), &Vec<usize>)> = Vec::new();
    let mut objects: Vec<(String, u64)> = Vec::new();
    let mut versions: Vec<bool> = Vec::new();
    for (sm, idx) in &by_month {
        // Version 2 where there is one, else version 1 (a lake rolled up before).
        let found = [key_of(&sm.0, &sm.1), v1_key_of(&sm.0, &sm.1)]
            .into_iter()
            .zip([true, false])
            .find_map(|(key, v2)| {
                let key = key?;
                let size = *listed.get(&key)?;
                Some((key, size, v2))
            });
        if let Some((key, size, v2)) = found
            && size <= MAX_ROLLUP_BYTES
        {
            months.push((sm, idx));
            objects.push((key, size));
            versions.push(v2);
        }
    }
    let whole = objects.iter().map(|(_, s)| *s).max().unwrap_or(0);
    // Decoding (JSON, then each day's summary) is most of the work: it runs on one
    // thread per core while the lake's own pool fetches the rollups.
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, 8);
    let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Vec<u8>)>(threads);
    let rx = std::sync::Mutex::new(rx);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (rx, done_tx, months, objects) = (&rx, done_tx.clone(), &months, &objects);
            let versions = &versions;
            scope.spawn(move || {
                loop {
                    let job = rx
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .recv();
                    let Ok((m, body)) = job else { break };
                    let decoded =
                        decode_month(days, months[m], (&objects[m].0, versions[m]), &body);
                    if done_tx.send(decoded).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        lake.get_tails(&objects, whole, &mut |m, body| {
            if let Ok(body) = body {
                let _ = tx.send((m, body));
            }
        });
        drop(tx);
        for decoded in done_rx {
            out.extend(decoded);
        }
    });
    // The rest from their footers.
    let rest: Vec<usize> = (0..days.len()).filter(|i| !out.contains_key(i)).collect();
    let subset: Vec<Candidate> = rest.iter().map(|&i| days[i].clone()).collect();
    for (j, s) in super::footers::read(lake, &subset) {
        out.insert(rest[j], s);
    }
    out
}
