//! An instant in files of two schemas of one day (F6).
//!
//! Within one schema an instant is kept once ([`super::resolve`]: identical rows once,
//! differing ones by the order of the files). Files of different schemas (a station
//! reconfigured, a late window with other columns) go to different daily files
//! (docs/lake.md: one daily file per schema), so an instant in both stays twice, one
//! row in each. Neither row can go without losing what only it holds (the other's
//! columns, or its own values of the shared ones), and merging them would give a daily
//! file the other's schema. So both are kept, and the run says so: the station-day, the
//! files and how many instants.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use super::{Input, instants};
use lakenode::layout::Tree;

/// Warns when an instant of the day is in files of more than one schema, saying how
/// many instants are.
pub(super) fn warn_across_schemas<'a>(dir: &str, inputs: impl Iterator<Item = &'a Input>) {
    // Each instant's first schema (and file); `None` once it is in a second schema.
    let mut first: HashMap<i64, Option<(&str, &str)>> = HashMap::new();
    let mut twice = 0;
    let mut example: Option<(&str, &str)> = None;
    for input in inputs {
        let Ok(times) = instants(Tree::Data, input) else {
            continue; // a file that does not decode is refused by the checks
        };
        for t in times {
            match first.entry(t) {
                Entry::Vacant(v) => {
                    v.insert(Some((input.schema.as_str(), input.name.as_str())));
                }
                Entry::Occupied(mut o) => {
                    if let Some((schema, name)) = *o.get()
                        && schema != input.schema
                    {
                        twice += 1;
                        example.get_or_insert((name, input.name.as_str()));
                        *o.get_mut() = None;
                    }
                }
            }
        }
    }
    if let Some((a, b)) = example {
        tracing::warn!(
            "{dir}: {twice} instant(s) are in files of different columns (e.g. {a} and {b}): \
             both rows are kept, one in each schema's daily file, so such an instant is \
             read twice (docs/compaction.md, \"An instant in files of two schemas\")"
        );
    }
}
